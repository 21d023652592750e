/*
 * ds_multipart.h - a multipart/form-data request body with a blob's bytes
 * as its file part, streamed.
 *
 * The body is the upload fields (one text part each, or one JSON part),
 * then the file part, then the closing delimiter:
 *
 *   --<boundary>\r\n
 *   Content-Disposition: form-data; name="fileName"\r\n
 *   \r\n
 *   <value>\r\n
 *   --<boundary>\r\n
 *   Content-Disposition: form-data; name="file"; filename="..."\r\n
 *   Content-Type: <mime type>\r\n
 *   \r\n
 *   <the blob's bytes>\r\n
 *   --<boundary>--\r\n
 *
 * Everything before the file's bytes, and the closing delimiter, are built
 * when the body is made; the file is copied from the blob straight into
 * the caller's buffer as libcurl asks for it, so memory stays the same
 * whatever the file's size. The exact length is known up front (it goes
 * out with a Content-Length) and the body can be rewound to be sent again
 * whole (C07).
 *
 * The boundary is "docsync-" and 32 random hex characters, new for every
 * body: 128 random bits, which no file holds by chance.
 *
 * File names. RFC 7578 (section 4.2) says a form-data part's filename is
 * sent as is and that the filename* parameter of RFC 8187 must not be
 * used; browsers send raw UTF-8 (DS_MULTIPART_RAW). Many server
 * frameworks, though, read only ASCII reliably and understand filename*,
 * so the default, DS_MULTIPART_RFC8187, sends an ASCII fallback in
 * filename and the exact name in filename* when the two differ. Which one
 * a destination wants is its connector's choice.
 */
#ifndef DS_MULTIPART_H
#define DS_MULTIPART_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ds_blob.h"
#include "ds_error.h"

/* How the upload fields travel. */
typedef enum {
    DS_MULTIPART_FIELDS = 0,   /* one text part per field, in order */
    DS_MULTIPART_JSON          /* one application/json part of them all */
} ds_multipart_metadata;

/* How the file's name is written in its part's Content-Disposition. */
typedef enum {
    /* filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>,
     * the second only when the name is not plain printable ASCII without
     * '"' and '\'. */
    DS_MULTIPART_RFC8187 = 0,
    /* filename="<raw UTF-8>" with '"', CR and LF as %22, %0D and %0A, as
     * HTML5 browsers send it. '\' goes as is. */
    DS_MULTIPART_RAW
} ds_multipart_name_style;

/* What the body is made of besides the fields and the blob. Zeroes and
 * NULLs take the defaults; only file_name is required. Every string is
 * UTF-8. */
typedef struct ds_multipart_opts {
    const char *file_field;          /* the file part's name; "file" */
    const char *file_name;           /* required; "" is sent as "file" */
    const char *mime_type;           /* "application/octet-stream" */
    ds_multipart_metadata metadata;  /* DS_MULTIPART_FIELDS */
    const char *metadata_field;      /* the JSON part's name; "metadata" */
    ds_multipart_name_style name_style;  /* DS_MULTIPART_RFC8187 */
} ds_multipart_opts;

typedef struct ds_multipart ds_multipart;

/* Makes a body from fields and the blob that r reads, whole. fields is a
 * JSON object (NULL for none). In DS_MULTIPART_FIELDS mode each field is
 * one part, in the object's order: a string is sent as its UTF-8 bytes, a
 * number or boolean as its JSON text, an object or array as compact JSON,
 * and a null field is left out. In DS_MULTIPART_JSON mode the part named
 * opts->metadata_field holds the compact JSON of fields as they are,
 * nulls included. Part names are written with '"', CR and LF as %22, %0D
 * and %0A.
 *
 * The body does not own r, and rewinds it to its first byte. err is kept:
 * a read of the blob that fails later sets it, so pass the ds_err that
 * the request is sent with. Returns NULL with err set: "bad_body" when
 * fields is not an object, when a name, value, key or the file name is
 * not valid UTF-8, when the file name is missing, when the mime type is
 * empty or holds CR or LF, or when no random boundary can be had;
 * "out_of_memory" when an allocation fails. */
ds_multipart *ds_multipart_new(const json_t *fields,
                               const ds_multipart_opts *opts,
                               ds_blob_reader *r, ds_err *err);

/* The boundary, "docsync-" and 32 hex characters, without the dashes
 * that lead a delimiter. Lives as long as m. */
const char *ds_multipart_boundary(const ds_multipart *m);

/* The request's Content-Type header value:
 * "multipart/form-data; boundary=<boundary>". Lives as long as m. */
const char *ds_multipart_content_type(const ds_multipart *m);

/* The exact number of bytes the body will produce: the parts' text, the
 * blob's size and the closing delimiter. 64-bit: a file over 4 GiB is
 * counted whole. */
int64_t ds_multipart_length(const ds_multipart *m);

/* ds_http_read_fn: fills buf with up to cap next bytes of the body.
 * Returns the bytes written, 0 at the end, and (size_t)-1 with the kept
 * err set ("blob_io") when the blob cannot be read or ends before its
 * size: a short body is never passed off as whole. */
size_t ds_multipart_read(char *buf, size_t cap, void *ud);

/* ds_http_rewind_fn: goes back to the first byte, so that the next reads
 * produce the whole body again. Returns 0, or -1 with the kept err set. */
int ds_multipart_rewind(void *ud);

/* Frees m; accepts NULL. The blob reader is the caller's. */
void ds_multipart_free(ds_multipart *m);

#endif
