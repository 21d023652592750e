/*
 * sb_hooks.h - the webhook sender's background side: a failed webhook is
 * resent on the schedule of webhooks.retryDelaysMs (same body, signature
 * and eventId), and a delivered one is sent once more with the chance
 * webhooks.duplicateRate, as real CRMs do. One thread works the queue;
 * the first attempt stays with the caller.
 */
#ifndef SB_HOOKS_H
#define SB_HOOKS_H

#include "sb_call.h"
#include "sb_config.h"
#include "sb_webhook.h"

/* Starts the sender thread for target (whose strings must outlive it),
 * reading its schedule from cfg. NULL when out of memory. */
sb_hooks *sb_hooks_new(const sb_webhook_target *target, sb_config *cfg);

/* Stops the thread, dropping what is pending, and frees h; accepts
 * NULL. */
void sb_hooks_free(sb_hooks *h);

/* Tells the sender how the first attempt of a webhook went (status 0:
 * no answer): it queues the first retry of a failure, or a duplicate of a
 * success, when the configuration asks for them. signature is the
 * verbatim signature or NULL; ids are for the log. */
void sb_hooks_after(sb_hooks *h, const char *body, const char *signature,
                    const char *event_id, const char *document_id,
                    int status);

/* Drops every pending retry and duplicate (POST /admin/reset). */
void sb_hooks_clear(sb_hooks *h);

#endif
