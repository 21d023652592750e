/* sb_tx.c - the transaction system's routes; see sb_tx.h. */
#include "sb_tx.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sb_config.h"
#include "sb_log.h"
#include "sb_store.h"
#include "sb_time.h"
#include "sb_tx_multipart.h"

/* What a body may add to its file before Content-Length alone proves the
 * file too large: the JSON fields, or the multipart headers and fields. */
#define BODY_SLACK (64 * 1024)

/* Copied from the upload into the record. notes may be absent or null. */
static const char *const required_fields[] = {
    "fileName", "mimeType", "documentDate", "sourceDocumentId"
};

/* The fields a client may see; the rest of a record ("storedPath",
 * "uploadMode", "partFileName", the chaos flags) stays for the admin
 * API. */
static const char *const public_fields[] = {
    "id", "transactionId", "fileName", "mimeType", "size", "md5Checksum",
    "notes", "documentDate", "sourceDocumentId", "createdAt"
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Checks that body has field as a string, non-empty unless may_be_empty.
 * Answers 400 missing_field or bad_field otherwise. */
static int check_string(json_t *body, const char *field, int may_be_empty,
                        sb_reply *out)
{
    json_t *v = json_object_get(body, field);

    if (v == NULL || json_is_null(v)) {
        sb_reply_bad_field(out, "missing_field", field);
        return -1;
    }
    if (!json_is_string(v) || (!may_be_empty && json_string_length(v) == 0)) {
        sb_reply_bad_field(out, "bad_field", field);
        return -1;
    }
    return 0;
}

static const char *const mode_names[] = {
    "json_base64", "multipart", "chunked"
};

static const char *const limit_names[] = {"json", "multipart", "chunked"};

/* The fileName rules every mode shares, on a string checked non-empty:
 * no control character (a JSON string is UTF-8 already; multipart names
 * are checked on the way in) and not over tx.maxFileNameBytes. */
static int check_file_name(const sb_ctx *ctx, json_t *v, sb_reply *out)
{
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    sb_upload_cfg cfg;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f) {
            sb_reply_bad_field(out, "bad_field", "fileName");
            return -1;
        }
    }
    sb_config_uploads(ctx->config, &cfg);
    if ((int64_t)n > cfg.max_file_name_bytes) {
        sb_reply_bad_field(out, "file_name_too_long", "fileName");
        return -1;
    }
    return 0;
}

int sb_tx_check_transaction(const sb_ctx *ctx, const char *transaction_id,
                            sb_reply *out)
{
    if (sb_state_transaction_exists(ctx->state, transaction_id))
        return 0;
    sb_reply_error(out, 404, "not_found", "unknown_transaction");
    return -1;
}

int sb_tx_check_fields(const sb_ctx *ctx, json_t *fields, sb_reply *out)
{
    json_t *notes = json_object_get(fields, "notes");

    for (size_t i = 0; i < COUNT(required_fields); i++) {
        if (check_string(fields, required_fields[i], 0, out) != 0)
            return -1;
        if (strcmp(required_fields[i], "fileName") == 0 &&
            check_file_name(ctx, json_object_get(fields, "fileName"),
                            out) != 0)
            return -1;
    }
    if (notes != NULL && !json_is_string(notes) && !json_is_null(notes)) {
        sb_reply_bad_field(out, "bad_field", "notes");
        return -1;
    }
    return 0;
}

int sb_tx_check_size(const sb_ctx *ctx, sb_upload_mode mode, uint64_t size,
                     sb_reply *out)
{
    sb_upload_cfg cfg;
    int64_t limit;
    char reason[32];

    sb_config_uploads(ctx->config, &cfg);
    limit = mode == SB_UPLOAD_JSON        ? cfg.limit_json
            : mode == SB_UPLOAD_MULTIPART ? cfg.limit_multipart
                                          : cfg.limit_chunked;
    if (size <= (uint64_t)limit)
        return 0;
    snprintf(reason, sizeof(reason), "over_%s_limit", limit_names[mode]);
    sb_reply_json(out, 413, json_pack("{s:s,s:s,s:I}", "error",
                                      "payload_too_large", "reason", reason,
                                      "limit", (json_int_t)limit));
    return -1;
}

