/* sb_tx.c - the transaction system's routes; see sb_tx.h. */
#include "sb_tx.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sb_config.h"
#include "sb_log.h"
#include "sb_store.h"
#include "sb_time.h"

/* Copied from the upload into the record. notes may be absent or null. */
static const char *const required_fields[] = {
    "fileName", "mimeType", "documentDate", "sourceDocumentId"
};

/* The fields a client may see; "storedPath" stays for the admin API. */
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

/* Builds the record of an upload from its body, without content. Answers
 * 400 and returns NULL when a field is missing or wrong. */
static json_t *record_from_body(json_t *body, const char *transaction_id,
                                sb_reply *out)
{
    json_t *notes = json_object_get(body, "notes");
    json_t *rec;
    char now[21];

    for (size_t i = 0; i < COUNT(required_fields); i++)
        if (check_string(body, required_fields[i], 0, out) != 0)
            return NULL;
    /* An empty content is an empty file, not an error. */
    if (check_string(body, "content", 1, out) != 0)
        return NULL;
    if (notes != NULL && !json_is_string(notes) && !json_is_null(notes)) {
        sb_reply_bad_field(out, "bad_field", "notes");
        return NULL;
    }

    sb_log_now_iso(now);
    /* uploadedAtMs, kept from clients, times the "processing" status. */
    rec = json_pack("{s:s,s:O?,s:s,s:I}", "transactionId", transaction_id,
                    "notes", notes, "createdAt", now, "uploadedAtMs",
                    (json_int_t)sb_time_now_ms());
    for (size_t i = 0; rec != NULL && i < COUNT(required_fields); i++)
        json_object_set(rec, required_fields[i],
                        json_object_get(body, required_fields[i]));
    if (rec == NULL)
        sb_reply_error(out, 500, "internal", "oom");
    return rec;
}

/* Decodes the content into the store and completes rec with size and md5.
 * Answers 400/500 and returns -1 on failure. */
static int store_content(const sb_ctx *ctx, json_t *body, json_t *rec,
                         char path[PATH_MAX], sb_reply *out)
{
    json_t *content = json_object_get(body, "content");
    char md5[DS_MD5_HEX_LEN + 1];
    uint64_t size;
    ds_err err;

    ds_err_clear(&err);
    if (sb_store_b64(sb_state_data_dir(ctx->state),
                     json_string_value(content), json_string_length(content),
                     path, md5, &size, &err) != 0) {
        /* Only the content's own faults are the client's. */
        if (strcmp(err.reason, "bad_base64") == 0 ||
            strcmp(err.reason, "whitespace_in_content") == 0)
            sb_reply_error(out, 400, "bad_request", err.reason);
        else
            sb_reply_error(out, 500, "internal", err.reason);
        return -1;
    }
    json_object_set_new(rec, "size", json_integer((json_int_t)size));
    json_object_set_new(rec, "md5Checksum", json_string(md5));
    return 0;
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

/* What makes two uploads with one Idempotency-Key the same request: the
 * transaction, the decoded bytes, the name and the source. NULL when out
 * of memory. */
static json_t *fingerprint(json_t *rec)
{
    return json_pack("{s:O,s:O,s:O,s:O}",
                     "transactionId", json_object_get(rec, "transactionId"),
                     "md5Checksum", json_object_get(rec, "md5Checksum"),
                     "fileName", json_object_get(rec, "fileName"),
                     "sourceDocumentId",
                     json_object_get(rec, "sourceDocumentId"));
}

static void log_idem(const char *level, const char *msg, json_t *rec)
{
    sb_log_msg(level, msg,
               json_pack("{s:O,s:O}", "transactionId",
                         json_object_get(rec, "transactionId"),
                         "sourceDocumentId",
                         json_object_get(rec, "sourceDocumentId")));
}

/* Answers an upload whose Idempotency-Key has already completed: the
 * remembered answer for the same request, 422 for another one. Returns 0
 * when it answered, -1 when the key is no longer completed (a reset forgot
 * it) and the upload is to be stored as if it had none. */
static int answer_completed_key(const sb_ctx *ctx, const sb_call *call,
                                json_t *rec, sb_reply *out)
{
    json_t *fp = fingerprint(rec);
    char *body = NULL;
    int status, rc;

    if (fp == NULL) {
        sb_reply_error(out, 500, "internal", "oom");
        return 0;
    }
    rc = sb_state_idem_replay(ctx->state, call->idem_key, fp,
                              json_string_value(json_object_get(
                                  rec, "sourceDocumentId")),
                              &status, &body);
    json_decref(fp);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        log_idem("warn", "idempotency key reused", rec);
        sb_reply_error(out, 422, "unprocessable", "idempotency_key_reused");
        return 0;
    }
    if (body == NULL) {
        sb_reply_error(out, 500, "internal", "oom");
        return 0;
    }
    log_idem("info", "idempotent replay", rec);
    sb_reply_text(out, status, "application/json", body);
    out->replayed = 1;
    free(body);
    return 0;
}

