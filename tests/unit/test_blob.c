/* test_blob.c - the content-addressed blob store (ds_blob) on its disk
 * backend (ds_blob_fs). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ds_blob.h"
#include "ds_blob_fs.h"

static const char fox[] = "The quick brown fox jumps over the lazy dog";
static const char fox_sha256[] =
    "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592";
static const char fox_md5[] = "9e107d9d372bb6826bd81d3542a419d6";

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A store in a fresh directory, the state of each test. */
typedef struct box {
    char root[64];
    ds_blob_store *s;
} box;

/* The store of the test's box. */
#define STORE(state) (((box *)(state))->s)

static int setup_root(void **state)
{
    box *b = calloc(1, sizeof(*b));
    ds_err err;

    if (b == NULL)
        return -1;
    snprintf(b->root, sizeof(b->root), "/tmp/ds_blob_test.XXXXXX");
    ds_err_clear(&err);
    if (mkdtemp(b->root) == NULL ||
        (b->s = ds_blob_store_new(b->root, &err)) == NULL) {
        free(b);
        return -1;
    }
    *state = b;
    return 0;
}

static int teardown_root(void **state)
{
    box *b = *state;

    ds_blob_store_free(b->s);
    nftw(b->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(b);
    return 0;
}

/* Regular files below dir, at any depth. */
static int count_files(const char *dir)
{
    char path[4096];
    struct dirent *e;
    struct stat st;
    int n = 0;
    DIR *d = opendir(dir);

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            n += count_files(path);
        else
            n++;
    }
    closedir(d);
    return n;
}

static int count_tmp(const char *root)
{
    char tmp[4096];

    snprintf(tmp, sizeof(tmp), "%s/tmp", root);
    return count_files(tmp);
}

/* Stores content in slices of `slice` bytes and commits it. */
static void store(ds_blob_store *st, const void *buf, size_t n, size_t slice,
                  char sha[DS_SHA256_HEX_LEN + 1], char md5[DS_MD5_HEX_LEN + 1],
                  uint64_t *size)
{
    ds_err err;
    ds_blob_writer *w;
    size_t off, part;

    ds_err_clear(&err);
    w = ds_blob_writer_new(st, &err);
    assert_non_null(w);
    for (off = 0; off < n; off += part) {
        part = n - off < slice ? n - off : slice;
        assert_int_equal(ds_blob_write(w, (const char *)buf + off, part, &err),
                         0);
    }
    assert_int_equal(ds_blob_commit(w, sha, md5, size, &err), 0);
    assert_string_equal(err.reason, "");
    ds_blob_writer_free(w);
}

static void commit_in_slices_names_the_blob_by_its_sha256(void **state)
{
    const char *root = ((box *)*state)->root;
    char sha[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    char path[4096], back[64] = { 0 };
    uint64_t size = 0;
    FILE *f;

    store(STORE(*state), fox, strlen(fox), 5, sha, md5, &size);

    assert_string_equal(sha, fox_sha256);
    assert_string_equal(md5, fox_md5);
    assert_int_equal(size, strlen(fox));

    assert_int_equal(ds_blob_fs_path(root, sha, path, sizeof(path)), 0);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(back, 1, sizeof(back), f), strlen(fox));
    fclose(f);
    assert_string_equal(back, fox);
    assert_int_equal(count_tmp(root), 0);
}

static void the_empty_blob_has_the_sha256_of_nothing(void **state)
{
    char sha[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    uint64_t size = 99;

    store(STORE(*state), "", 0, 1, sha, md5, &size);
    assert_string_equal(sha, "e3b0c44298fc1c149afbf4c8996fb924"
                             "27ae41e4649b934ca495991b7852b855");
    assert_string_equal(md5, "d41d8cd98f00b204e9800998ecf8427e");
    assert_int_equal(size, 0);
}

static void same_content_twice_is_stored_once(void **state)
{
    const char *root = ((box *)*state)->root;
    char sha1[DS_SHA256_HEX_LEN + 1], sha2[DS_SHA256_HEX_LEN + 1];
    char md5[DS_MD5_HEX_LEN + 1], path[4096];
    struct stat first, second;
    uint64_t size;

    store(STORE(*state), fox, strlen(fox), 7, sha1, md5, &size);
    assert_int_equal(ds_blob_fs_path(root, sha1, path, sizeof(path)), 0);
    assert_int_equal(stat(path, &first), 0);

    store(STORE(*state), fox, strlen(fox), 43, sha2, md5, &size);
    assert_string_equal(sha1, sha2);
    assert_int_equal(stat(path, &second), 0);

    /* The first copy stays in place; the second one is just dropped. */
    assert_int_equal(first.st_ino, second.st_ino);
    assert_int_equal(count_files(root), 1);
    assert_int_equal(count_tmp(root), 0);
}

static void a_damaged_blob_of_another_size_is_replaced(void **state)
{
    const char *root = ((box *)*state)->root;
    char sha[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1], path[4096];
    uint64_t size;
    struct stat st;
    FILE *f;

    store(STORE(*state), fox, strlen(fox), 43, sha, md5, &size);
    assert_int_equal(ds_blob_fs_path(root, sha, path, sizeof(path)), 0);
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs("short", f);
    fclose(f);

    store(STORE(*state), fox, strlen(fox), 43, sha, md5, &size);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, strlen(fox));
}

