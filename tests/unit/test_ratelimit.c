/*
 * test_ratelimit.c - ds_rate against a real Redis of the test's own: the
 * sliding log never admits more than the limit in any window, two handles
 * (two replicas) share one budget, and every header style a vendor uses to
 * say "stop" holds every replica until the reset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "ds_ratelimit.h"

typedef struct rig {
    fx f;
    ds_redis *redis[2];
} rig;

static int setup(void **state)
{
    rig *g = calloc(1, sizeof(*g));

    if (g == NULL || fx_start(&g->f, FX_REDIS) < 0)
        return -1;
    g->redis[0] = ds_redis_new("127.0.0.1", g->f.redis_port, 2000);
    g->redis[1] = ds_redis_new("127.0.0.1", g->f.redis_port, 2000);
    *state = g;
    return 0;
}

static int teardown(void **state)
{
    rig *g = *state;

    ds_redis_free(g->redis[0]);
    ds_redis_free(g->redis[1]);
    fx_stop(&g->f);
    free(g);
    return 0;
}

static long long wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ds_rate *budget(rig *g, int which, const char *api, long requests,
                       long window_ms, long max_wait_ms)
{
    ds_rate_cfg cfg = {.requests = requests, .window_ms = window_ms,
                       .margin_ms = 30, .max_wait_ms = max_wait_ms};
    ds_err err;
    ds_rate *r;

    ds_err_clear(&err);
    r = ds_rate_new(&cfg, api, g->redis[which], &err);
    assert_non_null(r);
    return r;
}

/* A response as ds_http_do leaves it, with the given header block. */
static ds_http_resp response(int status, const char *headers)
{
    ds_http_resp resp = {.status = status};

    resp.headers = strdup(headers);
    assert_non_null(resp.headers);
    resp.headers_len = strlen(headers);
    return resp;
}

/* Asserts that the budget refuses at once, asking for a wait in [lo, hi]. */
static void assert_refused(ds_rate *r, const char *identity, long lo,
                           long hi)
{
    ds_err err;

    ds_err_clear(&err);
    assert_int_equal(ds_rate_acquire(r, identity, &err), -1);
    print_message("refused: %s, retry after %ld ms\n", err.msg,
                  err.retry_after_ms);
    assert_string_equal(err.reason, "rate_limited");
    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    assert_in_range(err.retry_after_ms, lo, hi);
}

static void assert_admitted(ds_rate *r, const char *identity)
{
    ds_err err;

    ds_err_clear(&err);
    assert_int_equal(ds_rate_acquire(r, identity, &err), 0);
    assert_string_equal(err.reason, "");
}

/* ------------------------------------------------------------------ */
/* The sliding log                                                     */

static void no_window_ever_holds_more_than_the_limit(void **state)
{
    enum { K = 5, N = 22, WINDOW = 300 };
    rig *g = *state;
    ds_rate *r = budget(g, 0, "source", K, WINDOW, 5000);
    long long at[N];
    int i;

    FX_REQUIRE(&g->f);
    for (i = 0; i < N; i++) {
        assert_admitted(r, NULL);
        at[i] = wall_ms();
    }
    /* The k+1-th admission after any one comes a whole window later. */
    for (i = 0; i + K < N; i++) {
        print_message("admission %d at +%lld ms\n", i + K, at[i + K] - at[0]);
        assert_true(at[i + K] - at[i] >= WINDOW);
    }
    /* And the budget was used, not wasted: four windows and change. */
    assert_in_range(at[N - 1] - at[0], 4 * WINDOW, 4 * WINDOW + 1500);
    ds_rate_free(r);
}

static void two_handles_share_one_budget(void **state)
{
    rig *g = *state;
    ds_rate *a = budget(g, 0, "destination", 3, 10000, 0);
    ds_rate *b = budget(g, 1, "destination", 3, 10000, 0);

    FX_REQUIRE(&g->f);
    assert_admitted(a, NULL);
    assert_admitted(b, NULL);
    assert_admitted(a, NULL);
    assert_refused(b, NULL, 9000, 10030);
    assert_refused(a, NULL, 9000, 10030);
    ds_rate_free(a);
    ds_rate_free(b);
}

static void a_wait_longer_than_max_wait_gives_up_at_once(void **state)
{
    rig *g = *state;
    ds_rate *r = budget(g, 0, "source", 1, 5000, 1000);
    long long start;

    FX_REQUIRE(&g->f);
    assert_admitted(r, NULL);
    start = fx_now_ms();
    assert_refused(r, NULL, 4000, 5030);
    assert_in_range(fx_now_ms() - start, 0, 200);
    ds_rate_free(r);
}

