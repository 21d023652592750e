/* ds_poll.c - reading new documents from the CRM's listing; see ds_poll.h. */
#include "ds_poll.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds_connector.h"
#include "ds_fields.h"
#include "ds_loop.h"
#include "ds_time.h"

/* Copies the string at the dotted path of connector into out, or fallback
 * when it is absent and fallback is not NULL. Fails naming the path. */
static int cfg_str(const json_t *connector, const char *path,
                   const char *fallback, char *out, size_t cap, ds_err *err)
{
    json_t *v = ds_json_path(connector, path);
    const char *s = json_string_value(v);

    if (v == NULL && fallback != NULL)
        s = fallback;
    else if (v == NULL)
        return ds_err_set(err, "bad_connector", "%s: missing", path);
    if (s == NULL || s[0] == '\0')
        return ds_err_set(err, "bad_connector",
                          "%s: must be a non-empty string", path);
    if (strlen(s) >= cap)
        return ds_err_set(err, "bad_connector",
                          "%s: longer than %zu bytes", path, cap - 1);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

/* A template must use its variable: a list path without {since} would
 * read the whole history on every round. */
static int cfg_uses(const char *tmpl, const char *var, const char *path,
                    ds_err *err)
{
    if (strstr(tmpl, var) == NULL)
        return ds_err_set(err, "bad_connector", "%s: must contain %s", path,
                          var);
    return 0;
}

static const char *const TIME_FORMATS[] = {"rfc3339", "epoch_s",
                                           "epoch_ms", NULL};

/* Reads the time format at path (default rfc3339) as DS_POLL_RFC3339,
 * DS_POLL_EPOCH_S or DS_POLL_EPOCH_MS. */
static int cfg_format(const json_t *connector, const char *path, int *fmt,
                      ds_err *err)
{
    char name[16];
    int i;

    if (cfg_str(connector, path, "rfc3339", name, sizeof(name), err) < 0)
        return -1;
    for (i = 0; TIME_FORMATS[i] != NULL; i++)
        if (strcmp(name, TIME_FORMATS[i]) == 0) {
            *fmt = i;
            return 0;
        }
    return ds_err_set(err, "bad_connector", "%s: unknown format %s "
                      "(rfc3339, epoch_s or epoch_ms)", path, name);
}

int ds_poll_cfg_parse(const json_t *c, ds_poll_cfg *cfg, ds_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    if (!json_is_object(ds_json_path(c, "source")))
        return ds_err_set(err, "bad_connector", "source: missing");
    if (cfg_str(c, "source.endpoints.list", NULL, cfg->list,
                sizeof(cfg->list), err) < 0 ||
        cfg_uses(cfg->list, "{since}", "source.endpoints.list", err) < 0 ||
        cfg_str(c, "source.endpoints.listNext", NULL, cfg->list_next,
                sizeof(cfg->list_next), err) < 0 ||
        cfg_uses(cfg->list_next, "{cursor}", "source.endpoints.listNext",
                 err) < 0)
        return -1;
    if (cfg_str(c, "source.list.items", NULL, cfg->items,
                sizeof(cfg->items), err) < 0 ||
        cfg_str(c, "source.list.nextCursor", NULL, cfg->next_cursor,
                sizeof(cfg->next_cursor), err) < 0 ||
        cfg_str(c, "source.list.createdAt", NULL, cfg->created_at,
                sizeof(cfg->created_at), err) < 0 ||
        cfg_format(c, "source.list.sinceFormat", &cfg->since_format,
                   err) < 0 ||
        cfg_format(c, "source.list.createdAtFormat", &cfg->created_format,
                   err) < 0)
        return -1;
    if (cfg_str(c, "source.fields.documentId.from", "id", cfg->document_id,
                sizeof(cfg->document_id), err) < 0 ||
        cfg_str(c, "source.fields.accountId.from", "accountId",
                cfg->account_id, sizeof(cfg->account_id), err) < 0 ||
        cfg_str(c, "source.fields.fileName.from", "fileName",
                cfg->file_name, sizeof(cfg->file_name), err) < 0)
        return -1;
    return 0;
}

/* 1 when s is a whole decimal integer (in a 64-bit range), with *v. */
static int parse_integer(const char *s, long long *v)
{
    char *end;

    if (*s == '\0' || strlen(s) > 18)
        return 0;
    *v = strtoll(s, &end, 10);
    return *end == '\0';
}

int ds_poll_parse_ms(const char *text, long long *ms)
{
    const char *t = text != NULL ? strchr(text, 'T') : NULL;
    const char *frac = t != NULL ? strchr(t, '.') : NULL;
    long long part = 0, scale = 100;
    time_t secs;

    if (text == NULL || ds_time_parse_iso8601(text, &secs) < 0)
        return -1;
    /* ds_time reads whole seconds; the milliseconds are read here, any
     * finer digits dropped. */
    for (frac = frac ? frac + 1 : NULL; frac && isdigit((unsigned char)*frac);
         frac++) {
        part += (*frac - '0') * scale;
        scale /= 10;
    }
    *ms = (long long)secs * 1000 + part;
    return 0;
}

void ds_poll_format_ms(long long ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    char text[96];
    int n;

    gmtime_r(&secs, &tm);
    /* The compiler cannot see that the fields are in range: formatted into
     * a roomy buffer, then copied. */
    n = snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    if (n < 0 || n >= 32)
        n = 0;
    memcpy(out, text, (size_t)n);
    out[n] = '\0';
}

/* Writes since as the listing wants it in {since}. */
static void format_since(long long ms, int fmt, char out[32])
{
    if (fmt == DS_POLL_EPOCH_S)
        snprintf(out, 32, "%lld", ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    else if (fmt == DS_POLL_EPOCH_MS)
        snprintf(out, 32, "%lld", ms);
    else
        ds_poll_format_ms(ms, out);
}

/* Reads an item's createdAt v in the format fmt into ms and the event's
 * RFC 3339 text. Returns 0, or -1 when v is not such a time. */
static int read_created(const json_t *v, int fmt, long long *ms,
                        char text[32])
{
    const char *s = json_string_value(v);

    /* The CRM's own text is kept, unless too long to carry. */
    if (fmt == DS_POLL_RFC3339) {
        if (ds_poll_parse_ms(s, ms) < 0)
            return -1;
        if (strlen(s) < 32)
            memcpy(text, s, strlen(s) + 1);
        else
            ds_poll_format_ms(*ms, text);
        return 0;
    }
    /* Some listings quote their numbers: both are taken. */
    if (json_is_integer(v))
        *ms = json_integer_value(v);
    else if (s == NULL || !parse_integer(s, ms))
        return -1;
    if (*ms < 0)
        return -1;
    if (fmt == DS_POLL_EPOCH_S)
        *ms *= 1000;
    ds_poll_format_ms(*ms, text);
    return 0;
}

/* The cursor's since in ms, or io->start_ms when no round stored one;
 * *found says which. */
static int cursor_read(const ds_poll_io *io, long long *since, int *found,
                       ds_err *err)
{
    redisReply *r = ds_redis_cmd(io->redis, err, "GET %s",
                                 DS_POLL_CURSOR_KEY);
    json_t *j;
    int rc = 0;

    if (r == NULL)
        return -1;
    *since = io->start_ms;
    *found = r->type == REDIS_REPLY_STRING;
    if (r->type == REDIS_REPLY_STRING) {
        j = json_loads(r->str, 0, NULL);
        if (ds_poll_parse_ms(json_string_value(json_object_get(j, "since")),
                             since) < 0)
            rc = ds_err_set(err, "bad_config", "%s holds no valid since: "
                            "delete it to start from now",
                            DS_POLL_CURSOR_KEY);
        json_decref(j);
    } else if (r->type != REDIS_REPLY_NIL) {
        rc = ds_err_set(err, "redis_error", "GET %s: unexpected reply",
                        DS_POLL_CURSOR_KEY);
    }
    freeReplyObject(r);
    return rc;
}

static int cursor_write(const ds_poll_io *io, long long since, ds_err *err)
{
    char text[32], value[64];
    redisReply *r;
    int ok;

    ds_poll_format_ms(since, text);
    snprintf(value, sizeof(value), "{\"since\":\"%s\"}", text);
    r = ds_redis_cmd(io->redis, err, "SET %s %s", DS_POLL_CURSOR_KEY, value);
    if (r == NULL)
        return -1;
    ok = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok ? 0 : ds_err_set(err, "redis_error", "SET %s refused",
                               DS_POLL_CURSOR_KEY);
}

/* Reads the cursor; the first round stores its starting point, so that a
 * restart before any document was listed does not start later and skip
 * what was created in between. */
static int cursor_start(const ds_poll_io *io, long long *since, ds_err *err)
{
    int found = 0;

    if (cursor_read(io, since, &found, err) < 0)
        return -1;
    return found ? 0 : cursor_write(io, *since, err);
}

/* The DOCUMENT_CREATED event of one listed item, the shape a webhook
 * carries, with its createdAt in *at; NULL with why (what is wrong,
 * naming the path) when the item has no usable id or createdAt. An id or
 * account that the CRM numbers becomes its decimal text. */
static json_t *item_event(const ds_poll_cfg *cfg, const json_t *item,
                          long long *at, char *why, size_t cap)
{
    json_t *name = ds_json_path(item, cfg->file_name);
    char id[160], acc[160], when[32], event_id[170];
    json_t *ev;

    if (ds_json_scalar_text(ds_json_path(item, cfg->document_id), id,
                            sizeof(id)) < 0 || id[0] == '\0' ||
        strlen(id) > 128) {
        snprintf(why, cap, "%s is not a string or integer of 1 to 128 "
                 "characters", cfg->document_id);
        return NULL;
    }
    if (read_created(ds_json_path(item, cfg->created_at),
                     cfg->created_format, at, when) < 0) {
        snprintf(why, cap, "id %s: %s is not a time in %s", id,
                 cfg->created_at, TIME_FORMATS[cfg->created_format]);
        return NULL;
    }
    snprintf(event_id, sizeof(event_id), "poll:%s", id);
    ev = json_pack("{s:s, s:s, s:s, s:s}", "eventId", event_id, "eventType",
                   "DOCUMENT_CREATED", "documentId", id, "timestamp", when);
    if (ev != NULL && ds_json_scalar_text(ds_json_path(item,
            cfg->account_id), acc, sizeof(acc)) == 0)
        json_object_set_new(ev, "accountId", json_string(acc));
    if (ev != NULL && json_is_string(name))
        json_object_set(ev, "fileName", name);
    if (ev == NULL)
        snprintf(why, cap, "id %s: out of memory", id);
    return ev;
}

/* Counts one skipped item; the first of the round is described in
 * st->skip_note for the stage to log. */
static void note_skip(ds_poll_stats *st, size_t index, const char *why)
{
    st->skipped++;
    if (st->skip_note[0] == '\0')
        snprintf(st->skip_note, sizeof(st->skip_note), "item %zu of a page "
                 "(%s)", index + 1, why);
}

/* Emits every item of one page, in order, and raises *newest to the
 * latest createdAt among them. Stops at the first that is not in Kafka. */
static int emit_page(const ds_poll_cfg *cfg, const ds_poll_io *io,
                     const json_t *items, long long *newest,
                     ds_poll_stats *st, ds_err *err)
{
    char why[200];
    long long at;
    size_t i;
    json_t *item, *ev;
    int rc;

    json_array_foreach(items, i, item) {
        ev = item_event(cfg, item, &at, why, sizeof(why));
        if (ev == NULL) {
            /* Such an item can never become an event; holding the cursor
             * for it would stop polling for good. The note shows it. */
            note_skip(st, i, why);
            continue;
        }
        snprintf(why, sizeof(why), "id %s: refused by the stage",
                 json_string_value(json_object_get(ev, "documentId")));
        rc = io->emit(io->ctx, ev, err);
        json_decref(ev);
        if (rc < 0)
            return -1;
        if (rc == 2)
            note_skip(st, i, why);
        else if (rc == 1)
            st->events++;
        else
            st->duplicates++;
        if (at > *newest)
            *newest = at;
    }
    return 0;
}

/* Reads, emits and commits the page at path. Writes the next page's path
 * into next, or "" when this was the last. */
static int one_page(const ds_poll_cfg *cfg, const ds_poll_io *io,
                    const char *path, const char *since, char *next,
                    size_t cap, ds_poll_stats *st, ds_err *err)
{
    ds_tpl_var vars[] = {{"since", since}, {"cursor", NULL}, {NULL, NULL}};
    char text[512];
    json_t *page = io->get(io->ctx, path, err), *items, *cursor;
    long long newest = st->since_ms;
    int rc = -1;

    if (page == NULL)
        return -1;
    items = ds_json_path(page, cfg->items);
    cursor = ds_json_path(page, cfg->next_cursor);
    next[0] = '\0';
    if (!json_is_array(items))
        ds_err_set(err, "bad_response", "listing has no array at %s",
                   cfg->items);
    else if (emit_page(cfg, io, items, &newest, st, err) == 0 &&
             (newest == st->since_ms || cursor_write(io, newest, err) == 0))
        rc = 0;
    if (rc == 0) {
        st->pages++;
        st->since_ms = newest;
    }
    /* A numbered cursor is taken as its text; listNext may repeat the
     * round's {since} besides the {cursor}. */
    if (rc == 0 && ds_json_scalar_text(cursor, text, sizeof(text)) == 0 &&
        text[0] != '\0') {
        vars[1].value = text;
        rc = ds_template_expand(cfg->list_next, vars, next, cap, err);
    }
    json_decref(page);
    return rc;
}

int ds_poll_round(const ds_poll_cfg *cfg, const ds_poll_io *io,
                  ds_poll_stats *st, ds_err *err)
{
    char since[32], path[2048], next[2048];

    memset(st, 0, sizeof(*st));
    if (cursor_start(io, &st->since_ms, err) < 0)
        return -1;
    format_since(st->since_ms - io->overlap_ms, cfg->since_format, since);
    if (ds_template_expand1(cfg->list, "since", since, path, sizeof(path),
                            err) < 0)
        return -1;

    while (path[0] != '\0') {
        if (one_page(cfg, io, path, since, next, sizeof(next), st, err) < 0)
            return -1;
        memcpy(path, next, sizeof(path));
        if (ds_loop_stopping())
            break;
    }
    return 0;
}
