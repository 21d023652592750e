/*
 * ds_filename.h - which file names a document may carry.
 *
 * A name is passed on byte for byte, never rewritten: the verifier
 * compares the copy's name with the one sent, and an operator searches
 * for the name the CRM shows. So a name that cannot be passed on as it is
 * gets refused with reason "bad_file_name", saying why. A name is refused
 * when it is
 *   - empty, or only spaces;
 *   - not well-formed UTF-8;
 *   - holding a control character: C0 (NUL, TAB, CR, LF, ...), DEL or C1
 *     (U+0080 to U+009F, which only ever come from mis-decoded text);
 *   - a path rather than a name: any "/" (the separator of URLs and of
 *     every POSIX file system, so "a/b.pdf" is refused too), "." or "..",
 *     a name starting with "\" or a drive ("C:\"), or holding ".." as a
 *     part between backslashes ("..\a.pdf", "a\..\b.pdf").
 * Anything else passes: every script, spaces, quotes, a backslash inside a
 * name ("Offer \ v2.pdf"), and any length (the destination's own limit is
 * the uploader's business).
 */
#ifndef DS_FILENAME_H
#define DS_FILENAME_H

#include <jansson.h>
#include <stddef.h>

#include "ds_error.h"

/* Checks the len bytes at name (NUL bytes included) against the rules
 * above. Returns 0, or -1 with err "bad_file_name" and a message naming
 * the fault, its byte offset and the name, escaped and cut short. */
int ds_file_name_check(const char *name, size_t len, ds_err *err);

/* Writes into out (cap bytes, NUL-terminated) the first 80 bytes of name
 * as an error message shows it: printable characters as they are, quotes
 * and backslashes escaped, control characters as \u00XX, bytes that are
 * not UTF-8 as \xXX, and "..." when it is cut short. The text is valid
 * UTF-8 without control bytes whatever the name held. */
void ds_file_name_show(const char *name, size_t len, char *out, size_t cap);

/* ds_file_name_check for a JSON value: a string is checked with its whole
 * length; NULL (missing), null or any other type fails as "bad_file_name"
 * too. */
int ds_file_name_check_json(const json_t *v, ds_err *err);

#endif
