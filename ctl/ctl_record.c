/* ctl_record.c - a DLQ record and its headers; see ctl_record.h. */
#include "ctl_record.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A NUL-terminated copy of n bytes, or NULL when out of memory. */
static char *copy_bytes(const void *p, size_t n)
{
    char *out = malloc(n + 1);

    if (out == NULL)
        return NULL;
    if (n > 0)
        memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

ctl_record *ctl_record_new(int32_t partition, int64_t offset,
                           long long timestamp_ms, const void *key,
                           size_t key_len, const void *value,
                           size_t value_len)
{
    ctl_record *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->partition = partition;
    r->offset = offset;
    r->timestamp_ms = timestamp_ms;
    if ((key != NULL && (r->key = copy_bytes(key, key_len)) == NULL) ||
        (value != NULL &&
         (r->value = copy_bytes(value, value_len)) == NULL)) {
        ctl_record_free(r);
        return NULL;
    }
    r->key_len = key != NULL ? key_len : 0;
    r->value_len = value != NULL ? value_len : 0;
    return r;
}

int ctl_record_add_header(ctl_record *r, const char *name, const void *value,
                          size_t value_len)
{
    ctl_header *grown, *h;

    grown = realloc(r->headers, (r->nheaders + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    r->headers = grown;
    h = &r->headers[r->nheaders];
    h->name = strdup(name);
    h->value = value != NULL ? copy_bytes(value, value_len) : NULL;
    h->value_len = value != NULL ? value_len : 0;
    if (h->name == NULL || (value != NULL && h->value == NULL)) {
        free(h->name);
        free(h->value);
        return -1;
    }
    r->nheaders++;
    return 0;
}

/* Copies every header of m into r. Returns 0 or -1 when out of memory. */
static int copy_headers(ctl_record *r, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    const char *name;
    const void *value;
    size_t len, i;

    /* A record without headers is not an error: there is nothing to copy. */
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    for (i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &len) ==
                RD_KAFKA_RESP_ERR_NO_ERROR; i++)
        if (ctl_record_add_header(r, name, value, len) < 0)
            return -1;
    return 0;
}

ctl_record *ctl_record_from_message(const rd_kafka_message_t *m)
{
    rd_kafka_timestamp_type_t type;
    long long ts = rd_kafka_message_timestamp(m, &type);
    ctl_record *r;

    r = ctl_record_new(m->partition, m->offset,
                       type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts,
                       m->key, m->key_len, m->payload, m->len);
    if (r != NULL && copy_headers(r, m) < 0) {
        ctl_record_free(r);
        return NULL;
    }
    return r;
}

void ctl_record_free(ctl_record *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->key);
    free(r->value);
    free(r);
}

const char *ctl_record_header(const ctl_record *r, const char *name)
{
    size_t i;

    for (i = r->nheaders; i > 0; i--)
        if (strcmp(r->headers[i - 1].name, name) == 0)
            return r->headers[i - 1].value;
    return NULL;
}

long long ctl_record_header_ll(const ctl_record *r, const char *name,
                               long long fallback)
{
    const char *v = ctl_record_header(r, name);
    char *end;
    long long n;

    if (v == NULL || *v == '\0')
        return fallback;
    errno = 0;
    n = strtoll(v, &end, 10);
    return errno != 0 || *end != '\0' ? fallback : n;
}

const char *ctl_record_stage(const ctl_record *r)
{
    const char *s = ctl_record_header(r, CTL_H_DS_STAGE);

    return s != NULL ? s : ctl_record_header(r, CTL_H_STAGE);
}

long long ctl_record_when_ms(const ctl_record *r)
{
    long long last = ctl_record_header_ll(r, CTL_H_LAST_FAILURE, -1);

    /* 0 is what the loop writes when it never saw a failure time. */
    return last > 0 ? last : r->timestamp_ms;
}

int ctl_record_is_wrapper(const ctl_record *r)
{
    json_t *v, *error;
    int wrapper;

    if (r->value == NULL)
        return 0;
    v = json_loadb(r->value, r->value_len, 0, NULL);
    error = json_object_get(v, "error");
    wrapper = json_is_string(error) &&
              strcmp(json_string_value(error), CTL_WRAPPER_ERROR) == 0 &&
              json_object_get(v, "documentId") == NULL;
    json_decref(v);
    return wrapper;
}
