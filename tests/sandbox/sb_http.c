/* sb_http.c - the HTTP side of the sandbox; see sb_http.h. */
#include "sb_http.h"

#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netdb.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "ds_crypto.h"
#include "sb_call.h"
#include "sb_config.h"
#include "sb_inject.h"
#include "sb_limit.h"
#include "sb_log.h"
#include "sb_oauth.h"
#include "sb_route.h"
#include "sb_store.h"
#include "sb_time.h"

/* Admin bodies are small JSON; rawBody tests of ingest's 64 KiB limit fit. */
#define MEMORY_BODY_MAX (4u * 1024 * 1024)
/* Uploads carry base64 of documents up to 1 GiB (make bench-large), a
 * body a third larger than the file, or a multipart body of a 2 GiB file
 * with its fields: the hard cap, whatever tx.limits say. */
#define FILE_BODY_MAX ((2048ull + 1) * 1024 * 1024)
#define CONNECTION_TIMEOUT_S 120u
#define KEY_HEADER "X-API-Key"
#define IDEM_HEADER "Idempotency-Key"
#define IDEM_REPLAYED_HEADER "Idempotent-Replayed"
/* Clients use UUIDs or short digests; the bound only protects the buffer. */
#define IDEM_KEY_MAX 255
/* How long a stop waits for the requests in flight to send their answers
 * before every connection is shut; a stopped hang answers at once. */
#define DRAIN_MS 1000L

struct sb_http {
    struct MHD_Daemon *daemon;
    sb_ctx ctx;
    int port;
    atomic_long active;      /* requests between headers and completion */
};

/* One request from its headers to its completion. */
typedef struct sb_conn {
    const sb_route *route;
    char param[SB_ID_MAX + 1];
    char param2[SB_ID_MAX + 1];
    char method[16];
    char *path;              /* for the log line */
    struct timespec start;
    sb_reply early;          /* answer known before the body was read */
    char allow[64];          /* Allow header of a 405 */
    sb_headers headers;      /* rate-limit and WWW-Authenticate headers */
    int has_fault;
    sb_fault fault;
    sb_chaos_fault chaos;    /* drawn when no queued fault applies */
    sb_chaos_kind applied;   /* a chaos fault the handler applied */
    int in_flight;           /* counted by sb_chaos_enter */
    sb_body_kind sink;       /* SB_BODY_NONE once the body is discarded */
    char *buf;               /* memory sink, NUL-terminated */
    size_t len;
    size_t cap;
    int fd;                  /* file sink */
    char tmp[PATH_MAX];
    uint64_t received;
    int status;              /* the status queued, 0 while none */
    char idem_key[IDEM_KEY_MAX + 1]; /* "" without an Idempotency-Key */
    unsigned long idem_claim; /* held "in progress" while not 0 */
} sb_conn;

static long ms_since(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - start->tv_sec) * 1000 +
           (now.tv_nsec - start->tv_nsec) / 1000000;
}

static sb_conn *conn_new(const char *method, const char *url)
{
    sb_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->path = strdup(url);
    if (c->path == NULL) {
        free(c);
        return NULL;
    }
    snprintf(c->method, sizeof(c->method), "%s", method);
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    sb_reply_init(&c->early);
    c->fd = -1;
    return c;
}

/* Frees c, removing a spilled body that no handler moved away. */
static void conn_free(sb_conn *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    if (c->tmp[0] != '\0')
        unlink(c->tmp);
    sb_reply_clear(&c->early);
    sb_fault_clear(&c->fault);
    free(c->buf);
    free(c->path);
    free(c);
}

/* Sets the answer of a request that will not reach its handler; the rest
 * of its body is read and dropped. */
static void set_early(sb_conn *c, int status, const char *error,
                      const char *reason)
{
    if (c->early.status != 0)
        return; /* the first reason to refuse is the one reported */
    sb_reply_error(&c->early, status, error, reason);
    c->sink = SB_BODY_NONE;
}

/* The API a keyed route belongs to, for credentials and limits. */
static sb_api route_api(const sb_route *route)
{
    return route->key == SB_KEY_CRM ? SB_API_CRM : SB_API_TX;
}

/* Counts the request against its API's limit, when the configuration sets
 * one, and keeps the style's headers for the answer. A request over the
 * limit gets 429 and is not served. Returns 1 when it was refused. */
