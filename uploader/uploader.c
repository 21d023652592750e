/*
 * uploader - attaches each document to its transaction.
 *
 * Consumes docsync.mapped. Claims the document's upload with a lease,
 * sends the file streamed from the blob store in the cheapest mode the
 * destination takes for its size (ds_upmode.h: base64 in JSON, multipart,
 * or an upload session in parts, ds_chunked.h), records the destination's
 * document id in Redis, and publishes docsync.uploaded.
 * A document whose bytes were already uploaded (a redelivery) is not
 * uploaded again: the recorded id is published instead. The same document
 * with new bytes is a new version and is uploaded. The request carries an
 * Idempotency-Key derived from the document and its bytes, and before it
 * the uploader looks the document up at the destination: a copy with the
 * same bytes, left by an uploader that died between the destination's 201
 * and its record (or recorded in a Redis that lost its data), is recorded
 * instead of uploaded again. The connector names the routes
 * (destination.endpoints), the upload modes with their limits and the
 * body's fields (destination.upload) and how the destination describes a
 * document (destination.document, destination.search).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ds_api.h"
#include "ds_blob.h"
#include "ds_body.h"
#include "ds_chunked.h"
#include "ds_config.h"
#include "ds_connector.h"
#include "ds_fields.h"
#include "ds_http.h"
#include "ds_log.h"
#include "ds_loop.h"
#include "ds_metrics.h"
#include "ds_multipart.h"
#include "ds_runtime.h"
#include "ds_state.h"
#include "ds_time.h"
#include "ds_upmode.h"

typedef struct uploader {
    ds_connector *connector;
    ds_api dest;
    ds_doc_view view;          /* how the destination shows a document */
    ds_upmodes modes;          /* how it takes one, by size */
    ds_blob_store *blobs;
    long lease_ms;             /* UPLOAD_LEASE_MS: renewed while uploading */
    int lookup;                /* UPLOAD_LOOKUP: look for a copy first */
    ds_redis *redis;
} uploader;

/* The lease of the upload in hand, renewed from libcurl's progress hook so
 * that it can be short: a crashed uploader's claim soon expires, a live
 * one's never does mid-upload. */
typedef struct lease {
    uploader *u;
    const char *name;
    int lost;
} lease;

static const ds_program PROGRAM = {
    "docsync-uploader", "uploader",
    "Reads docsync.mapped, uploads each document to its transaction, "
    "publishes docsync.uploaded.",
    "  KAFKA_BROKERS, REDIS_HOST, REDIS_PORT, LOG_LEVEL\n"
    "  BLOB_DIR (/var/lib/docsync/blobs), or BLOB_STORE: the blob store\n"
    "  CONNECTOR_FILE: the APIs' connector (docs/connectors.md); without\n"
    "    it: DEST_BASE_URL, DEST_API_KEY (or DEST_API_KEY_FILE),\n"
    "    DEST_API_KEY_HEADER\n"
    "  HTTP_CONNECT_TIMEOUT_MS, HTTP_TIMEOUT_MS, MAX_ATTEMPTS,\n"
    "  BACKOFF_BASE_MS, BACKOFF_CAP_MS, RETRY_BUDGET_MS\n"
    "  UPLOAD_LEASE_MS (15000): claim on a document while uploading it\n"
    "  UPLOAD_LOOKUP (always): look for an earlier copy before uploading;\n"
    "    never turns the lookup off\n",
};

/* What the destination is told about the document, besides its bytes:
 * the connector's upload fields, taken from the message. A required one
 * the message lacks is bad_message. */
static json_t *upload_fields(const uploader *u, const json_t *in,
                             ds_err *err)
{
    const json_t *rules = ds_connector_get(u->connector,
                                           "destination.upload.fields");

    if (rules == NULL)
        return json_object();
    return ds_fields_apply(rules, in, "bad_message", err);
}

/* A document id at path in doc as a string the caller frees: some
 * destinations number their documents. NULL when there is none. */
