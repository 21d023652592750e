/*
 * ds_http.h - the HTTP client of docsync, on libcurl.
 *
 * One ds_http per thread keeps its connections alive between calls. Every
 * call has a connect timeout and a total timeout, never waits on
 * "Expect: 100-continue", and checks the status explicitly: a status of 400
 * or more fails the call with the class of ds_class_for_http and reason
 * "http_<status>". Transport failures are transient with reason
 * "http_timeout" or "http_transport". Retry-After (seconds or HTTP-date) is
 * parsed into err->retry_after_ms. Redirects are not followed (they would
 * carry our credentials elsewhere): a 1xx or 3xx final status fails
 * permanently with reason "http_unexpected".
 *
 * Error messages name the method and the URL without user info, query or
 * fragment, and never a header value, so they are safe to log.
 *
 * Callbacks that fail report their own error through the first-error-wins
 * rule of ds_err: a sink or reader that wants a precise error carries, in
 * its ud, the same ds_err the caller passes to ds_http_do, sets it with
 * ds_err_set and returns its failure value. ds_http_do then keeps that
 * error; only when the callback set none does it report its own generic
 * one (transient "http_sink" or "http_read").
 */
#ifndef DS_HTTP_H
#define DS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "ds_error.h"

/* Fills buf with up to cap bytes of the request body. Returns the bytes
 * written, 0 at the end, or (size_t)-1 to abort the transfer. A stream that
 * ends before body_size bytes, or runs past it, fails the call permanently
 * with reason "http_body_size". */
typedef size_t (*ds_http_read_fn)(char *buf, size_t cap, void *ud);

/* Puts a streamed body back at its start so it can be sent again. It is
 * called before every send, so that a retried call with the same request
 * sends the whole body again (C07), and whenever libcurl must resend the
 * body on a fresh connection. Returns 0 or -1. Without it, a streamed body
 * can be sent once only. */
typedef int (*ds_http_rewind_fn)(void *ud);

/* Receives the body of a 2xx response in slices; the body of any other
 * status never reaches it. Returns 0 to go on, -1 to abort the call. */
typedef int (*ds_http_sink_fn)(const char *buf, size_t n, void *ud);

/* Called during a long transfer, for work that must go on meanwhile (a
 * lease renewal). Returns 0 to go on, -1 to abort the transfer, which then
 * fails with reason "http_aborted" unless ud's owner set an error first. */
typedef int (*ds_http_progress_fn)(void *ud);

typedef struct ds_http_req {
    const char *method;              /* "GET", "POST", ... */
    const char *url;
    const char *const *headers;      /* NULL-terminated "Name: value" list;
                                        give a Content-Type with a body, or
                                        libcurl sends a form-urlencoded one */

    const char *body;                /* a body in memory, or */
    size_t body_len;
    ds_http_read_fn read;            /* a streamed body of body_size bytes */
    ds_http_rewind_fn rewind;
    void *read_ud;
    int64_t body_size;

    ds_http_sink_fn sink;            /* where a 2xx body goes; NULL keeps it */
    void *sink_ud;                   /* in the response, up to max_body */
    size_t max_body;                 /* cap on a kept body; 0 means 1 MiB */

    ds_http_progress_fn progress;    /* called while the transfer runs, */
    void *progress_ud;               /*   about once a second; optional */

    long connect_timeout_ms;         /* 0 means 5000 */
    long timeout_ms;                 /* 0 means 60000 */
} ds_http_req;

typedef struct ds_http_resp {
    int status;
    char *body;          /* NUL-terminated kept body, or NULL; caller frees */
    size_t body_len;     /*   with ds_http_resp_clear */
    char *headers;       /* the final response's header block, NUL-ended */
    size_t headers_len;  /*   "Name: value\r\n" lines; freed likewise */
} ds_http_resp;

typedef struct ds_http ds_http;

/* Returns a client, or NULL when libcurl cannot make a handle. */
ds_http *ds_http_new(void);

/* Frees h; accepts NULL. */
void ds_http_free(ds_http *h);

/* Runs one request on h's kept-alive connection. resp is overwritten: clear
 * an earlier body first. Returns 0 for a 2xx response; -1 otherwise, with
 * err classified and resp->status and err->http_status set when a response
 * arrived. The body of an error response is kept, cut at max_body, in resp
 * for the caller's message; a kept 2xx body over max_body fails permanently
 * with reason "http_body_too_large". A header holding CR or LF fails
 * permanently with "http_bad_header". Not safe to call on one h from two
 * threads at once. */
int ds_http_do(ds_http *h, const ds_http_req *req, ds_http_resp *resp,
               ds_err *err);

/* Copies the value of the response header name (any case; the first one
 * when it repeats) into out, trimmed, cut at cap - 1 bytes. Returns 1 when
 * the header is there, 0 when it is not. */
int ds_http_resp_header(const ds_http_resp *resp, const char *name,
                        char *out, size_t cap);

/* Frees what a response holds and zeroes it. */
void ds_http_resp_clear(ds_http_resp *resp);

/* Parses a Retry-After value, delta-seconds or HTTP-date, relative to now
 * (seconds since the epoch). Returns milliseconds to wait (0 for a date in
 * the past) or -1 when the value is not valid: empty, negative, garbage, or
 * a wait of more than a week, which no server means. On -1 the caller falls
 * back to its backoff schedule, never to zero (C08). */
long ds_http_parse_retry_after(const char *value, long long now);

/* Must be called once before threads start; wraps curl_global_init. */
int ds_http_global_init(void);

#endif
