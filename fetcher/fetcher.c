/*
 * fetcher - copies each announced document out of the CRM.
 *
 * Consumes docsync.events. For each document it reads the CRM's metadata,
 * streams the content into the content-addressed blob store while hashing
 * it, and publishes to docsync.fetched a reference to the blob with its
 * size, sha256 and md5 and the source metadata. The connector's
 * endpoints name the CRM's routes and its field rules (source.fields) turn
 * the CRM's metadata into docsync's own fields; a required one that is
 * missing is a permanent failure (bad_response). The CRM's accountId and
 * fileName win over the event's: a thin event carries neither. A document
 * the CRM no longer has is a permanent failure (source_not_found).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_api.h"
#include "ds_blob.h"
#include "ds_blobref.h"
#include "ds_config.h"
#include "ds_connector.h"
#include "ds_fields.h"
#include "ds_log.h"
#include "ds_loop.h"
#include "ds_runtime.h"
#include "ds_state.h"

typedef struct fetcher {
    ds_connector *connector;
    ds_api crm;
    ds_blob_store *blobs;
    ds_redis *redis;
} fetcher;

static const ds_program PROGRAM = {
    "docsync-fetcher", "fetcher",
    "Reads docsync.events, copies each document from the CRM into the blob "
    "store, publishes docsync.fetched.",
    "  KAFKA_BROKERS, REDIS_HOST, REDIS_PORT, LOG_LEVEL\n"
    "  BLOB_DIR (/var/lib/docsync/blobs), or BLOB_STORE: the blob store\n"
    "  CONNECTOR_FILE: the APIs' connector (docs/connectors.md); without\n"
    "    it: CRM_BASE_URL, CRM_API_KEY (or CRM_API_KEY_FILE),\n"
    "    CRM_API_KEY_HEADER\n"
    "  HTTP_CONNECT_TIMEOUT_MS, HTTP_TIMEOUT_MS, MAX_ATTEMPTS,\n"
    "  BACKOFF_BASE_MS, BACKOFF_CAP_MS, RETRY_BUDGET_MS\n"
    "  BLOB_TMP_MAX_AGE_S (3600): at start, partial blobs left this long\n"
    "    in BLOB_DIR/tmp by a fetcher that died are removed\n",
};

/* A 404 from the CRM means the document was deleted: permanent. */
static void classify_crm_error(ds_err *err)
{
    if (err->http_status == 404)
        ds_err_reset(err, "source_not_found",
                     "the CRM has no such document (404)");
}

/* The CRM's metadata of the document, turned into docsync's fields by
 * the connector's rules (as the CRM sent it when there are none). */
static json_t *get_metadata(fetcher *f, const char *doc_id, ds_err *err)
{
    const ds_tpl_var vars[] = {{"documentId", doc_id}, {NULL, NULL}};
    const json_t *rules = ds_connector_get(f->connector, "source.fields");
    char path[1024];
    json_t *meta, *mapped;

    if (ds_connector_path(f->connector, DS_SIDE_SOURCE, "metadata", vars,
                          path, sizeof(path), err) < 0)
        return NULL;
    meta = ds_api_get_json(&f->crm, path, err);
    if (meta == NULL) {
        classify_crm_error(err);
        return NULL;
    }
    if (rules == NULL)
        return meta;
    mapped = ds_fields_apply(rules, meta, "bad_response", err);
    json_decref(meta);
    return mapped;
}

static int to_blob(const char *buf, size_t n, void *ud)
{
    void **args = ud;

    return ds_blob_write(args[0], buf, n, args[1]);
}

/* Streams the content into a new blob. Returns 0 with the hashes. */
static int get_content(fetcher *f, const char *doc_id, char *sha256,
                       char *md5, uint64_t *size, ds_err *err)
{
    const ds_tpl_var vars[] = {{"documentId", doc_id}, {NULL, NULL}};
    ds_http_resp resp = {0};
    ds_http_req req = {0};
    ds_blob_writer *w;
    void *sink_args[2];
    char path[1024];
    int rc = -1;

    if (ds_connector_path(f->connector, DS_SIDE_SOURCE, "content", vars,
                          path, sizeof(path), err) < 0)
        return -1;
    w = ds_blob_writer_new(f->blobs, err);
    if (w == NULL)
        return -1;
    /* The sink reports its own failures into err: the first error wins. */
    sink_args[0] = w;
    sink_args[1] = err;
    req.sink = to_blob;
    req.sink_ud = sink_args;
    if (ds_api_do(&f->crm, "GET", path, &req, &resp, err) < 0) {
        classify_crm_error(err);
        goto out;
    }
    rc = ds_blob_commit(w, sha256, md5, size, err);
out:
    ds_http_resp_clear(&resp);
    ds_blob_writer_free(w);
    return rc;
}

/* Takes the CRM's accountId into out. An event fanned out of a thin one
 * has none; one that names another account than the CRM is overruled,
 * with a warning, as the CRM is where the document lives. */
static void take_account(json_t *out, json_t *meta)
{
    const char *had = json_string_value(json_object_get(out, "accountId"));
    ds_log_event ev = {0};
    char text[320], crm[128];

    /* Some CRMs number their accounts: docsync's ids are strings. */
    if (ds_json_scalar_text(json_object_get(meta, "accountId"), crm,
                            sizeof(crm)) < 0)
        return;
    if (had != NULL && strcmp(had, crm) != 0) {
        snprintf(text, sizeof(text), "the event names account %.128s, the "
                 "CRM %.128s: the CRM's is used", had, crm);
        ev.document_id = json_string_value(json_object_get(out,
                                                           "documentId"));
        ev.status = "SUCCESS";
        ev.attempt = -1;
        ev.message = text;
        ds_log_event_write(DS_LOG_WARN, &ev);
    }
    json_object_set_new(out, "accountId", json_string(crm));
}

