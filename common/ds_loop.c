/* ds_loop.c - the one consume, handle, produce, commit loop; see ds_loop.h */
#include "ds_loop.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ds_config.h"
#include "ds_kafka.h"
#include "ds_log.h"
#include "ds_loop_metrics.h"
#include "ds_state.h"

#define TRACE_HEADER "docsync.trace_id"

static volatile sig_atomic_t stop_requested;

typedef struct loop {
    const ds_stage *stage;
    const ds_loop_conf *conf;
    rd_kafka_t *consumer;
    ds_producer *producer;
} loop;

/* One record in hand, with what the DLQ needs to know about its failures. */
typedef struct record {
    const rd_kafka_message_t *m;
    ds_msg msg;
    char key[256];
    char trace_id[64];
    long long first_failure_ms;
    long long last_failure_ms;
} record;

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

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long ds_backoff_ms(int attempt, long base_ms, long cap_ms)
{
    long x = base_ms;
    int i;

    for (i = 2; i < attempt && x < cap_ms; i++)
        x *= 2;
    if (x > cap_ms)
        x = cap_ms;
    if (x <= 1)
        return x;
    return x / 2 + random() % (x - x / 2 + 1);
}

/* Sleeps ms in short slices so that a stop request cuts the wait short.
 * Returns 0 when the whole wait passed, -1 when a stop cut it. */
