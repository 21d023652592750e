/* sb_vendor.c - the vendor-shaped profile; see sb_vendor.h. */
#include "sb_vendor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds_crypto.h"
#include "ds_time.h"
#include "sb_tx.h"

/* The stable integer a vendor shows for stored document "tdoc_N": N. */
static json_int_t vendor_id(const char *id)
{
    return id != NULL && strncmp(id, "tdoc_", 5) == 0
               ? (json_int_t)strtoll(id + 5, NULL, 10)
               : 0;
}

void sb_vendor_file(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    json_t *rec = sb_state_crm_get(ctx->state, call->param);

    if (rec == NULL) {
        sb_reply_error(out, 404, "not_found", NULL);
        return;
    }
    sb_reply_json(out, 200, json_pack(
        "{s:{s:O,s:{s:O},s:O,s:O,s:O,s:O}}", "file", "fileId",
        json_object_get(rec, "id"), "owner", "accountId",
        json_object_get(rec, "accountId"), "title",
        json_object_get(rec, "fileName"), "mimeType",
        json_object_get(rec, "mimeType"), "byteSize",
        json_object_get(rec, "size"), "createdDate",
        json_object_get(rec, "createdAt")));
    json_decref(rec);
}

/* Checks that the vendor body has field as a non-empty string. */
static int need_string(json_t *body, const char *field, sb_reply *out)
{
    json_t *v = json_object_get(body, field);

    if (v == NULL || json_is_null(v)) {
        sb_reply_bad_field(out, "missing_field", field);
        return -1;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        sb_reply_bad_field(out, "bad_field", field);
        return -1;
    }
    return 0;
}

/* The date of createdOn (epoch ms) as YYYY-MM-DD, today without one. */
static int created_date(json_t *body, char date[16], sb_reply *out)
{
    json_t *on = json_object_get(body, "createdOn");
    time_t t = time(NULL);

    if (on != NULL && !json_is_integer(on)) {
        sb_reply_bad_field(out, "bad_field", "createdOn");
        return -1;
    }
    if (on != NULL)
        t = (time_t)(json_integer_value(on) / 1000);
    if (ds_time_format_utc(t, "%Y-%m-%d", date, 16) != 0) {
        sb_reply_bad_field(out, "bad_field", "createdOn");
        return -1;
    }
    return 0;
}

/* The standard upload body of a vendor body; answers 400 and returns
 * NULL when a field is missing or wrong. */
static json_t *standard_body(json_t *v, sb_reply *out)
{
    char date[16];
    json_t *body;

    if (need_string(v, "name", out) != 0 ||
        need_string(v, "sourceRef", out) != 0 ||
        created_date(v, date, out) != 0)
        return NULL;
    if (!json_is_string(json_object_get(v, "base64Content"))) {
        sb_reply_bad_field(out, json_object_get(v, "base64Content")
                                    ? "bad_field" : "missing_field",
                           "base64Content");
        return NULL;
    }
    body = json_pack("{s:O,s:s,s:s,s:O,s:O}", "fileName",
                     json_object_get(v, "name"), "mimeType",
                     "application/octet-stream", "documentDate", date,
                     "sourceDocumentId", json_object_get(v, "sourceRef"),
                     "content", json_object_get(v, "base64Content"));
    if (body == NULL)
        sb_reply_error(out, 500, "internal", "oom");
    return body;
}

/* Rewrites the standard 201 {"id":"tdoc_N",...} in out into the vendor's
 * {"data":{"id":N,"name","loopId"}}, keeping the replay flag. */
static void vendor_created(const sb_call *call, json_t *name, sb_reply *out)
{
    json_t *std = json_loadb(out->body, out->body_len, 0, NULL);
    int replayed = out->replayed;
    sb_chaos_kind chaos = out->chaos;

    sb_reply_json(out, 201, json_pack(
        "{s:{s:I,s:O,s:s}}", "data", "id",
        vendor_id(json_string_value(json_object_get(std, "id"))), "name",
        name, "loopId", call->param));
    out->replayed = replayed;
    out->chaos = chaos;
    json_decref(std);
}

