/* ds_connector.c - the connector file; see ds_connector.h. */
#include "ds_connector.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_config.h"
#include "ds_connector_check.h"
#include "ds_fields.h"

/* One side, once opened: the secrets it read and what ds_api needs. */
typedef struct conn_side {
    int opened;
    ds_connector_api api;
    char *secrets[4];               /* key/token, client secret, refresh */
    char *lines[DS_CONNECTOR_MAX_HEADERS + 1];
} conn_side;

struct ds_connector {
    char label[128];
    json_t *root;
    conn_side sides[2];
};

static const char *const SIDE_NAMES[] = {"source", "destination"};

/* ---- errors -------------------------------------------------------- */

#define failf(c, err, reason, path, ...) \
    ds_connector_failf((c)->label, err, reason, path, __VA_ARGS__)

int ds_connector_fail(const ds_connector *c, const char *path,
                      const char *what, ds_err *err)
{
    return failf(c, err, "bad_connector", path, "%s", what);
}

/* ---- loading ------------------------------------------------------- */

static ds_connector *load_json(const char *label, json_t *root, ds_err *err)
{
    ds_connector *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        json_decref(root);
        return ds_err_set(err, "out_of_memory", "connector"), NULL;
    }
    snprintf(c->label, sizeof(c->label), "%s", label);
    c->root = root;
    if (ds_connector_check(c->label, root, err) == 0)
        return c;
    ds_connector_free(c);
    return NULL;
}

ds_connector *ds_connector_load_text(const char *label, const char *text,
                                     ds_err *err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL)
        return ds_err_set(err, "bad_connector", "connector %.64s: line %d: "
                          "%.120s", label, jerr.line, jerr.text), NULL;
    return load_json(label, root, err);
}

ds_connector *ds_connector_load_file(const char *path, ds_err *err)
{
    const char *slash = strrchr(path, '/');
    const char *label = slash != NULL ? slash + 1 : path;
    FILE *fp = fopen(path, "rb");
    json_error_t jerr;
    json_t *root;

    /* Said apart from a parse error: there is no line to name. */
    if (fp == NULL)
        return ds_err_set(err, "bad_connector", "connector %.200s: cannot "
                          "read: %s", path, strerror(errno)), NULL;
    root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    fclose(fp);
    if (root == NULL)
        return ds_err_set(err, "bad_connector", "connector %.64s: line %d: "
                          "%.120s", label, jerr.line, jerr.text), NULL;
    return load_json(label, root, err);
}

ds_connector *ds_connector_load(ds_err *err)
{
    const char *path = ds_env_str("CONNECTOR_FILE", NULL);

    if (path == NULL)
        return ds_connector_load_text("(built-in)",
                                      ds_connector_default_text(), err);
    return ds_connector_load_file(path, err);
}

/* Wipes and frees what opening a side read, so that it can be opened
 * again. */
static void side_clear(conn_side *sd)
{
    size_t k;

    for (k = 0; k < sizeof(sd->secrets) / sizeof(sd->secrets[0]); k++) {
        if (sd->secrets[k] != NULL)
            memset(sd->secrets[k], 0, strlen(sd->secrets[k]));
        free(sd->secrets[k]);
    }
    for (k = 0; sd->lines[k] != NULL; k++) {
        memset(sd->lines[k], 0, strlen(sd->lines[k]));
        free(sd->lines[k]);
    }
    memset(sd, 0, sizeof(*sd));
}

void ds_connector_free(ds_connector *c)
{
    if (c == NULL)
        return;
    side_clear(&c->sides[0]);
    side_clear(&c->sides[1]);
    json_decref(c->root);
    free(c);
}

const char *ds_connector_label(const ds_connector *c)
{
    return c->label;
}

/* ---- readers ------------------------------------------------------- */

json_t *ds_connector_get(const ds_connector *c, const char *path)
{
    return ds_json_path(c->root, path);
}

int ds_connector_string(const ds_connector *c, const char *path,
                        const char *fallback, const char **out, ds_err *err)
{
    const json_t *v = ds_json_path(c->root, path);

    if (v == NULL && fallback == NULL)
        return failf(c, err, "bad_connector", path, "missing");
    if (v != NULL && !json_is_string(v))
        return failf(c, err, "bad_connector", path, "not a string");
    *out = v != NULL ? json_string_value(v) : fallback;
    return 0;
}

