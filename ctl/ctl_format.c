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

int ctl_format_json(FILE *out, const ctl_record *r, const char *topic)
{
    json_t *obj;
    char *line;

    obj = json_pack("{s:s, s:i, s:I, s:I, s:o, s:o, s:o}",
                    "topic", topic, "partition", (int)r->partition,
                    "offset", (json_int_t)r->offset,
                    "timestamp", (json_int_t)r->timestamp_ms,
                    "key", json_bytes(r->key, r->key_len),
                    "headers", headers_object(r), "value", value_json(r));
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

void ctl_format_show(FILE *out, const ctl_record *r, const char *topic)
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
    fputs("\nheaders:\n", out);
    for (i = 0; i < r->nheaders; i++)
        show_header(out, &r->headers[i]);

    text = v != NULL ? json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
    fprintf(out, "value:\n%s\n", text != NULL ? text : "(none)");
    free(text);
    json_decref(v);
}
