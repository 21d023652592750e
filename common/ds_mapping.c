/* ds_mapping.c - the accountId to transactionId table; see ds_mapping.h. */
#include "ds_mapping.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ds_mapping {
    json_t *table;  /* object: accountId -> transactionId string, or an
                     * array of them in DS_MAPPING_KEEP_DUPLICATES mode */
    ds_mapping_mode mode;
};

/* Keeps a second, different transaction of an account: the value becomes
 * (or grows) an array of the distinct ids. */
static int keep_duplicate(ds_mapping *m, const char *account,
                          json_t *have, const char *txn)
{
    json_t *ids = json_is_array(have) ? json_incref(have) :
                  json_pack("[O]", have);
    size_t i;

    if (ids == NULL)
        return -1;
    for (i = 0; i < json_array_size(ids); i++)
        if (strcmp(json_string_value(json_array_get(ids, i)), txn) == 0)
            break;
    if (i == json_array_size(ids))
        json_array_append_new(ids, json_string(txn));
    return json_object_set_new(m->table, account, ids);
}

/* Adds one pair; the same pair twice is fine, a conflicting one is not
 * unless the table keeps duplicates. */
static int add_pair(ds_mapping *m, const char *account, const char *txn,
                    const char *where, ds_err *err)
{
    json_t *had = json_object_get(m->table, account);
    const char *have = json_string_value(had);

    if (account[0] == '\0' || txn[0] == '\0')
        return ds_err_set(err, "bad_mapping",
                          "%s: empty accountId or transactionId", where);
    if (had != NULL && m->mode == DS_MAPPING_KEEP_DUPLICATES) {
        if (keep_duplicate(m, account, had, txn) < 0)
            return ds_err_set(err, "bad_mapping",
                              "%s: not valid UTF-8", where);
        return 0;
    }
    if (have != NULL && strcmp(have, txn) != 0)
        return ds_err_set(err, "ambiguous_mapping",
                          "%s: account %s maps to both %s and %s", where,
                          account, have, txn);
    if (json_object_set_new(m->table, account, json_string(txn)) < 0)
        return ds_err_set(err, "bad_mapping",
                          "%s: not valid UTF-8", where);
    return 0;
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int load_csv(ds_mapping *m, FILE *fp, const char *path, ds_err *err)
{
    char line[1024], where[600];
    int lineno = 0;

    while (fgets(line, sizeof(line), fp) != NULL) {
        char *s = trim(line), *comma;

        lineno++;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        if (*s == '\0' || *s == '#')
            continue;
        comma = strchr(s, ',');
        if (comma == NULL || strchr(comma + 1, ',') != NULL)
            return ds_err_set(err, "bad_mapping",
                              "%s: expected accountId,transactionId", where);
        *comma = '\0';
        /* The header line names the columns; it maps nothing. */
        if (lineno == 1 && strcmp(trim(s), "accountId") == 0)
            continue;
        if (add_pair(m, trim(s), trim(comma + 1), where, err) < 0)
            return -1;
    }
    return 0;
}

static int load_json(ds_mapping *m, const char *path, ds_err *err)
{
    json_error_t jerr;
    /* A key given twice would silently take its last value: refused like
     * an account mapped twice in a CSV. */
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr), *list,
           *v;
    const char *key;
    size_t i;
    int rc = 0;

    if (root == NULL)
        return ds_err_set(err, "bad_mapping",
                          "%s:%d: %s", path, jerr.line, jerr.text);
    list = json_object_get(root, "mappings");
    if (json_is_array(list)) {
        json_array_foreach(list, i, v) {
            const char *a = json_string_value(json_object_get(v,
                                                              "accountId"));
            const char *t = json_string_value(
                json_object_get(v, "transactionId"));

            if (a == NULL || t == NULL) {
                rc = ds_err_set(err, "bad_mapping",
                                "%s: mappings[%zu] needs accountId and "
                                "transactionId strings", path, i);
                break;
            }
            if ((rc = add_pair(m, a, t, path, err)) < 0)
                break;
        }
    } else if (json_is_object(root)) {
        json_object_foreach(root, key, v) {
            if (!json_is_string(v)) {
                rc = ds_err_set(err, "bad_mapping",
                                "%s: value of %s is not a string", path,
                                key);
                break;
            }
            if ((rc = add_pair(m, key, json_string_value(v), path, err)) < 0)
                break;
        }
    } else {
        rc = ds_err_set(err, "bad_mapping",
                        "%s: expected a JSON object", path);
    }
    json_decref(root);
    return rc;
}

ds_mapping *ds_mapping_load(const char *path, ds_err *err)
{
    return ds_mapping_load_mode(path, DS_MAPPING_UNIQUE, err);
}

ds_mapping *ds_mapping_load_mode(const char *path, ds_mapping_mode mode,
                                 ds_err *err)
{
    ds_mapping *m = calloc(1, sizeof(*m));
    FILE *fp = NULL;
    int ch, rc;

    if (m == NULL || (m->table = json_object()) == NULL) {
        free(m);
        ds_err_set(err, "out_of_memory", "mapping");
        return NULL;
    }
    m->mode = mode;
    fp = fopen(path, "r");
    if (fp == NULL) {
        ds_err_set(err, "bad_mapping",
                   "cannot open %s", path);
        ds_mapping_free(m);
        return NULL;
    }
    /* A JSON file starts with '{' after any white space. */
    do {
        ch = fgetc(fp);
    } while (ch != EOF && isspace(ch));
    if (ch == '{') {
        rc = load_json(m, path, err);
    } else {
        rewind(fp);
        rc = load_csv(m, fp, path, err);
    }
    fclose(fp);
    if (rc < 0) {
        ds_mapping_free(m);
        return NULL;
    }
    return m;
}

const char *ds_mapping_lookup(const ds_mapping *m, const char *account_id)
{
    return json_string_value(json_object_get(m->table, account_id));
}

const json_t *ds_mapping_table(const ds_mapping *m)
{
    return m->table;
}

size_t ds_mapping_count(const ds_mapping *m)
{
    return json_object_size(m->table);
}

void ds_mapping_free(ds_mapping *m)
{
    if (m == NULL)
        return;
    json_decref(m->table);
    free(m);
}
