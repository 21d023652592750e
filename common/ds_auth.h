/*
 * ds_auth.h - the credentials of one remote API: a static key in a header,
 * a bearer token, or OAuth2 tokens (client credentials, or a refresh token
 * that rotates on every use).
 *
 * OAuth2 tokens live in Redis, shared by every replica of every stage that
 * talks to the API (docsync:token:<api>). Exactly one process refreshes at a
 * time, under a lock with an expiry (docsync:token:<api>:lock); the others
 * wait for the new token and use it. A token is refreshed margin_ms before
 * it expires. After a 401 the caller asks ds_auth_rejected whether one more
 * try is worth it: when the token it used is still the stored one it is
 * refreshed, when another process has replaced it the new one is used
 * (C06). A refresh refused with invalid_grant re-reads the stored refresh
 * token first: another process may have rotated it. Only a credential that
 * is refused after that is dead: one error (reason credential_refused, which
 * holds the stage instead of dead-lettering documents), one log line and
 * the metric docsync_credential_dead{api}.
 *
 * Secrets never appear in logs or error messages.
 */
#ifndef DS_AUTH_H
#define DS_AUTH_H

#include "ds_error.h"
#include "ds_redis.h"

typedef enum {
    DS_AUTH_NONE = 0,
    DS_AUTH_API_KEY,         /* header: secret */
    DS_AUTH_BEARER,          /* Authorization: Bearer secret */
    DS_AUTH_OAUTH2_CLIENT,   /* client credentials grant */
    DS_AUTH_OAUTH2_REFRESH   /* refresh token grant, rotating */
} ds_auth_kind;

/* What the connector file says about one API's credentials. Strings are
 * owned by whoever fills the struct (the connector). */
typedef struct ds_auth_cfg {
    ds_auth_kind kind;
    const char *header;        /* API key: the header's name */
    const char *secret;        /* API key: the key; bearer: the token */
    const char *token_url;     /* OAuth2: absolute URL of the token endpoint */
    const char *client_id;
    const char *client_secret;
    const char *scope;         /* optional */
    const char *refresh_token; /* refresh grant: the first refresh token;
                                  Redis keeps the rotated ones */
    int client_in_body;        /* 1: client id and secret in the form;
                                  0: HTTP Basic (the default) */
    long margin_ms;            /* refresh this long before expiry */
    long lock_ms;              /* a refresh holds the lock at most this long */
} ds_auth_cfg;

typedef struct ds_auth ds_auth;

/* Returns the credentials of the API named api_id (a token for Redis keys,
 * logs and metrics). redis is used for OAuth2 only and must outlive the
 * ds_auth; the token endpoint is called with the given HTTP bounds.
 * Returns NULL with err set when cfg is incomplete or memory is short. */
ds_auth *ds_auth_new(const ds_auth_cfg *cfg, const char *api_id,
                     ds_redis *redis, long connect_ms, long timeout_ms,
                     ds_err *err);

/* Frees a; accepts NULL. */
void ds_auth_free(ds_auth *a);

/* Sets *line to the header line to send ("Authorization: Bearer ...",
 * "X-API-Key: ..."), or to NULL when the API takes none. Fetches or
 * refreshes a token when needed. *line stays valid until the next call on
 * a. Returns 0, or -1 with err set (a token endpoint that fails, Redis
 * down, credential_refused). */
int ds_auth_header(ds_auth *a, const char **line, ds_err *err);

/* Called after a 401 to a request sent with line (as ds_auth_header gave
 * it) and the response's WWW-Authenticate value (or NULL). Returns 1 when
 * one more try with a new ds_auth_header line makes sense, 0 when it does
 * not (a static key, or a credential refused again): then err holds
 * credential_refused. -1 with err set when the refresh itself failed. */
int ds_auth_rejected(ds_auth *a, const char *line,
                     const char *www_authenticate, ds_err *err);

/* A short hash naming the credential (never the secret itself), for
 * budgets an API keeps per user. */
const char *ds_auth_identity(const ds_auth *a);

#endif
