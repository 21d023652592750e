/* ctl_status.c - a document's state and timeline; see ctl_status.h. */
#include "ctl_status.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_msg.h"
#include "ctl_opt.h"
#include "ctl_time.h"
#include "ds_state.h"

static const char HELP[] =
    "usage: docsyncctl status DOCUMENT_ID [--json]\n"
    "\n"
    "Shows what Redis holds for a document: its state, the time it reached\n"
    "each state (UTC), the destination's document id, the uploads recorded\n"
    "per version (upload:<sha256>), and its timeline across the stages.\n"
    "Exits 1 when Redis holds nothing for it.\n"
    "\n"
    "  --json            one JSON object: documentId, state, times,\n"
    "                    destinationDocumentId, uploads, fields, timeline\n";

/* The groups a hash field is shown in, in this order. */
typedef enum { K_STATE, K_TIME, K_DEST, K_UPLOAD, K_OTHER } kind;

typedef struct field {
    const char *name;
    const char *value;
    kind k;
    long long ms;         /* a time field's epoch ms, else -1 */
} field;

/* A timeline entry, parsed when it has the usual form. */
typedef struct entry {
    const char *raw;
    int parsed;
    ctl_event ev;         /* ev.ms also set for an entry not parsed */
    size_t index;         /* its place in the list */
} entry;

typedef struct doc {
    const char *id;
    redisReply *hash;     /* HGETALL */
    redisReply *timeline; /* LRANGE */
    field *fields;
    size_t nfields;
    entry *entries;       /* the timeline in time order */
    size_t nentries;
} doc;

int ctl_timeline_parse(const char *entry, ctl_event *ev)
{
    const char *stage, *state, *detail;
    char *end;

    errno = 0;
    ev->ms = strtoll(entry, &end, 10);
    if (end == entry || *end != ':' || errno != 0)
        return -1;
    stage = end + 1;
    state = strchr(stage, ':');
    if (state == NULL || state == stage ||
        (size_t)(state - stage) >= sizeof(ev->stage))
        return -1;
    state++;
    detail = strchr(state, ':');
    if (detail == NULL)
        detail = state + strlen(state);
    if (detail == state || (size_t)(detail - state) >= sizeof(ev->state))
        return -1;
    snprintf(ev->stage, sizeof(ev->stage), "%.*s",
             (int)(state - 1 - stage), stage);
    snprintf(ev->state, sizeof(ev->state), "%.*s", (int)(detail - state),
             state);
    ev->detail = *detail == ':' ? detail + 1 : detail;
    return 0;
}

/* A *_at field holds epoch ms; anything else has no time. */
static long long field_ms(const char *name, const char *value)
{
    size_t n = strlen(name);
    char *end;
    long long ms;

    if (n < 4 || strcmp(name + n - 3, "_at") != 0)
        return -1;
    errno = 0;
    ms = strtoll(value, &end, 10);
    return errno != 0 || end == value || *end != '\0' ? -1 : ms;
}

/* The group a field is shown in: by its name, times by their value. */
static kind field_kind(const char *name, long long ms)
{
    if (strcmp(name, "state") == 0)
        return K_STATE;
    if (ms >= 0)
        return K_TIME;
    if (strcmp(name, "destinationDocumentId") == 0)
        return K_DEST;
    if (strncmp(name, "upload:", 7) == 0)
        return K_UPLOAD;
    return K_OTHER;
}

