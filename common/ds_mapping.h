/*
 * ds_mapping.h - the accountId to transactionId table.
 *
 * Loaded from a CSV file (lines "accountId,transactionId", an optional
 * header line naming those columns, '#' comments) or a JSON file (an object
 * {"acc": "txn", ...} or {"mappings": [{"accountId": ..,
 * "transactionId": ..}, ...]}). An account listed twice with two different
 * transactions makes the table invalid: a document must never be attached
 * to a guessed transaction. Loaded with DS_MAPPING_KEEP_DUPLICATES (for
 * `docsyncctl mapping load`) such an account is kept with all its
 * transactions instead, so that the mapper can refuse it as ambiguous; a
 * JSON object naming a key twice is still refused (jansson keeps one), the
 * "mappings" list form keeps both.
 */
#ifndef DS_MAPPING_H
#define DS_MAPPING_H

#include <stddef.h>

#include "ds_error.h"

#include <jansson.h>

typedef struct ds_mapping ds_mapping;

typedef enum {
    DS_MAPPING_UNIQUE = 0,        /* an account named twice is an error */
    DS_MAPPING_KEEP_DUPLICATES    /* ... is kept with all its ids */
} ds_mapping_mode;

/* Loads the table at path. Returns it, or NULL with err naming the file and
 * line of the first problem. */
ds_mapping *ds_mapping_load(const char *path, ds_err *err);

/* Loads the table at path in the given mode. Returns it, or NULL with err
 * as ds_mapping_load. */
ds_mapping *ds_mapping_load_mode(const char *path, ds_mapping_mode mode,
                                 ds_err *err);

/* The table itself: an object accountId -> transactionId string, or an
 * array of distinct ids for an account named twice in
 * DS_MAPPING_KEEP_DUPLICATES mode. Borrowed; lives as long as m. */
const json_t *ds_mapping_table(const ds_mapping *m);

/* The transaction of account_id, or NULL when the table has none (or,
 * kept with duplicates, more than one). The
 * string lives as long as the table. */
const char *ds_mapping_lookup(const ds_mapping *m, const char *account_id);

/* Number of accounts in the table. */
size_t ds_mapping_count(const ds_mapping *m);

/* Frees m; accepts NULL. */
void ds_mapping_free(ds_mapping *m);

#endif
