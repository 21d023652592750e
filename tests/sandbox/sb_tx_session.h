/*
 * sb_tx_session.h - the chunked upload sessions of the transaction
 * system: start a session for a file of a declared size, PUT its parts
 * in order (a part already received may be sent again), complete it into
 * a stored document, or delete it. The sessions themselves live in
 * sb_session.c. Bodies and answers are in docs/sandbox.md.
 */
#ifndef SB_TX_SESSION_H
#define SB_TX_SESSION_H

#include "sb_call.h"

/* POST /v1/transactions/{transactionId}/upload-sessions with {"fileName",
 * "mimeType","notes"?,"documentDate","sourceDocumentId","size"}: 201
 * {"sessionId":"us_N","partSize":P,"totalParts":n,"expiresAt"}, n =
 * ceil(size / P) with P tx.partBytes. 404 unknown_transaction; 400 as
 * the JSON upload for the fields, missing_field / bad_field "size" (an
 * integer >= 0); 413 over_chunked_limit. With an Idempotency-Key the same
 * request answers the same session again, another gets 422. */
void sb_tx_session_start(const sb_ctx *ctx, const sb_call *call,
                         sb_reply *out);

/* The precheck of PUT /v1/upload-sessions/{sessionId}/parts/{partNumber}:
 * the refusals of sb_tx_session_part that the headers already show, the
 * part's size when Content-Length gives it. */
void sb_tx_session_part_precheck(const sb_ctx *ctx, const sb_head *head,
                                 sb_reply *out);

/* PUT /v1/upload-sessions/{sessionId}/parts/{partNumber} with the part's
 * bytes in call->body_file, written at (partNumber - 1) * P of the
 * session's file: 200 {"partNumber","size","md5"}. In this order: 404
 * unknown_session, 404 session_expired, 400 bad_part_number (not 1..n),
 * 409 part_out_of_order {"expected":k} beyond the next part due, 400
 * bad_part_size {"expected":m} (P, or what is left for the last). */
void sb_tx_session_part(const sb_ctx *ctx, const sb_call *call,
                        sb_reply *out);

/* GET /v1/upload-sessions/{sessionId}: 200 {"sessionId","transactionId",
 * "size","partSize","totalParts","receivedParts","expiresAt"}, or the
 * 404s of sb_tx_session_part. */
void sb_tx_session_get(const sb_ctx *ctx, const sb_call *call,
                       sb_reply *out);

/* POST /v1/upload-sessions/{sessionId}/complete (the body is ignored):
 * with every part in, stores the assembled file as an upload
 * (sb_tx_store_upload, uploadMode "chunked") and answers its 201; the
 * session is then gone. 409 parts_missing {"receivedParts","totalParts"}
 * otherwise, the 404s of sb_tx_session_part. The Idempotency-Key of a
 * completed session replays its 201. */
void sb_tx_session_complete(const sb_ctx *ctx, const sb_call *call,
                            sb_reply *out);

/* DELETE /v1/upload-sessions/{sessionId}: 204, the session (expired or
 * not) and its file removed; 404 unknown_session. */
void sb_tx_session_delete(const sb_ctx *ctx, const sb_call *call,
                          sb_reply *out);

#endif
