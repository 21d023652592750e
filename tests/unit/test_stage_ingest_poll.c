/*
 * test_stage_ingest_poll.c - ingest's poll mode, one round at a time
 * (ds_poll_round with the stage's own get and emit), against a private
 * Redis and a fake CRM listing in the test that serves two pages joined by
 * nextCursor and keeps the createdSince each round asked for.
 *
 * Records go through the real publish() and dedupe; ds_produce_sync is
 * replaced by a capture that keeps them and confirms them at once, or
 * refuses the n-th one as an unconfirmed delivery, so that the test sees
 * what was produced and that the cursor moves only past confirmed pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ds_kafka.h"
#include "fake_api.h"
#include "fixture.h"

#define MAX_CAPTURED 16

/* While on, records "produced" are kept here and confirmed at once, except
 * the fail_at-th call (1-based), which fails as an unconfirmed delivery. */
static struct {
    int calls;
    int fail_at;
    int n;
    char key[MAX_CAPTURED][132];
    json_t *value[MAX_CAPTURED];
} capture;

static int capture_produce(ds_producer *p, const char *topic,
                           const void *key, size_t key_len,
                           const void *value, size_t value_len,
                           const ds_header *headers, size_t nheaders,
                           ds_err *err)
{
    (void)p;
    (void)topic;
    (void)headers;
    (void)nheaders;
    if (++capture.calls == capture.fail_at || capture.n == MAX_CAPTURED)
        return ds_err_set(err, "kafka_delivery", "refused by the test");
    snprintf(capture.key[capture.n], sizeof(capture.key[0]), "%.*s",
             (int)key_len, (const char *)key);
    capture.value[capture.n++] = json_loadb(value, value_len, 0, NULL);
    return 0;
}

/* Forgets what was captured; the fail_at-th call from now fails (0:
 * none). */
static void capture_reset(int fail_at)
{
    int i;

    for (i = 0; i < capture.n; i++)
        json_decref(capture.value[i]);
    memset(&capture, 0, sizeof(capture));
    capture.fail_at = fail_at;
}

/* The stage's own file, so that its static functions are in reach. */
#define ds_produce_sync capture_produce
#define main ingest_main_unused
#include "../../ingest/ingest.c"
#undef main
#undef ds_produce_sync

#define SEED "2026-12-03T10:00:00.000Z"
#define SEED_CURSOR "{\"since\":\"" SEED "\"}"

/* What the fake CRM was asked. */
typedef struct crm {
    char since[8][48];     /* createdSince of each first page */
    int rounds;
    int next_pages;        /* calls with cursor=p2 */
    char v2_since[2][48];  /* /v2/files: from= of page 1, then of page 2 */
} crm;

typedef struct suite {
    fx f;
    fa_server api;
    crm crm;
    ingest in;
    poller p;
    int configured;
} suite;

static const char PAGE_1[] =
    "{\"data\":[{\"id\":\"doc_a\",\"accountId\":\"acc_1\",\"fileName\":"
    "\"a.pdf\",\"createdAt\":\"2026-12-03T10:00:01.000Z\"},{\"id\":"
    "\"doc_b\",\"accountId\":\"acc_2\",\"fileName\":\"b.pdf\","
    "\"createdAt\":\"2026-12-03T10:00:02.500Z\"}],\"nextCursor\":\"p2\"}";
static const char PAGE_2[] =
    "{\"data\":[{\"id\":\"doc_c\",\"accountId\":\"acc_1\",\"fileName\":"
    "\"c.pdf\",\"createdAt\":\"2026-12-03T10:00:03.250Z\"}],"
    "\"nextCursor\":null}";

/* A CRM that numbers its files and counts time in epoch ms, listing by
 * from=<epoch s>: the second item has no usable time, the third no id. */
static const char V2_PAGE_1[] =
    "{\"files\":[{\"file_id\":101,\"owner\":7,\"name\":\"a.pdf\","
    "\"created\":1796292001250},{\"file_id\":102,\"created\":\"soon\"},"
    "{\"file_id\":{\"n\":1},\"created\":1796292001500}],"
    "\"next\":\"2\"}";
