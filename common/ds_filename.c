/* ds_filename.c - which file names a document may carry; see
 * ds_filename.h. */
#include "ds_filename.h"

#include <stdio.h>
#include <string.h>

#include "ds_utf8.h"

/* Bytes of the name shown in a message, enough to recognise it, and the
 * room they take there at most (so that the message keeps its end). */
#define SHOWN 80
#define SHOWN_ROOM 160

/* At most SHOWN bytes of the name are shown, as fits in cap. */
void ds_file_name_show(const char *name, size_t len, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t i = 0, w = 0, n = len < SHOWN ? len : SHOWN;

    /* Room for the longest piece (6) and the "..." after it. */
    if (cap < 11) {
        if (cap > 0)
            out[0] = '\0';
        return;
    }
    while (i < n && w + 6 + 4 < cap) {
        size_t seq = ds_utf8_seq_len(p + i, n - i);

        if (seq == 0) {
            w += (size_t)snprintf(out + w, cap - w, "\\x%02X", p[i]);
            seq = 1;
        } else if (seq == 1 && (p[i] < 0x20 || p[i] == 0x7f)) {
            w += (size_t)snprintf(out + w, cap - w, "\\u%04x", p[i]);
        } else if (seq == 2 && p[i] == 0xc2 && p[i + 1] <= 0x9f) {
            w += (size_t)snprintf(out + w, cap - w, "\\u%04x", p[i + 1]);
        } else if (p[i] == '"' || p[i] == '\\') {
            out[w++] = '\\';
            out[w++] = (char)p[i];
        } else {
            memcpy(out + w, p + i, seq);
            w += seq;
        }
        i += seq;
    }
    if (i < len)
        w += (size_t)snprintf(out + w, cap - w, "...");
    out[w] = '\0';
}

/* Fails with the name as shown and what is wrong with it: why, the byte
 * it is at (unless at is -1), then what that means (then, may be ""). */
static int refuse(const char *name, size_t len, const char *why,
                  long long at, const char *then, ds_err *err)
{
    char shown[SHOWN_ROOM + 1], where[32] = "";

    ds_file_name_show(name, len, shown, sizeof(shown));
    if (at >= 0)
        snprintf(where, sizeof(where), " (byte %lld)", at);
    return ds_err_set(err, "bad_file_name", "fileName \"%s\" %s%s%s",
                      shown, why, where, then);
}

/* The offset of the first control character (C0, DEL, or C1 as the two
 * bytes C2 80 to C2 9F) in well-formed UTF-8, or -1. */
static long long control_at(const unsigned char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return (long long)i;
        if (p[i] == 0xc2 && i + 1 < len && p[i + 1] <= 0x9f)
            return (long long)i;
    }
    return -1;
}

/* Nonzero when the name is made of spaces only. */
static int blank(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (name[i] != ' ')
            return 0;
    return 1;
}

/* Nonzero when one of the parts between backslashes is "..". */
static int has_dotdot_part(const char *name, size_t len)
{
    size_t start = 0, i;

    for (i = 0; i <= len; i++) {
        if (i < len && name[i] != '\\')
            continue;
        if (i - start == 2 && name[start] == '.' && name[start + 1] == '.')
            return 1;
        start = i + 1;
    }
    return 0;
}

/* What makes the name a path rather than a name, or NULL. */
static const char *path_fault(const char *name, size_t len)
{
    if ((len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.'))
        return "is a path (\".\" or \"..\"), not a name";
    if (name[0] == '\\')
        return "starts with a backslash: a Windows path, not a name";
    if (len >= 3 && name[1] == ':' && name[2] == '\\' &&
        ((name[0] >= 'A' && name[0] <= 'Z') ||
         (name[0] >= 'a' && name[0] <= 'z')))
        return "starts with a drive: a Windows path, not a name";
    if (has_dotdot_part(name, len))
        return "holds \"..\" between backslashes: a path, not a name";
    return NULL;
}

int ds_file_name_check(const char *name, size_t len, ds_err *err)
{
    const char *slash, *fault;
    size_t bad;
    long long at;

    if (name == NULL || len == 0)
        return ds_err_set(err, "bad_file_name", "fileName is empty");
    if (blank(name, len))
        return refuse(name, len, "is only spaces", -1, "", err);
    bad = ds_utf8_invalid_at(name, len);
    if (bad < len)
        return refuse(name, len, "is not valid UTF-8", (long long)bad, "",
                      err);
    at = control_at((const unsigned char *)name, len);
    if (at >= 0)
        return refuse(name, len, "holds a control character", at, "", err);
    slash = memchr(name, '/', len);
    if (slash != NULL)
        return refuse(name, len, "holds a \"/\"", (long long)(slash - name),
                      ": a path, not a name", err);
    fault = path_fault(name, len);
    if (fault != NULL)
        return refuse(name, len, fault, -1, "", err);
    return 0;
}

int ds_file_name_check_json(const json_t *v, ds_err *err)
{
    if (v == NULL || json_is_null(v))
        return ds_err_set(err, "bad_file_name", "fileName is missing");
    if (!json_is_string(v))
        return ds_err_set(err, "bad_file_name", "fileName is not a string");
    return ds_file_name_check(json_string_value(v), json_string_length(v),
                              err);
}