/* The record of up, without id and storedPath; NULL when out of
 * memory. */
static json_t *new_record(const sb_upload *up)
{
    json_t *notes = json_object_get(up->fields, "notes");
    json_t *part_name = json_object_get(up->fields, "partFileName");
    json_t *rec;
    char now[21];

    sb_log_now_iso(now);
    /* uploadedAtMs, kept from clients, times the "processing" status. */
    rec = json_pack("{s:s,s:O?,s:s,s:I,s:s,s:I,s:s}", "transactionId",
                    up->transaction_id, "notes", notes, "createdAt", now,
                    "uploadedAtMs", (json_int_t)sb_time_now_ms(),
                    "uploadMode", mode_names[up->mode], "size",
                    (json_int_t)up->size, "md5Checksum", up->md5);
    for (size_t i = 0; rec != NULL && i < COUNT(required_fields); i++)
        json_object_set(rec, required_fields[i],
                        json_object_get(up->fields, required_fields[i]));
    if (rec != NULL && json_is_string(part_name))
        json_object_set(rec, "partFileName", part_name);
    return rec;
}

/* Decodes the content of a JSON body into up's file, with its size and
 * md5. Answers 400/500 and returns -1 on failure. */
static int store_content(const sb_ctx *ctx, json_t *body, sb_upload *up,
                         sb_reply *out)
{
    json_t *content = json_object_get(body, "content");
    ds_err err;

    ds_err_clear(&err);
    if (sb_store_b64(sb_state_data_dir(ctx->state),
                     json_string_value(content), json_string_length(content),
                     up->path, up->md5, &up->size, &err) != 0) {
        up->path[0] = '\0';
        /* Only the content's own faults are the client's. */
        if (strcmp(err.reason, "bad_base64") == 0 ||
            strcmp(err.reason, "whitespace_in_content") == 0)
            sb_reply_error(out, 400, "bad_request", err.reason);
        else
            sb_reply_error(out, 500, "internal", err.reason);
        return -1;
    }
    return 0;
}

/* The size base64 text of n characters decodes to when it is well formed;
 * what is not is refused by the decoder. */
static uint64_t decoded_size(const char *b64, size_t n)
{
    uint64_t size = (uint64_t)(n / 4) * 3;

    if (n % 4 == 0 && n > 0 && b64[n - 1] == '=')
        size -= b64[n - 2] == '=' ? 2 : 1;
    return size;
}

static void log_stored(const char *id, json_t *rec, sb_chaos_kind fate)
{
    json_t *f = json_pack("{s:s,s:O,s:O,s:O,s:O}", "documentId", id,
                          "transactionId",
                          json_object_get(rec, "transactionId"),
                          "sourceDocumentId",
                          json_object_get(rec, "sourceDocumentId"), "size",
                          json_object_get(rec, "size"), "md5",
                          json_object_get(rec, "md5Checksum"));

    if (f != NULL && fate != SB_CHAOS_NONE)
        json_object_set_new(f, "chaos",
                            json_string(sb_chaos_kind_name(fate)));
    sb_log_msg("info", "document stored", f);
}

json_t *sb_tx_fingerprint(json_t *rec)
{
    return json_pack("{s:O,s:O,s:O,s:O}",
                     "transactionId", json_object_get(rec, "transactionId"),
                     "md5Checksum", json_object_get(rec, "md5Checksum"),
                     "fileName", json_object_get(rec, "fileName"),
                     "sourceDocumentId",
                     json_object_get(rec, "sourceDocumentId"));
}

/* Logs msg with the transaction and source of fingerprint fp. */
static void log_idem(const char *level, const char *msg, json_t *fp)
{
    sb_log_msg(level, msg,
               json_pack("{s:O?,s:O?}", "transactionId",
                         json_object_get(fp, "transactionId"),
                         "sourceDocumentId",
                         json_object_get(fp, "sourceDocumentId")));
}

