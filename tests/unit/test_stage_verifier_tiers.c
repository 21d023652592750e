/*
 * test_stage_verifier_tiers.c - the verifier's tiers and its patience
 * with a destination that stores a copy later, against a document server
 * in this process whose answer each test sets: the JSON of the document
 * (or a 404), its ETag header, its status. The connector of each test is
 * written to a file that names the tier and fields it wants.
 *
 * Strong compares the checksum, medium size and name, weak the name; an
 * ETag that is a quoted digest is a checksum, a weak or opaque one makes
 * the verifier fall back to medium. A copy in "processing" is asked for
 * again (destination_processing, spending no attempt) until it is stored
 * or processingMaxMs has passed (missing_after_upload).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <pthread.h>

#include "ds_reason.h"
#include "fixture.h"

/* The stage's own file, so that its static handler is in reach. */
#define main verifier_main_unused
#include "../../verifier/verifier.c"
#undef main

#define DATA "tests/unit/data/stage/"
#define SAMPLE "samples/minimal-document.pdf"

/* What GET /docs/{id} answers: doc (NULL: 404) and an ETag ("": none). */
typedef struct doc_server {
    struct MHD_Daemon *d;
    pthread_mutex_t lock;
    json_t *doc;
    char etag[128];
    int gets;
} doc_server;

typedef struct suite {
    fx f;
    verifier v;
    doc_server ds;
    char connector[64];
    json_t *msg;
} suite;

static enum MHD_Result ds_answer(void *cls, struct MHD_Connection *c,
                                 const char *url, const char *method,
                                 const char *version, const char *data,
                                 size_t *size, void **con_cls)
{
    doc_server *ds = cls;
    struct MHD_Response *r;
    enum MHD_Result rc;
    char *text;
    int status;

    (void)url, (void)method, (void)version, (void)data, (void)size;
    (void)con_cls;
    pthread_mutex_lock(&ds->lock);
    ds->gets++;
    status = ds->doc != NULL ? 200 : 404;
    text = ds->doc != NULL ? json_dumps(ds->doc, JSON_COMPACT) :
           strdup("{\"error\":\"not_found\"}");
    r = MHD_create_response_from_buffer(strlen(text), text,
                                        MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (ds->etag[0] != '\0')
        MHD_add_response_header(r, "ETag", ds->etag);
    pthread_mutex_unlock(&ds->lock);
    rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

/* The connector of the test: the standard shape with document as the
 * destination's document section, at the document server. */
static void write_connector(suite *s, const char *document)
{
    FILE *fp = fopen(s->connector, "w");

    assert_non_null(fp);
    fprintf(fp, "{\"source\": {\"baseUrl\": {\"env\": \"TIERS_URL\"},\n"
            " \"auth\": {\"type\": \"none\"},\n"
            " \"endpoints\": {\"metadata\": \"/crm/{documentId}\",\n"
            "  \"content\": \"/crm/{documentId}/content\"}},\n"
            " \"destination\": {\"baseUrl\": {\"env\": \"TIERS_URL\"},\n"
            " \"auth\": {\"type\": \"none\"},\n"
            " \"endpoints\": {\"upload\": \"/tx/{transactionId}\",\n"
            "  \"document\": \"/docs/{destinationDocumentId}\"},\n"
            " \"document\": %s}}\n", document);
    fclose(fp);
}

/* Points the verifier at a connector with this document section. */
static void use_document(suite *s, const char *document)
{
    write_connector(s, document);
    assert_int_equal(fx_stage_configure(&s->f), 0);
}

static int setup(void **state)
{
    const union MHD_DaemonInfo *info;
    suite *s = calloc(1, sizeof(*s));
    const char *env[] = {"CONNECTOR_FILE", NULL, NULL};
    char url[64];

    *state = s;
    if (s == NULL)
        return -1;
    pthread_mutex_init(&s->ds.lock, NULL);
    s->ds.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                               NULL, ds_answer, &s->ds, MHD_OPTION_END);
    if (s->ds.d == NULL)
        return -1;
    info = MHD_get_daemon_info(s->ds.d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)info->port);
    setenv("TIERS_URL", url, 1);
    snprintf(s->connector, sizeof(s->connector), "/tmp/tiers-%d.json",
             (int)getpid());
    env[1] = s->connector;
    write_connector(s, "{\"checksum\": {\"field\": \"md5Checksum\", "
                    "\"algorithm\": \"md5\"}}");
    ds_metrics_reset();
    return fx_stage_start(&s->f, FX_REDIS, env, configure, cleanup, &s->v);
}

