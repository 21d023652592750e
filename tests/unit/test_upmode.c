/*
 * test_upmode.c - the upload modes of a connector and the choice of one
 * per document (ds_upmode): the cheapest mode whose limits admit the size,
 * too_large before any byte when none does, sizes over 4 GiB, and the
 * connector checks of destination.upload.modes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_connector.h"
#include "ds_upmode.h"

#define MIB (1024LL * 1024)
#define GIB (1024 * MIB)

/* The built-in connector with destination.upload replaced by the JSON
 * text upload, without its session endpoints and, when endpoints is not
 * NULL, with those merged in. Returns the loaded connector, or NULL with
 * err set. */
static ds_connector *with_upload(const char *upload, const char *endpoints,
                                 ds_err *err)
{
    json_t *root = json_loads(ds_connector_default_text(), 0, NULL);
    json_t *dest = json_object_get(root, "destination");
    json_t *up = json_loads(upload, 0, NULL);
    ds_connector *c;
    char *text;

    static const char *const sessions[] = {
        "sessionStart", "sessionPart", "sessionComplete", "sessionStatus",
        "sessionAbort"};

    assert_non_null(root);
    assert_non_null(up);
    json_object_set_new(dest, "upload", up);
    for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++)
        json_object_del(json_object_get(dest, "endpoints"), sessions[i]);
    if (endpoints != NULL) {
        json_t *more = json_loads(endpoints, 0, NULL);

        assert_non_null(more);
        json_object_update(json_object_get(dest, "endpoints"), more);
        json_decref(more);
    }
    text = json_dumps(root, 0);
    json_decref(root);
    c = ds_connector_load_text("test.json", text, err);
    free(text);
    return c;
}

static const char SESSION_ENDPOINTS[] =
    "{\"sessionStart\": \"/v1/transactions/{transactionId}/upload-sessions\","
    " \"sessionPart\": \"/v1/upload-sessions/{sessionId}/parts/{partNumber}\","
    " \"sessionComplete\": \"/v1/upload-sessions/{sessionId}/complete\"}";

/* All three modes, each with a limit: json 10 MiB, multipart 100 MiB,
 * chunked 64 GiB with parts of 8 MiB. */
static const char THREE[] =
    "{\"fields\": {\"fileName\": {}}, \"modes\": {"
    " \"json_base64\": {\"maxBytes\": 10485760},"
    " \"multipart\": {\"maxBytes\": 104857600},"
    " \"chunked\": {\"maxBytes\": 68719476736, \"partBytes\": 8388608}}}";

static void read_modes(const char *upload, const char *endpoints,
                       ds_connector **c, ds_upmodes *m)
{
    ds_err err;

    ds_err_clear(&err);
    *c = with_upload(upload, endpoints, &err);
    if (*c == NULL)
        fail_msg("connector refused: %s", err.msg);
    assert_int_equal(ds_upmodes_read(*c, m, &err), 0);
}

/* The kind ds_upmodes_pick chooses for size, or -1 with reason copied. */
static int pick(const ds_upmodes *m, uint64_t size, char reason[48])
{
    const ds_upmode *x;
    ds_err err;

    ds_err_clear(&err);
    x = ds_upmodes_pick(m, size, &err);
    snprintf(reason, 48, "%s", err.reason);
    return x != NULL ? (int)x->kind : -1;
}

static void multipart_is_cheapest_where_it_is_offered(void **state)
{
    ds_connector *c;
    ds_upmodes m;
    char reason[48];

    (void)state;
    read_modes(THREE, SESSION_ENDPOINTS, &c, &m);
    assert_int_equal(pick(&m, 0, reason), DS_UPMODE_MULTIPART);
    assert_int_equal(pick(&m, 5 * MIB, reason), DS_UPMODE_MULTIPART);
    assert_int_equal(pick(&m, 100 * MIB, reason), DS_UPMODE_MULTIPART);
    /* One byte over multipart's limit: chunked, not the dearer JSON. */
    assert_int_equal(pick(&m, 100 * MIB + 1, reason), DS_UPMODE_CHUNKED);
    ds_connector_free(c);
}

/* Without multipart, a small file goes whole as JSON (one request beats
 * three), a large one in parts (the base64 third costs more than the
 * requests). */
static void json_or_chunked_by_what_they_cost(void **state)
{
    static const char two[] =
        "{\"modes\": {\"json_base64\": {\"maxBytes\": 1073741824},"
        " \"chunked\": {\"partBytes\": 8388608}}}";
    ds_connector *c;
    ds_upmodes m;
    char reason[48];

    (void)state;
    read_modes(two, SESSION_ENDPOINTS, &c, &m);
    assert_int_equal(pick(&m, 1000, reason), DS_UPMODE_JSON);
    assert_int_equal(pick(&m, 64 * 1024, reason), DS_UPMODE_JSON);
    assert_int_equal(pick(&m, 512 * MIB, reason), DS_UPMODE_CHUNKED);
    assert_true(ds_upmode_cost(&m.mode[DS_UPMODE_JSON], 1000) <
                ds_upmode_cost(&m.mode[DS_UPMODE_CHUNKED], 1000));
    assert_true(ds_upmode_cost(&m.mode[DS_UPMODE_CHUNKED], 512 * MIB) <
                ds_upmode_cost(&m.mode[DS_UPMODE_JSON], 512 * MIB));
    ds_connector_free(c);
}

