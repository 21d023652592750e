/* ds_connector.c - the connector file; see ds_connector.h. */
#include "ds_connector.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_config.h"
#include "ds_fields.h"

#define MAX_HEADERS 16

/* One side, once opened: the secrets it read and what ds_api needs. */
typedef struct side {
    int opened;
    ds_connector_api api;
    char *secrets[4];               /* key/token, client secret, refresh */
    char *lines[MAX_HEADERS + 1];
} conn_side;

struct ds_connector {
    char label[128];
    json_t *root;
    conn_side sides[2];
};

static const char *const SIDE_NAMES[] = {"source", "destination"};

/* ---- the schema ---------------------------------------------------- */

typedef enum {
    K_STR, K_INT, K_BOOL, K_OBJ, K_SECRET, K_TPL, K_HEADERS, K_FIELDS, K_ANY
} kind;

typedef struct spec spec;

/* A section: its keys and a check of what the keys alone cannot say. */
typedef struct section {
    const spec *keys;
    int (*check)(const ds_connector *c, const json_t *obj, const char *path,
                 ds_err *err);
} section;

struct spec {
    const char *key;
    kind kind;
    int required;
    const void *arg;   /* K_OBJ: section; K_STR: choices; K_TPL: vars */
};

static const char *const AUTH_TYPES[] = {
    "none", "api_key", "bearer", "oauth2_client_credentials",
    "oauth2_refresh_token", NULL};
static const char *const CLIENT_AUTH[] = {"basic", "body", NULL};
static const char *const RESET_UNITS[] = {
    "auto", "seconds", "ms", "epoch_s", "epoch_ms", NULL};
static const char *const UPLOAD_MODES[] = {"json_base64", NULL};
static const char *const ALGORITHMS[] = {"md5", "sha256", NULL};
static const char *const ENCODINGS[] = {"hex", "base64", NULL};
static const char *const TX_SOURCES[] = {"file", "redis", "lookup", NULL};

static const char *const V_DOC[] = {"documentId", NULL};
static const char *const V_LIST[] = {"since", "cursor", NULL};
static const char *const V_UPLOAD[] = {
    "transactionId", "documentId", "accountId", NULL};
static const char *const V_DOCUMENT[] = {
    "destinationDocumentId", "transactionId", "documentId", NULL};
static const char *const V_ACCOUNTS[] = {"accountId", NULL};

static int check_auth(const ds_connector *c, const json_t *obj,
                      const char *path, ds_err *err);

static const spec AUTH_KEYS[] = {
    {"type", K_STR, 1, AUTH_TYPES}, {"header", K_STR, 0, NULL},
    {"key", K_SECRET, 0, NULL}, {"token", K_SECRET, 0, NULL},
    {"tokenUrl", K_STR, 0, NULL}, {"clientId", K_STR, 0, NULL},
    {"clientSecret", K_SECRET, 0, NULL}, {"scope", K_STR, 0, NULL},
    {"refreshToken", K_SECRET, 0, NULL},
    {"clientAuth", K_STR, 0, CLIENT_AUTH},
    {"refreshMarginMs", K_INT, 0, NULL}, {"lockMs", K_INT, 0, NULL},
    {NULL, 0, 0, NULL}};
static const section AUTH = {AUTH_KEYS, check_auth};

static const spec RATE_KEYS[] = {
    {"requests", K_INT, 1, NULL}, {"windowMs", K_INT, 0, NULL},
    {"marginMs", K_INT, 0, NULL}, {"perCredential", K_BOOL, 0, NULL},
    {"resetUnit", K_STR, 0, RESET_UNITS}, {"maxWaitMs", K_INT, 0, NULL},
    {NULL, 0, 0, NULL}};
static const section RATE = {RATE_KEYS, NULL};

static const spec SRC_ENDPOINT_KEYS[] = {
    {"metadata", K_TPL, 1, V_DOC}, {"content", K_TPL, 1, V_DOC},
    {"list", K_TPL, 0, V_LIST}, {"listNext", K_TPL, 0, V_LIST},
    {NULL, 0, 0, NULL}};
static const section SRC_ENDPOINTS = {SRC_ENDPOINT_KEYS, NULL};

static const spec LIST_KEYS[] = {
    {"items", K_STR, 0, NULL}, {"nextCursor", K_STR, 0, NULL},
    {"createdAt", K_STR, 0, NULL}, {NULL, 0, 0, NULL}};
