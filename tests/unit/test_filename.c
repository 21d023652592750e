/*
 * test_filename.c - specification of common/ds_filename and ds_utf8: the
 * names a document may carry pass byte for byte, whatever their script,
 * spaces, quotes or length; an empty name, bytes that are not UTF-8, a
 * control character or a path are refused as bad_file_name, saying why.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_filename.h"
#include "ds_utf8.h"

/* A string literal as bytes and their count, NULs included. */
#define BYTES(s) s, sizeof(s) - 1

static void names_of_any_script_and_shape_pass(void **state)
{
    static const char *const names[] = {
        "Angebot.pdf",
        "Kaufvertrag Stra\xc3\x9f" "e \xe2\x80\x9e" "Gr\xc3\xb6\xc3\x9f"
        "e\xe2\x80\x9c" " 'final'.pdf",
        "\xe5\xa5\x91\xe7\xb4\x84\xe6\x9b\xb8.pdf",              /* Japanese */
        "\xd0\x94\xd0\xbe\xd0\xb3\xd0\xbe\xd0\xb2\xd0\xbe\xd1\x80.pdf",
        "\xd8\xb9\xd9\x82\xd8\xaf.pdf",                         /* Arabic */
        "\xf0\x9f\x8f\xa0 Haus.jpg",                            /* emoji */
        "Offer \"final\" \\ v2.pdf",
        "  leading and trailing spaces  ",
        "no extension",
        "..hidden",
        "a..b.pdf",
        "C:file.pdf",
        ".pdf",
        "\xe2\x80\x8f\xd8\xb9.pdf",                             /* RLM */
    };
    char long_name[401];
    size_t i;
    ds_err err;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        ds_err_clear(&err);
        if (ds_file_name_check(names[i], strlen(names[i]), &err) != 0)
            print_message("%s refused: %s\n", names[i], err.msg);
        assert_int_equal(ds_file_name_check(names[i], strlen(names[i]),
                                            &err), 0);
        assert_string_equal(err.reason, "");
    }
    memset(long_name, 'a', 396);
    memcpy(long_name + 396, ".pdf", 5);
    assert_int_equal(ds_file_name_check(long_name, 400, &err), 0);
}

static void bad_names_are_refused_saying_why(void **state)
{
    static const struct {
        const char *what, *name;
        size_t len;
        const char *says;
    } cases[] = {
        {"empty", BYTES(""), "is empty"},
        {"spaces only", BYTES("   "), "only spaces"},
        {"Latin-1", BYTES("Angebot_Gr\xf6\xdf" "e.pdf"),
         "is not valid UTF-8 (byte 10)"},
        {"overlong", BYTES("a\xc0\xaf.pdf"), "not valid UTF-8 (byte 1)"},
        {"surrogate", BYTES("a\xed\xa0\x80.pdf"), "not valid UTF-8"},
        {"cut short", BYTES("a.pdf\xe2\x82"), "not valid UTF-8 (byte 5)"},
        {"NUL", BYTES("a\0.pdf"), "control character (byte 1)"},
        {"LF", BYTES("Angebot\n.pdf"), "control character (byte 7)"},
        {"CR", BYTES("Angebot\r.pdf"), "control character"},
        {"TAB", BYTES("a\tb.pdf"), "control character"},
        {"ESC", BYTES("a\x1b[31m.pdf"), "control character"},
        {"DEL", BYTES("a\x7f.pdf"), "control character"},
        {"C1", BYTES("a\xc2\x85.pdf"), "control character (byte 1)"},
        {"slash", BYTES("/"), "holds a \"/\""},
        {"a/b", BYTES("a/b.pdf"), "holds a \"/\" (byte 1): a path"},
        {"../", BYTES("../../etc/passwd"), "holds a \"/\""},
        {"backslash alone", BYTES("\\"), "starts with a backslash"},
        {"UNC", BYTES("\\\\server\\share\\a.pdf"), "starts with a backslash"},
        {"..\\", BYTES("..\\a.pdf"), "holds \"..\" between backslashes"},
        {"a\\..\\b", BYTES("a\\..\\b.pdf"), "\"..\" between backslashes"},
        {"trailing \\..", BYTES("a\\.."), "\"..\" between backslashes"},
        {"drive", BYTES("C:\\a.pdf"), "starts with a drive"},
        {"dot", BYTES("."), "is a path"},
        {"dot dot", BYTES(".."), "is a path"},
    };
    size_t i;
    ds_err err;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;

        ds_err_clear(&err);
        rc = ds_file_name_check(cases[i].name, cases[i].len, &err);
        print_message("%s: %s: %s\n", cases[i].what, err.reason, err.msg);
        assert_int_equal(rc, -1);
        assert_string_equal(err.reason, "bad_file_name");
        assert_int_equal(err.klass, DS_CLASS_PERMANENT);
        assert_non_null(strstr(err.msg, cases[i].says));
        /* The message stays valid UTF-8 without control bytes, whatever
         * the name held, so that logs and the DLQ can carry it. */
        assert_int_equal(ds_utf8_invalid_at(err.msg, strlen(err.msg)),
                         strlen(err.msg));
        assert_null(strpbrk(err.msg, "\n\r\t\x1b\x7f"));
        assert_null(strstr(err.msg, "\xc2\x85"));
    }
}

