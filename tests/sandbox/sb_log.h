/*
 * sb_log.h - the sandbox's log: one JSON object per line on stdout.
 *
 * Lines carry ts, level and stage "sandbox". Nothing secret is passed in:
 * callers log methods, paths, ids and statuses, never header values.
 */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <jansson.h>

/* Makes stdout line-buffered so that lines reach a pipe as they happen.
 * Call once before any thread starts. */
void sb_log_init(void);

/* Writes fields (an object, stolen; NULL is an empty one) as one line with
 * ts, level and stage added in front. Never fails visibly: a line that
 * cannot be built is dropped. */
void sb_log_line(const char *level, json_t *fields);

/* Writes {"msg": msg} plus the optional fields (stolen, may be NULL). */
void sb_log_msg(const char *level, const char *msg, json_t *fields);

/* Writes the UTC time now as "2026-12-03T12:00:00Z" into out. */
void sb_log_now_iso(char out[21]);

#endif
