/*
 * ds_connector.h - the connector file: everything docsync knows about the
 * two APIs it talks to (base URLs, credentials, rate budgets, endpoint
 * templates, field names), read from the JSON file named by CONNECTOR_FILE.
 *
 * Without CONNECTOR_FILE a built-in connector describes the standard CRM
 * and transaction system (connectors/sandbox-apikey.json is the same as a
 * file: its three upload modes included) and reads the variables docsync
 * always read (CRM_BASE_URL, CRM_API_KEY, DEST_BASE_URL, ...).
 *
 * A value may be literal or {"env": NAME, "default": ...}, resolved once at
 * load. Secrets are only ever {"secretEnv": NAME}: read from NAME or from
 * the file NAME_FILE names, when the side is opened, never from the file
 * itself. The whole file is validated at load, unknown keys included; an
 * error names the field by its dotted path, e.g.
 * "connector sandbox.json: destination.auth.tokenUrl: missing", with
 * reason bad_connector (config_missing for an unset variable).
 * docs/connectors.md describes every key.
 */
#ifndef DS_CONNECTOR_H
#define DS_CONNECTOR_H

#include <jansson.h>
#include <stddef.h>

#include "ds_auth.h"
#include "ds_error.h"
#include "ds_ratelimit.h"

typedef enum { DS_SIDE_SOURCE = 0, DS_SIDE_DESTINATION = 1 } ds_side;

typedef struct ds_connector ds_connector;

/* What ds_api needs of one side. Strings belong to the connector. */
typedef struct ds_connector_api {
    const char *id;                 /* "source" or "destination": Redis
                                       keys, logs, metrics */
    const char *base_url;
    ds_auth_cfg auth;
    int has_rate;                   /* a rateLimit section is given */
    ds_rate_cfg rate;
    const char *const *headers;     /* fixed "Name: value" lines, NULL-ended;
                                       may hold secrets: never logged */
} ds_connector_api;

/* One template variable and its value (NULL: not known here). */
typedef struct ds_tpl_var {
    const char *name;
    const char *value;
} ds_tpl_var;

/* Loads the file CONNECTOR_FILE names, or the built-in connector when it
 * is unset or empty. Returns NULL with err set when it does not validate. */
ds_connector *ds_connector_load(ds_err *err);

/* Loads and validates the connector file at path. */
ds_connector *ds_connector_load_file(const char *path, ds_err *err);

/* Loads and validates a connector given as JSON text; label names it in
 * error messages. */
ds_connector *ds_connector_load_text(const char *label, const char *text,
                                     ds_err *err);

/* The built-in connector's JSON text. */
const char *ds_connector_default_text(void);

/* Frees c and wipes the secrets it read; accepts NULL. */
void ds_connector_free(ds_connector *c);

/* How errors name c: the file's base name, or "(built-in)". */
const char *ds_connector_label(const ds_connector *c);

/* Reads the side's secrets (once) and returns what ds_api needs in *out,
 * valid as long as c. Returns 0, or -1 with err naming the field of a
 * secret that is not set or cannot be read. */
int ds_connector_open(ds_connector *c, ds_side side,
                      const ds_connector_api **out, ds_err *err);

/* The value at a dotted path of the validated file, with every {"env"}
 * resolved ("source.list", "transactions.cacheTtlS"), borrowed; NULL when
 * it is not there. */
json_t *ds_connector_get(const ds_connector *c, const char *path);

/* Field-named readers for code that reads its own section: the value at
 * path, fallback when it is absent (a NULL fallback string makes it
 * required). Return 0, or -1 with err "bad_connector" naming path when the
 * value has another type or a required one is missing. */
int ds_connector_string(const ds_connector *c, const char *path,
                        const char *fallback, const char **out, ds_err *err);
int ds_connector_integer(const ds_connector *c, const char *path,
                         long long fallback, long long *out, ds_err *err);
int ds_connector_bool(const ds_connector *c, const char *path, int fallback,
                      int *out, ds_err *err);

/* Sets err to "connector <label>: <path>: <what>" with reason
 * bad_connector and returns -1: for checks of a section's own meaning. */
int ds_connector_fail(const ds_connector *c, const char *path,
                      const char *what, ds_err *err);

/* 1 when the side names the endpoint, else 0. */
int ds_connector_has_endpoint(const ds_connector *c, ds_side side,
                              const char *endpoint);

/* How the destination describes one stored document (destination.document
 * with its defaults): dotted paths below root (NULL: the body itself).
 * has_sum is 0 when the connector names no checksum (sum_field then keeps
 * its default, which no document answers); sum_header names a response
 * header (an ETag) that carries it instead of a field. tier is the
 * verification tier ("strong", "medium", "weak"): the one configured, or
 * strong with a checksum, else medium. status and processing_values say
 * how the destination answers a document it has accepted but not stored
 * yet (status NULL: it never does), processing_max_ms how long that may
 * last. */
typedef struct ds_doc_view {
    const char *root, *id, *file_name, *size, *transaction_id;
    int has_sum;
    const char *sum_field, *sum_header, *sum_algorithm, *sum_encoding;
    const char *tier;
    const char *status;
    const json_t *processing_values;   /* array of strings, borrowed */
    long long processing_max_ms;
} ds_doc_view;

/* Fills v from the connector; the strings belong to c. */
void ds_connector_doc_view(const ds_connector *c, ds_doc_view *v);

/* Expands the side's endpoint template (e.g. "metadata") with vars into
 * out of cap bytes. Returns 0, or -1 with err: "bad_message" when a
 * variable the template uses has no value, "bad_config" when the path does
 * not fit or the endpoint is not configured. */
int ds_connector_path(const ds_connector *c, ds_side side,
                      const char *endpoint, const ds_tpl_var *vars,
                      char *out, size_t cap, ds_err *err);

/* Expands tpl: each {name} becomes the percent-encoded value of vars (an
 * array ended by a NULL name). Unreserved characters (RFC 3986) stay as
 * they are. Returns 0, or -1 with err as for ds_connector_path. */
int ds_template_expand(const char *tpl, const ds_tpl_var *vars, char *out,
                       size_t cap, ds_err *err);

/* ds_template_expand with the one variable name = value. */
int ds_template_expand1(const char *tpl, const char *name, const char *value,
                        char *out, size_t cap, ds_err *err);

#endif
