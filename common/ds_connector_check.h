/*
 * ds_connector_check.h - validation of a connector file, before anything
 * reads it: every {"env"} value is resolved, then every key is checked
 * against the schema of docs/connectors.md (unknown keys, types, allowed
 * values, template variables, secrets only as {"secretEnv"}, the keys each
 * auth type needs). Part of ds_connector; other code uses ds_connector.h.
 */
#ifndef DS_CONNECTOR_CHECK_H
#define DS_CONNECTOR_CHECK_H

#include <jansson.h>

#include "ds_error.h"

/* Most fixed headers a side may set. */
#define DS_CONNECTOR_MAX_HEADERS 16

/* Resolves root's {"env"} values in place and validates it. label names
 * the file in messages. Returns 0, or -1 with err naming the field. */
int ds_connector_check(const char *label, json_t *root, ds_err *err);

/* Sets err to "connector <label>: <path>: <what>" with reason and returns
 * -1. */
int ds_connector_failf(const char *label, ds_err *err, const char *reason,
                       const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
