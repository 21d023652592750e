/* ctl_blobs.c - blobs kept for dead-lettered documents; see ctl_blobs.h. */
#include "ctl_blobs.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_msg.h"
#include "ctl_opt.h"
#include "ctl_time.h"
#include "ds_runtime.h"
#include "ds_state.h"

/* Holds one sweep call of `blobs sweep` ends at most, as the verifier's. */
#define SWEEP_BATCH 100

static const char LIST_HELP[] =
    "usage: docsyncctl blobs list [--json]\n"
    "\n"
    "Lists the blobs kept for dead-lettered documents, oldest first, one\n"
    "line per document holding one: until when it is kept (UTC; 'never'\n"
    "with BLOB_RETENTION_S=0), when the document was dead-lettered, the\n"
    "blob's sha256 and the documentId. A replay of the document's DLQ\n"
    "record takes its blob off this list; the verifier's sweep removes the\n"
    "others once their time is up. The deadline is computed with\n"
    "BLOB_RETENTION_S as docsyncctl reads it (default 604800): give it the\n"
    "verifier's value. A count goes to stderr.\n"
    "\n"
    "  --json            one JSON object per line: sha256, documentId,\n"
    "                    deadLetteredAt, keptUntil (null: never), due\n";

static const char SWEEP_HELP[] =
    "usage: docsyncctl blobs sweep [--limit N]\n"
    "\n"
    "Does now what the verifier's sweep does every BLOB_SWEEP_INTERVAL_S:\n"
    "ends the holds of documents dead-lettered more than BLOB_RETENTION_S\n"
    "ago and removes each blob no other document holds, from the blob store\n"
    "of BLOB_STORE or BLOB_DIR (run it where the stages' store is\n"
    "mounted). Each ended hold is recorded in the document's timeline as\n"
    "blob_expired by docsyncctl and printed on a line. Safe beside running\n"
    "verifiers: each hold is ended once.\n"
    "\n"
    "  --limit N         end at most N holds (default: all that are due)\n";

int ctl_record_blob(const ctl_record *r, char sha[DS_SHA256_HEX_LEN + 1])
{
    json_t *v;
    const char *blob;
    int ok;

    sha[0] = '\0';
    if (r->value == NULL || r->key == NULL || !ds_doc_id_valid(r->key))
        return 0;
    v = json_loadb(r->value, r->value_len, 0, NULL);
    blob = json_string_value(json_object_get(v, "blob"));
    ok = ds_blob_ref_valid(blob);
    if (ok)
        snprintf(sha, DS_SHA256_HEX_LEN + 1, "%s", blob);
    json_decref(v);
    return ok;
}

int ctl_blob_view_read(ds_redis *redis, const ds_blobref_conf *keep,
                       const char *sha, const char *doc_id,
                       ctl_blob_view *view, ds_err *err)
{
    ds_blobref_look look;

    view->sha256 = sha;
    view->state = "unknown";
    view->until_ms = view->expired_ms = -1;
    if (ds_blobref_look_up(redis, sha, doc_id, &look, err) < 0)
        return -1;
    if (look.kept_since_ms >= 0) {
        view->state = "kept";
        view->until_ms = ds_blobref_deadline(keep, look.kept_since_ms);
    } else if (look.held) {
        view->state = "held";
    } else if (look.expired_at_ms >= 0) {
        view->state = "expired";
        view->expired_ms = look.expired_at_ms;
    } else {
        view->state = "released";
    }
    return 0;
}

/* Reads Redis and the retention once, saying on stderr what cannot be
 * used. */
static void lookup_start(ctl_blob_lookup *lk)
{
    ds_err err;

    lk->tried = 1;
    ds_err_clear(&err);
    if (ds_blobref_conf_load(&lk->keep, &err) < 0) {
        ctl_note("cannot tell whether blobs are kept: %s", err.msg);
        return;
    }
    lk->redis = ctl_conf_redis();
    if (lk->redis == NULL)
        ctl_note("cannot tell whether blobs are kept without Redis");
}