static char *id_at(const json_t *doc, const char *path)
{
    char text[256];

    if (ds_json_scalar_text(ds_json_path(doc, path), text,
                            sizeof(text)) < 0 || text[0] == '\0')
        return NULL;
    return strdup(text);
}

/* Reads the new document's id from a 201's JSON body, at the connector's
 * destination.upload.idField. */
static char *created_id(const uploader *u, const ds_http_resp *resp,
                        ds_err *err)
{
    json_t *body = json_loadb(resp->body ? resp->body : "", resp->body_len,
                              0, NULL);
    const char *field = json_string_value(ds_connector_get(
        u->connector, "destination.upload.idField"));
    char *copy = id_at(body, field != NULL ? field : "id");

    json_decref(body);
    if (copy == NULL)
        ds_err_set(err, "upload_bad_response",
                   "the destination's answer has no document id at %.64s",
                   field != NULL ? field : "id");
    return copy;
}

/* Renews the lease during the upload. Stops the upload only when another
 * process has taken the lease over; a Redis hiccup is not a reason to throw
 * away a transfer (the Idempotency-Key covers an overlap). */
static int renew_lease(void *ud)
{
    lease *l = ud;
    ds_err err;
    int held = 1;

    ds_err_clear(&err);
    if (ds_lease_take(l->u->redis, l->name, ds_runtime_owner(),
                      l->u->lease_ms, &held, &err) == 0 && !held) {
        l->lost = 1;
        return -1;
    }
    return 0;
}

/* One upload in hand: what every mode needs to send the document. */
typedef struct transfer {
    uploader *u;
    const json_t *in;
    const char *doc_id, *txn, *sha;
    const ds_upmode *mode;
    ds_blob_reader *blob;
    json_t *fields;
    ds_tpl_var vars[4];
    char idem[320];            /* "Idempotency-Key: ..." */
    lease *l;
} transfer;

/* The checks that need no byte sent: a file no mode takes (too_large),
 * a name longer than the destination keeps. */
static int admit(transfer *up, json_int_t size, ds_err *err)
{
    const char *name = json_string_value(json_object_get(up->in,
                                                         "fileName"));
    long long max = up->u->modes.max_name_bytes;

    up->mode = ds_upmodes_pick(&up->u->modes, (uint64_t)size, err);
    if (up->mode == NULL)
        return -1;
    if (max >= 0 && name != NULL && strlen(name) > (size_t)max)
        return ds_err_set(err, "file_name_too_long", "the file name has "
                          "%zu bytes, the destination keeps at most %lld",
                          strlen(name), max);
    return 0;
}

/* The same document with the same bytes always has the same key, so a
 * retry after a crash cannot attach it twice at a destination that
 * honours the key. A copy the verifier refused asks for a new upload: the
 * count of refusals makes its key new. */
static int idempotency_key(transfer *up, ds_err *err)
{
    char field[96], *rejected = NULL;

    snprintf(field, sizeof(field), "rejected:%.64s", up->sha);
    if (ds_state_get(up->u->redis, up->doc_id, field, &rejected, err) < 0)
        return -1;
    snprintf(up->idem, sizeof(up->idem),
             "Idempotency-Key: docsync-%s-%.16s-%.64s%s%.8s", up->doc_id,
             up->sha, up->txn, rejected != NULL ? "-r" : "",
             rejected != NULL ? rejected : "");
    free(rejected);
    return 0;
}

/* Sends a body of one request: JSON with the base64 inside, or
 * multipart/form-data, both streamed from the blob. */
