/* ds_kafka.c - producing with confirmed delivery; see ds_kafka.h. */
#include "ds_kafka.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ds_producer {
    rd_kafka_t *rk;
    pthread_t poller;
    int running;                /* guarded by lock */
    pthread_mutex_t lock;
    pthread_cond_t delivered;   /* broadcast on every delivery report */
    long failed;                /* guarded by lock */
};

/* One record waiting for its delivery report; lives on the producer's
 * caller's stack until the report arrives. */
typedef struct pending {
    int done;
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
    if (pd != NULL) {
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

static int conf_set(rd_kafka_conf_t *conf, const char *name,
                    const char *value, ds_err *err)
{
    char errstr[256];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK)
        return ds_err_set(err, DS_CLASS_PERMANENT, "bad_config",
                          "kafka %s: %s", name, errstr);
    return 0;
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
    if (conf_set(conf, "bootstrap.servers", brokers, err) < 0 ||
        conf_set(conf, "client.id", client_id, err) < 0 ||
        conf_set(conf, "enable.idempotence", "true", err) < 0 ||
        conf_set(conf, "acks", "all", err) < 0 ||
        conf_set(conf, "linger.ms", "2", err) < 0 ||
        conf_set(conf, "message.timeout.ms", timeout, err) < 0)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);

    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->delivered, NULL);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (p->rk == NULL) {
        ds_err_set(err, DS_CLASS_PERMANENT, "bad_config", "kafka: %s",
                   errstr);
        goto fail_locks;
    }
    conf = NULL; /* owned by rk now */
    p->running = 1;
    if (pthread_create(&p->poller, NULL, poll_reports, p) != 0) {
        rd_kafka_destroy(p->rk);
        ds_err_set(err, DS_CLASS_TRANSIENT, "no_thread", "cannot start "
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
    ds_err_set(err, DS_CLASS_TRANSIENT, "out_of_memory", "producer");
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

int ds_produce_sync(ds_producer *p, const char *topic, const void *key,
                    size_t key_len, const void *value, size_t value_len,
                    const ds_header *headers, size_t nheaders, ds_err *err)
{
    pending pd = {0, RD_KAFKA_RESP_ERR_NO_ERROR};
    rd_kafka_headers_t *hdrs = headers_new(headers, nheaders);
    rd_kafka_resp_err_t rc;

    rc = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                           RD_KAFKA_V_KEY(key, key_len),
                           RD_KAFKA_V_VALUE((void *)value, value_len),
                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                           RD_KAFKA_V_HEADERS(hdrs),
                           RD_KAFKA_V_OPAQUE(&pd), RD_KAFKA_V_END);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* On failure the headers were not taken over by librdkafka. */
        if (hdrs != NULL)
            rd_kafka_headers_destroy(hdrs);
        return ds_err_set(err, DS_CLASS_TRANSIENT, "kafka_produce",
                          "produce to %s: %s", topic, rd_kafka_err2str(rc));
    }

    /* The report always comes: message.timeout.ms bounds the wait. */
    pthread_mutex_lock(&p->lock);
    while (!pd.done)
        pthread_cond_wait(&p->delivered, &p->lock);
    pthread_mutex_unlock(&p->lock);

    if (pd.result != RD_KAFKA_RESP_ERR_NO_ERROR)
        return ds_err_set(err, DS_CLASS_TRANSIENT, "kafka_delivery",
                          "delivery to %s failed: %s", topic,
                          rd_kafka_err2str(pd.result));
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
