/* ds_fields.c - field rules; see ds_fields.h. */
#include "ds_fields.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ds_crypto.h"
#include "ds_time.h"

static const char *const FORMATS[] = {"rfc3339", "epoch_s", "epoch_ms",
                                      NULL};
static const char *const RULE_KEYS[] = {"from", "default", "required",
                                        "format", "fromFormat", NULL};

json_t *ds_json_path(const json_t *obj, const char *path)
{
    const char *p = path;
    json_t *at = (json_t *)obj;

    while (at != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);

        if (!json_is_object(at))
            return NULL;
        at = json_object_getn(at, p, n);
        p += n;
        if (*p == '.')
            p++;
    }
    return at;
}

int ds_json_scalar_text(const json_t *v, char *out, size_t cap)
{
    int n = -1;

    if (json_is_string(v))
        n = snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_integer(v))
        n = snprintf(out, cap, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
    else if (json_is_real(v) &&
             json_real_value(v) == (double)(long long)json_real_value(v))
        n = snprintf(out, cap, "%lld", (long long)json_real_value(v));
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int is_format(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && FORMATS[i] != NULL; i++)
        if (strcmp(name, FORMATS[i]) == 0)
            return 1;
    return 0;
}

static int allowed_key(const char *key)
{
    size_t i;

    for (i = 0; RULE_KEYS[i] != NULL; i++)
        if (strcmp(key, RULE_KEYS[i]) == 0)
            return 1;
    return 0;
}

/* Checks one format key of a rule: absent, or a known name. */
static int check_format(const json_t *rule, const char *key,
                        const char *where, const char *name, ds_err *err)
{
    const json_t *v = json_object_get(rule, key);

    if (v == NULL)
        return 0;
    if (!is_format(json_string_value(v)))
        return ds_err_set(err, "bad_connector", "%s.%s.%s: unknown format "
                          "%.40s (rfc3339, epoch_s or epoch_ms)", where,
                          name, key, json_is_string(v) ?
                          json_string_value(v) : "(not a string)");
    return 0;
}

static int check_rule(const json_t *rule, const char *where,
                      const char *name, ds_err *err)
{
    const char *key;
    json_t *v;

    if (!json_is_object(rule))
        return ds_err_set(err, "bad_connector", "%s.%s: not an object",
                          where, name);
    json_object_foreach((json_t *)rule, key, v) {
        if (!allowed_key(key))
            return ds_err_set(err, "bad_connector", "%s.%s.%s: unknown key",
                              where, name, key);
    }
    v = json_object_get(rule, "from");
    if (v != NULL && (!json_is_string(v) || json_string_length(v) == 0))
        return ds_err_set(err, "bad_connector",
                          "%s.%s.from: not a dotted path", where, name);
    v = json_object_get(rule, "required");
    if (v != NULL && !json_is_boolean(v))
        return ds_err_set(err, "bad_connector",
                          "%s.%s.required: not true or false", where, name);
    if (check_format(rule, "format", where, name, err) < 0)
        return -1;
    return check_format(rule, "fromFormat", where, name, err);
}

int ds_fields_check(const json_t *rules, const char *where, ds_err *err)
{
    const char *name;
    json_t *rule;

    if (!json_is_object(rules))
        return ds_err_set(err, "bad_connector", "%s: not an object", where);
    json_object_foreach((json_t *)rules, name, rule) {
        if (check_rule(rule, where, name, err) < 0)
            return -1;
    }
    return 0;
}

/* Milliseconds since the epoch of an RFC 3339 text, keeping up to three
 * digits of its fraction (ds_time_parse_iso8601 keeps whole seconds). */
