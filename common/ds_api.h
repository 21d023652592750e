/*
 * ds_api.h - one remote API as the stages see it: a base URL, a key sent in
 * a header, the HTTP bounds and a client that keeps its connections.
 */
#ifndef DS_API_H
#define DS_API_H

#include <jansson.h>
#include <stddef.h>

#include "ds_error.h"
#include "ds_http.h"

typedef struct ds_api {
    const char *base_url;
    char *key_header;          /* "Name: secret": never logged */
    long connect_ms, timeout_ms;
    ds_http *http;
} ds_api;

/* Reads the API's settings from the environment: the base URL from
 * url_var (default url_default), the key from secret_var or
 * secret_var_FILE sent in the header named by header_var (default
 * X-API-Key), and HTTP_CONNECT_TIMEOUT_MS and HTTP_TIMEOUT_MS. Returns 0, or
 * -1 with err naming what is missing. */
int ds_api_init(ds_api *api, const char *url_var, const char *url_default,
                const char *header_var, const char *secret_var, ds_err *err);

/* Frees what ds_api_init made; accepts an api that was never set up. */
void ds_api_clear(ds_api *api);

/* Fills method, URL (base URL + path) and the bounds of req. The URL is
 * written into url, of cap bytes. Returns 0, or -1 when it does not fit. */
int ds_api_prepare(const ds_api *api, ds_http_req *req, const char *method,
                   const char *path, char *url, size_t cap, ds_err *err);

/* GETs base URL + path with the key and returns the JSON object it
 * answers. On failure returns NULL with err classified by ds_http_do, or
 * permanent "bad_response" when the answer is not a JSON object. */
json_t *ds_api_get_json(ds_api *api, const char *path, ds_err *err);

#endif
