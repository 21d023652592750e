/* ds_multipart.c - a streamed multipart/form-data body; see ds_multipart.h. */
#include "ds_multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ds_utf8.h"

#define BOUNDARY_PREFIX "docsync-"
#define BOUNDARY_RANDOM 16      /* bytes, written as 32 hex characters */
#define BOUNDARY_LEN (sizeof(BOUNDARY_PREFIX) - 1 + 2 * BOUNDARY_RANDOM)
#define CT_PREFIX "multipart/form-data; boundary="

enum phase { HEAD, CONTENT, TAIL, DONE };

struct ds_multipart {
    char *head;              /* every part before the file's bytes */
    size_t head_len;
    char tail[BOUNDARY_LEN + 9];     /* \r\n--<boundary>--\r\n */
    size_t tail_len;
    char boundary[BOUNDARY_LEN + 1];
    char content_type[sizeof(CT_PREFIX) + BOUNDARY_LEN];
    ds_blob_reader *blob;
    ds_err *err;             /* where a failed read is reported */
    uint64_t size;
    uint64_t file_read;      /* bytes of the file copied out so far */
    enum phase phase;
    size_t pos;              /* position in head or tail */
};

/* A growing text; after a failed allocation it only remembers failing. */
typedef struct text {
    char *p;
    size_t len, cap;
    int failed;
} text;

static void text_add(text *t, const char *s, size_t n)
{
    char *p;
    size_t cap;

    if (t->failed)
        return;
    if (t->cap - t->len < n + 1) {
        cap = t->cap > 0 ? t->cap : 512;
        while (cap - t->len < n + 1)
            cap *= 2;
        p = realloc(t->p, cap);
        if (p == NULL) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void text_str(text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

/* 1 when s[0..n) is well-formed UTF-8 (ds_utf8.h). */
static int utf8_valid(const char *s, size_t n)
{
    return ds_utf8_invalid_at(s, n) == n;
}

static int utf8_str(const char *s)
{
    return utf8_valid(s, strlen(s));
}

/* 1 when every string and key in v is valid UTF-8. jansson checks what it
 * is given, except through its _nocheck calls: a value built that way
 * must not reach a header or a JSON part. */
static int json_utf8_valid(const json_t *v)
{
    const char *key;
    json_t *x;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_STRING:
        return utf8_valid(json_string_value(v), json_string_length(v));
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, x)
            if (!utf8_str(key) || !json_utf8_valid(x))
                return 0;
        return 1;
    case JSON_ARRAY:
        json_array_foreach(v, i, x)
            if (!json_utf8_valid(x))
                return 0;
        return 1;
    default:
        return 1;
    }
}

/* Adds s as a quoted parameter's content the way HTML5 forms write it:
 * '"', CR and LF, which would end the value or the header, as %22, %0D
 * and %0A; every other byte as is. */
static void add_escaped(text *t, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '"')
            text_str(t, "%22");
        else if (*s == '\r')
            text_str(t, "%0D");
        else if (*s == '\n')
            text_str(t, "%0A");
        else
            text_add(t, s, 1);
    }
}

/* 1 for a byte that may stand in a quoted filename of the ASCII fallback:
 * printable ASCII but '"' and '\'. */
static int fallback_safe(unsigned char c)
{
    return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

static int ascii_safe(const char *s)
{
    for (; *s != '\0'; s++)
        if (!fallback_safe((unsigned char)*s))
            return 0;
    return 1;
}

/* Adds the ASCII fallback of the UTF-8 name s: each unsafe character,
 * whatever its length in bytes, becomes one '_'. */
static void add_fallback(text *t, const char *s)
{
    unsigned char c;

    for (; *s != '\0'; s++) {
        c = (unsigned char)*s;
        if (fallback_safe(c))
            text_add(t, s, 1);
        else if ((c & 0xC0) != 0x80)   /* not a continuation byte */
            text_str(t, "_");
    }
}

/* RFC 8187's attr-char: what stays as is in an ext-value. */
static int attr_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || strchr("!#$&+-.^_`|~", c) != NULL;
}

/* Adds s percent-encoded as RFC 8187's value-chars, in upper-case hex. */
static void add_pct(text *t, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char c;
    char enc[3];

    for (; *s != '\0'; s++) {
        c = (unsigned char)*s;
        if (attr_char(c)) {
            text_add(t, s, 1);
            continue;
        }
        enc[0] = '%';
        enc[1] = hex[c >> 4];
        enc[2] = hex[c & 0x0F];
        text_add(t, enc, 3);
    }
}

/* Starts a part: its delimiter and Content-Disposition up to the name. */
static void add_part_start(text *t, const ds_multipart *m, const char *name)
{
    text_str(t, "--");
    text_str(t, m->boundary);
    text_str(t, "\r\nContent-Disposition: form-data; name=\"");
    add_escaped(t, name);
    text_str(t, "\"");
}

