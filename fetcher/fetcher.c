/*
 * fetcher - copies each announced document out of the CRM.
 *
 * Consumes docsync.events. For each document it reads the CRM's metadata,
 * streams the content into the content-addressed blob store while hashing
 * it, and publishes to docsync.fetched a reference to the blob with its
 * size, sha256 and md5 and the source metadata. The connector's
 * endpoints name the CRM's routes and its field rules (source.fields) turn
 * the CRM's metadata into docsync's own fields; a required one that is
 * missing is a permanent failure (bad_response). The CRM's accountId and
 * fileName win over the event's: a thin event carries neither. A document
 * the CRM no longer has is a permanent failure (source_not_found).
 *
 * The file name is passed on byte for byte; one that cannot be (empty, not
 * UTF-8, a control character, a path: ds_filename.h) fails permanently as
 * bad_file_name before any byte is copied. The first bytes of the content
 * are kept on the way into the blob and tell its type (ds_mime.h): a CRM
 * type that is missing or generic is replaced, one the bytes contradict
 * is overruled with a warning, and the record says where its mimeType
 * came from. No document fails for its type.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_api.h"
#include "ds_blob.h"
#include "ds_blobref.h"
#include "ds_config.h"
#include "ds_connector.h"
#include "ds_fields.h"
#include "ds_filename.h"
#include "ds_log.h"
#include "ds_loop.h"
#include "ds_mime.h"
#include "ds_runtime.h"
#include "ds_state.h"
#include "ds_utf8.h"

typedef struct fetcher {
    ds_connector *connector;
    ds_api crm;
    ds_blob_store *blobs;
    ds_redis *redis;
} fetcher;

/* The copy of one document's content: the blob writer and the error its
 * sink reports into while the content streams, then the hashes and size,
 * and the first bytes, kept on the way for ds_mime_sniff so that the file
 * is read once. */
typedef struct content {
    ds_blob_writer *w;
    ds_err *err;
    char sha256[DS_SHA256_HEX_LEN + 1];
    char md5[DS_MD5_HEX_LEN + 1];
    uint64_t size;
    unsigned char head[DS_MIME_HEAD_MAX];
    size_t head_len;
} content;

static const ds_program PROGRAM = {
    "docsync-fetcher", "fetcher",
    "Reads docsync.events, copies each document from the CRM into the blob "
    "store, publishes docsync.fetched.",
    "  KAFKA_BROKERS, REDIS_HOST, REDIS_PORT, LOG_LEVEL\n"
    "  BLOB_DIR (/var/lib/docsync/blobs), or BLOB_STORE: the blob store\n"
    "  CONNECTOR_FILE: the APIs' connector (docs/connectors.md); without\n"
    "    it: CRM_BASE_URL, CRM_API_KEY (or CRM_API_KEY_FILE),\n"
    "    CRM_API_KEY_HEADER\n"
    "  HTTP_CONNECT_TIMEOUT_MS, HTTP_TIMEOUT_MS, MAX_ATTEMPTS,\n"
    "  BACKOFF_BASE_MS, BACKOFF_CAP_MS, RETRY_BUDGET_MS\n"
    "  BLOB_TMP_MAX_AGE_S (3600): at start, partial blobs left this long\n"
    "    in BLOB_DIR/tmp by a fetcher that died are removed\n",
};

/* A 404 from the CRM means the document was deleted: permanent. */
static void classify_crm_error(ds_err *err)
{
    if (err->http_status == 404)
        ds_err_reset(err, "source_not_found",
                     "the CRM has no such document (404)");
}

/* The connector's rules applied to meta (taken), or meta itself when
 * there are none. */
static json_t *apply_rules(const json_t *rules, json_t *meta, ds_err *err)
{
    json_t *mapped;

    if (rules == NULL)
        return meta;
    mapped = ds_fields_apply(rules, meta, "bad_response", err);
    json_decref(meta);
    return mapped;
}

/* The fileName of the CRM's answer read again with each byte that is not
 * UTF-8 repaired as mode says and \u0000 allowed, or NULL when even so it
 * is no JSON object or names no file. The caller decrefs. */
static json_t *repaired_name(const json_t *rules, const ds_http_resp *resp,
                             ds_utf8_repair_mode mode)
{
    size_t len = 0;
    char *text = ds_utf8_json_repair(resp->body ? resp->body : "",
                                     resp->body_len, mode, &len);
    json_t *meta = text ? json_loadb(text, len, JSON_ALLOW_NUL, NULL) : NULL;
    json_t *name;
    ds_err ignored;

    free(text);
    if (!json_is_object(meta)) {
        json_decref(meta);
        return NULL;
    }
    ds_err_clear(&ignored);
    meta = apply_rules(rules, meta, &ignored);
    name = json_incref(json_object_get(meta, "fileName"));
    json_decref(meta);
    return name;
}

