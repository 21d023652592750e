/* ctl_time.c - times for the command line; see ctl_time.h. */
#include "ctl_time.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ds_time.h"

/* Digits a duration may have: 9 keep 999999999d well inside a long long. */
#define DURATION_DIGITS_MAX 9

/* Length of "YYYY-MM-DDTHH:MM:SS", after which a fraction may follow. */
#define ISO_SECONDS_LEN 19

int ctl_duration_parse(const char *text, long long *ms)
{
    size_t n = strspn(text, "0123456789");
    long long unit;

    if (n == 0 || n > DURATION_DIGITS_MAX || text[n] == '\0' ||
        text[n + 1] != '\0')
        return -1;
    switch (text[n]) {
    case 's': unit = 1000LL; break;
    case 'm': unit = 60LL * 1000; break;
    case 'h': unit = 3600LL * 1000; break;
    case 'd': unit = 86400LL * 1000; break;
    default: return -1;
    }
    *ms = 0;
    for (size_t i = 0; i < n; i++)
        *ms = *ms * 10 + (text[i] - '0');
    *ms *= unit;
    return 0;
}

/* The milliseconds of an ISO-8601 text that ds_time_parse_iso8601 has
 * accepted: its first three digits of fraction, padded with zeros. */
static long long iso_millis(const char *text)
{
    const char *p = text + ISO_SECONDS_LEN;
    long long ms = 0;
    int i;

    if (strlen(text) <= ISO_SECONDS_LEN || (*p != '.' && *p != ','))
        return 0;
    p++;
    for (i = 0; i < 3; i++) {
        ms *= 10;
        if (isdigit((unsigned char)*p))
            ms += *p++ - '0';
    }
    return ms;
}

int ctl_time_parse(const char *text, long long now_ms, long long *ms)
{
    long long ago;
    time_t t;

    if (ctl_duration_parse(text, &ago) == 0) {
        *ms = now_ms - ago;
        return 0;
    }
    if (ds_time_parse_iso8601(text, &t) < 0)
        return -1;
    *ms = (long long)t * 1000 + iso_millis(text);
    return 0;
}

void ctl_time_iso(long long ms, char *out)
{
    time_t t = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    char date[32];

    /* Times before 1970 are not docsync's, but keep the printout right. */
    if (frac < 0) {
        frac += 1000;
        t -= 1;
    }
    if (ds_time_format_utc(t, "%Y-%m-%dT%H:%M:%S", date, sizeof(date)) < 0)
        snprintf(date, sizeof(date), "(time %lld)", ms / 1000);
    snprintf(out, CTL_ISO_LEN, "%.19s.%03dZ", date, frac);
}

long long ctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