static int send_whole(transfer *up, ds_http_resp *resp, ds_err *err)
{
    const ds_upmode *m = up->mode;
    char path[1024], type[160];
    const char *headers[] = {type, up->idem, NULL};
    ds_multipart_opts mo = {0};
    ds_multipart *mp = NULL;
    ds_body *body = NULL;
    ds_http_req req = {0};
    int rc = -1;

    if (ds_connector_path(up->u->connector, DS_SIDE_DESTINATION,
                          m->endpoint, up->vars, path, sizeof(path),
                          err) < 0)
        return -1;
    if (m->kind == DS_UPMODE_JSON) {
        body = ds_body_new(up->fields, m->content_field, up->blob, err);
        snprintf(type, sizeof(type), "Content-Type: application/json");
        req.read = ds_body_read;
        req.rewind = ds_body_rewind;
        req.read_ud = body;
    } else {
        mo.file_field = m->file_field;
        mo.file_name = json_string_value(json_object_get(up->in,
                                                         "fileName"));
        mo.mime_type = json_string_value(json_object_get(up->in,
                                                         "mimeType"));
        mo.metadata = m->metadata_json ? DS_MULTIPART_JSON
                                       : DS_MULTIPART_FIELDS;
        mo.metadata_field = m->metadata_field;
        mo.name_style = m->raw_names ? DS_MULTIPART_RAW
                                     : DS_MULTIPART_RFC8187;
        mp = ds_multipart_new(up->fields, &mo, up->blob, err);
        if (mp != NULL)
            snprintf(type, sizeof(type), "Content-Type: %s",
                     ds_multipart_content_type(mp));
        req.read = ds_multipart_read;
        req.rewind = ds_multipart_rewind;
        req.read_ud = mp;
    }
    if (body == NULL && mp == NULL)
        goto out;
    req.headers = headers;
    req.body_size = body != NULL ? ds_body_length(body)
                                 : ds_multipart_length(mp);
    req.progress = renew_lease;
    req.progress_ud = up->l;
    rc = ds_api_do(&up->u->dest, "POST", path, &req, resp, err);
out:
    ds_body_free(body);
    ds_multipart_free(mp);
    return rc;
}

/* Sends the file through an upload session (ds_chunked.h). Its progress
 * is kept per version, so that a later attempt resumes it. */
static int send_chunked(transfer *up, ds_http_resp *resp, ds_err *err)
{
    char field[160];
    ds_chunked_job job = {0};

    snprintf(field, sizeof(field), "session:%.64s:%.64s", up->sha, up->txn);
    job.api = &up->u->dest;
    job.connector = up->u->connector;
    job.mode = up->mode;
    job.fields = up->fields;
    job.blob = up->blob;
    job.vars = up->vars;
    job.idem_line = up->idem;
    job.redis = up->u->redis;
    job.doc_id = up->doc_id;
    job.progress_field = field;
    job.progress = renew_lease;
    job.progress_ud = up->l;
    return ds_chunked_upload(&job, resp, err);
}

/* Names a failed upload for the DLQ and the retry topic. */
static void name_failure(const transfer *up, ds_err *err)
{
    char reason[32], said[sizeof(err->msg)];

    if (up->l->lost) {
        ds_err_reset(err, "upload_lease_lost",
                     "another uploader took the document over");
    } else if (err->http_status == 409 &&
               strcmp(err->reason, "http_409") == 0) {
        /* The same Idempotency-Key is still being served: an earlier try
         * (perhaps of a process that died) is running. Ask again later. */
        ds_err_reset(err, "upload_in_progress",
                     "the destination is still serving this key (409)");
    } else if (err->http_status > 0 &&
               strncmp(err->reason, "http_", 5) == 0) {
        /* Keep the destination's own words (ds_http put them in msg). */
        snprintf(said, sizeof(said), "%s", err->msg);
        snprintf(reason, sizeof(reason), "upload_http_%d", err->http_status);
        ds_err_reset(err, reason, "%s", said);
    }
}

/* Uploads the document in the mode its size calls for. Returns the
 * destination's id (caller frees) and the mode in *mode. */