static int over_limit(const sb_ctx *ctx, sb_conn *c)
{
    sb_rate_rule rule;

    if (c->route->key == SB_KEY_NONE ||
        !sb_config_rate(ctx->config, route_api(c->route), &rule))
        return 0;
    if (!sb_limit_take(ctx->limit, route_api(c->route), &rule,
                       sb_time_now_ms(), &c->headers))
        return 0;
    set_early(c, 429, "rate_limited", NULL);
    return 1;
}

/* True when the request carries the key the route demands. */
static int key_ok(const sb_ctx *ctx, struct MHD_Connection *conn,
                  sb_key_kind kind)
{
    const char *want = kind == SB_KEY_CRM ? ctx->opt->crm_api_key
                                          : ctx->opt->dest_api_key;
    const char *got;

    if (kind == SB_KEY_NONE)
        return 1;
    got = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, KEY_HEADER);
    return got != NULL && strlen(got) == strlen(want) &&
           ds_ct_equal(got, want, strlen(want));
}

/* The OAuth2 mode's check: a live bearer token of the route's API. Sets
 * the 401 and returns 0 otherwise. */
static int token_ok(const sb_ctx *ctx, struct MHD_Connection *conn,
                    sb_conn *c)
{
    const char *auth = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *why = sb_oauth_check(ctx->oauth, route_api(c->route), auth,
                                     sb_time_now_ms());

    if (why == NULL)
        return 1;
    sb_headers_add(&c->headers, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                   "Bearer error=\"invalid_token\"");
    set_early(c, 401, "invalid_token", why);
    return 0;
}

/* The subscription-key header a route demands when the configuration
 * names its profile ("vendor-crm") or its API ("crm"). Sets the 401 and
 * returns 0 when it is missing or wrong. */
static int subscription_ok(const sb_ctx *ctx, struct MHD_Connection *conn,
                           sb_conn *c)
{
    char header[64], want[256];
    const char *got;

    if ((c->route->profile == NULL ||
         !sb_config_subscription(ctx->config, c->route->profile, header,
                                 want)) &&
        !sb_config_subscription(ctx->config,
                                sb_api_name(route_api(c->route)), header,
                                want))
        return 1;
    got = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, header);
    if (got != NULL && strlen(got) == strlen(want) &&
        ds_ct_equal(got, want, strlen(want)))
        return 1;
    set_early(c, 401, "unauthorized", "subscription_key");
    return 0;
}

/* The credentials of a keyed route: a bearer token in the OAuth2 mode, the
 * API key otherwise, then a subscription key when one is configured.
 * Sets the 401 and returns 0 when they fail. */
static int authorized(const sb_ctx *ctx, struct MHD_Connection *conn,
                      sb_conn *c)
{
    if (c->route->key == SB_KEY_NONE)
        return 1;
    if (sb_config_oauth2(ctx->config, route_api(c->route))) {
        if (!token_ok(ctx, conn, c))
            return 0;
    } else if (!key_ok(ctx, conn, c->route->key)) {
        set_early(c, 401, "unauthorized", NULL);
        return 0;
    }
    return subscription_ok(ctx, conn, c);
}

/* Copies the Idempotency-Key header value into key. The draft makes it a
 * structured-field string ("abc"); the bare form (abc) names the same key.
 * Returns -1 when it is empty, too long, or holds anything but printable
 * ASCII without quotes and backslashes. */
static int parse_idem_key(const char *value, char key[IDEM_KEY_MAX + 1])
{
    size_t n = strlen(value);

    if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
        value++;
        n -= 2;
    }
    if (n == 0 || n > IDEM_KEY_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (value[i] < 0x20 || value[i] > 0x7e || value[i] == '"' ||
            value[i] == '\\')
            return -1;
    memcpy(key, value, n);
    key[n] = '\0';
    return 0;
}

/* Claims the request's Idempotency-Key from its headers alone, before the
 * body and any injected delay: a second request with the key must find it
 * in progress at once. Sets an early answer and returns -1 when the
 * request cannot go on. */
static int claim_idem_key(const sb_ctx *ctx, struct MHD_Connection *conn,
                          sb_conn *c)
{
    const char *value = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    IDEM_HEADER);

    if (value == NULL)
        return 0;
    if (parse_idem_key(value, c->idem_key) != 0) {
        set_early(c, 400, "bad_request", "bad_idempotency_key");
        return -1;
    }
    switch (sb_state_idem_claim(ctx->state, c->idem_key, &c->idem_claim)) {
    case SB_IDEM_CLAIMED:
    case SB_IDEM_DONE: /* the handler replays it or refuses a misuse */
        return 0;
    case SB_IDEM_BUSY:
        set_early(c, 409, "conflict", "idempotency_key_in_progress");
        return -1;
    case SB_IDEM_FAILED:
        break;
    }
    set_early(c, 500, "internal", "oom");
    return -1;
}

