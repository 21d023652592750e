/*
 * sb_time.h - the sandbox's wall clock in milliseconds and the RFC 3339
 * form of its timestamps ("2026-12-03T17:00:00.000Z").
 */
#ifndef SB_TIME_H
#define SB_TIME_H

#include <stdint.h>

#define SB_TIME_ISO_LEN 24

/* Milliseconds since the epoch on the realtime clock: rate-limit windows
 * and token lifetimes are told against it, like a vendor's. */
int64_t sb_time_now_ms(void);

/* Writes ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into out. */
void sb_time_format_ms(int64_t ms, char out[SB_TIME_ISO_LEN + 1]);

/* Parses an RFC 3339 time with an optional fraction (milliseconds kept,
 * finer digits dropped) and a zone. Returns 0 with *ms set, or -1 when the
 * text is not such a time. */
int sb_time_parse_ms(const char *text, int64_t *ms);

#endif
