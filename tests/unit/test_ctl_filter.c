/*
 * test_ctl_filter.c - specification of ctl/ctl_filter: how docsyncctl's
 * selection options are read (--at, --all, --reason, --stage, --class,
 * --document, --since, --until), which go together, and which DLQ records
 * a selection takes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ctl_filter.h"

/* 2026-12-03T10:00:00Z in epoch milliseconds: "now" for these tests. */
#define NOW 1796292000000LL

/* A DLQ record at p:o with timestamp ts, key and headers given as name,
 * value pairs up to a NULL name. */
static ctl_record *rec(int32_t p, int64_t o, long long ts, const char *key,
                       ...)
{
    ctl_record *r = ctl_record_new(p, o, ts, key, key ? strlen(key) : 0,
                                   "{}", 2);
    const char *name;
    va_list ap;

    assert_non_null(r);
    va_start(ap, key);
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);

        assert_int_equal(ctl_record_add_header(r, name, value,
                                               strlen(value)), 0);
    }
    va_end(ap);
    return r;
}

/* Feeds a command line to ctl_filter_arg as a command would. Returns the
 * first result that is not 1 (0 for an argument it does not know, -1 for
 * a bad value), or 1 when it took every argument. */
static int parse(ctl_filter *f, char **argv, int argc, char *why,
                 size_t cap)
{
    int i, rc;

    ctl_filter_init(f);
    why[0] = '\0';
    for (i = 0; i < argc; i++) {
        rc = ctl_filter_arg(f, argc, argv, &i, NOW, why, cap);
        if (rc != 1)
            return rc;
    }
    return 1;
}

#define PARSE(f, why, ...)                                                \
    parse((f), (char *[]){__VA_ARGS__},                                   \
          (int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)), (why), \
          sizeof(why))

static void positions_read_as_partition_colon_offset(void **state)
{
    static const char *const bad[] = {
        "2", ":17", "2:", "a:1", "-1:2", "2:-3", "2:17x", "2:17:1", " 2:1",
        "2: 1", "99999999999:1", "",
    };
    ctl_at at;
    size_t i;

    (void)state;
    assert_int_equal(ctl_at_parse("2:17", &at), 0);
    assert_int_equal(at.partition, 2);
    assert_int_equal(at.offset, 17);
    assert_int_equal(ctl_at_parse("0:9000000000", &at), 0);
    assert_int_equal(at.offset, 9000000000LL);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("'%s'\n", bad[i]);
        assert_int_equal(ctl_at_parse(bad[i], &at), -1);
    }
}

/* Every filter, in both spellings, lands where the matcher reads it. */
static void filters_are_read_with_a_space_or_an_equals_sign(void **state)
{
    ctl_filter f;
    char why[256];

    (void)state;
    assert_int_equal(PARSE(&f, why, "--reason", "upload_http_422",
                           "--stage=uploader", "--class", "permanent",
                           "--document=doc_7", "--since", "2h",
                           "--until=2026-12-03T09:30:00Z"), 1);
    assert_string_equal(f.reason, "upload_http_422");
    assert_string_equal(f.stage, "uploader");
    assert_string_equal(f.klass, "permanent");
    assert_string_equal(f.document, "doc_7");
    assert_int_equal(f.since_ms, NOW - 2LL * 3600 * 1000);
    assert_int_equal(f.until_ms, NOW - 30LL * 60 * 1000);
    assert_int_equal(f.nat, 0);
    assert_false(f.all);
    assert_int_equal(ctl_filter_check(&f, why, sizeof(why)), 0);
}

static void bad_values_are_refused_with_the_reason(void **state)
{
    ctl_filter f;
    char why[256];

    (void)state;
    assert_int_equal(PARSE(&f, why, "--class", "sometimes"), -1);
    assert_non_null(strstr(why, "transient or permanent"));
    assert_int_equal(PARSE(&f, why, "--since", "yesterday"), -1);
    assert_non_null(strstr(why, "--since"));
    assert_int_equal(PARSE(&f, why, "--until", "5"), -1);
    assert_non_null(strstr(why, "--until"));
    assert_int_equal(PARSE(&f, why, "--at", "2-17"), -1);
    assert_non_null(strstr(why, "PARTITION:OFFSET"));
    assert_int_equal(PARSE(&f, why, "--reason"), -1);
    assert_non_null(strstr(why, "needs a value"));
    assert_int_equal(PARSE(&f, why, "--document="), -1);
    assert_non_null(strstr(why, "not empty"));
}

/* An argument that is not a selection option is left to the command. */
static void other_arguments_are_not_taken(void **state)
{
    ctl_filter f;
    char why[256];

    (void)state;
    assert_int_equal(PARSE(&f, why, "--json"), 0);
    assert_int_equal(PARSE(&f, why, "--reasons", "x"), 0);
    assert_int_equal(PARSE(&f, why, "--dry-run"), 0);
}

