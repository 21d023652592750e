/* ctl_rate.c - the shared request budget of an API; see ctl_rate.h. */
#include "ctl_rate.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_msg.h"
#include "ctl_opt.h"
#include "ctl_token.h"
#include "ds_connector.h"

#define PREFIX "docsync:rate:"
#define HOLD_SUFFIX ":hold"
#define LIMIT_SUFFIX ":limit"

static const char SHOW_HELP[] =
    "usage: docsyncctl rate show API\n"
    "\n"
    "Shows the request budget that API's stages (source or destination)\n"
    "share in Redis, one block per budget (one per credential with\n"
    "perCredential): the requests in the current window (the connector's\n"
    "windowMs, read from CONNECTOR_FILE or the built-in connector), a hold\n"
    "that makes every replica wait and how long it has left, and a limit\n"
    "learned from the API's rate-limit headers and how long it is kept.\n";

static const char CLEAR_HELP[] =
    "usage: docsyncctl rate clear API\n"
    "\n"
    "Deletes the holds and the learned limits of API's budgets (source or\n"
    "destination), for a hold or a limit that is wrong: the stages go back\n"
    "to the connector's limit at once. The log of requests stays, so the\n"
    "budget still counts what was sent. A limit the API announces again is\n"
    "learned again.\n";

/*
 * Reads one budget at once, on Redis's clock. KEYS: log, hold, learned
 * limit. ARGV: the configured window in ms (0: unknown, then the learned
 * limit's). Returns {log size, requests in the window or -1, the window,
 * hold PTTL, learned "requests:window_ms" or nil, its PTTL}.
 */
static const char READ[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "local w = tonumber(ARGV[1]) "
    "local learned = redis.call('GET', KEYS[3]) "
    "if w <= 0 and learned then "
    "  w = tonumber(string.match(learned, '^%d+:(%d+)$')) or 0 end "
    "local inw = -1 "
    "if w > 0 then inw = redis.call('ZCOUNT', KEYS[1], now - w, '+inf') end "
    "return {redis.call('ZCARD', KEYS[1]), inw, w, "
    "redis.call('PTTL', KEYS[2]), learned or false, "
    "redis.call('PTTL', KEYS[3])}";

/* The keys of one API, sorted. */
typedef struct key_list {
    char **v;
    size_t n, cap;
} key_list;

static void keys_free(key_list *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->v[i]);
    free(k->v);
    memset(k, 0, sizeof(*k));
}

