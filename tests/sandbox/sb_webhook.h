/*
 * sb_webhook.h - the CRM's webhook: the event body and its signed delivery
 * to ingest through libcurl.
 */
#ifndef SB_WEBHOOK_H
#define SB_WEBHOOK_H

#include <stddef.h>

#include <jansson.h>

/* Where and how webhooks are sent; the strings belong to the caller. */
typedef struct sb_webhook_target {
    const char *url;
    const char *secret;
    const char *signature_header;
} sb_webhook_target;

/* The DOCUMENT_CREATED event of docs/contracts.md as compact JSON, keys in
 * contract order, timestamp now in UTC. Returns a string the caller frees,
 * or NULL when out of memory. */
char *sb_webhook_event(const char *event_id, const char *document_id,
                       const char *account_id, const char *file_name);

/* The thin DOCUMENTS_CREATED event of docs/contracts.md as compact JSON:
 * event_id, document_ids as given (any JSON value, so that tests can send
 * bad ones), a resourceUri listing the ids when they are all strings, and
 * timestamp. Returns a string the caller frees, or NULL when out of
 * memory. */
char *sb_webhook_thin_event(const char *event_id, json_t *document_ids,
                            const char *timestamp);

/* POSTs body[0..len) to the target once, with Content-Type
 * application/json and the header "<signature_header>: <hex HMAC-SHA256 of
 * body under secret>", or "<signature_header>: <signature>" when signature
 * is not NULL. Blocks at most a few seconds. Returns the HTTP status, or 0
 * when no response came (refused, timed out, signing failed). */
int sb_webhook_post(const sb_webhook_target *t, const char *body,
                    size_t len, const char *signature);

/* As sb_webhook_post, signed correctly, and keeps ingest's answer: *answer
 * is the parsed JSON body the caller frees, or NULL when there was none or
 * it was not JSON. */
int sb_webhook_post_answer(const sb_webhook_target *t, const char *body,
                           size_t len, json_t **answer);

#endif