int sb_tx_replay(const sb_ctx *ctx, const sb_call *call, json_t *fp,
                 int count, sb_reply *out)
{
    const char *source = json_string_value(json_object_get(
        fp, "sourceDocumentId"));
    char *body = NULL;
    int status, rc;

    rc = sb_state_idem_replay(ctx->state, call->idem_key, fp,
                              count ? source : NULL, &status, &body);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        log_idem("warn", "idempotency key reused", fp);
        sb_reply_error(out, 422, "unprocessable", "idempotency_key_reused");
        return 0;
    }
    if (body == NULL) {
        sb_reply_error(out, 500, "internal", "oom");
        return 0;
    }
    log_idem("info", "idempotent replay", fp);
    sb_reply_text(out, status, "application/json", body);
    out->replayed = 1;
    free(body);
    return 0;
}

void sb_tx_remember(const sb_ctx *ctx, const sb_call *call, json_t *fp,
                    const sb_reply *out)
{
    if (call->idem_key == NULL || call->idem_claim == 0 ||
        out->status != 201)
        return;
    if (sb_state_idem_complete(ctx->state, call->idem_key, call->idem_claim,
                               json_incref(fp), out->status,
                               out->body) != 0)
        log_idem("warn", "idempotency key not remembered", fp);
}

/* Draws the chaos fate of an upload about to be stored and applies it to
 * rec and to the decoded bytes at path: "lost" and "corrupted" become
 * true or false, and a corrupted file gets one byte changed and rec its
 * new MD5. Returns 0 with *fate set, or -1 after answering 500 when the
 * file cannot be changed. */
static int apply_fate(const sb_ctx *ctx, json_t *rec, const char *path,
                      sb_chaos_kind *fate, sb_reply *out)
{
    json_int_t size = json_integer_value(json_object_get(rec, "size"));
    char md5[DS_MD5_HEX_LEN + 1];
    uint64_t pick;
    ds_err err;

    *fate = sb_chaos_upload_fate(ctx->chaos, &pick);
    /* An empty file has no byte to change. */
    if (*fate == SB_CHAOS_CORRUPTED && size <= 0)
        *fate = SB_CHAOS_NONE;
    if (*fate == SB_CHAOS_CORRUPTED) {
        ds_err_clear(&err);
        if (sb_store_corrupt(path, pick % (uint64_t)size, md5, &err) != 0) {
            sb_reply_error(out, 500, "internal", err.reason);
            return -1;
        }
        json_object_set_new(rec, "md5Checksum", json_string(md5));
    }
    json_object_set_new(rec, "lost", json_boolean(*fate == SB_CHAOS_LOST));
    json_object_set_new(rec, "corrupted",
                        json_boolean(*fate == SB_CHAOS_CORRUPTED));
    return 0;
}

void sb_tx_store_upload(const sb_ctx *ctx, const sb_call *call,
                        sb_upload *up, sb_reply *out)
{
    char id[SB_ID_MAX + 1];
    json_t *rec = NULL, *fp = NULL;
    sb_chaos_kind fate;
    ds_err err;

    rec = new_record(up);
    /* Taken before a corruption changes the MD5: a retry sends the bytes
     * the client had. */
    if (rec == NULL || (fp = sb_tx_fingerprint(rec)) == NULL) {
        sb_reply_error(out, 500, "internal", "oom");
        goto out;
    }
    /* The bytes were written only for their MD5: a replay stores nothing
     * new, and the file is removed below. */
    if (call->idem_key != NULL && call->idem_claim == 0 &&
        sb_tx_replay(ctx, call, fp, 1, out) == 0)
        goto out;
    if (apply_fate(ctx, rec, up->path, &fate, out) != 0)
        goto out;

    json_incref(rec);
    ds_err_clear(&err);
    if (sb_state_tx_add(ctx->state, rec, up->path, id, &err) != 0) {
        sb_reply_error(out, 500, "internal", err.reason);
        goto out;
    }
    up->path[0] = '\0'; /* moved into the store */
    sb_chaos_count(ctx->chaos, up->route, fate);
    log_stored(id, rec, fate);
    sb_reply_json(out, 201, json_pack("{s:s,s:s}", "id", id,
                                      "transactionId", up->transaction_id));
    out->chaos = fate;
    sb_tx_remember(ctx, call, fp, out);

out:
    if (up->path[0] != '\0' && (!up->keep_on_failure || out->status == 201)) {
        unlink(up->path);
        up->path[0] = '\0';
    }
    json_decref(fp);
    json_decref(rec);
}

