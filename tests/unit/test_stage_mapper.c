/*
 * test_stage_mapper.c - the mapper's handle(), called directly against a
 * private Redis: accountId to transactionId from MAPPING_FILE, description
 * to notes, the document's time in DEST_DATE_FORMAT, and the messages that
 * must go straight to the DLQ. The messages and the mapping file are data
 * cases in tests/unit/data/stage/. Names and sizes past 4 GiB pass byte
 * for byte, a name that cannot is refused, and a record fetched before
 * types were chosen gets one.
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

/* fetched_acc_1.json with the fields of changes (an object) set over
 * it; a null among them removes the field. The caller decrefs. */
static json_t *fetched_with(json_t *changes)
{
    json_t *msg = fx_load_json(DATA "fetched_acc_1.json");
    const char *key;
    json_t *v;

    json_object_foreach(changes, key, v) {
        if (json_is_null(v))
            json_object_del(msg, key);
        else
            json_object_set(msg, key, v);
    }
    json_decref(changes);
    return msg;
}

/* Runs handle() on value (kept by the caller). */
static int map_value(suite *s, json_t *value, json_t **out, ds_err *err)
{
    return fx_handle(handle, &s->m, value, out, err);
}

/* A Japanese name and 5 GiB come out as they went in. */
static void names_and_sizes_past_4_gib_pass_unchanged(void **state)
{
    static const char name[] = "\xe5\xa3\xb2\xe8\xb2\xb7\xe5\xa5\x91"
                               "\xe7\xb4\x84 \"\\\".pdf";
    suite *s = *state;
    json_t *in, *out = NULL;
    const json_t *got;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    in = fetched_with(json_pack("{s:s,s:I,s:s,s:s}", "fileName", name,
                                "size", (json_int_t)5368709120LL,
                                "mimeTypeSource", "crm", "mimeType",
                                "application/pdf"));

    rc = map_value(s, in, &out, &err);

    FX_ASSERT_OK(rc, &err);
    got = json_object_get(out, "fileName");
    assert_int_equal(json_string_length(got), sizeof(name) - 1);
    assert_memory_equal(json_string_value(got), name, sizeof(name) - 1);
    assert_true(json_integer_value(json_object_get(out, "size")) ==
                5368709120LL);
    FX_ASSERT_JSON_STR(out, "mimeType", "application/pdf");
    FX_ASSERT_JSON_STR(out, "mimeTypeSource", "crm");
    json_decref(out);
    json_decref(in);
}

/* The fetcher refuses these names; a record from before it did, or one
 * replayed, must not reach the uploader with one either. */
static void a_record_with_a_name_that_cannot_pass_is_refused(void **state)
{
    suite *s = *state;
    json_t *names[3];
    size_t i;

    FX_REQUIRE(&s->f);
    names[0] = json_string("Angebot\r\n.pdf");
    names[1] = json_string("");
    names[2] = json_null();
    for (i = 0; i < 3; i++) {
        json_t *in = fetched_with(json_pack("{s:o}", "fileName", names[i]));
        json_t *out = NULL;
        ds_err err;
        int rc;

        rc = map_value(s, in, &out, &err);

        FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "bad_file_name");
        assert_null(out);
        FX_ASSERT_STATE(&s->f, "doc_1", NULL);
        json_decref(in);
    }
}

/* A record without mimeTypeSource was fetched before types were chosen:
 * its type is chosen now, from its CRM type and name. One with it is left
 * as the fetcher made it. */
static void a_record_fetched_before_types_were_chosen_gets_one(
    void **state)
{
    static const struct {
        const char *name, *declared, *type, *source, *kept;
    } cases[] = {
        {"Angebot.pdf", NULL, "application/pdf", "extension", NULL},
        {"Plan.dwg", "application/octet-stream", "application/octet-stream",
         "default", "application/octet-stream"},
        {"Foto.jpg", "image/jpeg", "image/jpeg", "crm", NULL},
    };
    suite *s = *state;
    json_t *in, *out = NULL;
    ds_err err;
    size_t i;
    int rc;

    FX_REQUIRE(&s->f);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        in = fetched_with(json_pack("{s:s,s:o}", "fileName", cases[i].name,
                                    "mimeType", cases[i].declared
                                    ? json_string(cases[i].declared)
                                    : json_null()));

        rc = map_value(s, in, &out, &err);

        FX_ASSERT_OK(rc, &err);
        FX_ASSERT_JSON_STR(out, "mimeType", cases[i].type);
        FX_ASSERT_JSON_STR(out, "mimeTypeSource", cases[i].source);
        FX_ASSERT_JSON_STR(out, "declaredMimeType",
                           cases[i].kept ? cases[i].kept : "(absent)");
        json_decref(out);
        json_decref(in);
    }

    in = fetched_with(json_pack("{s:s,s:s,s:s,s:s}", "fileName", "a.pdf",
                                "mimeType", "image/jpeg", "mimeTypeSource",
                                "content", "declaredMimeType",
                                "application/pdf"));
    rc = map_value(s, in, &out, &err);
    FX_ASSERT_OK(rc, &err);
    FX_ASSERT_JSON_STR(out, "mimeType", "image/jpeg");
    FX_ASSERT_JSON_STR(out, "mimeTypeSource", "content");
    FX_ASSERT_JSON_STR(out, "declaredMimeType", "application/pdf");
    json_decref(out);
    json_decref(in);
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
        cmocka_unit_test_setup_teardown(
            names_and_sizes_past_4_gib_pass_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_record_with_a_name_that_cannot_pass_is_refused, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_record_fetched_before_types_were_chosen_gets_one, setup,
            teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
