/*
 * ds_upmode.h - the upload modes a destination offers, and the choice of
 * one per document.
 *
 * A destination takes a file in one or more of three ways: a JSON body
 * with the file's base64 in one field (json_base64), a multipart/form-data
 * body (multipart), or an upload session that receives the file in parts
 * (chunked). The connector names the modes with their limits
 * (destination.upload.modes, or the one-mode form upload.mode); this
 * module reads them once at start and, for each document, picks the
 * cheapest mode whose limits admit its size. A file no mode admits is
 * refused before a byte is sent ("too_large").
 *
 * The cost of a mode is the bytes it puts on the wire plus a fixed price
 * per request (DS_UPMODE_REQUEST_COST): multipart sends the file once in
 * one request, json_base64 a third more in one request, chunked the file
 * once in 2 + parts requests. So multipart wins where it is offered, and
 * chunked wins over json_base64 for any file of more than a few parts'
 * worth of base64 overhead.
 */
#ifndef DS_UPMODE_H
#define DS_UPMODE_H

#include <stdint.h>

#include "ds_connector.h"
#include "ds_error.h"

/* What a request costs beyond its bytes: the round trip, headers, TLS
 * records; about 1 ms of a fast link. */
#define DS_UPMODE_REQUEST_COST (64 * 1024)
/* chunked: the part size when the connector names none. */
#define DS_UPMODE_PART_BYTES (8 * 1024 * 1024)

typedef enum {
    DS_UPMODE_JSON = 0,
    DS_UPMODE_MULTIPART,
    DS_UPMODE_CHUNKED,
    DS_UPMODE_KINDS
} ds_upmode_kind;

/* One mode as the connector describes it. Strings belong to the
 * connector. Limits are in file bytes; max_bytes -1 is no limit. */
typedef struct ds_upmode {
    ds_upmode_kind kind;
    int offered;
    long long max_bytes;
    long long min_bytes;              /* chunked: smaller files go whole */
    const char *endpoint;             /* the connector's endpoint name */
    /* json_base64 */
    const char *content_field;
    /* multipart */
    const char *file_field;
    int metadata_json;                /* fields as one JSON part */
    const char *metadata_field;
    int raw_names;                    /* filename="<UTF-8>", no filename* */
    /* chunked */
    long long part_bytes;
    const char *size_field;           /* the file's size in the start body */
    const char *session_id_field;     /* paths in the start's answer */
    const char *part_size_field;
    const char *received_parts_field; /* in the status endpoint's answer */
    const char *part_method;          /* "PUT" or "POST" */
} ds_upmode;

typedef struct ds_upmodes {
    ds_upmode mode[DS_UPMODE_KINDS];
    long long max_name_bytes;         /* -1: the destination names none */
} ds_upmodes;

/* Reads the modes of the connector's destination.upload into out (which
 * the connector must outlive). Returns 0, or -1 with err "bad_connector"
 * naming the field. */
int ds_upmodes_read(const ds_connector *c, ds_upmodes *out, ds_err *err);

/* The mode for a file of size bytes: the cheapest offered mode whose
 * limits admit it. Returns it, or NULL with err permanent: "too_large"
 * when the file is over every mode's limit, "no_upload_mode" when it falls
 * between the modes' ranges (under chunked's minBytes, say); the message
 * names the size and each mode's range. */
const ds_upmode *ds_upmodes_pick(const ds_upmodes *m, uint64_t size,
                                 ds_err *err);

/* The estimated cost of sending size bytes in mode m (see above). */
uint64_t ds_upmode_cost(const ds_upmode *m, uint64_t size);

/* The mode's name as the connector and the logs spell it. */
const char *ds_upmode_name(ds_upmode_kind kind);

/* The number of parts of a chunked upload of size bytes in parts of
 * part_bytes: 0 for an empty file. */
uint64_t ds_upmode_parts(uint64_t size, uint64_t part_bytes);

#endif
