/*
 * ctl_time.h - the times docsyncctl reads and prints.
 *
 * Kafka and Redis keep times as epoch milliseconds; an operator reads and
 * writes ISO-8601 in UTC ("2026-12-03T10:00:00Z") or a duration back from
 * now ("90s", "30m", "2h", "7d").
 */
#ifndef CTL_TIME_H
#define CTL_TIME_H

#include <stddef.h>

/* Room for "YYYY-MM-DDTHH:MM:SS.mmmZ" and its NUL, with a margin. */
#define CTL_ISO_LEN 32

/* Parses a duration: a whole number of 1 to 9 digits and one unit, s, m,
 * h or d. Returns 0 with *ms set, -1 when text is not such a duration. */
int ctl_duration_parse(const char *text, long long *ms);

/* Parses a point in time given on the command line: an ISO-8601 date-time
 * (fraction of a second kept to the millisecond, zone Z or +hh:mm, UTC when
 * none), a date alone (its midnight UTC), or a duration meaning that long
 * before now_ms. Returns 0 with *ms set, -1 when it is neither. */
int ctl_time_parse(const char *text, long long now_ms, long long *ms);

/* Writes ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (CTL_ISO_LEN bytes). */
void ctl_time_iso(long long ms, char *out);

/* The current time in epoch milliseconds. */
long long ctl_now_ms(void);

#endif
