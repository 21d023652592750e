/*
 * test_metrics.c - specification of common/ds_metrics and
 * common/ds_loop_metrics: counters, gauges and summaries in one registry,
 * the text format 0.0.4 they render to (the whole page is the data case
 * tests/unit/data/metrics/page.prom), label escaping, the cap on series,
 * concurrent updates, and the HTTP server on a free local port, read with
 * libcurl.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>

#include "fixture.h"
#include "ds_loop_metrics.h"
#include "ds_metrics.h"

#define GOLDEN "tests/unit/data/metrics/page.prom"

/* Each test starts from an empty registry and no server. */
static int fresh_registry(void **state)
{
    (void)state;
    ds_metrics_stop();
    ds_metrics_reset();
    return 0;
}

/* The rendered page; the caller frees. */
static char *page(void)
{
    char *text = ds_metrics_render();

    assert_non_null(text);
    return text;
}

/* The sample value of the line that starts with `series ` on the page, or
 * "(absent)". */
static const char *sample(const char *series)
{
    static char value[64];
    char *text = page(), *line;
    size_t n = strlen(series);

    snprintf(value, sizeof(value), "(absent)");
    for (line = text; line != NULL && *line != '\0';
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            snprintf(value, sizeof(value), "%.*s",
                     (int)strcspn(line + n + 1, "\n"), line + n + 1);
            break;
        }
    }
    free(text);
    return value;
}

/* How many times needle occurs in the page. */
static int occurrences(const char *needle)
{
    char *text = page();
    const char *p = text;
    int n = 0;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    free(text);
    return n;
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *text;
    long n;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    rewind(fp);
    text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    return text;
}

/* ------------------------------------------------------------------ */
/* The registry and the page                                           */

static void a_counter_is_created_at_zero_and_adds_up(void **state)
{
    (void)state;
    ds_metric_add("docsync_t_total", "T.", "result=\"ok\"", 0);
    assert_string_equal(sample("docsync_t_total{result=\"ok\"}"), "0");
    ds_metric_add("docsync_t_total", "T.", "result=\"ok\"", 2);
    ds_metric_add("docsync_t_total", "T.", "result=\"ok\"", 3);
    assert_string_equal(sample("docsync_t_total{result=\"ok\"}"), "5");
}

static void a_negative_add_never_lowers_a_counter(void **state)
{
    (void)state;
    ds_metric_add("docsync_t_total", "T.", "", 4);
    ds_metric_add("docsync_t_total", "T.", "", -3);
    assert_string_equal(sample("docsync_t_total"), "4");
}

static void a_gauge_takes_the_last_value_set(void **state)
{
    (void)state;
    ds_metric_set("docsync_t_level", "L.", "stage=\"x\"", 3.5);
    ds_metric_set("docsync_t_level", "L.", "stage=\"x\"", 1.25);
    assert_string_equal(sample("docsync_t_level{stage=\"x\"}"), "1.25");
}

static void a_summary_renders_its_sum_and_count(void **state)
{
    (void)state;
    ds_metric_declare_summary("docsync_t_seconds", "S.", "stage=\"x\"");
    assert_string_equal(sample("docsync_t_seconds_count{stage=\"x\"}"), "0");
    ds_metric_observe("docsync_t_seconds", "S.", "stage=\"x\"", 0.25);
    ds_metric_observe("docsync_t_seconds", "S.", "stage=\"x\"", 1.5);
    assert_string_equal(sample("docsync_t_seconds_sum{stage=\"x\"}"),
                        "1.75");
    assert_string_equal(sample("docsync_t_seconds_count{stage=\"x\"}"), "2");
    assert_int_equal(occurrences("# TYPE docsync_t_seconds summary\n"), 1);
}

