/*
 * ds_fields.h - field rules: how one JSON object's fields become another's.
 *
 * A rule set is a JSON object naming each output field with its rule:
 *   {"from": "owner.accountId", "default": ..., "required": true,
 *    "format": "rfc3339" | "epoch_s" | "epoch_ms",
 *    "fromFormat": "rfc3339" | "epoch_s" | "epoch_ms"}
 * "from" is a dotted path into the input (the output name when left out).
 * A value that is missing or null takes the default; without a default a
 * required field fails, an optional one is left out. "format" converts a
 * time to the named form; the input's form is "fromFormat" when given,
 * else a string is read as RFC 3339 and a number as epoch milliseconds
 * when it is at least 10^11, else as epoch seconds.
 */
#ifndef DS_FIELDS_H
#define DS_FIELDS_H

#include <jansson.h>

#include "ds_error.h"

/* The value at a dotted path ("a.b.c") in obj, borrowed, or NULL when a
 * step is missing or not an object. An empty path is obj itself. */
json_t *ds_json_path(const json_t *obj, const char *path);

/* A scalar (string, integer, or a real with no fraction) as text in out
 * of cap bytes. Returns 0, or -1 when it is none of these or too long. */
int ds_json_scalar_text(const json_t *v, char *out, size_t cap);

/* Checks a rule set at load: an object of objects with known keys and
 * format names. where is the set's dotted path in the connector, for the
 * message. Returns 0, or -1 with err "bad_connector". */
int ds_fields_check(const json_t *rules, const char *where, ds_err *err);

/* Applies rules to in and returns a new object (the caller owns it). A
 * required field that is missing, or a time that cannot be converted,
 * fails with reason fail_reason and a message naming the field and its
 * path, e.g. "fileName (from file.title): missing". An output name with
 * dots is a path: "meta.title" is set as {"meta": {"title": ...}}. */
json_t *ds_fields_apply(const json_t *rules, const json_t *in,
                        const char *fail_reason, ds_err *err);

/* Converts the time v to format ("rfc3339", "epoch_s", "epoch_ms") from
 * from_format (NULL: guessed as above). Returns a new value or NULL. */
json_t *ds_fields_time(const json_t *v, const char *from_format,
                       const char *format);

/* Compares a checksum the API gave (got, in encoding "hex" or "base64")
 * with ours in hex. Returns 1 when they name the same bytes, else 0. */
int ds_checksum_equal(const char *hex, const char *got,
                      const char *encoding);

#endif
