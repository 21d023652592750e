/*
 * ctl_msg.h - what docsyncctl says on stderr, and its exit codes.
 *
 * stdout carries a command's output (lines to read or to pipe into jq);
 * every error, warning and note goes to stderr through these functions, so
 * that they all read "docsyncctl: ..." and a pipe never sees them.
 */
#ifndef CTL_MSG_H
#define CTL_MSG_H

enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAIL = 1,   /* the command ran and something failed */
    CTL_EXIT_USAGE = 2   /* the command line is wrong */
};

/* Writes "docsyncctl: <message>" and returns CTL_EXIT_FAIL. */
int ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes "docsyncctl <command>: <message> (try ...--help)" and returns
 * CTL_EXIT_USAGE. */
int ctl_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes "docsyncctl: <message>": a note that is not a failure. */
void ctl_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
