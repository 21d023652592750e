/* ds_breaker.c - the circuit breaker of a stage process; see ds_breaker.h */
#include "ds_breaker.h"

#include <stdlib.h>

void ds_breaker_init(ds_breaker *b, int threshold, long cooldown_ms,
                     long cooldown_max_ms)
{
    b->threshold = threshold > 0 ? threshold : 1;
    b->cooldown_ms = cooldown_ms > 0 ? cooldown_ms : 1;
    b->cooldown_max_ms = cooldown_max_ms > b->cooldown_ms ? cooldown_max_ms
                                                          : b->cooldown_ms;
    b->failures = 0;
    b->openings = 0;
    b->open_until = 0;
    b->probing = 0;
}

/* The cooldown of the next opening: doubled per opening in a row, less a
 * random fifth, so that the replicas that saw one outage do not all probe
 * the recovering API at the same instant (C09). */
static long next_cooldown(const ds_breaker *b)
{
    long ms = b->cooldown_ms;
    int i;

    for (i = 0; i < b->openings && ms < b->cooldown_max_ms; i++)
        ms *= 2;
    if (ms > b->cooldown_max_ms)
        ms = b->cooldown_max_ms;
    return ms - random() % (ms / 5 + 1);
}

long ds_breaker_outage(ds_breaker *b, long long now, long hint_ms)
{
    long ms;

    b->failures++;
    /* A failed probe reopens at once; a closed breaker waits for the
     * threshold, so one bad document cannot stop the stage. */
    if (!b->probing && b->failures < b->threshold)
        return 0;
    ms = next_cooldown(b);
    if (hint_ms > ms)
        ms = hint_ms;
    b->openings++;
    b->probing = 0;
    b->open_until = now + ms;
    return ms;
}

long ds_breaker_trip(ds_breaker *b, long long now)
{
    if (b->failures < b->threshold)
        b->failures = b->threshold - 1;
    return ds_breaker_outage(b, now, -1);
}

long ds_breaker_hold(ds_breaker *b, long long now, long ms)
{
    if (b->open_until < now + ms)
        b->open_until = now + ms;
    b->probing = 0;
    return (long)(b->open_until - now);
}

int ds_breaker_success(ds_breaker *b)
{
    int was = b->open_until != 0 || b->probing;

    b->failures = 0;
    b->openings = 0;
    b->open_until = 0;
    b->probing = 0;
    return was;
}

long ds_breaker_wait(ds_breaker *b, long long now)
{
    if (b->open_until == 0)
        return 0;
    if (now < b->open_until)
        return (long)(b->open_until - now);
    b->open_until = 0;
    b->probing = 1;
    return 0;
}

int ds_breaker_is_open(const ds_breaker *b)
{
    return b->open_until != 0 || b->probing;
}
