/* sb_admin_session.c - admin routes of the upload sessions; see
 * sb_admin_session.h. */
#include "sb_admin_session.h"

#include "sb_log.h"
#include "sb_session.h"
#include "sb_time.h"

void sb_admin_sessions_list(const sb_ctx *ctx, const sb_call *call,
                            sb_reply *out)
{
    (void)call;
    sb_reply_json(out, 200, sb_sessions_list(ctx->sessions,
                                             sb_time_now_ms()));
}

void sb_admin_sessions_expire(const sb_ctx *ctx, const sb_call *call,
                              sb_reply *out)
{
    json_t *body = call->body_len > 0 ? sb_call_json_body(call, out)
                                      : json_object();
    json_t *ids = json_array();
    const char *id = NULL;

    if (body == NULL || sb_field_string(body, "sessionId", &id, out) != 0)
        goto out;
    if (ids == NULL) {
        sb_reply_error(out, 500, "internal", "oom");
        goto out;
    }
    if (sb_sessions_expire(ctx->sessions, id, sb_time_now_ms(), ids) != 0) {
        sb_reply_error(out, 404, "not_found", "unknown_session");
        goto out;
    }
    sb_log_msg("info", "upload sessions expired",
               json_pack("{s:O}", "sessionIds", ids));
    sb_reply_json(out, 200, json_pack("{s:O}", "expired", ids));

out:
    json_decref(ids);
    json_decref(body);
}
