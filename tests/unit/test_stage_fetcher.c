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
 *
 * MIME types and names: a document whose CRM type is missing, generic or
 * contradicted by its bytes travels with the type its first bytes show
 * (or its extension's, or application/octet-stream), saying so in
 * mimeTypeSource; names of every script and shape pass byte for byte,
 * and an empty one, one in Latin-1 bytes or with a newline fails as
 * bad_file_name before anything is stored. Sizes past 4 GiB are read and
 * compared in 64 bits. The metadata the sandbox cannot describe comes
 * from raw_crm.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "raw_crm.h"
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
    raw_crm crm;
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

/* A private Redis, raw_crm.h's CRM in this process, and the fetcher
 * pointed at it. */
static int raw_setup(void **state)
{
    suite *s = calloc(1, sizeof(*s));
    const char *env[] = {"CRM_BASE_URL", NULL, NULL};

    *state = s;
    if (s == NULL)
        return -1;
    rc_start(&s->crm);
    env[1] = s->crm.url;
    return fx_stage_start(&s->f, FX_REDIS, env, configure, cleanup,
                          &s->fetch);
}

static int teardown(void **state)
{
    suite *s = *state;

    fx_stage_stop(&s->f);
    vs_stop(&s->vs);
    rc_stop(&s->crm);
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

/* ---- MIME types ---------------------------------------------------------- */

/* Adds the file at path to the sandbox's CRM as document doc_id of acc_1,
 * without a webhook, named file_name with type mime_type (NULL: the
 * sandbox's own, the path's base name and a type by its extension). */
static void crm_add_named(suite *s, const char *doc_id, const char *path,
                          const char *file_name, const char *mime_type)
{
    json_t *req = json_pack("{s:s,s:s,s:s,s:b}", "documentId", doc_id,
                            "accountId", "acc_1", "path", path, "webhook",
                            0);
    char *text;

    if (file_name != NULL)
        json_object_set_new(req, "fileName", json_string(file_name));
    if (mime_type != NULL)
        json_object_set_new(req, "mimeType", json_string(mime_type));
    text = json_dumps(req, JSON_COMPACT);
    assert_non_null(text);
    json_decref(fx_admin(&s->f, "POST", "/admin/crm/documents", text, 201));
    free(text);
    json_decref(req);
}

/* Runs handle() on the event of doc_id as ingest makes it, with no name:
 * the CRM's is the one that counts. */
static int fetch_doc(suite *s, const char *doc_id, json_t **out, ds_err *err)
{
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s}", "eventId", "evt_m",
                           "eventType", "DOCUMENT_CREATED", "documentId",
                           doc_id, "accountId", "acc_1", "timestamp",
                           "2026-12-03T12:00:00Z");
    int rc = fx_handle(handle, &s->fetch, ev, out, err);

    json_decref(ev);
    return rc;
}

/* The raw CRM's metadata: meta (taken) as compact JSON. */
static void raw_meta(suite *s, json_t *meta)
{
    char *text = json_dumps(meta, JSON_COMPACT);

    assert_non_null(text);
    rc_set_meta(&s->crm, text, strlen(text));
    free(text);
    json_decref(meta);
}

/* The metadata of a document of acc_1 named file_name with size bytes. */
static json_t *meta_of(const char *file_name, uint64_t size)
{
    return json_pack("{s:s,s:s,s:s,s:I,s:s}", "id", "doc_1", "accountId",
                     "acc_1", "fileName", file_name, "size",
                     (json_int_t)size, "createdAt", "2026-12-03T11:58:30Z");
}

/* Asserts the type fields of a fetched record; NULL: the field absent. */
static void assert_mime(const json_t *out, const char *type,
                        const char *source, const char *detected,
                        const char *declared)
{
    static const char *const keys[] = {"mimeType", "mimeTypeSource",
                                       "detectedMimeType",
                                       "declaredMimeType"};
    const char *want[] = {type, source, detected, declared};
    size_t i;

    for (i = 0; i < 4; i++) {
        const char *got = json_string_value(json_object_get(out, keys[i]));

        print_message("%s: %s\n", keys[i], got ? got : "(absent)");
        assert_string_equal(got ? got : "(absent)",
                            want[i] ? want[i] : "(absent)");
    }
}

