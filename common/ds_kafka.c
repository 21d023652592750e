/* ds_kafka.c - producing with confirmed delivery; see ds_kafka.h. */
#include "ds_kafka.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds_log.h"

/* How much longer than message.timeout.ms a caller waits for the report:
 * librdkafka scans for timed-out records about once a second. */
#define REPORT_MARGIN_MS 1500

struct ds_producer {
    rd_kafka_t *rk;
    pthread_t poller;
    int running;                /* guarded by lock */
    pthread_mutex_t lock;
    pthread_cond_t delivered;   /* broadcast on every delivery report */
    long failed;                /* guarded by lock */
    long timeout_ms;            /* message.timeout.ms */
};

/* One record waiting for its delivery report. On the heap: a caller that
 * stops waiting abandons it, and the report frees it when it comes. */
typedef struct pending {
    int done;
    int abandoned;
    rd_kafka_resp_err_t result;
} pending;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    ds_producer *p = opaque;
    pending *pd = m->_private;

    (void)rk;
    pthread_mutex_lock(&p->lock);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        p->failed++;
    if (pd != NULL && pd->abandoned) {
        free(pd);
    } else if (pd != NULL) {
        pd->result = m->err;
        pd->done = 1;
    }
    pthread_cond_broadcast(&p->delivered);
    pthread_mutex_unlock(&p->lock);
}

/* Serves delivery reports until the producer is freed. */
static void *poll_reports(void *arg)
{
    ds_producer *p = arg;
    int running = 1;

    while (running) {
        rd_kafka_poll(p->rk, 100);
        pthread_mutex_lock(&p->lock);
        running = p->running;
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

int ds_kafka_conf_set(rd_kafka_conf_t *conf, const char *name,
                      const char *value, ds_err *err)
{
    char errstr[256];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK)
        return ds_err_set(err, "bad_config",
                          "kafka %s: %s", name, errstr);
    return 0;
}

/* librdkafka's levels are syslog's: 0-3 errors, 4 warnings, 5-6 info. */
static void on_log(const rd_kafka_t *rk, int level, const char *facility,
                   const char *text)
{
    ds_log_level l = level <= 3 ? DS_LOG_ERROR : level == 4 ? DS_LOG_WARN :
                     level <= 6 ? DS_LOG_INFO : DS_LOG_DEBUG;

    if (ds_log_enabled(l))
        ds_log_msg(l, "kafka %s %s: %s", rd_kafka_name(rk), facility, text);
}

int ds_kafka_conf_common(rd_kafka_conf_t *conf, ds_err *err)
{
    rd_kafka_conf_set_log_cb(conf, on_log);
    /* A broker back from an outage is found within a second. */
    return ds_kafka_conf_set(conf, "reconnect.backoff.max.ms", "1000", err);
}

static void init_cond(pthread_cond_t *cond)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

ds_producer *ds_producer_new(const char *brokers, const char *client_id,
                             long delivery_timeout_ms, ds_err *err)
{
    ds_producer *p;
    rd_kafka_conf_t *conf;
    char errstr[256], timeout[32];

    p = calloc(1, sizeof(*p));
    conf = rd_kafka_conf_new();
    if (p == NULL || conf == NULL)
        goto fail;
    snprintf(timeout, sizeof(timeout), "%ld", delivery_timeout_ms);
    if (ds_kafka_conf_set(conf, "bootstrap.servers", brokers, err) < 0 ||
        ds_kafka_conf_set(conf, "client.id", client_id, err) < 0 ||
        ds_kafka_conf_set(conf, "enable.idempotence", "true", err) < 0 ||
        ds_kafka_conf_set(conf, "acks", "all", err) < 0 ||
        ds_kafka_conf_set(conf, "linger.ms", "2", err) < 0 ||
        ds_kafka_conf_set(conf, "message.timeout.ms", timeout, err) < 0 ||
        ds_kafka_conf_common(conf, err) < 0)
        goto fail;
    p->timeout_ms = delivery_timeout_ms;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);

    pthread_mutex_init(&p->lock, NULL);
    init_cond(&p->delivered);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (p->rk == NULL) {
        ds_err_set(err, "bad_config", "kafka: %s",
                   errstr);
        goto fail_locks;
    }
    conf = NULL; /* owned by rk now */
    p->running = 1;
    if (pthread_create(&p->poller, NULL, poll_reports, p) != 0) {
        rd_kafka_destroy(p->rk);
        ds_err_set(err, "no_thread", "cannot start "
                   "the delivery report thread");
        goto fail_locks;
    }
    return p;

fail_locks:
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->delivered);
fail:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    free(p);
    ds_err_set(err, "out_of_memory", "producer");
    return NULL;
}

