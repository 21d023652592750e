/*
 * sb_config.h - the strict modes of the sandbox: a JSON document read from
 * --config / SANDBOX_CONFIG and changed at run time by POST /admin/config.
 * Without one the sandbox behaves as it always did: API keys, no limits,
 * webhooks sent once. The shape is in docs/sandbox.md.
 *
 * The document sits behind its own mutex; readers get scalars or deep
 * copies, never a shared object.
 */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ds_error.h"

/* The two APIs the sandbox plays, for credentials and rate limits. */
typedef enum { SB_API_CRM = 0, SB_API_TX, SB_API_COUNT } sb_api;

/* "crm" or "tx". */
const char *sb_api_name(sb_api api);

/* How a rate-limited API tells its clients about the limit. */
typedef enum {
    SB_STYLE_X_RATELIMIT = 0,  /* X-RateLimit-Limit/-Remaining/-Reset (ms) */
    SB_STYLE_RATELIMIT,        /* RateLimit-Policy and RateLimit */
    SB_STYLE_RETRY_SECONDS,    /* Retry-After: seconds, on 429 only */
    SB_STYLE_RETRY_DATE        /* Retry-After: IMF-fixdate, on 429 only */
} sb_rate_style;

/* One API's limit: requests per fixed window of window_ms. */
typedef struct sb_rate_rule {
    long requests;
    long window_ms;
    sb_rate_style style;
} sb_rate_rule;

#define SB_WEBHOOK_RETRIES_MAX 16

/* The largest file (decoded bytes) each upload mode takes by default. */
#define SB_LIMIT_JSON_DEFAULT (1LL << 30)
#define SB_LIMIT_MULTIPART_DEFAULT (2LL << 30)
#define SB_LIMIT_CHUNKED_DEFAULT (64LL << 30)
/* The part size of chunked sessions, by default and at the most: a part
 * is one request body, spilled to disk like an upload. */
#define SB_PART_BYTES_DEFAULT (8LL << 20)
#define SB_PART_BYTES_MAX (1LL << 30)
#define SB_SESSION_TTL_MS_DEFAULT 3600000LL
/* Ten years: an expiry that the clock and RFC 3339 can still tell. */
#define SB_SESSION_TTL_MS_MAX (3650LL * 86400000)
#define SB_FILE_NAME_BYTES_DEFAULT 255LL
#define SB_FILE_NAME_BYTES_MAX (1LL << 20)

/* The transaction system's upload settings (tx.limits.json, .multipart,
 * .chunked, tx.partBytes, tx.sessionTtlMs, tx.maxFileNameBytes). */
typedef struct sb_upload_cfg {
    int64_t limit_json;
    int64_t limit_multipart;
    int64_t limit_chunked;
    int64_t part_bytes;
    int64_t session_ttl_ms;
    int64_t max_file_name_bytes;
} sb_upload_cfg;

/* The webhook sender's schedule: delays_ms[0..n) between a failed send
 * and its next attempt, and the chance of a duplicate after a success. */
typedef struct sb_webhook_cfg {
    long delays_ms[SB_WEBHOOK_RETRIES_MAX];
    size_t n;
    double duplicate_rate;
} sb_webhook_cfg;

typedef struct sb_config sb_config;

/* Creates the configuration from file, or an empty one when file is NULL.
 * Returns NULL with err set ("bad_config", naming the field) when the file
 * cannot be read or does not validate. */
sb_config *sb_config_new(const char *file, ds_err *err);

/* Frees cfg; accepts NULL. */
void sb_config_free(sb_config *cfg);

/* Merges patch into the configuration as a JSON merge patch (RFC 7386):
 * objects merge key by key, null removes a key, other values replace. The
 * result is validated first; on failure nothing changes, field names the
 * bad field ("rateLimit.crm.style") and -1 is returned. */
int sb_config_merge(sb_config *cfg, json_t *patch, char field[128]);

/* A copy of the whole document with the defaults of the tx settings
 * filled in where nothing is configured, the caller's to free; NULL when
 * out of memory. */
json_t *sb_config_get(sb_config *cfg);

/* True when the API demands OAuth2 bearer tokens instead of X-API-Key. */
int sb_config_oauth2(sb_config *cfg, sb_api api);

/* Fills rule and returns 1 when the API is rate limited, else 0. */
int sb_config_rate(sb_config *cfg, sb_api api, sb_rate_rule *rule);

/* The lifetime of new access tokens (oauth2.accessTokenTtlS, default 30 s)
 * in milliseconds. */
long sb_config_token_ttl_ms(sb_config *cfg);

/* A copy of the client object of oauth2.clients with clientId id, the
 * caller's to free; NULL when unknown. */
json_t *sb_config_client(sb_config *cfg, const char *id);

/* Fills w with webhooks.retryDelaysMs and webhooks.duplicateRate; no
 * retries and no duplicates when not set. */
void sb_config_webhooks(sb_config *cfg, sb_webhook_cfg *w);

/* When subscriptionKey names api_name ("vendor-crm") in its "apis",
 * copies the header's name and value and returns 1; else 0. */
int sb_config_subscription(sb_config *cfg, const char *api_name,
                           char header[64], char value[256]);

/* The transaction system's document answers: tx.processingMs (0 when not
 * set), how long a stored upload answers "status": "processing" before
 * "stored"; and whether tx.etag is "opaque" (a weak W/"abc123" instead of
 * the quoted md5 of the bytes). */
void sb_config_tx(sb_config *cfg, long *processing_ms, int *opaque_etag);

/* Fills u with the upload settings in force, each at its default
 * (SB_LIMIT_*_DEFAULT and the others above) when not configured. */
void sb_config_uploads(sb_config *cfg, sb_upload_cfg *u);

#endif
