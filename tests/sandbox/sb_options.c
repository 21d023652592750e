/* sb_options.c - the sandbox's settings; see sb_options.h. */
#include "sb_options.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

/* One setting: its flag, its environment variable and where it goes. The
 * port is the only number and is parsed separately. */
typedef struct opt_def {
    const char *flag;
    const char *env;
    size_t offset; /* of the char * field in sb_options, or SIZE_MAX */
} opt_def;

#define OPT_FIELD(f) offsetof(sb_options, f)
#define OPT_PORT ((size_t)-1)

static const opt_def opt_defs[] = {
    {"port", "SANDBOX_PORT", OPT_PORT},
    {"host", "SANDBOX_HOST", OPT_FIELD(host)},
    {"data-dir", "SANDBOX_DATA_DIR", OPT_FIELD(data_dir)},
    {"transactions", "SANDBOX_TRANSACTIONS", OPT_FIELD(transactions)},
    {"webhook-url", "SANDBOX_WEBHOOK_URL", OPT_FIELD(webhook_url)},
    {"webhook-secret", "SANDBOX_WEBHOOK_SECRET", OPT_FIELD(webhook_secret)},
    {"signature-header", "SANDBOX_SIGNATURE_HEADER",
     OPT_FIELD(signature_header)},
    {"crm-api-key", "SANDBOX_CRM_API_KEY", OPT_FIELD(crm_api_key)},
    {"dest-api-key", "SANDBOX_DEST_API_KEY", OPT_FIELD(dest_api_key)},
    {"config", "SANDBOX_CONFIG", OPT_FIELD(config)},
};

#define N_DEFS (sizeof(opt_defs) / sizeof(opt_defs[0]))
#define OPT_HELP 'h'
#define OPT_VERSION 'V'

static void print_usage(FILE *out)
{
    fputs("Usage: " SB_PROGRAM " [options]\n"
          "Plays the CRM and the transaction system for docsync's tests.\n"
          "Each option also reads from the SANDBOX_* variable named beside"
          " it;\nflags win.\n"
          "\n"
          "  --port N                 SANDBOX_PORT, default 8090; 0 picks a"
          " free port\n"
          "  --host ADDR              SANDBOX_HOST, address to listen on;"
          " default: all\n"
          "  --data-dir DIR           SANDBOX_DATA_DIR, default "
          SB_DEFAULT_DATA_DIR "\n"
          "                           uploaded bytes; created if missing\n"
          "  --transactions FILE      SANDBOX_TRANSACTIONS\n"
          "                           {\"transactions\":[\"txn_1\",...]};"
          " without it every\n"
          "                           transaction id exists\n"
          "  --webhook-url URL        SANDBOX_WEBHOOK_URL; without it no"
          " webhook is sent\n"
          "  --webhook-secret S       SANDBOX_WEBHOOK_SECRET, HMAC-SHA256"
          " key\n"
          "  --signature-header NAME  SANDBOX_SIGNATURE_HEADER, default"
          " X-Signature\n"
          "  --crm-api-key K          SANDBOX_CRM_API_KEY, required\n"
          "  --dest-api-key K         SANDBOX_DEST_API_KEY, required\n"
          "  --config FILE            SANDBOX_CONFIG, strict modes (OAuth2,"
          " rate limits,\n"
          "                           webhook retries); without it: API"
          " keys, no limits\n"
          "  --help, --version\n"
          "\n"
          "Routes and examples: docs/sandbox.md.\n", out);
}

