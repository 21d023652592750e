/*
 * ds_crypto.h - hashes, HMAC and base64 through OpenSSL's libcrypto.
 */
#ifndef DS_CRYPTO_H
#define DS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define DS_SHA256_HEX_LEN 64
#define DS_MD5_HEX_LEN 32

/* SHA-256 and MD5 of a stream, computed together in one pass. */
typedef struct ds_digest ds_digest;

/* Returns a new digest, or NULL when out of memory. */
ds_digest *ds_digest_new(void);

/* Adds n bytes. Returns 0, or -1 when libcrypto fails or after final. */
int ds_digest_update(ds_digest *d, const void *buf, size_t n);

/* Writes lower-case hex digests (NUL-terminated) and the byte count. The
 * digest cannot be updated afterwards. Returns 0 or -1. */
int ds_digest_final(ds_digest *d, char sha256_hex[DS_SHA256_HEX_LEN + 1],
                    char md5_hex[DS_MD5_HEX_LEN + 1], uint64_t *size);

/* Frees d; accepts NULL. */
void ds_digest_free(ds_digest *d);

/* HMAC-SHA256 of msg under key, as 64 lower-case hex characters. Returns 0
 * or -1. */
int ds_hmac_sha256_hex(const void *key, size_t key_len, const void *msg,
                       size_t msg_len, char out[DS_SHA256_HEX_LEN + 1]);

/* Compares two buffers of equal length in time independent of content.
 * Returns 1 when equal. */
int ds_ct_equal(const void *a, const void *b, size_t n);

/* Length of the unwrapped, padded base64 form of n bytes. */
uint64_t ds_base64_len(uint64_t n);

/* Streaming base64 encoder without line breaks. Feed bytes in any slices;
 * the output is identical to encoding them all at once. */
typedef struct ds_b64 {
    unsigned char carry[3];
    size_t ncarry;
} ds_b64;

/* Starts an encoder. */
void ds_b64_init(ds_b64 *enc);

/* The most output that ds_b64_update can write for n input bytes. */
size_t ds_b64_update_max(size_t n);

/* Encodes in[0..n) and writes only whole 4-character groups to out, keeping
 * up to two bytes for the next call. Returns the characters written. */
size_t ds_b64_update(ds_b64 *enc, const void *in, size_t n, char *out);

/* Writes the final group with padding (0 or 4 characters). */
size_t ds_b64_final(ds_b64 *enc, char out[4]);

/* Decodes base64 text (no whitespace) into out, which must hold
 * 3 * (n / 4) bytes. Padding is required and only at the end, and the bits
 * under it must be zero. Returns the bytes written or -1 on bad input. */
long ds_b64_decode(const char *in, size_t n, unsigned char *out);

#endif
