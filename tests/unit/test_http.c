/*
 * test_http.c - ds_http against servers inside this process: a small
 * libmicrohttpd server with one route per behaviour, and a raw-socket server
 * for what libmicrohttpd would hide (it answers 100-continue by itself) or
 * cannot do (drop a kept-alive connection without an answer).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "ds_http.h"

#define ERROR_PAGE "internal server error\n"   /* 22 bytes (C20a) */
#define MAX_UPLOAD ((size_t)8 << 20)

static struct MHD_Daemon *daemon_;
static int mhd_port;
static ds_http *client;

/* The /hang route holds its connection until the test ends. */
static pthread_mutex_t hang_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hang_cond = PTHREAD_COND_INITIALIZER;
static int hang_released;

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* The libmicrohttpd server                                            */

typedef struct upload {
    char *buf;
    size_t len;
    int too_big;
} upload;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *body, size_t len,
                             const char *hname, const char *hvalue)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;

    resp = MHD_create_response_from_buffer(len, (void *)body,
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (hname != NULL)
        MHD_add_response_header(resp, hname, hvalue);
    rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn,
                                  unsigned status, const char *body)
{
    return reply(conn, status, body, strlen(body), NULL, NULL);
}

static void hang_until_released(void)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&hang_lock);
    while (!hang_released) {
        if (pthread_cond_timedwait(&hang_cond, &hang_lock, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&hang_lock);
}

/* HTTP-date of now + secs, for a Retry-After that is a date. */
static void http_date_in(long secs, char *out, size_t cap)
{
    time_t when = time(NULL) + secs;
    struct tm tm;

    gmtime_r(&when, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* POST /echo answers the body back, or 400 when Content-Length did not
 * match the bytes that came. */
static enum MHD_Result echo(struct MHD_Connection *conn, upload *up)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 "Content-Length");

    if (up->too_big || cl == NULL || strtoull(cl, NULL, 10) != up->len)
        return reply_text(conn, 400, "length mismatch");
    return reply(conn, 200, up->buf ? up->buf : "", up->len, NULL, NULL);
}

/* GET /limits answers 429 with the rate-limit headers of a vendor, one of
 * them with blanks around its value and one repeated. */
static enum MHD_Result limits(struct MHD_Connection *conn)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;

    resp = MHD_create_response_from_buffer(4, (void *)"slow",
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "X-RateLimit-Limit", "20");
    MHD_add_response_header(resp, "x-ratelimit-remaining", "0 \t");
    MHD_add_response_header(resp, "X-RateLimit-Reset", "750");
    MHD_add_response_header(resp, "RateLimit", "\"default\";r=0;t=3");
    MHD_add_response_header(resp, "RateLimit", "\"other\";r=5;t=9");
    MHD_add_response_header(resp, "Retry-After", "2");
    rc = MHD_queue_response(conn, 429, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* GET /many answers 200 with 200 headers of about 95 bytes each. */
static enum MHD_Result many_headers(struct MHD_Connection *conn)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;
    char name[32], value[80];
    int i;

    resp = MHD_create_response_from_buffer(2, (void *)"ok",
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    for (i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "X-Filler-%03d", i);
        MHD_add_response_header(resp, name, value);
    }
    rc = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result get_route(struct MHD_Connection *conn, const char *url)
{
    char date[64];

    if (strcmp(url, "/ok") == 0)
        return reply_text(conn, 200, "hello, docsync\n");
    if (strcmp(url, "/err500") == 0)
        return reply_text(conn, 500, ERROR_PAGE);
    if (strcmp(url, "/429s") == 0)
        return reply(conn, 429, "slow down", 9, "Retry-After", "120");
    if (strcmp(url, "/429d") == 0) {
        http_date_in(90, date, sizeof(date));
        return reply(conn, 429, "slow down", 9, "Retry-After", date);
    }
    if (strcmp(url, "/503soon") == 0)
        return reply(conn, 503, "busy", 4, "Retry-After", "soon");
    if (strcmp(url, "/302") == 0)
        return reply(conn, 302, "", 0, "Location", "/ok");
    if (strcmp(url, "/limits") == 0)
        return limits(conn);
    if (strcmp(url, "/many") == 0)
        return many_headers(conn);
    if (strcmp(url, "/hang") == 0) {
        hang_until_released();
        return MHD_NO;
    }
    return reply_text(conn, 404, "{\"error\":\"not_found\"}");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    upload *up = *con_cls;

    (void)cls;
    (void)version;
    if (up == NULL) {
        up = calloc(1, sizeof(*up));
        *con_cls = up;
        return up != NULL ? MHD_YES : MHD_NO;
    }
    if (*data_size > 0) {
        char *grown = NULL;

        if (up->len + *data_size <= MAX_UPLOAD)
            grown = realloc(up->buf, up->len + *data_size);
        if (grown == NULL) {
            up->too_big = 1;
        } else {
            memcpy(grown + up->len, data, *data_size);
            up->buf = grown;
            up->len += *data_size;
        }
        *data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") == 0 && strcmp(url, "/echo") == 0)
        return echo(conn, up);
    return get_route(conn, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    upload *up = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (up != NULL) {
        free(up->buf);
        free(up);
    }
    *con_cls = NULL;
}

static int start_mhd(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
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
    mhd_port = info->port;
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    if (ds_http_global_init() != 0 || start_mhd() != 0)
        return -1;
    client = ds_http_new();
    return client != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    ds_http_free(client);
    pthread_mutex_lock(&hang_lock);
    hang_released = 1;
    pthread_cond_broadcast(&hang_cond);
    pthread_mutex_unlock(&hang_lock);
    MHD_stop_daemon(daemon_);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The raw-socket server                                               */

typedef struct raw {
    int lfd;
    int port;
    int drop_request;       /* 1-based request to drop unanswered; 0 none */
    int early_hints;        /* send a 103 with its own headers first */
    atomic_int stop;
    pthread_t thread;
    /* Read these only after raw_stop. */
    int connections;
    int requests;
    int saw_expect;         /* some request carried an Expect header */
    char headers[8192];     /* the last request's head */
    unsigned char *body;    /* the last request's body */
    size_t body_len;
    long content_length;
} raw;

/* Reads what is there, waking up to notice stop. Returns bytes, 0 at EOF,
 * -1 on error or stop. */
static ssize_t raw_read(raw *r, int fd, void *buf, size_t cap)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    while (!r->stop) {
        if (poll(&p, 1, 50) > 0)
            return read(fd, buf, cap);
    }
    return -1;
}

static long content_length_of(const char *head)
{
    const char *p = strcasestr(head, "\r\ncontent-length:");

    return p ? strtol(p + 17, NULL, 10) : 0;
}

/* Reads the body of Content-Length bytes; `have` of them are in pre. */
static int raw_read_body(raw *r, int fd, const char *pre, size_t have)
{
    size_t want = (size_t)r->content_length;
    ssize_t n;

    if (want > MAX_UPLOAD || have > want)
        return -1;
    memcpy(r->body, pre, have);
    r->body_len = have;
    while (r->body_len < want) {
        n = raw_read(r, fd, r->body + r->body_len, want - r->body_len);
        if (n <= 0)
            return -1;
        r->body_len += (size_t)n;
    }
    return 0;
}

/* Serves requests on one connection, never sending 100 Continue. */
static void raw_serve(raw *r, int fd)
{
    char head[8192], answer[128];
    size_t have = 0, head_len;
    char *end;
    ssize_t n;
    int len;

    for (;;) {
        while ((end = memmem(head, have, "\r\n\r\n", 4)) == NULL) {
            if (have == sizeof(head) - 1)
                return;
            n = raw_read(r, fd, head + have, sizeof(head) - 1 - have);
            if (n <= 0)
                return;
            have += (size_t)n;
        }
        head_len = (size_t)(end + 4 - head);
        memcpy(r->headers, head, head_len);
        r->headers[head_len] = '\0';
        if (strcasestr(r->headers, "\r\nexpect:") != NULL)
            r->saw_expect = 1;
        r->content_length = content_length_of(r->headers);
        if (raw_read_body(r, fd, head + head_len, have - head_len) != 0)
            return;
        have = 0;
        r->requests++;
        if (r->requests == r->drop_request)
            return;
        if (r->early_hints)
            dprintf(fd, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n"
                    "X-Phase: early\r\n\r\n");
        len = snprintf(answer, sizeof(answer), "received=%zu", r->body_len);
        dprintf(fd, "HTTP/1.1 200 OK\r\nX-Phase: final\r\n"
                "Content-Length: %d\r\n\r\n%s", len, answer);
    }
}

static void *raw_main(void *ud)
{
    raw *r = ud;
    struct pollfd p = { .fd = r->lfd, .events = POLLIN };
    int fd;

    while (!r->stop) {
        if (poll(&p, 1, 50) <= 0)
            continue;
        fd = accept(r->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        r->connections++;
        raw_serve(r, fd);
        close(fd);
    }
    return NULL;
}

static raw *raw_start(int drop_request)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    raw *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->body = malloc(MAX_UPLOAD);
    assert_non_null(r->body);
    r->drop_request = drop_request;
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->lfd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(r->lfd, 8), 0);
    assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&sa, &len), 0);
    r->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&r->thread, NULL, raw_main, r), 0);
    return r;
}

