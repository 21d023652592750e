/*
 * The streamed multipart/form-data body (cases C07, C10, C11 for a
 * destination that takes a form). Bodies are read back through a parser
 * of this file's own, which knows only the boundary from the Content-Type
 * and RFC 2046's framing. File-name cases live in
 * tests/unit/data/multipart/names.json.
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
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ds_multipart.h"
#include "pattern_blob.h"

#define DATA "tests/unit/data/multipart/"
#define CT_PREFIX "multipart/form-data; boundary="
#define MAX_PARTS 32

/* ---- reading a body ---- */

/* Reads the whole body in slices of at most `slice` bytes into a new
 * buffer and checks that it ends where its length says. */
static char *read_all(ds_multipart *m, size_t slice, size_t *len)
{
    size_t cap = (size_t)ds_multipart_length(m), n = 0, got, want;
    char *out = malloc(cap + 1);

    assert_non_null(out);
    for (;;) {
        want = slice < cap + 1 - n ? slice : cap + 1 - n;
        got = ds_multipart_read(out + n, want, m);
        assert_true(got != (size_t)-1);
        if (got == 0)
            break;
        n += got;
        /* Never more than the length announced, never more than asked. */
        assert_in_range(got, 1, want);
        assert_in_range(n, 0, cap);
    }
    assert_int_equal(n, cap);
    assert_int_equal(ds_multipart_read(out + n, 1, m), 0);
    *len = n;
    return out;
}

/* ---- an independent parser ---- */

typedef struct mp_part {
    char *disposition;       /* header values, NULL when absent */
    char *content_type;
    const char *data;        /* the part's bytes, inside the body */
    size_t len;
} mp_part;

typedef struct mp_body {
    mp_part part[MAX_PARTS];
    size_t n;
    char boundary[128];
} mp_body;

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    assert_non_null(d);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Reads the header block [p, end) of one part: "Name: value" lines, each
 * ending in CRLF, only Content-Disposition and Content-Type. */
static void mp_headers(const char *p, const char *end, mp_part *part)
{
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        const char *colon;
        char **slot = NULL;

        assert_non_null(eol);
        colon = memchr(p, ':', (size_t)(eol - p));
        assert_non_null(colon);
        assert_int_equal(colon[1], ' ');
        if ((size_t)(colon - p) == 19 &&
            strncasecmp(p, "Content-Disposition", 19) == 0)
            slot = &part->disposition;
        else if ((size_t)(colon - p) == 12 &&
                 strncasecmp(p, "Content-Type", 12) == 0)
            slot = &part->content_type;
        else
            fail_msg("unexpected header line: %.*s", (int)(eol - p), p);
        assert_null(*slot);
        *slot = dup_n(colon + 2, (size_t)(eol - colon - 2));
        p = eol + 2;
    }
}

/* Splits body on the boundary named by content_type: a first delimiter
 * at the very start, CRLF--boundary before every other part, and the
 * close delimiter CRLF--boundary-- CRLF as the last bytes. */
static void mp_parse(const char *body, size_t len, const char *content_type,
                     mp_body *out)
{
    const char *end = body + len, *p, *q, *hdr_end;
    char delim[140];
    size_t dlen;

    memset(out, 0, sizeof(*out));
    assert_int_equal(strncmp(content_type, CT_PREFIX, strlen(CT_PREFIX)), 0);
    snprintf(out->boundary, sizeof(out->boundary), "%s",
             content_type + strlen(CT_PREFIX));
    dlen = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", out->boundary);

    assert_true(len >= dlen);
    assert_memory_equal(body, delim + 2, dlen - 2);
    assert_memory_equal(body + dlen - 2, "\r\n", 2);
    p = body + dlen;
    for (;;) {
        mp_part *part = &out->part[out->n];

        assert_in_range(out->n, 0, MAX_PARTS - 1);
        q = memmem(p, (size_t)(end - p), delim, dlen);
        assert_non_null(q);
        hdr_end = memmem(p, (size_t)(q - p), "\r\n\r\n", 4);
        assert_non_null(hdr_end);
        mp_headers(p, hdr_end + 2, part);
        part->data = hdr_end + 4;
        part->len = (size_t)(q - part->data);
        out->n++;

        p = q + dlen;
        assert_true(end - p >= 2);
        if (memcmp(p, "--", 2) == 0) {
            assert_int_equal(end - p, 4);
            assert_memory_equal(p + 2, "\r\n", 2);
            return;
        }
        assert_memory_equal(p, "\r\n", 2);
        p += 2;
    }
}

