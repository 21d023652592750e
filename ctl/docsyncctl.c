/*
 * docsyncctl.c - the operators' command of docsync.
 *
 * Not a stage: it reads the DLQ, sends chosen records back to the stage
 * that gave up on them, shows a document's state in Redis and the blobs
 * kept for dead-lettered documents, and prints the table of failure
 * reasons. Its output goes to stdout, its messages (and
 * librdkafka's log lines, as JSON) to stderr. Exit codes: 0 ok, 1 failure,
 * 2 usage.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ctl_blobs.h"
#include "ctl_conf.h"
#include "ctl_connector.h"
#include "ctl_dlq.h"
#include "ctl_mapping.h"
#include "ctl_msg.h"
#include "ctl_rate.h"
#include "ctl_reasons.h"
#include "ctl_replay.h"
#include "ctl_status.h"
#include "ctl_token.h"
#include "ds_config.h"
#include "ds_log.h"

static const char USAGE[] =
    "usage: docsyncctl [--brokers B] [--dlq-topic T] COMMAND [ARGS]\n"
    "\n"
    "The operators' tool of docsync: reads the dead-letter queue, sends\n"
    "records back to the topic they came from, and shows a document's state.\n"
    "\n"
    "commands:\n"
    "  dlq list [FILTERS] [--json]       one line per DLQ record\n"
    "  dlq show (--at P:O | FILTERS)     whole records: headers and value\n"
    "  dlq replay (--at P:O... | FILTERS | --all) [--dry-run] [--force]\n"
    "                                    send records back where they failed\n"
    "  status DOCUMENT_ID [--json]       a document's state and timeline\n"
    "  blobs list [--json]               blobs kept for dead-lettered\n"
    "                                    documents, and until when\n"
    "  blobs sweep [--limit N]           remove the expired ones now\n"
    "  reasons [--markdown]              every failure reason and what to do\n"
    "  mapping load FILE                 replace the mapping in Redis\n"
    "  mapping show [ACCOUNT]            the mapping in Redis\n"
    "  mapping clear-cache [ACCOUNT]     forget cached account lookups\n"
    "  token show API                    an API's shared OAuth2 tokens: expiry,\n"
    "                                    generation, dead or not (no values)\n"
    "  token set API --refresh-token-file FILE\n"
    "                                    store a new refresh token; revives a\n"
    "                                    dead credential\n"
    "  rate show API                     an API's shared request budget: the\n"
    "                                    window, a hold, a learned limit\n"
    "  rate clear API                    delete the holds and learned limits\n"
    "  connector check [FILE]            validate a connector file\n"
    "\n"
    "FILTERS (combined with AND):\n"
    "  --reason R  --stage S  --class transient|permanent  --document ID\n"
    "  --since T  --until T   T: 2026-12-03T10:00:00Z or a duration ago\n"
    "                         (90s, 30m, 2h, 7d), against the last failure\n"
    "\n"
    "options:\n"
    "  --brokers B     Kafka bootstrap servers (KAFKA_BROKERS,\n"
    "                  default localhost:9092)\n"
    "  --dlq-topic T   the dead-letter topic (DLQ_TOPIC, default docsync.dlq)\n"
    "  --help          this text; 'docsyncctl COMMAND --help' for a command\n"
    "  --version       the version\n"
    "\n"
    "environment: KAFKA_BROKERS, DLQ_TOPIC, REDIS_HOST, REDIS_PORT,\n"
    "REDIS_TIMEOUT_MS, BLOB_RETENTION_S, BLOB_DIR (or BLOB_STORE) as the\n"
    "stages read them; LOG_LEVEL (default error) for librdkafka's messages\n"
    "on stderr.\n"
    "exit status: 0 ok, 1 failure, 2 usage error.\n";

typedef int (*command_fn)(ctl_conf *conf, int argc, char **argv);

typedef struct command {
    const char *group;    /* "dlq", "token", or NULL for a command of one word */
    const char *name;
    command_fn run;
} command;