/* Forgets the key this request holds in progress, if any: it ends without
 * a 201 (which the handler has made a completed key), so a retry must run
 * normally. */
static void release_idem_key(const sb_ctx *ctx, sb_conn *c)
{
    if (c->idem_claim == 0)
        return;
    sb_state_idem_release(ctx->state, c->idem_key, c->idem_claim);
    c->idem_claim = 0;
}

/* Prepares where the body goes. */
static void open_sink(const sb_ctx *ctx, sb_conn *c)
{
    ds_err err;

    c->sink = c->route->body;
    if (c->sink != SB_BODY_FILE)
        return;
    ds_err_clear(&err);
    c->fd = sb_store_temp(sb_state_data_dir(ctx->state), "upload", c->tmp,
                          &err);
    if (c->fd < 0) {
        c->tmp[0] = '\0';
        sb_log_msg("error", "cannot spill body",
                   json_pack("{s:s}", "error", err.msg));
        set_early(c, 500, "internal", err.reason);
    }
}

/* The Content-Length header as a number, -1 without one (or with one
 * libmicrohttpd would not have taken). */
static int64_t content_length(struct MHD_Connection *conn)
{
    const char *v = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t n = 0;

    if (v == NULL || *v == '\0')
        return -1;
    for (; *v >= '0' && *v <= '9'; v++) {
        if (n > (INT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (*v - '0');
    }
    return *v == '\0' ? n : -1;
}

/* Lets the route refuse the request from its headers, before the body:
 * an unknown target, a media type it does not take, a declared size over
 * a limit. Returns -1 when it did (the body is then dropped). */
static int precheck(const sb_ctx *ctx, struct MHD_Connection *conn,
                    sb_conn *c)
{
    sb_head head;

    if (c->route->precheck == NULL)
        return 0;
    head.param = c->param[0] != '\0' ? c->param : NULL;
    head.param2 = c->param2[0] != '\0' ? c->param2 : NULL;
    head.content_type = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    head.content_length = content_length(conn);
    c->route->precheck(ctx, &head, &c->early);
    if (c->early.status == 0)
        return 0;
    c->sink = SB_BODY_NONE;
    return -1;
}

/* True when the chaos fault of c answers without the handler, like a
 * queued fault with a status. */
static int chaos_answers(const sb_conn *c)
{
    return c->chaos.kind == SB_CHAOS_5XX || c->chaos.kind == SB_CHAOS_HANG ||
           c->chaos.kind == SB_CHAOS_429;
}

/* Decides what can be decided from the headers: the route, a queued or a
 * chaos fault, the key, the Idempotency-Key, the route's own precheck, the
 * body's destination. */
static void classify(const sb_ctx *ctx, struct MHD_Connection *conn,
                     sb_conn *c)
{
    switch (sb_route_find(c->method, c->path, &c->route, c->param,
                          c->param2, c->allow, sizeof(c->allow))) {
    case SB_MATCH_NO_ROUTE:
        set_early(c, 404, "not_found", "no_route");
        return;
    case SB_MATCH_BAD_METHOD:
        set_early(c, 405, "method_not_allowed", NULL);
        return;
    case SB_MATCH_BAD_ID:
        set_early(c, 404, "not_found", NULL);
        return;
    case SB_MATCH_OK:
        break;
    }

    /* The limit is the gateway's, in front of everything else: a refused
     * request reaches no fault, no chaos and no credential check. */
    if (over_limit(ctx, c))
        return;
    if (c->route->fault != SB_FAULT_NONE) {
        sb_chaos_enter(ctx->chaos, c->route->fault);
        c->in_flight = 1;
    }

    /* A fault stands for the server failing before it looks at anything,
     * so it is taken ahead of the key check. A queued fault wins over
     * chaos, which then draws nothing for the request. */
    c->has_fault = sb_state_fault_take(ctx->state, c->route->fault,
                                       &c->fault);
    if (!c->has_fault)
        sb_chaos_decide(ctx->chaos, c->route->fault, &c->chaos);
    /* The body goes to its temporary file like an accepted one, and is
     * dropped with it: the client sees its whole upload taken before the
     * fault answers. */
    if (c->has_fault && c->fault.after_body) {
        open_sink(ctx, c);
        return;
    }
    if ((c->has_fault && c->fault.status != 0) || chaos_answers(c)) {
        c->sink = SB_BODY_NONE;
        return;
    }
    if (c->chaos.kind == SB_CHAOS_RESET)
        return; /* on_request closes the connection */
    if (!authorized(ctx, conn, c))
        return;
    if (c->route->idempotent && claim_idem_key(ctx, conn, c) != 0)
        return;
    if (precheck(ctx, conn, c) != 0)
        return;
    open_sink(ctx, c);
}

static int sink_memory(sb_conn *c, const char *data, size_t n)
{
    if (c->len + n > MEMORY_BODY_MAX)
        return -1;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap == 0 ? 4096 : c->cap;
        char *grown;

        while (cap < c->len + n + 1)
            cap *= 2;
        grown = realloc(c->buf, cap);
        if (grown == NULL)
            return -1;
        c->buf = grown;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    c->buf[c->len] = '\0';
    return 0;
}

/* Takes one slice of the body. Overflows and write errors turn into an
 * early answer; the rest of the body is then dropped. */
static void take_body(sb_conn *c, const char *data, size_t n)
{
    ds_err err;

    c->received += n;
    if (c->sink == SB_BODY_MEMORY && sink_memory(c, data, n) != 0) {
        set_early(c, 413, "payload_too_large", NULL);
        return;
    }
    if (c->sink != SB_BODY_FILE)
        return;
    if (c->received > FILE_BODY_MAX) {
        set_early(c, 413, "payload_too_large", NULL);
        return;
    }
    ds_err_clear(&err);
    if (sb_store_write(c->fd, data, n, &err) != 0)
        set_early(c, 500, "internal", err.reason);
}

static enum MHD_Result queue_reply(struct MHD_Connection *conn, sb_conn *c,
                                   sb_reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    /* The request ran to its end (an upload is stored, its key completed)
     * and only the answer is lost. */
    if (c->chaos.kind == SB_CHAOS_RESET_AFTER)
        return MHD_NO;
    if (r->status == 0)
        sb_reply_error(r, 500, "internal", "no_reply");
    if (r->fd >= 0) {
        resp = MHD_create_response_from_fd64(r->fd_size, r->fd);
        if (resp != NULL)
            r->fd = -1; /* MHD closes it */
    } else {
        resp = MHD_create_response_from_buffer(r->body_len,
                                               r->body ? r->body : "",
                                               MHD_RESPMEM_MUST_COPY);
    }
    if (resp == NULL)
        return MHD_NO;
    if (r->content_type[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type);
    if (r->status == 405 && c->allow[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, c->allow);
    if (r->replayed)
        MHD_add_response_header(resp, IDEM_REPLAYED_HEADER, "true");
    for (int i = 0; i < c->headers.n; i++)
        MHD_add_response_header(resp, c->headers.name[i],
                                c->headers.value[i]);
    if (r->etag[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
    if (r->retry_after_s >= 0) {
        char secs[24];

        snprintf(secs, sizeof(secs), "%ld", r->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    ret = MHD_queue_response(conn, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES)
        c->status = r->status;
    return ret;
}

/* Adds one query argument to the object cls. The first of a repeated name
 * wins; a value that is not UTF-8 becomes null, for the handler to refuse;
 * "?flag" without "=" counts as an empty value. */
static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind,
                                     const char *key, const char *value)
{
    json_t *query = cls;
    json_t *v;

    (void)kind;
    if (key == NULL || json_object_get(query, key) != NULL)
        return MHD_YES;
    v = json_string(value != NULL ? value : "");
    json_object_set_new(query, key, v != NULL ? v : json_null());
    return MHD_YES;
}

/* Runs the route's handler with the request's body, query and claim on
 * an Idempotency-Key, into reply. */
static void run_handler(const sb_ctx *ctx, struct MHD_Connection *conn,
                        sb_conn *c, sb_reply *reply)
{
    sb_call call = {0};
    json_t *query = json_object();

    if (query == NULL) {
        sb_reply_error(reply, 500, "internal", "oom");
        return;
    }
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_query_arg,
                              query);
    call.param = c->param[0] != '\0' ? c->param : NULL;
    call.param2 = c->param2[0] != '\0' ? c->param2 : NULL;
    call.authorization = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    call.query = query;
    call.body = c->buf;
    call.body_len = c->len;
    call.body_file = c->tmp[0] != '\0' ? c->tmp : NULL;
    call.content_type = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    call.idem_key = c->idem_key[0] != '\0' ? c->idem_key : NULL;
    call.idem_claim = c->idem_claim;
    c->route->handler(ctx, &call, reply);
    json_decref(query);
}

/* The socket of the request's client, -1 when MHD does not say. */
static int client_fd(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(
        conn, MHD_CONNECTION_INFO_CONNECTION_FD);

    return info != NULL ? info->connect_fd : -1;
}

/* Sets the queued fault's answer. A 401 after the body carries the
 * OAuth2 challenge, so that a client takes it for an expired token. */
static void fault_reply(sb_conn *c)
{
    if (c->fault.after_body && c->fault.status == 401)
        sb_headers_add(&c->headers, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                       "Bearer error=\"invalid_token\"");
    sb_reply_text(&c->early, c->fault.status, "application/json",
                  c->fault.body != NULL ? c->fault.body : "{}");
}

/* Runs once the whole body is in: the fault's delay and status, the early
 * answer, or the handler. A client that went away meanwhile is not noticed
 * here: like a real server that has the body, the handler still runs and
 * stores the upload; only the answer is lost. */
static enum MHD_Result finish(const sb_ctx *ctx, struct MHD_Connection *conn,
                              sb_conn *c)
{
    sb_reply reply;
    enum MHD_Result ret;

    /* A hang cut short by a stop answers at once, without the handler. */
    if (c->has_fault && c->fault.delay_ms > 0 &&
        sb_state_sleep_ms(ctx->state, c->fault.delay_ms) != 0) {
        set_early(c, 503, "stopping", NULL);
    } else if (c->has_fault && c->fault.status != 0) {
        fault_reply(c);
    } else if (chaos_answers(c) &&
               sb_inject_answer(ctx->state, &c->chaos, client_fd(conn),
                                &c->early) != 0) {
        return MHD_NO; /* the client left during a hang */
    }
    if (c->early.status != 0) {
        release_idem_key(ctx, c);
        return queue_reply(conn, c, &c->early);
    }

    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    sb_reply_init(&reply);
    run_handler(ctx, conn, c, &reply);
    c->applied = reply.chaos;
    /* Before the answer leaves, so that a retry never finds the key of a
     * failed request still in progress. */
    release_idem_key(ctx, c);
    ret = queue_reply(conn, c, &reply);
    sb_reply_clear(&reply);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    sb_http *h = cls;
    const sb_ctx *ctx = &h->ctx;
    sb_conn *c = *con_cls;

    (void)version;
    if (c == NULL) {
        c = conn_new(method, url);
        if (c == NULL)
            return MHD_NO;
        *con_cls = c;
        atomic_fetch_add(&h->active, 1);
        classify(ctx, conn, c);
        /* Closed with no answer at all, before the body is read. */
        return c->chaos.kind == SB_CHAOS_RESET ? MHD_NO : MHD_YES;
    }
    if (*upload_data_size > 0) {
        take_body(c, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return finish(ctx, conn, c);
}

/* Writes the request's log line and frees its state. A request torn down
 * before its handler ran gives its Idempotency-Key back. */
static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    sb_http *h = cls;
    const sb_ctx *ctx = &h->ctx;
    sb_conn *c = *con_cls;
    const char *chaos;
    json_t *path, *line;

    (void)conn;
    if (c == NULL)
        return;
    release_idem_key(ctx, c);
    if (c->in_flight)
        sb_chaos_leave(ctx->chaos, c->route->fault);
    chaos = sb_chaos_kind_name(c->chaos.kind != SB_CHAOS_NONE ? c->chaos.kind
                                                              : c->applied);
    path = json_string(c->path);
    /* bodyBytes before status: chaos.sh matches the fields from status to
     * chaos, which comes last, as one run. */
    line = json_pack("{s:s,s:o,s:I,s:i,s:I,s:b,s:b}",
                     "method", c->method,
                     "path", path ? path : json_string("<not utf-8>"),
                     "bodyBytes", (json_int_t)c->received,
                     "status", c->status,
                     "duration_ms", (json_int_t)ms_since(&c->start),
                     "fault", c->has_fault || chaos != NULL,
                     "completed",
                     toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    if (line != NULL && chaos != NULL)
        json_object_set_new(line, "chaos", json_string(chaos));
    sb_log_line("info", line);
    conn_free(c);
    *con_cls = NULL;
    atomic_fetch_sub(&h->active, 1);
}

/* Resolves opt->host and opt->port into addr. Returns 0 or -1. */
static int resolve_host(const sb_options *opt, struct sockaddr_storage *addr,
                        int *family, ds_err *err)
{
    struct addrinfo hints, *res = NULL;
    char port[8];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", opt->port);
    rc = getaddrinfo(opt->host, port, &hints, &res);
    if (rc != 0)
        return ds_err_set(err, "bad_host", "%s: %s",
                          opt->host, gai_strerror(rc));
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *family = res->ai_family;
    freeaddrinfo(res);
    return 0;
}
/* libmicrohttpd's own messages (a client gone mid-response, say) become
 * JSON lines like every other line of the sandbox. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char text[512];
    size_t n;

    (void)cls;
    vsnprintf(text, sizeof(text), fmt, ap);
    n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    sb_log_msg("warn", "libmicrohttpd", json_pack("{s:s}", "detail",
                                                   text));
}


/* Starts the daemon with extra flags, bound to addr when it is not NULL. */
static struct MHD_Daemon *start_daemon(sb_http *h, unsigned int flags,
                                       const struct sockaddr *addr)
{
    struct MHD_OptionItem bind[] = {
        {MHD_OPTION_SOCK_ADDR, 0, (void *)addr},
        {MHD_OPTION_END, 0, NULL},
    };

    return MHD_start_daemon(
        flags | MHD_USE_INTERNAL_POLLING_THREAD |
            MHD_USE_THREAD_PER_CONNECTION,
        (uint16_t)h->ctx.opt->port, NULL, NULL, on_request, h,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S,
        MHD_OPTION_ARRAY, addr != NULL ? bind : bind + 1,
        MHD_OPTION_END);
}

/* Binds opt->host when given, else every interface: both stacks, so that
 * "localhost" works whichever it resolves to, or IPv4 alone where the host
 * has no IPv6. */
static int listen_on(sb_http *h, ds_err *err)
{
    struct sockaddr_storage addr;
    int family = AF_UNSPEC;
    unsigned int flags = MHD_USE_ERROR_LOG;

    if (h->ctx.opt->host != NULL) {
        if (resolve_host(h->ctx.opt, &addr, &family, err) != 0)
            return -1;
        if (family == AF_INET6)
            flags |= MHD_USE_IPv6;
        h->daemon = start_daemon(h, flags, (const struct sockaddr *)&addr);
    } else {
        h->daemon = start_daemon(h, MHD_USE_DUAL_STACK, NULL);
        if (h->daemon == NULL)
            h->daemon = start_daemon(h, MHD_USE_ERROR_LOG, NULL);
    }
    if (h->daemon == NULL)
        return ds_err_set(err, "listen_failed",
                          "cannot listen on %s port %d",
                          h->ctx.opt->host ? h->ctx.opt->host : "*",
                          h->ctx.opt->port);
    return 0;
}

sb_http *sb_http_start(const sb_ctx *ctx, ds_err *err)
{
    sb_http *h = calloc(1, sizeof(*h));
    const union MHD_DaemonInfo *info;

    if (h == NULL) {
        ds_err_set(err, "oom", "out of memory");
        return NULL;
    }
    atomic_init(&h->active, 0);
    h->ctx = *ctx;
    if (listen_on(h, err) != 0) {
        free(h);
        return NULL;
    }
    info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL ? info->port : ctx->opt->port;
    return h;
}

int sb_http_port(const sb_http *h)
{
    return h->port;
}

/* Gives the requests in flight up to DRAIN_MS to finish. MHD_stop_daemon
 * shuts every connection at once, and would cut off the 503 of a hang
 * that sb_state_stop has just ended. */
static void drain(sb_http *h)
{
    struct timespec tick = {0, 10 * 1000000L};

    for (long waited = 0; waited < DRAIN_MS && atomic_load(&h->active) > 0;
         waited += 10)
        nanosleep(&tick, NULL);
}

void sb_http_stop(sb_http *h)
{
    if (h == NULL)
        return;
    drain(h);
    MHD_stop_daemon(h->daemon);
    free(h);
}