static const char V2_PAGE_2[] =
    "{\"files\":[{\"file_id\":\"103\",\"owner\":\"acc_3\","
    "\"created\":1796292003000}],\"next\":null}";

/* /v2/files: page 1 without page=, page 2 with page=2; both keep their
 * from=. */
static char *listing_v2(const fa_call *call, crm *c)
{
    const char *page = fa_arg(call, "page");
    const char *from = fa_arg(call, "from");
    int second = page != NULL && strcmp(page, "2") == 0;

    snprintf(c->v2_since[second], sizeof(c->v2_since[0]), "%s",
             from != NULL ? from : "(none)");
    return strdup(second ? V2_PAGE_2 : V2_PAGE_1);
}

/* The fake listing: page 1 for createdSince, page 2 for cursor=p2; it
 * ignores the time, so a second round lists the same documents again. */
static char *listing(const fa_call *call, unsigned *status)
{
    crm *c = call->ctx;
    const char *since = fa_arg(call, "createdSince");
    const char *cursor = fa_arg(call, "cursor");

    if (strcmp(call->url, "/v2/files") == 0)
        return listing_v2(call, c);
    if (strcmp(call->url, "/api/v1/documents") != 0) {
        *status = 404;
        return NULL;
    }
    if (cursor != NULL && strcmp(cursor, "p2") == 0) {
        c->next_pages++;
        return strdup(PAGE_2);
    }
    if (since == NULL || c->rounds == 8) {
        *status = 400;
        return NULL;
    }
    snprintf(c->since[c->rounds++], sizeof(c->since[0]), "%s", since);
    return strdup(PAGE_1);
}

static int setup(void **state)
{
    suite *s = calloc(1, sizeof(*s));
    char brokers[32];
    ds_err err;

    if (s == NULL)
        return -1;
    *state = s;
    capture_reset(0);
    if (fa_start(&s->api, listing, &s->crm) < 0 ||
        fx_start(&s->f, FX_REDIS) < 0)
        return -1;
    if (!s->f.ready)
        return 0;
    fx_stage_env(&s->f);
    snprintf(brokers, sizeof(brokers), "127.0.0.1:%d", fx_free_port());
    setenv("KAFKA_BROKERS", brokers, 1);
    setenv("INGEST_DELIVERY_TIMEOUT_MS", "1000", 1);
    setenv("INGEST_MODE", "poll", 1);
    setenv("CRM_BASE_URL", s->api.base_url, 1);
    setenv("POLL_OVERLAP_MS", "60000", 1);
    setenv("POLL_START", "2026-12-03T09:00:00Z", 1);
    unsetenv("WEBHOOK_SECRET");
    ds_err_clear(&err);
    if (configure(&s->in, &err) < 0 ||
        poll_configure(&s->p, &s->in, &err) < 0) {
        print_message("configure: %s: %s\n", err.reason, err.msg);
        return -1;
    }
    s->configured = 1;
    return 0;
}

static int teardown(void **state)
{
    suite *s = *state;

    if (s->configured) {
        poll_clear(&s->p);
        ds_producer_free(s->in.producer);
        ds_redis_free(s->in.redis);
        pthread_mutex_destroy(&s->in.redis_lock);
    }
    capture_reset(0);
    fa_stop(&s->api);
    fx_stop(&s->f);
    free(s);
    return 0;
}

/* Runs one poll round; returns its result, with st and err filled. */
static int round_of(suite *s, ds_poll_stats *st, ds_err *err)
{
    int rc;

    ds_err_clear(err);
    rc = ds_poll_round(&s->p.cfg, &s->p.io, st, err);
    print_message("round: rc %d, %ld pages, %ld new, %ld duplicates %s %s\n",
                  rc, st->pages, st->events, st->duplicates, err->reason,
                  err->msg);
    return rc;
}

static void seed_cursor(suite *s)
{
    freeReplyObject(fx_redis_cmd(&s->f, "SET %s %s", DS_POLL_CURSOR_KEY,
                                 SEED_CURSOR));
}

