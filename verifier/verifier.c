/*
 * verifier - proves that the copy in the transaction system is intact.
 *
 * Consumes docsync.uploaded. Reads the new document's metadata back from
 * the transaction system and compares it with what was fetched from the
 * CRM, as closely as the destination allows: the connector names the
 * verification tier (destination.document.verification). Strong compares
 * the checksum (md5 or sha256, hex or base64, from a field or an ETag),
 * size and name; medium size and name; weak that the document exists
 * with that name. Every tier checks the id and transaction when the copy
 * names them. An ETag that is not a plain digest falls back to medium.
 * A match marks the document verified in Redis, releases its blob and
 * publishes docsync.verified with verificationTier; any difference is a
 * permanent failure (checksum_mismatch), and a copy the destination does
 * not have is one too (missing_after_upload). A copy whose status says the
 * destination still processes it is asked for again with backoff
 * (destination_processing) until processingMaxMs has passed.
 *
 * The verifier is also the stage that removes blobs, so it sweeps the holds
 * of dead-lettered documents (ds_blobref.h): every BLOB_SWEEP_INTERVAL_S,
 * between records, it ends at most SWEEP_BATCH holds kept longer than
 * BLOB_RETENTION_S, removing each blob nobody else holds, and logs and
 * counts them. Replicas sweep alike; the claim of each entry in Redis
 * decides which one ends it.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ds_api.h"
#include "ds_blobref.h"
#include "ds_config.h"
#include "ds_connector.h"
#include "ds_fields.h"
#include "ds_log.h"
#include "ds_loop.h"
#include "ds_metrics.h"
#include "ds_runtime.h"
#include "ds_state.h"
#include "ds_time.h"

/* Most expired holds one sweep call ends, so that records wait little. */
#define SWEEP_BATCH 100

typedef struct verifier {
    ds_connector *connector;
    ds_api dest;
    ds_doc_view view;
    ds_blob_store *blobs;
    ds_redis *redis;
    ds_blobref_conf keep;     /* retention of dead-lettered blobs */
} verifier;

static const ds_program PROGRAM = {
    "docsync-verifier", "verifier",
    "Reads docsync.uploaded, reads each copy back from the transaction "
    "system and compares it (checksum, size, name: as the connector's "
    "verification tier says), publishes docsync.verified.",
    "  KAFKA_BROKERS, REDIS_HOST, REDIS_PORT, LOG_LEVEL\n"
    "  BLOB_DIR (/var/lib/docsync/blobs), or BLOB_STORE: the blob store\n"
    "  CONNECTOR_FILE: the APIs' connector (docs/connectors.md); without\n"
    "    it: DEST_BASE_URL, DEST_API_KEY (or DEST_API_KEY_FILE),\n"
    "    DEST_API_KEY_HEADER\n"
    "  HTTP_CONNECT_TIMEOUT_MS, HTTP_TIMEOUT_MS, MAX_ATTEMPTS,\n"
    "  BACKOFF_BASE_MS, BACKOFF_CAP_MS, RETRY_BUDGET_MS\n"
    "  BLOB_RETENTION_S (604800; 0: until replayed): how long the blob of a\n"
    "    dead-lettered document is kept\n"
    "  BLOB_SWEEP_INTERVAL_S (60): how often expired blobs are looked for\n",
};

/* What the destination answered for the copy. */
typedef struct readback {
    json_t *whole;       /* the body, owned */
    json_t *copy;        /* the document in it, borrowed from whole */
    char etag[160];      /* the ETag header, "" without one */
} readback;

/* GETs the copy, keeping the ETag when the connector reads the checksum
 * from it. Returns the body or NULL with err; a 404 is
 * missing_after_upload. */
static json_t *get_body(verifier *v, const char *path, const char *dest_id,
                        readback *rb, ds_err *err)
{
    json_t *body = ds_api_get_json_header(&v->dest, path, v->view.sum_header,
                                          rb->etag, sizeof(rb->etag), err);

    if (body == NULL && err->http_status == 404)
        ds_err_reset(err, "missing_after_upload",
                     "the destination has no document %.64s", dest_id);
    return body;
}

/* Reads the copy back into rb: the document itself, below the connector's
 * root when it names one. Returns 0, or -1 with err. */