/* Sizes beyond 32 bits are counted whole: a 5 GiB file is over the
 * multipart limit, goes in 640 parts of 8 MiB, and costs its base64 in
 * JSON. */
static void sizes_over_4_gib_are_counted_whole(void **state)
{
    const uint64_t five = 5 * (uint64_t)GIB;
    ds_connector *c;
    ds_upmodes m;
    char reason[48];

    (void)state;
    read_modes(THREE, SESSION_ENDPOINTS, &c, &m);
    assert_int_equal(pick(&m, five, reason), DS_UPMODE_CHUNKED);
    assert_int_equal(ds_upmode_parts(five, 8 * MIB), 640);
    assert_int_equal(ds_upmode_parts(five + 1, 8 * MIB), 641);
    assert_int_equal(ds_upmode_parts(0, 8 * MIB), 0);
    assert_int_equal(ds_upmode_cost(&m.mode[DS_UPMODE_JSON], five),
                     (five / 3 + 1) * 4 + DS_UPMODE_REQUEST_COST);
    assert_int_equal(pick(&m, 64 * (uint64_t)GIB + 1, reason), -1);
    assert_string_equal(reason, "too_large");
    ds_connector_free(c);
}

static void over_every_limit_is_too_large(void **state)
{
    static const char small[] =
        "{\"modes\": {\"json_base64\": {\"maxBytes\": 100},"
        " \"multipart\": {\"maxBytes\": 200}}}";
    const ds_upmode *x;
    ds_connector *c;
    ds_upmodes m;
    ds_err err;

    (void)state;
    read_modes(small, NULL, &c, &m);
    ds_err_clear(&err);
    x = ds_upmodes_pick(&m, 201, &err);
    assert_null(x);
    assert_string_equal(err.reason, "too_large");
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_non_null(strstr(err.msg, "201 bytes"));
    assert_non_null(strstr(err.msg, "json_base64 0 to 100"));
    assert_non_null(strstr(err.msg, "multipart 0 to 200"));
    ds_connector_free(c);
}

/* A destination that wants sessions only for large files (minBytes). */
static void chunked_below_its_floor_is_not_offered(void **state)
{
    static const char floor[] =
        "{\"modes\": {\"json_base64\": {\"maxBytes\": 1048576},"
        " \"chunked\": {\"minBytes\": 20971520}}}";
    ds_connector *c;
    ds_upmodes m;
    char reason[48];

    (void)state;
    read_modes(floor, SESSION_ENDPOINTS, &c, &m);
    assert_int_equal(pick(&m, 1048576, reason), DS_UPMODE_JSON);
    assert_int_equal(pick(&m, 2 * MIB, reason), -1);
    assert_string_equal(reason, "no_upload_mode");
    assert_int_equal(pick(&m, 20 * MIB, reason), DS_UPMODE_CHUNKED);
    ds_connector_free(c);
}

/* The one-mode form of earlier connectors means one mode, with the
 * section's own limit and content field. */
static void the_one_mode_form_is_one_mode(void **state)
{
    static const char one[] =
        "{\"mode\": \"json_base64\", \"contentField\": \"data\","
        " \"maxBytes\": 5000, \"maxFileNameBytes\": 255}";
    ds_connector *c;
    ds_upmodes m;
    char reason[48];

    (void)state;
    read_modes(one, NULL, &c, &m);
    assert_true(m.mode[DS_UPMODE_JSON].offered);
    assert_false(m.mode[DS_UPMODE_MULTIPART].offered);
    assert_false(m.mode[DS_UPMODE_CHUNKED].offered);
    assert_string_equal(m.mode[DS_UPMODE_JSON].content_field, "data");
    assert_int_equal(m.mode[DS_UPMODE_JSON].max_bytes, 5000);
    assert_int_equal(m.max_name_bytes, 255);
    assert_int_equal(pick(&m, 5001, reason), -1);
    ds_connector_free(c);

    /* An upload section that names no mode: json_base64 without a
     * limit. */
    read_modes("{}", NULL, &c, &m);
    assert_true(m.mode[DS_UPMODE_JSON].offered);
    assert_int_equal(m.mode[DS_UPMODE_JSON].max_bytes, -1);
    assert_int_equal(m.max_name_bytes, -1);
    assert_int_equal(pick(&m, 10 * (uint64_t)GIB, reason), DS_UPMODE_JSON);
    ds_connector_free(c);
}