static void mp_free(mp_body *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->part[i].disposition);
        free(b->part[i].content_type);
    }
}

/* The value of parameter key in a Content-Disposition "form-data; k=v;
 * ...", quoted ("...", read up to the next quote) or not; NULL when it is
 * not there. The caller frees it. */
static char *mp_param(const char *disposition, const char *key)
{
    const char *p = disposition, *eq, *v, *close;
    char *found = NULL;

    assert_int_equal(strncmp(p, "form-data", 9), 0);
    p += 9;
    while (*p != '\0') {
        assert_memory_equal(p, "; ", 2);
        p += 2;
        eq = strchr(p, '=');
        assert_non_null(eq);
        v = eq + 1;
        if (*v == '"') {
            close = strchr(v + 1, '"');
            assert_non_null(close);
            v++;
        } else {
            close = strchr(v, ';');
            if (close == NULL)
                close = v + strlen(v);
        }
        if ((size_t)(eq - p) == strlen(key) &&
            strncmp(p, key, strlen(key)) == 0) {
            assert_null(found);
            found = dup_n(v, (size_t)(close - v));
        }
        p = *close == '"' ? close + 1 : close;
    }
    return found;
}

/* 1 for RFC 8187's attr-char, written out here on its own. */
static int is_attr_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '!' || c == '#' || c == '$' ||
           c == '&' || c == '+' || c == '-' || c == '.' || c == '^' ||
           c == '_' || c == '`' || c == '|' || c == '~';
}

static int hex_value(int c)
{
    /* Upper case only: the encoder promises it. */
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    fail_msg("not an upper-case hex digit: %c", c);
    return -1;
}

/* Decodes a filename* value UTF-8''<value-chars> into a new string,
 * failing on anything RFC 8187 does not allow there. */
static char *decode_ext_value(const char *v)
{
    char *out = malloc(strlen(v) + 1), *o = out;

    assert_non_null(out);
    assert_int_equal(strncmp(v, "UTF-8''", 7), 0);
    for (v += 7; *v != '\0'; v++) {
        if (*v == '%') {
            assert_true(v[1] != '\0' && v[2] != '\0');
            *o++ = (char)(hex_value(v[1]) * 16 + hex_value(v[2]));
            v += 2;
        } else {
            assert_true(is_attr_char((unsigned char)*v));
            *o++ = *v;
        }
    }
    *o = '\0';
    return out;
}

/* Undoes the HTML5 escapes %22, %0D and %0A into a new string. */
static char *decode_raw(const char *v)
{
    char *out = malloc(strlen(v) + 1), *o = out;

    assert_non_null(out);
    while (*v != '\0') {
        if (strncmp(v, "%22", 3) == 0 || strncmp(v, "%0D", 3) == 0 ||
            strncmp(v, "%0A", 3) == 0) {
            *o++ = v[2] == '2' ? '"' : v[2] == 'D' ? '\r' : '\n';
            v += 3;
        } else {
            *o++ = *v++;
        }
    }
    *o = '\0';
    return out;
}

/* Asserts part's name parameter and that it has no filename. */
static void assert_text_part(const mp_part *part, const char *name,
                             const char *value)
{
    char *got = mp_param(part->disposition, "name");
    char *fn = mp_param(part->disposition, "filename");

    assert_non_null(got);
    assert_string_equal(got, name);
    assert_null(fn);
    assert_null(part->content_type);
    assert_int_equal(part->len, strlen(value));
    assert_memory_equal(part->data, value, part->len);
    free(got);
}

static void assert_pattern(const char *data, size_t len, size_t n)
{
    unsigned char *expect = pb_bytes(n);

    assert_int_equal(len, n);
    assert_memory_equal(data, expect, n);
    free(expect);
}

/* ---- helpers for the cases ---- */

static ds_multipart *body_named(const json_t *fields, const char *name,
                                ds_multipart_name_style style, pb *fp,
                                ds_err *err)
{
    ds_multipart_opts o = {0};

    o.file_name = name;
    o.name_style = style;
    ds_err_clear(err);
    return ds_multipart_new(fields, &o, fp->reader, err);
}