void ctl_blob_view_of(ctl_blob_lookup *lk, const ctl_record *r,
                      ctl_blob_view *view)
{
    ds_err err;

    view->sha256 = NULL;
    view->state = "unknown";
    view->until_ms = view->expired_ms = -1;
    if (!ctl_record_blob(r, lk->sha))
        return;
    view->sha256 = lk->sha;
    if (!lk->tried)
        lookup_start(lk);
    if (lk->redis == NULL)
        return;
    ds_err_clear(&err);
    if (ctl_blob_view_read(lk->redis, &lk->keep, lk->sha, r->key, view,
                           &err) < 0)
        ctl_note("cannot tell whether blob %s is kept: %s", lk->sha,
                 err.msg);
}

void ctl_blob_lookup_clear(ctl_blob_lookup *lk)
{
    ds_redis_free(lk->redis);
    memset(lk, 0, sizeof(*lk));
}

/* What `blobs list` and `blobs sweep` share: Redis and the retention. */
typedef struct blobs_run {
    ds_redis *redis;
    ds_blobref_conf keep;
    int json;
    long long now_ms;
    long count;
    long removed;
} blobs_run;

/* Reads the retention and connects Redis. Returns 0 or the exit code. */
static int blobs_start(blobs_run *run)
{
    ds_err err;

    ds_err_clear(&err);
    if (ds_blobref_conf_load(&run->keep, &err) < 0)
        return ctl_error("%s", err.msg);
    run->redis = ctl_conf_redis();
    if (run->redis == NULL)
        return CTL_EXIT_FAIL;
    run->now_ms = ctl_now_ms();
    return 0;
}

/* Prints one kept blob as a line or as JSON. */
static int print_kept(void *ctx, const ds_blobref_entry *e)
{
    blobs_run *run = ctx;
    long long until = ds_blobref_deadline(&run->keep, e->since_ms);
    char since_iso[CTL_ISO_LEN], until_iso[CTL_ISO_LEN] = "never";
    json_t *obj;
    char *line;

    /* The reader went away (`| head`): stop. */
    if (ferror(stdout))
        return 1;
    ctl_time_iso(e->since_ms, since_iso);
    if (until >= 0)
        ctl_time_iso(until, until_iso);
    run->count++;
    if (!run->json) {
        printf("%-24s %-24s %s %s\n", until_iso, since_iso, e->sha256,
               e->doc_id);
        return 0;
    }
    obj = json_pack("{s:s, s:s, s:s, s:o, s:b}", "sha256", e->sha256,
                    "documentId", e->doc_id, "deadLetteredAt", since_iso,
                    "keptUntil", until >= 0 ? json_string(until_iso)
                                            : json_null(),
                    "due", until >= 0 && until <= run->now_ms);
    line = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (line == NULL)
        return 1;
    printf("%s\n", line);
    free(line);
    return 0;
}

/* Says on stderr how many there were and what the retention does. */
static void say_retention(const blobs_run *run, const char *what)
{
    if (run->keep.retention_s == 0)
        ctl_note("%ld %s; BLOB_RETENTION_S=0: kept until replayed",
                 run->count, what);
    else
        ctl_note("%ld %s; BLOB_RETENTION_S=%ld: kept that long after the "
                 "dead letter", run->count, what, run->keep.retention_s);
}

int ctl_blobs_list(ctl_conf *conf, int argc, char **argv)
{
    blobs_run run;
    ds_err err;
    int i, rc;

    (void)conf;
    memset(&run, 0, sizeof(run));
    if (ctl_opt_wants_help(argc, argv)) {
        fputs(LIST_HELP, stdout);
        return CTL_EXIT_OK;
    }
    for (i = 0; i < argc; i++) {
        if (!ctl_opt_flag(argv, i, "--json"))
            return ctl_usage_error("blobs list", "unknown argument '%s'",
                                   argv[i]);
        run.json = 1;
    }
    rc = blobs_start(&run);
    if (rc != 0)
        return rc;
    ds_err_clear(&err);
    if (ds_blobref_kept_each(run.redis, print_kept, &run, &err) < 0)
        rc = ctl_error("cannot read the kept blobs: %s", err.msg);
    else if (fflush(stdout) != 0 || ferror(stdout))
        rc = CTL_EXIT_FAIL;
    else
        say_retention(&run, "blobs kept for dead-lettered documents");
    ds_redis_free(run.redis);
    return rc;
}

