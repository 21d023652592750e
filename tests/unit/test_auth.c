/*
 * test_auth.c - ds_auth against a real Redis and a token endpoint inside
 * this test (libmicrohttpd): refresh tokens rotate on every use, a reused
 * one is refused with invalid_grant, and every grant is counted, so that a
 * test can say how many times docsync went to the endpoint. Several
 * ds_auth handles, each on its own ds_redis (and its own thread where it
 * matters), stand for the processes that share one credential.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include <microhttpd.h>

#include "fixture.h"
#include "ds_auth.h"
#include "ds_log.h"
#include "ds_metrics.h"

#define CLIENT_ID "docsync-tx"
#define CLIENT_SECRET "tx-secret"
#define SEED "rt-seed"
#define KEY "docsync:token:destination"

/* ------------------------------------------------------------------ */
/* The token endpoint                                                  */

typedef struct endpoint {
    pthread_mutex_t lock;
    int ttl_s;              /* expires_in of the tokens it grants */
    int fail_status;        /* answer every grant with this, 0: serve */
    int no_access_token;    /* answer 200 without an access_token */
    long delay_ms;          /* before answering a grant */
    int steal_next;         /* see steal() */
    int fill_redis;         /* make Redis refuse writes during a grant */
    int requests;           /* grant requests of any outcome */
    int grants;             /* tokens issued */
    int reused;             /* consumed refresh tokens presented again */
    int invalid;            /* invalid_grant answers */
    char valid_rt[64];      /* the one refresh token that works, "" none */
    char consumed[32][64];
    int nconsumed;
    char last_client_auth[8];   /* "basic" or "body" */
    int n;                  /* serial of the tokens */
} endpoint;

static endpoint ep = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct MHD_Daemon *daemon_;
static char token_url[96];
static int redis_port;      /* for steal() */

typedef struct body {
    char buf[4096];
    size_t len;
} body;

/* The value of name in an application/x-www-form-urlencoded body. */
static int form_get(const char *form, const char *name, char *out,
                    size_t cap)
{
    size_t nlen = strlen(name), n = 0;
    const char *p = form;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            for (p += nlen + 1; *p != '\0' && *p != '&' && n + 1 < cap; p++) {
                unsigned int ch;

                if (*p == '%' && sscanf(p + 1, "%2x", &ch) == 1) {
                    out[n++] = (char)ch;
                    p += 2;
                } else {
                    out[n++] = *p == '+' ? ' ' : *p;
                }
            }
            out[n] = '\0';
            return 1;
        }
        p = strchr(p, '&');
        if (p != NULL)
            p++;
    }
    out[0] = '\0';
    return 0;
}

/* Which way the client authenticated, or NULL when it did not. */
static const char *client_auth(struct MHD_Connection *conn, const char *form)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                "Authorization");
    char id[64], secret[64];
    unsigned char plain[256];
    long n;

    if (h != NULL && strncmp(h, "Basic ", 6) == 0) {
        n = ds_b64_decode(h + 6, strlen(h + 6), plain);
        if (n > 0 && (size_t)n < sizeof(plain)) {
            plain[n] = '\0';
            if (strcmp((char *)plain, CLIENT_ID ":" CLIENT_SECRET) == 0)
                return "basic";
        }
        return NULL;
    }
    if (form_get(form, "client_id", id, sizeof(id)) &&
        form_get(form, "client_secret", secret, sizeof(secret)) &&
        strcmp(id, CLIENT_ID) == 0 && strcmp(secret, CLIENT_SECRET) == 0)
        return "body";
    return NULL;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status,
                              const char *json)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    MHD_add_response_header(resp, "Content-Type", "application/json");
    rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Issues a new access token and, for a refresh grant, a new refresh
 * token that replaces the presented one. Called with ep.lock held. */