/* The upload mode a Content-Type names: JSON (also without one) or
 * multipart. Returns -1 for any other media type. */
static int media_mode(const char *content_type, sb_upload_mode *mode)
{
    size_t n;

    *mode = SB_UPLOAD_JSON;
    if (content_type == NULL)
        return 0;
    content_type += strspn(content_type, " \t");
    n = strcspn(content_type, "; \t");
    if (n == strlen("application/json") &&
        strncasecmp(content_type, "application/json", n) == 0)
        return 0;
    if (n == strlen("multipart/form-data") &&
        strncasecmp(content_type, "multipart/form-data", n) == 0) {
        *mode = SB_UPLOAD_MULTIPART;
        return 0;
    }
    return -1;
}

/* The largest body a file of limit bytes can come in, in mode. */
static uint64_t body_bound(sb_upload_mode mode, int64_t limit)
{
    uint64_t l = (uint64_t)limit;

    if (mode == SB_UPLOAD_MULTIPART)
        return l > UINT64_MAX - BODY_SLACK ? UINT64_MAX : l + BODY_SLACK;
    /* 4 * ceil(l / 3), the base64 of l bytes. */
    if (l / 3 + 1 > (UINT64_MAX - BODY_SLACK) / 4)
        return UINT64_MAX;
    return 4 * (l / 3 + (l % 3 != 0)) + BODY_SLACK;
}

void sb_tx_upload_precheck(const sb_ctx *ctx, const sb_head *head,
                           sb_reply *out)
{
    sb_upload_mode mode;
    sb_upload_cfg cfg;
    int64_t limit;

    if (sb_tx_check_transaction(ctx, head->param, out) != 0)
        return;
    if (media_mode(head->content_type, &mode) != 0) {
        sb_reply_error(out, 415, "unsupported_media_type", NULL);
        return;
    }
    if (head->content_length < 0)
        return;
    sb_config_uploads(ctx->config, &cfg);
    limit = mode == SB_UPLOAD_JSON ? cfg.limit_json : cfg.limit_multipart;
    /* The body cannot hold a file within the limit: refused before it is
     * read, and dropped. */
    if ((uint64_t)head->content_length > body_bound(mode, limit))
        sb_tx_check_size(ctx, mode, (uint64_t)limit + 1, out);
}

void sb_tx_upload(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    sb_upload_mode mode;
    json_t *body = NULL;
    json_error_t jerr;

    if (sb_tx_check_transaction(ctx, call->param, out) != 0)
        return;
    if (media_mode(call->content_type, &mode) != 0) {
        sb_reply_error(out, 415, "unsupported_media_type", NULL);
        return;
    }
    if (mode == SB_UPLOAD_MULTIPART) {
        sb_tx_multipart(ctx, call, out);
        return;
    }
    if (call->body_file != NULL)
        body = json_load_file(call->body_file, 0, &jerr);
    if (!json_is_object(body))
        sb_reply_error(out, 400, "bad_request", "bad_json");
    else
        sb_tx_store(ctx, call, body, out);
    json_decref(body);
}

