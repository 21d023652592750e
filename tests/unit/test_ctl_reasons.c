/*
 * test_ctl_reasons.c - specification of `docsyncctl reasons --markdown`,
 * the table pasted into the README's runbook: one row per reason of
 * common/ds_reason.c, five cells each.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_reasons.h"
#include "ds_reason.h"

/* The Markdown table as a string the caller frees. */
static char *table(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    ctl_reasons_markdown(out);
    fclose(out);
    return text;
}

/* The row of reason name, copied into row, or "" when there is none. */
static void row_of(const char *text, const char *name, char *row, size_t cap)
{
    char start[96];
    const char *p, *end;

    snprintf(start, sizeof(start), "\n| `%s` |", name);
    p = strstr(text, start);
    row[0] = '\0';
    if (p == NULL)
        return;
    p++;
    end = strchr(p, '\n');
    snprintf(row, cap, "%.*s", (int)(end - p), p);
}

/* Cells of a row: the '|' that are not escaped, less one. */
static int cells(const char *row)
{
    int n = -1;
    size_t i;

    for (i = 0; row[i] != '\0'; i++)
        if (row[i] == '|' && (i == 0 || row[i - 1] != '\\'))
            n++;
    return n;
}

static void every_reason_has_one_row_of_five_cells(void **state)
{
    char *text = table();
    char row[1024];
    size_t i, lines = 0;
    const char *p;

    (void)state;
    assert_non_null(strstr(text, "| reason | class | grace | meaning | "
                                 "what to do |\n|---|---|---|---|---|\n"));
    for (p = text; *p != '\0'; p++)
        lines += *p == '\n';
    assert_int_equal(lines, ds_reason_count() + 2);
    for (i = 0; i < ds_reason_count(); i++) {
        const ds_reason *r = ds_reason_at(i);

        row_of(text, r->name, row, sizeof(row));
        print_message("%s\n", row);
        assert_int_equal(cells(row), 5);
        assert_non_null(strstr(row, r->meaning));
    }
    free(text);
}

/* The class, the grace and a family's rule are in their cells. */
static void rows_say_the_class_and_the_grace(void **state)
{
    char *text = table();
    char row[1024];

    (void)state;
    row_of(text, "source_not_found", row, sizeof(row));
    assert_non_null(strstr(row, "| permanent | 3 tries |"));
    row_of(text, "http_timeout", row, sizeof(row));
    assert_non_null(strstr(row, "| transient | - |"));
    row_of(text, "upload_http_<status>", row, sizeof(row));
    assert_non_null(strstr(row, "| by status: 408, 425, 429, 5xx transient; "
                                "other 4xx permanent | - |"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_reason_has_one_row_of_five_cells),
        cmocka_unit_test(rows_say_the_class_and_the_grace),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
