/*
 * ds_chunked.h - a file sent through an upload session, part by part.
 *
 * Destinations that take large files open an upload session (the
 * connector's sessionStart endpoint, told the file's fields and size),
 * receive the file in parts of a fixed size (sessionPart, numbered from
 * 1, each part read from the blob by its range and streamed), and turn
 * the session into a document when told it is complete (sessionComplete,
 * which answers like a plain upload). The connector's chunked mode names
 * the part size (the session's answer may name its own, which wins) and
 * the fields of the answers.
 *
 * Progress is kept in the document's Redis hash after every part, so an
 * attempt that failed (a 5xx on part 7, a reset, a crash) is followed by
 * one that resumes the session where it stopped: the part that failed is
 * sent again alone, the parts before it are not. When the connector has
 * a sessionStatus endpoint, its count of received parts is asked first and
 * wins over the kept one. A session the destination has forgotten (404 or
 * 410: expired, or never seen) is started afresh, with at most two new
 * sessions per attempt. A 401 on any request is answered by ds_api (one
 * refresh, one resend, the part rewound to its first byte).
 */
#ifndef DS_CHUNKED_H
#define DS_CHUNKED_H

#include <jansson.h>

#include "ds_api.h"
#include "ds_blob.h"
#include "ds_connector.h"
#include "ds_redis.h"
#include "ds_upmode.h"

typedef struct ds_chunked_job {
    ds_api *api;
    const ds_connector *connector;
    const ds_upmode *mode;             /* the chunked mode */
    const json_t *fields;              /* the upload fields: start's body */
    ds_blob_reader *blob;              /* the whole file */
    const ds_tpl_var *vars;            /* transactionId, documentId, ... */
    const char *idem_line;             /* "Idempotency-Key: ..." for the
                                          completion, or NULL */
    ds_redis *redis;                   /* where progress is kept: */
    const char *doc_id;                /*   docsync:doc:<doc_id> */
    const char *progress_field;        /*   this field, JSON */
    ds_http_progress_fn progress;      /* called during transfers */
    void *progress_ud;
} ds_chunked_job;

/* Sends job's blob through an upload session and completes it. Returns 0
 * with the completion's answer in resp (the caller reads the document's
 * id from it and clears it); the kept progress is then removed. Returns
 * -1 with err: the destination's refusal (err->http_status set; the
 * caller names it), "upload_bad_response" for a session answer without an
 * id or with a part size below 1, transient "upload_session_lost" when a
 * fresh session was forgotten too, or what the blob or Redis said. */
int ds_chunked_upload(const ds_chunked_job *job, ds_http_resp *resp,
                      ds_err *err);

#endif