static char *post_document(uploader *u, const json_t *in, const char *txn,
                           const char *doc_id, lease *l,
                           const ds_upmode **mode, ds_err *err)
{
    json_int_t size = json_integer_value(json_object_get(in, "size"));
    transfer up = {u, in, doc_id, txn, NULL, NULL, NULL, NULL, {{0}}, "", l};
    ds_http_resp resp = {0};
    char *id = NULL;
    int rc;

    up.sha = json_string_value(json_object_get(in, "blob"));
    if (up.sha == NULL || !json_is_integer(json_object_get(in, "size")) ||
        size < 0)
        return ds_err_set(err, "bad_message", "blob or size missing"), NULL;
    if (admit(&up, size, err) < 0)
        return NULL;
    up.vars[0] = (ds_tpl_var){"transactionId", txn};
    up.vars[1] = (ds_tpl_var){"documentId", doc_id};
    up.vars[2] = (ds_tpl_var){"accountId", json_string_value(
        json_object_get(in, "accountId"))};
    up.blob = ds_blob_reader_new(u->blobs, up.sha, err);
    if (up.blob == NULL)
        return NULL;
    if (ds_blob_reader_size(up.blob) != (uint64_t)size) {
        ds_err_set(err, "blob_io", "blob %.16s holds %llu bytes, the record "
                   "says %lld", up.sha,
                   (unsigned long long)ds_blob_reader_size(up.blob),
                   (long long)size);
        goto out;
    }
    up.fields = upload_fields(u, in, err);
    if (up.fields == NULL || idempotency_key(&up, err) < 0)
        goto out;
    rc = up.mode->kind == DS_UPMODE_CHUNKED ? send_chunked(&up, &resp, err)
                                            : send_whole(&up, &resp, err);
    if (rc == 0)
        id = created_id(u, &resp, err);
    else
        name_failure(&up, err);
    *mode = up.mode;
out:
    ds_http_resp_clear(&resp);
    json_decref(up.fields);
    ds_blob_reader_free(up.blob);
    return id;
}

/* The record of the copy: the input with the destination's id, how it
 * was sent ("recorded" when an earlier upload was found, not sent now)
 * and when, which bounds how long the verifier waits for a destination
 * that is still processing it. */
static json_t *uploaded_message(const json_t *in, const char *dest_id,
                                const char *mode, const char *at)
{
    json_t *out = json_deep_copy(in);

    if (out == NULL)
        return NULL;
    json_object_set_new(out, "destinationDocumentId", json_string(dest_id));
    json_object_set_new(out, "uploadMode", json_string(mode));
    if (at != NULL)
        json_object_set_new(out, "uploadedAt", json_string(at));
    return out;
}

/* Asks the loop to try again when the lease holder's claim runs out. */
static int lease_held(uploader *u, const char *name, ds_err *err)
{
    redisReply *reply = ds_redis_cmd(u->redis, err,
                                     "PTTL docsync:lease:%s", name);
    long long left = 1000;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
        reply->integer > 0)
        left = reply->integer;
    if (reply != NULL)
        freeReplyObject(reply);
    ds_err_set(err, "upload_in_progress",
               "another uploader holds the lease for %lld ms", left);
    err->retry_after_ms = (long)left + 100;
    return -1;
}

/* 1 when the destination's document d holds this version: the same size
 * and checksum (of the connector's algorithm) as the message. */
static int same_version(const uploader *u, const json_t *d, const json_t *in)
{
    const char *ours = json_string_value(json_object_get(
        in, u->view.sum_algorithm));
    const char *got = json_string_value(ds_json_path(d, u->view.sum_field));
    const json_t *size = ds_json_path(d, u->view.size);

    return ours != NULL && got != NULL &&
           ds_checksum_equal(ours, got, u->view.sum_encoding) &&
           json_is_integer(size) &&
           json_equal(size, json_object_get(in, "size"));
}

/* Looks for a copy of this version at the destination: a document the
 * connector's search endpoint finds for the transaction and document,
 * with the same checksum and size. Returns its id (the caller frees it),
 * or NULL with err clear when there is none or the destination cannot be
 * searched, NULL with err set on a failure worth a retry. */
