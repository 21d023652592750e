/*
 * ctl_replay.h - `docsyncctl dlq replay`: chosen DLQ records back to the
 * topic they came from.
 *
 * For each selected record: its original key and value are produced to
 * the topic in __connect.errors.topic, with the docsync.trace_id header
 * kept and docsync.replayed_from=<partition>:<offset> added, and the
 * delivery report is awaited; then Redis records the replay (ctl_mark.h),
 * which marks the document "replayed" and refuses a second replay of the
 * same DLQ record unless --force.
 */
#ifndef CTL_REPLAY_H
#define CTL_REPLAY_H

#include <stddef.h>

#include "ctl_conf.h"
#include "ctl_record.h"

/* The topic a DLQ record goes back to, or NULL with why filled when it
 * cannot be replayed: no value, the stand-in for a value that was not
 * JSON, no source topic, or the DLQ itself as the source. */
const char *ctl_replay_target(const ctl_record *r, const char *dlq_topic,
                              char *why, size_t cap);

/* Runs `dlq replay ARGS...`. Returns the exit code: 1 when a record could
 * not be replayed or a replay could not be recorded in Redis. */
int ctl_replay(ctl_conf *conf, int argc, char **argv);

#endif
