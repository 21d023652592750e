/*
 * test_stage_ingest.c - ingest's webhook checks, called directly:
 * signature_ok() over the raw body bytes (C01), and judge(), which turns a
 * received body into the answer the sender gets: 401 for a bad signature,
 * 400 for bytes that are not UTF-8 JSON (C04) or a missing field, 200 for
 * an event type docsync does not handle, 413 past the size limit, and 503
 * when no broker confirms the event (C15). A thin DOCUMENTS_CREATED event
 * gets 400 naming documentIds when its ids are bad, and otherwise fans out
 * into one record per document. The bodies are data cases in
 * tests/unit/data/webhook/.
 *
 * judge() reads the signature header from its libmicrohttpd connection.
 * Rather than serve HTTP, the test gives it a fake connection: the macro
 * below routes MHD_lookup_connection_value to fake_lookup, which answers
 * from the fake. Everything after the header lookup is the real code,
 * including the real Kafka producer, pointed at a port nobody listens on.
 * A test that needs records confirmed turns on the capture below, which
 * stands in for ds_produce_sync and keeps the records instead.
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

#include "ds_kafka.h"
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

#define MAX_CAPTURED 8

/* While on, records "produced" are kept here and confirmed at once, except
 * the fail_at-th call (1-based), which fails as an unconfirmed delivery. */
static struct {
    int on;
    int calls;
    int fail_at;
    int n;
    char key[MAX_CAPTURED][132];
    json_t *value[MAX_CAPTURED];
} capture;

/* Stands in for ds_produce_sync: the real one unless capture is on. */
static int capture_produce(ds_producer *p, const char *topic,
                           const void *key, size_t key_len,
                           const void *value, size_t value_len,
                           const ds_header *headers, size_t nheaders,
                           ds_err *err)
{
    if (!capture.on)
        return ds_produce_sync(p, topic, key, key_len, value, value_len,
                               headers, nheaders, err);
    if (++capture.calls == capture.fail_at || capture.n == MAX_CAPTURED)
        return ds_err_set(err, "kafka_delivery", "refused by the test");
    snprintf(capture.key[capture.n], sizeof(capture.key[0]), "%.*s",
             (int)key_len, (const char *)key);
    capture.value[capture.n++] = json_loadb(value, value_len, 0, NULL);
    return 0;
}

/* Forgets what was captured and turns the capture on or off. */
static void capture_reset(int on, int fail_at)
{
    int i;

    for (i = 0; i < capture.n; i++)
        json_decref(capture.value[i]);
    memset(&capture, 0, sizeof(capture));
    capture.on = on;
    capture.fail_at = fail_at;
}

/* The stage's own file, so that its static functions are in reach. */
#define ds_produce_sync capture_produce
#define MHD_lookup_connection_value fake_lookup
#define main ingest_main_unused
#include "../../ingest/ingest.c"
#undef main
#undef MHD_lookup_connection_value
#undef ds_produce_sync

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
        verdict v = {answers[i].status, answers[i].result, NULL, "", "",
                     NULL, NULL};

        count(&v);
    }
    for (i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
        print_message("%s\n", counted[i].result);
        assert_int_equal(webhooks_counted(counted[i].result),
                         counted[i].want);
    }
    ds_metrics_reset();
}

/* One bad thin event and the answer it must get. */
typedef struct thin_case {
    const char *file;
    const char *reason;
    const char *field;
    const char *in_detail;
} thin_case;

/* Judges a bad thin event: 400 with reason, naming field, nothing
 * produced, nothing left in Redis. */
static void assert_thin_refused(suite *s, const thin_case *c, verdict *v)
{
    print_message("case %s\n", c->file);
    assert_int_equal(v->status, 400);
    assert_string_equal(v->reason ? v->reason : "(none)", c->reason);
    assert_string_equal(v->field ? v->field : "(none)", c->field);
    if (c->in_detail != NULL && strstr(v->detail, c->in_detail) == NULL)
        fail_msg("detail \"%s\" lacks \"%s\"", v->detail, c->in_detail);
    assert_null(v->documents);
    assert_int_equal(capture.calls, 0);
    assert_int_equal(fx_redis_int(&s->f, "DBSIZE"), 0);
}

static void a_thin_event_with_bad_document_ids_gets_400_naming_the_field(
    void **state)
{
    static const thin_case cases[] = {
        {"thin_no_ids.json", "missing_field", "documentIds", NULL},
        {"thin_empty_ids.json", "invalid_field", "documentIds", "1 to 100"},
        {"thin_ids_not_array.json", "invalid_field", "documentIds", NULL},
        {"thin_bad_id.json", "invalid_field", "documentIds",
         "documentIds[1]"},
        {"thin_repeated_id.json", "invalid_field", "documentIds",
         "documentIds[2] repeats documentIds[0]"},
        {"thin_no_event_id.json", "missing_field", "eventId", NULL},
        {"thin_no_timestamp.json", "missing_field", "timestamp", NULL},
    };
    suite *s = *state;
    verdict v;
    size_t i;

    capture_reset(1, 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        judge_case(s, cases[i].file, &v);
        assert_thin_refused(s, &cases[i], &v);
    }
    capture_reset(0, 0);
}

