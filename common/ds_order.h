/*
 * ds_order.h - keeps one document's records in order while some of them
 * wait in a stage's retry topic.
 *
 * A record that fails transiently leaves its partition for the stage's
 * retry topic, so the documents behind it go on. A later record of the same
 * document must not overtake it: it is parked behind it. Each stage keeps,
 * per document, a queue of tickets in Redis; a ticket names the input
 * record it stands for ("<topic>:<partition>:<offset>"), so a redelivered
 * record gets the same ticket and cannot queue twice.
 *
 *   docsync:order:<stage>:<documentId>      list: tickets, oldest first
 *   docsync:order:<stage>:<documentId>:t    hash: ticket -> last seen (ms)
 *
 * A ticket whose record has not been seen for stale_ms (its process died
 * between queueing it and producing the retry record) is dropped from the
 * head, so a lost ticket delays the document's later records by at most
 * that long and never blocks them. Both keys expire a week after their
 * last change.
 */
#ifndef DS_ORDER_H
#define DS_ORDER_H

#include "ds_error.h"
#include "ds_redis.h"

/* What the queue says about a record. */
typedef enum {
    DS_ORDER_FREE = 0, /* nothing of the document waits: go */
    DS_ORDER_TURN,     /* the record's ticket is first: go */
    DS_ORDER_WAIT      /* an older record of the document waits: park */
} ds_order_state;

/* For a record read from the stage's input topic: when records of the
 * document wait, queues ticket behind them (once) and says WAIT; otherwise
 * says FREE and queues nothing. Returns 0 or -1. */
int ds_order_enter(ds_redis *r, const char *stage, const char *doc_id,
                   const char *ticket, long long now_ms, long stale_ms,
                   ds_order_state *state, ds_err *err);

/* For a record read from the retry topic: TURN when ticket is first (and
 * marks it seen), WAIT when another ticket is, FREE when the ticket is not
 * queued at all (already done, or Redis lost it). Returns 0 or -1. */
int ds_order_turn(ds_redis *r, const char *stage, const char *doc_id,
                  const char *ticket, long long now_ms, long stale_ms,
                  ds_order_state *state, ds_err *err);

/* Queues ticket at the end unless it is queued already, and marks it
 * seen: called when a record goes to the retry topic. Returns 0 or -1. */
int ds_order_park(ds_redis *r, const char *stage, const char *doc_id,
                  const char *ticket, long long now_ms, ds_err *err);

/* Removes ticket: its record is finished (published or dead-lettered).
 * Returns 0 or -1. */
int ds_order_done(ds_redis *r, const char *stage, const char *doc_id,
                  const char *ticket, ds_err *err);

#endif
