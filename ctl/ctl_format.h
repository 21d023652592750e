/*
 * ctl_format.h - how a DLQ record is printed.
 *
 * Three forms: one line with the columns an operator scans (list), one
 * JSON object per line for jq (list --json), and every header with the
 * value pretty-printed (show). Bytes that are not valid UTF-8 or not
 * printable never break a line or the JSON.
 */
#ifndef CTL_FORMAT_H
#define CTL_FORMAT_H

#include <stdio.h>

#include "ctl_record.h"

/* Writes "P:O  last-failure  stage  reason  class  attempts  http  key",
 * space-separated and padded, "-" for what the record does not say. */
void ctl_format_line(FILE *out, const ctl_record *r);

/* Writes the record as one JSON object and a newline: topic, partition,
 * offset, timestamp (ms), key, headers (an object, last value of a name
 * wins), and value (the parsed JSON, or a string when it is not JSON).
 * Returns 0, or -1 when out of memory. */
int ctl_format_json(FILE *out, const ctl_record *r, const char *topic);

/* Writes a block for reading: position and times, the key, every header
 * (times annotated in ISO-8601), and the value as indented JSON. */
void ctl_format_show(FILE *out, const ctl_record *r, const char *topic);

#endif
