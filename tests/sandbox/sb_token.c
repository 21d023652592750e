/* sb_token.c - the OAuth2 token endpoint; see sb_token.h. */
#include "sb_token.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ds_crypto.h"
#include "sb_config.h"
#include "sb_log.h"
#include "sb_oauth.h"
#include "sb_time.h"

/* Client ids and secrets longer than this are refused anyway. */
#define CRED_MAX 512

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes one form-urlencoded name or value of n bytes into a new string
 * ('+' is a space); NULL when out of memory. */
static char *form_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t j = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[j++] = ' ';
        } else if (s[i] == '%' && i + 2 < n &&
                   hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out[j++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

/* The form body as an object name -> value (the first of a repeated name
 * counts); NULL when out of memory. */
static json_t *parse_form(const char *body, size_t len)
{
    json_t *form = json_object();
    const char *p = body, *end = body + len;

    while (form != NULL && body != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        char *name = form_decode(p, (size_t)((eq ? eq : stop) - p));
        char *value = eq ? form_decode(eq + 1, (size_t)(stop - eq - 1))
                         : strdup("");

        if (name != NULL && value != NULL &&
            json_object_get(form, name) == NULL)
            json_object_set_new(form, name, json_string(value));
        free(name);
        free(value);
        p = stop + 1;
    }
    return form;
}

/* Splits "Basic base64(id:secret)" into id and secret. Returns 0, or -1
 * when the header is not such a credential. */
static int basic_credentials(const char *auth, char id[CRED_MAX],
                             char secret[CRED_MAX])
{
    unsigned char raw[3 * (CRED_MAX / 2)];
    char *colon;
    size_t n;
    long got;

    if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0)
        return -1;
    auth += 6;
    n = strlen(auth);
    if (n == 0 || n > 2 * CRED_MAX - 4 ||
        (got = ds_b64_decode(auth, n, raw)) < 0)
        return -1;
    raw[got] = '\0';
    colon = strchr((char *)raw, ':');
    if (colon == NULL || (size_t)(colon - (char *)raw) >= CRED_MAX ||
        strlen(colon + 1) >= CRED_MAX)
        return -1;
    *colon = '\0';
    strcpy(id, (char *)raw);
    strcpy(secret, colon + 1);
    return 0;
}

/* The configured client the request authenticates as (Basic first, then
 * the client_id and client_secret fields), a copy; NULL for a bad
 * client. */
static json_t *authenticate(const sb_ctx *ctx, const sb_call *call,
                            json_t *form)
{
    char id[CRED_MAX], secret[CRED_MAX];
    const char *want;
    json_t *client;

    if (basic_credentials(call->authorization, id, secret) != 0) {
        const char *fid = json_string_value(json_object_get(form,
                                                            "client_id"));
        const char *fsec = json_string_value(
            json_object_get(form, "client_secret"));

        if (fid == NULL || fsec == NULL || strlen(fid) >= CRED_MAX ||
            strlen(fsec) >= CRED_MAX)
            return NULL;
        strcpy(id, fid);
        strcpy(secret, fsec);
    }
    client = sb_config_client(ctx->config, id);
    want = json_string_value(json_object_get(client, "clientSecret"));
    if (want != NULL && strlen(want) == strlen(secret) &&
        ds_ct_equal(want, secret, strlen(want)))
        return client;
    json_decref(client);
    return NULL;
}

/* True when client lists grant among its "grants". */
static int has_grant(json_t *client, const char *grant)
{
    json_t *g;
    size_t i;

    json_array_foreach(json_object_get(client, "grants"), i, g)
        if (json_is_string(g) && strcmp(json_string_value(g), grant) == 0)
            return 1;
    return 0;
}

static sb_api client_api(json_t *client)
{
    const char *api = json_string_value(json_object_get(client, "api"));

    return api != NULL && strcmp(api, "tx") == 0 ? SB_API_TX : SB_API_CRM;
}

/* Issues the tokens and answers 200; rotate for the refresh grant. */
static void answer_tokens(const sb_ctx *ctx, json_t *client, int rotate,
                          sb_reply *out)
{
    const char *id = json_string_value(json_object_get(client, "clientId"));
    long ttl_ms = sb_config_token_ttl_ms(ctx->config);
    char access[SB_TOKEN_LEN + 1], refresh[SB_TOKEN_LEN + 1];
    json_t *body;

    if (sb_oauth_issue(ctx->oauth, id, client_api(client), ttl_ms,
                       sb_time_now_ms(), rotate, access, refresh) != 0) {
        sb_reply_error(out, 500, "internal", "oom");
        return;
    }
    body = json_pack("{s:s,s:s,s:I}", "access_token", access, "token_type",
                     "Bearer", "expires_in", (json_int_t)((ttl_ms + 999) /
                                                          1000));
    if (body != NULL && rotate)
        json_object_set_new(body, "refresh_token", json_string(refresh));
    sb_log_msg("info", "token issued",
               json_pack("{s:s,s:b}", "clientId", id, "rotated", rotate));
    sb_reply_json(out, 200, body);
}

/* The refresh grant: consumes the refresh token, then issues. */
static void refresh_grant(const sb_ctx *ctx, json_t *client, json_t *form,
                          sb_reply *out)
{
    const char *rt = json_string_value(json_object_get(form,
                                                       "refresh_token"));
    const char *seed = json_string_value(json_object_get(client,
                                                         "refreshToken"));
    const char *id = json_string_value(json_object_get(client, "clientId"));
    sb_refresh_result r;

    if (rt == NULL || *rt == '\0') {
        sb_reply_error(out, 400, "invalid_request", NULL);
        return;
    }
    r = sb_oauth_consume(ctx->oauth, id, seed, rt);
    if (r != SB_REFRESH_OK) {
        sb_log_msg("warn", "refresh token refused",
                   json_pack("{s:s,s:b}", "clientId", id, "reused",
                             r == SB_REFRESH_REUSED));
        sb_reply_json(out, 400, json_pack("{s:s}", "error",
                                          "invalid_grant"));
        return;
    }
    answer_tokens(ctx, client, 1, out);
}

void sb_token_endpoint(const sb_ctx *ctx, const sb_call *call,
                       sb_reply *out)
{
    json_t *form = parse_form(call->body, call->body_len);
    json_t *client = NULL;
    const char *grant;

    if (form == NULL) {
        sb_reply_error(out, 500, "internal", "oom");
        return;
    }
    grant = json_string_value(json_object_get(form, "grant_type"));
    client = authenticate(ctx, call, form);
    if (client == NULL)
        sb_reply_json(out, 401, json_pack("{s:s}", "error",
                                          "invalid_client"));
    else if (grant == NULL)
        sb_reply_error(out, 400, "invalid_request", NULL);
    else if (strcmp(grant, "client_credentials") != 0 &&
             strcmp(grant, "refresh_token") != 0)
        sb_reply_error(out, 400, "unsupported_grant_type", NULL);
    else if (!has_grant(client, grant))
        sb_reply_error(out, 400, "unauthorized_client", NULL);
    else if (strcmp(grant, "refresh_token") == 0)
        refresh_grant(ctx, client, form, out);
    else
        answer_tokens(ctx, client, 0, out);
    json_decref(client);
    json_decref(form);
}
