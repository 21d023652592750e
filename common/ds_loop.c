/* ds_loop.c - the one consume, handle, produce, commit loop; see ds_loop.h */
#include "ds_loop.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ds_blobref.h"
#include "ds_breaker.h"
#include "ds_config.h"
#include "ds_kafka.h"
#include "ds_log.h"
#include "ds_loop_metrics.h"
#include "ds_order.h"
#include "ds_reason.h"
#include "ds_state.h"
#include "ds_time.h"

/* Headers the loop reads and writes; values are simple tokens (C17). */
#define TRACE_HEADER "docsync.trace_id"
#define ORIGIN_HEADER "docsync.origin"       /* topic:partition:offset */
#define ATTEMPTS_HEADER "docsync.attempts"   /* failures so far */
#define FIRST_HEADER "docsync.first_failure" /* epoch ms */
#define LAST_HEADER "docsync.last_failure"   /* epoch ms */
#define DUE_HEADER "docsync.due"             /* epoch ms */
#define REASON_HEADER "docsync.reason"
#define STATUS_HEADER "docsync.http_status"

/* Most retry-topic partitions one process waits on at once. */
#define MAX_PARKED 256

static volatile sig_atomic_t stop_requested;

/* The stage's periodic work (ds_loop_every), when it has some. */
static struct {
    ds_tick_fn fn;
    void *ctx;
    long every_ms;
} tick;

/* A retry-topic partition paused until its first record is due. */
typedef struct parked {
    char topic[128];
    int32_t partition;
    long long due_ms; /* epoch ms */
} parked;

typedef struct loop {
    const ds_stage *stage;
    const ds_loop_conf *conf;
    rd_kafka_t *consumer;
    ds_producer *producer;
    ds_breaker breaker;
    int paused_all;           /* the breaker paused the whole assignment */
    parked parked[MAX_PARKED];
    size_t nparked;
} loop;

/* One record in hand, with its place in its retries. */
typedef struct record {
    const rd_kafka_message_t *m;
    ds_msg msg;
    char key[256];
    char trace_id[64];
    int from_retry;             /* read from the retry topic */
    char origin[192];           /* topic:partition:offset of the input
                                 * record: the DLQ's context, the ticket */
    char origin_topic[192];
    char origin_partition[16];
    char origin_offset[32];
    int attempts;               /* failures so far */
    long long first_failure_ms;
    long long last_failure_ms;
    long long due_ms;
    int queued;                 /* its ticket is in the order queue */
} record;

/* What became of a record: finished (its offset may be stored), deferred
 * (its partition was sought back to it: it comes again), or left because
 * a stop cut a wait short. */
typedef enum { DONE, DEFERRED, LEFT } outcome;

void ds_loop_every(long every_ms, ds_tick_fn fn, void *ctx)
{
    tick.fn = fn;
    tick.ctx = ctx;
    tick.every_ms = every_ms > 0 ? every_ms : 1;
}

void ds_loop_stop(void)
{
    stop_requested = 1;
}