/* Writes a file of the given age (seconds since its last write) into
 * root/tmp, as a writer that died would leave it. */
static void leave_tmp(const char *root, const char *name, long age_s)
{
    char path[512];
    struct timeval tv[2];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/tmp", root);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/tmp/%s", root, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("half a blob", fp);
    fclose(fp);
    tv[0].tv_sec = tv[1].tv_sec = time(NULL) - age_s;
    tv[0].tv_usec = tv[1].tv_usec = 0;
    assert_int_equal(utimes(path, tv), 0);
}

/* A partial blob left long enough goes; a fresh one (a live writer's)
 * and a committed blob stay; a store without tmp is not an error; an old
 * file of another name is not the store's and stays (a store at / must not
 * empty /tmp). */
static void sweep_removes_only_stale_partial_blobs(void **state)
{
    const char *root = ((box *)*state)->root;
    char sha[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1], path[4096];
    uint64_t size;
    int removed = -1;
    ds_err err;

    ds_err_clear(&err);
    assert_int_equal(ds_blob_sweep_tmp(STORE(*state), 3600, &removed, &err), 0);
    assert_int_equal(removed, 0);
    store(STORE(*state), "kept", 4, 4, sha, md5, &size);
    leave_tmp(root, "0123456789abcdef0123456789abcdef", 7200);
    leave_tmp(root, "fedcba9876543210fedcba9876543210", 10);
    leave_tmp(root, "notes.txt", 7200);
    leave_tmp(root, "0123456789ABCDEF0123456789ABCDEF", 7200);

    assert_int_equal(ds_blob_sweep_tmp(STORE(*state), 3600, &removed, &err), 0);

    assert_int_equal(removed, 1);
    assert_int_equal(count_tmp(root), 3);
    assert_int_equal(ds_blob_fs_path(root, sha, path, sizeof(path)), 0);
    assert_int_equal(access(path, F_OK), 0);
}

static void free_without_commit_leaves_no_file(void **state)
{
    const char *root = ((box *)*state)->root;
    ds_blob_writer *w;
    ds_err err;

    ds_err_clear(&err);
    w = ds_blob_writer_new(STORE(*state), &err);
    assert_non_null(w);
    assert_int_equal(ds_blob_write(w, fox, 10, &err), 0);
    assert_int_equal(count_tmp(root), 1);

    ds_blob_writer_free(w);
    assert_int_equal(count_tmp(root), 0);
    assert_int_equal(count_files(root), 0);
    ds_blob_writer_free(NULL);
}

static void a_reader_reads_back_and_remove_forgets(void **state)
{
    ds_blob_store *st = STORE(*state);
    char sha[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1], back[64] = { 0 };
    ds_blob_reader *r;
    uint64_t size;
    int there = -1;
    ds_err err;

    store(st, fox, strlen(fox), 3, sha, md5, &size);
    ds_err_clear(&err);
    r = ds_blob_reader_new(st, sha, &err);
    assert_non_null(r);
    assert_int_equal(ds_blob_reader_size(r), strlen(fox));
    assert_int_equal(ds_blob_read(r, back, sizeof(back), &err), strlen(fox));
    assert_int_equal(ds_blob_read(r, back + 60, 4, &err), 0);
    ds_blob_reader_free(r);
    assert_string_equal(back, fox);
    assert_int_equal(ds_blob_exists(st, sha, &there, &err), 0);
    assert_int_equal(there, 1);

    assert_int_equal(ds_blob_remove(st, sha, &err), 0);
    assert_null(ds_blob_reader_new(st, sha, &err));
    assert_string_equal(err.reason, "blob_missing");
    ds_err_clear(&err);
    assert_int_equal(ds_blob_exists(st, sha, &there, &err), 0);
    assert_int_equal(there, 0);

    /* Removing twice is fine: cleanup after a crash may repeat. */
    assert_int_equal(ds_blob_remove(st, sha, &err), 0);
    assert_string_equal(err.reason, "");
}