static int get_copy(verifier *v, const json_t *msg, const char *dest_id,
                    readback *rb, ds_err *err)
{
    const ds_tpl_var vars[] = {
        {"destinationDocumentId", dest_id},
        {"transactionId",
         json_string_value(json_object_get(msg, "transactionId"))},
        {"documentId", json_string_value(json_object_get(msg, "documentId"))},
        {NULL, NULL}};
    char path[1024];

    memset(rb, 0, sizeof(*rb));
    if (ds_connector_path(v->connector, DS_SIDE_DESTINATION, "document",
                          vars, path, sizeof(path), err) < 0)
        return -1;
    rb->whole = get_body(v, path, dest_id, rb, err);
    if (rb->whole == NULL)
        return -1;
    rb->copy = v->view.root != NULL ? ds_json_path(rb->whole, v->view.root) :
               rb->whole;
    if (!json_is_object(rb->copy))
        return ds_err_set(err, "bad_response", "the destination's document "
                          "has no object at %.64s", v->view.root);
    return 0;
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

/* The hex digest an ETag carries, in out: a strong ETag, quotes taken
 * off, of exactly the algorithm's number of hex digits. Returns 0, or -1
 * for a weak (W/) or opaque one, which says nothing about the bytes. */
static int etag_digest(const char *etag, const char *algo, char *out, size_t cap)
{
    size_t want = strcmp(algo, "sha256") == 0 ? 64 : 32;
    size_t n = strlen(etag), i;

    if (strncmp(etag, "W/", 2) == 0)
        return -1;
    if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
        etag++;
        n -= 2;
    }
    if (n != want || n >= cap)
        return -1;
    for (i = 0; i < n; i++)
        if (!isxdigit((unsigned char)etag[i]))
            return -1;
    memcpy(out, etag, n);
    out[n] = '\0';
    return 0;
}

/* The checksum the destination gives for the copy (in got, of cap bytes),
 * and the tier it allows: the configured one, or medium when the
 * checksum's ETag is not a digest (which the log says). */
static const char *checksum_of(const verifier *v, const char *doc_id,
                               const readback *rb, char *got, size_t cap)
{
    const char *field;

    got[0] = '\0';
    if (strcmp(v->view.tier, "strong") != 0)
        return v->view.tier;
    if (v->view.sum_header == NULL) {
        field = json_string_value(ds_json_path(rb->copy, v->view.sum_field));
        snprintf(got, cap, "%s", field != NULL ? field : "");
        return "strong";
    }
    if (etag_digest(rb->etag, v->view.sum_algorithm, got, cap) == 0)
        return "strong";
    ds_log_msg(DS_LOG_WARN, "document %.64s: the %s \"%.64s\" is not a %s "
               "digest: verified by size and name", doc_id,
               v->view.sum_header, rb->etag, v->view.sum_algorithm);
    return "medium";
}

/* Compares the copy with what was sent, as closely as tier says; got is
 * the destination's checksum for strong. Returns 0 when they match. */
static int compare(const verifier *v, const char *tier, const json_t *sent,
                   const json_t *copy, const char *got, ds_err *err)
{
    const char *algo = v->view.sum_algorithm;
    const char *name = json_string_value(json_object_get(sent, "fileName"));
    const char *ours = json_string_value(json_object_get(sent, algo));
    json_int_t size = json_integer_value(json_object_get(sent, "size"));
    const char *got_name = json_string_value(ds_json_path(
        copy, v->view.file_name));
    json_t *got_size = ds_json_path(copy, v->view.size);

    if (strcmp(tier, "strong") == 0) {
        if (ours == NULL)
            return ds_err_set(err, "bad_message",
                              "%s missing from the message", algo);
        if (!ds_checksum_equal(ours, got, v->view.sum_encoding))
            return ds_err_set(err, "checksum_mismatch",
                              "%s differs: sent %s, stored %.88s", algo,
                              ours, got[0] != '\0' ? got : "(none)");
    }
    if (strcmp(tier, "weak") != 0 &&
        (!json_is_integer(got_size) || json_integer_value(got_size) != size))
        return ds_err_set(err, "checksum_mismatch",
                          "size differs: sent %lld", (long long)size);
    if (name != NULL && (got_name == NULL || strcmp(name, got_name) != 0))
        return ds_err_set(err, "checksum_mismatch",
                          "fileName differs");
    return compare_ids(v, sent, copy, err);
}

/* 1 when the copy's status says the destination has not stored it yet. */
static int is_processing(const verifier *v, const json_t *copy)
{
    const char *status;
    const json_t *x;
    size_t i;

    if (v->view.status == NULL)
        return 0;
    status = json_string_value(ds_json_path(copy, v->view.status));
    json_array_foreach(v->view.processing_values, i, x)
        if (status != NULL && strcmp(status, json_string_value(x)) == 0)
            return 1;
    return 0;
}

