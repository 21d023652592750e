/*
 * test_ctl_token.c - specification of `docsyncctl token show|set`
 * (ctl/ctl_token): show tells expiry, generation, lock and death without a
 * token's value; set stores an operator's refresh token so that the
 * stages' ds_auth refreshes with it and a dead credential revives, and only
 * for an API (source or destination) whose connector uses the
 * refresh-token grant. Against a private Redis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"

#include "ctl_msg.h"
#include "ctl_token.h"
#include "ds_connector.h"

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
    assert_true(ctl_token_api_valid("source"));
    assert_false(ctl_token_api_valid("bogus"));
    assert_false(ctl_token_api_valid("vendor-crm_2"));
    assert_false(ctl_token_api_valid(""));
    assert_false(ctl_token_api_valid("sources"));
}

static void show_refuses_a_name_that_is_no_api(void **state)
{
    char *argv[] = {"bogus"};

    (void)state;
    assert_int_equal(ctl_token_show(NULL, 1, argv), CTL_EXIT_USAGE);
}

static void only_the_refresh_grant_has_a_refresh_token(void **state)
{
    ds_connector *oauth, *builtin;
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    oauth = ds_connector_load_file("connectors/sandbox-oauth2.json", &err);
    assert_non_null(oauth);
    builtin = ds_connector_load_text("(built-in)",
                                     ds_connector_default_text(), &err);
    assert_non_null(builtin);
    assert_true(ctl_token_uses_refresh(oauth, "destination"));
    assert_false(ctl_token_uses_refresh(oauth, "source"));
    assert_false(ctl_token_uses_refresh(builtin, "destination"));
    ds_connector_free(oauth);
    ds_connector_free(builtin);
}

/* Runs `token set api --refresh-token-file F` with F holding token. */
static int token_set(const char *api, const char *token)
{
    char file[] = "/tmp/test_ctl_token.XXXXXX";
    char *argv[] = {(char *)api, "--refresh-token-file", file};
    int fd = mkstemp(file), rc;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, token, strlen(token)), (ssize_t)strlen(token));
    close(fd);
    rc = ctl_token_set(NULL, 3, argv);
    unlink(file);
    return rc;
}

static void set_refuses_a_side_without_the_refresh_grant(void **state)
{
    suite *s = *state;
    redisReply *r;

    FX_REQUIRE(&s->f);
    setenv("REDIS_HOST", "127.0.0.1", 1);
    fx_setenv_long("REDIS_PORT", s->f.redis_port);

    /* The source of this connector uses client credentials. */
    setenv("CONNECTOR_FILE", "connectors/sandbox-oauth2.json", 1);
    assert_int_equal(token_set("source", "rt-op"), CTL_EXIT_FAIL);
    assert_int_equal(fx_redis_int(&s->f, "EXISTS docsync:token:source"), 0);
    assert_int_equal(token_set("destination", "rt-op"), CTL_EXIT_OK);
    r = fx_redis_cmd(&s->f, "HGET " KEY " refresh");
    assert_string_equal(r->type == REDIS_REPLY_STRING ? r->str : "(nil)",
                        "rt-op");
    freeReplyObject(r);

    /* The built-in connector uses API keys on both sides. */
    unsetenv("CONNECTOR_FILE");
    assert_int_equal(token_set("destination", "rt-other"), CTL_EXIT_FAIL);
    r = fx_redis_cmd(&s->f, "HGET " KEY " refresh");
    assert_string_equal(r->str, "rt-op");
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(show_tells_the_state_but_no_token,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            set_stores_the_token_and_lifts_the_dead_mark, setup, teardown),
        cmocka_unit_test(api_names_are_checked),
        cmocka_unit_test(show_refuses_a_name_that_is_no_api),
        cmocka_unit_test(only_the_refresh_grant_has_a_refresh_token),
        cmocka_unit_test_setup_teardown(
            set_refuses_a_side_without_the_refresh_grant, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
