/*
 * test_retry.c - specification of what decides a retry: the backoff with
 * jitter (cases.md C08, C09), the circuit breaker (common/ds_breaker) and
 * the per-document order queue (common/ds_order) against a real
 * redis-server that the test starts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"

#include "ds_breaker.h"
#include "ds_order.h"

/* Every wait stays inside [base/2, x] and the draws spread over the
 * window: workers that failed together do not retry together (C09), and
 * no wait collapses to zero (C08). */
static void backoff_spreads_and_never_reaches_zero(void **state)
{
    long lo = 1L << 30, hi = 0, sum = 0;
    int i, buckets[4] = {0, 0, 0, 0};

    (void)state;
    srandom(7);
    for (i = 0; i < 4000; i++) {
        long w = ds_backoff_ms(4, 1000, 60000); /* x = 4000 */

        assert_in_range(w, 500, 4000);
        lo = w < lo ? w : lo;
        hi = w > hi ? w : hi;
        sum += w;
        buckets[(w - 500) * 4 / 3501]++;
    }
    print_message("min %ld max %ld mean %ld buckets %d %d %d %d\n", lo, hi,
                  sum / 4000, buckets[0], buckets[1], buckets[2], buckets[3]);
    assert_true(lo < 700 && hi > 3800);
    for (i = 0; i < 4; i++)
        assert_in_range(buckets[i], 800, 1200);
    /* The window doubles per attempt up to the cap. */
    for (i = 0; i < 200; i++) {
        assert_in_range(ds_backoff_ms(2, 1000, 60000), 500, 1000);
        assert_in_range(ds_backoff_ms(30, 1000, 60000), 500, 60000);
        assert_in_range(ds_backoff_ms(3, 1000, 1500), 500, 1500);
    }
}

/* One failing document cannot stop the stage: the breaker opens only
 * after `threshold` outages in a row, and a success in between resets
 * the count. */
static void breaker_opens_after_threshold_in_a_row(void **state)
{
    ds_breaker b;
    long open_ms;

    (void)state;
    ds_breaker_init(&b, 3, 1000, 8000);
    assert_int_equal(ds_breaker_outage(&b, 0, -1), 0);
    assert_int_equal(ds_breaker_outage(&b, 0, -1), 0);
    assert_int_equal(ds_breaker_success(&b), 0);
    assert_int_equal(ds_breaker_outage(&b, 0, -1), 0);
    assert_int_equal(ds_breaker_outage(&b, 0, -1), 0);
    assert_false(ds_breaker_is_open(&b));
    open_ms = ds_breaker_outage(&b, 100, -1);
    assert_in_range(open_ms, 800, 1000);
    assert_true(ds_breaker_is_open(&b));
    assert_int_equal(ds_breaker_wait(&b, 600), open_ms - 500);
}

/* After the cooldown one probe goes; its failure reopens at once with
 * twice the cooldown, up to the cap, less up to a fifth at random; its
 * success closes the breaker. */
static void breaker_probes_doubles_and_closes(void **state)
{
    ds_breaker b;
    long long t = 0;
    long expect[] = {1000, 2000, 4000, 5000, 5000};
    int i;

    (void)state;
    ds_breaker_init(&b, 2, 1000, 5000);
    ds_breaker_outage(&b, t, -1);
    for (i = 0; i < 5; i++) {
        long ms = ds_breaker_outage(&b, t, -1);

        assert_in_range(ms, expect[i] - expect[i] / 5, expect[i]);
        assert_int_equal(ds_breaker_wait(&b, t + ms - 1), 1);
        t += ms;
        assert_int_equal(ds_breaker_wait(&b, t), 0); /* the probe goes */
        assert_true(ds_breaker_is_open(&b));
    }
    assert_int_equal(ds_breaker_success(&b), 1);
    assert_false(ds_breaker_is_open(&b));
    assert_int_equal(ds_breaker_wait(&b, t), 0);
    /* Closed again: the threshold counts from zero. */
    assert_int_equal(ds_breaker_outage(&b, t, -1), 0);
}

/* A server's Retry-After lengthens the cooldown; a rate limit holds the
 * breaker open for exactly its time, never shortening a longer opening. */
static void breaker_honours_retry_after(void **state)
{
    ds_breaker b;

    (void)state;
    ds_breaker_init(&b, 1, 1000, 5000);
    assert_int_equal(ds_breaker_outage(&b, 0, 12000), 12000);
    assert_int_equal(ds_breaker_hold(&b, 0, 3000), 12000);
    ds_breaker_success(&b);
    assert_int_equal(ds_breaker_hold(&b, 100, 3000), 3000);
    assert_int_equal(ds_breaker_wait(&b, 3099), 1);
    assert_int_equal(ds_breaker_wait(&b, 3100), 0);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));

    if (f == NULL || fx_start(f, FX_REDIS) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    fx_stop(f);
    free(f);
    return 0;
}

