/* ds_utf8.c - well-formed UTF-8; see ds_utf8.h. */
#include "ds_utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The length a lead byte announces and the range of the byte after it,
 * which is what rules out overlongs, surrogates and code points past
 * U+10FFFF (RFC 3629, section 4). Returns 0 for a byte that cannot lead. */
static size_t lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c == 0xe0)
        *lo = 0xa0;
    else if (c == 0xed)
        *hi = 0x9f;
    else if (c == 0xf0)
        *lo = 0x90;
    else if (c == 0xf4)
        *hi = 0x8f;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

size_t ds_utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned char lo, hi;
    size_t len, k;

    if (avail == 0)
        return 0;
    len = lead(p[0], &lo, &hi);
    if (len <= 1)
        return len;
    if (avail < len || p[1] < lo || p[1] > hi)
        return 0;
    for (k = 2; k < len; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    return len;
}

size_t ds_utf8_invalid_at(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        size_t len = ds_utf8_seq_len(p + i, n - i);

        if (len == 0)
            return i;
        i += len;
    }
    return n;
}

int ds_utf8_is_cut(const unsigned char *p, size_t avail)
{
    unsigned char lo, hi;
    size_t len, k;

    if (avail == 0)
        return 0;
    len = lead(p[0], &lo, &hi);
    if (len <= avail)
        return 0;
    if (avail >= 2 && (p[1] < lo || p[1] > hi))
        return 0;
    for (k = 2; k < avail; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    return 1;
}

char *ds_utf8_json_repair(const char *s, size_t n, ds_utf8_repair_mode mode,
                          size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, w = 0;
    char *out;

    /* An escape is six bytes for each byte it replaces. */
    if (n > (((size_t)-1) - 1) / 6)
        return NULL;
    out = malloc(6 * n + 1);
    if (out == NULL)
        return NULL;
    while (i < n) {
        size_t len = ds_utf8_seq_len(p + i, n - i);

        if (len > 0) {
            memcpy(out + w, p + i, len);
            w += len;
            i += len;
            continue;
        }
        if (mode == DS_UTF8_AS_LATIN1)
            snprintf(out + w, 7, "\\u%04x", (unsigned)p[i]);
        else
            memcpy(out + w, "\\ufffd", 6);
        w += 6;
        i++;
    }
    out[w] = '\0';
    *out_len = w;
    return out;
}