/* Adds a copy of the first len bytes of key unless it is there. */
static int keys_add(key_list *k, const char *key, size_t len)
{
    char **grown;

    for (size_t i = 0; i < k->n; i++)
        if (strlen(k->v[i]) == len && strncmp(k->v[i], key, len) == 0)
            return 0;
    if (k->n == k->cap) {
        k->cap = k->cap == 0 ? 8 : k->cap * 2;
        grown = realloc(k->v, k->cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        k->v = grown;
    }
    k->v[k->n] = strndup(key, len);
    if (k->v[k->n] == NULL)
        return -1;
    k->n++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* True when key is one of api's: the base itself or below it. A bare
 * prefix match would also take docsync:rate:sourcex. */
static int key_of_api(const char *key, const char *api)
{
    size_t n = strlen(PREFIX) + strlen(api);

    return strncmp(key, PREFIX, strlen(PREFIX)) == 0 &&
           strncmp(key + strlen(PREFIX), api, strlen(api)) == 0 &&
           (key[n] == '\0' || key[n] == ':');
}

/* Collects every key of api, SCAN by SCAN, so that a large Redis is never
 * blocked by KEYS. */
static int scan_keys(ds_redis *r, const char *api, key_list *out,
                     ds_err *err)
{
    char cursor[32] = "0";
    redisReply *rep, *keys;

    do {
        rep = ds_redis_cmd(r, err, "SCAN %s MATCH " PREFIX "%s* COUNT 500",
                           cursor, api);
        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
            rep->elements != 2) {
            if (rep != NULL)
                freeReplyObject(rep);
            return ds_err_set(err, "redis_error", "SCAN failed");
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        keys = rep->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *key = keys->element[i]->str;

            if (key_of_api(key, api) && keys_add(out, key, strlen(key)) < 0) {
                freeReplyObject(rep);
                return ds_err_set(err, "out_of_memory", "key list");
            }
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    qsort(out->v, out->n, sizeof(*out->v), by_name);
    return 0;
}

/* The budgets behind keys: each key without its :hold or :limit. */
static int bases_of(const key_list *keys, key_list *bases)
{
    for (size_t i = 0; i < keys->n; i++) {
        const char *k = keys->v[i];
        size_t len = strlen(k);

        if (ends_with(k, HOLD_SUFFIX))
            len -= strlen(HOLD_SUFFIX);
        else if (ends_with(k, LIMIT_SUFFIX))
            len -= strlen(LIMIT_SUFFIX);
        if (keys_add(bases, k, len) < 0)
            return -1;
    }
    qsort(bases->v, bases->n, sizeof(*bases->v), by_name);
    return 0;
}

static void print_budget(FILE *out, const char *base, redisReply **e)
{
    fprintf(out, "budget:        %s\n", base);
    if (e[1]->integer >= 0)
        fprintf(out, "window:        %lld requests in the last %lld ms "
                "(%lld in the log)\n", e[1]->integer, e[2]->integer,
                e[0]->integer);
    else
        fprintf(out, "window:        unknown (%lld requests in the log)\n",
                e[0]->integer);
    if (e[3]->integer > 0)
        fprintf(out, "hold:          held, %lld ms left\n", e[3]->integer);
    else
        fputs("hold:          none\n", out);
    if (e[4]->type == REDIS_REPLY_STRING)
        fprintf(out, "learned limit: %s (requests:window_ms), kept %lld s "
                "more\n", e[4]->str,
                e[5]->integer > 0 ? e[5]->integer / 1000 : 0);
    else
        fputs("learned limit: none\n", out);
}

/* Reads and prints the budget base. Returns 0 or -1. */
static int show_budget(FILE *out, ds_redis *r, const char *base,
                       long window_ms, ds_err *err)
{
    char hold[320], limit[320], window[24];
    const char *argv[] = {"EVAL", READ, "3", base, hold, limit, window};
    redisReply *reply;

    snprintf(hold, sizeof(hold), "%s" HOLD_SUFFIX, base);
    snprintf(limit, sizeof(limit), "%s" LIMIT_SUFFIX, base);
    snprintf(window, sizeof(window), "%ld", window_ms);
    reply = ds_redis_argv(r, err, 7, argv, NULL);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6) {
        ds_err_set(err, "redis_error", "rate read %s: %s", base,
                   reply->type == REDIS_REPLY_ERROR ? reply->str
                                                    : "unexpected reply");
        freeReplyObject(reply);
        return -1;
    }
    print_budget(out, base, reply->element);
    freeReplyObject(reply);
    return 0;
}

int ctl_rate_print(FILE *out, ds_redis *r, const char *api, long window_ms,
                   ds_err *err)
{
    key_list keys = {0}, bases = {0};
    int rc = scan_keys(r, api, &keys, err);

    if (rc == 0 && bases_of(&keys, &bases) < 0)
        rc = ds_err_set(err, "out_of_memory", "key list");
    if (rc == 0) {
        fprintf(out, "api:           %s\n", api);
        if (bases.n == 0)
            fputs("no budget in Redis (no request counted, no hold)\n", out);
    }
    for (size_t i = 0; rc == 0 && i < bases.n; i++)
        rc = show_budget(out, r, bases.v[i], window_ms, err);
    keys_free(&keys);
    keys_free(&bases);
    return rc;
}

long ctl_rate_clear_keys(ds_redis *r, const char *api, ds_err *err)
{
    key_list keys = {0};
    redisReply *rep;
    long n = 0;

    if (scan_keys(r, api, &keys, err) < 0) {
        keys_free(&keys);
        return -1;
    }
    for (size_t i = 0; n >= 0 && i < keys.n; i++) {
        if (!ends_with(keys.v[i], HOLD_SUFFIX) &&
            !ends_with(keys.v[i], LIMIT_SUFFIX))
            continue;
        rep = ds_redis_cmd(r, err, "DEL %s", keys.v[i]);
        if (rep == NULL) {
            n = -1;
            break;
        }
        n += rep->type == REDIS_REPLY_INTEGER ? (long)rep->integer : 0;
        freeReplyObject(rep);
    }
    keys_free(&keys);
    return n;
}

/* Takes the one argument, API. Returns 0 or the usage exit code. */
static int api_arg(const char *cmd, int argc, char **argv, const char **api)
{
    if (argc < 1 || argv[0][0] == '-')
        return ctl_usage_error(cmd, "which API? (source or destination)");
    if (!ctl_token_api_valid(argv[0]))
        return ctl_usage_error(cmd, "'%s' is not an API (source or "
                               "destination)", argv[0]);
    if (argc > 1)
        return ctl_usage_error(cmd, "unknown argument '%s'", argv[1]);
    *api = argv[0];
    return 0;
}

/* The connector's windowMs for api, 0 when it has no rateLimit or cannot
 * be read (show then tells the log's size alone). */
static long configured_window(const char *api)
{
    char path[64];
    ds_connector *c;
    ds_err err;
    long ms;

    ds_err_clear(&err);
    c = ds_connector_load(&err);
    if (c == NULL)
        return 0;
    snprintf(path, sizeof(path), "%s.rateLimit.windowMs", api);
    ms = (long)json_integer_value(ds_connector_get(c, path));
    ds_connector_free(c);
    return ms > 0 ? ms : 0;
}

int ctl_rate_show(ctl_conf *conf, int argc, char **argv)
{
    const char *api = NULL;
    ds_redis *r;
    ds_err err;
    int rc;

    (void)conf;
    if (ctl_opt_wants_help(argc, argv)) {
        fputs(SHOW_HELP, stdout);
        return CTL_EXIT_OK;
    }
    rc = api_arg("rate show", argc, argv, &api);
    if (rc != 0)
        return rc;
    r = ctl_conf_redis();
    if (r == NULL)
        return CTL_EXIT_FAIL;
    ds_err_clear(&err);
    rc = ctl_rate_print(stdout, r, api, configured_window(api), &err) == 0
             ? CTL_EXIT_OK
             : ctl_error("cannot read the budget of %s: %s", api, err.msg);
    ds_redis_free(r);
    return rc;
}

int ctl_rate_clear(ctl_conf *conf, int argc, char **argv)
{
    const char *api = NULL;
    ds_redis *r;
    ds_err err;
    long n;
    int rc;

    (void)conf;
    if (ctl_opt_wants_help(argc, argv)) {
        fputs(CLEAR_HELP, stdout);
        return CTL_EXIT_OK;
    }
    rc = api_arg("rate clear", argc, argv, &api);
    if (rc != 0)
        return rc;
    r = ctl_conf_redis();
    if (r == NULL)
        return CTL_EXIT_FAIL;
    ds_err_clear(&err);
    n = ctl_rate_clear_keys(r, api, &err);
    if (n < 0) {
        rc = ctl_error("cannot clear the budget of %s: %s", api, err.msg);
    } else {
        printf("cleared %ld hold and learned-limit keys of %s\n", n, api);
        rc = CTL_EXIT_OK;
    }
    ds_redis_free(r);
    return rc;
}