static void the_page_matches_the_golden_file(void **state)
{
    char *want = read_file(GOLDEN), *got;

    (void)state;
    ds_metric_add("docsync_demo_total", "Demo events.", "stage=\"a\"", 2);
    ds_metric_set("docsync_demo_level", "A level.", "", 0.5);
    ds_metric_add("docsync_demo_total", "Later help is ignored.",
                  "stage=\"b\"", 1);
    ds_metric_observe("docsync_demo_seconds", "Time taken.", "stage=\"a\"",
                      0.25);
    ds_metric_observe("docsync_demo_seconds", NULL, "stage=\"a\"", 0.5);
    ds_metric_add("docsync_demo_total", NULL, "stage=\"a\"", 1);
    got = page();
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void special_values_are_spelled_as_the_text_format_asks(void **state)
{
    (void)state;
    ds_metric_set("docsync_t_v", "V.", "k=\"nan\"", NAN);
    ds_metric_set("docsync_t_v", "V.", "k=\"inf\"", INFINITY);
    ds_metric_set("docsync_t_v", "V.", "k=\"neg\"", -INFINITY);
    ds_metric_set("docsync_t_v", "V.", "k=\"tenth\"", 0.1);
    ds_metric_set("docsync_t_v", "V.", "k=\"third\"", 1.0 / 3.0);
    ds_metric_set("docsync_t_v", "V.", "k=\"big\"", 1e300);
    assert_string_equal(sample("docsync_t_v{k=\"nan\"}"), "NaN");
    assert_string_equal(sample("docsync_t_v{k=\"inf\"}"), "+Inf");
    assert_string_equal(sample("docsync_t_v{k=\"neg\"}"), "-Inf");
    assert_string_equal(sample("docsync_t_v{k=\"tenth\"}"), "0.1");
    /* Read back, the printed value is the same double. */
    assert_true(strtod(sample("docsync_t_v{k=\"third\"}"), NULL) ==
                1.0 / 3.0);
    assert_string_equal(sample("docsync_t_v{k=\"big\"}"), "1e+300");
}

static void help_text_escapes_backslash_and_line_feed(void **state)
{
    (void)state;
    ds_metric_add("docsync_t_total", "a \\ b\nc \"d\"", "", 1);
    assert_int_equal(
        occurrences("# HELP docsync_t_total a \\\\ b\\nc \"d\"\n"), 1);
}

static void a_bad_name_or_another_type_changes_nothing(void **state)
{
    (void)state;
    ds_metric_add("docsync_t_total", "T.", "", 1);
    ds_metric_set("docsync_t_total", "T.", "", 9);          /* a counter */
    ds_metric_observe("docsync_t_total", "T.", "", 9);
    ds_metric_add("1starts_with_digit", "T.", "", 1);
    ds_metric_add("has-dash", "T.", "", 1);
    ds_metric_add("", "T.", "", 1);
    ds_metric_add(NULL, "T.", "", 1);
    ds_metric_add("docsync_metrics_series_dropped_total", "T.", "", 5);
    assert_string_equal(sample("docsync_t_total"), "1");
    assert_int_equal(occurrences("# TYPE "), 2);
    assert_string_equal(sample("docsync_metrics_series_dropped_total"), "0");
}

static void a_label_set_that_would_corrupt_the_page_is_refused(void **state)
{
    static const char *const bad[] = {
        "a=\"unterminated", "a=\"x\"\n", "a=x", "a=\"x\",", "a=\"x\"b=\"y\"",
        "a=\"two\nlines\"", "a=\"bad \\q escape\"", "__a=\"reserved\"",
        "1a=\"x\"", "a=\"\xff\"", "=\"x\"", "a=\"x\"}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ds_metric_add("docsync_t_total", "T.", bad[i], 1);
    ds_metric_add("docsync_t_total", "T.", NULL, 1);
    assert_int_equal(occurrences("docsync_t_total"), 0);
    ds_metric_add("docsync_t_total", "T.", "a=\"x\",b=\"y \\\" \\\\ \\n\"",
                  1);
    assert_string_equal(
        sample("docsync_t_total{a=\"x\",b=\"y \\\" \\\\ \\n\"}"), "1");
}

static void label_values_are_escaped(void **state)
{
    char out[256];
    int n;

    (void)state;
    n = ds_metric_labels(out, sizeof(out), "stage", "fetcher", "reason",
                         "a\\b \"q\"\nz", (char *)NULL);
    assert_string_equal(out,
                        "stage=\"fetcher\",reason=\"a\\\\b \\\"q\\\"\\nz\"");
    assert_int_equal(n, (int)strlen(out));
    /* The escaped set is one the registry takes. */
    ds_metric_add("docsync_t_total", "T.", out, 1);
    assert_int_equal(occurrences("docsync_t_total{stage="), 1);
}

static void label_values_keep_utf8_and_lose_other_bytes(void **state)
{
    char out[128];

    (void)state;
    ds_metric_labels(out, sizeof(out), "v", "caf\xc3\xa9 \xff\x01 \xe2\x82",
                     (char *)NULL);
    assert_string_equal(out, "v=\"caf\xc3\xa9 ?? ??\"");
    ds_metric_add("docsync_t_total", "T.", out, 1);
    assert_string_equal(sample("docsync_t_total{v=\"caf\xc3\xa9 ?? ??\"}"),
                        "1");
}

static void no_labels_is_an_empty_set(void **state)
{
    char out[16] = "junk";

    (void)state;
    assert_int_equal(ds_metric_labels(out, sizeof(out), (char *)NULL), 0);
    assert_string_equal(out, "");
}

static void a_bad_label_name_or_a_set_too_long_gives_nothing(void **state)
{
    char out[32];

    (void)state;
    assert_int_equal(ds_metric_labels(out, sizeof(out), "__x", "v",
                                      (char *)NULL), -1);
    assert_string_equal(out, "");
    assert_int_equal(ds_metric_labels(out, sizeof(out), "a-b", "v",
                                      (char *)NULL), -1);
    assert_int_equal(ds_metric_labels(out, sizeof(out), "9a", "v",
                                      (char *)NULL), -1);
    assert_int_equal(ds_metric_labels(out, sizeof(out), "a", (char *)NULL,
                                      (char *)NULL), -1);
    /* a="...": 31 bytes and the NUL fit in 32, one more does not, and an
     * escape counts as the two bytes it takes. */
    assert_int_equal(ds_metric_labels(out, sizeof(out), "a",
                                      "012345678901234567890123456",
                                      (char *)NULL), 31);
    assert_int_equal(ds_metric_labels(out, sizeof(out), "a",
                                      "0123456789012345678901234567",
                                      (char *)NULL), -1);
    assert_string_equal(out, "");
    assert_int_equal(ds_metric_labels(out, sizeof(out), "a",
                                      "01234567890123456789012345\"",
                                      (char *)NULL), -1);
    assert_string_equal(out, "");
}

static void the_registry_holds_at_most_its_cap_of_series(void **state)
{
    char labels[64], line[96];
    int i;

    (void)state;
    for (i = 0; i < DS_METRICS_MAX_SERIES + 500; i++) {
        snprintf(labels, sizeof(labels), "id=\"%d\"", i);
        ds_metric_add("docsync_t_total", "T.", labels, 1);
    }
    assert_int_equal(occurrences("\ndocsync_t_total{"),
                     DS_METRICS_MAX_SERIES);
    assert_string_equal(sample("docsync_metrics_series_dropped_total"),
                        "500");
    /* A series made before the cap still counts; a new name does not. */
    ds_metric_add("docsync_t_total", "T.", "id=\"0\"", 1);
    assert_string_equal(sample("docsync_t_total{id=\"0\"}"), "2");
    ds_metric_set("docsync_t_other", "O.", "", 1);
    assert_int_equal(occurrences("docsync_t_other"), 0);
    snprintf(line, sizeof(line), "docsync_t_total{id=\"%d\"}",
             DS_METRICS_MAX_SERIES);
    assert_string_equal(sample(line), "(absent)");
}

#define THREADS 8
#define ADDS 20000

static void *add_many(void *arg)
{
    int i;

    (void)arg;
    for (i = 0; i < ADDS; i++) {
        ds_metric_add("docsync_t_total", "T.", "k=\"shared\"", 1);
        ds_metric_observe("docsync_t_seconds", "S.", "", 1.0);
    }
    return NULL;
}

static void concurrent_updates_are_all_counted(void **state)
{
    pthread_t t[THREADS];
    char want[32];
    int i;

    (void)state;
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, add_many, NULL), 0);
    for (i = 0; i < THREADS; i++) {
        free(ds_metrics_render());     /* rendering while they add */
        pthread_join(t[i], NULL);
    }
    snprintf(want, sizeof(want), "%d", THREADS * ADDS);
    assert_string_equal(sample("docsync_t_total{k=\"shared\"}"), want);
    assert_string_equal(sample("docsync_t_seconds_count"), want);
    assert_string_equal(sample("docsync_t_seconds_sum"), want);
}

