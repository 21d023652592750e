/*
 * ds_blob.h - the content-addressed blob store.
 *
 * A blob is named by the sha256 of its bytes and lives at
 * ROOT/ab/cd/abcdef... . It is written under a temporary name in ROOT/tmp
 * and renamed into place only when complete, so a crash never leaves a half
 * file under a real name, and the same content is stored once.
 */
#ifndef DS_BLOB_H
#define DS_BLOB_H

#include <stdint.h>
#include <stdio.h>

#include "ds_crypto.h"
#include "ds_error.h"

typedef struct ds_blob_writer ds_blob_writer;

/* Removes the files in ROOT/tmp not written to for max_age_s seconds:
 * the partial blobs of writers that died (a SIGKILLed fetcher). A live
 * writer touches its file with every write, so it is never taken. Sets
 * *removed; returns 0, or -1 with err set when the directory cannot be
 * read (a missing one is empty, not an error). */
int ds_blob_sweep_tmp(const char *root, long max_age_s, int *removed,
                      ds_err *err);

/* Opens a new temporary blob under root (created if missing). Returns the
 * writer or NULL with err set. */
ds_blob_writer *ds_blob_writer_new(const char *root, ds_err *err);

/* Appends n bytes, hashing them on the way. Returns 0 or -1. */
int ds_blob_write(ds_blob_writer *w, const void *buf, size_t n, ds_err *err);

/* Flushes, hashes and renames the blob to its content name. Outputs the
 * hex sha256 (the blob's reference), hex md5 and size. Returns 0 or -1. */
int ds_blob_commit(ds_blob_writer *w, char sha256[DS_SHA256_HEX_LEN + 1],
                   char md5[DS_MD5_HEX_LEN + 1], uint64_t *size, ds_err *err);

/* Frees w; a blob not committed is deleted. Accepts NULL. */
void ds_blob_writer_free(ds_blob_writer *w);

/* Opens the blob named by sha256 for reading. Returns NULL with err set
 * (permanent, reason "blob_missing") when it does not exist. */
FILE *ds_blob_open(const char *root, const char *sha256, ds_err *err);

/* Removes a blob; a missing blob is not an error. Returns 0 or -1. */
int ds_blob_remove(const char *root, const char *sha256, ds_err *err);

/* Writes the blob's path into out. Returns 0, or -1 when sha256 is not 64
 * hex characters or out is too small. */
int ds_blob_path(const char *root, const char *sha256, char *out, size_t cap);

#endif
