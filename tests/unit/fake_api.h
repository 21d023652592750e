/*
 * fake_api.h - a tiny HTTP API inside a test, on libmicrohttpd, for the
 * routes the sandbox does not serve (yet) or where a test must count and
 * inspect each call. The test gives an answer function; the fake counts
 * the calls and keeps the query arguments of the last one.
 *
 * Header-only, like fixture.h; include it after <cmocka.h>.
 */
#ifndef FAKE_API_H
#define FAKE_API_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One request as the answer function sees it; fa_arg reads its query. */
typedef struct fa_call {
    struct MHD_Connection *conn;
    const char *url;
    void *ctx;
} fa_call;

/* Answers one request: writes the status (200 unless changed) and returns
 * the JSON body as a new string, or NULL for "{}". Called under the
 * fake's lock, one call at a time. */
typedef char *(*fa_answer_fn)(const fa_call *call, unsigned *status);

typedef struct fa_server {
    struct MHD_Daemon *daemon;
    int port;
    char base_url[64];          /* "http://127.0.0.1:<port>" */
    fa_answer_fn answer;
    void *ctx;
    pthread_mutex_t lock;
    int calls;                  /* requests answered */
} fa_server;

/* A query argument of the call, or NULL. */
static inline const char *fa_arg(const fa_call *call, const char *name)
{
    return MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND,
                                       name);
}

static inline enum MHD_Result fa_on_request(void *cls,
                                            struct MHD_Connection *conn,
                                            const char *url,
                                            const char *method,
                                            const char *version,
                                            const char *data, size_t *size,
                                            void **con_cls)
{
    fa_server *s = cls;
    fa_call call = {conn, url, s->ctx};
    struct MHD_Response *resp;
    unsigned status = 200;
    enum MHD_Result rc;
    char *body;

    (void)method;
    (void)version;
    (void)data;
    (void)size;
    (void)con_cls;
    pthread_mutex_lock(&s->lock);
    s->calls++;
    body = s->answer(&call, &status);
    pthread_mutex_unlock(&s->lock);
    if (body == NULL)
        body = strdup("{}");
    resp = MHD_create_response_from_buffer(strlen(body), body,
                                           MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Starts the fake on a port of its choice on 127.0.0.1. Returns 0 or -1. */
static inline int fa_start(fa_server *s, fa_answer_fn answer, void *ctx)
{
    const union MHD_DaemonInfo *info;

    memset(s, 0, sizeof(*s));
    s->answer = answer;
    s->ctx = ctx;
    pthread_mutex_init(&s->lock, NULL);
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                                 NULL, fa_on_request, s, MHD_OPTION_END);
    if (s->daemon == NULL)
        return -1;
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL)
        return -1;
    s->port = info->port;
    snprintf(s->base_url, sizeof(s->base_url), "http://127.0.0.1:%d",
             s->port);
    return 0;
}

/* The number of calls answered so far. */
static inline int fa_calls(fa_server *s)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = s->calls;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Stops the fake; safe on one that never started. */
static inline void fa_stop(fa_server *s)
{
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}

#endif
