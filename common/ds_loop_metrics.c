/* ds_loop_metrics.c - what the loop counts; see ds_loop_metrics.h. */
#include "ds_loop_metrics.h"

#include "ds_metrics.h"

#define RECORDS "docsync_records_total"
#define RECORDS_HELP "Records a stage finished (ok, dead_lettered) or " \
                     "tried again after a failed attempt (retry)."
#define DEAD "docsync_dead_lettered_total"
#define DEAD_HELP "Records a stage sent to the DLQ, by reason."
#define BREAKER "docsync_breaker_open"
#define BREAKER_HELP "1 while the stage's circuit breaker pauses it."
#define OPENINGS "docsync_breaker_openings_total"
#define OPENINGS_HELP "Times the stage's circuit breaker opened, by reason."
#define HANDLE "docsync_handle_seconds"
#define HANDLE_HELP "Time the stage's handler took per attempt."

/* A stage name and a reason token (at most 47 bytes) fit many times. */
#define LABELS_CAP 256

/* Formats stage="..." and, when name is given, name="value". Returns 0,
 * or -1 when the set could not be made: the caller then counts nothing
 * rather than count under the wrong labels. */
static int labels_of(char out[LABELS_CAP], const char *stage,
                     const char *name, const char *value)
{
    if (name == NULL)
        return ds_metric_labels(out, LABELS_CAP, "stage", stage,
                                (char *)NULL) < 0 ? -1 : 0;
    return ds_metric_labels(out, LABELS_CAP, "stage", stage, name,
                            value != NULL ? value : "", (char *)NULL) < 0
           ? -1 : 0;
}

void ds_loop_metrics_init(const char *stage)
{
    static const char *const results[] = {"ok", "retry", "dead_lettered",
                                          "queued", "paused"};
    char labels[LABELS_CAP];
    size_t i;

    for (i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
        if (labels_of(labels, stage, "result", results[i]) == 0)
            ds_metric_add(RECORDS, RECORDS_HELP, labels, 0);
    }
    if (labels_of(labels, stage, NULL, NULL) == 0) {
        ds_metric_declare_summary(HANDLE, HANDLE_HELP, labels);
        ds_metric_set(BREAKER, BREAKER_HELP, labels, 0);
    }
}

void ds_loop_metrics_breaker(const char *stage, int open, const char *reason)
{
    char labels[LABELS_CAP];

    if (labels_of(labels, stage, NULL, NULL) == 0)
        ds_metric_set(BREAKER, BREAKER_HELP, labels, open ? 1 : 0);
    if (open && reason != NULL &&
        labels_of(labels, stage, "reason", reason) == 0)
        ds_metric_add(OPENINGS, OPENINGS_HELP, labels, 1);
}

void ds_loop_metrics_record(const char *stage, const char *result)
{
    char labels[LABELS_CAP];

    if (labels_of(labels, stage, "result", result) == 0)
        ds_metric_add(RECORDS, RECORDS_HELP, labels, 1);
}

void ds_loop_metrics_dead_lettered(const char *stage, const char *reason)
{
    char labels[LABELS_CAP];

    ds_loop_metrics_record(stage, "dead_lettered");
    if (labels_of(labels, stage, "reason", reason) == 0)
        ds_metric_add(DEAD, DEAD_HELP, labels, 1);
}

void ds_loop_metrics_handled(const char *stage, long long ms)
{
    char labels[LABELS_CAP];

    if (labels_of(labels, stage, NULL, NULL) == 0)
        ds_metric_observe(HANDLE, HANDLE_HELP, labels, (double)ms / 1000.0);
}
