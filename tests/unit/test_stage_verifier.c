/*
 * test_stage_verifier.c - the verifier's handle(), called directly against
 * a private Redis and sandbox transaction system: a copy that matches what
 * was fetched is verified and its blob released; a copy whose checksum
 * differs, or that the destination does not have, is a permanent failure
 * and keeps its blob for a replay. Each message is built from a data case
 * in tests/unit/data/stage/ and a sample put in the blob store; its copy is
 * put at the destination by a plain POST of the transaction system's API.
 * With a connector whose routes and field names are a vendor's
 * (vendor_server.h: a root object, integer ids, md5 in base64 under
 * hash.md5), the readback follows the connector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "fixture.h"
#include "vendor_server.h"

/* The stage's own file, so that its static handler is in reach. */
#define main verifier_main_unused
#include "../../verifier/verifier.c"
#undef main

#define DATA "tests/unit/data/stage/"
#define SAMPLE "samples/minimal-document.pdf"

typedef struct suite {
    fx f;
    verifier v;
    vendor_server vs;
} suite;

/* A private Redis and sandbox, and the verifier pointed at them. */
static int setup(void **state)
{
    suite *s = calloc(1, sizeof(*s));

    *state = s;
    return s == NULL ? -1 : fx_stage_start(&s->f, FX_REDIS | FX_SANDBOX,
                                           NULL, configure, cleanup,
                                           &s->v);
}

/* A private Redis, the vendor-shaped API in this process, and the
 * verifier pointed at it through vendor_test.json. */
static int vendor_setup(void **state)
{
    static const char *const env[] = {"CONNECTOR_FILE", VS_CONNECTOR, NULL};
    suite *s = calloc(1, sizeof(*s));

    *state = s;
    if (s == NULL)
        return -1;
    vs_start(&s->vs, SAMPLE);
    return fx_stage_start(&s->f, FX_REDIS, env, configure, cleanup, &s->v);
}

static int teardown(void **state)
{
    suite *s = *state;

    fx_stage_stop(&s->f);
    vs_stop(&s->vs);
    free(s);
    return 0;
}

/* The file at path as unwrapped base64, a string the caller frees. */
static char *file_base64(const char *path)
{
    uint64_t size = fx_file_size(path);
    unsigned char *bytes = malloc(size + 1);
    char *text = malloc(4 * (size / 3 + 1) + 1);
    FILE *fp = fopen(path, "rb");

    assert_non_null(bytes);
    assert_non_null(text);
    assert_non_null(fp);
    assert_int_equal(fread(bytes, 1, size, fp), size);
    EVP_EncodeBlock((unsigned char *)text, bytes, (int)size);
    fclose(fp);
    free(bytes);
    return text;
}

/* Puts a copy of the file at path at the destination, attached to the
 * message's transaction with the message's names, the way an uploader
 * would, and records its id in the message as destinationDocumentId. */
static void put_copy(const fx *f, json_t *msg, const char *path)
{
    char *content = file_base64(path);
    json_t *body = json_pack(
        "{s:O,s:O,s:O,s:O,s:O,s:s}",
        "fileName", json_object_get(msg, "fileName"),
        "mimeType", json_object_get(msg, "mimeType"),
        "notes", json_object_get(msg, "notes"),
        "documentDate", json_object_get(msg, "documentDate"),
        "sourceDocumentId", json_object_get(msg, "documentId"),
        "content", content);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    char url[128];
    json_t *created;
    long status;

    assert_non_null(text);
    snprintf(url, sizeof(url), "/v1/transactions/%s/documents",
             json_string_value(json_object_get(msg, "transactionId")));
    created = fx_call(f, "POST", url, "X-API-Key: " FX_DEST_KEY, text,
                      &status);
    assert_int_equal(status, 201);
    json_object_set(msg, "destinationDocumentId",
                    json_object_get(created, "id"));
    assert_non_null(json_object_get(msg, "destinationDocumentId"));
    json_decref(created);
    free(text);
    json_decref(body);
    free(content);
}

/* Runs handle() on value. */
static int verify(suite *s, json_t *value, json_t **out, ds_err *err)
{
    return fx_handle(handle, &s->v, value, out, err);
}

static void a_matching_copy_is_verified_and_its_blob_released(void **state)
{
    suite *s = *state;
    const char *verified_at, *blob;
    time_t when;
    json_t *msg, *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    put_copy(&s->f, msg, SAMPLE);
    blob = json_string_value(json_object_get(msg, "blob"));
    assert_true(fx_blob_exists(&s->f, blob));

    rc = verify(s, msg, &out, &err);

    FX_ASSERT_OK(rc, &err);
    assert_non_null(out);
    verified_at = json_string_value(json_object_get(out, "verifiedAt"));
    assert_non_null(verified_at);
    assert_int_equal(ds_time_parse_iso8601(verified_at, &when), 0);
    assert_in_range(when, time(NULL) - 60, time(NULL) + 1);
    FX_ASSERT_STATE(&s->f, "doc_1", "verified");
    assert_false(fx_blob_exists(&s->f, blob));
    assert_int_equal(fx_redis_int(&s->f, "EXISTS docsync:blobref:%s", blob),
                     0);
    json_decref(out);
    json_decref(msg);
}

