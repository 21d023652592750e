/*
 * test_blobref.c - the blobs of dead-lettered documents, against a private
 * Redis and blob store: a dead letter keeps the document's hold with its
 * time; the sweep ends only the holds kept longer than the retention,
 * removes a blob only when no other document holds it, and records the end
 * in the document's hash and timeline; a replay, a new fetch or a
 * verification takes the hold off the sweep; two sweepers at once end each
 * hold once; BLOB_RETENTION_S and BLOB_SWEEP_INTERVAL_S are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "fixture.h"
#include "ds_time.h"
#include "ds_state.h"

#define SAMPLE "samples/minimal-document.pdf"
#define HOUR_MS 3600000LL

typedef struct suite {
    fx f;
    ds_redis *r;
    ds_blob_store *store;
} suite;

static int setup(void **state)
{
    suite *s = calloc(1, sizeof(*s));
    ds_err err;

    *state = s;
    if (s == NULL || fx_start(&s->f, FX_REDIS) < 0)
        return -1;
    if (!s->f.ready)
        return 0;
    ds_err_clear(&err);
    s->r = ds_redis_new("127.0.0.1", s->f.redis_port, 2000);
    s->store = ds_blob_store_new(s->f.blob_dir, &err);
    return s->r != NULL && s->store != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    suite *s = *state;

    ds_blob_store_free(s->store);
    ds_redis_free(s->r);
    fx_stop(&s->f);
    free(s);
    return 0;
}

/* Stores a small file of its own bytes (made from tag) for doc_id, held
 * as a fetch holds it, and writes its sha256. */
static void put_own_blob(suite *s, const char *tag, const char *doc_id,
                         char sha[DS_SHA256_HEX_LEN + 1])
{
    char path[160], md5[DS_MD5_HEX_LEN + 1];
    uint64_t size;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s.bin", s->f.dir, tag);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "the bytes of %s\n", tag);
    fclose(fp);
    fx_put_blob(&s->f, path, doc_id, sha, md5, &size);
}

/* The dead-letter time kept for doc_id's hold on sha, -1 when none. */
static long long kept_since(suite *s, const char *sha, const char *doc_id)
{
    redisReply *r = fx_redis_cmd(&s->f, "ZSCORE docsync:blobkeep %s:%s",
                                 sha, doc_id);
    long long ms = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;

    freeReplyObject(r);
    return ms;
}

/* Dead-letters doc_id's hold on sha at ms, as the loop does. */
static void keep(suite *s, const char *sha, const char *doc_id, long long ms)
{
    int kept = -1;
    ds_err err;

    ds_err_clear(&err);
    assert_int_equal(ds_blobref_keep(s->r, sha, doc_id, ms, &kept, &err), 0);
    assert_int_equal(kept, 1);
}

/* What one sweep reported. */
typedef struct seen {
    int n;
    int removed;
    char doc[8][64];
} seen;

static int note(void *ctx, const ds_blobref_entry *e)
{
    seen *sn = ctx;

    if (sn->n < 8)
        snprintf(sn->doc[sn->n], sizeof(sn->doc[0]), "%s", e->doc_id);
    sn->n++;
    sn->removed += e->removed;
    return 0;
}

/* Sweeps once with cutoff, asserting it succeeded. */
static seen sweep(suite *s, long long cutoff)
{
    seen sn = {0};
    int more = -1;
    ds_err err;

    ds_err_clear(&err);
    assert_int_equal(ds_blobref_sweep(s->r, s->store, cutoff, 100, "test",
                                      "tester", note, &sn, &more, &err), 0);
    assert_int_equal(more, 0);
    return sn;
}

static void a_dead_letter_keeps_the_hold_with_its_time(void **state)
{
    suite *s = *state;
    char sha[DS_SHA256_HEX_LEN + 1];
    int kept = -1;
    ds_err err;

    FX_REQUIRE(&s->f);
    put_own_blob(s, "a", "doc_a", sha);
    keep(s, sha, "doc_a", 1000);
    assert_int_equal(kept_since(s, sha, "doc_a"), 1000);

    /* Dead-lettered again: a fresh time, so a fresh deadline. */
    keep(s, sha, "doc_a", 5000);
    assert_int_equal(kept_since(s, sha, "doc_a"), 5000);

    /* A document that no longer holds the blob has nothing to keep. */
    ds_err_clear(&err);
    assert_int_equal(ds_blobref_keep(s->r, sha, "doc_other", 1000, &kept,
                                     &err), 0);
    assert_int_equal(kept, 0);
    assert_int_equal(kept_since(s, sha, "doc_other"), -1);
}

