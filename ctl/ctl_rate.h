/*
 * ctl_rate.h - `docsyncctl rate show|clear API`: the request budget an
 * API's stages share in Redis (ds_ratelimit.c: docsync:rate:<api>, with
 * perCredential docsync:rate:<api>:<identity>, each with :hold and
 * :limit).
 *
 * show prints, for every budget of the API, the requests in the current
 * window, a hold (every replica waits) and how long it has left, and a
 * limit learned from the API's headers. clear deletes the holds and the
 * learned limits, for an operator who sees one that is wrong; the log of
 * requests stays, so the budget keeps counting.
 */
#ifndef CTL_RATE_H
#define CTL_RATE_H

#include <stdio.h>

#include "ctl_conf.h"
#include "ds_error.h"
#include "ds_redis.h"

/* Writes every budget of api found in Redis to out. window_ms is the
 * configured window (0 when unknown: a learned limit's window is used,
 * else only the log's size is told). Returns 0, or -1 with err set. */
int ctl_rate_print(FILE *out, ds_redis *r, const char *api, long window_ms,
                   ds_err *err);

/* Deletes the hold and the learned limit of every budget of api. Returns
 * how many keys were deleted, or -1 with err set. */
long ctl_rate_clear_keys(ds_redis *r, const char *api, ds_err *err);

/* Runs `rate show API`. Returns the exit code. */
int ctl_rate_show(ctl_conf *conf, int argc, char **argv);

/* Runs `rate clear API`. Returns the exit code. */
int ctl_rate_clear(ctl_conf *conf, int argc, char **argv);

#endif