static void issue(int refresh, char *access, char *rt, size_t cap)
{
    ep.n++;
    ep.grants++;
    snprintf(access, cap, "at-%d", ep.n);
    rt[0] = '\0';
    if (refresh) {
        if (ep.nconsumed < 32)
            snprintf(ep.consumed[ep.nconsumed++], 64, "%s", ep.valid_rt);
        snprintf(rt, cap, "rt-%d", ep.n);
        snprintf(ep.valid_rt, sizeof(ep.valid_rt), "%s", rt);
    }
}

/* Another process wins the presented refresh token just before this
 * request: it is granted tokens and stores them in Redis, and this request
 * finds its refresh token consumed. Called with ep.lock held. */
static void steal(void)
{
    char access[64], rt[64];
    redisContext *c = redisConnect("127.0.0.1", redis_port);
    redisReply *r;

    issue(1, access, rt, sizeof(access));
    r = redisCommand(c, "HSET " KEY " access %s refresh %s ttl_ms 30000 "
                     "expires_ms %lld gen 7", access, rt,
                     (long long)time(NULL) * 1000 + 30000);
    freeReplyObject(r);
    redisFree(c);
}

/* CONFIG SET name value on the test's Redis. */
static void redis_config(const char *name, const char *value)
{
    redisContext *c = redisConnect("127.0.0.1", redis_port);

    freeReplyObject(redisCommand(c, "CONFIG SET %s %s", name, value));
    redisFree(c);
}

/* POST /oauth/token. */
static enum MHD_Result token(struct MHD_Connection *conn, const char *form)
{
    char grant_type[32], rt[64], access[64], json[256];
    const char *how;

    if (ep.delay_ms > 0)
        fx_sleep_ms(ep.delay_ms);
    pthread_mutex_lock(&ep.lock);
    ep.requests++;
    how = client_auth(conn, form);
    if (how == NULL) {
        pthread_mutex_unlock(&ep.lock);
        return answer(conn, 401, "{\"error\":\"invalid_client\"}");
    }
    snprintf(ep.last_client_auth, sizeof(ep.last_client_auth), "%s", how);
    if (ep.fail_status != 0) {
        pthread_mutex_unlock(&ep.lock);
        return answer(conn, (unsigned)ep.fail_status, "{\"error\":\"down\"}");
    }
    form_get(form, "grant_type", grant_type, sizeof(grant_type));
    if (strcmp(grant_type, "refresh_token") == 0) {
        form_get(form, "refresh_token", rt, sizeof(rt));
        if (ep.steal_next) {
            ep.steal_next = 0;
            steal();
        }
        if (ep.valid_rt[0] == '\0' || strcmp(rt, ep.valid_rt) != 0) {
            int i;

            for (i = 0; i < ep.nconsumed; i++)
                ep.reused += strcmp(ep.consumed[i], rt) == 0;
            ep.invalid++;
            pthread_mutex_unlock(&ep.lock);
            return answer(conn, 400, "{\"error\":\"invalid_grant\"}");
        }
    } else if (strcmp(grant_type, "client_credentials") != 0) {
        pthread_mutex_unlock(&ep.lock);
        return answer(conn, 400, "{\"error\":\"unsupported_grant_type\"}");
    }
    issue(strcmp(grant_type, "refresh_token") == 0, access, rt, sizeof(rt));
    if (ep.fill_redis) {
        ep.fill_redis = 0;
        redis_config("maxmemory", "1");
    }
    if (ep.no_access_token)
        snprintf(json, sizeof(json), "{\"token_type\":\"Bearer\"}");
    else
        snprintf(json, sizeof(json), "{\"access_token\":\"%s\",\"token_type\""
                 ":\"Bearer\",\"expires_in\":%d%s%s%s}", access, ep.ttl_s,
                 rt[0] ? ",\"refresh_token\":\"" : "", rt, rt[0] ? "\"" : "");
    pthread_mutex_unlock(&ep.lock);
    return answer(conn, 200, json);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    body *b = *con_cls;

