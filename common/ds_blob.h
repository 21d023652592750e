/*
 * ds_blob.h - the content-addressed blob store.
 *
 * A blob is named by the sha256 of its bytes. The fetcher writes one while
 * it streams a document from the CRM; the uploader reads it, by ranges for
 * a chunked upload; the verifier removes it once nobody holds it. The
 * stages see only this interface. Where the bytes live is the backend's
 * business (ds_blob_backend.h): the one built in keeps them on a local or
 * shared disk (ds_blob_fs.h), and another (an S3-compatible bucket, say)
 * is one more set of operations, chosen by the store's location, with no
 * change to the stages.
 *
 * Every backend keeps the same promises: a blob is written under a
 * temporary name and appears under its real name only when complete, so a
 * crash never leaves a half blob under a real name; the same content is
 * stored once; a reader sees the whole blob or none.
 */
#ifndef DS_BLOB_H
#define DS_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "ds_crypto.h"
#include "ds_error.h"

typedef struct ds_blob_store ds_blob_store;
typedef struct ds_blob_writer ds_blob_writer;
typedef struct ds_blob_reader ds_blob_reader;

/* Opens the store at location: a directory by its absolute path
 * ("/var/lib/docsync/blobs", "file:///var/lib/docsync/blobs" or
 * "file://localhost/var/lib/docsync/blobs"), or "<scheme>://..." for
 * another backend (schemes in any case). Returns the store, or NULL with
 * err set: "bad_config" for a scheme no backend serves, an empty location,
 * a relative path (stages started in other directories would see other
 * stores), or a location with '%', '?' or '#' (write it plainly). */
ds_blob_store *ds_blob_store_new(const char *location, ds_err *err);

/* The store the stages use: BLOB_STORE when it is set, else BLOB_DIR
 * (default /var/lib/docsync/blobs). Returns NULL with err set. */
ds_blob_store *ds_blob_store_from_env(ds_err *err);

/* Closes s; accepts NULL. Readers and writers must be freed first. */
void ds_blob_store_free(ds_blob_store *s);

/* Where s keeps its blobs, for logs ("file:///var/lib/docsync/blobs"). */
const char *ds_blob_store_location(const ds_blob_store *s);

/* Checks that the store is there now: for the disk, that its directory
 * exists. For a command run away from the stages (docsyncctl), where a
 * missing store would make every blob look already removed. Returns 0, or
 * -1 with err "bad_config" naming the location. */
int ds_blob_store_check(ds_blob_store *s, ds_err *err);

/* Removes the temporary blobs not written to for max_age_s seconds: the
 * partial blobs of writers that died (a SIGKILLed fetcher). A live writer
 * keeps its blob fresh with every write, so it is never taken, and nothing
 * but the store's own temporary blobs is ever taken. Sets *removed;
 * returns 0, or -1 with err set. */
int ds_blob_sweep_tmp(ds_blob_store *s, long max_age_s, int *removed,
                      ds_err *err);

/* Starts a new blob. Returns the writer, or NULL with err set (transient
 * "blob_io" when the store cannot take it now). */
ds_blob_writer *ds_blob_writer_new(ds_blob_store *s, ds_err *err);

/* Appends n bytes, hashing them on the way. Returns 0, or -1 with err set;
 * the writer is then only fit for ds_blob_writer_free. */
int ds_blob_write(ds_blob_writer *w, const void *buf, size_t n, ds_err *err);

/* Makes the blob durable under its content name and outputs its hex
 * sha256 (the blob's reference), hex md5 and size. The same content
 * committed twice is stored once. Returns 0, or -1 with err set. */
int ds_blob_commit(ds_blob_writer *w, char sha256[DS_SHA256_HEX_LEN + 1],
                   char md5[DS_MD5_HEX_LEN + 1], uint64_t *size, ds_err *err);

/* Frees w; a blob not committed is deleted. Accepts NULL. */
void ds_blob_writer_free(ds_blob_writer *w);

/* Opens the blob named sha256 for reading, at its first byte. Returns the
 * reader, or NULL with err set: permanent "blob_missing" when there is no
 * such blob, permanent "blob_bad_ref" when sha256 is not 64 lower-case hex
 * characters, transient "blob_io" for anything else. */
ds_blob_reader *ds_blob_reader_new(ds_blob_store *s, const char *sha256,
                                   ds_err *err);

/* The blob's size in bytes. */
uint64_t ds_blob_reader_size(const ds_blob_reader *r);

/* Reads up to cap bytes from the current position. Returns the number
 * read, short only at the end of the blob, 0 at its end, or (size_t)-1
 * with err set (transient "blob_io"). */
size_t ds_blob_read(ds_blob_reader *r, void *buf, size_t cap, ds_err *err);

/* Moves to byte offset (at most the size). Returns 0, or -1 with err. */
int ds_blob_seek(ds_blob_reader *r, uint64_t offset, ds_err *err);

/* Frees r; accepts NULL. */
void ds_blob_reader_free(ds_blob_reader *r);

/* Sets *exists to 1 when the blob named sha256 is stored, else 0.
 * Returns 0, or -1 with err set (as ds_blob_reader_new). */
int ds_blob_exists(ds_blob_store *s, const char *sha256, int *exists,
                   ds_err *err);

/* Removes the blob named sha256; one already gone is not an error.
 * Returns 0, or -1 with err set (as ds_blob_reader_new). */
int ds_blob_remove(ds_blob_store *s, const char *sha256, ds_err *err);

/* 1 when s is 64 lower-case hex characters: a blob reference. One blob
 * must have one name, so upper case is refused. */
int ds_blob_ref_valid(const char *s);

#endif
