/*
 * test_config.c - specification of common/ds_config: strings, numbers and
 * secrets from the environment, secrets also from NAME_FILE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds_config.h"

#define VAR "DS_TEST_VALUE"
#define SECRET "DS_TEST_SECRET"
#define SECRET_FILE "DS_TEST_SECRET_FILE"

/* Each test starts from an environment without the variables it uses. */
static int clean_env(void **state)
{
    (void)state;
    unsetenv(VAR);
    unsetenv(SECRET);
    unsetenv(SECRET_FILE);
    return 0;
}

/* Writes n bytes to a new temporary file; returns its path (caller frees
 * and unlinks). */
static char *temp_file_with(const char *content, size_t n)
{
    char *path = strdup("/tmp/ds_test_secret_XXXXXX");
    int fd;

    assert_non_null(path);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

/* ds_env_secret with SECRET_FILE pointing at a file holding content. */
static char *secret_from_file(const char *content, size_t n, ds_err *err)
{
    char *path = temp_file_with(content, n);
    char *secret;

    setenv(SECRET_FILE, path, 1);
    secret = ds_env_secret(SECRET, err);
    unlink(path);
    free(path);
    return secret;
}

static void test_env_str_is_the_value_or_fallback_when_unset_or_empty(
    void **state)
{
    (void)state;
    assert_string_equal(ds_env_str(VAR, "dflt"), "dflt");
    setenv(VAR, "", 1);
    assert_string_equal(ds_env_str(VAR, "dflt"), "dflt");
    setenv(VAR, "kafka:9092", 1);
    assert_string_equal(ds_env_str(VAR, "dflt"), "kafka:9092");
    assert_null(ds_env_str("DS_TEST_NEVER_SET", NULL));
}

static void test_env_long_parses_whole_numbers_with_optional_sign(
    void **state)
{
    static const struct {
        const char *text;
        long want;
    } cases[] = {
        {"42", 42}, {"-7", -7}, {"+3", 3}, {"0", 0}, {"007", 7},
        {"9223372036854775807", 9223372036854775807L},
    };
    ds_err err;

    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        long got = -999;

        ds_err_clear(&err);
        setenv(VAR, cases[k].text, 1);
        assert_int_equal(ds_env_long(VAR, 5, &got, &err), 0);
        assert_int_equal(got, cases[k].want);
        assert_int_equal(err.klass, DS_CLASS_NONE);
    }
}

static void test_env_long_unset_or_empty_gives_the_fallback(void **state)
{
    ds_err err;
    long got = 0;

    (void)state;
    ds_err_clear(&err);
    assert_int_equal(ds_env_long(VAR, 60000, &got, &err), 0);
    assert_int_equal(got, 60000);
    setenv(VAR, "", 1);
    got = 0;
    assert_int_equal(ds_env_long(VAR, 5, &got, &err), 0);
    assert_int_equal(got, 5);
}

/* A typo must fail loudly, never become the default or a prefix. */
static void test_env_long_rejects_12abc_and_other_non_numbers(void **state)
{
    static const char *const bad[] = {
        "12abc", "abc", " 12", "12 ", "12\n", "0x10", "1.5", "1e3", "-",
        "+", "--1", "99999999999999999999999",
    };

    (void)state;
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        ds_err err;
        long got = 77;

        ds_err_clear(&err);
        setenv(VAR, bad[k], 1);
        if (ds_env_long(VAR, 5, &got, &err) != -1)
            fail_msg("accepted \"%s\" as %ld", bad[k], got);
        assert_int_equal(got, 77);
        assert_int_equal(err.klass, DS_CLASS_PERMANENT);
        assert_string_equal(err.reason, "config_invalid");
        assert_non_null(strstr(err.msg, VAR));
    }
}

static void test_env_secret_comes_from_name(void **state)
{
    ds_err err;
    char *secret;

    (void)state;
    ds_err_clear(&err);
    setenv(SECRET, "s3cret\n", 1);
    secret = ds_env_secret(SECRET, &err);
    assert_non_null(secret);
    assert_string_equal(secret, "s3cret");
    free(secret);
}

static void test_env_secret_comes_from_name_file_without_trailing_newline(
    void **state)
{
    ds_err err;
    char *secret;

    (void)state;
    ds_err_clear(&err);
    secret = secret_from_file("from_file\n", 10, &err);
    assert_non_null(secret);
    assert_string_equal(secret, "from_file");
    free(secret);

    secret = secret_from_file("crlf\r\n\r\n", 8, &err);
    assert_non_null(secret);
    assert_string_equal(secret, "crlf");
    free(secret);

    /* Only trailing newlines go; inner ones and other blanks are the key. */
    secret = secret_from_file(" a\nb \n", 6, &err);
    assert_non_null(secret);
    assert_string_equal(secret, " a\nb ");
    free(secret);
    assert_int_equal(err.klass, DS_CLASS_NONE);
}

static void test_env_secret_file_wins_over_name(void **state)
{
    ds_err err;
    char *secret;

    (void)state;
    ds_err_clear(&err);
    setenv(SECRET, "from_env", 1);
    secret = secret_from_file("from_file\n", 10, &err);
    assert_non_null(secret);
    assert_string_equal(secret, "from_file");
    free(secret);
}

