/*
 * ds_breaker.h - the circuit breaker of a stage process.
 *
 * When a dependency is down (an API answering 5xx or timing out, Redis
 * unreachable), every document fails the same way, and retrying each one
 * would spend their attempts and send them all to the DLQ. After `threshold`
 * failures in a row that the reason table calls outages, the breaker opens:
 * the loop stops taking records (its partitions are paused, the record in
 * hand goes back unspent) for a cooldown that doubles with each opening in a
 * row, up to a cap. Then one record is let through as a probe: success
 * closes the breaker, another outage opens it again. A 429 with Retry-After
 * opens it for exactly that long: a rate limit applies to the whole API.
 *
 * Pure state, no I/O: the loop calls it and acts on what it says.
 */
#ifndef DS_BREAKER_H
#define DS_BREAKER_H

typedef struct ds_breaker {
    int threshold;         /* outages in a row that open it */
    long cooldown_ms;      /* first cooldown */
    long cooldown_max_ms;  /* cap of the doubling */
    int failures;          /* outages in a row since the last success */
    int openings;          /* openings in a row since the last success */
    long long open_until;  /* monotonic ms; 0 when closed */
    int probing;           /* open time is over, a probe is out */
} ds_breaker;

/* Sets up a closed breaker. */
void ds_breaker_init(ds_breaker *b, int threshold, long cooldown_ms,
                     long cooldown_max_ms);

/* Records an outage at now; hint_ms is the server's Retry-After or -1.
 * Returns the cooldown in ms when this failure opened the breaker, 0 when
 * it stays closed. */
long ds_breaker_outage(ds_breaker *b, long long now, long hint_ms);

/* Opens the breaker now, whatever the count: the caller knows the
 * dependency is down (the loop's own Redis call failed). Returns the
 * cooldown, doubling per opening in a row like an outage's. */
long ds_breaker_trip(ds_breaker *b, long long now);

/* Opens the breaker for exactly ms (a rate limit), unless it is already
 * open for longer. Returns the time left open. */
long ds_breaker_hold(ds_breaker *b, long long now, long ms);

/* Records a success (or a failure that proves the dependency answers):
 * closes the breaker and forgets the failures. Returns 1 when it was open
 * or probing, so the caller can log that it closed. */
int ds_breaker_success(ds_breaker *b);

/* Milliseconds the breaker stays open after now, 0 when records may go
 * through. The first call after the open time ends marks the probe. */
long ds_breaker_wait(ds_breaker *b, long long now);

/* Nonzero while open or probing: for gauges and logs. */
int ds_breaker_is_open(const ds_breaker *b);

#endif
