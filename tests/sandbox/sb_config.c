/* sb_config.c - the strict modes' configuration; see sb_config.h. */
#include "sb_config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TTL_S 30.0
#define FIELD_MAX 128

struct sb_config {
    pthread_mutex_t lock;
    json_t *doc;             /* always an object */
};

static const char *const api_names[SB_API_COUNT] = {"crm", "tx"};

static const char *const style_names[] = {
    "x-ratelimit", "ratelimit", "retry-after-seconds", "retry-after-date"
};

#define N_STYLES (sizeof(style_names) / sizeof(style_names[0]))

const char *sb_api_name(sb_api api)
{
    return api < SB_API_COUNT ? api_names[api] : "?";
}

/* Names the bad field and returns -1, for the validators below. */
static int bad(char field[FIELD_MAX], const char *a, const char *b,
               const char *c)
{
    snprintf(field, FIELD_MAX, "%s%s%s%s%s", a, b ? "." : "", b ? b : "",
             c ? "." : "", c ? c : "");
    return -1;
}

static int is_positive_int(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) > 0;
}

/* auth: {"crm": {"mode": "api_key" | "oauth2"}, "tx": {...}}. */
static int check_auth(json_t *auth, char field[FIELD_MAX])
{
    for (int i = 0; i < SB_API_COUNT; i++) {
        json_t *a = json_object_get(auth, api_names[i]);
        const char *mode = json_string_value(json_object_get(a, "mode"));

        if (a == NULL)
            continue;
        if (mode == NULL || (strcmp(mode, "api_key") != 0 &&
                             strcmp(mode, "oauth2") != 0))
            return bad(field, "auth", api_names[i], "mode");
    }
    return 0;
}

/* One client of oauth2.clients. */
static int check_client(json_t *c, char field[FIELD_MAX])
{
    const char *api = json_string_value(json_object_get(c, "api"));
    json_t *grants = json_object_get(c, "grants");
    json_t *seed = json_object_get(c, "refreshToken");

    if (!json_is_string(json_object_get(c, "clientId")))
        return bad(field, "oauth2.clients", "clientId", NULL);
    if (!json_is_string(json_object_get(c, "clientSecret")))
        return bad(field, "oauth2.clients", "clientSecret", NULL);
    if (api == NULL || (strcmp(api, "crm") != 0 && strcmp(api, "tx") != 0))
        return bad(field, "oauth2.clients", "api", NULL);
    if (!json_is_array(grants))
        return bad(field, "oauth2.clients", "grants", NULL);
    if (seed != NULL && !json_is_string(seed))
        return bad(field, "oauth2.clients", "refreshToken", NULL);
    return 0;
}

static int check_oauth2(json_t *o, char field[FIELD_MAX])
{
    json_t *ttl = json_object_get(o, "accessTokenTtlS");
    json_t *clients = json_object_get(o, "clients"), *c;
    size_t i;

    if (ttl != NULL && (!json_is_number(ttl) || json_number_value(ttl) <= 0))
        return bad(field, "oauth2", "accessTokenTtlS", NULL);
    if (clients != NULL && !json_is_array(clients))
        return bad(field, "oauth2", "clients", NULL);
    json_array_foreach(clients, i, c)
        if (check_client(c, field) != 0)
            return -1;
    return 0;
}

static int style_parse(const char *s)
{
    for (size_t i = 0; s != NULL && i < N_STYLES; i++)
        if (strcmp(s, style_names[i]) == 0)
            return (int)i;
    return -1;
}

static int check_rate(json_t *rl, char field[FIELD_MAX])
{
    for (int i = 0; i < SB_API_COUNT; i++) {
        json_t *r = json_object_get(rl, api_names[i]);
        json_t *style;

        if (r == NULL)
            continue;
        if (!is_positive_int(json_object_get(r, "requests")))
            return bad(field, "rateLimit", api_names[i], "requests");
        if (!is_positive_int(json_object_get(r, "windowMs")))
            return bad(field, "rateLimit", api_names[i], "windowMs");
        style = json_object_get(r, "style");
        if (style != NULL && style_parse(json_string_value(style)) < 0)
            return bad(field, "rateLimit", api_names[i], "style");
    }
    return 0;
}

static int check_webhooks(json_t *w, char field[FIELD_MAX])
{
    json_t *delays = json_object_get(w, "retryDelaysMs");
    json_t *dup = json_object_get(w, "duplicateRate"), *d;
    size_t i;

    if (delays != NULL && (!json_is_array(delays) ||
                           json_array_size(delays) > SB_WEBHOOK_RETRIES_MAX))
        return bad(field, "webhooks", "retryDelaysMs", NULL);
    json_array_foreach(delays, i, d)
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return bad(field, "webhooks", "retryDelaysMs", NULL);
    if (dup != NULL && (!json_is_number(dup) || json_number_value(dup) < 0 ||
                        json_number_value(dup) > 1))
        return bad(field, "webhooks", "duplicateRate", NULL);
    return 0;
}

