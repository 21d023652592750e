/* ctl_scan.c - reading the DLQ up to its high watermarks; see ctl_scan.h. */
#include "ctl_scan.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_time.h"
#include "ds_kafka.h"

/* Bound of each metadata and watermark request. */
#define REQUEST_TIMEOUT_MS 10000
/* A scan that receives nothing for this long gives up. */
#define STALL_TIMEOUT_MS 30000

/* The stretch [start, end) of one partition still to read. */
typedef struct part {
    int32_t id;
    int64_t start;
    int64_t end;
    int started;
    int done;
} part;

typedef struct scan {
    const ctl_conf *conf;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *queue;
    part *parts;
    int nparts;
} scan;

/* A consumer that belongs to no group and never commits. */
static rd_kafka_t *consumer_new(const ctl_conf *conf, ds_err *err)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_t *rk;
    char errstr[256];

    if (ds_kafka_conf_set(c, "bootstrap.servers", conf->brokers, err) < 0 ||
        ds_kafka_conf_set(c, "client.id", "docsyncctl", err) < 0 ||
        ds_kafka_conf_set(c, "enable.partition.eof", "true", err) < 0 ||
        ds_kafka_conf_set(c, "enable.auto.commit", "false", err) < 0 ||
        ds_kafka_conf_set(c, "enable.auto.offset.store", "false", err) < 0 ||
        ds_kafka_conf_set(c, "allow.auto.create.topics", "false", err) < 0 ||
        ds_kafka_conf_common(c, err) < 0) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
    if (rk == NULL) {
        rd_kafka_conf_destroy(c);
        ds_err_set(err, "bad_config", "kafka: %s", errstr);
    }
    return rk;
}

/* Finds the topic in the cluster's metadata. Asking for every topic, not
 * this one, is what keeps a broker that auto-creates topics from creating
 * a DLQ by mistake. Returns the partition count, 0 when the topic does not
 * exist, or -1 with err set. */
static int topic_partitions(scan *s, int32_t **ids, ds_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t rc;
    int i, j, n = 0;

    rc = rd_kafka_metadata(s->rk, 1, NULL, &md, REQUEST_TIMEOUT_MS);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
        return ds_err_set(err, "kafka_delivery", "no answer from Kafka at "
                          "%s: %s", s->conf->brokers, rd_kafka_err2str(rc));
    for (i = 0; i < md->topic_cnt; i++) {
        const struct rd_kafka_metadata_topic *t = &md->topics[i];

        if (strcmp(t->topic, s->conf->dlq_topic) != 0)
            continue;
        n = t->partition_cnt;
        *ids = n > 0 ? calloc((size_t)n, sizeof(**ids)) : NULL;
        if (n > 0 && *ids == NULL)
            n = ds_err_set(err, "out_of_memory", "partition list");
        for (j = 0; n > 0 && j < n; j++)
            (*ids)[j] = t->partitions[j].id;
    }
    rd_kafka_metadata_destroy(md);
    return n;
}

/* Narrows p to the positions named for its partition: from the first to
 * just past the last. A partition no position names is not read. */
static void narrow(part *p, const ctl_at *at, size_t nat)
{
    int64_t lo = INT64_MAX, hi = -1;
    size_t i;

    for (i = 0; i < nat; i++) {
        if (at[i].partition != p->id)
            continue;
        if (at[i].offset < lo)
            lo = at[i].offset;
        if (at[i].offset + 1 > hi)
            hi = at[i].offset + 1;
    }
    if (hi < 0) {
        p->end = p->start;
        return;
    }
    if (lo > p->start)
        p->start = lo;
    if (hi < p->end)
        p->end = hi;
}

/* Takes every partition's watermarks: what to read is [low, high). */
static int plan(scan *s, const int32_t *ids, const ctl_at *at, size_t nat,
                ctl_scan_info *info, ds_err *err)
{
    int i;

    s->parts = calloc((size_t)s->nparts, sizeof(*s->parts));
    if (s->parts == NULL)
        return ds_err_set(err, "out_of_memory", "partition plan");
    for (i = 0; i < s->nparts; i++) {
        part *p = &s->parts[i];
        rd_kafka_resp_err_t rc;

        p->id = ids[i];
        rc = rd_kafka_query_watermark_offsets(s->rk, s->conf->dlq_topic,
                                              p->id, &p->start, &p->end,
                                              REQUEST_TIMEOUT_MS);
        if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
            return ds_err_set(err, "kafka_delivery", "cannot read the end of "
                              "%s partition %d: %s", s->conf->dlq_topic,
                              (int)p->id, rd_kafka_err2str(rc));
        info->total += p->end - p->start;
        if (nat > 0)
            narrow(p, at, nat);
        p->done = p->start >= p->end;
    }
    return 0;
}

