/* ctl_replay.c - sending DLQ records back; see ctl_replay.h. */
#include "ctl_replay.h"

#include <stdio.h>
#include <string.h>

#include "ctl_blobs.h"
#include "ctl_dlq.h"
#include "ctl_mark.h"
#include "ctl_msg.h"
#include "ctl_opt.h"
#include "ctl_scan.h"
#include "ctl_time.h"
#include "ds_blobref.h"
#include "ds_kafka.h"
#include "ds_state.h"

/* Longest wait for the broker to confirm one replayed record. */
#define DELIVERY_TIMEOUT_MS 15000

static const char HELP[] =
    "usage: docsyncctl dlq replay (--at P:O [--at P:O...] | FILTERS | --all)\n"
    "                             [--to TOPIC] [--dry-run] [--force]\n"
    "\n"
    "Sends each selected DLQ record back to the topic it came from\n"
    "(__connect.errors.topic) with its original key and value, keeping its\n"
    "docsync.trace_id and adding docsync.replayed_from=P:O, and waits for\n"
    "the broker to confirm it. Then marks the document \"replayed\" in Redis\n"
    "(a timeline entry by docsyncctl with the reason), so that it runs\n"
    "again, and remembers the replay for 30 days. A record that names a\n"
    "blob takes it off the verifier's sweep first, so the file stays while\n"
    "the document is on its way again (it gets a new deadline if it fails\n"
    "again); one whose blob expired already is still replayed, with a\n"
    "note. FILTERS are those of 'docsyncctl dlq list --help'; one of --at,\n"
    "a filter or --all is required.\n"
    "\n"
    "  --to TOPIC        send them to TOPIC instead: docsync.mapped uploads\n"
    "                    again a document the verifier refused\n"
    "                    (checksum_mismatch, missing_after_upload)\n"
    "  --dry-run         say what would be replayed; change nothing\n"
    "  --force           replay a record that was replayed before\n"
    "  --brokers B       Kafka (KAFKA_BROKERS, default localhost:9092)\n"
    "  --dlq-topic T     the DLQ (DLQ_TOPIC, default docsync.dlq)\n"
    "\n"
    "Ends with 'replayed N, skipped N, failed N'; exits 1 when any failed.\n"
    "A record whose value was not JSON cannot be replayed: the DLQ does not\n"
    "hold its original bytes.\n";

typedef struct replay_run {
    const ctl_conf *conf;
    ctl_filter *sel;
    int dry_run;
    int force;
    const char *to;         /* --to: overrides where records go back */
    ds_producer *producer;
    ds_redis *redis;
    long replayed;
    long skipped;
    long failed;
    long unrecorded;    /* replayed, but Redis did not take the marks */
} replay_run;

/* One record in hand, with the words every message about it uses. */
typedef struct item {
    const ctl_record *r;
    char pos[48];           /* "P:O" */
    const char *doc;        /* the key, or "-" */
    const char *target;     /* the topic it goes back to */
} item;

const char *ctl_replay_target(const ctl_record *r, const char *dlq_topic,
                              char *why, size_t cap)
{
    const char *topic = ctl_record_header(r, CTL_H_TOPIC);

    if (r->value == NULL) {
        snprintf(why, cap, "the record has no value");
        return NULL;
    }
    if (ctl_record_is_wrapper(r)) {
        snprintf(why, cap, "its original value was not a JSON object and "
                 "the DLQ holds only {\"error\":\"%s\"} in its place: "
                 "there is nothing to replay", CTL_WRAPPER_ERROR);
        return NULL;
    }
    if (topic == NULL || *topic == '\0') {
        snprintf(why, cap, "it has no %s header: where it came from is "
                 "unknown", CTL_H_TOPIC);
        return NULL;
    }
    if (strcmp(topic, dlq_topic) == 0) {
        snprintf(why, cap, "its source is the DLQ %s itself", dlq_topic);
        return NULL;
    }
    return topic;
}