/* No mimeType, a null one or an empty one: the bytes say PDF. The name
 * has no extension, so only the bytes can say it. */
static void a_document_without_a_type_gets_the_one_its_bytes_show(
    void **state)
{
    suite *s = *state;
    int variant;

    FX_REQUIRE(&s->f);
    rc_set_content_file(&s->crm, SAMPLE);
    for (variant = 0; variant < 3; variant++) {
        json_t *meta = meta_of("Angebot", fx_file_size(SAMPLE));
        json_t *out = NULL;
        ds_err err;
        int rc;

        if (variant == 1)
            json_object_set_new(meta, "mimeType", json_null());
        if (variant == 2)
            json_object_set_new(meta, "mimeType", json_string(""));
        raw_meta(s, meta);

        rc = fetch_doc(s, "doc_1", &out, &err);

        FX_ASSERT_OK(rc, &err);
        assert_mime(out, "application/pdf", "content", "application/pdf",
                    NULL);
        json_decref(out);
    }
}

/* A JPEG the CRM calls a PDF: the bytes win, the CRM's word is kept in
 * declaredMimeType, and one warning line names both. */
static void a_jpeg_declared_as_pdf_travels_as_jpeg_with_a_warning(
    void **state)
{
    suite *s = *state;
    FILE *log = tmpfile();
    char line[2048];
    int warned = 0;
    json_t *out = NULL;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    assert_non_null(log);
    crm_add_named(s, "doc_1", "samples/image.jpg", "Grundriss.pdf",
                  "application/pdf");

    ds_log_set_stream(log);
    rc = fetch_doc(s, "doc_1", &out, &err);
    ds_log_set_stream(NULL);

    FX_ASSERT_OK(rc, &err);
    assert_mime(out, "image/jpeg", "content", "image/jpeg",
                "application/pdf");
    FX_ASSERT_JSON_STR(out, "fileName", "Grundriss.pdf");
    rewind(log);
    while (fgets(line, sizeof(line), log) != NULL) {
        json_t *j = json_loads(line, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "msg"));
        const char *level = json_string_value(json_object_get(j, "level"));
        const char *doc = json_string_value(json_object_get(j,
                                                            "documentId"));

        print_message("log: %s", line);
        if (msg != NULL && strcmp(level, "warn") == 0 && doc != NULL &&
            strcmp(doc, "doc_1") == 0 &&
            strstr(msg, "application/pdf") != NULL &&
            strstr(msg, "image/jpeg") != NULL)
            warned++;
        json_decref(j);
    }
    fclose(log);
    assert_int_equal(warned, 1);
    json_decref(out);
}

/* application/octet-stream and binary/octet-stream say nothing: the
 * bytes' type replaces them. */
static void a_generic_type_is_replaced_by_the_detected_one(void **state)
{
    static const struct {
        const char *doc, *path, *name, *declared, *type;
    } cases[] = {
        {"doc_1", "samples/smile.tiff", "Scan", "application/octet-stream",
         "image/tiff"},
        {"doc_2", "samples/source.odt", "Brief", "binary/octet-stream",
         "application/vnd.oasis.opendocument.text"},
    };
    suite *s = *state;
    size_t i;

    FX_REQUIRE(&s->f);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = NULL;
        ds_err err;
        int rc;

        crm_add_named(s, cases[i].doc, cases[i].path, cases[i].name,
                      cases[i].declared);

        rc = fetch_doc(s, cases[i].doc, &out, &err);

        FX_ASSERT_OK(rc, &err);
        assert_mime(out, cases[i].type, "content", cases[i].type,
                    cases[i].declared);
        json_decref(out);
    }
}

/* Bytes of no known kind: the extension's type, else the default. The
 * sandbox gives such a file application/octet-stream. */
