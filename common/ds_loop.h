/*
 * ds_loop.h - the one consume, handle, produce, commit loop.
 *
 * A stage is a handler. The loop consumes the stage's input topic and its
 * retry topic in a consumer group, hands each record to the handler,
 * produces the handler's output keyed by the same documentId, waits for its
 * delivery report and only then stores the record's offset (librdkafka's
 * automatic offset store is off, so a crash redelivers instead of losing).
 *
 * A transient failure sends the record to the retry topic with the time it
 * is due (exponential backoff with jitter, Retry-After winning), so the
 * documents behind it go on; later records of the same document queue
 * behind it (ds_order.h). Failures that mean a dependency is down open the
 * circuit breaker (ds_breaker.h): the stage pauses instead of spending
 * every document's attempts. Permanent failures and spent retries go to the
 * DLQ with the original key and value and headers that name the cause.
 * SIGTERM and SIGINT finish the record in hand, commit, and return.
 *
 * A stage may also give the loop periodic work (ds_loop_every), which the
 * loop runs between records on its own thread: no locks, and no record
 * waits for it longer than one short batch.
 */
#ifndef DS_LOOP_H
#define DS_LOOP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ds_error.h"

typedef struct ds_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *key;      /* the documentId, NUL-terminated copy */
    json_t *value;        /* borrowed: the parsed JSON object */
    const char *trace_id; /* from the "docsync.trace_id" header, or "" */
    int attempt;          /* 1 on the first try */
} ds_msg;

/* Handles one record. Returns 0 with *out set to a new JSON object to
 * publish on the stage's output topic (or NULL when there is nothing to
 * publish), or -1 with err classified. */
typedef int (*ds_handler_fn)(void *ctx, const ds_msg *in, json_t **out,
                             ds_err *err);

typedef struct ds_stage {
    const char *name;        /* "fetcher", ... */
    const char *in_topic;
    const char *out_topic;
    ds_handler_fn handle;
    void *ctx;
} ds_stage;

typedef struct ds_loop_conf {
    const char *brokers;        /* KAFKA_BROKERS */
    const char *group;          /* KAFKA_GROUP, default docsync-<stage> */
    const char *dlq_topic;      /* DLQ_TOPIC, default docsync.dlq */
    const char *retry_topic;    /* RETRY_TOPIC, default docsync.retry.<stage> */
    long max_attempts;          /* MAX_ATTEMPTS */
    long backoff_base_ms;       /* BACKOFF_BASE_MS */
    long backoff_cap_ms;        /* BACKOFF_CAP_MS */
    long retry_budget_ms;       /* RETRY_BUDGET_MS: first failure to DLQ */
    long grace_delay_ms;        /* GRACE_DELAY_MS: wait between grace tries */
    long order_stale_ms;        /* ORDER_STALE_MS: see ds_order.h */
    long breaker_threshold;     /* BREAKER_THRESHOLD: outages in a row */
    long breaker_cooldown_ms;   /* BREAKER_COOLDOWN_MS: first pause */
    long breaker_max_ms;        /* BREAKER_COOLDOWN_MAX_MS: longest pause */
    long max_poll_interval_ms;  /* KAFKA_MAX_POLL_INTERVAL_MS */
    struct ds_redis *redis;     /* optional: keeps one document's records in
                                 * order across retries, marks a
                                 * dead-lettered document failed and keeps
                                 * the blob its record names (ds_blobref.h) */
} ds_loop_conf;

/* Fills conf with the defaults for stage, then overrides them from the
 * environment. Returns 0, or -1 with err naming the bad variable. */
int ds_loop_conf_load(ds_loop_conf *conf, const char *stage, ds_err *err);

/* Runs the loop until ds_loop_stop is called or a signal arrives. Returns 0
 * after a clean shutdown, -1 with err when the loop could not start. */
int ds_loop_run(const ds_stage *stage, const ds_loop_conf *conf,
                ds_err *err);

/* Periodic work: runs one bounded batch and returns 1 when more is due at
 * once, 0 when it can wait for its next interval. */
typedef int (*ds_tick_fn)(void *ctx);

/* Has ds_loop_run call fn(ctx) every every_ms between records, the first
 * time when it starts: work a stage does on a clock rather than per record
 * (the verifier's sweep of expired blobs). fn runs on the loop's thread, so
 * it must keep each call short; when it returns 1 it is called again after
 * the next record instead of a whole interval later. One per process; fn
 * NULL removes it. Call before ds_loop_run. */
void ds_loop_every(long every_ms, ds_tick_fn fn, void *ctx);

/* Asks the loop to stop; safe from a signal handler. */
void ds_loop_stop(void);

/* Nonzero once a stop was asked for. */
int ds_loop_stopping(void);

/* Installs SIGTERM/SIGINT handlers that call ds_loop_stop, and ignores
 * SIGPIPE (a write to a dead Redis or HTTP socket must not kill us). */
void ds_loop_install_signals(void);

/* Backoff before attempt `attempt` (>= 2): with x = min(cap, base *
 * 2^(attempt - 2)), a random wait in [min(x, base/2), x]. The jitter
 * spreads workers that failed together over the whole window; the floor
 * keeps a wait from collapsing to zero (cases.md C08, C09). */
long ds_backoff_ms(int attempt, long base_ms, long cap_ms);

#endif
