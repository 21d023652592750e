/* ds_redis.c - a Redis connection that survives Redis restarts; see
 * ds_redis.h. */
#include "ds_redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define FIRST_BACKOFF_MS 50L
#define MAX_BACKOFF_MS 1000L

struct ds_redis {
    char *host;
    int port;
    long timeout_ms;
    char *user;            /* ACL user for AUTH, or NULL */
    char *password;        /* NULL: no AUTH is sent */
    redisContext *ctx;     /* NULL until connected, and after a failure */
    int auth_refused;      /* the last try failed on credentials */
    char why[128];         /* the last failure, for the error message */
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static struct timeval to_timeval(long ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    return tv;
}

/* Makes a handle for host:port; the first command connects. Returns NULL
 * when out of memory. */
ds_redis *ds_redis_new(const char *host, int port, long timeout_ms)
{
    ds_redis *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->host = strdup(host);
    if (r->host == NULL) {
        free(r);
        return NULL;
    }
    r->port = port;
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    return r;
}

/* Drops a connection that failed: hiredis cannot use a context again once
 * it has an error. */
static void drop_connection(ds_redis *r)
{
    if (r->ctx == NULL)
        return;
    snprintf(r->why, sizeof(r->why), "%s",
             r->ctx->err ? r->ctx->errstr : "no reply");
    redisFree(r->ctx);
    r->ctx = NULL;
}

/* Wipes and frees a copy of a secret; accepts NULL. */
static void free_secret(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* Closes the connection and frees r; accepts NULL. */
void ds_redis_free(ds_redis *r)
{
    if (r == NULL)
        return;
    if (r->ctx != NULL)
        redisFree(r->ctx);
    free(r->host);
    free(r->user);
    free_secret(r->password);
    free(r);
}

/* Keeps copies of the credentials for every later connect. Returns 0, or
 * -1 with err set when out of memory. */
int ds_redis_set_auth(ds_redis *r, const char *user, const char *password,
                      ds_err *err)
{
    char *u = NULL, *p = NULL;

    if (password != NULL && password[0] != '\0') {
        p = strdup(password);
        if (user != NULL && user[0] != '\0')
            u = strdup(user);
        if (p == NULL || (user != NULL && user[0] != '\0' && u == NULL)) {
            free(u);
            free_secret(p);
            return ds_err_set(err, "redis_oom", "out of memory keeping "
                              "the Redis credentials");
        }
    }
    free(r->user);
    free_secret(r->password);
    r->user = u;
    r->password = p;
    return 0;
}

static int is_unavailable_reply(const redisReply *reply);

/* Sends AUTH on a connection just made, so that no other command goes
 * before it. Returns 0, or -1 after dropping the connection, with r->why
 * set and r->auth_refused set when Redis said no (its words name the
 * problem and never echo the password). */
static int authenticate(ds_redis *r)
{
    const char *argv[3];
    redisReply *reply;
    int argc = 0;

    if (r->password == NULL)
        return 0;
    argv[argc++] = "AUTH";
    if (r->user != NULL)
        argv[argc++] = r->user;
    argv[argc++] = r->password;
    reply = redisCommandArgv(r->ctx, argc, argv, NULL);
    if (reply == NULL) {
        drop_connection(r);
        return -1;
    }
    if (reply->type != REDIS_REPLY_ERROR) {
        freeReplyObject(reply);
        return 0;
    }

    /* A server still loading says "not now", not "wrong password". */
    r->auth_refused = !is_unavailable_reply(reply);
    drop_connection(r);
    snprintf(r->why, sizeof(r->why), "%s", reply->str);
    freeReplyObject(reply);
    return -1;
}

/* Connects unless connected. Returns 0 or -1 with r->why set. */
static int ensure_connected(ds_redis *r)
{
    struct timeval tv = to_timeval(r->timeout_ms);

    if (r->ctx != NULL)
        return 0;
    r->ctx = redisConnectWithTimeout(r->host, r->port, tv);
    if (r->ctx == NULL) {
        snprintf(r->why, sizeof(r->why), "out of memory connecting");
        return -1;
    }
    if (r->ctx->err != 0 || redisSetTimeout(r->ctx, tv) != REDIS_OK) {
        drop_connection(r);
        return -1;
    }
    /* Keep-alive lets a dead peer be found even on an idle connection. */
    redisEnableKeepAlive(r->ctx);
    return authenticate(r);
}

/* A server that is restarting answers with these errors before it is ready;
 * they say "not now", not "no". */
static int is_unavailable_reply(const redisReply *reply)
{
    static const char *const words[] = { "LOADING ", "BUSY ", "MASTERDOWN " };
    size_t i;

    if (reply->type != REDIS_REPLY_ERROR || reply->str == NULL)
        return 0;
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strncmp(reply->str, words[i], strlen(words[i])) == 0)
            return 1;
    }
    return 0;
}