void sb_vendor_upload(const sb_ctx *ctx, const sb_call *call,
                      sb_reply *out)
{
    json_t *v = NULL, *body = NULL;
    json_error_t jerr;

    if (!sb_state_transaction_exists(ctx->state, call->param)) {
        sb_reply_error(out, 404, "not_found", "unknown_transaction");
        return;
    }
    if (call->body_file != NULL)
        v = json_load_file(call->body_file, 0, &jerr);
    if (!json_is_object(v))
        sb_reply_error(out, 400, "bad_request", "bad_json");
    else if ((body = standard_body(v, out)) != NULL)
        sb_tx_store(ctx, call, body, out);
    if (out->status == 201)
        vendor_created(call, json_object_get(v, "name"), out);
    json_decref(body);
    json_decref(v);
}

/* The 16 bytes of a hex MD5 in base64 (24 characters), as vendors give
 * Content-MD5; "" when hex is not an MD5. */
static void md5_base64(const char *hex, char out[25])
{
    unsigned char raw[16];
    ds_b64 enc;
    size_t n;

    out[0] = '\0';
    if (hex == NULL || strlen(hex) != 32)
        return;
    for (int i = 0; i < 16; i++) {
        unsigned int byte;

        if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
            return;
        raw[i] = (unsigned char)byte;
    }
    ds_b64_init(&enc);
    n = ds_b64_update(&enc, raw, sizeof(raw), out);
    n += ds_b64_final(&enc, out + n);
    out[n] = '\0';
}

/* The vendor's view of stored record rec, a new object. */
static json_t *vendor_record(json_t *rec)
{
    char md5[25];

    md5_base64(json_string_value(json_object_get(rec, "md5Checksum")), md5);
    return json_pack("{s:I,s:O,s:O,s:O,s:O,s:{s:s}}", "id",
                     vendor_id(json_string_value(json_object_get(rec, "id"))),
                     "name", json_object_get(rec, "fileName"), "size",
                     json_object_get(rec, "size"), "loopId",
                     json_object_get(rec, "transactionId"), "sourceRef",
                     json_object_get(rec, "sourceDocumentId"), "hash", "md5",
                     md5);
}

void sb_vendor_get(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    char id[SB_ID_MAX + 1];
    char *end;
    long long n = strtoll(call->param2, &end, 10);
    json_t *rec = NULL;
    const char *loop;

    if (*end == '\0' && n > 0) {
        snprintf(id, sizeof(id), "tdoc_%lld", n);
        rec = sb_state_tx_get(ctx->state, id);
    }
    loop = json_string_value(json_object_get(rec, "transactionId"));
    if (rec == NULL || json_is_true(json_object_get(rec, "lost")) ||
        loop == NULL || strcmp(loop, call->param) != 0)
        sb_reply_error(out, 404, "not_found", NULL);
    else
        sb_reply_json(out, 200, json_pack("{s:o}", "data",
                                          vendor_record(rec)));
    json_decref(rec);
}

void sb_vendor_search(const sb_ctx *ctx, const sb_call *call,
                      sb_reply *out)
{
    json_t *ref = json_object_get(call->query, "sourceRef");
    json_t *found, *data = json_array(), *rec;
    size_t i;

    if (!sb_state_transaction_exists(ctx->state, call->param)) {
        json_decref(data);
        sb_reply_error(out, 404, "not_found", "unknown_transaction");
        return;
    }
    if (ref != NULL && (!json_is_string(ref) || json_string_length(ref) == 0)) {
        json_decref(data);
        sb_reply_bad_field(out, "bad_field", "sourceRef");
        return;
    }
    found = sb_state_tx_find(ctx->state, call->param, json_string_value(ref));
    json_array_foreach(found, i, rec)
        if (!json_is_true(json_object_get(rec, "lost")))
            json_array_append_new(data, vendor_record(rec));
    if (found == NULL || data == NULL)
        sb_reply_error(out, 500, "internal", "oom");
    else
        sb_reply_json(out, 200, json_pack("{s:O}", "data", data));
    json_decref(found);
    json_decref(data);
}
