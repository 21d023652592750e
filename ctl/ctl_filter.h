/*
 * ctl_filter.h - which DLQ records a command works on.
 *
 * A selection is one of three things: records named by position (--at
 * P:O, repeatable), records matching filters (--reason, --stage, --class,
 * --document, --since, --until, combined with AND), or every record
 * (--all). Positions do not mix with filters, nor --all with either: a
 * replay must select exactly what the operator meant.
 *
 * --since and --until compare with the record's last failure time (the
 * docsync.last_failure header, else the record's timestamp); both bounds
 * are inclusive.
 */
#ifndef CTL_FILTER_H
#define CTL_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_record.h"

/* Most positions one command line may name. */
#define CTL_AT_MAX 256

typedef struct ctl_at {
    int32_t partition;
    int64_t offset;
    int seen;             /* set by ctl_filter_match when it is read */
} ctl_at;

typedef struct ctl_filter {
    const char *reason;   /* NULL when not given */
    const char *stage;
    const char *klass;    /* "transient" or "permanent" */
    const char *document;
    long long since_ms;   /* LLONG_MIN when not given */
    long long until_ms;   /* LLONG_MAX when not given */
    ctl_at at[CTL_AT_MAX];
    size_t nat;
    int all;
} ctl_filter;

/* An empty selection: no position, no filter, not --all. */
void ctl_filter_init(ctl_filter *f);

/* Parses "P:O" (partition and offset, both whole numbers >= 0). Returns 0,
 * or -1 when text is not such a position. */
int ctl_at_parse(const char *text, ctl_at *at);

/* Takes one selection option at argv[*i] (--at, --all or a filter, times
 * relative to now_ms). Returns 1 when it was one, 0 when argv[*i] is
 * another argument, -1 with why filled when its value is wrong. */
int ctl_filter_arg(ctl_filter *f, int argc, char **argv, int *i,
                   long long now_ms, char *why, size_t cap);

/* Checks that the options given go together. Returns 0, or -1 with why. */
int ctl_filter_check(const ctl_filter *f, char *why, size_t cap);

/* Nonzero when at least one filter (not --at, not --all) is given. */
int ctl_filter_has_criteria(const ctl_filter *f);

/* Nonzero when the selection names something: positions, filters or all. */
int ctl_filter_selects(const ctl_filter *f);

/* Nonzero when the selection takes r. Marks a position found by --at as
 * seen, so that the caller can name the positions that were not. */
int ctl_filter_match(ctl_filter *f, const ctl_record *r);

#endif
