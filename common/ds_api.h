/*
 * ds_api.h - one remote API as the stages see it: one side of the
 * connector (base URL, fixed headers, credentials, request budget), the
 * HTTP bounds and a client that keeps its connections.
 *
 * Every request goes through ds_api_do, so no caller builds a credential
 * header itself: it takes a slot of the budget, adds the connector's fixed
 * headers and the credential to the request's own, sends, lets the budget
 * learn from the answer and, after a 401, asks the credentials whether a
 * second try makes sense and then sends once more.
 */
#ifndef DS_API_H
#define DS_API_H

#include <jansson.h>
#include <stddef.h>

#include "ds_auth.h"
#include "ds_connector.h"
#include "ds_error.h"
#include "ds_http.h"
#include "ds_ratelimit.h"
#include "ds_redis.h"

typedef struct ds_api {
    const ds_connector_api *side;   /* borrowed from the connector */
    long connect_ms, timeout_ms;
    ds_http *http;
    ds_redis *redis;                /* own handle: OAuth2 or a budget only */
    ds_auth *auth;
    ds_rate *rate;                  /* NULL: the connector sets no budget */
} ds_api;

/* Opens the connector's side (reading its secrets) and builds the client,
 * the credentials and the budget, with HTTP_CONNECT_TIMEOUT_MS and
 * HTTP_TIMEOUT_MS. Opens its own Redis handle when the credentials are
 * OAuth2 tokens or a budget is set: both are shared through Redis. The
 * connector must outlive api. Returns 0, or -1 with err set. */
int ds_api_init(ds_api *api, ds_connector *connector, ds_side side,
                ds_err *err);

/* Frees what ds_api_init made; accepts an api that was never set up. */
void ds_api_clear(ds_api *api);

/* Sends method to base URL + path with req's body, sink, progress and own
 * headers (req's method, URL, timeouts are filled here). resp is cleared
 * before each send and holds the last answer. Returns 0 for a 2xx, or -1
 * with err as ds_http_do classifies it, "rate_limited" from the budget, a
 * credential failure, or http_401 when the credential was refused. */
int ds_api_do(ds_api *api, const char *method, const char *path,
              ds_http_req *req, ds_http_resp *resp, ds_err *err);

/* GETs base URL + path and returns the JSON object it answers. On failure
 * returns NULL with err as for ds_api_do, or permanent "bad_response" when
 * the answer is not a JSON object. */
json_t *ds_api_get_json(ds_api *api, const char *path, ds_err *err);

/* ds_api_get_json that leaves the answer in resp (the caller clears it):
 * for a caller that looks at a body jansson refused (bad_response). */
json_t *ds_api_get_json_resp(ds_api *api, const char *path,
                             ds_http_resp *resp, ds_err *err);

/* ds_api_get_json that also copies the response header named header
 * (when not NULL) into out, cap bytes; "" when the answer has none. */
json_t *ds_api_get_json_header(ds_api *api, const char *path,
                               const char *header, char *out, size_t cap,
                               ds_err *err);

#endif
