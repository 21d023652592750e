/*
 * sb_admin_chaos.h - the admin routes of the chaos engine (sb_chaos.h):
 * set random faults, and read what they did. No key, like every admin
 * route. Bodies and replies are described in docs/sandbox.md.
 */
#ifndef SB_ADMIN_CHAOS_H
#define SB_ADMIN_CHAOS_H

#include "sb_call.h"

/* POST /admin/chaos: replaces the chaos settings with the body's (absent
 * fields take their defaults, so {} turns chaos off) and answers 200
 * {"settings":{...}} with the defaults and the seed filled in. 400
 * {"error":"bad_request","reason":...,"field":...} for a bad body, an
 * unknown field, a rate outside [0, 1] or request rates summing over 1;
 * the settings then stay as they were. */
void sb_admin_chaos_set(const sb_ctx *ctx, const sb_call *call,
                        sb_reply *out);

/* GET /admin/chaos: 200 with the settings and the counts of
 * sb_chaos_report. */
void sb_admin_chaos_get(const sb_ctx *ctx, const sb_call *call,
                        sb_reply *out);

#endif