static int check_subscription(json_t *s, char field[FIELD_MAX])
{
    const char *h = json_string_value(json_object_get(s, "header"));
    const char *v = json_string_value(json_object_get(s, "value"));

    if (h == NULL || *h == '\0' || strlen(h) >= 64)
        return bad(field, "subscriptionKey", "header", NULL);
    if (v == NULL || strlen(v) >= 256)
        return bad(field, "subscriptionKey", "value", NULL);
    if (!json_is_array(json_object_get(s, "apis")))
        return bad(field, "subscriptionKey", "apis", NULL);
    return 0;
}

/* True when v is absent, or an integer in [min, max]. */
static int int_in(json_t *v, json_int_t min, json_int_t max)
{
    return v == NULL || (json_is_integer(v) && json_integer_value(v) >= min &&
                         json_integer_value(v) <= max);
}

/* tx.limits: {"json": N, "multipart": N, "chunked": N}, each >= 0. */
static int check_limits(json_t *l, char field[FIELD_MAX])
{
    static const char *const modes[] = {"json", "multipart", "chunked"};

    if (!json_is_object(l))
        return bad(field, "tx", "limits", NULL);
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (!int_in(json_object_get(l, modes[i]), 0, INT64_MAX))
            return bad(field, "tx", "limits", modes[i]);
    return 0;
}

/* tx: {"processingMs": N >= 0, "etag": "md5" | "opaque", "limits": {...},
 * "partBytes", "sessionTtlMs", "maxFileNameBytes"}. */
static int check_tx(json_t *t, char field[FIELD_MAX])
{
    const char *etag = json_string_value(json_object_get(t, "etag"));
    json_t *limits = json_object_get(t, "limits");

    if (!int_in(json_object_get(t, "processingMs"), 0, INT64_MAX))
        return bad(field, "tx", "processingMs", NULL);
    if (json_object_get(t, "etag") != NULL &&
        (etag == NULL || (strcmp(etag, "md5") != 0 &&
                          strcmp(etag, "opaque") != 0)))
        return bad(field, "tx", "etag", NULL);
    if (limits != NULL && check_limits(limits, field) != 0)
        return -1;
    if (!int_in(json_object_get(t, "partBytes"), 1, SB_PART_BYTES_MAX))
        return bad(field, "tx", "partBytes", NULL);
    if (!int_in(json_object_get(t, "sessionTtlMs"), 1,
                SB_SESSION_TTL_MS_MAX))
        return bad(field, "tx", "sessionTtlMs", NULL);
    if (!int_in(json_object_get(t, "maxFileNameBytes"), 1,
                SB_FILE_NAME_BYTES_MAX))
        return bad(field, "tx", "maxFileNameBytes", NULL);
    return 0;
}

/* Validates a whole document. Each section is optional; a section that is
 * there must be an object of the documented shape. */
static int check_doc(json_t *doc, char field[FIELD_MAX])
{
    static const char *const sections[] = {
        "auth", "oauth2", "rateLimit", "webhooks", "subscriptionKey", "tx"
    };
    static int (*const checks[])(json_t *, char *) = {
        check_auth, check_oauth2, check_rate, check_webhooks,
        check_subscription, check_tx
    };

    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        json_t *s = json_object_get(doc, sections[i]);

        if (s == NULL)
            continue;
        if (!json_is_object(s))
            return bad(field, sections[i], NULL, NULL);
        if (checks[i](s, field) != 0)
            return -1;
    }
    return 0;
}

sb_config *sb_config_new(const char *file, ds_err *err)
{
    sb_config *cfg = calloc(1, sizeof(*cfg));
    char field[FIELD_MAX];
    json_error_t jerr;
    json_t *doc = NULL;

    if (cfg == NULL || pthread_mutex_init(&cfg->lock, NULL) != 0) {
        free(cfg);
        ds_err_set(err, "oom", "out of memory");
        return NULL;
    }
    cfg->doc = json_object();
    if (cfg->doc == NULL) {
        ds_err_set(err, "oom", "out of memory");
        goto fail;
    }
    if (file == NULL)
        return cfg;
    doc = json_load_file(file, 0, &jerr);
    if (doc == NULL) {
        ds_err_set(err, "bad_config", "%s: %s", file, jerr.text);
        goto fail;
    }
    if (!json_is_object(doc) || sb_config_merge(cfg, doc, field) != 0) {
        ds_err_set(err, "bad_config", "%s: %s: invalid", file,
                   json_is_object(doc) ? field : "(document)");
        goto fail;
    }
    json_decref(doc);
    return cfg;

fail:
    json_decref(doc);
    sb_config_free(cfg);
    return NULL;
}

