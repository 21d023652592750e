/* ds_api.c - one remote API as the stages see it; see ds_api.h. */
#include "ds_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_log.h"
#include "ds_runtime.h"

/* Fixed headers + credential + the request's own + the final NULL. */
#define MAX_LINES 48


/* Says at start which API the stage talks to, and how, so that an
 * operator sees which connector a replica took. */
static void log_side(const ds_api *api, const ds_connector *connector)
{
    static const char *const kinds[] = {"none", "api_key", "bearer",
                                        "oauth2_client_credentials",
                                        "oauth2_refresh_token"};
    const ds_connector_api *sd = api->side;
    unsigned k = (unsigned)sd->auth.kind;
    char budget[64];

    if (sd->rate.requests > 0)
        snprintf(budget, sizeof(budget), "%ld requests per %ld ms",
                 sd->rate.requests, sd->rate.window_ms);
    else
        snprintf(budget, sizeof(budget), "learnt from its answers");
    ds_log_msg(DS_LOG_INFO, "%s: %s, connector %s, auth %s, budget %s",
               sd->id, sd->base_url, ds_connector_label(connector),
               k < 5 ? kinds[k] : "?", budget);
}

int ds_api_init(ds_api *api, ds_connector *connector, ds_side side,
                ds_err *err)
{
    memset(api, 0, sizeof(*api));
    if (ds_connector_open(connector, side, &api->side, err) < 0 ||
        ds_runtime_http_timeouts(&api->connect_ms, &api->timeout_ms,
                                 err) < 0)
        return -1;
    /* Redis holds what replicas share: OAuth2 tokens and the budget,
     * which every API has: one without a known limit still learns it from
     * 429s and rate-limit headers. */
    api->redis = ds_runtime_redis(err);
    if (api->redis == NULL)
        return -1;
    api->auth = ds_auth_new(&api->side->auth, api->side->id, api->redis,
                            api->connect_ms, api->timeout_ms, err);
    if (api->auth == NULL)
        return -1;
    api->rate = ds_rate_new(&api->side->rate, api->side->id, api->redis,
                            err);
    if (api->rate == NULL)
        return -1;
    api->http = ds_http_new();
    if (api->http == NULL)
        return ds_err_set(err, "out_of_memory", "HTTP client");
    log_side(api, connector);
    return 0;
}

void ds_api_clear(ds_api *api)
{
    ds_http_free(api->http);
    ds_rate_free(api->rate);
    ds_auth_free(api->auth);
    ds_redis_free(api->redis);
    memset(api, 0, sizeof(*api));
}

/* Puts the fixed headers, the credential line and the request's own into
 * lines. Returns 0, or -1 when there are too many. */
static int merge_headers(const ds_api *api, const char *credential,
                         const char *const *own, const char **lines,
                         ds_err *err)
{
    const char *const *fixed = api->side->headers;
    size_t n = 0;

    for (; fixed != NULL && *fixed != NULL && n < MAX_LINES - 1; fixed++)
        lines[n++] = *fixed;
    if (credential != NULL && n < MAX_LINES - 1)
        lines[n++] = credential;
    for (; own != NULL && *own != NULL && n < MAX_LINES - 1; own++)
        lines[n++] = *own;
    if ((own != NULL && *own != NULL) || (fixed != NULL && *fixed != NULL))
        return ds_err_set(err, "http_bad_header", "more than %d headers",
                          MAX_LINES - 1);
    lines[n] = NULL;
    return 0;
}

/* One send with the current credential; *line gets the credential used. */
static int send_once(ds_api *api, ds_http_req *req, ds_http_resp *resp,
                     const char **line, ds_err *err)
{
    const char *const *own = req->headers;
    const char *lines[MAX_LINES];
    const char *identity = ds_auth_identity(api->auth);
    int rc;

    if (ds_rate_acquire(api->rate, identity, err) < 0)
        return -1;
    if (ds_auth_header(api->auth, line, err) < 0 ||
        merge_headers(api, *line, own, lines, err) < 0)
        return -1;
    ds_http_resp_clear(resp);
    req->headers = lines;
    rc = ds_http_do(api->http, req, resp, err);
    req->headers = own;
    if (resp->status > 0) {
        long hold = ds_rate_observe(api->rate, identity, resp);

        /* A 429 without Retry-After said when in its rate-limit headers:
         * the record waits for that, not for the backoff schedule. */
        if (rc < 0 && resp->status == 429 && err->retry_after_ms < 0 &&
            hold > 0)
            err->retry_after_ms = hold;
    }
    return rc;
}

int ds_api_do(ds_api *api, const char *method, const char *path,
              ds_http_req *req, ds_http_resp *resp, ds_err *err)
{
    char url[2048], www[512];
    const char *line = NULL;
    char *used;
    ds_err first;
    int n, again;

    n = snprintf(url, sizeof(url), "%s%s", api->side->base_url, path);
    if (n < 0 || (size_t)n >= sizeof(url))
        return ds_err_set(err, "bad_config", "URL longer than %zu bytes",
                          sizeof(url));
    req->method = method;
    req->url = url;
    req->connect_timeout_ms = api->connect_ms;
    req->timeout_ms = api->timeout_ms;
    ds_err_clear(&first);
    if (send_once(api, req, resp, &line, &first) == 0 ||
        first.http_status != 401) {
        if (first.klass != DS_CLASS_NONE && err->klass == DS_CLASS_NONE)
            *err = first;
        return first.klass == DS_CLASS_NONE ? 0 : -1;
    }

    /* A 401: the credential may have expired or been rotated by another
     * process. One more try, no more: a second 401 is the answer.
     * ds_http_do rewinds a streamed body before it sends it again. */
    if (!ds_http_resp_header(resp, "WWW-Authenticate", www, sizeof(www)))
        www[0] = '\0';
    /* A copy of the line: ds_auth_rejected may replace what line points
     * at while it compares. Tokens can be long (JWTs): no fixed buffer. */
    used = line != NULL ? strdup(line) : NULL;
    if (line != NULL && used == NULL)
        return ds_err_set(err, "out_of_memory", "credential line");
    again = ds_auth_rejected(api->auth, used, www[0] != '\0' ? www : NULL,
                             err);
    if (used != NULL)
        memset(used, 0, strlen(used));
    free(used);
    if (again != 1) {
        /* ds_auth_rejected set err; else the 401 itself is the error. */
        if (err->klass == DS_CLASS_NONE)
            *err = first;
        return -1;
    }
    return send_once(api, req, resp, &line, err);
}

json_t *ds_api_get_json(ds_api *api, const char *path, ds_err *err)
{
    return ds_api_get_json_header(api, path, NULL, NULL, 0, err);
}

json_t *ds_api_get_json_resp(ds_api *api, const char *path,
                             ds_http_resp *resp, ds_err *err)
{
    const char *headers[] = {"Accept: application/json", NULL};
    ds_http_req req = {0};
    json_t *body;

    req.headers = headers;
    if (ds_api_do(api, "GET", path, &req, resp, err) < 0)
        return NULL;
    body = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        ds_err_set(err, "bad_response", "%s did not answer a JSON object",
                   path);
        return NULL;
    }
    return body;
}

json_t *ds_api_get_json_header(ds_api *api, const char *path,
                               const char *header, char *out, size_t cap,
                               ds_err *err)
{
    ds_http_resp resp = {0};
    json_t *body = ds_api_get_json_resp(api, path, &resp, err);

    if (header != NULL && cap > 0 &&
        ds_http_resp_header(&resp, header, out, cap) != 1)
        out[0] = '\0';
    ds_http_resp_clear(&resp);
    return body;
}