/* Orders fields by group, times by time, the rest by name. */
static int field_cmp(const void *a, const void *b)
{
    const field *x = a, *y = b;

    if (x->k != y->k)
        return (int)x->k - (int)y->k;
    if (x->k == K_TIME && x->ms != y->ms)
        return x->ms < y->ms ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Orders entries by time, then by their place in the list. */
static int entry_cmp(const void *a, const void *b)
{
    const entry *x = a, *y = b;

    if (x->ev.ms != y->ev.ms)
        return x->ev.ms < y->ev.ms ? -1 : 1;
    return x->index < y->index ? -1 : 1;
}

/* Parses the timeline and puts it in time order: docsyncctl writes a
 * replay's entry with the time taken before the record was produced,
 * which may land in the list after what a stage did with that record. An
 * entry of another form keeps the time of the one before it. */
static int timeline_read(doc *d, ds_err *err)
{
    long long last = 0;
    size_t i;

    d->entries = calloc(d->timeline->elements + 1, sizeof(*d->entries));
    if (d->entries == NULL)
        return ds_err_set(err, "out_of_memory", "timeline");
    for (i = 0; i < d->timeline->elements; i++) {
        entry *e = &d->entries[d->nentries];

        if (d->timeline->element[i]->type != REDIS_REPLY_STRING)
            continue;
        e->raw = d->timeline->element[i]->str;
        e->index = i;
        e->parsed = ctl_timeline_parse(e->raw, &e->ev) == 0;
        if (e->parsed)
            last = e->ev.ms;
        else
            e->ev.ms = last;
        d->nentries++;
    }
    qsort(d->entries, d->nentries, sizeof(*d->entries), entry_cmp);
    return 0;
}

/* Reads the hash and the timeline. Returns 0 or -1 with err set. */
static int doc_read(ds_redis *r, doc *d, ds_err *err)
{
    size_t i;

    d->hash = ds_redis_cmd(r, err, "HGETALL docsync:doc:%s", d->id);
    if (d->hash == NULL)
        return -1;
    d->timeline = ds_redis_cmd(r, err, "LRANGE docsync:timeline:%s 0 -1",
                               d->id);
    if (d->timeline == NULL)
        return -1;
    if (d->hash->type != REDIS_REPLY_ARRAY ||
        d->timeline->type != REDIS_REPLY_ARRAY)
        return ds_err_set(err, "redis_error", "unexpected reply for %s",
                          d->id);
    d->nfields = d->hash->elements / 2;
    d->fields = calloc(d->nfields + 1, sizeof(*d->fields));
    if (d->fields == NULL)
        return ds_err_set(err, "out_of_memory", "fields");
    for (i = 0; i < d->nfields; i++) {
        field *f = &d->fields[i];

        f->name = d->hash->element[2 * i]->str;
        f->value = d->hash->element[2 * i + 1]->str;
        f->ms = field_ms(f->name, f->value);
        f->k = field_kind(f->name, f->ms);
    }
    qsort(d->fields, d->nfields, sizeof(*d->fields), field_cmp);
    return timeline_read(d, err);
}

/* Frees what doc_read read; the id is the caller's. */
static void doc_free(doc *d)
{
    if (d->hash != NULL)
        freeReplyObject(d->hash);
    if (d->timeline != NULL)
        freeReplyObject(d->timeline);
    free(d->fields);
    free(d->entries);
}

/* Writes the document for reading: fields, then the timeline. */
static void print_text(const doc *d)
{
    char iso[CTL_ISO_LEN];
    size_t i;

    printf("%-22s %s\n", "document", d->id);
    for (i = 0; i < d->nfields; i++) {
        const field *f = &d->fields[i];

        if (f->k == K_TIME)
            ctl_time_iso(f->ms, iso);
        printf("%-22s %s\n", f->name, f->k == K_TIME ? iso : f->value);
    }
    printf("\ntimeline:\n");
    for (i = 0; i < d->nentries; i++) {
        const entry *e = &d->entries[i];

        if (!e->parsed) {
            printf("  %s\n", e->raw);
            continue;
        }
        ctl_time_iso(e->ev.ms, iso);
        if (*e->ev.detail == '\0')
            printf("  %s  %-10s %s\n", iso, e->ev.stage, e->ev.state);
        else
            printf("  %s  %-10s %-9s %s\n", iso, e->ev.stage, e->ev.state,
                   e->ev.detail);
    }
}

/* The timeline as a JSON array of {time, ms, stage, state, detail}, or
 * {raw} for an entry of another form. */
static json_t *timeline_json(const doc *d)
{
    json_t *arr = json_array();
    char iso[CTL_ISO_LEN];
    size_t i;

    for (i = 0; arr != NULL && i < d->nentries; i++) {
        const entry *e = &d->entries[i];

        if (!e->parsed) {
            json_array_append_new(arr, json_pack("{s:s}", "raw", e->raw));
            continue;
        }
        ctl_time_iso(e->ev.ms, iso);
        json_array_append_new(arr, json_pack("{s:s, s:I, s:s, s:s, s:s}",
                                             "time", iso, "ms",
                                             (json_int_t)e->ev.ms, "stage",
                                             e->ev.stage, "state",
                                             e->ev.state, "detail",
                                             e->ev.detail));
    }
    return arr;
}

/* Writes the document as one JSON object. Returns 0 or -1. */
static int print_json(const doc *d)
{
    json_t *obj = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "documentId",
                            d->id, "state", json_null(), "times",
                            json_object(), "uploads", json_object(),
                            "fields", json_object(), "timeline",
                            timeline_json(d));
    char iso[CTL_ISO_LEN], *text;
    size_t i;

    for (i = 0; obj != NULL && i < d->nfields; i++) {
        const field *f = &d->fields[i];

        ctl_time_iso(f->ms, iso);
        if (f->k == K_STATE)
            json_object_set_new(obj, "state", json_string(f->value));
        else if (f->k == K_TIME)
            json_object_set_new(json_object_get(obj, "times"), f->name,
                                json_string(iso));
        else if (f->k == K_DEST)
            json_object_set_new(obj, f->name, json_string(f->value));
        else if (f->k == K_UPLOAD)
            json_object_set_new(json_object_get(obj, "uploads"),
                                f->name + 7, json_string(f->value));
        else
            json_object_set_new(json_object_get(obj, "fields"), f->name,
                                json_string(f->value));
    }
    text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text == NULL)
        return -1;
    printf("%s\n", text);
    free(text);
    return 0;
}