static void a_short_wait_within_max_wait_is_slept(void **state)
{
    rig *g = *state;
    ds_rate *r = budget(g, 0, "source", 1, 300, 2000);
    long long start;

    FX_REQUIRE(&g->f);
    assert_admitted(r, NULL);
    start = fx_now_ms();
    assert_admitted(r, NULL);
    assert_in_range(fx_now_ms() - start, 250, 1000);
    ds_rate_free(r);
}

static void per_credential_budgets_are_apart(void **state)
{
    rig *g = *state;
    ds_rate_cfg cfg = {.requests = 1, .window_ms = 10000,
                       .per_credential = 1};
    ds_err err;
    ds_rate *r;

    FX_REQUIRE(&g->f);
    ds_err_clear(&err);
    r = ds_rate_new(&cfg, "destination", g->redis[0], &err);
    assert_admitted(r, "alice");
    assert_admitted(r, "bob");
    assert_refused(r, "alice", 9000, 10000);
    assert_int_equal(fx_redis_int(&g->f, "EXISTS docsync:rate:destination:bob"),
                     1);
    ds_rate_free(r);
}

/* ------------------------------------------------------------------ */
/* Holds learned from responses (budget unknown in advance: requests 0) */

typedef struct hold_case {
    const char *api;
    int status;
    const char *headers;
    ds_reset_unit unit;
    long lo, hi;            /* the wait the next acquire is told */
} hold_case;

static void run_hold_case(rig *g, const hold_case *c)
{
    ds_rate_cfg cfg = {.requests = 0, .reset_unit = c->unit};
    ds_http_resp resp = response(c->status, c->headers);
    ds_rate *r[2];
    ds_err err;

    ds_err_clear(&err);
    print_message("case %s: %d %s", c->api, c->status, c->headers);
    r[0] = ds_rate_new(&cfg, c->api, g->redis[0], &err);
    r[1] = ds_rate_new(&cfg, c->api, g->redis[1], &err);
    assert_admitted(r[1], NULL);
    ds_rate_observe(r[0], NULL, &resp);
    /* The other replica holds too. */
    assert_refused(r[1], NULL, c->lo, c->hi);
    ds_http_resp_clear(&resp);
    ds_rate_free(r[0]);
    ds_rate_free(r[1]);
}

