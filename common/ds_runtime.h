/*
 * ds_runtime.h - what every docsync executable does at start.
 *
 * Answers --help and --version, sets up logging from LOG_LEVEL, serves the
 * metrics on METRICS_PORT, and builds the shared clients from the
 * environment.
 */
#ifndef DS_RUNTIME_H
#define DS_RUNTIME_H

#include "ds_error.h"
#include "ds_loop.h"
#include "ds_redis.h"

typedef struct ds_program {
    const char *name;     /* "docsync-fetcher" */
    const char *stage;    /* "fetcher": stamped on every log line */
    const char *summary;  /* one sentence */
    const char *env_help; /* the variables it reads, one per line */
} ds_program;

/* Handles the command line. Returns -1 when the program should go on,
 * otherwise the exit code to leave with (0 after --help or --version, 2 on
 * an unknown argument, 1 when the metrics cannot be served). Also
 * initialises logging and libcurl, and starts serving GET /metrics and
 * GET /healthz on METRICS_HOST (default 0.0.0.0) and METRICS_PORT (default
 * 0: not served). A program that went on leaves through ds_runtime_exit. */
int ds_runtime_start(const ds_program *prog, int argc, char **argv);

/* Stops the metrics server, logs the exit code and returns it: the last
 * call of a program that ds_runtime_start let go on. */
int ds_runtime_exit(int rc);

/* A Redis handle for REDIS_HOST and REDIS_PORT that authenticates with
 * REDIS_PASSWORD (or REDIS_PASSWORD_FILE) and, for a Redis 6 ACL user,
 * REDIS_USERNAME on every connect; no password means no AUTH. Sends one
 * PING so that credentials Redis refuses stop the program at start; a
 * Redis that does not answer yet is waited for later, not refused now (the
 * PING may take DS_REDIS_RETRY_BUDGET_MS then). Returns NULL with err set
 * when the settings are bad, Redis refuses the credentials ("redis_auth")
 * or memory is short. */
ds_redis *ds_runtime_redis(ds_err *err);

/* HTTP bounds from HTTP_CONNECT_TIMEOUT_MS and HTTP_TIMEOUT_MS. */
int ds_runtime_http_timeouts(long *connect_ms, long *total_ms, ds_err *err);

/* Logs err as the reason the program cannot start and returns 1, the exit
 * code for a bad start. */
int ds_runtime_fail(const char *what, const ds_err *err);

/* A token naming this process among all replicas ("host:pid:random"), for
 * lease owners. The string lives as long as the process. */
const char *ds_runtime_owner(void);

/* The whole main() of a stage: handles the command line, installs the
 * signal handlers, calls configure(ctx), runs the loop, calls cleanup(ctx).
 * Returns the process's exit code. */
int ds_runtime_stage_main(const ds_program *prog, const ds_stage *stage,
                          int (*configure)(void *ctx, ds_err *err),
                          void (*cleanup)(void *ctx), int argc, char **argv);

#endif
