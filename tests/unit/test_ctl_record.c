/*
 * test_ctl_record.c - specification of ctl/ctl_record and ctl/ctl_format:
 * what docsyncctl reads from a DLQ record's headers (common/ds_loop.c,
 * dead_letter()), and the three forms it prints a record in.
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

#include "ctl_format.h"
#include "ctl_record.h"

#define VALUE "{\"documentId\":\"doc_7\",\"transactionId\":\"txn_5001\"}"

/* A record as the uploader dead-letters a 422, with every header the loop
 * writes, at partition 2, offset 17. */
static ctl_record *upload_422(void)
{
    static const char *const h[] = {
        "__connect.errors.topic", "docsync.mapped",
        "__connect.errors.partition", "1",
        "__connect.errors.offset", "40",
        "__connect.errors.stage", "uploader",
        "__connect.errors.exception.class.name", "permanent",
        "__connect.errors.exception.message", "HTTP_422:_bad_notes",
        "docsync.stage", "uploader",
        "docsync.reason", "upload_http_422",
        "docsync.attempts", "1",
        "docsync.http_status", "422",
        "docsync.first_failure", "1796292000000",
        "docsync.last_failure", "1796292000123",
        "docsync.trace_id", "trace_abc",
    };
    ctl_record *r = ctl_record_new(2, 17, 1796292000200LL, "doc_7", 5,
                                   VALUE, strlen(VALUE));
    size_t i;

    assert_non_null(r);
    for (i = 0; i < sizeof(h) / sizeof(h[0]); i += 2)
        assert_int_equal(ctl_record_add_header(r, h[i], h[i + 1],
                                               strlen(h[i + 1])), 0);
    return r;
}

/* Runs a formatter into memory and returns what it wrote (caller frees). */
static char *printed(void (*fn)(FILE *, const ctl_record *, const char *),
                     const ctl_record *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    fn(out, r, "docsync.dlq");
    fclose(out);
    return text;
}

static void line_of(FILE *out, const ctl_record *r, const char *topic)
{
    (void)topic;
    ctl_format_line(out, r);
}

static void json_of(FILE *out, const ctl_record *r, const char *topic)
{
    assert_int_equal(ctl_format_json(out, r, topic, NULL), 0);
}

static void show_of(FILE *out, const ctl_record *r, const char *topic)
{
    ctl_format_show(out, r, topic, NULL);
}

/* A blob kept until 2026-12-10T10:00:00.123Z, as dlq show and list --json
 * are told about it. */
