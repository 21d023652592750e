/* ds_chunked.c - uploads through a session, part by part; see
 * ds_chunked.h. */
#include "ds_chunked.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_fields.h"
#include "ds_log.h"
#include "ds_state.h"

/* How many sessions one attempt may open: the first (or the one resumed)
 * and one more when the destination forgot it. */
#define MAX_SESSIONS 2
/* How often the count of received parts may be asked again after the
 * destination said a part came out of order. */
#define MAX_RESYNCS 2

/* Where one attempt stands. */
typedef struct session {
    char id[256];
    uint64_t part_bytes;
    uint64_t parts;        /* total */
    uint64_t done;         /* received by the destination, as far as known */
} session;

/* One part of the blob as a streamed request body. */
typedef struct part_body {
    ds_blob_reader *blob;
    uint64_t offset, length, sent;
    ds_err *err;
} part_body;

static size_t part_read(char *buf, size_t cap, void *ud)
{
    part_body *p = ud;
    size_t n;

    if (cap > p->length - p->sent)
        cap = (size_t)(p->length - p->sent);
    if (cap == 0)
        return 0;
    n = ds_blob_read(p->blob, buf, cap, p->err);
    if (n == (size_t)-1 || n == 0)
        return (size_t)-1;
    p->sent += n;
    return n;
}

static int part_rewind(void *ud)
{
    part_body *p = ud;

    p->sent = 0;
    return ds_blob_seek(p->blob, p->offset, p->err);
}

/* The job's variables with sessionId and partNumber added, into vars (of
 * at least 8 entries). */
static void session_vars(const ds_chunked_job *job, const session *s,
                         const char *part, ds_tpl_var *vars, size_t cap)
{
    size_t n = 0;

    for (; job->vars[n].name != NULL && n + 3 < cap; n++)
        vars[n] = job->vars[n];
    vars[n++] = (ds_tpl_var){"sessionId", s->id};
    vars[n++] = (ds_tpl_var){"partNumber", part};
    vars[n] = (ds_tpl_var){NULL, NULL};
}

static int expand(const ds_chunked_job *job, const session *s,
                  const char *endpoint, const char *part, char *path,
                  size_t cap, ds_err *err)
{
    ds_tpl_var vars[12];

    session_vars(job, s, part, vars, sizeof(vars) / sizeof(vars[0]));
    return ds_connector_path(job->connector, DS_SIDE_DESTINATION, endpoint,
                             vars, path, cap, err);
}

/* 1 when the destination said it does not know the session (any more). */
static int session_gone(const ds_err *err)
{
    return err->http_status == 404 || err->http_status == 410;
}

/* ---- progress, kept in the document's hash ---------------------------- */

static void save(const ds_chunked_job *job, const session *s)
{
    json_t *j = json_pack("{s:s,s:I,s:I}", "id", s->id, "partBytes",
                          (json_int_t)s->part_bytes, "done",
                          (json_int_t)s->done);
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

    /* Progress that is not kept costs a resend of parts, never a wrong
     * file: a failure here is no failure of the upload. */
    if (text != NULL) {
        ds_err ignored;

        ds_err_clear(&ignored);
        ds_state_set(job->redis, job->doc_id, job->progress_field, text,
                     &ignored);
    }
    free(text);
    json_decref(j);
}

static void forget(const ds_chunked_job *job)
{
    redisReply *r;
    ds_err ignored;

    ds_err_clear(&ignored);
    r = ds_redis_cmd(job->redis, &ignored, "HDEL docsync:doc:%s %s",
                     job->doc_id, job->progress_field);
    if (r != NULL)
        freeReplyObject(r);
}

/* Reads the session an earlier attempt kept into s. Returns 1 when there
 * is one that fits this file, 0 when there is none, -1 on a Redis error. */
static int load(const ds_chunked_job *job, session *s, uint64_t size,
                ds_err *err)
{
    char *text = NULL;
    json_t *j;
    json_int_t part, done;
    const char *id;
    int rc = 0;

    if (ds_state_get(job->redis, job->doc_id, job->progress_field, &text,
                     err) < 0)
        return -1;
    if (text == NULL)
        return 0;
    j = json_loads(text, 0, NULL);
    id = json_string_value(json_object_get(j, "id"));
    part = json_integer_value(json_object_get(j, "partBytes"));
    done = json_integer_value(json_object_get(j, "done"));
    if (id != NULL && strlen(id) < sizeof(s->id) && part > 0 && done >= 0) {
        snprintf(s->id, sizeof(s->id), "%s", id);
        s->part_bytes = (uint64_t)part;
        s->parts = ds_upmode_parts(size, s->part_bytes);
        s->done = (uint64_t)done <= s->parts ? (uint64_t)done : s->parts;
        rc = 1;
    }
    json_decref(j);
    free(text);
    return rc;
}

/* ---- the requests ------------------------------------------------------ */