int ds_connector_integer(const ds_connector *c, const char *path,
                         long long fallback, long long *out, ds_err *err)
{
    const json_t *v = ds_json_path(c->root, path);

    if (v != NULL && !json_is_integer(v))
        return failf(c, err, "bad_connector", path, "not a whole number");
    *out = v != NULL ? (long long)json_integer_value(v) : fallback;
    return 0;
}

int ds_connector_bool(const ds_connector *c, const char *path, int fallback,
                      int *out, ds_err *err)
{
    const json_t *v = ds_json_path(c->root, path);

    if (v != NULL && !json_is_boolean(v))
        return failf(c, err, "bad_connector", path, "not true or false");
    *out = v != NULL ? json_is_true(v) : fallback;
    return 0;
}

/* ---- opening a side ------------------------------------------------ */

/* Reads the secret a {"secretEnv"} at path names, kept in slot. NULL is
 * fine for an optional secret that is absent. */
static int read_secret(ds_connector *c, conn_side *sd, int slot,
                       const char *path, const char **out, ds_err *err)
{
    const char *name = json_string_value(ds_json_path(
        ds_json_path(c->root, path), "secretEnv"));
    ds_err serr;

    *out = NULL;
    if (name == NULL)
        return 0;
    ds_err_clear(&serr);
    sd->secrets[slot] = ds_env_secret(name, &serr);
    if (sd->secrets[slot] == NULL)
        return failf(c, err, serr.reason, path, "%s", serr.msg);
    *out = sd->secrets[slot];
    return 0;
}

static ds_auth_kind auth_kind(const char *type)
{
    if (strcmp(type, "api_key") == 0)
        return DS_AUTH_API_KEY;
    if (strcmp(type, "bearer") == 0)
        return DS_AUTH_BEARER;
    if (strcmp(type, "oauth2_client_credentials") == 0)
        return DS_AUTH_OAUTH2_CLIENT;
    if (strcmp(type, "oauth2_refresh_token") == 0)
        return DS_AUTH_OAUTH2_REFRESH;
    return DS_AUTH_NONE;
}

static long long int_at(const json_t *obj, const char *key, long long def)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

