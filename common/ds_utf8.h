/*
 * ds_utf8.h - well-formed UTF-8 (RFC 3629), byte by byte.
 *
 * The checks the stages make on text that came from elsewhere: a file
 * name from the CRM, the first bytes of a file that may be text. No
 * allocation except in ds_utf8_json_repair, which builds a copy.
 */
#ifndef DS_UTF8_H
#define DS_UTF8_H

#include <stddef.h>

/* Length (1 to 4) of the well-formed UTF-8 sequence at p within avail
 * bytes, or 0 when there is none: a stray continuation byte, an overlong
 * form, a surrogate, a code point above U+10FFFF, a sequence cut short, or
 * avail 0. */
size_t ds_utf8_seq_len(const unsigned char *p, size_t avail);

/* Offset of the first byte of s[0..n) that does not begin a well-formed
 * sequence, or n when all of it is well-formed UTF-8. NUL bytes are
 * well-formed here; callers that refuse them look for them. */
size_t ds_utf8_invalid_at(const char *s, size_t n);

/* Nonzero when p[0..avail) is the start of a well-formed sequence that
 * was cut short (1 to 3 bytes of a longer one): what a buffer that holds
 * the first bytes of a longer text may end with. */
int ds_utf8_is_cut(const unsigned char *p, size_t avail);

/* How ds_utf8_json_repair writes a byte that is not UTF-8. */
typedef enum {
    DS_UTF8_AS_LATIN1,       /* \u00XX: the Latin-1 character of the byte */
    DS_UTF8_AS_REPLACEMENT   /* \uFFFD, the replacement character */
} ds_utf8_repair_mode;

/* A copy of the JSON text s[0..n) in which each byte that is not part of
 * a well-formed sequence is replaced by a JSON escape (mode), so that
 * jansson can read a text it refused for such bytes; outside a string the
 * escape is still invalid JSON. For telling where the bytes were, never
 * for passing the repaired values on. Returns a NUL-terminated string the
 * caller frees with *out_len set, or NULL when out of memory. */
char *ds_utf8_json_repair(const char *s, size_t n, ds_utf8_repair_mode mode,
                          size_t *out_len);

#endif
