/* ctl_dlq.c - listing and showing DLQ records; see ctl_dlq.h. */
#include "ctl_dlq.h"

#include <stdio.h>
#include <string.h>

#include "ctl_blobs.h"
#include "ctl_format.h"
#include "ctl_msg.h"
#include "ctl_opt.h"
#include "ctl_time.h"

static const char LIST_HELP[] =
    "usage: docsyncctl dlq list [FILTERS] [--json]\n"
    "\n"
    "Lists the DLQ from its start to where it ends now, one line per record:\n"
    "partition:offset, last failure (UTC), stage, reason, class, attempts,\n"
    "last HTTP status, documentId. Reads without a consumer group and\n"
    "commits nothing. A count goes to stderr.\n"
    "\n"
    "  --json            one JSON object per record (topic, partition,\n"
    "                    offset, timestamp, key, headers, value, and for\n"
    "                    a record naming a blob, blob: sha256, state kept,\n"
    "                    held, expired or released, keptUntil or\n"
    "                    expiredAt), for jq\n"
    "FILTERS, combined with AND:\n"
    "  --reason R        docsync.reason is R (upload_http_422, ...)\n"
    "  --stage S         the stage that gave up (fetcher, mapper, ...)\n"
    "  --class C         transient or permanent\n"
    "  --document ID     the record's key, the documentId\n"
    "  --since T         last failure at or after T\n"
    "  --until T         last failure at or before T\n"
    "                    T: 2026-12-03T10:00:00Z, or a duration ago: 90s,\n"
    "                    30m, 2h, 7d\n"
    "  --at P:O          the record at partition P, offset O (repeatable;\n"
    "                    not with filters)\n"
    "  --brokers B       Kafka (KAFKA_BROKERS, default localhost:9092)\n"
    "  --dlq-topic T     the DLQ (DLQ_TOPIC, default docsync.dlq)\n";

static const char SHOW_HELP[] =
    "usage: docsyncctl dlq show (--at P:O [--at P:O...] | FILTERS | --all)\n"
    "\n"
    "Shows each selected DLQ record whole: its position and time, its key,\n"
    "the blob it names and whether it is still kept (and until when, with\n"
    "BLOB_RETENTION_S as the verifier's), every header (failure times also\n"
    "in UTC), and its value as indented JSON. FILTERS are those of\n"
    "'docsyncctl dlq list --help'.\n"
    "\n"
    "  --brokers B       Kafka (KAFKA_BROKERS, default localhost:9092)\n"
    "  --dlq-topic T     the DLQ (DLQ_TOPIC, default docsync.dlq)\n";

typedef struct print_run {
    const ctl_conf *conf;
    ctl_filter *sel;
    int json;          /* list: JSON lines */
    int show;          /* show: whole records */
    long long printed;
    ctl_blob_lookup blobs;  /* show, --json: whether blobs are kept */
} print_run;

int ctl_dlq_args(const char *command, ctl_conf *conf, ctl_filter *sel,
                 const char *const *flags, unsigned *set, int argc,
                 char **argv)
{
    long long now = ctl_now_ms();
    char why[256];
    int i, f, rc;

    ctl_filter_init(sel);
    *set = 0;
    for (i = 0; i < argc; i++) {
        rc = ctl_conf_arg(conf, argc, argv, &i, why, sizeof(why));
        if (rc == 0)
            rc = ctl_filter_arg(sel, argc, argv, &i, now, why, sizeof(why));
        for (f = 0; rc == 0 && flags[f] != NULL; f++) {
            if (ctl_opt_flag(argv, i, flags[f])) {
                *set |= 1u << f;
                rc = 1;
            }
        }
        if (rc == 0) {
            snprintf(why, sizeof(why), "unknown argument '%s'", argv[i]);
            rc = -1;
        }
        if (rc < 0)
            return ctl_usage_error(command, "%s", why);
    }
    if (ctl_filter_check(sel, why, sizeof(why)) < 0)
        return ctl_usage_error(command, "%s", why);
    return 0;
}

