/*
 * ds_txmap.h - where the mapper finds an account's transaction when it is
 * not in MAPPING_FILE: the Redis hash docsync:mapping (loaded by
 * `docsyncctl mapping load`), or a lookup on the transaction system,
 * cached in Redis.
 *
 * Never a guess: no id is unmapped_account, more than one is
 * ambiguous_mapping, both permanent. A lookup that fails (5xx, timeout,
 * Redis down) is transient and retried.
 */
#ifndef DS_TXMAP_H
#define DS_TXMAP_H

#include <jansson.h>

#include "ds_error.h"
#include "ds_redis.h"

#define DS_TXMAP_HASH "docsync:mapping"
#define DS_TXMAP_CACHE_PREFIX "docsync:lookup:"

typedef enum {
    DS_TXMAP_FILE = 0,   /* MAPPING_FILE, loaded at start */
    DS_TXMAP_REDIS,      /* HGET docsync:mapping <accountId> */
    DS_TXMAP_LOOKUP      /* GET the accounts endpoint, cached */
} ds_txmap_source;

/* What the mapping sources need of a connector. */
typedef struct ds_txmap_cfg {
    ds_txmap_source source;   /* transactions.source ("file") */
    long cache_ttl_s;         /* transactions.cacheTtlS (300) */
    long empty_ttl_s;         /* transactions.emptyCacheTtlS (60): a
                               * missing account is looked for sooner */
    char accounts[512];       /* destination.endpoints.accounts */
    char items[128];          /* destination.accounts.items */
    char id[128];             /* destination.accounts.id */
} ds_txmap_cfg;

/* Fills cfg from a connector object ("transactions", and for a lookup
 * "destination.endpoints.accounts" with {accountId} and
 * "destination.accounts"). Returns 0, or -1 with err "bad_connector"
 * naming the first bad field by its dotted path. */
int ds_txmap_cfg_parse(const json_t *connector, ds_txmap_cfg *cfg,
                       ds_err *err);

/* Picks the one transaction of account from ids (an array of strings):
 * sets *txn to a copy the caller frees, or fails with unmapped_account (no
 * id) or ambiguous_mapping (several). */
int ds_txmap_pick(const json_t *ids, const char *account, char **txn,
                  ds_err *err);

/* The transaction of account in the hash docsync:mapping. A value is one
 * id, or a JSON array of ids when the loaded table named the account
 * twice. Returns 0 with *txn set (caller frees), or -1 with err. */
int ds_txmap_from_redis(ds_redis *r, const char *account, char **txn,
                        ds_err *err);

/* GETs path on the transaction system and returns the JSON object it
 * answers (new reference), or NULL with err set. */
typedef json_t *(*ds_txmap_get_fn)(void *ctx, const char *path,
                                   ds_err *err);

/* The transaction of account by the accounts lookup: from the cache
 * docsync:lookup:<accountId> when there, else through get, whose answer
 * (none, one or several ids) is cached for cfg->cache_ttl_s, or
 * cfg->empty_ttl_s when it holds none. Returns 0 with *txn set (caller
 * frees), or -1 with err. */
int ds_txmap_from_lookup(const ds_txmap_cfg *cfg, ds_redis *r,
                         ds_txmap_get_fn get, void *ctx, const char *account,
                         char **txn, ds_err *err);

#endif
