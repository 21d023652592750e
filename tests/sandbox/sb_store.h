/*
 * sb_store.h - files in the data directory: request bodies spilled to disk
 * and the decoded bytes of uploads.
 */
#ifndef SB_STORE_H
#define SB_STORE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "ds_crypto.h"
#include "ds_error.h"

/* Creates an empty temporary file "<dir>/.<prefix>-XXXXXX" open for
 * writing. Writes its path into path. Returns the descriptor, or -1 with err
 * set. The caller closes and unlinks it. */
int sb_store_temp(const char *dir, const char *prefix, char path[PATH_MAX],
                  ds_err *err);

/* Writes all n bytes to fd, retrying short writes. Returns 0 or -1 with err
 * set. */
int sb_store_write(int fd, const void *buf, size_t n, ds_err *err);

/* Decodes the base64 text b64[0..n) into a new temporary file in dir,
 * computing its MD5 and size on the way. The text must be padded base64
 * without whitespace: whitespace fails with reason "whitespace_in_content",
 * anything else malformed with "bad_base64" (both permanent). On success
 * writes the file's path, lower-case hex MD5 and size; the caller renames
 * or unlinks the file. Returns 0 or -1 with err set (no file is left). */
int sb_store_b64(const char *dir, const char *b64, size_t n,
                 char path[PATH_MAX], char md5_hex[DS_MD5_HEX_LEN + 1],
                 uint64_t *size, ds_err *err);

/* Changes the byte at offset (below the file's size) of the file at path,
 * keeping its size, and writes the lower-case hex MD5 of the changed file
 * into md5_hex. For uploads stored corrupted by the chaos test. Returns 0
 * or -1 with err set. */
int sb_store_corrupt(const char *path, uint64_t offset,
                     char md5_hex[DS_MD5_HEX_LEN + 1], ds_err *err);

/* Writes the lower-case hex MD5 and the size of the file at path. For
 * the assembled file of a chunked session. Returns 0 or -1 with err
 * set. */
int sb_store_digest(const char *path, char md5_hex[DS_MD5_HEX_LEN + 1],
                    uint64_t *size, ds_err *err);

/* Copies the whole file at src into the existing file at dst from byte
 * offset on, computing the MD5 and size of what was copied. For a part of
 * a chunked session: its spilled body into the session's file. Returns 0
 * or -1 with err set. */
int sb_store_copy_at(const char *src, const char *dst, uint64_t offset,
                     char md5_hex[DS_MD5_HEX_LEN + 1], uint64_t *size,
                     ds_err *err);

#endif
