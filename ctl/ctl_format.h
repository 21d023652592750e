/*
 * ctl_format.h - how a DLQ record is printed.
 *
 * Three forms: one line with the columns an operator scans (list), one
 * JSON object per line for jq (list --json), and every header with the
 * value pretty-printed (show). Bytes that are not valid UTF-8 or not
 * printable never break a line or the JSON. The JSON and the block also
 * tell, when given, whether the blob the record names is still kept.
 */
#ifndef CTL_FORMAT_H
#define CTL_FORMAT_H

#include <stdio.h>

#include "ctl_record.h"

/* What Redis says of the blob a DLQ record names (its value's "blob"). */
typedef struct ctl_blob_view {
    const char *sha256;    /* NULL: the record names no blob */
    const char *state;     /* "kept": the sweep removes it at until_ms
                            * (-1: never); "held": the document holds it
                            * with no deadline (it is on its way again);
                            * "expired": its hold ended at expired_ms;
                            * "released": the document holds it no more
                            * (verified since); "unknown": Redis could not
                            * say */
    long long until_ms;
    long long expired_ms;
} ctl_blob_view;

/* Writes "P:O  last-failure  stage  reason  class  attempts  http  key",
 * space-separated and padded, "-" for what the record does not say. */
void ctl_format_line(FILE *out, const ctl_record *r);

/* Writes the record as one JSON object and a newline: topic, partition,
 * offset, timestamp (ms), key, headers (an object, last value of a name
 * wins), and value (the parsed JSON, or a string when it is not JSON);
 * with blob (may be NULL) naming one, also "blob": {sha256, state, and
 * keptUntil or expiredAt in ISO-8601}. Returns 0, or -1 when out of
 * memory. */
int ctl_format_json(FILE *out, const ctl_record *r, const char *topic,
                    const ctl_blob_view *blob);

/* Writes a block for reading: position and times, the key, the blob when
 * blob (may be NULL) names one, every header (times annotated in
 * ISO-8601), and the value as indented JSON. */
void ctl_format_show(FILE *out, const ctl_record *r, const char *topic,
                     const ctl_blob_view *blob);

#endif
