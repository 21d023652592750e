/* ctl_format.c - printing DLQ records; see ctl_format.h. */
#include "ctl_format.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_time.h"
#include "ds_log.h"

/* Writes s as one field of a line: "-" when absent or empty, anything that
 * is not printable ASCII (a space, a newline, a byte above 126) as '?', so
 * that a field never splits in two. Padded to width. */
static void field(FILE *out, const char *s, int width)
{
    int n = 0;

    if (s == NULL || *s == '\0')
        s = "-";
    for (; *s != '\0'; s++, n++)
        fputc(*s > ' ' && *s < 127 ? *s : '?', out);
    for (; n < width; n++)
        fputc(' ', out);
}

void ctl_format_line(FILE *out, const ctl_record *r)
{
    char pos[48], when[CTL_ISO_LEN] = "-";
    const char *status = ctl_record_header(r, CTL_H_HTTP_STATUS);
    long long ms = ctl_record_when_ms(r);

    snprintf(pos, sizeof(pos), "%d:%lld", (int)r->partition,
             (long long)r->offset);
    if (ms >= 0)
        ctl_time_iso(ms, when);
    /* Status 0 is the loop's "no HTTP call was involved". */
    if (status != NULL && strcmp(status, "0") == 0)
        status = NULL;

    field(out, pos, 7);
    fputc(' ', out);
    field(out, when, 24);
    fputc(' ', out);
    field(out, ctl_record_stage(r), 8);
    fputc(' ', out);
    field(out, ctl_record_header(r, CTL_H_REASON), 20);
    fputc(' ', out);
    field(out, ctl_record_header(r, CTL_H_CLASS), 9);
    fputc(' ', out);
    field(out, ctl_record_header(r, CTL_H_ATTEMPTS), 2);
    fputc(' ', out);
    field(out, status, 3);
    fputc(' ', out);
    field(out, r->key, 0);
    fputc('\n', out);
}

/* A JSON string of n bytes of s; bytes that are not UTF-8 become \u00XX
 * of the byte (ds_json_escape), so that any header or key can be shown. */
static json_t *json_bytes(const char *s, size_t n)
{
    json_t *v;
    char *esc, *quoted;
    size_t cap = n * 6 + 8;

    if (s == NULL)
        return json_null();
    v = json_stringn(s, n);
    if (v != NULL)
        return v;
    esc = malloc(cap);
    quoted = malloc(cap + 2);
    if (esc != NULL && quoted != NULL) {
        ds_json_escape(esc, cap, s, n);
        snprintf(quoted, cap + 2, "\"%s\"", esc);
        v = json_loads(quoted, JSON_DECODE_ANY, NULL);
    }
    free(esc);
    free(quoted);
    return v;
}

/* The headers as one object, a later value of a name replacing an earlier
 * one. */