/* Asserts the cursor in Redis is {"since": want}. */
static void assert_cursor(suite *s, const char *want)
{
    redisReply *r = fx_redis_cmd(&s->f, "GET %s", DS_POLL_CURSOR_KEY);
    json_t *j;

    assert_int_equal(r->type, REDIS_REPLY_STRING);
    j = json_loads(r->str, 0, NULL);
    FX_ASSERT_JSON_STR(j, "since", want);
    json_decref(j);
    freeReplyObject(r);
}

static void a_round_produces_each_listed_document_as_a_webhook_would(
    void **state)
{
    suite *s = *state;
    ds_poll_stats st;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    seed_cursor(s);
    rc = round_of(s, &st, &err);

    assert_int_equal(rc, 0);
    assert_int_equal(st.pages, 2);
    assert_int_equal(st.events, 3);
    assert_int_equal(capture.n, 3);
    assert_string_equal(capture.key[0], "doc_a");
    assert_string_equal(capture.key[2], "doc_c");
    FX_ASSERT_JSON_STR(capture.value[0], "eventId", "poll:doc_a");
    FX_ASSERT_JSON_STR(capture.value[0], "eventType", "DOCUMENT_CREATED");
    FX_ASSERT_JSON_STR(capture.value[0], "documentId", "doc_a");
    FX_ASSERT_JSON_STR(capture.value[1], "accountId", "acc_2");
    FX_ASSERT_JSON_STR(capture.value[1], "fileName", "b.pdf");
    FX_ASSERT_JSON_STR(capture.value[2], "timestamp",
                       "2026-12-03T10:00:03.250Z");
    assert_non_null(json_object_get(capture.value[0], "traceId"));
    assert_non_null(json_object_get(capture.value[0], "receivedAt"));
    FX_ASSERT_STATE(&s->f, "doc_b", "received");
    /* The first page was asked from the cursor minus the overlap. */
    assert_string_equal(s->crm.since[0], "2026-12-03T09:59:00.000Z");
    assert_int_equal(s->crm.next_pages, 1);
    assert_cursor(s, "2026-12-03T10:00:03.250Z");
}

static void the_next_round_starts_at_since_minus_overlap_without_duplicates(
    void **state)
{
    suite *s = *state;
    ds_poll_stats st;
    ds_err err;

    FX_REQUIRE(&s->f);
    seed_cursor(s);
    assert_int_equal(round_of(s, &st, &err), 0);
    assert_int_equal(round_of(s, &st, &err), 0);

    assert_int_equal(s->crm.rounds, 2);
    assert_string_equal(s->crm.since[1], "2026-12-03T09:59:03.250Z");
    /* The overlap listed the same three again: the dedupe knew them. */
    assert_int_equal(st.events, 0);
    assert_int_equal(st.duplicates, 3);
    assert_int_equal(capture.n, 3);
    assert_cursor(s, "2026-12-03T10:00:03.250Z");
}

static void a_failed_delivery_leaves_the_cursor_where_it_was(void **state)
{
    suite *s = *state;
    ds_poll_stats st;
    ds_err err;

    FX_REQUIRE(&s->f);
    seed_cursor(s);
    capture_reset(2);
    assert_int_equal(round_of(s, &st, &err), -1);

    assert_string_equal(err.reason, "kafka_delivery");
    assert_int_equal(capture.n, 1);
    assert_int_equal(st.pages, 0);
    assert_cursor(s, SEED);
    assert_int_equal(s->crm.next_pages, 0);

    /* The page is read again; doc_a, in Kafka already, is not produced
     * twice. */
    capture_reset(0);
    assert_int_equal(round_of(s, &st, &err), 0);
    assert_int_equal(capture.n, 2);
    assert_string_equal(capture.key[0], "doc_b");
    assert_string_equal(capture.key[1], "doc_c");
    assert_int_equal(st.duplicates, 1);
    assert_cursor(s, "2026-12-03T10:00:03.250Z");
}