/* Says what was found on the record's replay mark: why it is skipped. */
static void say_skipped(replay_run *run, const item *it, ctl_mark_found found,
                        long long when_ms)
{
    char iso[CTL_ISO_LEN] = "an unknown time";

    if (when_ms > 0)
        ctl_time_iso(when_ms, iso);
    if (found == CTL_MARK_PENDING)
        printf("%sskipped %s %s: another docsyncctl is replaying it right "
               "now\n", run->dry_run ? "would be " : "", it->pos, it->doc);
    else
        printf("%sskipped %s %s: already replayed at %s (--force replays "
               "it again)\n", run->dry_run ? "would be " : "", it->pos,
               it->doc, iso);
    run->skipped++;
}

/* Says on stderr that the record's blob is no longer kept for the
 * document, when that is so: unless it goes to the fetcher, which fetches
 * the file again, the document fails as blob_missing (or finds the same
 * bytes held by another document). Quiet when Redis cannot tell. */
static void note_blob_gone(replay_run *run, const item *it, const char *sha)
{
    char iso[CTL_ISO_LEN] = "an earlier sweep";
    ds_blobref_look look;
    ds_err err;

    ds_err_clear(&err);
    if (ds_blobref_look_up(run->redis, sha, it->r->key, &look, &err) < 0 ||
        look.kept_since_ms >= 0 || look.held)
        return;
    if (look.expired_at_ms >= 0)
        ctl_time_iso(look.expired_at_ms, iso);
    ctl_note("%s %s: its blob %s is no longer kept (%s %s)%s", it->pos,
             it->doc, sha, look.expired_at_ms >= 0 ? "expired at" : "released",
             look.expired_at_ms >= 0 ? iso : "by the document",
             strcmp(it->target, "docsync.events") == 0 ? "; the fetcher "
             "fetches it again" : ": it fails as blob_missing unless "
             "another document holds the same bytes; replay it --to "
             "docsync.events to fetch the file again");
}

/* --dry-run: reads the replay mark and says what a replay would do. */
static void dry_run_one(replay_run *run, const item *it)
{
    char sha[DS_SHA256_HEX_LEN + 1];
    long long when_ms;
    ctl_mark_found found;
    ds_err err;

    ds_err_clear(&err);
    if (ctl_mark_lookup(run->redis, run->conf->dlq_topic, it->r->partition,
                        it->r->offset, &found, &when_ms, &err) < 0) {
        ctl_error("%s %s: cannot read its replay mark: %s", it->pos, it->doc,
                  err.msg);
        run->failed++;
        return;
    }
    if (found != CTL_MARK_NONE && !run->force) {
        say_skipped(run, it, found, when_ms);
        return;
    }
    printf("would replay %s %s to %s\n", it->pos, it->doc, it->target);
    run->replayed++;
    if (ctl_record_blob(it->r, sha))
        note_blob_gone(run, it, sha);
}

/* Produces the record's key and value to its source topic and waits for
 * the delivery report. Returns 0 or -1 with err set. */
static int produce(replay_run *run, const item *it, ds_err *err)
{
    const char *trace = ctl_record_header(it->r, CTL_H_TRACE_ID);
    ds_header h[2];
    size_t n = 0;

    h[n++] = (ds_header){CTL_H_REPLAYED_FROM, it->pos};
    if (trace != NULL && *trace != '\0')
        h[n++] = (ds_header){CTL_H_TRACE_ID, trace};
    return ds_produce_sync(run->producer, it->target, it->r->key,
                           it->r->key_len, it->r->value, it->r->value_len,
                           h, n, err);
}

/* After the broker has the record: remembers the replay and marks the
 * document. A failure here does not undo the replay; it is reported. */
static void record_replay(replay_run *run, const item *it, long long ms,
                          const ctl_doc_seen *seen)
{
    const char *reason = ctl_record_header(it->r, CTL_H_REASON);
    char from[320];
    int state_set = 0;
    ds_err err;

    ds_err_clear(&err);
    snprintf(from, sizeof(from), "%s:%s", run->conf->dlq_topic, it->pos);
    if (ctl_mark_done(run->redis, run->conf->dlq_topic, it->r->partition,
                      it->r->offset, ms, &err) < 0 ||
        (seen != NULL &&
         ctl_mark_replayed(run->redis, it->r->key, seen, ms,
                           reason != NULL ? reason : "", from, &state_set,
                           &err) < 0)) {
        ctl_error("%s %s was replayed to %s, but Redis did not record it: "
                  "%s", it->pos, it->doc, it->target, err.msg);
        run->unrecorded++;
    }
}

