/* sb_admin_chaos.c - the chaos admin routes; see sb_admin_chaos.h. */
#include "sb_admin_chaos.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sb_chaos.h"
#include "sb_log.h"

#define MAX_HANG_MS 600000L
#define MAX_BURST_MS 86400000L
#define MAX_RETRY_AFTER_S 86400L
/* Rates read from decimal text may add up to a hair over 1. */
#define RATE_SLACK 1e-9

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const body_fields[] = {
    "routes", "rate5xx", "rateHang", "hangMs", "rateReset", "burst429",
    "txLoseRate", "txCorruptRate", "seed"
};

static const char *const burst_fields[] = {
    "everyMs", "lengthMs", "retryAfterS"
};

/* Refuses a field of obj that is not in known: a typo in a chaos setting
 * must not quietly turn that fault off. prefix names the enclosing field
 * in the reply ("burst429."), or is "". */
static int check_known(json_t *obj, const char *const *known, size_t n,
                       const char *prefix, sb_reply *out)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v) {
        char field[128];
        size_t i = 0;

        while (i < n && strcmp(key, known[i]) != 0)
            i++;
        if (i < n)
            continue;
        snprintf(field, sizeof(field), "%s%s", prefix, key);
        sb_reply_bad_field(out, "unknown_field", field);
        return -1;
    }
    return 0;
}

/* Reads an optional rate, a number in [0, 1]; *v keeps its default when
 * the field is absent or null. */
static int get_rate(json_t *body, const char *field, double *v,
                    sb_reply *out)
{
    json_t *j = json_object_get(body, field);
    double d;

    if (j == NULL || json_is_null(j))
        return 0;
    d = json_number_value(j);
    if (!json_is_number(j) || isnan(d) || d < 0.0 || d > 1.0) {
        sb_reply_bad_field(out, "bad_field", field);
        return -1;
    }
    *v = d;
    return 0;
}

/* Reads "routes": "*" or a list of fault route names (default "*"). */
static int get_routes(json_t *body, sb_chaos_settings *s, sb_reply *out)
{
    json_t *j = json_object_get(body, "routes");
    json_t *item;
    size_t i;

    if (j == NULL || json_is_null(j) ||
        (json_is_string(j) && strcmp(json_string_value(j), "*") == 0))
        return 0;
    if (!json_is_array(j))
        goto bad;
    s->all_routes = 0;
    json_array_foreach(j, i, item) {
        sb_fault_route r = sb_fault_route_parse(json_string_value(item));

        if (r == SB_FAULT_NONE)
            goto bad;
        s->routes[r] = 1;
    }
    return 0;

bad:
    sb_reply_bad_field(out, "bad_field", "routes");
    return -1;
}

/* Reads "burst429": null, or {"everyMs","lengthMs","retryAfterS"?} with
 * lengthMs at most everyMs. */
static int get_burst(json_t *body, sb_chaos_burst *b, sb_reply *out)
{
    json_t *j = json_object_get(body, "burst429");
    long every = 0, length = -1;

    if (j == NULL || json_is_null(j))
        return 0;
    if (!json_is_object(j)) {
        sb_reply_bad_field(out, "bad_field", "burst429");
        return -1;
    }
    if (check_known(j, burst_fields, COUNT(burst_fields), "burst429.",
                    out) != 0 ||
        sb_field_long(j, "everyMs", 1, MAX_BURST_MS, &every, out) != 0 ||
        sb_field_long(j, "lengthMs", 0, MAX_BURST_MS, &length, out) != 0 ||
        sb_field_long(j, "retryAfterS", 0, MAX_RETRY_AFTER_S,
                      &b->retry_after_s, out) != 0)
        return -1;
    if (every == 0 || length < 0) {
        sb_reply_bad_field(out, "missing_field", every == 0
                                                     ? "burst429.everyMs"
                                                     : "burst429.lengthMs");
        return -1;
    }
    if (length > every) {
        sb_reply_bad_field(out, "bad_field", "burst429.lengthMs");
        return -1;
    }
    b->every_ms = every;
    b->length_ms = length;
    return 0;
}

/* Fills s from the body of POST /admin/chaos, defaults first. */
static int parse_settings(json_t *body, sb_chaos_settings *s, sb_reply *out)
{
    long seed = -1;

    sb_chaos_settings_init(s);
    if (check_known(body, body_fields, COUNT(body_fields), "", out) != 0 ||
        get_routes(body, s, out) != 0 ||
        get_rate(body, "rate5xx", &s->rate_5xx, out) != 0 ||
        get_rate(body, "rateHang", &s->rate_hang, out) != 0 ||
        sb_field_long(body, "hangMs", 0, MAX_HANG_MS, &s->hang_ms,
                      out) != 0 ||
        get_rate(body, "rateReset", &s->rate_reset, out) != 0 ||
        get_burst(body, &s->burst, out) != 0 ||
        get_rate(body, "txLoseRate", &s->tx_lose_rate, out) != 0 ||
        get_rate(body, "txCorruptRate", &s->tx_corrupt_rate, out) != 0 ||
        sb_field_long(body, "seed", 0, LONG_MAX, &seed, out) != 0)
        return -1;
    /* One draw decides between them, so they cannot add up past 1. */
    if (s->rate_5xx + s->rate_hang + s->rate_reset > 1.0 + RATE_SLACK) {
        sb_reply_bad_field(out, "rates_over_one", "rateReset");
        return -1;
    }
    if (seed >= 0)
        s->seed = (uint64_t)seed;
    return 0;
}

void sb_admin_chaos_set(const sb_ctx *ctx, const sb_call *call,
                        sb_reply *out)
{
    json_t *body = sb_call_json_body(call, out);
    sb_chaos_settings s;
    json_t *shown;

    if (body == NULL || parse_settings(body, &s, out) != 0)
        goto out;
    sb_chaos_set(ctx->chaos, &s);
    shown = sb_chaos_settings_json(&s);
    sb_log_msg("info", "chaos set",
               json_pack("{s:O?}", "settings", shown));
    sb_reply_json(out, 200, json_pack("{s:o}", "settings", shown));

out:
    json_decref(body);
}

void sb_admin_chaos_get(const sb_ctx *ctx, const sb_call *call,
                        sb_reply *out)
{
    (void)call;
    sb_reply_json(out, 200, sb_chaos_report(ctx->chaos));
}
