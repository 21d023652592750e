/*
 * test_stage_uploader_modes.c - the uploader's three upload modes against
 * a private sandbox: the mode is chosen by the file's size within the
 * connector's limits and is the one the destination saw; each mode stores
 * the exact bytes under the exact name; a chunked upload whose part fails
 * resends that part alone on its next attempt, and one whose session
 * expired starts a new session; nothing is sent for a file over every
 * limit or a name longer than the destination keeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"

#define main uploader_main_unused
#include "../../uploader/uploader.c"
#undef main

#define DATA "tests/unit/data/stage/"
#define SAMPLE "samples/habibi.pdf"
#define BASE_CONNECTOR "connectors/sandbox-apikey.json"
#define PART 65536

typedef struct suite {
    fx f;
    uploader up;
    int files;
} suite;

static int setup(void **state)
{
    suite *s = calloc(1, sizeof(*s));

    *state = s;
    return s == NULL ? -1 : fx_stage_start(&s->f, FX_REDIS | FX_SANDBOX,
                                           NULL, configure, cleanup,
                                           &s->up);
}

static int teardown(void **state)
{
    suite *s = *state;

    fx_stage_stop(&s->f);
    free(s);
    return 0;
}

/* Reconfigures the uploader with the stack's connector whose upload modes
 * are the JSON object modes (and the session routes of the sandbox), and
 * maxFileNameBytes max_name when it is not negative. */
static void use_modes(suite *s, const char *modes, long max_name)
{
    json_t *c = fx_load_json(BASE_CONNECTOR);
    json_t *dest = json_object_get(c, "destination");
    json_t *up = json_object_get(dest, "upload");
    json_t *m = json_loads(modes, 0, NULL);
    json_t *ends = json_object_get(dest, "endpoints");
    char path[256];

    assert_non_null(m);
    json_object_del(up, "mode");
    json_object_del(up, "contentField");
    json_object_set_new(up, "modes", m);
    if (max_name >= 0)
        json_object_set_new(up, "maxFileNameBytes", json_integer(max_name));
    json_object_set_new(ends, "sessionStart", json_string(
        "/v1/transactions/{transactionId}/upload-sessions"));
    json_object_set_new(ends, "sessionPart", json_string(
        "/v1/upload-sessions/{sessionId}/parts/{partNumber}"));
    json_object_set_new(ends, "sessionComplete", json_string(
        "/v1/upload-sessions/{sessionId}/complete"));
    json_object_set_new(ends, "sessionStatus", json_string(
        "/v1/upload-sessions/{sessionId}"));
    snprintf(path, sizeof(path), "%s/connector.json", s->f.dir);
    assert_int_equal(json_dump_file(c, path, JSON_INDENT(1)), 0);
    json_decref(c);
    setenv("CONNECTOR_FILE", path, 1);
    assert_int_equal(fx_stage_configure(&s->f), 0);
}

/* A file of n bytes of a pattern in the test's directory; its path. */
static const char *make_file(suite *s, size_t n, char path[256])
{
    FILE *fp;

    snprintf(path, 256, "%s/file_%d.bin", s->f.dir, ++s->files);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    for (size_t i = 0; i < n; i++)
        fputc((int)((i * 131 + 7 + (size_t)s->files) & 0xff), fp);
    fclose(fp);
    return path;
}

/* The mapped message of doc_1 for the file at path, named name (NULL:
 * the template's name). */
static json_t *message(suite *s, const char *path, const char *name)
{
    json_t *msg = fx_mapped_message(&s->f, DATA "mapped_txn_1.json", path);

    if (name != NULL)
        json_object_set_new(msg, "fileName", json_string(name));
    return msg;
}

/* The sandbox's stored record of dest_id, as the admin listing shows it
 * (with uploadMode), a new reference. */
static json_t *stored(const fx *f, const char *dest_id)
{
    json_t *list = fx_admin(f, "GET", "/admin/tx/documents", NULL, 200);
    json_t *docs = json_object_get(list, "documents"), *d, *found = NULL;
    size_t i;

    json_array_foreach(docs, i, d) {
        if (strcmp(json_string_value(json_object_get(d, "id")), dest_id) == 0)
            found = json_incref(d);
    }
    json_decref(list);
    if (found == NULL)
        fail_msg("no stored document %s", dest_id);
    return found;
}

/* The number of part PUTs the sandbox accepted, resends included. */
static long long part_puts(const fx *f)
{
    json_t *list = fx_admin(f, "GET", "/admin/tx/sessions", NULL, 200);
    long long n = json_integer_value(json_object_get(list, "partPuts"));

    json_decref(list);
    return n;
}

static long long uploads_of(const fx *f, const char *doc_id)
{
    json_t *list = fx_admin(f, "GET", "/admin/tx/documents", NULL, 200);
    long long n = json_integer_value(
        json_object_get(json_object_get(list, "uploadsBySource"), doc_id));

    json_decref(list);
    return n;
}

/* Uploads msg, expecting success in mode; checks that the destination
 * stored the file's bytes under the message's name in that mode. Returns
 * the uploaded record (the caller decrefs). */