static const ctl_blob_view KEPT = {
    "1017c455aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "kept", 1796896800123LL, -1};

static void json_kept_of(FILE *out, const ctl_record *r, const char *topic)
{
    assert_int_equal(ctl_format_json(out, r, topic, &KEPT), 0);
}

static void show_kept_of(FILE *out, const ctl_record *r, const char *topic)
{
    ctl_format_show(out, r, topic, &KEPT);
}

static void headers_are_read_by_name(void **state)
{
    ctl_record *r = upload_422();

    (void)state;
    assert_string_equal(ctl_record_header(r, "docsync.reason"),
                        "upload_http_422");
    assert_string_equal(ctl_record_header(r, CTL_H_TOPIC), "docsync.mapped");
    assert_null(ctl_record_header(r, "docsync.replayed_from"));
    assert_int_equal(ctl_record_header_ll(r, CTL_H_ATTEMPTS, -1), 1);
    assert_int_equal(ctl_record_header_ll(r, CTL_H_HTTP_STATUS, -1), 422);
    assert_int_equal(ctl_record_header_ll(r, CTL_H_REASON, -1), -1);
    assert_int_equal(ctl_record_header_ll(r, "absent", -7), -7);
    assert_string_equal(ctl_record_stage(r), "uploader");
    assert_int_equal(ctl_record_when_ms(r), 1796292000123LL);
    ctl_record_free(r);
}

/* A header given twice counts by its last value, as librdkafka reads it;
 * a header may have no value. */
static void the_last_of_a_repeated_header_wins(void **state)
{
    ctl_record *r = upload_422();

    (void)state;
    assert_int_equal(ctl_record_add_header(r, "docsync.reason", "http_503",
                                           8), 0);
    assert_int_equal(ctl_record_add_header(r, "docsync.empty", NULL, 0), 0);
    assert_string_equal(ctl_record_header(r, "docsync.reason"), "http_503");
    assert_null(ctl_record_header(r, "docsync.empty"));
    ctl_record_free(r);
}

/* Without docsync.last_failure (or with the loop's 0), the record's
 * timestamp places it; without either it has no time. */
static void the_failure_time_falls_back_to_the_timestamp(void **state)
{
    ctl_record *a = ctl_record_new(0, 0, 5000, NULL, 0, NULL, 0);
    ctl_record *b = ctl_record_new(0, 1, 6000, NULL, 0, NULL, 0);
    ctl_record *c = ctl_record_new(0, 2, -1, NULL, 0, NULL, 0);

    (void)state;
    assert_int_equal(ctl_record_add_header(b, CTL_H_LAST_FAILURE, "0", 1), 0);
    assert_int_equal(ctl_record_when_ms(a), 5000);
    assert_int_equal(ctl_record_when_ms(b), 6000);
    assert_int_equal(ctl_record_when_ms(c), -1);
    assert_null(ctl_record_stage(c));
    ctl_record_free(a);
    ctl_record_free(b);
    ctl_record_free(c);
}

/* Only the loop's stand-in for a value that was not JSON is a wrapper. */
static void the_wrapper_of_a_bad_value_is_recognised(void **state)
{
    static const struct {
        const char *value;
        int wrapper;
    } cases[] = {
        {"{\"error\":\"value_not_json_object\",\"valueBytes\":15}", 1},
        {"{\"error\":\"value_not_json_object\"}", 1},
        {"{\"error\":\"value_not_json_object\",\"documentId\":\"d\"}", 0},
        {"{\"error\":\"other\"}", 0},
        {VALUE, 0},
        {"not json", 0},
        {"[\"value_not_json_object\"]", 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ctl_record *r = ctl_record_new(0, 0, -1, "k", 1, cases[i].value,
                                       strlen(cases[i].value));

        print_message("%s\n", cases[i].value);
        assert_int_equal(ctl_record_is_wrapper(r), cases[i].wrapper);
        ctl_record_free(r);
    }
}

/* list: the eight columns, whitespace-separated, in their order. */
static void a_line_has_the_columns_an_operator_scans(void **state)
{
    ctl_record *r = upload_422();
    char *text = printed(line_of, r);
    char pos[32], when[40], stage[32], reason[32], klass[16], atts[8],
        status[8], doc[32];

    (void)state;
    assert_int_equal(sscanf(text, "%31s %39s %31s %31s %15s %7s %7s %31s",
                            pos, when, stage, reason, klass, atts, status,
                            doc), 8);
    assert_string_equal(pos, "2:17");
    assert_string_equal(when, "2026-12-03T10:00:00.123Z");
    assert_string_equal(stage, "uploader");
    assert_string_equal(reason, "upload_http_422");
    assert_string_equal(klass, "permanent");
    assert_string_equal(atts, "1");
    assert_string_equal(status, "422");
    assert_string_equal(doc, "doc_7");
    assert_int_equal(strcspn(text, "\n") + 1, strlen(text));
    free(text);
    ctl_record_free(r);
}

/* What a record does not say prints as "-", and nothing in a key can
 * split the line or add a column. */
static void a_line_stays_one_line_of_eight_columns(void **state)
{
    ctl_record *r = ctl_record_new(0, 3, -1, "a b\nc", 5, NULL, 0);
    char *text;

    (void)state;
    assert_int_equal(ctl_record_add_header(r, CTL_H_HTTP_STATUS, "0", 1), 0);
    text = printed(line_of, r);
    assert_string_equal(text, "0:3     -                        -        "
                              "-                    -         -  -   "
                              "a?b?c\n");
    free(text);
    ctl_record_free(r);
}

/* list --json: one line that jq reads, headers as an object, the value
 * as JSON. */
static void json_lines_hold_headers_key_and_value(void **state)
{
    ctl_record *r = upload_422();
    char *text = printed(json_of, r);
    json_error_t jerr;
    json_t *obj, *h;

    (void)state;
    assert_int_equal(strcspn(text, "\n") + 1, strlen(text));
    obj = json_loads(text, 0, &jerr);
    assert_non_null(obj);
    assert_string_equal(json_string_value(json_object_get(obj, "topic")),
                        "docsync.dlq");
    assert_int_equal(json_integer_value(json_object_get(obj, "partition")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(obj, "offset")), 17);
    assert_string_equal(json_string_value(json_object_get(obj, "key")),
                        "doc_7");
    h = json_object_get(obj, "headers");
    assert_int_equal(json_object_size(h), 13);
    assert_string_equal(json_string_value(json_object_get(h,
                        "docsync.reason")), "upload_http_422");
    assert_string_equal(json_string_value(json_object_get(
                        json_object_get(obj, "value"), "transactionId")),
                        "txn_5001");
    json_decref(obj);
    free(text);
    ctl_record_free(r);
}

/* A value that is not JSON becomes a string, bytes that are not UTF-8 are
 * escaped, and a missing key is null: the line is always JSON. */
static void json_lines_survive_any_bytes(void **state)
{
    ctl_record *r = ctl_record_new(1, 2, 3, NULL, 0, "Gr\xF6\xDF" "e", 5);
    char *text;
    json_t *obj;

    (void)state;
    assert_int_equal(ctl_record_add_header(r, "x", "\xFF", 1), 0);
    text = printed(json_of, r);
    obj = json_loads(text, 0, NULL);
    assert_non_null(obj);
    assert_true(json_is_null(json_object_get(obj, "key")));
    assert_string_equal(json_string_value(json_object_get(obj, "value")),
                        "Gr\xC3\xB6\xC3\x9F" "e");
    assert_string_equal(json_string_value(json_object_get(
                        json_object_get(obj, "headers"), "x")),
                        "\xC3\xBF");
    json_decref(obj);
    free(text);
    ctl_record_free(r);
}

/* show: every header on its line, failure times also in ISO-8601, the
 * value indented. */
static void show_prints_every_header_and_the_indented_value(void **state)
{
    ctl_record *r = upload_422();
    char *text = printed(show_of, r);

    (void)state;
    assert_non_null(strstr(text, "docsync.dlq 2:17"));
    assert_non_null(strstr(text, "key:       doc_7\n"));
    for (size_t i = 0; i < r->nheaders; i++) {
        char want[160];

        snprintf(want, sizeof(want), "  %-40s %s", r->headers[i].name,
                 r->headers[i].value);
        print_message("%s\n", want);
        assert_non_null(strstr(text, want));
    }
    assert_non_null(strstr(text, "1796292000123  (2026-12-03T10:00:00.123Z)"));
    assert_non_null(strstr(text, "value:\n{\n  \"documentId\": \"doc_7\",\n"));
    free(text);
    ctl_record_free(r);
}

/* With what Redis says of the record's blob, list --json carries it as
 * "blob" and show names it and its deadline; without, neither does. */
static void json_and_show_tell_whether_the_blob_is_kept(void **state)
{
    ctl_record *r = upload_422();
    char *text = printed(json_kept_of, r);
    json_t *obj = json_loads(text, 0, NULL), *blob;

    (void)state;
    assert_non_null(obj);
    blob = json_object_get(obj, "blob");
    assert_string_equal(json_string_value(json_object_get(blob, "sha256")),
              KEPT.sha256);
    assert_string_equal(json_string_value(json_object_get(blob, "state")),
                        "kept");
    assert_string_equal(json_string_value(json_object_get(blob, "keptUntil")),
              "2026-12-10T10:00:00.123Z");
    json_decref(obj);
    free(text);

    text = printed(show_kept_of, r);
    print_message("%s", text);
    assert_non_null(strstr(text, "blob:      1017c455aaaa"));
    assert_non_null(strstr(text, "kept until 2026-12-10T10:00:00.123Z"));
    free(text);

    text = printed(json_of, r);
    assert_null(strstr(text, "\"blob\":{"));
    free(text);
    text = printed(show_of, r);
    assert_null(strstr(text, "blob:"));
    free(text);
    ctl_record_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(headers_are_read_by_name),
        cmocka_unit_test(the_last_of_a_repeated_header_wins),
        cmocka_unit_test(the_failure_time_falls_back_to_the_timestamp),
        cmocka_unit_test(the_wrapper_of_a_bad_value_is_recognised),
        cmocka_unit_test(a_line_has_the_columns_an_operator_scans),
        cmocka_unit_test(a_line_stays_one_line_of_eight_columns),
        cmocka_unit_test(json_lines_hold_headers_key_and_value),
        cmocka_unit_test(json_lines_survive_any_bytes),
        cmocka_unit_test(show_prints_every_header_and_the_indented_value),
        cmocka_unit_test(json_and_show_tell_whether_the_blob_is_kept),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