static const section LIST = {LIST_KEYS, NULL};

static const spec SOURCE_KEYS[] = {
    {"baseUrl", K_STR, 1, NULL}, {"auth", K_OBJ, 1, &AUTH},
    {"headers", K_HEADERS, 0, NULL}, {"rateLimit", K_OBJ, 0, &RATE},
    {"endpoints", K_OBJ, 1, &SRC_ENDPOINTS}, {"list", K_OBJ, 0, &LIST},
    {"fields", K_FIELDS, 0, NULL}, {NULL, 0, 0, NULL}};
static const section SOURCE = {SOURCE_KEYS, NULL};

static const spec DST_ENDPOINT_KEYS[] = {
    {"upload", K_TPL, 1, V_UPLOAD}, {"search", K_TPL, 0, V_UPLOAD},
    {"document", K_TPL, 1, V_DOCUMENT}, {"accounts", K_TPL, 0, V_ACCOUNTS},
    {NULL, 0, 0, NULL}};
static const section DST_ENDPOINTS = {DST_ENDPOINT_KEYS, NULL};

static const spec UPLOAD_KEYS[] = {
    {"mode", K_STR, 0, UPLOAD_MODES}, {"contentField", K_STR, 0, NULL},
    {"maxBytes", K_INT, 0, NULL}, {"idField", K_STR, 0, NULL},
    {"fields", K_FIELDS, 0, NULL}, {NULL, 0, 0, NULL}};
static const section UPLOAD = {UPLOAD_KEYS, NULL};

static const spec CHECKSUM_KEYS[] = {
    {"field", K_STR, 1, NULL}, {"algorithm", K_STR, 1, ALGORITHMS},
    {"encoding", K_STR, 0, ENCODINGS}, {NULL, 0, 0, NULL}};
static const section CHECKSUM = {CHECKSUM_KEYS, NULL};

static const spec DOCUMENT_KEYS[] = {
    {"root", K_STR, 0, NULL}, {"id", K_STR, 0, NULL},
    {"fileName", K_STR, 0, NULL}, {"size", K_STR, 0, NULL},
    {"transactionId", K_STR, 0, NULL}, {"checksum", K_OBJ, 1, &CHECKSUM},
    {NULL, 0, 0, NULL}};
static const section DOCUMENT = {DOCUMENT_KEYS, NULL};

static const spec SEARCH_KEYS[] = {{"items", K_STR, 0, NULL},
                                   {NULL, 0, 0, NULL}};
static const section SEARCH = {SEARCH_KEYS, NULL};

static const spec ACCOUNTS_KEYS[] = {
    {"items", K_STR, 0, NULL}, {"id", K_STR, 0, NULL}, {NULL, 0, 0, NULL}};
static const section ACCOUNTS = {ACCOUNTS_KEYS, NULL};

static const spec DEST_KEYS[] = {
    {"baseUrl", K_STR, 1, NULL}, {"auth", K_OBJ, 1, &AUTH},
    {"headers", K_HEADERS, 0, NULL}, {"rateLimit", K_OBJ, 0, &RATE},
    {"endpoints", K_OBJ, 1, &DST_ENDPOINTS}, {"upload", K_OBJ, 0, &UPLOAD},
    {"document", K_OBJ, 0, &DOCUMENT}, {"search", K_OBJ, 0, &SEARCH},
    {"accounts", K_OBJ, 0, &ACCOUNTS}, {NULL, 0, 0, NULL}};
static const section DEST = {DEST_KEYS, NULL};

static const spec TX_KEYS[] = {
    {"source", K_STR, 0, TX_SOURCES}, {"cacheTtlS", K_INT, 0, NULL},
    {NULL, 0, 0, NULL}};
static const section TX = {TX_KEYS, NULL};

static const spec ROOT_KEYS[] = {
    {"name", K_STR, 0, NULL}, {"source", K_OBJ, 1, &SOURCE},
    {"destination", K_OBJ, 1, &DEST}, {"transactions", K_OBJ, 0, &TX},
    {NULL, 0, 0, NULL}};
static const section ROOT = {ROOT_KEYS, NULL};

/* ---- errors -------------------------------------------------------- */