static json_t *upload_ok(suite *s, json_t *msg, const char *mode)
{
    json_t *out = NULL, *copy;
    const char *dest_id;
    ds_err err;
    int rc;

    rc = fx_handle(handle, &s->up, msg, &out, &err);
    FX_ASSERT_OK(rc, &err);
    assert_non_null(out);
    FX_ASSERT_JSON_STR(out, "uploadMode", mode);
    assert_true(json_is_string(json_object_get(out, "uploadedAt")));
    dest_id = json_string_value(json_object_get(out,
                                                "destinationDocumentId"));
    assert_non_null(dest_id);
    copy = stored(&s->f, dest_id);
    FX_ASSERT_JSON_STR(copy, "uploadMode", mode);
    FX_ASSERT_JSON_STR(copy, "md5Checksum",
                       json_string_value(json_object_get(msg, "md5")));
    assert_int_equal(json_integer_value(json_object_get(copy, "size")),
                     json_integer_value(json_object_get(msg, "size")));
    FX_ASSERT_JSON_STR(copy, "fileName",
                       json_string_value(json_object_get(msg, "fileName")));
    json_decref(copy);
    return out;
}

static const char ALL_MODES[] =
    "{\"json_base64\": {\"maxBytes\": 1000},"
    " \"multipart\": {\"maxBytes\": 20000},"
    " \"chunked\": {\"partBytes\": 65536}}";

/* Each size goes the way the limits leave for it: multipart within its
 * limit, chunked above it. Without multipart, JSON takes what fits it. */
static void the_mode_follows_the_size_and_the_limits(void **state)
{
    suite *s = *state;
    char path[256];
    json_t *msg, *out;

    FX_REQUIRE(&s->f);
    json_decref(fx_admin(&s->f, "POST", "/admin/config",
                         "{\"tx\": {\"partBytes\": 65536}}", 200));
    use_modes(s, ALL_MODES, -1);
    msg = message(s, make_file(s, 20000, path), NULL);
    json_decref(upload_ok(s, msg, "multipart"));
    json_decref(msg);

    msg = message(s, make_file(s, 20001, path), NULL);
    out = upload_ok(s, msg, "chunked");
    assert_int_equal(part_puts(&s->f), 1);
    json_decref(out);
    json_decref(msg);

    use_modes(s, "{\"json_base64\": {\"maxBytes\": 1000},"
                 " \"chunked\": {\"partBytes\": 65536}}", -1);
    msg = message(s, make_file(s, 1000, path), NULL);
    json_decref(upload_ok(s, msg, "json_base64"));
    json_decref(msg);
}

/* A real document in each mode, with a name the destination must keep
 * byte for byte: quotes, a backslash and several scripts. */
static void each_mode_keeps_the_bytes_and_the_name(void **state)
{
    static const char *const modes[][2] = {
        {"{\"json_base64\": {}}", "json_base64"},
        {"{\"multipart\": {}}", "multipart"},
        {"{\"multipart\": {\"fileNameStyle\": \"raw\"}}", "multipart"},
        {"{\"multipart\": {\"metadata\": \"json\"}}", "multipart"},
        {"{\"chunked\": {}}", "chunked"},
    };
    static const char name[] =
        "Angebot \"Größe\" \\ 契約書 Договор عقد.pdf";
    suite *s = *state;

    FX_REQUIRE(&s->f);
    json_decref(fx_admin(&s->f, "POST", "/admin/config",
                         "{\"tx\": {\"partBytes\": 4096}}", 200));
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        json_t *msg;

        use_modes(s, modes[i][0], -1);
        msg = message(s, SAMPLE, name);
        /* Each case is a new version: another transaction. */
        json_object_set_new(msg, "documentId",
                            json_sprintf("doc_name_%zu", i));
        json_decref(upload_ok(s, msg, modes[i][1]));
        json_decref(msg);
    }
}

/* An empty file is a document too, in every mode. */
static void a_zero_byte_file_goes_in_every_mode(void **state)
{
    static const char *const modes[] = {"json_base64", "multipart",
                                        "chunked"};
    suite *s = *state;
    char path[256], cfg[64];

    FX_REQUIRE(&s->f);
    for (size_t i = 0; i < 3; i++) {
        json_t *msg;

        snprintf(cfg, sizeof(cfg), "{\"%s\": {}}", modes[i]);
        use_modes(s, cfg, -1);
        msg = message(s, make_file(s, 0, path), "empty.txt");
        json_object_set_new(msg, "documentId",
                            json_sprintf("doc_empty_%zu", i));
        json_decref(upload_ok(s, msg, modes[i]));
        json_decref(msg);
    }
}

/* Part 2 of 3 fails with a 503: the attempt fails (transient), and the
 * next one sends part 2 and part 3 only, into the same session. */
