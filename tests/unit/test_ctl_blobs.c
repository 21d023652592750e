/*
 * test_ctl_blobs.c - what docsyncctl says of the blob a DLQ record names:
 * which blob (the value's "blob", for a record keyed by a documentId),
 * and, against a private Redis, whether the document's hold on it is kept
 * and until when, held with no deadline, expired or released.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "ctl_blobs.h"

#define SAMPLE "samples/minimal-document.pdf"

/* A DLQ record keyed doc_id whose value is value. */
static ctl_record *record(const char *doc_id, const char *value)
{
    ctl_record *r = ctl_record_new(0, 4, 1000, doc_id,
                                   doc_id != NULL ? strlen(doc_id) : 0,
                                   value, strlen(value));

    assert_non_null(r);
    return r;
}

static void the_blob_comes_from_the_value_of_a_document_record(void **state)
{
    static const char SHA[] =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char value[256], sha[DS_SHA256_HEX_LEN + 1];
    ctl_record *r;

    (void)state;
    snprintf(value, sizeof(value), "{\"documentId\":\"doc_1\",\"blob\":"
             "\"%s\"}", SHA);
    r = record("doc_1", value);
    assert_int_equal(ctl_record_blob(r, sha), 1);
    assert_string_equal(sha, SHA);
    ctl_record_free(r);

    /* No blob yet (a fetcher's input), a name that cannot be a blob, a
     * key that is not a documentId: nothing to look up. */
    r = record("doc_1", "{\"documentId\":\"doc_1\"}");
    assert_int_equal(ctl_record_blob(r, sha), 0);
    ctl_record_free(r);
    r = record("doc_1", "{\"blob\":\"../../etc/passwd\"}");
    assert_int_equal(ctl_record_blob(r, sha), 0);
    ctl_record_free(r);
    r = record("a b", value);
    assert_int_equal(ctl_record_blob(r, sha), 0);
    ctl_record_free(r);
}

/* A private Redis and blob store. */
typedef struct suite {
    fx f;
    ds_redis *r;
    ds_blob_store *store;
} suite;

static int setup(void **state)
{
    suite *s = calloc(1, sizeof(*s));
    ds_err err;

    *state = s;
    if (s == NULL || fx_start(&s->f, FX_REDIS) < 0)
        return -1;
    if (!s->f.ready)
        return 0;
    ds_err_clear(&err);
    s->r = ds_redis_new("127.0.0.1", s->f.redis_port, 2000);
    s->store = ds_blob_store_new(s->f.blob_dir, &err);
    return s->r != NULL && s->store != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    suite *s = *state;

    ds_blob_store_free(s->store);
    ds_redis_free(s->r);
    fx_stop(&s->f);
    free(s);
    return 0;
}

static void the_view_says_kept_held_expired_or_released(void **state)
{
    suite *s = *state;
    char sha[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    ds_blobref_conf keep = {3600, 60};
    ds_blob_store *store = s->store;
    ds_redis *r = s->r;
    ctl_blob_view view;
    uint64_t size;
    int more;
    ds_err err;

    FX_REQUIRE(&s->f);
    ds_err_clear(&err);
    fx_put_blob(&s->f, SAMPLE, "doc_k", sha, md5, &size);

    assert_int_equal(ds_blobref_keep(r, sha, "doc_k", 5000, NULL, &err), 0);
    assert_int_equal(ctl_blob_view_read(r, &keep, sha, "doc_k", &view,
                                        &err), 0);
    assert_string_equal(view.state, "kept");
    assert_int_equal(view.until_ms, 5000 + 3600 * 1000LL);
    keep.retention_s = 0;
    assert_int_equal(ctl_blob_view_read(r, &keep, sha, "doc_k", &view,
                                        &err), 0);
    assert_int_equal(view.until_ms, -1);

    /* Replayed: off the sweep, still held. */
    assert_int_equal(ds_blobref_unkeep(r, sha, "doc_k", &view.until_ms,
                                       &err), 0);
    assert_int_equal(ctl_blob_view_read(r, &keep, sha, "doc_k", &view,
                                        &err), 0);
    assert_string_equal(view.state, "held");

    /* Dead-lettered again and swept. */
    assert_int_equal(ds_blobref_keep(r, sha, "doc_k", 5000, NULL, &err), 0);
    assert_int_equal(ds_blobref_sweep(r, store, 6000, 10, "test", "t", NULL,
                                      NULL, &more, &err), 0);
    assert_int_equal(ctl_blob_view_read(r, &keep, sha, "doc_k", &view,
                                        &err), 0);
    assert_string_equal(view.state, "expired");
    assert_true(view.expired_ms > 0);

    /* A document that never held it. */
    assert_int_equal(ctl_blob_view_read(r, &keep, sha, "doc_other", &view,
                                        &err), 0);
    assert_string_equal(view.state, "released");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_blob_comes_from_the_value_of_a_document_record),
        cmocka_unit_test_setup_teardown(
            the_view_says_kept_held_expired_or_released, setup, teardown),
    };

    fx_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
