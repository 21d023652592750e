/*
 * test_ctl_token.c - specification of `docsyncctl token show|set`
 * (ctl/ctl_token): show tells expiry, generation, lock and death without a
 * token's value; set stores an operator's refresh token so that the
 * stages' ds_auth refreshes with it and a dead credential revives. Against
 * a private Redis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"

#include "ctl_token.h"

#define KEY "docsync:token:destination"

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

/* What `token show destination` prints; the caller frees it. */
static char *shown(suite *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ds_err err;

    assert_non_null(out);
    ds_err_clear(&err);
    assert_int_equal(ctl_token_print(out, s->r, "destination", &err), 0);
    fclose(out);
    print_message("%s", text);
    return text;
}

static void show_tells_the_state_but_no_token(void **state)
{
    suite *s = *state;
    char *text;

    FX_REQUIRE(&s->f);
    freeReplyObject(fx_redis_cmd(&s->f, "HSET " KEY " access at-secret "
                                 "refresh rt-secret gen 7 expires_ms %lld",
                                 (long long)time(NULL) * 1000 + 60000));
    freeReplyObject(fx_redis_cmd(&s->f, "SET " KEY ":lock me PX 5000"));
    text = shown(s);
    assert_non_null(strstr(text, "generation:    7\n"));
    assert_non_null(strstr(text, "access token:  expires "));
    assert_non_null(strstr(text, "refresh token: stored\n"));
    assert_non_null(strstr(text, "lock:          held"));
    assert_non_null(strstr(text, "state:         alive\n"));
    assert_null(strstr(text, "secret"));
    free(text);

    freeReplyObject(fx_redis_cmd(&s->f, "SET " KEY ":dead invalid_grant"));
    text = shown(s);
    assert_non_null(strstr(text, "state:         DEAD (invalid_grant)"));
    free(text);
}

static void set_stores_the_token_and_lifts_the_dead_mark(void **state)
{
    suite *s = *state;
    redisReply *r;
    char *text;
    ds_err err;

    FX_REQUIRE(&s->f);
    freeReplyObject(fx_redis_cmd(&s->f, "HSET " KEY " access at-1 refresh "
                                 "rt-dead gen 3 expires_ms 1 ttl_ms 30000"));
    freeReplyObject(fx_redis_cmd(&s->f, "SET " KEY ":dead invalid_grant"));
    ds_err_clear(&err);
    assert_int_equal(ctl_token_store(s->r, "destination", "rt-operator",
                                     &err), 0);

    r = fx_redis_cmd(&s->f, "HMGET " KEY " refresh access expires_ms gen");
    assert_string_equal(r->element[0]->str, "rt-operator");
    assert_int_equal(r->element[1]->type, REDIS_REPLY_NIL);
    assert_int_equal(r->element[2]->type, REDIS_REPLY_NIL);
    assert_string_equal(r->element[3]->str, "4");
    freeReplyObject(r);
    assert_int_equal(fx_redis_int(&s->f, "EXISTS " KEY ":dead"), 0);
    text = shown(s);
    assert_non_null(strstr(text, "access token:  none stored\n"));
    assert_non_null(strstr(text, "state:         alive\n"));
    free(text);
}

static void api_names_are_checked(void **state)
{
    (void)state;
    assert_true(ctl_token_api_valid("destination"));
    assert_true(ctl_token_api_valid("vendor-crm_2"));
    assert_false(ctl_token_api_valid(""));
    assert_false(ctl_token_api_valid("a b"));
    assert_false(ctl_token_api_valid("x:y"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(show_tells_the_state_but_no_token,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            set_stores_the_token_and_lifts_the_dead_mark, setup, teardown),
        cmocka_unit_test(api_names_are_checked),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