/* When the destination's processing began, epoch ms: the upload time the
 * record carries (uploadedAt, RFC 3339 or epoch ms), else the first
 * processing answer, kept in the document's hash so that retries agree.
 * Returns -1 with err on a Redis failure. */
static long long processing_since(verifier *v, const json_t *msg,
                                  const char *doc_id, const char *dest_id,
                                  ds_err *err)
{
    const json_t *at = json_object_get(msg, "uploadedAt");
    redisReply *r;
    long long since;
    time_t s;

    if (json_is_integer(at))
        return json_integer_value(at);
    if (json_is_string(at) &&
        ds_time_parse_iso8601(json_string_value(at), &s) == 0)
        return (long long)s * 1000;
    r = ds_redis_cmd(v->redis, err, "HSETNX docsync:doc:%s processing:%s "
                     "%lld", doc_id, dest_id, ds_time_wall_ms());
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    r = ds_redis_cmd(v->redis, err, "HGET docsync:doc:%s processing:%s",
                     doc_id, dest_id);
    if (r == NULL)
        return -1;
    since = r->type == REDIS_REPLY_STRING ? atoll(r->str) : ds_time_wall_ms();
    freeReplyObject(r);
    return since;
}

/* The copy is still processed: ask again later, waiting half the time
 * it has taken so far (between 0.5 and 30 s), or give up once it has
 * taken longer than processingMaxMs. Returns -1 with err. */
