/* ds_auth.c - the credentials of one remote API; see ds_auth.h.
 *
 * Redis keys, <api> being the api_id given to ds_auth_new:
 *   docsync:token:<api>       hash: access, expires_ms (epoch ms), ttl_ms
 *                             (the lifetime the endpoint granted), refresh
 *                             (the current refresh token), gen (bumped on
 *                             every refresh)
 *   docsync:token:<api>:lock  the refresher's owner value, PX lock_ms
 *   docsync:token:<api>:dead  why the credential is dead (invalid_grant)
 *
 * A ds_auth belongs to one thread, like the ds_redis it uses.
 */
#include "ds_auth.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ds_crypto.h"
#include "ds_http.h"
#include "ds_log.h"
#include "ds_metrics.h"
#include "ds_time.h"

/* A token endpoint that gives no expires_in: refreshed this often. */
#define DEFAULT_TTL_S 300L

/* How often a process waiting for another's refresh looks at Redis. */
#define WAIT_STEP_MS 25L

/* A 401 to a token this handle got from the endpoint, this recently, to
 * replace one a 401 refused, means the API refuses the credential itself:
 * another refresh will not help. */
#define REFUSE_WINDOW_MS 10000L

/* The largest token endpoint answer read. */
#define MAX_TOKEN_BODY ((size_t)64 << 10)

#define BEARER "Authorization: Bearer "

static const char DEAD_METRIC[] = "docsync_credential_dead";
static const char DEAD_HELP[] =
    "1 while the API's refresh token is refused (docsyncctl token set)";

/* Reads the token hash and the dead mark in one round trip. */
static const char READ_STORE[] =
    "local h = redis.call('HMGET', KEYS[1], 'access', 'expires_ms', "
    "'ttl_ms', 'refresh', 'gen') "
    "return {h[1], h[2], h[3], h[4], h[5], redis.call('GET', KEYS[2])}";