/* Gives the blob its place in the sweep back when the record it was taken
 * off for did not go out. Best effort: a blob left off is kept until a
 * replay or a verification, as before retention existed. */
static void keep_again(replay_run *run, const item *it, const char *sha,
                       long long since_ms)
{
    ds_err err;

    ds_err_clear(&err);
    if (since_ms >= 0 &&
        ds_blobref_keep(run->redis, sha, it->r->key, since_ms, NULL,
                        &err) < 0)
        ctl_error("%s %s: blob %s is no longer swept: %s", it->pos, it->doc,
                  sha, err.msg);
}

/* Claims, produces and records one replay; counts how it went. */
static void replay_record(replay_run *run, const item *it)
{
    const char *key = it->r->key;
    int has_doc = key != NULL && ds_doc_id_valid(key);
    char sha[DS_SHA256_HEX_LEN + 1];
    int has_blob = ctl_record_blob(it->r, sha);
    ctl_doc_seen seen = {"", ""};
    long long when_ms, ms, kept_since = -1;
    ctl_mark_found found = CTL_MARK_NONE;
    ds_err err;

    ds_err_clear(&err);
    if (!run->force &&
        ctl_mark_claim(run->redis, run->conf->dlq_topic, it->r->partition,
                       it->r->offset, &found, &when_ms, &err) < 0)
        goto failed;
    if (found != CTL_MARK_NONE) {
        say_skipped(run, it, found, when_ms);
        return;
    }
    if (has_doc && ctl_doc_seen_read(run->redis, key, &seen, &err) < 0)
        goto release;
    /* Off the sweep before the record goes, so that the file the replayed
     * document needs cannot expire under it. */
    if (has_blob &&
        ds_blobref_unkeep(run->redis, sha, key, &kept_since, &err) < 0)
        goto release;

    /* Taken before producing, so that the timeline sorts the replay
     * before what the stages do with the replayed record. */
    ms = ctl_now_ms();
    if (produce(run, it, &err) < 0) {
        if (has_blob)
            keep_again(run, it, sha, kept_since);
        goto release;
    }
    record_replay(run, it, ms, has_doc ? &seen : NULL);
    printf("replayed %s %s to %s\n", it->pos, it->doc, it->target);
    run->replayed++;
    if (has_blob && kept_since < 0)
        note_blob_gone(run, it, sha);
    return;

release:
    if (!run->force)
        ctl_mark_release(run->redis, run->conf->dlq_topic, it->r->partition,
                         it->r->offset, &err);
failed:
    ctl_error("%s %s was not replayed: %s", it->pos, it->doc, err.msg);
    run->failed++;
}

/* Handles one DLQ record the scan read. */
static int replay_one(void *ctx, const ctl_record *r, ds_err *err)
{
    replay_run *run = ctx;
    char why[320];
    item it;

    (void)err; /* a record that fails is counted; the scan goes on */
    if (!ctl_filter_match(run->sel, r))
        return 0;
    it.r = r;
    snprintf(it.pos, sizeof(it.pos), "%d:%lld", (int)r->partition,
             (long long)r->offset);
    it.doc = r->key != NULL && *r->key != '\0' ? r->key : "-";
    it.target = ctl_replay_target(r, run->conf->dlq_topic, why, sizeof(why));
    if (it.target != NULL && run->to != NULL)
        it.target = run->to;
    if (it.target == NULL) {
        printf("%sskipped %s %s: cannot be replayed: %s\n",
               run->dry_run ? "would be " : "", it.pos, it.doc, why);
        run->skipped++;
        return 0;
    }
    if (run->dry_run)
        dry_run_one(run, &it);
    else
        replay_record(run, &it);
    return 0;
}

/* Connects what a replay needs: Redis always (the replay marks), the
 * producer unless it is a dry run. Returns 0, or the exit code. */