/* Fails for a CRM answer that jansson refused. It refuses bytes that are
 * not UTF-8 and \u0000, and when they are in the file name the document
 * is to blame, not the API: bad_file_name. The answer is read twice more,
 * such bytes taken as Latin-1 and as U+FFFD; the two names differ exactly
 * when the name held some. Anything else is bad_response. */
static int refused_metadata(const json_t *rules, const ds_http_resp *resp,
                            const char *path, ds_err *err)
{
    json_t *latin1 = repaired_name(rules, resp, DS_UTF8_AS_LATIN1);
    json_t *marked = repaired_name(rules, resp, DS_UTF8_AS_REPLACEMENT);
    char shown[200];

    if (latin1 != NULL && marked != NULL && !json_equal(latin1, marked)) {
        ds_file_name_show(json_string_value(latin1),
                          json_string_length(latin1), shown, sizeof(shown));
        ds_err_set(err, "bad_file_name", "fileName is not valid UTF-8 (its "
                   "bytes read as Latin-1: \"%s\")", shown);
    } else if (latin1 == NULL || ds_file_name_check_json(latin1, err) == 0) {
        ds_err_set(err, "bad_response", "%s did not answer a JSON object "
                   "in UTF-8", path);
    }
    json_decref(latin1);
    json_decref(marked);
    return -1;
}

/* The CRM's metadata of the document, turned into docsync's fields by
 * the connector's rules (as the CRM sent it when there are none). */
static json_t *get_metadata(fetcher *f, const char *doc_id, ds_err *err)
{
    const ds_tpl_var vars[] = {{"documentId", doc_id}, {NULL, NULL}};
    const json_t *rules = ds_connector_get(f->connector, "source.fields");
    ds_http_resp resp = {0};
    char path[1024];
    json_t *meta;

    if (ds_connector_path(f->connector, DS_SIDE_SOURCE, "metadata", vars,
                          path, sizeof(path), err) < 0)
        return NULL;
    meta = ds_api_get_json_resp(&f->crm, path, &resp, err);
    if (meta != NULL) {
        meta = apply_rules(rules, meta, err);
    } else if (strcmp(err->reason, "bad_response") == 0) {
        /* A 2xx jansson refused: say whether the name is to blame. */
        ds_err_clear(err);
        refused_metadata(rules, &resp, path, err);
    } else {
        classify_crm_error(err);
    }
    ds_http_resp_clear(&resp);
    return meta;
}

/* The document's name: the CRM's, else the event's. One that cannot be
 * passed on as it is fails before any byte is copied. */
static int check_name(const ds_msg *in, const json_t *meta, ds_err *err)
{
    const json_t *name = json_object_get(meta, "fileName");

    if (name == NULL || json_is_null(name))
        name = json_object_get(in->value, "fileName");
    return ds_file_name_check_json(name, err);
}

/* The content sink: keeps the first bytes, then writes to the blob. */
static int to_blob(const char *buf, size_t n, void *ud)
{
    content *c = ud;
    size_t keep = sizeof(c->head) - c->head_len;

    if (keep > n)
        keep = n;
    memcpy(c->head + c->head_len, buf, keep);
    c->head_len += keep;
    return ds_blob_write(c->w, buf, n, c->err);
}

/* Streams the content into a new blob. Returns 0 with c's hashes, size
 * and first bytes. */
static int get_content(fetcher *f, const char *doc_id, content *c,
                       ds_err *err)
{
    const ds_tpl_var vars[] = {{"documentId", doc_id}, {NULL, NULL}};
    ds_http_resp resp = {0};
    ds_http_req req = {0};
    char path[1024];
    int rc = -1;

    memset(c, 0, sizeof(*c));
    if (ds_connector_path(f->connector, DS_SIDE_SOURCE, "content", vars,
                          path, sizeof(path), err) < 0)
        return -1;
    c->w = ds_blob_writer_new(f->blobs, err);
    if (c->w == NULL)
        return -1;
    /* The sink reports its own failures into err: the first error wins. */
    c->err = err;
    req.sink = to_blob;
    req.sink_ud = c;
    if (ds_api_do(&f->crm, "GET", path, &req, &resp, err) < 0) {
        classify_crm_error(err);
        goto out;
    }
    rc = ds_blob_commit(c->w, c->sha256, c->md5, &c->size, err);
out:
    ds_http_resp_clear(&resp);
    ds_blob_writer_free(c->w);
    c->w = NULL;
    return rc;
}

