/*
 * mapper - finds the transaction each document belongs to.
 *
 * Consumes docsync.fetched. Looks the document's accountId up in the
 * mapping source (MAPPING_SOURCE: the table of MAPPING_FILE, the Redis
 * hash docsync:mapping, or a lookup on the transaction system), renames
 * the CRM's metadata to the destination's names (description becomes
 * notes) and converts the document's time into the destination's date
 * format, then publishes to docsync.mapped. An account
 * the source does not know is a permanent failure (unmapped_account), one
 * with several transactions too (ambiguous_mapping): a document is never
 * attached to a guessed transaction. A file name that cannot be passed on
 * as it is fails as bad_file_name (the fetcher refuses those, but a record
 * can be older or replayed), and a record fetched before the fetcher chose
 * types gets one from its CRM type and name (ds_mime.h).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_api.h"
#include "ds_config.h"
#include "ds_filename.h"
#include "ds_loop.h"
#include "ds_mapping.h"
#include "ds_mime.h"
#include "ds_runtime.h"
#include "ds_state.h"
#include "ds_time.h"
#include "ds_txmap.h"

typedef struct mapper {
    ds_txmap_cfg source;
    ds_mapping *table;        /* MAPPING_SOURCE=file */
    ds_connector *conn;
    ds_api dest;              /* MAPPING_SOURCE=lookup */
    const char *date_format;
    ds_redis *redis;
} mapper;

