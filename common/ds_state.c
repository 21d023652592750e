/* ds_state.c - document state, dedupe marks and leases; see ds_state.h. */
#include "ds_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Takes the lease when free, renews it when the caller holds it. */
static const char LEASE_TAKE[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "return 1 end "
    "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) "
    "return 1 end "
    "return 0";

/* Claims an event's mark, or tells what it already holds. The script runs
 * atomically, so the mark cannot vanish between the SET and the GET. */
static const char DEDUPE_CLAIM[] =
    "if redis.call('SET', KEYS[1], 'pending', 'NX', 'PX', ARGV[1]) then "
    "return 'new' end "
    "return redis.call('GET', KEYS[1])";

/* Deletes the lease only if the caller still holds it: a lease that expired
 * and was taken over by another process must not be released by us. */
static const char LEASE_RELEASE[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

static long long wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ds_doc_id_valid(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;

    /* A leading dot would let "." or ".." act as a path segment in URLs. */
    return n > 0 && n <= 128 && id[0] != '.' &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789._:-") == n;
}

int ds_state_mark(ds_redis *r, const char *doc_id, const char *stage,
                  const char *state, const char *detail, ds_err *err)
{
    char at[32], field[64];
    long long ms = wall_ms();

    snprintf(at, sizeof(at), "%lld", ms);
    snprintf(field, sizeof(field), "%s_at", state);
    if (ds_redis_ok(ds_redis_cmd(r, err, "HSET docsync:doc:%s state %s %s %s",
                                 doc_id, state, field, at), err, "HSET") < 0)
        return -1;
    return ds_redis_ok(ds_redis_cmd(r, err,
                                    "RPUSH docsync:timeline:%s %s:%s:%s:%s",
                                    doc_id, at, stage, state,
                                    detail != NULL ? detail : ""),
                       err, "RPUSH");
}

int ds_state_set(ds_redis *r, const char *doc_id, const char *field,
                 const char *value, ds_err *err)
{
    return ds_redis_ok(ds_redis_cmd(r, err, "HSET docsync:doc:%s %s %s",
                                    doc_id, field, value), err, "HSET");
}

int ds_state_get(ds_redis *r, const char *doc_id, const char *field,
                 char **out, ds_err *err)
{
    redisReply *reply;

    *out = NULL;
    reply = ds_redis_cmd(r, err, "HGET docsync:doc:%s %s", doc_id, field);
    if (reply == NULL)
        return -1;
    if (reply->type == REDIS_REPLY_STRING) {
        *out = strdup(reply->str);
        if (*out == NULL) {
            freeReplyObject(reply);
            return ds_err_set(err, "out_of_memory",
                              "HGET");
        }
    } else if (reply->type != REDIS_REPLY_NIL) {
        freeReplyObject(reply);
        return ds_err_set(err, "redis_error",
                          "HGET: unexpected reply");
    }
    freeReplyObject(reply);
    return 0;
}

int ds_dedupe_claim(ds_redis *r, const char *key, long ttl_ms,
                    ds_event_state *state, ds_err *err)
{
    redisReply *reply;

    reply = ds_redis_cmd(r, err, "EVAL %s 1 docsync:event:%s %ld",
                         DEDUPE_CLAIM, key, ttl_ms);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_STRING) {
        freeReplyObject(reply);
        return ds_err_set(err, "redis_error",
                          "dedupe claim: unexpected reply");
    }
    *state = strcmp(reply->str, "new") == 0 ? DS_EVENT_NEW :
             strcmp(reply->str, "pending") == 0 ? DS_EVENT_PENDING :
             DS_EVENT_DONE;
    freeReplyObject(reply);
    return 0;
}

int ds_dedupe_done(ds_redis *r, const char *key, long keep_ms, ds_err *err)
{
    return ds_redis_ok(ds_redis_cmd(r, err, "SET docsync:event:%s done PX %ld",
                                    key, keep_ms), err, "SET");
}

int ds_dedupe_release(ds_redis *r, const char *key, ds_err *err)
{
    return ds_redis_ok(ds_redis_cmd(r, err, "DEL docsync:event:%s", key), err,
                       "DEL");
}

int ds_lease_take(ds_redis *r, const char *name, const char *owner,
                  long ttl_ms, int *taken, ds_err *err)
{
    redisReply *reply;

    *taken = 0;
    reply = ds_redis_cmd(r, err, "EVAL %s 1 docsync:lease:%s %s %ld",
                         LEASE_TAKE, name, owner, ttl_ms);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(reply);
        return ds_err_set(err, "redis_error",
                          "lease take: unexpected reply");
    }
    *taken = reply->integer == 1;
    freeReplyObject(reply);
    return 0;
}

int ds_lease_release(ds_redis *r, const char *name, const char *owner,
                     ds_err *err)
{
    return ds_redis_ok(ds_redis_cmd(r, err, "EVAL %s 1 docsync:lease:%s %s",
                                    LEASE_RELEASE, name, owner), err, "EVAL");
}
