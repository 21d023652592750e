/*
 * ctl_mapping.h - `docsyncctl mapping`: the mapping the mapper reads with
 * MAPPING_SOURCE=redis, and the cache of MAPPING_SOURCE=lookup.
 *
 *   mapping load FILE        replace the hash docsync:mapping with the
 *                            table in FILE (CSV or JSON, as MAPPING_FILE);
 *                            an account named twice keeps all its ids, as
 *                            a JSON array, and is then ambiguous
 *   mapping show [ACCOUNT]   the hash, or one account's value
 *   mapping clear-cache [ACCOUNT]
 *                            forget cached lookups (docsync:lookup:*)
 */
#ifndef CTL_MAPPING_H
#define CTL_MAPPING_H

#include "ctl_conf.h"

/* Runs `mapping load FILE`: writes docsync:mapping:new, then renames it
 * over docsync:mapping, so the mapper never sees half a table. Returns the
 * exit code. */
int ctl_mapping_load(ctl_conf *conf, int argc, char **argv);

/* Runs `mapping show [ACCOUNT]`. Returns 1 when ACCOUNT is not mapped. */
int ctl_mapping_show(ctl_conf *conf, int argc, char **argv);

/* Runs `mapping clear-cache [ACCOUNT]`. Returns the exit code. */
int ctl_mapping_clear_cache(ctl_conf *conf, int argc, char **argv);

#endif
