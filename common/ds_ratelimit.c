/* ds_ratelimit.c - a request budget per API, shared through Redis; see
 * ds_ratelimit.h.
 *
 * Keys, for base = docsync:rate:<api>[:<identity>]:
 *   base        zset, the sliding log: one member per admitted request,
 *               scored with Redis's clock in ms
 *   base:hold   PX = how long every replica holds (a 429, a spent budget)
 *   base:limit  "requests:window_ms" learned from the API's headers when
 *               smaller than the configured limit; expires after
 *               LEARNED_KEEP_MS unless the API says it again
 */
#include "ds_ratelimit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ds_log.h"
#include "ds_time.h"

/* How long a limit announced by the API replaces the configured one. */
#define LEARNED_KEEP_MS 300000L

/* A 429 that says nothing of when to come back holds this long. */
#define BLIND_HOLD_MS 1000L

/* The window assumed for a limit announced without one. */
#define DEFAULT_WINDOW_MS 1000L

/* A reset further away than this is not one a server means. */
#define MAX_HOLD_MS (24L * 3600 * 1000)

/*
 * Admits one request or says how long to wait, atomically, on Redis's
 * clock. KEYS: log, hold, learned limit. ARGV: requests, window_ms,
 * margin_ms, a member unique to this request. Returns {1, 0} admitted,
 * {0, ms} to wait. A learned limit applies when its rate is below the
 * configured one (or none is configured).
 */
static const char ACQUIRE[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "local hold = redis.call('PTTL', KEYS[2]) "
    "if hold > 0 then return {0, hold} end "
    "local q = tonumber(ARGV[1]) local w = tonumber(ARGV[2]) "
    "local learned = redis.call('GET', KEYS[3]) "
    "if learned then "
    "  local lq, lw = string.match(learned, '^(%d+):(%d+)$') "
    "  lq = tonumber(lq) lw = tonumber(lw) "
    "  if lq and lw and lw > 0 and (q <= 0 or lq * w < q * lw) then "
    "    q = lq w = lw end "
    "end "
    "if q <= 0 then return {1, 0} end "
    "local span = w + tonumber(ARGV[3]) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span) "
    "if redis.call('ZCARD', KEYS[1]) < q then "
    "  redis.call('ZADD', KEYS[1], now, ARGV[4]) "
    "  redis.call('PEXPIRE', KEYS[1], span + 1000) "
    "  return {1, 0} "
    "end "
    "local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES') "
    "return {0, tonumber(oldest[2]) + span - now}";

/* Extends the hold to ARGV[1] ms unless it already lasts longer. */
static const char HOLD[] =
    "local ms = tonumber(ARGV[1]) "
    "if redis.call('PTTL', KEYS[1]) < ms then "
    "  redis.call('SET', KEYS[1], '1', 'PX', ms) end "
    "return 1";

struct ds_rate {
    ds_rate_cfg cfg;
    char *api;
    ds_redis *redis;
    char owner[24];         /* names this process's members of the log */
    unsigned long seq;
};

/* A budget for api_id; see ds_ratelimit.h. */
ds_rate *ds_rate_new(const ds_rate_cfg *cfg, const char *api_id,
                     ds_redis *redis, ds_err *err)
{
    ds_rate *r = calloc(1, sizeof(*r));
    unsigned int rnd = 0;

    if (r == NULL || api_id == NULL || (r->api = strdup(api_id)) == NULL) {
        ds_rate_free(r);
        return ds_err_set(err, "out_of_memory", "rate budget"), NULL;
    }
    r->cfg = *cfg;
    r->redis = redis;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (unsigned int)time(NULL);
    snprintf(r->owner, sizeof(r->owner), "%d.%08x", (int)getpid(), rnd);
    return r;
}

/* Frees r; accepts NULL. */
void ds_rate_free(ds_rate *r)
{
    if (r == NULL)
        return;
    free(r->api);
    free(r);
}

/* The log's key; a per-credential budget adds the identity. */
static void rate_key(const ds_rate *r, const char *identity, char *out,
                     size_t cap)
{
    if (r->cfg.per_credential && identity != NULL && identity[0] != '\0')
        snprintf(out, cap, "docsync:rate:%s:%s", r->api, identity);
    else
        snprintf(out, cap, "docsync:rate:%s", r->api);
}

/* One try at a slot. Returns 0 with *wait_ms 0 when admitted or the wait
 * Redis asks for, -1 with err set when Redis fails. */
static int try_slot(ds_rate *r, const char *key, long *wait_ms, ds_err *err)
{
    char hold[256], limit[256], member[64], q[24], w[24], m[24];
    const char *argv[] = {"EVAL", ACQUIRE, "3", key, hold, limit, q, w, m,
                          member};
    redisReply *reply;

    snprintf(hold, sizeof(hold), "%s:hold", key);
    snprintf(limit, sizeof(limit), "%s:limit", key);
    snprintf(q, sizeof(q), "%ld", r->cfg.requests);
    snprintf(w, sizeof(w), "%ld",
             r->cfg.window_ms > 0 ? r->cfg.window_ms : DEFAULT_WINDOW_MS);
    snprintf(m, sizeof(m), "%ld", r->cfg.margin_ms > 0 ? r->cfg.margin_ms : 0);
    snprintf(member, sizeof(member), "%s.%lu", r->owner, ++r->seq);
    reply = ds_redis_argv(r->redis, err, 10, argv, NULL);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(reply);
        return ds_err_set(err, "redis_error", "rate budget: unexpected reply");
    }
    *wait_ms = reply->element[0]->integer == 1 ? 0
               : (long)reply->element[1]->integer;
    if (reply->element[0]->integer != 1 && *wait_ms < 1)
        *wait_ms = 1;
    freeReplyObject(reply);
    return 0;
}

