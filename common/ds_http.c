/* ds_http.c - the HTTP client of docsync, on libcurl; see ds_http.h. */
#include "ds_http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

/* libcurl's receive and send buffers (its limits: 512 KiB and 2 MiB). */
#define TRANSFER_BUFFER (512L * 1024)
#define DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define DEFAULT_TIMEOUT_MS 60000L
#define DEFAULT_MAX_BODY ((size_t)1 << 20)

/* The header block kept in a response; lines past it are dropped. A server
 * has no business sending more, and the block must not grow unbounded. */
#define MAX_HEADER_BLOCK ((size_t)16 << 10)

/* A delta longer than this is not a wait a server can mean. */
#define MAX_RETRY_AFTER_S (7L * 24 * 3600)

struct ds_http {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
};

/* What one ds_http_do call carries through libcurl's callbacks. */
typedef struct http_call {
    const ds_http_req *req;
    ds_http_resp *resp;
    CURL *curl;
    size_t cap;            /* cap on a kept body */
    size_t body_alloc;     /* bytes allocated for resp->body */
    int decided;           /* the first body byte has been routed */
    int to_sink;           /* the body goes to req->sink */
    int sink_failed;
    int body_too_large;
    int out_of_memory;
    int read_failed;
    int read_bad_size;     /* the stream was shorter or longer than said */
    int64_t sent;          /* streamed body bytes handed to libcurl */
    long retry_after_ms;
    size_t headers_alloc;  /* bytes allocated for resp->headers */
    int err_was_set;       /* err held an error before this call */
    int progress_aborted;  /* the caller's progress hook said stop */
    long long progress_at_ms;
} http_call;

/* Initialises libcurl for the whole process, once, before any thread
 * starts. Returns 0 or -1. */
int ds_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* Makes a client with one easy handle, reused by every call for
 * keep-alive. Returns NULL when memory or libcurl fails. */
ds_http *ds_http_new(void)
{
    ds_http *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        free(h);
        return NULL;
    }
    return h;
}

/* Frees h and closes its connections; accepts NULL. */
void ds_http_free(ds_http *h)
{
    if (h == NULL)
        return;
    curl_easy_cleanup(h->curl);
    free(h);
}

/* Frees a kept body and zeroes resp; accepts NULL. */
void ds_http_resp_clear(ds_http_resp *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    free(resp->headers);
    memset(resp, 0, sizeof(*resp));
}

/* Finds name (any case) in the kept header block and copies its trimmed
 * value into out. Returns 1 when found, 0 when not. */
int ds_http_resp_header(const ds_http_resp *resp, const char *name,
                        char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *line, *end, *v, *vend;

    if (cap > 0)
        out[0] = '\0';
    if (resp == NULL || resp->headers == NULL || nlen == 0)
        return 0;
    for (line = resp->headers; *line != '\0'; line = end) {
        end = strchr(line, '\n');
        end = end != NULL ? end + 1 : line + strlen(line);
        if ((size_t)(end - line) <= nlen || line[nlen] != ':' ||
            strncasecmp(line, name, nlen) != 0)
            continue;
        v = line + nlen + 1;
        vend = end;
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && isspace((unsigned char)vend[-1]))
            vend--;
        if (cap > 0)
            snprintf(out, cap, "%.*s", (int)(vend - v), v);
        return 1;
    }
    return 0;
}

/* Parses 1*DIGIT with nothing after it; -1 for anything else. */
static long parse_delta_seconds(const char *s)
{
    long secs = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        secs = secs * 10 + (*s - '0');
        /* Past a week the value is garbage, and it would overflow soon. */
        if (secs > MAX_RETRY_AFTER_S)
            return -1;
    }
    return secs * 1000;
}

/* Reads a Retry-After value as milliseconds from now: delta-seconds, or an
 * HTTP-date in any of its three forms. Returns -1 for anything else, so
 * that a caller falls back to its backoff, never to zero (C08). */
long ds_http_parse_retry_after(const char *value, long long now)
{
    char buf[128];
    size_t len;
    time_t when;

    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    len = strlen(value);
    while (len > 0 && isspace((unsigned char)value[len - 1]))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, value, len);
    buf[len] = '\0';

    if (isdigit((unsigned char)buf[0]))
        return parse_delta_seconds(buf);

    /* All three HTTP-date forms start with a day name; curl_getdate is
     * lenient enough to read a bare number or a sign as something. */
    if (!isalpha((unsigned char)buf[0]))
        return -1;
    when = curl_getdate(buf, NULL);
    if (when == (time_t)-1)
        return -1;
    if ((long long)when <= now)
        return 0;
    if ((long long)when - now > MAX_RETRY_AFTER_S)
        return -1;
    return (long)((long long)when - now) * 1000;
}

