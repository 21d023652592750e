/* sb_multipart.c - multipart/form-data from a file; see sb_multipart.h. */
#include "sb_multipart.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sb_store.h"

/* The body is read this much at a time. */
#define MP_SLICE (64 * 1024)
/* A part's header block larger than this is not a form's. */
#define MP_HEADER_MAX (16 * 1024)
/* RFC 2046: a boundary is 1 to 70 characters. */
#define MP_BOUNDARY_MAX 70
/* Transport padding (spaces, tabs) tolerated after a delimiter. */
#define MP_PAD_MAX 64
/* The window: a slice more than the most a scan keeps back. */
#define MP_CAP (2 * MP_SLICE + MP_HEADER_MAX)

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The text fields kept; the others are read and dropped. */
static const char *const text_fields[] = {
    "fileName", "mimeType", "notes", "documentDate", "sourceDocumentId"
};

#define METADATA "metadata"
#define FILE_PART "file"

/* What the part being read is for. */
typedef enum { PART_SKIP, PART_FILE, PART_TEXT } part_kind;

/* What follows a match of the delimiter "\r\n--boundary". */
typedef enum {
    DELIM_MORE,  /* too few bytes read to tell */
    DELIM_NOT,   /* other bytes: the match is data */
    DELIM_OPEN,  /* padding and CRLF: a part follows */
    DELIM_CLOSE  /* "--": the close delimiter */
} delim_kind;

/* A text or parameter value: len bytes at p, not NUL-terminated. */
typedef struct span {
    char *p;
    size_t len;
} span;

/* What the headers of one part say. */
typedef struct part_head {
    span name;
    span filename;
    span filename_ext;   /* filename*, still encoded */
    span type;
    int has_name, has_filename, has_filename_ext, has_type;
} part_head;

/* One parse. The window buf[start, end) holds what is read and not yet
 * consumed. */
typedef struct mp {
    int fd;
    int eof;
    char *buf;
    size_t start, end;
    char delim[4 + MP_BOUNDARY_MAX + 1];
    size_t dlen;
    uint64_t limit;
    const char *dir;
    part_kind kind;
    const char *name;        /* the kept text part's name (static) */
    char *text;
    size_t text_len, text_cap;
    int out_fd;              /* the file part's file while it is read */
    ds_digest *dg;
    int have_file;
    json_t *metadata;
    sb_mp_result *res;
    const char **field;
    ds_err *err;
} mp;

static sb_mp_status failed(mp *m, const char *reason, const char *what)
{
    ds_err_set(m->err, reason, "%s: %s", what, strerror(errno));
    return SB_MP_FAILED;
}

static sb_mp_status bad_field(mp *m, const char *field)
{
    *m->field = field;
    return SB_MP_BAD_FIELD;
}

/* A JSON string of the UTF-8 bytes of v, or NULL when they are not
 * UTF-8 (jansson refuses overlong forms, surrogates and code points past
 * U+10FFFF) or memory ran out. */
static json_t *utf8_string(span v)
{
    return json_stringn(v.p, v.len);
}

static int span_is(span s, const char *word)
{
    return s.len == strlen(word) && strncmp(s.p, word, s.len) == 0;
}

static int span_is_nocase(span s, const char *word)
{
    return s.len == strlen(word) && strncasecmp(s.p, word, s.len) == 0;
}

/* Reads the next "; attr=value" of a header value at *s into attr and
 * val, unquoting a quoted-string in place (a backslash escapes the next
 * character). Returns 1 with both set, 0 at the end, -1 when malformed. */
static int next_param(char **s, span *attr, span *val)
{
    char *c = *s + strspn(*s, " \t");
    char *out;

    if (*c == '\0')
        return 0;
    if (*c != ';')
        return -1;
    c += 1 + strspn(c + 1, " \t");
    if (*c == '\0')
        return 0; /* a trailing ";" */
    attr->p = c;
    c += strcspn(c, "=; \t");
    attr->len = (size_t)(c - attr->p);
    c += strspn(c, " \t");
    if (attr->len == 0 || *c != '=')
        return -1;
    c += 1 + strspn(c + 1, " \t");
    val->p = out = c;
    if (*c == '"') {
        for (c++; *c != '"'; c++) {
            if (*c == '\0')
                return -1;
            if (*c == '\\' && c[1] != '\0')
                c++;
            *out++ = *c;
        }
        c++;
    } else {
        c += strcspn(c, "; \t");
        out = c;
        if (out == val->p)
            return -1;
    }
    val->len = (size_t)(out - val->p);
    *s = c;
    return 1;
}

