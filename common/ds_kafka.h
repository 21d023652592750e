/*
 * ds_kafka.h - producing to Kafka with confirmed delivery.
 *
 * ds_produce_sync returns only when the broker has acknowledged the record
 * (acks=all, idempotent producer) or delivery has failed for good: the
 * return value of produce() alone proves nothing (a record can still time
 * out later). A background thread serves delivery reports, so many threads
 * may produce at once through one producer.
 */
#ifndef DS_KAFKA_H
#define DS_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "ds_error.h"

typedef struct ds_header {
    const char *name;
    const char *value;   /* NUL-terminated token */
} ds_header;

typedef struct ds_producer ds_producer;

/* Creates a producer for the comma-separated brokers. delivery_timeout_ms
 * bounds how long a record may wait for the broker before it fails. Returns
 * NULL with err set. */
ds_producer *ds_producer_new(const char *brokers, const char *client_id,
                             long delivery_timeout_ms, ds_err *err);

/* Produces one record and waits for its delivery report, at most the
 * producer's delivery timeout (and a small margin). Returns 0 when the
 * broker has it, -1 (transient, reason "kafka_delivery") otherwise. After a
 * -1 the record may still arrive later: callers must be idempotent, as
 * every docsync consumer is. */
int ds_produce_sync(ds_producer *p, const char *topic, const void *key,
                    size_t key_len, const void *value, size_t value_len,
                    const ds_header *headers, size_t nheaders, ds_err *err);

/* Waits up to timeout_ms for outstanding records. Returns the number of
 * records still undelivered (0 when all are done). */
int ds_producer_flush(ds_producer *p, long timeout_ms);

/* Flushes with a bound of 10 s and frees p; accepts NULL. */
void ds_producer_free(ds_producer *p);

/* Sets one librdkafka property. Returns 0, or -1 (permanent "bad_config")
 * naming the property. */
int ds_kafka_conf_set(rd_kafka_conf_t *conf, const char *name,
                      const char *value, ds_err *err);

/* Sends librdkafka's own log lines through ds_log, so that every line a
 * process writes is JSON, and sets the reconnect bounds docsync wants. */
int ds_kafka_conf_common(rd_kafka_conf_t *conf, ds_err *err);

/* Number of records whose delivery failed since start, for metrics. */
long ds_producer_failed_count(const ds_producer *p);

#endif