/* A chunked upload reads a blob by parts: from any offset, in any order,
 * and a read stops at the blob's end. */
static void a_reader_seeks_to_any_offset(void **state)
{
    ds_blob_store *st = STORE(*state);
    char sha[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1], back[16];
    ds_blob_reader *r;
    uint64_t size;
    ds_err err;

    store(st, fox, strlen(fox), 43, sha, md5, &size);
    ds_err_clear(&err);
    r = ds_blob_reader_new(st, sha, &err);
    assert_non_null(r);

    assert_int_equal(ds_blob_seek(r, 40, &err), 0);
    assert_int_equal(ds_blob_read(r, back, sizeof(back), &err), 3);
    assert_memory_equal(back, "dog", 3);
    assert_int_equal(ds_blob_seek(r, 4, &err), 0);
    assert_int_equal(ds_blob_read(r, back, 5, &err), 5);
    assert_memory_equal(back, "quick", 5);
    assert_int_equal(ds_blob_seek(r, strlen(fox), &err), 0);
    assert_int_equal(ds_blob_read(r, back, sizeof(back), &err), 0);

    assert_int_equal(ds_blob_seek(r, strlen(fox) + 1, &err), -1);
    assert_string_equal(err.reason, "blob_io");
    ds_blob_reader_free(r);
}

/* A blob cut short on disk after it was opened (damage, a full disk that
 * lost a write) is an error, never a short body taken for the whole. */
static void a_blob_shorter_than_its_size_fails_the_read(void **state)
{
    box *b = *state;
    char sha[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1], path[4096];
    char back[64];
    ds_blob_reader *r;
    uint64_t size;
    ds_err err;

    store(b->s, fox, strlen(fox), 43, sha, md5, &size);
    ds_err_clear(&err);
    r = ds_blob_reader_new(b->s, sha, &err);
    assert_non_null(r);
    assert_int_equal(ds_blob_fs_path(b->root, sha, path, sizeof(path)), 0);
    assert_int_equal(truncate(path, 10), 0);

    assert_int_equal(ds_blob_read(r, back, sizeof(back), &err), (size_t)-1);
    assert_string_equal(err.reason, "blob_io");
    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    ds_blob_reader_free(r);
}

/* The location names the backend: a path or file:// is the disk, any
 * other scheme is refused at start, naming it. */
