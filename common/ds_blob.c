/* ds_blob.c - the content-addressed blob store; see ds_blob.h. */
#include "ds_blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Attempts at a fresh random temporary name before giving up. */
#define TMP_NAME_TRIES 8

struct ds_blob_writer {
    char *root;
    char tmp_path[PATH_MAX];
    int fd;                /* -1 once closed */
    int committed;
    ds_digest *digest;
};

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

static int is_sha256_hex(const char *s)
{
    size_t i;

    for (i = 0; i < DS_SHA256_HEX_LEN; i++) {
        /* Lower case only: one blob must have one name. */
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return s[DS_SHA256_HEX_LEN] == '\0';
}

/*
 * Writes ROOT/ab/cd/<sha256> into out. Returns 0, or -1 when sha256 is not
 * 64 lower-case hex characters or out cannot hold the path.
 */
int ds_blob_path(const char *root, const char *sha256, char *out, size_t cap)
{
    size_t root_len;
    int n;

    if (root == NULL || sha256 == NULL || !is_sha256_hex(sha256))
        return -1;
    root_len = strlen(root);
    while (root_len > 1 && root[root_len - 1] == '/')
        root_len--;
    n = snprintf(out, cap, "%.*s/%.2s/%.2s/%s", (int)root_len, root, sha256,
                 sha256 + 2, sha256);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Opens ROOT/tmp/<32 random hex> with O_EXCL, so no two writers share a
 * file. Returns the descriptor or -1 with errno set. */
static int open_tmp(ds_blob_writer *w)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[16];
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
        if ((size_t)snprintf(w->tmp_path, sizeof(w->tmp_path), "%s/tmp/%s",
                             w->root, name) >= sizeof(w->tmp_path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd < 0 && errno != EEXIST)
            return -1;
    }
    return fd;
}

int ds_blob_sweep_tmp(const char *root, long max_age_s, int *removed,
                      ds_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX];
    time_t cutoff = time(NULL) - max_age_s;
    struct dirent *e;
    struct stat st;
    DIR *d;

    *removed = 0;
    if ((size_t)snprintf(dir, sizeof(dir), "%s/tmp", root) >= sizeof(dir))
        return ds_err_set(err, "blob_io", "blob root too long");
    d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : ds_err_set(err, "blob_io", "open %s: %s",
                                                dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name)
            >= sizeof(path))
            continue;
        /* Only regular files, and only those left alone long enough. */
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            st.st_mtime > cutoff)
            continue;
        if (unlink(path) == 0)
            (*removed)++;
    }
    closedir(d);
    return 0;
}

/*
 * Starts a blob in ROOT/tmp, creating the directories it needs. Returns the
 * writer, or NULL with err set (transient "blob_io", since a full or
 * unmounted disk may recover).
 */
ds_blob_writer *ds_blob_writer_new(const char *root, ds_err *err)
{
    ds_blob_writer *w = calloc(1, sizeof(*w));
    char tmp_dir[PATH_MAX];

    if (w != NULL) {
        w->fd = -1;
        w->root = strdup(root);
        w->digest = ds_digest_new();
    }
    if (w == NULL || w->root == NULL || w->digest == NULL) {
        ds_err_set(err, "blob_oom", "out of memory");
        goto fail;
    }

    if ((size_t)snprintf(tmp_dir, sizeof(tmp_dir), "%s/tmp", root)
        >= sizeof(tmp_dir)) {
        ds_err_set(err, "blob_io", "blob root too long");
        goto fail;
    }
    if (mkdir_p(tmp_dir) != 0) {
        ds_err_set(err, "blob_io", "mkdir %s: %s",
                   tmp_dir, strerror(errno));
        goto fail;
    }
    w->fd = open_tmp(w);
    if (w->fd < 0) {
        ds_err_set(err, "blob_io", "open %s: %s",
                   w->tmp_path, strerror(errno));
        goto fail;
    }
    return w;

fail:
    ds_blob_writer_free(w);
    return NULL;
}

/*
 * Appends n bytes to the temporary file and the digest. Returns 0, or -1
 * with err set (transient "blob_io"); the writer is then only fit for
 * ds_blob_writer_free.
 */