    (void)cls;
    (void)version;
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        *con_cls = b;
        return b != NULL ? MHD_YES : MHD_NO;
    }
    if (*data_size > 0) {
        size_t n = *data_size;

        if (n > sizeof(b->buf) - 1 - b->len)
            n = sizeof(b->buf) - 1 - b->len;
        memcpy(b->buf + b->len, data, n);
        b->len += n;
        b->buf[b->len] = '\0';
        *data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") == 0 && strcmp(url, "/oauth/token") == 0)
        return token(conn, b->buf);
    return answer(conn, 404, "{\"error\":\"not_found\"}");
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static int endpoint_start(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    const union MHD_DaemonInfo *info;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
        NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (daemon_ == NULL)
        return -1;
    info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL)
        return -1;
    snprintf(token_url, sizeof(token_url),
             "http://127.0.0.1:%d/oauth/token", info->port);
    return 0;
}

/* Resets the endpoint: seed refresh token valid, tokens live 30 s. */
static void endpoint_reset(void)
{
    pthread_mutex_lock(&ep.lock);
    ep.ttl_s = 30;
    ep.fail_status = 0;
    ep.no_access_token = 0;
    ep.delay_ms = 0;
    ep.steal_next = 0;
    ep.fill_redis = 0;
    ep.requests = ep.grants = ep.reused = ep.invalid = 0;
    ep.nconsumed = 0;
    ep.n = 0;
    ep.last_client_auth[0] = '\0';
    snprintf(ep.valid_rt, sizeof(ep.valid_rt), SEED);
    pthread_mutex_unlock(&ep.lock);
}

static int ep_get(const int *field)
{
    int v;

    pthread_mutex_lock(&ep.lock);
    v = *field;
    pthread_mutex_unlock(&ep.lock);
    return v;
}

/* ------------------------------------------------------------------ */
/* The processes                                                       */

#define NPROC 4

typedef struct rig {
    fx f;
    ds_redis *redis[NPROC];
    ds_auth *auth[NPROC];
    char log_path[128];
} rig;

static int setup(void **state)
{
    rig *g = calloc(1, sizeof(*g));
    int i;

    if (g == NULL || fx_start(&g->f, FX_REDIS) < 0)
        return -1;
    for (i = 0; i < NPROC; i++)
        g->redis[i] = ds_redis_new("127.0.0.1", g->f.redis_port, 2000);
    redis_port = g->f.redis_port;
    endpoint_reset();
    ds_metrics_reset();
    snprintf(g->log_path, sizeof(g->log_path), "%s/log", g->f.dir);
    ds_log_set_stream(fopen(g->log_path, "w"));
    ds_log_init("test", DS_LOG_INFO);
    *state = g;
    return 0;
}

static int teardown(void **state)
{
    rig *g = *state;
    int i;

    for (i = 0; i < NPROC; i++) {
        ds_auth_free(g->auth[i]);
        ds_redis_free(g->redis[i]);
    }
    fx_stop(&g->f);
    free(g);
    return 0;
}

/* Handle i for the destination, of kind, with the endpoint's client. */
static ds_auth *proc(rig *g, int i, ds_auth_kind kind, long margin_ms)
{
    ds_auth_cfg cfg = {.kind = kind, .token_url = token_url,
                       .client_id = CLIENT_ID, .client_secret = CLIENT_SECRET,
                       .refresh_token = SEED, .margin_ms = margin_ms,
                       .lock_ms = 3000};
    ds_err err;

    ds_err_clear(&err);
    g->auth[i] = ds_auth_new(&cfg, "destination", g->redis[i], 2000, 5000,
                             &err);
    if (g->auth[i] == NULL)
        print_message("ds_auth_new: %s: %s\n", err.reason, err.msg);
    assert_non_null(g->auth[i]);
    return g->auth[i];
}

/* The line handle a sends now; asserts that it got one. */
static const char *line_of(ds_auth *a)
{
    const char *line = NULL;
    ds_err err;

    ds_err_clear(&err);
    if (ds_auth_header(a, &line, &err) != 0)
        print_message("header: %s: %s\n", err.reason, err.msg);
    assert_non_null(line);
    return line;
}