static void an_unknown_content_takes_the_extensions_type(void **state)
{
    static const unsigned char junk[] = {0x00, 0x13, 0x37, 0xfe, 0xff, 0x80,
                                         0x00, 0x01, 0x02, 0x03};
    suite *s = *state;
    char path[256];
    json_t *out = NULL;
    ds_err err;
    FILE *fp;
    int rc;

    FX_REQUIRE(&s->f);
    snprintf(path, sizeof(path), "%s/aufmass.bin", s->f.dir);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    fclose(fp);
    crm_add_named(s, "doc_1", path, "Aufmass.HEIC", NULL);
    crm_add_named(s, "doc_2", path, "Aufmass.dwg", NULL);

    rc = fetch_doc(s, "doc_1", &out, &err);
    FX_ASSERT_OK(rc, &err);
    assert_mime(out, "image/heic", "extension", NULL,
                "application/octet-stream");
    json_decref(out);

    rc = fetch_doc(s, "doc_2", &out, &err);
    FX_ASSERT_OK(rc, &err);
    assert_mime(out, "application/octet-stream", "default", NULL,
                "application/octet-stream");
    json_decref(out);
}

/* An empty file shows nothing: the CRM's type stands, or the
 * extension's. */
static void an_empty_file_keeps_the_crm_type_or_the_extensions(
    void **state)
{
    suite *s = *state;
    char path[256];
    json_t *out = NULL;
    ds_err err;
    FILE *fp;
    int rc;

    FX_REQUIRE(&s->f);
    snprintf(path, sizeof(path), "%s/empty", s->f.dir);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    fclose(fp);
    crm_add_named(s, "doc_1", path, "leer.pdf", "");
    crm_add_named(s, "doc_2", path, "leer.txt", "image/png");

    rc = fetch_doc(s, "doc_1", &out, &err);
    FX_ASSERT_OK(rc, &err);
    assert_int_equal(json_integer_value(json_object_get(out, "size")), 0);
    assert_mime(out, "application/pdf", "extension", NULL, NULL);
    json_decref(out);

    rc = fetch_doc(s, "doc_2", &out, &err);
    FX_ASSERT_OK(rc, &err);
    assert_mime(out, "image/png", "crm", NULL, NULL);
    json_decref(out);
}

/* ---- File names ---------------------------------------------------------- */

/* Names of every script and shape reach docsync.fetched byte for byte. */
static void names_of_every_script_pass_byte_for_byte(void **state)
{
    static const char *const names[] = {
        "Kaufvertrag Stra\xc3\x9f" "e \"Gro\xc3\x9f" "e\" "
        "M\xc3\xb6hren.pdf",                                   /* German */
        "\xe5\xa3\xb2\xe8\xb2\xb7\xe5\xa5\x91\xe7\xb4\x84\xe6\x9b\xb8.pdf",
        "\xd0\x94\xd0\xbe\xd0\xb3\xd0\xbe\xd0\xb2\xd0\xbe\xd1\x80 "
        "\xd0\xba\xd1\x83\xd0\xbf\xd0\xbb\xd0\xb8.pdf",        /* Cyrillic */
        "\xd8\xb9\xd9\x82\xd8\xaf \xd8\xa8\xd9\x8a\xd8\xb9.pdf", /* Arabic */
        "\xf0\x9f\x8f\xa0 Haus \xf0\x9f\x94\x91.pdf",           /* emoji */
        "Offer \\ \"final\" 'v2'.pdf",
    };
    char long_name[401];
    suite *s = *state;
    size_t i;

    FX_REQUIRE(&s->f);
    /* 198 times "\xc3\x9c" (U+00DC) and ".pdf": 400 bytes. */
    for (i = 0; i < 198; i++)
        memcpy(long_name + 2 * i, "\xc3\x9c", 2);
    memcpy(long_name + 396, ".pdf", 5);
    for (i = 0; i <= sizeof(names) / sizeof(names[0]); i++) {
        const char *name = i < sizeof(names) / sizeof(names[0]) ? names[i]
                                                                : long_name;
        const json_t *got;
        char doc[16];
        json_t *out = NULL;
        ds_err err;
        int rc;

        snprintf(doc, sizeof(doc), "doc_%zu", i);
        crm_add_named(s, doc, SAMPLE, name, "application/pdf");

        rc = fetch_doc(s, doc, &out, &err);

        FX_ASSERT_OK(rc, &err);
        got = json_object_get(out, "fileName");
        print_message("%s: %zu bytes\n", name, json_string_length(got));
        assert_int_equal(json_string_length(got), strlen(name));
        assert_memory_equal(json_string_value(got), name, strlen(name));
        json_decref(out);
    }
    assert_int_equal(strlen(long_name), 400);
}

