/* The accountId to transactionId table and timestamp conversion. The
 * table files live in tests/unit/data/mapping/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ds_mapping.h"
#include "ds_time.h"

#define DATA "tests/unit/data/mapping/"

static void assert_maps_two_accounts(const char *file)
{
    ds_err err;
    ds_mapping *m;

    ds_err_clear(&err);
    m = ds_mapping_load(file, &err);
    assert_non_null(m);
    assert_int_equal(ds_mapping_count(m), 2);
    assert_string_equal(ds_mapping_lookup(m, "acc_1"), "txn_1");
    assert_string_equal(ds_mapping_lookup(m, "acc_2"), "txn_2");
    assert_null(ds_mapping_lookup(m, "acc_3"));
    ds_mapping_free(m);
}

static void test_csv_with_header_comments_and_repeats_loads(void **state)
{
    (void)state;
    assert_maps_two_accounts(DATA "good.csv");
}

static void test_json_object_and_json_list_load(void **state)
{
    (void)state;
    assert_maps_two_accounts(DATA "object.json");
    assert_maps_two_accounts(DATA "list.json");
}

static void assert_refused(const char *file, const char *reason,
                           const char *in_message)
{
    ds_err err;

    ds_err_clear(&err);
    assert_null(ds_mapping_load(file, &err));
    assert_string_equal(err.reason, reason);
    assert_non_null(strstr(err.msg, in_message));
}

static void test_account_with_two_transactions_is_refused(void **state)
{
    (void)state;
    assert_refused(DATA "ambiguous.csv", "ambiguous_mapping", "acc_1");
    /* In JSON the same account given twice as a key. */
    assert_refused(DATA "duplicate_key.json", "bad_mapping", "acc_1");
}

static void test_bad_files_are_refused_naming_the_place(void **state)
{
    (void)state;
    assert_refused(DATA "bad_line.csv", "bad_mapping", "bad_line.csv:2");
    assert_refused(DATA "missing.json", "bad_mapping", "mappings[0]");
    assert_refused(DATA "no_such_file.csv", "bad_mapping", "cannot open");
}

static void assert_parses(const char *text, long long expect)
{
    time_t t = 0;

    assert_int_equal(ds_time_parse_iso8601(text, &t), 0);
    assert_int_equal((long long)t, expect);
}

static void test_iso8601_forms_parse_to_utc(void **state)
{
    (void)state;
    assert_parses("2026-12-03T12:00:00Z", 1796299200LL);
    assert_parses("2026-12-03T12:00:00.123456Z", 1796299200LL);
    assert_parses("2026-12-03T14:30:00+02:30", 1796299200LL);
    assert_parses("2026-12-03T07:00:00-0500", 1796299200LL);
    assert_parses("2026-12-03 12:00:00", 1796299200LL);
    assert_parses("2026-12-03", 1796256000LL);
}

static void test_impossible_times_are_refused(void **state)
{
    const char *bad[] = {"2026-02-31T00:00:00Z", "2026-12-03T25:00:00Z",
                         "03/12/2026", "2026-12-03T12:00", "",
                         "2026-12-03T12:00:00Zjunk", "2026-12-03T12:00:00."};
    size_t i;
    time_t t;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("refusing '%s'\n", bad[i]);
        assert_int_equal(ds_time_parse_iso8601(bad[i], &t), -1);
    }
}

static void test_format_uses_the_destination_pattern(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(ds_time_format_utc(1796299200, "%Y-%m-%d", out,
                                        sizeof(out)), 0);
    assert_string_equal(out, "2026-12-03");
    assert_int_equal(ds_time_format_utc(1796299200, "%d/%m/%Y %H:%M", out,
                                        sizeof(out)), 0);
    assert_string_equal(out, "03/12/2026 12:00");
    assert_int_equal(ds_time_format_utc(1796299200, "%Y-%m-%d", out, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_with_header_comments_and_repeats_loads),
        cmocka_unit_test(test_json_object_and_json_list_load),
        cmocka_unit_test(test_account_with_two_transactions_is_refused),
        cmocka_unit_test(test_bad_files_are_refused_naming_the_place),
        cmocka_unit_test(test_iso8601_forms_parse_to_utc),
        cmocka_unit_test(test_impossible_times_are_refused),
        cmocka_unit_test(test_format_uses_the_destination_pattern),
    };

    return cmocka_run_group_tests_name("mapping", tests, NULL, NULL);
}
