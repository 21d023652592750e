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

    unsetenv("BLOB_RETENTION_S");
    unsetenv("BLOB_SWEEP_INTERVAL_S");
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

/* A blob held by a document dead-lettered at since_ms, as the loop
 * leaves it. Writes the blob's sha256. */
static void dead_lettered_blob(suite *s, const char *doc_id,
                               long long since_ms,
                               char sha[DS_SHA256_HEX_LEN + 1])
{
    char md5[DS_MD5_HEX_LEN + 1];
    uint64_t size;
    ds_err err;

    fx_put_blob(&s->f, SAMPLE, doc_id, sha, md5, &size);
    ds_err_clear(&err);
    assert_int_equal(ds_blobref_keep(s->v.redis, sha, doc_id, since_ms, NULL,
                                     &err), 0);
}

/* The verifier's periodic sweep removes the blob of a document
 * dead-lettered longer ago than BLOB_RETENTION_S, logs and counts it. */
static void the_sweep_removes_a_blob_kept_past_the_retention(void **state)
{
    suite *s = *state;
    char sha[DS_SHA256_HEX_LEN + 1], *page;

    FX_REQUIRE(&s->f);
    setenv("BLOB_RETENTION_S", "2", 1);
    assert_int_equal(fx_stage_configure(&s->f), 0);
    dead_lettered_blob(s, "doc_dead", ds_time_wall_ms() - 1000, sha);

    assert_int_equal(sweep(&s->v), 0);
    assert_true(fx_blob_exists(&s->f, sha));

    fx_sleep_ms(1100);
    assert_int_equal(sweep(&s->v), 0);
    assert_false(fx_blob_exists(&s->f, sha));
    page = ds_metrics_render();
    assert_non_null(page);
    assert_non_null(strstr(page, "docsync_blobs_expired_total{result="
                                 "\"removed\"} 1"));
    free(page);
}

/* BLOB_RETENTION_S=0: a dead-lettered document's blob waits for its
 * replay however old it is. */
static void retention_zero_keeps_the_blob_until_a_replay(void **state)
{
    suite *s = *state;
    char sha[DS_SHA256_HEX_LEN + 1];

    FX_REQUIRE(&s->f);
    setenv("BLOB_RETENTION_S", "0", 1);
    assert_int_equal(fx_stage_configure(&s->f), 0);
    dead_lettered_blob(s, "doc_old", 1, sha);

    assert_int_equal(sweep(&s->v), 0);
    assert_true(fx_blob_exists(&s->f, sha));
    assert_int_equal(fx_redis_int(&s->f, "ZCARD docsync:blobkeep"), 1);
}

/* A retention or interval that cannot be meant stops the verifier at
 * start instead of keeping blobs for ever or sweeping in a spin. */
static void bad_retention_settings_are_refused_at_start(void **state)
{
    static const char *const bad[][2] = {
        {"BLOB_RETENTION_S", "-1"}, {"BLOB_RETENTION_S", "week"},
        {"BLOB_SWEEP_INTERVAL_S", "0"},
    };
    suite *s = *state;
    verifier fresh = {0};
    ds_err err;
    size_t i;

    FX_REQUIRE(&s->f);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv(bad[i][0], bad[i][1], 1);
        ds_err_clear(&err);
        /* Refused before configure builds anything: nothing to clean. */
        assert_int_equal(configure(&fresh, &err), -1);
        print_message("%s=%s: %s\n", bad[i][0], bad[i][1], err.msg);
        assert_string_equal(ds_class_name(err.klass), "permanent");
        assert_non_null(strstr(err.msg, bad[i][0]));
        assert_null(fresh.blobs);
        unsetenv(bad[i][0]);
    }
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
        cmocka_unit_test_setup_teardown(
            the_sweep_removes_a_blob_kept_past_the_retention, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            retention_zero_keeps_the_blob_until_a_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(
            bad_retention_settings_are_refused_at_start, setup, teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
