/*
 * test_stage_ingest.c - ingest's webhook checks, called directly:
 * signature_ok() over the raw body bytes (C01), and judge(), which turns a
 * received body into the answer the sender gets: 401 for a bad signature,
 * 400 for bytes that are not UTF-8 JSON (C04) or a missing field, 200 for
 * an event type docsync does not handle, 413 past the size limit, and 503
 * when no broker confirms the event (C15). The bodies are data cases in
 * tests/unit/data/webhook/.
 *
 * judge() reads the signature header from its libmicrohttpd connection.
 * Rather than serve HTTP, the test gives it a fake connection: the macro
 * below routes MHD_lookup_connection_value to fake_lookup, which answers
 * from the fake. Everything after the header lookup is the real code,
 * including the real Kafka producer, pointed at a port nobody listens on.
 * Each answer is counted on the metrics registry under its result, as
 * GET /metrics shows it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <strings.h>

#include "fixture.h"

/* The one header a fake connection carries. */
typedef struct fake_conn {
    const char *name;
    const char *value;    /* NULL: the request had no such header */
} fake_conn;

/* Stands in for MHD_lookup_connection_value on a fake connection. */
static const char *fake_lookup(struct MHD_Connection *conn,
                               enum MHD_ValueKind kind, const char *key)
{
    const fake_conn *c = (const fake_conn *)conn;

    /* Header names are case-insensitive in HTTP, as in libmicrohttpd. */
    if (kind != MHD_HEADER_KIND || strcasecmp(key, c->name) != 0)
        return NULL;
    return c->value;
}

/* The stage's own file, so that its static functions are in reach. */
#define MHD_lookup_connection_value fake_lookup
#define main ingest_main_unused
#include "../../ingest/ingest.c"
#undef main
#undef MHD_lookup_connection_value

#define DATA "tests/unit/data/webhook/"
#define SECRET "test_secret"
#define MAX_BODY 1024

/* HMAC-SHA256 of body.json (167 bytes, trailing newline included) under
 * SECRET, computed independently:
 *   openssl dgst -sha256 -hmac test_secret tests/unit/data/webhook/body.json
 */
#define BODY_HMAC \
    "4c7db549a7d33045576cdb517290114ef47adb09b32ec2db1cf733586b81dbb7"

typedef struct suite {
    fx f;
    ingest in;
    int configured;
} suite;

/* The whole data case file name, bytes as they are on disk. */
static char *read_case(const char *name, size_t *len)
{
    char path[256];
    char *bytes;
    FILE *fp;

    snprintf(path, sizeof(path), DATA "%s", name);
    *len = fx_file_size(path);
    bytes = malloc(*len + 1);
    fp = fopen(path, "rb");
    assert_non_null(bytes);
    assert_non_null(fp);
    assert_int_equal(fread(bytes, 1, *len, fp), *len);
    bytes[*len] = '\0';
    fclose(fp);
    return bytes;
}

/* HMAC-SHA256 of n bytes under key as lower-case hex, with OpenSSL's
 * one-shot HMAC rather than the code under test. */
