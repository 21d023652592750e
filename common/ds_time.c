/* ds_time.c - timestamp parsing and formatting; see ds_time.h. */
#include "ds_time.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_zone(const char *p, long *offset_s)
{
    int hh, mm, sign;

    *offset_s = 0;
    if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0'))
        return 0;
    if (*p != '+' && *p != '-')
        return -1;
    sign = *p++ == '-' ? -1 : 1;
    if (digits(&p, 2, &hh) < 0)
        return -1;
    if (*p == ':')
        p++;
    if (digits(&p, 2, &mm) < 0 || *p != '\0' || hh > 23 || mm > 59)
        return -1;
    *offset_s = sign * (hh * 3600L + mm * 60L);
    return 0;
}

int ds_time_parse_iso8601(const char *text, time_t *out)
{
    const char *p = text;
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, s = 0;
    long offset = 0;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 ||
        *p++ != '-' || digits(&p, 2, &d) < 0)
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0 ||
            *p++ != ':' || digits(&p, 2, &s) < 0)
            return -1;
        if (*p == '.' || *p == ',') {
            p++;
            if (!isdigit((unsigned char)*p))
                return -1;
            while (isdigit((unsigned char)*p))
                p++;
        }
        if (parse_zone(p, &offset) < 0)
            return -1;
    } else if (*p != '\0') {
        return -1;
    }
    /* 60 allows a leap second; timegm folds it into the next minute. */
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    t = timegm(&tm);
    /* timegm normalises 31 February into March: refuse such dates. */
    if (tm.tm_mday != d || tm.tm_mon != mo - 1)
        return -1;
    *out = t - offset;
    return 0;
}

int ds_time_format_utc(time_t t, const char *format, char *out, size_t cap)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL)
        return -1;
    return strftime(out, cap, format, &tm) == 0 ? -1 : 0;
}

void ds_time_now_iso8601(char out[32])
{
    struct timespec ts;
    struct tm tm;
    char date[24];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%03dZ", date, (int)(ts.tv_nsec / 1000000L));
}

long long ds_time_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long ds_time_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ds_time_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
