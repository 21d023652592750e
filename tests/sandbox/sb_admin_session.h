/*
 * sb_admin_session.h - the admin routes of the chunked upload sessions:
 * what the live sessions hold, and making them expire at once for tests
 * of a client that must start again.
 */
#ifndef SB_ADMIN_SESSION_H
#define SB_ADMIN_SESSION_H

#include "sb_call.h"

/* GET /admin/tx/sessions: 200 {"sessions":[{"sessionId","transactionId",
 * "size","partSize","totalParts","receivedParts","partPuts","expired"}],
 * "partPuts":N,"completed":N}; the counts since the last reset. */
void sb_admin_sessions_list(const sb_ctx *ctx, const sb_call *call,
                            sb_reply *out);

/* POST /admin/tx/sessions/expire with {} (or no body) for every session
 * or {"sessionId":"us_3"} for one: they are expired from now on. 200
 * {"expired":["us_3",...]}; 404 unknown_session for an id not known; 400
 * for a bad body. */
void sb_admin_sessions_expire(const sb_ctx *ctx, const sb_call *call,
                              sb_reply *out);

#endif