/* Adds one text part per field, in the object's order; nulls are left
 * out. Returns 0, or -1 with err set when a value cannot be written. */
static int add_field_parts(text *t, const ds_multipart *m,
                           const json_t *fields, ds_err *err)
{
    const char *key;
    json_t *v;
    char *dump;

    json_object_foreach((json_t *)fields, key, v) {
        if (json_is_null(v))
            continue;
        add_part_start(t, m, key);
        text_str(t, "\r\n\r\n");
        if (json_is_string(v)) {
            text_add(t, json_string_value(v), json_string_length(v));
        } else {
            dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (dump == NULL)
                return ds_err_set(err, "out_of_memory", "upload field %.64s",
                                  key);
            text_str(t, dump);
            free(dump);
        }
        text_str(t, "\r\n");
    }
    return 0;
}

/* Adds the one application/json part holding all of fields. */
static int add_json_part(text *t, const ds_multipart *m, const char *name,
                         const json_t *fields, ds_err *err)
{
    char *dump = json_dumps(fields, JSON_COMPACT);

    if (dump == NULL)
        return ds_err_set(err, "out_of_memory", "upload metadata");
    add_part_start(t, m, name);
    text_str(t, "\r\nContent-Type: application/json\r\n\r\n");
    text_str(t, dump);
    text_str(t, "\r\n");
    free(dump);
    return 0;
}

/* Adds the file part's headers, up to the blank line before its bytes. */
static void add_file_head(text *t, const ds_multipart *m, const char *field,
                          const char *name, const char *mime,
                          ds_multipart_name_style style)
{
    /* An empty name would look like no file to some servers. */
    if (name[0] == '\0')
        name = "file";
    add_part_start(t, m, field);
    text_str(t, "; filename=\"");
    if (style == DS_MULTIPART_RAW) {
        add_escaped(t, name);
        text_str(t, "\"");
    } else {
        add_fallback(t, name);
        text_str(t, "\"");
        if (!ascii_safe(name)) {
            text_str(t, "; filename*=UTF-8''");
            add_pct(t, name);
        }
    }
    text_str(t, "\r\nContent-Type: ");
    text_str(t, mime);
    text_str(t, "\r\n\r\n");
}

/* Checks what the headers are made of. Returns 0, or -1 with err set
 * ("bad_body"): a header must never be broken by what it carries. */
static int check_input(const json_t *fields, const ds_multipart_opts *o,
                       const char *field, const char *mime,
                       const char *meta, ds_err *err)
{
    if (fields != NULL && !json_is_object(fields))
        return ds_err_set(err, "bad_body",
                          "upload fields are not a JSON object");
    if (fields != NULL && !json_utf8_valid(fields))
        return ds_err_set(err, "bad_body", "an upload field's name or "
                          "value is not valid UTF-8");
    if (o == NULL || o->file_name == NULL)
        return ds_err_set(err, "bad_body", "multipart body without a "
                          "file name");
    if (!utf8_str(o->file_name))
        return ds_err_set(err, "bad_body", "the file name is not valid "
                          "UTF-8");
    if (!utf8_str(field) || !utf8_str(meta))
        return ds_err_set(err, "bad_body", "a part name is not valid UTF-8");
    if (mime[0] == '\0' || strpbrk(mime, "\r\n") != NULL || !utf8_str(mime))
        return ds_err_set(err, "bad_body", "the mime type is empty, not "
                          "UTF-8, or holds CR or LF");
    return 0;
}

/* Draws a new boundary into m, and the Content-Type naming it. Returns 0,
 * or -1 with err set. */
static int make_boundary(ds_multipart *m, ds_err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[BOUNDARY_RANDOM];
    char *p;
    size_t i;

    /* A guessable boundary lets a file end its own part: no fallback. */
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return ds_err_set(err, "bad_body", "no random bytes for the "
                          "multipart boundary");
    p = m->boundary + sizeof(BOUNDARY_PREFIX) - 1;
    memcpy(m->boundary, BOUNDARY_PREFIX, sizeof(BOUNDARY_PREFIX) - 1);
    for (i = 0; i < sizeof(rnd); i++) {
        *p++ = hex[rnd[i] >> 4];
        *p++ = hex[rnd[i] & 0x0F];
    }
    *p = '\0';
    snprintf(m->content_type, sizeof(m->content_type), "%s%s", CT_PREFIX,
             m->boundary);
    m->tail_len = (size_t)snprintf(m->tail, sizeof(m->tail),
                                   "\r\n--%s--\r\n", m->boundary);
    return 0;
}

/* The body's length from its parts; UINT64_MAX when past INT64_MAX. */
static uint64_t body_length(size_t head_len, uint64_t size, size_t tail_len)
{
    uint64_t text_len = (uint64_t)head_len + tail_len;

    if (text_len > (uint64_t)INT64_MAX || size > INT64_MAX - text_len)
        return UINT64_MAX;
    return text_len + size;
}