static void the_location_names_the_backend(void **state)
{
    box *b = *state;
    char url[128], sha[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    ds_blob_store *st;
    uint64_t size;
    int there = 0;
    ds_err err;

    snprintf(url, sizeof(url), "file://%s", b->root);
    ds_err_clear(&err);
    st = ds_blob_store_new(url, &err);
    assert_non_null(st);
    assert_string_equal(ds_blob_store_location(st), url);
    store(b->s, fox, strlen(fox), 43, sha, md5, &size);
    assert_int_equal(ds_blob_exists(st, sha, &there, &err), 0);
    assert_int_equal(there, 1);
    ds_blob_store_free(st);

    assert_null(ds_blob_store_new("s3://bucket/blobs", &err));
    assert_string_equal(err.reason, "bad_config");
    assert_non_null(strstr(err.msg, "s3://bucket/blobs"));
    ds_err_clear(&err);
    assert_null(ds_blob_store_new("", &err));
    assert_string_equal(err.reason, "bad_config");
    ds_err_clear(&err);
    assert_null(ds_blob_store_new("file://", &err));
    assert_string_equal(err.reason, "bad_config");
    ds_blob_store_free(NULL);

    /* Schemes in any case; RFC 8089's localhost; no relative paths. */
    snprintf(url, sizeof(url), "FILE://localhost%s", b->root);
    ds_err_clear(&err);
    st = ds_blob_store_new(url, &err);
    assert_non_null(st);
    assert_int_equal(ds_blob_exists(st, sha, &there, &err), 0);
    assert_int_equal(there, 1);
    assert_int_equal(ds_blob_store_check(st, &err), 0);
    ds_blob_store_free(st);
    for (size_t i = 0; i < 5; i++) {
        static const char *const bad[] = {
            "blobs", "file://relative/x", "file:/tmp/x", "file://host/tmp/x",
            "file:///tmp/a%20b"};

        ds_err_clear(&err);
        st = ds_blob_store_new(bad[i], &err);
        if (st != NULL)
            fail_msg("%s accepted", bad[i]);
        assert_string_equal(err.reason, "bad_config");
    }

    /* A store whose directory is not there is said to be missing. */
    ds_err_clear(&err);
    st = ds_blob_store_new("/nonexistent/docsync-blobs", &err);
    assert_non_null(st);
    assert_int_equal(ds_blob_store_check(st, &err), -1);
    assert_string_equal(err.reason, "bad_config");
    ds_blob_store_free(st);
}

static void open_of_a_missing_blob_is_permanent_blob_missing(void **state)
{
    ds_err err;

    ds_err_clear(&err);
    assert_null(ds_blob_reader_new(STORE(*state), fox_sha256, &err));
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_string_equal(err.reason, "blob_missing");
}

static void blob_path_accepts_only_64_lower_case_hex(void **state)
{
    char path[4096], small[20];
    char upper[DS_SHA256_HEX_LEN + 1];
    size_t i;

    (void)state;
    assert_int_equal(ds_blob_fs_path("/b", fox_sha256, path, sizeof(path)), 0);
    assert_string_equal(path, "/b/d7/a8/d7a8fbb307d7809469ca9abcb0082e4f"
                              "8d5651e46d3cdb762d02d0bf37c9e592");
    assert_int_equal(ds_blob_fs_path("/b/", fox_sha256, path, sizeof(path)), 0);
    assert_string_equal(path, "/b/d7/a8/d7a8fbb307d7809469ca9abcb0082e4f"
                              "8d5651e46d3cdb762d02d0bf37c9e592");

    for (i = 0; i <= DS_SHA256_HEX_LEN; i++)
        upper[i] = (char)toupper((unsigned char)fox_sha256[i]);
    assert_int_equal(ds_blob_fs_path("/b", upper, path, sizeof(path)), -1);
    assert_int_equal(ds_blob_fs_path("/b", "d7a8", path, sizeof(path)), -1);
    assert_int_equal(ds_blob_fs_path("/b", "", path, sizeof(path)), -1);
    assert_int_equal(ds_blob_fs_path("/b", "../../../../etc/passwd", path,
                                  sizeof(path)), -1);
    snprintf(upper, sizeof(upper), "%.63sg", fox_sha256);
    assert_int_equal(ds_blob_fs_path("/b", upper, path, sizeof(path)), -1);
    snprintf(path, sizeof(path), "%s0", fox_sha256);
    assert_int_equal(ds_blob_fs_path("/b", path, small, sizeof(small)), -1);
    assert_int_equal(ds_blob_fs_path("/b", fox_sha256, small, sizeof(small)),
                     -1);
}

static void a_bad_reference_is_refused_by_open_and_remove(void **state)
{
    int there;
    ds_err err;

    ds_err_clear(&err);
    assert_null(ds_blob_reader_new(STORE(*state), "../secret", &err));
    assert_string_equal(err.reason, "blob_bad_ref");
    ds_err_clear(&err);
    assert_int_equal(ds_blob_remove(STORE(*state), "../secret", &err), -1);
    assert_string_equal(err.reason, "blob_bad_ref");
    ds_err_clear(&err);
    assert_int_equal(ds_blob_exists(STORE(*state), "AB", &there, &err), -1);
    assert_string_equal(err.reason, "blob_bad_ref");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            commit_in_slices_names_the_blob_by_its_sha256, setup_root,
            teardown_root),
        cmocka_unit_test_setup_teardown(
            the_empty_blob_has_the_sha256_of_nothing, setup_root,
            teardown_root),
        cmocka_unit_test_setup_teardown(same_content_twice_is_stored_once,
                                        setup_root, teardown_root),
        cmocka_unit_test_setup_teardown(
            a_damaged_blob_of_another_size_is_replaced, setup_root,
            teardown_root),
        cmocka_unit_test_setup_teardown(free_without_commit_leaves_no_file,
                                        setup_root, teardown_root),
        cmocka_unit_test_setup_teardown(
            sweep_removes_only_stale_partial_blobs, setup_root,
            teardown_root),
        cmocka_unit_test_setup_teardown(a_reader_reads_back_and_remove_forgets,
                                        setup_root, teardown_root),
        cmocka_unit_test_setup_teardown(a_reader_seeks_to_any_offset,
                                        setup_root, teardown_root),
        cmocka_unit_test_setup_teardown(
            a_blob_shorter_than_its_size_fails_the_read, setup_root,
            teardown_root),
        cmocka_unit_test_setup_teardown(the_location_names_the_backend,
                                        setup_root, teardown_root),
        cmocka_unit_test_setup_teardown(
            open_of_a_missing_blob_is_permanent_blob_missing, setup_root,
            teardown_root),
        cmocka_unit_test(blob_path_accepts_only_64_lower_case_hex),
        cmocka_unit_test_setup_teardown(
            a_bad_reference_is_refused_by_open_and_remove, setup_root,
            teardown_root),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