/* Makes the body of fields and fp, reads it in slices and parses it. */
static char *read_parsed(ds_multipart *m, size_t slice, mp_body *parsed)
{
    size_t len;
    char *text;

    assert_non_null(m);
    text = read_all(m, slice, &len);
    mp_parse(text, len, ds_multipart_content_type(m), parsed);
    return text;
}

/* Stores bytes[0..n) as a blob in a new store under parent and opens a
 * reader on it; pb_free removes it all. */
static pb *blob_of(const char *parent, const unsigned char *bytes, size_t n)
{
    char sha[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    pb *b = calloc(1, sizeof(*b));
    ds_blob_writer *w;
    uint64_t size;
    ds_err err;

    assert_non_null(b);
    ds_err_clear(&err);
    snprintf(b->root, sizeof(b->root), "%s/ds_multipart_blob.XXXXXX", parent);
    if (mkdtemp(b->root) == NULL) {
        free(b);
        return NULL;
    }
    b->store = ds_blob_store_new(b->root, &err);
    assert_non_null(b->store);
    w = ds_blob_writer_new(b->store, &err);
    assert_non_null(w);
    assert_int_equal(ds_blob_write(w, bytes, n, &err), 0);
    assert_int_equal(ds_blob_commit(w, sha, md5, &size, &err), 0);
    ds_blob_writer_free(w);
    assert_int_equal(ds_blob_fs_path(b->root, sha, b->path,
                                     sizeof(b->path)), 0);
    b->reader = ds_blob_reader_new(b->store, sha, &err);
    assert_non_null(b->reader);
    b->size = n;
    return b;
}

/* Stores n random bytes (a copy in *bytes, for the caller to free). */
static pb *random_blob(size_t n, unsigned char **bytes)
{
    size_t off;
    pb *b;

    *bytes = malloc(n);
    assert_non_null(*bytes);
    for (off = 0; off < n;) {
        ssize_t got = getrandom(*bytes + off, n - off, 0);

        assert_true(got > 0);
        off += (size_t)got;
    }
    b = blob_of("/tmp", *bytes, n);
    assert_non_null(b);
    return b;
}

static size_t count(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle), found = 0;
    const char *p = hay, *end = hay + n;

    while ((p = memmem(p, (size_t)(end - p), needle, k)) != NULL) {
        found++;
        p += k;
    }
    return found;
}

/* ---- the cases ---- */

static void test_each_field_and_the_file_parse_back_exactly(void **state)
{
    json_t *f = json_pack("{s:s, s:s, s:I, s:f, s:b, s:[s,i], s:{s:s}, s:n}",
                          "fileName", "Angebot Größe \"v2\".pdf",
                          "transactionId", "tx_42",
                          "size", (json_int_t)5368709120LL,
                          "ratio", 0.5,
                          "final", 1,
                          "tags", "a", 2,
                          "meta", "k", "v",
                          "gone");
    pb *fp = pb_new(100003);
    unsigned char skip[10];
    mp_body parsed;
    ds_multipart *m;
    ds_err err;
    char *text, *v;

    (void)state;
    assert_non_null(f);
    ds_err_clear(&err);
    /* A reader already moved on is taken back to the blob's start. */
    assert_int_equal(ds_blob_read(fp->reader, skip, sizeof(skip), &err), 10);
    m = body_named(f, "Angebot.pdf", DS_MULTIPART_RFC8187, fp, &err);
    text = read_parsed(m, 4096, &parsed);

    assert_int_equal(parsed.n, 8);
    assert_text_part(&parsed.part[0], "fileName", "Angebot Größe \"v2\".pdf");
    assert_text_part(&parsed.part[1], "transactionId", "tx_42");
    assert_text_part(&parsed.part[2], "size", "5368709120");
    assert_text_part(&parsed.part[3], "ratio", "0.5");
    assert_text_part(&parsed.part[4], "final", "true");
    assert_text_part(&parsed.part[5], "tags", "[\"a\",2]");
    assert_text_part(&parsed.part[6], "meta", "{\"k\":\"v\"}");

    v = mp_param(parsed.part[7].disposition, "name");
    assert_string_equal(v, "file");
    free(v);
    v = mp_param(parsed.part[7].disposition, "filename");
    assert_string_equal(v, "Angebot.pdf");
    free(v);
    assert_null(mp_param(parsed.part[7].disposition, "filename*"));
    assert_string_equal(parsed.part[7].content_type,
                        "application/octet-stream");
    assert_pattern(parsed.part[7].data, parsed.part[7].len, 100003);

    mp_free(&parsed);
    free(text);
    ds_multipart_free(m);
    json_decref(f);
    pb_free(fp);
}

