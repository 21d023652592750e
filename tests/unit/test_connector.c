/*
 * test_connector.c - the connector file: the built-in connector sends
 * exactly the paths and headers docsync always sent; every file shipped in
 * connectors/ loads; a bad file is refused with the field named by its
 * dotted path (data cases in tests/unit/data/connector/); templates
 * percent-encode their values; field rules find dotted paths, take
 * defaults, fail on a required field and convert times between rfc3339,
 * epoch_s and epoch_ms; checksums compare in hex and base64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ds_connector.h"
#include "ds_fields.h"

#define DATA "tests/unit/data/connector/"

/* The variables every connector of these tests may read, cleared. */
static void clear_env(void)
{
    static const char *const names[] = {
        "CONNECTOR_FILE", "CRM_BASE_URL", "CRM_API_KEY", "CRM_API_KEY_FILE",
        "CRM_API_KEY_HEADER", "DEST_BASE_URL", "DEST_API_KEY",
        "DEST_API_KEY_FILE", "DEST_API_KEY_HEADER", "CRM_CLIENT_SECRET",
        "CRM_SUBSCRIPTION_KEY", "DEST_CLIENT_SECRET", "DEST_REFRESH_TOKEN",
        "TC_CRM_KEY", "TC_DEST_SECRET", "TC_NUMBER"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
}

static ds_connector *load_ok(const char *path)
{
    ds_connector *c;
    ds_err err;

    ds_err_clear(&err);
    c = path != NULL ? ds_connector_load_file(path, &err) :
        ds_connector_load(&err);
    if (c == NULL)
        print_message("%s: %s (%s)\n", path ? path : "built-in", err.msg,
                      err.reason);
    assert_non_null(c);
    return c;
}

static const ds_connector_api *open_ok(ds_connector *c, ds_side side)
{
    const ds_connector_api *api = NULL;
    ds_err err;

    ds_err_clear(&err);
    if (ds_connector_open(c, side, &api, &err) < 0)
        print_message("open: %s (%s)\n", err.msg, err.reason);
    assert_non_null(api);
    return api;
}

/* Expands endpoint with the usual ids and asserts the result. */
static void assert_path(const ds_connector *c, ds_side side,
                        const char *endpoint, const char *want)
{
    const ds_tpl_var vars[] = {
        {"documentId", "doc_1"}, {"transactionId", "txn_1"},
        {"accountId", "acc_1"}, {"destinationDocumentId", "tdoc_1"},
        {"since", "2026-12-03T17:00:00.000Z"}, {"cursor", "c1"},
        {NULL, NULL}};
    char path[512];
    ds_err err;

    ds_err_clear(&err);
    assert_int_equal(ds_connector_path(c, side, endpoint, vars, path,
                                       sizeof(path), &err), 0);
    assert_string_equal(path, want);
}

static void the_built_in_connector_sends_todays_paths_and_headers(void **s)
{
    const ds_connector_api *src, *dst;
    ds_connector *c;

    (void)s;
    clear_env();
    setenv("CRM_BASE_URL", "http://crm.test:1", 1);
    setenv("CRM_API_KEY", "crm-secret", 1);
    setenv("CRM_API_KEY_HEADER", "X-Crm-Key", 1);
    setenv("DEST_API_KEY", "dest-secret", 1);
    c = load_ok(NULL);
    src = open_ok(c, DS_SIDE_SOURCE);
    dst = open_ok(c, DS_SIDE_DESTINATION);

    assert_string_equal(ds_connector_label(c), "(built-in)");
    assert_string_equal(src->id, "source");
    assert_string_equal(src->base_url, "http://crm.test:1");
    assert_int_equal(src->auth.kind, DS_AUTH_API_KEY);
    assert_string_equal(src->auth.header, "X-Crm-Key");
    assert_string_equal(src->auth.secret, "crm-secret");
    assert_null(src->headers[0]);
    assert_false(src->has_rate);
    assert_string_equal(dst->id, "destination");
    assert_string_equal(dst->base_url, "http://localhost:8090");
    assert_string_equal(dst->auth.header, "X-API-Key");
    assert_string_equal(dst->auth.secret, "dest-secret");
    assert_path(c, DS_SIDE_SOURCE, "metadata", "/api/v1/documents/doc_1");
    assert_path(c, DS_SIDE_SOURCE, "content",
                "/api/v1/documents/doc_1/content");
    assert_path(c, DS_SIDE_DESTINATION, "upload",
                "/v1/transactions/txn_1/documents");
    assert_path(c, DS_SIDE_DESTINATION, "search",
                "/v1/transactions/txn_1/documents?sourceDocumentId=doc_1");
    assert_path(c, DS_SIDE_DESTINATION, "document", "/v1/documents/tdoc_1");
    assert_path(c, DS_SIDE_DESTINATION, "accounts",
                "/v1/transactions?accountId=acc_1");
    ds_connector_free(c);
}

/* The file form of the built-in connector says the same. */
static void sandbox_apikey_json_equals_the_built_in_connector(void **s)
{
    ds_connector *a, *b;

    (void)s;
    clear_env();
    a = load_ok(NULL);
    b = load_ok("connectors/sandbox-apikey.json");
    assert_true(json_equal(ds_connector_get(a, "source.endpoints"),
                           ds_connector_get(b, "source.endpoints")));
    assert_true(json_equal(ds_connector_get(a, "destination.endpoints"),
                           ds_connector_get(b, "destination.endpoints")));
    assert_true(json_equal(ds_connector_get(a, "destination.document"),
                           ds_connector_get(b, "destination.document")));
    assert_true(json_equal(ds_connector_get(a, "destination.search"),
                           ds_connector_get(b, "destination.search")));
    assert_true(json_equal(ds_connector_get(a, "destination.upload.modes"),
                           ds_connector_get(b, "destination.upload.modes")));
    assert_true(json_equal(
        ds_connector_get(a, "destination.upload.maxFileNameBytes"),
        ds_connector_get(b, "destination.upload.maxFileNameBytes")));
    assert_int_equal(json_object_size(ds_connector_get(
                         a, "destination.upload.fields")), 5);
    assert_int_equal(json_object_size(ds_connector_get(
                         b, "destination.upload.fields")), 5);
    ds_connector_free(a);
    ds_connector_free(b);
}

static void every_shipped_connector_loads(void **s)
{
    const ds_connector_api *src, *dst;
    ds_connector *c;

    (void)s;
    clear_env();
    setenv("CRM_API_KEY", "k1", 1);
    setenv("DEST_API_KEY", "k2", 1);
    setenv("CRM_CLIENT_SECRET", "crm-secret", 1);
    setenv("CRM_SUBSCRIPTION_KEY", "sub-key", 1);
    setenv("DEST_CLIENT_SECRET", "tx-secret", 1);
    setenv("DEST_REFRESH_TOKEN", "rt-seed-tx", 1);

    c = load_ok("connectors/sandbox-apikey.json");
    assert_int_equal(open_ok(c, DS_SIDE_SOURCE)->auth.kind, DS_AUTH_API_KEY);
    ds_connector_free(c);

    c = load_ok("connectors/sandbox-oauth2.json");
    src = open_ok(c, DS_SIDE_SOURCE);
    dst = open_ok(c, DS_SIDE_DESTINATION);
    assert_int_equal(src->auth.kind, DS_AUTH_OAUTH2_CLIENT);
    assert_string_equal(src->auth.client_id, "docsync-crm");
    assert_string_equal(src->auth.client_secret, "crm-secret");
    assert_string_equal(src->auth.token_url,
                        "http://localhost:8090/oauth/token");
    assert_int_equal(src->rate.requests, 20);
    assert_int_equal(src->rate.window_ms, 1000);
    assert_int_equal(src->rate.reset_unit, DS_RESET_MS);
    assert_int_equal(dst->auth.kind, DS_AUTH_OAUTH2_REFRESH);
    assert_string_equal(dst->auth.refresh_token, "rt-seed-tx");
    assert_int_equal(dst->rate.reset_unit, DS_RESET_SECONDS);
    assert_string_equal(json_string_value(ds_connector_get(
                            c, "transactions.source")), "file");
    ds_connector_free(c);

    c = load_ok("connectors/vendor-example.json");
    src = open_ok(c, DS_SIDE_SOURCE);
    assert_string_equal(src->headers[0],
                        "Ocp-Apim-Subscription-Key: sub-key");
    assert_null(src->headers[1]);
    assert_path(c, DS_SIDE_DESTINATION, "document",
                "/vendor/tx/public/v2/loop/txn_1/document/tdoc_1");
    ds_connector_free(c);
}

/* Each bad file and the words its error must hold. */
static const struct {
    const char *file;
    const char *want;
} BAD[] = {
    {"bad_missing_token_url.json", "destination.auth.tokenUrl: missing"},
    {"bad_template_variable.json",
     "source.endpoints.metadata: unknown variable {docId}"},
    {"bad_unknown_key.json", "destination.endpiont: unknown key"},
    {"bad_wrong_type.json",
     "source.rateLimit.requests: not a whole number"},
    {"bad_literal_secret.json",
     "source.auth.key: a secret is never written in the file"},
    {"bad_format_name.json",
     "source.fields.createdAt.format: unknown format iso"},
    {"bad_checksum_encoding.json",
     "destination.document.checksum.encoding: unknown value \"base32\""},
    {"bad_auth_key_for_type.json",
     "source.auth.tokenUrl: not used by auth type api_key"},
    {"bad_unknown_auth_type.json",
     "source.auth.type: unknown value \"digest\""},
    {"bad_missing_upload_endpoint.json",
     "destination.endpoints.upload: missing"},
    {"bad_rule_key.json", "destination.upload.fields.name.form: unknown key"},
    {"bad_not_json.json", "line 2"},
    {"bad_source_field_name.json", "source.fields.acountId: not a docsync "
     "field (documentId, accountId"},
    {"bad_list_since_format.json",
     "source.list.sinceFormat: unknown value \"unix\""},
};

static void a_bad_connector_is_refused_naming_the_field(void **s)
{
    char path[256], want[320];
    ds_connector *c;
    ds_err err;
    size_t i;

    (void)s;
    clear_env();
    for (i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        snprintf(path, sizeof(path), DATA "%s", BAD[i].file);
        snprintf(want, sizeof(want), "connector %s: %s", BAD[i].file,
                 BAD[i].want);
        ds_err_clear(&err);
        c = ds_connector_load_file(path, &err);
        assert_null(c);
        assert_string_equal(err.reason, "bad_connector");
        if (strstr(err.msg, want) == NULL)
            print_message("%s: got \"%s\", want \"%s\"\n", BAD[i].file,
                          err.msg, want);
        assert_non_null(strstr(err.msg, want));
    }
}

static void a_connector_file_that_cannot_be_read_says_so(void **s)
{
    ds_connector *c;
    ds_err err;

    (void)s;
    clear_env();
    ds_err_clear(&err);
    c = ds_connector_load_file(DATA "no_such_file.json", &err);
    assert_null(c);
    assert_string_equal(err.reason, "bad_connector");
    assert_string_equal(err.msg, "connector " DATA "no_such_file.json: "
                        "cannot read: No such file or directory");
}

static void the_minimal_good_file_loads(void **s)
{
    ds_connector *c;

    (void)s;
    clear_env();
    setenv("TC_CRM_KEY", "k", 1);
    setenv("TC_DEST_SECRET", "s", 1);
    c = load_ok(DATA "good_minimal.json");
    assert_int_equal(open_ok(c, DS_SIDE_DESTINATION)->auth.kind,
                     DS_AUTH_OAUTH2_CLIENT);
    ds_connector_free(c);
}

static void a_secret_that_is_not_set_is_named_by_its_field(void **s)
{
    const ds_connector_api *api;
    ds_connector *c;
    ds_err err;

    (void)s;
    clear_env();
    setenv("TC_CRM_KEY", "k", 1);
    c = load_ok(DATA "good_minimal.json");
    ds_err_clear(&err);
    assert_int_equal(ds_connector_open(c, DS_SIDE_DESTINATION, &api, &err),
                     -1);
    assert_string_equal(err.reason, "config_missing");
    assert_non_null(strstr(err.msg, "destination.auth.clientSecret: "
                                    "TC_DEST_SECRET"));
    ds_connector_free(c);
}

static void env_values_take_the_type_of_their_default(void **s)
{
    const char *text =
        "{\"source\": {\"baseUrl\": \"http://x\", \"auth\": {\"type\": "
        "\"none\"}, \"rateLimit\": {\"requests\": {\"env\": \"TC_NUMBER\", "
        "\"default\": 7}}, \"endpoints\": {\"metadata\": \"/m\", "
        "\"content\": \"/c\"}}, \"destination\": {\"baseUrl\": \"http://x\","
        " \"auth\": {\"type\": \"none\"}, \"endpoints\": {\"upload\": \"/u\","
        " \"document\": \"/d\"}}}";
    ds_connector *c;
    long long n;
    ds_err err;

    (void)s;
    clear_env();
    ds_err_clear(&err);
    c = ds_connector_load_text("t.json", text, &err);
    assert_non_null(c);
    assert_int_equal(ds_connector_integer(c, "source.rateLimit.requests", 0,
                                          &n, &err), 0);
    assert_int_equal(n, 7);
    ds_connector_free(c);

    setenv("TC_NUMBER", "25", 1);
    c = ds_connector_load_text("t.json", text, &err);
    assert_non_null(c);
    assert_int_equal(ds_connector_integer(c, "source.rateLimit.requests", 0,
                                          &n, &err), 0);
    assert_int_equal(n, 25);
    assert_int_equal(ds_connector_string(c, "source.rateLimit.requests",
                                         "x", &text, &err), -1);
    assert_non_null(strstr(err.msg, "source.rateLimit.requests: not a "
                                    "string"));
    ds_connector_free(c);

    setenv("TC_NUMBER", "twenty", 1);
    ds_err_clear(&err);
    assert_null(ds_connector_load_text("t.json", text, &err));
    assert_string_equal(err.reason, "config_invalid");
    assert_non_null(strstr(err.msg, "source.rateLimit.requests: TC_NUMBER "
                                    "is not a whole number"));
    unsetenv("TC_NUMBER");
}

static void template_values_are_percent_encoded(void **s)
{
    const ds_tpl_var vars[] = {{"documentId", "a b/ü?&=~x-1_2.3"},
                               {"cursor", NULL}, {NULL, NULL}};
    char out[256];
    ds_err err;

    (void)s;
    ds_err_clear(&err);
    assert_int_equal(ds_template_expand("/d/{documentId}/c?x={documentId}",
                                        vars, out, sizeof(out), &err), 0);
    assert_string_equal(out, "/d/a%20b%2F%C3%BC%3F%26%3D~x-1_2.3/c?x="
                             "a%20b%2F%C3%BC%3F%26%3D~x-1_2.3");

    /* A variable without a value here is the message's fault. */
    assert_int_equal(ds_template_expand("/l?c={cursor}", vars, out,
                                        sizeof(out), &err), -1);
    assert_string_equal(err.reason, "bad_message");
    assert_non_null(strstr(err.msg, "{cursor} has no value"));

    ds_err_clear(&err);
    assert_int_equal(ds_template_expand("/d/{documentId}", vars, out, 8,
                                        &err), -1);
    assert_string_equal(err.reason, "bad_config");
}

static json_t *apply(const char *rules, const char *in, ds_err *err)
{
    json_t *r = json_loads(rules, 0, NULL);
    json_t *i = json_loads(in, 0, NULL);
    json_t *out;

    assert_non_null(r);
    assert_non_null(i);
    ds_err_clear(err);
    out = ds_fields_apply(r, i, "bad_response", err);
    json_decref(r);
    json_decref(i);
    return out;
}

static void field_rules_follow_dotted_paths_and_defaults(void **s)
{
    ds_err err;
    json_t *out = apply(
        "{\"accountId\": {\"from\": \"file.owner.accountId\", \"required\": "
        "true}, \"mimeType\": {\"from\": \"file.type\", \"default\": "
        "\"application/octet-stream\"}, \"notes\": {}, \"size\": {}}",
        "{\"file\": {\"owner\": {\"accountId\": 42}}, \"notes\": null, "
        "\"size\": 9}", &err);

    (void)s;
    assert_non_null(out);
    assert_int_equal(json_integer_value(json_object_get(out, "accountId")),
                     42);
    assert_string_equal(json_string_value(json_object_get(out, "mimeType")),
                        "application/octet-stream");
    assert_null(json_object_get(out, "notes"));
    assert_int_equal(json_integer_value(json_object_get(out, "size")), 9);
    json_decref(out);

    out = apply("{\"fileName\": {\"from\": \"file.title\", \"required\": "
                "true}}", "{\"file\": {}}", &err);
    assert_null(out);
    assert_string_equal(err.reason, "bad_response");
    assert_string_equal(err.msg, "fileName (from file.title): missing");
}

static void field_names_with_dots_build_nested_objects(void **s)
{
    ds_err err;
    json_t *out = apply(
        "{\"meta.title\": {\"from\": \"fileName\"}, \"meta.owner.id\": "
        "{\"from\": \"accountId\"}, \"name\": {\"from\": \"fileName\"}}",
        "{\"fileName\": \"a.pdf\", \"accountId\": \"acc_1\"}", &err);

    (void)s;
    assert_non_null(out);
    assert_null(json_object_get(out, "meta.title"));
    assert_string_equal(json_string_value(ds_json_path(out, "meta.title")),
                        "a.pdf");
    assert_string_equal(json_string_value(ds_json_path(out,
                        "meta.owner.id")), "acc_1");
    assert_string_equal(json_string_value(json_object_get(out, "name")),
                        "a.pdf");
    assert_int_equal(json_object_size(json_object_get(out, "meta")), 2);
    json_decref(out);
}

/* One conversion: the value in (JSON text) with rule keys, and the JSON
 * text it must become. */
static void assert_time(const char *rule, const char *in, const char *want)
{
    char rules[256], input[128];
    json_t *out, *w = json_loads(want, JSON_DECODE_ANY, NULL);
    ds_err err;

    snprintf(rules, sizeof(rules), "{\"t\": {%s}}", rule);
    snprintf(input, sizeof(input), "{\"t\": %s}", in);
    out = apply(rules, input, &err);
    if (out == NULL)
        print_message("%s on %s: %s\n", rule, in, err.msg);
    assert_non_null(out);
    if (!json_equal(json_object_get(out, "t"), w)) {
        char *got = json_dumps(json_object_get(out, "t"), JSON_ENCODE_ANY);

        print_message("%s on %s: got %s, want %s\n", rule, in, got, want);
        free(got);
    }
    assert_true(json_equal(json_object_get(out, "t"), w));
    json_decref(out);
    json_decref(w);
}

static void field_rules_convert_between_time_formats(void **s)
{
    ds_err err;
    json_t *out;

    (void)s;
    assert_time("\"format\": \"epoch_ms\"", "\"2026-12-03T17:00:01.250Z\"",
                "1796317201250");
    assert_time("\"format\": \"epoch_s\"", "\"2026-12-03T18:00:01+01:00\"",
                "1796317201");
    assert_time("\"format\": \"rfc3339\"", "1796317201250",
                "\"2026-12-03T17:00:01.250Z\"");
    assert_time("\"format\": \"rfc3339\"", "1796317201",
                "\"2026-12-03T17:00:01.000Z\"");
    assert_time("\"format\": \"epoch_ms\", \"fromFormat\": \"epoch_s\"",
                "5", "5000");
    assert_time("\"format\": \"epoch_s\", \"fromFormat\": \"epoch_ms\"",
                "1796317201999", "1796317201");
    assert_time("\"format\": \"rfc3339\"", "\"2026-12-03T17:00:01.5Z\"",
                "\"2026-12-03T17:00:01.500Z\"");

    out = apply("{\"t\": {\"format\": \"epoch_ms\"}}", "{\"t\": \"soon\"}",
                &err);
    assert_null(out);
    assert_string_equal(err.reason, "bad_response");
    assert_non_null(strstr(err.msg, "t (from t): not a time"));
}

static void checksums_compare_in_hex_and_base64(void **s)
{
    const char *hex = "8f3b1c0ad6e4c3f0c1b2a3d4e5f60718";

    (void)s;
    assert_true(ds_checksum_equal(hex, "8F3B1C0AD6E4C3F0C1B2A3D4E5F60718",
                                  "hex"));
    assert_true(ds_checksum_equal(hex, "jzscCtbkw/DBsqPU5fYHGA==",
                                  "base64"));
    assert_false(ds_checksum_equal(hex, "jzscCtbkw/DBsqPU5fYHGQ==",
                                   "base64"));
    assert_false(ds_checksum_equal(hex, "not base64", "base64"));
    assert_false(ds_checksum_equal(hex, NULL, "hex"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_built_in_connector_sends_todays_paths_and_headers),
        cmocka_unit_test(sandbox_apikey_json_equals_the_built_in_connector),
        cmocka_unit_test(every_shipped_connector_loads),
        cmocka_unit_test(a_bad_connector_is_refused_naming_the_field),
        cmocka_unit_test(a_connector_file_that_cannot_be_read_says_so),
        cmocka_unit_test(the_minimal_good_file_loads),
        cmocka_unit_test(a_secret_that_is_not_set_is_named_by_its_field),
        cmocka_unit_test(env_values_take_the_type_of_their_default),
        cmocka_unit_test(template_values_are_percent_encoded),
        cmocka_unit_test(field_rules_follow_dotted_paths_and_defaults),
        cmocka_unit_test(field_names_with_dots_build_nested_objects),
        cmocka_unit_test(field_rules_convert_between_time_formats),
        cmocka_unit_test(checksums_compare_in_hex_and_base64),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