/* The same position twice is one record; there is a bound. */
static void positions_are_kept_once_and_bounded(void **state)
{
    char *argv[2 * CTL_AT_MAX + 2];
    char text[CTL_AT_MAX + 1][16];
    ctl_filter f;
    char why[256];
    int i;

    (void)state;
    assert_int_equal(PARSE(&f, why, "--at", "1:5", "--at=1:5", "--at",
                           "0:5"), 1);
    assert_int_equal(f.nat, 2);

    for (i = 0; i <= CTL_AT_MAX; i++) {
        snprintf(text[i], sizeof(text[i]), "0:%d", i);
        argv[2 * i] = "--at";
        argv[2 * i + 1] = text[i];
    }
    assert_int_equal(parse(&f, argv, 2 * CTL_AT_MAX, why, sizeof(why)), 1);
    assert_int_equal(f.nat, CTL_AT_MAX);
    assert_int_equal(parse(&f, argv, 2 * CTL_AT_MAX + 2, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "at most"));
}

/* Positions, filters and --all exclude one another; an empty window too. */
static void selections_that_do_not_go_together_are_refused(void **state)
{
    ctl_filter f;
    char why[256];

    (void)state;
    PARSE(&f, why, "--at", "1:5", "--reason", "unmapped_account");
    assert_int_equal(ctl_filter_check(&f, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "--at"));
    PARSE(&f, why, "--at", "1:5", "--all");
    assert_int_equal(ctl_filter_check(&f, why, sizeof(why)), -1);
    PARSE(&f, why, "--all", "--stage", "mapper");
    assert_int_equal(ctl_filter_check(&f, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "--all"));
    PARSE(&f, why, "--since", "1h", "--until", "2h");
    assert_int_equal(ctl_filter_check(&f, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "--since"));

    PARSE(&f, why, "--at", "1:5", "--at", "2:6");
    assert_int_equal(ctl_filter_check(&f, why, sizeof(why)), 0);
    PARSE(&f, why, "--all");
    assert_int_equal(ctl_filter_check(&f, why, sizeof(why)), 0);
}

/* A replay must name what it takes: nothing given selects nothing. */
static void only_positions_filters_or_all_select(void **state)
{
    ctl_filter f;
    char why[256];

    (void)state;
    ctl_filter_init(&f);
    assert_false(ctl_filter_selects(&f));
    assert_false(ctl_filter_has_criteria(&f));
    PARSE(&f, why, "--since", "7d");
    assert_true(ctl_filter_selects(&f));
    assert_true(ctl_filter_has_criteria(&f));
    PARSE(&f, why, "--all");
    assert_true(ctl_filter_selects(&f));
    assert_false(ctl_filter_has_criteria(&f));
    PARSE(&f, why, "--at", "0:0");
    assert_true(ctl_filter_selects(&f));
    assert_false(ctl_filter_has_criteria(&f));
}

/* The records of the matching tests: an upload refused at 09:00, an
 * unmapped account at 09:50, a record of a foreign producer with only a
 * Connect stage header and its own timestamp (09:55), and one with no time
 * at all. */
typedef struct dlq {
    ctl_record *upload, *unmapped, *foreign, *timeless;
} dlq;

static int dlq_setup(void **state)
{
    static dlq d;

    d.upload = rec(0, 4, NOW - 3600000, "doc_up", "__connect.errors.stage",
                   "uploader", "__connect.errors.exception.class.name",
                   "permanent", "docsync.stage", "uploader",
                   "docsync.reason", "upload_http_422",
                   "docsync.last_failure", "1796288400000", NULL);
    d.unmapped = rec(1, 0, NOW, "doc_un", "docsync.stage", "mapper",
                     "__connect.errors.exception.class.name", "permanent",
                     "docsync.reason", "unmapped_account",
                     "docsync.last_failure", "1796291400000", NULL);
    d.foreign = rec(2, 9, NOW - 300000, "doc_fx", "__connect.errors.stage",
                    "fetcher", "__connect.errors.exception.class.name",
                    "transient", "docsync.reason", "http_503",
                    "docsync.last_failure", "0", NULL);
    d.timeless = rec(3, 1, -1, NULL, "docsync.reason", "bad_message", NULL);
    *state = &d;
    return 0;
}

static int dlq_teardown(void **state)
{
    dlq *d = *state;

    ctl_record_free(d->upload);
    ctl_record_free(d->unmapped);
    ctl_record_free(d->foreign);
    ctl_record_free(d->timeless);
    return 0;
}

/* Which of the four records f takes, as "upload unmapped foreign
 * timeless" with the ones not taken left out. */