/*
 * Takes a slot, sleeping while the wait Redis names fits in what is left
 * of max_wait_ms. Returns 0, or -1 with "rate_limited" and retry_after_ms
 * when the wait would run past it, or with Redis's error.
 */
int ds_rate_acquire(ds_rate *r, const char *identity, ds_err *err)
{
    long long deadline = ds_time_mono_ms() + (r->cfg.max_wait_ms > 0
                                      ? r->cfg.max_wait_ms : 0);
    char key[200];
    long wait_ms = 0;

    rate_key(r, identity, key, sizeof(key));
    for (;;) {
        long long left;

        if (try_slot(r, key, &wait_ms, err) != 0)
            return -1;
        if (wait_ms == 0)
            return 0;
        left = deadline - ds_time_mono_ms();
        if (wait_ms > left) {
            ds_err_set(err, "rate_limited",
                       "%s: no request slot within %ld ms (next in %ld ms)",
                       r->api, r->cfg.max_wait_ms, wait_ms);
            if (err != NULL && strcmp(err->reason, "rate_limited") == 0)
                err->retry_after_ms = wait_ms;
            return -1;
        }
        ds_time_sleep_ms(wait_ms);
    }
}

/* Parses a non-negative decimal number at s (after blanks); -1 if none. */
static long long parse_count(const char *s)
{
    long long v = 0;

    while (*s == ' ' || *s == '\t')
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        if (v > (long long)1e15)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* The ms until a reset given as value in unit, or -1 when unreadable. */
static long reset_to_ms(const char *value, ds_reset_unit unit)
{
    long long v = parse_count(value);
    long long now_ms = (long long)time(NULL) * 1000;
    long long ms;

    if (v < 0)
        return -1;
    if (unit == DS_RESET_AUTO)
        unit = v > 100000000000LL ? DS_RESET_EPOCH_MS
             : v > 1000000000LL ? DS_RESET_EPOCH_S : DS_RESET_SECONDS;
    switch (unit) {
    case DS_RESET_MS: ms = v; break;
    case DS_RESET_EPOCH_S: ms = v * 1000 - now_ms; break;
    case DS_RESET_EPOCH_MS: ms = v - now_ms; break;
    default: ms = v * 1000; break;
    }
    if (ms < 0)
        ms = 0;
    return ms > MAX_HOLD_MS ? -1 : (long)ms;
}

/* The integer after `;name=` in a structured field value, or -1. */
static long long sf_param(const char *value, const char *name)
{
    char pat[16];
    const char *p;

    snprintf(pat, sizeof(pat), ";%s=", name);
    p = strstr(value, pat);
    return p != NULL ? parse_count(p + strlen(pat)) : -1;
}

/* How long the headers of resp say to hold, or -1 when they do not. */
static long hold_from_headers(const ds_rate *r, const ds_http_resp *resp)
{
    char v[256], reset[64];

    if (ds_http_resp_header(resp, "X-RateLimit-Remaining", v, sizeof(v)) &&
        parse_count(v) == 0 &&
        ds_http_resp_header(resp, "X-RateLimit-Reset", reset, sizeof(reset)))
        return reset_to_ms(reset, r->cfg.reset_unit);
    if (ds_http_resp_header(resp, "RateLimit-Remaining", v, sizeof(v)) &&
        parse_count(v) == 0 &&
        ds_http_resp_header(resp, "RateLimit-Reset", reset, sizeof(reset)))
        return reset_to_ms(reset, DS_RESET_SECONDS);
    if (ds_http_resp_header(resp, "RateLimit", v, sizeof(v)) &&
        sf_param(v, "r") == 0 && sf_param(v, "t") >= 0)
        return reset_to_ms(strstr(v, ";t=") + 3, DS_RESET_SECONDS);
    return -1;
}

/* The limit the headers announce, as requests per *window_ms; 0 if none. */
static long limit_from_headers(const ds_rate *r, const ds_http_resp *resp,
                               long *window_ms)
{
    char v[256];
    long long q = -1, w = -1;

    if (ds_http_resp_header(resp, "RateLimit-Policy", v, sizeof(v))) {
        q = sf_param(v, "q");
        w = sf_param(v, "w");
        w = w > 0 ? w * 1000 : -1;
    } else if (ds_http_resp_header(resp, "X-RateLimit-Limit", v, sizeof(v)) ||
               ds_http_resp_header(resp, "RateLimit-Limit", v, sizeof(v))) {
        q = parse_count(v);
    }
    if (q <= 0 || q > 1000000)
        return 0;
    *window_ms = w > 0 ? (long)w
               : r->cfg.window_ms > 0 ? r->cfg.window_ms : DEFAULT_WINDOW_MS;
    return (long)q;
}

/* Makes every replica hold for ms. Failures are dropped: the next 429
 * says it again. */
static void set_hold(ds_rate *r, const char *key, long ms)
{
    char hold[256], arg[24];
    const char *argv[] = {"EVAL", HOLD, "1", hold, arg};
    redisReply *reply;
    ds_err err;

    ds_err_clear(&err);
    snprintf(hold, sizeof(hold), "%s:hold", key);
    snprintf(arg, sizeof(arg), "%ld", ms);
    reply = ds_redis_argv(r->redis, &err, 5, argv, NULL);
    if (reply != NULL)
        freeReplyObject(reply);
}

/* Keeps a limit the API announced when it is below the configured one. */
static void learn_limit(ds_rate *r, const char *key, long q, long w)
{
    long cq = r->cfg.requests;
    long cw = r->cfg.window_ms > 0 ? r->cfg.window_ms : DEFAULT_WINDOW_MS;
    redisReply *reply;
    ds_err err;

    if (cq > 0 && (long long)q * cw >= (long long)cq * w)
        return;
    ds_err_clear(&err);
    reply = ds_redis_cmd(r->redis, &err, "SET %s:limit %ld:%ld PX %ld", key,
                         q, w, LEARNED_KEEP_MS);
    if (reply != NULL)
        freeReplyObject(reply);
}

/*
 * Learns from one response: a hold from a 429's Retry-After or from
 * headers that say the budget is spent, and a limit smaller than the
 * configured one. A 429 with no usable hint holds BLIND_HOLD_MS.
 */
long ds_rate_observe(ds_rate *r, const char *identity,
                     const ds_http_resp *resp)
{
    char key[200], v[128];
    long hold = -1, q, w = 0;

    if (r == NULL || resp == NULL)
        return 0;
    rate_key(r, identity, key, sizeof(key));
    if (resp->status == 429 &&
        ds_http_resp_header(resp, "Retry-After", v, sizeof(v)))
        hold = ds_http_parse_retry_after(v, (long long)time(NULL));
    if (hold < 0)
        hold = hold_from_headers(r, resp);
    if (hold < 0 && resp->status == 429)
        hold = BLIND_HOLD_MS;
    if (hold > 0 && r->cfg.max_hold_ms > 0 && hold > r->cfg.max_hold_ms) {
        /* A reset read in the wrong unit would stop every replica for
         * hours: hold no longer than the connector allows, and say so. */
        ds_log_msg(DS_LOG_WARN, "%s: the answer asks for a hold of %ld ms; "
                   "held %ld ms (rateLimit.maxHoldMs). Check resetUnit if "
                   "this repeats", r->api, hold, r->cfg.max_hold_ms);
        hold = r->cfg.max_hold_ms;
    }
    if (hold > 0)
        set_hold(r, key, hold);

    q = limit_from_headers(r, resp, &w);
    if (q > 0)
        learn_limit(r, key, q, w);
    return hold > 0 ? hold : 0;
}