static int parse_rfc3339_ms(const char *text, long long *ms)
{
    const char *t = strchr(text, 'T');
    time_t s;
    long frac = 0;
    int digits = 0;

    if (ds_time_parse_iso8601(text, &s) < 0)
        return -1;
    if (t != NULL && strlen(t) > 9 && t[9] == '.') {
        const char *p = t + 10;

        for (; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        for (; digits < 3; digits++)
            frac *= 10;
    }
    *ms = (long long)s * 1000 + frac;
    return 0;
}

static int read_time(const json_t *v, const char *from, long long *ms)
{
    if (json_is_string(v))
        return (from == NULL || strcmp(from, "rfc3339") == 0) ?
               parse_rfc3339_ms(json_string_value(v), ms) : -1;
    if (!json_is_integer(v) || (from != NULL && strcmp(from, "rfc3339") == 0))
        return -1;
    *ms = json_integer_value(v);
    if ((from != NULL && strcmp(from, "epoch_s") == 0) ||
        (from == NULL && *ms < 100000000000LL))
        *ms *= 1000;
    return 0;
}

json_t *ds_fields_time(const json_t *v, const char *from_format,
                       const char *format)
{
    char text[40], date[32];
    long long ms;
    time_t s;

    if (read_time(v, from_format, &ms) < 0)
        return NULL;
    if (strcmp(format, "epoch_ms") == 0)
        return json_integer(ms);
    if (strcmp(format, "epoch_s") == 0)
        return json_integer(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    s = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    if (ds_time_format_utc(s, "%Y-%m-%dT%H:%M:%S", date, sizeof(date)) < 0)
        return NULL;
    snprintf(text, sizeof(text), "%s.%03lldZ", date,
             ms - (long long)s * 1000);
    return json_string(text);
}

/* The value of one field, new, or NULL with *missing set when there is
 * none, or NULL with err set. */
static json_t *apply_rule(const json_t *rule, const char *name,
                          const json_t *in, const char *fail_reason,
                          ds_err *err)
{
    const char *from = json_string_value(json_object_get(rule, "from"));
    const char *format = json_string_value(json_object_get(rule, "format"));
    json_t *v = ds_json_path(in, from != NULL ? from : name);
    json_t *out;

    if (json_is_null(v))
        v = NULL;
    if (v == NULL)
        v = json_object_get(rule, "default");
    if (v == NULL || json_is_null(v)) {
        if (json_is_true(json_object_get(rule, "required")))
            ds_err_set(err, fail_reason, "%s (from %.64s): missing", name,
                       from != NULL ? from : name);
        return NULL;
    }
    if (format == NULL)
        return json_deep_copy(v);
    out = ds_fields_time(v, json_string_value(json_object_get(rule,
                         "fromFormat")), format);
    if (out == NULL)
        ds_err_set(err, fail_reason, "%s (from %.64s): not a time in the "
                   "expected format", name, from != NULL ? from : name);
    return out;
}

/* Sets v (stolen) at the dotted path name of out, making the objects on
 * the way: "meta.title" becomes {"meta": {"title": v}}. A part that is
 * already something else than an object is replaced. Returns 0 or -1. */
static int set_path(json_t *out, const char *name, json_t *v)
{
    const char *dot = strchr(name, '.');
    json_t *sub;

    if (dot == NULL || dot == name || dot[1] == '\0')
        return json_object_set_new(out, name, v);
    sub = json_object_getn(out, name, (size_t)(dot - name));
    if (!json_is_object(sub)) {
        sub = json_object();
        if (sub == NULL || json_object_setn_new(out, name,
                                                (size_t)(dot - name),
                                                sub) < 0) {
            json_decref(v);
            return -1;
        }
    }
    return set_path(sub, dot + 1, v);
}

json_t *ds_fields_apply(const json_t *rules, const json_t *in,
                        const char *fail_reason, ds_err *err)
{
    json_t *out = json_object();
    const char *name;
    json_t *rule;
    ds_err ferr;

    if (out == NULL)
        return ds_err_set(err, "out_of_memory", "json"), NULL;
    ds_err_clear(&ferr);
    json_object_foreach((json_t *)rules, name, rule) {
        json_t *v = apply_rule(rule, name, in, fail_reason, &ferr);

        /* A field left out is not a failure: only ferr says one is. */
        if (v == NULL && ferr.klass != DS_CLASS_NONE) {
            if (err->klass == DS_CLASS_NONE)
                *err = ferr;
            json_decref(out);
            return NULL;
        }
        if (v != NULL && set_path(out, name, v) < 0) {
            json_decref(out);
            return ds_err_set(err, "out_of_memory", "json"), NULL;
        }
    }
    return out;
}

int ds_checksum_equal(const char *hex, const char *got,
                      const char *encoding)
{
    unsigned char bytes[66];  /* 3 * (88 / 4) */
    char text[2 * sizeof(bytes) + 1];
    size_t n = got != NULL ? strlen(got) : 0;
    long len, i;

    if (hex == NULL || got == NULL)
        return 0;
    if (encoding == NULL || strcmp(encoding, "hex") == 0)
        return strcasecmp(hex, got) == 0;
    /* base64 of the digest: at most 64 bytes, so at most 88 characters. */
    if (n == 0 || n > 88)
        return 0;
    len = ds_b64_decode(got, n, bytes);
    if (len <= 0 || len > 64)
        return 0;
    for (i = 0; i < len; i++)
        snprintf(text + 2 * i, 3, "%02x", bytes[i]);
    return strcasecmp(hex, text) == 0;
}