static void assert_line(ds_auth *a, const char *want)
{
    assert_string_equal(line_of(a), want);
}

static char *redis_str(rig *g, const char *fmt, const char *arg)
{
    redisReply *r = fx_redis_cmd(&g->f, fmt, arg);
    char *s = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;

    freeReplyObject(r);
    return s;
}

/* Lines of the log holding needle. */
static int log_lines_with(rig *g, const char *needle)
{
    char line[4096];
    FILE *fp = fopen(g->log_path, "r");
    int n = 0;

    fflush(NULL);
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
        n += strstr(line, needle) != NULL;
    if (fp != NULL)
        fclose(fp);
    return n;
}

static int dead_metric_is(double v)
{
    char *text = ds_metrics_render();
    char want[96];
    int found;

    snprintf(want, sizeof(want),
             "docsync_credential_dead{api=\"destination\"} %g\n", v);
    found = text != NULL && strstr(text, want) != NULL;
    free(text);
    return found;
}

/* ------------------------------------------------------------------ */
/* Static credentials                                                  */

static void a_static_key_is_sent_as_configured_and_never_retried(void **st)
{
    ds_auth_cfg cfg = {.kind = DS_AUTH_API_KEY, .header = "X-Key",
                       .secret = "k-123"};
    ds_auth *a;
    ds_err err;

    (void)st;
    ds_err_clear(&err);
    a = ds_auth_new(&cfg, "source", NULL, 0, 0, &err);
    assert_non_null(a);
    assert_line(a, "X-Key: k-123");
    assert_int_equal(strlen(ds_auth_identity(a)), 16);
    assert_null(strstr(ds_auth_identity(a), "k-123"));
    assert_int_equal(ds_auth_rejected(a, "X-Key: k-123", NULL, &err), 0);
    assert_string_equal(err.reason, "credential_refused");
    assert_null(strstr(err.msg, "k-123"));
    ds_auth_free(a);

    cfg.kind = DS_AUTH_BEARER;
    a = ds_auth_new(&cfg, "source", NULL, 0, 0, &err);
    assert_line(a, "Authorization: Bearer k-123");
    ds_auth_free(a);
}

static void an_incomplete_oauth2_config_is_refused(void **st)
{
    ds_auth_cfg cfg = {.kind = DS_AUTH_OAUTH2_CLIENT, .token_url = token_url,
                       .client_id = CLIENT_ID};
    rig *g = *st;
    ds_err err;

    FX_REQUIRE(&g->f);
    ds_err_clear(&err);
    assert_null(ds_auth_new(&cfg, "source", g->redis[0], 0, 0, &err));
    assert_string_equal(err.reason, "bad_config");
    assert_non_null(strstr(err.msg, "clientSecret"));
}

/* ------------------------------------------------------------------ */
/* Client credentials                                                  */

static void client_credentials_are_fetched_once_and_shared(void **st)
{
    rig *g = *st;
    ds_auth *a, *b;
    char *gen;
    int i;

    FX_REQUIRE(&g->f);
    a = proc(g, 0, DS_AUTH_OAUTH2_CLIENT, 1000);
    b = proc(g, 1, DS_AUTH_OAUTH2_CLIENT, 1000);
    for (i = 0; i < 5; i++) {
        assert_line(a, "Authorization: Bearer at-1");
        assert_line(b, "Authorization: Bearer at-1");
    }
    assert_int_equal(ep_get(&ep.grants), 1);
    assert_string_equal(ep.last_client_auth, "basic");
    gen = redis_str(g, "HGET %s gen", KEY);
    assert_string_equal(gen ? gen : "(none)", "1");
    free(gen);
    assert_int_equal(fx_redis_int(&g->f, "EXISTS " KEY ":lock"), 0);
}

