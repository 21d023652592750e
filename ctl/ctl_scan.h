/*
 * ctl_scan.h - reading the DLQ once, from its start to where it ended
 * when the command started.
 *
 * The high watermark of every partition is taken first; records produced
 * later (a replayed document that fails again) are not read, so a command
 * always ends. The partitions are read with librdkafka's simple consumer:
 * no consumer group, nothing committed, nothing left behind on the broker.
 * A topic that does not exist is reported, not created.
 */
#ifndef CTL_SCAN_H
#define CTL_SCAN_H

#include <stddef.h>

#include "ctl_conf.h"
#include "ctl_filter.h"
#include "ctl_record.h"
#include "ds_error.h"

/* Called with each record read, in offset order within a partition.
 * Returns 0 to go on, or -1 with err set to stop the scan (which then
 * returns -1 with that error). */
typedef int (*ctl_scan_fn)(void *ctx, const ctl_record *r, ds_err *err);

typedef struct ctl_scan_info {
    int missing;         /* 1 when the topic does not exist */
    int partitions;      /* partitions of the topic */
    long long total;     /* records on the topic when the scan started
                          * (from the watermarks: gaps in the offsets of a
                          * compacted topic would count too) */
    long long records;   /* records read and handed to the callback */
} ctl_scan_info;

/* Reads the DLQ conf->dlq_topic from conf->brokers and calls fn for each
 * record. With positions (at, nat > 0) only the stretch of each partition
 * that holds them is read. Returns 0 (also for a missing or empty topic,
 * see info), or -1 with err set when Kafka cannot be read or fn stopped. */
int ctl_scan(const ctl_conf *conf, const ctl_at *at, size_t nat,
             ctl_scan_fn fn, void *ctx, ctl_scan_info *info, ds_err *err);

#endif
