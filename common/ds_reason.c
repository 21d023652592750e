/* ds_reason.c - the table of failure reasons; see ds_reason.h. */
#include "ds_reason.h"

#include <stdlib.h>
#include <string.h>

#define T DS_CLASS_TRANSIENT
#define P DS_CLASS_PERMANENT
#define OUT DS_REASON_OUTAGE

static const ds_reason table[] = {
    /* The source (CRM) and the document itself. */
    {"source_not_found", P, 0, 3,
     "the CRM answers 404 for the document (deleted before it was fetched)",
     "none if the deletion was meant; else re-add it in the CRM, replay"},
    {"source_size_mismatch", T, 0, 0,
     "the CRM sent fewer or more bytes than its metadata announced",
     "check the CRM's content endpoint; replay once it serves whole files"},
    {"bad_file_name", P, 0, 0,
     "the document's file name cannot be passed on as it is: empty, not "
     "UTF-8, a control character, or a path (a \"/\", \"..\")",
     "rename the document in the CRM (the message says what is wrong and "
     "where), then replay"},
    {"unmapped_account", P, 0, 0,
     "no transaction is mapped to the document's accountId",
     "add the account to the mapping, then replay"},
    {"ambiguous_mapping", P, 0, 0,
     "more than one transaction is mapped to the document's accountId "
     "(a mapping file like that is refused when the mapper starts)",
     "leave one mapping for the account, then replay"},
    {"bad_message", P, 0, 0,
     "a record's value is not the JSON object the stage expects",
     "look at the value (docsyncctl dlq show); fix the producer"},
    {"bad_timestamp", P, 0, 0,
     "a date in the document's metadata cannot be read",
     "fix the date in the CRM, then replay"},
    {"bad_response", P, 0, 0,
     "an API answered 2xx with a body docsync cannot read",
     "look at the API's answer in the logs; fix the connector or the API"},
    {"too_large", P, 0, 0,
     "the file is over every size limit the destination accepts",
     "raise the limit if the destination allows it, then replay"},
    {"no_upload_mode", P, 0, 0,
     "no upload mode of the connector takes a file of this size: it falls "
     "between the modes' ranges (under every minBytes)",
     "let a mode take it (lower chunked.minBytes, or offer another mode), "
     "then replay"},
    {"file_name_too_long", P, 0, 0,
     "the file name is longer than the destination keeps "
     "(destination.upload.maxFileNameBytes)",
     "rename the document in the CRM, then replay with --to docsync.events"},

    /* The destination (transaction system). */
    {"upload_http_<status>", DS_CLASS_NONE, 0, 0,
     "the destination refused the upload with this HTTP status",
     "4xx: read the message, fix the cause, replay; 5xx: retries spent "
     "during a long outage, replay when it is back"},
    {"upload_bad_response", P, 0, 0,
     "the destination accepted the upload without a document id",
     "check the destination; the copy may exist, look before replaying"},
    {"upload_in_progress", T, DS_REASON_WAIT, 0,
     "the destination is still serving an earlier try of this upload (409)",
     "none: retried, without spending attempts, until the earlier try "
     "ends or RETRY_BUDGET_MS runs out"},
    {"upload_session_lost", T, 0, 0,
     "the destination forgot two upload sessions in a row while docsync "
     "sent their parts (sessions expiring faster than a file uploads)",
     "none if it passes; else check the destination's session lifetime "
     "against the part size and the link's speed"},
    {"upload_lease_lost", T, DS_REASON_WAIT, 0,
     "another uploader took the document over during the upload",
     "none: the other uploader finishes it"},
    {"checksum_mismatch", P, 0, 0,
     "the copy read back differs from the source (name, size or checksum)",
     "remove the bad copy at the destination; replay with "
     "--to docsync.mapped to upload it again"},
    {"destination_processing", T, DS_REASON_WAIT, 0,
     "the destination accepted the copy but still processes it; it is "
     "read back again with backoff",
     "none: retried, without spending attempts, up to the connector's "
     "destination.document.processingMaxMs, then missing_after_upload"},
    {"missing_after_upload", P, 0, 0,
     "the destination accepted the upload but does not have it on read-back",
     "replay with --to docsync.mapped to upload it again; ask the "
     "destination why it lost it"},

    /* HTTP, any API. */
    {"http_<status>", DS_CLASS_NONE, 0, 0,
     "an API answered with this HTTP status",
     "4xx: read the message and fix the request or credentials; 5xx: "
     "the API is failing, replay when it is back"},
    {"http_timeout", T, OUT, 0, "an API call ran past its timeout",
     "none if rare; check the API's latency and HTTP_TIMEOUT_MS"},
    {"http_transport", T, OUT, 0,
     "the connection failed (refused, reset, DNS, TLS)",
     "check that the API is reachable from the stage"},
    {"http_aborted", T, 0, 0, "docsync stopped a transfer it was making",
     "none: retried"},
    {"http_read", T, 0, 0, "a request body could not be read from its source",
     "check the blob store's disk"},
    {"http_sink", T, 0, 0, "a response body could not be stored",
     "check the blob store's disk"},
    {"http_oom", T, 0, 0, "out of memory keeping a response",
     "check the stage's memory limit"},
    {"http_body_too_large", P, 0, 0,
     "an API sent a body larger than docsync accepts for that call",
     "check the API; raise the limit only if the answer is legitimate"},
    {"http_body_size", P, 0, 0,
     "a request body did not have the length announced for it",
     "a bug: report it with the log lines of the document"},
    {"http_bad_header", P, 0, 0, "a request header could not be built",
     "check the configured header names and keys"},
    {"http_bad_request", P, 0, 0, "a request could not be built",
     "check the configured URLs"},
    {"credential_refused", T, OUT | DS_REASON_WAIT, 0,
     "the API or its token endpoint refused the credential even after a "
     "re-read and a refresh; the stage holds instead of dead-lettering",
     "docsyncctl token show API; store a new refresh token with "
     "docsyncctl token set API --refresh-token-file FILE, or fix the key"},
    {"rate_limited", T, DS_REASON_WAIT, 0,
     "the API's shared request budget has no slot within the wait allowed; "
     "the record is given back and tried later",
     "none if brief; else raise the API's limit or lower the load"},
    {"token_endpoint", T, OUT, 0,
     "the OAuth2 token endpoint failed (5xx, timeout, no access_token)",
     "check the token endpoint; the stages wait and go on"},
    {"http_unexpected", P, 0, 0,
     "an API answered with a status docsync does not follow (3xx)",
     "check the configured URL: redirects are not followed"},

    /* Redis, Kafka, the blob store, the process. */
    {"redis_unavailable", T, OUT, 0, "Redis cannot be reached",
     "bring Redis back; the stages wait and go on"},
    {"redis_error", T, OUT, 0, "Redis answered a command with an error",
     "check Redis's log (memory, persistence)"},
    {"redis_oom", T, 0, 0, "out of memory reading a Redis reply",
     "check the stage's memory limit"},
    {"redis_auth", P, 0, 0,
     "Redis refused the credentials, or wants a password none was given",
     "set REDIS_PASSWORD (or REDIS_PASSWORD_FILE) and REDIS_USERNAME to "
     "what Redis expects, restart the stage, replay"},
    {"redis_bad_command", P, 0, 0, "a Redis command could not be built",
     "a bug: report it with the log lines"},
    {"kafka_delivery", T, OUT, 0, "the broker did not confirm a record",
     "check the brokers; the stages wait and go on"},
    {"kafka_produce", T, OUT, 0, "a record could not be queued for the broker",
     "check the brokers"},
    {"kafka_subscribe", T, OUT, 0, "the consumer could not subscribe",
     "check that the topics exist"},
    {"blob_io", T, 0, 0, "reading or writing the blob store failed",
     "check BLOB_DIR's disk (space, permissions)"},
    {"blob_busy", T, 0, 0, "another process holds the blob's lock",
     "none: retried"},
    {"blob_race", T, 0, 0, "the blob changed while it was being published",
     "none: retried"},
    {"blob_oom", T, 0, 0, "out of memory in the blob store",
     "check the stage's memory limit"},
    {"blob_digest", T, 0, 0, "hashing a blob failed",
     "check the OpenSSL installation"},
    {"blob_missing", P, 0, 0,
     "the blob a record refers to is not in the store (for a replay of "
     "an old DLQ record: its BLOB_RETENTION_S ran out)",
     "replay with --to docsync.events to fetch it again"},
    {"blob_bad_ref", P, 0, 0, "a record names a blob that cannot exist",
     "look at the record; fix its producer"},
    {"blob_state", P, 0, 0, "the blob store was used out of order",
     "a bug: report it with the log lines"},
    {"out_of_memory", T, 0, 0, "an allocation failed",
     "check the stage's memory limit"},
    {"no_thread", T, 0, 0, "a thread could not be started",
     "check the process limits"},

    /* Configuration: a stage refuses to start with these. */
    {"bad_config", P, 0, 0, "a setting is wrong", "fix the setting named"},
    {"bad_connector", P, 0, 0,
     "the connector file does not validate (the message names the field)",
     "fix the field named; `docsyncctl connector check FILE` tries it"},
    {"bad_mapping", P, 0, 0, "the mapping table cannot be used",
     "fix the line named in MAPPING_FILE"},
    {"bad_body", P, 0, 0, "an upload body could not be built",
     "a bug: report it with the log lines"},
    {"config_invalid", P, 0, 0, "a variable's value is not valid",
     "fix the variable named"},
    {"config_missing", P, 0, 0, "a required variable is not set",
     "set the variable named"},
    {"config_unreadable", P, 0, 0, "a *_FILE secret cannot be read",
     "fix the file's path or permissions"},
    {"metrics_listen", P, 0, 0, "the metrics server cannot listen",
     "free METRICS_PORT or choose another"},
};

