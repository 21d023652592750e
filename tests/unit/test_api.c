/*
 * test_api.c - ds_api, the one call path to an API: every request carries
 * the connector's fixed headers, the credential and the caller's own
 * headers, goes to base URL + path, and a 401 is never answered by an
 * endless series of retries. Against a small server in this process that
 * records what it was sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_api.h"
#include "fixture.h"

typedef struct server {
    struct MHD_Daemon *d;
    char base[64];
    int status;          /* what every request is answered with */
    int requests;
    char url[256], key[64], fixed[64], own[64];
} server;

static void copy_header(struct MHD_Connection *c, const char *name,
                        char *out, size_t cap)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

    snprintf(out, cap, "%s", v != NULL ? v : "");
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *data,
                              size_t *len, void **con_cls)
{
    server *s = cls;
    const char *body = s->status == 200 ? "{\"ok\": true}" :
                       "{\"error\": \"invalid_token\"}";
    struct MHD_Response *r;
    enum MHD_Result rc;

    (void)method;
    (void)version;
    (void)data;
    (void)len;
    (void)con_cls;
    s->requests++;
    snprintf(s->url, sizeof(s->url), "%s", url);
    copy_header(c, "X-Test-Key", s->key, sizeof(s->key));
    copy_header(c, "X-Fixed", s->fixed, sizeof(s->fixed));
    copy_header(c, "X-Own", s->own, sizeof(s->own));
    r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                        MHD_RESPMEM_PERSISTENT);
    if (s->status == 401)
        MHD_add_response_header(r, "WWW-Authenticate",
                                "Bearer error=\"invalid_token\"");
    rc = MHD_queue_response(c, (unsigned)s->status, r);
    MHD_destroy_response(r);
    return rc;
}

typedef struct suite {
    fx f;                /* Redis: every API keeps its budget there */
    server srv;
    ds_connector *connector;
    ds_api api;
} suite;

static const char CONNECTOR[] =
    "{\"source\": {\"baseUrl\": {\"env\": \"TA_URL\"},"
    " \"auth\": {\"type\": \"api_key\", \"header\": \"X-Test-Key\","
    "  \"key\": {\"secretEnv\": \"TA_KEY\"}},"
    " \"headers\": {\"X-Fixed\": \"fixed-value\"},"
    " \"endpoints\": {\"metadata\": \"/m/{documentId}\", \"content\": \"/c\"}},"
    " \"destination\": {\"baseUrl\": \"http://127.0.0.1:1\","
    " \"auth\": {\"type\": \"none\"},"
    " \"endpoints\": {\"upload\": \"/u\", \"document\": \"/d\"}}}";

static int setup(void **state)
{
    suite *s = calloc(1, sizeof(*s));
    const union MHD_DaemonInfo *info;
    ds_err err;

    *state = s;
    if (s == NULL || fx_start(&s->f, FX_REDIS) < 0 || !s->f.ready)
        return -1;
    snprintf(s->srv.url, sizeof(s->srv.url), "%d", s->f.redis_port);
    setenv("REDIS_HOST", "127.0.0.1", 1);
    setenv("REDIS_PORT", s->srv.url, 1);
    s->srv.url[0] = '\0';
    s->srv.status = 200;
    s->srv.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                                NULL, answer, &s->srv, MHD_OPTION_END);
    if (s->srv.d == NULL)
        return -1;
    info = MHD_get_daemon_info(s->srv.d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(s->srv.base, sizeof(s->srv.base), "http://127.0.0.1:%u",
             (unsigned)info->port);
    setenv("TA_URL", s->srv.base, 1);
    setenv("TA_KEY", "the-key", 1);
    unsetenv("TA_KEY_FILE");
    ds_err_clear(&err);
    s->connector = ds_connector_load_text("api.json", CONNECTOR, &err);
    if (s->connector == NULL ||
        ds_api_init(&s->api, s->connector, DS_SIDE_SOURCE, &err) < 0) {
        print_message("setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    suite *s = *state;

    ds_api_clear(&s->api);
    ds_connector_free(s->connector);
    MHD_stop_daemon(s->srv.d);
    fx_stop(&s->f);
    free(s);
    return 0;
}

static void a_request_carries_fixed_headers_credential_and_its_own(
    void **state)
{
    suite *s = *state;
    const char *own[] = {"X-Own: mine", NULL};
    ds_http_resp resp = {0};
    ds_http_req req = {0};
    ds_err err;

    ds_err_clear(&err);
    req.headers = own;

    assert_int_equal(ds_api_do(&s->api, "GET", "/m/doc_1", &req, &resp,
                               &err), 0);

    assert_int_equal(resp.status, 200);
    assert_string_equal(s->srv.url, "/m/doc_1");
    assert_string_equal(s->srv.key, "the-key");
    assert_string_equal(s->srv.fixed, "fixed-value");
    assert_string_equal(s->srv.own, "mine");
    /* The caller's list is its own again afterwards. */
    assert_ptr_equal(req.headers, own);
    ds_http_resp_clear(&resp);
}

static void get_json_returns_the_answer_object(void **state)
{
    suite *s = *state;
    json_t *body;
    ds_err err;

    ds_err_clear(&err);
    body = ds_api_get_json(&s->api, "/m/x", &err);

    assert_non_null(body);
    assert_true(json_is_true(json_object_get(body, "ok")));
    assert_string_equal(s->srv.key, "the-key");
    json_decref(body);
}

/* A credential the API keeps refusing: one more try at most, then the
 * refusal is the answer. */
static void a_401_is_sent_again_at_most_once(void **state)
{
    suite *s = *state;
    ds_http_resp resp = {0};
    ds_http_req req = {0};
    ds_err err;

    s->srv.status = 401;
    ds_err_clear(&err);

    assert_int_equal(ds_api_do(&s->api, "GET", "/m/doc_1", &req, &resp,
                               &err), -1);

    assert_int_not_equal(err.klass, DS_CLASS_NONE);
    assert_in_range(s->srv.requests, 1, 2);
    ds_http_resp_clear(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_request_carries_fixed_headers_credential_and_its_own, setup,
            teardown),
        cmocka_unit_test_setup_teardown(get_json_returns_the_answer_object,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_401_is_sent_again_at_most_once,
                                        setup, teardown),
    };

    ds_http_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
