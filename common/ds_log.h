/*
 * ds_log.h - one JSON object per line on stdout (or another stream).
 *
 * The only module of common/ that writes anywhere. Every line carries the
 * time, level and stage; event lines add the fields an operator filters on.
 * The level is checked before anything is formatted. Strings are escaped so
 * that every line stays valid UTF-8 JSON whatever bytes they held, and each
 * string is capped in length.
 */
#ifndef DS_LOG_H
#define DS_LOG_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    DS_LOG_DEBUG = 0,
    DS_LOG_INFO,
    DS_LOG_WARN,
    DS_LOG_ERROR
} ds_log_level;

/* What happened to one document at one stage. NULL strings and negative
 * numbers are left out of the line. */
typedef struct ds_log_event {
    const char *document_id;
    const char *transaction_id;
    const char *status;         /* "SUCCESS", "FAILED", "RETRY", "DUPLICATE",
                                   "UPLOADED", "VERIFIED" */
    long duration_ms;
    int attempt;
    const char *error;          /* reason token */
    const char *message;        /* free text, escaped and capped */
    const char *tier;           /* verification tier of a verified copy */
    const char *upload_mode;    /* how an uploaded copy was sent */
} ds_log_event;

/* Sets the stage name stamped on every line and the lowest level written.
 * The stage string must outlive all logging. */
void ds_log_init(const char *stage, ds_log_level min_level);

/* Writes the lines to stream instead of stdout: for a command-line tool,
 * whose stdout is its output. Call it at start-up, before any thread logs. */
void ds_log_set_stream(FILE *stream);

/* Parses "debug", "info", "warn" or "error"; anything else gives fallback. */
ds_log_level ds_log_level_parse(const char *name, ds_log_level fallback);

/* True when lines of this level are written. */
int ds_log_enabled(ds_log_level level);

/* Writes one event line. */
void ds_log_event_write(ds_log_level level, const ds_log_event *ev);

/* Writes one line with a formatted message and no document fields. */
void ds_log_msg(ds_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends s to out as a JSON string body (without quotes): control
 * characters and quotes escaped, invalid UTF-8 bytes written as \u00XX of
 * the byte, at most max_in bytes of s read. Returns the bytes written, never
 * more than cap - 1; out is always NUL-terminated. */
size_t ds_json_escape(char *out, size_t cap, const char *s, size_t max_in);

#endif
