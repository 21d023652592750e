/* ds_order.c - per-document order across a stage's retry topic; see
 * ds_order.h. Each step is one Lua script, so replicas of a stage that
 * handle the input and the retry topic of one document at once see the
 * queue change atomically. */
#include "ds_order.h"

#include <string.h>

#define KEEP_S "604800"

/* Drops stale tickets from the head, except the caller's own. Shared
 * prelude of ENTER and TURN: KEYS[1] list, KEYS[2] hash, ARGV[1] ticket,
 * ARGV[2] now, ARGV[3] stale_ms. */
#define PURGE                                                            \
    "local head = redis.call('LINDEX', KEYS[1], 0) "                     \
    "while head and head ~= ARGV[1] do "                                 \
    "  local seen = tonumber(redis.call('HGET', KEYS[2], head) or '0') " \
    "  if seen + tonumber(ARGV[3]) >= tonumber(ARGV[2]) then break end " \
    "  redis.call('LPOP', KEYS[1]) redis.call('HDEL', KEYS[2], head) "   \
    "  head = redis.call('LINDEX', KEYS[1], 0) "                         \
    "end "

/* Marks ARGV[1] seen at ARGV[2] and keeps both keys a week. */
#define TOUCH                                              \
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) "       \
    "redis.call('EXPIRE', KEYS[1], " KEEP_S ") "           \
    "redis.call('EXPIRE', KEYS[2], " KEEP_S ") "

/* Returns 0 (free) or 2 (wait; ticket queued). */
static const char ENTER[] =
    PURGE
    "if redis.call('LLEN', KEYS[1]) == 0 then return 0 end "
    "if not redis.call('LPOS', KEYS[1], ARGV[1]) then "
    "  redis.call('RPUSH', KEYS[1], ARGV[1]) end "
    TOUCH
    "if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then return 1 end "
    "return 2";

/* Returns 0 (free), 1 (turn) or 2 (wait). */
static const char TURN[] =
    PURGE
    "if not redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end "
    TOUCH
    "if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then return 1 end "
    "return 2";

static const char PARK[] =
    "if not redis.call('LPOS', KEYS[1], ARGV[1]) then "
    "  redis.call('RPUSH', KEYS[1], ARGV[1]) end "
    TOUCH
    "return 1";

static const char DONE[] =
    "redis.call('LREM', KEYS[1], 0, ARGV[1]) "
    "redis.call('HDEL', KEYS[2], ARGV[1]) "
    "if redis.call('LLEN', KEYS[1]) == 0 then "
    "  redis.call('DEL', KEYS[1], KEYS[2]) end "
    "return 1";

/* Runs one of the scripts above for (stage, doc_id) and returns its
 * integer in *out. Returns 0 or -1. */
static int run(ds_redis *r, const char *script, const char *stage,
               const char *doc_id, const char *ticket, long long now_ms,
               long stale_ms, long long *out, ds_err *err)
{
    redisReply *reply;

    reply = ds_redis_cmd(r, err,
                         "EVAL %s 2 docsync:order:%s:%s docsync:order:%s:%s:t"
                         " %s %lld %ld",
                         script, stage, doc_id, stage, doc_id, ticket,
                         now_ms, stale_ms);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(reply);
        return ds_err_set(err, "redis_error", "order: unexpected reply");
    }
    *out = reply->integer;
    freeReplyObject(reply);
    return 0;
}

/* Runs ENTER or TURN and maps its answer: 0 free, 1 turn, 2 wait. */
static int ask(ds_redis *r, const char *script, const char *stage,
               const char *doc_id, const char *ticket, long long now_ms,
               long stale_ms, ds_order_state *state, ds_err *err)
{
    long long v;

    if (run(r, script, stage, doc_id, ticket, now_ms, stale_ms, &v, err) < 0)
        return -1;
    *state = v == 0 ? DS_ORDER_FREE : v == 1 ? DS_ORDER_TURN : DS_ORDER_WAIT;
    return 0;
}

int ds_order_enter(ds_redis *r, const char *stage, const char *doc_id,
                   const char *ticket, long long now_ms, long stale_ms,
                   ds_order_state *state, ds_err *err)
{
    /* A redelivered record that finds its own ticket first goes on. */
    return ask(r, ENTER, stage, doc_id, ticket, now_ms, stale_ms, state, err);
}

int ds_order_turn(ds_redis *r, const char *stage, const char *doc_id,
                  const char *ticket, long long now_ms, long stale_ms,
                  ds_order_state *state, ds_err *err)
{
    return ask(r, TURN, stage, doc_id, ticket, now_ms, stale_ms, state, err);
}

int ds_order_park(ds_redis *r, const char *stage, const char *doc_id,
                  const char *ticket, long long now_ms, ds_err *err)
{
    long long v;

    return run(r, PARK, stage, doc_id, ticket, now_ms, 0, &v, err);
}

int ds_order_done(ds_redis *r, const char *stage, const char *doc_id,
                  const char *ticket, ds_err *err)
{
    long long v;

    return run(r, DONE, stage, doc_id, ticket, 0, 0, &v, err);
}
