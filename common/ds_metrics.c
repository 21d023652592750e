/* ds_metrics.c - the process's metrics and their HTTP server; see
 * ds_metrics.h. */
#include "ds_metrics.h"

#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ds_utf8.h"

#define DROPPED_NAME "docsync_metrics_series_dropped_total"
#define TEXT_FORMAT "text/plain; version=0.0.4; charset=utf-8"
#define JSON_TYPE "application/json"

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_SUMMARY } kind;

static const char *const kind_names[] = {"counter", "gauge", "summary"};

typedef struct series {
    struct series *next;  /* the family's next series, in creation order */
    long long count;      /* a counter's value, a summary's count */
    double value;         /* a gauge's value, a summary's sum */
    char labels[];
} series;

typedef struct family {
    struct family *next;  /* in the order names were first seen */
    series *first, *last;
    kind kind;
    char name[DS_METRICS_NAME_MAX + 1];
    char help[2 * DS_METRICS_HELP_MAX + 1]; /* escaped for the HELP line */
} family;

/* The registry: everything below is read and written under lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static family *families, *families_last;
static size_t series_count;
static long long series_dropped;

/* The server; its own lock, since rendering takes the registry's. */
static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *server;

/* ------------------------------------------------------------ text rules */

/* The length of the valid UTF-8 character at p (1 to 4 bytes; ASCII,
 * control characters included, is 1), or 0 when p does not start one; the
 * terminating NUL ends a sequence cut short. */
static size_t utf8_len(const unsigned char *p)
{
    return ds_utf8_seq_len(p, strnlen((const char *)p, 4));
}

/* A metric name: [a-zA-Z_:][a-zA-Z0-9_:]*, not too long. */
static int name_ok(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];

        if (i >= DS_METRICS_NAME_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == ':'))
            return 0;
    }
    return 1;
}

/* Skips a label name, [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__"
 * (reserved by Prometheus). Returns what follows, or NULL when s does not
 * start with one. */
static const char *skip_label_name(const char *s)
{
    const char *p = s;

    if ((*p >= '0' && *p <= '9') || (p[0] == '_' && p[1] == '_'))
        return NULL;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (*p >= '0' && *p <= '9') || *p == '_')
        p++;
    return p == s ? NULL : p;
}

/* True when labels is "" or name="value" pairs joined by commas, each value
 * UTF-8 without control characters and escaped as the text format asks:
 * what ds_metric_labels writes. Anything else would corrupt the page. */
static int labels_ok(const char *s)
{
    if (s == NULL || strnlen(s, DS_METRICS_LABELS_MAX + 1) >
                     DS_METRICS_LABELS_MAX)
        return 0;
    while (*s != '\0') {
        s = skip_label_name(s);
        if (s == NULL || s[0] != '=' || s[1] != '"')
            return 0;
        for (s += 2; *s != '"'; ) {
            size_t n = utf8_len((const unsigned char *)s);

            if (n == 0 || (unsigned char)*s < 0x20 || *s == 0x7f)
                return 0;
            if (*s == '\\' && s[1] != '\\' && s[1] != '"' && s[1] != 'n')
                return 0;
            s += *s == '\\' ? 2 : n;
        }
        s++;
        if (*s == ',' && s[1] == '\0')
            return 0;
        if (*s == ',')
            s++;
        else if (*s != '\0')
            return 0;
    }
    return 1;
}

/* Copies s into out escaped for the text format: backslash and line feed
 * always, the double quote when quote is set (label values, not help);
 * other control characters and bytes that are not UTF-8 become '?'.
 * Copies whole characters only. Returns the length written, or -1 when s
 * did not fit in cap bytes (out then holds the part that did). */