static ds_redis *order_redis(const fx *f)
{
    ds_redis *r = ds_redis_new("127.0.0.1", f->redis_port, 2000);

    assert_non_null(r);
    return r;
}

/* A record of a document with nothing waiting runs and queues nothing;
 * once one is parked, a later record queues behind it, and runs after
 * the first is done. */
static void later_records_wait_for_the_parked_one(void **state)
{
    fx *f = *state;
    ds_order_state st;
    ds_redis *r;
    ds_err err;

    FX_REQUIRE(f);
    r = order_redis(f);
    ds_err_clear(&err);
    assert_int_equal(ds_order_enter(r, "fetcher", "doc_1", "ev:0:1", 1000,
                                    60000, &st, &err), 0);
    assert_int_equal(st, DS_ORDER_FREE);
    assert_int_equal(fx_redis_int(f, "EXISTS docsync:order:fetcher:doc_1"),
                     0);

    assert_int_equal(ds_order_park(r, "fetcher", "doc_1", "ev:0:1", 1000,
                                   &err), 0);
    assert_int_equal(ds_order_enter(r, "fetcher", "doc_1", "ev:0:7", 1100,
                                    60000, &st, &err), 0);
    assert_int_equal(st, DS_ORDER_WAIT);
    /* Another document and another stage are not held. */
    assert_int_equal(ds_order_enter(r, "fetcher", "doc_2", "ev:0:8", 1100,
                                    60000, &st, &err), 0);
    assert_int_equal(st, DS_ORDER_FREE);
    assert_int_equal(ds_order_enter(r, "mapper", "doc_1", "fe:0:3", 1100,
                                    60000, &st, &err), 0);
    assert_int_equal(st, DS_ORDER_FREE);

    assert_int_equal(ds_order_turn(r, "fetcher", "doc_1", "ev:0:7", 1200,
                                   60000, &st, &err), 0);
    assert_int_equal(st, DS_ORDER_WAIT);
    assert_int_equal(ds_order_turn(r, "fetcher", "doc_1", "ev:0:1", 1200,
                                   60000, &st, &err), 0);
    assert_int_equal(st, DS_ORDER_TURN);
    assert_int_equal(ds_order_done(r, "fetcher", "doc_1", "ev:0:1", &err), 0);
    assert_int_equal(ds_order_turn(r, "fetcher", "doc_1", "ev:0:7", 1300,
                                   60000, &st, &err), 0);
    assert_int_equal(st, DS_ORDER_TURN);
    assert_int_equal(ds_order_done(r, "fetcher", "doc_1", "ev:0:7", &err), 0);
    /* Nothing is left behind once the queue is empty. */
    assert_int_equal(fx_redis_int(f, "EXISTS docsync:order:fetcher:doc_1 "
                                     "docsync:order:fetcher:doc_1:t"), 0);
    ds_redis_free(r);
}

/* A redelivered record finds its own ticket and is not queued twice; a
 * retry record whose ticket is gone (done, or Redis lost it) runs. */
static void tickets_are_idempotent(void **state)
{
    fx *f = *state;
    ds_order_state st;
    ds_redis *r;
    ds_err err;

    FX_REQUIRE(f);
    r = order_redis(f);
    ds_err_clear(&err);
    ds_order_park(r, "uploader", "doc_9", "ma:1:5", 1000, &err);
    ds_order_park(r, "uploader", "doc_9", "ma:1:5", 1001, &err);
    assert_int_equal(fx_redis_int(f, "LLEN docsync:order:uploader:doc_9"), 1);
    assert_int_equal(ds_order_enter(r, "uploader", "doc_9", "ma:1:5", 1002,
                                    60000, &st, &err), 0);
    assert_int_equal(st, DS_ORDER_TURN);
    assert_int_equal(fx_redis_int(f, "LLEN docsync:order:uploader:doc_9"), 1);
    assert_int_equal(ds_order_turn(r, "uploader", "doc_9", "ma:1:99", 1003,
                                   60000, &st, &err), 0);
    assert_int_equal(st, DS_ORDER_FREE);
    assert_true(fx_redis_int(f, "TTL docsync:order:uploader:doc_9") > 86400);
    ds_redis_free(r);
}

/* A ticket whose record never came (its process died between queueing
 * and producing) blocks the document only until it goes stale. */
static void a_lost_ticket_goes_stale(void **state)
{
    fx *f = *state;
    ds_order_state st;
    ds_redis *r;
    ds_err err;

    FX_REQUIRE(f);
    r = order_redis(f);
    ds_err_clear(&err);
    ds_order_park(r, "mapper", "doc_5", "fe:2:1", 1000, &err);
    ds_order_park(r, "mapper", "doc_5", "fe:2:4", 1500, &err);
    assert_int_equal(ds_order_turn(r, "mapper", "doc_5", "fe:2:4", 5999,
                                   5000, &st, &err), 0);
    assert_int_equal(st, DS_ORDER_WAIT);
    assert_int_equal(ds_order_turn(r, "mapper", "doc_5", "fe:2:4", 6001,
                                   5000, &st, &err), 0);
    assert_int_equal(st, DS_ORDER_TURN);
    assert_int_equal(fx_redis_int(f, "LLEN docsync:order:mapper:doc_5"), 1);
    ds_redis_free(r);
}

