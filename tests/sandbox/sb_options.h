/*
 * sb_options.h - the sandbox's settings: defaults, then SANDBOX_* variables,
 * then flags.
 */
#ifndef SB_OPTIONS_H
#define SB_OPTIONS_H

#define SB_DEFAULT_PORT 8090
#define SB_DEFAULT_DATA_DIR ".run/sandbox"
#define SB_DEFAULT_SIGNATURE_HEADER "X-Signature"

/* Every string is owned by the struct and freed by sb_options_free. */
typedef struct sb_options {
    int port;               /* 0 lets the kernel choose; the log says which */
    char *host;             /* address to bind, or NULL for every interface */
    char *data_dir;
    char *transactions;     /* path of the transactions file, or NULL */
    char *webhook_url;      /* NULL: documents are added without webhooks */
    char *webhook_secret;
    char *signature_header;
    char *crm_api_key;
    char *dest_api_key;
    char *config;           /* path of the strict modes' JSON, or NULL */
} sb_options;

/* What main should do after sb_options_load. */
typedef enum {
    SB_OPT_RUN = 0,   /* settings complete: start the server */
    SB_OPT_EXIT_OK,   /* --help or --version was printed */
    SB_OPT_EXIT_USAGE /* a message went to stderr */
} sb_opt_result;

/* Fills opt from defaults, the environment and argv, in that order, and
 * checks that the required settings are there. Prints --help and --version
 * to stdout and problems to stderr. On SB_OPT_RUN the caller owns opt and
 * frees it with sb_options_free; on other results opt is already freed. */
sb_opt_result sb_options_load(sb_options *opt, int argc, char **argv);

/* Frees the strings of opt and zeroes it; accepts NULL. */
void sb_options_free(sb_options *opt);

#endif