static int open_auth(ds_connector *c, conn_side *sd, const char *sname,
                     ds_err *err)
{
    const json_t *a = ds_json_path(ds_json_path(c->root, sname), "auth");
    ds_auth_cfg *cfg = &sd->api.auth;
    const char *ca = json_string_value(json_object_get(a, "clientAuth"));
    char path[96];

    cfg->kind = auth_kind(json_string_value(json_object_get(a, "type")));
    cfg->header = json_string_value(json_object_get(a, "header"));
    if (cfg->kind == DS_AUTH_API_KEY && cfg->header == NULL)
        cfg->header = "X-API-Key";
    cfg->token_url = json_string_value(json_object_get(a, "tokenUrl"));
    cfg->client_id = json_string_value(json_object_get(a, "clientId"));
    cfg->scope = json_string_value(json_object_get(a, "scope"));
    cfg->client_in_body = ca != NULL && strcmp(ca, "body") == 0;
    cfg->margin_ms = (long)int_at(a, "refreshMarginMs", 5000);
    cfg->lock_ms = (long)int_at(a, "lockMs", 10000);
    snprintf(path, sizeof(path), "%s.auth.%s", sname,
             cfg->kind == DS_AUTH_BEARER ? "token" : "key");
    if (read_secret(c, sd, 0, path, &cfg->secret, err) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s.auth.clientSecret", sname);
    if (read_secret(c, sd, 1, path, &cfg->client_secret, err) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s.auth.refreshToken", sname);
    return read_secret(c, sd, 2, path, &cfg->refresh_token, err);
}

static ds_reset_unit reset_unit(const char *name)
{
    const char *const names[] = {"auto", "seconds", "ms", "epoch_s",
                                 "epoch_ms"};
    size_t i;

    for (i = 0; name != NULL && i < 5; i++)
        if (strcmp(name, names[i]) == 0)
            return (ds_reset_unit)i;
    return DS_RESET_AUTO;
}

static void open_rate(ds_connector *c, conn_side *sd, const char *sname)
{
    const json_t *r = ds_json_path(ds_json_path(c->root, sname),
                                   "rateLimit");
    ds_rate_cfg *cfg = &sd->api.rate;

    sd->api.has_rate = r != NULL;
    /* Without a section the API has no known limit, but its answers can
     * still announce one (429, rate-limit headers): waits as above. */
    cfg->window_ms = 1000;
    cfg->max_wait_ms = 5000;
    cfg->max_hold_ms = 300000;
    if (r == NULL)
        return;
    cfg->requests = (long)int_at(r, "requests", 0);
    cfg->window_ms = (long)int_at(r, "windowMs", 1000);
    cfg->margin_ms = (long)int_at(r, "marginMs", 0);
    cfg->per_credential = json_is_true(json_object_get(r, "perCredential"));
    cfg->reset_unit = reset_unit(json_string_value(
        json_object_get(r, "resetUnit")));
    cfg->max_wait_ms = (long)int_at(r, "maxWaitMs", 5000);
    cfg->max_hold_ms = (long)int_at(r, "maxHoldMs", 300000);
}

/* The fixed headers as "Name: value" lines, secrets read. */
static int open_headers(ds_connector *c, conn_side *sd, const char *sname,
                        ds_err *err)
{
    const json_t *hs = ds_json_path(ds_json_path(c->root, sname), "headers");
    const char *name;
    size_t n = 0;
    json_t *v;

    json_object_foreach((json_t *)hs, name, v) {
        char path[256];
        const char *value = json_string_value(v);
        ds_err serr;
        char *secret = NULL;

        if (value == NULL) {
            snprintf(path, sizeof(path), "%s.headers.%s", sname, name);
            ds_err_clear(&serr);
            secret = ds_env_secret(json_string_value(
                json_object_get(v, "secretEnv")), &serr);
            if (secret == NULL)
                return failf(c, err, serr.reason, path, "%s", serr.msg);
            value = secret;
        }
        if (asprintf(&sd->lines[n], "%s: %s", name, value) < 0)
            sd->lines[n] = NULL;
        if (secret != NULL)
            memset(secret, 0, strlen(secret));
        free(secret);
        if (sd->lines[n++] == NULL)
            return ds_err_set(err, "out_of_memory", "connector headers");
    }
    return 0;
}

int ds_connector_open(ds_connector *c, ds_side side,
                      const ds_connector_api **out, ds_err *err)
{
    conn_side *sd = &c->sides[side];
    const char *sname = SIDE_NAMES[side];

    if (!sd->opened) {
        sd->api.id = sname;
        sd->api.base_url = json_string_value(ds_json_path(
            ds_json_path(c->root, sname), "baseUrl"));
        sd->api.headers = (const char *const *)sd->lines;
        if (open_auth(c, sd, sname, err) < 0 ||
            open_headers(c, sd, sname, err) < 0) {
            side_clear(sd);
            return -1;
        }
        open_rate(c, sd, sname);
        sd->opened = 1;
    }
    *out = &sd->api;
    return 0;
}

/* ---- templates ----------------------------------------------------- */

static const char *var_value(const ds_tpl_var *vars, const char *name,
                             size_t n, int *known)
{
    for (*known = 0; vars != NULL && vars->name != NULL; vars++)
        if (strlen(vars->name) == n && strncmp(vars->name, name, n) == 0) {
            *known = 1;
            return vars->value;
        }
    return NULL;
}

/* Appends value percent-encoded to out at *at. Returns 0 or -1. */
static int put_encoded(const char *value, char *out, size_t cap, size_t *at)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)value;

    for (; *p != '\0'; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;

        if (*at + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[(*at)++] = (char)*p;
        } else {
            out[(*at)++] = '%';
            out[(*at)++] = hex[*p >> 4];
            out[(*at)++] = hex[*p & 15];
        }
    }
    return 0;
}