int ds_loop_stopping(void)
{
    return stop_requested != 0;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void ds_loop_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

long ds_backoff_ms(int attempt, long base_ms, long cap_ms)
{
    long x = base_ms, floor;
    int i;

    for (i = 2; i < attempt && x < cap_ms; i++)
        x *= 2;
    if (x > cap_ms)
        x = cap_ms;
    floor = base_ms / 2 < x ? base_ms / 2 : x;
    if (x <= 1)
        return x;
    return floor + random() % (x - floor + 1);
}

/* Sleeps ms in short slices so that a stop request cuts the wait short.
 * Returns 0 when the whole wait passed, -1 when a stop cut it. */
static int sleep_unless_stopped(long ms)
{
    long long end = ds_time_mono_ms() + ms;

    while (!stop_requested) {
        long long left = end - ds_time_mono_ms();
        struct timespec ts;

        if (left <= 0)
            return 0;
        if (left > 100)
            left = 100;
        ts.tv_sec = 0;
        ts.tv_nsec = left * 1000000L;
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* Refuses a poll interval that a record's work could outlast: the
 * consumer would be thrown out of its group and the record redelivered in
 * a loop (cases.md C14). A record's work is one handler call of at most
 * three HTTP calls (a lookup, a request, a read-back), each bounded by
 * HTTP_TIMEOUT_MS, plus Redis and produce time. */
static int check_poll_interval(const ds_loop_conf *conf, ds_err *err)
{
    long http_ms, work_ms;

    if (ds_env_long("HTTP_TIMEOUT_MS", 60000, &http_ms, err) < 0)
        return -1;
    if (http_ms <= 0)
        return ds_err_set(err, "bad_config",
                          "HTTP_TIMEOUT_MS must be positive, not %ld",
                          http_ms);
    work_ms = 3 * http_ms + 30000;
    if (conf->max_poll_interval_ms < work_ms)
        return ds_err_set(err, "bad_config",
                          "KAFKA_MAX_POLL_INTERVAL_MS (%ld) must be at least "
                          "3 x HTTP_TIMEOUT_MS + 30 s (%ld): a record's work "
                          "could outlast it", conf->max_poll_interval_ms,
                          work_ms);
    return 0;
}

int ds_loop_conf_load(ds_loop_conf *conf, const char *stage, ds_err *err)
{
    static char group[96], retry[96];

    snprintf(group, sizeof(group), "docsync-%s", stage);
    snprintf(retry, sizeof(retry), "docsync.retry.%s", stage);
    conf->brokers = ds_env_str("KAFKA_BROKERS", "localhost:9092");
    conf->group = ds_env_str("KAFKA_GROUP", group);
    conf->dlq_topic = ds_env_str("DLQ_TOPIC", "docsync.dlq");
    conf->retry_topic = ds_env_str("RETRY_TOPIC", retry);
    conf->redis = NULL;
    if (ds_env_long("MAX_ATTEMPTS", 8, &conf->max_attempts, err) < 0 ||
        ds_env_long("BACKOFF_BASE_MS", 2000, &conf->backoff_base_ms,
                    err) < 0 ||
        ds_env_long("BACKOFF_CAP_MS", 60000, &conf->backoff_cap_ms,
                    err) < 0 ||
        ds_env_long("RETRY_BUDGET_MS", 900000, &conf->retry_budget_ms,
                    err) < 0 ||
        ds_env_long("GRACE_DELAY_MS", 15000, &conf->grace_delay_ms,
                    err) < 0 ||
        ds_env_long("ORDER_STALE_MS", 600000, &conf->order_stale_ms,
                    err) < 0 ||
        ds_env_long("BREAKER_THRESHOLD", 5, &conf->breaker_threshold,
                    err) < 0 ||
        ds_env_long("BREAKER_COOLDOWN_MS", 1000, &conf->breaker_cooldown_ms,
                    err) < 0 ||
        ds_env_long("BREAKER_COOLDOWN_MAX_MS", 30000, &conf->breaker_max_ms,
                    err) < 0 ||
        ds_env_long("KAFKA_MAX_POLL_INTERVAL_MS", 900000,
                    &conf->max_poll_interval_ms, err) < 0)
        return -1;
    if (conf->max_attempts < 1)
        return ds_err_set(err, "bad_config", "MAX_ATTEMPTS must be at least 1");
    if (conf->backoff_base_ms < 1 || conf->backoff_cap_ms < 1)
        return ds_err_set(err, "bad_config",
                          "BACKOFF_BASE_MS and BACKOFF_CAP_MS must be positive");
    if (conf->retry_budget_ms < 1 || conf->grace_delay_ms < 0 ||
        conf->order_stale_ms < 1000)
        return ds_err_set(err, "bad_config",
                          "RETRY_BUDGET_MS must be positive, GRACE_DELAY_MS "
                          "not negative, ORDER_STALE_MS at least 1000");
    if (conf->breaker_threshold < 1 || conf->breaker_cooldown_ms < 1 ||
        conf->breaker_max_ms < conf->breaker_cooldown_ms)
        return ds_err_set(err, "bad_config",
                          "BREAKER_THRESHOLD and BREAKER_COOLDOWN_MS must be "
                          "positive, BREAKER_COOLDOWN_MAX_MS at least "
                          "BREAKER_COOLDOWN_MS");
    if (strcmp(conf->retry_topic, "") == 0)
        return ds_err_set(err, "bad_config", "RETRY_TOPIC is empty");
    return check_poll_interval(conf, err);
}

/* Index of the partition's parked entry, or -1 when it waits for nothing. */
static long parked_at(const loop *lp, const char *topic, int32_t partition)
{
    size_t i;

    for (i = 0; i < lp->nparked; i++)
        if (lp->parked[i].partition == partition &&
            strcmp(lp->parked[i].topic, topic) == 0)
            return (long)i;
    return -1;
}

/* Pauses (pause != 0) or resumes one partition. */
static void pause_one(loop *lp, const char *topic, int32_t partition,
                      int pause)
{
    rd_kafka_topic_partition_list_t *one;

    one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, topic, partition);
    if (pause)
        rd_kafka_pause_partitions(lp->consumer, one);
    else
        rd_kafka_resume_partitions(lp->consumer, one);
    rd_kafka_topic_partition_list_destroy(one);
}

/* Drops the parked entries of partitions this process no longer owns. */
static void unpark(loop *lp, const rd_kafka_topic_partition_list_t *parts)
{
    int i;

    for (i = 0; i < parts->cnt; i++) {
        long at = parked_at(lp, parts->elems[i].topic,
                            parts->elems[i].partition);

        if (at >= 0)
            lp->parked[at] = lp->parked[--lp->nparked];
    }
}

/* Takes partitions as the group hands them out. A paused partition must
 * not stay paused under a new owner, nor a new one run while the breaker
 * holds the stage, so every assignment is set to the breaker's state. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t why,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    loop *lp = opaque;

    if (why == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        if (lp->paused_all)
            rd_kafka_pause_partitions(rk, parts);
        else
            rd_kafka_resume_partitions(rk, parts);
        ds_log_msg(DS_LOG_INFO, "assigned %d partitions", parts->cnt);
        return;
    }
    unpark(lp, parts);
    rd_kafka_assign(rk, NULL);
    ds_log_msg(DS_LOG_INFO, "revoked %d partitions", parts->cnt);
}

/* Makes the consumer of the input and the retry topic. Offsets are stored
 * by hand after each record is finished, and the stored offsets are
 * committed in the background. */
static rd_kafka_t *consumer_new(loop *lp, ds_err *err)
{
    const ds_stage *stage = lp->stage;
    const ds_loop_conf *conf = lp->conf;
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_t *rk;
    char errstr[256], poll_ms[32];

    snprintf(poll_ms, sizeof(poll_ms), "%ld", conf->max_poll_interval_ms);
    if (ds_kafka_conf_set(c, "bootstrap.servers", conf->brokers, err) < 0 ||
        ds_kafka_conf_set(c, "group.id", conf->group, err) < 0 ||
        ds_kafka_conf_set(c, "client.id", stage->name, err) < 0 ||
        ds_kafka_conf_set(c, "enable.auto.offset.store", "false",
                          err) < 0 ||
        ds_kafka_conf_set(c, "enable.auto.commit", "true", err) < 0 ||
        ds_kafka_conf_set(c, "auto.commit.interval.ms", "1000", err) < 0 ||
        ds_kafka_conf_set(c, "auto.offset.reset", "earliest", err) < 0 ||
        ds_kafka_conf_set(c, "enable.partition.eof", "false", err) < 0 ||
        ds_kafka_conf_set(c, "max.poll.interval.ms", poll_ms, err) < 0 ||
        /* A crashed replica's partitions move on within seconds. */
        ds_kafka_conf_set(c, "session.timeout.ms", "10000", err) < 0 ||
        ds_kafka_conf_set(c, "heartbeat.interval.ms", "3000", err) < 0 ||
        ds_kafka_conf_common(c, err) < 0) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(c, on_rebalance);
    rd_kafka_conf_set_opaque(c, lp);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
    if (rk == NULL) {
        rd_kafka_conf_destroy(c);
        ds_err_set(err, "bad_config", "kafka: %s", errstr);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);

    topics = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(topics, stage->in_topic,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(topics, conf->retry_topic,
                                      RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(rk, topics) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(topics);
        rd_kafka_destroy(rk);
        ds_err_set(err, "kafka_subscribe", "cannot subscribe to %s and %s",
                   stage->in_topic, conf->retry_topic);
        return NULL;
    }
    rd_kafka_topic_partition_list_destroy(topics);
    return rk;
}

/* Produces until the broker confirms, waiting out an outage with backoff.
 * Returns 0, or -1 when a stop request ended the wait (the record is then
 * left unstored and will be redelivered). */
static int produce_until_delivered(loop *lp, const char *topic,
                                   const record *rec, const void *value,
                                   size_t len, const ds_header *hdrs,
                                   size_t nhdrs)
{
    int attempt;

    for (attempt = 1;; attempt++) {
        ds_err err;

        ds_err_clear(&err);
        if (ds_produce_sync(lp->producer, topic, rec->key,
                            strlen(rec->key), value, len, hdrs, nhdrs,
                            &err) == 0)
            return 0;
        ds_log_msg(DS_LOG_WARN, "produce to %s failed (%s), retrying",
                   topic, err.msg);
        if (sleep_unless_stopped(ds_backoff_ms(attempt + 1, 500, 10000)) < 0)
            return -1;
    }
}

/* Copies a free text into a header token: letters, digits and ._:/-
 * survive, anything else becomes '_', so kcat's %h output stays one field
 * per header (cases.md C17). */
static void header_token(char *out, size_t cap, const char *in)
{
    size_t i;

    for (i = 0; in[i] != '\0' && i + 1 < cap; i++) {
        unsigned char ch = (unsigned char)in[i];
        int keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || strchr("._:/-", ch) != NULL;

        out[i] = keep ? (char)ch : '_';
    }
    out[i] = '\0';
}

/* The DLQ value: the original value when it is valid JSON; otherwise a
 * JSON object naming the problem, so that `kcat -J` always works. */
static char *dlq_value(const record *rec, size_t *len)
{
    const rd_kafka_message_t *m = rec->m;
    char *out;
    json_t *wrap;

    if (rec->msg.value != NULL) {
        out = malloc(m->len);
        if (out != NULL)
            memcpy(out, m->payload, m->len);
        *len = m->len;
        return out;
    }
    wrap = json_pack("{s:s, s:i}", "error", "value_not_json_object",
                     "valueBytes", (json_int_t)m->len);
    out = wrap != NULL ? json_dumps(wrap, JSON_COMPACT) : NULL;
    json_decref(wrap);
    *len = out != NULL ? strlen(out) : 0;
    return out;
}

/* A record that names a blob (the "blob" field of the records' contract,
 * docs/contracts.md) leaves its document holding that blob when it is
 * dead-lettered, so that a replay finds the file. The loop is the one
 * place where every stage dead-letters, so it notes here when that hold
 * began to be kept; the verifier's sweep ends it after BLOB_RETENTION_S
 * (ds_blobref.h), and a replay takes it out of the sweep's way. The loop
 * knows the field, not the store: the retention is the verifier's. */
static int keep_blob(loop *lp, const record *rec, ds_err *err)
{
    const char *sha = json_string_value(json_object_get(rec->msg.value,
                                                        "blob"));

    if (!ds_blob_ref_valid(sha))
        return 0;
    return ds_blobref_keep(lp->conf->redis, sha, rec->key, ds_time_wall_ms(),
                           NULL, err);
}

/* Marks the document failed, with the reason, once its DLQ record is in
 * Kafka, and keeps the blob it names (keep_blob). A Redis that is down is
 * waited for, as an outage pauses the stage anyway: a document left
 * "received" while it sits in the DLQ would mislead whoever reads its
 * status, and a blob left without its time would be kept for ever. Only a
 * stop request cuts the wait. */
static void mark_failed(loop *lp, const record *rec, const ds_err *err)
{
    int attempt, marked = 0;

    if (lp->conf->redis == NULL || !ds_doc_id_valid(rec->key))
        return;
    for (attempt = 1;; attempt++) {
        ds_log_event ev = {.document_id = rec->key, .duration_ms = -1,
                           .attempt = attempt,
                           .message = "failed mark not written; retrying"};
        ds_err merr;

        ds_err_clear(&merr);
        /* The timeline entry is not repeated when only the blob failed. */
        if (!marked && ds_state_mark(lp->conf->redis, rec->key,
                                     lp->stage->name, "failed", err->reason,
                                     &merr) == 0)
            marked = 1;
        if (marked && keep_blob(lp, rec, &merr) == 0)
            return;
        ev.error = merr.reason;
        ds_log_event_write(DS_LOG_WARN, &ev);
        if (sleep_unless_stopped(ds_backoff_ms(attempt + 1, 500, 5000)) < 0)
            return;
    }
}

/* Takes the record's ticket out of its document's queue, so the records
 * queued behind it go on. Best effort: a ticket left behind goes stale. */
static void order_done(loop *lp, record *rec)
{
    ds_err oerr;

    if (!rec->queued || lp->conf->redis == NULL)
        return;
    ds_err_clear(&oerr);
    if (ds_order_done(lp->conf->redis, lp->stage->name, rec->key,
                      rec->origin, &oerr) < 0)
        ds_log_msg(DS_LOG_WARN, "order ticket %s not released: %s",
                   rec->origin, oerr.msg);
    rec->queued = 0;
}

/* The numbers a retry and a DLQ record both carry, as header tokens. */
typedef struct failure_tokens {
    char attempts[16], status[16], first[32], last[32];
} failure_tokens;

/* Appends the headers of a record's failures so far (reason, attempts,
 * last HTTP status, first and last failure, trace id) to h at n, with
 * their values kept in t. Returns the new count. */
static size_t add_failure_headers(ds_header *h, size_t n, failure_tokens *t,
                                  const record *rec, const char *reason,
                                  int http_status)
{
    snprintf(t->attempts, sizeof(t->attempts), "%d", rec->attempts);
    snprintf(t->status, sizeof(t->status), "%d", http_status);
    snprintf(t->first, sizeof(t->first), "%lld", rec->first_failure_ms);
    snprintf(t->last, sizeof(t->last), "%lld", rec->last_failure_ms);
    h[n++] = (ds_header){REASON_HEADER, reason};
    h[n++] = (ds_header){ATTEMPTS_HEADER, t->attempts};
    h[n++] = (ds_header){STATUS_HEADER, t->status};
    h[n++] = (ds_header){FIRST_HEADER, t->first};
    h[n++] = (ds_header){LAST_HEADER, t->last};
    h[n++] = (ds_header){TRACE_HEADER, rec->trace_id};
    return n;
}

/* Sends the record to the DLQ with its cause in the headers; the context
 * names the input record it stands for, even after retries. */
static int dead_letter(loop *lp, record *rec, const ds_err *err)
{
    char message[200];
    failure_tokens t;
    ds_header h[13];
    size_t len = 0, n = 0;
    char *value;
    int rc;

    header_token(message, sizeof(message), err->msg);

    h[n++] = (ds_header){"__connect.errors.topic", rec->origin_topic};
    h[n++] = (ds_header){"__connect.errors.partition", rec->origin_partition};
    h[n++] = (ds_header){"__connect.errors.offset", rec->origin_offset};
    h[n++] = (ds_header){"__connect.errors.stage", lp->stage->name};
    h[n++] = (ds_header){"__connect.errors.exception.class.name",
                         ds_class_name(err->klass)};
    h[n++] = (ds_header){"__connect.errors.exception.message", message};
    h[n++] = (ds_header){"docsync.stage", lp->stage->name};
    n = add_failure_headers(h, n, &t, rec, err->reason, err->http_status);

    value = dlq_value(rec, &len);
    if (value == NULL)
        return -1;
    rc = produce_until_delivered(lp, lp->conf->dlq_topic, rec, value, len,
                                 h, n);
    free(value);
    if (rc == 0) {
        ds_loop_metrics_dead_lettered(lp->stage->name, err->reason);
        mark_failed(lp, rec, err);
        order_done(lp, rec);
    }
    return rc;
}

/* Sends the record to the retry topic, due at due_ms (epoch), after
 * queueing its ticket so later records of its document wait for it. */
static int park(loop *lp, record *rec, long long due_ms, const ds_err *err)
{
    const char *reason = err != NULL ? err->reason : "waiting_for_order";
    failure_tokens t;
    char due[32];
    ds_header h[8];
    size_t n = 0;
    ds_err oerr;

    ds_err_clear(&oerr);
    if (lp->conf->redis != NULL && ds_doc_id_valid(rec->key)) {
        /* Without the ticket the record still retries; only its order
         * against later records of its document is lost. */
        if (ds_order_park(lp->conf->redis, lp->stage->name, rec->key,
                          rec->origin, ds_time_wall_ms(), &oerr) == 0)
            rec->queued = 1;
        else
            ds_log_msg(DS_LOG_WARN, "order ticket %s not queued: %s",
                       rec->origin, oerr.msg);
    }

    snprintf(due, sizeof(due), "%lld", due_ms);
    h[n++] = (ds_header){ORIGIN_HEADER, rec->origin};
    h[n++] = (ds_header){DUE_HEADER, due};
    n = add_failure_headers(h, n, &t, rec, reason,
                            err != NULL ? err->http_status : 0);
    return produce_until_delivered(lp, lp->conf->retry_topic, rec,
                                   rec->m->payload, rec->m->len, h, n);
}

static int publish(loop *lp, record *rec, json_t *out)
{
    ds_header h = {TRACE_HEADER, rec->trace_id};
    char *value = json_dumps(out, JSON_COMPACT);
    int rc;

    if (value == NULL)
        return -1;
    rc = produce_until_delivered(lp, lp->stage->out_topic, rec, value,
                                 strlen(value), &h, 1);
    free(value);
    return rc;
}

static void log_result(const record *rec, const char *status, long ms,
                       const ds_err *err)
{
    json_t *tx = rec->msg.value != NULL ?
                 json_object_get(rec->msg.value, "transactionId") : NULL;
    ds_log_event ev = {
        .document_id = rec->key,
        .transaction_id = json_string_value(tx),
        .status = status,
        .duration_ms = ms,
        .attempt = rec->msg.attempt,
        .error = err != NULL ? err->reason : NULL,
        .message = err != NULL ? err->msg : NULL,
    };

    ds_log_event_write(err != NULL ? DS_LOG_WARN : DS_LOG_INFO, &ev);
}

/* Pauses the record's partition and seeks it back to the record, so that
 * it is read again when the partition resumes and nothing after it is
 * stored meanwhile. */
static void hold_back(loop *lp, const rd_kafka_message_t *m)
{
    rd_kafka_resp_err_t e;

    pause_one(lp, rd_kafka_topic_name(m->rkt), m->partition, 1);
    e = rd_kafka_seek(m->rkt, m->partition, m->offset, 5000);
    /* The partition may have moved to another process; it reads the
     * record from the committed offset, which is at or before it. */
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        ds_log_msg(DS_LOG_WARN, "seek back to %s[%d]@%lld: %s",
                   rd_kafka_topic_name(m->rkt), (int)m->partition,
                   (long long)m->offset, rd_kafka_err2str(e));
}

/* Pauses or resumes the whole assignment for the breaker. Resuming skips
 * the retry partitions that wait for a due record. */
static void pause_all(loop *lp, int pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int i;

    if (rd_kafka_assignment(lp->consumer, &parts) !=
        RD_KAFKA_RESP_ERR_NO_ERROR || parts == NULL)
        return;
    if (pause) {
        rd_kafka_pause_partitions(lp->consumer, parts);
    } else {
        for (i = parts->cnt - 1; i >= 0; i--)
            if (parked_at(lp, parts->elems[i].topic,
                          parts->elems[i].partition) >= 0)
                rd_kafka_topic_partition_list_del_by_idx(parts, i);
        rd_kafka_resume_partitions(lp->consumer, parts);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    lp->paused_all = pause;
}

/* A retry record that is not due yet: its partition waits until it is. */
static outcome wait_until_due(loop *lp, const record *rec)
{
    const rd_kafka_message_t *m = rec->m;
    parked *p;

    hold_back(lp, m);
    if (lp->nparked == MAX_PARKED) {
        /* More waiting partitions than slots: read it again shortly. */
        sleep_unless_stopped(100);
        pause_one(lp, rd_kafka_topic_name(m->rkt), m->partition, 0);
        return DEFERRED;
    }
    p = &lp->parked[lp->nparked++];
    snprintf(p->topic, sizeof(p->topic), "%s", rd_kafka_topic_name(m->rkt));
    p->partition = m->partition;
    p->due_ms = rec->due_ms;
    return DEFERRED;
}

/* Resumes the retry partitions whose record is due. Returns the wait in ms
 * until the next one is, at most max_ms. */
static long resume_due(loop *lp, long max_ms)
{
    long long now = ds_time_wall_ms();
    long wait = max_ms;
    size_t i = 0;

    while (i < lp->nparked) {
        parked *p = &lp->parked[i];

        if (p->due_ms <= now) {
            if (!lp->paused_all)
                pause_one(lp, p->topic, p->partition, 0);
            *p = lp->parked[--lp->nparked];
            continue;
        }
        if (p->due_ms - now < wait)
            wait = (long)(p->due_ms - now);
        i++;
    }
    return wait;
}

/* Stops the stage for the breaker's cooldown: the record in hand goes
 * back, unspent, and every partition pauses. */
static outcome stand_down(loop *lp, record *rec, long ms, const ds_err *err)
{
    ds_log_msg(DS_LOG_WARN, "circuit open for %ld ms after %s: pausing",
               ms, err->reason);
    if (!lp->paused_all)
        ds_loop_metrics_breaker(lp->stage->name, 1, err->reason);
    ds_loop_metrics_record(lp->stage->name, "paused");
    pause_all(lp, 1);
    hold_back(lp, rec->m);
    return DEFERRED;
}

/* Decides what follows a failed attempt: another try from the retry topic
 * (returns the due time, epoch ms) or the DLQ (returns -1). */
static long long next_try(loop *lp, const record *rec, const ds_err *err)
{
    const ds_loop_conf *c = lp->conf;
    long long now = ds_time_wall_ms();

    if (err->klass == DS_CLASS_PERMANENT) {
        /* A few permanent reasons get a short grace (C05). */
        if (rec->attempts < ds_reason_tries(err->reason))
            return now + c->grace_delay_ms;
        return -1;
    }
    if (err->klass != DS_CLASS_TRANSIENT || rec->attempts >= c->max_attempts)
        return -1;
    if (now - rec->first_failure_ms > c->retry_budget_ms)
        return -1;
    if (err->retry_after_ms >= 0)
        return now + err->retry_after_ms;
    return now + ds_backoff_ms(rec->attempts + 1, c->backoff_base_ms,
                               c->backoff_cap_ms);
}

/* Routes a failed attempt: the breaker for outages and rate limits, the
 * retry topic for what may still work, the DLQ for the rest. */
static outcome failed(loop *lp, record *rec, ds_err *err, long ms)
{
    long long due;
    long open_ms;

    /* A rate limit binds the whole API: wait it out, spend nothing. The
     * record stays where it is rather than heading a retry partition
     * with a due time far ahead. */
    if ((err->http_status == 429 || strcmp(err->reason, "rate_limited") == 0)
        && err->retry_after_ms > 0) {
        open_ms = ds_breaker_hold(&lp->breaker, ds_time_mono_ms(),
                                  err->retry_after_ms);
        log_result(rec, "PAUSED", ms, err);
        return stand_down(lp, rec, open_ms, err);
    }
    if (ds_reason_is_outage(err->reason)) {
        open_ms = ds_breaker_outage(&lp->breaker, ds_time_mono_ms(),
                                    err->retry_after_ms);
        if (open_ms > 0) {
            log_result(rec, "PAUSED", ms, err);
            return stand_down(lp, rec, open_ms, err);
        }
    } else if (err->klass == DS_CLASS_PERMANENT) {
        /* The dependency answered; it is the document that is wrong. */
        if (ds_breaker_success(&lp->breaker))
            ds_loop_metrics_breaker(lp->stage->name, 0, NULL);
    }

    if (ds_reason_spends_attempt(err->reason))
        rec->attempts++;
    rec->last_failure_ms = ds_time_wall_ms();
    if (rec->first_failure_ms == 0)
        rec->first_failure_ms = rec->last_failure_ms;
    due = next_try(lp, rec, err);
    log_result(rec, due < 0 ? "FAILED" : "RETRY", ms, err);
    if (due < 0)
        return dead_letter(lp, rec, err) == 0 ? DONE : LEFT;
    if (park(lp, rec, due, err) < 0)
        return LEFT;
    ds_loop_metrics_record(lp->stage->name, "retry");
    return DONE;
}

/* Asks the document's order queue whether the record may run now. Returns
 * DONE when it went to the retry topic behind an older record, DEFERRED
 * when Redis could not say (the stage pauses), or -1 to run it. */
static int order_gate(loop *lp, record *rec)
{
    ds_order_state st;
    ds_err err;
    int rc;

    if (lp->conf->redis == NULL || !ds_doc_id_valid(rec->key))
        return -1;
    ds_err_clear(&err);
    if (rec->from_retry)
        rc = ds_order_turn(lp->conf->redis, lp->stage->name, rec->key,
                           rec->origin, ds_time_wall_ms(), lp->conf->order_stale_ms,
                           &st, &err);
    else
        rc = ds_order_enter(lp->conf->redis, lp->stage->name, rec->key,
                            rec->origin, ds_time_wall_ms(), lp->conf->order_stale_ms,
                            &st, &err);
    if (rc < 0) {
        long ms = ds_breaker_trip(&lp->breaker, ds_time_mono_ms());

        return stand_down(lp, rec, ms, &err);
    }
    rec->queued = st != DS_ORDER_FREE;
    if (st != DS_ORDER_WAIT)
        return -1;
    rec->msg.attempt = rec->attempts + 1;
    log_result(rec, "QUEUED", 0, NULL); /* behind an older record */
    if (park(lp, rec, ds_time_wall_ms() + lp->conf->backoff_base_ms, NULL) < 0)
        return LEFT;
    ds_loop_metrics_record(lp->stage->name, "queued");
    return DONE;
}

/* Runs the handler once and routes the outcome. */
static outcome process(loop *lp, record *rec)
{
    long long t0 = ds_time_mono_ms();
    json_t *out = NULL;
    ds_err err;
    int rc;

    ds_err_clear(&err);
    if (rec->msg.value == NULL) {
        ds_err_set(&err, "bad_message", "value is not a JSON object");
        rec->attempts = 1;
        rec->first_failure_ms = rec->last_failure_ms = ds_time_wall_ms();
        log_result(rec, "FAILED", 0, &err);
        return dead_letter(lp, rec, &err) == 0 ? DONE : LEFT;
    }
    rc = order_gate(lp, rec);
    if (rc >= 0)
        return (outcome)rc;

    rec->msg.attempt = rec->attempts + 1;
    rc = lp->stage->handle(lp->stage->ctx, &rec->msg, &out, &err);
    ds_loop_metrics_handled(lp->stage->name, ds_time_mono_ms() - t0);
    if (rc < 0) {
        json_decref(out); /* a handler may fail after building its output */
        return failed(lp, rec, &err, (long)(ds_time_mono_ms() - t0));
    }
    if (ds_breaker_success(&lp->breaker)) {
        ds_log_msg(DS_LOG_INFO, "circuit closed: the %s's dependencies answer",
                   lp->stage->name);
        ds_loop_metrics_breaker(lp->stage->name, 0, NULL);
    }
    rc = out != NULL ? publish(lp, rec, out) : 0;
    json_decref(out);
    if (rc < 0)
        return LEFT;
    order_done(lp, rec);
    log_result(rec, "SUCCESS", (long)(ds_time_mono_ms() - t0), NULL);
    ds_loop_metrics_record(lp->stage->name, "ok");
    return DONE;
}

/* Copies header name of m into out (cap bytes), "" when absent. */
static void header_str(const rd_kafka_message_t *m, const char *name,
                       char *out, size_t cap)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val;
    size_t vlen;

    out[0] = '\0';
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, name, &val, &vlen) !=
            RD_KAFKA_RESP_ERR_NO_ERROR || val == NULL)
        return;
    if (vlen >= cap)
        vlen = cap - 1;
    memcpy(out, val, vlen);
    out[vlen] = '\0';
}

/* A header holding a number, or 0. */
static long long header_num(const rd_kafka_message_t *m, const char *name)
{
    char buf[32];

    header_str(m, name, buf, sizeof(buf));
    return strtoll(buf, NULL, 10);
}

/* Sets the record's origin: its own place for an input record, the
 * docsync.origin header for a retry record. */
static void origin_init(record *rec, const rd_kafka_message_t *m)
{
    char *colon;

    if (rec->from_retry)
        header_str(m, ORIGIN_HEADER, rec->origin, sizeof(rec->origin));
    if (rec->origin[0] == '\0')
        snprintf(rec->origin, sizeof(rec->origin), "%s:%d:%lld",
                 rd_kafka_topic_name(m->rkt), (int)m->partition,
                 (long long)m->offset);
    /* Topic names hold no ':', so the last two fields are the numbers. */
    snprintf(rec->origin_topic, sizeof(rec->origin_topic), "%s", rec->origin);
    colon = strrchr(rec->origin_topic, ':');
    if (colon != NULL) {
        snprintf(rec->origin_offset, sizeof(rec->origin_offset), "%s",
                 colon + 1);
        *colon = '\0';
        colon = strrchr(rec->origin_topic, ':');
    }
    if (colon != NULL) {
        snprintf(rec->origin_partition, sizeof(rec->origin_partition), "%s",
                 colon + 1);
        *colon = '\0';
    }
}

static void record_init(loop *lp, record *rec, const rd_kafka_message_t *m)
{
    size_t klen;
    json_t *v;

    memset(rec, 0, sizeof(*rec));
    rec->m = m;
    klen = m->key_len < sizeof(rec->key) - 1 ? m->key_len
                                             : sizeof(rec->key) - 1;
    if (m->key != NULL)
        memcpy(rec->key, m->key, klen);
    header_str(m, TRACE_HEADER, rec->trace_id, sizeof(rec->trace_id));
    rec->from_retry = strcmp(rd_kafka_topic_name(m->rkt),
                             lp->conf->retry_topic) == 0;
    origin_init(rec, m);
    if (rec->from_retry) {
        rec->attempts = (int)header_num(m, ATTEMPTS_HEADER);
        rec->first_failure_ms = header_num(m, FIRST_HEADER);
        rec->last_failure_ms = header_num(m, LAST_HEADER);
        rec->due_ms = header_num(m, DUE_HEADER);
    }

    v = json_loadb(m->payload, m->len, 0, NULL);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    rec->msg.topic = rd_kafka_topic_name(m->rkt);
    rec->msg.partition = m->partition;
    rec->msg.offset = m->offset;
    rec->msg.key = rec->key;
    rec->msg.value = v;
    rec->msg.trace_id = rec->trace_id;
}

/* Handles one consumed record and stores its offset when it is finished. */
static outcome consume_one(loop *lp, rd_kafka_message_t *m)
{
    record rec;
    outcome rc;

    record_init(lp, &rec, m);
    if (rec.from_retry && rec.due_ms > ds_time_wall_ms())
        rc = wait_until_due(lp, &rec);
    else
        rc = process(lp, &rec);
    json_decref(rec.msg.value);
    if (rc == DONE)
        rd_kafka_offset_store(m->rkt, m->partition, m->offset);
    return rc;
}

/* Runs the stage's periodic work when it is due. Returns the wait in ms
 * until it is due again, at most max_ms. */
static long run_tick(long long *next_ms, long max_ms)
{
    long long now;

    if (tick.fn == NULL)
        return max_ms;
    now = ds_time_mono_ms();
    if (now >= *next_ms)
        *next_ms = now + (tick.fn(tick.ctx) ? 0 : tick.every_ms);
    now = ds_time_mono_ms();
    if (*next_ms <= now)
        return 0;
    return *next_ms - now < max_ms ? (long)(*next_ms - now) : max_ms;
}

/* Lets the breaker's cooldown run out, then resumes for one probe.
 * Returns the time left, 0 when records may be taken. */
static long breaker_tick(loop *lp)
{
    long left = ds_breaker_wait(&lp->breaker, ds_time_mono_ms());

    if (left == 0 && lp->paused_all) {
        ds_log_msg(DS_LOG_INFO, "circuit half-open: trying one record");
        pause_all(lp, 0);
    }
    return left;
}

int ds_loop_run(const ds_stage *stage, const ds_loop_conf *conf,
                ds_err *err)
{
    loop lp;
    long undelivered;
    long long tick_next = 0;

    memset(&lp, 0, sizeof(lp));
    lp.stage = stage;
    lp.conf = conf;
    ds_breaker_init(&lp.breaker, (int)conf->breaker_threshold,
                    conf->breaker_cooldown_ms, conf->breaker_max_ms);
    srandom((unsigned)(getpid() ^ ds_time_mono_ms()));
    lp.producer = ds_producer_new(conf->brokers, stage->name, 30000, err);
    if (lp.producer == NULL)
        return -1;
    lp.consumer = consumer_new(&lp, err);
    if (lp.consumer == NULL) {
        ds_producer_free(lp.producer);
        return -1;
    }
    ds_log_msg(DS_LOG_INFO, "consuming %s and %s as group %s",
               stage->in_topic, conf->retry_topic, conf->group);

    while (!stop_requested) {
        long wait = run_tick(&tick_next, resume_due(&lp, 200));
        long left = breaker_tick(&lp);
        rd_kafka_message_t *m;

        if (left > 0 && left < wait)
            wait = left;
        m = rd_kafka_consumer_poll(lp.consumer, (int)(wait > 0 ? wait : 0));
        if (m == NULL)
            continue;
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            ds_log_msg(DS_LOG_WARN, "consumer: %s",
                       rd_kafka_message_errstr(m));
        } else if (lp.paused_all) {
            /* Fetched before the pause took hold: read it again later. */
            hold_back(&lp, m);
        } else if (consume_one(&lp, m) == LEFT) {
            /* Not finished: its offset stays unstored, and nothing after it
             * in the partition may be stored either, so stop here. */
            rd_kafka_message_destroy(m);
            break;
        }
        rd_kafka_message_destroy(m);
    }

    ds_log_msg(DS_LOG_INFO, "stopping: committing offsets");
    rd_kafka_commit(lp.consumer, NULL, 0);
    rd_kafka_consumer_close(lp.consumer);
    rd_kafka_destroy(lp.consumer);
    undelivered = ds_producer_flush(lp.producer, 10000);
    if (undelivered > 0)
        ds_log_msg(DS_LOG_ERROR, "%ld records undelivered at exit",
                   undelivered);
    ds_producer_free(lp.producer);
    return 0;
}
