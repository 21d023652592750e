/*
 * test_ctl_status.c - specification of how `docsyncctl status` reads a
 * document's timeline entries, "<ms>:<stage>:<state>:<detail>" as
 * ds_state_mark and ctl_mark_replayed write them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ctl_status.h"

static void an_entry_splits_into_time_stage_state_and_detail(void **state)
{
    ctl_event ev;

    (void)state;
    assert_int_equal(ctl_timeline_parse("1796292000123:fetcher:fetched:"
                                        "ab12", &ev), 0);
    assert_int_equal(ev.ms, 1796292000123LL);
    assert_string_equal(ev.stage, "fetcher");
    assert_string_equal(ev.state, "fetched");
    assert_string_equal(ev.detail, "ab12");
}

/* The detail is the rest of the entry, colons and all. */
static void the_detail_keeps_its_colons(void **state)
{
    ctl_event ev;

    (void)state;
    assert_int_equal(ctl_timeline_parse("5:docsyncctl:replayed:a:b:c", &ev),
                     0);
    assert_string_equal(ev.stage, "docsyncctl");
    assert_string_equal(ev.state, "replayed");
    assert_string_equal(ev.detail, "a:b:c");
}

/* ingest marks "received" with no detail. */
static void an_entry_may_have_no_detail(void **state)
{
    ctl_event ev;

    (void)state;
    assert_int_equal(ctl_timeline_parse("7:ingest:received:", &ev), 0);
    assert_string_equal(ev.state, "received");
    assert_string_equal(ev.detail, "");
    assert_int_equal(ctl_timeline_parse("7:ingest:received", &ev), 0);
    assert_string_equal(ev.state, "received");
    assert_string_equal(ev.detail, "");
}

/* Anything else is shown as it is, never half read. */
static void entries_of_another_form_are_not_parsed(void **state)
{
    static const char *const bad[] = {
        "", "x:fetcher:fetched:a", "7", "7:fetcher", "7::fetched:a",
        "7:fetcher::a", "7 fetcher fetched a", ":fetcher:fetched:a",
    };
    ctl_event ev;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("'%s'\n", bad[i]);
        assert_int_equal(ctl_timeline_parse(bad[i], &ev), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_entry_splits_into_time_stage_state_and_detail),
        cmocka_unit_test(the_detail_keeps_its_colons),
        cmocka_unit_test(an_entry_may_have_no_detail),
        cmocka_unit_test(entries_of_another_form_are_not_parsed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
