/*
 * verifier - proves that the copy in the transaction system is intact.
 *
 * Consumes docsync.uploaded. Reads the new document's metadata back from
 * the transaction system and compares its fileName, size and md5 with what
 * was fetched from the CRM. A match marks the document verified in Redis,
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
#include "ds_log.h"
#include "ds_loop.h"
#include "ds_runtime.h"
#include "ds_state.h"
#include "ds_time.h"

typedef struct verifier {
    ds_api dest;
    const char *blob_dir;
    ds_redis *redis;
} verifier;

static const ds_program PROGRAM = {
    "docsync-verifier", "verifier",
    "Reads docsync.uploaded, reads each copy back from the transaction "
    "system and compares name, size and md5, publishes docsync.verified.",
    "  KAFKA_BROKERS, REDIS_HOST, REDIS_PORT, BLOB_DIR, LOG_LEVEL\n"
    "  DEST_BASE_URL, DEST_API_KEY (or DEST_API_KEY_FILE), "
    "DEST_API_KEY_HEADER\n"
    "  HTTP_CONNECT_TIMEOUT_MS, HTTP_TIMEOUT_MS, MAX_ATTEMPTS,\n"
    "  BACKOFF_BASE_MS, BACKOFF_CAP_MS, RETRY_BUDGET_MS\n",
};

static json_t *get_copy(verifier *v, const char *dest_id, ds_err *err)
{
    char path[256];
    json_t *copy;

    snprintf(path, sizeof(path), "/v1/documents/%s", dest_id);
    copy = ds_api_get_json(&v->dest, path, err);
    if (copy == NULL && err->http_status == 404)
        ds_err_reset(err, "missing_after_upload",
                     "the destination has no document %.64s", dest_id);
    return copy;
}

/* Compares the copy with what was sent. Returns 0 when they match. */
static int compare(const json_t *sent, const json_t *copy, ds_err *err)
{
    const char *name = json_string_value(json_object_get(sent, "fileName"));
    const char *md5 = json_string_value(json_object_get(sent, "md5"));
    json_int_t size = json_integer_value(json_object_get(sent, "size"));
    const char *got_name = json_string_value(json_object_get(copy,
                                                             "fileName"));
    const char *got_md5 = json_string_value(json_object_get(copy,
                                                            "md5Checksum"));
    json_t *got_size = json_object_get(copy, "size");
    const char *txn = json_string_value(json_object_get(sent,
                                                        "transactionId"));
    const char *got_txn = json_string_value(json_object_get(copy,
                                                            "transactionId"));

    if (md5 == NULL)
        return ds_err_set(err, "bad_message",
                          "md5 missing from the message");
    if (got_md5 == NULL || strcasecmp(md5, got_md5) != 0)
        return ds_err_set(err, "checksum_mismatch",
                          "md5 differs: sent %s, stored %.40s", md5,
                          got_md5 ? got_md5 : "(none)");
    if (!json_is_integer(got_size) || json_integer_value(got_size) != size)
        return ds_err_set(err, "checksum_mismatch",
                          "size differs: sent %lld", (long long)size);
    if (name != NULL && (got_name == NULL || strcmp(name, got_name) != 0))
        return ds_err_set(err, "checksum_mismatch",
                          "fileName differs");
    /* A copy in another transaction is not the one this message asks for,
     * whatever its bytes. */
    if (txn != NULL && got_txn != NULL && strcmp(txn, got_txn) != 0)
        return ds_err_set(err, "checksum_mismatch",
                          "the copy is attached to %.64s, not %.64s",
                          got_txn, txn);
    return 0;
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
    json_t *copy;
    int removed, rc;

    if (doc_id == NULL || dest_id == NULL)
        return ds_err_set(err, "bad_message",
                          "documentId or destinationDocumentId missing");
    copy = get_copy(v, dest_id, err);
    if (copy == NULL)
        return forget_copy(v, doc_id, blob, txn, err);
    rc = compare(in->value, copy, err);
    json_decref(copy);
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
    if (ds_api_init(&v->dest, "DEST_BASE_URL", "http://localhost:8090",
                    "DEST_API_KEY_HEADER", "DEST_API_KEY", err) < 0)
        return -1;
    v->redis = ds_runtime_redis(err);
    return v->redis == NULL ? -1 : 0;
}

static void cleanup(void *ctx)
{
    verifier *v = ctx;

    ds_api_clear(&v->dest);
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
