/* ctl_token.c - the shared OAuth2 tokens of an API; see ctl_token.h. */
#include "ctl_token.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_msg.h"
#include "ctl_opt.h"
#include "ctl_time.h"
#include "ds_connector.h"

static const char SHOW_HELP[] =
    "usage: docsyncctl token show API\n"
    "\n"
    "Shows what Redis holds for the OAuth2 credential of API (source or\n"
    "destination): whether an access token is stored and when it expires,\n"
    "whether a refresh token is, the generation (bumped at every refresh),\n"
    "the refresh lock, and whether the credential is dead (its refresh\n"
    "token refused). Never prints a token.\n";

static const char SET_HELP[] =
    "usage: docsyncctl token set API --refresh-token-file FILE\n"
    "\n"
    "Stores the refresh token in FILE (one line; surrounding blanks are\n"
    "dropped) as API's refresh token, removes the stored access token and\n"
    "the dead mark. The stages refresh with it on their next request and go\n"
    "on by themselves. The token is read from a file so that it never\n"
    "appears in a command line or a shell history. Refused when the\n"
    "connector (CONNECTOR_FILE, or the built-in one) does not give API the\n"
    "refresh-token grant (auth type oauth2_refresh_token).\n";

/* Reads the hash, the dead mark and the lock's remaining time at once. */
static const char READ[] =
    "local h = redis.call('HMGET', KEYS[1], 'access', 'expires_ms', "
    "'refresh', 'gen') "
    "return {h[1] and 1 or 0, h[2], h[3] and 1 or 0, h[4], "
    "redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[3])}";

/* What `token set` writes: all of it or nothing. */
static const char STORE[] =
    "redis.call('HSET', KEYS[1], 'refresh', ARGV[1]) "
    "redis.call('HDEL', KEYS[1], 'access', 'expires_ms', 'ttl_ms') "
    "redis.call('HINCRBY', KEYS[1], 'gen', 1) "
    "redis.call('DEL', KEYS[2]) return 1";

int ctl_token_api_valid(const char *api)
{
    return strcmp(api, "source") == 0 || strcmp(api, "destination") == 0;
}

int ctl_token_uses_refresh(const ds_connector *c, const char *api)
{
    char path[64];
    const char *type;

    snprintf(path, sizeof(path), "%s.auth.type", api);
    type = json_string_value(ds_connector_get(c, path));
    return type != NULL && strcmp(type, "oauth2_refresh_token") == 0;
}

/* Refuses a refresh token for an API whose connector authenticates
 * otherwise: no stage would ever use it, and the operator would believe
 * the credential fixed. Returns 0, or the exit code after saying why. */
static int refresh_grant_check(const char *api)
{
    char path[64];
    const char *type;
    ds_connector *c;
    ds_err err;
    int rc = CTL_EXIT_OK;

    ds_err_clear(&err);
    c = ds_connector_load(&err);
    if (c == NULL)
        return ctl_error("cannot read the connector: %s", err.msg);
    if (!ctl_token_uses_refresh(c, api)) {
        snprintf(path, sizeof(path), "%s.auth.type", api);
        type = json_string_value(ds_connector_get(c, path));
        rc = ctl_error("connector %s: %s authenticates with %s, not the "
                       "refresh-token grant (oauth2_refresh_token); it has "
                       "no refresh token to set, nothing stored",
                       ds_connector_label(c), api, type ? type : "nothing");
    }
    ds_connector_free(c);
    return rc;
}

static const char *str_or(const redisReply *r, const char *none)
{
    return r->type == REDIS_REPLY_STRING ? r->str : none;
}

/* "expires 2026-...Z (in 12 s)" or "expired ... (5 s ago)". */
static void print_expiry(FILE *out, const char *expires)
{
    long long ms = expires != NULL ? strtoll(expires, NULL, 10) : 0;
    long long left = ms - ctl_now_ms();
    char iso[CTL_ISO_LEN];

    if (ms <= 0) {
        fputs("unknown expiry\n", out);
        return;
    }
    ctl_time_iso(ms, iso);
    if (left >= 0)
        fprintf(out, "expires %s (in %lld s)\n", iso, left / 1000);
    else
        fprintf(out, "expired %s (%lld s ago)\n", iso, -left / 1000);
}

static void print_reply(FILE *out, const char *api, redisReply **e)
{
    fprintf(out, "api:           %s\n", api);
    fputs("access token:  ", out);
    if (e[0]->integer)
        print_expiry(out, str_or(e[1], NULL));
    else
        fputs("none stored\n", out);
    fprintf(out, "refresh token: %s\n", e[2]->integer ? "stored" : "none");
    fprintf(out, "generation:    %s\n", str_or(e[3], "0"));
    if (e[5]->integer > 0)
        fprintf(out, "lock:          held, %lld ms left\n", e[5]->integer);
    else
        fputs("lock:          free\n", out);
    if (e[4]->type == REDIS_REPLY_STRING)
        fprintf(out, "state:         DEAD (%s): store a new refresh token "
                "with docsyncctl token set %s --refresh-token-file FILE\n",
                e[4]->str, api);
    else
        fputs("state:         alive\n", out);
}

