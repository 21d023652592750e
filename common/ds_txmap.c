/* ds_txmap.c - the mapper's Redis and lookup sources; see ds_txmap.h. */
#include "ds_txmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_connector.h"
#include "ds_fields.h"

/* Copies the string at path, or fallback when absent; names the path. */
static int cfg_str(const json_t *c, const char *path, const char *fallback,
                   char *out, size_t cap, ds_err *err)
{
    json_t *v = ds_json_path(c, path);
    const char *s = v == NULL ? fallback : json_string_value(v);

    if (s == NULL && v == NULL)
        return ds_err_set(err, "bad_connector", "%s: missing", path);
    if (s == NULL || s[0] == '\0' || strlen(s) >= cap)
        return ds_err_set(err, "bad_connector", "%s: must be a string of "
                          "1 to %zu bytes", path, cap - 1);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

/* A whole number of seconds at path, at least 1, or fallback. */
static int cfg_ttl(const json_t *c, const char *path, long fallback,
                   long *out, ds_err *err)
{
    json_t *v = ds_json_path(c, path);

    *out = fallback;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return ds_err_set(err, "bad_connector",
                          "%s: must be a whole number of seconds, >= 1",
                          path);
    *out = (long)json_integer_value(v);
    return 0;
}

static int cfg_source(const json_t *c, ds_txmap_cfg *cfg, ds_err *err)
{
    static const char *const names[] = {"file", "redis", "lookup"};
    char name[16];
    size_t i;

    if (cfg_str(c, "transactions.source", "file", name, sizeof(name),
                err) < 0)
        return -1;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0) {
            cfg->source = (ds_txmap_source)i;
            return 0;
        }
    return ds_err_set(err, "bad_connector", "transactions.source: %s is "
                      "not file, redis or lookup", name);
}

int ds_txmap_cfg_parse(const json_t *c, ds_txmap_cfg *cfg, ds_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    if (cfg_source(c, cfg, err) < 0 ||
        cfg_ttl(c, "transactions.cacheTtlS", 300, &cfg->cache_ttl_s,
                err) < 0 ||
        cfg_ttl(c, "transactions.emptyCacheTtlS", 60, &cfg->empty_ttl_s,
                err) < 0)
        return -1;
    if (cfg->source != DS_TXMAP_LOOKUP)
        return 0;
    if (cfg_str(c, "destination.endpoints.accounts", NULL, cfg->accounts,
                sizeof(cfg->accounts), err) < 0 ||
        cfg_str(c, "destination.accounts.items", NULL, cfg->items,
                sizeof(cfg->items), err) < 0 ||
        cfg_str(c, "destination.accounts.id", NULL, cfg->id,
                sizeof(cfg->id), err) < 0)
        return -1;
    /* Without {accountId} every account would get the same answer. */
    if (strstr(cfg->accounts, "{accountId}") == NULL)
        return ds_err_set(err, "bad_connector", "destination.endpoints."
                          "accounts: must contain {accountId}");
    return 0;
}

int ds_txmap_pick(const json_t *ids, const char *account, char **txn,
                  ds_err *err)
{
    size_t n = json_array_size(ids);

    if (n == 0)
        return ds_err_set(err, "unmapped_account",
                          "no transaction for account %.64s", account);
    if (n > 1)
        return ds_err_set(err, "ambiguous_mapping", "account %.64s has %zu "
                          "transactions; docsync does not guess", account, n);
    *txn = strdup(json_string_value(json_array_get(ids, 0)));
    return *txn != NULL ? 0 : ds_err_set(err, "out_of_memory", "txmap");
}

/* Reads a stored value: one id, or a JSON array of id strings. Returns a
 * new array, or NULL when the value is neither. */
static json_t *stored_ids(const char *value)
{
    json_t *ids, *v;
    size_t i;

    if (value[0] != '[')
        return json_pack("[s]", value);
    ids = json_loads(value, 0, NULL);
    json_array_foreach(ids, i, v)
        if (!json_is_string(v)) {
            json_decref(ids);
            return NULL;
        }
    if (!json_is_array(ids)) {
        json_decref(ids);
        return NULL;
    }
    return ids;
}

