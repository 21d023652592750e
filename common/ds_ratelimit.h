/*
 * ds_ratelimit.h - a request budget per API, shared by every replica
 * through Redis.
 *
 * The connector gives the limit in advance (requests per window); docsync
 * then sends no request over it: a sliding log of send times in Redis
 * (docsync:rate:<api>[:<identity>]), judged on Redis's clock, admits a
 * request only while fewer than `requests` were sent in the last
 * window_ms + margin_ms. Responses correct it at run time: a 429 with
 * Retry-After (seconds or HTTP-date), or RateLimit / RateLimit-Policy,
 * RateLimit-Remaining / -Reset, X-RateLimit-Remaining / -Reset headers that
 * say the budget is spent, hold every replica until the reset
 * (docsync:rate:<api>:hold); a smaller limit announced in the headers
 * replaces the configured one for a while (C08, C09).
 */
#ifndef DS_RATELIMIT_H
#define DS_RATELIMIT_H

#include "ds_error.h"
#include "ds_http.h"
#include "ds_redis.h"

/* How an X-RateLimit-Reset (or RateLimit-Reset) value is given. */
typedef enum {
    DS_RESET_AUTO = 0,  /* epoch seconds or ms when it looks like a date,
                           else delta seconds */
    DS_RESET_SECONDS,   /* seconds until the reset */
    DS_RESET_MS,        /* milliseconds until the reset */
    DS_RESET_EPOCH_S,   /* the reset time, seconds since the epoch */
    DS_RESET_EPOCH_MS   /* the reset time, ms since the epoch */
} ds_reset_unit;

typedef struct ds_rate_cfg {
    long requests;          /* 0: no limit known in advance */
    long window_ms;
    long margin_ms;         /* added to the window against clock skew */
    int per_credential;     /* the API counts per user: key by identity */
    ds_reset_unit reset_unit;
    long max_wait_ms;       /* a longer wait gives the record back */
    long max_hold_ms;       /* the longest hold an answer may impose (a
                               reset misread can ask for hours); 0: none */
} ds_rate_cfg;

typedef struct ds_rate ds_rate;

/* A budget for the API named api_id. redis must outlive it. A cfg with no
 * limit still learns from responses. Returns NULL with err set. */
ds_rate *ds_rate_new(const ds_rate_cfg *cfg, const char *api_id,
                     ds_redis *redis, ds_err *err);

/* Frees r; accepts NULL. */
void ds_rate_free(ds_rate *r);

/* Takes one request from the budget, waiting up to max_wait_ms for one.
 * identity (ds_auth_identity, or NULL) keys a per-credential budget.
 * Returns 0 when the request may go now; -1 with err "rate_limited" and
 * err->retry_after_ms set when the wait would be longer (the caller gives
 * its record back and the stage holds), or a Redis failure. */
int ds_rate_acquire(ds_rate *r, const char *identity, ds_err *err);

/* Learns from one response: its status and headers. Returns the hold it
 * set for every replica, in ms (0 when the answer asks for none), so that
 * a caller can give its record back for exactly that long. */
long ds_rate_observe(ds_rate *r, const char *identity,
                     const ds_http_resp *resp);

#endif
