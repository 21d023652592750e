/*
 * test_stage_fetcher.c - the fetcher's handle(), called directly against a
 * private Redis and sandbox CRM: a document is copied byte for byte into
 * the blob store, a deleted one is not retried (C05), an error page is
 * never stored as the document (C20a), a CRM that never answers costs at
 * most the configured bound (C20b), and an id that is not plain never
 * reaches a URL. The accountId and fileName passed on are the CRM's, for an
 * event fanned out of a thin one that has none and for one that names
 * another account. Input events are data cases in tests/unit/data/stage/.
 * With a connector whose routes and field names are a vendor's
 * (vendor_server.h), the fetcher follows them, and a bad connector file
 * stops it at start with the field named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "vendor_server.h"

/* The stage's own file, so that its static handler is in reach. */
#define main fetcher_main_unused
#include "../../fetcher/fetcher.c"
#undef main

#define DATA "tests/unit/data/stage/"
#define SAMPLE "samples/minimal-document.pdf"

typedef struct suite {
    fx f;
    fetcher fetch;
    vendor_server vs;
} suite;

/* A private Redis and sandbox, and the fetcher pointed at them. */
static int setup(void **state)
{
    suite *s = calloc(1, sizeof(*s));

    *state = s;
    return s == NULL ? -1 : fx_stage_start(&s->f, FX_REDIS | FX_SANDBOX,
                                           NULL, configure, cleanup,
                                           &s->fetch);
}

/* A private Redis, the vendor-shaped API in this process, and the fetcher
 * pointed at it through tests/unit/data/connector/vendor_test.json. */
static int vendor_setup(void **state)
{
    static const char *const env[] = {"CONNECTOR_FILE", VS_CONNECTOR, NULL};
    suite *s = calloc(1, sizeof(*s));

    *state = s;
    if (s == NULL)
        return -1;
    vs_start(&s->vs, SAMPLE);
    return fx_stage_start(&s->f, FX_REDIS, env, configure, cleanup,
                          &s->fetch);
}

static int teardown(void **state)
{
    suite *s = *state;

    fx_stage_stop(&s->f);
    vs_stop(&s->vs);
    free(s);
    return 0;
}

/* Runs handle() on the event in the data case file name. */
static int fetch(suite *s, const char *name, json_t **out, ds_err *err)
{
    char path[256];

    snprintf(path, sizeof(path), DATA "%s", name);
    return fx_handle_file(handle, &s->fetch, path, out, err);
}

/* Asserts that the blob store holds no blob, and nothing half-written in
 * its tmp directory either. */
static void assert_blob_store_empty(const fx *f)
{
    char tmp[256];

    snprintf(tmp, sizeof(tmp), "%s/tmp", f->blob_dir);
    assert_int_equal(fx_count_files(tmp), 0);
    assert_int_equal(fx_count_files(f->blob_dir), 0);
}

