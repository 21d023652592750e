/*
 * test_stage_uploader.c - the uploader's handle(), called directly against
 * a private Redis and sandbox transaction system: a mapped document is
 * attached to its transaction once, with its exact bytes; a redelivered
 * message does not attach it again; a transaction the destination does not
 * know is a permanent failure. Each message is built from a data case in
 * tests/unit/data/stage/ and a sample file put in the blob store with
 * ds_blob_writer, as the fetcher leaves it. With a connector whose routes
 * and field names are a vendor's (vendor_server.h), the body, the created
 * id and the lookup follow the connector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "vendor_server.h"

/* The stage's own file, so that its static handler is in reach. */
#define main uploader_main_unused
#include "../../uploader/uploader.c"
#undef main

#define DATA "tests/unit/data/stage/"
#define SAMPLE "samples/minimal-document.pdf"

typedef struct suite {
    fx f;
    uploader up;
    vendor_server vs;
} suite;

/* A private Redis and sandbox, and the uploader pointed at them. */
static int setup(void **state)
{
    suite *s = calloc(1, sizeof(*s));

    *state = s;
    return s == NULL ? -1 : fx_stage_start(&s->f, FX_REDIS | FX_SANDBOX,
                                           NULL, configure, cleanup,
                                           &s->up);
}

/* A private Redis, the vendor-shaped API in this process, and the
 * uploader pointed at it through vendor_test.json. */
static int vendor_setup(void **state)
{
    static const char *const env[] = {"CONNECTOR_FILE", VS_CONNECTOR, NULL};
    suite *s = calloc(1, sizeof(*s));

    *state = s;
    if (s == NULL)
        return -1;
    vs_start(&s->vs, SAMPLE);
    return fx_stage_start(&s->f, FX_REDIS, env, configure, cleanup, &s->up);
}

static int teardown(void **state)
{
    suite *s = *state;

    fx_stage_stop(&s->f);
    vs_stop(&s->vs);
    free(s);
    return 0;
}

/* Runs handle() on value. */
static int upload(suite *s, json_t *value, json_t **out, ds_err *err)
{
    return fx_handle(handle, &s->up, value, out, err);
}

/* How many times the destination stored a copy of doc_id, from the
 * sandbox's uploadsBySource (0 when it never did). */
static long long uploads_of(const fx *f, const char *doc_id)
{
    json_t *list = fx_admin(f, "GET", "/admin/tx/documents", NULL, 200);
    long long n = json_integer_value(
        json_object_get(json_object_get(list, "uploadsBySource"), doc_id));

    json_decref(list);
    return n;
}

/* The destination's record of document dest_id, as its API shows it. */
static json_t *destination_copy(const fx *f, const char *dest_id)
{
    char path[128];
    long status;
    json_t *copy;

    snprintf(path, sizeof(path), "/v1/documents/%s", dest_id);
    copy = fx_call(f, "GET", path, "X-API-Key: " FX_DEST_KEY, NULL, &status);
    assert_int_equal(status, 200);
    assert_non_null(copy);
    return copy;
}

static void a_mapped_document_is_uploaded_once_with_its_bytes(void **state)
{
    suite *s = *state;
    char sha256[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    const char *dest_id;
    char *recorded;
    json_t *msg, *out, *copy;
    uint64_t size;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    fx_file_digest(SAMPLE, sha256, md5, &size);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);

    rc = upload(s, msg, &out, &err);

    FX_ASSERT_OK(rc, &err);
    assert_non_null(out);
    dest_id = json_string_value(json_object_get(out,
                                                "destinationDocumentId"));
    assert_non_null(dest_id);
    assert_int_equal(uploads_of(&s->f, "doc_1"), 1);
    copy = destination_copy(&s->f, dest_id);
    FX_ASSERT_JSON_STR(copy, "md5Checksum", md5);
    assert_int_equal(json_integer_value(json_object_get(copy, "size")), size);
    FX_ASSERT_JSON_STR(copy, "transactionId", "txn_1");
    FX_ASSERT_JSON_STR(copy, "sourceDocumentId", "doc_1");
    FX_ASSERT_JSON_STR(copy, "fileName", "minimal-document.pdf");
    FX_ASSERT_JSON_STR(copy, "notes", "Offer for 12 Harbour Street");
    FX_ASSERT_JSON_STR(copy, "documentDate", "2026-12-03");

    recorded = fx_doc_field(&s->f, "doc_1", "destinationDocumentId");
    assert_string_equal(recorded ? recorded : "(none)", dest_id);
    FX_ASSERT_STATE(&s->f, "doc_1", "uploaded");
    free(recorded);
    json_decref(copy);
    json_decref(out);
    json_decref(msg);
}

/* A redelivery (the loop died after the upload, before its commit). */
static void the_same_message_again_is_not_uploaded_again(void **state)
{
    suite *s = *state;
    json_t *msg, *first, *second;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    rc = upload(s, msg, &first, &err);
    FX_ASSERT_OK(rc, &err);

    rc = upload(s, msg, &second, &err);

    FX_ASSERT_OK(rc, &err);
    assert_non_null(second);
    assert_int_equal(uploads_of(&s->f, "doc_1"), 1);
    FX_ASSERT_JSON_STR(second, "destinationDocumentId",
                       json_string_value(json_object_get(
                           first, "destinationDocumentId")));
    json_decref(first);
    json_decref(second);
    json_decref(msg);
}

