/*
 * ctl_token.h - `docsyncctl token show|set API`: the OAuth2 tokens an API's
 * stages share in Redis (ds_auth.h: docsync:token:<api>, :lock, :dead).
 *
 * show prints what an operator needs to judge the credential - whether an
 * access token is stored and when it expires, whether a refresh token is,
 * the generation, the lock, and whether the credential is dead - and never
 * a token's value. set stores a new refresh token (an operator's
 * re-consent), drops the stored access token and lifts the dead mark, so
 * that the stages refresh with it on their next request and go on.
 */
#ifndef CTL_TOKEN_H
#define CTL_TOKEN_H

#include <stdio.h>

#include "ctl_conf.h"
#include "ds_connector.h"
#include "ds_error.h"
#include "ds_redis.h"

/* The longest refresh token `token set` accepts, in bytes. */
#define CTL_TOKEN_MAX 8192

/* Nonzero when api is one of docsync's two APIs, "source" or
 * "destination": the only names under which a stage keeps a token. */
int ctl_token_api_valid(const char *api);

/* Nonzero when the connector c gives api the refresh-token grant
 * (auth type oauth2_refresh_token), the only one with a refresh token. */
int ctl_token_uses_refresh(const ds_connector *c, const char *api);

/* Writes what Redis holds for api's credential to out, without a token's
 * value. Returns 0, or -1 with err set when Redis cannot be read. */
int ctl_token_print(FILE *out, ds_redis *r, const char *api, ds_err *err);

/* Stores refresh as api's refresh token, removes the access token, bumps
 * the generation and removes the dead mark, in one step. Returns 0 or -1
 * with err set. */
int ctl_token_store(ds_redis *r, const char *api, const char *refresh,
                    ds_err *err);

/* Runs `token show API`. Returns the exit code. */
int ctl_token_show(ctl_conf *conf, int argc, char **argv);

/* Runs `token set API --refresh-token-file FILE`. Returns the exit code. */
int ctl_token_set(ctl_conf *conf, int argc, char **argv);

#endif
