/* sb_admin_strict.c - admin routes of the strict modes; see
 * sb_admin_strict.h. */
#include "sb_admin_strict.h"

#include "sb_config.h"
#include "sb_limit.h"
#include "sb_log.h"
#include "sb_oauth.h"

void sb_admin_config_get(const sb_ctx *ctx, const sb_call *call,
                         sb_reply *out)
{
    (void)call;
    sb_reply_json(out, 200, sb_config_get(ctx->config));
}

void sb_admin_config_set(const sb_ctx *ctx, const sb_call *call,
                         sb_reply *out)
{
    json_t *body = sb_call_json_body(call, out);
    char field[128];

    if (body == NULL)
        return;
    if (sb_config_merge(ctx->config, body, field) != 0) {
        sb_reply_bad_field(out, "bad_field", field);
    } else {
        sb_log_msg("info", "config changed", NULL);
        sb_reply_json(out, 200, sb_config_get(ctx->config));
    }
    json_decref(body);
}

void sb_admin_refusals(const sb_ctx *ctx, const sb_call *call,
                       sb_reply *out)
{
    long over[SB_API_COUNT], bad[SB_API_COUNT], reused;
    json_t *by_api = json_object();

    (void)call;
    sb_limit_refused(ctx->limit, over);
    sb_oauth_refused(ctx->oauth, bad, &reused);
    for (int i = 0; by_api != NULL && i < SB_API_COUNT; i++)
        json_object_set_new(by_api, sb_api_name((sb_api)i),
                            json_pack("{s:i,s:i}", "overLimit", (int)over[i],
                                      "badTokens", (int)bad[i]));
    sb_reply_json(out, 200,
                  json_pack("{s:i,s:i,s:i,s:o?}", "overLimit",
                            (int)(over[0] + over[1]), "badTokens",
                            (int)(bad[0] + bad[1]), "reusedRefreshTokens",
                            (int)reused, "byApi", by_api));
}

/* The configured client the body's "clientId" names, a copy; answers 400
 * or 404 and returns NULL otherwise. */
static json_t *body_client(const sb_ctx *ctx, json_t *body, sb_reply *out)
{
    const char *id = NULL;
    json_t *client;

    if (sb_field_string(body, "clientId", &id, out) != 0)
        return NULL;
    if (id == NULL) {
        sb_reply_bad_field(out, "missing_field", "clientId");
        return NULL;
    }
    client = sb_config_client(ctx->config, id);
    if (client == NULL)
        sb_reply_error(out, 404, "not_found", "unknown_client");
    return client;
}

void sb_admin_oauth_refresh(const sb_ctx *ctx, const sb_call *call,
                            sb_reply *out)
{
    json_t *body = sb_call_json_body(call, out), *client = NULL;
    char refresh[SB_TOKEN_LEN + 1];

    if (body == NULL || (client = body_client(ctx, body, out)) == NULL)
        goto out;
    if (sb_oauth_grant_refresh(ctx->oauth, json_string_value(
                                   json_object_get(client, "clientId")),
                               refresh) != 0) {
        sb_reply_error(out, 500, "internal", "oom");
        goto out;
    }
    sb_reply_json(out, 200, json_pack("{s:s}", "refresh_token", refresh));

out:
    json_decref(client);
    json_decref(body);
}

void sb_admin_oauth_revoke(const sb_ctx *ctx, const sb_call *call,
                           sb_reply *out)
{
    json_t *body = sb_call_json_body(call, out), *client = NULL;
    json_t *id;

    if (body == NULL || (client = body_client(ctx, body, out)) == NULL)
        goto out;
    id = json_object_get(client, "clientId");
    sb_oauth_revoke(ctx->oauth, json_string_value(id),
                    json_string_value(json_object_get(client,
                                                      "refreshToken")));
    sb_log_msg("info", "credential revoked",
               json_pack("{s:O}", "clientId", id));
    sb_reply_json(out, 200, json_pack("{s:O}", "revoked", id));

out:
    json_decref(client);
    json_decref(body);
}

/* True when ids is an array of non-empty strings. */
static int id_list(json_t *ids)
{
    json_t *id;
    size_t i;

    if (!json_is_array(ids))
        return 0;
    json_array_foreach(ids, i, id)
        if (!json_is_string(id) || json_string_length(id) == 0)
            return 0;
    return 1;
}

void sb_admin_tx_accounts(const sb_ctx *ctx, const sb_call *call,
                          sb_reply *out)
{
    json_t *body = sb_call_json_body(call, out);
    json_t *ids = json_object_get(body, "transactionIds");
    const char *account = NULL;

    if (body == NULL ||
        sb_field_string(body, "accountId", &account, out) != 0)
        goto out;
    if (account == NULL || *account == '\0') {
        sb_reply_bad_field(out, "missing_field", "accountId");
        goto out;
    }
    if (!id_list(ids)) {
        sb_reply_bad_field(out, "bad_field", "transactionIds");
        goto out;
    }
    if (sb_state_accounts_set(ctx->state, account, json_incref(ids)) != 0) {
        sb_reply_error(out, 500, "internal", "oom");
        goto out;
    }
    sb_reply_json(out, 200, json_incref(body));

out:
    json_decref(body);
}