static void the_sweep_ends_only_the_expired_holds(void **state)
{
    suite *s = *state;
    char old[DS_SHA256_HEX_LEN + 1], young[DS_SHA256_HEX_LEN + 1];
    char *expired, *at, *doc_state;
    long long now = ds_time_wall_ms();
    redisReply *tl;
    char want[160];
    seen sn;
    ds_err err;

    FX_REQUIRE(&s->f);
    put_own_blob(s, "old", "doc_old", old);
    put_own_blob(s, "young", "doc_young", young);
    ds_err_clear(&err);
    assert_int_equal(ds_state_mark(s->r, "doc_old", "mapper", "failed",
                                   "unmapped_account", &err), 0);
    keep(s, old, "doc_old", now - 10000);
    keep(s, young, "doc_young", now);

    sn = sweep(s, now - 5000);
    assert_int_equal(sn.n, 1);
    assert_string_equal(sn.doc[0], "doc_old");
    assert_int_equal(sn.removed, 1);
    assert_false(fx_blob_exists(&s->f, old));
    assert_int_equal(fx_redis_int(&s->f, "EXISTS docsync:blobref:%s", old),
                     0);
    assert_int_equal(kept_since(s, old, "doc_old"), -1);
    assert_true(fx_blob_exists(&s->f, young));
    assert_int_equal(kept_since(s, young, "doc_young"), now);

    /* The document says what happened and stays failed. */
    expired = fx_doc_field(&s->f, "doc_old", "blob_expired");
    at = fx_doc_field(&s->f, "doc_old", "blob_expired_at");
    doc_state = fx_doc_field(&s->f, "doc_old", "state");
    assert_string_equal(expired ? expired : "(none)", old);
    assert_non_null(at);
    assert_true(atoll(at) >= now);
    assert_string_equal(doc_state ? doc_state : "(none)", "failed");
    tl = fx_redis_cmd(&s->f, "LINDEX docsync:timeline:doc_old -1");
    assert_int_equal(tl->type, REDIS_REPLY_STRING);
    snprintf(want, sizeof(want), "%s:test:blob_expired:%s", at, old);
    assert_string_equal(tl->str, want);
    freeReplyObject(tl);
    free(expired);
    free(at);
    free(doc_state);

    /* Nothing else is due: a second sweep ends nothing. */
    assert_int_equal(sweep(s, now - 5000).n, 0);
}

static void a_shared_blob_stays_while_another_document_holds_it(void **state)
{
    suite *s = *state;
    char sha[DS_SHA256_HEX_LEN + 1], sha2[DS_SHA256_HEX_LEN + 1];
    char md5[DS_MD5_HEX_LEN + 1];
    long long now = ds_time_wall_ms();
    uint64_t size;
    seen sn;

    FX_REQUIRE(&s->f);
    /* Two documents with the same bytes share one blob. */
    fx_put_blob(&s->f, SAMPLE, "doc_dead", sha, md5, &size);
    fx_put_blob(&s->f, SAMPLE, "doc_live", sha2, md5, &size);
    assert_string_equal(sha, sha2);
    keep(s, sha, "doc_dead", now - 10000);

    sn = sweep(s, now - 5000);
    assert_int_equal(sn.n, 1);
    assert_int_equal(sn.removed, 0);
    assert_true(fx_blob_exists(&s->f, sha));
    assert_int_equal(fx_redis_int(&s->f, "SISMEMBER docsync:blobref:%s %s",
                                  sha, "doc_live"), 1);
    assert_int_equal(fx_redis_int(&s->f, "SISMEMBER docsync:blobref:%s %s",
                                  sha, "doc_dead"), 0);

    /* The other document dead-lettered too: its expiry removes the blob. */
    keep(s, sha, "doc_live", now - 6000);
    sn = sweep(s, now - 5000);
    assert_int_equal(sn.n, 1);
    assert_int_equal(sn.removed, 1);
    assert_false(fx_blob_exists(&s->f, sha));
}

static void a_replay_takes_the_hold_off_the_sweep(void **state)
{
    suite *s = *state;
    char sha[DS_SHA256_HEX_LEN + 1];
    long long now = ds_time_wall_ms(), since = 0;
    ds_err err;

    FX_REQUIRE(&s->f);
    put_own_blob(s, "replayed", "doc_r", sha);
    keep(s, sha, "doc_r", now - HOUR_MS);

    ds_err_clear(&err);
    assert_int_equal(ds_blobref_unkeep(s->r, sha, "doc_r", &since, &err), 0);
    assert_int_equal(since, now - HOUR_MS);
    assert_int_equal(kept_since(s, sha, "doc_r"), -1);
    assert_int_equal(sweep(s, now).n, 0);
    assert_true(fx_blob_exists(&s->f, sha));

    /* A second replay finds nothing kept. */
    assert_int_equal(ds_blobref_unkeep(s->r, sha, "doc_r", &since, &err), 0);
    assert_int_equal(since, -1);

    /* It fails again: a fresh deadline, not the old one. */
    keep(s, sha, "doc_r", now);
    assert_int_equal(sweep(s, now - 5000).n, 0);
    assert_true(fx_blob_exists(&s->f, sha));
}