static char *find_copy(uploader *u, const json_t *in, const char *doc_id,
                       const char *txn, ds_err *err)
{
    const char *items = json_string_value(ds_connector_get(
        u->connector, "destination.search.items"));
    const ds_tpl_var vars[] = {
        {"transactionId", txn}, {"documentId", doc_id},
        {"accountId", json_string_value(json_object_get(in, "accountId"))},
        {NULL, NULL}};
    char path[1024];
    json_t *found, *docs, *d;
    char *id = NULL;
    ds_err lerr;
    size_t i;

    if (!u->lookup || !json_is_integer(json_object_get(in, "size")) ||
        !ds_connector_has_endpoint(u->connector, DS_SIDE_DESTINATION,
                                   "search"))
        return NULL;
    ds_err_clear(&lerr);
    if (ds_connector_path(u->connector, DS_SIDE_DESTINATION, "search", vars,
                          path, sizeof(path), &lerr) < 0) {
        ds_log_msg(DS_LOG_WARN, "lookup of %s skipped: %s", doc_id,
                   lerr.msg);
        return NULL;
    }
    found = ds_api_get_json(&u->dest, path, &lerr);
    if (found == NULL) {
        /* A lookup that cannot work (no such route, a refused search) must
         * not stop the upload; its own answer will say what is wrong. */
        if (lerr.klass == DS_CLASS_TRANSIENT)
            *err = lerr;
        else
            ds_log_msg(DS_LOG_WARN, "lookup of %s skipped: %s", doc_id,
                       lerr.msg);
        return NULL;
    }
    docs = ds_json_path(found, items != NULL ? items : "documents");
    json_array_foreach(docs, i, d) {
        if (same_version(u, d, in)) {
            id = id_at(d, u->view.id);
            if (id != NULL)
                break;
        }
    }
    json_decref(found);
    if (id != NULL)
        ds_log_msg(DS_LOG_INFO, "%s is already at the destination as %s: "
                   "recorded, not uploaded again", doc_id, id);
    return id;
}

/* Says how a copy was sent: one line an operator (and make bench-large)
 * reads the mode from, and a count per mode. */
static void log_uploaded(const json_t *in, const char *doc_id,
                         const char *dest_id, const ds_upmode *mode,
                         long long took_ms)
{
    ds_log_event ev = {0};
    char labels[64], text[160];

    snprintf(text, sizeof(text), "uploaded as %.64s, %lld bytes", dest_id,
             (long long)json_integer_value(json_object_get(in, "size")));
    ev.document_id = doc_id;
    ev.transaction_id = json_string_value(json_object_get(in,
                                                          "transactionId"));
    ev.status = "UPLOADED";
    ev.duration_ms = (long)took_ms;
    ev.attempt = -1;
    ev.upload_mode = ds_upmode_name(mode->kind);
    ev.message = text;
    ds_log_event_write(DS_LOG_INFO, &ev);
    ds_metric_labels(labels, sizeof(labels), "mode", ev.upload_mode, NULL);
    ds_metric_add("docsync_uploads_total", "Copies sent to the destination, "
                  "by upload mode", labels, 1);
}

/* Uploads under the document's lease and records the new id. */
static char *upload_once(uploader *u, const json_t *in, const char *doc_id,
                         const char *txn, const char *version,
                         const ds_upmode **mode, ds_err *err)
{
    const char *owner = ds_runtime_owner();
    long long t0 = ds_time_mono_ms();
    char name[200];
    lease l = {u, name, 0};
    char *id;
    int taken;

    snprintf(name, sizeof(name), "upload:%s", doc_id);
    if (ds_lease_take(u->redis, name, owner, u->lease_ms, &taken, err) < 0)
        return NULL;
    if (!taken)
        return lease_held(u, name, err), NULL;
    id = find_copy(u, in, doc_id, txn, err);
    if (id == NULL && err->klass == DS_CLASS_NONE)
        id = post_document(u, in, txn, doc_id, &l, mode, err);
    if (id != NULL && *mode != NULL)
        log_uploaded(in, doc_id, id, *mode, ds_time_mono_ms() - t0);
    if (id != NULL &&
        (ds_state_set(u->redis, doc_id, version, id, err) < 0 ||
         ds_state_set(u->redis, doc_id, "destinationDocumentId", id,
                      err) < 0 ||
         ds_state_mark(u->redis, doc_id, "uploader", "uploaded", id,
                       err) < 0)) {
        free(id);
        id = NULL;
    }
    ds_lease_release(u->redis, name, owner, err);
    return id;
}