static void a_crm_document_is_copied_byte_for_byte_into_a_blob(void **state)
{
    suite *s = *state;
    char sha256[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    char blob_sha256[DS_SHA256_HEX_LEN + 1], blob_md5[DS_MD5_HEX_LEN + 1];
    char blob_path[512];
    uint64_t size, blob_size;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    fx_file_digest(SAMPLE, sha256, md5, &size);
    assert_int_equal(size, fx_file_size(SAMPLE));
    fx_crm_add(&s->f, "doc_1", "acc_1", SAMPLE, "Offer");

    rc = fetch(s, "events_doc_1.json", &out, &err);

    FX_ASSERT_OK(rc, &err);
    assert_non_null(out);
    FX_ASSERT_JSON_STR(out, "blob", sha256);
    FX_ASSERT_JSON_STR(out, "sha256", sha256);
    FX_ASSERT_JSON_STR(out, "md5", md5);
    assert_int_equal(json_integer_value(json_object_get(out, "size")), size);
    FX_ASSERT_JSON_STR(out, "mimeType", "application/pdf");
    FX_ASSERT_JSON_STR(out, "description", "Offer");
    FX_ASSERT_JSON_STR(out, "documentId", "doc_1");

    /* The blob under its content name holds exactly the file's bytes. */
    assert_int_equal(ds_blob_fs_path(s->f.blob_dir, sha256, blob_path,
                                     sizeof(blob_path)), 0);
    fx_file_digest(blob_path, blob_sha256, blob_md5, &blob_size);
    assert_string_equal(blob_sha256, sha256);
    assert_int_equal(blob_size, size);
    assert_int_equal(fx_redis_int(&s->f, "SISMEMBER docsync:blobref:%s %s",
                                  sha256, "doc_1"), 1);
    FX_ASSERT_STATE(&s->f, "doc_1", "fetched");
    json_decref(out);
}

/* C05: the content is gone; a retry cannot bring it back. */
static void a_deleted_document_fails_permanently_as_source_not_found(
    void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    fx_crm_add(&s->f, "doc_1", "acc_1", SAMPLE, "Offer");
    json_decref(fx_admin(&s->f, "DELETE", "/admin/crm/documents/doc_1",
                         NULL, 204));

    rc = fetch(s, "events_doc_1.json", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "source_not_found");
    assert_int_equal(err.http_status, 404);
    assert_null(out);
    assert_blob_store_empty(&s->f);
    FX_ASSERT_STATE(&s->f, "doc_1", NULL);
}

/* C20a: a 500 with a 22-byte error body. */
static void a_500_from_the_content_is_transient_and_stores_nothing(
    void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    fx_crm_add(&s->f, "doc_1", "acc_1", SAMPLE, "Offer");
    fx_fault(&s->f, "{\"route\":\"crm_content\",\"status\":500,"
                    "\"body\":\"{\\\"error\\\":\\\"db_timeout\\\"}\"}");

    rc = fetch(s, "events_doc_1.json", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_TRANSIENT, "http_500");
    assert_int_equal(err.http_status, 500);
    assert_null(out);
    assert_blob_store_empty(&s->f);
    FX_ASSERT_STATE(&s->f, "doc_1", NULL);
}

/* C07: the CRM sends fewer bytes than its metadata announces (here the
 * file behind the document was cut after it was added). A short copy must
 * never travel on, or it would be uploaded and verified against itself. */
static void a_copy_shorter_than_announced_is_not_passed_on(void **state)
{
    suite *s = *state;
    char path[256], cmd[600];
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    snprintf(path, sizeof(path), "%s/short.pdf", s->f.dir);
    snprintf(cmd, sizeof(cmd), "cp %s %s", SAMPLE, path);
    assert_int_equal(system(cmd), 0);
    fx_crm_add(&s->f, "doc_1", "acc_1", path, "Offer");
    assert_int_equal(truncate(path, 100), 0);

    rc = fetch(s, "events_doc_1.json", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_TRANSIENT, "source_size_mismatch");
    assert_null(out);
    assert_blob_store_empty(&s->f);
    FX_ASSERT_STATE(&s->f, "doc_1", NULL);
}

/* C20b: the CRM accepts the request and then says nothing for 5 s. */
static void a_content_that_never_comes_times_out_within_the_bound(
    void **state)
{
    suite *s = *state;
    long long start, took;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    setenv("HTTP_TIMEOUT_MS", "500", 1);
    assert_int_equal(fx_stage_configure(&s->f), 0);
    fx_crm_add(&s->f, "doc_1", "acc_1", SAMPLE, "Offer");
    fx_fault(&s->f, "{\"route\":\"crm_content\",\"delayMs\":5000}");

    start = fx_now_ms();
    rc = fetch(s, "events_doc_1.json", &out, &err);
    took = fx_now_ms() - start;

    print_message("the hung call ended after %lld ms\n", took);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_TRANSIENT, "http_timeout");
    assert_in_range(took, 400, 2000);
    assert_null(out);
    assert_blob_store_empty(&s->f);
}

static void a_document_id_that_is_a_path_fails_as_bad_message(void **state)
{
    suite *s = *state;
    json_t *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    rc = fetch(s, "events_path_in_id.json", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "bad_message");
    assert_int_equal(err.http_status, 0);
    assert_null(out);
    assert_blob_store_empty(&s->f);
}

