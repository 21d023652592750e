/*
 * test_log.c - specification of common/ds_log: one valid UTF-8 JSON object
 * per line on stdout, level filtering, capping, escaping (case C04).
 *
 * Lines are captured by pointing fd 1 at a temporary file. No assertion runs
 * while fd 1 is redirected, so a failure always reaches the terminal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ds_log.h"

#define LATIN1_NAME "Angebot_Gr\xF6\xDF" "e.pdf"
#define LATIN1_NAME_AS_UTF8 "Angebot_Gr\xC3\xB6\xC3\x9F" "e.pdf"

typedef struct capture {
    FILE *tmp;
    int saved_fd;
} capture;

static void capture_start(capture *c)
{
    fflush(stdout);
    c->tmp = tmpfile();
    c->saved_fd = dup(STDOUT_FILENO);
    if (c->tmp == NULL || c->saved_fd < 0 ||
        dup2(fileno(c->tmp), STDOUT_FILENO) < 0)
        abort();
}

/* Restores stdout and returns what was written meanwhile (caller frees). */
static char *capture_end(capture *c)
{
    long n;
    char *text;

    fflush(stdout);
    if (dup2(c->saved_fd, STDOUT_FILENO) < 0)
        abort();
    close(c->saved_fd);

    n = ftell(c->tmp);
    text = malloc((size_t)n + 1);
    assert_non_null(text);
    rewind(c->tmp);
    assert_int_equal(fread(text, 1, (size_t)n, c->tmp), n);
    text[n] = '\0';
    fclose(c->tmp);
    return text;
}

static size_t count_lines(const char *text)
{
    size_t n = 0;

    for (; *text != '\0'; text++)
        n += *text == '\n';
    return n;
}

/* Parses text that must be exactly one JSON object and a newline. */
static json_t *parse_one_line(const char *text)
{
    json_error_t jerr;
    json_t *obj;

    assert_int_equal(count_lines(text), 1);
    assert_int_equal(text[strlen(text) - 1], '\n');
    obj = json_loads(text, 0, &jerr);
    if (obj == NULL)
        fail_msg("not JSON (%s at %d): %s", jerr.text, jerr.position, text);
    assert_true(json_is_object(obj));
    return obj;
}

static const char *str_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_string(v))
        fail_msg("field \"%s\" is not a string", key);
    return json_string_value(v);
}

/* JSON-decodes "<escaped>" and returns the string (valid until obj dies). */
static json_t *decode_escaped(const char *escaped)
{
    json_error_t jerr;
    size_t n = strlen(escaped);
    char *doc = malloc(n + 3);
    json_t *v;

    assert_non_null(doc);
    doc[0] = '"';
    memcpy(doc + 1, escaped, n);
    doc[n + 1] = '"';
    doc[n + 2] = '\0';
    v = json_loads(doc, JSON_DECODE_ANY, &jerr);
    if (v == NULL)
        fail_msg("jansson rejects \"%s\": %s", escaped, jerr.text);
    free(doc);
    assert_true(json_is_string(v));
    return v;
}

static void test_level_parse_knows_four_names_in_any_case(void **state)
{
    (void)state;
    assert_int_equal(ds_log_level_parse("debug", DS_LOG_INFO), DS_LOG_DEBUG);
    assert_int_equal(ds_log_level_parse("info", DS_LOG_ERROR), DS_LOG_INFO);
    assert_int_equal(ds_log_level_parse("WARN", DS_LOG_INFO), DS_LOG_WARN);
    assert_int_equal(ds_log_level_parse("Error", DS_LOG_INFO), DS_LOG_ERROR);
    assert_int_equal(ds_log_level_parse("verbose", DS_LOG_WARN), DS_LOG_WARN);
    assert_int_equal(ds_log_level_parse("", DS_LOG_INFO), DS_LOG_INFO);
    assert_int_equal(ds_log_level_parse(NULL, DS_LOG_ERROR), DS_LOG_ERROR);
}

