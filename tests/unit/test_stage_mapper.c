/*
 * test_stage_mapper.c - the mapper's handle(), called directly against a
 * private Redis: accountId to transactionId from MAPPING_FILE, description
 * to notes, the document's time in DEST_DATE_FORMAT, and the messages that
 * must go straight to the DLQ. The messages and the mapping file are data
 * cases in tests/unit/data/stage/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"

/* The stage's own file, so that its static handler is in reach. */
#define main mapper_main_unused
#include "../../mapper/mapper.c"
#undef main

#define DATA "tests/unit/data/stage/"

typedef struct suite {
    fx f;
    mapper m;
} suite;

/* A private Redis, and the mapper configured from the environment with a
 * date format that is not the default, so that the test sees it applied. */
static int setup(void **state)
{
    static const char *const env[] = {
        "MAPPING_FILE", DATA "mapping.csv", "DEST_DATE_FORMAT", "%d.%m.%Y",
        NULL,
    };
    suite *s = calloc(1, sizeof(*s));

    *state = s;
    return s == NULL ? -1 : fx_stage_start(&s->f, FX_REDIS, env, configure,
                                           cleanup, &s->m);
}

static int teardown(void **state)
{
    suite *s = *state;

    fx_stage_stop(&s->f);
    free(s);
    return 0;
}

/* Runs handle() on the message in the data case file name. */
static int map(suite *s, const char *name, json_t **out, ds_err *err)
{
    char path[256];

    snprintf(path, sizeof(path), DATA "%s", name);
    return fx_handle_file(handle, &s->m, path, out, err);
}

static void a_known_account_gets_its_transaction_notes_and_date(void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    rc = map(s, "fetched_acc_1.json", &out, &err);

    FX_ASSERT_OK(rc, &err);
    assert_non_null(out);
    FX_ASSERT_JSON_STR(out, "transactionId", "txn_1");
    FX_ASSERT_JSON_STR(out, "notes", "Offer for 12 Harbour Street");
    /* createdAt 2026-12-03T11:58:30Z in DEST_DATE_FORMAT %d.%m.%Y */
    FX_ASSERT_JSON_STR(out, "documentDate", "03.12.2026");
    /* The input is copied: the uploader still needs the blob. */
    FX_ASSERT_JSON_STR(out, "blob", "f723638db6e763cf4ccadad38a3d38a0"
                                    "2d9ecab95dab1f0bbf00e801991b5f92");
    FX_ASSERT_STATE(&s->f, "doc_1", "mapped");
    json_decref(out);
}

static void an_unknown_account_fails_permanently_as_unmapped(void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    rc = map(s, "fetched_unknown_account.json", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "unmapped_account");
    assert_null(out);
    FX_ASSERT_STATE(&s->f, "doc_1", NULL);
}

static void a_time_that_is_not_iso8601_fails_as_bad_timestamp(void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    rc = map(s, "fetched_bad_timestamp.json", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "bad_timestamp");
    assert_null(out);
    FX_ASSERT_STATE(&s->f, "doc_1", NULL);
}

static void a_message_without_account_fails_as_bad_message(void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    rc = map(s, "fetched_no_account.json", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "bad_message");
    assert_null(out);
    FX_ASSERT_STATE(&s->f, "doc_1", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_known_account_gets_its_transaction_notes_and_date, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            an_unknown_account_fails_permanently_as_unmapped, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_time_that_is_not_iso8601_fails_as_bad_timestamp, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_message_without_account_fails_as_bad_message, setup,
            teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
