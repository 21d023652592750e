/*
 * test_ctl_time.c - specification of ctl/ctl_time: the durations and
 * times an operator gives docsyncctl (--since, --until), and the ISO-8601
 * form it prints times in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ctl_time.h"

/* 2026-12-03T10:00:00Z in epoch milliseconds. */
#define T_10H 1796292000000LL

/* Asserts that text is a duration of want milliseconds. */
static void assert_duration(const char *text, long long want)
{
    long long ms = -1;

    print_message("%s\n", text);
    assert_int_equal(ctl_duration_parse(text, &ms), 0);
    assert_int_equal(ms, want);
}

static void durations_count_seconds_minutes_hours_and_days(void **state)
{
    (void)state;
    assert_duration("90s", 90LL * 1000);
    assert_duration("30m", 30LL * 60 * 1000);
    assert_duration("2h", 2LL * 3600 * 1000);
    assert_duration("7d", 7LL * 86400 * 1000);
    assert_duration("0s", 0);
    assert_duration("999999999d", 999999999LL * 86400 * 1000);
}

/* A unit is required, one only; no sign, fraction, space or overflow. */
static void durations_of_another_form_are_refused(void **state)
{
    static const char *const bad[] = {
        "", "5", "s", "5x", "-5s", "+5s", "5 s", " 5s", "5sm", "1.5h",
        "5S", "1234567890s", "2h30m",
    };
    long long ms;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("'%s'\n", bad[i]);
        assert_int_equal(ctl_duration_parse(bad[i], &ms), -1);
    }
}

/* A duration given for a time means that long before now. */
static void a_duration_is_a_time_that_long_ago(void **state)
{
    long long ms;

    (void)state;
    assert_int_equal(ctl_time_parse("2h", T_10H, &ms), 0);
    assert_int_equal(ms, T_10H - 2LL * 3600 * 1000);
    assert_int_equal(ctl_time_parse("90s", T_10H, &ms), 0);
    assert_int_equal(ms, T_10H - 90000);
}

/* ISO-8601 in UTC, with a zone, with milliseconds, or a date alone. */
static void iso_times_are_read_to_the_millisecond(void **state)
{
    long long ms;

    (void)state;
    assert_int_equal(ctl_time_parse("2026-12-03T10:00:00Z", 0, &ms), 0);
    assert_int_equal(ms, T_10H);
    assert_int_equal(ctl_time_parse("2026-12-03T10:00:00", 0, &ms), 0);
    assert_int_equal(ms, T_10H);
    assert_int_equal(ctl_time_parse("2026-12-03T11:30:00+01:30", 0, &ms), 0);
    assert_int_equal(ms, T_10H);
    assert_int_equal(ctl_time_parse("2026-12-03T10:00:00.123Z", 0, &ms), 0);
    assert_int_equal(ms, T_10H + 123);
    assert_int_equal(ctl_time_parse("2026-12-03T10:00:00.5Z", 0, &ms), 0);
    assert_int_equal(ms, T_10H + 500);
    assert_int_equal(ctl_time_parse("2026-12-03T10:00:00.123456Z", 0, &ms),
                     0);
    assert_int_equal(ms, T_10H + 123);
    assert_int_equal(ctl_time_parse("2026-12-03", 0, &ms), 0);
    assert_int_equal(ms, T_10H - 10LL * 3600 * 1000);
}

static void other_times_are_refused(void **state)
{
    static const char *const bad[] = {
        "yesterday", "now", "2026-13-01", "2026-02-31",
        "2026-12-03T25:00:00Z", "2026-12-03T10:00Z", "10:00:00", "",
    };
    long long ms;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("'%s'\n", bad[i]);
        assert_int_equal(ctl_time_parse(bad[i], T_10H, &ms), -1);
    }
}

/* Times print in UTC with milliseconds, and read back to the same time. */
static void times_print_as_iso_utc_with_milliseconds(void **state)
{
    char iso[CTL_ISO_LEN];
    long long back;

    (void)state;
    ctl_time_iso(T_10H + 7, iso);
    assert_string_equal(iso, "2026-12-03T10:00:00.007Z");
    ctl_time_iso(0, iso);
    assert_string_equal(iso, "1970-01-01T00:00:00.000Z");
    ctl_time_iso(T_10H + 999, iso);
    assert_int_equal(ctl_time_parse(iso, 0, &back), 0);
    assert_int_equal(back, T_10H + 999);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations_count_seconds_minutes_hours_and_days),
        cmocka_unit_test(durations_of_another_form_are_refused),
        cmocka_unit_test(a_duration_is_a_time_that_long_ago),
        cmocka_unit_test(iso_times_are_read_to_the_millisecond),
        cmocka_unit_test(other_times_are_refused),
        cmocka_unit_test(times_print_as_iso_utc_with_milliseconds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