static void test_lines_below_the_minimum_level_are_not_written(void **state)
{
    capture c;
    char *text;

    (void)state;
    ds_log_init("fetcher", DS_LOG_WARN);
    assert_false(ds_log_enabled(DS_LOG_DEBUG));
    assert_false(ds_log_enabled(DS_LOG_INFO));
    assert_true(ds_log_enabled(DS_LOG_WARN));
    assert_true(ds_log_enabled(DS_LOG_ERROR));

    capture_start(&c);
    ds_log_msg(DS_LOG_DEBUG, "debug %d", 1);
    ds_log_msg(DS_LOG_INFO, "info %d", 2);
    ds_log_event_write(DS_LOG_INFO, &(ds_log_event){
        .document_id = "doc_1", .duration_ms = -1, .attempt = -1});
    ds_log_msg(DS_LOG_WARN, "warn %d", 3);
    ds_log_msg(DS_LOG_ERROR, "error %d", 4);
    text = capture_end(&c);

    assert_int_equal(count_lines(text), 2);
    assert_null(strstr(text, "\"msg\":\"debug 1\""));
    assert_null(strstr(text, "\"msg\":\"info 2\""));
    assert_null(strstr(text, "doc_1"));
    assert_non_null(strstr(text, "\"level\":\"warn\""));
    assert_non_null(strstr(text, "\"msg\":\"warn 3\""));
    assert_non_null(strstr(text, "\"level\":\"error\""));
    assert_non_null(strstr(text, "\"msg\":\"error 4\""));
    free(text);
}

/* A command-line tool sends the lines to stderr: none reaches stdout. */
static void test_lines_go_to_the_stream_set_instead_of_stdout(void **state)
{
    FILE *other = tmpfile();
    char buf[512] = "";
    capture c;
    char *text;
    size_t n;

    (void)state;
    assert_non_null(other);
    ds_log_init("docsyncctl", DS_LOG_INFO);
    capture_start(&c);
    ds_log_set_stream(other);
    ds_log_msg(DS_LOG_ERROR, "to the stream %d", 5);
    ds_log_set_stream(NULL);
    ds_log_msg(DS_LOG_ERROR, "to stdout %d", 6);
    text = capture_end(&c);

    rewind(other);
    n = fread(buf, 1, sizeof(buf) - 1, other);
    buf[n] = '\0';
    fclose(other);
    assert_int_equal(count_lines(buf), 1);
    assert_non_null(strstr(buf, "\"msg\":\"to the stream 5\""));
    assert_int_equal(count_lines(text), 1);
    assert_non_null(strstr(text, "\"msg\":\"to stdout 6\""));
    free(text);
}

/* "2026-12-03T12:00:00.123Z": 'd' stands for a digit. */
static void assert_iso8601_millis(const char *ts)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

    assert_int_equal(strlen(ts), strlen(shape));
    for (size_t i = 0; shape[i] != '\0'; i++) {
        int ok = shape[i] == 'd' ? ts[i] >= '0' && ts[i] <= '9'
                                 : ts[i] == shape[i];
        if (!ok)
            fail_msg("timestamp \"%s\" is not shaped \"%s\"", ts, shape);
    }
}

static void test_event_line_is_one_json_object_with_operator_fields(
    void **state)
{
    capture c;
    char *text;
    json_t *obj;

    (void)state;
    ds_log_init("uploader", DS_LOG_DEBUG);
    capture_start(&c);
    ds_log_event_write(DS_LOG_INFO, &(ds_log_event){
        .document_id = "doc_abc123",
        .transaction_id = "tx_42",
        .status = "RETRY",
        .duration_ms = 1234,
        .attempt = 2,
        .error = "upload_http_503",
        .message = "destination said \"busy\"",
    });
    text = capture_end(&c);

    assert_memory_equal(text, "{\"ts\":\"", 7);
    obj = parse_one_line(text);
    assert_iso8601_millis(str_field(obj, "ts"));
    assert_string_equal(str_field(obj, "level"), "info");
    assert_string_equal(str_field(obj, "stage"), "uploader");
    assert_string_equal(str_field(obj, "documentId"), "doc_abc123");
    assert_string_equal(str_field(obj, "transactionId"), "tx_42");
    assert_string_equal(str_field(obj, "status"), "RETRY");
    assert_int_equal(json_integer_value(json_object_get(obj, "duration_ms")),
                     1234);
    assert_int_equal(json_integer_value(json_object_get(obj, "attempt")), 2);
    assert_string_equal(str_field(obj, "error"), "upload_http_503");
    assert_string_equal(str_field(obj, "msg"), "destination said \"busy\"");
    assert_int_equal(json_object_size(obj), 10);
    json_decref(obj);
    free(text);
}