static void a_new_fetch_or_a_verification_ends_the_keeping(void **state)
{
    suite *s = *state;
    char sha[DS_SHA256_HEX_LEN + 1];
    int removed = -1;
    ds_err err;

    FX_REQUIRE(&s->f);
    put_own_blob(s, "again", "doc_f", sha);
    keep(s, sha, "doc_f", 1000);
    ds_err_clear(&err);
    assert_int_equal(ds_blobref_hold(s->r, s->store, sha, "doc_f", "fetcher",
                                     &err), 0);
    assert_int_equal(kept_since(s, sha, "doc_f"), -1);

    keep(s, sha, "doc_f", 2000);
    assert_int_equal(ds_blobref_drop(s->r, s->store, sha, "doc_f",
                                     "verifier", &removed, &err), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(kept_since(s, sha, "doc_f"), -1);
    assert_int_equal(fx_redis_int(&s->f, "ZCARD docsync:blobkeep"), 0);
}

/* A sweeper that lists an entry and then finds it moved on (dead-lettered
 * again since) leaves it: the claim checks the time again. */
static void an_entry_dead_lettered_again_is_not_expired(void **state)
{
    suite *s = *state;
    char sha[DS_SHA256_HEX_LEN + 1];
    long long now = ds_time_wall_ms();

    FX_REQUIRE(&s->f);
    put_own_blob(s, "moved", "doc_m", sha);
    keep(s, sha, "doc_m", now - 10000);
    keep(s, sha, "doc_m", now);
    assert_int_equal(sweep(s, now - 5000).n, 0);
    assert_true(fx_blob_exists(&s->f, sha));
}

/* One sweeper of two, on its own connections. */
typedef struct sweeper {
    int port;
    const char *blob_dir;
    const char *owner;      /* its lease owner token */
    pthread_barrier_t *start;
    int ended;
    int removed;
    int failed;
} sweeper;

static int count_ended(void *ctx, const ds_blobref_entry *e)
{
    sweeper *w = ctx;

    w->ended++;
    w->removed += e->removed;
    return 0;
}

static void *sweep_thread(void *arg)
{
    sweeper *w = arg;
    ds_redis *r = ds_redis_new("127.0.0.1", w->port, 2000);
    ds_err err;
    ds_blob_store *store;
    int more = 1;

    ds_err_clear(&err);
    store = ds_blob_store_new(w->blob_dir, &err);
    freeReplyObject(ds_redis_cmd(r, &err, "PING"));
    pthread_barrier_wait(w->start);
    /* Small batches, so that the two interleave over the same entries. */
    while (store != NULL && r != NULL && more && !w->failed)
        w->failed = ds_blobref_sweep(r, store, ds_time_wall_ms(), 5, "test",
                                     w->owner, count_ended, w, &more,
                                     &err) < 0;
    ds_blob_store_free(store);
    ds_redis_free(r);
    return NULL;
}

/* Holds the two sweepers share. */
#define N_TWO 80

static void two_sweepers_end_each_hold_once(void **state)
{
    suite *s = *state;
    char sha[DS_SHA256_HEX_LEN + 1], doc[32], tag[32];
    sweeper a = {0}, b = {0};
    pthread_barrier_t start;
    pthread_t ta, tb;
    int i;

    FX_REQUIRE(&s->f);
    for (i = 0; i < N_TWO; i++) {
        snprintf(doc, sizeof(doc), "doc_%02d", i);
        snprintf(tag, sizeof(tag), "two_%02d", i);
        put_own_blob(s, tag, doc, sha);
        keep(s, sha, doc, 1000 + i);
    }
    a.port = b.port = s->f.redis_port;
    a.blob_dir = b.blob_dir = s->f.blob_dir;
    a.owner = "sweeper_a";
    b.owner = "sweeper_b";
    pthread_barrier_init(&start, NULL, 2);
    a.start = b.start = &start;
    assert_int_equal(pthread_create(&ta, NULL, sweep_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, sweep_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&start);

    print_message("sweeper a ended %d, b ended %d\n", a.ended, b.ended);
    assert_int_equal(a.failed + b.failed, 0);
    assert_int_equal(a.ended + b.ended, N_TWO);
    assert_int_equal(a.removed + b.removed, N_TWO);
    assert_int_equal(fx_redis_int(&s->f, "ZCARD docsync:blobkeep"), 0);
    assert_int_equal(fx_count_files(s->f.blob_dir), 0);
    for (i = 0; i < N_TWO; i++) {
        redisReply *tl;

        snprintf(doc, sizeof(doc), "doc_%02d", i);
        tl = fx_redis_cmd(&s->f, "LRANGE docsync:timeline:%s 0 -1", doc);
        assert_int_equal(tl->type, REDIS_REPLY_ARRAY);
        /* One blob_expired entry each: nobody ended a hold twice. */
        assert_int_equal(tl->elements, 1);
        freeReplyObject(tl);
    }
}

/* The list operators read: every kept hold, oldest first, with its time. */
typedef struct listed {
    int n;
    long long since[4];
    char doc[4][32];
} listed;

static int list_one(void *ctx, const ds_blobref_entry *e)
{
    listed *l = ctx;

    if (l->n < 4) {
        l->since[l->n] = e->since_ms;
        snprintf(l->doc[l->n], sizeof(l->doc[0]), "%s", e->doc_id);
    }
    l->n++;
    return 0;
}

static void the_kept_holds_are_listed_oldest_first(void **state)
{
    suite *s = *state;
    char sha[DS_SHA256_HEX_LEN + 1];
    listed l = {0};
    ds_blobref_look look;
    ds_err err;

    FX_REQUIRE(&s->f);
    put_own_blob(s, "l1", "doc_late", sha);
    keep(s, sha, "doc_late", 3000);
    put_own_blob(s, "l2", "doc_early", sha);
    keep(s, sha, "doc_early", 1000);
    ds_err_clear(&err);
    assert_int_equal(ds_blobref_kept_each(s->r, list_one, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.doc[0], "doc_early");
    assert_int_equal(l.since[0], 1000);
    assert_string_equal(l.doc[1], "doc_late");

    /* Where one hold stands: kept since its dead letter, held. */
    assert_int_equal(ds_blobref_look_up(s->r, sha, "doc_early", &look, &err),
                     0);
    assert_int_equal(look.kept_since_ms, 1000);
    assert_int_equal(look.held, 1);
    assert_int_equal(look.expired_at_ms, -1);
    sweep(s, 2000);
    assert_int_equal(ds_blobref_look_up(s->r, sha, "doc_early", &look, &err),
                     0);
    assert_int_equal(look.kept_since_ms, -1);
    assert_int_equal(look.held, 0);
    assert_true(look.expired_at_ms > 0);
}

static void the_retention_settings_are_checked(void **state)
{
    static const char *const bad[][2] = {
        {"BLOB_RETENTION_S", "-1"}, {"BLOB_RETENTION_S", "7d"},
        {"BLOB_RETENTION_S", "99999999999"}, {"BLOB_SWEEP_INTERVAL_S", "0"},
        {"BLOB_SWEEP_INTERVAL_S", "-5"}, {"BLOB_SWEEP_INTERVAL_S", "1.5"},
    };
    ds_blobref_conf c;
    ds_err err;
    size_t i;

    (void)state;
    unsetenv("BLOB_RETENTION_S");
    unsetenv("BLOB_SWEEP_INTERVAL_S");
    ds_err_clear(&err);
    assert_int_equal(ds_blobref_conf_load(&c, &err), 0);
    assert_int_equal(c.retention_s, 604800);
    assert_int_equal(c.sweep_interval_s, 60);
    assert_int_equal(ds_blobref_deadline(&c, 1000), 1000 + 604800000LL);

    /* 0 keeps until the replay: no deadline at all. */
    setenv("BLOB_RETENTION_S", "0", 1);
    assert_int_equal(ds_blobref_conf_load(&c, &err), 0);
    assert_int_equal(ds_blobref_deadline(&c, 1000), -1);
    unsetenv("BLOB_RETENTION_S");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv(bad[i][0], bad[i][1], 1);
        ds_err_clear(&err);
        assert_int_equal(ds_blobref_conf_load(&c, &err), -1);
        print_message("%s=%s: %s (%s)\n", bad[i][0], bad[i][1], err.msg,
                      err.reason);
        assert_non_null(strstr(err.msg, bad[i][0]));
        assert_string_equal(ds_class_name(err.klass), "permanent");
        unsetenv(bad[i][0]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_dead_letter_keeps_the_hold_with_its_time, setup, teardown),
        cmocka_unit_test_setup_teardown(
            the_sweep_ends_only_the_expired_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_shared_blob_stays_while_another_document_holds_it, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_replay_takes_the_hold_off_the_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_new_fetch_or_a_verification_ends_the_keeping, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            an_entry_dead_lettered_again_is_not_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(
            two_sweepers_end_each_hold_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            the_kept_holds_are_listed_oldest_first, setup, teardown),
        cmocka_unit_test(the_retention_settings_are_checked),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
