/*
 * sb_tx.h - the transaction system's routes. The key check and faults are
 * done by sb_http.c before these run.
 */
#ifndef SB_TX_H
#define SB_TX_H

#include "sb_call.h"

/* POST /v1/transactions/{transactionId}/documents with the JSON body in
 * call->body_file. Decodes "content" into <data-dir>/tdoc_N and answers 201
 * {"id":"tdoc_N","transactionId":...}. The chaos engine may have the
 * document stored lost (hidden from the GET routes) or corrupted (one byte
 * changed, and the MD5 that of the changed bytes): the record's "lost" and
 * "corrupted" say which, and out->chaos tells the log line. 404 for a transaction not in the
 * transactions file; 400 {"error":"bad_request","reason":...} for a body
 * that is not JSON (bad_json), lacks a field (missing_field), has one of
 * the wrong type (bad_field), or whose content is not base64 (bad_base64,
 * whitespace_in_content).
 *
 * With call->idem_key: a 201 makes the key completed with the request's
 * fingerprint (transactionId, md5 of the content, fileName,
 * sourceDocumentId) and the answer. A key that had already completed
 * (idem_claim 0) stores nothing: the same fingerprint gets the remembered
 * answer again, flagged replayed; another gets 422 {"error":
 * "unprocessable","reason":"idempotency_key_reused"}. */
void sb_tx_upload(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* sb_tx_upload with the body already parsed (borrowed): the vendor-shaped
 * upload translates its own body into this one. */
void sb_tx_store(const sb_ctx *ctx, const sb_call *call, json_t *body,
                 sb_reply *out);

/* GET /v1/documents/{id}: 200 with id, transactionId, fileName, mimeType,
 * size, md5Checksum, notes, documentDate, sourceDocumentId and createdAt of
 * a stored document, or 404 {"error":"not_found"} (also for a lost one). */
void sb_tx_get(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* GET /v1/transactions/{transactionId}/documents[?sourceDocumentId=X]: 200
 * {"documents":[...]} with the objects GET /v1/documents/{id} gives for
 * the documents stored for the transaction and not lost, in the order they
 * were stored, only those of sourceDocumentId X when given. 404 {"error":"not_found",
 * "reason":"unknown_transaction"} as for uploads; 400 bad_field when X is
 * empty or not UTF-8. */
void sb_tx_search(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

#endif