static int handle(void *ctx, const ds_msg *in, json_t **out, ds_err *err)
{
    uploader *u = ctx;
    const char *doc_id = json_string_value(
        json_object_get(in->value, "documentId"));
    const char *txn = json_string_value(
        json_object_get(in->value, "transactionId"));
    const char *sha = json_string_value(json_object_get(in->value, "blob"));
    const ds_upmode *mode = NULL;
    char version[160], at[32];
    char *dest_id = NULL;

    if (doc_id == NULL || txn == NULL || sha == NULL)
        return ds_err_set(err, "bad_message",
                          "documentId, transactionId or blob missing");
    /* The record is per version (document, bytes and transaction), so a
     * later update of the same document is uploaded, and so is a document
     * its account now maps to another transaction; a redelivery is not. */
    snprintf(version, sizeof(version), "upload:%.64s:%.64s", sha, txn);
    if (ds_state_get(u->redis, doc_id, version, &dest_id, err) < 0)
        return -1;
    if (dest_id == NULL)
        dest_id = upload_once(u, in->value, doc_id, txn, version, &mode,
                              err);
    if (dest_id == NULL)
        return -1;
    ds_time_now_iso8601(at);
    *out = uploaded_message(in->value, dest_id,
                            mode != NULL ? ds_upmode_name(mode->kind)
                                         : "recorded",
                            mode != NULL ? at : NULL);
    free(dest_id);
    if (*out == NULL)
        return ds_err_set(err, "out_of_memory", "json");
    return 0;
}

static int configure(void *ctx, ds_err *err)
{
    uploader *u = ctx;
    const char *lookup = ds_env_str("UPLOAD_LOOKUP", "always");

    if (ds_env_long("UPLOAD_LEASE_MS", 15000, &u->lease_ms, err) < 0)
        return -1;
    /* The lease is renewed every second; a shorter one would lapse. */
    if (u->lease_ms < 3000)
        return ds_err_set(err, "bad_config",
                          "UPLOAD_LEASE_MS must be at least 3000, not %ld",
                          u->lease_ms);
    if (strcmp(lookup, "always") != 0 && strcmp(lookup, "never") != 0)
        return ds_err_set(err, "config_invalid",
                          "UPLOAD_LOOKUP must be always or never, not '%s'",
                          lookup);
    u->lookup = strcmp(lookup, "always") == 0;
    u->blobs = ds_blob_store_from_env(err);
    if (u->blobs == NULL)
        return -1;
    u->connector = ds_connector_load(err);
    if (u->connector == NULL ||
        ds_api_init(&u->dest, u->connector, DS_SIDE_DESTINATION, err) < 0)
        return -1;
    ds_connector_doc_view(u->connector, &u->view);
    if (ds_upmodes_read(u->connector, &u->modes, err) < 0)
        return -1;
    u->redis = ds_runtime_redis(err);
    return u->redis == NULL ? -1 : 0;
}

static void cleanup(void *ctx)
{
    uploader *u = ctx;

    ds_api_clear(&u->dest);
    ds_connector_free(u->connector);
    u->connector = NULL;
    ds_redis_free(u->redis);
    ds_blob_store_free(u->blobs);
    u->blobs = NULL;
}

int main(int argc, char **argv)
{
    static uploader u;
    const ds_stage stage = {"uploader", "docsync.mapped", "docsync.uploaded",
                            handle, &u};

    return ds_runtime_stage_main(&PROGRAM, &stage, configure, cleanup, argc,
                                 argv);
}