/* Makes the request's Idempotency-Key completed with its fingerprint fp
 * and its answer, out. A failure only costs the replay: the key is then
 * forgotten by sb_http.c and a retry stores a second copy. */
static void remember_answer(const sb_ctx *ctx, const sb_call *call,
                            json_t *rec, json_t *fp, const sb_reply *out)
{
    if (sb_state_idem_complete(ctx->state, call->idem_key, call->idem_claim,
                               json_incref(fp), out->status,
                               out->body) != 0)
        log_idem("warn", "idempotency key not remembered", rec);
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

void sb_tx_upload(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    json_t *body = NULL;
    json_error_t jerr;

    if (!sb_state_transaction_exists(ctx->state, call->param)) {
        sb_reply_error(out, 404, "not_found", "unknown_transaction");
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
    char path[PATH_MAX] = "";
    char id[SB_ID_MAX + 1];
    json_t *rec = NULL, *fp = NULL;
    sb_chaos_kind fate;
    ds_err err;

    rec = record_from_body(body, call->param, out);
    if (rec == NULL || store_content(ctx, body, rec, path, out) != 0)
        goto out;
    /* The bytes were decoded only for their MD5: a replay stores nothing
     * new, and the temporary file is removed below. */
    if (call->idem_key != NULL && call->idem_claim == 0 &&
        answer_completed_key(ctx, call, rec, out) == 0)
        goto out;

    /* Taken before a corruption changes the MD5: a retry sends the bytes
     * the client had. */
    if (call->idem_key != NULL && (fp = fingerprint(rec)) == NULL) {
        sb_reply_error(out, 500, "internal", "oom");
        goto out;
    }
    if (apply_fate(ctx, rec, path, &fate, out) != 0)
        goto out;

    json_incref(rec);
    ds_err_clear(&err);
    if (sb_state_tx_add(ctx->state, rec, path, id, &err) != 0) {
        sb_reply_error(out, 500, "internal", err.reason);
        goto out;
    }
    path[0] = '\0'; /* moved into the store */
    sb_chaos_count(ctx->chaos, SB_FAULT_TX_UPLOAD, fate);
    log_stored(id, rec, fate);
    sb_reply_json(out, 201, json_pack("{s:s,s:s}", "id", id,
                                      "transactionId", call->param));
    out->chaos = fate;
    if (call->idem_key != NULL && call->idem_claim != 0 &&
        out->status == 201)
        remember_answer(ctx, call, rec, fp, out);

out:
    if (path[0] != '\0')
        unlink(path);
    json_decref(fp);
    json_decref(rec);
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

    if (!sb_state_transaction_exists(ctx->state, call->param)) {
        sb_reply_error(out, 404, "not_found", "unknown_transaction");
        goto out;
    }
    if (search_filter(call, &source, out) != 0)
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
