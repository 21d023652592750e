/* ds_connector_check.c - validation of a connector file; see
 * ds_connector_check.h. */
#include "ds_connector_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_config.h"
#include "ds_fields.h"

int ds_connector_failf(const char *label, ds_err *err, const char *reason,
                       const char *path, const char *fmt, ...)
{
    char what[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return ds_err_set(err, reason, "connector %.64s: %.96s: %s", label, path,
                      what);
}

/* Every failure of this file names the connector first. */
#define failf ds_connector_failf

static void join(char *out, size_t cap, const char *path, const char *key)
{
    /* A path cut short still names its section; keys of a file that
     * validates are never that long. */
    if (snprintf(out, cap, "%s%s%s", path, path[0] != '\0' ? "." : "",
                 key) >= (int)cap)
        out[cap - 1] = '\0';
}

/* ---- the schema ---------------------------------------------------- */

typedef enum {
    K_STR, K_INT, K_BOOL, K_OBJ, K_SECRET, K_TPL, K_HEADERS, K_FIELDS, K_ANY
} kind;

typedef struct spec spec;

/* A section: its keys and a check of what the keys alone cannot say. */
typedef struct section {
    const spec *keys;
    int (*check)(const char *label, const json_t *obj, const char *path,
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
static const char *const UPLOAD_MODES[] = {
    "json_base64", "multipart", "chunked", NULL};
static const char *const METADATA_SHAPES[] = {"fields", "json", NULL};
static const char *const NAME_STYLES[] = {"rfc8187", "raw", NULL};
static const char *const PART_METHODS[] = {"PUT", "POST", NULL};
static const char *const ALGORITHMS[] = {"md5", "sha256", NULL};
static const char *const ENCODINGS[] = {"hex", "base64", NULL};
static const char *const TIERS[] = {"strong", "medium", "weak", NULL};
static const char *const TIME_FORMATS[] = {
    "rfc3339", "epoch_s", "epoch_ms", NULL};
/* The fields the stages read from the CRM's metadata (the fetcher; ingest
 * in poll mode reads documentId, accountId and fileName from a listing). */
static const char *const SOURCE_FIELDS[] = {
    "documentId", "accountId", "fileName", "mimeType", "description",
    "createdAt", "size", NULL};
static const char *const TX_SOURCES[] = {"file", "redis", "lookup", NULL};

static const char *const V_DOC[] = {"documentId", NULL};
static const char *const V_LIST[] = {"since", "cursor", NULL};
static const char *const V_UPLOAD[] = {
    "transactionId", "documentId", "accountId", NULL};
static const char *const V_DOCUMENT[] = {
    "destinationDocumentId", "transactionId", "documentId", NULL};
static const char *const V_ACCOUNTS[] = {"accountId", NULL};
static const char *const V_SESSION[] = {
    "sessionId", "transactionId", "documentId", "accountId", NULL};
static const char *const V_PART[] = {
    "sessionId", "partNumber", "transactionId", "documentId", "accountId",
    NULL};

static int check_auth(const char *label, const json_t *obj,
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
    {"requests", K_INT, 0, NULL}, {"windowMs", K_INT, 0, NULL},
    {"marginMs", K_INT, 0, NULL}, {"perCredential", K_BOOL, 0, NULL},
    {"resetUnit", K_STR, 0, RESET_UNITS}, {"maxWaitMs", K_INT, 0, NULL},
    {"maxHoldMs", K_INT, 0, NULL}, {NULL, 0, 0, NULL}};
static const section RATE = {RATE_KEYS, NULL};

static const spec SRC_ENDPOINT_KEYS[] = {
    {"metadata", K_TPL, 1, V_DOC}, {"content", K_TPL, 1, V_DOC},
    {"list", K_TPL, 0, V_LIST}, {"listNext", K_TPL, 0, V_LIST},
    {NULL, 0, 0, NULL}};
static const section SRC_ENDPOINTS = {SRC_ENDPOINT_KEYS, NULL};

static const spec LIST_KEYS[] = {
    {"items", K_STR, 0, NULL}, {"nextCursor", K_STR, 0, NULL},
    {"createdAt", K_STR, 0, NULL}, {"sinceFormat", K_STR, 0, TIME_FORMATS},
    {"createdAtFormat", K_STR, 0, TIME_FORMATS}, {NULL, 0, 0, NULL}};
static const section LIST = {LIST_KEYS, NULL};

static int check_source(const char *label, const json_t *obj,
                        const char *path, ds_err *err);

static const spec SOURCE_KEYS[] = {
    {"baseUrl", K_STR, 1, NULL}, {"auth", K_OBJ, 1, &AUTH},
    {"headers", K_HEADERS, 0, NULL}, {"rateLimit", K_OBJ, 0, &RATE},
    {"endpoints", K_OBJ, 1, &SRC_ENDPOINTS}, {"list", K_OBJ, 0, &LIST},
    {"fields", K_FIELDS, 0, NULL}, {NULL, 0, 0, NULL}};
static const section SOURCE = {SOURCE_KEYS, check_source};

/* Which endpoint an upload mode needs is checked with the modes, in
 * check_destination: upload is not needed by a chunked-only destination. */
static const spec DST_ENDPOINT_KEYS[] = {
    {"upload", K_TPL, 0, V_UPLOAD}, {"multipartUpload", K_TPL, 0, V_UPLOAD},
    {"sessionStart", K_TPL, 0, V_UPLOAD}, {"sessionPart", K_TPL, 0, V_PART},
    {"sessionComplete", K_TPL, 0, V_SESSION},
    {"sessionStatus", K_TPL, 0, V_SESSION},
    {"sessionAbort", K_TPL, 0, V_SESSION},
    {"search", K_TPL, 0, V_UPLOAD},
    {"document", K_TPL, 1, V_DOCUMENT}, {"accounts", K_TPL, 0, V_ACCOUNTS},
    {NULL, 0, 0, NULL}};
static const section DST_ENDPOINTS = {DST_ENDPOINT_KEYS, NULL};

static int check_chunked(const char *label, const json_t *obj,
                         const char *path, ds_err *err);
static int check_upload(const char *label, const json_t *obj,
                        const char *path, ds_err *err);

static const spec JSON_MODE_KEYS[] = {
    {"maxBytes", K_INT, 0, NULL}, {"contentField", K_STR, 0, NULL},
    {NULL, 0, 0, NULL}};
static const section JSON_MODE = {JSON_MODE_KEYS, NULL};

static const spec MULTIPART_MODE_KEYS[] = {
    {"maxBytes", K_INT, 0, NULL}, {"fileField", K_STR, 0, NULL},
    {"metadata", K_STR, 0, METADATA_SHAPES},
    {"metadataField", K_STR, 0, NULL},
    {"fileNameStyle", K_STR, 0, NAME_STYLES}, {NULL, 0, 0, NULL}};
static int check_multipart(const char *label, const json_t *obj,
                           const char *path, ds_err *err);
static const section MULTIPART_MODE = {MULTIPART_MODE_KEYS, check_multipart};

static const spec CHUNKED_MODE_KEYS[] = {
    {"maxBytes", K_INT, 0, NULL}, {"minBytes", K_INT, 0, NULL},
    {"partBytes", K_INT, 0, NULL}, {"sizeField", K_STR, 0, NULL},
    {"sessionIdField", K_STR, 0, NULL}, {"partSizeField", K_STR, 0, NULL},
    {"receivedPartsField", K_STR, 0, NULL},
    {"partMethod", K_STR, 0, PART_METHODS}, {NULL, 0, 0, NULL}};
static const section CHUNKED_MODE = {CHUNKED_MODE_KEYS, check_chunked};

static const spec MODES_KEYS[] = {
    {"json_base64", K_OBJ, 0, &JSON_MODE},
    {"multipart", K_OBJ, 0, &MULTIPART_MODE},
    {"chunked", K_OBJ, 0, &CHUNKED_MODE}, {NULL, 0, 0, NULL}};
static const section MODES = {MODES_KEYS, NULL};

static const spec UPLOAD_KEYS[] = {
    {"mode", K_STR, 0, UPLOAD_MODES}, {"modes", K_OBJ, 0, &MODES},
    {"contentField", K_STR, 0, NULL},
    {"maxBytes", K_INT, 0, NULL}, {"maxFileNameBytes", K_INT, 0, NULL},
    {"idField", K_STR, 0, NULL},
    {"fields", K_FIELDS, 0, NULL}, {NULL, 0, 0, NULL}};
static const section UPLOAD = {UPLOAD_KEYS, check_upload};

static int check_checksum(const char *label, const json_t *obj,
                          const char *path, ds_err *err);
static int check_document(const char *label, const json_t *obj,
                          const char *path, ds_err *err);

static const spec CHECKSUM_KEYS[] = {
    {"field", K_STR, 0, NULL}, {"header", K_STR, 0, NULL},
    {"algorithm", K_STR, 1, ALGORITHMS}, {"encoding", K_STR, 0, ENCODINGS},
    {NULL, 0, 0, NULL}};
static const section CHECKSUM = {CHECKSUM_KEYS, check_checksum};

static const spec DOCUMENT_KEYS[] = {
    {"root", K_STR, 0, NULL}, {"id", K_STR, 0, NULL},
    {"fileName", K_STR, 0, NULL}, {"size", K_STR, 0, NULL},
    {"transactionId", K_STR, 0, NULL}, {"checksum", K_OBJ, 0, &CHECKSUM},
    {"verification", K_STR, 0, TIERS}, {"status", K_STR, 0, NULL},
    {"processingValues", K_ANY, 0, NULL},
    {"processingMaxMs", K_INT, 0, NULL}, {NULL, 0, 0, NULL}};
static const section DOCUMENT = {DOCUMENT_KEYS, check_document};

static const spec SEARCH_KEYS[] = {{"items", K_STR, 0, NULL},
                                   {NULL, 0, 0, NULL}};
static const section SEARCH = {SEARCH_KEYS, NULL};

static const spec ACCOUNTS_KEYS[] = {
    {"items", K_STR, 0, NULL}, {"id", K_STR, 0, NULL}, {NULL, 0, 0, NULL}};
static const section ACCOUNTS = {ACCOUNTS_KEYS, NULL};

static int check_destination(const char *label, const json_t *obj,
                             const char *path, ds_err *err);

static const spec DEST_KEYS[] = {
    {"baseUrl", K_STR, 1, NULL}, {"auth", K_OBJ, 1, &AUTH},
    {"headers", K_HEADERS, 0, NULL}, {"rateLimit", K_OBJ, 0, &RATE},
    {"endpoints", K_OBJ, 1, &DST_ENDPOINTS}, {"upload", K_OBJ, 0, &UPLOAD},
    {"document", K_OBJ, 0, &DOCUMENT}, {"search", K_OBJ, 0, &SEARCH},
    {"accounts", K_OBJ, 0, &ACCOUNTS}, {NULL, 0, 0, NULL}};
static const section DEST = {DEST_KEYS, check_destination};

static const spec TX_KEYS[] = {
    {"source", K_STR, 0, TX_SOURCES}, {"cacheTtlS", K_INT, 0, NULL},
    {"emptyCacheTtlS", K_INT, 0, NULL}, {NULL, 0, 0, NULL}};
static const section TX = {TX_KEYS, NULL};

static const spec ROOT_KEYS[] = {
    {"name", K_STR, 0, NULL}, {"source", K_OBJ, 1, &SOURCE},
    {"destination", K_OBJ, 1, &DEST}, {"transactions", K_OBJ, 0, &TX},
    {NULL, 0, 0, NULL}};
static const section ROOT = {ROOT_KEYS, NULL};

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
static json_t *env_value(const char *label, const json_t *ref,
                         const char *path, ds_err *err)
{
    const char *name = json_string_value(json_object_get(ref, "env"));
    json_t *def = json_object_get(ref, "default");
    const char *text;
    char *end;
    long long n;

    if (name == NULL || name[0] == '\0')
        return failf(label, err, "bad_connector", path,
                     "env: not a variable name"), NULL;
    text = ds_env_str(name, NULL);
    if (text == NULL && def != NULL)
        return json_deep_copy(def);
    if (text == NULL)
        return failf(label, err, "config_missing", path, "%.64s is not set",
                     name), NULL;
    if (json_is_integer(def)) {
        n = strtoll(text, &end, 10);
        if (*end != '\0')
            return failf(label, err, "config_invalid", path,
                         "%.64s is not a whole number", name), NULL;
        return json_integer(n);
    }
    if (json_is_boolean(def)) {
        if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
            return failf(label, err, "config_invalid", path,
                         "%.64s is not true or false", name), NULL;
        return json_boolean(strcmp(text, "true") == 0);
    }
    return json_string(text);
}

/* Replaces every {"env"} below node by its value. */
static int resolve_env(const char *label, json_t *node, const char *path,
                       ds_err *err)
{
    const char *key;
    char sub[256];
    json_t *v;
    void *tmp;

    json_object_foreach_safe(node, tmp, key, v) {
        join(sub, sizeof(sub), path, key);
        if (is_env_ref(v)) {
            json_t *value = env_value(label, v, sub, err);

            if (value == NULL)
                return -1;
            json_object_set_new(node, key, value);
        } else if (json_is_object(v) && resolve_env(label, v, sub, err) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- validation ---------------------------------------------------- */

static int check_section(const char *label, const json_t *obj,
                         const section *sec, const char *path, ds_err *err);

static int in_list(const char *s, const char *const *list)
{
    size_t i;

    for (i = 0; s != NULL && list[i] != NULL; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static int check_secret(const char *label, const json_t *v,
                        const char *path, ds_err *err)
{
    const json_t *name = json_object_get(v, "secretEnv");

    if (json_is_string(v))
        return failf(label, err, "bad_connector", path, "a secret is never "
                     "written in the file: use {\"secretEnv\": NAME}");
    if (!json_is_object(v) || json_object_size(v) != 1 ||
        !json_is_string(name) || json_string_length(name) == 0)
        return failf(label, err, "bad_connector", path,
                     "not {\"secretEnv\": NAME}");
    return 0;
}

/* Checks the {variables} of a template against the allowed ones. */
static int check_template(const char *label, const char *tpl,
                          const char *const *vars, const char *path,
                          ds_err *err)
{
    const char *p = tpl;

    if (tpl[0] != '/')
        return failf(label, err, "bad_connector", path,
                     "must start with / (it follows baseUrl)");
    while ((p = strpbrk(p, "{}")) != NULL) {
        const char *end = strchr(p, '}');
        char name[64];

        if (*p == '}' || end == NULL || (size_t)(end - p) >= sizeof(name))
            return failf(label, err, "bad_connector", path,
                         "unbalanced braces");
        snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
        if (!in_list(name, vars))
            return failf(label, err, "bad_connector", path,
                         "unknown variable {%s}", name);
        p = end + 1;
    }
    return 0;
}

static int check_headers(const char *label, const json_t *v,
                         const char *path, ds_err *err)
{
    const char *key;
    char sub[256];
    json_t *h;

    if (json_object_size(v) > DS_CONNECTOR_MAX_HEADERS)
        return failf(label, err, "bad_connector", path, "more than %d headers",
                     DS_CONNECTOR_MAX_HEADERS);
    json_object_foreach((json_t *)v, key, h) {
        join(sub, sizeof(sub), path, key);
        if (key[0] == '\0' || strpbrk(key, ": \r\n") != NULL)
            return failf(label, err, "bad_connector", sub,
                         "not a header name");
        if (!json_is_string(h) && check_secret(label, h, sub, err) < 0)
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
static int check_value(const char *label, const json_t *v,
                       const spec *s, const char *path, ds_err *err)
{
    if (s->kind == K_SECRET)
        return check_secret(label, v, path, err);
    if (!type_ok(s->kind, v))
        return failf(label, err, "bad_connector", path, "%s",
                     type_name(s->kind));
    switch (s->kind) {
    case K_STR:
        if (s->arg != NULL && !in_list(json_string_value(v), s->arg))
            return failf(label, err, "bad_connector", path,
                         "unknown value \"%.40s\"", json_string_value(v));
        return 0;
    case K_INT:
        return json_integer_value(v) < 0 ?
               failf(label, err, "bad_connector", path, "negative") : 0;
    case K_TPL:
        return check_template(label, json_string_value(v), s->arg, path, err);
    case K_OBJ:
        return check_section(label, v, s->arg, path, err);
    case K_HEADERS:
        return check_headers(label, v, path, err);
    case K_FIELDS: {
        char where[360];

        snprintf(where, sizeof(where), "connector %.64s: %.255s", label,
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

static int check_section(const char *label, const json_t *obj,
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
            return failf(label, err, "bad_connector", sub, "unknown key");
        if (check_value(label, v, s, sub, err) < 0)
            return -1;
    }
    for (s = sec->keys; s->key != NULL; s++) {
        join(sub, sizeof(sub), path, s->key);
        if (s->required && json_object_get(obj, s->key) == NULL)
            return failf(label, err, "bad_connector", sub, "missing");
    }
    return sec->check != NULL ? sec->check(label, obj, path, err) : 0;
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

static int check_auth(const char *label, const json_t *obj,
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
            return failf(label, err, "bad_connector", sub, "missing");
    }
    json_object_foreach((json_t *)obj, key, v) {
        join(sub, sizeof(sub), path, key);
        if (strcmp(key, "type") != 0 && !in_list(key, AUTH_NEEDS[i].need) &&
            !in_list(key, AUTH_NEEDS[i].may))
            return failf(label, err, "bad_connector", sub, "not used by auth "
                         "type %s", type);
    }
    return 0;
}

/* source.fields names docsync's fields: a misspelt one ("acountId")
 * would leave the real field empty without a word. */
static int check_source(const char *label, const json_t *obj,
                        const char *path, ds_err *err)
{
    const char *key;
    char base[256], sub[256];
    json_t *v;

    join(base, sizeof(base), path, "fields");
    json_object_foreach(json_object_get(obj, "fields"), key, v) {
        if (in_list(key, SOURCE_FIELDS))
            continue;
        join(sub, sizeof(sub), base, key);
        return failf(label, err, "bad_connector", sub, "not a docsync "
                     "field (documentId, accountId, fileName, mimeType, "
                     "description, createdAt, size)");
    }
    return 0;
}

/* A checksum is read from a field of the document or from a response
 * header (an ETag), one of the two. */
static int check_checksum(const char *label, const json_t *obj,
                          const char *path, ds_err *err)
{
    int field = json_object_get(obj, "field") != NULL;
    int header = json_object_get(obj, "header") != NULL;
    char sub[256];

    join(sub, sizeof(sub), path, "field");
    if (!field && !header)
        return failf(label, err, "bad_connector", sub, "missing (or header)");
    if (field && header)
        return failf(label, err, "bad_connector", sub,
                     "give field or header, not both");
    return 0;
}

/* The strong tier needs a checksum, the processing keys a status field,
 * and processingValues is a list of strings. */
static int check_document(const char *label, const json_t *obj,
                          const char *path, ds_err *err)
{
    const char *tier = json_string_value(json_object_get(obj,
                                                         "verification"));
    const json_t *values = json_object_get(obj, "processingValues");
    char sub[256];
    const json_t *v;
    size_t i;

    join(sub, sizeof(sub), path, "checksum");
    if (tier != NULL && strcmp(tier, "strong") == 0 &&
        json_object_get(obj, "checksum") == NULL)
        return failf(label, err, "bad_connector", sub, "missing: the strong "
                     "verification tier compares a checksum");
    join(sub, sizeof(sub), path, "status");
    if (json_object_get(obj, "status") == NULL &&
        (values != NULL || json_object_get(obj, "processingMaxMs") != NULL))
        return failf(label, err, "bad_connector", sub, "missing: processing "
                     "is told by a status field");
    join(sub, sizeof(sub), path, "processingValues");
    if (values != NULL && (!json_is_array(values) ||
                           json_array_size(values) == 0))
        return failf(label, err, "bad_connector", sub,
                     "not a list of strings");
    json_array_foreach(values, i, v)
        if (!json_is_string(v))
            return failf(label, err, "bad_connector", sub,
                         "not a list of strings");
    return 0;
}

/* A part size of 0 could never end a file; the smallest a part may be is
 * one byte, and destinations name their own floor. */
static int check_chunked(const char *label, const json_t *obj,
                         const char *path, ds_err *err)
{
    const json_t *part = json_object_get(obj, "partBytes");
    const json_t *min = json_object_get(obj, "minBytes");
    const json_t *max = json_object_get(obj, "maxBytes");
    char sub[256];

    join(sub, sizeof(sub), path, "partBytes");
    if (part != NULL && json_integer_value(part) < 1)
        return failf(label, err, "bad_connector", sub, "at least 1");
    join(sub, sizeof(sub), path, "minBytes");
    if (min != NULL && max != NULL &&
        json_integer_value(min) > json_integer_value(max))
        return failf(label, err, "bad_connector", sub, "above maxBytes");
    return 0;
}

/* A part needs a name, and metadataField names the JSON part only: beside
 * one part per field it would be a key that does nothing. */
static int check_multipart(const char *label, const json_t *obj,
                           const char *path, ds_err *err)
{
    const char *shape = json_string_value(json_object_get(obj, "metadata"));
    const json_t *field = json_object_get(obj, "fileField");
    char sub[256];

    join(sub, sizeof(sub), path, "fileField");
    if (field != NULL && json_string_length(field) == 0)
        return failf(label, err, "bad_connector", sub, "empty");
    join(sub, sizeof(sub), path, "metadataField");
    if (json_object_get(obj, "metadataField") != NULL &&
        (shape == NULL || strcmp(shape, "json") != 0))
        return failf(label, err, "bad_connector", sub, "only with "
                     "\"metadata\": \"json\"");
    return 0;
}

/* The one-mode form (mode, contentField, maxBytes) and the modes object
 * say the same thing two ways: one of them. */
static int check_upload(const char *label, const json_t *obj,
                        const char *path, ds_err *err)
{
    static const char *const one_mode[] = {"mode", "contentField",
                                           "maxBytes", NULL};
    const json_t *modes = json_object_get(obj, "modes");
    char sub[256];

    join(sub, sizeof(sub), path, "modes");
    for (size_t i = 0; modes != NULL && one_mode[i] != NULL; i++) {
        if (json_object_get(obj, one_mode[i]) == NULL)
            continue;
        join(sub, sizeof(sub), path, one_mode[i]);
        return failf(label, err, "bad_connector", sub, "give it in "
                     "upload.modes, not beside it");
    }
    if (modes != NULL && json_object_size(modes) == 0)
        return failf(label, err, "bad_connector", sub, "names no mode");
    join(sub, sizeof(sub), path, "maxFileNameBytes");
    if (json_object_get(obj, "maxFileNameBytes") != NULL &&
        json_integer_value(json_object_get(obj, "maxFileNameBytes")) < 1)
        return failf(label, err, "bad_connector", sub, "at least 1");
    return 0;
}

/* Whether destination.upload names mode m (the default upload is one
 * json_base64 mode). */
static int has_mode(const json_t *upload, const char *m)
{
    const json_t *modes = json_object_get(upload, "modes");
    const char *one = json_string_value(json_object_get(upload, "mode"));

    if (modes != NULL)
        return json_object_get(modes, m) != NULL;
    return strcmp(one != NULL ? one : "json_base64", m) == 0;
}

/* Each upload mode the destination offers needs its endpoints. */
static int check_destination(const char *label, const json_t *obj,
                             const char *path, ds_err *err)
{
    static const struct {
        const char *mode;
        const char *endpoint;
    } needs[] = {
        {"json_base64", "upload"}, {"chunked", "sessionStart"},
        {"chunked", "sessionPart"}, {"chunked", "sessionComplete"},
    };
    static const char *const session_ends[] = {
        "sessionPart", "sessionComplete", "sessionStatus", "sessionAbort"};
    const json_t *upload = json_object_get(obj, "upload");
    const json_t *endpoints = json_object_get(obj, "endpoints");
    char base[256], sub[256];

    join(base, sizeof(base), path, "endpoints");
    for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
        if (!has_mode(upload, needs[i].mode) ||
            json_object_get(endpoints, needs[i].endpoint) != NULL)
            continue;
        join(sub, sizeof(sub), base, needs[i].endpoint);
        return failf(label, err, "bad_connector", sub, "missing: the %s "
                     "upload mode needs it", needs[i].mode);
    }
    /* Every request of a session says which session it belongs to. */
    for (size_t i = 0; i < sizeof(session_ends) / sizeof(session_ends[0]);
         i++) {
        const char *tpl = json_string_value(json_object_get(
            endpoints, session_ends[i]));

        join(sub, sizeof(sub), base, session_ends[i]);
        if (tpl != NULL && strstr(tpl, "{sessionId}") == NULL)
            return failf(label, err, "bad_connector", sub,
                         "does not use {sessionId}");
    }
    join(sub, sizeof(sub), base, "upload");
    if (has_mode(upload, "multipart") &&
        json_object_get(endpoints, "upload") == NULL &&
        json_object_get(endpoints, "multipartUpload") == NULL)
        return failf(label, err, "bad_connector", sub, "missing (or "
                     "multipartUpload): the multipart upload mode needs it");
    return 0;
}

int ds_connector_check(const char *label, json_t *root, ds_err *err)
{
    if (!json_is_object(root))
        return failf(label, err, "bad_connector", "(top)",
                     "not a JSON object");
    if (resolve_env(label, root, "", err) < 0)
        return -1;
    return check_section(label, root, &ROOT, "", err);
}