static void sign(const char *key, const void *bytes, size_t n,
                 char hex[DS_SHA256_HEX_LEN + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    unsigned int i;

    assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), bytes, n, mac,
                         &mac_len));
    assert_int_equal(mac_len, 32);
    for (i = 0; i < mac_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

/* A private Redis, and ingest configured from the environment as its main
 * would, with a broker address where nothing listens and a delivery bound
 * of 1 s. */
static int setup(void **state)
{
    suite *s = calloc(1, sizeof(*s));
    char brokers[32];
    ds_err err;

    if (s == NULL)
        return -1;
    *state = s;
    if (fx_start(&s->f, FX_REDIS) < 0)
        return -1;
    fx_stage_env(&s->f);
    snprintf(brokers, sizeof(brokers), "127.0.0.1:%d", fx_free_port());
    setenv("KAFKA_BROKERS", brokers, 1);
    setenv("INGEST_DELIVERY_TIMEOUT_MS", "1000", 1);
    setenv("WEBHOOK_SECRET", SECRET, 1);
    fx_setenv_long("WEBHOOK_MAX_BODY", MAX_BODY);
    ds_err_clear(&err);
    if (configure(&s->in, &err) < 0) {
        print_message("configure: %s: %s\n", err.reason, err.msg);
        return -1;
    }
    s->configured = 1;
    return 0;
}

/* What ingest's main does after serving. */
static int teardown(void **state)
{
    suite *s = *state;

    if (s->configured) {
        ds_producer_free(s->in.producer);
        ds_redis_free(s->in.redis);
        pthread_mutex_destroy(&s->in.redis_lock);
        free(s->in.secret);
    }
    fx_stop(&s->f);
    free(s);
    return 0;
}

/* Receives bytes as on_request does, in slices of 100 bytes the way a
 * connection may deliver them, then judges them with the signature header
 * signature (NULL: no header). */
static void receive_and_judge(suite *s, const char *bytes, size_t len,
                              const char *signature, verdict *v)
{
    fake_conn conn = {"X-Signature", signature};
    request req = {0};
    size_t at, n;

    for (at = 0; at < len; at += n) {
        n = len - at < 100 ? len - at : 100;
        gather(&s->in, &req, bytes + at, n);
    }
    memset(v, 0, sizeof(*v));
    v->result = "rejected";
    judge(&s->in, (struct MHD_Connection *)&conn, &req, v);
    print_message("judged: %u %s %s %s\n", v->status, v->result,
                  v->reason ? v->reason : "-", v->detail);
    free(req.body);
}

/* Judges the data case file name, signed correctly over its bytes. */
static void judge_case(suite *s, const char *name, verdict *v)
{
    char sig[DS_SHA256_HEX_LEN + 1];
    size_t len;
    char *body = read_case(name, &len);

    sign(SECRET, body, len, sig);
    receive_and_judge(s, body, len, sig, v);
    free(body);
}

/* signature_ok() on bytes with the header value header. */
static int signature_accepts(const char *bytes, size_t len,
                             const char *header)
{
    ingest in = {.secret = SECRET};
    request req = {.body = (char *)bytes, .len = len};

    return signature_ok(&in, header, &req);
}

/* C01: the signature covers the raw bytes, newline included. */
static void the_hmac_of_the_raw_bytes_with_their_newline_is_accepted(
    void **state)
{
    char sig[DS_SHA256_HEX_LEN + 1];
    size_t len;
    char *body = read_case("body.json", &len);

    (void)state;
    assert_int_equal(body[len - 1], '\n');
    sign(SECRET, body, len, sig);
    assert_string_equal(sig, BODY_HMAC);

    assert_true(signature_accepts(body, len, BODY_HMAC));
    free(body);
}

static void the_hmac_of_the_body_without_its_newline_is_rejected(
    void **state)
{
    char sig[DS_SHA256_HEX_LEN + 1];
    size_t len;
    char *body = read_case("body.json", &len);

    (void)state;
    sign(SECRET, body, len - 1, sig);

    assert_false(signature_accepts(body, len, sig));
    free(body);
}

/* C01: the same event pretty-printed and signed over its own bytes. */
static void a_pretty_body_signed_over_its_own_bytes_is_accepted(
    void **state)
{
    char sig[DS_SHA256_HEX_LEN + 1];
    size_t len;
    char *body = read_case("body_pretty.json", &len);

    (void)state;
    sign(SECRET, body, len, sig);

    assert_true(signature_accepts(body, len, sig));
    free(body);
}

/* C01: a receiver that parses and re-serialises before checking would
 * accept this signature; the bytes received were never signed with it. */
static void the_hmac_of_reserialised_json_is_rejected_for_a_pretty_body(
    void **state)
{
    char sig[DS_SHA256_HEX_LEN + 1];
    size_t len;
    char *body = read_case("body_pretty.json", &len);
    json_t *parsed = json_loadb(body, len, 0, NULL);
    char *compact = json_dumps(parsed, JSON_COMPACT);

    (void)state;
    assert_non_null(compact);
    assert_string_not_equal(compact, body);
    sign(SECRET, compact, strlen(compact), sig);

    assert_false(signature_accepts(body, len, sig));
    free(compact);
    json_decref(parsed);
    free(body);
}

static void a_sha256_prefix_and_upper_case_hex_are_accepted(void **state)
{
    char upper[DS_SHA256_HEX_LEN + 1], header[80];
    size_t len, i;
    char *body = read_case("body.json", &len);

    (void)state;
    for (i = 0; i <= DS_SHA256_HEX_LEN; i++)
        upper[i] = (char)toupper((unsigned char)BODY_HMAC[i]);
    snprintf(header, sizeof(header), "sha256=%s", BODY_HMAC);

    assert_true(signature_accepts(body, len, header));
    assert_true(signature_accepts(body, len, upper));
    snprintf(header, sizeof(header), "sha256=%s", upper);
    assert_true(signature_accepts(body, len, header));
    free(body);
}

static void a_signature_of_the_wrong_length_is_rejected(void **state)
{
    char longer[DS_SHA256_HEX_LEN + 2];
    size_t len;
    char *body = read_case("body.json", &len);

    (void)state;
    snprintf(longer, sizeof(longer), "%s0", BODY_HMAC);

    assert_false(signature_accepts(body, len, longer));
    assert_false(signature_accepts(body, len, BODY_HMAC + 1));
    assert_false(signature_accepts(body, len, "sha256="));
    assert_false(signature_accepts(body, len, ""));
    assert_false(signature_accepts(body, len, NULL));
    free(body);
}

static void a_body_signed_with_another_secret_gets_401(void **state)
{
    suite *s = *state;
    char sig[DS_SHA256_HEX_LEN + 1];
    size_t len;
    char *body = read_case("body.json", &len);
    verdict v;

    sign("not_the_secret", body, len, sig);
    receive_and_judge(s, body, len, sig, &v);

    assert_int_equal(v.status, 401);
    assert_string_equal(v.reason ? v.reason : "(none)", "bad_signature");
    free(body);
}

/* C04: Latin-1 bytes in fileName, in a body signed correctly. */
static void latin1_bytes_in_a_signed_body_get_400_invalid_json(void **state)
{
    suite *s = *state;
    json_t *detail;
    verdict v;

    judge_case(s, "latin1_file_name.json", &v);

    assert_int_equal(v.status, 400);
    assert_string_equal(v.reason ? v.reason : "(none)", "invalid_json");
    /* The answer's body is JSON built from the detail: it must be UTF-8
     * or the sender gets no answer at all. */
    detail = json_string(v.detail);
    assert_non_null(detail);
    json_decref(detail);
}

static void an_event_without_document_id_gets_400_missing_field(
    void **state)
{
    suite *s = *state;
    verdict v;

    judge_case(s, "no_document_id.json", &v);

    assert_int_equal(v.status, 400);
    assert_string_equal(v.reason ? v.reason : "(none)", "missing_field");
    assert_non_null(strstr(v.detail, "documentId"));
}

static void another_event_type_gets_200_ignored(void **state)
{
    suite *s = *state;
    verdict v;

    judge_case(s, "other_event_type.json", &v);

    assert_int_equal(v.status, 200);
    assert_string_equal(v.result, "ignored");
    assert_null(v.reason);
}

/* WEBHOOK_MAX_BODY bytes are read; one more is refused, signed or not. */
static void a_body_over_the_limit_gets_413(void **state)
{
    suite *s = *state;
    char at_limit[MAX_BODY + 2], sig[DS_SHA256_HEX_LEN + 1];
    size_t len;
    char *event = read_case("other_event_type.json", &len);
    verdict v;

    /* JSON allows trailing blanks: pad the event to exactly the limit. */
    assert_true(len < MAX_BODY);
    memset(at_limit, ' ', sizeof(at_limit));
    memcpy(at_limit, event, len);
    sign(SECRET, at_limit, MAX_BODY, sig);
    receive_and_judge(s, at_limit, MAX_BODY, sig, &v);
    assert_int_equal(v.status, 200);

    sign(SECRET, at_limit, MAX_BODY + 1, sig);
    receive_and_judge(s, at_limit, MAX_BODY + 1, sig, &v);

    assert_int_equal(v.status, 413);
    assert_string_equal(v.reason ? v.reason : "(none)", "body_too_large");
    free(event);
}

/* C15: produce() succeeds locally, the delivery report fails: the sender
 * must hear 503 and retry, soon, and its retry must not be a duplicate. */
static void a_valid_event_no_broker_confirms_gets_503_within_bound(
    void **state)
{
    suite *s = *state;
    long long start, took;
    verdict v;

    FX_REQUIRE(&s->f);
    start = fx_now_ms();
    judge_case(s, "body.json", &v);
    took = fx_now_ms() - start;

    print_message("503 after %lld ms\n", took);
    assert_int_equal(v.status, 503);
    assert_string_equal(v.reason ? v.reason : "(none)", "kafka_unavailable");
    /* librdkafka looks for timed-out records once a second, so the
     * report comes up to 1 s after the 1 s bound; 3.5 s leaves slack. */
    assert_in_range(took, 900, 3500);
    /* No dedupe claim left behind, no document marked received. */
    assert_int_equal(fx_redis_int(&s->f, "DBSIZE"), 0);
}

/* The value GET /metrics shows for docsync_ingest_webhooks_total with
 * result, or -1 when the page has no such line. */
static long webhooks_counted(const char *result)
{
    char *page = ds_metrics_render(), prefix[96];
    const char *at;
    long n = -1;

    assert_non_null(page);
    snprintf(prefix, sizeof(prefix),
             "\ndocsync_ingest_webhooks_total{result=\"%s\"} ", result);
    at = strstr(page, prefix);
    if (at != NULL)
        n = strtol(at + strlen(prefix), NULL, 10);
    free(page);
    return n;
}

static void every_answer_is_counted_under_its_result(void **state)
{
    static const struct {
        unsigned status;
        const char *result;
    } answers[] = {
        {202, "accepted"}, {200, "duplicate"}, {200, "ignored"},
        {401, "rejected"}, {413, "rejected"}, {503, "rejected"},
    };
    static const struct {
        const char *result;
        long want;
    } counted[] = {
        {"accepted", 1}, {"duplicate", 1}, {"ignored", 1}, {"rejected", 2},
        {"unavailable", 1},
    };
    size_t i;

    (void)state;
    ds_metrics_reset();
    count_init();
    for (i = 0; i < sizeof(counted) / sizeof(counted[0]); i++)
        assert_int_equal(webhooks_counted(counted[i].result), 0);
    for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        verdict v = {answers[i].status, answers[i].result, NULL, "", ""};

        count(&v);
    }
    for (i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
        print_message("%s\n", counted[i].result);
        assert_int_equal(webhooks_counted(counted[i].result),
                         counted[i].want);
    }
    ds_metrics_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            the_hmac_of_the_raw_bytes_with_their_newline_is_accepted),
        cmocka_unit_test(
            the_hmac_of_the_body_without_its_newline_is_rejected),
        cmocka_unit_test(a_pretty_body_signed_over_its_own_bytes_is_accepted),
        cmocka_unit_test(
            the_hmac_of_reserialised_json_is_rejected_for_a_pretty_body),
        cmocka_unit_test(a_sha256_prefix_and_upper_case_hex_are_accepted),
        cmocka_unit_test(a_signature_of_the_wrong_length_is_rejected),
        cmocka_unit_test(every_answer_is_counted_under_its_result),
        cmocka_unit_test_setup_teardown(
            a_body_signed_with_another_secret_gets_401, setup, teardown),
        cmocka_unit_test_setup_teardown(
            latin1_bytes_in_a_signed_body_get_400_invalid_json, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            an_event_without_document_id_gets_400_missing_field, setup,
            teardown),
        cmocka_unit_test_setup_teardown(another_event_type_gets_200_ignored,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_body_over_the_limit_gets_413,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_valid_event_no_broker_confirms_gets_503_within_bound, setup,
            teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