#define N_REASONS (sizeof(table) / sizeof(table[0]))

/* Splits "upload_http_503" into its family "upload_http_<status>" and
 * 503. Returns the status, or -1 when name is not a family member. */
static int family_status(const char *name, char *family, size_t cap)
{
    size_t n = strlen(name);
    char *end;
    long status;

    if (n < 5 || name[n - 4] != '_')
        return -1;
    status = strtol(name + n - 3, &end, 10);
    if (*end != '\0' || status < 100 || status > 599)
        return -1;
    if (n - 4 + sizeof("_<status>") > cap)
        return -1;
    memcpy(family, name, n - 4);
    strcpy(family + n - 4, "_<status>");
    return (int)status;
}

const ds_reason *ds_reason_find(const char *name)
{
    char family[64];
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < N_REASONS; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    if (family_status(name, family, sizeof(family)) < 0)
        return NULL;
    for (i = 0; i < N_REASONS; i++)
        if (table[i].klass == DS_CLASS_NONE &&
            strcmp(table[i].name, family) == 0)
            return &table[i];
    return NULL;
}

ds_class ds_reason_class(const char *name)
{
    const ds_reason *r = ds_reason_find(name);
    char family[64];
    int status;

    if (r == NULL)
        return DS_CLASS_PERMANENT;
    if (r->klass != DS_CLASS_NONE)
        return r->klass;
    status = family_status(name, family, sizeof(family));
    return status >= 400 ? ds_class_for_http(status) : DS_CLASS_PERMANENT;
}

int ds_reason_is_outage(const char *name)
{
    const ds_reason *r = ds_reason_find(name);
    char family[64];

    if (r == NULL)
        return 0;
    if (r->klass != DS_CLASS_NONE)
        return (r->flags & DS_REASON_OUTAGE) != 0;
    /* A 5xx from any API says the API is failing, whatever the document. */
    return family_status(name, family, sizeof(family)) >= 500;
}

int ds_reason_spends_attempt(const char *name)
{
    const ds_reason *r = ds_reason_find(name);

    return r == NULL || (r->flags & DS_REASON_WAIT) == 0;
}

int ds_reason_tries(const char *name)
{
    const ds_reason *r = ds_reason_find(name);

    return r != NULL && r->grace > 1 ? r->grace : 1;
}

size_t ds_reason_count(void)
{
    return N_REASONS;
}

const ds_reason *ds_reason_at(size_t i)
{
    return i < N_REASONS ? &table[i] : NULL;
}
