/*
 * ds_reason.h - every failure reason of docsync, classified in one place.
 *
 * A reason is a stable token (docsync.reason in the DLQ, `error` in the
 * logs). Its class decides what the loop does with a failure: transient
 * reasons are retried with backoff, permanent ones go to the DLQ. The table
 * in ds_reason.c is the only place that says which is which; ds_err_set
 * takes the class from it, `docsyncctl reasons` prints it, and the README's
 * runbook is checked against it by `make lint`.
 *
 * Two reasons are families: "http_<status>" and "upload_http_<status>",
 * classed by the status (408, 425, 429 and 5xx transient, other 4xx
 * permanent).
 */
#ifndef DS_REASON_H
#define DS_REASON_H

#include <stddef.h>

#include "ds_error.h"

/* The failure says a dependency (an API, Redis) is down rather than that
 * this one document is bad: it counts toward the stage's circuit breaker
 * and does not spend the document's attempts while the breaker is open. */
#define DS_REASON_OUTAGE 0x1

/* The document waits for another party (an earlier try still served, the
 * lease of another uploader): not its fault, so the wait spends no
 * attempt; only RETRY_BUDGET_MS bounds it. */
#define DS_REASON_WAIT 0x2

typedef struct ds_reason {
    const char *name;    /* the token; a family ends in "_<status>" */
    ds_class klass;      /* DS_CLASS_NONE for a family: by HTTP status */
    int flags;           /* DS_REASON_* */
    int grace;           /* tries of a permanent reason before the DLQ */
    const char *meaning; /* one line for operators */
    const char *action;  /* what an operator does about it */
} ds_reason;

/* The entry for name, a family's entry for "http_503" and the like, or
 * NULL for a name the table does not know. */
const ds_reason *ds_reason_find(const char *name);

/* Class of name: from the table, by status for a family; an unknown name
 * is permanent, so that a failure nobody classified is looked at by a
 * person instead of retried forever. */
ds_class ds_reason_class(const char *name);

/* Nonzero when a failure with this reason means a dependency is down. */
int ds_reason_is_outage(const char *name);

/* Nonzero when a failure with this reason spends one of the document's
 * attempts (all but the DS_REASON_WAIT ones). */
int ds_reason_spends_attempt(const char *name);

/* Tries a permanent reason gets before it is dead-lettered (1 for all
 * but the few with a grace retry, such as source_not_found). */
int ds_reason_tries(const char *name);

/* The table, for listing: entry i of ds_reason_count(). */
size_t ds_reason_count(void);
const ds_reason *ds_reason_at(size_t i);

#endif
