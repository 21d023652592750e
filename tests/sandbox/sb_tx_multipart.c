/* sb_tx_multipart.c - the multipart upload; see sb_tx_multipart.h. */
#include "sb_tx_multipart.h"

#include <string.h>

#include "sb_config.h"
#include "sb_multipart.h"
#include "sb_tx.h"

/* Answers what a parse that did not succeed means to the client. */
static void reply_parse_error(const sb_ctx *ctx, sb_mp_status st,
                              const char *field, const ds_err *err,
                              sb_reply *out)
{
    switch (st) {
    case SB_MP_BAD:
        sb_reply_error(out, 400, "bad_request", "bad_multipart");
        break;
    case SB_MP_NO_FILE:
        sb_reply_bad_field(out, "missing_field", "file");
        break;
    case SB_MP_TOO_LARGE:
        /* Any size over the limit gives the limit's answer. */
        sb_tx_check_size(ctx, SB_UPLOAD_MULTIPART, UINT64_MAX, out);
        break;
    case SB_MP_BAD_FIELD:
        sb_reply_bad_field(out, "bad_field", field);
        break;
    case SB_MP_FAILED:
    case SB_MP_OK:
        sb_reply_error(out, 500, "internal", err->reason);
        break;
    }
}

/* Sets fields[name] to v when the form did not give it (absent or
 * null). */
static int default_field(json_t *fields, const char *name, json_t *v)
{
    json_t *have = json_object_get(fields, name);

    if (v == NULL || (have != NULL && !json_is_null(have)))
        return 0;
    return json_object_set(fields, name, v);
}

void sb_tx_multipart(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    sb_upload up = {.transaction_id = call->param,
                    .mode = SB_UPLOAD_MULTIPART,
                    .route = SB_FAULT_TX_UPLOAD};
    sb_mp_result res;
    sb_upload_cfg cfg;
    const char *field;
    sb_mp_status st;
    ds_err err;

    sb_config_uploads(ctx->config, &cfg);
    ds_err_clear(&err);
    st = sb_multipart_parse(call->body_file, call->content_type,
                            sb_state_data_dir(ctx->state),
                            (uint64_t)cfg.limit_multipart, &res, &field,
                            &err);
    if (st != SB_MP_OK) {
        reply_parse_error(ctx, st, field, &err, out);
        return;
    }
    if (default_field(res.fields, "fileName", res.part_file_name) != 0 ||
        default_field(res.fields, "mimeType", res.part_type) != 0 ||
        (res.part_file_name != NULL &&
         json_object_set(res.fields, "partFileName",
                         res.part_file_name) != 0)) {
        sb_reply_error(out, 500, "internal", "oom");
        goto out;
    }
    if (sb_tx_check_fields(ctx, res.fields, out) != 0)
        goto out;

    up.fields = res.fields;
    memcpy(up.path, res.path, sizeof(up.path));
    memcpy(up.md5, res.md5, sizeof(up.md5));
    up.size = res.size;
    res.path[0] = '\0'; /* up owns the file now */
    sb_tx_store_upload(ctx, call, &up, out);

out:
    sb_mp_clear(&res);
}
