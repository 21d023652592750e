/*
 * ds_config.h - settings from the environment.
 *
 * Every stage starts from defaults in one initializer, then reads the
 * environment. Secrets may come from NAME or from the file named by
 * NAME_FILE (docker and Kubernetes secrets); the file wins when both exist.
 */
#ifndef DS_CONFIG_H
#define DS_CONFIG_H

#include "ds_error.h"

/* The value of NAME, or fallback when it is unset or empty. */
const char *ds_env_str(const char *name, const char *fallback);

/* NAME as a whole number, or fallback when unset or empty. A value that is
 * not a number is an error (a typo must not silently become the default). */
int ds_env_long(const char *name, long fallback, long *out, ds_err *err);

/* The secret NAME, read from the file named by NAME_FILE when that is set,
 * else from NAME. Trailing newlines are removed. Returns a string the caller
 * frees, or NULL with err set when neither is given, the file is unreadable,
 * or the secret is empty. */
char *ds_env_secret(const char *name, ds_err *err);

/* Like ds_env_secret for a secret that may be left out: returns NULL with
 * err untouched when neither NAME nor NAME_FILE is set (or both are empty),
 * and NULL with err set for an unreadable file or an empty secret. */
char *ds_env_secret_optional(const char *name, ds_err *err);

#endif