static void the_loop_counts_records_by_stage_result_and_reason(void **state)
{
    (void)state;
    ds_loop_metrics_init("fetcher");
    assert_string_equal(
        sample("docsync_records_total{stage=\"fetcher\",result=\"ok\"}"),
        "0");
    assert_string_equal(
        sample("docsync_handle_seconds_count{stage=\"fetcher\"}"), "0");
    ds_loop_metrics_record("fetcher", "ok");
    ds_loop_metrics_record("fetcher", "retry");
    ds_loop_metrics_record("fetcher", "ok");
    ds_loop_metrics_dead_lettered("fetcher", "source_not_found");
    ds_loop_metrics_handled("fetcher", 1500);
    ds_loop_metrics_handled("fetcher", 250);
    assert_string_equal(
        sample("docsync_records_total{stage=\"fetcher\",result=\"ok\"}"),
        "2");
    assert_string_equal(
        sample("docsync_records_total{stage=\"fetcher\",result=\"retry\"}"),
        "1");
    assert_string_equal(sample("docsync_records_total{stage=\"fetcher\","
                               "result=\"dead_lettered\"}"), "1");
    assert_string_equal(sample("docsync_dead_lettered_total{stage="
                               "\"fetcher\",reason=\"source_not_found\"}"),
                        "1");
    assert_string_equal(
        sample("docsync_handle_seconds_sum{stage=\"fetcher\"}"), "1.75");
    assert_string_equal(
        sample("docsync_handle_seconds_count{stage=\"fetcher\"}"), "2");
}