/* The event with the mapped metadata and the copy's blob. The event's
 * documentId stays the key; size is the size of the copy. */
static json_t *fetched_message(const ds_msg *in, json_t *meta,
                               const char *sha256, const char *md5,
                               uint64_t size)
{
    json_t *out = json_deep_copy(in->value);
    const char *key;
    json_t *v;

    if (out == NULL)
        return NULL;
    json_object_foreach(meta, key, v) {
        if (strcmp(key, "documentId") != 0 && strcmp(key, "accountId") != 0 &&
            strcmp(key, "size") != 0 && !json_is_null(v))
            json_object_set(out, key, v);
    }
    take_account(out, meta);
    json_object_set_new(out, "blob", json_string(sha256));
    json_object_set_new(out, "sha256", json_string(sha256));
    json_object_set_new(out, "md5", json_string(md5));
    json_object_set_new(out, "size", json_integer((json_int_t)size));
    return out;
}

/* A copy shorter or longer than the CRM says is never passed on: a short
 * or empty copy must not be uploaded and then verified against itself.
 * Transient, as the CRM may still be writing the file. */
static int size_mismatch(const json_t *meta, uint64_t got, ds_err *err)
{
    const json_t *want = json_object_get(meta, "size");

    if (!json_is_integer(want) ||
        (uint64_t)json_integer_value(want) == got)
        return 0;
    ds_err_set(err, "source_size_mismatch",
               "the CRM announced %lld bytes but sent %llu",
               (long long)json_integer_value(want), (unsigned long long)got);
    return 1;
}

static int handle(void *ctx, const ds_msg *in, json_t **out, ds_err *err)
{
    fetcher *f = ctx;
    const char *doc_id = json_string_value(
        json_object_get(in->value, "documentId"));
    char sha256[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    uint64_t size = 0;
    json_t *meta;

    if (!ds_doc_id_valid(doc_id))
        return ds_err_set(err, "bad_message",
                          "documentId missing or not plain");
    meta = get_metadata(f, doc_id, err);
    if (meta == NULL)
        return -1;
    if (get_content(f, doc_id, sha256, md5, &size, err) < 0 ||
        ds_blobref_hold(f->redis, f->blobs, sha256, doc_id,
                        ds_runtime_owner(), err) < 0) {
        json_decref(meta);
        return -1;
    }
    if (size_mismatch(meta, size, err)) {
        int removed;

        /* Let the bad copy go (unless another document holds the same
         * bytes); the retry fetches again. */
        ds_blobref_drop(f->redis, f->blobs, sha256, doc_id,
                        ds_runtime_owner(), &removed, err);
        json_decref(meta);
        return -1;
    }
    *out = fetched_message(in, meta, sha256, md5, size);
    json_decref(meta);
    if (*out == NULL)
        return ds_err_set(err, "out_of_memory", "json");
    return ds_state_mark(f->redis, doc_id, "fetcher", "fetched", sha256,
                         err);
}

/* Clears what fetchers that died left half written in the blob store's
 * tmp directory. Best effort: a store it cannot read fails later, where
 * the error belongs to a document. */
static void sweep_tmp(const fetcher *f, long max_age_s)
{
    ds_err err;
    int removed;

    ds_err_clear(&err);
    if (ds_blob_sweep_tmp(f->blobs, max_age_s, &removed, &err) < 0)
        ds_log_msg(DS_LOG_WARN, "blob tmp not swept: %s", err.msg);
    else if (removed > 0)
        ds_log_msg(DS_LOG_INFO, "removed %d partial blobs older than %ld s",
                   removed, max_age_s);
}

static int configure(void *ctx, ds_err *err)
{
    fetcher *f = ctx;
    long max_age_s;

    if (ds_env_long("BLOB_TMP_MAX_AGE_S", 3600, &max_age_s, err) < 0)
        return -1;
    if (max_age_s < 60)
        return ds_err_set(err, "bad_config", "BLOB_TMP_MAX_AGE_S must be at "
                          "least 60, not %ld", max_age_s);
    f->blobs = ds_blob_store_from_env(err);
    if (f->blobs == NULL)
        return -1;
    sweep_tmp(f, max_age_s);
    f->connector = ds_connector_load(err);
    if (f->connector == NULL ||
        ds_api_init(&f->crm, f->connector, DS_SIDE_SOURCE, err) < 0)
        return -1;
    f->redis = ds_runtime_redis(err);
    return f->redis == NULL ? -1 : 0;
}

static void cleanup(void *ctx)
{
    fetcher *f = ctx;

    ds_api_clear(&f->crm);
    ds_connector_free(f->connector);
    f->connector = NULL;
    ds_redis_free(f->redis);
    ds_blob_store_free(f->blobs);
    f->blobs = NULL;
}

int main(int argc, char **argv)
{
    static fetcher f;
    const ds_stage stage = {"fetcher", "docsync.events", "docsync.fetched",
                            handle, &f};

    return ds_runtime_stage_main(&PROGRAM, &stage, configure, cleanup, argc,
                                 argv);
}