/* Takes the CRM's accountId into out. An event fanned out of a thin one
 * has none; one that names another account than the CRM is overruled,
 * with a warning, as the CRM is where the document lives. */
static void take_account(json_t *out, json_t *meta)
{
    const char *had = json_string_value(json_object_get(out, "accountId"));
    ds_log_event ev = {0};
    char text[320], crm[128];

    /* Some CRMs number their accounts: docsync's ids are strings. */
    if (ds_json_scalar_text(json_object_get(meta, "accountId"), crm,
                            sizeof(crm)) < 0)
        return;
    if (had != NULL && strcmp(had, crm) != 0) {
        snprintf(text, sizeof(text), "the event names account %.128s, the "
                 "CRM %.128s: the CRM's is used", had, crm);
        ev.document_id = json_string_value(json_object_get(out,
                                                           "documentId"));
        ev.status = "SUCCESS";
        ev.attempt = -1;
        ev.message = text;
        ds_log_event_write(DS_LOG_WARN, &ev);
    }
    json_object_set_new(out, "accountId", json_string(crm));
}

/* The event with the mapped metadata and the copy's blob. The event's
 * documentId stays the key; size is the size of the copy. */
static json_t *fetched_message(const ds_msg *in, json_t *meta,
                               const content *c)
{
    json_t *out = json_deep_copy(in->value);
    const char *key;
    json_t *v;

    if (out == NULL)
        return NULL;
    json_object_foreach(meta, key, v) {
        if (strcmp(key, "documentId") != 0 && strcmp(key, "accountId") != 0 &&
            strcmp(key, "size") != 0 && !json_is_null(v))
            json_object_set(out, key, v);
    }
    take_account(out, meta);
    json_object_set_new(out, "blob", json_string(c->sha256));
    json_object_set_new(out, "sha256", json_string(c->sha256));
    json_object_set_new(out, "md5", json_string(c->md5));
    json_object_set_new(out, "size", json_integer((json_int_t)c->size));
    return out;
}

/* Logs a warning about the document's metadata that does not stop it. */
static void warn(const json_t *out, const char *text)
{
    ds_log_event ev = {0};

    ev.document_id = json_string_value(json_object_get(out, "documentId"));
    ev.status = "SUCCESS";
    ev.duration_ms = -1;
    ev.attempt = -1;
    ev.message = text;
    ds_log_event_write(DS_LOG_WARN, &ev);
}

/* Sets out's mimeType and mimeTypeSource from the CRM's type, the first
 * bytes and the name (ds_mime_choose), with detectedMimeType when the
 * bytes show a type and declaredMimeType when the CRM's is not used. A
 * type the bytes contradict is logged, naming both. */
static void set_mime_type(json_t *out, const content *c)
{
    const char *declared = json_string_value(json_object_get(out,
                                                             "mimeType"));
    const char *name = json_string_value(json_object_get(out, "fileName"));
    const char *detected = ds_mime_sniff(c->head, c->head_len, name);
    ds_mime_choice choice;
    char text[320];

    ds_mime_choose(declared, detected, name, &choice);
    if (choice.contradicted) {
        snprintf(text, sizeof(text), "the CRM declares the type %.100s but "
                 "the content is %s: %s is used", declared, detected,
                 choice.type);
        warn(out, text);
    }
    json_object_del(out, "declaredMimeType");
    json_object_del(out, "detectedMimeType");
    if (choice.declared_unused)
        json_object_set_new(out, "declaredMimeType", json_string(declared));
    if (detected != NULL)
        json_object_set_new(out, "detectedMimeType", json_string(detected));
    /* The copy is made before the old value, which choice.type may be,
     * is released. */
    json_object_set_new(out, "mimeType", json_string(choice.type));
    json_object_set_new(out, "mimeTypeSource",
                        json_string(ds_mime_source_name(choice.source)));
}

/* The size the CRM announces: a JSON integer (up to 2^63 - 1), a number
 * without a fraction up to 2^53 (past that a double is not exact), or a
 * string of digits, as some CRMs send it. Returns 1 with *size, 0 when
 * there is none, -1 when it is not a byte count. */
static int announced_size(const json_t *v, uint64_t *size)
{
    const char *text = json_string_value(v);
    unsigned long long n;
    char *end;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -1;
        *size = (uint64_t)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);

        if (!(d >= 0 && d <= 9007199254740992.0) ||
            d != (double)(uint64_t)d)
            return -1;
        *size = (uint64_t)d;
        return 1;
    }
    if (text == NULL || !isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    n = strtoull(text, &end, 10);
    if (*end != '\0' || errno != 0)
        return -1;
    *size = n;
    return 1;
}