static int escape_text(char *out, size_t cap, const char *s, int quote)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0;

    while (*p != '\0') {
        size_t n = utf8_len(p), used = n ? n : 1;
        const char *src = (const char *)p;

        if (*p == '\\')
            src = "\\\\";
        else if (*p == '\n')
            src = "\\n";
        else if (quote && *p == '"')
            src = "\\\"";
        else if (n == 0 || *p < 0x20 || *p == 0x7f)
            src = "?";
        if (src != (const char *)p)
            n = strlen(src);
        if (w + n >= cap)
            break;
        memcpy(out + w, src, n);
        w += n;
        p += used;
    }
    if (cap > 0)
        out[w] = '\0';
    return *p == '\0' ? (int)w : -1;
}

int ds_metric_labels(char *out, size_t cap, ...)
{
    const char *name, *value;
    size_t w = 0;
    va_list ap;
    int n;

    if (cap == 0)
        return -1;
    out[0] = '\0';
    va_start(ap, cap);
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *end = skip_label_name(name);

        value = va_arg(ap, const char *);
        if (end == NULL || *end != '\0' || value == NULL)
            break;
        n = snprintf(out + w, cap - w, "%s%s=\"", w ? "," : "", name);
        if (n < 0 || (size_t)n >= cap - w)
            break;
        w += (size_t)n;
        n = escape_text(out + w, cap - w, value, 1);
        if (n < 0 || w + (size_t)n + 1 >= cap)
            break;
        w += (size_t)n;
        out[w++] = '"';
        out[w] = '\0';
    }
    va_end(ap);
    /* The loop ends early only on a bad pair or a set too long. */
    if (name != NULL) {
        out[0] = '\0';
        return -1;
    }
    return (int)w;
}

/* ------------------------------------------------------------- registry */

