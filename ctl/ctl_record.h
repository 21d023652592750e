/*
 * ctl_record.h - one DLQ record, as docsyncctl reads it.
 *
 * A copy of the record (key, value, timestamp and every header, each
 * NUL-terminated), and the meaning of the headers the loop writes on a
 * dead letter (common/ds_loop.c, dead_letter()): where the record came
 * from, the stage, class, reason, attempts, last HTTP status and failure
 * times. A header given twice counts by its last value, as librdkafka's
 * rd_kafka_header_get_last reads it.
 */
#ifndef CTL_RECORD_H
#define CTL_RECORD_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_H_TOPIC "__connect.errors.topic"
#define CTL_H_PARTITION "__connect.errors.partition"
#define CTL_H_OFFSET "__connect.errors.offset"
#define CTL_H_STAGE "__connect.errors.stage"
#define CTL_H_CLASS "__connect.errors.exception.class.name"
#define CTL_H_MESSAGE "__connect.errors.exception.message"
#define CTL_H_DS_STAGE "docsync.stage"
#define CTL_H_REASON "docsync.reason"
#define CTL_H_ATTEMPTS "docsync.attempts"
#define CTL_H_HTTP_STATUS "docsync.http_status"
#define CTL_H_FIRST_FAILURE "docsync.first_failure"
#define CTL_H_LAST_FAILURE "docsync.last_failure"
#define CTL_H_TRACE_ID "docsync.trace_id"
#define CTL_H_REPLAYED_FROM "docsync.replayed_from"

/* The DLQ value that stands for a value that was not a JSON object. */
#define CTL_WRAPPER_ERROR "value_not_json_object"

typedef struct ctl_header {
    char *name;
    char *value;      /* NULL for a header without a value */
    size_t value_len;
} ctl_header;

typedef struct ctl_record {
    int32_t partition;
    int64_t offset;
    long long timestamp_ms;   /* the record's timestamp, -1 when none */
    char *key;                /* NULL when the record has no key */
    size_t key_len;
    char *value;              /* NULL when the record has no value */
    size_t value_len;
    ctl_header *headers;
    size_t nheaders;
} ctl_record;

/* A record with the given position, timestamp, key and value (either may
 * be NULL), and no headers; the bytes are copied. NULL when out of memory. */
ctl_record *ctl_record_new(int32_t partition, int64_t offset,
                           long long timestamp_ms, const void *key,
                           size_t key_len, const void *value,
                           size_t value_len);

/* Appends a header (value may be NULL). Returns 0, or -1 when out of
 * memory. */
int ctl_record_add_header(ctl_record *r, const char *name, const void *value,
                          size_t value_len);

/* A copy of a consumed Kafka message with its headers, or NULL when out of
 * memory. */
ctl_record *ctl_record_from_message(const rd_kafka_message_t *m);

/* Frees r; accepts NULL. */
void ctl_record_free(ctl_record *r);

/* The value of the last header called name, or NULL when there is none
 * (or it has no value). */
const char *ctl_record_header(const ctl_record *r, const char *name);

/* The header name as a whole number, or fallback when it is absent or not
 * a number. */
long long ctl_record_header_ll(const ctl_record *r, const char *name,
                               long long fallback);

/* The stage that gave up: docsync.stage, else __connect.errors.stage. */
const char *ctl_record_stage(const ctl_record *r);

/* When the record failed for the last time, in epoch ms: the header
 * docsync.last_failure, else the record's timestamp, else -1. */
long long ctl_record_when_ms(const ctl_record *r);

/* Nonzero when the value is the DLQ's stand-in for a value that was not a
 * JSON object ({"error":"value_not_json_object",...}): the original bytes
 * are not in the DLQ, so the record cannot be replayed. */
int ctl_record_is_wrapper(const ctl_record *r);

#endif
