/*
 * ctl_status.h - `docsyncctl status DOCUMENT_ID`: a document's state in
 * Redis, as the stages and docsyncctl wrote it (ds_state.h, ctl_mark.h).
 */
#ifndef CTL_STATUS_H
#define CTL_STATUS_H

#include "ctl_conf.h"

/* One timeline entry, "<ms>:<stage>:<state>:<detail>". */
typedef struct ctl_event {
    long long ms;
    char stage[64];
    char state[64];
    const char *detail;   /* points into the parsed entry; "" when none */
} ctl_event;

/* Parses a timeline entry. Returns 0, or -1 when entry is not of that
 * form (it is then shown as it is). */
int ctl_timeline_parse(const char *entry, ctl_event *ev);

/* Runs `status ARGS...`. Returns the exit code: 1 when Redis holds
 * nothing for the document or cannot be read. */
int ctl_status(ctl_conf *conf, int argc, char **argv);

#endif