static void every_header_style_holds_every_replica(void **state)
{
    char date_case[160], epoch_case[160];
    time_t in3 = time(NULL) + 3;
    struct tm tm;
    char date[64];
    rig *g = *state;
    size_t i;

    FX_REQUIRE(&g->f);
    gmtime_r(&in3, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(date_case, sizeof(date_case), "Retry-After: %s\r\n", date);
    snprintf(epoch_case, sizeof(epoch_case),
             "X-RateLimit-Remaining: 0\r\nX-RateLimit-Reset: %lld\r\n",
             (long long)in3);
    {
        const hold_case cases[] = {
            {"ra-seconds", 429, "Retry-After: 2\r\n", DS_RESET_AUTO,
             1800, 2000},
            {"ra-date", 429, date_case, DS_RESET_AUTO, 1000, 3000},
            {"x-ms", 200, "X-RateLimit-Limit: 20\r\nX-RateLimit-Remaining: 0"
             "\r\nX-RateLimit-Reset: 1500\r\n", DS_RESET_MS, 1300, 1500},
            {"x-epoch", 200, epoch_case, DS_RESET_AUTO, 1000, 3000},
            {"x-seconds", 429, "X-RateLimit-Remaining: 0\r\n"
             "X-RateLimit-Reset: 4\r\n", DS_RESET_SECONDS, 3800, 4000},
            {"draft", 200, "RateLimit-Limit: 20\r\nRateLimit-Remaining: 0\r\n"
             "RateLimit-Reset: 2\r\n", DS_RESET_AUTO, 1800, 2000},
            {"structured", 200, "RateLimit-Policy: \"default\";q=20;w=1\r\n"
             "RateLimit: \"default\";r=0;t=3\r\n", DS_RESET_AUTO, 2800, 3000},
            {"blind-429", 429, "Content-Type: text/plain\r\n", DS_RESET_AUTO,
             800, 1000},
        };

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            run_hold_case(g, &cases[i]);
    }
}

/* A reset misread (milliseconds taken for seconds) asks for a hold of
 * about 25 minutes: the connector's maxHoldMs cuts it short. */
static void a_hold_is_never_longer_than_max_hold(void **state)
{
    rig *g = *state;
    ds_rate_cfg cfg = {.requests = 0, .reset_unit = DS_RESET_AUTO,
                       .max_hold_ms = 2000};
    ds_http_resp resp = response(200, "X-RateLimit-Remaining: 0\r\n"
                                 "X-RateLimit-Reset: 1500\r\n");
    ds_err err;
    ds_rate *r;

    FX_REQUIRE(&g->f);
    ds_err_clear(&err);
    r = ds_rate_new(&cfg, "capped", g->redis[0], &err);
    ds_rate_observe(r, NULL, &resp);
    assert_in_range(fx_redis_int(&g->f, "PTTL docsync:rate:capped:hold"), 1,
                    2000);
    assert_refused(r, NULL, 1, 2000);
    ds_http_resp_clear(&resp);
    ds_rate_free(r);
}

static void a_budget_with_room_left_does_not_hold(void **state)
{
    rig *g = *state;
    ds_rate_cfg cfg = {.requests = 0, .reset_unit = DS_RESET_MS};
    ds_http_resp resp = response(200, "X-RateLimit-Remaining: 4\r\n"
                                 "X-RateLimit-Reset: 900\r\n"
                                 "RateLimit: \"default\";r=3;t=1\r\n");
    ds_err err;
    ds_rate *r;

    FX_REQUIRE(&g->f);
    ds_err_clear(&err);
    r = ds_rate_new(&cfg, "source", g->redis[0], &err);
    ds_rate_observe(r, NULL, &resp);
    assert_int_equal(fx_redis_int(&g->f, "EXISTS docsync:rate:source:hold"), 0);
    assert_admitted(r, NULL);
    ds_http_resp_clear(&resp);
    ds_rate_free(r);
}

static void a_smaller_announced_limit_replaces_the_configured_one(void **state)
{
    rig *g = *state;
    ds_rate *r = budget(g, 0, "destination", 10, 1000, 0);
    ds_rate *other = budget(g, 1, "destination", 10, 1000, 0);
    ds_http_resp resp = response(200, "RateLimit-Policy: \"default\";q=2;w=1"
                                 "\r\nRateLimit: \"default\";r=1;t=1\r\n");

    FX_REQUIRE(&g->f);
    ds_rate_observe(r, NULL, &resp);
    assert_true(fx_redis_int(&g->f, "PTTL docsync:rate:destination:limit")
                > 60000);
    assert_admitted(other, NULL);
    assert_admitted(r, NULL);
    assert_refused(other, NULL, 1, 1030);
    ds_http_resp_clear(&resp);

    /* A larger one changes nothing. */
    resp = response(200, "X-RateLimit-Limit: 50\r\n");
    fx_redis_int(&g->f, "DEL docsync:rate:destination:limit");
    ds_rate_observe(r, NULL, &resp);
    assert_int_equal(
        fx_redis_int(&g->f, "EXISTS docsync:rate:destination:limit"), 0);
    ds_http_resp_clear(&resp);
    ds_rate_free(r);
    ds_rate_free(other);
}

static void a_hold_within_max_wait_is_waited_out(void **state)
{
    rig *g = *state;
    ds_rate *r = budget(g, 0, "source", 0, 1000, 2000);
    ds_http_resp resp = response(429, "RateLimit: \"default\";r=0;t=1\r\n");
    long long start;

    FX_REQUIRE(&g->f);
    ds_rate_observe(r, NULL, &resp);
    start = fx_now_ms();
    assert_admitted(r, NULL);
    assert_in_range(fx_now_ms() - start, 900, 1500);
    ds_http_resp_clear(&resp);
    ds_rate_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            no_window_ever_holds_more_than_the_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(a_hold_is_never_longer_than_max_hold,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(two_handles_share_one_budget, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_wait_longer_than_max_wait_gives_up_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_short_wait_within_max_wait_is_slept, setup, teardown),
        cmocka_unit_test_setup_teardown(per_credential_budgets_are_apart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            every_header_style_holds_every_replica, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_budget_with_room_left_does_not_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_smaller_announced_limit_replaces_the_configured_one, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_hold_within_max_wait_is_waited_out, setup, teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