static void test_length_is_the_bytes_produced_for_every_slice(void **state)
{
    const size_t slices[] = {1, 2, 3, 7, 4096, 1 << 20};
    json_t *f = json_pack("{s:s, s:i}", "fileName", "契約書.pdf", "n", 7);
    pb *fp = pb_new(70001);
    char *first = NULL;
    mp_body parsed;
    ds_multipart *m;
    size_t i, len;
    ds_err err;

    (void)state;
    m = body_named(f, "契約書.pdf", DS_MULTIPART_RFC8187, fp, &err);
    assert_non_null(m);
    for (i = 0; i < sizeof(slices) / sizeof(slices[0]); i++) {
        char *text;

        assert_int_equal(ds_multipart_rewind(m), 0);
        text = read_all(m, slices[i], &len);
        assert_int_equal(len, ds_multipart_length(m));
        if (first == NULL) {
            mp_parse(text, len, ds_multipart_content_type(m), &parsed);
            assert_int_equal(parsed.n, 3);
            assert_pattern(parsed.part[2].data, parsed.part[2].len, 70001);
            mp_free(&parsed);
            first = text;
        } else {
            assert_memory_equal(text, first, len);
            free(text);
        }
    }
    free(first);
    ds_multipart_free(m);
    json_decref(f);
    pb_free(fp);
}

static void test_rewind_anywhere_then_reading_gives_the_same_body(
    void **state)
{
    const size_t n = 5242880; /* the 5 MiB of case C07 */
    json_t *f = json_pack("{s:s}", "fileName", "big.bin");
    /* Stop points: in the fields, in the file, in the closing delimiter. */
    size_t stops[3], len, i, got, done;
    pb *fp = pb_new(n);
    char *whole, *again;
    char *scratch = malloc(65536);
    ds_multipart *m;
    ds_err err;

    (void)state;
    assert_non_null(scratch);
    m = body_named(f, "big.bin", DS_MULTIPART_RFC8187, fp, &err);
    assert_non_null(m);
    whole = read_all(m, 65536, &len);
    stops[0] = 5;
    stops[1] = len / 2;
    stops[2] = len - 3;
    for (i = 0; i < 3; i++) {
        /* A first attempt dies after stops[i] bytes, as after a 401. */
        assert_int_equal(ds_multipart_rewind(m), 0);
        for (done = 0; done < stops[i]; done += got) {
            got = ds_multipart_read(scratch, stops[i] - done < 65536 ?
                                    stops[i] - done : 65536, m);
            assert_in_range(got, 1, 65536);
        }
        assert_int_equal(ds_multipart_rewind(m), 0);
        again = read_all(m, 16384, &len);
        assert_int_equal(len, ds_multipart_length(m));
        assert_memory_equal(again, whole, len);
        free(again);
    }
    free(whole);
    free(scratch);
    ds_multipart_free(m);
    json_decref(f);
    pb_free(fp);
}

static void test_an_empty_file_gives_an_empty_file_part(void **state)
{
    pb *fp = pb_new(0);
    mp_body parsed;
    ds_multipart *m;
    ds_err err;
    char *text;

    (void)state;
    m = body_named(NULL, "empty.txt", DS_MULTIPART_RFC8187, fp, &err);
    text = read_parsed(m, 3, &parsed);
    assert_int_equal(parsed.n, 1);
    assert_int_equal(parsed.part[0].len, 0);
    assert_string_equal(parsed.part[0].disposition,
                        "form-data; name=\"file\"; filename=\"empty.txt\"");
    mp_free(&parsed);
    free(text);
    ds_multipart_free(m);
    pb_free(fp);
}

/* One case of names.json: its fallback, its filename* (or none), and the
 * name recovered from filename* byte for byte. */
