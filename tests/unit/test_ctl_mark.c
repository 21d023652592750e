/*
 * test_ctl_mark.c - specification of what a replay writes to Redis
 * (ctl/ctl_mark): the mark that refuses a second replay of one DLQ record,
 * and the document's "replayed" state and timeline entry, which must not
 * overwrite what a stage wrote after the replay. Against a private Redis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"

#include "ctl_mark.h"

#define DLQ "docsync.dlq"

typedef struct suite {
    fx f;
    ds_redis *r;
} suite;

static int setup(void **state)
{
    suite *s = calloc(1, sizeof(*s));

    *state = s;
    if (s == NULL || fx_start(&s->f, FX_REDIS) < 0)
        return -1;
    if (s->f.ready)
        s->r = ds_redis_new("127.0.0.1", s->f.redis_port, 2000);
    return 0;
}

static int teardown(void **state)
{
    suite *s = *state;

    ds_redis_free(s->r);
    fx_stop(&s->f);
    free(s);
    return 0;
}

/* The string at key, or "(nil)"; the caller frees it. */
static char *get(suite *s, const char *key)
{
    redisReply *reply = fx_redis_cmd(&s->f, "GET %s", key);
    char *v = strdup(reply->type == REDIS_REPLY_STRING ? reply->str : "(nil)");

    freeReplyObject(reply);
    return v;
}

#define ASSERT_GET(s, key, want)                                         \
    do {                                                                 \
        char *v_ = get((s), (key));                                      \
        assert_string_equal(v_, (want));                                 \
        free(v_);                                                        \
    } while (0)

/* A first claim takes the record; a second, while the first replay is
 * under way, finds it pending; after the replay, done with its time. */
static void a_replay_is_claimed_once_then_remembered(void **state)
{
    suite *s = *state;
    long long when = 0;
    ctl_mark_found found;
    ds_err err;

    FX_REQUIRE(&s->f);
    ds_err_clear(&err);
    assert_int_equal(ctl_mark_lookup(s->r, DLQ, 2, 7, &found, &when, &err),
                     0);
    assert_int_equal(found, CTL_MARK_NONE);
    assert_int_equal(ctl_mark_claim(s->r, DLQ, 2, 7, &found, &when, &err), 0);
    assert_int_equal(found, CTL_MARK_NONE);
    ASSERT_GET(s, "docsync:replayed:docsync.dlq:2:7", "pending");
    assert_int_equal(ctl_mark_claim(s->r, DLQ, 2, 7, &found, &when, &err), 0);
    assert_int_equal(found, CTL_MARK_PENDING);

    assert_int_equal(ctl_mark_done(s->r, DLQ, 2, 7, 1796292000123LL, &err),
                     0);
    ASSERT_GET(s, "docsync:replayed:docsync.dlq:2:7", "1796292000123");
    assert_int_equal(ctl_mark_claim(s->r, DLQ, 2, 7, &found, &when, &err), 0);
    assert_int_equal(found, CTL_MARK_DONE);
    assert_int_equal(when, 1796292000123LL);
    assert_int_equal(ctl_mark_lookup(s->r, DLQ, 2, 7, &found, &when, &err),
                     0);
    assert_int_equal(found, CTL_MARK_DONE);

    /* Another offset, partition or DLQ is another record. */
    assert_int_equal(ctl_mark_claim(s->r, DLQ, 2, 8, &found, &when, &err), 0);
    assert_int_equal(found, CTL_MARK_NONE);
    assert_int_equal(ctl_mark_claim(s->r, "other.dlq", 2, 7, &found, &when,
                                    &err), 0);
    assert_int_equal(found, CTL_MARK_NONE);
}

/* A claim expires within a minute; a replay is kept 30 days. */
static void claims_expire_soon_and_replays_after_30_days(void **state)
{
    suite *s = *state;
    long long when;
    ctl_mark_found found;
    ds_err err;
    long long ttl;

    FX_REQUIRE(&s->f);
    ds_err_clear(&err);
    assert_int_equal(ctl_mark_claim(s->r, DLQ, 0, 1, &found, &when, &err), 0);
    ttl = fx_redis_int(&s->f, "PTTL docsync:replayed:docsync.dlq:0:1");
    assert_in_range(ttl, 1, 60000);
    assert_int_equal(ctl_mark_done(s->r, DLQ, 0, 1, 5, &err), 0);
    ttl = fx_redis_int(&s->f, "TTL docsync:replayed:docsync.dlq:0:1");
    assert_in_range(ttl, 30L * 86400 - 60, 30L * 86400);
}

/* A replay that did not happen is forgotten; one that did is kept. */
static void release_forgets_a_claim_but_never_a_replay(void **state)
{
    suite *s = *state;
    long long when;
    ctl_mark_found found;
    ds_err err;

    FX_REQUIRE(&s->f);
    ds_err_clear(&err);
    assert_int_equal(ctl_mark_claim(s->r, DLQ, 1, 1, &found, &when, &err), 0);
    assert_int_equal(ctl_mark_release(s->r, DLQ, 1, 1, &err), 0);
    ASSERT_GET(s, "docsync:replayed:docsync.dlq:1:1", "(nil)");

    assert_int_equal(ctl_mark_done(s->r, DLQ, 1, 2, 99, &err), 0);
    assert_int_equal(ctl_mark_release(s->r, DLQ, 1, 2, &err), 0);
    ASSERT_GET(s, "docsync:replayed:docsync.dlq:1:2", "99");
}