/* ------------------------------------------------------------------ */
/* The HTTP server                                                     */

/* GET (or method) on 127.0.0.1:port/path with libcurl. Returns the status,
 * 0 when nothing answered; the body and Content-Type go to the caller, who
 * frees the body. */
static long http(const char *method, int port, const char *path,
                 char **body, char type[128])
{
    CURL *curl = curl_easy_init();
    fx_buf answer = {NULL, 0};
    char url[128];
    char *ct = NULL;
    long status = 0;

    assert_non_null(curl);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fx_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    }
    if (type != NULL)
        snprintf(type, 128, "%s", ct != NULL ? ct : "");
    curl_easy_cleanup(curl);
    if (body != NULL)
        *body = answer.data != NULL ? answer.data : strdup("");
    else
        free(answer.data);
    return status;
}

/* Serves on a free port of 127.0.0.1 and returns it. A port taken in the
 * moment between finding and binding it is replaced, three times at most. */
static int serve_on_free_port(void)
{
    int tries, port;
    ds_err err;

    for (tries = 0; tries < 3; tries++) {
        port = fx_free_port();
        ds_err_clear(&err);
        if (ds_metrics_serve("127.0.0.1", port, &err) == 0)
            return port;
        print_message("serve on %d: %s\n", port, err.msg);
    }
    fail_msg("no free port to serve on");
    return -1;
}

static void port_0_serves_nothing(void **state)
{
    ds_err err;

    (void)state;
    ds_err_clear(&err);
    assert_int_equal(ds_metrics_serve("127.0.0.1", 0, &err), 0);
    assert_string_equal(err.reason, "");
    /* Nothing runs, so a real server can start after it. */
    serve_on_free_port();
    ds_metrics_stop();
}

static void metrics_and_healthz_are_served_over_http(void **state)
{
    char type[128], *body;
    int port;

    (void)state;
    ds_metric_add("docsync_t_total", "T.", "stage=\"x\"", 7);
    port = serve_on_free_port();

    assert_int_equal(http("GET", port, "/metrics", &body, type), 200);
    assert_string_equal(type, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(body, "# TYPE docsync_t_total counter\n"
                                 "docsync_t_total{stage=\"x\"} 7\n"));
    free(body);

    assert_int_equal(http("GET", port, "/healthz", &body, type), 200);
    assert_string_equal(type, "application/json");
    assert_string_equal(body, "{\"status\":\"ok\"}");
    free(body);

    assert_int_equal(http("GET", port, "/nothing", NULL, NULL), 404);
    assert_int_equal(http("POST", port, "/metrics", NULL, NULL), 405);
    ds_metrics_stop();
}

static void the_page_served_follows_the_registry(void **state)
{
    char *body;
    int port;

    (void)state;
    port = serve_on_free_port();
    ds_metric_add("docsync_t_total", "T.", "", 1);
    assert_int_equal(http("GET", port, "/metrics", &body, NULL), 200);
    assert_non_null(strstr(body, "\ndocsync_t_total 1\n"));
    free(body);
    ds_metric_add("docsync_t_total", "T.", "", 1);
    assert_int_equal(http("GET", port, "/metrics", &body, NULL), 200);
    assert_non_null(strstr(body, "\ndocsync_t_total 2\n"));
    free(body);
    ds_metrics_stop();
}