static void a_failure_on_page_two_keeps_the_cursor_of_page_one(void **state)
{
    suite *s = *state;
    ds_poll_stats st;
    ds_err err;

    FX_REQUIRE(&s->f);
    seed_cursor(s);
    capture_reset(3);
    assert_int_equal(round_of(s, &st, &err), -1);

    assert_int_equal(st.pages, 1);
    assert_cursor(s, "2026-12-03T10:00:02.500Z");
}

static void without_a_cursor_polling_starts_at_poll_start(void **state)
{
    suite *s = *state;
    ds_poll_stats st;
    ds_err err;

    FX_REQUIRE(&s->f);
    assert_int_equal(round_of(s, &st, &err), 0);

    assert_string_equal(s->crm.since[0], "2026-12-03T08:59:00.000Z");
    assert_cursor(s, "2026-12-03T10:00:03.250Z");
}

static void the_starting_point_is_kept_even_when_the_first_page_fails(
    void **state)
{
    suite *s = *state;
    ds_poll_stats st;
    ds_err err;

    FX_REQUIRE(&s->f);
    capture_reset(1);
    assert_int_equal(round_of(s, &st, &err), -1);

    /* A restart now (with a later POLL_START) still lists from here. */
    assert_cursor(s, "2026-12-03T09:00:00.000Z");
}

/* The source of a connector file for the /v2/files CRM. */
static const char V2_SOURCE[] =
    "{\"source\": {\"endpoints\": {\"list\": \"/v2/files?from={since}\", "
    "\"listNext\": \"/v2/files?page={cursor}&from={since}\"}, \"list\": "
    "{\"items\": \"files\", \"nextCursor\": \"next\", \"createdAt\": "
    "\"created\", \"sinceFormat\": \"epoch_s\", \"createdAtFormat\": "
    "\"epoch_ms\"}, \"fields\": {\"documentId\": {\"from\": \"file_id\"}, "
    "\"accountId\": {\"from\": \"owner\"}, \"fileName\": {\"from\": "
    "\"name\"}}}}";

static void v2_cfg(suite *s)
{
    json_t *c = json_loads(V2_SOURCE, 0, NULL);
    ds_err err;

    assert_non_null(c);
    ds_err_clear(&err);
    assert_int_equal(ds_poll_cfg_parse(c, &s->p.cfg, &err), 0);
    json_decref(c);
}

static void numeric_ids_and_epoch_times_are_listed_with_since_on_each_page(
    void **state)
{
    suite *s = *state;
    ds_poll_stats st;
    ds_err err;

    FX_REQUIRE(&s->f);
    v2_cfg(s);
    seed_cursor(s);
    assert_int_equal(round_of(s, &st, &err), 0);

    /* {since} in epoch seconds, on the first page and the next. */
    assert_string_equal(s->crm.v2_since[0], "1796291940");
    assert_string_equal(s->crm.v2_since[1], "1796291940");
    assert_int_equal(st.pages, 2);
    assert_int_equal(st.events, 2);
    assert_int_equal(capture.n, 2);
    assert_string_equal(capture.key[0], "101");
    FX_ASSERT_JSON_STR(capture.value[0], "eventId", "poll:101");
    FX_ASSERT_JSON_STR(capture.value[0], "accountId", "7");
    FX_ASSERT_JSON_STR(capture.value[0], "fileName", "a.pdf");
    FX_ASSERT_JSON_STR(capture.value[0], "timestamp",
                       "2026-12-03T10:00:01.250Z");
    assert_string_equal(capture.key[1], "103");
    FX_ASSERT_JSON_STR(capture.value[1], "accountId", "acc_3");
    assert_cursor(s, "2026-12-03T10:00:03.000Z");
}

/* The lines ds_log wrote while fn(arg) ran, in a buffer of cap. */
static void logged_by(void (*fn)(const ds_poll_stats *),
                      const ds_poll_stats *arg, char *out, size_t cap)
{
    FILE *fp = tmpfile();
    size_t n;

    assert_non_null(fp);
    ds_log_set_stream(fp);
    fn(arg);
    ds_log_set_stream(stdout);
    rewind(fp);
    n = fread(out, 1, cap - 1, fp);
    out[n] = '\0';
    fclose(fp);
}

