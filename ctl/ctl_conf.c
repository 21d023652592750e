/* ctl_conf.c - Kafka and DLQ settings; see ctl_conf.h. */
#include "ctl_conf.h"

#include "ctl_msg.h"
#include "ctl_opt.h"
#include "ds_config.h"
#include "ds_runtime.h"

void ctl_conf_from_env(ctl_conf *conf)
{
    conf->brokers = ds_env_str("KAFKA_BROKERS", "localhost:9092");
    conf->dlq_topic = ds_env_str("DLQ_TOPIC", "docsync.dlq");
}

int ctl_conf_arg(ctl_conf *conf, int argc, char **argv, int *i, char *why,
                 size_t cap)
{
    int rc = ctl_opt_value(argc, argv, i, "--brokers", &conf->brokers, why,
                           cap);

    if (rc == 0)
        rc = ctl_opt_value(argc, argv, i, "--dlq-topic", &conf->dlq_topic,
                           why, cap);
    return rc;
}

ds_redis *ctl_conf_redis(void)
{
    redisReply *pong = NULL;
    ds_redis *r;
    ds_err err;

    ds_err_clear(&err);
    r = ds_runtime_redis(&err);
    if (r != NULL)
        pong = ds_redis_cmd(r, &err, "PING");
    if (pong == NULL) {
        ctl_error("cannot use Redis at %s:%s: %s",
                  ds_env_str("REDIS_HOST", "127.0.0.1"),
                  ds_env_str("REDIS_PORT", "6379"), err.msg);
        ds_redis_free(r);
        return NULL;
    }
    freeReplyObject(pong);
    return r;
}
