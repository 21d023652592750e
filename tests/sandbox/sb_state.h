/*
 * sb_state.h - everything the sandbox remembers, behind one mutex.
 *
 * Records are jansson objects. The state keeps its own copies: functions
 * that take a record steal the reference, functions that return one return
 * a deep copy the caller owns, so no caller ever shares an object with
 * another thread.
 *
 * Id counters (doc_N, tdoc_N, evt_N) survive sb_state_reset on purpose: the
 * pipeline dedupes on eventId and documentId in Redis, and a reused id
 * would make a new document look like one already done.
 */
#ifndef SB_STATE_H
#define SB_STATE_H

#include <stddef.h>

#include <jansson.h>

#include "ds_error.h"

#define SB_ID_MAX 64

typedef struct sb_state sb_state;

/* The routes that faults can be queued for. */
typedef enum {
    SB_FAULT_CRM_META = 0,
    SB_FAULT_CRM_CONTENT,
    SB_FAULT_TX_UPLOAD,
    SB_FAULT_TX_GET,
    SB_FAULT_TX_SEARCH,
    SB_FAULT_CRM_LIST,
    SB_FAULT_TX_ACCOUNTS,
    SB_FAULT_TX_SESSION_START,
    SB_FAULT_TX_SESSION_PART,
    SB_FAULT_TX_SESSION_COMPLETE,
    SB_FAULT_TX_SESSION_GET,
    SB_FAULT_NONE /* also the number of fault routes */
} sb_fault_route;

/* What one faulty request does: sleep delay_ms, then answer status with
 * body, or answer normally when status is 0. With after_body the whole
 * request body is read first, as a server that checks a token only once
 * the upload is in. */
typedef struct sb_fault {
    int status;
    char *body; /* owned; NULL means the default JSON body */
    long delay_ms;
    int after_body;
} sb_fault;

/* Parses "crm_meta", "crm_content", "tx_upload", "tx_get", "tx_search",
 * "crm_list", "tx_accounts", "tx_session_start", "tx_session_part",
 * "tx_session_complete" or "tx_session_get"; anything else gives
 * SB_FAULT_NONE. */
sb_fault_route sb_fault_route_parse(const char *name);

/* The name of a fault route, the inverse of sb_fault_route_parse; NULL for
 * SB_FAULT_NONE. */
const char *sb_fault_route_name(sb_fault_route route);

/* Frees the body of f and zeroes it; accepts NULL. */
void sb_fault_clear(sb_fault *f);

/* Creates the state, creating data_dir (and its parents) when missing and
 * loading the transactions file when one is named: {"transactions":[...]}
 * whose items are ids or objects with an "id". Without it every
 * transaction id exists. Returns NULL with err set on failure. */
sb_state *sb_state_new(const char *data_dir, const char *transactions_file,
                       ds_err *err);

/* Frees the state; the stored files stay on disk. Accepts NULL. */
void sb_state_free(sb_state *st);

/* The data directory as an absolute path. */
const char *sb_state_data_dir(const sb_state *st);

/* The number of known transactions, or -1 when every id is accepted. */
long sb_state_transaction_count(const sb_state *st);

/* True when uploads to this transaction id are accepted. */
int sb_state_transaction_exists(sb_state *st, const char *transaction_id);

/* Writes a fresh "evt_N" into out. */
void sb_state_next_event_id(sb_state *st, char out[SB_ID_MAX + 1]);

/* Adds a CRM document record (stolen). With want_id NULL an unused "doc_N"
 * is chosen. Sets "id" in the record and copies it to out_id. Returns 0, or
 * -1 when want_id is taken (the record is then freed). */
int sb_state_crm_add(sb_state *st, const char *want_id, json_t *rec,
                     char out_id[SB_ID_MAX + 1]);

/* A copy of the CRM record, or NULL when unknown or out of memory. */
json_t *sb_state_crm_get(sb_state *st, const char *id);

/* Copies of every CRM record, in the order they were added; NULL when out
 * of memory. */
json_t *sb_state_crm_all(sb_state *st);

/* Sets the transaction ids of account (ids, an array of strings, stolen);
 * an empty array removes the account. Returns 0, or -1 when out of
 * memory. */
int sb_state_accounts_set(sb_state *st, const char *account, json_t *ids);

/* A copy of the transaction ids of account, an empty array when it has
 * none; NULL when out of memory. */
json_t *sb_state_accounts_get(sb_state *st, const char *account);

