/* ds_log.c - one JSON object per line on stdout; see ds_log.h. */
#include "ds_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ds_utf8.h"

/* Input bytes kept of an id, token or stage, and of a message. */
#define LOG_ID_MAX 128
#define LOG_MSG_MAX 512

/* Room for n input bytes all escaped as \u00XX, the "..." marker and NUL. */
#define ESCAPED_MAX(n) ((n) * 6 + 4)

/* Keys, quotes, the timestamp, the level and two numbers fit in 256. */
#define LOG_LINE_CAP 8192
_Static_assert(LOG_LINE_CAP >= 256 + 5 * ESCAPED_MAX(LOG_ID_MAX) +
               ESCAPED_MAX(LOG_MSG_MAX), "a log line must never be cut");

typedef struct log_line {
    char buf[LOG_LINE_CAP];
    size_t len;
} log_line;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Set once by ds_log_init before any thread logs, read-only afterwards. */
static const char *log_stage = "docsync";
static ds_log_level log_min = DS_LOG_INFO;
static FILE *log_stream; /* NULL: stdout */

/* Makes each line one uninterrupted write, whatever the thread. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Records the stage name and the lowest level written. Called once at
 * start-up, before any other thread logs.
 */
void ds_log_init(const char *stage, ds_log_level min_level)
{
    log_stage = stage != NULL ? stage : "docsync";
    log_min = min_level;
}

/*
 * Sends every later line to stream instead of stdout. Called once at
 * start-up, like ds_log_init, by a program whose stdout is its output.
 */
void ds_log_set_stream(FILE *stream)
{
    log_stream = stream;
}

/* Maps a LOG_LEVEL value (any case) to a level; NULL or unknown: fallback. */
ds_log_level ds_log_level_parse(const char *name, ds_log_level fallback)
{
    if (name == NULL)
        return fallback;
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0)
            return (ds_log_level)i;
    }
    return fallback;
}

/* Returns non-zero when a line of this level would be written. */
int ds_log_enabled(ds_log_level level)
{
    return level >= log_min;
}

/* Writes the JSON form of one byte that cannot go out as it is. */
static size_t escape_byte(unsigned char c, char piece[8])
{
    switch (c) {
    case '"':
        return (size_t)snprintf(piece, 8, "\\\"");
    case '\\':
        return (size_t)snprintf(piece, 8, "\\\\");
    case '\n':
        return (size_t)snprintf(piece, 8, "\\n");
    case '\r':
        return (size_t)snprintf(piece, 8, "\\r");
    case '\t':
        return (size_t)snprintf(piece, 8, "\\t");
    default:
        return (size_t)snprintf(piece, 8, "\\u%04x", (unsigned)c);
    }
}

/*
 * Appends the JSON string body of s[0..max_in) (stopping at a NUL) to out.
 * Well-formed UTF-8 is copied; quotes, backslash and control characters are
 * escaped; every byte of an ill-formed sequence becomes \u00XX of the byte,
 * which reads back as the Latin-1 character. Output stops before the first
 * piece that would not fit in cap - 1, so an escape is never cut in half.
 * Returns the bytes written; out is NUL-terminated when cap > 0.
 */
size_t ds_json_escape(char *out, size_t cap, const char *s, size_t max_in)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0;
    size_t i = 0;

    if (cap == 0)
        return 0;
    while (i < max_in && p[i] != '\0') {
        char piece[8];
        const char *src = piece;
        size_t n = ds_utf8_seq_len(p + i, max_in - i);
        size_t used = n;

        if (n == 1 && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\' &&
            p[i] != 0x7f) {
            src = (const char *)p + i;
        } else if (n > 1) {
            src = (const char *)p + i;
        } else {
            n = escape_byte(p[i], piece);
            used = 1;
        }

        if (n > cap - 1 - w)
            break;
        memcpy(out + w, src, n);
        w += n;
        i += used;
    }
    out[w] = '\0';
    return w;
}

static void line_raw(log_line *l, const char *s)
{
    size_t n = strlen(s);

    /* Sizing makes this unreachable; a cut line is still better than an
     * overflow. */
    if (n > sizeof(l->buf) - 1 - l->len)
        n = sizeof(l->buf) - 1 - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    l->buf[l->len] = '\0';
}

