/*
 * test_reason.c - specification of common/ds_reason: the one table that
 * classes every failure reason, and ds_err_set taking the class from it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ds_error.h"
#include "ds_reason.h"

/* The reasons the design names as transient are transient. */
static void outages_and_blips_are_transient(void **state)
{
    static const char *const names[] = {
        "http_timeout", "http_transport", "http_408", "http_425",
        "http_429", "http_500", "http_503", "upload_http_502",
        "redis_unavailable", "kafka_delivery", "upload_in_progress",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        print_message("%s\n", names[i]);
        assert_int_equal(ds_reason_class(names[i]), DS_CLASS_TRANSIENT);
    }
}

/* Other 4xx, a source gone, a bad mapping or copy are permanent. */
static void bad_documents_are_permanent(void **state)
{
    static const char *const names[] = {
        "http_400", "http_401", "http_404", "http_422", "upload_http_413",
        "source_not_found", "unmapped_account", "ambiguous_mapping",
        "checksum_mismatch", "missing_after_upload", "too_large",
        "bad_message", "bad_file_name",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        print_message("%s\n", names[i]);
        assert_int_equal(ds_reason_class(names[i]), DS_CLASS_PERMANENT);
    }
}

/* A reason nobody classified is looked at by a person, not retried, and
 * a family needs a real status. */
static void unknown_reasons_are_permanent(void **state)
{
    (void)state;
    assert_null(ds_reason_find("no_such_reason"));
    assert_int_equal(ds_reason_class("no_such_reason"), DS_CLASS_PERMANENT);
    assert_null(ds_reason_find("http_999"));
    assert_null(ds_reason_find("http_50"));
    assert_null(ds_reason_find("http_5000"));
    assert_null(ds_reason_find("nothing_503"));
    assert_null(ds_reason_find(NULL));
}

/* Only failures of a dependency trip the breaker; a 5xx does, a 4xx or a
 * bad document does not. */
static void outage_flag(void **state)
{
    (void)state;
    assert_true(ds_reason_is_outage("http_timeout"));
    assert_true(ds_reason_is_outage("http_503"));
    assert_true(ds_reason_is_outage("upload_http_500"));
    assert_true(ds_reason_is_outage("redis_unavailable"));
    assert_false(ds_reason_is_outage("http_429"));
    assert_false(ds_reason_is_outage("upload_http_422"));
    assert_false(ds_reason_is_outage("checksum_mismatch"));
    assert_false(ds_reason_is_outage("no_such_reason"));
}

/* Waiting for another party is not the document's fault. */
static void waits_spend_no_attempt(void **state)
{
    (void)state;
    assert_false(ds_reason_spends_attempt("upload_in_progress"));
    assert_false(ds_reason_spends_attempt("upload_lease_lost"));
    assert_true(ds_reason_spends_attempt("http_503"));
    assert_true(ds_reason_spends_attempt("no_such_reason"));
}

/* C05: a CRM 404 gets a short grace, every other permanent reason one
 * try. */
static void grace_tries(void **state)
{
    (void)state;
    assert_int_equal(ds_reason_tries("source_not_found"), 3);
    assert_int_equal(ds_reason_tries("unmapped_account"), 1);
    assert_int_equal(ds_reason_tries("no_such_reason"), 1);
}

/* Every entry is a token kcat prints as one field, is unique, and tells
 * an operator what it means and what to do. */
static void table_is_complete(void **state)
{
    size_t i, j, n = ds_reason_count();

    (void)state;
    assert_true(n > 40);
    assert_null(ds_reason_at(n));
    for (i = 0; i < n; i++) {
        const ds_reason *r = ds_reason_at(i);

        print_message("%s\n", r->name);
        assert_true(strspn(r->name, "abcdefghijklmnopqrstuvwxyz0123456789_<>")
                    == strlen(r->name));
        assert_true(strlen(r->name) < sizeof(((ds_err *)0)->reason));
        assert_true(strlen(r->meaning) > 10);
        assert_true(strlen(r->action) > 3);
        assert_ptr_equal(ds_reason_find(r->name), r);
        for (j = i + 1; j < n; j++)
            assert_string_not_equal(r->name, ds_reason_at(j)->name);
    }
}

/* ds_err_set takes the class from the table; the first error wins. */
static void err_set_classes_by_reason(void **state)
{
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    assert_int_equal(ds_err_set(&err, "http_timeout", "t %d", 1), -1);
    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    assert_string_equal(err.reason, "http_timeout");
    assert_string_equal(err.msg, "t 1");

    ds_err_set(&err, "unmapped_account", "later");
    assert_string_equal(err.reason, "http_timeout");

    ds_err_reset(&err, "upload_http_422", "refused");
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_string_equal(err.reason, "upload_http_422");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outages_and_blips_are_transient),
        cmocka_unit_test(bad_documents_are_permanent),
        cmocka_unit_test(unknown_reasons_are_permanent),
        cmocka_unit_test(outage_flag),
        cmocka_unit_test(grace_tries),
        cmocka_unit_test(waits_spend_no_attempt),
        cmocka_unit_test(table_is_complete),
        cmocka_unit_test(err_set_classes_by_reason),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
