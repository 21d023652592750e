/* ds_error.c - the one error type of docsync; see ds_error.h. */
#include "ds_error.h"

#include <stdio.h>
#include <string.h>

#include "ds_reason.h"

void ds_err_clear(ds_err *err)
{
    memset(err, 0, sizeof(*err));
    err->retry_after_ms = -1;
}

static void err_vfill(ds_err *err, const char *reason, const char *fmt,
                      va_list ap)
{
    err->klass = ds_reason_class(reason);
    snprintf(err->reason, sizeof(err->reason), "%s", reason);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int ds_err_set(ds_err *err, const char *reason, const char *fmt, ...)
{
    va_list ap;

    /* The first error is the root cause; cleanup failures must not hide it. */
    if (err == NULL || err->klass != DS_CLASS_NONE)
        return -1;
    va_start(ap, fmt);
    err_vfill(err, reason, fmt, ap);
    va_end(ap);
    return -1;
}

int ds_err_reset(ds_err *err, const char *reason, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return -1;
    va_start(ap, fmt);
    err_vfill(err, reason, fmt, ap);
    va_end(ap);
    return -1;
}

ds_class ds_class_for_http(int status)
{
    if (status < 400)
        return DS_CLASS_NONE;
    if (status == 408 || status == 425 || status == 429 || status >= 500)
        return DS_CLASS_TRANSIENT;
    return DS_CLASS_PERMANENT;
}

const char *ds_class_name(ds_class klass)
{
    switch (klass) {
    case DS_CLASS_TRANSIENT:
        return "transient";
    case DS_CLASS_PERMANENT:
        return "permanent";
    default:
        return "none";
    }
}