/* A real update: the CRM has new bytes for the same document. Keying the
 * upload record by documentId alone would drop it as a redelivery. */
static void new_bytes_for_the_same_document_are_uploaded_as_a_version(
    void **state)
{
    suite *s = *state;
    json_t *msg, *update, *first, *second;
    const char *id1, *id2;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    update = fx_mapped_message(&s->f, DATA "mapped_txn_1.json",
                               "samples/habibi.pdf");
    rc = upload(s, msg, &first, &err);
    FX_ASSERT_OK(rc, &err);

    rc = upload(s, update, &second, &err);

    FX_ASSERT_OK(rc, &err);
    assert_int_equal(uploads_of(&s->f, "doc_1"), 2);
    id1 = json_string_value(json_object_get(first, "destinationDocumentId"));
    id2 = json_string_value(json_object_get(second, "destinationDocumentId"));
    assert_non_null(id1);
    assert_non_null(id2);
    assert_string_not_equal(id1, id2);
    json_decref(first);
    json_decref(second);
    json_decref(update);
    json_decref(msg);
}

static void an_unknown_transaction_fails_permanently_as_http_404(
    void **state)
{
    suite *s = *state;
    char *recorded;
    json_t *msg, *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_unknown_transaction.json",
                            SAMPLE);

    rc = upload(s, msg, &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "upload_http_404");
    assert_int_equal(err.http_status, 404);
    assert_null(out);
    assert_int_equal(uploads_of(&s->f, "doc_2"), 0);
    recorded = fx_doc_field(&s->f, "doc_2", "destinationDocumentId");
    assert_null(recorded);
    /* The lease is given back: a replay from the DLQ is not blocked. */
    assert_int_equal(fx_redis_int(&s->f, "EXISTS docsync:lease:upload:%s",
                                  "doc_2"), 0);
    json_decref(msg);
}

/* The account now maps to another transaction: the same bytes are
 * attached there too, not taken for done. */
static void the_same_bytes_for_another_transaction_are_uploaded_there(
    void **state)
{
    suite *s = *state;
    json_t *msg, *moved, *first, *second;
    json_t *copy;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    rc = upload(s, msg, &first, &err);
    FX_ASSERT_OK(rc, &err);
    moved = json_deep_copy(msg);
    json_object_set_new(moved, "transactionId", json_string("txn_2"));

    rc = upload(s, moved, &second, &err);

    FX_ASSERT_OK(rc, &err);
    assert_int_equal(uploads_of(&s->f, "doc_1"), 2);
    copy = destination_copy(&s->f, json_string_value(json_object_get(
                                       second, "destinationDocumentId")));
    FX_ASSERT_JSON_STR(copy, "transactionId", "txn_2");
    json_decref(copy);
    json_decref(first);
    json_decref(second);
    json_decref(moved);
    json_decref(msg);
}

/* Replays the destination answered from an Idempotency-Key, in all. */
static long long replays(const fx *f)
{
    json_t *list = fx_admin(f, "GET", "/admin/tx/documents", NULL, 200);
    long long n = json_integer_value(json_object_get(list,
                                                     "idempotentReplays"));

    json_decref(list);
    return n;
}

/* Redis lost everything after the upload (or the uploader died between the
 * 201 and its record): the copy is found at the destination and recorded,
 * without even a POST for the Idempotency-Key to absorb. */
static void a_copy_already_at_the_destination_is_recorded_not_uploaded(
    void **state)
{
    suite *s = *state;
    json_t *msg, *first, *second;
    char *recorded;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    rc = upload(s, msg, &first, &err);
    FX_ASSERT_OK(rc, &err);
    freeReplyObject(fx_redis_cmd(&s->f, "FLUSHALL"));

    rc = upload(s, msg, &second, &err);

    FX_ASSERT_OK(rc, &err);
    assert_int_equal(uploads_of(&s->f, "doc_1"), 1);
    assert_int_equal(replays(&s->f), 0);
    FX_ASSERT_JSON_STR(second, "destinationDocumentId",
                       json_string_value(json_object_get(
                           first, "destinationDocumentId")));
    recorded = fx_doc_field(&s->f, "doc_1", "destinationDocumentId");
    assert_string_equal(recorded ? recorded : "(none)",
                        json_string_value(json_object_get(
                            first, "destinationDocumentId")));
    free(recorded);
    json_decref(first);
    json_decref(second);
    json_decref(msg);
}

/* A copy of other bytes under the same source id is another version: it
 * is not taken for this one. */