static void a_failed_part_is_resent_alone(void **state)
{
    suite *s = *state;
    char path[256];
    json_t *msg, *out = NULL;
    ds_err err;

    FX_REQUIRE(&s->f);
    json_decref(fx_admin(&s->f, "POST", "/admin/config",
                         "{\"tx\": {\"partBytes\": 65536}}", 200));
    use_modes(s, "{\"chunked\": {}}", -1);
    msg = message(s, make_file(s, 2 * PART + 100, path), NULL);
    /* The first part passes; the fault is for the second. */
    fx_fault(&s->f, "{\"route\":\"tx_session_part\",\"delayMs\":1}");
    fx_fault(&s->f, "{\"route\":\"tx_session_part\",\"status\":503}");

    assert_int_equal(fx_handle(handle, &s->up, msg, &out, &err), -1);
    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    assert_string_equal(err.reason, "upload_http_503");
    assert_int_equal(part_puts(&s->f), 1);
    assert_int_equal(uploads_of(&s->f, "doc_1"), 0);

    out = upload_ok(s, msg, "chunked");
    /* Parts 2 and 3, not part 1 again. */
    assert_int_equal(part_puts(&s->f), 3);
    assert_int_equal(uploads_of(&s->f, "doc_1"), 1);
    json_decref(out);
    json_decref(msg);
}

/* The session expires between two attempts: the next attempt starts a
 * new session and sends every part into it. */
static void an_expired_session_is_started_again(void **state)
{
    suite *s = *state;
    char path[256];
    json_t *msg, *out = NULL, *list;
    ds_err err;

    FX_REQUIRE(&s->f);
    json_decref(fx_admin(&s->f, "POST", "/admin/config",
                         "{\"tx\": {\"partBytes\": 65536}}", 200));
    use_modes(s, "{\"chunked\": {}}", -1);
    msg = message(s, make_file(s, 3 * PART, path), NULL);
    fx_fault(&s->f, "{\"route\":\"tx_session_part\",\"delayMs\":1}");
    fx_fault(&s->f, "{\"route\":\"tx_session_part\",\"status\":502}");
    assert_int_equal(fx_handle(handle, &s->up, msg, &out, &err), -1);
    json_decref(fx_admin(&s->f, "POST", "/admin/tx/sessions/expire", "{}",
                         200));

    out = upload_ok(s, msg, "chunked");
    /* One part in the expired session, three in the new one. */
    assert_int_equal(part_puts(&s->f), 4);
    list = fx_admin(&s->f, "GET", "/admin/tx/sessions", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(list, "completed")),
                     1);
    json_decref(list);
    json_decref(out);
    json_decref(msg);
}

/* A part refused for good: the document fails permanently, the session
 * is deleted at the destination and its progress forgotten, so that a
 * replay starts afresh. */
static void a_part_refused_for_good_ends_the_session(void **state)
{
    suite *s = *state;
    char path[256], *kept;
    json_t *msg, *out = NULL, *list;
    ds_err err;

    FX_REQUIRE(&s->f);
    json_decref(fx_admin(&s->f, "POST", "/admin/config",
                         "{\"tx\": {\"partBytes\": 65536}}", 200));
    use_modes(s, "{\"chunked\": {}}", -1);
    msg = message(s, make_file(s, 2 * PART, path), NULL);
    fx_fault(&s->f, "{\"route\":\"tx_session_part\",\"delayMs\":1}");
    fx_fault(&s->f, "{\"route\":\"tx_session_part\",\"status\":400}");

    assert_int_equal(fx_handle(handle, &s->up, msg, &out, &err), -1);

    assert_string_equal(err.reason, "upload_http_400");
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    list = fx_admin(&s->f, "GET", "/admin/tx/sessions", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "sessions")), 0);
    json_decref(list);
    snprintf(path, sizeof(path), "session:%s:txn_1",
             json_string_value(json_object_get(msg, "blob")));
    kept = fx_doc_field(&s->f, "doc_1", path);
    assert_null(kept);
    json_decref(msg);
}

/* Nothing is sent for a file no mode takes, or for a name the
 * destination would not keep: both fail permanently at once. */
static void refusals_come_before_any_byte(void **state)
{
    suite *s = *state;
    char path[256];
    json_t *msg, *out = NULL, *list;
    ds_err err;

    FX_REQUIRE(&s->f);
    use_modes(s, "{\"json_base64\": {\"maxBytes\": 100},"
                 " \"multipart\": {\"maxBytes\": 200}}", 16);
    msg = message(s, make_file(s, 201, path), "short.pdf");
    assert_int_equal(fx_handle(handle, &s->up, msg, &out, &err), -1);
    assert_string_equal(err.reason, "too_large");
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    json_decref(msg);

    msg = message(s, make_file(s, 10, path), "a name of 17 bytes");
    assert_int_equal(fx_handle(handle, &s->up, msg, &out, &err), -1);
    assert_string_equal(err.reason, "file_name_too_long");
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    json_decref(msg);

    list = fx_admin(&s->f, "GET", "/admin/tx/documents", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "documents")), 0);
    json_decref(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            the_mode_follows_the_size_and_the_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(
            each_mode_keeps_the_bytes_and_the_name, setup, teardown),
        cmocka_unit_test_setup_teardown(a_zero_byte_file_goes_in_every_mode,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_part_is_resent_alone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(an_expired_session_is_started_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_part_refused_for_good_ends_the_session, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_come_before_any_byte,
                                        setup, teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