/*
 * Where to cut a string longer than max bytes: at max, moved back to the
 * start of a character so that the kept part does not end in a stray lead
 * byte that would be escaped as mojibake.
 */
static size_t utf8_cut(const char *s, size_t max)
{
    size_t n = max;

    for (int back = 0; back < 3 && n > 0; back++) {
        if (((unsigned char)s[n] & 0xc0) != 0x80)
            return n;
        n--;
    }
    return ((unsigned char)s[n] & 0xc0) != 0x80 ? n : max;
}

/* Appends ,"key":"value" with value escaped and capped at max_in bytes. */
static void line_str(log_line *l, const char *key, const char *s,
                     size_t max_in)
{
    size_t n;
    int cut;

    if (s == NULL)
        return;
    n = strnlen(s, max_in + 1);
    cut = n > max_in;
    if (cut)
        n = utf8_cut(s, max_in);

    line_raw(l, ",\"");
    line_raw(l, key);
    line_raw(l, "\":\"");
    l->len += ds_json_escape(l->buf + l->len, sizeof(l->buf) - l->len, s, n);
    if (cut)
        line_raw(l, "...");
    line_raw(l, "\"");
}

/* Appends ,"key":v unless v is negative (meaning "not known"). */
static void line_num(log_line *l, const char *key, long v)
{
    char num[32];

    if (v < 0)
        return;
    snprintf(num, sizeof(num), "%ld", v);
    line_raw(l, ",\"");
    line_raw(l, key);
    line_raw(l, "\":");
    line_raw(l, num);
}

/* Starts a line with the UTC time in milliseconds, the level and the stage. */
static void line_begin(log_line *l, ds_log_level level)
{
    char ts[40];
    struct timespec now;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03dZ",
             (int)(now.tv_nsec / 1000000) % 1000);

    l->len = 0;
    l->buf[0] = '\0';
    line_raw(l, "{\"ts\":\"");
    line_raw(l, ts);
    line_raw(l, "\",\"level\":\"");
    if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
        line_raw(l, level_names[level]);
    else
        line_raw(l, "error");
    line_raw(l, "\"");
    line_str(l, "stage", log_stage, LOG_ID_MAX);
}

/* Ends the line and writes it with one fwrite and a flush under the lock,
 * so that lines of different threads never interleave. */
static void line_emit(log_line *l)
{
    FILE *out = log_stream != NULL ? log_stream : stdout;

    line_raw(l, "}\n");

    pthread_mutex_lock(&log_lock);
    if (fwrite(l->buf, 1, l->len, out) != l->len || fflush(out) != 0)
        clearerr(out); /* nowhere to report it; keep trying next time */
    pthread_mutex_unlock(&log_lock);
}

/*
 * Writes one line for ev at level, unless the level is filtered out; NULL
 * strings and negative numbers of ev are omitted. ev may be NULL.
 */
void ds_log_event_write(ds_log_level level, const ds_log_event *ev)
{
    log_line line;

    if (!ds_log_enabled(level))
        return;
    line_begin(&line, level);
    if (ev != NULL) {
        line_str(&line, "documentId", ev->document_id, LOG_ID_MAX);
        line_str(&line, "transactionId", ev->transaction_id, LOG_ID_MAX);
        line_str(&line, "status", ev->status, LOG_ID_MAX);
        line_num(&line, "duration_ms", ev->duration_ms);
        line_num(&line, "attempt", ev->attempt);
        line_str(&line, "error", ev->error, LOG_ID_MAX);
        line_str(&line, "tier", ev->tier, LOG_ID_MAX);
        line_str(&line, "uploadMode", ev->upload_mode, LOG_ID_MAX);
        line_str(&line, "msg", ev->message, LOG_MSG_MAX);
    }
    line_emit(&line);
}

/*
 * Writes one line whose msg is the printf-style message, capped at
 * LOG_MSG_MAX bytes. Nothing is formatted when the level is filtered out.
 */
void ds_log_msg(ds_log_level level, const char *fmt, ...)
{
    /* One byte beyond the cap tells line_str that the text was longer. */
    char msg[LOG_MSG_MAX + 2];
    log_line line;
    va_list ap;

    if (!ds_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    line_begin(&line, level);
    line_str(&line, "msg", msg, LOG_MSG_MAX);
    line_emit(&line);
}
