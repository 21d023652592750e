/*
 * ds_state.h - each document's state in Redis, dedupe marks and leases.
 *
 * Keys:
 *   docsync:doc:<documentId>        hash: state, <state>_at (ms), fields
 *   docsync:timeline:<documentId>   list: "<ms> <stage> <state> <detail>"
 *   docsync:event:<dedupe key>      string: "pending" or "done"
 *   docsync:lease:<name>            string: owner token, with expiry
 */
#ifndef DS_STATE_H
#define DS_STATE_H

#include "ds_error.h"
#include "ds_redis.h"

/* Nonzero when id can name a document: 1 to 128 characters of letters,
 * digits and "._:-", not starting with a dot. Ids go into URLs and Redis
 * keys, so nothing else is accepted. */
int ds_doc_id_valid(const char *id);

/* Records that documentId reached state (received, fetched, mapped,
 * uploaded, verified, failed) at stage, with a timestamp, in the document's
 * hash and timeline. Returns 0 or -1. */
int ds_state_mark(ds_redis *r, const char *doc_id, const char *stage,
                  const char *state, const char *detail, ds_err *err);

/* Sets one field of the document's hash. Returns 0 or -1. */
int ds_state_set(ds_redis *r, const char *doc_id, const char *field,
                 const char *value, ds_err *err);

/* Reads one field of the document's hash into a string the caller frees,
 * or *out = NULL when the field is absent. Returns 0 or -1. */
int ds_state_get(ds_redis *r, const char *doc_id, const char *field,
                 char **out, ds_err *err);

/* What a dedupe claim found. */
typedef enum {
    DS_EVENT_NEW = 0,   /* claimed by this call: the event is new */
    DS_EVENT_PENDING,   /* another request is still producing it */
    DS_EVENT_DONE       /* accepted before: a duplicate */
} ds_event_state;

/* Claims the dedupe key of an event for ttl_ms, atomically, and says what
 * was there. Returns 0 or -1. */
int ds_dedupe_claim(ds_redis *r, const char *key, long ttl_ms,
                    ds_event_state *state, ds_err *err);

/* Marks a claimed event as durably accepted, keeping it for keep_ms. */
int ds_dedupe_done(ds_redis *r, const char *key, long keep_ms, ds_err *err);

/* Forgets a claim whose event could not be accepted, so that the sender's
 * retry is not dropped as a duplicate. */
int ds_dedupe_release(ds_redis *r, const char *key, ds_err *err);

/* Takes the lease `name` for owner for ttl_ms if nobody holds it, or renews
 * it if owner already does. *taken is 1 when owner holds it on return.
 * Returns 0 or -1. */
int ds_lease_take(ds_redis *r, const char *name, const char *owner,
                  long ttl_ms, int *taken, ds_err *err);

/* Releases the lease if owner still holds it. Returns 0 or -1. */
int ds_lease_release(ds_redis *r, const char *name, const char *owner,
                     ds_err *err);

#endif
