/* ctl_msg.c - docsyncctl's messages on stderr; see ctl_msg.h. */
#include "ctl_msg.h"

#include <stdarg.h>
#include <stdio.h>

/* Writes one line: the prefix, the formatted text, a newline. */
static void say(const char *prefix, const char *fmt, va_list ap)
{
    fflush(stdout); /* keep output and messages in order on a terminal */
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int ctl_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say("docsyncctl: ", fmt, ap);
    va_end(ap);
    return CTL_EXIT_FAIL;
}

int ctl_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "docsyncctl %s: ", command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try 'docsyncctl %s --help')\n", command);
    return CTL_EXIT_USAGE;
}

void ctl_note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say("docsyncctl: ", fmt, ap);
    va_end(ap);
}