/* Copies url into out without user info, query or fragment, which may hold
 * credentials or tokens that must not reach an error message. */
static void url_for_msg(const char *url, char *out, size_t cap)
{
    const char *start = url;
    const char *scheme = strstr(url, "://");
    const char *at;
    size_t n;

    if (scheme != NULL)
        start = scheme + 3;
    n = strcspn(start, "/?#");
    at = memchr(start, '@', n);
    n = strcspn(url, "?#");
    if (at != NULL)
        snprintf(out, cap, "%.*s%.*s", (int)(start - url), url,
                 (int)(url + n - at - 1), at + 1);
    else
        snprintf(out, cap, "%.*s", (int)n, url);
}

/* Sets err (first error wins) and, when this call set it, the HTTP status
 * and the server's Retry-After. Always returns -1. */
static int call_fail(http_call *c, ds_err *err, const char *reason,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int call_fail(http_call *c, ds_err *err, const char *reason,
                     const char *fmt, ...)
{
    char detail[160];
    char url[96];
    va_list ap;

    if (err == NULL)
        return -1;
    /* A callback's own error (see ds_http.h) still gets the status. */
    if (err->klass != DS_CLASS_NONE) {
        if (!c->err_was_set && c->resp->status != 0)
            err->http_status = c->resp->status;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    url_for_msg(c->req->url ? c->req->url : "", url, sizeof(url));
    ds_err_set(err, reason, "%s %s: %s",
               c->req->method ? c->req->method : "GET", url, detail);
    err->http_status = c->resp->status;
    if (c->resp->status >= 400)
        err->retry_after_ms = c->retry_after_ms;
    return -1;
}

/* Appends one header line to the kept block; a line that would take the
 * block past MAX_HEADER_BLOCK is dropped. Returns 0, or -1 out of memory. */
static int keep_header(http_call *c, const char *buf, size_t n)
{
    ds_http_resp *resp = c->resp;
    size_t need = resp->headers_len + n + 1;
    char *grown;

    if (need > MAX_HEADER_BLOCK + 1)
        return 0;
    if (need > c->headers_alloc) {
        size_t want = c->headers_alloc ? c->headers_alloc * 2 : 1024;

        if (want < need)
            want = need;
        grown = realloc(resp->headers, want);
        if (grown == NULL)
            return -1;
        resp->headers = grown;
        c->headers_alloc = want;
    }
    memcpy(resp->headers + resp->headers_len, buf, n);
    resp->headers_len += n;
    resp->headers[resp->headers_len] = '\0';
    return 0;
}

/* Reads Retry-After from a header line into c->retry_after_ms. */
static void note_retry_after(http_call *c, const char *buf, size_t n)
{
    static const char name[] = "retry-after:";
    char value[128];
    size_t vlen;

    if (n <= sizeof(name) - 1 || strncasecmp(buf, name, sizeof(name) - 1))
        return;
    vlen = n - (sizeof(name) - 1);
    if (vlen >= sizeof(value))
        return;
    memcpy(value, buf + sizeof(name) - 1, vlen);
    value[vlen] = '\0';
    c->retry_after_ms = ds_http_parse_retry_after(value, (long long)time(NULL));
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    http_call *c = ud;
    size_t n = size * nitems;

    /* A new status line starts a new response (after a 100 Continue):
     * only the final response's headers are kept. */
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        c->retry_after_ms = -1;
        c->resp->headers_len = 0;
        if (c->resp->headers != NULL)
            c->resp->headers[0] = '\0';
        return n;
    }
    /* The blank line that ends a block, or a malformed line. */
    if (memchr(buf, ':', n) == NULL)
        return n;
    note_retry_after(c, buf, n);
    if (keep_header(c, buf, n) != 0) {
        c->out_of_memory = 1;
        return 0;
    }
    return n;
}

/* Appends to the kept body, growing it up to the cap. */
static int keep_body(http_call *c, const char *buf, size_t n)
{
    ds_http_resp *resp = c->resp;
    size_t need = resp->body_len + n + 1;
    char *grown;

    if (need > c->body_alloc) {
        size_t want = c->body_alloc ? c->body_alloc * 2 : 4096;

        if (want < need)
            want = need;
        if (want > c->cap + 1)
            want = c->cap + 1;
        grown = realloc(resp->body, want);
        if (grown == NULL)
            return -1;
        resp->body = grown;
        c->body_alloc = want;
    }
    memcpy(resp->body + resp->body_len, buf, n);
    resp->body_len += n;
    resp->body[resp->body_len] = '\0';
    return 0;
}

/* Decides where the body goes from the final status, before any byte of it
 * is delivered: an error page must never reach the sink. */
static void route_body(http_call *c)
{
    long status = 0;

    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    c->resp->status = (int)status;
    c->to_sink = status >= 200 && status < 300 && c->req->sink != NULL;
    c->decided = 1;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *ud)
{
    http_call *c = ud;
    size_t n = size * nmemb;
    size_t room;
    int ok_status;

    if (!c->decided)
        route_body(c);
    if (c->to_sink) {
        if (c->req->sink(buf, n, c->req->sink_ud) != 0) {
            c->sink_failed = 1;
            return 0;
        }
        return n;
    }

    ok_status = c->resp->status >= 200 && c->resp->status < 300;
    room = c->cap - c->resp->body_len;
    if (n > room) {
        /* A truncated success body would be wrong data; a truncated error
         * page is still a fine message. */
        if (ok_status) {
            c->body_too_large = 1;
            return 0;
        }
        n = room;
    }
    if (n > 0 && keep_body(c, buf, n) != 0) {
        c->out_of_memory = 1;
        return 0;
    }
    return size * nmemb;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    http_call *c = ud;
    size_t cap = size * nitems;
    size_t n = c->req->read(buf, cap, c->req->read_ud);

    if (n == (size_t)-1 || n > cap) {
        c->read_failed = 1;
        return CURL_READFUNC_ABORT;
    }
    /* The Content-Length is already promised: a stream that ends early or
     * runs long would send a body that does not match it. */
    if ((n == 0 && c->sent < c->req->body_size)
        || (int64_t)n > c->req->body_size - c->sent) {
        c->read_bad_size = 1;
        return CURL_READFUNC_ABORT;
    }
    c->sent += (int64_t)n;
    return n;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    http_call *c = ud;

    /* libcurl only rewinds to resend a body; anything else is unexpected. */
    if (offset != 0 || origin != SEEK_SET || c->req->rewind == NULL)
        return CURL_SEEKFUNC_CANTSEEK;
    if (c->req->rewind(c->req->read_ud) != 0)
        return CURL_SEEKFUNC_FAIL;
    c->sent = 0;
    return CURL_SEEKFUNC_OK;
}

/* Builds the header list, with "Expect:" so that libcurl never waits for a
 * 100 Continue that some servers never send (C12). */
static struct curl_slist *build_headers(http_call *c, ds_err *err)
{
    struct curl_slist *list = NULL;
    struct curl_slist *next;
    const char *const *hdr;

    for (hdr = c->req->headers; hdr != NULL && *hdr != NULL; hdr++) {
        /* A CR or LF would let a value inject headers or a request. */
        if (strpbrk(*hdr, "\r\n") != NULL) {
            call_fail(c, err, "http_bad_header",
                      "request header %d holds a line break",
                      (int)(hdr - c->req->headers));
            goto fail;
        }
        next = curl_slist_append(list, *hdr);
        if (next == NULL)
            goto fail;
        list = next;
    }
    next = curl_slist_append(list, "Expect:");
    if (next != NULL)
        return next;

fail:
    /* Out of memory, unless a bad header was reported first. */
    call_fail(c, err, "http_oom", "out of memory");
    curl_slist_free_all(list);
    return NULL;
}

static int method_has_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0
           || strcmp(method, "PATCH") == 0;
}

