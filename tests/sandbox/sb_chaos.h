/*
 * sb_chaos.h - random faults for a chaos test of the stages: per route, a
 * share of requests answered 5xx, left hanging or cut off, and periodic
 * bursts of 429; a share of uploads lost or corrupted after their 201; the
 * counts of what was injected and the most requests of each route seen at
 * once.
 *
 * The engine decides and counts; sb_http.c and sb_tx.c apply what it
 * decides. It has
 * its own mutex. Its random numbers come from one generator seeded by the
 * settings, so one seed and one order of requests give the same faults.
 * Settings and counts are described in docs/sandbox.md.
 */
#ifndef SB_CHAOS_H
#define SB_CHAOS_H

#include <stdint.h>

#include <jansson.h>

#include "sb_state.h"

#define SB_CHAOS_DEFAULT_HANG_MS 30000L
#define SB_CHAOS_DEFAULT_RETRY_AFTER_S 1L

typedef struct sb_chaos sb_chaos;

/* What chaos does to one request. */
typedef enum {
    SB_CHAOS_NONE = 0,
    SB_CHAOS_5XX,         /* answer 500, 502 or 503 without the handler */
    SB_CHAOS_HANG,        /* no answer until the client leaves or hang_ms */
    SB_CHAOS_RESET,       /* close the connection before the body is read */
    SB_CHAOS_RESET_AFTER, /* run the handler, then close without answer */
    SB_CHAOS_429,         /* inside a burst: 429 with Retry-After */
    SB_CHAOS_LOST,        /* an upload answered 201, then not shown */
    SB_CHAOS_CORRUPTED,   /* an upload stored with one byte changed */
    SB_CHAOS_KINDS
} sb_chaos_kind;

/* Periodic windows of 429: the k-th opens k * every_ms after the settings
 * were made (k >= 1) and lasts length_ms. every_ms 0: no bursts. */
typedef struct sb_chaos_burst {
    long every_ms;
    long length_ms;
    long retry_after_s;
} sb_chaos_burst;

/* The settings of POST /admin/chaos. Rates are fractions in [0, 1]; the
 * three request rates share one draw, so their sum is at most 1. The
 * upload rates do not depend on routes. */
typedef struct sb_chaos_settings {
    int all_routes;             /* "*": every route with a fault queue */
    int routes[SB_FAULT_NONE];  /* else 1 for each route named */
    double rate_5xx;
    double rate_hang;
    long hang_ms;
    double rate_reset;
    sb_chaos_burst burst;
    double tx_lose_rate;
    double tx_corrupt_rate;
    uint64_t seed;
} sb_chaos_settings;

/* The fault chosen for one request. */
typedef struct sb_chaos_fault {
    sb_chaos_kind kind;
    int status;          /* 500, 502 or 503 for SB_CHAOS_5XX; 429 */
    long hang_ms;        /* SB_CHAOS_HANG */
    long retry_after_s;  /* SB_CHAOS_429 */
} sb_chaos_fault;

/* Fills s with "no chaos": every route, all rates 0, hang_ms and the
 * burst's retry_after_s at their defaults, and a seed from the clock. */
void sb_chaos_settings_init(sb_chaos_settings *s);

/* The settings as JSON, in the shape POST /admin/chaos takes, defaults
 * filled in; NULL when out of memory. */
json_t *sb_chaos_settings_json(const sb_chaos_settings *s);

/* The name of a kind on log lines: "5xx", "hang", "reset",
 * "reset_after_store", "429", "lost", "corrupted"; NULL for
 * SB_CHAOS_NONE. */
const char *sb_chaos_kind_name(sb_chaos_kind kind);

/* Creates an engine with no chaos. Returns NULL when out of memory. */
sb_chaos *sb_chaos_new(void);

/* Frees the engine; accepts NULL. */
void sb_chaos_free(sb_chaos *ch);

/* Replaces the settings, reseeds the generator and restarts the burst
 * clock. The counts stay: a test may turn chaos off, let the stages
 * recover, and then read what happened. */
void sb_chaos_set(sb_chaos *ch, const sb_chaos_settings *s);

/* Turns chaos off and zeroes the counts; the most requests at once restart
 * from the number in flight now. For POST /admin/reset. */
void sb_chaos_reset(sb_chaos *ch);

/* Chooses the fault of a request of route (SB_CHAOS_NONE when chaos does
 * not apply to it) and counts it. Call once per request, and only for one
 * that no queued fault applies to. */
void sb_chaos_decide(sb_chaos *ch, sb_fault_route route,
                     sb_chaos_fault *out);

/* The fate of an upload about to be stored: SB_CHAOS_LOST with
 * txLoseRate, else SB_CHAOS_CORRUPTED with txCorruptRate, else
 * SB_CHAOS_NONE. *pick gets a random number (for the byte to change).
 * Nothing is counted: the caller counts the fate with sb_chaos_count once
 * the upload is stored. */
sb_chaos_kind sb_chaos_upload_fate(sb_chaos *ch, uint64_t *pick);

/* Counts one fault of kind as injected on route. */
void sb_chaos_count(sb_chaos *ch, sb_fault_route route, sb_chaos_kind kind);

/* Counts a request of route as started and keeps the highest number seen
 * in flight at once. Every call is paired with one of sb_chaos_leave. */
void sb_chaos_enter(sb_chaos *ch, sb_fault_route route);

/* Counts a request of route as ended. */
void sb_chaos_leave(sb_chaos *ch, sb_fault_route route);

/* {"settings":{...},"injected":{counts},"byRoute":{route:{counts}},
 * "maxInFlight":{route:n},"inFlight":{route:n}}, where counts are "5xx",
 * "hang", "reset" (of which "resetAfterStore"), "429", "lost",
 * "corrupted" and "total". NULL when out of memory. */
json_t *sb_chaos_report(sb_chaos *ch);

#endif
