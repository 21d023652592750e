/*
 * test_stage_mapper_sources.c - the mapper's handle() with the mapping in
 * Redis (MAPPING_SOURCE=redis, the hash `docsyncctl mapping load` writes)
 * and found by a lookup on the transaction system (MAPPING_SOURCE=lookup),
 * against a private Redis. The lookup goes to a fake accounts API in the
 * test, which answers 0, 1 or 2 transactions by accountId and counts its
 * calls, so that a cached answer is seen to make no second call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_api.h"
#include "fixture.h"

/* The stage's own file, so that its static handler is in reach. */
#define main mapper_main_unused
#include "../../mapper/mapper.c"
#undef main

#define DATA "tests/unit/data/stage/"

typedef struct suite {
    fx f;
    fa_server api;
    mapper m;
} suite;

/* The fake accounts API: acc_one has one transaction, acc_two two,
 * acc_down answers 503, any other account none. */
static char *accounts(const fa_call *call, unsigned *status)
{
    const char *acc = fa_arg(call, "accountId");

    if (strcmp(call->url, "/v1/transactions") != 0 || acc == NULL) {
        *status = 404;
        return NULL;
    }
    if (strcmp(acc, "acc_down") == 0) {
        *status = 503;
        return NULL;
    }
    if (strcmp(acc, "acc_one") == 0)
        return strdup("{\"data\":[{\"id\":\"txn_1001\",\"accountId\":"
                      "\"acc_one\"}]}");
    if (strcmp(acc, "acc_two") == 0)
        return strdup("{\"data\":[{\"id\":\"txn_1\"},{\"id\":\"txn_2\"}]}");
    return strdup("{\"data\":[]}");
}

static int setup_with(void **state, const char *source)
{
    suite *s = calloc(1, sizeof(*s));
    const char *env[] = {"MAPPING_SOURCE", source, "DEST_BASE_URL", NULL,
                         "MAPPING_CACHE_TTL_S", "300",
                         "MAPPING_EMPTY_CACHE_TTL_S", "60", NULL};

    *state = s;
    if (s == NULL || fa_start(&s->api, accounts, NULL) < 0)
        return -1;
    env[3] = s->api.base_url;
    return fx_stage_start(&s->f, FX_REDIS, env, configure, cleanup, &s->m);
}

static int setup_redis(void **state)
{
    return setup_with(state, "redis");
}

static int setup_lookup(void **state)
{
    return setup_with(state, "lookup");
}

static int teardown(void **state)
{
    suite *s = *state;

    fx_stage_stop(&s->f);
    fa_stop(&s->api);
    free(s);
    return 0;
}

/* Runs handle() on the fetched message of doc_1 with accountId set to
 * account. */
static int map_account(suite *s, const char *account, json_t **out,
                       ds_err *err)
{
    json_t *msg = fx_load_json(DATA "fetched_acc_1.json");
    int rc;

    json_object_set_new(msg, "accountId", json_string(account));
    rc = fx_handle(handle, &s->m, msg, out, err);
    json_decref(msg);
    return rc;
}

/* The seconds to live of a Redis key (-2 when it does not exist). */
static long long ttl_of(suite *s, const char *key)
{
    return fx_redis_int(&s->f, "TTL %s", key);
}

static void redis_source_maps_an_account_of_the_hash(void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    freeReplyObject(fx_redis_cmd(&s->f, "HSET docsync:mapping acc_9 txn_77"));
    rc = map_account(s, "acc_9", &out, &err);

    FX_ASSERT_OK(rc, &err);
    FX_ASSERT_JSON_STR(out, "transactionId", "txn_77");
    FX_ASSERT_STATE(&s->f, "doc_1", "mapped");
    json_decref(out);
}

static void redis_source_fails_an_absent_account_as_unmapped(void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    freeReplyObject(fx_redis_cmd(&s->f, "HSET docsync:mapping acc_9 txn_77"));
    rc = map_account(s, "acc_1", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "unmapped_account");
    assert_null(out);
    FX_ASSERT_STATE(&s->f, "doc_1", NULL);
}

static void redis_source_fails_an_account_named_twice_as_ambiguous(
    void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    freeReplyObject(fx_redis_cmd(&s->f, "HSET docsync:mapping acc_9 %s",
                                 "[\"txn_1\",\"txn_2\"]"));
    rc = map_account(s, "acc_9", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "ambiguous_mapping");
    assert_null(out);
}