/* Asserts that the last fetch failed as bad_file_name, stored nothing and
 * marked nothing, and that its message holds says. */
static void assert_name_refused(suite *s, const char *doc, int rc,
                                const ds_err *err, json_t *out,
                                const char *says)
{
    FX_ASSERT_FAILED(rc, err, DS_CLASS_PERMANENT, "bad_file_name");
    assert_non_null(strstr(err->msg, says));
    assert_null(out);
    assert_blob_store_empty(&s->f);
    FX_ASSERT_STATE(&s->f, doc, NULL);
}

static void an_empty_name_or_one_with_a_newline_is_refused(void **state)
{
    static const struct {
        const char *name, *says;
    } cases[] = {
        {"", "fileName is empty"},
        {"Angebot\n2026.pdf", "holds a control character (byte 7)"},
        {"../../etc/passwd", "a path, not a name"},
    };
    suite *s = *state;
    size_t i;

    FX_REQUIRE(&s->f);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = NULL;
        char doc[16];
        ds_err err;
        int rc;

        snprintf(doc, sizeof(doc), "doc_%zu", i);
        crm_add_named(s, doc, SAMPLE, cases[i].name, "application/pdf");

        rc = fetch_doc(s, doc, &out, &err);

        assert_name_refused(s, doc, rc, &err, out, cases[i].says);
    }
}

/* C04 in the CRM's metadata: Latin-1 bytes make the answer no JSON that
 * jansson reads; when they are in the name, the name is to blame. */
static void a_name_in_latin1_bytes_is_refused_as_bad_file_name(void **state)
{
    static const char meta[] =
        "{\"id\":\"doc_1\",\"accountId\":\"acc_1\","
        "\"fileName\":\"Angebot_Gr\xf6\xdf" "e.pdf\","
        "\"mimeType\":\"application/pdf\",\"size\":10}";
    suite *s = *state;
    json_t *out = NULL;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    rc_set_meta(&s->crm, meta, sizeof(meta) - 1);
    rc_set_content(&s->crm, "%PDF-1.4\n", 10);

    rc = fetch_doc(s, "doc_1", &out, &err);

    assert_name_refused(s, "doc_1", rc, &err, out,
                        "fileName is not valid UTF-8");
    /* The operator sees what the bytes were meant to say. */
    assert_non_null(strstr(err.msg, "Angebot_Gr\xc3\xb6\xc3\x9f" "e.pdf"));
}

/* The same bytes in the description, a \u0000 in the name, and no name
 * at all: each is told apart. */
static void other_unreadable_metadata_is_told_apart_from_the_name(
    void **state)
{
    static const struct {
        const char *meta, *reason, *says;
    } cases[] = {
        {"{\"accountId\":\"acc_1\",\"fileName\":\"a.pdf\","
         "\"description\":\"Gr\xf6\xdf" "e\",\"size\":10}",
         "bad_response", "did not answer a JSON object in UTF-8"},
        {"{\"accountId\":\"acc_1\",\"fileName\":\"a\\u0000b.pdf\","
         "\"size\":10}", "bad_file_name",
         "holds a control character (byte 1)"},
        {"{\"accountId\":\"acc_1\",\"size\":10}", "bad_file_name",
         "fileName is missing"},
        {"{\"accountId\":\"acc_1\",\"fileName\":7,\"size\":10}",
         "bad_file_name", "fileName is not a string"},
        {"not json at all", "bad_response", "did not answer a JSON object"},
    };
    suite *s = *state;
    size_t i;

    FX_REQUIRE(&s->f);
    rc_set_content(&s->crm, "%PDF-1.4\n", 10);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = NULL;
        ds_err err;
        int rc;

        rc_set_meta(&s->crm, cases[i].meta, strlen(cases[i].meta));

        rc = fetch_doc(s, "doc_1", &out, &err);

        FX_ASSERT_FAILED(rc, &err, DS_CLASS_PERMANENT, cases[i].reason);
        assert_non_null(strstr(err.msg, cases[i].says));
        assert_null(out);
        assert_blob_store_empty(&s->f);
    }
}

/* ---- Sizes past 4 GiB ---------------------------------------------------- */