ds_multipart *ds_multipart_new(const json_t *fields,
                               const ds_multipart_opts *opts,
                               ds_blob_reader *r, ds_err *err)
{
    const char *field = "file", *mime = "application/octet-stream";
    const char *meta = "metadata";
    ds_multipart *m = NULL;
    text head = {0};

    if (opts != NULL && opts->file_field != NULL)
        field = opts->file_field;
    if (opts != NULL && opts->mime_type != NULL)
        mime = opts->mime_type;
    if (opts != NULL && opts->metadata_field != NULL)
        meta = opts->metadata_field;
    if (check_input(fields, opts, field, mime, meta, err) != 0)
        goto fail;

    m = calloc(1, sizeof(*m));
    if (m == NULL)
        goto oom;
    if (make_boundary(m, err) != 0)
        goto fail;

    if (fields != NULL && opts->metadata == DS_MULTIPART_JSON) {
        if (add_json_part(&head, m, meta, fields, err) != 0)
            goto fail;
    } else if (fields != NULL) {
        if (add_field_parts(&head, m, fields, err) != 0)
            goto fail;
    }
    add_file_head(&head, m, field, opts->file_name, mime, opts->name_style);
    if (head.failed)
        goto oom;

    m->head = head.p;
    m->head_len = head.len;
    head.p = NULL;           /* m owns it now */
    m->blob = r;
    m->err = err;
    m->size = ds_blob_reader_size(r);
    /* Content-Length is signed for libcurl; no blob comes near it. */
    if (body_length(m->head_len, m->size, m->tail_len) == UINT64_MAX) {
        ds_err_set(err, "bad_body", "a file of %llu bytes is too large for "
                   "one body", (unsigned long long)m->size);
        goto fail;
    }
    if (ds_multipart_rewind(m) != 0)
        goto fail;
    return m;

oom:
    ds_err_set(err, "out_of_memory", "multipart body");
fail:
    free(head.p);
    ds_multipart_free(m);
    return NULL;
}

const char *ds_multipart_boundary(const ds_multipart *m)
{
    return m->boundary;
}

const char *ds_multipart_content_type(const ds_multipart *m)
{
    return m->content_type;
}

int64_t ds_multipart_length(const ds_multipart *m)
{
    return (int64_t)body_length(m->head_len, m->size, m->tail_len);
}

static size_t copy_text(char *buf, size_t cap, const char *src, size_t len,
                        size_t *pos)
{
    size_t n = len - *pos;

    if (n > cap)
        n = cap;
    memcpy(buf, src + *pos, n);
    *pos += n;
    return n;
}

/* Copies the next file bytes from the blob straight into buf, at most cap
 * and never past the size taken when the body was made. Returns the bytes
 * copied or (size_t)-1 with the kept err set. */
static size_t copy_file(ds_multipart *m, char *buf, size_t cap)
{
    uint64_t left = m->size - m->file_read;
    size_t want = left < cap ? (size_t)left : cap, got;

    got = ds_blob_read(m->blob, buf, want, m->err);
    if (got == (size_t)-1)
        return got;
    /* ds_blob_read reports a blob cut short itself; a reader that gave
     * less without saying so would make this loop spin or send a short
     * body, so less is an error here whatever the reason. */
    if (got != want)
        return ds_err_set(m->err, "blob_io", "blob ended at %llu of %llu "
                          "bytes", (unsigned long long)(m->file_read + got),
                          (unsigned long long)m->size), (size_t)-1;
    m->file_read += got;
    return got;
}

size_t ds_multipart_read(char *buf, size_t cap, void *ud)
{
    ds_multipart *m = ud;
    size_t done = 0, got;

    while (done < cap && m->phase != DONE) {
        switch (m->phase) {
        case HEAD:
            done += copy_text(buf + done, cap - done, m->head, m->head_len,
                              &m->pos);
            if (m->pos == m->head_len)
                m->phase = CONTENT;
            break;
        case CONTENT:
            if (m->file_read == m->size) {
                m->phase = TAIL;
                m->pos = 0;
                break;
            }
            got = copy_file(m, buf + done, cap - done);
            if (got == (size_t)-1)
                return got;
            done += got;
            break;
        case TAIL:
            done += copy_text(buf + done, cap - done, m->tail, m->tail_len,
                              &m->pos);
            if (m->pos == m->tail_len)
                m->phase = DONE;
            break;
        case DONE:
            break;
        }
    }
    return done;
}

int ds_multipart_rewind(void *ud)
{
    ds_multipart *m = ud;

    if (ds_blob_seek(m->blob, 0, m->err) != 0)
        return -1;
    m->phase = HEAD;
    m->pos = 0;
    m->file_read = 0;
    return 0;
}

void ds_multipart_free(ds_multipart *m)
{
    if (m == NULL)
        return;
    free(m->head);
    free(m);
}
