/* ds_api.c - one remote API as the stages see it; see ds_api.h. */
#include "ds_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_config.h"
#include "ds_runtime.h"

int ds_api_init(ds_api *api, const char *url_var, const char *url_default,
                const char *header_var, const char *secret_var, ds_err *err)
{
    memset(api, 0, sizeof(*api));
    api->base_url = ds_env_str(url_var, url_default);
    if (ds_runtime_http_timeouts(&api->connect_ms, &api->timeout_ms,
                                 err) < 0)
        return -1;
    api->key_header = ds_runtime_key_header(header_var, "X-API-Key",
                                            secret_var, err);
    if (api->key_header == NULL)
        return -1;
    api->http = ds_http_new();
    if (api->http == NULL)
        return ds_err_set(err, "out_of_memory",
                          "HTTP client");
    return 0;
}

void ds_api_clear(ds_api *api)
{
    ds_http_free(api->http);
    if (api->key_header != NULL)
        memset(api->key_header, 0, strlen(api->key_header));
    free(api->key_header);
    memset(api, 0, sizeof(*api));
}

int ds_api_prepare(const ds_api *api, ds_http_req *req, const char *method,
                   const char *path, char *url, size_t cap, ds_err *err)
{
    int n = snprintf(url, cap, "%s%s", api->base_url, path);

    if (n < 0 || (size_t)n >= cap)
        return ds_err_set(err, "bad_config",
                          "URL longer than %zu bytes", cap);
    req->method = method;
    req->url = url;
    req->connect_timeout_ms = api->connect_ms;
    req->timeout_ms = api->timeout_ms;
    return 0;
}

json_t *ds_api_get_json(ds_api *api, const char *path, ds_err *err)
{
    const char *headers[] = {api->key_header, "Accept: application/json",
                             NULL};
    ds_http_resp resp = {0};
    ds_http_req req = {0};
    json_t *body = NULL;
    char url[2048];

    req.headers = headers;
    if (ds_api_prepare(api, &req, "GET", path, url, sizeof(url), err) < 0)
        return NULL;
    if (ds_http_do(api->http, &req, &resp, err) == 0) {
        body = json_loadb(resp.body ? resp.body : "", resp.body_len, 0,
                          NULL);
        if (!json_is_object(body)) {
            json_decref(body);
            body = NULL;
            ds_err_set(err, "bad_response",
                       "%s did not answer a JSON object", path);
        }
    }
    ds_http_resp_clear(&resp);
    return body;
}