static void a_copy_of_other_bytes_is_not_taken(void **state)
{
    suite *s = *state;
    json_t *old, *msg, *first, *second;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    old = fx_mapped_message(&s->f, DATA "mapped_txn_1.json",
                            "samples/habibi.pdf");
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    rc = upload(s, old, &first, &err);
    FX_ASSERT_OK(rc, &err);
    freeReplyObject(fx_redis_cmd(&s->f, "FLUSHALL"));

    rc = upload(s, msg, &second, &err);

    FX_ASSERT_OK(rc, &err);
    assert_int_equal(uploads_of(&s->f, "doc_1"), 2);
    assert_string_not_equal(
        json_string_value(json_object_get(first, "destinationDocumentId")),
        json_string_value(json_object_get(second, "destinationDocumentId")));
    json_decref(first);
    json_decref(second);
    json_decref(msg);
    json_decref(old);
}

/* A destination that cannot be searched is uploaded to as before. */
static void a_failed_lookup_does_not_stop_the_upload(void **state)
{
    suite *s = *state;
    json_t *msg, *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    fx_fault(&s->f, "{\"route\":\"tx_search\",\"count\":1,"
                    "\"status\":404}");
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);

    rc = upload(s, msg, &out, &err);

    FX_ASSERT_OK(rc, &err);
    assert_int_equal(uploads_of(&s->f, "doc_1"), 1);
    json_decref(out);
    json_decref(msg);
}

/* The md5 of the file at path in base64, as the vendor shows it. */
static void md5_base64(const char *path, char out[32])
{
    char sha256[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    unsigned char bytes[16];
    uint64_t size;
    int i;

    fx_file_digest(path, sha256, md5, &size);
    for (i = 0; i < 16; i++)
        sscanf(md5 + 2 * i, "%2hhx", &bytes[i]);
    EVP_EncodeBlock((unsigned char *)out, bytes, 16);
}

static void a_vendor_upload_has_the_connectors_body_and_id(void **state)
{
    suite *s = *state;
    char b64[32];
    json_t *msg, *out = NULL, *body;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    md5_base64(SAMPLE, b64);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);

    rc = upload(s, msg, &out, &err);

    FX_ASSERT_OK(rc, &err);
    /* The vendor's integer id becomes docsync's string. */
    FX_ASSERT_JSON_STR(out, "destinationDocumentId", "1001");
    assert_int_equal(s->vs.uploads, 1);
    body = s->vs.last_upload;
    FX_ASSERT_JSON_STR(body, "name", "minimal-document.pdf");
    FX_ASSERT_JSON_STR(body, "sourceRef", "doc_1");
    /* createdAt 2026-12-03T11:58:30Z as epoch milliseconds */
    assert_int_equal(json_integer_value(json_object_get(body, "createdOn")),
                     1796299110000LL);
    assert_null(json_object_get(body, "fileName"));
    assert_string_equal(s->vs.docs[0].loop, "txn_1");
    assert_string_equal(s->vs.docs[0].md5_b64, b64);
    assert_int_equal(s->vs.docs[0].size, fx_file_size(SAMPLE));
    assert_non_null(strstr(s->vs.last_idem, "docsync-doc_1-"));
    json_decref(out);
    json_decref(msg);
}

/* A record Redis lost: the vendor's search (data[], hash.md5 in base64)
 * finds the copy, which is recorded instead of uploaded again. */
static void a_copy_the_vendor_search_finds_is_not_uploaded_again(
    void **state)
{
    suite *s = *state;
    json_t *msg, *out = NULL;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    FX_ASSERT_OK(upload(s, msg, &out, &err), &err);
    json_decref(out);
    freeReplyObject(fx_redis_cmd(&s->f, "DEL docsync:doc:doc_1"));

    rc = upload(s, msg, &out, &err);

    FX_ASSERT_OK(rc, &err);
    FX_ASSERT_JSON_STR(out, "destinationDocumentId", "1001");
    assert_int_equal(s->vs.uploads, 1);
    json_decref(out);
    json_decref(msg);
}

static void a_message_without_a_required_upload_field_fails_naming_it(
    void **state)
{
    suite *s = *state;
    json_t *msg, *out = NULL;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    json_object_del(msg, "fileName");

    rc = upload(s, msg, &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "bad_message");
    assert_string_equal(err.msg, "name (from fileName): missing");
    assert_int_equal(s->vs.uploads, 0);
    assert_null(out);
    json_decref(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            new_bytes_for_the_same_document_are_uploaded_as_a_version,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_mapped_document_is_uploaded_once_with_its_bytes, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            the_same_message_again_is_not_uploaded_again, setup, teardown),
        cmocka_unit_test_setup_teardown(
            an_unknown_transaction_fails_permanently_as_http_404, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_copy_already_at_the_destination_is_recorded_not_uploaded,
            setup, teardown),
        cmocka_unit_test_setup_teardown(a_copy_of_other_bytes_is_not_taken,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            the_same_bytes_for_another_transaction_are_uploaded_there, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_failed_lookup_does_not_stop_the_upload, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_vendor_upload_has_the_connectors_body_and_id, vendor_setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_copy_the_vendor_search_finds_is_not_uploaded_again,
            vendor_setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_message_without_a_required_upload_field_fails_naming_it,
            vendor_setup, teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