/* Removes a CRM record. Returns 0, or -1 when unknown. */
int sb_state_crm_delete(sb_state *st, const char *id);

/* Stores an uploaded document: gives it the next "tdoc_N", moves the file
 * at tmp_path to <data-dir>/tdoc_N, records "id" and "storedPath" in rec
 * (stolen) and counts one upload for its "sourceDocumentId", and one lost
 * or corrupted one when rec's "lost" or "corrupted" is true. Returns 0, or
 * -1 with err set when the file cannot be moved (rec is then freed). */
int sb_state_tx_add(sb_state *st, json_t *rec, const char *tmp_path,
                    char out_id[SB_ID_MAX + 1], ds_err *err);

/* A copy of the stored document's record, or NULL when unknown. */
json_t *sb_state_tx_get(sb_state *st, const char *id);

/* Copies of the records stored for transaction_id, in the order they were
 * stored, only those of sourceDocumentId source when source is not NULL;
 * lost ones too. An array, empty when none match; NULL when out of
 * memory. */
json_t *sb_state_tx_find(sb_state *st, const char *transaction_id,
                         const char *source);

/* {"documents":[records...],"uploadsBySource":{"doc_1":1},
 * "idempotentReplays":N,"replaysBySource":{"doc_1":N},
 * "lostBySource":{"doc_1":N},"corruptedBySource":{"doc_1":N}}, a copy;
 * NULL when out of memory. */
json_t *sb_state_tx_list(sb_state *st);

/* What sb_state_idem_claim found for an Idempotency-Key. */
typedef enum {
    SB_IDEM_CLAIMED, /* unknown: now "in progress", held by the caller */
    SB_IDEM_BUSY,    /* in progress for another request */
    SB_IDEM_DONE,    /* a request with it completed with 201 */
    SB_IDEM_FAILED   /* out of memory */
} sb_idem_claim;

/* Looks key up and, when it is unknown, marks it in progress for the
 * caller: *claim gets a number (never 0) that sb_state_idem_complete and
 * sb_state_idem_release need. *claim is 0 on every other result. */
sb_idem_claim sb_state_idem_claim(sb_state *st, const char *key,
                                  unsigned long *claim);

/* Turns the caller's claim on key into a completed key that remembers
 * fingerprint (stolen, may be NULL), status and a copy of body. Returns 0,
 * or -1 when out of memory or the claim is no longer held (a reset forgot
 * it); the key is then left as it is. */
int sb_state_idem_complete(sb_state *st, const char *key,
                           unsigned long claim, json_t *fingerprint,
                           int status, const char *body);

/* Forgets key when it is still in progress under claim, so that a retry
 * runs normally. Does nothing for claim 0, a completed key, or a key
 * claimed again after a reset; safe to call more than once. */
void sb_state_idem_release(sb_state *st, const char *key,
                           unsigned long claim);

/* For a completed key: when fingerprint equals the one remembered, counts
 * a replay for source and returns 1 with the remembered status and a copy
 * of the body (the caller frees it; NULL when out of memory); returns 0
 * when the fingerprint differs, and -1 when key is not completed (a reset
 * forgot it, or it is in progress again). */
int sb_state_idem_replay(sb_state *st, const char *key,
                         const json_t *fingerprint, const char *source,
                         int *status, char **body);

/* Queues a copy of fault (its body copied too) for the next count
 * requests of route: sleep delay_ms, then answer status with the body
 * (status 0: answer normally). Returns the number of requests of that
 * route now pending a fault, or -1 when out of memory. */
long sb_state_fault_push(sb_state *st, sb_fault_route route, long count,
                         const sb_fault *fault);

/* Takes the next fault of route into out (the caller frees it with
 * sb_fault_clear). Returns 1 when one was taken, 0 when none is pending. */
int sb_state_fault_take(sb_state *st, sb_fault_route route, sb_fault *out);

/* Forgets CRM documents, stored documents (deleting their files), upload,
 * replay, lost and corrupted counts, Idempotency-Keys, accounts and pending
 * faults. Configuration and id counters stay. */
void sb_state_reset(sb_state *st);

/* Sleeps ms milliseconds, or less when sb_state_stop is called meanwhile.
 * Returns 0 after the full time, -1 when cut short by a stop. */
int sb_state_sleep_ms(sb_state *st, long ms);

/* Wakes every sb_state_sleep_ms and makes later ones return at once, so
 * that hung requests let the daemon stop. */
void sb_state_stop(sb_state *st);

#endif
