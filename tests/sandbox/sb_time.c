/* sb_time.c - wall clock and timestamps; see sb_time.h. */
#include "sb_time.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ds_time.h"

int64_t sb_time_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void sb_time_format_ms(int64_t ms, char out[SB_TIME_ISO_LEN + 1])
{
    char secs[21];

    if (ds_time_format_utc((time_t)(ms / 1000), "%Y-%m-%dT%H:%M:%S", secs,
                           sizeof(secs)) != 0)
        secs[0] = '\0';
    snprintf(out, SB_TIME_ISO_LEN + 1, "%s.%03dZ", secs, (int)(ms % 1000));
}

/* The milliseconds of the fraction after the seconds of text, 0 without
 * one: ds_time_parse_iso8601 keeps whole seconds only. */
static int fraction_ms(const char *text)
{
    const char *dot = strchr(text, '.');
    int ms = 0, digits = 0;

    if (dot == NULL || strchr(text, 'T') == NULL || dot < strchr(text, 'T'))
        return 0;
    for (const char *p = dot + 1; isdigit((unsigned char)*p); p++) {
        if (digits++ < 3)
            ms = ms * 10 + (*p - '0');
    }
    while (digits > 0 && digits < 3) {
        ms *= 10;
        digits++;
    }
    return ms;
}

int sb_time_parse_ms(const char *text, int64_t *ms)
{
    time_t secs;

    /* A date alone is no point in time for a listing. */
    if (text == NULL || strchr(text, 'T') == NULL ||
        ds_time_parse_iso8601(text, &secs) != 0)
        return -1;
    *ms = (int64_t)secs * 1000 + fraction_ms(text);
    return 0;
}