static void raw_stop(raw *r)
{
    r->stop = 1;
    pthread_join(r->thread, NULL);
    close(r->lfd);
}

static void raw_free(raw *r)
{
    free(r->body);
    free(r);
}

/* ------------------------------------------------------------------ */
/* Helpers for the client side                                         */

/* A body streamed from memory in slices of at most `slice` bytes. */
typedef struct stream {
    const unsigned char *data;
    size_t len;
    size_t off;
    size_t slice;
    int rewinds;
} stream;

static size_t stream_read(char *buf, size_t cap, void *ud)
{
    stream *s = ud;
    size_t n = s->len - s->off;

    if (n > cap)
        n = cap;
    if (n > s->slice)
        n = s->slice;
    memcpy(buf, s->data + s->off, n);
    s->off += n;
    return n;
}

static int stream_rewind(void *ud)
{
    stream *s = ud;

    s->off = 0;
    s->rewinds++;
    return 0;
}

/* Collects a response body. */
typedef struct sink {
    unsigned char *buf;
    size_t len;
    size_t calls;
    int fail;                /* return -1 on the first slice */
    ds_err *own_err;         /* set this error before failing */
} sink;

static int sink_write(const char *buf, size_t n, void *ud)
{
    sink *s = ud;
    unsigned char *grown;

    s->calls++;
    if (s->fail) {
        if (s->own_err != NULL)
            ds_err_set(s->own_err, "blob_full",
                       "disk full");
        return -1;
    }
    grown = realloc(s->buf, s->len + n);
    if (grown == NULL)
        return -1;
    memcpy(grown + s->len, buf, n);
    s->buf = grown;
    s->len += n;
    return 0;
}

