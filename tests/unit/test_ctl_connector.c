/*
 * test_ctl_connector.c - specification of `docsyncctl connector check
 * [FILE]`: 0 for a file that validates with its secrets set, 1 for one that
 * does not or whose secret is missing, 2 for a wrong command line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "ctl_connector.h"
#include "ctl_msg.h"

#define DATA "tests/unit/data/connector/"

static int check(const char *file)
{
    char *argv[] = {(char *)file, NULL};

    return ctl_connector_check(NULL, file != NULL ? 1 : 0, argv);
}

static void a_good_file_with_its_secrets_checks_ok(void **state)
{
    (void)state;
    setenv("TC_CRM_KEY", "k", 1);
    setenv("TC_DEST_SECRET", "s", 1);
    assert_int_equal(check(DATA "good_minimal.json"), CTL_EXIT_OK);
}

static void a_good_file_without_a_secret_fails(void **state)
{
    (void)state;
    setenv("TC_CRM_KEY", "k", 1);
    unsetenv("TC_DEST_SECRET");
    unsetenv("TC_DEST_SECRET_FILE");
    assert_int_equal(check(DATA "good_minimal.json"), CTL_EXIT_FAIL);
}

static void a_bad_file_fails(void **state)
{
    (void)state;
    assert_int_equal(check(DATA "bad_unknown_key.json"), CTL_EXIT_FAIL);
    assert_int_equal(check(DATA "no_such_file.json"), CTL_EXIT_FAIL);
}

static void without_a_file_it_checks_connector_file(void **state)
{
    (void)state;
    setenv("CONNECTOR_FILE", DATA "bad_wrong_type.json", 1);
    assert_int_equal(check(NULL), CTL_EXIT_FAIL);
    setenv("TC_CRM_KEY", "k", 1);
    setenv("TC_DEST_SECRET", "s", 1);
    setenv("CONNECTOR_FILE", DATA "good_minimal.json", 1);
    assert_int_equal(check(NULL), CTL_EXIT_OK);
    unsetenv("CONNECTOR_FILE");
}

static void two_files_are_a_usage_error(void **state)
{
    char *argv[] = {DATA "good_minimal.json", DATA "good_minimal.json",
                    NULL};

    (void)state;
    assert_int_equal(ctl_connector_check(NULL, 2, argv), CTL_EXIT_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_good_file_with_its_secrets_checks_ok),
        cmocka_unit_test(a_good_file_without_a_secret_fails),
        cmocka_unit_test(a_bad_file_fails),
        cmocka_unit_test(without_a_file_it_checks_connector_file),
        cmocka_unit_test(two_files_are_a_usage_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