/* A long bad name is shown cut, and the message still fits. */
static void a_long_bad_name_is_shown_cut(void **state)
{
    char name[2000];
    ds_err err;

    (void)state;
    memset(name, 'x', sizeof(name));
    name[1500] = '\n';
    ds_err_clear(&err);
    assert_int_equal(ds_file_name_check(name, sizeof(name), &err), -1);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "...\" holds a control character "
                                    "(byte 1500)"));
}

static void json_values_that_are_no_name_are_refused(void **state)
{
    json_t *number = json_integer(7), *null = json_null();
    json_t *ok = json_string("\xe5\xa5\x91\xe7\xb4\x84.pdf");
    json_t *nul = json_stringn("a\0b", 3);
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    assert_int_equal(ds_file_name_check_json(ok, &err), 0);
    assert_int_equal(ds_file_name_check_json(NULL, &err), -1);
    assert_string_equal(err.msg, "fileName is missing");
    ds_err_clear(&err);
    assert_int_equal(ds_file_name_check_json(null, &err), -1);
    ds_err_clear(&err);
    assert_int_equal(ds_file_name_check_json(number, &err), -1);
    assert_string_equal(err.msg, "fileName is not a string");
    /* A string's whole length counts, not its C string. */
    ds_err_clear(&err);
    assert_int_equal(ds_file_name_check_json(nul, &err), -1);
    assert_non_null(strstr(err.msg, "control character (byte 1)"));
    json_decref(number);
    json_decref(null);
    json_decref(ok);
    json_decref(nul);
}

/* ---- ds_utf8 ------------------------------------------------------------- */

static void utf8_sequences_are_well_formed_or_not(void **state)
{
    static const struct {
        const char *what, *bytes;
        size_t n, invalid_at;
        int cut;
    } cases[] = {
        {"ASCII", BYTES("abc"), 3, 0},
        {"two bytes", BYTES("\xc3\xb6"), 2, 0},
        {"four bytes", BYTES("\xf0\x9f\x8f\xa0"), 4, 0},
        {"overlong", BYTES("\xc0\xaf"), 0, 0},
        {"overlong three", BYTES("\xe0\x80\xaf"), 0, 0},
        {"surrogate", BYTES("\xed\xa0\x80"), 0, 0},
        {"past U+10FFFF", BYTES("\xf4\x90\x80\x80"), 0, 0},
        {"F5", BYTES("\xf5\x80\x80\x80"), 0, 0},
        {"stray continuation", BYTES("a\x80"), 1, 0},
        {"cut two of three", BYTES("\xe2\x82"), 0, 1},
        {"cut one of four", BYTES("\xf0"), 0, 1},
        {"cut, bad second byte", BYTES("\xe0\x80"), 0, 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("%s\n", cases[i].what);
        assert_int_equal(ds_utf8_invalid_at(cases[i].bytes, cases[i].n),
                         cases[i].invalid_at);
        assert_int_equal(ds_utf8_is_cut(
            (const unsigned char *)cases[i].bytes + cases[i].invalid_at,
            cases[i].n - cases[i].invalid_at), cases[i].cut);
    }
}

/* The repair reads bytes that are not UTF-8 as Latin-1 or as U+FFFD, and
 * leaves well-formed text alone. */
static void a_json_text_with_latin1_bytes_can_be_read_after_repair(
    void **state)
{
    static const char body[] = "{\"fileName\":\"Gr\xf6\xdf" "e \xc3\xa4.pdf\"}";
    size_t len;
    char *latin1 = ds_utf8_json_repair(body, sizeof(body) - 1,
                                       DS_UTF8_AS_LATIN1, &len);
    char *repl = ds_utf8_json_repair(body, sizeof(body) - 1,
                                     DS_UTF8_AS_REPLACEMENT, &len);
    json_t *a = json_loads(latin1, 0, NULL), *b = json_loads(repl, 0, NULL);

    (void)state;
    assert_null(json_loads(body, 0, NULL));
    assert_string_equal(latin1, "{\"fileName\":\"Gr\\u00f6\\u00dfe "
                                "\xc3\xa4.pdf\"}");
    assert_string_equal(json_string_value(json_object_get(a, "fileName")),
                        "Gr\xc3\xb6\xc3\x9f" "e \xc3\xa4.pdf");
    assert_string_equal(json_string_value(json_object_get(b, "fileName")),
                        "Gr\xef\xbf\xbd\xef\xbf\xbd" "e \xc3\xa4.pdf");
    json_decref(a);
    json_decref(b);
    free(latin1);
    free(repl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_of_any_script_and_shape_pass),
        cmocka_unit_test(bad_names_are_refused_saying_why),
        cmocka_unit_test(a_long_bad_name_is_shown_cut),
        cmocka_unit_test(json_values_that_are_no_name_are_refused),
        cmocka_unit_test(utf8_sequences_are_well_formed_or_not),
        cmocka_unit_test(
            a_json_text_with_latin1_bytes_can_be_read_after_repair),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