/* Sends a JSON body (or none) and keeps the answer in resp. */
static int send_json(const ds_chunked_job *job, const char *method,
                     const char *path, const json_t *body,
                     const char *extra, ds_http_resp *resp, ds_err *err)
{
    const char *headers[] = {"Content-Type: application/json",
                             "Accept: application/json", extra, NULL};
    ds_http_req req = {0};
    char *text = NULL;
    int rc;

    if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
        return ds_err_set(err, "out_of_memory", "session body");
    req.headers = headers;
    req.body = text != NULL ? text : "{}";
    req.body_len = strlen(req.body);
    req.progress = job->progress;
    req.progress_ud = job->progress_ud;
    rc = ds_api_do(job->api, method, path, &req, resp, err);
    free(text);
    return rc;
}

/* The JSON object of a 2xx answer; NULL with err when it is none. */
static json_t *answer(const ds_http_resp *resp, const char *what,
                      ds_err *err)
{
    json_t *j = json_loadb(resp->body ? resp->body : "", resp->body_len, 0,
                           NULL);

    if (!json_is_object(j)) {
        json_decref(j);
        ds_err_set(err, "upload_bad_response", "the answer to %s is not a "
                   "JSON object", what);
        return NULL;
    }
    return j;
}

/* Opens a new session for a file of size bytes. */
static int start(const ds_chunked_job *job, session *s, uint64_t size,
                 ds_err *err)
{
    const ds_upmode *m = job->mode;
    ds_http_resp resp = {0};
    json_t *body = json_deep_copy(job->fields), *got = NULL;
    const json_t *part;
    char path[1024], text[256];
    int rc = -1;

    memset(s, 0, sizeof(*s));
    if (body == NULL || json_object_set_new(body, m->size_field,
                                            json_integer((json_int_t)size)))
    {
        json_decref(body);
        return ds_err_set(err, "out_of_memory", "session body");
    }
    if (expand(job, s, "sessionStart", "", path, sizeof(path), err) < 0 ||
        send_json(job, "POST", path, body, NULL, &resp, err) < 0 ||
        (got = answer(&resp, "the session's start", err)) == NULL)
        goto out;
    if (ds_json_scalar_text(ds_json_path(got, m->session_id_field), text,
                            sizeof(text)) < 0 || text[0] == '\0') {
        ds_err_set(err, "upload_bad_response", "the session's start has "
                   "no id at %.64s", m->session_id_field);
        goto out;
    }
    snprintf(s->id, sizeof(s->id), "%s", text);
    /* The destination's own part size wins over the connector's. */
    part = ds_json_path(got, m->part_size_field);
    s->part_bytes = json_is_integer(part) ? (uint64_t)json_integer_value(part)
                                          : (uint64_t)m->part_bytes;
    if (json_is_integer(part) && json_integer_value(part) < 1) {
        ds_err_set(err, "upload_bad_response", "the session's part size "
                   "is %lld", (long long)json_integer_value(part));
        goto out;
    }
    s->parts = ds_upmode_parts(size, s->part_bytes);
    rc = 0;
out:
    json_decref(got);
    json_decref(body);
    ds_http_resp_clear(&resp);
    return rc;
}

/* Asks the destination how many parts of s it has, when the connector
 * says how. Returns 0 (s->done updated, or unchanged without a status
 * endpoint), or -1 with err (404/410: the session is gone). */
static int resync(const ds_chunked_job *job, session *s, ds_err *err)
{
    const json_t *n;
    char path[1024];
    json_t *got;

    if (!ds_connector_has_endpoint(job->connector, DS_SIDE_DESTINATION,
                                   "sessionStatus"))
        return 0;
    if (expand(job, s, "sessionStatus", "", path, sizeof(path), err) < 0)
        return -1;
    got = ds_api_get_json(job->api, path, err);
    if (got == NULL)
        return -1;
    n = ds_json_path(got, job->mode->received_parts_field);
    if (json_is_integer(n) && json_integer_value(n) >= 0)
        s->done = (uint64_t)json_integer_value(n) < s->parts ?
                  (uint64_t)json_integer_value(n) : s->parts;
    json_decref(got);
    return 0;
}

/* Sends part number k (from 1) of s. */
static int send_part(const ds_chunked_job *job, const session *s,
                     uint64_t k, ds_err *err)
{
    uint64_t size = ds_blob_reader_size(job->blob);
    part_body body = {job->blob, (k - 1) * s->part_bytes, 0, 0, err};
    char path[1024], number[24], range[96];
    const char *headers[] = {"Content-Type: application/octet-stream",
                             range, NULL};
    ds_http_resp resp = {0};
    ds_http_req req = {0};
    int rc;

    body.length = size - body.offset < s->part_bytes ? size - body.offset
                                                     : s->part_bytes;
    snprintf(number, sizeof(number), "%" PRIu64, k);
    snprintf(range, sizeof(range), "Content-Range: bytes %" PRIu64 "-%"
             PRIu64 "/%" PRIu64, body.offset, body.offset + body.length - 1,
             size);
    if (expand(job, s, "sessionPart", number, path, sizeof(path), err) < 0)
        return -1;
    req.headers = headers;
    req.read = part_read;
    req.rewind = part_rewind;
    req.read_ud = &body;
    req.body_size = (int64_t)body.length;
    req.progress = job->progress;
    req.progress_ud = job->progress_ud;
    rc = ds_api_do(job->api, job->mode->part_method, path, &req, &resp, err);
    ds_http_resp_clear(&resp);
    return rc;
}

