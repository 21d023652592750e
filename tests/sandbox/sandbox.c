/*
 * sandbox.c - docsync-sandbox's main: settings, signals, the server, and a
 * clean stop on SIGTERM or SIGINT. See sandbox.h and docs/sandbox.md.
 */
#include "sandbox.h"

#include <signal.h>
#include <string.h>

#include <curl/curl.h>

#include "sb_chaos.h"
#include "sb_config.h"
#include "sb_hooks.h"
#include "sb_http.h"
#include "sb_limit.h"
#include "sb_log.h"
#include "sb_oauth.h"
#include "sb_options.h"
#include "sb_session.h"
#include "sb_state.h"

static volatile sig_atomic_t stop_requested;

/* Only clears the run flag; main does the stopping. */
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Blocks SIGTERM and SIGINT in every thread started from now on and routes
 * them to on_signal; *waiting gets the mask under which main waits for
 * them. SIGPIPE is ignored: a client that hangs up must not kill us. */
static int setup_signals(sigset_t *waiting)
{
    struct sigaction sa;
    sigset_t stops;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return -1;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 ||
        sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stops, waiting) != 0)
        return -1;
    sigdelset(waiting, SIGTERM);
    sigdelset(waiting, SIGINT);
    return 0;
}

/* The effective settings, secrets left out; "transactions" is null when
 * every id is accepted. */
static void log_started(const sb_options *opt, const sb_state *st, int port)
{
    long n = sb_state_transaction_count(st);
    json_t *f = json_pack("{s:s?,s:i,s:s,s:o,s:s?,s:s}",
                          "host", opt->host, "port", port,
                          "dataDir", sb_state_data_dir(st),
                          "transactions",
                          n < 0 ? json_null() : json_integer(n),
                          "webhookUrl", opt->webhook_url,
                          "signatureHeader", opt->signature_header);

    if (f != NULL)
        json_object_set_new(f, "config", opt->config != NULL
                                             ? json_string(opt->config)
                                             : json_null());

    sb_log_msg("info", "listening", f);
}

static void log_failure(const char *what, const ds_err *err)
{
    sb_log_msg("error", what, json_pack("{s:s,s:s}", "error", err->reason,
                                        "detail", err->msg));
}

/* The parts the server shares with its handlers. Each is freed by
 * parts_free, whatever was created. */
static int parts_new(const sb_options *opt, sb_ctx *ctx,
                     sb_webhook_target *target, ds_err *err)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->opt = opt;
    ctx->state = sb_state_new(opt->data_dir, opt->transactions, err);
    if (ctx->state == NULL)
        return -1;
    ctx->config = sb_config_new(opt->config, err);
    if (ctx->config == NULL)
        return -1;
    ctx->chaos = sb_chaos_new();
    ctx->oauth = sb_oauth_new();
    ctx->limit = sb_limit_new();
    ctx->sessions = sb_sessions_new(sb_state_data_dir(ctx->state));
    if (ctx->chaos == NULL || ctx->oauth == NULL || ctx->limit == NULL ||
        ctx->sessions == NULL)
        return ds_err_set(err, "oom", "out of memory");
    if (opt->webhook_url == NULL)
        return 0;
    *target = (sb_webhook_target){opt->webhook_url, opt->webhook_secret,
                                  opt->signature_header};
    ctx->hooks = sb_hooks_new(target, ctx->config);
    if (ctx->hooks == NULL)
        return ds_err_set(err, "oom", "cannot start the webhook sender");
    return 0;
}

static void parts_free(sb_ctx *ctx)
{
    sb_hooks_free(ctx->hooks);
    sb_sessions_free(ctx->sessions);
    sb_limit_free(ctx->limit);
    sb_oauth_free(ctx->oauth);
    sb_chaos_free(ctx->chaos);
    sb_config_free(ctx->config);
    sb_state_free(ctx->state);
}

int main(int argc, char **argv)
{
    sb_options opt;
    sb_ctx ctx;
    sb_webhook_target target;
    sb_http *http = NULL;
    sigset_t waiting;
    ds_err err;
    int rc = SB_EXIT_FAIL;

    switch (sb_options_load(&opt, argc, argv)) {
    case SB_OPT_EXIT_OK:
        return SB_EXIT_OK;
    case SB_OPT_EXIT_USAGE:
        return SB_EXIT_USAGE;
    case SB_OPT_RUN:
        break;
    }
    sb_log_init();
    ds_err_clear(&err);
    memset(&ctx, 0, sizeof(ctx));
    /* Before any thread: curl's global init is not thread-safe. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        sb_log_msg("error", "curl_global_init failed", NULL);
        goto out_opt;
    }
    if (setup_signals(&waiting) != 0) {
        sb_log_msg("error", "cannot install signal handlers", NULL);
        goto out;
    }
    if (parts_new(&opt, &ctx, &target, &err) != 0) {
        log_failure("cannot set up state", &err);
        goto out;
    }
    http = sb_http_start(&ctx, &err);
    if (http == NULL) {
        log_failure("cannot start server", &err);
        goto out;
    }
    log_started(&opt, ctx.state, sb_http_port(http));

    while (!stop_requested)
        sigsuspend(&waiting);
    sb_log_msg("info", "stopping", NULL);
    sb_state_stop(ctx.state);
    rc = SB_EXIT_OK;

out:
    sb_http_stop(http);
    parts_free(&ctx);
    curl_global_cleanup();
out_opt:
    sb_options_free(&opt);
    if (rc == SB_EXIT_OK)
        sb_log_msg("info", "stopped", NULL);
    return rc;
}