/* Deletes the lock only while it is still ours. */
static const char UNLOCK[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

/* What docsync:token:<api> and its dead mark hold. */
typedef struct stored {
    char *access;
    long long expires_ms;
    long long ttl_ms;
    char *refresh;
    long long gen;
    char *dead;
} stored;

/* What the token endpoint granted. */
typedef struct grant {
    char *access;
    char *refresh;         /* NULL when it sent no new one */
    long long expires_ms;
    long long ttl_ms;
} grant;

enum { GRANT_OK = 0, GRANT_INVALID = 1 };

struct ds_auth {
    ds_auth_kind kind;
    char *api;
    char *key;               /* docsync:token:<api> */
    char *token_url, *client_id, *client_secret, *scope, *seed_refresh;
    int client_in_body;
    long margin_ms, lock_ms, connect_ms, timeout_ms;
    ds_redis *redis;
    ds_http *http;
    char *line;              /* the header line handed out */
    char *access;            /* the token in line (OAuth2) */
    long long expires_ms;
    long long ttl_ms;
    char *refreshed;         /* the token granted to replace one a 401 */
    long long refreshed_at;  /*   refused, and when */
    int rejecting;           /* inside ds_auth_rejected */
    int seeded;              /* the seed refresh token was offered */
    grant unsaved;           /* granted but not yet stored (Redis failed) */
    long long unsaved_gen;
    int dead;                /* the dead mark was seen and reported */
    char identity[17];
    char owner[48];          /* the lock's value while this handle holds it */
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

/* Frees a string that may hold a secret, wiping it first. */
static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    memset(s, 0, strlen(s));
    free(s);
}

/* Replaces *slot with a copy of s (NULL allowed). Returns 0 or -1. */
static int set_str(char **slot, const char *s)
{
    char *copy = NULL;

    if (s != NULL && (copy = strdup(s)) == NULL)
        return -1;
    wipe_free(*slot);
    *slot = copy;
    return 0;
}

static void stored_clear(stored *st)
{
    wipe_free(st->access);
    wipe_free(st->refresh);
    free(st->dead);
    memset(st, 0, sizeof(*st));
}

static void grant_clear(grant *g)
{
    wipe_free(g->access);
    wipe_free(g->refresh);
    memset(g, 0, sizeof(*g));
}

static void set_dead_metric(const ds_auth *a, int dead)
{
    char labels[128];

    if (ds_metric_labels(labels, sizeof(labels), "api", a->api, NULL) >= 0)
        ds_metric_set(DEAD_METRIC, DEAD_HELP, labels, dead);
}

/* ------------------------------------------------------------------ */
/* Construction                                                        */

/* Checks that cfg names what its kind needs. Returns 0 or -1 with err. */
static int check_cfg(const ds_auth_cfg *cfg, ds_redis *redis, ds_err *err)
{
    const char *missing = NULL;

    switch (cfg->kind) {
    case DS_AUTH_NONE:
        return 0;
    case DS_AUTH_API_KEY:
    case DS_AUTH_BEARER:
        if (cfg->secret == NULL || cfg->secret[0] == '\0')
            missing = "secret";
        break;
    case DS_AUTH_OAUTH2_CLIENT:
    case DS_AUTH_OAUTH2_REFRESH:
        if (cfg->token_url == NULL || cfg->token_url[0] == '\0')
            missing = "tokenUrl";
        else if (cfg->client_id == NULL || cfg->client_id[0] == '\0')
            missing = "clientId";
        else if (cfg->kind == DS_AUTH_OAUTH2_CLIENT &&
                 (cfg->client_secret == NULL || !cfg->client_secret[0]))
            missing = "clientSecret";
        else if (redis == NULL)
            missing = "a Redis connection";
        break;
    default:
        return ds_err_set(err, "bad_config", "auth: unknown kind %d",
                          (int)cfg->kind);
    }
    if (missing != NULL)
        return ds_err_set(err, "bad_config", "auth: %s missing", missing);
    return 0;
}

/* A static credential's header line: "Name: value". */
static int static_line(ds_auth *a, const ds_auth_cfg *cfg)
{
    const char *h = cfg->kind == DS_AUTH_BEARER ? "Authorization"
                    : cfg->header != NULL && cfg->header[0] ? cfg->header
                    : "X-API-Key";
    const char *pre = cfg->kind == DS_AUTH_BEARER ? "Bearer " : "";
    size_t len = strlen(h) + strlen(pre) + strlen(cfg->secret) + 3;

    a->line = malloc(len);
    if (a->line == NULL)
        return -1;
    snprintf(a->line, len, "%s: %s%s", h, pre, cfg->secret);
    return 0;
}

/* A short name for the credential: a keyed hash, never the secret. */
static void make_identity(ds_auth *a, const ds_auth_cfg *cfg)
{
    static const char salt[] = "docsync-credential";
    const char *what = cfg->kind >= DS_AUTH_OAUTH2_CLIENT ? cfg->client_id
                       : cfg->secret != NULL ? cfg->secret : "";
    char hex[DS_SHA256_HEX_LEN + 1];

    if (ds_hmac_sha256_hex(salt, sizeof(salt) - 1, what, strlen(what),
                           hex) != 0)
        snprintf(hex, sizeof(hex), "none");
    memcpy(a->identity, hex, sizeof(a->identity) - 1);
    a->identity[sizeof(a->identity) - 1] = '\0';
}

/* Copies what an OAuth2 handle keeps of cfg. Returns 0 or -1. */
static int copy_oauth2(ds_auth *a, const ds_auth_cfg *cfg, const char *api)
{
    size_t klen = strlen(api) + sizeof("docsync:token:");
    unsigned int rnd = 0;

    if (set_str(&a->token_url, cfg->token_url) || set_str(&a->client_id,
        cfg->client_id) || set_str(&a->client_secret, cfg->client_secret) ||
        set_str(&a->scope, cfg->scope) ||
        set_str(&a->seed_refresh, cfg->refresh_token))
        return -1;
    a->key = malloc(klen);
    if (a->key == NULL)
        return -1;
    snprintf(a->key, klen, "docsync:token:%s", api);
    a->http = ds_http_new();
    if (a->http == NULL)
        return -1;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (unsigned int)ds_time_mono_ms();
    snprintf(a->owner, sizeof(a->owner), "%d.%08x.%p", (int)getpid(), rnd,
             (void *)a);
    return 0;
}

/* Returns the credentials of api_id; see ds_auth.h. */
ds_auth *ds_auth_new(const ds_auth_cfg *cfg, const char *api_id,
                     ds_redis *redis, long connect_ms, long timeout_ms,
                     ds_err *err)
{
    ds_auth *a;

    if (api_id == NULL) {
        ds_err_set(err, "bad_config", "auth: no API named");
        return NULL;
    }
    if (check_cfg(cfg, redis, err) != 0)
        return NULL;
    a = calloc(1, sizeof(*a));
    if (a == NULL || (a->api = strdup(api_id)) == NULL)
        goto oom;
    a->kind = cfg->kind;
    a->redis = redis;
    a->client_in_body = cfg->client_in_body;
    a->margin_ms = cfg->margin_ms > 0 ? cfg->margin_ms : 0;
    a->connect_ms = connect_ms;
    a->timeout_ms = timeout_ms;
    /* The lock outlives one whole call to the token endpoint. */
    a->lock_ms = cfg->lock_ms > 0 ? cfg->lock_ms
                 : (timeout_ms > 0 ? timeout_ms : 60000) + 2000;
    make_identity(a, cfg);
    if ((cfg->kind == DS_AUTH_API_KEY || cfg->kind == DS_AUTH_BEARER) &&
        static_line(a, cfg) != 0)
        goto oom;
    if (cfg->kind >= DS_AUTH_OAUTH2_CLIENT) {
        if (copy_oauth2(a, cfg, api_id) != 0)
            goto oom;
        set_dead_metric(a, 0);
    }
    return a;

oom:
    ds_auth_free(a);
    return ds_err_set(err, "out_of_memory", "auth"), NULL;
}

/* Frees a, wiping every secret it held; accepts NULL. */
void ds_auth_free(ds_auth *a)
{
    if (a == NULL)
        return;
    wipe_free(a->line);
    wipe_free(a->access);
    wipe_free(a->refreshed);
    wipe_free(a->client_secret);
    wipe_free(a->seed_refresh);
    grant_clear(&a->unsaved);
    free(a->token_url);
    free(a->client_id);
    free(a->scope);
    free(a->key);
    free(a->api);
    ds_http_free(a->http);
    free(a);
}

const char *ds_auth_identity(const ds_auth *a)
{
    return a->identity;
}

/* ------------------------------------------------------------------ */
/* The shared store in Redis                                           */

static char *reply_str(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
}

static long long reply_ll(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

/* Reads the token hash and the dead mark into st. Returns 0 or -1. */
static int store_read(ds_auth *a, stored *st, ds_err *err)
{
    char dead[200];
    const char *argv[] = {"EVAL", READ_STORE, "2", a->key, dead};
    redisReply *r;

    memset(st, 0, sizeof(*st));
    snprintf(dead, sizeof(dead), "%s:dead", a->key);
    r = ds_redis_argv(a->redis, err, 5, argv, NULL);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
        freeReplyObject(r);
        return ds_err_set(err, "redis_error", "%s: token read: unexpected "
                          "reply", a->api);
    }
    st->access = reply_str(r->element[0]);
    st->expires_ms = reply_ll(r->element[1]);
    st->ttl_ms = reply_ll(r->element[2]);
    st->refresh = reply_str(r->element[3]);
    st->gen = reply_ll(r->element[4]);
    st->dead = reply_str(r->element[5]);
    freeReplyObject(r);
    return 0;
}

/* The margin for a token of that lifetime: never more than half of it,
 * or a short-lived token would be refreshed on every request. */
static long long margin_for(const ds_auth *a, long long ttl_ms)
{
    if (ttl_ms > 0 && a->margin_ms > ttl_ms / 2)
        return ttl_ms / 2;
    return a->margin_ms;
}

/* A stored token this handle may use: not due for refresh, and not the
 * one the API just refused (stale). */
static int usable(const ds_auth *a, const stored *st, const char *stale)
{
    if (st->access == NULL || st->access[0] == '\0')
        return 0;
    if (ds_time_wall_ms() + margin_for(a, st->ttl_ms) >= st->expires_ms)
        return 0;
    return stale == NULL || strcmp(st->access, stale) != 0;
}

/* Makes access the token this handle sends. Returns 0 or -1. */
static int adopt(ds_auth *a, const char *access, long long expires_ms,
                 long long ttl_ms, ds_err *err)
{
    size_t len = sizeof(BEARER) + strlen(access);
    char *line = malloc(len);

    if (line == NULL || set_str(&a->access, access) != 0) {
        free(line);
        return ds_err_set(err, "out_of_memory", "auth");
    }
    snprintf(line, len, "%s%s", BEARER, access);
    wipe_free(a->line);
    a->line = line;
    a->expires_ms = expires_ms;
    a->ttl_ms = ttl_ms;
    if (a->dead) {
        a->dead = 0;
        set_dead_metric(a, 0);
        ds_log_msg(DS_LOG_INFO, "%s: the credential is accepted again",
                   a->api);
    }
    return 0;
}

/* Offers the configured refresh token to Redis; Redis keeps the one
 * rotated since, so a seed is written only where none is stored. */
static int seed_refresh(ds_auth *a, ds_err *err)
{
    redisReply *r;

    if (a->seeded || a->kind != DS_AUTH_OAUTH2_REFRESH ||
        a->seed_refresh == NULL || a->seed_refresh[0] == '\0')
        return 0;
    r = ds_redis_cmd(a->redis, err, "HSETNX %s refresh %s", a->key,
                     a->seed_refresh);
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    a->seeded = 1;
    return 0;
}

/* Nonzero, with err set, when a write got no reply or an error reply (a
 * Redis out of memory refuses writes); frees the reply. */
static int reply_failed(const ds_auth *a, redisReply *r, const char *cmd,
                        ds_err *err)
{
    int failed;

    if (r == NULL)
        return 1;
    failed = r->type == REDIS_REPLY_ERROR;
    if (failed)
        ds_err_set(err, "redis_error", "%s: token %s: %.80s", a->api, cmd,
                   r->str);
    freeReplyObject(r);
    return failed;
}

/* Stores what the endpoint granted, for every process, and lifts a dead
 * mark: the credential works. Returns 0 or -1. */
static int store_write(ds_auth *a, const grant *g, long long gen,
                       ds_err *err)
{
    char exp[24], ttl[24], gens[24];
    const char *argv[] = {"HSET", a->key, "access", g->access, "expires_ms",
                          exp, "ttl_ms", ttl, "gen", gens, "refresh",
                          g->refresh};
    redisReply *r;

    snprintf(exp, sizeof(exp), "%lld", g->expires_ms);
    snprintf(ttl, sizeof(ttl), "%lld", g->ttl_ms);
    snprintf(gens, sizeof(gens), "%lld", gen);
    /* gen is written, not incremented, so that a resent HSET is
     * harmless (ds_redis.h). */
    r = ds_redis_argv(a->redis, err, g->refresh != NULL ? 12 : 10, argv,
                      NULL);
    if (reply_failed(a, r, "HSET", err))
        return -1;
    r = ds_redis_cmd(a->redis, err, "DEL %s:dead", a->key);
    return reply_failed(a, r, "DEL", err) ? -1 : 0;
}

/* Takes the refresh lock when it is free. Returns 0 with *got set, or -1. */
static int lock_take(ds_auth *a, int *got, ds_err *err)
{
    redisReply *r = ds_redis_cmd(a->redis, err, "SET %s:lock %s NX PX %ld",
                                 a->key, a->owner, a->lock_ms);

    if (r == NULL)
        return -1;
    *got = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return 0;
}

/* Releases the lock if it is still ours; a failure only leaves it to
 * expire. */
static void lock_release(ds_auth *a)
{
    char lock[200];
    const char *argv[] = {"EVAL", UNLOCK, "1", lock, a->owner};
    redisReply *r;
    ds_err err;

    ds_err_clear(&err);
    snprintf(lock, sizeof(lock), "%s:lock", a->key);
    r = ds_redis_argv(a->redis, &err, 5, argv, NULL);
    if (r != NULL)
        freeReplyObject(r);
}

/* ------------------------------------------------------------------ */
/* The token endpoint                                                  */

/* Appends name=value, form-encoded, to the buffer at *out (cap bytes). */
static void form_add(char *out, size_t cap, const char *name,
                     const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);
    const unsigned char *p;

    n += (size_t)snprintf(out + n, cap - n, "%s%s=", n ? "&" : "", name);
    for (p = (const unsigned char *)value; *p != '\0' && n + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
            out[n++] = (char)*p;
        } else if (*p == ' ') {
            out[n++] = '+';
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}

/* The form of one grant request; the caller wipes and frees it. */
static char *grant_form(const ds_auth *a, const char *refresh)
{
    size_t cap = 64 + 3 * (strlen(a->client_id) +
                           (a->client_secret ? strlen(a->client_secret) : 0) +
                           (a->scope ? strlen(a->scope) : 0) +
                           (refresh ? strlen(refresh) : 0)) + 96;
    char *form = calloc(1, cap);

    if (form == NULL)
        return NULL;
    form_add(form, cap, "grant_type",
             refresh != NULL ? "refresh_token" : "client_credentials");
    if (refresh != NULL)
        form_add(form, cap, "refresh_token", refresh);
    if (a->scope != NULL && a->scope[0] != '\0')
        form_add(form, cap, "scope", a->scope);
    if (a->client_in_body) {
        form_add(form, cap, "client_id", a->client_id);
        if (a->client_secret != NULL)
            form_add(form, cap, "client_secret", a->client_secret);
    }
    return form;
}

/* "Authorization: Basic base64(id:secret)"; the caller wipes and frees. */
static char *basic_header(const ds_auth *a)
{
    static const char pre[] = "Authorization: Basic ";
    size_t plain_len = strlen(a->client_id) + 1 +
                       (a->client_secret ? strlen(a->client_secret) : 0);
    char *plain = malloc(plain_len + 1);
    char *line = malloc(sizeof(pre) + ds_base64_len(plain_len) + 1);
    ds_b64 enc;
    size_t n;

    if (plain == NULL || line == NULL) {
        free(plain);
        free(line);
        return NULL;
    }
    snprintf(plain, plain_len + 1, "%s:%s", a->client_id,
             a->client_secret ? a->client_secret : "");
    memcpy(line, pre, sizeof(pre) - 1);
    n = sizeof(pre) - 1;
    ds_b64_init(&enc);
    n += ds_b64_update(&enc, plain, plain_len, line + n);
    n += ds_b64_final(&enc, line + n);
    line[n] = '\0';
    wipe_free(plain);
    return line;
}

/* Reads a 2xx answer into g. Returns 0, or -1 with token_endpoint. */
static int parse_grant(const ds_auth *a, const ds_http_resp *resp,
                       long long asked_at, grant *g, ds_err *err)
{
    json_t *j = json_loadb(resp->body ? resp->body : "", resp->body_len, 0,
                           NULL);
    const char *access = json_string_value(json_object_get(j, "access_token"));
    const char *refresh = json_string_value(json_object_get(j,
                                                            "refresh_token"));
    json_t *exp = json_object_get(j, "expires_in");
    long long ttl_s = json_is_integer(exp) ? json_integer_value(exp)
                      : json_is_real(exp) ? (long long)json_real_value(exp)
                      : DEFAULT_TTL_S;

    memset(g, 0, sizeof(*g));
    if (access == NULL || access[0] == '\0' || ttl_s <= 0) {
        json_decref(j);
        return ds_err_set(err, "token_endpoint", "%s: the token endpoint "
                          "answered without a usable access_token", a->api);
    }
    g->access = strdup(access);
    g->refresh = refresh != NULL && refresh[0] ? strdup(refresh) : NULL;
    /* Counted from before the request: the token expires no later. */
    g->ttl_ms = ttl_s * 1000;
    g->expires_ms = asked_at + g->ttl_ms;
    json_decref(j);
    if (g->access == NULL || (refresh != NULL && refresh[0] &&
                              g->refresh == NULL)) {
        grant_clear(g);
        return ds_err_set(err, "out_of_memory", "auth");
    }
    return 0;
}

/* Turns a failed call to the endpoint into GRANT_INVALID (invalid_grant
 * on a refresh), credential_refused (any other refusal) or token_endpoint
 * (the endpoint is failing). */
static int grant_failed(const ds_auth *a, const ds_http_resp *resp,
                        const ds_err *http_err, int refreshing, ds_err *err)
{
    int st = resp->status;
    json_t *j;
    char code[48] = "";

    if (st == 0 || st >= 500 || st == 429 || st == 408)
        return ds_err_set(err, "token_endpoint", "%s: %s", a->api,
                          http_err->msg);
    j = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, NULL);
    if (json_string_value(json_object_get(j, "error")) != NULL)
        snprintf(code, sizeof(code), "%s",
                 json_string_value(json_object_get(j, "error")));
    json_decref(j);
    if (refreshing && strcmp(code, "invalid_grant") == 0)
        return GRANT_INVALID;
    return ds_err_set(err, "credential_refused", "%s: the token endpoint "
                      "refused the credential: HTTP %d %s", a->api, st,
                      code[0] ? code : "");
}

