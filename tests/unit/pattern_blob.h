/*
 * pattern_blob.h - a blob of n bytes of a fixed pattern in a store of its
 * own, for the tests of what streams a blob (bodies, parts).
 *
 * Byte i of the pattern is (i * 131 + 7) mod 256: no run repeats soon, so a
 * byte out of place shows. pb_new stores the blob in a fresh directory and
 * opens a reader on it; pb_free removes them all.
 */
#ifndef PATTERN_BLOB_H
#define PATTERN_BLOB_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds_blob.h"
#include "ds_blob_fs.h"

typedef struct pb {
    char root[64];
    char path[4096];           /* the blob's file, to damage it */
    ds_blob_store *store;
    ds_blob_reader *reader;
    size_t size;
} pb;

static inline unsigned char pb_byte(size_t i)
{
    return (unsigned char)((i * 131 + 7) & 0xff);
}

/* A new buffer of the pattern's first n bytes; the caller frees it. */
static inline unsigned char *pb_bytes(size_t n)
{
    unsigned char *buf = malloc(n + 1);

    assert_non_null(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = pb_byte(i);
    return buf;
}

static inline int pb_rm(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Stores n bytes of the pattern and opens a reader on them. */
static inline pb *pb_new(size_t n)
{
    char sha[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    unsigned char chunk[65536];
    pb *b = calloc(1, sizeof(*b));
    ds_blob_writer *w;
    uint64_t size;
    size_t off, k;
    ds_err err;

    assert_non_null(b);
    ds_err_clear(&err);
    snprintf(b->root, sizeof(b->root), "/tmp/ds_pattern_blob.XXXXXX");
    assert_non_null(mkdtemp(b->root));
    b->store = ds_blob_store_new(b->root, &err);
    assert_non_null(b->store);
    w = ds_blob_writer_new(b->store, &err);
    assert_non_null(w);
    for (off = 0; off < n; off += k) {
        k = n - off < sizeof(chunk) ? n - off : sizeof(chunk);
        for (size_t i = 0; i < k; i++)
            chunk[i] = pb_byte(off + i);
        assert_int_equal(ds_blob_write(w, chunk, k, &err), 0);
    }
    assert_int_equal(ds_blob_commit(w, sha, md5, &size, &err), 0);
    ds_blob_writer_free(w);
    assert_int_equal(ds_blob_fs_path(b->root, sha, b->path,
                                     sizeof(b->path)), 0);
    b->reader = ds_blob_reader_new(b->store, sha, &err);
    assert_non_null(b->reader);
    b->size = n;
    return b;
}

static inline void pb_free(pb *b)
{
    if (b == NULL)
        return;
    ds_blob_reader_free(b->reader);
    ds_blob_store_free(b->store);
    nftw(b->root, pb_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(b);
}

#endif