/* The accountId and fileName the fetcher passes on for the event in the
 * data case file name, of a CRM document of acc_1. */
static void assert_crm_account_passed_on(suite *s, const char *name)
{
    json_t *out = NULL;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    fx_crm_add(&s->f, "doc_1", "acc_1", SAMPLE, "Offer");

    rc = fetch(s, name, &out, &err);

    FX_ASSERT_OK(rc, &err);
    FX_ASSERT_JSON_STR(out, "accountId", "acc_1");
    FX_ASSERT_JSON_STR(out, "fileName", "minimal-document.pdf");
    json_decref(out);
}

static void an_event_without_account_takes_the_crm_account(void **state)
{
    assert_crm_account_passed_on(*state, "events_doc_1_thin.json");
}

static void an_event_naming_another_account_gets_the_crm_account(
    void **state)
{
    assert_crm_account_passed_on(*state, "events_doc_1_other_account.json");
}

/* The vendor's names reach docsync's fields: the account from
 * file.owner.accountId, the name from file.title, the time converted to
 * RFC 3339 in UTC; the bytes come from the connector's content route. */
static void a_vendor_crm_is_read_through_the_connector(void **state)
{
    suite *s = *state;
    char sha256[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    uint64_t size;
    json_t *out = NULL;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    fx_file_digest(SAMPLE, sha256, md5, &size);

    rc = fetch(s, "events_doc_1.json", &out, &err);

    FX_ASSERT_OK(rc, &err);
    FX_ASSERT_JSON_STR(out, "documentId", "doc_1");
    FX_ASSERT_JSON_STR(out, "accountId", "acc_9");
    FX_ASSERT_JSON_STR(out, "fileName", "offer.pdf");
    FX_ASSERT_JSON_STR(out, "mimeType", "application/pdf");
    FX_ASSERT_JSON_STR(out, "createdAt", "2026-12-03T17:00:01.250Z");
    FX_ASSERT_JSON_STR(out, "md5", md5);
    assert_int_equal(json_integer_value(json_object_get(out, "size")), size);
    assert_true(fx_blob_exists(&s->f, sha256));
    json_decref(out);
}

static void a_crm_answer_without_a_required_field_fails_naming_it(
    void **state)
{
    suite *s = *state;
    json_t *out = NULL;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    s->vs.omit_title = 1;

    rc = fetch(s, "events_doc_1.json", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "bad_response");
    assert_string_equal(err.msg, "fileName (from file.title): missing");
    assert_null(out);
}

/* The fetcher as deployed, with a connector file that does not validate:
 * it exits 1 at start and its log names the field. */
static void a_bad_connector_file_stops_the_fetcher_naming_the_field(
    void **state)
{
    char line[1024];
    int found = 0, status;
    FILE *p;

    (void)state;
    p = popen("CONNECTOR_FILE=tests/unit/data/connector/"
              "bad_missing_token_url.json KAFKA_BROKERS=127.0.0.1:1 "
              "bin/docsync-fetcher 2>&1", "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p) != NULL)
        if (strstr(line, "destination.auth.tokenUrl: missing") != NULL &&
            strstr(line, "bad_connector") != NULL)
            found = 1;
    status = pclose(p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_true(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_crm_document_is_copied_byte_for_byte_into_a_blob, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_deleted_document_fails_permanently_as_source_not_found, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_copy_shorter_than_announced_is_not_passed_on, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_500_from_the_content_is_transient_and_stores_nothing, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_content_that_never_comes_times_out_within_the_bound, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_document_id_that_is_a_path_fails_as_bad_message, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            an_event_without_account_takes_the_crm_account, setup, teardown),
        cmocka_unit_test_setup_teardown(
            an_event_naming_another_account_gets_the_crm_account, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_vendor_crm_is_read_through_the_connector, vendor_setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_crm_answer_without_a_required_field_fails_naming_it,
            vendor_setup, teardown),
        cmocka_unit_test(
            a_bad_connector_file_stops_the_fetcher_naming_the_field),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