/* Sets the method and, when there is one, the body with its exact length. */
static void set_method_and_body(http_call *c, const char *method)
{
    const ds_http_req *req = c->req;
    CURL *curl = c->curl;

    if (req->body == NULL && req->read == NULL && !method_has_body(method)) {
        if (strcmp(method, "HEAD") == 0)
            curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        else
            curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        return;
    }

    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    if (req->read != NULL) {
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, c);
        curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(curl, CURLOPT_SEEKDATA, c);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)req->body_size);
    } else {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)req->body_len);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
                         req->body != NULL ? req->body : "");
    }
    if (strcmp(method, "POST") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
}

/* libcurl calls this many times a second; the caller's hook runs about
 * once a second. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    http_call *c = ud;
    struct timespec ts;
    long long now;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (now - c->progress_at_ms < 1000)
        return 0;
    c->progress_at_ms = now;
    if (c->req->progress(c->req->progress_ud) == 0)
        return 0;
    c->progress_aborted = 1;
    return 1;
}

static void set_options(ds_http *h, http_call *c, struct curl_slist *hdrs)
{
    const ds_http_req *req = c->req;
    CURL *curl = h->curl;

    /* Reset drops every option of the last call but keeps live
     * connections, so keep-alive survives between calls. */
    curl_easy_reset(curl);
    h->errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                                                 : DEFAULT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms > 0 ? req->timeout_ms
                                         : DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, c);
    /* Large files move in large slices: one callback, one disk write and
     * one digest update per 512 KiB instead of per 16 (received) or 64
     * (sent) KiB. Two buffers per client, whatever the file's size. */
    curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, TRANSFER_BUFFER);
    if (req->read != NULL)
        curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, TRANSFER_BUFFER);
    set_method_and_body(c, req->method != NULL ? req->method : "GET");
    if (req->progress != NULL) {
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, c);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    }
}