static void defaults_of_each_mode(void **state)
{
    static const char bare[] =
        "{\"modes\": {\"json_base64\": {}, \"multipart\": {},"
        " \"chunked\": {}}}";
    ds_connector *c;
    ds_upmodes m;

    (void)state;
    read_modes(bare, SESSION_ENDPOINTS, &c, &m);
    assert_string_equal(m.mode[DS_UPMODE_JSON].content_field, "content");
    assert_string_equal(m.mode[DS_UPMODE_MULTIPART].file_field, "file");
    assert_string_equal(m.mode[DS_UPMODE_MULTIPART].endpoint, "upload");
    assert_false(m.mode[DS_UPMODE_MULTIPART].metadata_json);
    assert_false(m.mode[DS_UPMODE_MULTIPART].raw_names);
    assert_int_equal(m.mode[DS_UPMODE_CHUNKED].part_bytes,
                     DS_UPMODE_PART_BYTES);
    assert_string_equal(m.mode[DS_UPMODE_CHUNKED].session_id_field,
                        "sessionId");
    assert_string_equal(m.mode[DS_UPMODE_CHUNKED].part_method, "PUT");
    assert_string_equal(ds_upmode_name(DS_UPMODE_CHUNKED), "chunked");
    ds_connector_free(c);
}

/* Each refusal names the field. */
static void bad_modes_are_refused_naming_the_field(void **state)
{
    static const struct {
        const char *upload, *endpoints, *field;
    } cases[] = {
        {"{\"modes\": {\"chunked\": {}}}", NULL,
         "destination.endpoints.sessionStart"},
        {"{\"modes\": {\"chunked\": {\"partBytes\": 0}}}", SESSION_ENDPOINTS,
         "destination.upload.modes.chunked.partBytes"},
        {"{\"modes\": {\"chunked\": {\"minBytes\": 9, \"maxBytes\": 8}}}",
         SESSION_ENDPOINTS, "destination.upload.modes.chunked.minBytes"},
        {"{\"modes\": {\"jsonbase64\": {}}}", NULL,
         "destination.upload.modes.jsonbase64"},
        {"{\"modes\": {}}", NULL, "destination.upload.modes"},
        {"{\"mode\": \"multipart\", \"modes\": {\"multipart\": {}}}", NULL,
         "destination.upload.mode"},
        {"{\"modes\": {\"multipart\": {\"metadata\": \"xml\"}}}", NULL,
         "destination.upload.modes.multipart.metadata"},
        {"{\"modes\": {\"chunked\": {\"partMethod\": \"PATCH\"}}}",
         SESSION_ENDPOINTS, "destination.upload.modes.chunked.partMethod"},
        {"{\"modes\": {\"json_base64\": {\"maxBytes\": -1}}}", NULL,
         "destination.upload.modes.json_base64.maxBytes"},
        {"{\"maxFileNameBytes\": \"255\"}", NULL,
         "destination.upload.maxFileNameBytes"},
        {"{\"maxFileNameBytes\": 0}", NULL,
         "destination.upload.maxFileNameBytes"},
        {"{\"modes\": {\"multipart\": {\"fileField\": \"\"}}}", NULL,
         "destination.upload.modes.multipart.fileField"},
        {"{\"modes\": {\"multipart\": {\"metadataField\": \"m\"}}}", NULL,
         "destination.upload.modes.multipart.metadataField"},
        {"{\"modes\": {\"chunked\": {}}}",
         "{\"sessionStart\": \"/s/{transactionId}\","
         " \"sessionPart\": \"/parts/{partNumber}\","
         " \"sessionComplete\": \"/c/{sessionId}\"}",
         "destination.endpoints.sessionPart"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ds_connector *c;
        ds_err err;

        ds_err_clear(&err);
        c = with_upload(cases[i].upload, cases[i].endpoints, &err);
        if (c != NULL)
            fail_msg("case %zu accepted: %s", i, cases[i].upload);
        if (strstr(err.msg, cases[i].field) == NULL)
            fail_msg("case %zu: '%s' does not name %s", i, err.msg,
                     cases[i].field);
        assert_string_equal(err.reason, "bad_connector");
    }
}

/* A part template may use {sessionId} and {partNumber}; an upload
 * template may not. */
static void session_variables_belong_to_session_endpoints(void **state)
{
    ds_connector *c;
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    c = with_upload("{\"modes\": {\"chunked\": {}}}", SESSION_ENDPOINTS,
                    &err);
    assert_non_null(c);
    ds_connector_free(c);
    c = with_upload("{}", "{\"upload\": \"/v1/x/{sessionId}\"}", &err);
    assert_null(c);
    assert_non_null(strstr(err.msg, "{sessionId}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(multipart_is_cheapest_where_it_is_offered),
        cmocka_unit_test(json_or_chunked_by_what_they_cost),
        cmocka_unit_test(sizes_over_4_gib_are_counted_whole),
        cmocka_unit_test(over_every_limit_is_too_large),
        cmocka_unit_test(chunked_below_its_floor_is_not_offered),
        cmocka_unit_test(the_one_mode_form_is_one_mode),
        cmocka_unit_test(defaults_of_each_mode),
        cmocka_unit_test(bad_modes_are_refused_naming_the_field),
        cmocka_unit_test(session_variables_belong_to_session_endpoints),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
