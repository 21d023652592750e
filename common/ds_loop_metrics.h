/*
 * ds_loop_metrics.h - what the loop counts, by stage.
 *
 *   docsync_records_total{stage,result}       result: ok, retry (a failed
 *                                             attempt that is tried again),
 *                                             dead_lettered
 *   docsync_dead_lettered_total{stage,reason} reason: the DLQ's
 *                                             docsync.reason header
 *   docsync_handle_seconds{stage}             summary (_sum, _count) of the
 *                                             handler's time per attempt
 *   docsync_breaker_open{stage}               gauge: 1 while the circuit
 *                                             breaker holds the stage
 *   docsync_breaker_openings_total{stage,reason}  times it opened, by the
 *                                             reason of the failure
 *
 * One call per outcome, so that the loop stays about records, not metrics.
 */
#ifndef DS_LOOP_METRICS_H
#define DS_LOOP_METRICS_H

/* Creates the stage's series at zero, so that they are scraped (and rates
 * can be taken) before the first record. */
void ds_loop_metrics_init(const char *stage);

/* Counts one outcome of a record: "ok", "retry", "queued" (sent behind
 * an older record of its document) or "paused" (put back unspent when
 * the breaker opened). */
void ds_loop_metrics_record(const char *stage, const char *result);

/* Counts a record that reached the DLQ, as dead_lettered and by reason. */
void ds_loop_metrics_dead_lettered(const char *stage, const char *reason);

/* Records how long one call of the handler took. */
void ds_loop_metrics_handled(const char *stage, long long ms);

/* Sets the breaker gauge; an opening is also counted under reason. */
void ds_loop_metrics_breaker(const char *stage, int open, const char *reason);

#endif
