/*
 * ctl_conf.h - where docsyncctl finds Kafka and the DLQ.
 *
 * The same environment as the stages (KAFKA_BROKERS, DLQ_TOPIC, with the
 * same defaults), overridden by --brokers and --dlq-topic. Redis comes from
 * REDIS_HOST, REDIS_PORT, REDIS_TIMEOUT_MS, REDIS_PASSWORD (or
 * REDIS_PASSWORD_FILE) and REDIS_USERNAME through ds_runtime_redis, exactly
 * as a stage reads them.
 */
#ifndef CTL_CONF_H
#define CTL_CONF_H

#include <stddef.h>

#include "ds_redis.h"

typedef struct ctl_conf {
    const char *brokers;    /* KAFKA_BROKERS or --brokers */
    const char *dlq_topic;  /* DLQ_TOPIC or --dlq-topic */
} ctl_conf;

/* Fills conf from the environment, with the stages' defaults. */
void ctl_conf_from_env(ctl_conf *conf);

/* Takes --brokers or --dlq-topic at argv[*i]: returns 1 when it was one of
 * them, 0 when not, -1 with why filled when its value is missing. */
int ctl_conf_arg(ctl_conf *conf, int argc, char **argv, int *i, char *why,
                 size_t cap);

/* A Redis handle for REDIS_HOST and REDIS_PORT, read as a stage reads
 * them (ds_runtime_redis), that has answered PING. NULL after saying on
 * stderr why Redis cannot be used. */
ds_redis *ctl_conf_redis(void);

#endif