static int teardown(void **state)
{
    suite *s = *state;

    fx_stage_stop(&s->f);
    if (s->ds.d != NULL)
        MHD_stop_daemon(s->ds.d);
    json_decref(s->ds.doc);
    json_decref(s->msg);
    pthread_mutex_destroy(&s->ds.lock);
    unlink(s->connector);
    free(s);
    return 0;
}

/* The message of doc_1 uploaded as document 77, and the document server
 * answering a faithful copy of it (md5, size, name, status "stored"). */
static void faithful_copy(suite *s)
{
    json_t *m = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", SAMPLE);

    json_object_set_new(m, "destinationDocumentId", json_string("77"));
    s->msg = m;
    s->ds.doc = json_pack("{s:s,s:O,s:O,s:O,s:O,s:s}", "id", "77",
                          "transactionId", json_object_get(m,
                                                           "transactionId"),
                          "fileName", json_object_get(m, "fileName"),
                          "size", json_object_get(m, "size"),
                          "md5Checksum", json_object_get(m, "md5"),
                          "status", "stored");
    assert_non_null(s->ds.doc);
}

/* Sets a field of the copy the server answers. */
static void copy_says(suite *s, const char *field, json_t *value)
{
    pthread_mutex_lock(&s->ds.lock);
    json_object_set_new(s->ds.doc, field, value);
    pthread_mutex_unlock(&s->ds.lock);
}

/* Runs handle() on the message and, when it verified, checks the tier in
 * the record it publishes and in the metrics. */
static int verify_as(suite *s, const char *tier, ds_err *err)
{
    json_t *out = NULL;
    char series[96];
    char *metrics;
    int rc = fx_handle(handle, &s->v, s->msg, &out, err);

    if (tier == NULL) {
        assert_null(out);
        return rc;
    }
    FX_ASSERT_OK(rc, err);
    assert_string_equal(json_string_value(json_object_get(
                            out, "verificationTier")), tier);
    metrics = ds_metrics_render();
    snprintf(series, sizeof(series), "docsync_verified_total{tier=\"%s\"} 1",
             tier);
    if (strstr(metrics, series) == NULL)
        print_message("no %s in\n%s\n", series, metrics);
    assert_non_null(strstr(metrics, series));
    free(metrics);
    json_decref(out);
    return rc;
}

static void strong_compares_the_checksum(void **state)
{
    suite *s = *state;
    ds_err err;

    FX_REQUIRE(&s->f);
    faithful_copy(s);
    verify_as(s, "strong", &err);
    FX_ASSERT_STATE(&s->f, "doc_1", "verified");
}

static void strong_fails_a_copy_with_another_checksum(void **state)
{
    suite *s = *state;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    faithful_copy(s);
    copy_says(s, "md5Checksum",
              json_string("00000000000000000000000000000000"));
    rc = verify_as(s, NULL, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "checksum_mismatch");
    assert_non_null(strstr(err.msg, "md5 differs"));
}

static void medium_compares_size_and_name_not_the_checksum(void **state)
{
    suite *s = *state;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    use_document(s, "{\"verification\": \"medium\", \"checksum\": "
                 "{\"field\": \"md5Checksum\", \"algorithm\": \"md5\"}}");
    faithful_copy(s);
    copy_says(s, "md5Checksum", json_string("not compared at medium"));
    verify_as(s, "medium", &err);

    copy_says(s, "size", json_integer(3));
    rc = verify_as(s, NULL, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "checksum_mismatch");
    assert_non_null(strstr(err.msg, "size differs"));
}

static void without_a_checksum_the_tier_is_medium(void **state)
{
    suite *s = *state;
    ds_err err;

    FX_REQUIRE(&s->f);
    use_document(s, "{}");
    faithful_copy(s);
    json_object_del(s->ds.doc, "md5Checksum");
    verify_as(s, "medium", &err);
}

