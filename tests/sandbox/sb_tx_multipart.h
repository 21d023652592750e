/*
 * sb_tx_multipart.h - the multipart/form-data upload of the transaction
 * system: the fields and the file of a form, stored as any upload is.
 */
#ifndef SB_TX_MULTIPART_H
#define SB_TX_MULTIPART_H

#include "sb_call.h"

/* POST /v1/transactions/{transactionId}/documents with a multipart/form-
 * data body in call->body_file (sb_tx_upload sends it here by its
 * Content-Type; the transaction is known). The text fields fileName,
 * mimeType, notes, documentDate, sourceDocumentId, or a "metadata" part
 * holding them as a JSON object (its fields win), and one part named
 * "file" with a filename: its bytes go straight into the data directory.
 * Without a fileName field the file part's filename (filename* first) is
 * the fileName; without a mimeType field its Content-Type is the
 * mimeType; the part's name is kept as "partFileName". Stored by
 * sb_tx_store_upload (uploadMode "multipart"). 400 bad_multipart (no
 * usable boundary, no closing delimiter, a truncated body, two file
 * parts), missing_field "file" without a file part, missing_field /
 * bad_field / file_name_too_long as the JSON upload; 413
 * over_multipart_limit for a file over tx.limits.multipart. */
void sb_tx_multipart(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

#endif
