/*
 * mapper - finds the transaction each document belongs to.
 *
 * Consumes docsync.fetched. Looks the document's accountId up in the
 * mapping table, renames the CRM's metadata to the destination's names
 * (description becomes notes) and converts the document's time into the
 * destination's date format, then publishes to docsync.mapped. An account
 * the table does not know is a permanent failure (unmapped_account): a
 * document is never attached to a guessed transaction.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_config.h"
#include "ds_loop.h"
#include "ds_mapping.h"
#include "ds_runtime.h"
#include "ds_state.h"
#include "ds_time.h"

typedef struct mapper {
    ds_mapping *table;
    const char *date_format;
    ds_redis *redis;
} mapper;

static const ds_program PROGRAM = {
    "docsync-mapper", "mapper",
    "Reads docsync.fetched, maps accountId to transactionId and the "
    "metadata to the destination's names, publishes docsync.mapped.",
    "  KAFKA_BROKERS, REDIS_HOST, REDIS_PORT, LOG_LEVEL\n"
    "  MAPPING_FILE (CSV or JSON), DEST_DATE_FORMAT (strftime, %Y-%m-%d)\n"
    "  MAX_ATTEMPTS, BACKOFF_BASE_MS, BACKOFF_CAP_MS, RETRY_BUDGET_MS\n",
};

/* The document's own time: the CRM's createdAt, else the event's time. */
static int document_date(const mapper *m, const json_t *in, char *out,
                         size_t cap, ds_err *err)
{
    const char *text = json_string_value(json_object_get(in, "createdAt"));
    time_t t;

    if (text == NULL)
        text = json_string_value(json_object_get(in, "timestamp"));
    if (text == NULL)
        return ds_err_set(err, "bad_timestamp",
                          "neither createdAt nor timestamp is given");
    if (ds_time_parse_iso8601(text, &t) < 0)
        return ds_err_set(err, "bad_timestamp",
                          "not an ISO-8601 time");
    if (ds_time_format_utc(t, m->date_format, out, cap) < 0)
        return ds_err_set(err, "bad_config",
                          "DEST_DATE_FORMAT gives an empty or long date");
    return 0;
}

static int handle(void *ctx, const ds_msg *in, json_t **out, ds_err *err)
{
    mapper *m = ctx;
    const char *account = json_string_value(
        json_object_get(in->value, "accountId"));
    const char *doc_id = json_string_value(
        json_object_get(in->value, "documentId"));
    const char *txn, *notes;
    char date[128];

    if (account == NULL || doc_id == NULL)
        return ds_err_set(err, "bad_message",
                          "accountId or documentId missing");
    txn = ds_mapping_lookup(m->table, account);
    if (txn == NULL)
        return ds_err_set(err, "unmapped_account",
                          "no transaction for account %.64s", account);
    if (document_date(m, in->value, date, sizeof(date), err) < 0)
        return -1;
    notes = json_string_value(json_object_get(in->value, "description"));

    *out = json_deep_copy(in->value);
    if (*out == NULL)
        return ds_err_set(err, "out_of_memory", "json");
    json_object_set_new(*out, "transactionId", json_string(txn));
    json_object_set_new(*out, "notes", json_string(notes ? notes : ""));
    json_object_set_new(*out, "documentDate", json_string(date));
    return ds_state_mark(m->redis, doc_id, "mapper", "mapped", txn, err);
}

static int configure(void *ctx, ds_err *err)
{
    mapper *m = ctx;
    const char *path = ds_env_str("MAPPING_FILE", NULL);

    if (path == NULL)
        return ds_err_set(err, "bad_config",
                          "MAPPING_FILE is not set");
    m->table = ds_mapping_load(path, err);
    if (m->table == NULL)
        return -1;
    /* An empty table would dead-letter every document. */
    if (ds_mapping_count(m->table) == 0)
        return ds_err_set(err, "bad_mapping",
                          "%s maps no account", path);
    m->date_format = ds_env_str("DEST_DATE_FORMAT", "%Y-%m-%d");
    m->redis = ds_runtime_redis(err);
    return m->redis == NULL ? -1 : 0;
}

static void cleanup(void *ctx)
{
    mapper *m = ctx;

    ds_mapping_free(m->table);
    ds_redis_free(m->redis);
}

int main(int argc, char **argv)
{
    static mapper m;
    const ds_stage stage = {"mapper", "docsync.fetched", "docsync.mapped",
                            handle, &m};

    return ds_runtime_stage_main(&PROGRAM, &stage, configure, cleanup, argc,
                                 argv);
}
