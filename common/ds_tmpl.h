/*
 * ds_tmpl.h - the small pieces of a connector's description that several
 * modules read: a path template with one {variable}, and a dotted field
 * path into a JSON answer.
 */
#ifndef DS_TMPL_H
#define DS_TMPL_H

#include <jansson.h>
#include <stddef.h>

#include "ds_error.h"

/* Writes tmpl into out (cap bytes) with every "{name}" replaced by value,
 * percent-encoded (all but letters, digits and "-._~"), so that an id
 * cannot change the path or the query. Returns 0, or -1 with err
 * ("bad_config") when the result does not fit. */
int ds_tmpl_expand(const char *tmpl, const char *name, const char *value,
                   char *out, size_t cap, ds_err *err);

/* The value at the dotted path ("owner.accountId") in obj, or NULL when
 * a step is missing or not an object. An empty path is obj itself. The
 * value is borrowed from obj. */
json_t *ds_tmpl_json_get(const json_t *obj, const char *path);

#endif
