/*
 * ctl_connector.h - `docsyncctl connector check [FILE]`: loads and
 * validates a connector file the way the stages do at start.
 */
#ifndef CTL_CONNECTOR_H
#define CTL_CONNECTOR_H

#include "ctl_conf.h"

/* Runs `connector check [FILE]`. Returns the exit code: 0 when the file
 * validates and its secrets can be read, 1 otherwise, 2 on usage. */
int ctl_connector_check(ctl_conf *conf, int argc, char **argv);

#endif