/* Sends the parts s still lacks, keeping progress after each. */
static int send_parts(const ds_chunked_job *job, session *s, ds_err *err)
{
    while (s->done < s->parts) {
        if (send_part(job, s, s->done + 1, err) < 0)
            return -1;
        s->done++;
        save(job, s);
    }
    return 0;
}

static int complete(const ds_chunked_job *job, const session *s,
                    ds_http_resp *resp, ds_err *err)
{
    char path[1024];

    if (expand(job, s, "sessionComplete", "", path, sizeof(path), err) < 0)
        return -1;
    return send_json(job, "POST", path, NULL, job->idem_line, resp, err);
}

/* Tells the destination a session is given up, when the connector says
 * how (sessionAbort); best effort: a session left behind expires there. */
static void abandon(const ds_chunked_job *job, const session *s)
{
    ds_http_req req = {0};
    ds_http_resp resp = {0};
    char path[1024];
    ds_err ignored;

    if (!ds_connector_has_endpoint(job->connector, DS_SIDE_DESTINATION,
                                   "sessionAbort"))
        return;
    ds_err_clear(&ignored);
    if (expand(job, s, "sessionAbort", "", path, sizeof(path), &ignored) == 0)
        ds_api_do(job->api, "DELETE", path, &req, &resp, &ignored);
    ds_http_resp_clear(&resp);
}

/* One session from where it stands to its completion. Returns 0, -1 with
 * err, or RESTART when the session is to be given up for a new one: the
 * destination forgot it (404, 410), or its count of parts and ours
 * disagree (409: a part out of order, or parts missing at the end) and
 * it cannot be asked for its own. A 409 with a status endpoint asks it,
 * a bounded number of times. */
#define RESTART (-2)
static int run(const ds_chunked_job *job, session *s, ds_http_resp *resp,
               ds_err *err)
{
    int has_status = ds_connector_has_endpoint(
        job->connector, DS_SIDE_DESTINATION, "sessionStatus");

    for (int resyncs = 0;; resyncs++) {
        if (send_parts(job, s, err) == 0 && complete(job, s, resp, err) == 0)
            return 0;
        if (session_gone(err))
            return RESTART;
        if (err->http_status != 409 || resyncs >= MAX_RESYNCS)
            return -1;
        if (!has_status)
            return RESTART;
        ds_err_clear(err);
        if (resync(job, s, err) < 0)
            return session_gone(err) ? RESTART : -1;
    }
}

int ds_chunked_upload(const ds_chunked_job *job, ds_http_resp *resp,
                      ds_err *err)
{
    uint64_t size = ds_blob_reader_size(job->blob);
    session s;
    int kept, rc, opened = 0;

    memset(&s, 0, sizeof(s));
    kept = load(job, &s, size, err);
    if (kept < 0)
        return -1;
    if (kept && resync(job, &s, err) < 0) {
        if (!session_gone(err))
            return -1;
        ds_log_msg(DS_LOG_WARN, "document %s: upload session %s is gone "
                   "(%s): starting a new one", job->doc_id, s.id, err->msg);
        ds_err_clear(err);
        forget(job);
        kept = 0;
    }
    for (;;) {
        if (!kept) {
            if (opened++ >= MAX_SESSIONS)
                return ds_err_reset(err, "upload_session_lost", "the "
                                    "destination forgot %d new upload "
                                    "sessions in a row", MAX_SESSIONS);
            if (start(job, &s, size, err) < 0)
                return -1;
            save(job, &s);
        }
        rc = run(job, &s, resp, err);
        if (rc == 0)
            break;
        /* A refusal for good: the session is of no more use, and a
         * replay of the document starts afresh. */
        if (rc != RESTART && err->klass == DS_CLASS_PERMANENT) {
            abandon(job, &s);
            forget(job);
        }
        if (rc != RESTART)
            return -1;
        /* The parts the old session had are lost with it. */
        ds_log_msg(DS_LOG_WARN, "document %s: upload session %s given up "
                   "(%s): starting a new one", job->doc_id, s.id, err->msg);
        ds_err_clear(err);
        abandon(job, &s);
        forget(job);
        kept = 0;
    }
    forget(job);
    return 0;
}