static int processing(verifier *v, const json_t *msg, const char *doc_id,
                      const char *dest_id, ds_err *err)
{
    long long since = processing_since(v, msg, doc_id, dest_id, err);
    long long took = ds_time_wall_ms() - since, wait = took / 2;

    if (since < 0)
        return -1;
    if (took > v->view.processing_max_ms)
        return ds_err_set(err, "missing_after_upload", "the destination "
                          "still processes document %.64s after %lld ms",
                          dest_id, took);
    if (wait < 500)
        wait = 500;
    if (wait > 30000)
        wait = 30000;
    /* The last look comes just after the bound, not a long wait past it. */
    if (wait > v->view.processing_max_ms - took + 100)
        wait = v->view.processing_max_ms - took + 100;
    ds_err_set(err, "destination_processing", "the destination still "
               "processes document %.64s (%lld ms so far)", dest_id, took);
    err->retry_after_ms = (long)wait;
    return -1;
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

/* Logs and counts a verified copy with the tier it was verified by. */
static void note_verified(const json_t *msg, const char *doc_id,
                          const char *tier)
{
    char labels[64];
    ds_log_event ev = {0};

    ev.document_id = doc_id;
    ev.transaction_id = json_string_value(json_object_get(msg,
                                                          "transactionId"));
    ev.status = "VERIFIED";
    ev.duration_ms = -1;
    ev.attempt = -1;
    ev.tier = tier;
    ds_log_event_write(DS_LOG_INFO, &ev);
    ds_metric_labels(labels, sizeof(labels), "tier", tier, NULL);
    ds_metric_add("docsync_verified_total", "Copies verified, by the "
                  "verification tier used", labels, 1);
}

/* Compares the copy read back; on a match marks the document verified,
 * releases its blob and builds the verified record in *out. */
static int accept_copy(verifier *v, const json_t *msg, const readback *rb,
                       json_t **out, ds_err *err)
{
    const char *doc_id = json_string_value(json_object_get(msg,
                                                           "documentId"));
    const char *dest_id = json_string_value(json_object_get(
        msg, "destinationDocumentId"));
    const char *blob = json_string_value(json_object_get(msg, "blob"));
    char got[96], now[32];
    const char *tier = checksum_of(v, doc_id, rb, got, sizeof(got));
    int removed;

    if (compare(v, tier, msg, rb->copy, got, err) < 0)
        return -1;
    if (ds_state_mark(v->redis, doc_id, "verifier", "verified", dest_id,
                      err) < 0)
        return -1;
    /* The blob is only a transit copy; the verified document needs it no
     * more. A failure here leaves a blob behind, not a wrong result. */
    if (blob != NULL &&
        ds_blobref_drop(v->redis, v->blobs, blob, doc_id,
                        ds_runtime_owner(), &removed, err) < 0) {
        ds_log_msg(DS_LOG_WARN, "blob %s kept: %s", blob, err->msg);
        ds_err_clear(err);
    }
    ds_time_now_iso8601(now);
    *out = json_deep_copy(msg);
    if (*out == NULL)
        return ds_err_set(err, "out_of_memory", "json");
    json_object_set_new(*out, "verifiedAt", json_string(now));
    json_object_set_new(*out, "verificationTier", json_string(tier));
    note_verified(msg, doc_id, tier);
    return 0;
}

/* Forgets when processing of the copy began: it is over. A failure leaves
 * a stale field, which a later processing answer of the same copy would
 * read as its start; nothing else reads it. */
static void processing_over(verifier *v, const char *doc_id,
                            const char *dest_id)
{
    ds_err rerr;
    redisReply *r;

    ds_err_clear(&rerr);
    r = ds_redis_cmd(v->redis, &rerr, "HDEL docsync:doc:%s processing:%s",
                     doc_id, dest_id);
    if (r != NULL)
        freeReplyObject(r);
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
    readback rb;
    int rc;

    if (doc_id == NULL || dest_id == NULL)
        return ds_err_set(err, "bad_message",
                          "documentId or destinationDocumentId missing");
    rc = get_copy(v, in->value, dest_id, &rb, err);
    if (rc == 0 && is_processing(v, rb.copy)) {
        rc = processing(v, in->value, doc_id, dest_id, err);
        if (strcmp(err->reason, "destination_processing") == 0) {
            json_decref(rb.whole);
            return -1;
        }
    } else if (rc == 0) {
        rc = accept_copy(v, in->value, &rb, out, err);
    }
    json_decref(rb.whole);
    if (v->view.status != NULL &&
        (rc == 0 || err->klass == DS_CLASS_PERMANENT))
        processing_over(v, doc_id, dest_id);
    return rc < 0 ? forget_copy(v, doc_id, blob, txn, err) : 0;
}

/* Logs and counts one hold the sweep ended. */
static int note_expired(void *ctx, const ds_blobref_entry *e)
{
    char labels[64], msg[256];
    ds_log_event ev = {0};

    (void)ctx;
    snprintf(msg, sizeof(msg), "blob %s %s after %lld s in the DLQ",
             e->sha256,
             e->removed ? "removed" : "kept: another document holds it",
             (ds_time_wall_ms() - e->since_ms) / 1000);
    ev.document_id = e->doc_id;
    ev.status = "BLOB_EXPIRED";
    ev.duration_ms = -1;
    ev.attempt = -1;
    ev.message = msg;
    ds_log_event_write(DS_LOG_INFO, &ev);
    ds_metric_labels(labels, sizeof(labels), "result",
                     e->removed ? "removed" : "shared", NULL);
    ds_metric_add("docsync_blobs_expired_total", "Holds of dead-lettered "
                  "documents ended by the retention, by whether the blob was "
                  "removed or another document still holds it", labels, 1);
    return 0;
}

/* The loop's periodic work: one batch of the sweep. Returns 1 when more
 * holds are due at once. A failure waits for the next interval; the
 * holds stay until a sweep succeeds. */
static int sweep(void *ctx)
{
    verifier *v = ctx;
    long long cutoff = ds_time_wall_ms() - (long long)v->keep.retention_s *
                       1000;
    int more = 0;
    ds_err err;

    if (v->keep.retention_s == 0)
        return 0;
    ds_err_clear(&err);
    if (ds_blobref_sweep(v->redis, v->blobs, cutoff, SWEEP_BATCH, "verifier",
                         ds_runtime_owner(), note_expired, v, &more,
                         &err) < 0) {
        ds_log_msg(DS_LOG_WARN, "blob sweep: %s (%s)", err.msg, err.reason);
        return 0;
    }
    return more;
}

static int configure(void *ctx, ds_err *err)
{
    verifier *v = ctx;

    if (ds_blobref_conf_load(&v->keep, err) < 0)
        return -1;
    /* Retention 0 keeps every such blob until its replay: nothing to do. */
    ds_loop_every(v->keep.sweep_interval_s * 1000,
                  v->keep.retention_s > 0 ? sweep : NULL, v);
    v->blobs = ds_blob_store_from_env(err);
    if (v->blobs == NULL)
        return -1;
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
    ds_blob_store_free(v->blobs);
    v->blobs = NULL;
}

int main(int argc, char **argv)
{
    static verifier v;
    const ds_stage stage = {"verifier", "docsync.uploaded",
                            "docsync.verified", handle, &v};

    return ds_runtime_stage_main(&PROGRAM, &stage, configure, cleanup, argc,
                                 argv);
}