int ctl_dlq_explain_empty(const ctl_conf *conf, const ctl_scan_info *info)
{
    if (info->missing) {
        ctl_note("topic %s does not exist on %s: nothing was dead-lettered "
                 "there (or DLQ_TOPIC / --dlq-topic names another topic)",
                 conf->dlq_topic, conf->brokers);
        return 1;
    }
    if (info->total == 0) {
        ctl_note("%s is empty", conf->dlq_topic);
        return 1;
    }
    return 0;
}

int ctl_dlq_report_unseen(const ctl_conf *conf, const ctl_filter *sel)
{
    size_t i;
    int n = 0;

    for (i = 0; i < sel->nat; i++) {
        if (sel->at[i].seen)
            continue;
        ctl_error("no record at %d:%lld on %s", (int)sel->at[i].partition,
                  (long long)sel->at[i].offset, conf->dlq_topic);
        n++;
    }
    return n;
}

/* Prints one record when the selection takes it. */
static int print_one(void *ctx, const ctl_record *r, ds_err *err)
{
    print_run *run = ctx;
    ctl_blob_view blob;

    if (!ctl_filter_match(run->sel, r))
        return 0;
    /* The reader went away (`| head`): stop reading the DLQ. http_sink is
     * the table's reason for output that cannot be written. */
    if (ferror(stdout))
        return ds_err_set(err, "http_sink", "stdout is closed");
    if (run->show || run->json)
        ctl_blob_view_of(&run->blobs, r, &blob);
    if (run->show) {
        if (run->printed > 0)
            putchar('\n');
        ctl_format_show(stdout, r, run->conf->dlq_topic, &blob);
    } else if (run->json) {
        if (ctl_format_json(stdout, r, run->conf->dlq_topic, &blob) < 0)
            return ds_err_set(err, "out_of_memory", "JSON of %d:%lld",
                              (int)r->partition, (long long)r->offset);
    } else {
        ctl_format_line(stdout, r);
    }
    run->printed++;
    return 0;
}

/* Scans the DLQ, prints what the selection takes, and tells on stderr how
 * much that was. Returns the exit code. */
static int print_selected(print_run *run)
{
    ctl_scan_info info;
    ds_err err;
    int unseen, rc;

    ds_err_clear(&err);
    rc = ctl_scan(run->conf, run->sel->at, run->sel->nat, print_one, run,
                  &info, &err);
    ctl_blob_lookup_clear(&run->blobs);
    if (rc < 0)
        return ferror(stdout) ? CTL_EXIT_FAIL :
               ctl_error("cannot read %s: %s", run->conf->dlq_topic,
                         err.msg);
    fflush(stdout);
    ctl_dlq_explain_empty(run->conf, &info);
    unseen = ctl_dlq_report_unseen(run->conf, run->sel);
    if (info.total > 0)
        ctl_note("%lld selected of %lld records on %s", run->printed,
                 info.total, run->conf->dlq_topic);
    return unseen > 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

int ctl_dlq_list(ctl_conf *conf, int argc, char **argv)
{
    static const char *const flags[] = {"--json", NULL};
    print_run run = {conf, NULL, 0, 0, 0, {0}};
    ctl_filter sel;
    unsigned set;
    int rc;

    if (ctl_opt_wants_help(argc, argv)) {
        fputs(LIST_HELP, stdout);
        return CTL_EXIT_OK;
    }
    rc = ctl_dlq_args("dlq list", conf, &sel, flags, &set, argc, argv);
    if (rc != 0)
        return rc;
    run.sel = &sel;
    run.json = (set & 1u) != 0;
    return print_selected(&run);
}

int ctl_dlq_show(ctl_conf *conf, int argc, char **argv)
{
    static const char *const flags[] = {NULL};
    print_run run = {conf, NULL, 0, 1, 0, {0}};
    ctl_filter sel;
    unsigned set;
    int rc;

    if (ctl_opt_wants_help(argc, argv)) {
        fputs(SHOW_HELP, stdout);
        return CTL_EXIT_OK;
    }
    rc = ctl_dlq_args("dlq show", conf, &sel, flags, &set, argc, argv);
    if (rc != 0)
        return rc;
    if (!ctl_filter_selects(&sel))
        return ctl_usage_error("dlq show", "say which records: --at P:O, "
                               "filters, or --all");
    run.sel = &sel;
    return print_selected(&run);
}