#define FIVE_GIB 5368709120ULL          /* 5 * 2^30: 1 GiB in 32 bits */

/* The CRM announces 5 GiB and sends ten bytes: the comparison is made in
 * 64 bits (in 32 the announced size would read as 1 GiB). */
static void a_size_past_4_gib_is_read_and_compared_whole(void **state)
{
    suite *s = *state;
    json_t *out = NULL;
    ds_err err;
    int rc;

    FX_REQUIRE(&s->f);
    raw_meta(s, meta_of("Grundbuch.pdf", FIVE_GIB));
    rc_set_content(&s->crm, "%PDF-1.4\n", 10);

    rc = fetch_doc(s, "doc_1", &out, &err);

    FX_ASSERT_FAILED(rc, &err, DS_CLASS_TRANSIENT, "source_size_mismatch");
    assert_string_equal(err.msg, "the CRM announced 5368709120 bytes but "
                                 "sent 10");
    assert_null(out);
    assert_blob_store_empty(&s->f);
}

/* The announced size in each form a CRM sends it, and the record's size,
 * at 5 GiB, without 5 GiB of bytes. */
static void sizes_past_4_gib_keep_every_bit(void **state)
{
    static const struct {
        const char *json;
        int given;
        uint64_t size;
    } cases[] = {
        {"5368709120", 1, FIVE_GIB},
        {"5368709120.0", 1, FIVE_GIB},
        {"5.36870912e9", 1, FIVE_GIB},
        {"\"5368709120\"", 1, FIVE_GIB},
        {"9007199254740993", 1, 9007199254740993ULL},   /* 2^53 + 1 */
        {"9007199254740992.0", 1, 9007199254740992ULL},
        {"1.8e19", -1, 0},
        {"-1", -1, 0},
        {"10.5", -1, 0},
        {"\"12 KB\"", -1, 0},
        {"\"\"", -1, 0},
        {"true", -1, 0},
        {"null", 0, 0},
    };
    content c;
    json_t *meta, *in, *out;
    ds_msg msg;
    size_t i;
    ds_err err;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        uint64_t size = 0;
        int given = announced_size(v, &size);

        print_message("%s: %d, %llu\n", cases[i].json, given,
                      (unsigned long long)size);
        assert_int_equal(given, cases[i].given);
        if (given == 1)
            assert_true(size == cases[i].size);
        json_decref(v);
    }
    assert_int_equal(announced_size(NULL, NULL), 0);

    meta = meta_of("Grundbuch.pdf", FIVE_GIB);
    in = json_pack("{s:s}", "documentId", "doc_1");
    ds_err_clear(&err);
    assert_int_equal(size_mismatch(meta, FIVE_GIB, in, &err), 0);
    assert_int_equal(size_mismatch(meta, FIVE_GIB - 4294967296ULL, in, &err),
                     1);
    assert_string_equal(err.reason, "source_size_mismatch");

    memset(&c, 0, sizeof(c));
    c.size = FIVE_GIB;
    msg = fx_msg(in);
    out = fetched_message(&msg, meta, &c);
    assert_true(json_is_integer(json_object_get(out, "size")));
    assert_true((uint64_t)json_integer_value(json_object_get(out, "size")) ==
                FIVE_GIB);
    json_decref(out);
    json_decref(in);
    json_decref(meta);
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
        cmocka_unit_test_setup_teardown(
            a_document_without_a_type_gets_the_one_its_bytes_show, raw_setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_jpeg_declared_as_pdf_travels_as_jpeg_with_a_warning, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_generic_type_is_replaced_by_the_detected_one, setup, teardown),
        cmocka_unit_test_setup_teardown(
            an_unknown_content_takes_the_extensions_type, setup, teardown),
        cmocka_unit_test_setup_teardown(
            an_empty_file_keeps_the_crm_type_or_the_extensions, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            names_of_every_script_pass_byte_for_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(
            an_empty_name_or_one_with_a_newline_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_name_in_latin1_bytes_is_refused_as_bad_file_name, raw_setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            other_unreadable_metadata_is_told_apart_from_the_name, raw_setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_size_past_4_gib_is_read_and_compared_whole, raw_setup,
            teardown),
        cmocka_unit_test(sizes_past_4_gib_keep_every_bit),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
