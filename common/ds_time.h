/*
 * ds_time.h - timestamps between the CRM's and the destination's formats.
 */
#ifndef DS_TIME_H
#define DS_TIME_H

#include <stddef.h>
#include <time.h>

/* Parses an ISO-8601 / RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS" with
 * optional fraction and a zone of "Z" or "+hh:mm" / "-hh:mm" (none means
 * UTC), or a date alone "YYYY-MM-DD". Returns 0 with *out in seconds since
 * the epoch (UTC), or -1 when the text is not such a time. */
int ds_time_parse_iso8601(const char *text, time_t *out);

/* Formats t in UTC with strftime's format. Returns 0, or -1 when the result
 * does not fit in cap bytes or is empty. */
int ds_time_format_utc(time_t t, const char *format, char *out, size_t cap);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void ds_time_now_iso8601(char out[32]);

/* Milliseconds since the epoch (wall clock: for times other processes and
 * Redis compare), and on the monotonic clock (for timeouts and waits). */
long long ds_time_wall_ms(void);
long long ds_time_mono_ms(void);

/* Sleeps ms milliseconds, going on after a signal interrupts it. */
void ds_time_sleep_ms(long ms);

#endif