int ds_template_expand(const char *tpl, const ds_tpl_var *vars, char *out,
                       size_t cap, ds_err *err)
{
    const char *p = tpl;
    size_t at = 0;

    while (*p != '\0') {
        const char *end = *p == '{' ? strchr(p, '}') : NULL;
        const char *value;
        int known;

        if (end == NULL) {
            if (at + 1 >= cap)
                return ds_err_set(err, "bad_config", "path longer than %zu "
                                  "bytes", cap);
            out[at++] = *p++;
            continue;
        }
        value = var_value(vars, p + 1, (size_t)(end - p - 1), &known);
        if (value == NULL)
            return ds_err_set(err, "bad_message", "%.*s %s for %.80s",
                              (int)(end - p + 1), p, known ? "has no value" :
                              "is not known", tpl);
        if (put_encoded(value, out, cap, &at) < 0)
            return ds_err_set(err, "bad_config", "path longer than %zu "
                              "bytes", cap);
        p = end + 1;
    }
    out[at] = '\0';
    return 0;
}

int ds_template_expand1(const char *tpl, const char *name, const char *value,
                        char *out, size_t cap, ds_err *err)
{
    const ds_tpl_var vars[] = {{name, value}, {NULL, NULL}};

    return ds_template_expand(tpl, vars, out, cap, err);
}

static const char *endpoint_of(const ds_connector *c, ds_side side,
                               const char *endpoint)
{
    char path[96];

    snprintf(path, sizeof(path), "%s.endpoints.%s", SIDE_NAMES[side],
             endpoint);
    return json_string_value(ds_json_path(c->root, path));
}

int ds_connector_has_endpoint(const ds_connector *c, ds_side side,
                              const char *endpoint)
{
    return endpoint_of(c, side, endpoint) != NULL;
}

int ds_connector_path(const ds_connector *c, ds_side side,
                      const char *endpoint, const ds_tpl_var *vars,
                      char *out, size_t cap, ds_err *err)
{
    const char *tpl = endpoint_of(c, side, endpoint);

    if (tpl == NULL)
        return ds_err_set(err, "bad_config", "connector %.64s: %s.endpoints"
                          ".%s: not configured", c->label, SIDE_NAMES[side],
                          endpoint);
    return ds_template_expand(tpl, vars, out, cap, err);
}

static const char *str_or(const ds_connector *c, const char *path,
                          const char *def)
{
    const char *v = json_string_value(ds_json_path(c->root, path));

    return v != NULL ? v : def;
}

/* The processing values when the connector names a status field and
 * none of its own. */
static json_t *default_processing_values(void)
{
    static json_t *values;

    if (values == NULL)
        values = json_pack("[ss]", "processing", "pending");
    return values;
}

void ds_connector_doc_view(const ds_connector *c, ds_doc_view *v)
{
    json_t *max = ds_json_path(c->root,
                               "destination.document.processingMaxMs");

    v->root = str_or(c, "destination.document.root", NULL);
    v->id = str_or(c, "destination.document.id", "id");
    v->file_name = str_or(c, "destination.document.fileName", "fileName");
    v->size = str_or(c, "destination.document.size", "size");
    v->transaction_id = str_or(c, "destination.document.transactionId",
                               "transactionId");
    v->has_sum = ds_json_path(c->root, "destination.document.checksum") !=
                 NULL;
    v->sum_field = str_or(c, "destination.document.checksum.field",
                          "md5Checksum");
    v->sum_header = str_or(c, "destination.document.checksum.header", NULL);
    v->sum_algorithm = str_or(c, "destination.document.checksum.algorithm",
                              "md5");
    v->sum_encoding = str_or(c, "destination.document.checksum.encoding",
                             "hex");
    v->tier = str_or(c, "destination.document.verification",
                     v->has_sum ? "strong" : "medium");
    v->status = str_or(c, "destination.document.status", NULL);
    v->processing_values = ds_json_path(
        c->root, "destination.document.processingValues");
    if (v->processing_values == NULL)
        v->processing_values = default_processing_values();
    v->processing_max_ms = json_is_integer(max) ? json_integer_value(max) :
                           300000;
}

/* ---- the built-in connector ---------------------------------------- */