int ds_blob_write(ds_blob_writer *w, const void *buf, size_t n, ds_err *err)
{
    const char *p = buf;
    ssize_t done;

    if (w->fd < 0 || w->committed)
        return ds_err_set(err, "blob_state",
                          "write to a closed blob");
    if (ds_digest_update(w->digest, buf, n) != 0)
        return ds_err_set(err, "blob_digest",
                          "digest update failed");
    while (n > 0) {
        done = write(w->fd, p, n);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0)
            return ds_err_set(err, "blob_io",
                              "write %s: %s", w->tmp_path, strerror(errno));
        p += done;
        n -= (size_t)done;
    }
    return 0;
}

/* Moves the synced temporary file to path, unless a blob of the same size
 * is already there: same name, same bytes. Returns 0 or -1 with errno. */
static int publish(ds_blob_writer *w, const char *path, uint64_t size)
{
    char dir[PATH_MAX];
    struct stat st;
    char *slash;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    *slash = '\0';
    if (mkdir_p(dir) != 0)
        return -1;

    /* A blob of another size under this name is damage: replace it. */
    if (stat(path, &st) == 0 && (uint64_t)st.st_size == size)
        return unlink(w->tmp_path);
    if (rename(w->tmp_path, path) != 0)
        return -1;
    return fsync_dir(dir);
}

/*
 * Makes the blob durable under its content name and reports its sha256
 * (the reference), md5 and size. The same content committed twice is
 * stored once. Returns 0, or -1 with err set; a failed writer still needs
 * ds_blob_writer_free, which removes the temporary file.
 */
int ds_blob_commit(ds_blob_writer *w, char sha256[DS_SHA256_HEX_LEN + 1],
                   char md5[DS_MD5_HEX_LEN + 1], uint64_t *size, ds_err *err)
{
    char path[PATH_MAX];
    int rc;

    if (w->fd < 0 || w->committed)
        return ds_err_set(err, "blob_state",
                          "commit of a closed blob");

    /* The bytes must be on disk before the name that promises them. */
    rc = fsync(w->fd);
    if (close(w->fd) != 0)
        rc = -1;
    w->fd = -1;
    if (rc != 0)
        return ds_err_set(err, "blob_io", "sync %s: %s",
                          w->tmp_path, strerror(errno));

    if (ds_digest_final(w->digest, sha256, md5, size) != 0)
        return ds_err_set(err, "blob_digest",
                          "digest final failed");
    if (ds_blob_path(w->root, sha256, path, sizeof(path)) != 0)
        return ds_err_set(err, "blob_io",
                          "blob path too long under %s", w->root);
    if (publish(w, path, *size) != 0)
        return ds_err_set(err, "blob_io",
                          "publish %s: %s", path, strerror(errno));
    w->committed = 1;
    return 0;
}

/*
 * Closes w and removes its temporary file unless it was committed.
 * Accepts NULL.
 */
void ds_blob_writer_free(ds_blob_writer *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (!w->committed && w->tmp_path[0] != '\0')
        unlink(w->tmp_path);
    ds_digest_free(w->digest);
    free(w->root);
    free(w);
}

/*
 * Opens the blob named sha256 for reading in binary mode. Returns the
 * stream, or NULL with err set: permanent "blob_missing" when there is no
 * such blob, permanent "blob_bad_ref" for a malformed name, transient
 * "blob_io" for any other failure.
 */
FILE *ds_blob_open(const char *root, const char *sha256, ds_err *err)
{
    char path[PATH_MAX];
    FILE *f;

    if (ds_blob_path(root, sha256, path, sizeof(path)) != 0) {
        ds_err_set(err, "blob_bad_ref",
                   "not a blob reference");
        return NULL;
    }
    f = fopen(path, "rbe");
    if (f == NULL && errno == ENOENT)
        ds_err_set(err, "blob_missing", "no blob %s",
                   sha256);
    else if (f == NULL)
        ds_err_set(err, "blob_io", "open %s: %s", path,
                   strerror(errno));
    return f;
}

/*
 * Removes the blob named sha256; one already gone is not an error.
 * Returns 0, or -1 with err set (as ds_blob_open).
 */
int ds_blob_remove(const char *root, const char *sha256, ds_err *err)
{
    char path[PATH_MAX];

    if (ds_blob_path(root, sha256, path, sizeof(path)) != 0)
        return ds_err_set(err, "blob_bad_ref",
                          "not a blob reference");
    if (unlink(path) != 0 && errno != ENOENT)
        return ds_err_set(err, "blob_io",
                          "unlink %s: %s", path, strerror(errno));
    return 0;
}
