/*
 * verifier - proves that the copy in the transaction system is intact.
 *
 * Consumes docsync.uploaded. Reads the new document's metadata back from
 * the transaction system and compares its id, fileName, size, transaction
 * and checksum with what was fetched from the CRM; the connector says
 * where the destination keeps each (destination.document) and which
 * checksum it gives (md5 or sha256, hex or base64). A match marks the document verified in Redis,
 * releases its blob and publishes docsync.verified; any difference is a
 * permanent failure (checksum_mismatch), and a copy the destination does not
 * have is one too (missing_after_upload).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ds_api.h"
#include "ds_blobref.h"
#include "ds_config.h"
#include "ds_connector.h"
#include "ds_fields.h"
#include "ds_log.h"
#include "ds_loop.h"
#include "ds_runtime.h"
#include "ds_state.h"
#include "ds_time.h"

typedef struct verifier {
    ds_connector *connector;
    ds_api dest;
    ds_doc_view view;
    const char *blob_dir;
    ds_redis *redis;
} verifier;

static const ds_program PROGRAM = {
    "docsync-verifier", "verifier",
    "Reads docsync.uploaded, reads each copy back from the transaction "
    "system and compares name, size and md5, publishes docsync.verified.",
    "  KAFKA_BROKERS, REDIS_HOST, REDIS_PORT, BLOB_DIR, LOG_LEVEL\n"
    "  CONNECTOR_FILE: the APIs' connector (docs/connectors.md); without\n"
    "    it: DEST_BASE_URL, DEST_API_KEY (or DEST_API_KEY_FILE),\n"
    "    DEST_API_KEY_HEADER\n"
    "  HTTP_CONNECT_TIMEOUT_MS, HTTP_TIMEOUT_MS, MAX_ATTEMPTS,\n"
    "  BACKOFF_BASE_MS, BACKOFF_CAP_MS, RETRY_BUDGET_MS\n",
};

/* Reads the copy back; the document itself, below the connector's root
 * when it names one (the caller frees *whole). */
static json_t *get_copy(verifier *v, const json_t *msg, const char *dest_id,
                        json_t **whole, ds_err *err)
{
    const ds_tpl_var vars[] = {
        {"destinationDocumentId", dest_id},
        {"transactionId",
         json_string_value(json_object_get(msg, "transactionId"))},
        {"documentId", json_string_value(json_object_get(msg, "documentId"))},
        {NULL, NULL}};
    char path[1024];
    json_t *copy;

    *whole = NULL;
    if (ds_connector_path(v->connector, DS_SIDE_DESTINATION, "document",
                          vars, path, sizeof(path), err) < 0)
        return NULL;
    *whole = ds_api_get_json(&v->dest, path, err);
    if (*whole == NULL && err->http_status == 404)
        ds_err_reset(err, "missing_after_upload",
                     "the destination has no document %.64s", dest_id);
    if (*whole == NULL)
        return NULL;
    copy = v->view.root != NULL ? ds_json_path(*whole, v->view.root) : *whole;
    if (!json_is_object(copy))
        ds_err_set(err, "bad_response", "the destination's document has no "
                   "object at %.64s", v->view.root);
    return json_is_object(copy) ? copy : NULL;
}

/* A value of the copy as text (ids may be numbers), "" when absent. */
static const char *text_at(const json_t *copy, const char *path, char *out,
                           size_t cap)
{
    if (path == NULL || ds_json_scalar_text(ds_json_path(copy, path), out,
                                            cap) < 0)
        out[0] = '\0';
    return out;
}

/* Compares the copy's id and transaction with what was sent; a copy that
 * does not say leaves the question open. Returns 0 when they match. */
static int compare_ids(const verifier *v, const json_t *sent,
                       const json_t *copy, ds_err *err)
{
    const char *dest_id = json_string_value(json_object_get(
        sent, "destinationDocumentId"));
    const char *txn = json_string_value(json_object_get(sent,
                                                        "transactionId"));
    char got_id[256], got_txn[256];

    text_at(copy, v->view.id, got_id, sizeof(got_id));
    text_at(copy, v->view.transaction_id, got_txn, sizeof(got_txn));
    if (dest_id != NULL && got_id[0] != '\0' && strcmp(dest_id, got_id) != 0)
        return ds_err_set(err, "checksum_mismatch", "the destination "
                          "answered document %.64s for %.64s", got_id,
                          dest_id);
    /* A copy in another transaction is not the one this message asks for,
     * whatever its bytes. */
    if (txn != NULL && got_txn[0] != '\0' && strcmp(txn, got_txn) != 0)
        return ds_err_set(err, "checksum_mismatch",
                          "the copy is attached to %.64s, not %.64s",
                          got_txn, txn);
    return 0;
}