static void weak_asks_only_for_the_name(void **state)
{
    suite *s = *state;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    use_document(s, "{\"verification\": \"weak\"}");
    faithful_copy(s);
    json_object_del(s->ds.doc, "size");
    json_object_del(s->ds.doc, "md5Checksum");
    verify_as(s, "weak", &err);

    copy_says(s, "fileName", json_string("another.pdf"));
    rc = verify_as(s, NULL, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "checksum_mismatch");
    assert_non_null(strstr(err.msg, "fileName differs"));
}

static void a_copy_that_is_gone_is_missing_after_upload(void **state)
{
    suite *s = *state;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    use_document(s, "{\"verification\": \"weak\"}");
    faithful_copy(s);
    json_decref(s->ds.doc);
    s->ds.doc = NULL;
    rc = verify_as(s, NULL, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "missing_after_upload");
}

/* A tier that needs what the connector does not give is refused when the
 * stage starts, naming the field. */
static void strong_without_a_checksum_is_refused_at_start(void **state)
{
    suite *s = *state;

    FX_REQUIRE(&s->f);
    write_connector(s, "{\"verification\": \"strong\"}");
    assert_int_not_equal(fx_stage_configure(&s->f), 0);
    write_connector(s, "{\"processingValues\": [\"processing\"]}");
    assert_int_not_equal(fx_stage_configure(&s->f), 0);
    write_connector(s, "{\"checksum\": {\"algorithm\": \"md5\"}}");
    assert_int_not_equal(fx_stage_configure(&s->f), 0);
}

static void the_refusal_names_the_field(void **state)
{
    static const struct {
        const char *document, *says;
    } cases[] = {
        {"{\"verification\": \"strong\"}",
         "destination.document.checksum: missing"},
        {"{\"verification\": \"exact\"}",
         "destination.document.verification: unknown value"},
        {"{\"status\": \"state\", \"processingValues\": \"processing\"}",
         "destination.document.processingValues: not a list"},
        {"{\"processingMaxMs\": 1000}", "destination.document.status: "
         "missing"},
        {"{\"checksum\": {\"field\": \"a\", \"header\": \"ETag\", "
         "\"algorithm\": \"md5\"}}", "destination.document.checksum.field"},
    };
    suite *s = *state;
    size_t i;

    (void)s;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        ds_connector *c;
        ds_err err;

        snprintf(text, sizeof(text), "{\"source\": {\"baseUrl\": \"http://x\","
                 " \"auth\": {\"type\": \"none\"}, \"endpoints\": "
                 "{\"metadata\": \"/m/{documentId}\", \"content\": "
                 "\"/c/{documentId}\"}}, \"destination\": {\"baseUrl\": "
                 "\"http://x\", \"auth\": {\"type\": \"none\"}, "
                 "\"endpoints\": {\"upload\": \"/u/{transactionId}\", "
                 "\"document\": \"/d/{destinationDocumentId}\"}, "
                 "\"document\": %s}}", cases[i].document);
        ds_err_clear(&err);
        c = ds_connector_load_text("t.json", text, &err);
        print_message("%s -> %s\n", cases[i].document, err.msg);
        assert_null(c);
        assert_string_equal(err.reason, "bad_connector");
        assert_non_null(strstr(err.msg, cases[i].says));
    }
}

#define ETAG_MD5 "{\"checksum\": {\"header\": \"ETag\", \"algorithm\": " \
                 "\"md5\"}}"

static void a_quoted_digest_etag_is_a_strong_checksum(void **state)
{
    suite *s = *state;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    use_document(s, ETAG_MD5);
    faithful_copy(s);
    snprintf(s->ds.etag, sizeof(s->ds.etag), "\"%s\"",
             json_string_value(json_object_get(s->msg, "md5")));
    verify_as(s, "strong", &err);

    snprintf(s->ds.etag, sizeof(s->ds.etag), "\"%032d\"", 0);
    rc = verify_as(s, NULL, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "checksum_mismatch");
}

