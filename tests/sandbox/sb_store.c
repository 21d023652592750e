/* sb_store.c - files in the data directory; see sb_store.h. */
#include "sb_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Base64 characters decoded per slice; a multiple of 4 so that every slice
 * but the last is whole groups without padding. */
#define B64_SLICE (64 * 1024)

int sb_store_temp(const char *dir, const char *prefix, char path[PATH_MAX],
                  ds_err *err)
{
    int fd;

    if (snprintf(path, PATH_MAX, "%s/.%s-XXXXXX", dir, prefix) >= PATH_MAX)
        return ds_err_set(err, "path_too_long",
                          "data dir path too long");
    fd = mkstemp(path);
    if (fd < 0)
        return ds_err_set(err, "store_failed",
                          "mkstemp in %s: %s", dir, strerror(errno));
    return fd;
}

int sb_store_write(int fd, const void *buf, size_t n, ds_err *err)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return ds_err_set(err, "store_failed",
                              "write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Checks the shape of the text before anything is written: characters,
 * length and where padding may stand. ds_b64_decode checks the groups
 * again, but it sees one slice at a time and cannot tell a '=' in the
 * middle of the text from one at its end. */
static int check_b64(const char *s, size_t n, ds_err *err)
{
    size_t pad = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
            c == '\v')
            return ds_err_set(err, "whitespace_in_content",
                              "whitespace at offset %zu of content", i);
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0)
            return ds_err_set(err, "bad_base64",
                              "'=' before the end of content");
    }
    if (n % 4 != 0 || pad > 2)
        return ds_err_set(err, "bad_base64",
                          "content is not padded base64 (length %zu)", n);
    return 0;
}

/* Decodes b64 slice by slice into fd, feeding the digest. */
static int decode_into(int fd, ds_digest *dg, const char *b64, size_t n,
                       ds_err *err)
{
    unsigned char *out = malloc(B64_SLICE / 4 * 3);
    int rc = -1;

    if (out == NULL) {
        ds_err_set(err, "oom", "out of memory");
        goto out;
    }
    for (size_t off = 0; off < n; off += B64_SLICE) {
        size_t len = n - off < B64_SLICE ? n - off : B64_SLICE;
        long got = ds_b64_decode(b64 + off, len, out);

        if (got < 0) {
            ds_err_set(err, "bad_base64",
                       "bad base64 group near offset %zu", off);
            goto out;
        }
        if (ds_digest_update(dg, out, (size_t)got) != 0) {
            ds_err_set(err, "digest_failed",
                       "digest update failed");
            goto out;
        }
        if (sb_store_write(fd, out, (size_t)got, err) != 0)
            goto out;
    }
    rc = 0;

out:
    free(out);
    return rc;
}

int sb_store_b64(const char *dir, const char *b64, size_t n,
                 char path[PATH_MAX], char md5_hex[DS_MD5_HEX_LEN + 1],
                 uint64_t *size, ds_err *err)
{
    char sha_hex[DS_SHA256_HEX_LEN + 1];
    ds_digest *dg = NULL;
    int fd = -1;
    int rc = -1;

    if (check_b64(b64, n, err) != 0)
        return -1;
    dg = ds_digest_new();
    if (dg == NULL) {
        ds_err_set(err, "oom", "out of memory");
        goto out;
    }
    fd = sb_store_temp(dir, "content", path, err);
    if (fd < 0)
        goto out;
    if (decode_into(fd, dg, b64, n, err) != 0)
        goto out;
    if (ds_digest_final(dg, sha_hex, md5_hex, size) != 0) {
        ds_err_set(err, "digest_failed",
                   "digest final failed");
        goto out;
    }
    rc = 0;

out:
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = ds_err_set(err, "store_failed",
                        "close: %s", strerror(errno));
    if (rc != 0 && fd >= 0)
        unlink(path);
    ds_digest_free(dg);
    return rc;
}

