/*
 * ctl_reasons.h - `docsyncctl reasons`: the table of failure reasons of
 * common/ds_reason.c, for operators and for the README's runbook.
 */
#ifndef CTL_REASONS_H
#define CTL_REASONS_H

#include <stdio.h>

#include "ctl_conf.h"

/* Writes the table as Markdown: a header row, then one row per reason
 * (reason, class, grace, meaning, what to do). */
void ctl_reasons_markdown(FILE *out);

/* Runs `reasons [--markdown]`. Returns the exit code. */
int ctl_reasons(ctl_conf *conf, int argc, char **argv);

#endif