static void skipped_items_are_said_once_a_round_naming_the_first(
    void **state)
{
    suite *s = *state;
    ds_poll_stats st;
    ds_err err;
    char text[2048];

    FX_REQUIRE(&s->f);
    v2_cfg(s);
    seed_cursor(s);
    assert_int_equal(round_of(s, &st, &err), 0);

    assert_int_equal(st.skipped, 2);
    assert_string_equal(st.skip_note, "item 2 of a page (id 102: created "
                        "is not a time in epoch_ms)");
    logged_by(poll_report_skips, &st, text, sizeof(text));
    assert_non_null(strstr(text, "skipped 2 listed items; the first: item 2"
                           " of a page (id 102: created"));
    /* One line for the round, not one per item. */
    assert_non_null(strchr(text, '\n'));
    assert_null(strchr(strchr(text, '\n') + 1, '\n'));
}

/* The message ds_poll_cfg_parse gives for the connector JSON text. */
static void parse_connector(const char *text, ds_err *err)
{
    json_t *c = json_loads(text, 0, NULL);
    ds_poll_cfg cfg;

    assert_non_null(c);
    ds_err_clear(err);
    assert_int_equal(ds_poll_cfg_parse(c, &cfg, err), -1);
    assert_string_equal(err->reason, "bad_connector");
    json_decref(c);
}

static void a_source_that_does_not_validate_names_the_field(void **state)
{
    ds_err err;

    (void)state;
    parse_connector("{}", &err);
    assert_string_equal(err.msg, "source: missing");
    parse_connector("{\"source\": {\"endpoints\": {\"list\": \"/d?since="
                    "{since}\"}}}", &err);
    assert_string_equal(err.msg, "source.endpoints.listNext: missing");
    parse_connector("{\"source\": {\"endpoints\": {\"list\": \"/d\"}}}",
                    &err);
    assert_string_equal(err.msg, "source.endpoints.list: must contain "
                        "{since}");
    parse_connector("{\"source\": {\"endpoints\": {\"list\": \"/d?s={since}"
                    "\", \"listNext\": \"/d?c={cursor}\"}, \"list\": "
                    "{\"items\": \"data\", \"nextCursor\": 5}}}", &err);
    assert_string_equal(err.msg, "source.list.nextCursor: must be a "
                        "non-empty string");
}

static void a_failed_round_backs_off_with_jitter_or_waits_retry_after(
    void **state)
{
    poller p = {0};
    ds_err err;
    long w;
    int i;

    (void)state;
    p.interval_ms = 1000;
    ds_err_clear(&err);
    for (i = 0; i < 20; i++) {
        w = poll_backoff(&p, 1, &err);
        assert_in_range(w, 500, 1000);
        w = poll_backoff(&p, 3, &err);
        assert_in_range(w, 2000, 4000);
        w = poll_backoff(&p, 30, &err);
        assert_in_range(w, POLL_BACKOFF_CAP_MS / 2, POLL_BACKOFF_CAP_MS);
    }
    /* A 429 (or a spent rate budget) says how long: at least that. */
    ds_err_set(&err, "http_429", "slow down");
    err.retry_after_ms = 7000;
    w = poll_backoff(&p, 1, &err);
    assert_in_range(w, 7000, 8100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_round_produces_each_listed_document_as_a_webhook_would, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            the_next_round_starts_at_since_minus_overlap_without_duplicates,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_failed_delivery_leaves_the_cursor_where_it_was, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_failure_on_page_two_keeps_the_cursor_of_page_one, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            without_a_cursor_polling_starts_at_poll_start, setup, teardown),
        cmocka_unit_test_setup_teardown(
            the_starting_point_is_kept_even_when_the_first_page_fails, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            numeric_ids_and_epoch_times_are_listed_with_since_on_each_page,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            skipped_items_are_said_once_a_round_naming_the_first, setup,
            teardown),
        cmocka_unit_test(a_source_that_does_not_validate_names_the_field),
        cmocka_unit_test(
            a_failed_round_backs_off_with_jitter_or_waits_retry_after),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