static void check_name_case(const json_t *c, pb *fp)
{
    const char *why = json_string_value(json_object_get(c, "case"));
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *fallback = json_string_value(json_object_get(c, "fallback"));
    const json_t *star = json_object_get(c, "filename_star");
    char *fn, *ext, *decoded, *text;
    mp_body parsed;
    ds_multipart *m;
    ds_err err;

    assert_non_null(why);
    assert_non_null(name);
    assert_non_null(fallback);
    print_message("name case: %s\n", why);
    m = body_named(NULL, name, DS_MULTIPART_RFC8187, fp, &err);
    text = read_parsed(m, 4096, &parsed);
    assert_int_equal(parsed.n, 1);

    fn = mp_param(parsed.part[0].disposition, "filename");
    assert_non_null(fn);
    assert_string_equal(fn, fallback);
    ext = mp_param(parsed.part[0].disposition, "filename*");
    if (json_is_null(star)) {
        assert_null(ext);
    } else {
        assert_non_null(ext);
        assert_string_equal(ext + 7, json_string_value(star));
        decoded = decode_ext_value(ext);
        assert_int_equal(strlen(decoded), strlen(name));
        assert_memory_equal(decoded, name, strlen(name));
        free(decoded);
    }
    assert_pattern(parsed.part[0].data, parsed.part[0].len, fp->size);
    free(fn);
    free(ext);
    mp_free(&parsed);
    free(text);
    ds_multipart_free(m);
}

static void test_names_in_any_script_get_a_fallback_and_exact_filename_star(
    void **state)
{
    json_error_t jerr;
    json_t *cases = json_load_file(DATA "names.json", 0, &jerr);
    pb *fp = pb_new(33);
    size_t i;
    json_t *c;

    (void)state;
    if (cases == NULL)
        fail_msg("%s: %s", DATA "names.json", jerr.text);
    assert_true(json_array_size(cases) >= 4);
    json_array_foreach(cases, i, c)
        check_name_case(c, fp);
    json_decref(cases);
    pb_free(fp);
}

static void test_raw_style_sends_utf8_with_quote_cr_lf_escaped(void **state)
{
    const char *names[] = {"Angebot \"v2\"\\final\r\n.pdf", "契約書 \"a\".pdf"};
    const char *expect[] = {"Angebot %22v2%22\\final%0D%0A.pdf",
                            "契約書 %22a%22.pdf"};
    pb *fp = pb_new(10);
    mp_body parsed;
    ds_multipart *m;
    char *fn, *back, *text;
    ds_err err;

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        m = body_named(NULL, names[i], DS_MULTIPART_RAW, fp, &err);
        text = read_parsed(m, 7, &parsed);
        fn = mp_param(parsed.part[0].disposition, "filename");
        assert_non_null(fn);
        assert_string_equal(fn, expect[i]);
        assert_null(mp_param(parsed.part[0].disposition, "filename*"));
        back = decode_raw(fn);
        assert_string_equal(back, names[i]);
        free(back);
        free(fn);
        mp_free(&parsed);
        free(text);
        ds_multipart_free(m);
    }
    pb_free(fp);
}

static void test_field_names_are_escaped_like_raw_file_names(void **state)
{
    json_t *f = json_pack("{s:s, s:s}", "a\"b\r\nc", "x", "Größe", "y");
    pb *fp = pb_new(10);
    mp_body parsed;
    ds_multipart *m;
    ds_err err;
    char *text;

    (void)state;
    m = body_named(f, "f.bin", DS_MULTIPART_RFC8187, fp, &err);
    text = read_parsed(m, 4096, &parsed);
    assert_int_equal(parsed.n, 3);
    assert_text_part(&parsed.part[0], "a%22b%0D%0Ac", "x");
    assert_text_part(&parsed.part[1], "Größe", "y");
    mp_free(&parsed);
    free(text);
    ds_multipart_free(m);
    json_decref(f);
    pb_free(fp);
}