/* A server with a password answers NOAUTH to a client that gave none. */
static int is_noauth_reply(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR && reply->str != NULL
           && strncmp(reply->str, "NOAUTH ", 7) == 0;
}

/* Sends a formatted command once on the current connection. Returns the
 * reply, or NULL after dropping a connection that failed (r->auth_refused
 * set when it failed on credentials). */
static redisReply *send_once(ds_redis *r, const char *cmd, size_t len)
{
    redisReply *reply = NULL;

    r->auth_refused = 0;
    if (ensure_connected(r) != 0)
        return NULL;
    if (redisAppendFormattedCommand(r->ctx, cmd, len) != REDIS_OK
        || redisGetReply(r->ctx, (void **)&reply) != REDIS_OK
        || reply == NULL) {
        drop_connection(r);
        return NULL;
    }
    if (is_noauth_reply(reply)) {
        r->auth_refused = 1;
        snprintf(r->why, sizeof(r->why), "%s", reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

/* Reports credentials Redis refused. Always returns NULL. */
static redisReply *auth_failed(ds_redis *r, ds_err *err)
{
    ds_err_set(err, "redis_auth",
               "redis %s:%d refused the credentials (%s user, %s "
               "password): %s", r->host, r->port,
               r->user != NULL ? "an ACL" : "default",
               r->password != NULL ? "with a" : "no", r->why);
    return NULL;
}

/* Runs a formatted command, retrying with backoff on a fresh connection
 * until DS_REDIS_MAX_TRIES tries or DS_REDIS_RETRY_BUDGET_MS are spent. */
static redisReply *run_with_retry(ds_redis *r, const char *cmd, size_t len,
                                  ds_err *err)
{
    long long start = now_ms();
    long backoff = FIRST_BACKOFF_MS;
    redisReply *reply;
    int tries = 0;

    for (;;) {
        tries++;
        reply = send_once(r, cmd, len);
        /* Retrying cannot fix a wrong or missing password. */
        if (r->auth_refused)
            return auth_failed(r, err);
        if (reply != NULL && !is_unavailable_reply(reply))
            return reply;
        if (reply != NULL) {
            snprintf(r->why, sizeof(r->why), "%s", reply->str);
            freeReplyObject(reply);
        }

        if (tries >= DS_REDIS_MAX_TRIES
            || now_ms() - start + backoff > DS_REDIS_RETRY_BUDGET_MS)
            break;
        sleep_ms(backoff);
        backoff = backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2;
    }
    ds_err_set(err, "redis_unavailable",
               "redis %s:%d: %s (%d tries in %lld ms)", r->host, r->port,
               r->why, tries, now_ms() - start);
    return NULL;
}

/* Reports a command hiredis could not format. Always returns NULL. */
static redisReply *format_failed(int rc, ds_err *err)
{
    if (rc == -1)
        ds_err_set(err, "redis_oom",
                   "out of memory formatting a command");
    else
        ds_err_set(err, "redis_bad_command",
                   "invalid command format");
    return NULL;
}

/* Formats the command once and runs it within the retry bound. Returns the
 * reply or NULL with err set; see ds_redis.h. */
redisReply *ds_redis_cmd(ds_redis *r, ds_err *err, const char *fmt, ...)
{
    char *cmd = NULL;
    redisReply *reply;
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return format_failed(len, err);
    reply = run_with_retry(r, cmd, (size_t)len, err);
    redisFreeCommand(cmd);
    return reply;
}

/* As ds_redis_cmd, from an argument vector (argvlen NULL means C
 * strings). */
redisReply *ds_redis_argv(ds_redis *r, ds_err *err, int argc,
                          const char **argv, const size_t *argvlen)
{
    char *cmd = NULL;
    redisReply *reply;
    int len;

    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0)
        return format_failed(len, err);
    reply = run_with_retry(r, cmd, (size_t)len, err);
    redisFreeCommand(cmd);
    return reply;
}

int ds_redis_ok(redisReply *reply, ds_err *err, const char *what)
{
    int rc = 0;

    if (reply == NULL)
        return -1;
    if (reply->type == REDIS_REPLY_ERROR)
        rc = ds_err_set(err, "redis_error", "%s: %s", what, reply->str);
    freeReplyObject(reply);
    return rc;
}