/* The start of an error response's body, printable ASCII only, for the
 * error message: what the server said is often the best clue an operator
 * gets. */
static void error_snippet(const ds_http_resp *resp, char *out, size_t cap)
{
    size_t i, n = 0;

    for (i = 0; resp->body != NULL && i < resp->body_len && n + 1 < cap;
         i++) {
        unsigned char ch = (unsigned char)resp->body[i];

        if (ch == '\n' || ch == '\r' || ch == '\t')
            ch = ' ';
        if (ch >= 0x20 && ch < 0x7f)
            out[n++] = (char)ch;
    }
    out[n] = '\0';
}

/* Turns the outcome of a transfer into 0 or a classified error. */
static int classify(ds_http *h, http_call *c, CURLcode rc, ds_err *err)
{
    long status = 0;
    char reason[32];
    const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);

    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    c->resp->status = (int)status;

    if (c->sink_failed)
        return call_fail(c, err, "http_sink",
                         "the body sink failed");
    if (c->progress_aborted)
        return call_fail(c, err, "http_aborted",
                         "the progress hook stopped the transfer");
    if (c->body_too_large)
        return call_fail(c, err, "http_body_too_large",
                         "response body over %zu bytes", c->cap);
    if (c->out_of_memory)
        return call_fail(c, err, "http_oom",
                         "out of memory keeping the body");
    if (c->read_failed)
        return call_fail(c, err, "http_read",
                         "the body reader failed");
    if (c->read_bad_size)
        return call_fail(c, err, "http_body_size",
                         "body stream does not hold %lld bytes",
                         (long long)c->req->body_size);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return call_fail(c, err, "http_timeout", "%s",
                         why);
    if (rc != CURLE_OK)
        return call_fail(c, err, "http_transport", "%s",
                         why);

    if (status >= 200 && status < 300)
        return 0;
    if (status >= 400) {
        char said[100];

        snprintf(reason, sizeof(reason), "http_%ld", status);
        error_snippet(c->resp, said, sizeof(said));
        return call_fail(c, err, reason,
                         "HTTP %ld%s%s", status, said[0] ? ": " : "", said);
    }
    /* Redirects are not followed: they would carry our credentials to
     * wherever the server points. */
    return call_fail(c, err, "http_unexpected",
                     "HTTP %ld is not handled", status);
}

/*
 * Runs one request: builds the header list, rewinds a streamed body, sets
 * every option afresh on the kept handle and classifies the outcome.
 * Returns 0 for a 2xx response, -1 with err set otherwise.
 */
int ds_http_do(ds_http *h, const ds_http_req *req, ds_http_resp *resp,
               ds_err *err)
{
    http_call c;
    struct curl_slist *hdrs = NULL;
    CURLcode rc;
    int ret = -1;

    memset(resp, 0, sizeof(*resp));
    memset(&c, 0, sizeof(c));
    c.req = req;
    c.resp = resp;
    c.curl = h->curl;
    c.cap = req->max_body > 0 ? req->max_body : DEFAULT_MAX_BODY;
    c.retry_after_ms = -1;
    c.err_was_set = err != NULL && err->klass != DS_CLASS_NONE;

    if (req->url == NULL) {
        call_fail(&c, err, "http_bad_request",
                  "no URL");
        goto done;
    }
    if (req->read != NULL && req->body_size < 0) {
        call_fail(&c, err, "http_body_size",
                  "a streamed body needs its size");
        goto done;
    }
    hdrs = build_headers(&c, err);
    if (hdrs == NULL)
        goto done;

    /* A stream already read by an earlier attempt starts over. */
    if (req->read != NULL && req->rewind != NULL
        && req->rewind(req->read_ud) != 0) {
        call_fail(&c, err, "http_read",
                  "the body could not be rewound");
        goto done;
    }

    set_options(h, &c, hdrs);
    rc = curl_easy_perform(h->curl);
    ret = classify(h, &c, rc, err);

done:
    /* The list is referenced by the handle until the next reset. */
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    return ret;
}