static unsigned char *pattern(size_t n)
{
    unsigned char *p = malloc(n);
    size_t i;

    assert_non_null(p);
    for (i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131 + i / 7) & 0xff);
    return p;
}

static void url_of(char *out, size_t cap, int port, const char *path)
{
    snprintf(out, cap, "http://127.0.0.1:%d%s", port, path);
}

/* GETs path from the libmicrohttpd server with req as a template. */
static int get(const char *path, ds_http_req *req, ds_http_resp *resp,
               ds_err *err)
{
    char url[256];

    url_of(url, sizeof(url), mhd_port, path);
    req->method = "GET";
    req->url = url;
    ds_err_clear(err);
    return ds_http_do(client, req, resp, err);
}

/* ------------------------------------------------------------------ */
/* Status and body routing                                             */

static void a_2xx_body_goes_to_the_sink(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    sink s = { 0 };
    ds_err err;

    (void)state;
    req.sink = sink_write;
    req.sink_ud = &s;
    assert_int_equal(get("/ok", &req, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(s.len, 15);
    assert_memory_equal(s.buf, "hello, docsync\n", 15);
    assert_null(resp.body);
    assert_int_equal(err.klass, DS_CLASS_NONE);
    ds_http_resp_clear(&resp);
    free(s.buf);
}

static void a_2xx_body_without_sink_is_kept_in_the_response(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    ds_err err;

    (void)state;
    assert_int_equal(get("/ok", &req, &resp, &err), 0);
    assert_non_null(resp.body);
    assert_string_equal(resp.body, "hello, docsync\n");
    assert_int_equal(resp.body_len, 15);
    ds_http_resp_clear(&resp);
    assert_null(resp.body);
}

static void a_kept_2xx_body_over_the_cap_fails_permanently(void **state)
{
    ds_http_req req = { .max_body = 4 };
    ds_http_resp resp;
    ds_err err;

    (void)state;
    assert_int_equal(get("/ok", &req, &resp, &err), -1);
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_string_equal(err.reason, "http_body_too_large");
    ds_http_resp_clear(&resp);
}

/* C20a: the 500's error page never reaches the sink. */
static void a_500_error_page_never_reaches_the_sink(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    sink s = { 0 };
    ds_err err;

    (void)state;
    req.sink = sink_write;
    req.sink_ud = &s;
    assert_int_equal(get("/err500", &req, &resp, &err), -1);

    assert_int_equal(s.calls, 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(resp.status, 500);
    assert_int_equal(err.http_status, 500);
    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    assert_string_equal(err.reason, "http_500");
    assert_int_equal(resp.body_len, 22);
    assert_string_equal(resp.body, ERROR_PAGE);
    ds_http_resp_clear(&resp);
}

static void an_error_page_is_kept_cut_at_the_cap(void **state)
{
    ds_http_req req = { .max_body = 5 };
    ds_http_resp resp;
    ds_err err;

    (void)state;
    assert_int_equal(get("/err500", &req, &resp, &err), -1);
    assert_string_equal(err.reason, "http_500");
    assert_int_equal(resp.body_len, 5);
    assert_string_equal(resp.body, "inter");
    ds_http_resp_clear(&resp);
}

static void a_404_is_permanent(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    ds_err err;

    (void)state;
    assert_int_equal(get("/missing", &req, &resp, &err), -1);
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_string_equal(err.reason, "http_404");
    assert_int_equal(err.http_status, 404);
    assert_int_equal(err.retry_after_ms, -1);
    assert_string_equal(resp.body, "{\"error\":\"not_found\"}");
    ds_http_resp_clear(&resp);
}

static void a_redirect_is_not_followed(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    ds_err err;

    (void)state;
    assert_int_equal(get("/302", &req, &resp, &err), -1);
    assert_int_equal(resp.status, 302);
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_string_equal(err.reason, "http_unexpected");
    ds_http_resp_clear(&resp);
}

/* ------------------------------------------------------------------ */
/* Retry-After (C08)                                                   */

static void a_429_with_retry_after_seconds_says_how_long(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    ds_err err;

    (void)state;
    assert_int_equal(get("/429s", &req, &resp, &err), -1);
    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    assert_string_equal(err.reason, "http_429");
    assert_int_equal(err.http_status, 429);
    assert_int_equal(err.retry_after_ms, 120000);
    ds_http_resp_clear(&resp);
}

static void a_429_with_retry_after_date_waits_until_then(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    ds_err err;

    (void)state;
    assert_int_equal(get("/429d", &req, &resp, &err), -1);
    assert_string_equal(err.reason, "http_429");
    /* The date is 90 s ahead, to the second. */
    assert_in_range(err.retry_after_ms, 85000, 91000);
    ds_http_resp_clear(&resp);
}

static void a_garbage_retry_after_is_not_a_wait_of_zero(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    ds_err err;

    (void)state;
    assert_int_equal(get("/503soon", &req, &resp, &err), -1);
    assert_string_equal(err.reason, "http_503");
    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    assert_int_equal(err.retry_after_ms, -1);
    ds_http_resp_clear(&resp);
}

static void parse_retry_after_reads_delta_seconds(void **state)
{
    (void)state;
    assert_int_equal(ds_http_parse_retry_after("120", 0), 120000);
    assert_int_equal(ds_http_parse_retry_after(" 120 ", 0), 120000);
    assert_int_equal(ds_http_parse_retry_after("0", 0), 0);
}

static void parse_retry_after_reads_the_three_date_forms(void **state)
{
    /* Wed, 21 Oct 2026 07:28:00 GMT is 1792567680; now is an hour before. */
    const long long now = 1792567680LL - 3600;

    (void)state;
    assert_int_equal(
        ds_http_parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now),
        3600000);
    assert_int_equal(
        ds_http_parse_retry_after("Wednesday, 21-Oct-26 07:28:00 GMT", now),
        3600000);
    assert_int_equal(
        ds_http_parse_retry_after("Wed Oct 21 07:28:00 2026", now), 3600000);
    /* A date already past means "now", not an error. */
    assert_int_equal(
        ds_http_parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT",
                                  1792567680LL + 10), 0);
}

static void parse_retry_after_rejects_what_is_not_a_wait(void **state)
{
    static const char *const bad[] = {
        "-5", "", "   ", "soon", "12a", "1.5", "+5", "0x10",
        "99999999999999999999", "Wed", "Wed, 99 Oct 2026 07:28:00 GMT",
        "Wed, 21 Oct 2126 07:28:00 GMT",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("Retry-After \"%s\"\n", bad[i]);
        assert_int_equal(ds_http_parse_retry_after(bad[i], 1792567680LL), -1);
    }
    assert_int_equal(ds_http_parse_retry_after(NULL, 0), -1);
}

/* ------------------------------------------------------------------ */
/* Transport failures (C20b)                                           */

static void a_server_that_never_answers_times_out_in_bound(void **state)
{
    ds_http_req req = { .timeout_ms = 500 };
    ds_http_resp resp;
    long long start, took;
    ds_err err;

    (void)state;
    start = now_ms();
    assert_int_equal(get("/hang", &req, &resp, &err), -1);
    took = now_ms() - start;
    print_message("hang: failed after %lld ms: %s\n", took, err.msg);

    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    assert_string_equal(err.reason, "http_timeout");
    assert_in_range(took, 400, 1999);
    ds_http_resp_clear(&resp);
}

static void a_refused_connection_is_a_transient_transport_error(void **state)
{
    raw *r = raw_start(0);
    ds_http_req req = { .method = "GET" };
    ds_http_resp resp;
    char url[128];
    ds_err err;

    (void)state;
    url_of(url, sizeof(url), r->port, "/x");
    raw_stop(r);        /* the port is closed now */
    raw_free(r);
    req.url = url;
    ds_err_clear(&err);
    assert_int_equal(ds_http_do(client, &req, &resp, &err), -1);
    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    assert_string_equal(err.reason, "http_transport");
    assert_int_equal(err.http_status, 0);
    ds_http_resp_clear(&resp);
}

/* ------------------------------------------------------------------ */
/* Sinks that fail                                                     */

static void a_failing_sink_aborts_with_http_sink(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    sink s = { .fail = 1 };
    ds_err err;

    (void)state;
    req.sink = sink_write;
    req.sink_ud = &s;
    assert_int_equal(get("/ok", &req, &resp, &err), -1);
    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    assert_string_equal(err.reason, "http_sink");
    ds_http_resp_clear(&resp);
}

static void a_sink_that_sets_its_own_error_keeps_it(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    sink s = { .fail = 1 };
    ds_err err;

    (void)state;
    s.own_err = &err;
    req.sink = sink_write;
    req.sink_ud = &s;
    assert_int_equal(get("/ok", &req, &resp, &err), -1);
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_string_equal(err.reason, "blob_full");
    assert_int_equal(err.http_status, 200);
    ds_http_resp_clear(&resp);
}

/* ------------------------------------------------------------------ */
/* Request bodies                                                      */

static void post_echo(ds_http_req *req, ds_http_resp *resp, sink *s,
                      ds_err *err, int expect_rc)
{
    char url[128];

    url_of(url, sizeof(url), mhd_port, "/echo");
    req->method = "POST";
    req->url = url;
    req->sink = sink_write;
    req->sink_ud = s;
    ds_err_clear(err);
    assert_int_equal(ds_http_do(client, req, resp, err), expect_rc);
}

static void a_streamed_body_round_trips_exactly(void **state)
{
    const size_t n = 300001;
    unsigned char *data = pattern(n);
    stream st = { .data = data, .len = n, .slice = 1000 };
    ds_http_req req = { 0 };
    ds_http_resp resp;
    sink s = { 0 };
    ds_err err;

    (void)state;
    req.read = stream_read;
    req.rewind = stream_rewind;
    req.read_ud = &st;
    req.body_size = (int64_t)n;
    post_echo(&req, &resp, &s, &err, 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(s.len, n);
    assert_memory_equal(s.buf, data, n);
    ds_http_resp_clear(&resp);

    /* The same request again: the consumed stream is rewound first (C07). */
    free(s.buf);
    memset(&s, 0, sizeof(s));
    post_echo(&req, &resp, &s, &err, 0);
    assert_int_equal(s.len, n);
    assert_memory_equal(s.buf, data, n);
    assert_int_equal(st.rewinds, 2);
    ds_http_resp_clear(&resp);
    free(s.buf);
    free(data);
}

static void an_in_memory_body_round_trips_exactly(void **state)
{
    const size_t n = 70000;
    unsigned char *data = pattern(n);
    ds_http_req req = { 0 };
    ds_http_resp resp;
    sink s = { 0 };
    ds_err err;

    (void)state;
    req.body = (const char *)data;
    req.body_len = n;
    post_echo(&req, &resp, &s, &err, 0);
    assert_int_equal(s.len, n);
    assert_memory_equal(s.buf, data, n);
    ds_http_resp_clear(&resp);
    free(s.buf);
    free(data);
}

static void a_stream_shorter_than_its_size_fails(void **state)
{
    unsigned char *data = pattern(500);
    stream st = { .data = data, .len = 500, .slice = 100 };
    ds_http_req req = { 0 };
    ds_http_resp resp;
    sink s = { 0 };
    ds_err err;

    (void)state;
    req.read = stream_read;
    req.read_ud = &st;
    req.body_size = 1000;
    post_echo(&req, &resp, &s, &err, -1);
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_string_equal(err.reason, "http_body_size");
    assert_int_equal(s.len, 0);
    ds_http_resp_clear(&resp);
    free(data);
}

static void a_stream_longer_than_its_size_fails(void **state)
{
    unsigned char *data = pattern(500);
    stream st = { .data = data, .len = 500, .slice = 500 };
    ds_http_req req = { 0 };
    ds_http_resp resp;
    sink s = { 0 };
    ds_err err;

    (void)state;
    req.read = stream_read;
    req.read_ud = &st;
    req.body_size = 400;
    post_echo(&req, &resp, &s, &err, -1);
    assert_string_equal(err.reason, "http_body_size");
    ds_http_resp_clear(&resp);
    free(data);
}

/* C12: against a server that never sends 100 Continue, a 2 MiB upload
 * must not wait for one. */
static void expect_100_is_never_sent_nor_waited_for(ds_http_req *req,
                                                    const unsigned char *data,
                                                    size_t n)
{
    raw *r = raw_start(0);
    ds_http_resp resp;
    long long start, took;
    char url[128];
    ds_err err;

    url_of(url, sizeof(url), r->port, "/upload");
    req->method = "POST";
    req->url = url;
    req->timeout_ms = 10000;
    ds_err_clear(&err);
    start = now_ms();
    assert_int_equal(ds_http_do(client, req, &resp, &err), 0);
    took = now_ms() - start;
    raw_stop(r);
    print_message("2 MiB upload took %lld ms\n", took);

    assert_in_range(took, 0, 500);
    assert_int_equal(r->saw_expect, 0);
    assert_int_equal(r->content_length, (long)n);
    assert_int_equal(r->body_len, n);
    assert_memory_equal(r->body, data, n);
    ds_http_resp_clear(&resp);
    raw_free(r);
}

static void a_streamed_upload_does_not_wait_for_100_continue(void **state)
{
    const size_t n = (size_t)2 << 20;
    unsigned char *data = pattern(n);
    stream st = { .data = data, .len = n, .slice = 65536 };
    ds_http_req req = { 0 };

    (void)state;
    req.read = stream_read;
    req.rewind = stream_rewind;
    req.read_ud = &st;
    req.body_size = (int64_t)n;
    expect_100_is_never_sent_nor_waited_for(&req, data, n);
    free(data);
}

static void an_in_memory_upload_does_not_wait_for_100_continue(void **state)
{
    const size_t n = (size_t)2 << 20;
    unsigned char *data = pattern(n);
    ds_http_req req = { 0 };

    (void)state;
    req.body = (const char *)data;
    req.body_len = n;
    expect_100_is_never_sent_nor_waited_for(&req, data, n);
    free(data);
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */

static void calls_share_one_kept_alive_connection(void **state)
{
    raw *r = raw_start(0);
    ds_http_req req = { .method = "GET" };
    ds_http_resp resp;
    char url[128];
    ds_err err;
    int i;

    (void)state;
    url_of(url, sizeof(url), r->port, "/again");
    req.url = url;
    for (i = 0; i < 3; i++) {
        ds_err_clear(&err);
        assert_int_equal(ds_http_do(client, &req, &resp, &err), 0);
        assert_string_equal(resp.body, "received=0");
        ds_http_resp_clear(&resp);
    }
    raw_stop(r);
    assert_int_equal(r->requests, 3);
    assert_int_equal(r->connections, 1);
    raw_free(r);
}

/* The server drops the second request on the kept-alive connection without
 * a word; libcurl resends it on a fresh one and must rewind the stream
 * through the seek callback to do so. */
static void a_resent_stream_is_rewound_and_sent_whole(void **state)
{
    const size_t n = 100000;
    unsigned char *data = pattern(n);
    stream st = { .data = data, .len = n, .slice = 4096 };
    raw *r = raw_start(2);
    ds_http_req req = { .method = "POST" };
    ds_http_resp resp;
    char url[128];
    ds_err err;
    int i;

    (void)state;
    url_of(url, sizeof(url), r->port, "/upload");
    req.url = url;
    req.read = stream_read;
    req.rewind = stream_rewind;
    req.read_ud = &st;
    req.body_size = (int64_t)n;
    for (i = 0; i < 2; i++) {
        ds_err_clear(&err);
        assert_int_equal(ds_http_do(client, &req, &resp, &err), 0);
        assert_string_equal(resp.body, "received=100000");
        ds_http_resp_clear(&resp);
    }
    raw_stop(r);

    assert_int_equal(r->requests, 3);
    assert_int_equal(r->connections, 2);
    /* One rewind before each call, one by libcurl for the resend. */
    assert_int_equal(st.rewinds, 3);
    assert_int_equal(r->content_length, (long)n);
    assert_int_equal(r->body_len, n);
    assert_memory_equal(r->body, data, n);
    raw_free(r);
    free(data);
}

/* ------------------------------------------------------------------ */
/* What must not leak into errors                                      */

static void error_messages_hold_no_credentials(void **state)
{
    const char *headers[] = { "X-API-Key: hunter2-key", NULL };
    ds_http_req req = { .method = "GET", .headers = headers };
    ds_http_resp resp;
    char url[256];
    ds_err err;

    (void)state;
    snprintf(url, sizeof(url),
             "http://bob:pa55word@127.0.0.1:%d/missing?token=s3cret#frag",
             mhd_port);
    req.url = url;
    ds_err_clear(&err);
    assert_int_equal(ds_http_do(client, &req, &resp, &err), -1);
    print_message("message: %s\n", err.msg);
    assert_string_equal(err.reason, "http_404");
    assert_null(strstr(err.msg, "hunter2"));
    assert_null(strstr(err.msg, "pa55word"));
    assert_null(strstr(err.msg, "s3cret"));
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    assert_non_null(strstr(err.msg, "/missing"));
    ds_http_resp_clear(&resp);
}

static void a_header_with_a_line_break_is_refused(void **state)
{
    const char *headers[] = { "X-Note: a\r\nX-Injected: 1", NULL };
    ds_http_req req = { .headers = headers };
    ds_http_resp resp;
    ds_err err;

    (void)state;
    assert_int_equal(get("/ok", &req, &resp, &err), -1);
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_string_equal(err.reason, "http_bad_header");
    assert_int_equal(resp.status, 0);
    ds_http_resp_clear(&resp);
}

/* ------------------------------------------------------------------ */
/* Response headers                                                    */

static void response_headers_are_found_in_any_case_and_trimmed(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    char v[64];
    ds_err err;

    (void)state;
    assert_int_equal(get("/limits", &req, &resp, &err), -1);
    assert_int_equal(resp.status, 429);
    assert_non_null(resp.headers);
    assert_int_equal(resp.headers_len, strlen(resp.headers));

    assert_int_equal(ds_http_resp_header(&resp, "X-RATELIMIT-REMAINING", v,
                                         sizeof(v)), 1);
    assert_string_equal(v, "0");
    assert_int_equal(ds_http_resp_header(&resp, "x-ratelimit-reset", v,
                                         sizeof(v)), 1);
    assert_string_equal(v, "750");
    /* The first of a repeated header; a prefix of a name is not it. */
    assert_int_equal(ds_http_resp_header(&resp, "ratelimit", v, sizeof(v)),
                     1);
    assert_string_equal(v, "\"default\";r=0;t=3");
    assert_int_equal(ds_http_resp_header(&resp, "X-RateLimit", v,
                                         sizeof(v)), 0);
    assert_string_equal(v, "");
    /* Retry-After is still read into the error. */
    assert_int_equal(err.retry_after_ms, 2000);
    ds_http_resp_clear(&resp);
    assert_null(resp.headers);
    assert_int_equal(resp.headers_len, 0);
}

static void a_header_value_is_cut_at_the_cap(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    char v[4];
    ds_err err;

    (void)state;
    get("/limits", &req, &resp, &err);
    assert_int_equal(ds_http_resp_header(&resp, "RateLimit", v, sizeof(v)),
                     1);
    assert_string_equal(v, "\"de");
    ds_http_resp_clear(&resp);
}

static void a_response_without_headers_finds_none(void **state)
{
    ds_http_resp resp = { 0 };
    char v[8] = "junk";

    (void)state;
    assert_int_equal(ds_http_resp_header(&resp, "Retry-After", v, sizeof(v)),
                     0);
    assert_string_equal(v, "");
}

static void the_kept_header_block_is_bounded(void **state)
{
    ds_http_req req = { 0 };
    ds_http_resp resp;
    char v[8];
    ds_err err;

    (void)state;
    if (get("/many", &req, &resp, &err) != 0)
        print_message("%s: %s\n", err.reason, err.msg);
    assert_int_equal(err.klass, DS_CLASS_NONE);
    assert_string_equal(resp.body, "ok");
    print_message("kept %zu bytes of headers\n", resp.headers_len);
    assert_in_range(resp.headers_len, 15000, 16384);
    assert_int_equal(ds_http_resp_header(&resp, "X-Filler-000", v,
                                         sizeof(v)), 1);
    assert_int_equal(ds_http_resp_header(&resp, "X-Filler-199", v,
                                         sizeof(v)), 0);
    ds_http_resp_clear(&resp);
}

/* Only the final response's headers are kept: those of a 103 before it
 * must not be read as the answer's. */
static void the_headers_of_a_1xx_are_not_kept(void **state)
{
    raw *r = raw_start(0);
    ds_http_req req = { .method = "GET" };
    ds_http_resp resp;
    char url[128], v[32];
    ds_err err;

    (void)state;
    r->early_hints = 1;
    url_of(url, sizeof(url), r->port, "/hints");
    req.url = url;
    ds_err_clear(&err);
    assert_int_equal(ds_http_do(client, &req, &resp, &err), 0);
    raw_stop(r);
    assert_int_equal(resp.status, 200);
    assert_int_equal(ds_http_resp_header(&resp, "X-Phase", v, sizeof(v)), 1);
    assert_string_equal(v, "final");
    assert_int_equal(ds_http_resp_header(&resp, "Link", v, sizeof(v)), 0);
    assert_null(strstr(resp.headers, "HTTP/"));
    ds_http_resp_clear(&resp);
    raw_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_2xx_body_goes_to_the_sink),
        cmocka_unit_test(a_2xx_body_without_sink_is_kept_in_the_response),
        cmocka_unit_test(a_kept_2xx_body_over_the_cap_fails_permanently),
        cmocka_unit_test(a_500_error_page_never_reaches_the_sink),
        cmocka_unit_test(an_error_page_is_kept_cut_at_the_cap),
        cmocka_unit_test(a_404_is_permanent),
        cmocka_unit_test(a_redirect_is_not_followed),
        cmocka_unit_test(a_429_with_retry_after_seconds_says_how_long),
        cmocka_unit_test(a_429_with_retry_after_date_waits_until_then),
        cmocka_unit_test(a_garbage_retry_after_is_not_a_wait_of_zero),
        cmocka_unit_test(parse_retry_after_reads_delta_seconds),
        cmocka_unit_test(parse_retry_after_reads_the_three_date_forms),
        cmocka_unit_test(parse_retry_after_rejects_what_is_not_a_wait),
        cmocka_unit_test(a_server_that_never_answers_times_out_in_bound),
        cmocka_unit_test(a_refused_connection_is_a_transient_transport_error),
        cmocka_unit_test(a_failing_sink_aborts_with_http_sink),
        cmocka_unit_test(a_sink_that_sets_its_own_error_keeps_it),
        cmocka_unit_test(a_streamed_body_round_trips_exactly),
        cmocka_unit_test(an_in_memory_body_round_trips_exactly),
        cmocka_unit_test(a_stream_shorter_than_its_size_fails),
        cmocka_unit_test(a_stream_longer_than_its_size_fails),
        cmocka_unit_test(a_streamed_upload_does_not_wait_for_100_continue),
        cmocka_unit_test(an_in_memory_upload_does_not_wait_for_100_continue),
        cmocka_unit_test(calls_share_one_kept_alive_connection),
        cmocka_unit_test(a_resent_stream_is_rewound_and_sent_whole),
        cmocka_unit_test(error_messages_hold_no_credentials),
        cmocka_unit_test(a_header_with_a_line_break_is_refused),
        cmocka_unit_test(response_headers_are_found_in_any_case_and_trimmed),
        cmocka_unit_test(a_header_value_is_cut_at_the_cap),
        cmocka_unit_test(a_response_without_headers_finds_none),
        cmocka_unit_test(the_headers_of_a_1xx_are_not_kept),
        cmocka_unit_test(the_kept_header_block_is_bounded),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
