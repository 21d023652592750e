/*
 * test_ctl_mapping.c - `docsyncctl mapping load`, `show` and `clear-cache`
 * against a private Redis: a table replaces the hash docsync:mapping as a
 * whole, an account named twice is kept with both ids and is then
 * ambiguous for the mapper's Redis source (the same pair twice is
 * not), and cached lookups are
 * forgotten one by one or all at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl_mapping.h"
#include "ctl_msg.h"
#include "ds_txmap.h"
#include "fixture.h"

#define DATA "tests/unit/data/mapping/"

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));

    *state = f;
    if (f == NULL || fx_start(f, FX_REDIS) < 0)
        return -1;
    if (f->ready)
        fx_stage_env(f);
    return 0;
}

static int teardown(void **state)
{
    fx_stop(*state);
    free(*state);
    return 0;
}

/* The value of HGET docsync:mapping account, or "(none)". */
static void assert_mapped(fx *f, const char *account, const char *want)
{
    redisReply *r = fx_redis_cmd(f, "HGET docsync:mapping %s", account);

    assert_string_equal(r->type == REDIS_REPLY_STRING ? r->str : "(none)",
                        want);
    freeReplyObject(r);
}

static void load_replaces_the_hash_and_keeps_an_account_named_twice(
    void **state)
{
    fx *f = *state;
    char *argv[] = {DATA "ambiguous.csv"};
    ds_redis *r;
    char *txn = NULL;
    ds_err err;

    FX_REQUIRE(f);
    freeReplyObject(fx_redis_cmd(f, "HSET docsync:mapping acc_old txn_old"));
    assert_int_equal(ctl_mapping_load(NULL, 1, argv), CTL_EXIT_OK);

    assert_mapped(f, "acc_1", "[\"txn_1\",\"txn_9\"]");
    assert_mapped(f, "acc_2", "txn_2");
    assert_mapped(f, "acc_old", "(none)");
    assert_int_equal(fx_redis_int(f, "EXISTS docsync:mapping:new"), 0);

    /* The mapper's Redis source refuses to guess between the two. */
    r = ds_redis_new("127.0.0.1", f->redis_port, 1000);
    ds_err_clear(&err);
    assert_int_equal(ds_txmap_from_redis(r, "acc_1", &txn, &err), -1);
    assert_string_equal(err.reason, "ambiguous_mapping");
    ds_err_clear(&err);
    assert_int_equal(ds_txmap_from_redis(r, "acc_2", &txn, &err), 0);
    assert_string_equal(txn, "txn_2");
    free(txn);
    ds_redis_free(r);
}

/* Runs `mapping load file` and returns what it printed on stdout (the
 * caller frees it), asserting the exit code. */
static char *load_output(const char *file, int want_rc)
{
    char *argv[] = {(char *)file};
    char *text = calloc(1, 4096);
    FILE *tmp = tmpfile();
    int saved, rc;

    assert_non_null(text);
    assert_non_null(tmp);
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    dup2(fileno(tmp), STDOUT_FILENO);
    rc = ctl_mapping_load(NULL, 1, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    rewind(tmp);
    if (fread(text, 1, 4095, tmp) == 0)
        text[0] = '\0';
    fclose(tmp);
    print_message("%s", text);
    assert_int_equal(rc, want_rc);
    return text;
}

static void load_of_the_same_pair_twice_is_not_ambiguous(void **state)
{
    fx *f = *state;
    ds_redis *r;
    char *out, *txn = NULL;
    ds_err err;

    FX_REQUIRE(f);
    out = load_output(DATA "same_pair.csv", CTL_EXIT_OK);
    assert_string_equal(out, "3 accounts loaded into docsync:mapping, "
                             "1 ambiguous\n");
    free(out);
    assert_mapped(f, "acc_3", "txn_3");
    assert_mapped(f, "acc_5", "[\"txn_5\",\"txn_6\"]");

    r = ds_redis_new("127.0.0.1", f->redis_port, 1000);
    ds_err_clear(&err);
    assert_int_equal(ds_txmap_from_redis(r, "acc_3", &txn, &err), 0);
    assert_string_equal(txn, "txn_3");
    free(txn);
    ds_redis_free(r);
}

static void load_of_a_bad_file_leaves_the_hash_as_it_was(void **state)
{
    fx *f = *state;
    char *argv[] = {DATA "bad_line.csv"};

    FX_REQUIRE(f);
    freeReplyObject(fx_redis_cmd(f, "HSET docsync:mapping acc_old txn_old"));
    assert_int_equal(ctl_mapping_load(NULL, 1, argv), CTL_EXIT_FAIL);
    assert_mapped(f, "acc_old", "txn_old");
}

static void show_fails_for_an_account_that_is_not_mapped(void **state)
{
    fx *f = *state;
    char *known[] = {"acc_old"}, *unknown[] = {"acc_x"};

    FX_REQUIRE(f);
    freeReplyObject(fx_redis_cmd(f, "HSET docsync:mapping acc_old txn_old"));
    assert_int_equal(ctl_mapping_show(NULL, 1, known), CTL_EXIT_OK);
    assert_int_equal(ctl_mapping_show(NULL, 1, unknown), CTL_EXIT_FAIL);
}

static void clear_cache_forgets_one_account_or_all(void **state)
{
    fx *f = *state;
    char *one[] = {"acc_a"};

    FX_REQUIRE(f);
    freeReplyObject(fx_redis_cmd(f, "SET docsync:lookup:acc_a []"));
    freeReplyObject(fx_redis_cmd(f, "SET docsync:lookup:acc_b []"));
    freeReplyObject(fx_redis_cmd(f, "SET docsync:lookup:acc_c []"));
    freeReplyObject(fx_redis_cmd(f, "HSET docsync:mapping acc_a txn_1"));

    assert_int_equal(ctl_mapping_clear_cache(NULL, 1, one), CTL_EXIT_OK);
    assert_int_equal(fx_redis_int(f, "EXISTS docsync:lookup:acc_a"), 0);
    assert_int_equal(fx_redis_int(f, "EXISTS docsync:lookup:acc_b"), 1);

    assert_int_equal(ctl_mapping_clear_cache(NULL, 0, NULL), CTL_EXIT_OK);
    assert_int_equal(fx_redis_int(f, "EXISTS docsync:lookup:acc_b "
                                     "docsync:lookup:acc_c"), 0);
    /* The mapping itself is not a cache. */
    assert_int_equal(fx_redis_int(f, "EXISTS docsync:mapping"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            load_replaces_the_hash_and_keeps_an_account_named_twice, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            load_of_the_same_pair_twice_is_not_ambiguous, setup, teardown),
        cmocka_unit_test_setup_teardown(
            load_of_a_bad_file_leaves_the_hash_as_it_was, setup, teardown),
        cmocka_unit_test_setup_teardown(
            show_fails_for_an_account_that_is_not_mapped, setup, teardown),
        cmocka_unit_test_setup_teardown(
            clear_cache_forgets_one_account_or_all, setup, teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
