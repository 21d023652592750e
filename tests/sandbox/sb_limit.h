/*
 * sb_limit.h - the rate limits of the strict modes: fixed windows per API,
 * aligned to multiples of the window on the sandbox clock, and the headers
 * each style uses to tell clients about them.
 */
#ifndef SB_LIMIT_H
#define SB_LIMIT_H

#include <stdint.h>

#include "sb_call.h"
#include "sb_config.h"

/* Creates the windows, all empty; NULL when out of memory. */
sb_limit *sb_limit_new(void);

/* Frees l; accepts NULL. */
void sb_limit_free(sb_limit *l);

/* Counts one request of api at now_ms against rule and adds the style's
 * headers to h. Returns 1 when the request is over the limit (it is then
 * counted as refused and must not be served), else 0. */
int sb_limit_take(sb_limit *l, sb_api api, const sb_rate_rule *rule,
                  int64_t now_ms, sb_headers *h);

/* The requests refused per API since the start or the last reset. */
void sb_limit_refused(sb_limit *l, long over[SB_API_COUNT]);

/* Zeroes the refusal counts (POST /admin/reset); windows stay. */
void sb_limit_reset(sb_limit *l);

#endif
