/* ctl_mapping.c - `docsyncctl mapping`; see ctl_mapping.h. */
#include "ctl_mapping.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_msg.h"
#include "ctl_opt.h"
#include "ds_mapping.h"
#include "ds_txmap.h"

#define NEW_KEY DS_TXMAP_HASH ":new"
#define BATCH 256              /* accounts per HSET */

static const char HELP[] =
    "usage: docsyncctl mapping load FILE\n"
    "       docsyncctl mapping show [ACCOUNT]\n"
    "       docsyncctl mapping clear-cache [ACCOUNT]\n"
    "\n"
    "load replaces the Redis hash docsync:mapping (read by the mapper with\n"
    "MAPPING_SOURCE=redis) with the table in FILE, CSV or JSON as for\n"
    "MAPPING_FILE, all at once. An account named twice with different\n"
    "transactions is stored with all of them and its documents fail as\n"
    "ambiguous_mapping; the same pair twice is just that pair.\n"
    "show prints the hash, or one account's value.\n"
    "clear-cache forgets the lookups cached with MAPPING_SOURCE=lookup, all\n"
    "of them or one account's.\n";

static int help(void)
{
    fputs(HELP, stdout);
    return CTL_EXIT_OK;
}

/* True when the account's value names two different transactions. The
 * table holds distinct ids, so an account whose one pair was repeated
 * comes as an array of one. */
static int is_ambiguous(const json_t *v)
{
    return json_is_array(v) && json_array_size(v) > 1;
}

/* The Redis value of one account: its id, or its ids as a JSON array. A
 * repeated pair is stored as the single id, as the mapper expects it. */
static char *value_text(const json_t *v)
{
    if (json_is_array(v) && json_array_size(v) == 1)
        v = json_array_get(v, 0);
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT);
}

/* Sends one HSET of n accounts (argv holds "HSET", key, then pairs) and
 * frees the values it built. Returns 0 or -1. */
static int hset_batch(ds_redis *r, const char **argv, size_t n, ds_err *err)
{
    redisReply *rep = ds_redis_argv(r, err, (int)(2 + 2 * n), argv, NULL);
    size_t i;
    int rc = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? 0 : -1;

    if (rep != NULL && rc < 0)
        ds_err_set(err, "redis_error", "HSET %s: %s", NEW_KEY,
                   rep->type == REDIS_REPLY_ERROR ? rep->str : "refused");
    if (rep != NULL)
        freeReplyObject(rep);
    for (i = 0; i < n; i++)
        free((char *)argv[3 + 2 * i]);
    return rc;
}

/* Writes the table into NEW_KEY, BATCH accounts per command. */
static int write_new(ds_redis *r, const json_t *table, ds_err *err)
{
    const char *argv[2 + 2 * BATCH] = {"HSET", NEW_KEY};
    const char *account;
    json_t *v;
    size_t n = 0;

    json_object_foreach((json_t *)table, account, v) {
        argv[2 + 2 * n] = account;
        argv[3 + 2 * n] = value_text(v);
        if (argv[3 + 2 * n] == NULL)
            return ds_err_set(err, "out_of_memory", "mapping value");
        if (++n == BATCH) {
            if (hset_batch(r, argv, n, err) < 0)
                return -1;
            n = 0;
        }
    }
    return n > 0 ? hset_batch(r, argv, n, err) : 0;
}

/* Runs one command whose reply is not an error. Returns 0 or -1. */
static int run(ds_redis *r, ds_err *err, const char *cmd, const char *a,
               const char *b)
{
    const char *argv[] = {cmd, a, b};
    redisReply *rep = ds_redis_argv(r, err, b != NULL ? 3 : 2, argv, NULL);
    int rc = rep != NULL && rep->type != REDIS_REPLY_ERROR ? 0 : -1;

    if (rep != NULL && rc < 0)
        ds_err_set(err, "redis_error", "%s %s: %s", cmd, a, rep->str);
    if (rep != NULL)
        freeReplyObject(rep);
    return rc;
}

/* Counts the accounts of table that have two different transactions. */
static size_t ambiguous_count(const json_t *table)
{
    const char *account;
    size_t n = 0;
    json_t *v;

    json_object_foreach((json_t *)table, account, v)
        n += is_ambiguous(v);
    return n;
}

