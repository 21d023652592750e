/* sb_admin.c - the sandbox's own routes; see sb_admin.h. */
#include "sb_admin.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "sb_hooks.h"
#include "sb_limit.h"
#include "sb_log.h"
#include "sb_oauth.h"
#include "sb_session.h"
#include "sb_time.h"
#include "sb_webhook.h"

#define MAX_DELIVERIES 100
#define MAX_DELAY_MS 600000L
#define MAX_FAULT_COUNT 1000000L
#define DEFAULT_FAULT_STATUS 500
#define DEFAULT_FAULT_BODY "{\"error\":\"injected_fault\"}"
/* What the OAuth2 mode answers an expired token, for a 401 after the body. */
#define TOKEN_FAULT_BODY "{\"error\":\"invalid_token\",\"reason\":\"expired\"}"

/* The body of POST /admin/crm/documents. Strings point into the parsed
 * JSON and live as long as it does. */
typedef struct add_req {
    const char *account_id;
    const char *path;
    const char *file_name;
    const char *mime_type;
    const char *description;
    const char *document_id;
    const char *raw_body;
    const char *signature;
    int64_t created_ms;      /* "createdAt", or now */
    long deliveries;
    long delay_ms;
    int webhook;
    int no_mime_type;        /* "mimeType": null: the metadata has none */
} add_req;