static void test_json_mode_sends_the_fields_as_one_json_part(void **state)
{
    json_t *f = json_pack("{s:s, s:i, s:n, s:{s:[i]}}", "fileName", "Größe",
                          "size", 10, "note", "nested", "a", 1);
    ds_multipart_opts o = {0};
    pb *fp = pb_new(1000);
    json_t *got;
    mp_body parsed;
    ds_multipart *m;
    char *text, *v;
    ds_err err;

    (void)state;
    o.file_name = "Договор.pdf";
    o.file_field = "document";
    o.mime_type = "application/pdf";
    o.metadata = DS_MULTIPART_JSON;
    o.metadata_field = "meta";
    ds_err_clear(&err);
    m = ds_multipart_new(f, &o, fp->reader, &err);
    text = read_parsed(m, 1 << 20, &parsed);
    assert_int_equal(parsed.n, 2);

    v = mp_param(parsed.part[0].disposition, "name");
    assert_string_equal(v, "meta");
    free(v);
    assert_string_equal(parsed.part[0].content_type, "application/json");
    /* Compact, in the object's order, nulls kept: the JSON as it is. */
    assert_int_equal(parsed.part[0].len,
                     strlen("{\"fileName\":\"Größe\",\"size\":10,"
                            "\"note\":null,\"nested\":{\"a\":[1]}}"));
    assert_memory_equal(parsed.part[0].data,
                        "{\"fileName\":\"Größe\",\"size\":10,"
                        "\"note\":null,\"nested\":{\"a\":[1]}}",
                        parsed.part[0].len);
    got = json_loadb(parsed.part[0].data, parsed.part[0].len, 0, NULL);
    assert_non_null(got);
    assert_true(json_equal(got, f));
    json_decref(got);

    v = mp_param(parsed.part[1].disposition, "name");
    assert_string_equal(v, "document");
    free(v);
    assert_string_equal(parsed.part[1].content_type, "application/pdf");
    assert_pattern(parsed.part[1].data, parsed.part[1].len, 1000);

    mp_free(&parsed);
    free(text);
    ds_multipart_free(m);
    json_decref(f);
    pb_free(fp);
}

/* Asserts that the body of fields and opts is refused as bad_body. */
static void assert_refused(json_t *fields, const ds_multipart_opts *o,
                           pb *fp, const char *why)
{
    ds_multipart *m;
    ds_err err;

    print_message("refused: %s\n", why);
    ds_err_clear(&err);
    m = ds_multipart_new(fields, o, fp->reader, &err);
    assert_null(m);
    assert_string_equal(err.reason, "bad_body");
    ds_multipart_free(m);
    json_decref(fields);
}

static void test_input_that_would_break_a_header_is_refused(void **state)
{
    const char *bad_utf8[] = {
        "\xff.pdf",             /* not a lead byte */
        "a\xc3.pdf",            /* cut sequence */
        "\xc0\xaf.pdf",         /* overlong '/', two bytes */
        "\xe0\x80\xaf.pdf",     /* overlong '/', three bytes */
        "\xf0\x80\x80\xaf.pdf", /* overlong '/', four bytes */
        "\xed\xa0\x80.pdf",     /* a surrogate */
        "\xf4\x90\x80\x80.pdf", /* past U+10FFFF */
    };
    ds_multipart_opts ok = {.file_name = "ok.pdf"}, o;
    pb *fp = pb_new(10);
    json_t *f;
    ds_err err;
    size_t i;

    (void)state;
    /* The control: the same calls with good input make a body. */
    ds_err_clear(&err);
    f = json_pack("{s:s, s:[s]}", "k", "v", "a", "w");
    ds_multipart_free(ds_multipart_new(f, &ok, fp->reader, &err));
    assert_string_equal(err.reason, "");
    json_decref(f);

    for (i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
        o = ok;
        o.file_name = bad_utf8[i];
        assert_refused(NULL, &o, fp, "a file name not UTF-8");
    }
    f = json_object();
    json_object_set_new(f, "k", json_string_nocheck("\xff"));
    assert_refused(f, &ok, fp, "a field value not UTF-8");
    f = json_object();
    json_object_set_new_nocheck(f, "k\xc3", json_string("v"));
    assert_refused(f, &ok, fp, "a field name not UTF-8");
    f = json_pack("{s:[s]}", "a", "w");
    json_array_append_new(json_object_get(f, "a"), json_string_nocheck("\xc3"));
    o = ok;
    o.metadata = DS_MULTIPART_JSON;
    assert_refused(f, &o, fp, "a nested string not UTF-8, JSON mode");

    o = ok;
    o.mime_type = "text/plain\r\nX-Injected: 1";
    assert_refused(NULL, &o, fp, "a mime type with CR LF");
    o.mime_type = "text/plain\nX: 1";
    assert_refused(NULL, &o, fp, "a mime type with LF");
    o.mime_type = "";
    assert_refused(NULL, &o, fp, "an empty mime type");
    o.mime_type = "text/\xff";
    assert_refused(NULL, &o, fp, "a mime type not UTF-8");
    o = ok;
    o.file_field = "f\xff";
    assert_refused(NULL, &o, fp, "a file field name not UTF-8");
    o = ok;
    o.file_name = NULL;
    assert_refused(NULL, &o, fp, "no file name");
    assert_refused(NULL, NULL, fp, "no options");
    assert_refused(json_array(), &ok, fp, "fields that are not an object");
    pb_free(fp);
}

