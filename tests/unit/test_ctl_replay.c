/*
 * test_ctl_replay.c - specification of what `docsyncctl dlq replay` may
 * send back, and where (ctl_replay_target): the topic the record came
 * from, never the DLQ itself, and nothing for a record whose original
 * value the DLQ does not hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ctl_record.h"
#include "ctl_replay.h"

/* A DLQ record with value (NULL for none) and, unless NULL, the source
 * topic header. */
static ctl_record *dead(const char *value, const char *topic)
{
    ctl_record *r = ctl_record_new(0, 5, 1000, "doc_1", 5, value,
                                   value != NULL ? strlen(value) : 0);

    assert_non_null(r);
    if (topic != NULL)
        assert_int_equal(ctl_record_add_header(r, CTL_H_TOPIC, topic,
                                               strlen(topic)), 0);
    return r;
}

/* Asserts that r is refused, and that why mentions want. */
static void assert_refused(ctl_record *r, const char *want)
{
    char why[320] = "";

    assert_null(ctl_replay_target(r, "docsync.dlq", why, sizeof(why)));
    print_message("%s\n", why);
    assert_non_null(strstr(why, want));
    ctl_record_free(r);
}

static void a_record_goes_back_to_the_topic_it_came_from(void **state)
{
    ctl_record *r = dead("{\"documentId\":\"doc_1\"}", "docsync.mapped");
    char why[320] = "";

    (void)state;
    assert_string_equal(ctl_replay_target(r, "docsync.dlq", why,
                                          sizeof(why)), "docsync.mapped");
    assert_string_equal(why, "");
    ctl_record_free(r);
}

/* The last __connect.errors.topic counts, as for every header. */
static void the_last_source_header_counts(void **state)
{
    ctl_record *r = dead("{}", "docsync.events");
    char why[320];

    (void)state;
    assert_int_equal(ctl_record_add_header(r, CTL_H_TOPIC, "docsync.fetched",
                                           15), 0);
    assert_string_equal(ctl_replay_target(r, "docsync.dlq", why,
                                          sizeof(why)), "docsync.fetched");
    ctl_record_free(r);
}

/* The DLQ holds {"error":"value_not_json_object"} instead of the bytes
 * that were not JSON: replaying it would send the stand-in, not them. */
static void the_stand_in_for_a_bad_value_is_not_replayed(void **state)
{
    (void)state;
    assert_refused(dead("{\"error\":\"value_not_json_object\","
                        "\"valueBytes\":15}", "docsync.events"),
                   "value_not_json_object");
}

static void a_record_of_unknown_origin_is_not_replayed(void **state)
{
    (void)state;
    assert_refused(dead("{}", NULL), CTL_H_TOPIC);
    assert_refused(dead("{}", ""), CTL_H_TOPIC);
}

/* Replaying into the DLQ would only copy the record. */
static void the_dlq_is_never_a_target(void **state)
{
    (void)state;
    assert_refused(dead("{}", "docsync.dlq"), "DLQ");
}

static void a_record_without_a_value_is_not_replayed(void **state)
{
    (void)state;
    assert_refused(dead(NULL, "docsync.events"), "no value");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_record_goes_back_to_the_topic_it_came_from),
        cmocka_unit_test(the_last_source_header_counts),
        cmocka_unit_test(the_stand_in_for_a_bad_value_is_not_replayed),
        cmocka_unit_test(a_record_of_unknown_origin_is_not_replayed),
        cmocka_unit_test(the_dlq_is_never_a_target),
        cmocka_unit_test(a_record_without_a_value_is_not_replayed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
