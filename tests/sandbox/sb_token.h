/*
 * sb_token.h - the OAuth2 token endpoint, POST /oauth/token (RFC 6749):
 * the client credentials and refresh token grants, client authentication
 * by HTTP Basic or by form fields. Not rate limited, no API key.
 */
#ifndef SB_TOKEN_H
#define SB_TOKEN_H

#include "sb_call.h"

/* POST /oauth/token, application/x-www-form-urlencoded. 200 with
 * {"access_token","token_type":"Bearer","expires_in"} (plus a new
 * "refresh_token" for the refresh grant); 400 {"error":"invalid_grant"}
 * for an unknown or reused refresh token, "invalid_request",
 * "unauthorized_client" or "unsupported_grant_type"; 401
 * {"error":"invalid_client"} for a bad client. */
void sb_token_endpoint(const sb_ctx *ctx, const sb_call *call,
                       sb_reply *out);

#endif
