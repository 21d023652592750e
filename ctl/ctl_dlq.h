/*
 * ctl_dlq.h - `docsyncctl dlq list` and `docsyncctl dlq show`, and the
 * argument handling every dlq command shares.
 */
#ifndef CTL_DLQ_H
#define CTL_DLQ_H

#include "ctl_conf.h"
#include "ctl_filter.h"
#include "ctl_scan.h"

/* Reads the arguments of a dlq command: --brokers and --dlq-topic into
 * conf, the selection into sel, and the flags named in flags (a NULL-ended
 * list) as bits of *set (bit i for flags[i]). Returns 0, or the usage exit
 * code after saying what is wrong. */
int ctl_dlq_args(const char *command, ctl_conf *conf, ctl_filter *sel,
                 const char *const *flags, unsigned *set, int argc,
                 char **argv);

/* Says on stderr why a scan found nothing to work on: the topic does not
 * exist, or it is empty. Says nothing and returns 0 when there were
 * records; returns 1 when it said something. */
int ctl_dlq_explain_empty(const ctl_conf *conf, const ctl_scan_info *info);

/* Names on stderr each position of sel that no record was found at.
 * Returns how many there were. */
int ctl_dlq_report_unseen(const ctl_conf *conf, const ctl_filter *sel);

/* Runs `dlq list ARGS...` (argv holds the arguments after "list").
 * Returns the exit code. */
int ctl_dlq_list(ctl_conf *conf, int argc, char **argv);

/* Runs `dlq show ARGS...`. Returns the exit code. */
int ctl_dlq_show(ctl_conf *conf, int argc, char **argv);

#endif
