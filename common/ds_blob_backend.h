/*
 * ds_blob_backend.h - what a blob store backend provides to ds_blob.c.
 *
 * ds_blob.c does everything that is the same for every place bytes can
 * live: it validates references, hashes what is written (so a backend
 * never computes a digest) and turns the backend's answers into the
 * stages' errors. A backend only moves bytes. To add one, write its
 * operations, give it a scheme and add it to the table in ds_blob.c:
 * no stage changes.
 *
 * Every operation returns 0 (or the pointer, or the count) on success and
 * -1 (NULL, (size_t)-1) with err set on failure, with the reasons of
 * ds_blob.h: "blob_missing" for a blob that is not there, "blob_io" for a
 * failure that may pass.
 */
#ifndef DS_BLOB_BACKEND_H
#define DS_BLOB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "ds_error.h"

typedef struct ds_blob_ops {
    const char *scheme;                 /* "file": the location's prefix */

    /* Opens the store at location (the part after "scheme://", or a
     * plain path for "file"), refusing one it cannot mean with
     * "bad_config". */
    void *(*open)(const char *location, ds_err *err);
    void (*close)(void *store);

    /* A temporary blob: begun, appended to, then published under its
     * name (which ds_blob.c computed) or aborted. publish leaves the
     * blob in place when one of that name and size is already there;
     * abort accepts what publish took (and frees it either way). */
    void *(*begin)(void *store, ds_err *err);
    int (*append)(void *tmp, const void *buf, size_t n, ds_err *err);
    int (*publish)(void *tmp, const char *sha256, uint64_t size,
                   ds_err *err);
    void (*abort)(void *tmp);

    /* A stored blob, read from any offset. */
    void *(*open_read)(void *store, const char *sha256, uint64_t *size,
                       ds_err *err);
    size_t (*read)(void *rd, uint64_t offset, void *buf, size_t cap,
                   ds_err *err);
    void (*close_read)(void *rd);

    int (*exists)(void *store, const char *sha256, int *exists,
                  ds_err *err);
    int (*remove)(void *store, const char *sha256, ds_err *err);
    int (*sweep_tmp)(void *store, long max_age_s, int *removed,
                     ds_err *err);

    /* Whether the store is there and reachable now (a mounted directory,
     * a bucket). */
    int (*check)(void *store, ds_err *err);
} ds_blob_ops;

#endif
