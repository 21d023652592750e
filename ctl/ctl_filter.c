/* ctl_filter.c - selecting DLQ records; see ctl_filter.h. */
#include "ctl_filter.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_opt.h"
#include "ctl_time.h"
#include "ds_reason.h"

void ctl_filter_init(ctl_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->since_ms = LLONG_MIN;
    f->until_ms = LLONG_MAX;
}

/* Reads a whole number >= 0 that fills text up to end_char. */
static int whole_number(const char *text, char end_char, long long max,
                        long long *out, const char **end)
{
    char *stop;
    long long n;

    if (*text < '0' || *text > '9')
        return -1;
    errno = 0;
    n = strtoll(text, &stop, 10);
    if (errno != 0 || *stop != end_char || n > max)
        return -1;
    *out = n;
    *end = stop;
    return 0;
}

int ctl_at_parse(const char *text, ctl_at *at)
{
    long long p, o;
    const char *end;

    if (whole_number(text, ':', INT32_MAX, &p, &end) < 0 ||
        whole_number(end + 1, '\0', INT64_MAX, &o, &end) < 0)
        return -1;
    at->partition = (int32_t)p;
    at->offset = (int64_t)o;
    at->seen = 0;
    return 0;
}

/* Adds a position, once: the same one named twice is one record. */
static int add_at(ctl_filter *f, const char *text, char *why, size_t cap)
{
    ctl_at at;
    size_t i;

    if (ctl_at_parse(text, &at) < 0) {
        snprintf(why, cap, "--at wants PARTITION:OFFSET, such as 2:17, "
                 "not '%s'", text);
        return -1;
    }
    for (i = 0; i < f->nat; i++)
        if (f->at[i].partition == at.partition &&
            f->at[i].offset == at.offset)
            return 1;
    if (f->nat == CTL_AT_MAX) {
        snprintf(why, cap, "at most %d --at positions at once", CTL_AT_MAX);
        return -1;
    }
    f->at[f->nat++] = at;
    return 1;
}

/* Reads the time of --since or --until into *ms. */
static int time_value(const char *name, const char *text, long long now_ms,
                      long long *ms, char *why, size_t cap)
{
    if (ctl_time_parse(text, now_ms, ms) == 0)
        return 1;
    snprintf(why, cap, "%s wants an ISO-8601 time (2026-12-03T10:00:00Z) or "
             "a duration ago (90s, 30m, 2h, 7d), not '%s'", name, text);
    return -1;
}

/* The class must be one the DLQ writes, or the filter matches nothing. */
static int class_value(ctl_filter *f, const char *text, char *why, size_t cap)
{
    if (strcmp(text, "transient") != 0 && strcmp(text, "permanent") != 0) {
        snprintf(why, cap, "--class is transient or permanent, not '%s'",
                 text);
        return -1;
    }
    f->klass = text;
    return 1;
}

int ctl_filter_arg(ctl_filter *f, int argc, char **argv, int *i,
                   long long now_ms, char *why, size_t cap)
{
    const char *v = NULL;
    int rc;

    if (ctl_opt_flag(argv, *i, "--all")) {
        f->all = 1;
        return 1;
    }
    if ((rc = ctl_opt_value(argc, argv, i, "--at", &v, why, cap)) != 0)
        return rc < 0 ? rc : add_at(f, v, why, cap);
    if ((rc = ctl_opt_value(argc, argv, i, "--reason", &f->reason, why,
                            cap)) != 0 ||
        (rc = ctl_opt_value(argc, argv, i, "--stage", &f->stage, why,
                            cap)) != 0 ||
        (rc = ctl_opt_value(argc, argv, i, "--document", &f->document, why,
                            cap)) != 0)
        return rc;
    if ((rc = ctl_opt_value(argc, argv, i, "--class", &v, why, cap)) != 0)
        return rc < 0 ? rc : class_value(f, v, why, cap);
    if ((rc = ctl_opt_value(argc, argv, i, "--since", &v, why, cap)) != 0)
        return rc < 0 ? rc : time_value("--since", v, now_ms, &f->since_ms,
                                        why, cap);
    if ((rc = ctl_opt_value(argc, argv, i, "--until", &v, why, cap)) != 0)
        return rc < 0 ? rc : time_value("--until", v, now_ms, &f->until_ms,
                                        why, cap);
    return 0;
}

int ctl_filter_has_criteria(const ctl_filter *f)
{
    return f->reason != NULL || f->stage != NULL || f->klass != NULL ||
           f->document != NULL || f->since_ms != LLONG_MIN ||
           f->until_ms != LLONG_MAX;
}

int ctl_filter_selects(const ctl_filter *f)
{
    return f->nat > 0 || f->all || ctl_filter_has_criteria(f);
}

int ctl_filter_check(const ctl_filter *f, char *why, size_t cap)
{
    if (f->nat > 0 && (f->all || ctl_filter_has_criteria(f))) {
        snprintf(why, cap, "--at names records by position; it does not go "
                 "with --all or filters");
        return -1;
    }
    if (f->all && ctl_filter_has_criteria(f)) {
        snprintf(why, cap, "--all takes every record; it does not go with "
                 "filters");
        return -1;
    }
    if (f->since_ms > f->until_ms) {
        snprintf(why, cap, "--since is later than --until: nothing can "
                 "match");
        return -1;
    }
    /* A typo would select nothing and look like an empty DLQ. */
    if (f->stage != NULL && strcmp(f->stage, "fetcher") != 0 &&
        strcmp(f->stage, "mapper") != 0 && strcmp(f->stage, "uploader") != 0 &&
        strcmp(f->stage, "verifier") != 0) {
        snprintf(why, cap, "--stage '%s' is not a stage that dead-letters: "
                 "fetcher, mapper, uploader or verifier", f->stage);
        return -1;
    }
    if (f->reason != NULL && ds_reason_find(f->reason) == NULL) {
        snprintf(why, cap, "--reason '%s' is not a reason docsync gives "
                 "(docsyncctl reasons lists them)", f->reason);
        return -1;
    }
    return 0;
}

/* Nonzero when the header (or key) equals want, or want is not given. */
static int same(const char *want, const char *have)
{
    return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

/* The position filter: marks and takes a record named by --at. */
static int match_at(ctl_filter *f, const ctl_record *r)
{
    size_t i;

    for (i = 0; i < f->nat; i++) {
        if (f->at[i].partition == r->partition &&
            f->at[i].offset == r->offset) {
            f->at[i].seen = 1;
            return 1;
        }
    }
    return 0;
}

int ctl_filter_match(ctl_filter *f, const ctl_record *r)
{
    long long when;

    if (f->nat > 0)
        return match_at(f, r);
    if (!same(f->reason, ctl_record_header(r, CTL_H_REASON)) ||
        !same(f->stage, ctl_record_stage(r)) ||
        !same(f->klass, ctl_record_header(r, CTL_H_CLASS)) ||
        !same(f->document, r->key))
        return 0;
    if (f->since_ms == LLONG_MIN && f->until_ms == LLONG_MAX)
        return 1;
    /* A record without any time cannot be placed in a window. */
    when = ctl_record_when_ms(r);
    return when >= 0 && when >= f->since_ms && when <= f->until_ms;
}