void sb_config_free(sb_config *cfg)
{
    if (cfg == NULL)
        return;
    json_decref(cfg->doc);
    pthread_mutex_destroy(&cfg->lock);
    free(cfg);
}

/* Applies patch to target as a JSON merge patch (RFC 7386): objects merge
 * key by key, null removes a key, anything else replaces. */
static int merge_patch(json_t *target, json_t *patch)
{
    const char *key;
    json_t *v, *have;

    json_object_foreach(patch, key, v) {
        have = json_object_get(target, key);
        if (json_is_null(v)) {
            json_object_del(target, key);
        } else if (json_is_object(v) && json_is_object(have)) {
            if (merge_patch(have, v) != 0)
                return -1;
        } else if (json_object_set(target, key, v) != 0) {
            return -1;
        }
    }
    return 0;
}

int sb_config_merge(sb_config *cfg, json_t *patch, char field[FIELD_MAX])
{
    json_t *next;
    int rc = -1;

    snprintf(field, FIELD_MAX, "(document)");
    pthread_mutex_lock(&cfg->lock);
    next = json_deep_copy(cfg->doc);
    if (next != NULL && merge_patch(next, patch) == 0 &&
        check_doc(next, field) == 0) {
        json_decref(cfg->doc);
        cfg->doc = next;
        next = NULL;
        rc = 0;
    }
    pthread_mutex_unlock(&cfg->lock);
    json_decref(next);
    return rc;
}

/* The settings that have a default, as GET /admin/config shows them when
 * nothing is configured; NULL when out of memory. */
static json_t *defaults_doc(void)
{
    return json_pack("{s:{s:I,s:s,s:{s:I,s:I,s:I},s:I,s:I,s:I}}", "tx",
                     "processingMs", (json_int_t)0, "etag", "md5", "limits",
                     "json", (json_int_t)SB_LIMIT_JSON_DEFAULT, "multipart",
                     (json_int_t)SB_LIMIT_MULTIPART_DEFAULT, "chunked",
                     (json_int_t)SB_LIMIT_CHUNKED_DEFAULT, "partBytes",
                     (json_int_t)SB_PART_BYTES_DEFAULT, "sessionTtlMs",
                     (json_int_t)SB_SESSION_TTL_MS_DEFAULT, "maxFileNameBytes",
                     (json_int_t)SB_FILE_NAME_BYTES_DEFAULT);
}

json_t *sb_config_get(sb_config *cfg)
{
    json_t *shown = defaults_doc();
    json_t *doc;

    pthread_mutex_lock(&cfg->lock);
    doc = json_deep_copy(cfg->doc);
    pthread_mutex_unlock(&cfg->lock);
    /* The document never holds a null (the merge removes them), so this
     * only lays what is configured over the defaults. */
    if (shown == NULL || doc == NULL || merge_patch(shown, doc) != 0) {
        json_decref(shown);
        shown = NULL;
    }
    json_decref(doc);
    return shown;
}

/* doc[a][b] with the lock held; NULL when absent. */
static json_t *get2(sb_config *cfg, const char *a, const char *b)
{
    return json_object_get(json_object_get(cfg->doc, a), b);
}

int sb_config_oauth2(sb_config *cfg, sb_api api)
{
    const char *mode;
    int yes;

    pthread_mutex_lock(&cfg->lock);
    mode = json_string_value(json_object_get(get2(cfg, "auth",
                                                  sb_api_name(api)),
                                             "mode"));
    yes = mode != NULL && strcmp(mode, "oauth2") == 0;
    pthread_mutex_unlock(&cfg->lock);
    return yes;
}

int sb_config_rate(sb_config *cfg, sb_api api, sb_rate_rule *rule)
{
    json_t *r;
    int style;

    pthread_mutex_lock(&cfg->lock);
    r = get2(cfg, "rateLimit", sb_api_name(api));
    if (r != NULL) {
        rule->requests = (long)json_integer_value(
            json_object_get(r, "requests"));
        rule->window_ms = (long)json_integer_value(
            json_object_get(r, "windowMs"));
        style = style_parse(json_string_value(json_object_get(r, "style")));
        rule->style = style < 0 ? SB_STYLE_X_RATELIMIT : (sb_rate_style)style;
    }
    pthread_mutex_unlock(&cfg->lock);
    return r != NULL;
}

