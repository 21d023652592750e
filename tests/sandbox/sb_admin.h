/*
 * sb_admin.h - the sandbox's own routes, without a key: tests drive the
 * CRM and inspect the transaction system through them. Bodies and replies
 * are described in docs/sandbox.md.
 */
#ifndef SB_ADMIN_H
#define SB_ADMIN_H

#include "sb_call.h"

/* GET /healthz: 200 {"status":"ok"}. */
void sb_admin_health(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* POST /admin/crm/documents: records a CRM document for a local file (no
 * bytes are copied; "mimeType": null records a document with a null
 * mimeType, an absent one is guessed from the extension), then, unless
 * "webhook" is false or no webhook URL is set, sends its signed
 * DOCUMENT_CREATED webhook "deliveries" times, "delayMs" apart, before
 * answering 201 {"documentId","eventId",
 * "webhookStatuses"} (eventId null when nothing was sent). 400 for a bad
 * body or an unreadable path, 409 for a documentId already taken. */
void sb_admin_crm_add(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* POST /admin/crm/webhooks/thin: sends one signed thin DOCUMENTS_CREATED
 * event for "documentIds" (passed on as given, checked by ingest only),
 * with a new eventId unless "eventId" is given and the current time unless
 * "timestamp" is, and answers 200 {"eventId","timestamp","webhookStatus",
 * "answer"}: ingest's status (0 when none came) and its JSON answer. 400
 * for a bad body, 409 when no webhook URL is set. */
void sb_admin_crm_thin(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* DELETE /admin/crm/documents/{id}: 204, or 404 when unknown. */
void sb_admin_crm_delete(const sb_ctx *ctx, const sb_call *call,
                         sb_reply *out);

/* GET /admin/tx/documents: 200 {"documents":[...],"uploadsBySource":{},
 * "idempotentReplays":0,"replaysBySource":{}}; records include
 * "storedPath", the file holding the decoded bytes. Replays are counted
 * apart: uploadsBySource counts stored documents only. */
void sb_admin_tx_list(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* POST /admin/faults: queues a fault for the next "count" requests of
 * "route". 200 {"route","pending"}, 400 for a bad body. */
void sb_admin_faults(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* POST /admin/reset: forgets documents, uploads, replays, Idempotency-Keys,
 * accounts, pending webhook retries and faults, turns chaos off and zeroes
 * its counts and the refusal counts; the strict configuration and tokens
 * stay; 200. */
void sb_admin_reset(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

#endif
