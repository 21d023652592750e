/* test_tmpl.c - path templates (values percent-encoded, so an id cannot
 * change the path or the query) and dotted paths into JSON answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ds_tmpl.h"

static void a_value_is_percent_encoded_where_it_could_mean_something(
    void **state)
{
    char out[128];
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    assert_int_equal(ds_tmpl_expand("/v1/t?accountId={accountId}&x=1",
                                    "accountId", "a/b?c&d=e f", out,
                                    sizeof(out), &err), 0);
    assert_string_equal(out, "/v1/t?accountId=a%2Fb%3Fc%26d%3De%20f&x=1");
    assert_int_equal(ds_tmpl_expand("/d?s={since}", "since",
                                    "2026-12-03T10:00:00.000Z", out,
                                    sizeof(out), &err), 0);
    assert_string_equal(out, "/d?s=2026-12-03T10%3A00%3A00.000Z");
}

static void other_variables_and_braces_stay_as_they_are(void **state)
{
    char out[64];
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    assert_int_equal(ds_tmpl_expand("/{a}/{cursor}/{cursor", "cursor", "c1",
                                    out, sizeof(out), &err), 0);
    assert_string_equal(out, "/{a}/c1/{cursor");
}

static void a_result_that_does_not_fit_fails(void **state)
{
    char out[8];
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    assert_int_equal(ds_tmpl_expand("/x/{id}", "id", "abcdef", out,
                                    sizeof(out), &err), -1);
    assert_string_equal(err.reason, "bad_config");
    ds_err_clear(&err);
    assert_int_equal(ds_tmpl_expand("/x/{id}", "id", "abc", out,
                                    sizeof(out), &err), 0);
    assert_string_equal(out, "/x/abc");
}

static void a_dotted_path_reads_nested_fields(void **state)
{
    json_t *j = json_loads("{\"file\": {\"owner\": {\"accountId\": \"A\"}},"
                           " \"n\": 1}", 0, NULL);

    (void)state;
    assert_string_equal(json_string_value(ds_tmpl_json_get(
                            j, "file.owner.accountId")), "A");
    assert_null(ds_tmpl_json_get(j, "file.owner.missing"));
    assert_null(ds_tmpl_json_get(j, "n.deeper"));
    assert_ptr_equal(ds_tmpl_json_get(j, ""), j);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            a_value_is_percent_encoded_where_it_could_mean_something),
        cmocka_unit_test(other_variables_and_braces_stay_as_they_are),
        cmocka_unit_test(a_result_that_does_not_fit_fails),
        cmocka_unit_test(a_dotted_path_reads_nested_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
