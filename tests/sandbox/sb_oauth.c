/* sb_oauth.c - the token store of the OAuth2 mode; see sb_oauth.h. */
#include "sb_oauth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>


/* An expired token is still told apart from an unknown one this long. */
#define KEEP_EXPIRED_MS (10 * 60 * 1000L)

struct sb_oauth {
    pthread_mutex_t lock;
    json_t *access;   /* token -> {"client","api","exp","gen"} */
    json_t *refresh;  /* token -> {"client","state": live|used|revoked} */
    json_t *gens;     /* client -> current generation */
    long bad[SB_API_COUNT];
    long reused;
};

sb_oauth *sb_oauth_new(void)
{
    sb_oauth *o = calloc(1, sizeof(*o));

    if (o == NULL)
        return NULL;
    if (pthread_mutex_init(&o->lock, NULL) != 0) {
        free(o);
        return NULL;
    }
    o->access = json_object();
    o->refresh = json_object();
    o->gens = json_object();
    if (o->access == NULL || o->refresh == NULL || o->gens == NULL) {
        sb_oauth_free(o);
        return NULL;
    }
    return o;
}

void sb_oauth_free(sb_oauth *o)
{
    if (o == NULL)
        return;
    json_decref(o->access);
    json_decref(o->refresh);
    json_decref(o->gens);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

/* A fresh opaque token: 32 random bytes in hex. */
static int new_token(char out[SB_TOKEN_LEN + 1])
{
    unsigned char raw[SB_TOKEN_LEN / 2];

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static json_int_t gen_of(sb_oauth *o, const char *client)
{
    return json_integer_value(json_object_get(o->gens, client));
}

/* Why the token rec is dead at now_ms, or NULL when it is live for api.
 * Called with the lock held. */
static const char *dead_reason(sb_oauth *o, json_t *rec, sb_api api,
                               int64_t now_ms)
{
    const char *client = json_string_value(json_object_get(rec, "client"));
    const char *tok_api = json_string_value(json_object_get(rec, "api"));

    if (rec == NULL || tok_api == NULL ||
        strcmp(tok_api, sb_api_name(api)) != 0)
        return "unknown";
    if (json_integer_value(json_object_get(rec, "gen")) !=
        gen_of(o, client))
        return "revoked";
    if (json_integer_value(json_object_get(rec, "exp")) <= now_ms)
        return "expired";
    return NULL;
}

/* The token of "Bearer T" (scheme case-insensitive), or NULL. */
static const char *bearer(const char *auth)
{
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return *auth != '\0' ? auth : NULL;
}

const char *sb_oauth_check(sb_oauth *o, sb_api api, const char *auth,
                           int64_t now_ms)
{
    const char *token = bearer(auth);
    const char *why = "missing";

    pthread_mutex_lock(&o->lock);
    if (token != NULL)
        why = dead_reason(o, json_object_get(o->access, token), api, now_ms);
    if (why != NULL)
        o->bad[api]++;
    pthread_mutex_unlock(&o->lock);
    return why;
}

/* Forgets access tokens long expired, so that a long run does not grow.
 * Called with the lock held. */
static void purge(sb_oauth *o, int64_t now_ms)
{
    const char *key;
    json_t *rec;
    void *tmp;

    json_object_foreach_safe(o->access, tmp, key, rec) {
        if (json_integer_value(json_object_get(rec, "exp")) +
                KEEP_EXPIRED_MS < now_ms)
            json_object_del(o->access, key);
    }
}

/* Starts a new generation of client. Called with the lock held. */
static int next_gen(sb_oauth *o, const char *client)
{
    return json_object_set_new(o->gens, client,
                               json_integer(gen_of(o, client) + 1));
}

/* Records a live refresh token of client. Called with the lock held. */
static int add_refresh(sb_oauth *o, const char *client,
                       char refresh[SB_TOKEN_LEN + 1])
{
    if (new_token(refresh) != 0)
        return -1;
    return json_object_set_new(o->refresh, refresh,
                               json_pack("{s:s,s:s}", "client", client,
                                         "state", "live"));
}

int sb_oauth_issue(sb_oauth *o, const char *client, sb_api api, long ttl_ms,
                   int64_t now_ms, int rotate,
                   char access[SB_TOKEN_LEN + 1],
                   char refresh[SB_TOKEN_LEN + 1])
{
    int rc = -1;

    refresh[0] = '\0';
    pthread_mutex_lock(&o->lock);
    purge(o, now_ms);
    if (rotate && (next_gen(o, client) != 0 ||
                   add_refresh(o, client, refresh) != 0))
        goto out;
    if (new_token(access) != 0 ||
        json_object_set_new(o->access, access,
                            json_pack("{s:s,s:s,s:I,s:I}", "client", client,
                                      "api", sb_api_name(api), "exp",
                                      (json_int_t)(now_ms + ttl_ms), "gen",
                                      gen_of(o, client))) != 0)
        goto out;
    rc = 0;

out:
    pthread_mutex_unlock(&o->lock);
    return rc;
}

/* The state of refresh token token for client: "live", "used", "revoked"
 * or NULL when unknown. A seed never seen is live. Called with the lock
 * held. */
static const char *refresh_state(sb_oauth *o, const char *client,
                                 const char *seed, const char *token)
{
    json_t *rec = json_object_get(o->refresh, token);
    const char *owner = json_string_value(json_object_get(rec, "client"));

    if (rec == NULL)
        return seed != NULL && strcmp(seed, token) == 0 ? "live" : NULL;
    if (owner == NULL || strcmp(owner, client) != 0)
        return NULL;
    return json_string_value(json_object_get(rec, "state"));
}

static void set_state(sb_oauth *o, const char *client, const char *token,
                      const char *state)
{
    json_object_set_new(o->refresh, token,
                        json_pack("{s:s,s:s}", "client", client, "state",
                                  state));
}

sb_refresh_result sb_oauth_consume(sb_oauth *o, const char *client,
                                   const char *seed, const char *token)
{
    sb_refresh_result rc = SB_REFRESH_UNKNOWN;
    const char *state;

    pthread_mutex_lock(&o->lock);
    state = refresh_state(o, client, seed, token);
    if (state != NULL && strcmp(state, "live") == 0) {
        set_state(o, client, token, "used");
        rc = SB_REFRESH_OK;
    } else if (state != NULL && strcmp(state, "used") == 0) {
        o->reused++;
        rc = SB_REFRESH_REUSED;
    }
    pthread_mutex_unlock(&o->lock);
    return rc;
}

int sb_oauth_grant_refresh(sb_oauth *o, const char *client,
                           char refresh[SB_TOKEN_LEN + 1])
{
    int rc;

    pthread_mutex_lock(&o->lock);
    rc = add_refresh(o, client, refresh);
    pthread_mutex_unlock(&o->lock);
    return rc;
}

void sb_oauth_revoke(sb_oauth *o, const char *client, const char *seed)
{
    const char *key;
    json_t *rec;

    pthread_mutex_lock(&o->lock);
    next_gen(o, client);
    json_object_foreach(o->refresh, key, rec) {
        const char *owner = json_string_value(json_object_get(rec,
                                                              "client"));

        if (owner != NULL && strcmp(owner, client) == 0)
            json_object_set_new(rec, "state", json_string("revoked"));
    }
    if (seed != NULL && json_object_get(o->refresh, seed) == NULL)
        set_state(o, client, seed, "revoked");
    pthread_mutex_unlock(&o->lock);
}

void sb_oauth_refused(sb_oauth *o, long bad[SB_API_COUNT], long *reused)
{
    pthread_mutex_lock(&o->lock);
    for (int i = 0; i < SB_API_COUNT; i++)
        bad[i] = o->bad[i];
    *reused = o->reused;
    pthread_mutex_unlock(&o->lock);
}

void sb_oauth_reset(sb_oauth *o)
{
    pthread_mutex_lock(&o->lock);
    memset(o->bad, 0, sizeof(o->bad));
    o->reused = 0;
    pthread_mutex_unlock(&o->lock);
}