/* A weak or opaque ETag says nothing about the bytes: size and name. */
static void an_opaque_etag_falls_back_to_medium(void **state)
{
    static const char *const opaque[] = {
        "W/\"abc123\"", "\"abc123\"", "\"d41d8cd98f00b204e9800998ecf8427e-2\"",
    };
    suite *s = *state;
    ds_err err;
    size_t i;
    int rc;

    FX_REQUIRE(&s->f);
    use_document(s, ETAG_MD5);
    faithful_copy(s);
    for (i = 0; i < sizeof(opaque) / sizeof(opaque[0]); i++) {
        ds_metrics_reset();
        snprintf(s->ds.etag, sizeof(s->ds.etag), "%s", opaque[i]);
        verify_as(s, "medium", &err);
    }
    /* A weak ETag of the right digest is still not taken for one. */
    snprintf(s->ds.etag, sizeof(s->ds.etag), "W/\"%s\"",
             json_string_value(json_object_get(s->msg, "md5")));
    ds_metrics_reset();
    verify_as(s, "medium", &err);

    copy_says(s, "size", json_integer(1));
    rc = verify_as(s, NULL, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "checksum_mismatch");
}

#define PROCESSING "{\"checksum\": {\"field\": \"md5Checksum\", " \
                   "\"algorithm\": \"md5\"}, \"status\": \"status\", " \
                   "\"processingValues\": [\"processing\", \"pending\"], " \
                   "\"processingMaxMs\": %d}"

static void use_processing_bound(suite *s, int max_ms)
{
    char document[256];

    snprintf(document, sizeof(document), PROCESSING, max_ms);
    use_document(s, document);
}

static void a_copy_in_processing_is_asked_for_again_until_stored(
    void **state)
{
    suite *s = *state;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    use_processing_bound(s, 60000);
    faithful_copy(s);
    /* Until it is stored the destination may say nothing of the bytes. */
    copy_says(s, "status", json_string("processing"));
    copy_says(s, "md5Checksum", json_null());

    rc = verify_as(s, NULL, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_TRANSIENT, "destination_processing");
    assert_false(ds_reason_spends_attempt(err.reason));
    assert_in_range(err.retry_after_ms, 500, 30000);
    FX_ASSERT_STATE(&s->f, "doc_1", NULL);

    copy_says(s, "status", json_string("pending"));
    rc = verify_as(s, NULL, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_TRANSIENT, "destination_processing");

    copy_says(s, "status", json_string("stored"));
    copy_says(s, "md5Checksum", json_deep_copy(json_object_get(s->msg,
                                                               "md5")));
    verify_as(s, "strong", &err);
    FX_ASSERT_STATE(&s->f, "doc_1", "verified");
}

static void a_copy_in_processing_past_the_bound_is_missing(void **state)
{
    suite *s = *state;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    use_processing_bound(s, 100);
    faithful_copy(s);
    copy_says(s, "status", json_string("processing"));

    rc = verify_as(s, NULL, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_TRANSIENT, "destination_processing");
    /* The next look is due just after the bound, not later. */
    assert_in_range(err.retry_after_ms, 1, 200);
    fx_sleep_ms(250);

    rc = verify_as(s, NULL, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "missing_after_upload");
    assert_non_null(strstr(err.msg, "still processes"));
}

/* The bound counts from the upload time the record carries. */
static void the_bound_counts_from_the_upload_time(void **state)
{
    suite *s = *state;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    use_processing_bound(s, 60000);
    faithful_copy(s);
    copy_says(s, "status", json_string("processing"));
    json_object_set_new(s->msg, "uploadedAt",
                        json_string("2020-01-01T00:00:00Z"));

    rc = verify_as(s, NULL, &err);
    FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, "missing_after_upload");
}

#define TIER_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TIER_TEST(strong_compares_the_checksum),
        TIER_TEST(strong_fails_a_copy_with_another_checksum),
        TIER_TEST(medium_compares_size_and_name_not_the_checksum),
        TIER_TEST(without_a_checksum_the_tier_is_medium),
        TIER_TEST(weak_asks_only_for_the_name),
        TIER_TEST(a_copy_that_is_gone_is_missing_after_upload),
        TIER_TEST(strong_without_a_checksum_is_refused_at_start),
        TIER_TEST(the_refusal_names_the_field),
        TIER_TEST(a_quoted_digest_etag_is_a_strong_checksum),
        TIER_TEST(an_opaque_etag_falls_back_to_medium),
        TIER_TEST(a_copy_in_processing_is_asked_for_again_until_stored),
        TIER_TEST(a_copy_in_processing_past_the_bound_is_missing),
        TIER_TEST(the_bound_counts_from_the_upload_time),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