static int failf(const ds_connector *c, ds_err *err, const char *reason,
                 const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Sets err to "connector <label>: <path>: <what>" and returns -1. */
static int failf(const ds_connector *c, ds_err *err, const char *reason,
                 const char *path, const char *fmt, ...)
{
    char what[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return ds_err_set(err, reason, "connector %.64s: %.96s: %s", c->label,
                      path, what);
}

int ds_connector_fail(const ds_connector *c, const char *path,
                      const char *what, ds_err *err)
{
    return failf(c, err, "bad_connector", path, "%s", what);
}

static void join(char *out, size_t cap, const char *path, const char *key)
{
    /* A path cut short still names its section; keys of a file that
     * validates are never that long. */
    if (snprintf(out, cap, "%s%s%s", path, path[0] != '\0' ? "." : "",
                 key) >= (int)cap)
        out[cap - 1] = '\0';
}

/* ---- {"env"} values ------------------------------------------------ */

static int is_env_ref(const json_t *v)
{
    const char *key;
    json_t *x;

    if (!json_is_object(v) || json_object_get(v, "env") == NULL)
        return 0;
    json_object_foreach((json_t *)v, key, x) {
        if (strcmp(key, "env") != 0 && strcmp(key, "default") != 0)
            return 0;
    }
    return 1;
}

/* The value of an {"env": NAME, "default": D}, typed like D. */
static json_t *env_value(const ds_connector *c, const json_t *ref,
                         const char *path, ds_err *err)
{
    const char *name = json_string_value(json_object_get(ref, "env"));
    json_t *def = json_object_get(ref, "default");
    const char *text;
    char *end;
    long long n;

    if (name == NULL || name[0] == '\0')
        return failf(c, err, "bad_connector", path,
                     "env: not a variable name"), NULL;
    text = ds_env_str(name, NULL);
    if (text == NULL && def != NULL)
        return json_deep_copy(def);
    if (text == NULL)
        return failf(c, err, "config_missing", path, "%.64s is not set",
                     name), NULL;
    if (json_is_integer(def)) {
        n = strtoll(text, &end, 10);
        if (*end != '\0')
            return failf(c, err, "config_invalid", path,
                         "%.64s is not a whole number", name), NULL;
        return json_integer(n);
    }
    if (json_is_boolean(def)) {
        if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
            return failf(c, err, "config_invalid", path,
                         "%.64s is not true or false", name), NULL;
        return json_boolean(strcmp(text, "true") == 0);
    }
    return json_string(text);
}

/* Replaces every {"env"} below node by its value. */
static int resolve_env(const ds_connector *c, json_t *node, const char *path,
                       ds_err *err)
{
    const char *key;
    char sub[256];
    json_t *v;
    void *tmp;

    json_object_foreach_safe(node, tmp, key, v) {
        join(sub, sizeof(sub), path, key);
        if (is_env_ref(v)) {
            json_t *value = env_value(c, v, sub, err);

            if (value == NULL)
                return -1;
            json_object_set_new(node, key, value);
        } else if (json_is_object(v) && resolve_env(c, v, sub, err) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- validation ---------------------------------------------------- */

static int check_section(const ds_connector *c, const json_t *obj,
                         const section *sec, const char *path, ds_err *err);

static int in_list(const char *s, const char *const *list)
{
    size_t i;

    for (i = 0; s != NULL && list[i] != NULL; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static int check_secret(const ds_connector *c, const json_t *v,
                        const char *path, ds_err *err)
{
    const json_t *name = json_object_get(v, "secretEnv");

    if (json_is_string(v))
        return failf(c, err, "bad_connector", path, "a secret is never "
                     "written in the file: use {\"secretEnv\": NAME}");
    if (!json_is_object(v) || json_object_size(v) != 1 ||
        !json_is_string(name) || json_string_length(name) == 0)
        return failf(c, err, "bad_connector", path,
                     "not {\"secretEnv\": NAME}");
    return 0;
}

/* Checks the {variables} of a template against the allowed ones. */
static int check_template(const ds_connector *c, const char *tpl,
                          const char *const *vars, const char *path,
                          ds_err *err)
{
    const char *p = tpl;

    if (tpl[0] != '/')
        return failf(c, err, "bad_connector", path,
                     "must start with / (it follows baseUrl)");
    while ((p = strpbrk(p, "{}")) != NULL) {
        const char *end = strchr(p, '}');
        char name[64];

        if (*p == '}' || end == NULL || (size_t)(end - p) >= sizeof(name))
            return failf(c, err, "bad_connector", path, "unbalanced braces");
        snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
        if (!in_list(name, vars))
            return failf(c, err, "bad_connector", path,
                         "unknown variable {%s}", name);
        p = end + 1;
    }
    return 0;
}

static int check_headers(const ds_connector *c, const json_t *v,
                         const char *path, ds_err *err)
{
    const char *key;
    char sub[256];
    json_t *h;

    if (json_object_size(v) > MAX_HEADERS)
        return failf(c, err, "bad_connector", path, "more than %d headers",
                     MAX_HEADERS);
    json_object_foreach((json_t *)v, key, h) {
        join(sub, sizeof(sub), path, key);
        if (key[0] == '\0' || strpbrk(key, ": \r\n") != NULL)
            return failf(c, err, "bad_connector", sub, "not a header name");
        if (!json_is_string(h) && check_secret(c, h, sub, err) < 0)
            return -1;
    }
    return 0;
}

static const char *type_name(kind k)
{
    switch (k) {
    case K_INT: return "not a whole number";
    case K_BOOL: return "not true or false";
    case K_STR: case K_TPL: return "not a string";
    default: return "not an object";
    }
}

static int type_ok(kind k, const json_t *v)
{
    switch (k) {
    case K_STR: case K_TPL: return json_is_string(v);
    case K_INT: return json_is_integer(v);
    case K_BOOL: return json_is_boolean(v);
    case K_OBJ: case K_HEADERS: case K_FIELDS: return json_is_object(v);
    default: return 1;
    }
}

/* Checks one value against its spec. */
static int check_value(const ds_connector *c, const json_t *v,
                       const spec *s, const char *path, ds_err *err)
{
    if (s->kind == K_SECRET)
        return check_secret(c, v, path, err);
    if (!type_ok(s->kind, v))
        return failf(c, err, "bad_connector", path, "%s",
                     type_name(s->kind));
    switch (s->kind) {
    case K_STR:
        if (s->arg != NULL && !in_list(json_string_value(v), s->arg))
            return failf(c, err, "bad_connector", path,
                         "unknown value \"%.40s\"", json_string_value(v));
        return 0;
    case K_INT:
        return json_integer_value(v) < 0 ?
               failf(c, err, "bad_connector", path, "negative") : 0;
    case K_TPL:
        return check_template(c, json_string_value(v), s->arg, path, err);
    case K_OBJ:
        return check_section(c, v, s->arg, path, err);
    case K_HEADERS:
        return check_headers(c, v, path, err);
    case K_FIELDS: {
        char where[360];

        snprintf(where, sizeof(where), "connector %.64s: %.255s", c->label,
                 path);
        return ds_fields_check(v, where, err);
    }
    default:
        return 0;
    }
}

static const spec *find_spec(const spec *keys, const char *key)
{
    for (; keys->key != NULL; keys++)
        if (strcmp(keys->key, key) == 0)
            return keys;
    return NULL;
}

static int check_section(const ds_connector *c, const json_t *obj,
                         const section *sec, const char *path, ds_err *err)
{
    const spec *s;
    const char *key;
    char sub[256];
    json_t *v;

    /* A typo must not be ignored: a key docsync does not know is refused. */
    json_object_foreach((json_t *)obj, key, v) {
        join(sub, sizeof(sub), path, key);
        s = find_spec(sec->keys, key);
        if (s == NULL)
            return failf(c, err, "bad_connector", sub, "unknown key");
        if (check_value(c, v, s, sub, err) < 0)
            return -1;
    }
    for (s = sec->keys; s->key != NULL; s++) {
        join(sub, sizeof(sub), path, s->key);
        if (s->required && json_object_get(obj, s->key) == NULL)
            return failf(c, err, "bad_connector", sub, "missing");
    }
    return sec->check != NULL ? sec->check(c, obj, path, err) : 0;
}

/* Which keys each auth type needs, and which it may have. */
static const struct {
    const char *type;
    const char *need[4];
    const char *may[6];
} AUTH_NEEDS[] = {
    {"none", {NULL}, {NULL}},
    {"api_key", {"key", NULL}, {"header", NULL}},
    {"bearer", {"token", NULL}, {NULL}},
    {"oauth2_client_credentials", {"tokenUrl", "clientId", "clientSecret",
     NULL}, {"scope", "clientAuth", "refreshMarginMs", "lockMs", NULL}},
    {"oauth2_refresh_token", {"tokenUrl", "clientId", "refreshToken", NULL},
     {"clientSecret", "scope", "clientAuth", "refreshMarginMs", "lockMs",
      NULL}},
};

static int check_auth(const ds_connector *c, const json_t *obj,
                      const char *path, ds_err *err)
{
    const char *type = json_string_value(json_object_get(obj, "type"));
    const char *key;
    char sub[256];
    json_t *v;
    size_t i, k;

    for (i = 0; strcmp(AUTH_NEEDS[i].type, type) != 0; i++)
        ;
    for (k = 0; AUTH_NEEDS[i].need[k] != NULL; k++) {
        join(sub, sizeof(sub), path, AUTH_NEEDS[i].need[k]);
        if (json_object_get(obj, AUTH_NEEDS[i].need[k]) == NULL)
            return failf(c, err, "bad_connector", sub, "missing");
    }
    json_object_foreach((json_t *)obj, key, v) {
        join(sub, sizeof(sub), path, key);
        if (strcmp(key, "type") != 0 && !in_list(key, AUTH_NEEDS[i].need) &&
            !in_list(key, AUTH_NEEDS[i].may))
            return failf(c, err, "bad_connector", sub, "not used by auth "
                         "type %s", type);
    }
    return 0;
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
    if (!json_is_object(root)) {
        failf(c, err, "bad_connector", "(top)", "not a JSON object");
    } else if (resolve_env(c, root, "", err) == 0 &&
               check_section(c, root, &ROOT, "", err) == 0) {
        return c;
    }
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
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

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

void ds_connector_free(ds_connector *c)
{
    size_t i, k;

    if (c == NULL)
        return;
    for (i = 0; i < 2; i++) {
        for (k = 0; k < 4; k++) {
            if (c->sides[i].secrets[k] != NULL)
                memset(c->sides[i].secrets[k], 0,
                       strlen(c->sides[i].secrets[k]));
            free(c->sides[i].secrets[k]);
        }
        for (k = 0; c->sides[i].lines[k] != NULL; k++) {
            memset(c->sides[i].lines[k], 0, strlen(c->sides[i].lines[k]));
            free(c->sides[i].lines[k]);
        }
    }
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
static int read_secret(ds_connector *c, conn_side *sd, int slot, const char *path,
                       const char **out, ds_err *err)
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
    if (r == NULL)
        return;
    cfg->requests = (long)int_at(r, "requests", 0);
    cfg->window_ms = (long)int_at(r, "windowMs", 1000);
    cfg->margin_ms = (long)int_at(r, "marginMs", 0);
    cfg->per_credential = json_is_true(json_object_get(r, "perCredential"));
    cfg->reset_unit = reset_unit(json_string_value(
        json_object_get(r, "resetUnit")));
    cfg->max_wait_ms = (long)int_at(r, "maxWaitMs", 5000);
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
            open_headers(c, sd, sname, err) < 0)
            return -1;
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

void ds_connector_doc_view(const ds_connector *c, ds_doc_view *v)
{
    v->root = str_or(c, "destination.document.root", NULL);
    v->id = str_or(c, "destination.document.id", "id");
    v->file_name = str_or(c, "destination.document.fileName", "fileName");
    v->size = str_or(c, "destination.document.size", "size");
    v->transaction_id = str_or(c, "destination.document.transactionId",
                               "transactionId");
    v->sum_field = str_or(c, "destination.document.checksum.field",
                          "md5Checksum");
    v->sum_algorithm = str_or(c, "destination.document.checksum.algorithm",
                              "md5");
    v->sum_encoding = str_or(c, "destination.document.checksum.encoding",
                             "hex");
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
    "   \"search\": \"/v1/transactions/{transactionId}/documents"
    "?sourceDocumentId={documentId}\",\n"
    "   \"document\": \"/v1/documents/{destinationDocumentId}\",\n"
    "   \"accounts\": \"/v1/transactions?accountId={accountId}\"},\n"
    "  \"upload\": {\"mode\": \"json_base64\", \"contentField\": \"content\","
    " \"idField\": \"id\",\n"
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
