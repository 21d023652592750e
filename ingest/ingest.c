/*
 * ingest - the front door: signed webhooks in, events on Kafka out.
 *
 * Serves POST /webhooks/crm. Checks the HMAC-SHA256 signature over the raw
 * body bytes exactly as received, parses and validates the event, drops
 * duplicates of an event it already accepted, and produces
 * DOCUMENT_CREATED events to docsync.events. A thin DOCUMENTS_CREATED
 * event (document ids only) fans out into one such event per document.
 * It answers 202 only after the broker confirmed every event, 503 when it
 * could not, so the sender retries instead of losing one; it never waits
 * on per-document work.
 * Also GET /healthz and GET /metrics.
 *
 * INGEST_MODE=poll (or both) adds a thread that reads the CRM's listing
 * of documents created since a cursor in Redis (ds_poll) and produces the
 * same DOCUMENT_CREATED records, eventId "poll:<documentId>", through the
 * same dedupe; in poll mode /webhooks/crm is not served.
 */
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ds_api.h"
#include "ds_config.h"
#include "ds_crypto.h"
#include "ds_kafka.h"
#include "ds_log.h"
#include "ds_loop.h"
#include "ds_metrics.h"
#include "ds_poll.h"
#include "ds_runtime.h"
#include "ds_state.h"
#include "ds_time.h"

#define DEDUPE_KEEP_MS (7L * 24 * 3600 * 1000)
#define THIN_TYPE "DOCUMENTS_CREATED"
#define THIN_MAX_DOCS 100

#define WEBHOOKS "docsync_ingest_webhooks_total"
#define WEBHOOKS_HELP "Webhooks answered, by result: accepted, duplicate, " \
                      "ignored, rejected (4xx), unavailable (503)."

typedef struct ingest {
    long port;
    long max_body;
    long delivery_ms;
    char *secret;
    const char *signature_header;
    const char *topic;
    ds_producer *producer;
    ds_redis *redis;              /* one connection, used under redis_lock */
    pthread_mutex_t redis_lock;
    int webhooks;                 /* INGEST_MODE webhook or both */
    int polling;                  /* INGEST_MODE poll or both */
} ingest;

/* One request's body, gathered across the access handler's calls. */
typedef struct request {
    char *body;
    size_t len;
    int too_large;
    long long started_ms;
} request;

/* The outcome of one webhook, for the response and the log line. */
typedef struct verdict {
    unsigned status;
    const char *result;      /* "accepted", "duplicate", ... */
    const char *reason;      /* error token, or NULL */
    char detail[160];
    char document_id[132];
    const char *field;       /* the field a 400 is about, or NULL */
    json_t *documents;       /* a thin event's results per document, owned */
} verdict;

static const ds_program PROGRAM = {
    "docsync-ingest", "ingest",
    "Receives signed CRM webhooks on POST /webhooks/crm and produces "
    "DOCUMENT_CREATED events to docsync.events.",
    "  KAFKA_BROKERS, REDIS_HOST, REDIS_PORT, LOG_LEVEL\n"
    "  INGEST_PORT (8080), WEBHOOK_SECRET (or WEBHOOK_SECRET_FILE)\n"
    "  WEBHOOK_SIGNATURE_HEADER (X-Signature), WEBHOOK_MAX_BODY (65536)\n"
    "  INGEST_DELIVERY_TIMEOUT_MS (5000): how long an event may wait for\n"
    "    the broker before the answer is 503 (librdkafka checks once a\n"
    "    second, so the answer can come up to 1 s later)\n"
    "  INGEST_MODE (webhook, poll or both), POLL_INTERVAL_MS (5000),\n"
    "  POLL_OVERLAP_MS (60000), POLL_START (RFC 3339, default: the first\n"
    "    start), CRM_BASE_URL, CRM_API_KEY (poll)\n"
    "  CONNECTOR_FILE: its source.endpoints.list/listNext and source.list\n"
    "    describe the listing; without it, the built-in CRM's listing with\n"
    "    POLL_PAGE_LIMIT (50) documents a page\n",
};

static void reject(verdict *v, unsigned status, const char *reason,
                   const char *detail)
{
    v->status = status;
    v->result = "rejected";
    v->reason = reason;
    snprintf(v->detail, sizeof(v->detail), "%s", detail);
}

/* A 400 about one field of the event, named in the answer. */
static void reject_field(verdict *v, const char *reason, const char *name,
                         const char *detail)
{
    reject(v, 400, reason, detail);
    v->field = name;
}

/* Checks the signature header against the HMAC of the raw body. The header
 * holds 64 hex digits, optionally after "sha256=". */
static int signature_ok(const ingest *in, const char *header,
                        const request *req)
{
    char want[DS_SHA256_HEX_LEN + 1], got[DS_SHA256_HEX_LEN + 1];
    size_t i;

    if (header == NULL)
        return 0;
    if (strncmp(header, "sha256=", 7) == 0)
        header += 7;
    if (strlen(header) != DS_SHA256_HEX_LEN)
        return 0;
    for (i = 0; i < DS_SHA256_HEX_LEN; i++)
        got[i] = (char)(header[i] >= 'A' && header[i] <= 'F' ?
                        header[i] - 'A' + 'a' : header[i]);
    got[DS_SHA256_HEX_LEN] = '\0';
    if (ds_hmac_sha256_hex(in->secret, strlen(in->secret), req->body,
                           req->len, want) < 0)
        return 0;
    return ds_ct_equal(want, got, DS_SHA256_HEX_LEN);
}