static void a_thin_event_with_101_document_ids_gets_400(void **state)
{
    static const thin_case too_many = {"(101 ids)", "invalid_field",
                                       "documentIds", "1 to 100"};
    char body[MAX_BODY], sig[DS_SHA256_HEX_LEN + 1];
    suite *s = *state;
    size_t len;
    verdict v;
    int i;

    len = (size_t)snprintf(body, sizeof(body), "{\"eventId\":\"evt_9\","
                           "\"eventType\":\"DOCUMENTS_CREATED\","
                           "\"timestamp\":\"2026-12-03T12:00:00Z\","
                           "\"documentIds\":[");
    for (i = 1; i <= 101; i++)
        len += (size_t)snprintf(body + len, sizeof(body) - len, "\"d%d\"%s",
                                i, i < 101 ? "," : "]}");
    assert_true(len < sizeof(body));
    sign(SECRET, body, len, sig);
    capture_reset(1, 0);
    receive_and_judge(s, body, len, sig, &v);

    assert_thin_refused(s, &too_many, &v);
    capture_reset(0, 0);
}

/* Asserts that record i is the DOCUMENT_CREATED event of doc_id fanned
 * out from evt_9, without an accountId. */
static void assert_fanned_out(int i, const char *doc_id)
{
    char event_id[64];
    json_t *rec = capture.value[i];

    snprintf(event_id, sizeof(event_id), "evt_9:%s", doc_id);
    assert_string_equal(capture.key[i], doc_id);
    assert_non_null(rec);
    FX_ASSERT_JSON_STR(rec, "eventType", "DOCUMENT_CREATED");
    FX_ASSERT_JSON_STR(rec, "documentId", doc_id);
    FX_ASSERT_JSON_STR(rec, "eventId", event_id);
    FX_ASSERT_JSON_STR(rec, "fannedOutFrom", "evt_9");
    FX_ASSERT_JSON_STR(rec, "timestamp", "2026-12-03T12:00:00Z");
    assert_non_null(json_object_get(rec, "receivedAt"));
    assert_null(json_object_get(rec, "accountId"));
}

/* Asserts that the per-document results of v read want[0..3). */
static void assert_results(const verdict *v, const char *const want[3])
{
    static const char *const ids[] = {"doc_1", "doc_2", "doc_3"};
    size_t i;

    assert_int_equal(json_array_size(v->documents), 3);
    for (i = 0; i < 3; i++) {
        json_t *d = json_array_get(v->documents, i);

        FX_ASSERT_JSON_STR(d, "documentId", ids[i]);
        FX_ASSERT_JSON_STR(d, "status", want[i]);
    }
}

static void a_thin_event_fans_out_into_one_record_per_document(
    void **state)
{
    static const char *const accepted[] = {"accepted", "accepted",
                                           "accepted"};
    static const char *const duplicate[] = {"duplicate", "duplicate",
                                            "duplicate"};
    suite *s = *state;
    verdict v;

    capture_reset(1, 0);
    ds_metrics_reset();
    count_init();
    judge_case(s, "thin.json", &v);

    assert_int_equal(v.status, 202);
    assert_string_equal(v.result, "accepted");
    assert_int_equal(capture.n, 3);
    assert_fanned_out(0, "doc_1");
    assert_fanned_out(1, "doc_2");
    assert_fanned_out(2, "doc_3");
    assert_results(&v, accepted);
    FX_ASSERT_STATE(&s->f, "doc_1", "received");
    FX_ASSERT_STATE(&s->f, "doc_3", "received");
    count(&v);
    assert_int_equal(webhooks_counted("accepted"), 3);
    json_decref(v.documents);

    /* The same thin event again: a duplicate for every document. */
    judge_case(s, "thin.json", &v);

    assert_int_equal(v.status, 200);
    assert_string_equal(v.result, "duplicate");
    assert_int_equal(capture.n, 3);
    assert_results(&v, duplicate);
    count(&v);
    assert_int_equal(webhooks_counted("duplicate"), 3);
    json_decref(v.documents);
    ds_metrics_reset();
    capture_reset(0, 0);
}

/* C15 for a thin event: the first record is in Kafka, the second is not
 * confirmed. The sender hears 503 and retries; the retry finds the first
 * a duplicate and produces the other two. */
static void a_thin_event_with_an_unconfirmed_record_gets_503_then_retry(
    void **state)
{
    static const char *const partial[] = {"accepted", "failed", "skipped"};
    static const char *const retried[] = {"duplicate", "accepted",
                                          "accepted"};
    suite *s = *state;
    verdict v;

    capture_reset(1, 2);
    judge_case(s, "thin.json", &v);

    assert_int_equal(v.status, 503);
    assert_string_equal(v.reason ? v.reason : "(none)", "kafka_unavailable");
    assert_int_equal(capture.n, 1);
    assert_results(&v, partial);
    FX_ASSERT_STATE(&s->f, "doc_1", "received");
    FX_ASSERT_STATE(&s->f, "doc_2", NULL);
    json_decref(v.documents);

    capture.fail_at = 0;
    judge_case(s, "thin.json", &v);

    assert_int_equal(v.status, 202);
    assert_int_equal(capture.n, 3);
    assert_string_equal(capture.key[1], "doc_2");
    assert_string_equal(capture.key[2], "doc_3");
    assert_results(&v, retried);
    json_decref(v.documents);
    capture_reset(0, 0);
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
        cmocka_unit_test_setup_teardown(
            a_thin_event_with_bad_document_ids_gets_400_naming_the_field,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_thin_event_with_101_document_ids_gets_400, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_thin_event_fans_out_into_one_record_per_document, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_thin_event_with_an_unconfirmed_record_gets_503_then_retry,
            setup, teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