static void taken(ctl_filter *f, const dlq *d, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s%s",
             ctl_filter_match(f, d->upload) ? "upload " : "",
             ctl_filter_match(f, d->unmapped) ? "unmapped " : "",
             ctl_filter_match(f, d->foreign) ? "foreign " : "",
             ctl_filter_match(f, d->timeless) ? "timeless " : "");
}

#define ASSERT_TAKES(d, want, ...)                                        \
    do {                                                                  \
        ctl_filter f_;                                                    \
        char why_[256], got_[64];                                         \
        assert_int_equal(PARSE(&f_, why_, __VA_ARGS__), 1);               \
        taken(&f_, (d), got_, sizeof(got_));                              \
        assert_string_equal(got_, (want));                                \
    } while (0)

static void each_filter_matches_its_header(void **state)
{
    dlq *d = *state;

    ASSERT_TAKES(d, "unmapped ", "--reason", "unmapped_account");
    ASSERT_TAKES(d, "upload ", "--stage", "uploader");
    ASSERT_TAKES(d, "upload unmapped ", "--class", "permanent");
    ASSERT_TAKES(d, "foreign ", "--class", "transient");
    ASSERT_TAKES(d, "upload ", "--document", "doc_up");
    ASSERT_TAKES(d, "", "--reason", "upload_http_4");
}

/* docsync.stage wins; a record without it is placed by Connect's header. */
static void the_stage_falls_back_to_the_connect_header(void **state)
{
    dlq *d = *state;

    ASSERT_TAKES(d, "foreign ", "--stage", "fetcher");
}

static void filters_combine_with_and(void **state)
{
    dlq *d = *state;

    ASSERT_TAKES(d, "upload ", "--class", "permanent", "--stage", "uploader");
    ASSERT_TAKES(d, "", "--reason", "unmapped_account", "--stage",
                 "uploader");
    ASSERT_TAKES(d, "unmapped ", "--class", "permanent", "--since", "30m");
}

/* The window is on the last failure (09:00 and 09:50), else the record's
 * timestamp (09:55); a record with no time is outside every window. */
static void since_and_until_read_the_last_failure_then_the_timestamp(
    void **state)
{
    dlq *d = *state;

    ASSERT_TAKES(d, "unmapped foreign ", "--since", "2026-12-03T09:30:00Z");
    ASSERT_TAKES(d, "upload ", "--until", "2026-12-03T09:30:00Z");
    ASSERT_TAKES(d, "foreign ", "--since", "6m");
    ASSERT_TAKES(d, "upload unmapped ", "--until", "6m");
    ASSERT_TAKES(d, "upload ", "--since", "2026-12-03T09:00:00Z",
                 "--until", "2026-12-03T09:00:00Z");
    ASSERT_TAKES(d, "", "--since", "2026-12-03T09:00:00.001Z", "--until",
                 "2026-12-03T09:49:59.999Z");
}

static void no_filter_takes_every_record(void **state)
{
    dlq *d = *state;

    ASSERT_TAKES(d, "upload unmapped foreign timeless ", "--all");
}

/* --at takes exactly the records named and says which it found. */
static void positions_take_their_records_and_are_marked_seen(void **state)
{
    dlq *d = *state;
    ctl_filter f;
    char why[256], got[64];

    assert_int_equal(PARSE(&f, why, "--at", "2:9", "--at", "3:1", "--at",
                           "1:1"), 1);
    taken(&f, d, got, sizeof(got));
    assert_string_equal(got, "foreign timeless ");
    assert_true(f.at[0].seen);
    assert_true(f.at[1].seen);
    assert_false(f.at[2].seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(positions_read_as_partition_colon_offset),
        cmocka_unit_test(filters_are_read_with_a_space_or_an_equals_sign),
        cmocka_unit_test(bad_values_are_refused_with_the_reason),
        cmocka_unit_test(other_arguments_are_not_taken),
        cmocka_unit_test(positions_are_kept_once_and_bounded),
        cmocka_unit_test(selections_that_do_not_go_together_are_refused),
        cmocka_unit_test(only_positions_filters_or_all_select),
    };
    const struct CMUnitTest matching[] = {
        cmocka_unit_test(each_filter_matches_its_header),
        cmocka_unit_test(the_stage_falls_back_to_the_connect_header),
        cmocka_unit_test(filters_combine_with_and),
        cmocka_unit_test(
            since_and_until_read_the_last_failure_then_the_timestamp),
        cmocka_unit_test(no_filter_takes_every_record),
        cmocka_unit_test(positions_take_their_records_and_are_marked_seen),
    };

    return cmocka_run_group_tests(tests, NULL, NULL) |
           cmocka_run_group_tests(matching, dlq_setup, dlq_teardown);
}