void sb_tx_store(const sb_ctx *ctx, const sb_call *call, json_t *body,
                 sb_reply *out)
{
    sb_upload up = {.transaction_id = call->param, .fields = body,
                    .mode = SB_UPLOAD_JSON, .route = SB_FAULT_TX_UPLOAD};
    json_t *content = json_object_get(body, "content");

    if (sb_tx_check_fields(ctx, body, out) != 0 ||
        /* An empty content is an empty file, not an error. */
        check_string(body, "content", 1, out) != 0 ||
        sb_tx_check_size(ctx, SB_UPLOAD_JSON,
                         decoded_size(json_string_value(content),
                                      json_string_length(content)),
                         out) != 0 ||
        store_content(ctx, body, &up, out) != 0)
        return;
    sb_tx_store_upload(ctx, call, &up, out);
}

/* What a client sees of a stored record: the public fields, a new object;
 * NULL when out of memory. */
static json_t *public_record(json_t *rec)
{
    json_t *pub = json_object();

    for (size_t i = 0; pub != NULL && i < COUNT(public_fields); i++)
        json_object_set(pub, public_fields[i],
                        json_object_get(rec, public_fields[i]));
    return pub;
}

/* What a client sees of a stored record, with its status: "processing"
 * for tx.processingMs after its upload, then "stored". A new object; NULL
 * when out of memory. */
static json_t *shown_record(const sb_ctx *ctx, json_t *rec)
{
    json_t *pub = public_record(rec);
    int64_t at = json_integer_value(json_object_get(rec, "uploadedAtMs"));
    long processing_ms;
    int opaque;

    sb_config_tx(ctx->config, &processing_ms, &opaque);
    if (pub != NULL)
        json_object_set_new(pub, "status", json_string(
            sb_time_now_ms() - at < processing_ms ? "processing" : "stored"));
    return pub;
}

/* Answers the document with its ETag: the quoted md5, or an opaque weak
 * one when tx.etag says so. */
static void reply_record(const sb_ctx *ctx, json_t *rec, sb_reply *out)
{
    const char *md5 = json_string_value(json_object_get(rec, "md5Checksum"));
    long processing_ms;
    int opaque;

    sb_config_tx(ctx->config, &processing_ms, &opaque);
    sb_reply_json(out, 200, shown_record(ctx, rec));
    /* After the body: sb_reply_json clears the reply first. */
    if (opaque)
        snprintf(out->etag, sizeof(out->etag), "W/\"abc123\"");
    else if (md5 != NULL)
        snprintf(out->etag, sizeof(out->etag), "\"%s\"", md5);
}

void sb_tx_get(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    json_t *rec = sb_state_tx_get(ctx->state, call->param);

    /* A lost upload was answered 201 and is gone all the same. */
    if (rec == NULL || json_is_true(json_object_get(rec, "lost"))) {
        sb_reply_error(out, 404, "not_found", NULL);
        goto out;
    }
    reply_record(ctx, rec, out);

out:
    json_decref(rec);
}

/* The sourceDocumentId filter of a search into *source, NULL without one.
 * Answers 400 and returns -1 for an empty value or one that is not UTF-8:
 * no document has an empty source, and a typo must not list them all. */
static int search_filter(const sb_call *call, const char **source,
                         sb_reply *out)
{
    json_t *v = json_object_get(call->query, "sourceDocumentId");

    *source = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        sb_reply_bad_field(out, "bad_field", "sourceDocumentId");
        return -1;
    }
    *source = json_string_value(v);
    return 0;
}

void sb_tx_search(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    json_t *found = NULL, *docs = json_array();
    json_t *rec;
    const char *source;
    size_t i;

    if (sb_tx_check_transaction(ctx, call->param, out) != 0 ||
        search_filter(call, &source, out) != 0)
        goto out;
    found = sb_state_tx_find(ctx->state, call->param, source);
    if (found == NULL || docs == NULL) {
        sb_reply_error(out, 500, "internal", "oom");
        goto out;
    }
    json_array_foreach(found, i, rec) {
        if (json_is_true(json_object_get(rec, "lost")))
            continue;
        if (json_array_append_new(docs, shown_record(ctx, rec)) != 0) {
            sb_reply_error(out, 500, "internal", "oom");
            goto out;
        }
    }
    sb_reply_json(out, 200, json_pack("{s:O}", "documents", docs));

out:
    json_decref(found);
    json_decref(docs);
}
