/* ds_runtime.c - start-up shared by every executable; see ds_runtime.h. */
#include "ds_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ds_config.h"
#include "ds_http.h"
#include "ds_log.h"
#include "ds_loop_metrics.h"
#include "ds_metrics.h"

static void print_help(const ds_program *prog)
{
    printf("usage: %s [--help] [--version]\n\n%s\n\n"
           "Configured by environment variables (NAME_FILE reads a secret "
           "from a file):\n%s"
           "  METRICS_PORT (0: off), METRICS_HOST (0.0.0.0): where GET "
           "/metrics and\n    GET /healthz are served\n"
           "  REDIS_PASSWORD, REDIS_USERNAME (none): Redis AUTH, when "
           "Redis asks for it\n",
           prog->name, prog->summary, prog->env_help);
}

/* Serves the metrics on METRICS_HOST:METRICS_PORT when the port is set,
 * and publishes docsync_build_info. Returns 0, or 1 (the exit code of a
 * bad start) after logging why it could not. */
static int serve_metrics(const ds_program *prog)
{
    const char *host = ds_env_str("METRICS_HOST", "0.0.0.0");
    char labels[128];
    long port;
    ds_err err;

    ds_err_clear(&err);
    if (ds_env_long("METRICS_PORT", 0, &port, &err) == 0 &&
        (port < 0 || port > 65535))
        ds_err_set(&err, "bad_config",
                   "METRICS_PORT must be 0 to 65535");
    if (err.klass == DS_CLASS_NONE)
        ds_metrics_serve(host, (int)port, &err);
    if (err.klass != DS_CLASS_NONE)
        return ds_runtime_fail("cannot serve metrics", &err);

    if (ds_metric_labels(labels, sizeof(labels), "stage", prog->stage,
                         "version", DS_VERSION, (char *)NULL) >= 0)
        ds_metric_set("docsync_build_info", "The stage and version of this "
                      "process, always 1.", labels, 1);
    if (port > 0)
        ds_log_msg(DS_LOG_INFO, "metrics on http://%s:%ld/metrics", host,
                   port);
    return 0;
}

int ds_runtime_start(const ds_program *prog, int argc, char **argv)
{
    const char *level;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(prog);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", prog->name, DS_VERSION);
            return 0;
        }
        fprintf(stderr, "%s: unknown argument '%s' (try --help)\n",
                prog->name, argv[i]);
        return 2;
    }
    level = ds_env_str("LOG_LEVEL", "info");
    ds_log_init(prog->stage, ds_log_level_parse(level, DS_LOG_INFO));
    /* A typo must not silently change what an operator gets to see. */
    if (ds_log_level_parse(level, (ds_log_level)-1) == (ds_log_level)-1)
        ds_log_msg(DS_LOG_WARN, "LOG_LEVEL '%.16s' is not debug, info, "
                   "warn or error; using info", level);
    if (ds_http_global_init() < 0) {
        ds_log_msg(DS_LOG_ERROR, "libcurl failed to initialise");
        return 1;
    }
    return serve_metrics(prog) != 0 ? 1 : -1;
}

int ds_runtime_exit(int rc)
{
    ds_metrics_stop();
    ds_metrics_reset();
    ds_log_msg(DS_LOG_INFO, "exit %d", rc);
    return rc;
}

/* Applies REDIS_PASSWORD (or REDIS_PASSWORD_FILE) and REDIS_USERNAME to r.
 * No password configured means no AUTH. Returns 0 or -1 with err set. */
static int redis_credentials(ds_redis *r, ds_err *err)
{
    ds_err serr;
    char *password;
    int rc;

    ds_err_clear(&serr);
    password = ds_env_secret_optional("REDIS_PASSWORD", &serr);
    if (password == NULL && serr.klass != DS_CLASS_NONE) {
        *err = serr;
        return -1;
    }
    if (password == NULL)
        return 0;
    rc = ds_redis_set_auth(r, ds_env_str("REDIS_USERNAME", NULL), password,
                           err);
    /* The handle keeps its own copy; this one goes now. */
    explicit_bzero(password, strlen(password));
    free(password);
    return rc;
}

/* Asks Redis once whether it accepts the credentials, so that a wrong
 * password stops the program at start instead of failing every document.
 * A Redis that cannot be reached now is no reason not to start: the stages
 * wait for it. Returns 0, or -1 with err set to the redis_auth failure. */
static int redis_check_auth(ds_redis *r, ds_err *err)
{
    redisReply *pong;
    ds_err perr;

    ds_err_clear(&perr);
    pong = ds_redis_cmd(r, &perr, "PING");
    freeReplyObject(pong);
    if (strcmp(perr.reason, "redis_auth") != 0)
        return 0;
    *err = perr;
    return -1;
}

ds_redis *ds_runtime_redis(ds_err *err)
{
    const char *host = ds_env_str("REDIS_HOST", "127.0.0.1");
    long port, timeout;
    ds_redis *r;

    if (ds_env_long("REDIS_PORT", 6379, &port, err) < 0 ||
        ds_env_long("REDIS_TIMEOUT_MS", 2000, &timeout, err) < 0)
        return NULL;
    r = ds_redis_new(host, (int)port, timeout);
    if (r == NULL) {
        ds_err_set(err, "out_of_memory", "redis handle");
        return NULL;
    }
    if (redis_credentials(r, err) < 0 || redis_check_auth(r, err) < 0) {
        ds_redis_free(r);
        return NULL;
    }
    return r;
}

int ds_runtime_http_timeouts(long *connect_ms, long *total_ms, ds_err *err)
{
    if (ds_env_long("HTTP_CONNECT_TIMEOUT_MS", 5000, connect_ms, err) < 0 ||
        ds_env_long("HTTP_TIMEOUT_MS", 60000, total_ms, err) < 0)
        return -1;
    return 0;
}

int ds_runtime_fail(const char *what, const ds_err *err)
{
    ds_log_msg(DS_LOG_ERROR, "%s: %s (%s)", what, err->msg, err->reason);
    return 1;
}

const char *ds_runtime_owner(void)
{
    static char owner[128];
    char host[64] = "host";
    struct timespec ts;

    if (owner[0] != '\0')
        return owner;
    gethostname(host, sizeof(host) - 1);
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(owner, sizeof(owner), "%s:%d:%lx", host, (int)getpid(),
             (unsigned long)(ts.tv_nsec ^ ts.tv_sec));
    return owner;
}

int ds_runtime_stage_main(const ds_program *prog, const ds_stage *stage,
                          int (*configure)(void *ctx, ds_err *err),
                          void (*cleanup)(void *ctx), int argc, char **argv)
{
    ds_loop_conf conf = {0};
    ds_err err;
    int rc;

    rc = ds_runtime_start(prog, argc, argv);
    if (rc >= 0)
        return rc;
    ds_err_clear(&err);
    ds_loop_install_signals();
    ds_runtime_owner();
    ds_loop_metrics_init(stage->name);
    if (configure(stage->ctx, &err) < 0 ||
        ds_loop_conf_load(&conf, stage->name, &err) < 0 ||
        (conf.redis = ds_runtime_redis(&err)) == NULL)
        rc = ds_runtime_fail("cannot start", &err);
    else if (ds_loop_run(stage, &conf, &err) < 0)
        rc = ds_runtime_fail("loop failed", &err);
    else
        rc = 0;
    ds_redis_free(conf.redis);
    cleanup(stage->ctx);
    return ds_runtime_exit(rc);
}