/* Asks the endpoint for a token: a refresh grant with refresh, else a
 * client credentials grant. Returns GRANT_OK with g filled, GRANT_INVALID,
 * or -1 with err set. */
static int request_grant(ds_auth *a, const char *refresh, grant *g,
                         ds_err *err)
{
    const char *headers[4] = {"Content-Type: application/x-www-form-"
                              "urlencoded", "Accept: application/json"};
    char *form = grant_form(a, refresh);
    char *basic = a->client_in_body ? NULL : basic_header(a);
    ds_http_req req = {.method = "POST", .url = a->token_url,
                       .headers = headers, .max_body = MAX_TOKEN_BODY,
                       .connect_timeout_ms = a->connect_ms,
                       .timeout_ms = a->timeout_ms};
    ds_http_resp resp;
    long long asked_at = ds_time_wall_ms();
    ds_err herr;
    int rc;

    if (form == NULL || (!a->client_in_body && basic == NULL)) {
        wipe_free(form);
        wipe_free(basic);
        return ds_err_set(err, "out_of_memory", "auth");
    }
    headers[2] = basic;
    req.body = form;
    req.body_len = strlen(form);
    ds_err_clear(&herr);
    rc = ds_http_do(a->http, &req, &resp, &herr);
    if (rc == 0)
        rc = parse_grant(a, &resp, asked_at, g, err);
    else
        rc = grant_failed(a, &resp, &herr, refresh != NULL, err);
    ds_http_resp_clear(&resp);
    wipe_free(form);
    wipe_free(basic);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Refreshing, under the lock                                          */

/* Reports a dead credential: sets the mark when asked to, and writes the
 * one log line and the metric the first time this handle sees it. */
static int credential_dead(ds_auth *a, const char *why, int set_mark,
                           ds_err *err)
{
    redisReply *r;
    ds_err ignore;

    ds_err_clear(&ignore);
    if (set_mark) {
        r = ds_redis_cmd(a->redis, &ignore, "SET %s:dead %s", a->key, why);
        if (r != NULL)
            freeReplyObject(r);
    }
    if (!a->dead) {
        a->dead = 1;
        set_dead_metric(a, 1);
        ds_log_msg(DS_LOG_ERROR, "%s: the credential is dead (%s); the "
                   "stage holds until a new refresh token is stored with "
                   "docsyncctl token set %s --refresh-token-file FILE",
                   a->api, why, a->api);
    }
    return ds_err_set(err, "credential_refused", "%s: the credential is "
                      "dead (%s); see docsyncctl token show %s", a->api, why,
                      a->api);
}

/*
 * Stores and adopts a fresh grant. When Redis fails to store it, the
 * grant is still used here and kept, to be stored as soon as Redis
 * answers (store_unsaved): the endpoint has consumed the old refresh
 * token, so losing the new one would kill the credential.
 */
static int take_grant(ds_auth *a, grant *g, long long gen, ds_err *err)
{
    ds_err serr;
    int rc;

    ds_err_clear(&serr);
    if (store_write(a, g, gen + 1, &serr) != 0) {
        ds_log_msg(DS_LOG_WARN, "%s: a new token could not be stored in "
                   "Redis (%s); it is kept to be stored later", a->api,
                   serr.reason);
        grant_clear(&a->unsaved);
        a->unsaved = *g;
        a->unsaved_gen = gen + 1;
        memset(g, 0, sizeof(*g));
        g = &a->unsaved;
    }
    rc = adopt(a, g->access, g->expires_ms, g->ttl_ms, err);
    if (rc == 0 && a->rejecting && set_str(&a->refreshed, g->access) == 0)
        a->refreshed_at = ds_time_mono_ms();
    if (g != &a->unsaved)
        grant_clear(g);
    return rc;
}

/* Stores a grant that Redis refused earlier, before anything else is
 * read: its refresh token is the only one the endpoint still takes. */
static int store_unsaved(ds_auth *a, ds_err *err)
{
    if (a->unsaved.access == NULL)
        return 0;
    if (store_write(a, &a->unsaved, a->unsaved_gen, err) != 0)
        return -1;
    grant_clear(&a->unsaved);
    return 0;
}

/*
 * Runs a grant with the lock held. A refresh token refused with
 * invalid_grant is looked up again first: when another process rotated it
 * meanwhile, its tokens are used (or its new refresh token, once). Only a
 * refresh token that is still the stored one is dead.
 */
static int refresh_locked(ds_auth *a, stored *st, ds_err *err)
{
    char *used = NULL;
    grant g;
    int rc, round;

    for (round = 0; round < 2; round++) {
        if (a->kind == DS_AUTH_OAUTH2_REFRESH && st->refresh == NULL)
            return credential_dead(a, "no refresh token stored", 1, err);
        rc = request_grant(a, a->kind == DS_AUTH_OAUTH2_REFRESH ? st->refresh
                           : NULL, &g, err);
        if (rc == GRANT_OK)
            return take_grant(a, &g, st->gen, err);
        if (rc != GRANT_INVALID)
            return -1;

        wipe_free(used);
        used = st->refresh;
        st->refresh = NULL;
        stored_clear(st);
        if (store_read(a, st, err) != 0) {
            wipe_free(used);
            return -1;
        }
        if (st->refresh == NULL || strcmp(st->refresh, used) == 0) {
            wipe_free(used);
            return credential_dead(a, "invalid_grant", 1, err);
        }
        if (usable(a, st, NULL)) {
            wipe_free(used);
            return adopt(a, st->access, st->expires_ms, st->ttl_ms, err);
        }
    }
    /* Rotated by others under our feet twice: not dead, just contended. */
    wipe_free(used);
    return ds_err_set(err, "credential_refused", "%s: the refresh token "
                      "kept changing during the refresh; tried again later",
                      a->api);
}

/* With the lock: looks once more (a refresh may have ended between our
 * read and the lock), then refreshes. */
static int refresh_with_lock(ds_auth *a, const char *stale, ds_err *err)
{
    stored st;
    int rc;

    if (store_read(a, &st, err) != 0)
        return -1;
    if (st.dead != NULL)
        rc = credential_dead(a, st.dead, 0, err);
    else if (usable(a, &st, stale))
        rc = adopt(a, st.access, st.expires_ms, st.ttl_ms, err);
    else
        rc = refresh_locked(a, &st, err);
    stored_clear(&st);
    return rc;
}

/*
 * Gets a token that is not stale: the stored one when it is good, else a
 * new one, fetched by this process under the lock or by another while
 * this one waits (polling Redis every WAIT_STEP_MS, up to lock_ms).
 */
static int obtain(ds_auth *a, const char *stale, ds_err *err)
{
    long long deadline = ds_time_mono_ms() + a->lock_ms + WAIT_STEP_MS;
    stored st;
    int got = 0, rc;

    if (store_unsaved(a, err) != 0 || seed_refresh(a, err) != 0)
        return -1;
    for (;;) {
        if (store_read(a, &st, err) != 0)
            return -1;
        if (st.dead != NULL)
            rc = credential_dead(a, st.dead, 0, err);
        else if (usable(a, &st, stale))
            rc = adopt(a, st.access, st.expires_ms, st.ttl_ms, err);
        else if ((rc = lock_take(a, &got, err)) == 0 && got) {
            rc = refresh_with_lock(a, stale, err);
            lock_release(a);
        } else if (rc == 0 && ds_time_mono_ms() > deadline) {
            rc = ds_err_set(err, "token_endpoint", "%s: no new token after "
                            "%ld ms waiting for another process's refresh",
                            a->api, a->lock_ms);
        } else if (rc == 0) {
            stored_clear(&st);
            ds_time_sleep_ms(WAIT_STEP_MS);
            continue;
        }
        stored_clear(&st);
        return rc;
    }
}

/* ------------------------------------------------------------------ */
/* The calls of ds_auth.h                                              */

/* The line to send; see ds_auth.h. The in-process copy is used while it
 * is not due for refresh, so that a request costs no Redis read. */
int ds_auth_header(ds_auth *a, const char **line, ds_err *err)
{
    *line = NULL;
    if (a->kind < DS_AUTH_OAUTH2_CLIENT) {
        *line = a->line;
        return 0;
    }
    if (a->access == NULL ||
        ds_time_wall_ms() + margin_for(a, a->ttl_ms) >= a->expires_ms) {
        if (obtain(a, NULL, err) != 0)
            return -1;
    }
    *line = a->line;
    return 0;
}

/* After a 401; see ds_auth.h. */
int ds_auth_rejected(ds_auth *a, const char *line,
                     const char *www_authenticate, ds_err *err)
{
    const char *used = line;
    int rc;

    (void)www_authenticate;
    if (a->kind < DS_AUTH_OAUTH2_CLIENT) {
        ds_err_set(err, "credential_refused", "%s: the API refused the "
                   "configured key (401)", a->api);
        return 0;
    }
    if (used != NULL && strncmp(used, BEARER, sizeof(BEARER) - 1) == 0)
        used += sizeof(BEARER) - 1;
    /* A token the endpoint has just granted is refused: the API does not
     * take this credential, and refreshing again would only spin. */
    if (used != NULL && a->refreshed != NULL &&
        strcmp(used, a->refreshed) == 0 &&
        ds_time_mono_ms() - a->refreshed_at < REFUSE_WINDOW_MS) {
        ds_err_set(err, "credential_refused", "%s: the API refused a token "
                   "fresh from the token endpoint (401)", a->api);
        return 0;
    }
    /* Forget the local copy: it is refused, whatever its expiry says. */
    wipe_free(a->access);
    a->access = NULL;
    a->rejecting = 1;
    rc = obtain(a, used, err);
    a->rejecting = 0;
    return rc != 0 ? -1 : 1;
}