static void after_stop_nothing_answers(void **state)
{
    int port;

    (void)state;
    port = serve_on_free_port();
    assert_int_equal(http("GET", port, "/healthz", NULL, NULL), 200);
    ds_metrics_stop();
    assert_int_equal(http("GET", port, "/healthz", NULL, NULL), 0);
    ds_metrics_stop();     /* a second stop is harmless */
}

static void a_second_server_or_a_bad_address_is_an_error(void **state)
{
    ds_err err;
    int port;

    (void)state;
    port = serve_on_free_port();
    ds_err_clear(&err);
    assert_int_equal(ds_metrics_serve("127.0.0.1", fx_free_port(), &err),
                     -1);
    assert_string_equal(err.reason, "metrics_listen");
    ds_metrics_stop();

    /* Arguments that cannot be served are refused before any bind. */
    ds_err_clear(&err);
    assert_int_equal(ds_metrics_serve("no-such-host.invalid", port, &err),
                     -1);
    assert_string_equal(err.reason, "bad_config");
    ds_err_clear(&err);
    assert_int_equal(ds_metrics_serve("127.0.0.1", 65536, &err), -1);
    assert_string_equal(err.reason, "bad_config");
    ds_err_clear(&err);
    assert_int_equal(ds_metrics_serve("127.0.0.1", -1, &err), -1);
    assert_string_equal(err.reason, "bad_config");
}

static void a_port_in_use_is_an_error(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ds_err err;

    (void)state;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    ds_err_clear(&err);
    assert_int_equal(ds_metrics_serve("127.0.0.1", ntohs(sa.sin_port), &err),
                     -1);
    assert_string_equal(err.reason, "metrics_listen");
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(a_counter_is_created_at_zero_and_adds_up,
                               fresh_registry),
        cmocka_unit_test_setup(a_negative_add_never_lowers_a_counter,
                               fresh_registry),
        cmocka_unit_test_setup(a_gauge_takes_the_last_value_set,
                               fresh_registry),
        cmocka_unit_test_setup(a_summary_renders_its_sum_and_count,
                               fresh_registry),
        cmocka_unit_test_setup(the_page_matches_the_golden_file,
                               fresh_registry),
        cmocka_unit_test_setup(
            special_values_are_spelled_as_the_text_format_asks,
            fresh_registry),
        cmocka_unit_test_setup(help_text_escapes_backslash_and_line_feed,
                               fresh_registry),
        cmocka_unit_test_setup(a_bad_name_or_another_type_changes_nothing,
                               fresh_registry),
        cmocka_unit_test_setup(
            a_label_set_that_would_corrupt_the_page_is_refused,
            fresh_registry),
        cmocka_unit_test_setup(label_values_are_escaped, fresh_registry),
        cmocka_unit_test_setup(label_values_keep_utf8_and_lose_other_bytes,
                               fresh_registry),
        cmocka_unit_test_setup(no_labels_is_an_empty_set, fresh_registry),
        cmocka_unit_test_setup(
            a_bad_label_name_or_a_set_too_long_gives_nothing,
            fresh_registry),
        cmocka_unit_test_setup(the_registry_holds_at_most_its_cap_of_series,
                               fresh_registry),
        cmocka_unit_test_setup(concurrent_updates_are_all_counted,
                               fresh_registry),
        cmocka_unit_test_setup(
            the_loop_counts_records_by_stage_result_and_reason,
            fresh_registry),
        cmocka_unit_test_setup(port_0_serves_nothing, fresh_registry),
        cmocka_unit_test_setup(metrics_and_healthz_are_served_over_http,
                               fresh_registry),
        cmocka_unit_test_setup(the_page_served_follows_the_registry,
                               fresh_registry),
        cmocka_unit_test_setup(after_stop_nothing_answers, fresh_registry),
        cmocka_unit_test_setup(a_second_server_or_a_bad_address_is_an_error,
                               fresh_registry),
        cmocka_unit_test_setup(a_port_in_use_is_an_error, fresh_registry),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, fresh_registry);
}
