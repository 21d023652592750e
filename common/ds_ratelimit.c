/* ds_ratelimit.c - a request budget per API; see ds_ratelimit.h.
 * No budget is kept yet: every request may go. */
#include "ds_ratelimit.h"

#include <stdlib.h>

struct ds_rate {
    ds_rate_cfg cfg;
};

ds_rate *ds_rate_new(const ds_rate_cfg *cfg, const char *api_id,
                     ds_redis *redis, ds_err *err)
{
    ds_rate *r = calloc(1, sizeof(*r));

    (void)api_id;
    (void)redis;
    if (r == NULL)
        return ds_err_set(err, "out_of_memory", "rate budget"), NULL;
    r->cfg = *cfg;
    return r;
}

void ds_rate_free(ds_rate *r)
{
    free(r);
}

int ds_rate_acquire(ds_rate *r, const char *identity, ds_err *err)
{
    (void)r;
    (void)identity;
    (void)err;
    return 0;
}

void ds_rate_observe(ds_rate *r, const char *identity,
                     const ds_http_resp *resp)
{
    (void)r;
    (void)identity;
    (void)resp;
}
