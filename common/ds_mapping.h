/*
 * ds_mapping.h - the accountId to transactionId table.
 *
 * Loaded from a CSV file (lines "accountId,transactionId", an optional
 * header line naming those columns, '#' comments) or a JSON file (an object
 * {"acc": "txn", ...} or {"mappings": [{"accountId": ..,
 * "transactionId": ..}, ...]}). An account listed twice with two different
 * transactions makes the table invalid: a document must never be attached
 * to a guessed transaction.
 */
#ifndef DS_MAPPING_H
#define DS_MAPPING_H

#include <stddef.h>

#include "ds_error.h"

typedef struct ds_mapping ds_mapping;

/* Loads the table at path. Returns it, or NULL with err naming the file and
 * line of the first problem. */
ds_mapping *ds_mapping_load(const char *path, ds_err *err);

/* The transaction of account_id, or NULL when the table has none. The
 * string lives as long as the table. */
const char *ds_mapping_lookup(const ds_mapping *m, const char *account_id);

/* Number of accounts in the table. */
size_t ds_mapping_count(const ds_mapping *m);

/* Frees m; accepts NULL. */
void ds_mapping_free(ds_mapping *m);

#endif
