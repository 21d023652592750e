/*
 * ds_error.h - the one error type of docsync.
 *
 * Every fallible function of common/ returns 0 on success or -1 on failure
 * and fills a caller-provided ds_err. The first error set wins: later calls
 * to ds_err_set on an error that is already set change nothing, so the root
 * cause survives cleanup paths.
 */
#ifndef DS_ERROR_H
#define DS_ERROR_H

#include <stdarg.h>

typedef enum {
    DS_CLASS_NONE = 0,  /* no error */
    DS_CLASS_TRANSIENT, /* retry with backoff: timeouts, 5xx, 429, outages */
    DS_CLASS_PERMANENT  /* never retried: straight to the DLQ */
} ds_class;

typedef struct ds_err {
    ds_class klass;
    char reason[48];     /* stable token, e.g. "source_not_found" */
    int http_status;     /* last HTTP status, 0 when there was none */
    long retry_after_ms; /* server-requested wait, -1 when not given */
    char msg[256];       /* human text; never holds a secret */
} ds_err;

/* Resets err to "no error". */
void ds_err_clear(ds_err *err);

/* Sets reason and message unless err already holds an error; the class
 * comes from the reason (ds_reason.h, the one table of reasons). Always
 * returns -1 so that callers can write `return ds_err_set(...)`. */
int ds_err_set(ds_err *err, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like ds_err_set, but replaces whatever err held. Used where a caller knows
 * better than the callee what the failure means (a 404 that is a deletion). */
int ds_err_reset(ds_err *err, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Class of an HTTP status: 408, 425, 429 and 5xx are transient, every other
 * status of 400 or more is permanent, anything below 400 is DS_CLASS_NONE. */
ds_class ds_class_for_http(int status);

/* Name of a class for logs and DLQ headers: "transient", "permanent", "none". */
const char *ds_class_name(ds_class klass);

#endif
