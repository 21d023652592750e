/* sb_tx_session.c - chunked upload sessions; see sb_tx_session.h. */
#include "sb_tx_session.h"

#include <string.h>
#include <sys/stat.h>

#include "sb_config.h"
#include "sb_log.h"
#include "sb_session.h"
#include "sb_store.h"
#include "sb_time.h"
#include "sb_tx.h"

/* A part number has at most this many digits (n fits in 64 bits). */
#define PART_DIGITS_MAX 19

/* Answers the 404 of a session that is not there to use. */
static void reply_missing(sb_session_found found, sb_reply *out)
{
    sb_reply_error(out, 404, "not_found",
                   found == SB_SESSION_EXPIRED ? "session_expired"
                                               : "unknown_session");
}

/* The declared "size" of a session's file, an integer >= 0. */
static int read_size(json_t *body, uint64_t *size, sb_reply *out)
{
    json_t *v = json_object_get(body, "size");

    if (v == NULL || json_is_null(v)) {
        sb_reply_bad_field(out, "missing_field", "size");
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        sb_reply_bad_field(out, "bad_field", "size");
        return -1;
    }
    *size = (uint64_t)json_integer_value(v);
    return 0;
}

/* What makes two starts with one Idempotency-Key the same request: the
 * transaction, the name, the source and the size. NULL when out of
 * memory. */
static json_t *start_fingerprint(const char *transaction_id, json_t *body)
{
    return json_pack("{s:s,s:s,s:O,s:O,s:O}", "request", "upload-session",
                     "transactionId", transaction_id, "fileName",
                     json_object_get(body, "fileName"), "sourceDocumentId",
                     json_object_get(body, "sourceDocumentId"), "size",
                     json_object_get(body, "size"));
}

/* When a session started now expires: now + tx.sessionTtlMs. */
static int64_t expiry(const sb_ctx *ctx)
{
    sb_upload_cfg cfg;

    sb_config_uploads(ctx->config, &cfg);
    return sb_time_now_ms() + cfg.session_ttl_ms;
}

static void reply_started(const sb_session_info *s, sb_reply *out)
{
    char expires[SB_TIME_ISO_LEN + 1];

    sb_time_format_ms(s->expires_ms, expires);
    sb_reply_json(out, 201, json_pack("{s:s,s:I,s:I,s:s}", "sessionId",
                                      s->id, "partSize",
                                      (json_int_t)s->part_size,
                                      "totalParts",
                                      (json_int_t)s->total_parts,
                                      "expiresAt", expires));
}

void sb_tx_session_start(const sb_ctx *ctx, const sb_call *call,
                         sb_reply *out)
{
    json_t *body = NULL, *fp = NULL;
    sb_session_info s = {0};
    sb_upload_cfg cfg;
    uint64_t size;
    ds_err err;

    if (sb_tx_check_transaction(ctx, call->param, out) != 0)
        return;
    body = sb_call_json_body(call, out);
    if (body == NULL || sb_tx_check_fields(ctx, body, out) != 0 ||
        read_size(body, &size, out) != 0 ||
        sb_tx_check_size(ctx, SB_UPLOAD_CHUNKED, size, out) != 0)
        goto out;
    fp = start_fingerprint(call->param, body);
    if (fp == NULL) {
        sb_reply_error(out, 500, "internal", "oom");
        goto out;
    }
    if (call->idem_key != NULL && call->idem_claim == 0 &&
        sb_tx_replay(ctx, call, fp, 0, out) == 0)
        goto out;

    sb_config_uploads(ctx->config, &cfg);
    ds_err_clear(&err);
    if (sb_sessions_start(ctx->sessions, call->param, body, size,
                          (uint64_t)cfg.part_bytes, expiry(ctx), &s,
                          &err) != 0) {
        sb_reply_error(out, 500, "internal", err.reason);
        goto out;
    }
    sb_log_msg("info", "upload session started",
               json_pack("{s:s,s:s,s:O,s:I,s:I}", "sessionId", s.id,
                         "transactionId", s.transaction_id,
                         "sourceDocumentId",
                         json_object_get(body, "sourceDocumentId"), "size",
                         (json_int_t)s.size, "totalParts",
                         (json_int_t)s.total_parts));
    reply_started(&s, out);
    sb_tx_remember(ctx, call, fp, out);

out:
    sb_session_info_clear(&s);
    json_decref(fp);
    json_decref(body);
}

