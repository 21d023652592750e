/* sb_log.c - one JSON object per line on stdout; see sb_log.h. */
#include "sb_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void sb_log_init(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}

void sb_log_now_iso(char out[21])
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void sb_log_line(const char *level, json_t *fields)
{
    char ts[21];
    json_t *line = json_object();
    char *text = NULL;

    if (line == NULL)
        goto out;
    sb_log_now_iso(ts);
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level));
    json_object_set_new(line, "stage", json_string("sandbox"));
    if (fields != NULL)
        json_object_update(line, fields);
    text = json_dumps(line, JSON_COMPACT);
    /* One fprintf per line: stdio's lock keeps threads' lines whole. */
    if (text != NULL)
        fprintf(stdout, "%s\n", text);

out:
    free(text);
    json_decref(line);
    json_decref(fields);
}

void sb_log_msg(const char *level, const char *msg, json_t *fields)
{
    json_t *all = json_pack("{s:s}", "msg", msg);

    /* msg goes first so that a reader sees what happened before details. */
    if (all != NULL && fields != NULL)
        json_object_update(all, fields);
    json_decref(fields);
    sb_log_line(level, all);
}