/* The document failed and nothing touched it since: it is "replayed",
 * with the time, the DLQ record and a timeline entry of docsyncctl. */
static void a_failed_document_is_marked_replayed(void **state)
{
    suite *s = *state;
    ctl_doc_seen seen;
    redisReply *tl;
    int set = -1;
    ds_err err;

    FX_REQUIRE(&s->f);
    ds_err_clear(&err);
    freeReplyObject(fx_redis_cmd(&s->f, "HSET docsync:doc:doc_1 state failed "
                                 "failed_at 100"));
    assert_int_equal(ctl_doc_seen_read(s->r, "doc_1", &seen, &err), 0);
    assert_string_equal(seen.state, "failed");
    assert_string_equal(seen.failed_at, "100");
    assert_int_equal(ctl_mark_replayed(s->r, "doc_1", &seen, 200,
                                       "upload_http_422", "docsync.dlq:0:4",
                                       &set, &err), 0);
    assert_int_equal(set, 1);
    FX_ASSERT_STATE(&s->f, "doc_1", "replayed");
    tl = fx_redis_cmd(&s->f, "LRANGE docsync:timeline:doc_1 0 -1");
    assert_int_equal(tl->elements, 1);
    assert_string_equal(tl->element[0]->str,
                        "200:docsyncctl:replayed:upload_http_422");
    freeReplyObject(tl);
    tl = fx_redis_cmd(&s->f, "HMGET docsync:doc:doc_1 replayed_at "
                      "replayed_from");
    assert_string_equal(tl->element[0]->str, "200");
    assert_string_equal(tl->element[1]->str, "docsync.dlq:0:4");
    freeReplyObject(tl);
}

/* A stage handled the replayed record before the mark was written (it
 * moved on, or failed it again): its state stays; the replay still shows
 * in the timeline. */
static void a_state_written_since_is_not_overwritten(void **state)
{
    suite *s = *state;
    ctl_doc_seen seen;
    int set = -1;
    ds_err err;

    FX_REQUIRE(&s->f);
    ds_err_clear(&err);
    freeReplyObject(fx_redis_cmd(&s->f, "HSET docsync:doc:doc_2 state failed "
                                 "failed_at 100"));
    assert_int_equal(ctl_doc_seen_read(s->r, "doc_2", &seen, &err), 0);
    freeReplyObject(fx_redis_cmd(&s->f, "HSET docsync:doc:doc_2 state "
                                 "uploaded"));
    assert_int_equal(ctl_mark_replayed(s->r, "doc_2", &seen, 200, "x", "d:0:0",
                                       &set, &err), 0);
    assert_int_equal(set, 0);
    FX_ASSERT_STATE(&s->f, "doc_2", "uploaded");
    assert_int_equal(fx_redis_int(&s->f, "LLEN docsync:timeline:doc_2"), 1);

    /* Failed again, later: a new failed_at, the same state. */
    freeReplyObject(fx_redis_cmd(&s->f, "HSET docsync:doc:doc_2 state failed "
                                 "failed_at 100"));
    assert_int_equal(ctl_doc_seen_read(s->r, "doc_2", &seen, &err), 0);
    freeReplyObject(fx_redis_cmd(&s->f, "HSET docsync:doc:doc_2 failed_at "
                                 "300"));
    assert_int_equal(ctl_mark_replayed(s->r, "doc_2", &seen, 250, "x", "d:0:0",
                                       &set, &err), 0);
    assert_int_equal(set, 0);
    FX_ASSERT_STATE(&s->f, "doc_2", "failed");
}

/* Redis lost the document (or never had it): the replay creates its
 * state, so that `status` shows it. */
static void a_document_without_state_is_marked_too(void **state)
{
    suite *s = *state;
    ctl_doc_seen seen;
    int set = -1;
    ds_err err;

    FX_REQUIRE(&s->f);
    ds_err_clear(&err);
    assert_int_equal(ctl_doc_seen_read(s->r, "doc_3", &seen, &err), 0);
    assert_string_equal(seen.state, "");
    assert_string_equal(seen.failed_at, "");
    assert_int_equal(ctl_mark_replayed(s->r, "doc_3", &seen, 9, "", "d:1:2",
                                       &set, &err), 0);
    assert_int_equal(set, 1);
    FX_ASSERT_STATE(&s->f, "doc_3", "replayed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_replay_is_claimed_once_then_remembered, setup, teardown),
        cmocka_unit_test_setup_teardown(
            claims_expire_soon_and_replays_after_30_days, setup, teardown),
        cmocka_unit_test_setup_teardown(
            release_forgets_a_claim_but_never_a_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_failed_document_is_marked_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_state_written_since_is_not_overwritten, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_document_without_state_is_marked_too, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