static void the_client_can_authenticate_in_the_body(void **st)
{
    ds_auth_cfg cfg = {.kind = DS_AUTH_OAUTH2_CLIENT, .token_url = token_url,
                       .client_id = CLIENT_ID, .client_secret = CLIENT_SECRET,
                       .client_in_body = 1};
    rig *g = *st;
    ds_err err;

    FX_REQUIRE(&g->f);
    ds_err_clear(&err);
    g->auth[0] = ds_auth_new(&cfg, "destination", g->redis[0], 0, 0, &err);
    assert_line(g->auth[0], "Authorization: Bearer at-1");
    assert_string_equal(ep.last_client_auth, "body");
}

static void a_token_is_refreshed_ahead_of_its_expiry(void **st)
{
    rig *g = *st;
    ds_auth *a, *b;

    FX_REQUIRE(&g->f);
    ep.ttl_s = 2;
    a = proc(g, 0, DS_AUTH_OAUTH2_CLIENT, 800);
    b = proc(g, 1, DS_AUTH_OAUTH2_CLIENT, 800);
    assert_line(a, "Authorization: Bearer at-1");
    fx_sleep_ms(300);
    assert_line(a, "Authorization: Bearer at-1");
    assert_int_equal(ep_get(&ep.grants), 1);
    /* 1.4 s into a 2 s token, past its 800 ms margin: a new one, while
     * the old one is still valid. */
    fx_sleep_ms(1100);
    assert_line(a, "Authorization: Bearer at-2");
    assert_line(b, "Authorization: Bearer at-2");
    assert_int_equal(ep_get(&ep.grants), 2);
}

static void token_endpoint_failures_are_transient_outages(void **st)
{
    rig *g = *st;
    const char *line = NULL;
    ds_auth *a;
    ds_err err;

    FX_REQUIRE(&g->f);
    a = proc(g, 0, DS_AUTH_OAUTH2_CLIENT, 1000);
    ep.fail_status = 503;
    ds_err_clear(&err);
    assert_int_equal(ds_auth_header(a, &line, &err), -1);
    print_message("503: %s\n", err.msg);
    assert_string_equal(err.reason, "token_endpoint");
    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    assert_null(strstr(err.msg, CLIENT_SECRET));
    /* The lock went with the failed attempt. */
    assert_int_equal(fx_redis_int(&g->f, "EXISTS " KEY ":lock"), 0);

    ep.fail_status = 0;
    ep.no_access_token = 1;
    ds_err_clear(&err);
    assert_int_equal(ds_auth_header(a, &line, &err), -1);
    assert_string_equal(err.reason, "token_endpoint");

    ep.no_access_token = 0;
    assert_line(a, "Authorization: Bearer at-2");
}

/* ------------------------------------------------------------------ */
/* 401s                                                                */

static void a_401_uses_another_process_token_or_refreshes_once(void **st)
{
    rig *g = *st;
    char used[64];
    ds_auth *a, *b;
    ds_err err;

    FX_REQUIRE(&g->f);
    a = proc(g, 0, DS_AUTH_OAUTH2_CLIENT, 1000);
    b = proc(g, 1, DS_AUTH_OAUTH2_CLIENT, 1000);
    snprintf(used, sizeof(used), "%s", line_of(a));
    assert_line(b, used);

    /* a's token is still the stored one: refreshed. */
    ds_err_clear(&err);
    assert_int_equal(ds_auth_rejected(a, used, "Bearer error=\"invalid_token"
                                      "\"", &err), 1);
    assert_int_equal(ep_get(&ep.grants), 2);
    assert_line(a, "Authorization: Bearer at-2");

    /* b used the same old token: a has replaced it, b takes a's. */
    assert_int_equal(ds_auth_rejected(b, used, NULL, &err), 1);
    assert_int_equal(ep_get(&ep.grants), 2);
    assert_line(b, "Authorization: Bearer at-2");

    /* The token a was just granted is refused too: the credential is. */
    assert_int_equal(ds_auth_rejected(a, "Authorization: Bearer at-2", NULL,
                                      &err), 0);
    assert_string_equal(err.reason, "credential_refused");
    assert_int_equal(ep_get(&ep.grants), 2);
}

