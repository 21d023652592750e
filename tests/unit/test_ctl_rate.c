/*
 * test_ctl_rate.c - specification of `docsyncctl rate show|clear`
 * (ctl/ctl_rate): show tells, for every budget of an API (one per
 * credential with perCredential), the requests in the window, a hold and
 * a learned limit; clear deletes the holds and learned limits of that API
 * alone and keeps the log. Against a private Redis, with the keys that
 * common/ds_ratelimit.c writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"

#include "ctl_msg.h"
#include "ctl_rate.h"

#define BASE "docsync:rate:source"

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

/* What `rate show source` prints with window_ms; the caller frees it. */
static char *shown(suite *s, long window_ms)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ds_err err;

    assert_non_null(out);
    ds_err_clear(&err);
    assert_int_equal(ctl_rate_print(out, s->r, "source", window_ms, &err),
                     0);
    fclose(out);
    print_message("%s", text);
    return text;
}

/* Logs n requests in key now, and one long before the window. */
static void log_requests(suite *s, const char *key, int n)
{
    long long now = (long long)time(NULL) * 1000;

    for (int i = 0; i < n; i++)
        freeReplyObject(fx_redis_cmd(&s->f, "ZADD %s %lld r%d", key,
                                     now - i, i));
    freeReplyObject(fx_redis_cmd(&s->f, "ZADD %s %lld old", key,
                                 now - 600000));
}

static void show_tells_window_hold_and_learned_limit(void **state)
{
    suite *s = *state;
    char *text;

    FX_REQUIRE(&s->f);
    log_requests(s, BASE, 3);
    freeReplyObject(fx_redis_cmd(&s->f, "SET " BASE ":hold 1 PX 30000"));
    freeReplyObject(fx_redis_cmd(&s->f, "SET " BASE ":limit 10:60000 "
                                        "PX 300000"));
    text = shown(s, 5000);
    assert_non_null(strstr(text, "budget:        " BASE "\n"));
    assert_non_null(strstr(text, "window:        3 requests in the last "
                                 "5000 ms (4 in the log)\n"));
    assert_non_null(strstr(text, "hold:          held, "));
    assert_non_null(strstr(text, "learned limit: 10:60000 "));
    free(text);

    /* Without a configured window, the learned limit's is used. */
    text = shown(s, 0);
    assert_non_null(strstr(text, "window:        3 requests in the last "
                                 "60000 ms"));
    free(text);
}

static void show_lists_every_credential_and_no_other_api(void **state)
{
    suite *s = *state;
    char *text;

    FX_REQUIRE(&s->f);
    log_requests(s, BASE ":cred-a", 2);
    freeReplyObject(fx_redis_cmd(&s->f, "SET " BASE ":cred-b:hold 1 "
                                        "PX 30000"));
    log_requests(s, "docsync:rate:destination", 1);
    log_requests(s, "docsync:rate:sourcex", 1);
    text = shown(s, 1000);
    assert_non_null(strstr(text, "budget:        " BASE ":cred-a\n"));
    assert_non_null(strstr(text, "budget:        " BASE ":cred-b\n"));
    assert_null(strstr(text, "destination"));
    assert_null(strstr(text, "sourcex"));
    assert_null(strstr(text, ":hold\n"));
    free(text);
}

static void show_of_an_api_with_no_keys_says_so(void **state)
{
    suite *s = *state;
    char *text;

    FX_REQUIRE(&s->f);
    text = shown(s, 1000);
    assert_non_null(strstr(text, "no budget in Redis"));
    free(text);
}

static void clear_deletes_holds_and_learned_limits_only(void **state)
{
    suite *s = *state;
    ds_err err;
    char *text;

    FX_REQUIRE(&s->f);
    log_requests(s, BASE, 2);
    freeReplyObject(fx_redis_cmd(&s->f, "SET " BASE ":hold 1 PX 30000"));
    freeReplyObject(fx_redis_cmd(&s->f, "SET " BASE ":limit 10:60000"));
    freeReplyObject(fx_redis_cmd(&s->f, "SET " BASE ":cred-b:hold 1"));
    freeReplyObject(fx_redis_cmd(&s->f, "SET docsync:rate:destination:hold "
                                        "1"));
    ds_err_clear(&err);
    assert_int_equal(ctl_rate_clear_keys(s->r, "source", &err), 3);
    assert_int_equal(fx_redis_int(&s->f, "EXISTS " BASE ":hold " BASE
                                         ":limit " BASE ":cred-b:hold"), 0);
    assert_int_equal(fx_redis_int(&s->f, "EXISTS " BASE), 1);
    assert_int_equal(fx_redis_int(&s->f, "EXISTS docsync:rate:destination:"
                                         "hold"), 1);
    text = shown(s, 1000);
    assert_non_null(strstr(text, "hold:          none\n"));
    assert_non_null(strstr(text, "learned limit: none\n"));
    free(text);
}

static void commands_refuse_a_name_that_is_no_api(void **state)
{
    char *bogus[] = {"bogus"};

    (void)state;
    assert_int_equal(ctl_rate_show(NULL, 1, bogus), CTL_EXIT_USAGE);
    assert_int_equal(ctl_rate_clear(NULL, 1, bogus), CTL_EXIT_USAGE);
    assert_int_equal(ctl_rate_show(NULL, 0, NULL), CTL_EXIT_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            show_tells_window_hold_and_learned_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(
            show_lists_every_credential_and_no_other_api, setup, teardown),
        cmocka_unit_test_setup_teardown(
            show_of_an_api_with_no_keys_says_so, setup, teardown),
        cmocka_unit_test_setup_teardown(
            clear_deletes_holds_and_learned_limits_only, setup, teardown),
        cmocka_unit_test(commands_refuse_a_name_that_is_no_api),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