/* A required string field: present, a string, not empty. */
static const char *field(json_t *event, const char *name, verdict *v)
{
    const char *s = json_string_value(json_object_get(event, name));

    if (s == NULL || s[0] == '\0') {
        char detail[96];

        snprintf(detail, sizeof(detail), "field %s is missing or not a "
                 "non-empty string", name);
        reject_field(v, "missing_field", name, detail);
    }
    return s;
}

/* The identity of an event for dedupe: for one document of a thin event,
 * the thin event's id and the documentId; else the sender's event id when
 * it has one, else (eventType, documentId, timestamp). Never documentId
 * alone: a real later update of the same document must get through. */
static int dedupe_key(json_t *event, char out[DS_SHA256_HEX_LEN + 1])
{
    const char *id = json_string_value(json_object_get(event, "eventId"));
    const char *thin = json_string_value(json_object_get(event,
                                                         "fannedOutFrom"));
    char md5[DS_MD5_HEX_LEN + 1], *text = NULL;
    ds_digest *d = ds_digest_new();
    uint64_t n;
    int rc = -1;

    if (thin != NULL)
        rc = asprintf(&text, "thin\n%s\n%s", thin,
                      json_string_value(json_object_get(event,
                                                        "documentId")));
    else if (id != NULL && id[0] != '\0')
        rc = asprintf(&text, "id\n%s", id);
    else
        rc = asprintf(&text, "t\n%s\n%s\n%s",
                      json_string_value(json_object_get(event, "eventType")),
                      json_string_value(json_object_get(event,
                                                        "documentId")),
                      json_string_value(json_object_get(event,
                                                        "timestamp")));
    if (rc < 0)
        text = NULL;
    if (text == NULL || d == NULL)
        rc = -1;
    else if (ds_digest_update(d, text, strlen(text)) < 0 ||
             ds_digest_final(d, out, md5, &n) < 0)
        rc = -1;
    else
        rc = 0;
    free(text);
    ds_digest_free(d);
    return rc;
}

/* Builds the event published to Kafka from the validated webhook. */
static json_t *event_message(json_t *event, const char *trace_id)
{
    const char *copied[] = {"eventId", "eventType", "documentId",
                            "accountId", "fileName", "timestamp",
                            "fannedOutFrom"};
    json_t *out = json_object();
    char now[32];
    size_t i;

    if (out == NULL)
        return NULL;
    for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
        json_t *v = json_object_get(event, copied[i]);

        if (json_is_string(v))
            json_object_set(out, copied[i], v);
    }
    ds_time_now_iso8601(now);
    json_object_set_new(out, "receivedAt", json_string(now));
    json_object_set_new(out, "traceId", json_string(trace_id));
    return out;
}