static void a_copy_with_another_md5_fails_as_checksum_mismatch(void **state)
{
    suite *s = *state;
    char md5[DS_MD5_HEX_LEN + 1];
    json_t *msg, *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    put_copy(&s->f, msg, SAMPLE);
    /* What was fetched differs from what is stored in one digit. */
    snprintf(md5, sizeof(md5), "%s",
             json_string_value(json_object_get(msg, "md5")));
    md5[0] = md5[0] == '0' ? '1' : '0';
    json_object_set_new(msg, "md5", json_string(md5));

    rc = verify(s, msg, &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "checksum_mismatch");
    assert_null(out);
    FX_ASSERT_STATE(&s->f, "doc_1", NULL);
    assert_true(fx_blob_exists(&s->f, json_string_value(
                                          json_object_get(msg, "blob"))));
    json_decref(msg);
}

/* The same bytes attached to another transaction are not the copy this
 * message asks for. */
static void a_copy_in_another_transaction_fails_as_checksum_mismatch(
    void **state)
{
    suite *s = *state;
    json_t *msg, *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    put_copy(&s->f, msg, SAMPLE);
    json_object_set_new(msg, "transactionId", json_string("txn_2"));

    rc = verify(s, msg, &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "checksum_mismatch");
    assert_non_null(strstr(err.msg, "txn_1"));
    assert_null(out);
    json_decref(msg);
}

static void a_copy_the_destination_lacks_fails_as_missing_after_upload(
    void **state)
{
    suite *s = *state;
    char field[128], *rejected;
    const char *blob;
    json_t *msg, *out;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    json_object_set_new(msg, "destinationDocumentId",
                        json_string("tdoc_999"));
    blob = json_string_value(json_object_get(msg, "blob"));
    freeReplyObject(fx_redis_cmd(&s->f, "HSET docsync:doc:doc_1 "
                                 "upload:%s:txn_1 tdoc_999", blob));

    rc = verify(s, msg, &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "missing_after_upload");
    assert_null(out);
    FX_ASSERT_STATE(&s->f, "doc_1", NULL);
    /* The uploader's record of the lost copy is gone, and the refusal is
     * counted, so that a replay to the uploader uploads it again under a
     * new Idempotency-Key. */
    assert_int_equal(fx_redis_int(&s->f, "HEXISTS docsync:doc:doc_1 "
                                  "upload:%s:txn_1", blob), 0);
    snprintf(field, sizeof(field), "rejected:%s", blob);
    rejected = fx_doc_field(&s->f, "doc_1", field);
    assert_string_equal(rejected != NULL ? rejected : "(none)", "1");
    free(rejected);
    assert_true(fx_blob_exists(&s->f, json_string_value(
                                          json_object_get(msg, "blob"))));
    json_decref(msg);
}

/* Puts a copy of the file at path at the vendor as document 1001 of
 * loop, named as the message names it, and records "1001" in the message
 * as destinationDocumentId. */
static void put_vendor_copy(suite *s, json_t *msg, const char *loop,
                            const char *path)
{
    char sha256[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    unsigned char bytes[16];
    vs_doc *d = &s->vs.docs[s->vs.n_docs++];
    uint64_t size;
    int i;

    fx_file_digest(path, sha256, md5, &size);
    for (i = 0; i < 16; i++)
        sscanf(md5 + 2 * i, "%2hhx", &bytes[i]);
    d->id = 1001;
    snprintf(d->name, sizeof(d->name), "%s",
             json_string_value(json_object_get(msg, "fileName")));
    snprintf(d->loop, sizeof(d->loop), "%s", loop);
    snprintf(d->source_ref, sizeof(d->source_ref), "doc_1");
    EVP_EncodeBlock((unsigned char *)d->md5_b64, bytes, 16);
    d->size = (long long)size;
    json_object_set_new(msg, "destinationDocumentId", json_string("1001"));
}

static void a_vendor_copy_is_verified_through_the_connector(void **state)
{
    suite *s = *state;
    json_t *msg, *out = NULL;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    put_vendor_copy(s, msg, "txn_1", SAMPLE);

    rc = verify(s, msg, &out, &err);

    FX_ASSERT_OK(rc, &err);
    FX_ASSERT_STATE(&s->f, "doc_1", "verified");
    json_decref(out);
    json_decref(msg);
}

static void a_vendor_copy_with_another_md5_fails_as_checksum_mismatch(
    void **state)
{
    suite *s = *state;
    json_t *msg, *out = NULL;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    put_vendor_copy(s, msg, "txn_1", SAMPLE);
    s->vs.docs[0].md5_b64[0] = s->vs.docs[0].md5_b64[0] == 'A' ? 'B' : 'A';

    rc = verify(s, msg, &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "checksum_mismatch");
    assert_non_null(strstr(err.msg, "md5 differs"));
    assert_null(out);
    json_decref(msg);
}

static void a_vendor_copy_in_another_loop_fails_as_checksum_mismatch(
    void **state)
{
    suite *s = *state;
    json_t *msg, *out = NULL;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);
    put_vendor_copy(s, msg, "txn_2", SAMPLE);

    rc = verify(s, msg, &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "checksum_mismatch");
    assert_non_null(strstr(err.msg, "attached to txn_2"));
    json_decref(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_matching_copy_is_verified_and_its_blob_released, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_copy_with_another_md5_fails_as_checksum_mismatch, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_copy_in_another_transaction_fails_as_checksum_mismatch, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_copy_the_destination_lacks_fails_as_missing_after_upload,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_vendor_copy_is_verified_through_the_connector, vendor_setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_vendor_copy_with_another_md5_fails_as_checksum_mismatch,
            vendor_setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_vendor_copy_in_another_loop_fails_as_checksum_mismatch,
            vendor_setup, teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
