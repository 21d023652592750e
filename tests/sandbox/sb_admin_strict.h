/*
 * sb_admin_strict.h - the admin routes of the strict modes: the
 * configuration, the refusal counts, credentials (an operator's
 * re-consent, a dead credential) and the accounts of the transaction
 * system. No key; bodies in docs/sandbox.md.
 */
#ifndef SB_ADMIN_STRICT_H
#define SB_ADMIN_STRICT_H

#include "sb_call.h"

/* GET /admin/config: 200 with the configuration in force. */
void sb_admin_config_get(const sb_ctx *ctx, const sb_call *call,
                         sb_reply *out);

/* POST /admin/config: merges the body (each top-level key replaces the
 * one held) and answers 200 with the result; 400 bad_field naming the
 * field when the result does not validate (nothing changes then). */
void sb_admin_config_set(const sb_ctx *ctx, const sb_call *call,
                         sb_reply *out);

/* GET /admin/refusals: 200 {"overLimit","badTokens","reusedRefreshTokens",
 * "byApi":{"crm":{"overLimit","badTokens"},"tx":{...}}}. */
void sb_admin_refusals(const sb_ctx *ctx, const sb_call *call,
                       sb_reply *out);

/* POST /admin/oauth/refresh-token {"clientId"}: 200 {"refresh_token"}, a
 * fresh valid refresh token; 404 for an unknown client. */
void sb_admin_oauth_refresh(const sb_ctx *ctx, const sb_call *call,
                            sb_reply *out);

/* POST /admin/oauth/revoke {"clientId"}: kills every access and refresh
 * token of the client; 200 {"revoked": clientId}, 404 when unknown. */
void sb_admin_oauth_revoke(const sb_ctx *ctx, const sb_call *call,
                           sb_reply *out);

/* POST /admin/tx/accounts {"accountId","transactionIds":[...]}: replaces
 * the account's transactions ([] removes them); 200 with the body. */
void sb_admin_tx_accounts(const sb_ctx *ctx, const sb_call *call,
                          sb_reply *out);

#endif