static const command commands[] = {
    {"dlq", "list", ctl_dlq_list},
    {"dlq", "show", ctl_dlq_show},
    {"dlq", "replay", ctl_replay},
    {NULL, "status", ctl_status},
    {"blobs", "list", ctl_blobs_list},
    {"blobs", "sweep", ctl_blobs_sweep},
    {NULL, "reasons", ctl_reasons},
    {"mapping", "load", ctl_mapping_load},
    {"mapping", "show", ctl_mapping_show},
    {"mapping", "clear-cache", ctl_mapping_clear_cache},
    {"token", "show", ctl_token_show},
    {"token", "set", ctl_token_set},
    {"rate", "show", ctl_rate_show},
    {"rate", "clear", ctl_rate_clear},
    {"connector", "check", ctl_connector_check},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Logging on stderr, at LOG_LEVEL (default error): stdout is the output. */
static void log_setup(void)
{
    const char *level = ds_env_str("LOG_LEVEL", "error");

    ds_log_set_stream(stderr);
    ds_log_init("docsyncctl", ds_log_level_parse(level, DS_LOG_ERROR));
}

/* Finds the command argv names; *used is how many words its name took. */
static const command *find_command(int argc, char **argv, int *used)
{
    size_t i;

    for (i = 0; i < N_COMMANDS; i++) {
        const command *c = &commands[i];

        if (c->group == NULL && strcmp(argv[0], c->name) == 0) {
            *used = 1;
            return c;
        }
        if (c->group != NULL && strcmp(argv[0], c->group) == 0 &&
            argc > 1 && strcmp(argv[1], c->name) == 0) {
            *used = 2;
            return c;
        }
    }
    return NULL;
}

/* Reads the options before the command. Returns -1 to go on, or the exit
 * code (after --help, --version or a bad option). *i ends on the command. */
static int global_args(ctl_conf *conf, int argc, char **argv, int *i)
{
    char why[256];
    int rc;

    for (*i = 1; *i < argc && argv[*i][0] == '-'; ++*i) {
        if (strcmp(argv[*i], "--help") == 0 || strcmp(argv[*i], "-h") == 0) {
            fputs(USAGE, stdout);
            return CTL_EXIT_OK;
        }
        if (strcmp(argv[*i], "--version") == 0) {
            printf("docsyncctl %s\n", DS_VERSION);
            return CTL_EXIT_OK;
        }
        rc = ctl_conf_arg(conf, argc, argv, i, why, sizeof(why));
        if (rc == 0)
            snprintf(why, sizeof(why), "unknown option '%s'", argv[*i]);
        if (rc <= 0) {
            fprintf(stderr, "docsyncctl: %s (try 'docsyncctl --help')\n",
                    why);
            return CTL_EXIT_USAGE;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    const command *c;
    ctl_conf conf;
    int i, used, rc;

    /* A write to a closed pipe (`docsyncctl dlq list | head`) or a dead
     * Redis socket must end in an error, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    ctl_conf_from_env(&conf);
    rc = global_args(&conf, argc, argv, &i);
    if (rc >= 0)
        return rc;
    if (i == argc) {
        fputs(USAGE, stderr);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) {
        fputs(USAGE, stdout);
        return CTL_EXIT_OK;
    }
    c = find_command(argc - i, argv + i, &used);
    if (c == NULL && strcmp(argv[i], "dlq") == 0) {
        fprintf(stderr, "docsyncctl: dlq wants list, show or replay (try "
                "'docsyncctl --help')\n");
        return CTL_EXIT_USAGE;
    }
    if (c == NULL && strcmp(argv[i], "token") == 0) {
        fprintf(stderr, "docsyncctl: token wants show or set (try "
                "'docsyncctl --help')\n");
        return CTL_EXIT_USAGE;
    }
    if (c == NULL && strcmp(argv[i], "blobs") == 0) {
        fprintf(stderr, "docsyncctl: blobs wants list or sweep (try "
                "'docsyncctl --help')\n");
        return CTL_EXIT_USAGE;
    }
    if (c == NULL && strcmp(argv[i], "rate") == 0) {
        fprintf(stderr, "docsyncctl: rate wants show or clear (try "
                "'docsyncctl --help')\n");
        return CTL_EXIT_USAGE;
    }
    if (c == NULL) {
        fprintf(stderr, "docsyncctl: unknown command '%s' (try "
                "'docsyncctl --help')\n", argv[i]);
        return CTL_EXIT_USAGE;
    }
    log_setup();
    return c->run(&conf, argc - i - used, argv + i + used);
}