/* Compares the copy with what was sent. Returns 0 when they match. */
static int compare(const verifier *v, const json_t *sent, const json_t *copy,
                   ds_err *err)
{
    const char *algo = v->view.sum_algorithm;
    const char *name = json_string_value(json_object_get(sent, "fileName"));
    const char *ours = json_string_value(json_object_get(sent, algo));
    json_int_t size = json_integer_value(json_object_get(sent, "size"));
    const char *got_name = json_string_value(ds_json_path(
        copy, v->view.file_name));
    const char *got_sum = json_string_value(ds_json_path(
        copy, v->view.sum_field));
    json_t *got_size = ds_json_path(copy, v->view.size);

    if (ours == NULL)
        return ds_err_set(err, "bad_message",
                          "%s missing from the message", algo);
    if (!ds_checksum_equal(ours, got_sum, v->view.sum_encoding))
        return ds_err_set(err, "checksum_mismatch",
                          "%s differs: sent %s, stored %.88s", algo, ours,
                          got_sum ? got_sum : "(none)");
    if (!json_is_integer(got_size) || json_integer_value(got_size) != size)
        return ds_err_set(err, "checksum_mismatch",
                          "size differs: sent %lld", (long long)size);
    if (name != NULL && (got_name == NULL || strcmp(name, got_name) != 0))
        return ds_err_set(err, "checksum_mismatch",
                          "fileName differs");
    return compare_ids(v, sent, copy, err);
}

/* The copy is bad (lost, or other bytes): forgets the uploader's record
 * of this version, so that a replay to docsync.mapped uploads it again,
 * and counts the rejection, which gives that upload a new
 * Idempotency-Key (the old one would be answered with the bad copy).
 * Returns -1 with err replaced by a Redis failure, leaving the record to
 * be tried again; otherwise the copy's own error stands. */
static int forget_copy(verifier *v, const char *doc_id, const char *sha,
                       const char *txn, ds_err *err)
{
    redisReply *r;
    ds_err rerr;

    if (sha == NULL || (strcmp(err->reason, "checksum_mismatch") != 0 &&
                        strcmp(err->reason, "missing_after_upload") != 0))
        return -1;
    ds_err_clear(&rerr);
    r = ds_redis_cmd(v->redis, &rerr, "HDEL docsync:doc:%s upload:%s:%s",
                     doc_id, sha, txn != NULL ? txn : "");
    if (r != NULL) {
        freeReplyObject(r);
        r = ds_redis_cmd(v->redis, &rerr,
                         "HINCRBY docsync:doc:%s rejected:%s 1", doc_id, sha);
    }
    if (r == NULL) {
        *err = rerr;
        return -1;
    }
    freeReplyObject(r);
    return -1;
}

static int handle(void *ctx, const ds_msg *in, json_t **out, ds_err *err)
{
    verifier *v = ctx;
    const char *doc_id = json_string_value(
        json_object_get(in->value, "documentId"));
    const char *dest_id = json_string_value(
        json_object_get(in->value, "destinationDocumentId"));
    const char *txn = json_string_value(
        json_object_get(in->value, "transactionId"));
    const char *blob = json_string_value(json_object_get(in->value, "blob"));
    char now[32];
    json_t *copy, *whole;
    int removed, rc;

    if (doc_id == NULL || dest_id == NULL)
        return ds_err_set(err, "bad_message",
                          "documentId or destinationDocumentId missing");
    copy = get_copy(v, in->value, dest_id, &whole, err);
    if (copy == NULL) {
        json_decref(whole);
        return forget_copy(v, doc_id, blob, txn, err);
    }
    rc = compare(v, in->value, copy, err);
    json_decref(whole);
    if (rc < 0)
        return forget_copy(v, doc_id, blob, txn, err);

    if (ds_state_mark(v->redis, doc_id, "verifier", "verified", dest_id,
                      err) < 0)
        return -1;
    /* The blob is only a transit copy; the verified document needs it no
     * more. A failure here leaves a blob behind, not a wrong result. */
    if (blob != NULL &&
        ds_blobref_drop(v->redis, v->blob_dir, blob, doc_id,
                        ds_runtime_owner(), &removed, err) < 0) {
        ds_log_msg(DS_LOG_WARN, "blob %s kept: %s", blob, err->msg);
        ds_err_clear(err);
    }
    ds_time_now_iso8601(now);
    *out = json_deep_copy(in->value);
    if (*out == NULL)
        return ds_err_set(err, "out_of_memory", "json");
    json_object_set_new(*out, "verifiedAt", json_string(now));
    return 0;
}

static int configure(void *ctx, ds_err *err)
{
    verifier *v = ctx;

    v->blob_dir = ds_env_str("BLOB_DIR", "/var/lib/docsync/blobs");
    v->connector = ds_connector_load(err);
    if (v->connector == NULL ||
        ds_api_init(&v->dest, v->connector, DS_SIDE_DESTINATION, err) < 0)
        return -1;
    ds_connector_doc_view(v->connector, &v->view);
    v->redis = ds_runtime_redis(err);
    return v->redis == NULL ? -1 : 0;
}

static void cleanup(void *ctx)
{
    verifier *v = ctx;

    ds_api_clear(&v->dest);
    ds_connector_free(v->connector);
    v->connector = NULL;
    ds_redis_free(v->redis);
}

int main(int argc, char **argv)
{
    static verifier v;
    const ds_stage stage = {"verifier", "docsync.uploaded",
                            "docsync.verified", handle, &v};

    return ds_runtime_stage_main(&PROGRAM, &stage, configure, cleanup, argc,
                                 argv);
}