static void new_trace_id(char out[33])
{
    unsigned char raw[16];
    size_t i;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        memset(raw, 0, sizeof(raw));
    for (i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* Records the outcome of the claim: kept when the event is in Kafka,
 * forgotten otherwise so that the sender's retry is not called a
 * duplicate. */
static void settle(ingest *in, const char *key, const char *doc_id, int ok)
{
    ds_err err;

    ds_err_clear(&err);
    pthread_mutex_lock(&in->redis_lock);
    if (ok) {
        ds_dedupe_done(in->redis, key, DEDUPE_KEEP_MS, &err);
        ds_state_mark(in->redis, doc_id, "ingest", "received", NULL, &err);
    } else {
        ds_dedupe_release(in->redis, key, &err);
    }
    pthread_mutex_unlock(&in->redis_lock);
    if (err.klass != DS_CLASS_NONE)
        ds_log_msg(DS_LOG_WARN, "dedupe mark not settled: %s", err.msg);
}

/* Claims the event's dedupe key. Returns 1 when new, 0 when a duplicate
 * of an accepted event, -1 when Redis is unavailable and -2 when another
 * copy is still being produced after the wait. A copy that arrives while
 * the first is still in flight waits for its outcome: answering 200 at once
 * would lose the event if the first copy then failed. */
static int claim(ingest *in, const char *key)
{
    long long deadline = ds_time_mono_ms() + in->delivery_ms + 1000;
    ds_event_state state;
    ds_err err;
    int rc;

    int waited = 0;

    for (;;) {
        ds_err_clear(&err);
        pthread_mutex_lock(&in->redis_lock);
        /* The pending mark lives as long as one delivery can take: if
         * Redis goes away before it is settled, the sender's retry is
         * accepted seconds later, not refused for a minute. */
        rc = ds_dedupe_claim(in->redis, key, in->delivery_ms + 2000, &state,
                             &err);
        pthread_mutex_unlock(&in->redis_lock);
        if (rc < 0)
            return -1;
        if (state == DS_EVENT_DONE)
            return 0;
        if (state == DS_EVENT_NEW && !waited)
            return 1;
        if (state == DS_EVENT_NEW) {
            /* The copy we waited for failed, so the broker is likely down;
             * a second full delivery wait would answer past the sender's
             * timeout. Give the claim back and let the sender retry. */
            settle(in, key, NULL, 0);
            return -2;
        }
        if (ds_time_mono_ms() >= deadline)
            return -2;
        waited = 1;
        usleep(50000);
    }
}

static void publish(ingest *in, json_t *event, const char *doc_id,
                    verdict *v)
{
    char key[DS_SHA256_HEX_LEN + 1], trace[33];
    ds_header h = {"docsync.trace_id", trace};
    json_t *msg;
    char *value;
    ds_err err;
    int fresh;

    if (dedupe_key(event, key) < 0)
        return reject(v, 503, "out_of_memory", "try again");
    fresh = claim(in, key);
    if (fresh == -2)
        return reject(v, 503, "event_in_progress", "another copy of this "
                      "event is still being accepted; try again later");
    if (fresh < 0)
        return reject(v, 503, "redis_unavailable", "try again later");
    if (fresh == 0) {
        v->status = 200;
        v->result = "duplicate";
        return;
    }

    new_trace_id(trace);
    msg = event_message(event, trace);
    value = msg != NULL ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    ds_err_clear(&err);
    if (value == NULL ||
        ds_produce_sync(in->producer, in->topic, doc_id, strlen(doc_id),
                        value, strlen(value), &h, 1, &err) < 0) {
        settle(in, key, doc_id, 0);
        free(value);
        return reject(v, 503, "kafka_unavailable", "try again later");
    }
    free(value);
    settle(in, key, doc_id, 1);
    v->status = 202;
    v->result = "accepted";
}

/* Writes the log line of one answer: the whole webhook's, or one
 * document's of a thin event. */
static void log_verdict(const verdict *v, long long started_ms)
{
    ds_log_event ev = {0};

    ev.document_id = v->document_id[0] ? v->document_id : NULL;
    ev.status = strcmp(v->result, "duplicate") == 0 ? "DUPLICATE" :
                v->status < 300 ? "SUCCESS" : "FAILED";
    ev.duration_ms = (long)(ds_time_mono_ms() - started_ms);
    ev.attempt = -1;
    ev.error = v->reason;
    ev.message = v->reason != NULL ? v->detail : v->result;
    ds_log_event_write(v->status < 300 ? DS_LOG_INFO : DS_LOG_WARN, &ev);
}

/* The index of the first element of ids before i that equals ids[i], or
 * -1. There are at most THIN_MAX_DOCS: comparing each pair costs nothing. */
static long earlier_copy(json_t *ids, size_t i)
{
    const char *id = json_string_value(json_array_get(ids, i));
    size_t j;

    for (j = 0; j < i; j++)
        if (strcmp(id, json_string_value(json_array_get(ids, j))) == 0)
            return (long)j;
    return -1;
}

/* The documentIds of a thin event when they are 1 to THIN_MAX_DOCS valid
 * document ids without repeats; otherwise answers 400 naming the field
 * and returns NULL. The array is borrowed from event. */
static json_t *thin_ids(json_t *event, verdict *v)
{
    json_t *ids = json_object_get(event, "documentIds");
    size_t i, n = json_array_size(ids);
    char detail[160];
    long j;

    if (ids == NULL) {
        reject_field(v, "missing_field", "documentIds",
                     "field documentIds is missing");
        return NULL;
    }
    if (!json_is_array(ids) || n == 0 || n > THIN_MAX_DOCS) {
        reject_field(v, "invalid_field", "documentIds", "documentIds must "
                     "be an array of 1 to 100 document ids");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (!ds_doc_id_valid(json_string_value(json_array_get(ids, i)))) {
            snprintf(detail, sizeof(detail), "documentIds[%zu] must be "
                     "1-128 letters, digits or ._:- and not start with a "
                     "dot", i);
            reject_field(v, "invalid_field", "documentIds", detail);
            return NULL;
        }
        if ((j = earlier_copy(ids, i)) >= 0) {
            snprintf(detail, sizeof(detail), "documentIds[%zu] repeats "
                     "documentIds[%ld]", i, j);
            reject_field(v, "invalid_field", "documentIds", detail);
            return NULL;
        }
    }
    return ids;
}

/* The DOCUMENT_CREATED event of one document of a thin event: its own
 * eventId "<thin eventId>:<documentId>", the thin event's timestamp, and
 * fannedOutFrom, the thin eventId. No accountId: the fetcher takes it from
 * the CRM. Returns a new object, or NULL when out of memory. */
static json_t *thin_part(json_t *thin, const char *doc_id)
{
    const char *thin_id = json_string_value(json_object_get(thin,
                                                            "eventId"));
    char *part_id = NULL;
    json_t *part;

    if (asprintf(&part_id, "%s:%s", thin_id, doc_id) < 0)
        return NULL;
    part = json_pack("{s:s, s:s, s:s, s:O, s:s}", "eventId", part_id,
                     "eventType", "DOCUMENT_CREATED", "documentId", doc_id,
                     "timestamp", json_object_get(thin, "timestamp"),
                     "fannedOutFrom", thin_id);
    free(part_id);
    return part;
}

/* Publishes one document of a thin event as publish() does, logs its
 * outcome and returns its entry for the answer's "documents" list. */
static json_t *publish_part(ingest *in, json_t *thin, const char *doc_id,
                            verdict *pv)
{
    long long started = ds_time_mono_ms();
    json_t *part = thin_part(thin, doc_id);

    snprintf(pv->document_id, sizeof(pv->document_id), "%s", doc_id);
    if (part == NULL)
        reject(pv, 503, "out_of_memory", "try again");
    else
        publish(in, part, doc_id, pv);
    json_decref(part);
    log_verdict(pv, started);
    return json_pack("{s:s, s:s, s:s?}", "documentId", doc_id, "status",
                     pv->status < 300 ? pv->result : "failed", "error",
                     pv->reason);
}

/* Fans a validated thin event out into one DOCUMENT_CREATED record per
 * document, each under its own dedupe key, and lists each document's
 * result in v->documents. Stops at the first document that cannot be
 * published: the rest would wait as long on the same broker, so they are
 * "skipped" and the answer is that document's 503. The records already
 * produced stay; the sender's retry finds them duplicates. Otherwise the
 * answer is 202, or 200 "duplicate" when every document was. */
static void fan_out(ingest *in, json_t *thin, json_t *ids, verdict *v)
{
    size_t i, n = json_array_size(ids), fresh = 0;
    verdict failed = {0, NULL, NULL, "", "", NULL, NULL};

    v->documents = json_array();
    if (v->documents == NULL)
        return reject(v, 503, "out_of_memory", "try again");
    for (i = 0; i < n; i++) {
        const char *doc_id = json_string_value(json_array_get(ids, i));
        verdict pv = {0, "rejected", NULL, "", "", NULL, NULL};

        if (failed.status != 0) {
            json_array_append_new(v->documents, json_pack(
                "{s:s, s:s}", "documentId", doc_id, "status", "skipped"));
            continue;
        }
        json_array_append_new(v->documents,
                              publish_part(in, thin, doc_id, &pv));
        if (pv.status >= 300)
            failed = pv;
        else if (strcmp(pv.result, "accepted") == 0)
            fresh++;
    }
    if (failed.status != 0) {
        reject(v, failed.status, failed.reason, failed.detail);
        return;
    }
    v->status = fresh > 0 ? 202 : 200;
    v->result = fresh > 0 ? "accepted" : "duplicate";
}

/* Validates a thin event (eventId, timestamp, documentIds; resourceUri is
 * informational, a string when present) and fans it out. */
static void judge_thin(ingest *in, json_t *event, verdict *v)
{
    json_t *uri = json_object_get(event, "resourceUri");
    json_t *ids;

    if (field(event, "eventId", v) == NULL ||
        field(event, "timestamp", v) == NULL)
        return;
    if (uri != NULL && !json_is_string(uri))
        return reject_field(v, "invalid_field", "resourceUri",
                            "resourceUri must be a string");
    ids = thin_ids(event, v);
    if (ids != NULL)
        fan_out(in, event, ids, v);
}

/* Validates a webhook whose body is complete and decides its answer. */
static void judge(ingest *in, struct MHD_Connection *conn, request *req,
                  verdict *v)
{
    const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  in->signature_header);
    const char *type, *doc_id;
    json_error_t jerr;
    json_t *event;

    if (req->too_large)
        return reject(v, 413, "body_too_large", "the body is over the limit");
    if (!signature_ok(in, sig, req))
        return reject(v, 401, "bad_signature",
                      "signature missing or not valid for this body");
    /* jansson refuses invalid UTF-8, so Latin-1 names end here with 400. */
    event = json_loadb(req->body ? req->body : "", req->len, 0, &jerr);
    if (!json_is_object(event)) {
        json_decref(event);
        return reject(v, 400, "invalid_json", event == NULL ? jerr.text :
                      "the body is not a JSON object");
    }
    type = field(event, "eventType", v);
    if (type != NULL && strcmp(type, THIN_TYPE) == 0) {
        judge_thin(in, event, v);
    } else if (type != NULL && strcmp(type, "DOCUMENT_CREATED") != 0) {
        v->status = 200;
        v->result = "ignored";
    } else if (type != NULL && (doc_id = field(event, "documentId", v)) &&
               field(event, "accountId", v) && field(event, "timestamp", v)) {
        snprintf(v->document_id, sizeof(v->document_id), "%s", doc_id);
        if (!ds_doc_id_valid(doc_id))
            reject(v, 400, "invalid_field", "documentId must be 1-128 "
                   "letters, digits or ._:- and not start with a dot");
        else if (json_object_get(event, "fileName") != NULL &&
                 !json_is_string(json_object_get(event, "fileName")))
            reject(v, 400, "invalid_field", "fileName must be a string");
        else
            publish(in, event, doc_id, v);
    }
    json_decref(event);
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status,
                               json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    struct MHD_Response *resp;
    enum MHD_Result rc;

    json_decref(body);
    if (text == NULL)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(strlen(text), text,
                                           MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Adds by to docsync_ingest_webhooks_total{result="result"}. */
static void count_result(const char *result, long by)
{
    char labels[64];

    if (ds_metric_labels(labels, sizeof(labels), "result", result,
                         (char *)NULL) >= 0)
        ds_metric_add(WEBHOOKS, WEBHOOKS_HELP, labels, by);
}

/* Shows every result from the start, at zero. */
static void count_init(void)
{
    static const char *const results[] = {"accepted", "duplicate",
                                          "ignored", "rejected",
                                          "unavailable"};
    size_t i;

    for (i = 0; i < sizeof(results) / sizeof(results[0]); i++)
        count_result(results[i], 0);
}

/* Counts one answered webhook; a refusal is "unavailable" when it was a
 * 503 the sender should retry, "rejected" otherwise. A thin event that got
 * as far as its documents counts each accepted or duplicate document, and
 * a refusal once. */
static void count(const verdict *v)
{
    size_t i;
    json_t *d;

    if (v->documents != NULL) {
        json_array_foreach(v->documents, i, d) {
            const char *s = json_string_value(json_object_get(d, "status"));

            if (strcmp(s, "accepted") == 0 || strcmp(s, "duplicate") == 0)
                count_result(s, 1);
        }
        if (v->status >= 300)
            count_result(v->status == 503 ? "unavailable" : "rejected", 1);
    } else if (strcmp(v->result, "accepted") == 0 ||
        strcmp(v->result, "duplicate") == 0 ||
        strcmp(v->result, "ignored") == 0)
        count_result(v->result, 1);
    else
        count_result(v->status == 503 ? "unavailable" : "rejected", 1);
}

static enum MHD_Result answer_webhook(ingest *in, struct MHD_Connection *conn,
                                      request *req)
{
    verdict v = {0, "rejected", NULL, "", "", NULL, NULL};
    json_t *body;

    judge(in, conn, req, &v);
    count(&v);
    log_verdict(&v, req->started_ms);

    if (v.reason != NULL)
        body = json_pack("{s:s, s:s}", "error", v.reason, "detail",
                         v.detail);
    else
        body = json_pack("{s:s}", "status", v.result);
    if (body != NULL && v.document_id[0] != '\0')
        json_object_set_new(body, "documentId", json_string(v.document_id));
    if (body != NULL && v.field != NULL)
        json_object_set_new(body, "field", json_string(v.field));
    if (body != NULL && v.documents != NULL)
        json_object_set(body, "documents", v.documents);
    json_decref(v.documents);
    return respond(conn, v.status, body);
}

/* GET /metrics on ingest's own port: the process's whole registry, the
 * same page METRICS_PORT serves. */
static enum MHD_Result answer_metrics(struct MHD_Connection *conn)
{
    char *text = ds_metrics_render();
    struct MHD_Response *resp;
    enum MHD_Result rc;

    if (text == NULL)
        return respond(conn, 500, json_pack("{s:s}", "error",
                                            "out_of_memory"));
    resp = MHD_create_response_from_buffer(strlen(text), text,
                                           MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type",
                            "text/plain; version=0.0.4; charset=utf-8");
    rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Gathers a body slice; past the limit the rest is read and dropped so
 * that the answer can be a clean 413. */
static void gather(ingest *in, request *req, const char *data, size_t n)
{
    char *grown;

    if (req->too_large || req->len + n > (size_t)in->max_body) {
        req->too_large = 1;
        return;
    }
    grown = realloc(req->body, req->len + n + 1);
    if (grown == NULL) {
        req->too_large = 1;
        return;
    }
    req->body = grown;
    memcpy(req->body + req->len, data, n);
    req->len += n;
    req->body[req->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    ingest *in = cls;
    request *req = *con_cls;
    int is_post = strcmp(method, "POST") == 0;

    (void)version;
    if (strcmp(url, "/healthz") == 0 && strcmp(method, "GET") == 0)
        return respond(conn, 200, json_pack("{s:s}", "status", "ok"));
    if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0)
        return answer_metrics(conn);
    if (strcmp(url, "/webhooks/crm") != 0 || !in->webhooks)
        return respond(conn, 404, json_pack("{s:s}", "error", "not_found"));
    if (!is_post)
        return respond(conn, 405, json_pack("{s:s}", "error",
                                            "method_not_allowed"));

    if (req == NULL) {
        req = calloc(1, sizeof(*req));
        if (req == NULL)
            return MHD_NO;
        req->started_ms = ds_time_mono_ms();
        *con_cls = req;
        return MHD_YES;
    }
    if (*data_size > 0) {
        gather(in, req, data, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    return answer_webhook(in, conn, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    request *req = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (req != NULL) {
        free(req->body);
        free(req);
        *con_cls = NULL;
    }
}

/* INGEST_MODE: webhook (default), poll or both. */
static int configure_mode(ingest *in, ds_err *err)
{
    const char *mode = ds_env_str("INGEST_MODE", "webhook");

    in->webhooks = strcmp(mode, "webhook") == 0 || strcmp(mode, "both") == 0;
    in->polling = strcmp(mode, "poll") == 0 || strcmp(mode, "both") == 0;
    if (!in->webhooks && !in->polling)
        return ds_err_set(err, "bad_config", "INGEST_MODE must be webhook, "
                          "poll or both, not %.32s", mode);
    return 0;
}

static int configure(ingest *in, ds_err *err)
{
    const char *brokers = ds_env_str("KAFKA_BROKERS", "localhost:9092");

    in->signature_header = ds_env_str("WEBHOOK_SIGNATURE_HEADER",
                                      "X-Signature");
    in->topic = ds_env_str("EVENTS_TOPIC", "docsync.events");
    if (ds_env_long("INGEST_PORT", 8080, &in->port, err) < 0 ||
        ds_env_long("WEBHOOK_MAX_BODY", 65536, &in->max_body, err) < 0 ||
        ds_env_long("INGEST_DELIVERY_TIMEOUT_MS", 5000, &in->delivery_ms,
                    err) < 0)
        return -1;
    if (in->port < 1 || in->port > 65535)
        return ds_err_set(err, "bad_config",
                          "INGEST_PORT must be 1 to 65535");
    if (in->max_body < 1 || in->delivery_ms < 1)
        return ds_err_set(err, "bad_config",
                          "WEBHOOK_MAX_BODY and INGEST_DELIVERY_TIMEOUT_MS "
                          "must be positive");
    if (configure_mode(in, err) < 0)
        return -1;
    /* Without webhooks there is no signature to check. */
    in->secret = in->webhooks ? ds_env_secret("WEBHOOK_SECRET", err) : NULL;
    if (in->webhooks && in->secret == NULL)
        return -1;
    in->redis = ds_runtime_redis(err);
    if (in->redis == NULL)
        return -1;
    pthread_mutex_init(&in->redis_lock, NULL);
    in->producer = ds_producer_new(brokers, "ingest", in->delivery_ms, err);
    return in->producer == NULL ? -1 : 0;
}

#define POLL_PAGES "docsync_poll_pages_total"
#define POLL_EVENTS "docsync_poll_events_total"
#define POLL_EVENTS_HELP "Events of listed documents, by result: " \
                         "produced, duplicate, skipped."
#define POLL_ERRORS "docsync_poll_errors_total"
#define POLL_LAG "docsync_poll_lag_seconds"
#define POLL_BACKOFF_CAP_MS 60000L

/* Poll mode: a thread of its own that reads the CRM's listing. */
typedef struct poller {
    ingest view;           /* ingest's settings, with a Redis of its own */
    ds_poll_cfg cfg;
    ds_poll_io io;
    ds_connector *conn;    /* what ds_api reads, kept as long as it */
    ds_api crm;            /* its own HTTP client */
    long interval_ms;
    long long last_ok_ms;  /* wall clock at the start of the last whole
                            * round: what the lag is measured from */
    int running;
    pthread_t thread;
} poller;

/* The CRM's JSON answer to GET path: poll mode's one call of the CRM. */
static json_t *poll_get(void *ctx, const char *path, ds_err *err)
{
    poller *p = ctx;

    return ds_api_get_json(&p->crm, path, err);
}

/* Produces one listed document as publish() does for a webhook: same
 * record, key and dedupe. Returns 1 produced, 0 duplicate, 2 when the id
 * can never be produced, -1 when it is not known to be in Kafka. */
static int poll_emit(void *ctx, json_t *event, ds_err *err)
{
    poller *p = ctx;
    const char *doc_id = json_string_value(json_object_get(event,
                                                           "documentId"));
    verdict v = {0, "rejected", NULL, "", "", NULL, NULL};
    long long started = ds_time_mono_ms();

    snprintf(v.document_id, sizeof(v.document_id), "%s", doc_id);
    if (!ds_doc_id_valid(doc_id))
        reject(&v, 400, "invalid_field", "documentId must be 1-128 "
               "letters, digits or ._:- and not start with a dot");
    else
        publish(&p->view, event, doc_id, &v);
    log_verdict(&v, started);
    if (v.status == 400)
        return 2;
    if (v.status < 300)
        return strcmp(v.result, "accepted") == 0 ? 1 : 0;
    if (strcmp(v.reason, "redis_unavailable") == 0)
        return ds_err_set(err, "redis_unavailable", "dedupe of %s: %s",
                          doc_id, v.detail);
    return ds_err_set(err, "kafka_delivery", "%s not confirmed: %s", doc_id,
                      v.detail);
}

/* The built-in CRM's listing, for when no CONNECTOR_FILE describes one:
 * POLL_PAGE_LIMIT documents a page. Returns a new object, or NULL with
 * err set. */
static json_t *poll_builtin_source(ds_err *err)
{
    char list[128];
    json_t *c;
    long limit;

    if (ds_env_long("POLL_PAGE_LIMIT", 50, &limit, err) < 0)
        return NULL;
    if (limit < 1 || limit > 100) {
        ds_err_set(err, "bad_config", "POLL_PAGE_LIMIT must be 1 to 100");
        return NULL;
    }
    snprintf(list, sizeof(list), "/api/v1/documents?createdSince={since}"
             "&limit=%ld", limit);
    c = json_pack("{s:{s:{s:s, s:s}, s:{s:s, s:s, s:s}}}", "source",
                  "endpoints", "list", list, "listNext",
                  "/api/v1/documents?cursor={cursor}", "list", "items",
                  "data", "nextCursor", "nextCursor", "createdAt",
                  "createdAt");
    if (c == NULL)
        ds_err_set(err, "out_of_memory", "connector");
    return c;
}

/* What ds_poll_cfg_parse reads: the connector file's "source" when one is
 * given (CONNECTOR_FILE), else the built-in CRM's listing. */
static json_t *poll_sections(const ds_connector *conn, ds_err *err)
{
    json_t *source = ds_connector_get(conn, "source");
    json_t *c;

    if (ds_env_str("CONNECTOR_FILE", NULL) == NULL || source == NULL)
        return poll_builtin_source(err);
    c = json_pack("{s:O}", "source", source);
    if (c == NULL)
        ds_err_set(err, "out_of_memory", "connector");
    return c;
}

/* POLL_INTERVAL_MS, POLL_OVERLAP_MS and POLL_START. */
static int poll_timing(poller *p, ds_err *err)
{
    const char *start = ds_env_str("POLL_START", NULL);

    if (ds_env_long("POLL_INTERVAL_MS", 5000, &p->interval_ms, err) < 0 ||
        ds_env_long("POLL_OVERLAP_MS", 60000, &p->io.overlap_ms, err) < 0)
        return -1;
    if (p->interval_ms < 100 || p->io.overlap_ms < 0)
        return ds_err_set(err, "bad_config", "POLL_INTERVAL_MS must be at "
                          "least 100 and POLL_OVERLAP_MS not negative");
    /* Without a cursor, polling starts now, or where the operator says. */
    p->io.start_ms = ds_time_wall_ms();
    if (start != NULL && ds_poll_parse_ms(start, &p->io.start_ms) < 0)
        return ds_err_set(err, "bad_config", "POLL_START is not an RFC 3339 "
                          "time");
    return 0;
}

/* Sets up poll mode for in: the listing's description, the CRM client and
 * a Redis connection of its own. Returns 0 or -1. */
static int poll_configure(poller *p, const ingest *in, ds_err *err)
{
    json_t *connector;
    int rc;

    p->conn = ds_connector_load(err);
    if (p->conn == NULL)
        return -1;
    connector = poll_sections(p->conn, err);
    if (connector == NULL)
        return -1;
    rc = ds_poll_cfg_parse(connector, &p->cfg, err);
    json_decref(connector);
    if (rc < 0 || poll_timing(p, err) < 0)
        return -1;
    p->view = *in;
    pthread_mutex_init(&p->view.redis_lock, NULL);
    p->view.redis = ds_runtime_redis(err);
    if (p->view.redis == NULL)
        return -1;
    if (ds_api_init(&p->crm, p->conn, DS_SIDE_SOURCE, err) < 0)
        return -1;
    p->io.get = poll_get;
    p->io.emit = poll_emit;
    p->io.ctx = p;
    p->io.redis = p->view.redis;
    p->last_ok_ms = ds_time_wall_ms();
    return 0;
}

/* Frees what poll_configure made; accepts one that never ran. */
static void poll_clear(poller *p)
{
    ds_api_clear(&p->crm);
    ds_connector_free(p->conn);
    p->conn = NULL;
    ds_redis_free(p->view.redis);
    p->view.redis = NULL;
}

/* Adds a round's counts to the metrics; err is NULL after a whole round. */
static void poll_count(poller *p, const ds_poll_stats *st, const ds_err *err,
                       long long round_ms)
{
    char labels[96];

    ds_metric_add(POLL_PAGES, "Listing pages read and produced.", "",
                  st->pages);
    ds_metric_labels(labels, sizeof(labels), "result", "produced", NULL);
    ds_metric_add(POLL_EVENTS, POLL_EVENTS_HELP, labels, st->events);
    ds_metric_labels(labels, sizeof(labels), "result", "duplicate", NULL);
    ds_metric_add(POLL_EVENTS, POLL_EVENTS_HELP, labels, st->duplicates);
    ds_metric_labels(labels, sizeof(labels), "result", "skipped", NULL);
    ds_metric_add(POLL_EVENTS, POLL_EVENTS_HELP, labels, st->skipped);
    if (err != NULL && ds_metric_labels(labels, sizeof(labels), "reason",
                                        err->reason, NULL) >= 0)
        ds_metric_add(POLL_ERRORS, "Poll rounds that failed, by reason.",
                      labels, 1);
    if (err == NULL)
        p->last_ok_ms = round_ms;
    ds_metric_set(POLL_LAG, "Seconds since the start of the last whole "
                  "poll round.", "", (double)(ds_time_wall_ms() - p->last_ok_ms) /
                  1000.0);
}

/* Says, once a round, that listed items were skipped and why the first
 * was: the metric alone does not tell which document is missing. */
static void poll_report_skips(const ds_poll_stats *st)
{
    if (st->skipped > 0)
        ds_log_msg(DS_LOG_WARN, "poll round skipped %ld listed item%s; the "
                   "first: %s", st->skipped, st->skipped == 1 ? "" : "s",
                   st->skip_note);
}

/* How long to wait after the failures-th failed round in a row: what a
 * 429 or a spent rate budget asks for, else an exponential backoff from
 * the interval, capped, with jitter so that replicas do not poll in
 * step. */
static long poll_backoff(const poller *p, int failures, const ds_err *err)
{
    unsigned char r = 0;
    long wait = p->interval_ms;

    if (RAND_bytes(&r, 1) != 1)
        r = 128;
    if (err->retry_after_ms >= 0)
        return err->retry_after_ms + (long)r * 4;
    while (--failures > 0 && wait < POLL_BACKOFF_CAP_MS)
        wait *= 2;
    if (wait > POLL_BACKOFF_CAP_MS)
        wait = POLL_BACKOFF_CAP_MS;
    return wait / 2 + wait / 2 * r / 255;
}

/* Sleeps ms, waking early when the process is told to stop. */
static void poll_pause(long ms)
{
    long long end = ds_time_mono_ms() + ms;

    while (!ds_loop_stopping() && ds_time_mono_ms() < end)
        usleep(50000);
}

/* The poll thread: one round, then the interval or a backoff, until a stop
 * signal. A round always finishes the page it is on. */
static void *poll_main(void *arg)
{
    poller *p = arg;
    int failures = 0;

    while (!ds_loop_stopping()) {
        long long started = ds_time_wall_ms();
        ds_poll_stats st;
        ds_err err;
        int rc;

        ds_err_clear(&err);
        rc = ds_poll_round(&p->cfg, &p->io, &st, &err);
        poll_count(p, &st, rc < 0 ? &err : NULL, started);
        poll_report_skips(&st);
        if (rc < 0)
            ds_log_msg(DS_LOG_WARN, "poll round failed after %ld pages: "
                       "%s: %s", st.pages, err.reason, err.msg);
        failures = rc < 0 ? failures + 1 : 0;
        poll_pause(rc < 0 ? poll_backoff(p, failures, &err) :
                   p->interval_ms);
    }
    return NULL;
}

/* Waits, at most bound_ms, until the requests in hand have been answered,
 * so that a sender whose event was accepted also hears so. */
static void drain(struct MHD_Daemon *d, long bound_ms)
{
    long long end = ds_time_mono_ms() + bound_ms;
    const union MHD_DaemonInfo *info;

    while (ds_time_mono_ms() < end) {
        info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (info == NULL || info->num_connections == 0)
            return;
        usleep(20000);
    }
    ds_log_msg(DS_LOG_WARN, "stopping with requests still open");
}

/* Starts the poll thread when poll mode is on. Returns 0 or -1. */
static int poll_start(poller *p, const ingest *in)
{
    if (!in->polling)
        return 0;
    if (pthread_create(&p->thread, NULL, poll_main, p) != 0)
        return -1;
    p->running = 1;
    ds_log_msg(DS_LOG_INFO, "polling the CRM every %ld ms", p->interval_ms);
    return 0;
}

/* Waits for the poll thread, which finishes its page after a stop. */
static void poll_join(poller *p)
{
    if (p->running)
        pthread_join(p->thread, NULL);
    p->running = 0;
}

/* Serves until a stop signal (and polls, in poll mode), then stops taking
 * connections, lets the requests and the page in hand finish (each bounded
 * by the delivery timeout) and flushes the producer. In poll mode the HTTP
 * server still answers /healthz and /metrics. */
static int serve(ingest *in, poller *p)
{
    struct MHD_Daemon *d;
    long left;

    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_THREAD_PER_CONNECTION,
                         (uint16_t)in->port, NULL, NULL, on_request, in,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, in,
                         MHD_OPTION_CONNECTION_LIMIT, 512,
                         MHD_OPTION_CONNECTION_TIMEOUT, 30,
                         MHD_OPTION_END);
    if (d == NULL) {
        ds_log_msg(DS_LOG_ERROR, "cannot listen on port %ld", in->port);
        return 1;
    }
    ds_log_msg(DS_LOG_INFO, "listening on port %ld", in->port);
    if (poll_start(p, in) < 0) {
        ds_log_msg(DS_LOG_ERROR, "cannot start the poll thread");
        ds_loop_stop();
    }
    while (!ds_loop_stopping())
        usleep(100000);

    ds_log_msg(DS_LOG_INFO, "stopping: no new connections, draining");
    poll_join(p);
    MHD_quiesce_daemon(d);
    drain(d, in->delivery_ms + 3000);
    MHD_stop_daemon(d);
    left = ds_producer_flush(in->producer, 10000);
    if (left > 0 || ds_producer_failed_count(in->producer) > 0)
        ds_log_msg(DS_LOG_ERROR, "%ld events undelivered, %ld delivery "
                   "reports failed", left,
                   ds_producer_failed_count(in->producer));
    return 0;
}

int main(int argc, char **argv)
{
    static ingest in;
    static poller p;
    ds_err err;
    int rc;

    rc = ds_runtime_start(&PROGRAM, argc, argv);
    if (rc >= 0)
        return rc;
    ds_err_clear(&err);
    ds_loop_install_signals();
    count_init();
    if (configure(&in, &err) < 0 ||
        (in.polling && poll_configure(&p, &in, &err) < 0))
        rc = ds_runtime_fail("cannot start", &err);
    else
        rc = serve(&in, &p);
    poll_clear(&p);
    ds_producer_free(in.producer);
    ds_redis_free(in.redis);
    if (in.secret != NULL)
        memset(in.secret, 0, strlen(in.secret));
    free(in.secret);
    return ds_runtime_exit(rc);
}
