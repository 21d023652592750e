/* ds_tmpl.c - path templates and dotted JSON paths; see ds_tmpl.h. */
#include "ds_tmpl.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Appends one byte of value, percent-encoded when it could mean something
 * in a URL. Returns the new length, or cap when it does not fit. */
static size_t put_encoded(char *out, size_t len, size_t cap, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";

    if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
        if (len + 1 >= cap)
            return cap;
        out[len++] = (char)c;
        return len;
    }
    if (len + 3 >= cap)
        return cap;
    out[len++] = '%';
    out[len++] = hex[c >> 4];
    out[len++] = hex[c & 0xf];
    return len;
}

int ds_tmpl_expand(const char *tmpl, const char *name, const char *value,
                   char *out, size_t cap, ds_err *err)
{
    size_t nlen = strlen(name), len = 0;
    const char *p = tmpl, *v;

    while (*p != '\0' && len < cap) {
        if (p[0] == '{' && strncmp(p + 1, name, nlen) == 0 &&
            p[1 + nlen] == '}') {
            for (v = value; *v != '\0' && len < cap; v++)
                len = put_encoded(out, len, cap, (unsigned char)*v);
            p += nlen + 2;
            continue;
        }
        if (len + 1 >= cap)
            len = cap;
        else
            out[len++] = *p++;
    }
    if (len >= cap)
        return ds_err_set(err, "bad_config",
                          "path from template %.64s is over %zu bytes",
                          tmpl, cap);
    out[len] = '\0';
    return 0;
}

json_t *ds_tmpl_json_get(const json_t *obj, const char *path)
{
    const char *dot;
    json_t *at = (json_t *)obj;
    char step[128];

    while (at != NULL && *path != '\0') {
        size_t n;

        dot = strchr(path, '.');
        n = dot != NULL ? (size_t)(dot - path) : strlen(path);
        /* A step longer than any field name cannot match. */
        if (n >= sizeof(step))
            return NULL;
        memcpy(step, path, n);
        step[n] = '\0';
        at = json_object_get(at, step);
        path += n + (dot != NULL);
    }
    return at;
}