/* The standard CRM and transaction system, read from the variables docsync
 * read before connector files existed; connectors/sandbox-apikey.json is
 * the same as a file. */
static const char DEFAULT_TEXT[] =
    "{\"name\": \"built-in\",\n"
    " \"source\": {\n"
    "  \"baseUrl\": {\"env\": \"CRM_BASE_URL\","
    " \"default\": \"http://localhost:8090\"},\n"
    "  \"auth\": {\"type\": \"api_key\",\n"
    "   \"header\": {\"env\": \"CRM_API_KEY_HEADER\", \"default\": \"X-API-Key\"},\n"
    "   \"key\": {\"secretEnv\": \"CRM_API_KEY\"}},\n"
    "  \"endpoints\": {\n"
    "   \"metadata\": \"/api/v1/documents/{documentId}\",\n"
    "   \"content\": \"/api/v1/documents/{documentId}/content\",\n"
    "   \"list\": \"/api/v1/documents?createdSince={since}&limit=50\",\n"
    "   \"listNext\": \"/api/v1/documents?cursor={cursor}\"},\n"
    "  \"list\": {\"items\": \"data\", \"nextCursor\": \"nextCursor\","
    " \"createdAt\": \"createdAt\"},\n"
    "  \"fields\": {\"accountId\": {}, \"fileName\": {}, \"mimeType\": {},\n"
    "   \"description\": {}, \"createdAt\": {}, \"size\": {}}},\n"
    " \"destination\": {\n"
    "  \"baseUrl\": {\"env\": \"DEST_BASE_URL\","
    " \"default\": \"http://localhost:8090\"},\n"
    "  \"auth\": {\"type\": \"api_key\",\n"
    "   \"header\": {\"env\": \"DEST_API_KEY_HEADER\", \"default\": \"X-API-Key\"},\n"
    "   \"key\": {\"secretEnv\": \"DEST_API_KEY\"}},\n"
    "  \"endpoints\": {\n"
    "   \"upload\": \"/v1/transactions/{transactionId}/documents\",\n"
    "   \"sessionStart\": \"/v1/transactions/{transactionId}/upload-sessions\",\n"
    "   \"sessionPart\": \"/v1/upload-sessions/{sessionId}/parts/{partNumber}\",\n"
    "   \"sessionComplete\": \"/v1/upload-sessions/{sessionId}/complete\",\n"
    "   \"sessionStatus\": \"/v1/upload-sessions/{sessionId}\",\n"
    "   \"sessionAbort\": \"/v1/upload-sessions/{sessionId}\",\n"
    "   \"search\": \"/v1/transactions/{transactionId}/documents"
    "?sourceDocumentId={documentId}\",\n"
    "   \"document\": \"/v1/documents/{destinationDocumentId}\",\n"
    "   \"accounts\": \"/v1/transactions?accountId={accountId}\"},\n"
    "  \"upload\": {\"idField\": \"id\", \"maxFileNameBytes\": 255,\n"
    "   \"modes\": {\n"
    "    \"json_base64\": {\"maxBytes\": 1073741824, \"contentField\": \"content\"},\n"
    "    \"multipart\": {\"maxBytes\": 2147483648, \"fileField\": \"file\"},\n"
    "    \"chunked\": {\"maxBytes\": 68719476736, \"partBytes\": 8388608}},\n"
    "   \"fields\": {\"fileName\": {}, \"mimeType\": {}, \"notes\": {},\n"
    "    \"documentDate\": {}, \"sourceDocumentId\": {\"from\": \"documentId\"}}},\n"
    "  \"document\": {\"id\": \"id\", \"fileName\": \"fileName\", \"size\": \"size\",\n"
    "   \"transactionId\": \"transactionId\",\n"
    "   \"checksum\": {\"field\": \"md5Checksum\", \"algorithm\": \"md5\","
    " \"encoding\": \"hex\"}},\n"
    "  \"search\": {\"items\": \"documents\"},\n"
    "  \"accounts\": {\"items\": \"data\", \"id\": \"id\"}}}\n";

const char *ds_connector_default_text(void)
{
    return DEFAULT_TEXT;
}
