/* ds_crypto.c - hashes, HMAC and base64 through libcrypto; see ds_crypto.h. */
#include "ds_crypto.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

struct ds_digest {
    EVP_MD_CTX *sha256;
    EVP_MD_CTX *md5;
    uint64_t size;
    int finished;
};

/* Input bytes handed to EVP_EncodeBlock per call: it takes an int length,
 * and a whole number of 3-byte groups keeps the output free of padding. */
#define B64_CHUNK_IN (3 * 65536)

static const char hex_digits[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/*
 * Allocates a digest with SHA-256 and MD5 contexts both started, so that one
 * pass over a stream yields both sums. Returns NULL when memory or libcrypto
 * fails (MD5 is missing under a FIPS-only provider configuration).
 */
ds_digest *ds_digest_new(void)
{
    ds_digest *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->sha256 = EVP_MD_CTX_new();
    d->md5 = EVP_MD_CTX_new();
    if (d->sha256 == NULL || d->md5 == NULL)
        goto fail;
    if (EVP_DigestInit_ex(d->sha256, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(d->md5, EVP_md5(), NULL) != 1)
        goto fail;
    return d;

fail:
    ds_digest_free(d);
    return NULL;
}

/*
 * Feeds n bytes to both hashes and counts them. Returns 0, or -1 when
 * libcrypto fails or the digest was already finalised.
 */
int ds_digest_update(ds_digest *d, const void *buf, size_t n)
{
    /* EVP contexts are not reusable after final without a new init. */
    if (d->finished)
        return -1;
    if (n == 0)
        return 0;
    if (EVP_DigestUpdate(d->sha256, buf, n) != 1 ||
        EVP_DigestUpdate(d->md5, buf, n) != 1)
        return -1;
    d->size += n;
    return 0;
}

/*
 * Finishes both hashes and writes them as lower-case hex with the number of
 * bytes seen. Any later update or final returns -1.
 */
int ds_digest_final(ds_digest *d, char sha256_hex[DS_SHA256_HEX_LEN + 1],
                    char md5_hex[DS_MD5_HEX_LEN + 1], uint64_t *size)
{
    unsigned char sha[EVP_MAX_MD_SIZE];
    unsigned char md5[EVP_MAX_MD_SIZE];
    unsigned int sha_len = 0;
    unsigned int md5_len = 0;

    if (d->finished)
        return -1;
    d->finished = 1;
    if (EVP_DigestFinal_ex(d->sha256, sha, &sha_len) != 1 ||
        EVP_DigestFinal_ex(d->md5, md5, &md5_len) != 1)
        return -1;
    if (sha_len * 2 != DS_SHA256_HEX_LEN || md5_len * 2 != DS_MD5_HEX_LEN)
        return -1;

    to_hex(sha, sha_len, sha256_hex);
    to_hex(md5, md5_len, md5_hex);
    if (size != NULL)
        *size = d->size;
    return 0;
}

/* Frees d and its contexts; accepts NULL. */
void ds_digest_free(ds_digest *d)
{
    if (d == NULL)
        return;
    EVP_MD_CTX_free(d->sha256);
    EVP_MD_CTX_free(d->md5);
    free(d);
}

/*
 * HMAC-SHA256 of exactly msg_len bytes of msg (the raw body as received,
 * never a re-serialised form) under key. Writes 64 hex characters and a NUL.
 * Returns 0, or -1 when a length does not fit libcrypto or it fails.
 */
int ds_hmac_sha256_hex(const void *key, size_t key_len, const void *msg,
                       size_t msg_len, char out[DS_SHA256_HEX_LEN + 1])
{
    static const unsigned char empty[1];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    /* HMAC() takes the key length as an int. */
    if (key_len > INT_MAX)
        return -1;
    /* In libcrypto's HMAC init a NULL key means "keep the previous key";
     * an empty key must be a real pointer. */
    if (key == NULL)
        key = empty;
    if (msg == NULL)
        msg = empty;

    if (HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, mac,
             &mac_len) == NULL)
        return -1;
    if (mac_len * 2 != DS_SHA256_HEX_LEN)
        return -1;
    to_hex(mac, mac_len, out);
    return 0;
}

/*
 * Returns 1 when the n bytes at a and b are equal, 0 otherwise, taking the
 * same time for any content of the same length (for signature checks).
 */
int ds_ct_equal(const void *a, const void *b, size_t n)
{
    if (n == 0)
        return 1;
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* Returns 4 characters per started 3-byte group: the padded length. */
uint64_t ds_base64_len(uint64_t n)
{
    return n / 3 * 4 + (n % 3 != 0 ? 4 : 0);
}

/* Resets enc to an empty carry. */
void ds_b64_init(ds_b64 *enc)
{
    memset(enc, 0, sizeof(*enc));
}

/*
 * Bound of ds_b64_update's output: up to two carried bytes plus n make at
 * most ceil(n / 3) whole groups, the padded length of n.
 */
size_t ds_b64_update_max(size_t n)
{
    return (size_t)ds_base64_len(n);
}

/*
 * Encodes ngroups whole 3-byte groups from in to out, 4 characters each,
 * without writing past the last group. EVP_EncodeBlock appends a NUL, so the
 * last group goes through a small buffer; within a run each chunk's NUL is
 * overwritten by the next chunk.
 */
static size_t encode_groups(const unsigned char *in, size_t ngroups, char *out)
{
    unsigned char last[5];
    size_t body = ngroups - 1;
    size_t w = 0;

    if (ngroups == 0)
        return 0;
    while (body > 0) {
        size_t take = body * 3 < B64_CHUNK_IN ? body * 3 : B64_CHUNK_IN;

        w += (size_t)EVP_EncodeBlock((unsigned char *)out + w, in, (int)take);
        in += take;
        body -= take / 3;
    }
    EVP_EncodeBlock(last, in, 3);
    memcpy(out + w, last, 4);
    return w + 4;
}

/*
 * Encodes in[0..n) after any bytes carried from the previous call. Writes
 * only whole groups, so no padding and no line break ever appears mid-stream;
 * one or two trailing bytes wait in enc->carry. Returns characters written.
 */
size_t ds_b64_update(ds_b64 *enc, const void *in, size_t n, char *out)
{
    const unsigned char *p = in;
    size_t w = 0;
    size_t whole;

    /* Complete the carried group first so that slices join seamlessly. */
    if (enc->ncarry > 0) {
        while (enc->ncarry < 3 && n > 0) {
            enc->carry[enc->ncarry++] = *p++;
            n--;
        }
        if (enc->ncarry < 3)
            return 0;
        w += encode_groups(enc->carry, 1, out);
        enc->ncarry = 0;
    }

    whole = n / 3;
    w += encode_groups(p, whole, out + w);
    p += whole * 3;
    n -= whole * 3;

    if (n > 0)
        memcpy(enc->carry, p, n);
    enc->ncarry = n;
    return w;
}

/* Flushes the carried bytes as one padded group. Returns 0 or 4. */
size_t ds_b64_final(ds_b64 *enc, char out[4])
{
    unsigned char group[5];

    if (enc->ncarry == 0)
        return 0;
    EVP_EncodeBlock(group, enc->carry, (int)enc->ncarry);
    memcpy(out, group, 4);
    enc->ncarry = 0;
    return 4;
}

/* The 6-bit value of a base64 character, or -1 for anything else. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Decodes one 4-character group into out. '=' is allowed only as the last
 * one or two characters of the final group, and the bits it pads over must
 * be zero, so that every byte string has exactly one accepted encoding.
 * Returns the bytes written (1 to 3), or -1.
 */
static int decode_group(const char *g, int last, unsigned char *out)
{
    int pad = 0;
    int v[4];

    if (last && g[3] == '=')
        pad = g[2] == '=' ? 2 : 1;
    for (int i = 0; i < 4 - pad; i++) {
        v[i] = b64_value((unsigned char)g[i]);
        if (v[i] < 0)
            return -1;
    }

    out[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    if (pad == 2)
        return (v[1] & 0x0f) == 0 ? 1 : -1;
    out[1] = (unsigned char)((v[1] & 0x0f) << 4 | v[2] >> 2);
    if (pad == 1)
        return (v[2] & 0x03) == 0 ? 2 : -1;
    out[2] = (unsigned char)((v[2] & 0x03) << 6 | v[3]);
    return 3;
}

/*
 * Strict decoder: the length must be a multiple of 4, only the base64
 * alphabet is accepted (no whitespace, no line breaks), and padding only at
 * the very end. EVP_DecodeBlock is not used because it skips whitespace and
 * counts padding as output bytes. Returns the bytes written or -1.
 */
long ds_b64_decode(const char *in, size_t n, unsigned char *out)
{
    size_t w = 0;

    if (n % 4 != 0 || n / 4 > LONG_MAX / 3)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int got = decode_group(in + i, i + 4 == n, out + w);

        if (got < 0)
            return -1;
        w += (size_t)got;
    }
    return (long)w;
}
