/* The streamed JSON body with base64 content (cases C07, C10, C11). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_body.h"
#include "ds_crypto.h"
#include "pattern_blob.h"

/* Reads the whole body in slices of `slice` bytes into a new string. */
static char *read_all(ds_body *b, size_t slice, size_t *len)
{
    size_t cap = (size_t)ds_body_length(b) + 1, n = 0, got;
    char *out = malloc(cap);

    assert_non_null(out);
    while ((got = ds_body_read(out + n, slice < cap - n ? slice : cap - n,
                               b)) > 0) {
        assert_true(got != (size_t)-1);
        n += got;
        if (n == cap - 1)
            break;
    }
    /* After the last byte the body reports its end. */
    assert_int_equal(ds_body_read(out + n, 1, b), 0);
    out[n] = '\0';
    *len = n;
    return out;
}

static json_t *fields_with_name(void)
{
    json_t *f = json_pack("{s:s}", "fileName", "Angebot Größe \"v2\".pdf");

    assert_non_null(f);
    return f;
}

/* Decodes the content of a body and checks it against the pattern. */
static void assert_content_is_file(const char *text, const pb *fp, size_t n)
{
    json_t *doc = json_loads(text, 0, NULL);
    const char *b64;
    unsigned char *decoded, *expect;
    long got;

    assert_non_null(doc);
    b64 = json_string_value(json_object_get(doc, "content"));
    assert_non_null(b64);
    assert_int_equal(strlen(b64), ds_base64_len(n));
    assert_null(strpbrk(b64, " \r\n\t"));
    decoded = malloc(n + 3);
    expect = malloc(n + 1);
    got = ds_b64_decode(b64, strlen(b64), decoded);
    assert_int_equal(got, (long)n);
    (void)fp;
    for (size_t i = 0; i < n; i++)
        expect[i] = pb_byte(i);
    assert_memory_equal(decoded, expect, n);
    free(decoded);
    free(expect);
    json_decref(doc);
}

static void test_100_bytes_become_136_chars_inside_valid_json(void **state)
{
    pb *fp = pb_new(100);
    json_t *f = fields_with_name();
    ds_err err;
    ds_body *b;
    size_t len;
    char *text;
    json_t *doc;

    (void)state;
    ds_err_clear(&err);
    b = ds_body_new(f, "content", fp->reader, &err);
    assert_non_null(b);
    text = read_all(b, 7, &len);
    assert_int_equal(len, ds_body_length(b));
    doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "fileName")),
                        "Angebot Größe \"v2\".pdf");
    assert_int_equal(strlen(json_string_value(json_object_get(doc,
                                                              "content"))),
                     136);
    assert_content_is_file(text, fp, 100);
    json_decref(doc);
    free(text);
    ds_body_free(b);
    json_decref(f);
    pb_free(fp);
}

static void test_every_slice_size_gives_the_same_body(void **state)
{
    size_t slices[] = {1, 2, 3, 4, 5, 64, 4096, 1 << 20};
    pb *fp = pb_new(200003);
    json_t *f = fields_with_name();
    char *first = NULL;
    size_t i, len;
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    for (i = 0; i < sizeof(slices) / sizeof(slices[0]); i++) {
        ds_body *b = ds_body_new(f, "content", fp->reader, &err);
        char *text;

        assert_non_null(b);
        text = read_all(b, slices[i], &len);
        assert_int_equal(len, ds_body_length(b));
        if (first == NULL) {
            assert_content_is_file(text, fp, 200003);
            first = text;
        } else {
            assert_string_equal(text, first);
            free(text);
        }
        ds_body_free(b);
    }
    free(first);
    json_decref(f);
    pb_free(fp);
}

static void test_rewind_mid_body_resends_every_byte(void **state)
{
    const size_t n = 5242880; /* the 5 MiB of case C07 */
    pb *fp = pb_new(n);
    json_t *f = fields_with_name();
    char scratch[65536];
    ds_err err;
    ds_body *b;
    size_t len;
    char *text;

    (void)state;
    ds_err_clear(&err);
    b = ds_body_new(f, "content", fp->reader, &err);
    assert_non_null(b);
    /* A first attempt that dies half way, as after a 401 mid-upload. */
    for (len = 0; len < n / 2;)
        len += ds_body_read(scratch, sizeof(scratch), b);
    assert_int_equal(ds_body_rewind(b), 0);
    text = read_all(b, 16384, &len);
    assert_int_equal(len, ds_body_length(b));
    assert_content_is_file(text, fp, n);
    free(text);
    ds_body_free(b);
    json_decref(f);
    pb_free(fp);
}

static void test_empty_file_gives_empty_content(void **state)
{
    pb *fp = pb_new(0);
    json_t *f = json_object();
    ds_err err;
    ds_body *b;
    size_t len;
    char *text;

    (void)state;
    ds_err_clear(&err);
    b = ds_body_new(f, "content", fp->reader, &err);
    assert_non_null(b);
    text = read_all(b, 3, &len);
    assert_string_equal(text, "{\"content\":\"\"}");
    assert_int_equal(len, ds_body_length(b));
    free(text);
    ds_body_free(b);
    json_decref(f);
    pb_free(fp);
}

static void test_file_shorter_than_announced_aborts(void **state)
{
    pb *fp = pb_new(100000);
    json_t *f = json_object();
    char buf[4096];
    ds_err err;
    ds_body *b;
    size_t got = 0;

    (void)state;
    ds_err_clear(&err);
    b = ds_body_new(f, "content", fp->reader, &err);
    assert_non_null(b);
    /* The blob loses its tail after it was opened at its full size. */
    assert_int_equal(truncate(fp->path, 10), 0);
    while (got != (size_t)-1 && (got = ds_body_read(buf, sizeof(buf), b)) >
           0)
        ;
    /* A short copy must never be sent as if complete. */
    assert_true(got == (size_t)-1);
    assert_string_equal(err.reason, "blob_io");
    ds_body_free(b);
    json_decref(f);
    pb_free(fp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_100_bytes_become_136_chars_inside_valid_json),
        cmocka_unit_test(test_every_slice_size_gives_the_same_body),
        cmocka_unit_test(test_rewind_mid_body_resends_every_byte),
        cmocka_unit_test(test_empty_file_gives_empty_content),
        cmocka_unit_test(test_file_shorter_than_announced_aborts),
    };

    return cmocka_run_group_tests_name("body", tests, NULL, NULL);
}
