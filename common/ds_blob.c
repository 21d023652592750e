/* ds_blob.c - the blob store's interface over its backends; see ds_blob.h
 * and ds_blob_backend.h. */
#include "ds_blob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ds_blob_backend.h"
#include "ds_blob_fs.h"
#include "ds_config.h"

/* The backends, by scheme. A location without "scheme://" is a path. */
static const ds_blob_ops *const BACKENDS[] = {&ds_blob_fs_ops, NULL};

struct ds_blob_store {
    const ds_blob_ops *ops;
    void *impl;
    char *location;          /* as logged: with its scheme */
};

struct ds_blob_writer {
    ds_blob_store *store;
    void *tmp;               /* NULL once published or failed */
    ds_digest *digest;
    int failed;
};

struct ds_blob_reader {
    ds_blob_store *store;
    void *rd;
    uint64_t size;
    uint64_t pos;
};

int ds_blob_ref_valid(const char *s)
{
    size_t i;

    if (s == NULL)
        return 0;
    for (i = 0; i < DS_SHA256_HEX_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[DS_SHA256_HEX_LEN] == '\0';
}

/* The backend of location and the part of it the backend reads. */
static const ds_blob_ops *backend_of(const char *location, const char **rest)
{
    const char *sep = strstr(location, "://");
    size_t n;

    *rest = location;
    if (sep == NULL)
        return &ds_blob_fs_ops;
    n = (size_t)(sep - location);
    for (size_t i = 0; BACKENDS[i] != NULL; i++) {
        if (strlen(BACKENDS[i]->scheme) == n &&
            strncasecmp(BACKENDS[i]->scheme, location, n) == 0) {
            *rest = sep + 3;
            return BACKENDS[i];
        }
    }
    return NULL;
}

ds_blob_store *ds_blob_store_new(const char *location, ds_err *err)
{
    const ds_blob_ops *ops;
    ds_blob_store *s;
    const char *rest;

    if (location == NULL || location[0] == '\0')
        return ds_err_set(err, "bad_config", "the blob store has no "
                          "location (BLOB_STORE or BLOB_DIR)"), NULL;
    ops = backend_of(location, &rest);
    if (ops == NULL)
        return ds_err_set(err, "bad_config", "blob store %.128s: no backend "
                          "for this scheme (known: file)", location), NULL;
    if (rest[0] == '\0')
        return ds_err_set(err, "bad_config", "blob store %.128s: empty "
                          "location", location), NULL;
    if (strpbrk(rest, "%?#") != NULL)
        return ds_err_set(err, "bad_config", "blob store %.128s: write the "
                          "location plainly, without %%, ? or #", location),
               NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL || asprintf(&s->location, "%s://%s", ops->scheme,
                              rest) < 0) {
        free(s);
        return ds_err_set(err, "blob_oom", "out of memory"), NULL;
    }
    s->ops = ops;
    s->impl = ops->open(rest, err);
    if (s->impl == NULL) {
        free(s->location);
        free(s);
        return NULL;
    }
    return s;
}

ds_blob_store *ds_blob_store_from_env(ds_err *err)
{
    const char *store = ds_env_str("BLOB_STORE", NULL);

    return ds_blob_store_new(store != NULL && store[0] != '\0' ? store :
                             ds_env_str("BLOB_DIR", "/var/lib/docsync/blobs"),
                             err);
}

void ds_blob_store_free(ds_blob_store *s)
{
    if (s == NULL)
        return;
    s->ops->close(s->impl);
    free(s->location);
    free(s);
}

const char *ds_blob_store_location(const ds_blob_store *s)
{
    return s->location;
}

int ds_blob_store_check(ds_blob_store *s, ds_err *err)
{
    return s->ops->check != NULL ? s->ops->check(s->impl, err) : 0;
}

int ds_blob_sweep_tmp(ds_blob_store *s, long max_age_s, int *removed,
                      ds_err *err)
{
    return s->ops->sweep_tmp(s->impl, max_age_s, removed, err);
}