static void test_a_blob_cut_short_after_opening_fails_with_blob_io(
    void **state)
{
    pb *fp = pb_new(100000);
    size_t got = 0, total = 0;
    char buf[4096];
    ds_multipart *m;
    ds_err err;

    (void)state;
    m = body_named(NULL, "x.bin", DS_MULTIPART_RFC8187, fp, &err);
    assert_non_null(m);
    /* The blob loses its tail after it was opened at its full size. */
    assert_int_equal(truncate(fp->path, 10), 0);
    while ((got = ds_multipart_read(buf, sizeof(buf), m)) != (size_t)-1 &&
           got > 0)
        total += got;
    /* A short copy must never be sent as if complete. */
    assert_int_equal(got, (size_t)-1);
    assert_string_equal(err.reason, "blob_io");
    assert_in_range(total, 0, (size_t)ds_multipart_length(m) - 100000 + 10);
    ds_multipart_free(m);
    pb_free(fp);
}

/* Reads the whole body through one buffer, keeping only its count and its
 * last last_len bytes (the body is longer than that). */
static uint64_t count_all(ds_multipart *m, char *buf, size_t cap,
                          char *last, size_t last_len)
{
    uint64_t total = 0;
    size_t got;

    while ((got = ds_multipart_read(buf, cap, m)) > 0) {
        assert_true(got != (size_t)-1);
        total += got;
        if (got >= last_len) {
            memcpy(last, buf + got - last_len, last_len);
        } else {
            memmove(last, last + got, last_len - got);
            memcpy(last + last_len - got, buf, got);
        }
    }
    return total;
}

static void test_a_file_over_4_gib_is_counted_and_streamed_whole(
    void **state)
{
    const uint64_t big = 5ULL << 30;
    const size_t cap = 1 << 20;
    json_t *f = json_pack("{s:s}", "fileName", "huge.bin");
    const unsigned char ten[10] = "0123456789";
    /* Holes read fast from tmpfs; a disk is slower but as good. */
    pb *fp = blob_of("/dev/shm", ten, sizeof(ten));
    char sha[DS_SHA256_HEX_LEN + 1], tail[64], expect[64];
    char *buf = malloc(cap);
    ds_multipart_opts o = {.file_name = "huge.bin"};
    ds_multipart *small, *m;
    ds_blob_reader *r;
    struct rusage before, after;
    int64_t text_len;
    ds_err err;

    (void)state;
    assert_non_null(buf);
    if (fp == NULL)
        fp = blob_of("/tmp", ten, sizeof(ten));
    assert_non_null(fp);
    small = body_named(f, "huge.bin", DS_MULTIPART_RFC8187, fp, &err);
    assert_non_null(small);
    text_len = ds_multipart_length(small) - 10;

    /* The same blob made 5 GiB of holes: a reader opened now sees it at
     * that size, without 5 GiB stored. */
    snprintf(sha, sizeof(sha), "%s", strrchr(fp->path, '/') + 1);
    assert_int_equal(truncate(fp->path, (off_t)big), 0);
    r = ds_blob_reader_new(fp->store, sha, &err);
    assert_non_null(r);
    assert_int_equal(ds_blob_reader_size(r), big);
    ds_err_clear(&err);
    m = ds_multipart_new(f, &o, r, &err);
    assert_non_null(m);
    assert_int_equal(ds_multipart_length(m), text_len + (int64_t)big);
    assert_true(ds_multipart_length(m) > (int64_t)UINT32_MAX);

    /* Streamed whole through one buffer, and memory stays flat. */
    getrusage(RUSAGE_SELF, &before);
    assert_int_equal(count_all(m, buf, cap, tail, sizeof(tail)),
                     (uint64_t)ds_multipart_length(m));
    getrusage(RUSAGE_SELF, &after);
    assert_in_range(after.ru_maxrss - before.ru_maxrss, 0, 32 * 1024);
    snprintf(expect, sizeof(expect), "--%s--\r\n", ds_multipart_boundary(m));
    assert_memory_equal(tail + sizeof(tail) - strlen(expect), expect,
                        strlen(expect));

    ds_multipart_free(m);
    ds_multipart_free(small);
    ds_blob_reader_free(r);
    free(buf);
    json_decref(f);
    pb_free(fp);
}

