/*
 * ctl_mark.h - what a replay writes to Redis.
 *
 * Keys (all under docsync:, beside ds_state.h's):
 *   replayed:<dlq topic>:<partition>:<offset>  string: "pending" while a
 *       replay of that DLQ record is under way (60 s at most), then the
 *       epoch ms of the replay, kept 30 days: a second replay of the same
 *       record is refused unless forced.
 *   doc:<documentId>       hash: state "replayed", replayed_at (ms),
 *       replayed_from ("<dlq topic>:<p>:<o>")
 *   timeline:<documentId>  list: "<ms>:docsyncctl:replayed:<reason>"
 */
#ifndef CTL_MARK_H
#define CTL_MARK_H

#include <stdint.h>

#include "ds_error.h"
#include "ds_redis.h"

/* How long a replay is remembered: 30 days. */
#define CTL_REPLAY_KEEP_S (30L * 24 * 3600)

/* What the mark of a DLQ record's replay holds. */
typedef enum {
    CTL_MARK_NONE = 0,  /* never replayed (after a claim: claimed now) */
    CTL_MARK_PENDING,   /* another docsyncctl is replaying it now */
    CTL_MARK_DONE       /* replayed before, at *when_ms */
} ctl_mark_found;

/* Reads whether the DLQ record was replayed, without claiming it. Sets
 * *found to CTL_MARK_NONE when it never was (nothing is claimed). */
int ctl_mark_lookup(ds_redis *r, const char *dlq_topic, int32_t partition,
                    int64_t offset, ctl_mark_found *found, long long *when_ms,
                    ds_err *err);

/* Claims the replay of a DLQ record, atomically, unless it was replayed or
 * is being replayed. Returns 0 with *found, or -1. */
int ctl_mark_claim(ds_redis *r, const char *dlq_topic, int32_t partition,
                   int64_t offset, ctl_mark_found *found, long long *when_ms,
                   ds_err *err);

/* Forgets a claim whose replay did not happen, so that it can be tried
 * again; a finished replay's mark is left alone. */
int ctl_mark_release(ds_redis *r, const char *dlq_topic, int32_t partition,
                     int64_t offset, ds_err *err);

/* Records that the DLQ record was replayed at ms, for CTL_REPLAY_KEEP_S. */
int ctl_mark_done(ds_redis *r, const char *dlq_topic, int32_t partition,
                  int64_t offset, long long ms, ds_err *err);

/* A document's state and failed time, as read before its replay; empty
 * strings for what the hash does not hold. */
typedef struct ctl_doc_seen {
    char state[32];
    char failed_at[32];
} ctl_doc_seen;

/* Reads what ctl_mark_replayed later compares with. */
int ctl_doc_seen_read(ds_redis *r, const char *doc_id, ctl_doc_seen *seen,
                      ds_err *err);

/* Marks the document replayed at ms: replayed_at, replayed_from and a
 * timeline entry of stage docsyncctl with the reason, always; the state
 * "replayed" only when state and failed_at are still what seen holds, so
 * that a stage that has already handled the replayed record (or failed it
 * again) is not overwritten. *state_set says which. Returns 0 or -1. */
int ctl_mark_replayed(ds_redis *r, const char *doc_id,
                      const ctl_doc_seen *seen, long long ms,
                      const char *reason, const char *from, int *state_set,
                      ds_err *err);

#endif