int ctl_mapping_load(ctl_conf *conf, int argc, char **argv)
{
    ds_mapping *m;
    ds_redis *r;
    ds_err err;
    int rc = CTL_EXIT_OK;

    (void)conf;
    if (ctl_opt_wants_help(argc, argv))
        return help();
    if (argc != 1)
        return ctl_usage_error("mapping load", "give one FILE");
    ds_err_clear(&err);
    m = ds_mapping_load_mode(argv[0], DS_MAPPING_KEEP_DUPLICATES, &err);
    if (m == NULL)
        return ctl_error("%s", err.msg);
    /* An empty hash would unmap every account at once. */
    if (ds_mapping_count(m) == 0) {
        ds_mapping_free(m);
        return ctl_error("%s maps no account; nothing loaded", argv[0]);
    }
    r = ctl_conf_redis();
    if (r == NULL) {
        ds_mapping_free(m);
        return CTL_EXIT_FAIL;
    }
    if (run(r, &err, "DEL", NEW_KEY, NULL) < 0 ||
        write_new(r, ds_mapping_table(m), &err) < 0 ||
        run(r, &err, "RENAME", NEW_KEY, DS_TXMAP_HASH) < 0)
        rc = ctl_error("mapping not loaded: %s", err.msg);
    else
        printf("%zu accounts loaded into %s, %zu ambiguous\n",
               ds_mapping_count(m), DS_TXMAP_HASH,
               ambiguous_count(ds_mapping_table(m)));
    ds_mapping_free(m);
    ds_redis_free(r);
    return rc;
}

/* Prints every account of the hash, "account<TAB>value" a line. */
static int show_all(ds_redis *r, ds_err *err)
{
    redisReply *rep = ds_redis_cmd(r, err, "HGETALL %s", DS_TXMAP_HASH);
    size_t i;

    if (rep == NULL)
        return -1;
    for (i = 0; rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements;
         i += 2)
        printf("%s\t%s\n", rep->element[i]->str, rep->element[i + 1]->str);
    freeReplyObject(rep);
    return 0;
}

int ctl_mapping_show(ctl_conf *conf, int argc, char **argv)
{
    redisReply *rep;
    ds_redis *r;
    ds_err err;
    int rc = CTL_EXIT_OK;

    (void)conf;
    if (ctl_opt_wants_help(argc, argv))
        return help();
    if (argc > 1)
        return ctl_usage_error("mapping show", "give at most one ACCOUNT");
    r = ctl_conf_redis();
    if (r == NULL)
        return CTL_EXIT_FAIL;
    ds_err_clear(&err);
    if (argc == 0) {
        if (show_all(r, &err) < 0)
            rc = ctl_error("cannot read %s: %s", DS_TXMAP_HASH, err.msg);
    } else if ((rep = ds_redis_cmd(r, &err, "HGET %s %s", DS_TXMAP_HASH,
                                   argv[0])) == NULL) {
        rc = ctl_error("cannot read %s: %s", DS_TXMAP_HASH, err.msg);
    } else {
        if (rep->type == REDIS_REPLY_STRING)
            printf("%s\t%s\n", argv[0], rep->str);
        else
            rc = ctl_error("account %s is not mapped", argv[0]);
        freeReplyObject(rep);
    }
    ds_redis_free(r);
    return rc;
}

/* Deletes every cached lookup, SCAN by SCAN. Returns the count or -1. */
static long clear_all(ds_redis *r, ds_err *err)
{
    char cursor[32] = "0";
    redisReply *rep, *keys;
    long n = 0;
    size_t i;

    do {
        rep = ds_redis_cmd(r, err, "SCAN %s MATCH %s* COUNT 500", cursor,
                           DS_TXMAP_CACHE_PREFIX);
        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
            rep->elements != 2) {
            if (rep != NULL)
                freeReplyObject(rep);
            return ds_err_set(err, "redis_error", "SCAN failed");
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        keys = rep->element[1];
        for (i = 0; i < keys->elements; i++)
            if (run(r, err, "DEL", keys->element[i]->str, NULL) == 0)
                n++;
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

int ctl_mapping_clear_cache(ctl_conf *conf, int argc, char **argv)
{
    char key[512];
    ds_redis *r;
    ds_err err;
    long n;

    (void)conf;
    if (ctl_opt_wants_help(argc, argv))
        return help();
    if (argc > 1)
        return ctl_usage_error("mapping clear-cache",
                               "give at most one ACCOUNT");
    r = ctl_conf_redis();
    if (r == NULL)
        return CTL_EXIT_FAIL;
    ds_err_clear(&err);
    if (argc == 1) {
        snprintf(key, sizeof(key), "%s%.400s", DS_TXMAP_CACHE_PREFIX,
                 argv[0]);
        n = run(r, &err, "DEL", key, NULL) == 0 ? 1 : -1;
    } else {
        n = clear_all(r, &err);
    }
    ds_redis_free(r);
    if (n < 0)
        return ctl_error("cache not cleared: %s", err.msg);
    printf("cached lookups cleared: %s\n", argc == 1 ? argv[0] : "all");
    return CTL_EXIT_OK;
}
