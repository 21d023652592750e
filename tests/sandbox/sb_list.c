/* sb_list.c - the listing routes; see sb_list.h. */
#include "sb_list.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_crm.h"
#include "sb_time.h"

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 100

/* Where a page starts: documents created at since_ms or later, after the
 * document (after_ms, after_id) when after_id is not empty. */
typedef struct page_req {
    int64_t since_ms;
    long limit;
    int64_t after_ms;
    char after_id[SB_ID_MAX + 1];
} page_req;

/* Reads a cursor "<since>.<limit>.<after_ms>.<after_id>": only digits
 * before the id, whose characters are those of ids, so it needs no
 * escaping in a query. Returns 0, or -1 when it is not one of ours. */
static int parse_cursor(const char *text, page_req *p)
{
    long long since, after;
    int used = 0;

    if (sscanf(text, "%lld.%ld.%lld.%n", &since, &p->limit, &after,
               &used) != 3 || used == 0)
        return -1;
    if (!sb_id_valid(text + used) || p->limit < 1 || p->limit > MAX_LIMIT)
        return -1;
    p->since_ms = since;
    p->after_ms = after;
    snprintf(p->after_id, sizeof(p->after_id), "%s", text + used);
    return 0;
}

/* The page the query asks for. Answers 400 bad_field and returns -1 for
 * a bad createdSince, limit or cursor. */
static int parse_page(const sb_call *call, page_req *p, sb_reply *out)
{
    json_t *cursor = json_object_get(call->query, "cursor");
    const char *since = json_string_value(json_object_get(call->query,
                                                          "createdSince"));
    json_t *limit = json_object_get(call->query, "limit");
    char *end = NULL;

    memset(p, 0, sizeof(*p));
    p->limit = DEFAULT_LIMIT;
    if (cursor != NULL) {
        if (!json_is_string(cursor) ||
            parse_cursor(json_string_value(cursor), p) != 0) {
            sb_reply_bad_field(out, "bad_field", "cursor");
            return -1;
        }
        return 0;
    }
    if ((since != NULL && sb_time_parse_ms(since, &p->since_ms) != 0) ||
        (since == NULL && json_object_get(call->query, "createdSince"))) {
        sb_reply_bad_field(out, "bad_field", "createdSince");
        return -1;
    }
    if (limit != NULL && json_is_string(limit))
        p->limit = strtol(json_string_value(limit), &end, 10);
    if (limit != NULL && (end == NULL || *end != '\0' || p->limit < 1 ||
                          p->limit > MAX_LIMIT)) {
        sb_reply_bad_field(out, "bad_field", "limit");
        return -1;
    }
    return 0;
}

static int64_t created_ms(json_t *rec)
{
    return json_integer_value(json_object_get(rec, "createdMs"));
}

static const char *rec_id(json_t *rec)
{
    const char *id = json_string_value(json_object_get(rec, "id"));

    return id != NULL ? id : "";
}

/* Listing order: createdAt, then id. */
static int compare(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int64_t cx = created_ms(x), cy = created_ms(y);

    if (cx != cy)
        return cx < cy ? -1 : 1;
    return strcmp(rec_id(x), rec_id(y));
}

/* True when rec belongs on the pages p starts. */
static int wanted(json_t *rec, const page_req *p)
{
    int64_t c = created_ms(rec);

    if (c < p->since_ms)
        return 0;
    if (p->after_id[0] == '\0')
        return 1;
    return c > p->after_ms ||
           (c == p->after_ms && strcmp(rec_id(rec), p->after_id) > 0);
}

/* The records of all that p wants, sorted; *n gets their number. The
 * array borrows from all; NULL when out of memory. */
static json_t **select_sorted(json_t *all, const page_req *p, size_t *n)
{
    json_t **recs = malloc((json_array_size(all) + 1) * sizeof(*recs));
    json_t *rec;
    size_t i;

    *n = 0;
    if (recs == NULL)
        return NULL;
    json_array_foreach(all, i, rec)
        if (wanted(rec, p))
            recs[(*n)++] = rec;
    qsort(recs, *n, sizeof(*recs), compare);
    return recs;
}

/* The cursor of the page after the one ending with last. */
static json_t *next_cursor(const page_req *p, json_t *last)
{
    char text[128];

    snprintf(text, sizeof(text), "%" PRId64 ".%ld.%" PRId64 ".%s",
             p->since_ms, p->limit, created_ms(last), rec_id(last));
    return json_string(text);
}

void sb_list_documents(const sb_ctx *ctx, const sb_call *call,
                       sb_reply *out)
{
    json_t *all = NULL, *data = json_array(), *next;
    json_t **recs = NULL;
    page_req p;
    size_t n;

    if (parse_page(call, &p, out) != 0)
        goto out;
    all = sb_state_crm_all(ctx->state);
    recs = all != NULL ? select_sorted(all, &p, &n) : NULL;
    if (recs == NULL || data == NULL) {
        sb_reply_error(out, 500, "internal", "oom");
        goto out;
    }
    for (size_t i = 0; i < n && i < (size_t)p.limit; i++)
        json_array_append_new(data, sb_crm_public(recs[i]));
    next = n > (size_t)p.limit ? next_cursor(&p, recs[p.limit - 1])
                               : json_null();
    sb_reply_json(out, 200, json_pack("{s:O,s:o}", "data", data,
                                      "nextCursor", next));

out:
    free(recs);
    json_decref(all);
    json_decref(data);
}

void sb_list_accounts(const sb_ctx *ctx, const sb_call *call,
                      sb_reply *out)
{
    const char *account = json_string_value(
        json_object_get(call->query, "accountId"));
    json_t *ids, *data = json_array(), *id;
    size_t i;

    if (account == NULL || *account == '\0') {
        json_decref(data);
        sb_reply_bad_field(out, "bad_field", "accountId");
        return;
    }
    ids = sb_state_accounts_get(ctx->state, account);
    json_array_foreach(ids, i, id)
        json_array_append_new(data, json_pack("{s:O,s:s}", "id", id,
                                              "accountId", account));
    if (ids == NULL || data == NULL)
        sb_reply_error(out, 500, "internal", "oom");
    else
        sb_reply_json(out, 200, json_pack("{s:O}", "data", data));
    json_decref(ids);
    json_decref(data);
}