static void test_event_line_leaves_out_null_strings_and_negative_numbers(
    void **state)
{
    capture c;
    char *text;
    json_t *obj;

    (void)state;
    ds_log_init("verifier", DS_LOG_DEBUG);
    capture_start(&c);
    ds_log_event_write(DS_LOG_WARN, &(ds_log_event){
        .document_id = "doc_1", .duration_ms = -1, .attempt = -1});
    text = capture_end(&c);

    obj = parse_one_line(text);
    assert_string_equal(str_field(obj, "documentId"), "doc_1");
    assert_string_equal(str_field(obj, "level"), "warn");
    assert_null(json_object_get(obj, "transactionId"));
    assert_null(json_object_get(obj, "status"));
    assert_null(json_object_get(obj, "duration_ms"));
    assert_null(json_object_get(obj, "attempt"));
    assert_null(json_object_get(obj, "error"));
    assert_null(json_object_get(obj, "msg"));
    assert_int_equal(json_object_size(obj), 4);
    json_decref(obj);
    free(text);
}

/* C04: Latin-1 bytes in a field must not make the line invalid JSON. */
static void test_c04_latin1_file_name_keeps_the_line_valid_utf8_json(
    void **state)
{
    capture c;
    char *text;
    json_t *obj;

    (void)state;
    ds_log_init("ingest", DS_LOG_DEBUG);
    capture_start(&c);
    ds_log_event_write(DS_LOG_WARN, &(ds_log_event){
        .document_id = "doc_\xE9", .status = "FAILED",
        .duration_ms = -1, .attempt = -1, .error = "invalid_utf8",
        .message = "fileName " LATIN1_NAME " is not UTF-8"});
    ds_log_msg(DS_LOG_WARN, "rejected %s", LATIN1_NAME);
    text = capture_end(&c);

    /* json_loads refuses ill-formed UTF-8, so parsing is the check. */
    obj = json_loads(text, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(obj);
    assert_string_equal(str_field(obj, "documentId"), "doc_\xC3\xA9");
    assert_string_equal(str_field(obj, "msg"),
                        "fileName " LATIN1_NAME_AS_UTF8 " is not UTF-8");
    json_decref(obj);

    obj = json_loads(strchr(text, '\n') + 1, 0, NULL);
    assert_non_null(obj);
    assert_string_equal(str_field(obj, "msg"),
                        "rejected " LATIN1_NAME_AS_UTF8);
    json_decref(obj);
    free(text);
}

static void test_long_message_is_capped_at_512_bytes_with_marker(
    void **state)
{
    char big[2001];
    char want[512 + 4];
    capture c;
    char *text;
    json_t *obj;

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memset(want, 'x', 512);
    memcpy(want + 512, "...", 4);

    ds_log_init("mapper", DS_LOG_DEBUG);
    capture_start(&c);
    ds_log_msg(DS_LOG_INFO, "%s", big);
    ds_log_event_write(DS_LOG_INFO, &(ds_log_event){
        .message = big, .duration_ms = -1, .attempt = -1});
    ds_log_msg(DS_LOG_INFO, "%.512s", big);
    text = capture_end(&c);

    assert_int_equal(count_lines(text), 3);
    obj = json_loads(text, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(obj);
    assert_string_equal(str_field(obj, "msg"), want);
    json_decref(obj);

    obj = json_loads(strchr(text, '\n') + 1, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(obj);
    assert_string_equal(str_field(obj, "msg"), want);
    json_decref(obj);

    /* Exactly 512 bytes is not cut, so it gets no marker. */
    want[512] = '\0';
    obj = json_loads(strrchr(text, '{'), 0, NULL);
    assert_non_null(obj);
    assert_string_equal(str_field(obj, "msg"), want);
    json_decref(obj);
    free(text);
}

static void test_cap_does_not_split_a_utf8_character(void **state)
{
    char msg[600];
    char want[511 + 4];
    capture c;
    char *text;
    json_t *obj;

    (void)state;
    /* 511 ASCII bytes, then "ö" in bytes 511 and 512: the cap falls inside. */
    memset(msg, 'a', 511);
    memcpy(msg + 511, "\xC3\xB6 tail", 8);
    memset(want, 'a', 511);
    memcpy(want + 511, "...", 4);

    ds_log_init("mapper", DS_LOG_DEBUG);
    capture_start(&c);
    ds_log_msg(DS_LOG_INFO, "%s", msg);
    text = capture_end(&c);

    obj = parse_one_line(text);
    assert_string_equal(str_field(obj, "msg"), want);
    json_decref(obj);
    free(text);
}

enum { THREADS = 8, LINES_PER_THREAD = 200, MSG_LEN = 3000 };

static void *log_many(void *arg)
{
    char msg[MSG_LEN + 1];
    int id = (int)(intptr_t)arg;

    memset(msg, 'A' + id, MSG_LEN);
    msg[MSG_LEN] = '\0';
    for (int i = 0; i < LINES_PER_THREAD; i++) {
        ds_log_event_write(DS_LOG_INFO, &(ds_log_event){
            .document_id = msg, .transaction_id = msg, .status = msg,
            .error = msg, .message = msg, .duration_ms = i,
            .attempt = id});
    }
    return NULL;
}

static void test_lines_from_many_threads_never_interleave(void **state)
{
    pthread_t th[THREADS];
    capture c;
    char *text;
    char *line;
    char *save = NULL;
    int seen = 0;

    (void)state;
    ds_log_init("loop", DS_LOG_DEBUG);
    capture_start(&c);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, log_many, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    text = capture_end(&c);

    assert_int_equal(count_lines(text), THREADS * LINES_PER_THREAD);
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *obj = json_loads(line, 0, NULL);
        const char *msg;
        char own;

        if (obj == NULL)
            fail_msg("line %d is not JSON: %.200s", seen, line);
        own = (char)('A' + json_integer_value(json_object_get(obj,
                                                               "attempt")));
        msg = str_field(obj, "msg");
        /* Every character of a message must come from its own thread. */
        assert_int_equal(strspn(msg, (char[]){own, '\0'}), 512);
        json_decref(obj);
        seen++;
    }
    assert_int_equal(seen, THREADS * LINES_PER_THREAD);
    free(text);
}

static void test_json_escape_escapes_quotes_backslash_and_controls(
    void **state)
{
    char out[64];
    json_t *v;

    (void)state;
    assert_int_equal(ds_json_escape(out, sizeof(out), "a\"b\\c\n\r\t\x01\x7f",
                                    100), 25);
    assert_string_equal(out, "a\\\"b\\\\c\\n\\r\\t\\u0001\\u007f");
    v = decode_escaped(out);
    assert_string_equal(json_string_value(v), "a\"b\\c\n\r\t\x01\x7f");
    json_decref(v);
}

static void test_json_escape_copies_well_formed_utf8_unchanged(void **state)
{
    /* 2-, 3- and 4-byte sequences at the edges of their ranges. */
    static const char text[] = "Gr\xC3\xB6\xC3\x9F" "e \xE2\x82\xAC "
                               "\xF0\x9D\x84\x9E \xC2\x80 \xEF\xBF\xBF "
                               "\xED\x9F\xBF \xF4\x8F\xBF\xBF";
    char out[128];

    (void)state;
    assert_int_equal(ds_json_escape(out, sizeof(out), text, sizeof(text)),
                     strlen(text));
    assert_string_equal(out, text);
}

/* C04: the sender's Latin-1 bytes come out as the characters they meant. */
static void test_c04_json_escape_writes_latin1_bytes_as_u00xx(void **state)
{
    char out[128];
    json_t *v;

    (void)state;
    ds_json_escape(out, sizeof(out), LATIN1_NAME, 512);
    assert_string_equal(out, "Angebot_Gr\\u00f6\\u00dfe.pdf");
    v = decode_escaped(out);
    assert_string_equal(json_string_value(v), LATIN1_NAME_AS_UTF8);
    json_decref(v);
}

static void test_json_escape_treats_every_ill_formed_sequence_as_bytes(
    void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"\xC0\xAF", "\\u00c0\\u00af"},                  /* overlong '/' */
        {"\xE0\x80\xAF", "\\u00e0\\u0080\\u00af"},       /* overlong */
        {"\xF0\x80\x80\xAF", "\\u00f0\\u0080\\u0080\\u00af"},
        {"\xED\xA0\x80", "\\u00ed\\u00a0\\u0080"},       /* surrogate */
        {"\xF4\x90\x80\x80", "\\u00f4\\u0090\\u0080\\u0080"}, /* > 10FFFF */
        {"\xF5\x80", "\\u00f5\\u0080"},
        {"\xFF", "\\u00ff"},
        {"\x80x", "\\u0080x"},                           /* stray tail */
        {"\xE2\x82", "\\u00e2\\u0082"},                  /* cut short */
        {"\xE2\x82x", "\\u00e2\\u0082x"},
        {"\xC3", "\\u00c3"},
        {"\xF0\x9D\x84", "\\u00f0\\u009d\\u0084"},
    };
    char out[128];

    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        json_t *v;

        ds_json_escape(out, sizeof(out), cases[k].in, 100);
        assert_string_equal(out, cases[k].want);
        v = decode_escaped(out);
        json_decref(v);
    }
}

