/* ds_upmode.c - upload modes and the choice of one; see ds_upmode.h. */
#include "ds_upmode.h"

#include <stdio.h>
#include <string.h>

static const char *const NAMES[DS_UPMODE_KINDS] = {
    "json_base64", "multipart", "chunked"};

const char *ds_upmode_name(ds_upmode_kind kind)
{
    return kind < DS_UPMODE_KINDS ? NAMES[kind] : "unknown";
}

uint64_t ds_upmode_parts(uint64_t size, uint64_t part_bytes)
{
    return part_bytes == 0 ? 0 : size / part_bytes +
                                 (size % part_bytes != 0);
}

/* Reads the string at "<base>.<key>", fallback when absent. */
static int str_at(const ds_connector *c, const char *base, const char *key,
                  const char *fallback, const char **out, ds_err *err)
{
    char path[160];

    snprintf(path, sizeof(path), "%s.%s", base, key);
    return ds_connector_string(c, path, fallback, out, err);
}

static int int_at(const ds_connector *c, const char *base, const char *key,
                  long long fallback, long long *out, ds_err *err)
{
    char path[160];

    snprintf(path, sizeof(path), "%s.%s", base, key);
    return ds_connector_integer(c, path, fallback, out, err);
}

/* The settings of one mode below base, with their defaults. */
static int read_mode(const ds_connector *c, const char *base, ds_upmode *m,
                     ds_err *err)
{
    const char *shape = NULL, *style = NULL;

    m->offered = 1;
    if (int_at(c, base, "maxBytes", -1, &m->max_bytes, err) < 0)
        return -1;
    switch (m->kind) {
    case DS_UPMODE_JSON:
        m->endpoint = "upload";
        return str_at(c, base, "contentField", "content", &m->content_field,
                      err);
    case DS_UPMODE_MULTIPART:
        m->endpoint = ds_connector_has_endpoint(c, DS_SIDE_DESTINATION,
                                                "multipartUpload") ?
                      "multipartUpload" : "upload";
        if (str_at(c, base, "fileField", "file", &m->file_field, err) < 0 ||
            str_at(c, base, "metadata", "fields", &shape, err) < 0 ||
            str_at(c, base, "metadataField", "metadata", &m->metadata_field,
                   err) < 0 ||
            str_at(c, base, "fileNameStyle", "rfc8187", &style, err) < 0)
            return -1;
        m->metadata_json = strcmp(shape, "json") == 0;
        m->raw_names = strcmp(style, "raw") == 0;
        return 0;
    case DS_UPMODE_CHUNKED:
        m->endpoint = "sessionStart";
        if (int_at(c, base, "minBytes", 0, &m->min_bytes, err) < 0 ||
            int_at(c, base, "partBytes", DS_UPMODE_PART_BYTES,
                   &m->part_bytes, err) < 0 ||
            str_at(c, base, "sizeField", "size", &m->size_field, err) < 0 ||
            str_at(c, base, "sessionIdField", "sessionId",
                   &m->session_id_field, err) < 0)
            return -1;
        if (str_at(c, base, "partSizeField", "partSize",
                   &m->part_size_field, err) < 0 ||
            str_at(c, base, "receivedPartsField", "receivedParts",
                   &m->received_parts_field, err) < 0)
            return -1;
        return str_at(c, base, "partMethod", "PUT", &m->part_method, err);
    default:
        return 0;
    }
}

int ds_upmodes_read(const ds_connector *c, ds_upmodes *out, ds_err *err)
{
    const char *one = NULL;
    char base[96];

    memset(out, 0, sizeof(*out));
    for (int k = 0; k < DS_UPMODE_KINDS; k++)
        out->mode[k].kind = (ds_upmode_kind)k;
    if (ds_connector_integer(c, "destination.upload.maxFileNameBytes", -1,
                             &out->max_name_bytes, err) < 0)
        return -1;

    /* The one-mode form: upload.mode with upload's own limit and field. */
    if (ds_connector_get(c, "destination.upload.modes") == NULL) {
        if (ds_connector_string(c, "destination.upload.mode", "json_base64",
                                &one, err) < 0)
            return -1;
        for (int k = 0; k < DS_UPMODE_KINDS; k++)
            if (strcmp(one, NAMES[k]) == 0)
                return read_mode(c, "destination.upload", &out->mode[k],
                                 err);
        return ds_connector_fail(c, "destination.upload.mode",
                                 "unknown mode", err);
    }
    for (int k = 0; k < DS_UPMODE_KINDS; k++) {
        snprintf(base, sizeof(base), "destination.upload.modes.%s",
                 NAMES[k]);
        if (ds_connector_get(c, base) != NULL &&
            read_mode(c, base, &out->mode[k], err) < 0)
            return -1;
    }
    return 0;
}

uint64_t ds_upmode_cost(const ds_upmode *m, uint64_t size)
{
    uint64_t requests = 1, wire = size;

    if (m->kind == DS_UPMODE_JSON)
        wire = (size / 3 + (size % 3 != 0)) * 4;
    if (m->kind == DS_UPMODE_CHUNKED)
        requests = 2 + ds_upmode_parts(size, (uint64_t)m->part_bytes);
    return wire + requests * DS_UPMODE_REQUEST_COST;
}

/* 1 when m is offered and its limits admit size. */
static int admits(const ds_upmode *m, uint64_t size)
{
    return m->offered && (m->max_bytes < 0 ||
                          size <= (uint64_t)m->max_bytes) &&
           size >= (uint64_t)m->min_bytes;
}

/* Says why no mode takes size: over every limit (too_large), or between
 * the modes' ranges (no_upload_mode, a connector whose modes leave a
 * gap), naming each mode's range. */
static void refuse(const ds_upmodes *m, uint64_t size, ds_err *err)
{
    char ranges[200] = "";
    size_t used = 0;
    int over = 1;

    for (int k = 0; k < DS_UPMODE_KINDS; k++) {
        const ds_upmode *x = &m->mode[k];
        char max[24] = "any size";
        int n;

        if (!x->offered)
            continue;
        if (x->max_bytes < 0 || size <= (uint64_t)x->max_bytes)
            over = 0;
        if (x->max_bytes >= 0)
            snprintf(max, sizeof(max), "%lld", x->max_bytes);
        n = snprintf(ranges + used, sizeof(ranges) - used, "%s%s %lld to %s",
                     used > 0 ? ", " : "", NAMES[k], x->min_bytes, max);
        if (n > 0 && (size_t)n < sizeof(ranges) - used)
            used += (size_t)n;
    }
    ds_err_set(err, over ? "too_large" : "no_upload_mode", "%llu bytes: no "
               "upload mode of the destination takes a file this size "
               "(%s bytes)", (unsigned long long)size, ranges);
}

const ds_upmode *ds_upmodes_pick(const ds_upmodes *m, uint64_t size,
                                 ds_err *err)
{
    /* On equal cost, the mode that sends the bytes as they are. */
    static const ds_upmode_kind order[DS_UPMODE_KINDS] = {
        DS_UPMODE_MULTIPART, DS_UPMODE_JSON, DS_UPMODE_CHUNKED};
    const ds_upmode *best = NULL;

    for (int k = 0; k < DS_UPMODE_KINDS; k++) {
        const ds_upmode *x = &m->mode[order[k]];

        if (!admits(x, size))
            continue;
        if (best == NULL || ds_upmode_cost(x, size) <
                            ds_upmode_cost(best, size))
            best = x;
    }
    if (best == NULL)
        refuse(m, size, err);
    return best;
}
