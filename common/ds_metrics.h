/*
 * ds_metrics.h - the process's Prometheus counters, gauges and summaries.
 *
 * One registry per process, safe to use from any thread. A metric is a name
 * (a family) with one series per label set. Calls name the metric, its help
 * text (kept from the first call) and its labels as already formatted text,
 * `stage="fetcher",reason="source_not_found"`, which ds_metric_labels builds
 * with the escaping of the text format. The registry holds at most
 * DS_METRICS_MAX_SERIES series: past that, calls that would add a series
 * are dropped and only counted, so that an unbounded label value cannot
 * grow memory without bound. A call that cannot be honoured (a bad name, a
 * name already used with another type, a malformed label set) changes
 * nothing: metrics must never stop the work they count.
 *
 * ds_metrics_serve answers GET /metrics (text format 0.0.4) and GET /healthz
 * from a libmicrohttpd thread of its own.
 */
#ifndef DS_METRICS_H
#define DS_METRICS_H

#include <stddef.h>

#include "ds_error.h"

#define DS_METRICS_MAX_SERIES 1024
#define DS_METRICS_NAME_MAX 128    /* bytes of a metric name */
#define DS_METRICS_LABELS_MAX 512  /* bytes of a formatted label set */
#define DS_METRICS_HELP_MAX 256    /* bytes of help text kept */

/* Adds `by` to the counter `name` with the label set `labels` (already
 * formatted, e.g. "stage=\"fetcher\",reason=\"source_not_found\"", or ""
 * for none), creating it at 0 first. help is used the first time a name is
 * seen. A negative `by` is ignored: a counter never goes down. */
void ds_metric_add(const char *name, const char *help, const char *labels,
                   long by);

/* Sets the gauge `name`{labels} to value. */
void ds_metric_set(const char *name, const char *help, const char *labels,
                   double value);

/* Records one observation of the summary `name`{labels}: value is added to
 * name_sum and name_count goes up by one. A summary without quantiles, as
 * the text format allows. */
void ds_metric_observe(const char *name, const char *help,
                       const char *labels, double value);

/* Creates the summary `name`{labels} with no observation yet (sum and
 * count 0), as ds_metric_add with `by` 0 creates a counter. */
void ds_metric_declare_summary(const char *name, const char *help,
                               const char *labels);

/* Formats a label set for the calls above from NULL-terminated name, value
 * pairs: ds_metric_labels(out, cap, "stage", "fetcher", "result", "ok",
 * NULL) writes `stage="fetcher",result="ok"`. Values are escaped as the
 * text format asks (backslash, double quote, line feed) and bytes that are
 * not UTF-8 become '?'. Returns the length written, or -1 with out set to
 * "" when a name is not a valid label name or the set does not fit in cap
 * bytes. */
int ds_metric_labels(char *out, size_t cap, ...);

/* Renders every metric in the Prometheus text format 0.0.4 (HELP and TYPE
 * once per name, series grouped by name, families in the order they were
 * first seen) into a new string the caller frees; NULL when out of memory.
 * The last family is docsync_metrics_series_dropped_total, the updates the
 * cap turned away (each call that would have made a new series). */
char *ds_metrics_render(void);

/* Forgets every metric and the dropped count, as at start. For tests, and
 * to release the memory at exit. */
void ds_metrics_reset(void);

/* Starts an HTTP server (libmicrohttpd, its own thread) on host:port
 * serving GET /metrics and GET /healthz ({"status":"ok"}); port 0 means do
 * not serve. host is a name or a numeric IPv4 or IPv6 address. Returns 0,
 * or -1 with err when the arguments are bad, the address cannot be bound
 * or a server already runs. */
int ds_metrics_serve(const char *host, int port, ds_err *err);

/* Stops the server started by ds_metrics_serve; nothing when none runs. */
void ds_metrics_stop(void);

#endif