/* A named file that cannot be read is an error, not a quiet fall back to
 * NAME: the operator asked for the file. */
static void test_env_secret_unreadable_file_is_an_error(void **state)
{
    static const char *const paths[] = {"/nonexistent/docsync/secret",
                                        "/tmp"};

    (void)state;
    setenv(SECRET, "from_env_never_logged", 1);
    for (size_t k = 0; k < sizeof(paths) / sizeof(paths[0]); k++) {
        ds_err err;
        char *secret;

        ds_err_clear(&err);
        setenv(SECRET_FILE, paths[k], 1);
        secret = ds_env_secret(SECRET, &err);
        if (secret != NULL)
            fail_msg("read \"%s\" from %s", secret, paths[k]);
        assert_int_equal(err.klass, DS_CLASS_PERMANENT);
        assert_string_equal(err.reason, "config_unreadable");
        assert_non_null(strstr(err.msg, paths[k]));
        assert_non_null(strstr(err.msg, SECRET_FILE));
        assert_null(strstr(err.msg, "never_logged"));
    }
}

static void test_env_secret_missing_is_an_error(void **state)
{
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    assert_null(ds_env_secret(SECRET, &err));
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_string_equal(err.reason, "config_missing");
    assert_non_null(strstr(err.msg, SECRET));
}

/* An optional secret (REDIS_PASSWORD) left out is no error. */
static void test_env_secret_optional_unset_is_null_without_error(
    void **state)
{
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    setenv(SECRET, "", 1);
    assert_null(ds_env_secret_optional(SECRET, &err));
    assert_int_equal(err.klass, DS_CLASS_NONE);
    assert_string_equal(err.reason, "");
}

static void test_env_secret_optional_comes_from_name_or_file(void **state)
{
    char *path = temp_file_with("from_file\n", 10);
    ds_err err;
    char *secret;

    (void)state;
    ds_err_clear(&err);
    setenv(SECRET, "from_env", 1);
    secret = ds_env_secret_optional(SECRET, &err);
    assert_non_null(secret);
    assert_string_equal(secret, "from_env");
    free(secret);

    setenv(SECRET_FILE, path, 1);
    secret = ds_env_secret_optional(SECRET, &err);
    assert_non_null(secret);
    assert_string_equal(secret, "from_file");
    free(secret);
    unlink(path);
    free(path);
}

/* A secret file that was named but cannot be read is a mistake to report,
 * not a reason to run without the secret. */
static void test_env_secret_optional_unreadable_file_is_an_error(
    void **state)
{
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    setenv(SECRET_FILE, "/nonexistent/ds_test_secret", 1);
    assert_null(ds_env_secret_optional(SECRET, &err));
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_string_equal(err.reason, "config_unreadable");
}

/* An empty HMAC key would make every signature forgeable. */
static void test_env_secret_that_is_empty_is_an_error(void **state)
{
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    assert_null(secret_from_file("", 0, &err));
    assert_string_equal(err.reason, "config_invalid");

    ds_err_clear(&err);
    assert_null(secret_from_file("\n", 1, &err));
    assert_string_equal(err.reason, "config_invalid");

    unsetenv(SECRET_FILE);
    ds_err_clear(&err);
    setenv(SECRET, "\n", 1);
    assert_null(ds_env_secret(SECRET, &err));
    assert_string_equal(err.reason, "config_invalid");
}

/* A NUL would silently shorten the key to the bytes before it. */
static void test_env_secret_file_holding_a_nul_is_an_error(void **state)
{
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    assert_null(secret_from_file("abc\0def", 7, &err));
    assert_string_equal(err.reason, "config_invalid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(
            test_env_str_is_the_value_or_fallback_when_unset_or_empty,
            clean_env),
        cmocka_unit_test_setup(
            test_env_long_parses_whole_numbers_with_optional_sign, clean_env),
        cmocka_unit_test_setup(test_env_long_unset_or_empty_gives_the_fallback,
                               clean_env),
        cmocka_unit_test_setup(
            test_env_long_rejects_12abc_and_other_non_numbers, clean_env),
        cmocka_unit_test_setup(test_env_secret_comes_from_name, clean_env),
        cmocka_unit_test_setup(
            test_env_secret_comes_from_name_file_without_trailing_newline,
            clean_env),
        cmocka_unit_test_setup(test_env_secret_file_wins_over_name,
                               clean_env),
        cmocka_unit_test_setup(test_env_secret_unreadable_file_is_an_error,
                               clean_env),
        cmocka_unit_test_setup(test_env_secret_missing_is_an_error,
                               clean_env),
        cmocka_unit_test_setup(test_env_secret_that_is_empty_is_an_error,
                               clean_env),
        cmocka_unit_test_setup(test_env_secret_file_holding_a_nul_is_an_error,
                               clean_env),
        cmocka_unit_test_setup(
            test_env_secret_optional_unset_is_null_without_error, clean_env),
        cmocka_unit_test_setup(
            test_env_secret_optional_comes_from_name_or_file, clean_env),
        cmocka_unit_test_setup(
            test_env_secret_optional_unreadable_file_is_an_error, clean_env),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