/* Starts reading every partition that has something to read. */
static int start(scan *s, ds_err *err)
{
    int i;

    s->rkt = rd_kafka_topic_new(s->rk, s->conf->dlq_topic, NULL);
    s->queue = rd_kafka_queue_new(s->rk);
    if (s->rkt == NULL || s->queue == NULL)
        return ds_err_set(err, "out_of_memory", "topic handle");
    for (i = 0; i < s->nparts; i++) {
        part *p = &s->parts[i];

        if (p->done)
            continue;
        if (rd_kafka_consume_start_queue(s->rkt, p->id, p->start,
                                         s->queue) < 0)
            return ds_err_set(err, "kafka_subscribe", "cannot read %s "
                              "partition %d: %s", s->conf->dlq_topic,
                              (int)p->id,
                              rd_kafka_err2str(rd_kafka_last_error()));
        p->started = 1;
    }
    return 0;
}

/* The partition called id, or NULL for one the scan does not read. */
static part *part_of(scan *s, int32_t id)
{
    int i;

    for (i = 0; i < s->nparts; i++)
        if (s->parts[i].id == id)
            return &s->parts[i];
    return NULL;
}

/* Nonzero once every partition has reached its end. */
static int all_done(const scan *s)
{
    int i;

    for (i = 0; i < s->nparts; i++)
        if (!s->parts[i].done)
            return 0;
    return 1;
}

/* Handles one event of the queue: a record before its partition's end is
 * handed to fn; the end of a partition (its EOF, or a record at or past
 * the watermark) marks it done. Returns 0, or -1 with err set. */
static int take(scan *s, rd_kafka_message_t *m, ctl_scan_fn fn, void *ctx,
                ctl_scan_info *info, ds_err *err)
{
    part *p = part_of(s, m->partition);
    ctl_record *r;
    int rc;

    if (p == NULL || p->done)
        return 0;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        p->done = m->offset >= p->end;
        return 0;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return ds_err_set(err, "kafka_delivery", "reading %s partition %d: "
                          "%s", s->conf->dlq_topic, (int)m->partition,
                          rd_kafka_message_errstr(m));
    if (m->offset >= p->end) {
        p->done = 1;
        return 0;
    }
    r = ctl_record_from_message(m);
    if (r == NULL)
        return ds_err_set(err, "out_of_memory", "record copy");
    info->records++;
    rc = fn(ctx, r, err);
    ctl_record_free(r);
    /* The callback's own error, when it set one, wins (first error). */
    if (rc < 0)
        return ds_err_set(err, "out_of_memory", "stopped at %d:%lld",
                          (int)m->partition, (long long)m->offset);
    p->done = m->offset + 1 >= p->end;
    return 0;
}

/* Reads until every partition reached its end, or nothing came for
 * STALL_TIMEOUT_MS. */
static int drain(scan *s, ctl_scan_fn fn, void *ctx, ctl_scan_info *info,
                 ds_err *err)
{
    long long last = ctl_now_ms();

    while (!all_done(s)) {
        rd_kafka_message_t *m = rd_kafka_consume_queue(s->queue, 500);
        int rc;

        if (m == NULL) {
            if (ctl_now_ms() - last > STALL_TIMEOUT_MS)
                return ds_err_set(err, "kafka_delivery", "nothing read from "
                                  "%s for %d s", s->conf->dlq_topic,
                                  STALL_TIMEOUT_MS / 1000);
            continue;
        }
        last = ctl_now_ms();
        rc = take(s, m, fn, ctx, info, err);
        rd_kafka_message_destroy(m);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Stops the partitions and frees what the scan holds. */
static void scan_close(scan *s)
{
    int i;

    for (i = 0; s->rkt != NULL && i < s->nparts; i++)
        if (s->parts[i].started)
            rd_kafka_consume_stop(s->rkt, s->parts[i].id);
    if (s->queue != NULL)
        rd_kafka_queue_destroy(s->queue);
    if (s->rkt != NULL)
        rd_kafka_topic_destroy(s->rkt);
    free(s->parts);
    if (s->rk != NULL)
        rd_kafka_destroy(s->rk);
}

int ctl_scan(const ctl_conf *conf, const ctl_at *at, size_t nat,
             ctl_scan_fn fn, void *ctx, ctl_scan_info *info, ds_err *err)
{
    scan s = {conf, NULL, NULL, NULL, NULL, 0};
    int32_t *ids = NULL;
    int rc = -1;

    memset(info, 0, sizeof(*info));
    s.rk = consumer_new(conf, err);
    if (s.rk == NULL)
        return -1;
    s.nparts = topic_partitions(&s, &ids, err);
    if (s.nparts < 0)
        goto done;
    info->missing = s.nparts == 0;
    info->partitions = s.nparts;
    if (s.nparts == 0) {
        rc = 0;
        goto done;
    }
    if (plan(&s, ids, at, nat, info, err) == 0 && start(&s, err) == 0)
        rc = drain(&s, fn, ctx, info, err);

done:
    free(ids);
    scan_close(&s);
    return rc;
}