static void assert_boundary_form(const ds_multipart *m)
{
    const char *b = ds_multipart_boundary(m);
    char ct[128];

    assert_int_equal(strlen(b), 40);
    assert_int_equal(strncmp(b, "docsync-", 8), 0);
    assert_int_equal(strspn(b + 8, "0123456789abcdef"), 32);
    snprintf(ct, sizeof(ct), "%s%s", CT_PREFIX, b);
    assert_string_equal(ds_multipart_content_type(m), ct);
}

static void test_every_body_draws_a_new_random_boundary(void **state)
{
    const int draws = 64;
    /* seen[i][c]: hex character c came up at position i of a boundary. */
    unsigned char seen[32][16] = {{0}};
    char first[64] = "";
    pb *fp = pb_new(10);
    ds_multipart *m;
    ds_err err;
    int i, k, kinds;

    (void)state;
    for (i = 0; i < draws; i++) {
        const char *b;

        m = body_named(NULL, "a", DS_MULTIPART_RFC8187, fp, &err);
        assert_non_null(m);
        assert_boundary_form(m);
        b = ds_multipart_boundary(m);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", b);
        else
            assert_string_not_equal(b, first);
        for (k = 0; k < 32; k++)
            seen[k][strchr("0123456789abcdef", b[8 + k]) -
                    "0123456789abcdef"] = 1;
        ds_multipart_free(m);
    }
    /* Every position varies: a position stuck on one character in 64
     * draws has odds of 16^-63 when it is random. */
    for (k = 0; k < 32; k++) {
        for (i = 0, kinds = 0; i < 16; i++)
            kinds += seen[k][i];
        assert_in_range(kinds, 2, 16);
    }
    pb_free(fp);
}

static void test_the_boundary_is_only_in_delimiters_of_random_bytes(
    void **state)
{
    const size_t n = 4 << 20;
    json_t *f = json_pack("{s:s, s:s}", "a", "1", "b", "2");
    unsigned char *bytes;
    pb *fp = random_blob(n, &bytes);
    mp_body parsed;
    ds_multipart *m;
    ds_err err;
    char *text;
    size_t len;

    (void)state;
    m = body_named(f, "r.bin", DS_MULTIPART_RFC8187, fp, &err);
    assert_non_null(m);
    text = read_all(m, 65536, &len);
    mp_parse(text, len, ds_multipart_content_type(m), &parsed);
    assert_int_equal(parsed.n, 3);
    /* Three parts: three delimiters and the close one, nothing more. */
    assert_int_equal(count(text, len, ds_multipart_boundary(m)), 4);
    assert_int_equal(parsed.part[2].len, n);
    assert_memory_equal(parsed.part[2].data, bytes, n);
    mp_free(&parsed);
    free(text);
    free(bytes);
    ds_multipart_free(m);
    json_decref(f);
    pb_free(fp);
}

static void test_free_accepts_null(void **state)
{
    (void)state;
    ds_multipart_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_field_and_the_file_parse_back_exactly),
        cmocka_unit_test(test_length_is_the_bytes_produced_for_every_slice),
        cmocka_unit_test(
            test_rewind_anywhere_then_reading_gives_the_same_body),
        cmocka_unit_test(test_an_empty_file_gives_an_empty_file_part),
        cmocka_unit_test(
            test_names_in_any_script_get_a_fallback_and_exact_filename_star),
        cmocka_unit_test(test_raw_style_sends_utf8_with_quote_cr_lf_escaped),
        cmocka_unit_test(test_field_names_are_escaped_like_raw_file_names),
        cmocka_unit_test(test_json_mode_sends_the_fields_as_one_json_part),
        cmocka_unit_test(test_input_that_would_break_a_header_is_refused),
        cmocka_unit_test(
            test_a_blob_cut_short_after_opening_fails_with_blob_io),
        cmocka_unit_test(test_a_file_over_4_gib_is_counted_and_streamed_whole),
        cmocka_unit_test(test_every_body_draws_a_new_random_boundary),
        cmocka_unit_test(
            test_the_boundary_is_only_in_delimiters_of_random_bytes),
        cmocka_unit_test(test_free_accepts_null),
    };

    return cmocka_run_group_tests_name("multipart", tests, NULL, NULL);
}