static rd_kafka_headers_t *headers_new(const ds_header *headers, size_t n)
{
    rd_kafka_headers_t *hdrs;
    size_t i;

    if (n == 0)
        return NULL;
    hdrs = rd_kafka_headers_new(n);
    for (i = 0; i < n; i++)
        rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value, -1);
    return hdrs;
}

/* Waits for pd's report until the deadline. Returns 1 when it came; 0
 * when the wait ended first, and pd now belongs to the report callback. */
static int wait_report(ds_producer *p, pending *pd)
{
    struct timespec deadline;
    long long ns;
    int came;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    ns = deadline.tv_nsec + (p->timeout_ms + REPORT_MARGIN_MS) * 1000000LL;
    deadline.tv_sec += (time_t)(ns / 1000000000LL);
    deadline.tv_nsec = (long)(ns % 1000000000LL);

    pthread_mutex_lock(&p->lock);
    while (!pd->done &&
           pthread_cond_timedwait(&p->delivered, &p->lock, &deadline) == 0)
        ;
    came = pd->done;
    if (!came)
        pd->abandoned = 1;
    pthread_mutex_unlock(&p->lock);
    return came;
}

int ds_produce_sync(ds_producer *p, const char *topic, const void *key,
                    size_t key_len, const void *value, size_t value_len,
                    const ds_header *headers, size_t nheaders, ds_err *err)
{
    pending *pd = calloc(1, sizeof(*pd));
    rd_kafka_headers_t *hdrs;
    rd_kafka_resp_err_t rc, result;

    if (pd == NULL)
        return ds_err_set(err, "out_of_memory",
                          "produce");
    hdrs = headers_new(headers, nheaders);
    rc = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                           RD_KAFKA_V_KEY(key, key_len),
                           RD_KAFKA_V_VALUE((void *)value, value_len),
                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                           RD_KAFKA_V_HEADERS(hdrs),
                           RD_KAFKA_V_OPAQUE(pd), RD_KAFKA_V_END);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* On failure the headers were not taken over by librdkafka. */
        if (hdrs != NULL)
            rd_kafka_headers_destroy(hdrs);
        free(pd);
        return ds_err_set(err, "kafka_produce",
                          "produce to %s: %s", topic, rd_kafka_err2str(rc));
    }

    if (!wait_report(p, pd))
        return ds_err_set(err, "kafka_delivery",
                          "no delivery report from %s within %ld ms", topic,
                          p->timeout_ms + REPORT_MARGIN_MS);
    result = pd->result;
    free(pd);
    if (result != RD_KAFKA_RESP_ERR_NO_ERROR)
        return ds_err_set(err, "kafka_delivery",
                          "delivery to %s failed: %s", topic,
                          rd_kafka_err2str(result));
    return 0;
}

int ds_producer_flush(ds_producer *p, long timeout_ms)
{
    rd_kafka_flush(p->rk, (int)timeout_ms);
    return rd_kafka_outq_len(p->rk);
}

long ds_producer_failed_count(const ds_producer *p)
{
    long n;

    pthread_mutex_lock((pthread_mutex_t *)&p->lock);
    n = p->failed;
    pthread_mutex_unlock((pthread_mutex_t *)&p->lock);
    return n;
}

void ds_producer_free(ds_producer *p)
{
    if (p == NULL)
        return;
    rd_kafka_flush(p->rk, 10000);
    pthread_mutex_lock(&p->lock);
    p->running = 0;
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->poller, NULL);
    rd_kafka_destroy(p->rk);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->delivered);
    free(p);
}
