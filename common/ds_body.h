/*
 * ds_body.h - a JSON request body with a file's base64 inside, streamed.
 *
 * The body is {<fields>, "<content_key>": "<base64 of the file>"}. It is
 * produced slice by slice as libcurl asks for it: the JSON prefix, the file
 * read from disk in chunks and encoded on the way, the suffix. Its exact
 * length is known up front, so it goes out with a Content-Length, and it can
 * be rewound to be sent again whole. Memory stays the same whatever the
 * file's size: neither the file nor its base64 is ever held whole.
 */
#ifndef DS_BODY_H
#define DS_BODY_H

#include <jansson.h>
#include <stdint.h>

#include "ds_blob.h"
#include "ds_error.h"

typedef struct ds_body ds_body;

/* Makes a body from fields (a JSON object without content_key) and the
 * blob that r reads, whole. The body does not own r. err is kept: a read
 * of the blob that fails later sets it, so pass the ds_err that the
 * request is sent with. Returns NULL with err set. */
ds_body *ds_body_new(const json_t *fields, const char *content_key,
                     ds_blob_reader *r, ds_err *err);

/* The exact number of bytes the body will produce. */
int64_t ds_body_length(const ds_body *b);

/* ds_http_read_fn: fills buf with the next bytes, returns 0 at the end and
 * (size_t)-1 with the kept err set when the blob cannot be read. */
size_t ds_body_read(char *buf, size_t cap, void *ud);

/* ds_http_rewind_fn: goes back to the first byte. Returns 0 or -1. */
int ds_body_rewind(void *ud);

/* Frees b; accepts NULL. */
void ds_body_free(ds_body *b);

#endif
