/* ds_config.c - settings from the environment; see ds_config.h. */
#include "ds_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A secret file larger than this is a mistake (a wrong path, not a key). */
#define SECRET_FILE_MAX 65536

/* Longest variable name accepted, so that NAME_FILE fits a fixed buffer. */
#define ENV_NAME_MAX 120

/*
 * Returns the value of NAME, or fallback when NAME is unset or empty (an
 * empty `NAME=` line in a compose file means "not configured").
 */
const char *ds_env_str(const char *name, const char *fallback)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : fallback;
}

/*
 * Parses NAME as a decimal whole number with an optional sign into *out.
 * Unset or empty gives fallback. Anything else that is not entirely digits,
 * or does not fit a long, fails with a permanent "config_invalid" error and
 * leaves *out alone. Returns 0 or -1.
 */
int ds_env_long(const char *name, long fallback, long *out, ds_err *err)
{
    const char *v = ds_env_str(name, NULL);
    const char *digits;
    char *end = NULL;
    long n;

    if (v == NULL) {
        *out = fallback;
        return 0;
    }

    /* strtol skips leading blanks; a value must start with a digit after at
     * most a sign, and the end check below refuses anything after it. */
    digits = v + (v[0] == '+' || v[0] == '-');
    if (*digits < '0' || *digits > '9')
        goto invalid;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno == ERANGE || *end != '\0')
        goto invalid;
    *out = n;
    return 0;

invalid:
    return ds_err_set(err, "config_invalid",
                      "%s must be a whole number, got \"%.40s\"", name, v);
}

/* Removes trailing \n and \r (a file written by echo or an editor). */
static void strip_newlines(char *s, size_t *len)
{
    while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == '\r'))
        s[--*len] = '\0';
}

/*
 * Reads the whole file at path into a new NUL-terminated string. Returns it,
 * or NULL with err set naming var and path (never the content).
 */
static char *read_secret_file(const char *var, const char *path,
                              ds_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int ok = 0;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        ds_err_set(err, "config_unreadable",
                   "%s: cannot open %s: %s", var, path, strerror(errno));
        goto out;
    }
    buf = malloc(SECRET_FILE_MAX + 1);
    if (buf == NULL) {
        ds_err_set(err, "out_of_memory",
                   "%s: out of memory", var);
        goto out;
    }

    len = fread(buf, 1, SECRET_FILE_MAX + 1, f);
    if (ferror(f)) {
        ds_err_set(err, "config_unreadable",
                   "%s: cannot read %s: %s", var, path, strerror(errno));
        goto out;
    }
    if (len > SECRET_FILE_MAX) {
        ds_err_set(err, "config_invalid",
                   "%s: %s is larger than %d bytes", var, path,
                   SECRET_FILE_MAX);
        goto out;
    }
    /* A NUL inside would silently shorten the key to its first part. */
    if (memchr(buf, '\0', len) != NULL) {
        ds_err_set(err, "config_invalid",
                   "%s: %s holds a NUL byte", var, path);
        goto out;
    }
    buf[len] = '\0';
    ok = 1;

out:
    if (!ok && buf != NULL) {
        explicit_bzero(buf, SECRET_FILE_MAX + 1);
        free(buf);
        buf = NULL;
    }
    if (f != NULL)
        fclose(f);
    return buf;
}

/*
 * Returns the secret NAME as a new string the caller frees: the content of
 * the file named by NAME_FILE when that is set (it wins over NAME), else the
 * value of NAME, with trailing newlines removed either way. Returns NULL with
 * a permanent error when neither is set, the file cannot be read, or the
 * secret is empty (an empty HMAC key would accept forged signatures).
 */
char *ds_env_secret(const char *name, ds_err *err)
{
    char file_var[ENV_NAME_MAX + sizeof("_FILE")];
    const char *path;
    const char *value;
    char *secret = NULL;
    size_t len;

    if (strlen(name) > ENV_NAME_MAX) {
        ds_err_set(err, "config_invalid",
                   "secret name too long: %.40s...", name);
        return NULL;
    }
    snprintf(file_var, sizeof(file_var), "%s_FILE", name);

    path = ds_env_str(file_var, NULL);
    value = ds_env_str(name, NULL);
    if (path != NULL) {
        secret = read_secret_file(file_var, path, err);
    } else if (value != NULL) {
        secret = strdup(value);
        if (secret == NULL)
            ds_err_set(err, "out_of_memory",
                       "%s: out of memory", name);
    } else {
        ds_err_set(err, "config_missing",
                   "%s or %s must be set", name, file_var);
    }
    if (secret == NULL)
        return NULL;

    len = strlen(secret);
    strip_newlines(secret, &len);
    if (len == 0) {
        free(secret);
        ds_err_set(err, "config_invalid",
                   "%s is empty", path != NULL ? file_var : name);
        return NULL;
    }
    return secret;
}

/*
 * Returns the optional secret NAME as ds_env_secret does, or NULL without
 * an error when it is not configured at all. A NAME_FILE that is set but
 * unreadable stays an error: the operator meant to give a secret.
 */
char *ds_env_secret_optional(const char *name, ds_err *err)
{
    char file_var[ENV_NAME_MAX + sizeof("_FILE")];

    if (strlen(name) > ENV_NAME_MAX)
        return ds_env_secret(name, err);
    snprintf(file_var, sizeof(file_var), "%s_FILE", name);
    if (ds_env_str(name, NULL) == NULL && ds_env_str(file_var, NULL) == NULL)
        return NULL;
    return ds_env_secret(name, err);
}
