/* ctl_connector.c - checking a connector file; see ctl_connector.h. */
#include "ctl_connector.h"

#include <stdio.h>

#include "ctl_msg.h"
#include "ctl_opt.h"
#include "ds_config.h"
#include "ds_connector.h"

static const char HELP[] =
    "usage: docsyncctl connector check [FILE]\n"
    "\n"
    "Loads the connector FILE (default: CONNECTOR_FILE, else the built-in\n"
    "connector) as a stage does at start: every key is validated, {\"env\"}\n"
    "values are resolved and the secrets of both sides are read from their\n"
    "variables. Prints OK, or the error naming the field, and exits 1.\n"
    "See docs/connectors.md.\n";

int ctl_connector_check(ctl_conf *conf, int argc, char **argv)
{
    const ds_connector_api *api;
    const char *path;
    ds_connector *c;
    ds_err err;

    (void)conf;
    if (ctl_opt_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CTL_EXIT_OK;
    }
    if (argc > 1 || (argc == 1 && argv[0][0] == '-'))
        return ctl_usage_error("connector check", "unexpected argument '%s'",
                               argv[argc - 1]);
    path = argc == 1 ? argv[0] : ds_env_str("CONNECTOR_FILE", NULL);
    ds_err_clear(&err);
    c = path != NULL ? ds_connector_load_file(path, &err) :
        ds_connector_load(&err);
    if (c != NULL && ds_connector_open(c, DS_SIDE_SOURCE, &api, &err) == 0 &&
        ds_connector_open(c, DS_SIDE_DESTINATION, &api, &err) == 0) {
        printf("OK: connector %s\n", ds_connector_label(c));
        ds_connector_free(c);
        return CTL_EXIT_OK;
    }
    ds_connector_free(c);
    return ctl_error("%s (%s)", err.msg, err.reason);
}
