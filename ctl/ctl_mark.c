/* ctl_mark.c - a replay's marks in Redis; see ctl_mark.h. */
#include "ctl_mark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a claim holds before a replay that died is forgotten. */
#define CLAIM_MS 60000

/* Claims the mark, or returns what it holds; atomic, like ds_state's
 * dedupe claim. */
static const char CLAIM[] =
    "if redis.call('SET', KEYS[1], 'pending', 'NX', 'PX', ARGV[1]) then "
    "return 'new' end "
    "return redis.call('GET', KEYS[1])";

/* Deletes the mark only while it is a claim, never a finished replay. */
static const char RELEASE[] =
    "if redis.call('GET', KEYS[1]) == 'pending' then "
    "return redis.call('DEL', KEYS[1]) end return 0";

/* Marks the document replayed; the state only when nothing changed it
 * since it was read (ARGV[3], ARGV[4]; '' for absent). */
static const char MARK_REPLAYED[] =
    "local s = redis.call('HGET', KEYS[1], 'state') or '' "
    "local f = redis.call('HGET', KEYS[1], 'failed_at') or '' "
    "redis.call('HSET', KEYS[1], 'replayed_at', ARGV[1], "
    "'replayed_from', ARGV[5]) "
    "redis.call('RPUSH', KEYS[2], ARGV[1] .. ':docsyncctl:replayed:' .. "
    "ARGV[2]) "
    "if s == ARGV[3] and f == ARGV[4] then "
    "redis.call('HSET', KEYS[1], 'state', 'replayed') return 1 end "
    "return 0";

/* Writes the mark's key for a DLQ record into key. */
static void mark_key(char *key, size_t cap, const char *topic,
                     int32_t partition, int64_t offset)
{
    snprintf(key, cap, "docsync:replayed:%s:%d:%lld", topic, (int)partition,
             (long long)offset);
}

/* Reads a mark's value: "pending", epoch ms, or none. */
static void classify(const redisReply *reply, ctl_mark_found *found,
                     long long *when_ms)
{
    *when_ms = -1;
    *found = CTL_MARK_NONE;
    if (reply->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(reply->str, "pending") == 0) {
        *found = CTL_MARK_PENDING;
    } else if (strcmp(reply->str, "new") != 0) {
        *found = CTL_MARK_DONE;
        *when_ms = strtoll(reply->str, NULL, 10);
    }
}

/* Reads the answer of a mark's GET or claim into *found and *when_ms, and
 * frees it. Returns 0, or -1 for no answer or an error answer. */
static int read_mark(redisReply *reply, ctl_mark_found *found,
                     long long *when_ms, ds_err *err)
{
    if (reply == NULL)
        return -1;
    if (reply->type == REDIS_REPLY_ERROR) {
        ds_err_set(err, "redis_error", "replay mark: %s", reply->str);
        freeReplyObject(reply);
        return -1;
    }
    classify(reply, found, when_ms);
    freeReplyObject(reply);
    return 0;
}

int ctl_mark_lookup(ds_redis *r, const char *dlq_topic, int32_t partition,
                    int64_t offset, ctl_mark_found *found, long long *when_ms,
                    ds_err *err)
{
    char key[512];

    mark_key(key, sizeof(key), dlq_topic, partition, offset);
    return read_mark(ds_redis_cmd(r, err, "GET %s", key), found, when_ms,
                     err);
}

int ctl_mark_claim(ds_redis *r, const char *dlq_topic, int32_t partition,
                   int64_t offset, ctl_mark_found *found, long long *when_ms,
                   ds_err *err)
{
    char key[512];

    mark_key(key, sizeof(key), dlq_topic, partition, offset);
    return read_mark(ds_redis_cmd(r, err, "EVAL %s 1 %s %ld", CLAIM, key,
                                  (long)CLAIM_MS), found, when_ms, err);
}

int ctl_mark_release(ds_redis *r, const char *dlq_topic, int32_t partition,
                     int64_t offset, ds_err *err)
{
    char key[512];

    mark_key(key, sizeof(key), dlq_topic, partition, offset);
    return ds_redis_ok(ds_redis_cmd(r, err, "EVAL %s 1 %s", RELEASE, key), err,
                       "replay mark release");
}

int ctl_mark_done(ds_redis *r, const char *dlq_topic, int32_t partition,
                  int64_t offset, long long ms, ds_err *err)
{
    char key[512];

    mark_key(key, sizeof(key), dlq_topic, partition, offset);
    return ds_redis_ok(ds_redis_cmd(r, err, "SET %s %lld EX %ld", key, ms,
                                    CTL_REPLAY_KEEP_S), err, "replay mark");
}

/* Copies a string element of an HMGET answer, "" when it is nil. */
static void copy_elem(const redisReply *reply, size_t i, char *out,
                      size_t cap)
{
    out[0] = '\0';
    if (i < reply->elements && reply->element[i]->type == REDIS_REPLY_STRING)
        snprintf(out, cap, "%s", reply->element[i]->str);
}

int ctl_doc_seen_read(ds_redis *r, const char *doc_id, ctl_doc_seen *seen,
                      ds_err *err)
{
    redisReply *reply;

    reply = ds_redis_cmd(r, err, "HMGET docsync:doc:%s state failed_at",
                         doc_id);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(reply);
        return ds_err_set(err, "redis_error", "HMGET: unexpected reply");
    }
    copy_elem(reply, 0, seen->state, sizeof(seen->state));
    copy_elem(reply, 1, seen->failed_at, sizeof(seen->failed_at));
    freeReplyObject(reply);
    return 0;
}

int ctl_mark_replayed(ds_redis *r, const char *doc_id,
                      const ctl_doc_seen *seen, long long ms,
                      const char *reason, const char *from, int *state_set,
                      ds_err *err)
{
    char doc_key[192], timeline_key[192], at[32];
    const char *argv[10];
    size_t lens[10];
    redisReply *reply;
    int i, rc = 0;

    snprintf(doc_key, sizeof(doc_key), "docsync:doc:%s", doc_id);
    snprintf(timeline_key, sizeof(timeline_key), "docsync:timeline:%s",
             doc_id);
    snprintf(at, sizeof(at), "%lld", ms);
    argv[0] = "EVAL";
    argv[1] = MARK_REPLAYED;
    argv[2] = "2";
    argv[3] = doc_key;
    argv[4] = timeline_key;
    argv[5] = at;
    argv[6] = reason;
    argv[7] = seen->state;
    argv[8] = seen->failed_at;
    argv[9] = from;
    for (i = 0; i < 10; i++)
        lens[i] = strlen(argv[i]);

    /* The argument vector: an empty state or failed time is an argument. */
    reply = ds_redis_argv(r, err, 10, argv, lens);
    if (reply == NULL)
        return -1;
    if (reply->type == REDIS_REPLY_INTEGER)
        *state_set = reply->integer == 1;
    else
        rc = ds_err_set(err, "redis_error", "replayed mark: %s",
                        reply->type == REDIS_REPLY_ERROR ? reply->str :
                        "unexpected reply");
    freeReplyObject(reply);
    return rc;
}
