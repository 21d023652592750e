/* ds_blob_fs.c - the blob store backend on a disk; see ds_blob_fs.h. */
#include "ds_blob_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ds_blob.h"

/* Attempts at a fresh random temporary name before giving up. */
#define TMP_NAME_TRIES 8
/* The longest root: its blobs' paths, and its temporary files', fit in
 * PATH_MAX with room to spare. */
#define ROOT_MAX 3072
/* A blob is written back to disk in windows of this size while it is
 * written (see fs_append). */
#define WRITEBACK_WINDOW ((uint64_t)8 << 20)

typedef struct fs_store {
    char root[ROOT_MAX];
} fs_store;

typedef struct fs_tmp {
    const fs_store *store;
    char path[PATH_MAX];
    int fd;                /* -1 once closed */
    uint64_t written;      /* bytes appended */
    uint64_t started;      /* bytes whose writeback was started */
    uint64_t waited;       /* bytes known to be on disk */
} fs_tmp;

typedef struct fs_reader {
    int fd;
} fs_reader;

/* Creates dir and its missing parents, like mkdir -p. Returns 0 or -1 with
 * errno set. */
static int mkdir_p(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    char *p;

    if (len == 0 || len >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, len + 1);
    for (p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Syncs a directory so that a rename in it survives a crash. */
static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int ds_blob_fs_path(const char *root, const char *sha256, char *out,
                    size_t cap)
{
    size_t root_len;
    int n;

    if (root == NULL || sha256 == NULL || !ds_blob_ref_valid(sha256))
        return -1;
    root_len = strlen(root);
    while (root_len > 1 && root[root_len - 1] == '/')
        root_len--;
    n = snprintf(out, cap, "%.*s/%.2s/%.2s/%s", (int)root_len, root, sha256,
                 sha256 + 2, sha256);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The blob's path, or -1 with err when the root makes it too long. */
static int blob_path(const fs_store *st, const char *sha256, char *out,
                     size_t cap, ds_err *err)
{
    if (ds_blob_fs_path(st->root, sha256, out, cap) != 0)
        return ds_err_set(err, "blob_io", "blob path too long under %s",
                          st->root);
    return 0;
}

/* The directory a location names: an absolute path, or in a file URL
 * "localhost" before it (RFC 8089). A relative path would be another
 * store for each working directory. */
static void *fs_open(const char *location, ds_err *err)
{
    fs_store *st;

    if (strncmp(location, "localhost/", 10) == 0)
        location += 9;
    if (location[0] != '/')
        return ds_err_set(err, "bad_config", "blob store %.128s: not an "
                          "absolute path (in a URL: file:///path)",
                          location), NULL;
    if (strlen(location) >= ROOT_MAX)
        return ds_err_set(err, "bad_config", "blob directory too long"),
               NULL;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return ds_err_set(err, "blob_oom", "out of memory"), NULL;
    memcpy(st->root, location, strlen(location) + 1);
    return st;
}

static int fs_check(void *store, ds_err *err)
{
    const fs_store *st = store;
    struct stat sb;

    if (stat(st->root, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ds_err_set(err, "bad_config", "blob store %s: no such "
                          "directory here (run where the stages' BLOB_DIR "
                          "is mounted)", st->root);
    return 0;
}

static void fs_close(void *store)
{
    free(store);
}

/* The length of a temporary blob's name: 32 random hex digits. */
#define TMP_NAME_LEN 32

/* 1 when name is one of this backend's temporary names: only those may be
 * swept, whatever else a directory named tmp holds. */
static int is_tmp_name(const char *name)
{
    return strlen(name) == TMP_NAME_LEN &&
           strspn(name, "0123456789abcdef") == TMP_NAME_LEN;
}

/* Opens ROOT/tmp/<32 random hex> with O_EXCL, so no two writers share a
 * file. Returns the descriptor or -1 with errno set. */
static int open_tmp(fs_tmp *t)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[TMP_NAME_LEN / 2];
    char name[sizeof(rnd) * 2 + 1];
    int tries, fd = -1;
    size_t i;

    for (tries = 0; tries < TMP_NAME_TRIES && fd < 0; tries++) {
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return -1;
        for (i = 0; i < sizeof(rnd); i++) {
            name[2 * i] = hex[rnd[i] >> 4];
            name[2 * i + 1] = hex[rnd[i] & 0x0f];
        }
        name[sizeof(name) - 1] = '\0';
        snprintf(t->path, sizeof(t->path), "%s/tmp/%s", t->store->root,
                 name);
        fd = open(t->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd < 0 && errno != EEXIST)
            return -1;
    }
    return fd;
}

/* Starts a blob in ROOT/tmp, creating the directories it needs. A full or
 * unmounted disk may recover: "blob_io" is transient. */
static void *fs_begin(void *store, ds_err *err)
{
    fs_tmp *t = calloc(1, sizeof(*t));
    char dir[PATH_MAX];

    if (t == NULL)
        return ds_err_set(err, "blob_oom", "out of memory"), NULL;
    t->store = store;
    t->fd = -1;
    snprintf(dir, sizeof(dir), "%s/tmp", t->store->root);
    if (mkdir_p(dir) != 0) {
        ds_err_set(err, "blob_io", "mkdir %s: %s", dir, strerror(errno));
        free(t);
        return NULL;
    }
    t->fd = open_tmp(t);
    if (t->fd < 0) {
        ds_err_set(err, "blob_io", "open %s: %s", t->path, strerror(errno));
        free(t);
        return NULL;
    }
    return t;
}

/* Starts writing the window just filled back to disk and waits for the
 * one before it. The fsync at publish then finds little left to write, so
 * a large blob's sync overlaps its download instead of following it, and
 * the dirty pages one writer leaves stay bounded. Only a hint to the
 * kernel: a failure here is found by that fsync. */
static void write_back(fs_tmp *t)
{
    if (t->written - t->started < WRITEBACK_WINDOW)
        return;
    sync_file_range(t->fd, (off_t)t->started,
                    (off_t)(t->written - t->started), SYNC_FILE_RANGE_WRITE);
    if (t->started > t->waited)
        sync_file_range(t->fd, (off_t)t->waited,
                        (off_t)(t->started - t->waited),
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                        SYNC_FILE_RANGE_WAIT_AFTER);
    t->waited = t->started;
    t->started = t->written;
}

static int fs_append(void *tmp, const void *buf, size_t n, ds_err *err)
{
    fs_tmp *t = tmp;
    const char *p = buf;
    ssize_t done;

    while (n > 0) {
        done = write(t->fd, p, n);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0)
            return ds_err_set(err, "blob_io", "write %s: %s", t->path,
                              strerror(errno));
        p += done;
        n -= (size_t)done;
        t->written += (uint64_t)done;
    }
    write_back(t);
    return 0;
}

/* Moves the synced temporary file to path, unless a blob of the same size
 * is already there: same name, same bytes. Returns 0 or -1 with errno. */
static int move_into_place(fs_tmp *t, const char *path, uint64_t size)
{
    char dir[PATH_MAX];
    struct stat st;

    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    if (mkdir_p(dir) != 0)
        return -1;

    /* A blob of another size under this name is damage: replace it. */
    if (stat(path, &st) == 0 && (uint64_t)st.st_size == size)
        return unlink(t->path);
    if (rename(t->path, path) != 0)
        return -1;
    return fsync_dir(dir);
}

/* The bytes must be on disk before the name that promises them: sync,
 * close, then rename. */
static int fs_publish(void *tmp, const char *sha256, uint64_t size,
                      ds_err *err)
{
    fs_tmp *t = tmp;
    char path[PATH_MAX];
    int rc = fsync(t->fd);

    if (close(t->fd) != 0)
        rc = -1;
    t->fd = -1;
    if (rc != 0)
        return ds_err_set(err, "blob_io", "sync %s: %s", t->path,
                          strerror(errno));
    if (blob_path(t->store, sha256, path, sizeof(path), err) != 0)
        return -1;
    if (move_into_place(t, path, size) != 0)
        return ds_err_set(err, "blob_io", "publish %s: %s", path,
                          strerror(errno));
    t->path[0] = '\0';      /* nothing left to remove */
    return 0;
}

static void fs_abort(void *tmp)
{
    fs_tmp *t = tmp;

    if (t == NULL)
        return;
    if (t->fd >= 0)
        close(t->fd);
    if (t->path[0] != '\0')
        unlink(t->path);
    free(t);
}

static void *fs_open_read(void *store, const char *sha256, uint64_t *size,
                          ds_err *err)
{
    char path[PATH_MAX];
    fs_reader *rd;
    struct stat st;
    int fd;

    if (blob_path(store, sha256, path, sizeof(path), err) != 0)
        return NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return ds_err_set(err, "blob_missing", "no blob %s", sha256), NULL;
    if (fd < 0 || fstat(fd, &st) != 0) {
        ds_err_set(err, "blob_io", "open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    rd = malloc(sizeof(*rd));
    if (rd == NULL) {
        close(fd);
        return ds_err_set(err, "blob_oom", "out of memory"), NULL;
    }
    rd->fd = fd;
    *size = (uint64_t)st.st_size;
    /* Read once from start to end: let the kernel read ahead. */
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return rd;
}

/* Reads until cap bytes or the end, so that a short count means the end. */
static size_t fs_read(void *r, uint64_t offset, void *buf, size_t cap,
                      ds_err *err)
{
    fs_reader *rd = r;
    size_t done = 0;
    ssize_t n;

    while (done < cap) {
        n = pread(rd->fd, (char *)buf + done, cap - done,
                  (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ds_err_set(err, "blob_io", "read: %s", strerror(errno)),
                   (size_t)-1;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return done;
}

static void fs_close_read(void *r)
{
    fs_reader *rd = r;

    if (rd == NULL)
        return;
    close(rd->fd);
    free(rd);
}

static int fs_exists(void *store, const char *sha256, int *exists,
                     ds_err *err)
{
    char path[PATH_MAX];
    struct stat st;

    if (blob_path(store, sha256, path, sizeof(path), err) != 0)
        return -1;
    if (stat(path, &st) == 0) {
        *exists = 1;
        return 0;
    }
    if (errno != ENOENT)
        return ds_err_set(err, "blob_io", "stat %s: %s", path,
                          strerror(errno));
    *exists = 0;
    return 0;
}

static int fs_remove(void *store, const char *sha256, ds_err *err)
{
    char path[PATH_MAX];

    if (blob_path(store, sha256, path, sizeof(path), err) != 0)
        return -1;
    if (unlink(path) != 0 && errno != ENOENT)
        return ds_err_set(err, "blob_io", "unlink %s: %s", path,
                          strerror(errno));
    return 0;
}

/* A missing tmp directory is empty, not an error: nothing was written. */
static int fs_sweep_tmp(void *store, long max_age_s, int *removed,
                        ds_err *err)
{
    const fs_store *st = store;
    char dir[PATH_MAX], path[PATH_MAX];
    time_t cutoff = time(NULL) - max_age_s;
    struct dirent *e;
    struct stat sb;
    DIR *d;

    *removed = 0;
    snprintf(dir, sizeof(dir), "%s/tmp", st->root);
    d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : ds_err_set(err, "blob_io",
                                                "open %s: %s", dir,
                                                strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if (!is_tmp_name(e->d_name) ||
            (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name)
            >= sizeof(path))
            continue;
        /* Only regular files, and only those left alone long enough. */
        if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) ||
            sb.st_mtime > cutoff)
            continue;
        if (unlink(path) == 0)
            (*removed)++;
    }
    closedir(d);
    return 0;
}

const ds_blob_ops ds_blob_fs_ops = {
    "file", fs_open, fs_close, fs_begin, fs_append, fs_publish, fs_abort,
    fs_open_read, fs_read, fs_close_read, fs_exists, fs_remove,
    fs_sweep_tmp, fs_check,
};