/* The part number of the path, when it is 1..total in decimal. */
static int part_number(const char *text, uint64_t total, uint64_t *n)
{
    uint64_t v = 0;
    size_t len = text != NULL ? strlen(text) : 0;

    if (len == 0 || len > PART_DIGITS_MAX)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    if (v < 1 || v > total)
        return -1;
    *n = v;
    return 0;
}

/* The refusals of part number text that its headers already show: a bad
 * number, or one beyond the next part due. Sets *n. */
static int check_part(const sb_session_info *s, const char *text,
                      uint64_t *n, sb_reply *out)
{
    if (part_number(text, s->total_parts, n) != 0) {
        sb_reply_error(out, 400, "bad_request", "bad_part_number");
        return -1;
    }
    if (*n > s->received + 1) {
        sb_reply_json(out, 409, json_pack("{s:s,s:s,s:I}", "error",
                                          "conflict", "reason",
                                          "part_out_of_order", "expected",
                                          (json_int_t)(s->received + 1)));
        return -1;
    }
    return 0;
}

/* Refuses a part n of got bytes that is not the part size, or for the
 * last part what is left of the file. */
static int check_part_size(const sb_session_info *s, uint64_t n,
                           uint64_t got, sb_reply *out)
{
    uint64_t want = n < s->total_parts
                        ? s->part_size
                        : s->size - (s->total_parts - 1) * s->part_size;

    if (got == want)
        return 0;
    sb_reply_json(out, 400, json_pack("{s:s,s:s,s:I}", "error",
                                      "bad_request", "reason",
                                      "bad_part_size", "expected",
                                      (json_int_t)want));
    return -1;
}

void sb_tx_session_part_precheck(const sb_ctx *ctx, const sb_head *head,
                                 sb_reply *out)
{
    sb_session_info s;
    sb_session_found found = sb_sessions_peek(ctx->sessions, head->param,
                                              sb_time_now_ms(), &s);
    uint64_t n;

    if (found != SB_SESSION_OK) {
        reply_missing(found, out);
        return;
    }
    /* Without a Content-Length the size is known once the body is in. */
    if (check_part(&s, head->param2, &n, out) == 0 &&
        head->content_length >= 0)
        check_part_size(&s, n, (uint64_t)head->content_length, out);
    sb_session_info_clear(&s);
}

/* Writes the part n in body_file into the session's file and answers
 * its 200. Returns -1 after answering 500 when it cannot. */
static int write_part(const sb_session_info *s, uint64_t n,
                      const char *body_file, sb_reply *out)
{
    char md5[DS_MD5_HEX_LEN + 1];
    uint64_t size;
    ds_err err;

    ds_err_clear(&err);
    if (sb_store_copy_at(body_file, s->path, (n - 1) * s->part_size, md5,
                         &size, &err) != 0) {
        sb_reply_error(out, 500, "internal", err.reason);
        return -1;
    }
    sb_reply_json(out, 200, json_pack("{s:I,s:I,s:s}", "partNumber",
                                      (json_int_t)n, "size",
                                      (json_int_t)size, "md5", md5));
    return 0;
}

void sb_tx_session_part(const sb_ctx *ctx, const sb_call *call,
                        sb_reply *out)
{
    sb_session_info s;
    sb_session_found found = sb_sessions_acquire(ctx->sessions, call->param,
                                                 sb_time_now_ms(), &s);
    uint64_t n = 0;
    struct stat st;

    if (found != SB_SESSION_OK) {
        reply_missing(found, out);
        return;
    }
    /* Checked again with the session held: another request may have
     * moved it on since the precheck. */
    if (check_part(&s, call->param2, &n, out) != 0) {
        n = 0;
    } else if (call->body_file == NULL || stat(call->body_file, &st) != 0) {
        sb_reply_error(out, 500, "internal", "no_body");
        n = 0;
    } else if (check_part_size(&s, n, (uint64_t)st.st_size, out) != 0 ||
               write_part(&s, n, call->body_file, out) != 0) {
        n = 0;
    }
    sb_sessions_release(ctx->sessions, call->param, n);
    sb_session_info_clear(&s);
}

void sb_tx_session_get(const sb_ctx *ctx, const sb_call *call,
                       sb_reply *out)
{
    sb_session_info s;
    sb_session_found found = sb_sessions_peek(ctx->sessions, call->param,
                                              sb_time_now_ms(), &s);
    char expires[SB_TIME_ISO_LEN + 1];

    if (found != SB_SESSION_OK) {
        reply_missing(found, out);
        return;
    }
    sb_time_format_ms(s.expires_ms, expires);
    sb_reply_json(out, 200, json_pack(
        "{s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "sessionId", s.id,
        "transactionId", s.transaction_id, "size", (json_int_t)s.size,
        "partSize", (json_int_t)s.part_size, "totalParts",
        (json_int_t)s.total_parts, "receivedParts",
        (json_int_t)s.received, "expiresAt", expires));
    sb_session_info_clear(&s);
}