/* Writes n bytes of buf to out at offset, retrying short writes. */
static int write_at(int out, const char *buf, size_t n, uint64_t offset,
                    ds_err *err)
{
    while (n > 0) {
        ssize_t w = pwrite(out, buf, n, (off_t)offset);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return ds_err_set(err, "store_failed",
                              "write: %s", strerror(errno));
        buf += w;
        n -= (size_t)w;
        offset += (uint64_t)w;
    }
    return 0;
}

/* Feeds what is left of in to the digest and, when out is not -1, writes
 * it to out from offset on. */
static int pump(int in, int out, uint64_t offset, ds_digest *dg,
                ds_err *err)
{
    char buf[64 * 1024];

    for (;;) {
        ssize_t got = read(in, buf, sizeof(buf));

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return ds_err_set(err, "store_failed",
                              "read: %s", strerror(errno));
        if (got == 0)
            return 0;
        if (ds_digest_update(dg, buf, (size_t)got) != 0)
            return ds_err_set(err, "digest_failed",
                              "digest update failed");
        if (out >= 0 && write_at(out, buf, (size_t)got, offset, err) != 0)
            return -1;
        offset += (uint64_t)got;
    }
}

int sb_store_corrupt(const char *path, uint64_t offset,
                     char md5_hex[DS_MD5_HEX_LEN + 1], ds_err *err)
{
    unsigned char byte;
    uint64_t size;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    int rc = -1;

    if (fd < 0) {
        ds_err_set(err, "store_failed", "open %s: %s", path,
                   strerror(errno));
        goto out;
    }
    /* Every bit flipped: the byte differs whatever it was. */
    if (pread(fd, &byte, 1, (off_t)offset) != 1) {
        ds_err_set(err, "store_failed",
                   "no byte at offset %llu", (unsigned long long)offset);
        goto out;
    }
    byte ^= 0xff;
    if (pwrite(fd, &byte, 1, (off_t)offset) != 1) {
        ds_err_set(err, "store_failed", "write: %s",
                   strerror(errno));
        goto out;
    }
    rc = 0;

out:
    if (fd >= 0)
        close(fd);
    return rc == 0 ? sb_store_digest(path, md5_hex, &size, err) : -1;
}

/* Pumps in (to out at offset, when out >= 0) through a new digest and
 * writes the MD5 and size. Returns 0 or -1 with err set. */
static int pump_digest(int in, int out, uint64_t offset,
                       char md5_hex[DS_MD5_HEX_LEN + 1], uint64_t *size,
                       ds_err *err)
{
    char sha_hex[DS_SHA256_HEX_LEN + 1];
    ds_digest *dg = ds_digest_new();
    int rc = -1;

    if (dg == NULL)
        return ds_err_set(err, "store_failed", "out of memory");
    if (pump(in, out, offset, dg, err) != 0)
        goto out;
    if (ds_digest_final(dg, sha_hex, md5_hex, size) != 0) {
        ds_err_set(err, "digest_failed", "digest final failed");
        goto out;
    }
    rc = 0;

out:
    ds_digest_free(dg);
    return rc;
}

int sb_store_digest(const char *path, char md5_hex[DS_MD5_HEX_LEN + 1],
                    uint64_t *size, ds_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return ds_err_set(err, "store_failed", "open %s: %s", path,
                          strerror(errno));
    rc = pump_digest(fd, -1, 0, md5_hex, size, err);
    close(fd);
    return rc;
}

int sb_store_copy_at(const char *src, const char *dst, uint64_t offset,
                     char md5_hex[DS_MD5_HEX_LEN + 1], uint64_t *size,
                     ds_err *err)
{
    int in = src != NULL ? open(src, O_RDONLY | O_CLOEXEC) : -1;
    int out = open(dst, O_WRONLY | O_CLOEXEC);
    int rc = -1;

    if (in < 0 || out < 0)
        ds_err_set(err, "store_failed", "open: %s", strerror(errno));
    else
        rc = pump_digest(in, out, offset, md5_hex, size, err);
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && rc == 0)
        rc = ds_err_set(err, "store_failed", "close: %s", strerror(errno));
    return rc;
}