static const struct {
    const char *ext;
    const char *mime;
} mime_types[] = {
    {"pdf", "application/pdf"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
};

/* The optional "createdAt" of a backdated document (clock-skew tests);
 * now without one. */
static int parse_created(json_t *body, add_req *a, sb_reply *out)
{
    const char *text = NULL;

    a->created_ms = sb_time_now_ms();
    if (sb_field_string(body, "createdAt", &text, out) != 0)
        return -1;
    if (text != NULL && sb_time_parse_ms(text, &a->created_ms) != 0) {
        sb_reply_bad_field(out, "bad_field", "createdAt");
        return -1;
    }
    return 0;
}

static int parse_add(json_t *body, add_req *a, sb_reply *out)
{
    json_t *hook = json_object_get(body, "webhook");

    memset(a, 0, sizeof(*a));
    a->deliveries = 1;
    a->webhook = 1;
    if (sb_field_string(body, "accountId", &a->account_id, out) != 0 ||
        sb_field_string(body, "path", &a->path, out) != 0 ||
        sb_field_string(body, "fileName", &a->file_name, out) != 0 ||
        sb_field_string(body, "mimeType", &a->mime_type, out) != 0 ||
        sb_field_string(body, "description", &a->description, out) != 0 ||
        sb_field_string(body, "documentId", &a->document_id, out) != 0 ||
        sb_field_string(body, "rawBody", &a->raw_body, out) != 0 ||
        sb_field_string(body, "signature", &a->signature, out) != 0 ||
        sb_field_long(body, "deliveries", 0, MAX_DELIVERIES,
                      &a->deliveries, out) != 0 ||
        sb_field_long(body, "delayMs", 0, MAX_DELAY_MS, &a->delay_ms,
                      out) != 0)
        return -1;
    if (hook != NULL && !json_is_boolean(hook)) {
        sb_reply_bad_field(out, "bad_field", "webhook");
        return -1;
    }
    a->webhook = hook == NULL || json_is_true(hook);
    /* A CRM may hold a document whose type nobody recorded. */
    a->no_mime_type = json_is_null(json_object_get(body, "mimeType"));
    if (parse_created(body, a, out) != 0)
        return -1;
    if (a->account_id == NULL || *a->account_id == '\0') {
        sb_reply_bad_field(out, "missing_field", "accountId");
        return -1;
    }
    if (a->path == NULL || *a->path == '\0') {
        sb_reply_bad_field(out, "missing_field", "path");
        return -1;
    }
    if (a->document_id != NULL && !sb_id_valid(a->document_id)) {
        sb_reply_bad_field(out, "bad_field", "documentId");
        return -1;
    }
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL ? slash + 1 : path;
}

/* The MIME type of the few kinds of file the samples hold, by extension. */
static const char *guess_mime(const char *path)
{
    const char *dot = strrchr(base_name(path), '.');

    for (size_t i = 0; dot != NULL && i < sizeof(mime_types) /
                                              sizeof(mime_types[0]); i++)
        if (strcasecmp(dot + 1, mime_types[i].ext) == 0)
            return mime_types[i].mime;
    return "application/octet-stream";
}

/* Builds the CRM record of a. Answers 400 and returns NULL when the path is
 * not a readable regular file. The path is made absolute so that it means
 * the same file whatever the caller's directory was. */
static json_t *crm_record(const add_req *a, sb_reply *out)
{
    char abs_path[PATH_MAX];
    char created[SB_TIME_ISO_LEN + 1];
    struct stat sb;
    json_t *rec;

    if (realpath(a->path, abs_path) == NULL || stat(abs_path, &sb) != 0 ||
        !S_ISREG(sb.st_mode)) {
        sb_reply_bad_field(out, "bad_path", "path");
        return NULL;
    }
    /* Milliseconds: the listing orders and pages by them. */
    sb_time_format_ms(a->created_ms, created);
    rec = json_pack("{s:s,s:s,s:s?,s:I,s:s,s:s,s:I,s:s}",
                    "accountId", a->account_id,
                    "fileName", a->file_name != NULL ? a->file_name
                                                     : base_name(a->path),
                    "mimeType", a->no_mime_type ? NULL
                                : a->mime_type != NULL ? a->mime_type
                                                       : guess_mime(a->path),
                    "size", (json_int_t)sb.st_size,
                    "description", a->description != NULL ? a->description
                                                           : "",
                    "createdAt", created, "createdMs",
                    (json_int_t)a->created_ms, "path", abs_path);
    if (rec == NULL)
        sb_reply_error(out, 500, "internal", "oom");
    return rec;
}

/* Sends the webhook of a new document a->deliveries times and returns the
 * statuses as a JSON array (0 for a delivery that got no answer), or NULL
 * when out of memory. */
static json_t *send_webhooks(const sb_ctx *ctx, const add_req *a,
                             const char *doc_id, const char *file_name,
                             const char *event_id)
{
    sb_webhook_target t = {ctx->opt->webhook_url, ctx->opt->webhook_secret,
                           ctx->opt->signature_header};
    json_t *statuses = json_array();
    char *event = NULL;
    const char *body = a->raw_body;

    if (statuses == NULL)
        return NULL;
    if (body == NULL) {
        event = sb_webhook_event(event_id, doc_id, a->account_id, file_name);
        body = event;
    }
    for (long i = 0; body != NULL && i < a->deliveries; i++) {
        int status;

        /* A stop cuts the wait short; the remaining deliveries are moot. */
        if (i > 0 && sb_state_sleep_ms(ctx->state, a->delay_ms) != 0)
            break;
        status = sb_webhook_post(&t, body, strlen(body), a->signature);
        json_array_append_new(statuses, json_integer(status));
        /* Retries and duplicates, when configured, go on in the
         * background; the answer reports the first attempts only. */
        if (ctx->hooks != NULL)
            sb_hooks_after(ctx->hooks, body, a->signature, event_id, doc_id,
                           status);
        sb_log_msg(status >= 200 && status < 300 ? "info" : "warn",
                   "webhook sent",
                   json_pack("{s:s,s:s,s:i,s:i}", "eventId", event_id,
                             "documentId", doc_id, "attempt", (int)i + 1,
                             "status", status));
    }
    free(event);
    return statuses;
}

void sb_admin_crm_add(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    json_t *body = sb_call_json_body(call, out);
    json_t *rec = NULL, *statuses = NULL;
    char id[SB_ID_MAX + 1], event_id[SB_ID_MAX + 1];
    const char *file_name;
    add_req a;

    if (body == NULL || parse_add(body, &a, out) != 0)
        goto out;
    rec = crm_record(&a, out);
    if (rec == NULL)
        goto out;

    /* The record must be visible before the webhook leaves: ingest may hand
     * the event to the fetcher at once. */
    json_incref(rec);
    if (sb_state_crm_add(ctx->state, a.document_id, rec, id) != 0) {
        sb_reply_error(out, 409, "conflict", "document_exists");
        goto out;
    }
    file_name = json_string_value(json_object_get(rec, "fileName"));
    event_id[0] = '\0';
    if (a.webhook && a.deliveries > 0 && ctx->opt->webhook_url != NULL) {
        sb_state_next_event_id(ctx->state, event_id);
        statuses = send_webhooks(ctx, &a, id, file_name, event_id);
    } else {
        statuses = json_array();
    }
    sb_reply_json(out, 201, json_pack("{s:s,s:s?,s:o?}", "documentId", id,
                                      "eventId",
                                      event_id[0] ? event_id : NULL,
                                      "webhookStatuses", statuses));

out:
    json_decref(rec);
    json_decref(body);
}

void sb_admin_crm_thin(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    sb_webhook_target t = {ctx->opt->webhook_url, ctx->opt->webhook_secret,
                           ctx->opt->signature_header};
    json_t *body = sb_call_json_body(call, out), *ids, *answer = NULL;
    const char *given_id = NULL, *given_ts = NULL;
    char event_id[SB_ID_MAX + 1], now[21];
    char *event = NULL;
    int status;

    if (body == NULL ||
        sb_field_string(body, "eventId", &given_id, out) != 0 ||
        sb_field_string(body, "timestamp", &given_ts, out) != 0)
        goto out;
    ids = json_object_get(body, "documentIds");
    if (ids == NULL) {
        sb_reply_bad_field(out, "missing_field", "documentIds");
        goto out;
    }
    if (t.url == NULL) {
        sb_reply_error(out, 409, "conflict", "no_webhook_url");
        goto out;
    }
    if (given_id != NULL)
        snprintf(event_id, sizeof(event_id), "%s", given_id);
    else
        sb_state_next_event_id(ctx->state, event_id);
    sb_log_now_iso(now);
    event = sb_webhook_thin_event(event_id, ids,
                                  given_ts != NULL ? given_ts : now);
    if (event == NULL) {
        sb_reply_error(out, 500, "internal", "oom");
        goto out;
    }
    status = sb_webhook_post_answer(&t, event, strlen(event), &answer);
    sb_log_msg(status >= 200 && status < 300 ? "info" : "warn",
               "thin webhook sent", json_pack("{s:s,s:O,s:i}", "eventId",
                                              event_id, "documentIds", ids,
                                              "status", status));
    sb_reply_json(out, 200, json_pack("{s:s,s:s,s:i,s:o?}", "eventId",
                                      event_id, "timestamp",
                                      given_ts != NULL ? given_ts : now,
                                      "webhookStatus", status, "answer",
                                      answer));

out:
    free(event);
    json_decref(body);
}

void sb_admin_crm_delete(const sb_ctx *ctx, const sb_call *call,
                         sb_reply *out)
{
    if (sb_state_crm_delete(ctx->state, call->param) != 0) {
        sb_reply_error(out, 404, "not_found", NULL);
        return;
    }
    sb_reply_text(out, 204, "", "");
}

void sb_admin_tx_list(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    (void)call;
    sb_reply_json(out, 200, sb_state_tx_list(ctx->state));
}

/* The body of POST /admin/faults. body points into the parsed JSON. */
typedef struct fault_req {
    sb_fault_route route;
    long count;
    long status;
    long delay_ms;
    int after_body;
    const char *body;
} fault_req;

/* Reads the optional boolean "afterBody" into *v (0 when absent). */
static int field_after_body(json_t *body, int *v, sb_reply *out)
{
    json_t *flag = json_object_get(body, "afterBody");

    *v = 0;
    if (flag == NULL)
        return 0;
    if (!json_is_boolean(flag)) {
        sb_reply_bad_field(out, "bad_field", "afterBody");
        return -1;
    }
    *v = json_is_true(flag);
    return 0;
}

/* The default body of a fault: a 401 after the body stands for a token
 * that expired during the upload, and says so as the OAuth2 mode does. */
static const char *default_fault_body(const fault_req *f)
{
    return f->after_body && f->status == 401 ? TOKEN_FAULT_BODY
                                             : DEFAULT_FAULT_BODY;
}

static int parse_fault(json_t *body, fault_req *f, sb_reply *out)
{
    const char *name = NULL;

    f->count = 1;
    f->status = -1;
    f->delay_ms = 0;
    if (sb_field_string(body, "route", &name, out) != 0 ||
        sb_field_long(body, "count", 1, MAX_FAULT_COUNT, &f->count,
                      out) != 0 ||
        sb_field_long(body, "status", 100, 599, &f->status, out) != 0 ||
        sb_field_long(body, "delayMs", 0, MAX_DELAY_MS, &f->delay_ms,
                      out) != 0 ||
        field_after_body(body, &f->after_body, out) != 0 ||
        sb_field_string(body, "body", &f->body, out) != 0)
        return -1;
    f->route = sb_fault_route_parse(name);
    if (f->route == SB_FAULT_NONE) {
        sb_reply_bad_field(out,
                           name == NULL ? "missing_field" : "bad_field",
                           "route");
        return -1;
    }
    /* A bare fault is a 500; a delay alone is a hang that then answers
     * normally; both sleep, then answer the status. */
    if (f->status < 0)
        f->status = f->delay_ms > 0 ? 0 : DEFAULT_FAULT_STATUS;
    if (f->body == NULL)
        f->body = default_fault_body(f);
    return 0;
}

void sb_admin_faults(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    json_t *body = sb_call_json_body(call, out);
    fault_req f;
    sb_fault fault;
    long pending;

    if (body == NULL || parse_fault(body, &f, out) != 0)
        goto out;
    fault.status = (int)f.status;
    fault.body = (char *)f.body; /* copied by the push */
    fault.delay_ms = f.delay_ms;
    fault.after_body = f.after_body;
    pending = sb_state_fault_push(ctx->state, f.route, f.count, &fault);
    if (pending < 0) {
        sb_reply_error(out, 500, "internal", "oom");
        goto out;
    }
    sb_reply_json(out, 200, json_pack("{s:O,s:I}", "route",
                                      json_object_get(body, "route"),
                                      "pending", (json_int_t)pending));

out:
    json_decref(body);
}

void sb_admin_reset(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    (void)call;
    sb_state_reset(ctx->state);
    sb_chaos_reset(ctx->chaos);
    sb_limit_reset(ctx->limit);
    sb_oauth_reset(ctx->oauth);
    sb_sessions_reset(ctx->sessions);
    if (ctx->hooks != NULL)
        sb_hooks_clear(ctx->hooks);
    sb_log_msg("info", "state reset", NULL);
    sb_reply_json(out, 200, json_pack("{s:s}", "status", "reset"));
}

void sb_admin_health(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    (void)ctx;
    (void)call;
    sb_reply_json(out, 200, json_pack("{s:s}", "status", "ok"));
}
