/* sb_call.c - handler requests and replies; see sb_call.h. */
#include "sb_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JSON_TYPE "application/json"

void sb_reply_init(sb_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    r->retry_after_s = -1;
}

void sb_reply_clear(sb_reply *r)
{
    free(r->body);
    if (r->fd >= 0)
        close(r->fd);
    sb_reply_init(r);
}

static void set_type(sb_reply *r, const char *content_type)
{
    snprintf(r->content_type, sizeof(r->content_type), "%s", content_type);
}

void sb_reply_text(sb_reply *r, int status, const char *content_type,
                   const char *body)
{
    sb_reply_clear(r);
    r->status = status;
    set_type(r, content_type);
    r->body = strdup(body);
    if (r->body == NULL) {
        r->status = 500;
        return;
    }
    r->body_len = strlen(body);
}

void sb_reply_json(sb_reply *r, int status, json_t *obj)
{
    /* 15 digits: a chaos rate of 0.05 reads back as 0.05, not as
     * 0.050000000000000003. */
    char *text = obj != NULL
                     ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(15))
                     : NULL;

    json_decref(obj);
    sb_reply_clear(r);
    if (text == NULL) {
        sb_reply_text(r, 500, JSON_TYPE, "{\"error\":\"internal\"}");
        return;
    }
    r->status = status;
    set_type(r, JSON_TYPE);
    r->body = text;
    r->body_len = strlen(text);
}

void sb_reply_error(sb_reply *r, int status, const char *error,
                    const char *reason)
{
    json_t *obj = json_pack("{s:s}", "error", error);

    if (obj != NULL && reason != NULL)
        json_object_set_new(obj, "reason", json_string(reason));
    sb_reply_json(r, status, obj);
}

void sb_reply_file(sb_reply *r, int fd, uint64_t size,
                   const char *content_type)
{
    sb_reply_clear(r);
    r->status = 200;
    r->fd = fd;
    r->fd_size = size;
    set_type(r, content_type);
}

void sb_reply_bad_field(sb_reply *r, const char *reason, const char *field)
{
    sb_reply_json(r, 400, json_pack("{s:s,s:s,s:s}", "error", "bad_request",
                                    "reason", reason, "field", field));
}

int sb_field_string(json_t *obj, const char *field, const char **v,
                    sb_reply *out)
{
    json_t *j = json_object_get(obj, field);

    *v = NULL;
    if (j == NULL || json_is_null(j))
        return 0;
    if (json_is_string(j)) {
        *v = json_string_value(j);
        return 0;
    }
    sb_reply_bad_field(out, "bad_field", field);
    return -1;
}

int sb_field_long(json_t *obj, const char *field, long min, long max,
                  long *v, sb_reply *out)
{
    json_t *j = json_object_get(obj, field);

    if (j == NULL || json_is_null(j))
        return 0;
    if (json_is_integer(j) && json_integer_value(j) >= min &&
        json_integer_value(j) <= max) {
        *v = (long)json_integer_value(j);
        return 0;
    }
    sb_reply_bad_field(out, "bad_field", field);
    return -1;
}

json_t *sb_call_json_body(const sb_call *call, sb_reply *out)
{
    json_error_t jerr;
    json_t *obj = NULL;

    if (call->body != NULL)
        obj = json_loadb(call->body, call->body_len, 0, &jerr);
    if (json_is_object(obj))
        return obj;
    json_decref(obj);
    sb_reply_error(out, 400, "bad_request", "bad_json");
    return NULL;
}

int sb_id_valid(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

    return n > 0 && n <= SB_ID_MAX && s[n] == '\0';
}

void sb_headers_add(sb_headers *h, const char *name, const char *value)
{
    if (h->n >= SB_HEADERS_MAX)
        return;
    snprintf(h->name[h->n], sizeof(h->name[0]), "%s", name);
    snprintf(h->value[h->n], sizeof(h->value[0]), "%s", value);
    h->n++;
}