ds_blob_writer *ds_blob_writer_new(ds_blob_store *s, ds_err *err)
{
    ds_blob_writer *w = calloc(1, sizeof(*w));

    if (w == NULL || (w->digest = ds_digest_new()) == NULL) {
        free(w);
        return ds_err_set(err, "blob_oom", "out of memory"), NULL;
    }
    w->store = s;
    w->tmp = s->ops->begin(s->impl, err);
    if (w->tmp == NULL) {
        ds_blob_writer_free(w);
        return NULL;
    }
    return w;
}

int ds_blob_write(ds_blob_writer *w, const void *buf, size_t n, ds_err *err)
{
    if (w->tmp == NULL || w->failed)
        return ds_err_set(err, "blob_state", "write to a closed blob");
    if (ds_digest_update(w->digest, buf, n) != 0) {
        w->failed = 1;
        return ds_err_set(err, "blob_digest", "digest update failed");
    }
    if (w->store->ops->append(w->tmp, buf, n, err) != 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

int ds_blob_commit(ds_blob_writer *w, char sha256[DS_SHA256_HEX_LEN + 1],
                   char md5[DS_MD5_HEX_LEN + 1], uint64_t *size, ds_err *err)
{
    int rc;

    if (w->tmp == NULL || w->failed)
        return ds_err_set(err, "blob_state", "commit of a closed blob");
    if (ds_digest_final(w->digest, sha256, md5, size) != 0) {
        w->failed = 1;
        return ds_err_set(err, "blob_digest", "digest final failed");
    }
    rc = w->store->ops->publish(w->tmp, sha256, *size, err);
    w->store->ops->abort(w->tmp);
    w->tmp = NULL;
    return rc;
}

void ds_blob_writer_free(ds_blob_writer *w)
{
    if (w == NULL)
        return;
    if (w->tmp != NULL)
        w->store->ops->abort(w->tmp);
    ds_digest_free(w->digest);
    free(w);
}

ds_blob_reader *ds_blob_reader_new(ds_blob_store *s, const char *sha256,
                                   ds_err *err)
{
    ds_blob_reader *r;

    if (!ds_blob_ref_valid(sha256))
        return ds_err_set(err, "blob_bad_ref", "not a blob reference"), NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return ds_err_set(err, "blob_oom", "out of memory"), NULL;
    r->store = s;
    r->rd = s->ops->open_read(s->impl, sha256, &r->size, err);
    if (r->rd == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

uint64_t ds_blob_reader_size(const ds_blob_reader *r)
{
    return r->size;
}

size_t ds_blob_read(ds_blob_reader *r, void *buf, size_t cap, ds_err *err)
{
    size_t n;

    if (cap > r->size - r->pos)
        cap = (size_t)(r->size - r->pos);
    if (cap == 0)
        return 0;
    n = r->store->ops->read(r->rd, r->pos, buf, cap, err);
    if (n == (size_t)-1)
        return n;
    /* The blob was announced with its size: less is damage, not an end. */
    if (n < cap)
        return ds_err_set(err, "blob_io", "blob shorter than its size "
                          "(%llu of %llu bytes)",
                          (unsigned long long)(r->pos + n),
                          (unsigned long long)r->size), (size_t)-1;
    r->pos += n;
    return n;
}

int ds_blob_seek(ds_blob_reader *r, uint64_t offset, ds_err *err)
{
    if (offset > r->size)
        return ds_err_set(err, "blob_io", "seek to %llu past the end "
                          "(%llu bytes)", (unsigned long long)offset,
                          (unsigned long long)r->size);
    r->pos = offset;
    return 0;
}

void ds_blob_reader_free(ds_blob_reader *r)
{
    if (r == NULL)
        return;
    r->store->ops->close_read(r->rd);
    free(r);
}

int ds_blob_exists(ds_blob_store *s, const char *sha256, int *exists,
                   ds_err *err)
{
    if (!ds_blob_ref_valid(sha256))
        return ds_err_set(err, "blob_bad_ref", "not a blob reference");
    return s->ops->exists(s->impl, sha256, exists, err);
}

int ds_blob_remove(ds_blob_store *s, const char *sha256, ds_err *err)
{
    if (!ds_blob_ref_valid(sha256))
        return ds_err_set(err, "blob_bad_ref", "not a blob reference");
    return s->ops->remove(s->impl, sha256, err);
}
