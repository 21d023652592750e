/*
 * ds_redis.h - a Redis connection that survives Redis restarts.
 *
 * A command that fails on a broken connection is retried on a fresh one,
 * with backoff, up to a bound. A failure is reported as transient with
 * reason "redis_unavailable"; a missing reply is never read as an answer.
 * SIGPIPE must be ignored by the process (ds_loop and the stages do).
 *
 * The bound: at most DS_REDIS_MAX_TRIES tries, with waits of 50, 100, 200,
 * 400 ms ... (capped at 1 s) between them, and no new try once
 * DS_REDIS_RETRY_BUDGET_MS have passed; with Redis down for good a command
 * fails after about 3 s plus one connect timeout. The error replies of a
 * server that is not ready yet (LOADING, BUSY, MASTERDOWN) are retried the
 * same way and, when the tries are spent, reported as "redis_unavailable".
 *
 * A retried command may run twice when the connection broke after Redis
 * executed it but before its reply arrived: send commands whose repetition
 * is harmless (SET, SET NX, HSET, a compare-and-delete script), not INCR.
 *
 * A handle given credentials (ds_redis_set_auth) sends AUTH on every new
 * connection, the first and each one after a reconnect, before any other
 * command. A refused AUTH, or a server that answers NOAUTH because no
 * password was given, fails the command at once with the permanent reason
 * "redis_auth": retrying cannot fix a wrong password. The password never
 * appears in an error message.
 *
 * Not thread-safe: a ds_redis belongs to one thread; give each thread its
 * own.
 */
#ifndef DS_REDIS_H
#define DS_REDIS_H

#include <hiredis.h>

#include "ds_error.h"

#define DS_REDIS_MAX_TRIES 8
#define DS_REDIS_RETRY_BUDGET_MS 3000

typedef struct ds_redis ds_redis;

/* Returns a handle for host:port (not yet connected: the first command
 * connects), or NULL when out of memory. timeout_ms bounds connect and each
 * command; 0 means 1000. */
ds_redis *ds_redis_new(const char *host, int port, long timeout_ms);

/* Frees r and its connection; accepts NULL. */
void ds_redis_free(ds_redis *r);

/* Gives r the credentials to send with AUTH on every new connection: AUTH
 * user password for a Redis 6 ACL user, AUTH password when user is NULL or
 * empty. A NULL or empty password sends no AUTH. Copies both; the copy of
 * the password is wiped when r is freed. Returns 0, or -1 with err set when
 * out of memory. Call it before the first command. */
int ds_redis_set_auth(ds_redis *r, const char *user, const char *password,
                      ds_err *err);

/* Runs one command, reconnecting and retrying within the bound above on
 * connection errors, timeouts and not-ready replies. Returns the reply (free
 * with freeReplyObject), or NULL with err set: transient "redis_unavailable"
 * when no reply came, permanent "redis_bad_command" for a format string
 * hiredis rejects, permanent "redis_auth" when Redis refuses the credentials
 * or wants some that were not given. Any other REDIS_REPLY_ERROR reply is returned, not
 * treated as a connection failure. */
redisReply *ds_redis_cmd(ds_redis *r, ds_err *err, const char *fmt, ...);

/* Like ds_redis_cmd with an argument vector (binary-safe). */
redisReply *ds_redis_argv(ds_redis *r, ds_err *err, int argc,
                          const char **argv, const size_t *argvlen);

/* Takes the reply of a command whose answer only has to be other than an
 * error, and frees it: ds_redis_ok(ds_redis_cmd(...), err, "HSET").
 * Returns 0; -1 for a NULL reply (err is set already) or an error reply,
 * which sets err "redis_error" naming what and Redis's words. */
int ds_redis_ok(redisReply *reply, ds_err *err, const char *what);

#endif
