/* ds_auth.c - the credentials of one remote API; see ds_auth.h.
 * Static keys and bearer tokens only so far; OAuth2 follows. */
#include "ds_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ds_auth {
    ds_auth_kind kind;
    char *line;
};

ds_auth *ds_auth_new(const ds_auth_cfg *cfg, const char *api_id,
                     ds_redis *redis, long connect_ms, long timeout_ms,
                     ds_err *err)
{
    ds_auth *a = calloc(1, sizeof(*a));
    int n = 0;

    (void)api_id;
    (void)redis;
    (void)connect_ms;
    (void)timeout_ms;
    if (a == NULL)
        return ds_err_set(err, "out_of_memory", "auth"), NULL;
    a->kind = cfg->kind;
    if (cfg->kind == DS_AUTH_API_KEY || cfg->kind == DS_AUTH_BEARER) {
        const char *h = cfg->kind == DS_AUTH_BEARER ? "Authorization" :
                        cfg->header != NULL ? cfg->header : "X-API-Key";
        const char *pre = cfg->kind == DS_AUTH_BEARER ? "Bearer " : "";
        size_t len = strlen(h) + strlen(pre) + strlen(cfg->secret) + 3;

        a->line = malloc(len);
        if (a->line != NULL)
            n = snprintf(a->line, len, "%s: %s%s", h, pre, cfg->secret);
        if (a->line == NULL || n < 0) {
            ds_auth_free(a);
            return ds_err_set(err, "out_of_memory", "auth"), NULL;
        }
    } else if (cfg->kind != DS_AUTH_NONE) {
        ds_auth_free(a);
        return ds_err_set(err, "bad_config", "OAuth2 is not built yet"), NULL;
    }
    return a;
}

void ds_auth_free(ds_auth *a)
{
    if (a == NULL)
        return;
    if (a->line != NULL)
        memset(a->line, 0, strlen(a->line));
    free(a->line);
    free(a);
}

int ds_auth_header(ds_auth *a, const char **line, ds_err *err)
{
    (void)err;
    *line = a->line;
    return 0;
}

int ds_auth_rejected(ds_auth *a, const char *line,
                     const char *www_authenticate, ds_err *err)
{
    (void)a;
    (void)line;
    (void)www_authenticate;
    ds_err_set(err, "http_401", "the API refused the credentials");
    return 0;
}

const char *ds_auth_identity(const ds_auth *a)
{
    (void)a;
    return "static";
}