static int connect_all(replay_run *run)
{
    ds_err err;

    ds_err_clear(&err);
    run->redis = ctl_conf_redis();
    if (run->redis == NULL)
        return CTL_EXIT_FAIL;
    if (run->dry_run)
        return 0;
    run->producer = ds_producer_new(run->conf->brokers, "docsyncctl",
                                    DELIVERY_TIMEOUT_MS, &err);
    if (run->producer == NULL)
        return ctl_error("cannot produce to %s: %s", run->conf->brokers,
                         err.msg);
    return 0;
}

/* Scans the DLQ, replays what is selected, prints the summary. */
static int run_replay(replay_run *run)
{
    ctl_scan_info info;
    ds_err err;
    int rc;

    ds_err_clear(&err);
    rc = connect_all(run);
    if (rc != 0)
        return rc;
    if (ctl_scan(run->conf, run->sel->at, run->sel->nat, replay_one, run,
                 &info, &err) < 0) {
        ctl_error("cannot read %s: %s", run->conf->dlq_topic, err.msg);
        run->failed++;
    } else {
        ctl_dlq_explain_empty(run->conf, &info);
        run->failed += ctl_dlq_report_unseen(run->conf, run->sel);
    }
    if (run->dry_run)
        printf("dry run: would replay %ld, skip %ld, fail %ld; nothing was "
               "changed\n", run->replayed, run->skipped, run->failed);
    else
        printf("replayed %ld, skipped %ld, failed %ld\n", run->replayed,
               run->skipped, run->failed);
    return run->failed > 0 || run->unrecorded > 0 ? CTL_EXIT_FAIL
                                                  : CTL_EXIT_OK;
}

/* Takes "--to TOPIC" (or --to=TOPIC) out of argv, so that the common DLQ
 * arguments parse the rest. Returns 0, or -1 with why set. */
static int take_to(int *argc, char **argv, const char **to, char *why,
                   size_t cap)
{
    int i, j;

    *to = NULL;
    for (i = 0; i < *argc; i++) {
        const char *v = NULL;
        int used = 0;

        if (strcmp(argv[i], "--to") == 0 && i + 1 < *argc) {
            v = argv[i + 1];
            used = 2;
        } else if (strncmp(argv[i], "--to=", 5) == 0) {
            v = argv[i] + 5;
            used = 1;
        } else if (strcmp(argv[i], "--to") == 0) {
            snprintf(why, cap, "--to needs a topic");
            return -1;
        }
        if (used == 0)
            continue;
        /* Kafka's own rule for topic names. */
        if (*v == '\0' || strlen(v) > 249 ||
            strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789._-") != strlen(v)) {
            snprintf(why, cap, "--to: '%s' is not a topic name", v);
            return -1;
        }
        *to = v;
        for (j = i; j + used < *argc; j++)
            argv[j] = argv[j + used];
        *argc -= used;
        i--;
    }
    return 0;
}

int ctl_replay(ctl_conf *conf, int argc, char **argv)
{
    static const char *const flags[] = {"--dry-run", "--force", NULL};
    replay_run run;
    ctl_filter sel;
    const char *to;
    char why[320];
    unsigned set;
    int rc;

    if (ctl_opt_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CTL_EXIT_OK;
    }
    if (take_to(&argc, argv, &to, why, sizeof(why)) < 0)
        return ctl_usage_error("dlq replay", "%s", why);
    if (to != NULL && strcmp(to, conf->dlq_topic) == 0)
        return ctl_usage_error("dlq replay", "--to names the DLQ itself");
    rc = ctl_dlq_args("dlq replay", conf, &sel, flags, &set, argc, argv);
    if (rc != 0)
        return rc;
    /* A bare replay would send the whole DLQ back: make that explicit. */
    if (!ctl_filter_selects(&sel))
        return ctl_usage_error("dlq replay", "say which records: --at P:O, "
                               "filters, or --all for every record");

    memset(&run, 0, sizeof(run));
    run.conf = conf;
    run.sel = &sel;
    run.dry_run = (set & 1u) != 0;
    run.force = (set & 2u) != 0;
    run.to = to;
    rc = run_replay(&run);
    ds_producer_free(run.producer);
    ds_redis_free(run.redis);
    return rc;
}