/* Prints one hold the sweep ended. */
static int print_expired(void *ctx, const ds_blobref_entry *e)
{
    blobs_run *run = ctx;
    char since[CTL_ISO_LEN];

    ctl_time_iso(e->since_ms, since);
    printf("expired %s %s (dead-lettered %s): %s\n", e->sha256, e->doc_id,
           since, e->removed ? "blob removed"
                             : "blob kept, another document holds it");
    run->count++;
    run->removed += e->removed;
    return 0;
}

/* Reads --limit N. Returns 0, or the usage exit code. */
static int sweep_args(int argc, char **argv, long *limit)
{
    char why[128], *end;
    const char *v;
    int i, rc;

    *limit = -1;
    for (i = 0; i < argc; i++) {
        rc = ctl_opt_value(argc, argv, &i, "--limit", &v, why, sizeof(why));
        if (rc < 0)
            return ctl_usage_error("blobs sweep", "%s", why);
        if (rc == 0)
            return ctl_usage_error("blobs sweep", "unknown argument '%s'",
                                   argv[i]);
        *limit = strtol(v, &end, 10);
        if (*end != '\0' || *limit < 1)
            return ctl_usage_error("blobs sweep", "--limit wants a whole "
                                   "number of at least 1, not '%s'", v);
    }
    return 0;
}

/* Sweeps in batches until nothing is due or limit holds were ended. */
static int sweep_all(blobs_run *run, ds_blob_store *store, long limit)
{
    long long cutoff = run->now_ms - (long long)run->keep.retention_s * 1000;
    int more = 1;
    ds_err err;

    ds_err_clear(&err);
    while (more && (limit < 0 || run->count < limit)) {
        long batch = limit < 0 || limit - run->count > SWEEP_BATCH
                     ? SWEEP_BATCH : limit - run->count;

        if (ds_blobref_sweep(run->redis, store, cutoff, (int)batch,
                             "docsyncctl", ds_runtime_owner(),
                             print_expired, run, &more, &err) < 0)
            return ctl_error("the sweep stopped: %s", err.msg);
    }
    return CTL_EXIT_OK;
}

int ctl_blobs_sweep(ctl_conf *conf, int argc, char **argv)
{
    ds_blob_store *store = NULL;
    blobs_run run;
    long limit;
    ds_err err;
    int rc;

    (void)conf;
    memset(&run, 0, sizeof(run));
    if (ctl_opt_wants_help(argc, argv)) {
        fputs(SWEEP_HELP, stdout);
        return CTL_EXIT_OK;
    }
    rc = sweep_args(argc, argv, &limit);
    if (rc == 0)
        rc = blobs_start(&run);
    if (rc != 0)
        goto done;
    if (run.keep.retention_s == 0) {
        ctl_note("BLOB_RETENTION_S=0: blobs are kept until replayed; "
                 "nothing expires");
        goto done;
    }
    ds_err_clear(&err);
    store = ds_blob_store_from_env(&err);
    /* Where the store is not mounted every blob would look removed
     * already, and its holds would end with the bytes still kept. */
    if (store == NULL || ds_blob_store_check(store, &err) < 0) {
        rc = ctl_error("cannot use the blob store: %s", err.msg);
        goto done;
    }
    rc = sweep_all(&run, store, limit);
    fflush(stdout);
    ctl_note("expired %ld holds, removed %ld blobs", run.count, run.removed);

done:
    ds_blob_store_free(store);
    ds_redis_free(run.redis);
    return rc;
}