/* Reads the command line: the documentId and --json. */
static int status_args(int argc, char **argv, const char **id, int *json)
{
    int i;

    *id = NULL;
    *json = 0;
    for (i = 0; i < argc; i++) {
        if (ctl_opt_flag(argv, i, "--json"))
            *json = 1;
        else if (argv[i][0] == '-' || *id != NULL)
            return ctl_usage_error("status", "unexpected argument '%s'",
                                   argv[i]);
        else
            *id = argv[i];
    }
    if (*id == NULL)
        return ctl_usage_error("status", "which document? give its id");
    /* An id that no stage accepts cannot have state, and must not be
     * pasted into a Redis key. */
    if (!ds_doc_id_valid(*id))
        return ctl_usage_error("status", "'%s' is not a documentId "
                               "(letters, digits and ._:-)", *id);
    return 0;
}

int ctl_status(ctl_conf *conf, int argc, char **argv)
{
    doc d = {NULL, NULL, NULL, NULL, 0, NULL, 0};
    ds_redis *r;
    ds_err err;
    int json, rc;

    (void)conf;
    if (ctl_opt_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CTL_EXIT_OK;
    }
    rc = status_args(argc, argv, &d.id, &json);
    if (rc != 0)
        return rc;
    r = ctl_conf_redis();
    if (r == NULL)
        return CTL_EXIT_FAIL;

    ds_err_clear(&err);
    if (doc_read(r, &d, &err) < 0)
        rc = ctl_error("cannot read %s from Redis: %s", d.id, err.msg);
    else if (d.nfields == 0 && d.nentries == 0)
        rc = ctl_error("Redis holds nothing for document %s", d.id);
    else if (json)
        rc = print_json(&d) < 0 ? ctl_error("out of memory") : CTL_EXIT_OK;
    else
        print_text(&d);
    doc_free(&d);
    ds_redis_free(r);
    return rc;
}