/* RFC 2046 bchars, the last one not a space. */
static int boundary_ok(span b)
{
    static const char bchars[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ";

    if (b.len == 0 || b.len > MP_BOUNDARY_MAX || b.p[b.len - 1] == ' ')
        return 0;
    for (size_t i = 0; i < b.len; i++)
        if (b.p[i] == '\0' || strchr(bchars, b.p[i]) == NULL)
            return 0;
    return 1;
}

/* Sets the delimiter from the boundary parameter of content_type. */
static sb_mp_status take_boundary(mp *m, const char *content_type)
{
    char *copy = content_type != NULL ? strdup(content_type) : NULL;
    char *s = copy != NULL ? copy + strcspn(copy, ";") : NULL;
    sb_mp_status st = SB_MP_BAD;
    span attr, val;

    if (content_type != NULL && copy == NULL)
        return failed(m, "oom", "boundary");
    while (s != NULL && next_param(&s, &attr, &val) == 1) {
        if (!span_is_nocase(attr, "boundary"))
            continue;
        if (boundary_ok(val)) {
            memcpy(m->delim, "\r\n--", 4);
            memcpy(m->delim + 4, val.p, val.len);
            m->dlen = 4 + val.len;
            st = SB_MP_OK;
        }
        break;
    }
    free(copy);
    return st;
}

/* Moves what is left to the front of the window and reads one more
 * slice; sets eof at the end of the body. */
static sb_mp_status fill(mp *m)
{
    size_t want;
    ssize_t got;

    if (m->start > 0) {
        memmove(m->buf, m->buf + m->start, m->end - m->start);
        m->end -= m->start;
        m->start = 0;
    }
    want = MP_CAP - m->end < MP_SLICE ? MP_CAP - m->end : MP_SLICE;
    do {
        got = read(m->fd, m->buf + m->end, want);
    } while (got < 0 && errno == EINTR);
    if (got < 0)
        return failed(m, "store_failed", "read body");
    if (got == 0)
        m->eof = 1;
    m->end += (size_t)got;
    return SB_MP_OK;
}

/* What the delimiter matched at buf[p] is. For DELIM_OPEN *next is the
 * CRLF that ends the delimiter line, for DELIM_CLOSE the byte after
 * "--". */
static delim_kind delim_at(const mp *m, size_t p, size_t *next)
{
    size_t i = p + m->dlen;
    size_t pad = 0;

    if (m->end - i < 2)
        return m->eof ? DELIM_NOT : DELIM_MORE;
    if (m->buf[i] == '-' && m->buf[i + 1] == '-') {
        *next = i + 2;
        return DELIM_CLOSE;
    }
    while (i < m->end && pad < MP_PAD_MAX &&
           (m->buf[i] == ' ' || m->buf[i] == '\t')) {
        i++;
        pad++;
    }
    if (m->end - i < 2)
        return m->eof ? DELIM_NOT : DELIM_MORE;
    if (m->buf[i] == '\r' && m->buf[i + 1] == '\n') {
        *next = i;
        return DELIM_OPEN;
    }
    return DELIM_NOT;
}

static sb_mp_status append_text(mp *m, const char *p, size_t n)
{
    if (m->text_len + n > SB_MP_TEXT_MAX)
        return bad_field(m, m->name);
    if (m->text_len + n > m->text_cap) {
        size_t cap = m->text_cap == 0 ? 4096 : m->text_cap;
        char *grown;

        while (cap < m->text_len + n)
            cap *= 2;
        grown = realloc(m->text, cap);
        if (grown == NULL)
            return failed(m, "oom", "text field");
        m->text = grown;
        m->text_cap = cap;
    }
    memcpy(m->text + m->text_len, p, n);
    m->text_len += n;
    return SB_MP_OK;
}

/* Hands n bytes of the current part's content, from buf[from], to where
 * the part goes. */
static sb_mp_status emit(mp *m, size_t from, size_t n)
{
    const char *p = m->buf + from;

    if (n == 0 || m->kind == PART_SKIP)
        return SB_MP_OK;
    if (m->kind == PART_TEXT)
        return append_text(m, p, n);
    /* Before writing: an oversized file stops as soon as it shows. */
    if (m->res->size + n > m->limit)
        return SB_MP_TOO_LARGE;
    if (ds_digest_update(m->dg, p, n) != 0) {
        ds_err_set(m->err, "digest_failed", "digest update failed");
        return SB_MP_FAILED;
    }
    if (sb_store_write(m->out_fd, p, n, m->err) != 0)
        return SB_MP_FAILED;
    m->res->size += n;
    return SB_MP_OK;
}

/* Ends the file part: closes its file and keeps its MD5. */
static sb_mp_status end_file(mp *m)
{
    char sha[DS_SHA256_HEX_LEN + 1];
    uint64_t size;
    int rc = close(m->out_fd);

    m->out_fd = -1;
    if (rc != 0)
        return failed(m, "store_failed", "close");
    rc = ds_digest_final(m->dg, sha, m->res->md5, &size);
    ds_digest_free(m->dg);
    m->dg = NULL;
    if (rc != 0) {
        ds_err_set(m->err, "digest_failed", "digest final failed");
        return SB_MP_FAILED;
    }
    return SB_MP_OK;
}

/* Ends a kept text part: the first of each field counts; "metadata" must
 * be a JSON object. */
static sb_mp_status end_text(mp *m)
{
    span v = {m->text, m->text_len};
    json_t *s;

    m->text_len = 0;
    if (strcmp(m->name, METADATA) == 0) {
        json_t *obj = json_loadb(v.p, v.len, 0, NULL);

        if (!json_is_object(obj)) {
            json_decref(obj);
            return bad_field(m, METADATA);
        }
        if (m->metadata == NULL)
            m->metadata = obj;
        else
            json_decref(obj);
        return SB_MP_OK;
    }
    if (json_object_get(m->res->fields, m->name) != NULL)
        return SB_MP_OK;
    s = utf8_string(v);
    if (s == NULL)
        return bad_field(m, m->name);
    if (json_object_set_new(m->res->fields, m->name, s) != 0)
        return failed(m, "oom", "text field");
    return SB_MP_OK;
}

static sb_mp_status end_part(mp *m)
{
    part_kind kind = m->kind;

    m->kind = PART_SKIP;
    if (kind == PART_FILE)
        return end_file(m);
    if (kind == PART_TEXT)
        return end_text(m);
    return SB_MP_OK;
}

/* Reads the current part's content up to the next delimiter, which
 * *found tells; the window then starts after it. A body that ends
 * before one is truncated. */
static sb_mp_status scan_part(mp *m, delim_kind *found)
{
    sb_mp_status st;

    for (;;) {
        size_t avail = m->end - m->start;
        char *hit = memmem(m->buf + m->start, avail, m->delim, m->dlen);

        if (hit != NULL) {
            size_t p = (size_t)(hit - m->buf), next = 0;
            delim_kind k = delim_at(m, p, &next);
            size_t upto = k == DELIM_NOT ? p + 1 : p;

            st = emit(m, m->start, upto - m->start);
            m->start = upto;
            if (st != SB_MP_OK)
                return st;
            if (k == DELIM_NOT)
                continue;
            if (k == DELIM_MORE) {
                if ((st = fill(m)) != SB_MP_OK)
                    return st;
                continue;
            }
            m->start = next;
            *found = k;
            return end_part(m);
        }
        if (m->eof)
            return SB_MP_BAD;
        /* The tail may be the start of a delimiter cut by the slice. */
        if (avail >= m->dlen) {
            size_t n = avail - (m->dlen - 1);

            if ((st = emit(m, m->start, n)) != SB_MP_OK)
                return st;
            m->start += n;
        }
        if ((st = fill(m)) != SB_MP_OK)
            return st;
    }
}

/* Reads a part's header block, from the CRLF that ends its delimiter
 * line to the empty line, into a new NUL-terminated *head with folded
 * lines unfolded; the window then starts at the part's content. */
static sb_mp_status read_headers(mp *m, char **head)
{
    sb_mp_status st;

    for (;;) {
        size_t avail = m->end - m->start;
        char *hit = memmem(m->buf + m->start, avail, "\r\n\r\n", 4);

        if (hit != NULL) {
            size_t h = (size_t)(hit - m->buf);
            size_t len = h > m->start ? h - m->start - 2 : 0;

            if (memchr(m->buf + m->start, '\0', h - m->start) != NULL)
                return SB_MP_BAD;
            *head = malloc(len + 1);
            if (*head == NULL)
                return failed(m, "oom", "part headers");
            memcpy(*head, m->buf + m->start + 2, len);
            (*head)[len] = '\0';
            for (char *c = *head; (c = strstr(c, "\r\n")) != NULL; c++)
                if (c[2] == ' ' || c[2] == '\t')
                    c[0] = c[1] = ' ';
            m->start = h + 4;
            return SB_MP_OK;
        }
        if (avail > MP_HEADER_MAX || m->eof)
            return SB_MP_BAD;
        if ((st = fill(m)) != SB_MP_OK)
            return st;
    }
}

/* Reads the parameters of a Content-Disposition value into h. */
static sb_mp_status disposition(char *value, part_head *h)
{
    char *s = value + strcspn(value, ";");
    span attr, val;
    int rc;

    while ((rc = next_param(&s, &attr, &val)) == 1) {
        if (span_is_nocase(attr, "name") && !h->has_name) {
            h->name = val;
            h->has_name = 1;
        } else if (span_is_nocase(attr, "filename") && !h->has_filename) {
            h->filename = val;
            h->has_filename = 1;
        } else if (span_is_nocase(attr, "filename*") &&
                   !h->has_filename_ext) {
            h->filename_ext = val;
            h->has_filename_ext = 1;
        }
    }
    return rc < 0 ? SB_MP_BAD : SB_MP_OK;
}

/* Splits a header block into lines and keeps Content-Disposition and
 * Content-Type; other headers are ignored. */
static sb_mp_status parse_head(char *head, part_head *h)
{
    memset(h, 0, sizeof(*h));
    for (char *line = head; *line != '\0';) {
        char *eol = strstr(line, "\r\n");
        char *colon, *value;

        if (eol != NULL)
            *eol = '\0';
        colon = strchr(line, ':');
        if (colon == NULL)
            return SB_MP_BAD;
        *colon = '\0';
        value = colon + 1 + strspn(colon + 1, " \t");
        if (strcasecmp(line, "Content-Disposition") == 0 &&
            disposition(value, h) != SB_MP_OK)
            return SB_MP_BAD;
        if (strcasecmp(line, "Content-Type") == 0) {
            size_t n = strlen(value);

            while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
                n--;
            h->type = (span){value, n};
            h->has_type = 1;
        }
        if (eol == NULL)
            break;
        line = eol + 2;
    }
    return SB_MP_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes an RFC 8187 ext-value (charset'language'percent-encoded) into a
 * JSON string. UTF-8 and ISO-8859-1 are the charsets known. NULL when
 * malformed, in another charset or not UTF-8. */
static json_t *ext_value(span v)
{
    char *q1 = memchr(v.p, '\'', v.len);
    char *q2 = q1 != NULL ? memchr(q1 + 1, '\'',
                                   v.len - (size_t)(q1 + 1 - v.p))
                          : NULL;
    span cs = {v.p, q1 != NULL ? (size_t)(q1 - v.p) : 0};
    int latin1 = span_is_nocase(cs, "ISO-8859-1");
    char *out, *o;
    json_t *s = NULL;

    if (q2 == NULL || (!latin1 && !span_is_nocase(cs, "UTF-8")))
        return NULL;
    out = o = malloc(2 * v.len + 1);
    for (char *c = q2 + 1; out != NULL && c < v.p + v.len; c++) {
        int b = (unsigned char)*c;

        if (b == '%') {
            if (v.p + v.len - c < 3 || hex_digit(c[1]) < 0 ||
                hex_digit(c[2]) < 0)
                goto out;
            b = hex_digit(c[1]) << 4 | hex_digit(c[2]);
            c += 2;
        }
        if (latin1 && b >= 0x80) {
            *o++ = (char)(0xc0 | b >> 6);
            *o++ = (char)(0x80 | (b & 0x3f));
        } else {
            *o++ = (char)b;
        }
    }
    if (out != NULL)
        s = utf8_string((span){out, (size_t)(o - out)});

out:
    free(out);
    return s;
}

/* Opens the file part's file and takes its name and type. */
static sb_mp_status begin_file(mp *m, const part_head *h)
{
    json_t *name;

    if (m->have_file)
        return SB_MP_BAD;
    m->have_file = 1;
    /* filename* wins: it is the one that can carry any name. */
    name = h->has_filename_ext ? ext_value(h->filename_ext)
                               : utf8_string(h->filename);
    if (name == NULL)
        return bad_field(m, "fileName");
    m->res->part_file_name = name;
    if (h->has_type && (m->res->part_type = utf8_string(h->type)) == NULL)
        return bad_field(m, "mimeType");
    m->dg = ds_digest_new();
    if (m->dg == NULL)
        return failed(m, "oom", "digest");
    m->out_fd = sb_store_temp(m->dir, "content", m->res->path, m->err);
    if (m->out_fd < 0) {
        m->res->path[0] = '\0';
        return SB_MP_FAILED;
    }
    m->kind = PART_FILE;
    return SB_MP_OK;
}

/* Decides from its headers where a part goes: the file part, a kept text
 * field or metadata, or nowhere. */
static sb_mp_status begin_part(mp *m, char *head)
{
    part_head h;
    sb_mp_status st = parse_head(head, &h);

    m->kind = PART_SKIP;
    if (st != SB_MP_OK || !h.has_name)
        return st;
    if (span_is(h.name, FILE_PART) && (h.has_filename || h.has_filename_ext))
        return begin_file(m, &h);
    if (span_is(h.name, METADATA)) {
        m->name = METADATA;
        m->kind = PART_TEXT;
    }
    for (size_t i = 0; i < COUNT(text_fields); i++) {
        if (span_is(h.name, text_fields[i])) {
            m->name = text_fields[i];
            m->kind = PART_TEXT;
        }
    }
    return SB_MP_OK;
}

/* Lays the known fields of the metadata part over the text fields. */
static sb_mp_status merge_metadata(mp *m)
{
    for (size_t i = 0; m->metadata != NULL && i < COUNT(text_fields); i++) {
        json_t *v = json_object_get(m->metadata, text_fields[i]);

        if (v != NULL &&
            json_object_set(m->res->fields, text_fields[i], v) != 0)
            return failed(m, "oom", "metadata");
    }
    return SB_MP_OK;
}

/* The parts, from the first delimiter to the close delimiter; what
 * follows that (the epilogue) is ignored. */
static sb_mp_status parse_parts(mp *m)
{
    delim_kind k = DELIM_NOT;
    sb_mp_status st;

    /* The first delimiter may open the body: a CRLF put in front lets the
     * one search find it there too. */
    memcpy(m->buf, "\r\n", 2);
    m->end = 2;
    st = scan_part(m, &k); /* the preamble, dropped */
    while (st == SB_MP_OK && k == DELIM_OPEN) {
        char *head = NULL;

        st = read_headers(m, &head);
        if (st == SB_MP_OK)
            st = begin_part(m, head);
        free(head);
        if (st == SB_MP_OK)
            st = scan_part(m, &k);
    }
    if (st == SB_MP_OK && !m->have_file)
        st = SB_MP_NO_FILE;
    if (st == SB_MP_OK)
        st = merge_metadata(m);
    return st;
}

sb_mp_status sb_multipart_parse(const char *body_path,
                                const char *content_type, const char *dir,
                                uint64_t file_limit, sb_mp_result *res,
                                const char **field, ds_err *err)
{
    mp m = {.fd = -1, .out_fd = -1, .limit = file_limit, .dir = dir,
            .res = res, .field = field, .err = err};
    sb_mp_status st;

    memset(res, 0, sizeof(*res));
    *field = NULL;
    st = take_boundary(&m, content_type);
    if (st != SB_MP_OK)
        goto out;
    res->fields = json_object();
    m.buf = malloc(MP_CAP);
    if (res->fields == NULL || m.buf == NULL) {
        st = failed(&m, "oom", "multipart");
        goto out;
    }
    m.fd = body_path != NULL ? open(body_path, O_RDONLY | O_CLOEXEC) : -1;
    if (m.fd < 0) {
        st = failed(&m, "store_failed", "open body");
        goto out;
    }
    st = parse_parts(&m);

out:
    if (m.out_fd >= 0)
        close(m.out_fd);
    if (m.fd >= 0)
        close(m.fd);
    ds_digest_free(m.dg);
    json_decref(m.metadata);
    free(m.text);
    free(m.buf);
    if (st != SB_MP_OK)
        sb_mp_clear(res);
    return st;
}

void sb_mp_clear(sb_mp_result *res)
{
    if (res->path[0] != '\0')
        unlink(res->path);
    json_decref(res->fields);
    json_decref(res->part_file_name);
    json_decref(res->part_type);
    memset(res, 0, sizeof(*res));
}