/* The loop's own failure to reach Redis opens the breaker at once, and
 * repeated trips back off like outages. */
static void breaker_trips_at_once(void **state)
{
    ds_breaker b;
    long ms;

    (void)state;
    ds_breaker_init(&b, 5, 500, 4000);
    ms = ds_breaker_trip(&b, 0);
    assert_in_range(ms, 400, 500);
    assert_int_equal(ds_breaker_wait(&b, ms), 0);
    assert_in_range(ds_breaker_trip(&b, ms), 800, 1000);
}

/* C09: replicas that saw the same outage do not probe at one instant:
 * the cooldowns of a hundred breakers opened alike are spread. */
static void breaker_cooldowns_are_spread(void **state)
{
    long lo = 1000000, hi = 0;
    int i;

    (void)state;
    for (i = 0; i < 100; i++) {
        ds_breaker b;
        long ms;

        ds_breaker_init(&b, 1, 2000, 8000);
        ms = ds_breaker_outage(&b, 0, -1);
        lo = ms < lo ? ms : lo;
        hi = ms > hi ? ms : hi;
    }
    assert_true(lo >= 1600 && hi <= 2000);
    assert_true(hi - lo >= 100);
}

/* C14: a poll interval that one record's HTTP calls could outlast is
 * refused at start, naming both settings. */
static void a_poll_interval_shorter_than_the_work_is_refused(void **state)
{
    ds_loop_conf conf;
    ds_err err;

    (void)state;
    setenv("HTTP_TIMEOUT_MS", "100000", 1);
    setenv("KAFKA_MAX_POLL_INTERVAL_MS", "300000", 1);
    ds_err_clear(&err);
    assert_int_equal(ds_loop_conf_load(&conf, "uploader", &err), -1);
    print_message("%s\n", err.msg);
    assert_string_equal(err.reason, "bad_config");
    assert_non_null(strstr(err.msg, "KAFKA_MAX_POLL_INTERVAL_MS (300000)"));
    assert_non_null(strstr(err.msg, "330000"));

    setenv("KAFKA_MAX_POLL_INTERVAL_MS", "330000", 1);
    ds_err_clear(&err);
    assert_int_equal(ds_loop_conf_load(&conf, "uploader", &err), 0);
    assert_string_equal(conf.retry_topic, "docsync.retry.uploader");
    /* ds_http would read 0 as its 60 s default: the check must not. */
    setenv("HTTP_TIMEOUT_MS", "0", 1);
    ds_err_clear(&err);
    assert_int_equal(ds_loop_conf_load(&conf, "uploader", &err), -1);
    assert_non_null(strstr(err.msg, "HTTP_TIMEOUT_MS must be positive"));
    unsetenv("HTTP_TIMEOUT_MS");
    unsetenv("KAFKA_MAX_POLL_INTERVAL_MS");
}

/* Settings that would make the loop spin or never give up are refused. */
static void settings_that_cannot_work_are_refused(void **state)
{
    static const char *const bad[][2] = {
        {"BREAKER_THRESHOLD", "0"}, {"RETRY_BUDGET_MS", "0"},
        {"BREAKER_COOLDOWN_MS", "0"}, {"GRACE_DELAY_MS", "-1"},
        {"ORDER_STALE_MS", "10"}, {"BACKOFF_BASE_MS", "0"},
        {"MAX_ATTEMPTS", "0"},
    };
    ds_loop_conf conf;
    ds_err err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv(bad[i][0], bad[i][1], 1);
        ds_err_clear(&err);
        print_message("%s=%s\n", bad[i][0], bad[i][1]);
        assert_int_equal(ds_loop_conf_load(&conf, "fetcher", &err), -1);
        assert_string_equal(err.reason, "bad_config");
        unsetenv(bad[i][0]);
    }
    ds_err_clear(&err);
    assert_int_equal(ds_loop_conf_load(&conf, "fetcher", &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_spreads_and_never_reaches_zero),
        cmocka_unit_test(breaker_opens_after_threshold_in_a_row),
        cmocka_unit_test(breaker_probes_doubles_and_closes),
        cmocka_unit_test(breaker_honours_retry_after),
        cmocka_unit_test(breaker_cooldowns_are_spread),
        cmocka_unit_test(breaker_trips_at_once),
        cmocka_unit_test(a_poll_interval_shorter_than_the_work_is_refused),
        cmocka_unit_test(settings_that_cannot_work_are_refused),
        cmocka_unit_test_setup_teardown(later_records_wait_for_the_parked_one,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(tickets_are_idempotent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_lost_ticket_goes_stale, setup,
                                        teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
