/*
 * sb_multipart.h - a multipart/form-data body (RFC 7578 on RFC 2046)
 * read from a file in bounded slices: the text fields it keeps, and the
 * one file part decoded straight into a file of the data directory with
 * its MD5 and size. Memory stays bounded whatever the size of the file:
 * the parser holds a window of about 150 KiB and the text fields it
 * keeps (each at most SB_MP_TEXT_MAX bytes).
 */
#ifndef SB_MULTIPART_H
#define SB_MULTIPART_H

#include <limits.h>
#include <stdint.h>

#include <jansson.h>

#include "ds_crypto.h"
#include "ds_error.h"

/* The most bytes a kept text part (a field or "metadata") may hold. */
#define SB_MP_TEXT_MAX (2u * 1024 * 1024)

/* How a parse ended. */
typedef enum {
    SB_MP_OK,
    SB_MP_BAD,       /* not a usable multipart body: bad_multipart */
    SB_MP_NO_FILE,   /* no part named "file" with a filename */
    SB_MP_TOO_LARGE, /* the file part is longer than the limit */
    SB_MP_BAD_FIELD, /* a field is not UTF-8, too long, or metadata is not
                      * a JSON object; *field names it */
    SB_MP_FAILED     /* the body or the data directory failed; err says */
} sb_mp_status;

/* What a body held. Every member is owned and freed by sb_mp_clear. */
typedef struct sb_mp_result {
    json_t *fields;          /* fileName, mimeType, notes, documentDate,
                              * sourceDocumentId as sent: the text fields,
                              * overridden by those of a "metadata" part */
    char path[PATH_MAX];     /* the file part's bytes; "" when none */
    char md5[DS_MD5_HEX_LEN + 1];
    uint64_t size;
    json_t *part_file_name;  /* the file part's filename* or filename, a
                              * string, or NULL */
    json_t *part_type;       /* the file part's Content-Type, or NULL */
} sb_mp_result;

/* Reads the multipart body at body_path whose Content-Type header is
 * content_type (it carries the boundary), writing the file part into a
 * new temporary file in dir. A file part longer than file_limit bytes
 * stops the parse with SB_MP_TOO_LARGE. On SB_MP_OK, res holds the fields
 * and the file (the caller moves or removes it, or lets sb_mp_clear
 * remove it); on any other status nothing is left on disk, *field is set
 * for SB_MP_BAD_FIELD (a static name) and err for SB_MP_FAILED. */
sb_mp_status sb_multipart_parse(const char *body_path,
                                const char *content_type, const char *dir,
                                uint64_t file_limit, sb_mp_result *res,
                                const char **field, ds_err *err);

/* Frees what res holds and removes its file if it is still there; res
 * may then be parsed into again. Accepts a zeroed res. */
void sb_mp_clear(sb_mp_result *res);

#endif