static int sleep_unless_stopped(long ms)
{
    long long end = mono_ms() + ms;

    while (!stop_requested) {
        long long left = end - mono_ms();
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

int ds_loop_conf_load(ds_loop_conf *conf, const char *stage, ds_err *err)
{
    static char group[96];

    snprintf(group, sizeof(group), "docsync-%s", stage);
    conf->brokers = ds_env_str("KAFKA_BROKERS", "localhost:9092");
    conf->group = ds_env_str("KAFKA_GROUP", group);
    conf->dlq_topic = ds_env_str("DLQ_TOPIC", "docsync.dlq");
    conf->redis = NULL;
    if (ds_env_long("MAX_ATTEMPTS", 5, &conf->max_attempts, err) < 0 ||
        ds_env_long("BACKOFF_BASE_MS", 2000, &conf->backoff_base_ms,
                    err) < 0 ||
        ds_env_long("BACKOFF_CAP_MS", 30000, &conf->backoff_cap_ms,
                    err) < 0 ||
        ds_env_long("RETRY_BUDGET_MS", 120000, &conf->retry_budget_ms,
                    err) < 0 ||
        ds_env_long("KAFKA_MAX_POLL_INTERVAL_MS", 900000,
                    &conf->max_poll_interval_ms, err) < 0)
        return -1;
    if (conf->max_attempts < 1)
        return ds_err_set(err, DS_CLASS_PERMANENT, "bad_config",
                          "MAX_ATTEMPTS must be at least 1");
    return 0;
}

/* Makes the consumer. Offsets are stored by hand after each record's output
 * is delivered, and the stored offsets are committed in the background. */
static rd_kafka_t *consumer_new(const ds_stage *stage,
                                const ds_loop_conf *conf, ds_err *err)
{
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
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
    if (rk == NULL) {
        rd_kafka_conf_destroy(c);
        ds_err_set(err, DS_CLASS_PERMANENT, "bad_config", "kafka: %s",
                   errstr);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);

    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, stage->in_topic,
                                      RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(rk, topics) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(topics);
        rd_kafka_destroy(rk);
        ds_err_set(err, DS_CLASS_TRANSIENT, "kafka_subscribe",
                   "cannot subscribe to %s", stage->in_topic);
        return NULL;
    }
    rd_kafka_topic_partition_list_destroy(topics);
    return rk;
}

/* Produces until the broker confirms, waiting out an outage with backoff.
 * Returns 0, or -1 when a stop request ended the wait (the record is then
 * left unstored and will be redelivered). */
static int produce_until_delivered(loop *lp, const char *topic,
                                   const record *rec, const char *value,
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

/* Marks the document failed, with the reason, once its DLQ record is in
 * Kafka. Best effort: the DLQ record is the source of truth, the mark is
 * for `status` views and must not hold the partition. */
static void mark_failed(loop *lp, const record *rec, const ds_err *err)
{
    ds_err merr;

    if (lp->conf->redis == NULL || !ds_doc_id_valid(rec->key))
        return;
    ds_err_clear(&merr);
    if (ds_state_mark(lp->conf->redis, rec->key, lp->stage->name, "failed",
                      err->reason, &merr) < 0)
        ds_log_msg(DS_LOG_WARN, "failed mark not written: %s", merr.msg);
}

/* Sends the record to the DLQ with its cause in the headers. */
static int dead_letter(loop *lp, record *rec, const ds_err *err, int attempts)
{
    char partition[16], offset[32], atts[16], status[16], first[32],
        last[32], message[200];
    ds_header h[13];
    size_t len = 0, n = 0;
    char *value;
    int rc;

    snprintf(partition, sizeof(partition), "%d", (int)rec->m->partition);
    snprintf(offset, sizeof(offset), "%lld", (long long)rec->m->offset);
    snprintf(atts, sizeof(atts), "%d", attempts);
    snprintf(status, sizeof(status), "%d", err->http_status);
    snprintf(first, sizeof(first), "%lld", rec->first_failure_ms);
    snprintf(last, sizeof(last), "%lld", rec->last_failure_ms);
    header_token(message, sizeof(message), err->msg);

    h[n++] = (ds_header){"__connect.errors.topic", lp->stage->in_topic};
    h[n++] = (ds_header){"__connect.errors.partition", partition};
    h[n++] = (ds_header){"__connect.errors.offset", offset};
    h[n++] = (ds_header){"__connect.errors.stage", lp->stage->name};
    h[n++] = (ds_header){"__connect.errors.exception.class.name",
                         ds_class_name(err->klass)};
    h[n++] = (ds_header){"__connect.errors.exception.message", message};
    h[n++] = (ds_header){"docsync.stage", lp->stage->name};
    h[n++] = (ds_header){"docsync.reason", err->reason};
    h[n++] = (ds_header){"docsync.attempts", atts};
    h[n++] = (ds_header){"docsync.http_status", status};
    h[n++] = (ds_header){"docsync.first_failure", first};
    h[n++] = (ds_header){"docsync.last_failure", last};
    h[n++] = (ds_header){TRACE_HEADER, rec->trace_id};

    value = dlq_value(rec, &len);
    if (value == NULL)
        return -1;
    rc = produce_until_delivered(lp, lp->conf->dlq_topic, rec, value, len,
                                 h, n);
    free(value);
    if (rc == 0)
        ds_loop_metrics_dead_lettered(lp->stage->name, err->reason);
    if (rc == 0)
        mark_failed(lp, rec, err);
    return rc;
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
                       int attempt, const ds_err *err)
{
    json_t *tx = rec->msg.value != NULL ?
                 json_object_get(rec->msg.value, "transactionId") : NULL;
    ds_log_event ev = {
        .document_id = rec->key,
        .transaction_id = json_string_value(tx),
        .status = status,
        .duration_ms = ms,
        .attempt = attempt,
        .error = err != NULL ? err->reason : NULL,
        .message = err != NULL ? err->msg : NULL,
    };

    ds_log_event_write(err != NULL ? DS_LOG_WARN : DS_LOG_INFO, &ev);
}

/* Decides whether a failed attempt is tried again. Returns the wait in
 * milliseconds before the next attempt, or -1 to dead-letter now. */
static long retry_wait_ms(loop *lp, const ds_err *err, int attempt,
                          long long started_ms)
{
    const ds_loop_conf *c = lp->conf;
    long wait;

    if (err->klass != DS_CLASS_TRANSIENT || attempt >= c->max_attempts)
        return -1;
    wait = err->retry_after_ms >= 0 ?
           err->retry_after_ms :
           ds_backoff_ms(attempt + 1, c->backoff_base_ms, c->backoff_cap_ms);
    /* A wait past the budget would hold the partition too long. */
    if (mono_ms() - started_ms + wait > c->retry_budget_ms)
        return -1;
    return wait;
}

/* Runs the handler with retries and routes the outcome. Returns 0 when the
 * record is finished (published or dead-lettered), -1 when it must be left
 * for redelivery. */
static int process(loop *lp, record *rec)
{
    long long started = mono_ms();
    int attempt;

    if (rec->msg.value == NULL) {
        ds_err err;

        ds_err_clear(&err);
        ds_err_set(&err, DS_CLASS_PERMANENT, "bad_message",
                   "value is not a JSON object");
        rec->first_failure_ms = rec->last_failure_ms = now_ms();
        log_result(rec, "FAILED", 0, 1, &err);
        return dead_letter(lp, rec, &err, 1);
    }

    for (attempt = 1;; attempt++) {
        long long t0 = mono_ms();
        json_t *out = NULL;
        ds_err err;
        long wait;
        int rc;

        ds_err_clear(&err);
        rec->msg.attempt = attempt;
        rc = lp->stage->handle(lp->stage->ctx, &rec->msg, &out, &err);
        ds_loop_metrics_handled(lp->stage->name, mono_ms() - t0);
        if (rc == 0) {
            rc = out != NULL ? publish(lp, rec, out) : 0;
            json_decref(out);
            if (rc == 0)
                log_result(rec, "SUCCESS", (long)(mono_ms() - t0), attempt,
                           NULL);
            if (rc == 0)
                ds_loop_metrics_record(lp->stage->name, "ok");
            return rc;
        }
        json_decref(out); /* a handler may fail after building its output */

        rec->last_failure_ms = now_ms();
        if (rec->first_failure_ms == 0)
            rec->first_failure_ms = rec->last_failure_ms;
        wait = retry_wait_ms(lp, &err, attempt, started);
        log_result(rec, wait < 0 ? "FAILED" : "RETRY",
                   (long)(mono_ms() - t0), attempt, &err);
        if (wait < 0)
            return dead_letter(lp, rec, &err, attempt);
        ds_loop_metrics_record(lp->stage->name, "retry");
        /* A stop during the wait leaves the record for redelivery. */
        if (sleep_unless_stopped(wait) < 0)
            return -1;
    }
}

static void record_init(record *rec, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val;
    size_t vlen, klen;
    json_t *v;

    memset(rec, 0, sizeof(*rec));
    rec->m = m;
    klen = m->key_len < sizeof(rec->key) - 1 ? m->key_len
                                             : sizeof(rec->key) - 1;
    if (m->key != NULL)
        memcpy(rec->key, m->key, klen);
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, TRACE_HEADER, &val, &vlen) ==
            RD_KAFKA_RESP_ERR_NO_ERROR && val != NULL) {
        if (vlen >= sizeof(rec->trace_id))
            vlen = sizeof(rec->trace_id) - 1;
        memcpy(rec->trace_id, val, vlen);
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

/* Handles one consumed record and stores its offset when it is finished.
 * Returns -1 when the record was left for redelivery. */
static int consume_one(loop *lp, rd_kafka_message_t *m)
{
    record rec;
    int rc;

    record_init(&rec, m);
    rc = process(lp, &rec);
    json_decref(rec.msg.value);
    if (rc == 0)
        rd_kafka_offset_store(m->rkt, m->partition, m->offset);
    return rc;
}

int ds_loop_run(const ds_stage *stage, const ds_loop_conf *conf,
                ds_err *err)
{
    loop lp = {stage, conf, NULL, NULL};
    long undelivered;

    srandom((unsigned)(getpid() ^ mono_ms()));
    lp.producer = ds_producer_new(conf->brokers, stage->name, 30000, err);
    if (lp.producer == NULL)
        return -1;
    lp.consumer = consumer_new(stage, conf, err);
    if (lp.consumer == NULL) {
        ds_producer_free(lp.producer);
        return -1;
    }
    ds_log_msg(DS_LOG_INFO, "consuming %s as group %s", stage->in_topic,
               conf->group);

    while (!stop_requested) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(lp.consumer, 200);

        if (m == NULL)
            continue;
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            ds_log_msg(DS_LOG_WARN, "consumer: %s",
                       rd_kafka_message_errstr(m));
        } else if (consume_one(&lp, m) < 0) {
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