static json_t *headers_object(const ctl_record *r)
{
    json_t *obj = json_object();
    size_t i;

    for (i = 0; obj != NULL && i < r->nheaders; i++) {
        const ctl_header *h = &r->headers[i];

        if (json_object_set_new(obj, h->name,
                                json_bytes(h->value, h->value_len)) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

/* The value as JSON when it is JSON, else as a string. */
static json_t *value_json(const ctl_record *r)
{
    json_t *v;

    if (r->value == NULL)
        return json_null();
    v = json_loadb(r->value, r->value_len, JSON_DECODE_ANY, NULL);
    return v != NULL ? v : json_bytes(r->value, r->value_len);
}

/* An epoch-ms time as an ISO-8601 string, or null for -1. */
static json_t *json_time(long long ms)
{
    char iso[CTL_ISO_LEN];

    if (ms < 0)
        return json_null();
    ctl_time_iso(ms, iso);
    return json_string(iso);
}

/* The blob's object of list --json: sha256, state, and the time its
 * state has. */
static json_t *blob_json(const ctl_blob_view *b)
{
    json_t *obj = json_pack("{s:s, s:s}", "sha256", b->sha256, "state",
                            b->state);

    if (obj != NULL && strcmp(b->state, "kept") == 0)
        json_object_set_new(obj, "keptUntil", json_time(b->until_ms));
    else if (obj != NULL && strcmp(b->state, "expired") == 0)
        json_object_set_new(obj, "expiredAt", json_time(b->expired_ms));
    return obj;
}

int ctl_format_json(FILE *out, const ctl_record *r, const char *topic,
                    const ctl_blob_view *blob)
{
    json_t *obj;
    char *line;

    obj = json_pack("{s:s, s:i, s:I, s:I, s:o, s:o, s:o}",
                    "topic", topic, "partition", (int)r->partition,
                    "offset", (json_int_t)r->offset,
                    "timestamp", (json_int_t)r->timestamp_ms,
                    "key", json_bytes(r->key, r->key_len),
                    "headers", headers_object(r), "value", value_json(r));
    if (obj != NULL && blob != NULL && blob->sha256 != NULL &&
        json_object_set_new(obj, "blob", blob_json(blob)) < 0) {
        json_decref(obj);
        obj = NULL;
    }
    line = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (line == NULL)
        return -1;
    fprintf(out, "%s\n", line);
    free(line);
    return 0;
}

/* Nonzero for the headers that hold epoch milliseconds. */
static int is_time_header(const char *name)
{
    return strcmp(name, CTL_H_FIRST_FAILURE) == 0 ||
           strcmp(name, CTL_H_LAST_FAILURE) == 0;
}

/* Writes n bytes of s for reading: printable ASCII as it is, any other
 * byte as \xNN, so that a header shows exactly what it holds. */
static void escaped(FILE *out, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch >= ' ' && ch < 127 && ch != '\\')
            fputc(ch, out);
        else
            fprintf(out, "\\x%02x", ch);
    }
}

/* Writes one header line, a time header followed by its ISO-8601 form. */
static void show_header(FILE *out, const ctl_header *h)
{
    char iso[CTL_ISO_LEN];
    long long ms;

    fprintf(out, "  %-40s ", h->name);
    if (h->value == NULL)
        fputs("(no value)", out);
    else
        escaped(out, h->value, h->value_len);
    if (h->value != NULL && is_time_header(h->name) &&
        (ms = strtoll(h->value, NULL, 10)) > 0) {
        ctl_time_iso(ms, iso);
        fprintf(out, "  (%s)", iso);
    }
    fputc('\n', out);
}

/* Writes the blob's line of show: its name and what becomes of it. */
static void show_blob(FILE *out, const ctl_blob_view *b)
{
    char iso[CTL_ISO_LEN];

    fprintf(out, "blob:      %s ", b->sha256);
    if (strcmp(b->state, "kept") == 0 && b->until_ms < 0) {
        fputs("kept until the record is replayed (BLOB_RETENTION_S=0)\n",
              out);
    } else if (strcmp(b->state, "kept") == 0) {
        ctl_time_iso(b->until_ms, iso);
        fprintf(out, "kept until %s, unless the record is replayed\n", iso);
    } else if (strcmp(b->state, "held") == 0) {
        fputs("held by the document, with no deadline (on its way again)\n",
              out);
    } else if (strcmp(b->state, "expired") == 0) {
        ctl_time_iso(b->expired_ms, iso);
        fprintf(out, "expired at %s: a replay fetches it again "
                "(--to docsync.events)\n", iso);
    } else if (strcmp(b->state, "released") == 0) {
        fputs("no longer held by the document\n", out);
    } else {
        fputs("(Redis could not say whether it is kept)\n", out);
    }
}

void ctl_format_show(FILE *out, const ctl_record *r, const char *topic,
                     const ctl_blob_view *blob)
{
    char iso[CTL_ISO_LEN] = "-";
    json_t *v = value_json(r);
    char *text;
    size_t i;

    if (r->timestamp_ms >= 0)
        ctl_time_iso(r->timestamp_ms, iso);
    fprintf(out, "record:    %s %d:%lld (written %s)\n", topic,
            (int)r->partition, (long long)r->offset, iso);
    fputs("key:       ", out);
    if (r->key != NULL)
        escaped(out, r->key, r->key_len);
    else
        fputs("(none)", out);
    fputc('\n', out);
    if (blob != NULL && blob->sha256 != NULL)
        show_blob(out, blob);
    fputs("headers:\n", out);
    for (i = 0; i < r->nheaders; i++)
        show_header(out, &r->headers[i]);

    text = v != NULL ? json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
    fprintf(out, "value:\n%s\n", text != NULL ? text : "(none)");
    free(text);
    json_decref(v);
}
