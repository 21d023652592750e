/*
 * sb_session.h - the chunked upload sessions of the transaction system:
 * what each session was started with, which parts it has, when it
 * expires, and its file in the data directory, behind their own mutex.
 *
 * A session is used by one request at a time: sb_sessions_acquire waits
 * while another holds it (a part being written, a completion assembling
 * the file) and sb_sessions_release or sb_sessions_finish gives it back.
 * Ids ("us_N") survive sb_sessions_reset, like the other ids of the
 * sandbox, so that a request in flight across a reset never meets
 * another session under its id.
 */
#ifndef SB_SESSION_H
#define SB_SESSION_H

#include <limits.h>
#include <stdint.h>

#include <jansson.h>

#include "ds_error.h"
#include "sb_state.h"

typedef struct sb_sessions sb_sessions;

/* What a lookup found. */
typedef enum {
    SB_SESSION_OK,
    SB_SESSION_UNKNOWN,  /* never started, deleted, completed or reset */
    SB_SESSION_EXPIRED   /* still known, past its expiry: its file is gone */
} sb_session_found;

/* A copy of one session, the caller's; free fields with
 * sb_session_info_clear. */
typedef struct sb_session_info {
    char id[SB_ID_MAX + 1];
    char transaction_id[SB_ID_MAX + 1];
    uint64_t size;
    uint64_t part_size;
    uint64_t total_parts;
    uint64_t received;       /* parts 1..received are in */
    uint64_t part_puts;      /* parts accepted, resends included */
    int64_t expires_ms;
    int expired;
    char path[PATH_MAX];     /* the session's file */
    json_t *fields;          /* the upload's fields, a copy */
} sb_session_info;

/* Releases what info holds; accepts a zeroed info. */
void sb_session_info_clear(sb_session_info *info);

/* Creates an empty set of sessions whose files go into data_dir (kept,
 * not copied: it must outlive the set). NULL when out of memory. */
sb_sessions *sb_sessions_new(const char *data_dir);

/* Frees the set, removing the sessions' files; accepts NULL. */
void sb_sessions_free(sb_sessions *ss);

/* Starts a session for a file of size bytes in parts of part_size (at
 * least 1) for transaction_id, with a copy of fields, expiring at
 * expires_ms: creates its empty file and fills out. Returns 0, or -1
 * with err set when the file cannot be created. */
int sb_sessions_start(sb_sessions *ss, const char *transaction_id,
                      json_t *fields, uint64_t size, uint64_t part_size,
                      int64_t expires_ms, sb_session_info *out, ds_err *err);

/* Looks session id up at time now_ms and, on SB_SESSION_OK, copies it
 * into out (to be cleared by the caller). Removes the file of an expired
 * session that no request holds. */
sb_session_found sb_sessions_peek(sb_sessions *ss, const char *id,
                                  int64_t now_ms, sb_session_info *out);

/* sb_sessions_peek that also holds the session on SB_SESSION_OK, after
 * waiting while another request holds it. Every SB_SESSION_OK is paired
 * with one sb_sessions_release or sb_sessions_finish. */
sb_session_found sb_sessions_acquire(sb_sessions *ss, const char *id,
                                     int64_t now_ms, sb_session_info *out);

/* Gives session id back. part_number, when not 0, is a part just
 * written: it counts as a put and, when it is the next one due, as
 * received. Does nothing to a session a reset has forgotten. */
void sb_sessions_release(sb_sessions *ss, const char *id,
                         uint64_t part_number);

/* Ends a held session: forgets it and removes its file if still there.
 * With done (stolen) it counts as completed and done, the fingerprint
 * fields of the stored document, is kept for the replay of a later
 * complete (sb_sessions_done); without, it was deleted. */
void sb_sessions_finish(sb_sessions *ss, const char *id, json_t *done);

/* A copy of what sb_sessions_finish kept of completed session id, or
 * NULL. */
json_t *sb_sessions_done(sb_sessions *ss, const char *id);

/* Makes session id, or every session when id is NULL, expire at now_ms,
 * appending the ids made expired to ids. Returns 0, or -1 when id names
 * no known session. */
int sb_sessions_expire(sb_sessions *ss, const char *id, int64_t now_ms,
                       json_t *ids);

/* {"sessions":[{"sessionId","transactionId","size","partSize",
 * "totalParts","receivedParts","partPuts","expired"}],"partPuts":N,
 * "completed":N} at time now_ms; NULL when out of memory. */
json_t *sb_sessions_list(sb_sessions *ss, int64_t now_ms);

/* Forgets every session (removing their files), what completed ones
 * left and the counts; ids keep counting. */
void sb_sessions_reset(sb_sessions *ss);

#endif