static const ds_program PROGRAM = {
    "docsync-mapper", "mapper",
    "Reads docsync.fetched, maps accountId to transactionId and the "
    "metadata to the destination's names, publishes docsync.mapped.",
    "  KAFKA_BROKERS, REDIS_HOST, REDIS_PORT, LOG_LEVEL\n"
    "  MAPPING_SOURCE (file, redis or lookup), MAPPING_FILE (CSV or JSON,\n"
    "    for file), DEST_DATE_FORMAT (strftime, %Y-%m-%d)\n"
    "  MAPPING_CACHE_TTL_S (300), MAPPING_EMPTY_CACHE_TTL_S (60),\n"
    "  MAPPING_LOOKUP_PATH, DEST_BASE_URL, DEST_API_KEY (for lookup)\n"
    "  CONNECTOR_FILE: a connector file; its \"transactions\" section and\n"
    "    destination (accounts route, credentials) win over the above\n"
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

/* The transactions API's JSON answer to GET path: the mapper's one call
 * of that API, made for MAPPING_SOURCE=lookup. */
static json_t *dest_get(void *ctx, const char *path, ds_err *err)
{
    mapper *m = ctx;

    return ds_api_get_json(&m->dest, path, err);
}

/* The one transaction of account from the configured source, as a string
 * the caller frees. */
static int transaction_of(mapper *m, const char *account, char **txn,
                          ds_err *err)
{
    const char *have;

    switch (m->source.source) {
    case DS_TXMAP_REDIS:
        return ds_txmap_from_redis(m->redis, account, txn, err);
    case DS_TXMAP_LOOKUP:
        return ds_txmap_from_lookup(&m->source, m->redis, dest_get, m,
                                    account, txn, err);
    default:
        break;
    }
    have = ds_mapping_lookup(m->table, account);
    if (have == NULL)
        return ds_err_set(err, "unmapped_account",
                          "no transaction for account %.64s", account);
    *txn = strdup(have);
    return *txn != NULL ? 0 : ds_err_set(err, "out_of_memory", "txn");
}

/* A record fetched before the fetcher chose types (without
 * mimeTypeSource) gets its type now, chosen the same way without the
 * bytes: the CRM's unless it says nothing, else the extension's, else
 * application/octet-stream. So every upload names a type. */
static void ensure_mime_type(json_t *out)
{
    const char *declared = json_string_value(json_object_get(out,
                                                             "mimeType"));
    const char *name = json_string_value(json_object_get(out, "fileName"));
    ds_mime_choice choice;

    if (json_is_string(json_object_get(out, "mimeTypeSource")))
        return;
    ds_mime_choose(declared, json_string_value(json_object_get(
                       out, "detectedMimeType")), name, &choice);
    if (choice.declared_unused)
        json_object_set_new(out, "declaredMimeType", json_string(declared));
    /* The copy is made before the old value, which choice.type may be,
     * is released. */
    json_object_set_new(out, "mimeType", json_string(choice.type));
    json_object_set_new(out, "mimeTypeSource",
                        json_string(ds_mime_source_name(choice.source)));
}

static int handle(void *ctx, const ds_msg *in, json_t **out, ds_err *err)
{
    mapper *m = ctx;
    const char *account = json_string_value(
        json_object_get(in->value, "accountId"));
    const char *doc_id = json_string_value(
        json_object_get(in->value, "documentId"));
    const char *notes;
    char date[128], *txn = NULL;
    int rc;

    if (account == NULL || doc_id == NULL)
        return ds_err_set(err, "bad_message",
                          "accountId or documentId missing");
    if (ds_file_name_check_json(json_object_get(in->value, "fileName"),
                                err) < 0 ||
        document_date(m, in->value, date, sizeof(date), err) < 0 ||
        transaction_of(m, account, &txn, err) < 0)
        return -1;
    notes = json_string_value(json_object_get(in->value, "description"));

    *out = json_deep_copy(in->value);
    if (*out == NULL) {
        free(txn);
        return ds_err_set(err, "out_of_memory", "json");
    }
    ensure_mime_type(*out);
    json_object_set_new(*out, "transactionId", json_string(txn));
    json_object_set_new(*out, "notes", json_string(notes ? notes : ""));
    json_object_set_new(*out, "documentDate", json_string(date));
    rc = ds_state_mark(m->redis, doc_id, "mapper", "mapped", txn, err);
    free(txn);
    return rc;
}

/* The connector's "transactions" and "destination" sections as the
 * environment gives them today: MAPPING_SOURCE, MAPPING_CACHE_TTL_S,
 * MAPPING_EMPTY_CACHE_TTL_S and MAPPING_LOOKUP_PATH (the sandbox's route
 * by default). Returns a new object, or NULL with err set. */
static json_t *connector_from_env(ds_err *err)
{
    long ttl, empty_ttl;
    json_t *c;

    if (ds_env_long("MAPPING_CACHE_TTL_S", 300, &ttl, err) < 0 ||
        ds_env_long("MAPPING_EMPTY_CACHE_TTL_S", 60, &empty_ttl, err) < 0)
        return NULL;
    c = json_pack("{s:{s:{s:s}, s:{s:s, s:s}}, s:{s:s, s:I, s:I}}",
                  "destination", "endpoints", "accounts",
                  ds_env_str("MAPPING_LOOKUP_PATH",
                             "/v1/transactions?accountId={accountId}"),
                  "accounts", "items", "data", "id", "id",
                  "transactions", "source",
                  ds_env_str("MAPPING_SOURCE", "file"), "cacheTtlS",
                  (json_int_t)ttl, "emptyCacheTtlS", (json_int_t)empty_ttl);
    if (c == NULL)
        ds_err_set(err, "out_of_memory", "connector");
    return c;
}

/* Loads MAPPING_FILE for MAPPING_SOURCE=file, as before sources existed. */
static int configure_file(mapper *m, ds_err *err)
{
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
    return 0;
}

/* The sections ds_txmap_cfg_parse reads: the environment's, with the
 * connector file's "destination" and "transactions" over them when a file
 * is given. Returns a new object, or NULL with err set. */
static json_t *txmap_sections(const ds_connector *conn, ds_err *err)
{
    json_t *c = connector_from_env(err);
    json_t *dest = ds_connector_get(conn, "destination");
    json_t *tx = ds_connector_get(conn, "transactions");

    if (c == NULL || ds_env_str("CONNECTOR_FILE", NULL) == NULL)
        return c;
    if (dest != NULL)
        json_object_set(c, "destination", dest);
    if (tx != NULL)
        json_object_set(c, "transactions", tx);
    return c;
}

static int configure(void *ctx, ds_err *err)
{
    mapper *m = ctx;
    json_t *sections;
    int rc;

    m->conn = ds_connector_load(err);
    if (m->conn == NULL)
        return -1;
    sections = txmap_sections(m->conn, err);
    if (sections == NULL)
        return -1;
    rc = ds_txmap_cfg_parse(sections, &m->source, err);
    json_decref(sections);
    if (rc < 0)
        return -1;
    if (m->source.source == DS_TXMAP_FILE && configure_file(m, err) < 0)
        return -1;
    /* The transaction system's client, only where it is called. */
    if (m->source.source == DS_TXMAP_LOOKUP &&
        ds_api_init(&m->dest, m->conn, DS_SIDE_DESTINATION, err) < 0)
        return -1;
    m->date_format = ds_env_str("DEST_DATE_FORMAT", "%Y-%m-%d");
    m->redis = ds_runtime_redis(err);
    return m->redis == NULL ? -1 : 0;
}

static void cleanup(void *ctx)
{
    mapper *m = ctx;

    ds_mapping_free(m->table);
    ds_api_clear(&m->dest);
    ds_connector_free(m->conn);
    ds_redis_free(m->redis);
    memset(m, 0, sizeof(*m));
}

int main(int argc, char **argv)
{
    static mapper m;
    const ds_stage stage = {"mapper", "docsync.fetched", "docsync.mapped",
                            handle, &m};

    return ds_runtime_stage_main(&PROGRAM, &stage, configure, cleanup, argc,
                                 argv);
}
