/*
 * ctl_opt.h - reading docsyncctl's command-line options.
 *
 * Options are long ("--reason"), and one that takes a value accepts it as
 * the next argument or after "=" ("--reason upload_http_422" or
 * "--reason=upload_http_422"). The functions look at argv[*i] only, so that
 * each command keeps its own loop and its own list of options.
 */
#ifndef CTL_OPT_H
#define CTL_OPT_H

#include <stddef.h>

/* When argv[*i] is the option name, sets *value to its value and moves *i
 * past a value given as a separate argument; returns 1. Returns 0 when
 * argv[*i] is another argument, -1 (with why filled) when the value is
 * missing or empty. */
int ctl_opt_value(int argc, char **argv, int *i, const char *name,
                  const char **value, char *why, size_t cap);

/* Nonzero when argv[i] is the flag name (a flag takes no value). */
int ctl_opt_flag(char **argv, int i, const char *name);

/* Nonzero when one of the arguments asks for help (--help or -h). */
int ctl_opt_wants_help(int argc, char **argv);

#endif
