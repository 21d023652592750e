/* ds_body.c - a streamed JSON body with base64 content; see ds_body.h. */
#include "ds_body.h"

#include <stdlib.h>
#include <string.h>

#include "ds_crypto.h"

#define RAW_CHUNK (48 * 1024)   /* a multiple of 3: no carry mid-file */

enum phase { PREFIX, CONTENT, SUFFIX, DONE };

struct ds_body {
    char *prefix;            /* {"a":1,...,"content":"  */
    size_t prefix_len;
    ds_blob_reader *blob;
    ds_err *err;             /* where a failed read is reported */
    uint64_t size;
    uint64_t file_read;      /* bytes of the file read so far */
    ds_b64 enc;
    enum phase phase;
    int encoded_all;         /* the last group, with padding, is in out */
    size_t pos;              /* position in prefix, suffix or out */
    size_t out_len;
    unsigned char raw[RAW_CHUNK];
    char out[RAW_CHUNK / 3 * 4 + 8];
};

static const char SUFFIX_TEXT[] = "\"}";

ds_body *ds_body_new(const json_t *fields, const char *content_key,
                     ds_blob_reader *r, ds_err *err)
{
    ds_body *b = calloc(1, sizeof(*b));
    char *json = NULL, *key = NULL;
    size_t json_len;
    json_t *k;

    if (b == NULL)
        goto oom;
    json = json_dumps(fields, JSON_COMPACT);
    k = json_string(content_key);
    key = k != NULL ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
    json_decref(k);
    if (json == NULL || key == NULL)
        goto oom;
    json_len = strlen(json);
    if (json_len < 2 || json[json_len - 1] != '}') {
        ds_err_set(err, "bad_body",
                   "upload fields are not a JSON object");
        goto fail;
    }
    /* Drop the closing brace, then add ,"key":" (no comma after "{"). */
    json[json_len - 1] = '\0';
    if (asprintf(&b->prefix, "%s%s%s:\"", json, json_len > 2 ? "," : "",
                 key) < 0) {
        b->prefix = NULL;
        goto oom;
    }
    b->prefix_len = strlen(b->prefix);
    b->blob = r;
    b->err = err;
    b->size = ds_blob_reader_size(r);
    free(json);
    free(key);
    ds_body_rewind(b);
    return b;

oom:
    ds_err_set(err, "out_of_memory", "upload body");
fail:
    free(json);
    free(key);
    ds_body_free(b);
    return NULL;
}

int64_t ds_body_length(const ds_body *b)
{
    return (int64_t)(b->prefix_len + ds_base64_len(b->size) +
                     sizeof(SUFFIX_TEXT) - 1);
}

/* Refills out with the next encoded chunk. Returns 0, or -1 with the kept
 * err set when the blob cannot be read. */
static int refill(ds_body *b)
{
    size_t want = RAW_CHUNK, got;

    if (b->size - b->file_read < want)
        want = (size_t)(b->size - b->file_read);
    got = want > 0 ? ds_blob_read(b->blob, b->raw, want, b->err) : 0;
    if (got != want)
        return -1;
    b->file_read += got;
    b->out_len = ds_b64_update(&b->enc, b->raw, got, b->out);
    if (b->file_read == b->size) {
        b->out_len += ds_b64_final(&b->enc, b->out + b->out_len);
        b->encoded_all = 1;
    }
    b->pos = 0;
    return 0;
}

static size_t copy_part(char *buf, size_t cap, const char *src, size_t len,
                        size_t *pos)
{
    size_t n = len - *pos;

    if (n > cap)
        n = cap;
    memcpy(buf, src + *pos, n);
    *pos += n;
    return n;
}

size_t ds_body_read(char *buf, size_t cap, void *ud)
{
    ds_body *b = ud;
    size_t done = 0;

    while (done < cap && b->phase != DONE) {
        switch (b->phase) {
        case PREFIX:
            done += copy_part(buf + done, cap - done, b->prefix,
                              b->prefix_len, &b->pos);
            if (b->pos == b->prefix_len) {
                b->phase = CONTENT;
                b->pos = b->out_len = 0;
            }
            break;
        case CONTENT:
            if (b->pos < b->out_len) {
                done += copy_part(buf + done, cap - done, b->out,
                                  b->out_len, &b->pos);
            } else if (b->encoded_all) {
                b->phase = SUFFIX;
                b->pos = 0;
            } else if (refill(b) < 0) {
                return (size_t)-1;
            }
            break;
        case SUFFIX:
            done += copy_part(buf + done, cap - done, SUFFIX_TEXT,
                              sizeof(SUFFIX_TEXT) - 1, &b->pos);
            if (b->pos == sizeof(SUFFIX_TEXT) - 1)
                b->phase = DONE;
            break;
        case DONE:
            break;
        }
    }
    return done;
}

int ds_body_rewind(void *ud)
{
    ds_body *b = ud;

    if (ds_blob_seek(b->blob, 0, b->err) != 0)
        return -1;
    ds_b64_init(&b->enc);
    b->phase = PREFIX;
    b->pos = b->out_len = 0;
    b->file_read = 0;
    b->encoded_all = 0;
    return 0;
}

void ds_body_free(ds_body *b)
{
    if (b == NULL)
        return;
    free(b->prefix);
    free(b);
}