/* A copy shorter or longer than the CRM says is never passed on: a short
 * or empty copy must not be uploaded and then verified against itself.
 * Transient, as the CRM may still be writing the file. A size that is no
 * byte count cannot be compared: a warning, not a failure. */
static int size_mismatch(const json_t *meta, uint64_t got, const json_t *out,
                         ds_err *err)
{
    uint64_t want = 0;
    int given = announced_size(json_object_get(meta, "size"), &want);

    if (given < 0)
        warn(out, "the CRM's size is not a byte count: the copy's size "
             "is not compared with it");
    if (given <= 0 || want == got)
        return 0;
    ds_err_set(err, "source_size_mismatch",
               "the CRM announced %llu bytes but sent %llu",
               (unsigned long long)want, (unsigned long long)got);
    return 1;
}

static int handle(void *ctx, const ds_msg *in, json_t **out, ds_err *err)
{
    fetcher *f = ctx;
    const char *doc_id = json_string_value(
        json_object_get(in->value, "documentId"));
    content c;
    json_t *meta;
    int rc = -1;

    if (!ds_doc_id_valid(doc_id))
        return ds_err_set(err, "bad_message",
                          "documentId missing or not plain");
    meta = get_metadata(f, doc_id, err);
    if (meta == NULL)
        return -1;
    if (check_name(in, meta, err) < 0 ||
        get_content(f, doc_id, &c, err) < 0 ||
        ds_blobref_hold(f->redis, f->blobs, c.sha256, doc_id,
                        ds_runtime_owner(), err) < 0)
        goto out;
    if (size_mismatch(meta, c.size, in->value, err)) {
        int removed;

        /* Let the bad copy go (unless another document holds the same
         * bytes); the retry fetches again. */
        ds_blobref_drop(f->redis, f->blobs, c.sha256, doc_id,
                        ds_runtime_owner(), &removed, err);
        goto out;
    }
    *out = fetched_message(in, meta, &c);
    if (*out == NULL) {
        ds_err_set(err, "out_of_memory", "json");
        goto out;
    }
    set_mime_type(*out, &c);
    rc = ds_state_mark(f->redis, doc_id, "fetcher", "fetched", c.sha256,
                       err);
out:
    json_decref(meta);
    return rc;
}

/* Clears what fetchers that died left half written in the blob store's
 * tmp directory. Best effort: a store it cannot read fails later, where
 * the error belongs to a document. */
static void sweep_tmp(const fetcher *f, long max_age_s)
{
    ds_err err;
    int removed;

    ds_err_clear(&err);
    if (ds_blob_sweep_tmp(f->blobs, max_age_s, &removed, &err) < 0)
        ds_log_msg(DS_LOG_WARN, "blob tmp not swept: %s", err.msg);
    else if (removed > 0)
        ds_log_msg(DS_LOG_INFO, "removed %d partial blobs older than %ld s",
                   removed, max_age_s);
}

static int configure(void *ctx, ds_err *err)
{
    fetcher *f = ctx;
    long max_age_s;

    if (ds_env_long("BLOB_TMP_MAX_AGE_S", 3600, &max_age_s, err) < 0)
        return -1;
    if (max_age_s < 60)
        return ds_err_set(err, "bad_config", "BLOB_TMP_MAX_AGE_S must be at "
                          "least 60, not %ld", max_age_s);
    f->blobs = ds_blob_store_from_env(err);
    if (f->blobs == NULL)
        return -1;
    sweep_tmp(f, max_age_s);
    f->connector = ds_connector_load(err);
    if (f->connector == NULL ||
        ds_api_init(&f->crm, f->connector, DS_SIDE_SOURCE, err) < 0)
        return -1;
    f->redis = ds_runtime_redis(err);
    return f->redis == NULL ? -1 : 0;
}

static void cleanup(void *ctx)
{
    fetcher *f = ctx;

    ds_api_clear(&f->crm);
    ds_connector_free(f->connector);
    f->connector = NULL;
    ds_redis_free(f->redis);
    ds_blob_store_free(f->blobs);
    f->blobs = NULL;
}

int main(int argc, char **argv)
{
    static fetcher f;
    const ds_stage stage = {"fetcher", "docsync.events", "docsync.fetched",
                            handle, &f};

    return ds_runtime_stage_main(&PROGRAM, &stage, configure, cleanup, argc,
                                 argv);
}