/* GETs key from Redis into *ids: the stored array, or NULL when absent. */
static int redis_ids(ds_redis *r, const char *cmd, const char *key,
                     const char *field, json_t **ids, ds_err *err)
{
    redisReply *rep = field != NULL ?
        ds_redis_cmd(r, err, "%s %s %s", cmd, key, field) :
        ds_redis_cmd(r, err, "%s %s", cmd, key);
    int rc = 0;

    *ids = NULL;
    if (rep == NULL)
        return -1;
    if (rep->type == REDIS_REPLY_STRING) {
        *ids = stored_ids(rep->str);
        if (*ids == NULL)
            rc = ds_err_set(err, "bad_mapping", "%s %s holds neither an id "
                            "nor a JSON array of ids", key,
                            field ? field : "");
    } else if (rep->type != REDIS_REPLY_NIL) {
        rc = ds_err_set(err, "redis_error", "%s %s: unexpected reply", cmd,
                        key);
    }
    freeReplyObject(rep);
    return rc;
}

int ds_txmap_from_redis(ds_redis *r, const char *account, char **txn,
                        ds_err *err)
{
    json_t *ids;
    int rc;

    if (redis_ids(r, "HGET", DS_TXMAP_HASH, account, &ids, err) < 0)
        return -1;
    rc = ds_txmap_pick(ids, account, txn, err);
    json_decref(ids);
    return rc;
}

/* The distinct ids of the items of a lookup's answer, as a new array. An
 * item without a string or integer id makes the answer unreadable. */
static json_t *answer_ids(const ds_txmap_cfg *cfg, const json_t *body,
                          ds_err *err)
{
    json_t *items = ds_json_path(body, cfg->items), *ids, *item, *v;
    char text[64];
    size_t i, j;

    if (!json_is_array(items)) {
        ds_err_set(err, "bad_response", "accounts lookup: no array at %s",
                   cfg->items);
        return NULL;
    }
    ids = json_array();
    json_array_foreach(items, i, item) {
        v = ds_json_path(item, cfg->id);
        if (json_is_integer(v))
            snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        if (!json_is_string(v) && !json_is_integer(v)) {
            ds_err_set(err, "bad_response", "accounts lookup: %s[%zu] has "
                       "no id at %s", cfg->items, i, cfg->id);
            json_decref(ids);
            return NULL;
        }
        v = json_is_string(v) ? json_copy(v) : json_string(text);
        for (j = 0; j < json_array_size(ids); j++)
            if (json_equal(json_array_get(ids, j), v))
                break;
        if (j == json_array_size(ids))
            json_array_append(ids, v);
        json_decref(v);
    }
    return ids;
}

/* Keeps a lookup's answer for the TTL its size calls for. A failure here
 * costs one more lookup later, not the answer in hand: it is not
 * reported. */
static void cache_put(const ds_txmap_cfg *cfg, ds_redis *r, const char *key,
                      const json_t *ids)
{
    long ttl = json_array_size(ids) == 0 ? cfg->empty_ttl_s :
               cfg->cache_ttl_s;
    char *text = json_dumps(ids, JSON_COMPACT);
    redisReply *rep;
    ds_err err;

    ds_err_clear(&err);
    if (text == NULL)
        return;
    rep = ds_redis_cmd(r, &err, "SET %s %s EX %ld", key, text, ttl);
    if (rep != NULL)
        freeReplyObject(rep);
    free(text);
}

int ds_txmap_from_lookup(const ds_txmap_cfg *cfg, ds_redis *r,
                         ds_txmap_get_fn get, void *ctx, const char *account,
                         char **txn, ds_err *err)
{
    char key[512], path[1024];
    json_t *ids = NULL, *body;
    int rc;

    snprintf(key, sizeof(key), "%s%.400s", DS_TXMAP_CACHE_PREFIX, account);
    if (redis_ids(r, "GET", key, NULL, &ids, err) < 0)
        return -1;
    if (ids == NULL) {
        if (ds_template_expand1(cfg->accounts, "accountId", account, path,
                           sizeof(path), err) < 0 ||
            (body = get(ctx, path, err)) == NULL)
            return -1;
        ids = answer_ids(cfg, body, err);
        json_decref(body);
        if (ids == NULL)
            return -1;
        cache_put(cfg, r, key, ids);
    }
    rc = ds_txmap_pick(ids, account, txn, err);
    json_decref(ids);
    return rc;
}
