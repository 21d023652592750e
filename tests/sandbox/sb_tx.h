/*
 * sb_tx.h - the transaction system's routes and the one way every upload
 * mode (JSON with base64, multipart, a completed chunked session) stores
 * a document. The key check and faults are done by sb_http.c before
 * these run.
 */
#ifndef SB_TX_H
#define SB_TX_H

#include <limits.h>
#include <stdint.h>

#include "ds_crypto.h"
#include "sb_call.h"

/* How a document reached the transaction system, kept in its record as
 * "uploadMode" (json_base64, multipart, chunked), and which limit of
 * tx.limits applies (json, multipart, chunked). */
typedef enum {
    SB_UPLOAD_JSON = 0,
    SB_UPLOAD_MULTIPART,
    SB_UPLOAD_CHUNKED
} sb_upload_mode;

/* One upload about to be stored: its fields, its file already written
 * into the data directory, and where it came from. */
typedef struct sb_upload {
    const char *transaction_id;
    json_t *fields;          /* borrowed: fileName, mimeType, notes?,
                              * documentDate, sourceDocumentId (checked by
                              * sb_tx_check_fields), partFileName? */
    sb_upload_mode mode;
    sb_fault_route route;    /* where chaos counts its fate */
    char path[PATH_MAX];     /* the file; "" once moved or removed */
    char md5[DS_MD5_HEX_LEN + 1];
    uint64_t size;
    int keep_on_failure;     /* a session's file: left in place unless the
                              * answer is 201 */
} sb_upload;

/* Checks that uploads to transaction_id are taken. Returns 0, or -1 after
 * answering 404 {"error":"not_found","reason":"unknown_transaction"}. */
int sb_tx_check_transaction(const sb_ctx *ctx, const char *transaction_id,
                            sb_reply *out);

/* Checks the fields of an upload, whatever its mode: fileName, mimeType,
 * documentDate and sourceDocumentId non-empty strings, notes a string,
 * null or absent; fileName without control characters (below 0x20, or
 * 0x7f) and at most tx.maxFileNameBytes bytes. Returns 0, or -1 after
 * answering 400 missing_field, bad_field or file_name_too_long. */
int sb_tx_check_fields(const sb_ctx *ctx, json_t *fields, sb_reply *out);

/* Checks a file's size against the limit of its mode (tx.limits).
 * Returns 0, or -1 after answering 413 {"error":"payload_too_large",
 * "reason":"over_<json|multipart|chunked>_limit","limit":N}. */
int sb_tx_check_size(const sb_ctx *ctx, sb_upload_mode mode, uint64_t size,
                     sb_reply *out);

/* Stores up, whose fields sb_tx_check_fields has passed, as document
 * tdoc_N: the file is moved to <data-dir>/tdoc_N and 201 {"id",
 * "transactionId"} answered. The chaos engine may have it lost or
 * corrupted (the record's "lost" and "corrupted", out->chaos for the log
 * line). With call->idem_key: a 201 completes the key with the
 * fingerprint (transactionId, md5, fileName, sourceDocumentId); a key
 * that had already completed (idem_claim 0) stores nothing and answers
 * the remembered 201, flagged replayed, for the same fingerprint, 422
 * idempotency_key_reused for another. The file is removed unless moved,
 * or left in place on any answer but 201 with keep_on_failure. */
void sb_tx_store_upload(const sb_ctx *ctx, const sb_call *call,
                        sb_upload *up, sb_reply *out);

/* What makes two uploads with one Idempotency-Key the same request: the
 * transactionId, md5Checksum, fileName and sourceDocumentId of rec, a new
 * object; NULL when out of memory. */
json_t *sb_tx_fingerprint(json_t *rec);

/* Answers a request whose Idempotency-Key has completed (call->idem_claim
 * 0) by its fingerprint fp (borrowed): the remembered answer, flagged
 * replayed, when fp is the one remembered (counted as a replay of fp's
 * sourceDocumentId when count is set), else 422 idempotency_key_reused.
 * Returns 0 when it answered, -1 when the key is not completed (a reset
 * forgot it) and the request is to run as if it had none. */
int sb_tx_replay(const sb_ctx *ctx, const sb_call *call, json_t *fp,
                 int count, sb_reply *out);

/* Makes the request's claimed Idempotency-Key completed with fingerprint
 * fp (borrowed) and the answer out, when out is a 201; does nothing
 * otherwise or without a claim. A failure only costs the replay: the key
 * is then forgotten by sb_http.c and a retry runs again. */
void sb_tx_remember(const sb_ctx *ctx, const sb_call *call, json_t *fp,
                    const sb_reply *out);

/* The precheck of POST /v1/transactions/{transactionId}/documents: 404
 * unknown_transaction; 415 {"error":"unsupported_media_type"} for a
 * Content-Type that is neither application/json nor multipart/form-data
 * (none counts as JSON); 413 over_json_limit when Content-Length exceeds
 * 4 * ceil(limit / 3) + 64 KiB, over_multipart_limit when it exceeds
 * limit + 64 KiB. */
void sb_tx_upload_precheck(const sb_ctx *ctx, const sb_head *head,
                           sb_reply *out);

/* POST /v1/transactions/{transactionId}/documents with the body in
 * call->body_file: JSON with the content in base64, or multipart (see
 * sb_tx_multipart.h), as its Content-Type says. The JSON content is
 * decoded into the data directory and stored by sb_tx_store_upload. 404
 * for a transaction not in the transactions file; 415 for another media
 * type; 400 {"error":"bad_request","reason":...} for a body that is not
 * JSON (bad_json), lacks a field (missing_field), has one of the wrong
 * type (bad_field) or a bad fileName (bad_field, file_name_too_long), or
 * whose content is not base64 (bad_base64, whitespace_in_content); 413
 * for content over tx.limits.json. */
void sb_tx_upload(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* The JSON upload with its body already parsed (borrowed): the vendor-
 * shaped upload translates its own body into this one. */
void sb_tx_store(const sb_ctx *ctx, const sb_call *call, json_t *body,
                 sb_reply *out);

/* GET /v1/documents/{id}: 200 with id, transactionId, fileName, mimeType,
 * size, md5Checksum, notes, documentDate, sourceDocumentId and createdAt of
 * a stored document, or 404 {"error":"not_found"} (also for a lost one). */
void sb_tx_get(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* GET /v1/transactions/{transactionId}/documents[?sourceDocumentId=X]: 200
 * {"documents":[...]} with the objects GET /v1/documents/{id} gives for
 * the documents stored for the transaction and not lost, in the order
 * they were stored, only those of sourceDocumentId X when given. 404
 * {"error":"not_found","reason":"unknown_transaction"} as for uploads;
 * 400 bad_field when X is empty or not UTF-8. */
void sb_tx_search(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

#endif