/* The family called name, or NULL. Called under lock. */
static family *family_find(const char *name)
{
    family *f;

    for (f = families; f != NULL; f = f->next) {
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

/* The series of f with exactly these labels, or NULL. Called under lock. */
static series *series_find(const family *f, const char *labels)
{
    series *s;

    for (s = f->first; s != NULL; s = s->next) {
        if (strcmp(s->labels, labels) == 0)
            return s;
    }
    return NULL;
}

/* A new family, appended to the registry; NULL when memory is short.
 * Called under lock. */
static family *family_new(const char *name, const char *help, kind k)
{
    family *f = calloc(1, sizeof(*f));
    char cut[DS_METRICS_HELP_MAX + 1];

    if (f == NULL)
        return NULL;
    snprintf(f->name, sizeof(f->name), "%s", name);
    snprintf(cut, sizeof(cut), "%s", help != NULL ? help : "");
    /* A help text cut mid-character ends in '?'s for that character. */
    escape_text(f->help, sizeof(f->help), cut, 0);
    f->kind = k;
    if (families_last != NULL)
        families_last->next = f;
    else
        families = f;
    families_last = f;
    return f;
}

/* The series name{labels} of kind k, made at zero when new. Returns NULL
 * when the call must change nothing: a bad name or label set, a name
 * already used with another kind, the cap reached (counted as dropped), or
 * memory short. Called under lock. */
static series *series_get(const char *name, const char *help,
                          const char *labels, kind k)
{
    family *f;
    series *s;
    size_t n;

    if (!name_ok(name) || strcmp(name, DROPPED_NAME) == 0 ||
        !labels_ok(labels))
        return NULL;
    f = family_find(name);
    if (f != NULL && f->kind != k)
        return NULL;
    s = f != NULL ? series_find(f, labels) : NULL;
    if (s != NULL)
        return s;
    if (series_count >= DS_METRICS_MAX_SERIES) {
        series_dropped++;
        return NULL;
    }

    /* The series first, so that no family is left without one. */
    n = strlen(labels) + 1;
    s = calloc(1, sizeof(*s) + n);
    if (s == NULL)
        return NULL;
    if (f == NULL && (f = family_new(name, help, k)) == NULL) {
        free(s);
        return NULL;
    }
    memcpy(s->labels, labels, n);
    if (f->last != NULL)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    series_count++;
    return s;
}

void ds_metric_add(const char *name, const char *help, const char *labels,
                   long by)
{
    series *s;

    if (by < 0)
        return;
    pthread_mutex_lock(&lock);
    s = series_get(name, help, labels, KIND_COUNTER);
    if (s != NULL && s->count <= LLONG_MAX - by)
        s->count += by;
    pthread_mutex_unlock(&lock);
}

void ds_metric_set(const char *name, const char *help, const char *labels,
                   double value)
{
    series *s;

    pthread_mutex_lock(&lock);
    s = series_get(name, help, labels, KIND_GAUGE);
    if (s != NULL)
        s->value = value;
    pthread_mutex_unlock(&lock);
}

void ds_metric_observe(const char *name, const char *help,
                       const char *labels, double value)
{
    series *s;

    pthread_mutex_lock(&lock);
    s = series_get(name, help, labels, KIND_SUMMARY);
    if (s != NULL) {
        s->value += value;
        s->count++;
    }
    pthread_mutex_unlock(&lock);
}

void ds_metric_declare_summary(const char *name, const char *help,
                               const char *labels)
{
    pthread_mutex_lock(&lock);
    series_get(name, help, labels, KIND_SUMMARY);
    pthread_mutex_unlock(&lock);
}

void ds_metrics_reset(void)
{
    family *f, *fnext;
    series *s, *snext;

    pthread_mutex_lock(&lock);
    for (f = families; f != NULL; f = fnext) {
        for (s = f->first; s != NULL; s = snext) {
            snext = s->next;
            free(s);
        }
        fnext = f->next;
        free(f);
    }
    families = families_last = NULL;
    series_count = 0;
    series_dropped = 0;
    pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------------ rendering */

/* A growing string; once an allocation failed it stays failed. */
typedef struct text {
    char *buf;
    size_t len, cap;
    int failed;
} text;

static void text_add(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends the formatted text to t, growing it as needed. */
static void text_add(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        if (t->failed)
            return;
        va_start(ap, fmt);
        n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
        } else if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        } else {
            size_t cap = t->cap * 2 > t->len + n + 1 ? t->cap * 2
                                                      : t->len + n + 1;
            char *grown = realloc(t->buf, cap);

            if (grown == NULL)
                t->failed = 1;
            else
                t->buf = grown, t->cap = cap;
        }
    }
}

/* A sample value as the text format spells it: NaN, +Inf, -Inf, or the
 * shortest of %.15g and %.17g that reads back as the same double. */
static void format_value(char out[32], double v)
{
    if (isnan(v))
        snprintf(out, 32, "NaN");
    else if (isinf(v))
        snprintf(out, 32, "%s", v > 0 ? "+Inf" : "-Inf");
    else if (snprintf(out, 32, "%.15g", v) > 0 && strtod(out, NULL) != v)
        snprintf(out, 32, "%.17g", v);
}

/* One sample line: name{labels} value, or name value without labels. */
static void render_sample(text *t, const char *name, const char *suffix,
                          const char *labels, const char *value)
{
    if (labels[0] != '\0')
        text_add(t, "%s%s{%s} %s\n", name, suffix, labels, value);
    else
        text_add(t, "%s%s %s\n", name, suffix, value);
}

/* Appends f's HELP and TYPE lines, then each of its series: one sample,
 * or _sum and _count for a summary. */
static void render_family(text *t, const family *f)
{
    const series *s;
    char v[32];

    text_add(t, "# HELP %s%s%s\n# TYPE %s %s\n", f->name,
             f->help[0] ? " " : "", f->help, f->name, kind_names[f->kind]);
    for (s = f->first; s != NULL; s = s->next) {
        if (f->kind == KIND_GAUGE) {
            format_value(v, s->value);
            render_sample(t, f->name, "", s->labels, v);
            continue;
        }
        if (f->kind == KIND_SUMMARY) {
            format_value(v, s->value);
            render_sample(t, f->name, "_sum", s->labels, v);
        }
        snprintf(v, sizeof(v), "%lld", s->count);
        render_sample(t, f->name, f->kind == KIND_SUMMARY ? "_count" : "",
                      s->labels, v);
    }
}

char *ds_metrics_render(void)
{
    text t = {malloc(4096), 0, 4096, 0};
    const family *f;

    if (t.buf == NULL)
        return NULL;
    pthread_mutex_lock(&lock);
    for (f = families; f != NULL; f = f->next)
        render_family(&t, f);
    text_add(&t, "# HELP " DROPPED_NAME " Updates not recorded because they "
             "would add a series past the cap of %d.\n# TYPE " DROPPED_NAME
             " counter\n" DROPPED_NAME " %lld\n", DS_METRICS_MAX_SERIES,
             series_dropped);
    pthread_mutex_unlock(&lock);
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}

/* --------------------------------------------------------------- server */

/* Queues body as the answer. With MHD_RESPMEM_MUST_FREE the body is the
 * response's to free, also when queuing fails. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *type, void *body,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;

    resp = MHD_create_response_from_buffer(strlen(body), body, mode);
    if (resp == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, "Allow", "GET, HEAD");
    rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Answers one request of the metrics server: GET or HEAD of /metrics or
 * /healthz, 404 for another path, 405 for another method. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    char *page;

    (void)cls;
    (void)version;
    (void)data;
    (void)data_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, JSON_TYPE,
                     "{\"error\":\"method_not_allowed\"}",
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/healthz") == 0)
        return reply(conn, MHD_HTTP_OK, JSON_TYPE, "{\"status\":\"ok\"}",
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") != 0)
        return reply(conn, MHD_HTTP_NOT_FOUND, JSON_TYPE,
                     "{\"error\":\"not_found\"}", MHD_RESPMEM_PERSISTENT);
    page = ds_metrics_render();
    if (page == NULL)
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, JSON_TYPE,
                     "{\"error\":\"out_of_memory\"}",
                     MHD_RESPMEM_PERSISTENT);
    return reply(conn, MHD_HTTP_OK, TEXT_FORMAT, page,
                 MHD_RESPMEM_MUST_FREE);
}

/* Starts the daemon on the first address host resolves to. Called under
 * server_lock with no server running. */
static int start_server(const char *host, int port, ds_err *err)
{
    struct addrinfo hints = {0}, *ai = NULL;
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD;
    char service[8];
    int rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(service, sizeof(service), "%d", port);
    rc = getaddrinfo(host, service, &hints, &ai);
    if (rc != 0)
        return ds_err_set(err, "bad_config",
                          "metrics host '%.64s': %s", host, gai_strerror(rc));
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    server = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request,
                              NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                              MHD_OPTION_CONNECTION_LIMIT, 32,
                              MHD_OPTION_CONNECTION_TIMEOUT, 10,
                              MHD_OPTION_END);
    freeaddrinfo(ai);
    if (server == NULL)
        return ds_err_set(err, "metrics_listen",
                          "cannot serve metrics on %.64s port %d (in use, "
                          "or not an address of this host)", host, port);
    return 0;
}

int ds_metrics_serve(const char *host, int port, ds_err *err)
{
    int rc;

    if (port == 0)
        return 0;
    if (port < 0 || port > 65535)
        return ds_err_set(err, "bad_config",
                          "metrics port %d is not 0 to 65535", port);
    if (host == NULL || host[0] == '\0')
        host = "0.0.0.0";
    pthread_mutex_lock(&server_lock);
    if (server != NULL)
        rc = ds_err_set(err, "metrics_listen",
                        "the metrics server already runs");
    else
        rc = start_server(host, port, err);
    pthread_mutex_unlock(&server_lock);
    return rc;
}

void ds_metrics_stop(void)
{
    struct MHD_Daemon *d;

    pthread_mutex_lock(&server_lock);
    d = server;
    server = NULL;
    pthread_mutex_unlock(&server_lock);
    if (d != NULL)
        MHD_stop_daemon(d);
}