static int set_string(sb_options *opt, size_t offset, const char *value)
{
    char **field = (char **)((char *)opt + offset);
    char *copy = strdup(value);

    if (copy == NULL)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

static int parse_port(const char *s, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

/* Applies one value from the environment or a flag. Returns 0, or -1 after
 * printing why. */
static int apply(sb_options *opt, const opt_def *def, const char *value,
                 const char *source)
{
    if (def->offset == OPT_PORT) {
        if (parse_port(value, &opt->port) == 0)
            return 0;
        fprintf(stderr, SB_PROGRAM ": %s: not a port: %s\n", source, value);
        return -1;
    }
    if (set_string(opt, def->offset, value) == 0)
        return 0;
    fprintf(stderr, SB_PROGRAM ": out of memory\n");
    return -1;
}

static int load_env(sb_options *opt)
{
    for (size_t i = 0; i < N_DEFS; i++) {
        const char *v = getenv(opt_defs[i].env);

        /* An empty variable counts as unset, as in the stages. */
        if (v == NULL || *v == '\0')
            continue;
        if (apply(opt, &opt_defs[i], v, opt_defs[i].env) != 0)
            return -1;
    }
    return 0;
}

/* Parses argv. Returns SB_OPT_RUN to go on, or what main should do. */
static sb_opt_result load_flags(sb_options *opt, int argc, char **argv)
{
    struct option longs[N_DEFS + 3];
    int c, idx;

    for (size_t i = 0; i < N_DEFS; i++)
        longs[i] = (struct option){opt_defs[i].flag, required_argument,
                                   NULL, 0};
    longs[N_DEFS] = (struct option){"help", no_argument, NULL, OPT_HELP};
    longs[N_DEFS + 1] = (struct option){"version", no_argument, NULL,
                                        OPT_VERSION};
    longs[N_DEFS + 2] = (struct option){NULL, 0, NULL, 0};

    while ((c = getopt_long(argc, argv, "", longs, &idx)) != -1) {
        if (c == OPT_HELP) {
            print_usage(stdout);
            return SB_OPT_EXIT_OK;
        }
        if (c == OPT_VERSION) {
            printf(SB_PROGRAM " " DS_VERSION "\n");
            return SB_OPT_EXIT_OK;
        }
        if (c != 0 || (size_t)idx >= N_DEFS) {
            fprintf(stderr, "Try '" SB_PROGRAM " --help'.\n");
            return SB_OPT_EXIT_USAGE;
        }
        if (apply(opt, &opt_defs[idx], optarg, longs[idx].name) != 0)
            return SB_OPT_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, SB_PROGRAM ": unexpected argument: %s\n",
                argv[optind]);
        return SB_OPT_EXIT_USAGE;
    }
    return SB_OPT_RUN;
}

static int check_required(const sb_options *opt)
{
    const char *missing = NULL;

    if (opt->crm_api_key == NULL)
        missing = "--crm-api-key (SANDBOX_CRM_API_KEY)";
    else if (opt->dest_api_key == NULL)
        missing = "--dest-api-key (SANDBOX_DEST_API_KEY)";
    /* A webhook without a secret could only ever be rejected by ingest. */
    else if (opt->webhook_url != NULL && opt->webhook_secret == NULL)
        missing = "--webhook-secret (SANDBOX_WEBHOOK_SECRET)";
    if (missing == NULL)
        return 0;
    fprintf(stderr, SB_PROGRAM ": %s is required\n", missing);
    return -1;
}

sb_opt_result sb_options_load(sb_options *opt, int argc, char **argv)
{
    sb_opt_result res = SB_OPT_EXIT_USAGE;

    memset(opt, 0, sizeof(*opt));
    opt->port = SB_DEFAULT_PORT;
    if (set_string(opt, OPT_FIELD(data_dir), SB_DEFAULT_DATA_DIR) != 0 ||
        set_string(opt, OPT_FIELD(signature_header),
                   SB_DEFAULT_SIGNATURE_HEADER) != 0) {
        fprintf(stderr, SB_PROGRAM ": out of memory\n");
        goto out;
    }
    if (load_env(opt) != 0)
        goto out;
    res = load_flags(opt, argc, argv);
    if (res != SB_OPT_RUN)
        goto out;
    if (check_required(opt) != 0)
        res = SB_OPT_EXIT_USAGE;

out:
    if (res != SB_OPT_RUN)
        sb_options_free(opt);
    return res;
}

void sb_options_free(sb_options *opt)
{
    if (opt == NULL)
        return;
    free(opt->host);
    free(opt->data_dir);
    free(opt->transactions);
    free(opt->webhook_url);
    free(opt->webhook_secret);
    free(opt->signature_header);
    free(opt->crm_api_key);
    free(opt->dest_api_key);
    free(opt->config);
    memset(opt, 0, sizeof(*opt));
}