int ctl_token_print(FILE *out, ds_redis *r, const char *api, ds_err *err)
{
    char key[96], dead[112], lock[112];
    const char *argv[] = {"EVAL", READ, "3", key, dead, lock};
    redisReply *reply;

    snprintf(key, sizeof(key), "docsync:token:%s", api);
    snprintf(dead, sizeof(dead), "%s:dead", key);
    snprintf(lock, sizeof(lock), "%s:lock", key);
    reply = ds_redis_argv(r, err, 6, argv, NULL);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6) {
        freeReplyObject(reply);
        return ds_err_set(err, "redis_error", "token read: unexpected reply");
    }
    print_reply(out, api, reply->element);
    freeReplyObject(reply);
    return 0;
}

int ctl_token_store(ds_redis *r, const char *api, const char *refresh,
                    ds_err *err)
{
    char key[96], dead[112];
    const char *argv[] = {"EVAL", STORE, "2", key, dead, refresh};
    redisReply *reply;

    snprintf(key, sizeof(key), "docsync:token:%s", api);
    snprintf(dead, sizeof(dead), "%s:dead", key);
    reply = ds_redis_argv(r, err, 6, argv, NULL);
    if (reply == NULL)
        return -1;
    freeReplyObject(reply);
    return 0;
}

/* Takes the one argument, API. Returns 0 or the usage exit code. */
static int api_arg(const char *cmd, int argc, char **argv, int *i,
                   const char **api)
{
    if (*i >= argc || argv[*i][0] == '-')
        return ctl_usage_error(cmd, "which API? (source or destination)");
    if (!ctl_token_api_valid(argv[*i]))
        return ctl_usage_error(cmd, "'%s' is not an API (source or "
                               "destination)", argv[*i]);
    *api = argv[(*i)++];
    return 0;
}

int ctl_token_show(ctl_conf *conf, int argc, char **argv)
{
    const char *api = NULL;
    ds_redis *r;
    ds_err err;
    int i = 0, rc;

    (void)conf;
    if (ctl_opt_wants_help(argc, argv)) {
        fputs(SHOW_HELP, stdout);
        return CTL_EXIT_OK;
    }
    rc = api_arg("token show", argc, argv, &i, &api);
    if (rc != 0)
        return rc;
    if (i < argc)
        return ctl_usage_error("token show", "unknown argument '%s'",
                               argv[i]);
    r = ctl_conf_redis();
    if (r == NULL)
        return CTL_EXIT_FAIL;
    ds_err_clear(&err);
    rc = ctl_token_print(stdout, r, api, &err) == 0 ? CTL_EXIT_OK
         : ctl_error("cannot read the token of %s: %s", api, err.msg);
    ds_redis_free(r);
    return rc;
}

/* Reads the token file into buf, trimmed. Returns 0, or an exit code
 * after saying why (never quoting the file's content). */
static int read_token_file(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "r");
    size_t n, start = 0;

    if (fp == NULL)
        return ctl_error("cannot open %s", path);
    n = fread(buf, 1, cap - 1, fp);
    if (!feof(fp)) {
        fclose(fp);
        return ctl_error("%s is over %d bytes", path, CTL_TOKEN_MAX);
    }
    fclose(fp);
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    while (isspace((unsigned char)buf[start]))
        start++;
    memmove(buf, buf + start, n - start + 1);
    if (buf[0] == '\0')
        return ctl_error("%s holds no token", path);
    if (strpbrk(buf, " \t\r\n") != NULL)
        return ctl_error("%s holds more than one line or word", path);
    return 0;
}

static int set_args(int argc, char **argv, const char **api,
                    const char **file)
{
    char why[128];
    int i = 0, rc;

    rc = api_arg("token set", argc, argv, &i, api);
    if (rc != 0)
        return rc;
    for (; i < argc; i++) {
        rc = ctl_opt_value(argc, argv, &i, "--refresh-token-file", file,
                           why, sizeof(why));
        if (rc < 0)
            return ctl_usage_error("token set", "%s", why);
        if (rc == 0)
            return ctl_usage_error("token set", "unknown argument '%s'",
                                   argv[i]);
    }
    if (*file == NULL)
        return ctl_usage_error("token set", "--refresh-token-file is "
                               "required");
    return 0;
}

int ctl_token_set(ctl_conf *conf, int argc, char **argv)
{
    static char token[CTL_TOKEN_MAX + 2];
    const char *api = NULL, *file = NULL;
    ds_redis *r;
    ds_err err;
    int rc;

    (void)conf;
    if (ctl_opt_wants_help(argc, argv)) {
        fputs(SET_HELP, stdout);
        return CTL_EXIT_OK;
    }
    rc = set_args(argc, argv, &api, &file);
    if (rc == 0)
        rc = refresh_grant_check(api);
    if (rc == 0)
        rc = read_token_file(file, token, sizeof(token));
    if (rc != 0)
        return rc;
    r = ctl_conf_redis();
    if (r == NULL)
        return CTL_EXIT_FAIL;
    ds_err_clear(&err);
    if (ctl_token_store(r, api, token, &err) == 0) {
        printf("stored a new refresh token for %s; its stages refresh with "
               "it on their next request\n", api);
        rc = CTL_EXIT_OK;
    } else {
        rc = ctl_error("cannot store the token of %s: %s", api, err.msg);
    }
    memset(token, 0, sizeof(token));
    ds_redis_free(r);
    return rc;
}