/* ------------------------------------------------------------------ */
/* Refresh tokens                                                      */

typedef struct racer {
    ds_auth *a;
    pthread_barrier_t *go;
    char line[64];
    int rc;
} racer;

static void *race(void *ud)
{
    racer *r = ud;
    const char *line = NULL;
    ds_err err;

    ds_err_clear(&err);
    pthread_barrier_wait(r->go);
    r->rc = ds_auth_header(r->a, &line, &err);
    snprintf(r->line, sizeof(r->line), "%s", line ? line : err.reason);
    return NULL;
}

static void processes_at_expiry_together_make_one_grant(void **st)
{
    rig *g = *st;
    pthread_t t[NPROC];
    racer r[NPROC];
    pthread_barrier_t go;
    int i;

    FX_REQUIRE(&g->f);
    ep.ttl_s = 1;
    for (i = 0; i < NPROC; i++)
        assert_line(proc(g, i, DS_AUTH_OAUTH2_REFRESH, 0),
                     "Authorization: Bearer at-1");
    assert_int_equal(ep_get(&ep.grants), 1);

    fx_sleep_ms(1100);
    /* A slow endpoint widens the window in which the others must wait. */
    ep.delay_ms = 300;
    pthread_barrier_init(&go, NULL, NPROC);
    for (i = 0; i < NPROC; i++) {
        r[i] = (racer){.a = g->auth[i], .go = &go};
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (i = 0; i < NPROC; i++) {
        pthread_join(t[i], NULL);
        print_message("process %d: %s\n", i, r[i].line);
        assert_int_equal(r[i].rc, 0);
        assert_string_equal(r[i].line, "Authorization: Bearer at-2");
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(ep_get(&ep.grants), 2);
    assert_int_equal(ep_get(&ep.requests), 2);
    assert_int_equal(ep_get(&ep.reused), 0);
    {
        char *rt = redis_str(g, "HGET %s refresh", KEY);

        assert_string_equal(rt ? rt : "(none)", "rt-2");
        free(rt);
    }
}

static void the_seed_is_used_only_when_redis_has_no_refresh_token(void **st)
{
    rig *g = *st;

    FX_REQUIRE(&g->f);
    /* A rotated token is stored; the config's seed is long consumed. */
    snprintf(ep.valid_rt, sizeof(ep.valid_rt), "rt-rotated");
    freeReplyObject(fx_redis_cmd(&g->f, "HSET " KEY " refresh rt-rotated"));
    assert_line(proc(g, 0, DS_AUTH_OAUTH2_REFRESH, 0),
                "Authorization: Bearer at-1");
    assert_int_equal(ep_get(&ep.invalid), 0);
}

static void invalid_grant_after_another_rotation_is_recovered(void **st)
{
    rig *g = *st;
    ds_auth *a;

    FX_REQUIRE(&g->f);
    ep.ttl_s = 1;
    a = proc(g, 0, DS_AUTH_OAUTH2_REFRESH, 0);
    assert_line(a, "Authorization: Bearer at-1");
    fx_sleep_ms(1100);

    /* Another process rotates rt-1 just before a presents it. */
    ep.steal_next = 1;
    assert_line(a, "Authorization: Bearer at-2");
    /* One grant for the other process, none more for a. */
    assert_int_equal(ep_get(&ep.grants), 2);
    assert_int_equal(ep_get(&ep.requests), 2);
    assert_int_equal(ep_get(&ep.invalid), 1);
    assert_int_equal(fx_redis_int(&g->f, "EXISTS " KEY ":dead"), 0);
    assert_true(dead_metric_is(0));
}

/* Redis refuses to store a rotated refresh token (out of memory): the
 * token is kept in the process and stored when Redis takes writes again,
 * instead of being lost with the credential. */
static void a_grant_redis_could_not_store_is_stored_later(void **st)
{
    rig *g = *st;
    char *rt;
    ds_auth *a;

    FX_REQUIRE(&g->f);
    ep.ttl_s = 1;
    a = proc(g, 0, DS_AUTH_OAUTH2_REFRESH, 0);
    assert_line(a, "Authorization: Bearer at-1");
    fx_sleep_ms(1100);
    ep.fill_redis = 1;
    assert_line(a, "Authorization: Bearer at-2");
    rt = redis_str(g, "HGET %s refresh", KEY);
    assert_string_equal(rt ? rt : "(none)", "rt-1");
    free(rt);

    redis_config("maxmemory", "0");
    fx_sleep_ms(1100);
    assert_line(a, "Authorization: Bearer at-3");
    assert_int_equal(ep_get(&ep.invalid), 0);
    assert_int_equal(fx_redis_int(&g->f, "EXISTS " KEY ":dead"), 0);
    rt = redis_str(g, "HGET %s refresh", KEY);
    assert_string_equal(rt ? rt : "(none)", "rt-3");
    free(rt);
}

static void a_dead_credential_holds_until_a_new_token_is_stored(void **st)
{
    rig *g = *st;
    const char *line = NULL;
    int requests, i;
    ds_auth *a, *b;
    ds_err err;

    FX_REQUIRE(&g->f);
    ep.ttl_s = 1;
    a = proc(g, 0, DS_AUTH_OAUTH2_REFRESH, 0);
    b = proc(g, 1, DS_AUTH_OAUTH2_REFRESH, 0);
    assert_line(a, "Authorization: Bearer at-1");
    /* The vendor revokes the credential. */
    ep.valid_rt[0] = '\0';
    fx_sleep_ms(1100);

    for (i = 0; i < 3; i++) {
        ds_err_clear(&err);
        assert_int_equal(ds_auth_header(a, &line, &err), -1);
        assert_string_equal(err.reason, "credential_refused");
        assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    }
    ds_err_clear(&err);
    assert_int_equal(ds_auth_header(b, &line, &err), -1);
    assert_string_equal(err.reason, "credential_refused");
    /* One refusal at the endpoint; the mark stops the rest. */
    requests = ep_get(&ep.requests);
    assert_int_equal(requests, 2);
    assert_int_equal(fx_redis_int(&g->f, "EXISTS " KEY ":dead"), 1);
    assert_true(dead_metric_is(1));
    assert_int_equal(log_lines_with(g, "credential is dead"), 2);
    assert_int_equal(log_lines_with(g, "rt-"), 0);

    /* The operator's re-consent, as docsyncctl token set stores it. */
    snprintf(ep.valid_rt, sizeof(ep.valid_rt), "rt-operator");
    freeReplyObject(fx_redis_cmd(&g->f, "HSET " KEY " refresh rt-operator"));
    freeReplyObject(fx_redis_cmd(&g->f, "HDEL " KEY " access expires_ms"));
    freeReplyObject(fx_redis_cmd(&g->f, "DEL " KEY ":dead"));
    assert_line(a, "Authorization: Bearer at-2");
    assert_line(b, "Authorization: Bearer at-2");
    assert_true(dead_metric_is(0));
    assert_int_equal(log_lines_with(g, "accepted again"), 2);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_static_key_is_sent_as_configured_and_never_retried),
        T(an_incomplete_oauth2_config_is_refused),
        T(client_credentials_are_fetched_once_and_shared),
        T(the_client_can_authenticate_in_the_body),
        T(a_token_is_refreshed_ahead_of_its_expiry),
        T(token_endpoint_failures_are_transient_outages),
        T(a_401_uses_another_process_token_or_refreshes_once),
        T(processes_at_expiry_together_make_one_grant),
        T(the_seed_is_used_only_when_redis_has_no_refresh_token),
        T(invalid_grant_after_another_rotation_is_recovered),
        T(a_grant_redis_could_not_store_is_stored_later),
        T(a_dead_credential_holds_until_a_new_token_is_stored),
    };
#undef T

    fx_global_init();
    if (endpoint_start() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