static void test_json_escape_reads_at_most_max_in_bytes(void **state)
{
    /* Not NUL-terminated: reading past max_in would be a bug. */
    const char unterminated[3] = {'a', 'b', 'c'};
    char out[32];

    (void)state;
    assert_int_equal(ds_json_escape(out, sizeof(out), unterminated, 3), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(ds_json_escape(out, sizeof(out), "abcdef", 2), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(ds_json_escape(out, sizeof(out), "abc", 0), 0);
    assert_string_equal(out, "");
    /* A sequence cut by max_in is ill-formed within what may be read. */
    ds_json_escape(out, sizeof(out), "\xC3\xB6", 1);
    assert_string_equal(out, "\\u00c3");
}

static void test_json_escape_fits_cap_and_never_splits_an_escape(
    void **state)
{
    char out[16];

    (void)state;
    memset(out, '#', sizeof(out));
    assert_int_equal(ds_json_escape(out, 4, "ab\"cd", 100), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(out[4], '#');

    assert_int_equal(ds_json_escape(out, 8, "G\xF6", 100), 7);
    assert_string_equal(out, "G\\u00f6");
    assert_int_equal(ds_json_escape(out, 7, "G\xF6", 100), 1);
    assert_string_equal(out, "G");
    assert_int_equal(ds_json_escape(out, 3, "\xC3\xB6\xC3\xB6", 100), 2);
    assert_string_equal(out, "\xC3\xB6");
    assert_int_equal(ds_json_escape(out, 1, "abc", 100), 0);
    assert_string_equal(out, "");
}

/* C04, the whole kind: any bytes at all, capped anywhere, give valid JSON. */
static void test_json_escape_of_random_bytes_is_always_valid_json(
    void **state)
{
    uint32_t seed = 2026;
    char in[300];
    char out[300 * 6 + 1];

    (void)state;
    for (int round = 0; round < 2000; round++) {
        size_t cap = 1 + (size_t)(round * 37) % sizeof(out);
        size_t w;
        json_t *v;

        for (size_t i = 0; i < sizeof(in) - 1; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = (char)(1 + (seed >> 16) % 255);
        }
        in[sizeof(in) - 1] = '\0';

        w = ds_json_escape(out, cap, in, (size_t)round % sizeof(in));
        assert_true(w < cap);
        assert_int_equal(strlen(out), w);
        v = decode_escaped(out);
        json_decref(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_parse_knows_four_names_in_any_case),
        cmocka_unit_test(test_lines_below_the_minimum_level_are_not_written),
        cmocka_unit_test(test_lines_go_to_the_stream_set_instead_of_stdout),
        cmocka_unit_test(
            test_event_line_is_one_json_object_with_operator_fields),
        cmocka_unit_test(
            test_event_line_leaves_out_null_strings_and_negative_numbers),
        cmocka_unit_test(
            test_c04_latin1_file_name_keeps_the_line_valid_utf8_json),
        cmocka_unit_test(test_long_message_is_capped_at_512_bytes_with_marker),
        cmocka_unit_test(test_cap_does_not_split_a_utf8_character),
        cmocka_unit_test(test_lines_from_many_threads_never_interleave),
        cmocka_unit_test(
            test_json_escape_escapes_quotes_backslash_and_controls),
        cmocka_unit_test(test_json_escape_copies_well_formed_utf8_unchanged),
        cmocka_unit_test(test_c04_json_escape_writes_latin1_bytes_as_u00xx),
        cmocka_unit_test(
            test_json_escape_treats_every_ill_formed_sequence_as_bytes),
        cmocka_unit_test(test_json_escape_reads_at_most_max_in_bytes),
        cmocka_unit_test(
            test_json_escape_fits_cap_and_never_splits_an_escape),
        cmocka_unit_test(
            test_json_escape_of_random_bytes_is_always_valid_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