/* A complete of a session that is gone: with the Idempotency-Key of the
 * request that completed it, that request's answer again; else 404. */
static void complete_gone(const sb_ctx *ctx, const sb_call *call,
                          sb_reply *out)
{
    json_t *fp = NULL;

    if (call->idem_key != NULL && call->idem_claim == 0)
        fp = sb_sessions_done(ctx->sessions, call->param);
    if (fp == NULL || sb_tx_replay(ctx, call, fp, 1, out) != 0)
        sb_reply_error(out, 404, "not_found", "unknown_session");
    json_decref(fp);
}

/* The fingerprint a completed session leaves for the replay of a later
 * complete: that of the document it stored, MD5 before any chaos. */
static json_t *done_fingerprint(const sb_session_info *s, const char *md5)
{
    json_t *rec = json_deep_copy(s->fields);
    json_t *fp = NULL;

    if (rec != NULL &&
        json_object_set_new(rec, "transactionId",
                            json_string(s->transaction_id)) == 0 &&
        json_object_set_new(rec, "md5Checksum", json_string(md5)) == 0)
        fp = sb_tx_fingerprint(rec);
    json_decref(rec);
    return fp;
}

/* Stores the assembled file of s, all its parts in, as an upload. The
 * file stays the session's unless the answer is 201. */
static void store_session(const sb_ctx *ctx, const sb_call *call,
                          const sb_session_info *s, sb_upload *up,
                          sb_reply *out)
{
    ds_err err;

    ds_err_clear(&err);
    if (sb_store_digest(s->path, up->md5, &up->size, &err) != 0) {
        sb_reply_error(out, 500, "internal", err.reason);
        return;
    }
    /* Only a file changed behind the sandbox's back could differ. */
    if (up->size != s->size) {
        sb_reply_error(out, 500, "internal", "session_file_size");
        return;
    }
    up->transaction_id = s->transaction_id;
    up->fields = s->fields;
    up->mode = SB_UPLOAD_CHUNKED;
    up->route = SB_FAULT_TX_SESSION_COMPLETE;
    up->keep_on_failure = 1;
    memcpy(up->path, s->path, sizeof(up->path));
    sb_tx_store_upload(ctx, call, up, out);
}

void sb_tx_session_complete(const sb_ctx *ctx, const sb_call *call,
                            sb_reply *out)
{
    sb_session_info s;
    sb_session_found found = sb_sessions_acquire(ctx->sessions, call->param,
                                                 sb_time_now_ms(), &s);
    sb_upload up = {0};

    if (found == SB_SESSION_UNKNOWN) {
        complete_gone(ctx, call, out);
        return;
    }
    if (found == SB_SESSION_EXPIRED) {
        reply_missing(found, out);
        return;
    }
    if (s.received < s.total_parts)
        sb_reply_json(out, 409, json_pack(
            "{s:s,s:s,s:I,s:I}", "error", "conflict", "reason",
            "parts_missing", "receivedParts", (json_int_t)s.received,
            "totalParts", (json_int_t)s.total_parts));
    else
        store_session(ctx, call, &s, &up, out);
    /* A 201, stored or replayed, ends the session; anything else leaves
     * it as it was for another try. */
    if (out->status == 201)
        sb_sessions_finish(ctx->sessions, s.id,
                           done_fingerprint(&s, up.md5));
    else
        sb_sessions_release(ctx->sessions, s.id, 0);
    sb_session_info_clear(&s);
}

void sb_tx_session_delete(const sb_ctx *ctx, const sb_call *call,
                          sb_reply *out)
{
    sb_session_info s;
    sb_session_found found = sb_sessions_acquire(ctx->sessions, call->param,
                                                 sb_time_now_ms(), &s);

    if (found == SB_SESSION_UNKNOWN) {
        reply_missing(found, out);
        return;
    }
    /* An expired session is not held, and goes all the same. */
    sb_sessions_finish(ctx->sessions, call->param, NULL);
    sb_session_info_clear(&s);
    sb_log_msg("info", "upload session deleted",
               json_pack("{s:s}", "sessionId", call->param));
    sb_reply_text(out, 204, "", "");
}