static void lookup_maps_one_match_and_serves_the_next_from_cache(
    void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    long long ttl;
    int rc;

    FX_REQUIRE(&s->f);
    rc = map_account(s, "acc_one", &out, &err);
    FX_ASSERT_OK(rc, &err);
    FX_ASSERT_JSON_STR(out, "transactionId", "txn_1001");
    json_decref(out);
    assert_int_equal(fa_calls(&s->api), 1);

    rc = map_account(s, "acc_one", &out, &err);
    FX_ASSERT_OK(rc, &err);
    FX_ASSERT_JSON_STR(out, "transactionId", "txn_1001");
    json_decref(out);
    /* Served from docsync:lookup:acc_one: no second call. */
    assert_int_equal(fa_calls(&s->api), 1);
    ttl = ttl_of(s, "docsync:lookup:acc_one");
    print_message("TTL %lld\n", ttl);
    assert_true(ttl > 60 && ttl <= 300);
}

static void lookup_without_match_is_unmapped_and_cached_shorter(
    void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    long long ttl;
    int rc;

    FX_REQUIRE(&s->f);
    rc = map_account(s, "acc_none", &out, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "unmapped_account");
    rc = map_account(s, "acc_none", &out, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "unmapped_account");

    assert_int_equal(fa_calls(&s->api), 1);
    ttl = ttl_of(s, "docsync:lookup:acc_none");
    print_message("TTL %lld\n", ttl);
    assert_true(ttl > 0 && ttl <= 60);
}

static void lookup_with_two_matches_is_ambiguous_and_cached(void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    rc = map_account(s, "acc_two", &out, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "ambiguous_mapping");
    rc = map_account(s, "acc_two", &out, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "ambiguous_mapping");

    assert_int_equal(fa_calls(&s->api), 1);
    FX_ASSERT_STATE(&s->f, "doc_1", NULL);
}

static void lookup_that_fails_is_transient_and_not_cached(void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    rc = map_account(s, "acc_down", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_TRANSIENT, "http_503");
    assert_int_equal(fx_redis_int(&s->f, "EXISTS docsync:lookup:acc_down"),
                     0);
    rc = map_account(s, "acc_down", &out, &err);
    assert_int_equal(rc, -1);
    assert_int_equal(fa_calls(&s->api), 2);
}

/* Parses connector JSON text and returns the reason and message. */
static void parse_connector(const char *text, ds_err *err)
{
    json_t *c = json_loads(text, 0, NULL);
    ds_txmap_cfg cfg;

    assert_non_null(c);
    ds_err_clear(err);
    ds_txmap_cfg_parse(c, &cfg, err);
    json_decref(c);
}

static void a_connector_section_that_does_not_validate_names_the_field(
    void **state)
{
    ds_err err;

    (void)state;
    parse_connector("{\"transactions\": {\"source\": \"lookup\"}}", &err);
    assert_string_equal(err.reason, "bad_connector");
    assert_string_equal(err.msg, "destination.endpoints.accounts: missing");

    parse_connector("{\"transactions\": {\"source\": \"guess\"}}", &err);
    assert_string_equal(err.reason, "bad_connector");
    assert_string_equal(err.msg, "transactions.source: guess is not file, "
                        "redis or lookup");

    parse_connector("{\"transactions\": {\"source\": \"lookup\", "
                    "\"cacheTtlS\": 0}}", &err);
    assert_string_equal(err.msg, "transactions.cacheTtlS: must be a whole "
                        "number of seconds, >= 1");

    parse_connector("{\"destination\": {\"endpoints\": {\"accounts\": "
                    "\"/v1/transactions\"}, \"accounts\": {\"items\": "
                    "\"data\", \"id\": \"id\"}}, \"transactions\": "
                    "{\"source\": \"lookup\"}}", &err);
    assert_string_equal(err.msg, "destination.endpoints.accounts: must "
                        "contain {accountId}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            redis_source_maps_an_account_of_the_hash, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(
            redis_source_fails_an_absent_account_as_unmapped, setup_redis,
            teardown),
        cmocka_unit_test_setup_teardown(
            redis_source_fails_an_account_named_twice_as_ambiguous,
            setup_redis, teardown),
        cmocka_unit_test_setup_teardown(
            lookup_maps_one_match_and_serves_the_next_from_cache,
            setup_lookup, teardown),
        cmocka_unit_test_setup_teardown(
            lookup_without_match_is_unmapped_and_cached_shorter,
            setup_lookup, teardown),
        cmocka_unit_test_setup_teardown(
            lookup_with_two_matches_is_ambiguous_and_cached, setup_lookup,
            teardown),
        cmocka_unit_test_setup_teardown(
            lookup_that_fails_is_transient_and_not_cached, setup_lookup,
            teardown),
        cmocka_unit_test(
            a_connector_section_that_does_not_validate_names_the_field),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