long sb_config_token_ttl_ms(sb_config *cfg)
{
    json_t *ttl;
    double s;

    pthread_mutex_lock(&cfg->lock);
    ttl = get2(cfg, "oauth2", "accessTokenTtlS");
    s = ttl != NULL ? json_number_value(ttl) : DEFAULT_TTL_S;
    pthread_mutex_unlock(&cfg->lock);
    return (long)(s * 1000.0);
}

json_t *sb_config_client(sb_config *cfg, const char *id)
{
    json_t *clients, *c, *found = NULL;
    size_t i;

    pthread_mutex_lock(&cfg->lock);
    clients = get2(cfg, "oauth2", "clients");
    json_array_foreach(clients, i, c) {
        const char *cid = json_string_value(json_object_get(c, "clientId"));

        if (id != NULL && cid != NULL && strcmp(cid, id) == 0) {
            found = json_deep_copy(c);
            break;
        }
    }
    pthread_mutex_unlock(&cfg->lock);
    return found;
}

void sb_config_webhooks(sb_config *cfg, sb_webhook_cfg *w)
{
    json_t *delays, *d;
    size_t i;

    memset(w, 0, sizeof(*w));
    pthread_mutex_lock(&cfg->lock);
    delays = get2(cfg, "webhooks", "retryDelaysMs");
    json_array_foreach(delays, i, d) {
        if (w->n < SB_WEBHOOK_RETRIES_MAX)
            w->delays_ms[w->n++] = (long)json_integer_value(d);
    }
    w->duplicate_rate = json_number_value(get2(cfg, "webhooks",
                                               "duplicateRate"));
    pthread_mutex_unlock(&cfg->lock);
}

/* True when the array apis holds the string name. */
static int names(json_t *apis, const char *name)
{
    json_t *a;
    size_t i;

    json_array_foreach(apis, i, a)
        if (json_is_string(a) && strcmp(json_string_value(a), name) == 0)
            return 1;
    return 0;
}

int sb_config_subscription(sb_config *cfg, const char *api_name,
                           char header[64], char value[256])
{
    json_t *s;
    int yes;

    pthread_mutex_lock(&cfg->lock);
    s = json_object_get(cfg->doc, "subscriptionKey");
    yes = s != NULL && names(json_object_get(s, "apis"), api_name);
    if (yes) {
        snprintf(header, 64, "%s",
                 json_string_value(json_object_get(s, "header")));
        snprintf(value, 256, "%s",
                 json_string_value(json_object_get(s, "value")));
    }
    pthread_mutex_unlock(&cfg->lock);
    return yes;
}

void sb_config_tx(sb_config *cfg, long *processing_ms, int *opaque_etag)
{
    const char *etag;

    pthread_mutex_lock(&cfg->lock);
    *processing_ms = (long)json_integer_value(get2(cfg, "tx",
                                                   "processingMs"));
    etag = json_string_value(get2(cfg, "tx", "etag"));
    *opaque_etag = etag != NULL && strcmp(etag, "opaque") == 0;
    pthread_mutex_unlock(&cfg->lock);
}

/* tx[key], or tx.limits[key] when in_limits, as an integer; def when not
 * configured. Called with the lock held. */
static int64_t tx_int(sb_config *cfg, int in_limits, const char *key,
                      int64_t def)
{
    json_t *tx = json_object_get(cfg->doc, "tx");
    json_t *v = json_object_get(in_limits ? json_object_get(tx, "limits")
                                          : tx, key);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

void sb_config_uploads(sb_config *cfg, sb_upload_cfg *u)
{
    pthread_mutex_lock(&cfg->lock);
    u->limit_json = tx_int(cfg, 1, "json", SB_LIMIT_JSON_DEFAULT);
    u->limit_multipart = tx_int(cfg, 1, "multipart",
                                SB_LIMIT_MULTIPART_DEFAULT);
    u->limit_chunked = tx_int(cfg, 1, "chunked", SB_LIMIT_CHUNKED_DEFAULT);
    u->part_bytes = tx_int(cfg, 0, "partBytes", SB_PART_BYTES_DEFAULT);
    u->session_ttl_ms = tx_int(cfg, 0, "sessionTtlMs",
                               SB_SESSION_TTL_MS_DEFAULT);
    u->max_file_name_bytes = tx_int(cfg, 0, "maxFileNameBytes",
                                    SB_FILE_NAME_BYTES_DEFAULT);
    pthread_mutex_unlock(&cfg->lock);
}
