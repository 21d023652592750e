/*
 * sb_oauth.h - the token store of the OAuth2 mode: opaque access tokens
 * with a lifetime, single-use rotating refresh tokens, and the refusals
 * they cause (bad bearer tokens, reused refresh tokens).
 *
 * Tokens belong to a client of the configuration's oauth2.clients. Each
 * client has a generation: issuing through the refresh grant, or revoking,
 * starts a new one, and an access token of an older generation is dead at
 * once, as vendors do. A client's configured "refreshToken" is valid until
 * it is used or revoked.
 */
#ifndef SB_OAUTH_H
#define SB_OAUTH_H

#include <stdint.h>

#include "sb_call.h"
#include "sb_config.h"

/* 32 random bytes in hex. */
#define SB_TOKEN_LEN 64

/* What became of a refresh token presented to the token endpoint. */
typedef enum {
    SB_REFRESH_OK,      /* valid: now consumed */
    SB_REFRESH_REUSED,  /* consumed before: refused and counted */
    SB_REFRESH_UNKNOWN  /* never issued to this client, or revoked */
} sb_refresh_result;

/* Creates an empty store; NULL when out of memory. */
sb_oauth *sb_oauth_new(void);

/* Frees o; accepts NULL. */
void sb_oauth_free(sb_oauth *o);

/* Checks the Authorization header of a request to api at now_ms. Returns
 * NULL for a live bearer token of that API, else why it is refused
 * ("missing", "expired", "revoked" or "unknown"), counted as a bad
 * token of api. */
const char *sb_oauth_check(sb_oauth *o, sb_api api, const char *auth,
                           int64_t now_ms);

/* Issues an access token of client for api valid ttl_ms from now_ms. With
 * rotate (the refresh grant) the client's earlier access tokens die first
 * and a new refresh token is written to refresh. Returns 0, or -1 when out
 * of memory. */
int sb_oauth_issue(sb_oauth *o, const char *client, sb_api api, long ttl_ms,
                   int64_t now_ms, int rotate,
                   char access[SB_TOKEN_LEN + 1],
                   char refresh[SB_TOKEN_LEN + 1]);

/* Consumes refresh token token of client; seed is the client's configured
 * refreshToken or NULL. */
sb_refresh_result sb_oauth_consume(sb_oauth *o, const char *client,
                                   const char *seed, const char *token);

/* Issues a fresh refresh token for client (an operator's re-consent).
 * Returns 0, or -1 when out of memory. */
int sb_oauth_grant_refresh(sb_oauth *o, const char *client,
                           char refresh[SB_TOKEN_LEN + 1]);

/* Kills every access and refresh token of client, seed included (may be
 * NULL): the credential is dead until a re-consent. */
void sb_oauth_revoke(sb_oauth *o, const char *client, const char *seed);

/* Bad tokens per API and reused refresh tokens, since the start or the
 * last reset. */
void sb_oauth_refused(sb_oauth *o, long bad[SB_API_COUNT], long *reused);

/* Zeroes the refusal counts; tokens stay valid. */
void sb_oauth_reset(sb_oauth *o);

#endif
