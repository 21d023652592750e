/*
 * test_crypto.c - specification of common/ds_crypto: digests, HMAC,
 * constant-time compare and base64 (cases C01 and C11).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ds_crypto.h"

/* A compact webhook event with the trailing newline the sender sends. */
static const char body_with_newline[] =
    "{\"eventId\":\"evt_7f3a\",\"eventType\":\"DOCUMENT_CREATED\","
    "\"documentId\":\"doc_abc123\",\"accountId\":\"acc_42\","
    "\"fileName\":\"Angebot.pdf\",\"timestamp\":\"2026-12-03T12:00:00Z\"}\n";

/* Computed independently:
 *   printf '%s\n' "$BODY" | openssl dgst -sha256 -hmac test_secret
 *   printf '%s' "$BODY" | openssl dgst -sha256 -hmac test_secret */
#define BODY_HMAC_WITH_NEWLINE \
    "a6d1352520b4db7bf28c71119228efd2721010928dd7c747d5a0b09a2aba5942"
#define BODY_HMAC_WITHOUT_NEWLINE \
    "12198c0b16f2138f2777ea5989f0faae6d4a7b7ce592ce7983d51ede9bd89560"

/* base64 -w0 of the 100 bytes (i * 7 + 3) & 0xff, i = 0..99. */
#define B64_OF_100 \
    "AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO1dzj6vH4/wYNFBsiKTA3PkVMU1phaG92" \
    "fYSLkpmgp661vMPK0djf5u30+wIJEBceJSwzOkFIT1ZdZGtyeYCHjpWco6qxuA=="

static void fill_pattern(unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)((i * 7 + 3) & 0xff);
}

static void fill_random(unsigned char *buf, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
}

/* Digests of buf fed in one update. */
static void digest_one_shot(const void *buf, size_t n, char *sha, char *md5,
                            uint64_t *size)
{
    ds_digest *d = ds_digest_new();

    assert_non_null(d);
    assert_int_equal(ds_digest_update(d, buf, n), 0);
    assert_int_equal(ds_digest_final(d, sha, md5, size), 0);
    ds_digest_free(d);
}

/* base64 of buf through the streaming encoder in slices of `slice` bytes,
 * into a new NUL-terminated string. */
static char *b64_in_slices(const unsigned char *buf, size_t n, size_t slice)
{
    char *out = malloc(ds_base64_len(n) + 1);
    size_t w = 0;
    ds_b64 enc;

    assert_non_null(out);
    ds_b64_init(&enc);
    for (size_t off = 0; off < n; off += slice) {
        size_t take = n - off < slice ? n - off : slice;

        w += ds_b64_update(&enc, buf + off, take, out + w);
    }
    w += ds_b64_final(&enc, out + w);
    out[w] = '\0';
    assert_int_equal(w, ds_base64_len(n));
    return out;
}

/* libcrypto's own one-shot encoding, the reference for the streaming one. */
static char *b64_reference(const unsigned char *buf, size_t n)
{
    char *out = malloc(ds_base64_len(n) + 1);

    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, buf, (int)n);
    return out;
}

/* Like assert_string_equal for texts too long to print: names the first
 * offset where they differ. */
static void assert_same_text(const char *got, const char *want)
{
    size_t i = 0;

    while (got[i] != '\0' && got[i] == want[i])
        i++;
    if (got[i] != want[i])
        fail_msg("texts differ at offset %zu: '%.16s' != '%.16s'", i,
                 got + i, want + i);
}

static void test_sha256_and_md5_of_abc_match_known_vectors(void **state)
{
    char sha[DS_SHA256_HEX_LEN + 1];
    char md5[DS_MD5_HEX_LEN + 1];
    uint64_t size = 0;

    (void)state;
    digest_one_shot("abc", 3, sha, md5, &size);
    assert_string_equal(sha, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(md5, "900150983cd24fb0d6963f7d28e17f72");
    assert_int_equal(size, 3);
}

static void test_sha256_and_md5_of_empty_input_match_known_vectors(
    void **state)
{
    char sha[DS_SHA256_HEX_LEN + 1];
    char md5[DS_MD5_HEX_LEN + 1];
    uint64_t size = 99;
    ds_digest *d = ds_digest_new();

    (void)state;
    assert_non_null(d);
    assert_int_equal(ds_digest_final(d, sha, md5, &size), 0);
    ds_digest_free(d);
    assert_string_equal(sha, "e3b0c44298fc1c149afbf4c8996fb924"
                             "27ae41e4649b934ca495991b7852b855");
    assert_string_equal(md5, "d41d8cd98f00b204e9800998ecf8427e");
    assert_int_equal(size, 0);
}

static void test_digest_fed_in_odd_slices_equals_one_shot(void **state)
{
    static const size_t slices[] = {1, 2, 3, 5, 7, 11, 13, 4096, 0};
    enum { N = 100003 };
    unsigned char *buf = malloc(N);
    char sha1[DS_SHA256_HEX_LEN + 1], md51[DS_MD5_HEX_LEN + 1];
    char sha2[DS_SHA256_HEX_LEN + 1], md52[DS_MD5_HEX_LEN + 1];
    uint64_t size1 = 0, size2 = 0;
    ds_digest *d;
    size_t off = 0;

    (void)state;
    assert_non_null(buf);
    fill_random(buf, N, 42);
    digest_one_shot(buf, N, sha1, md51, &size1);

    d = ds_digest_new();
    assert_non_null(d);
    for (size_t k = 0; off < N; k++) {
        size_t take = slices[k % (sizeof(slices) / sizeof(slices[0]))];

        if (take > N - off)
            take = N - off;
        assert_int_equal(ds_digest_update(d, buf + off, take), 0);
        off += take;
    }
    assert_int_equal(ds_digest_final(d, sha2, md52, &size2), 0);
    ds_digest_free(d);
    free(buf);

    assert_string_equal(sha2, sha1);
    assert_string_equal(md52, md51);
    assert_int_equal(size1, N);
    assert_int_equal(size2, N);
}

static void test_digest_refuses_update_and_final_after_final(void **state)
{
    char sha[DS_SHA256_HEX_LEN + 1];
    char md5[DS_MD5_HEX_LEN + 1];
    ds_digest *d = ds_digest_new();

    (void)state;
    assert_non_null(d);
    assert_int_equal(ds_digest_final(d, sha, md5, NULL), 0);
    assert_int_equal(ds_digest_update(d, "x", 1), -1);
    assert_int_equal(ds_digest_final(d, sha, md5, NULL), -1);
    ds_digest_free(d);
    ds_digest_free(NULL);
}

static void test_hmac_sha256_matches_rfc4231_case_1(void **state)
{
    unsigned char key[20];
    char out[DS_SHA256_HEX_LEN + 1];

    (void)state;
    memset(key, 0x0b, sizeof(key));
    assert_int_equal(ds_hmac_sha256_hex(key, sizeof(key), "Hi There", 8, out),
                     0);
    assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b"
                             "881dc200c9833da726e9376c2e32cff7");
}

static void test_hmac_sha256_matches_rfc4231_case_2(void **state)
{
    static const char msg[] = "what do ya want for nothing?";
    char out[DS_SHA256_HEX_LEN + 1];

    (void)state;
    assert_int_equal(ds_hmac_sha256_hex("Jefe", 4, msg, strlen(msg), out), 0);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c7"
                             "5a003f089d2739839dec58b964ec3843");
}

/* C01: the signature covers the raw bytes as received, newline included. */
static void test_c01_hmac_covers_raw_body_including_trailing_newline(
    void **state)
{
    size_t len = strlen(body_with_newline);
    char with[DS_SHA256_HEX_LEN + 1];
    char without[DS_SHA256_HEX_LEN + 1];

    (void)state;
    assert_int_equal(body_with_newline[len - 1], '\n');
    assert_int_equal(ds_hmac_sha256_hex("test_secret", 11, body_with_newline,
                                        len, with), 0);
    assert_int_equal(ds_hmac_sha256_hex("test_secret", 11, body_with_newline,
                                        len - 1, without), 0);

    assert_string_equal(with, BODY_HMAC_WITH_NEWLINE);
    assert_string_equal(without, BODY_HMAC_WITHOUT_NEWLINE);
    assert_string_not_equal(with, without);
}

static void test_ct_equal_is_true_only_for_identical_bytes(void **state)
{
    unsigned char a[64];
    unsigned char b[64];

    (void)state;
    fill_random(a, sizeof(a), 7);
    memcpy(b, a, sizeof(b));
    assert_int_equal(ds_ct_equal(a, b, sizeof(a)), 1);
    assert_int_equal(ds_ct_equal(a, b, 0), 1);

    /* One flipped bit anywhere, first byte to last, must be seen. */
    for (size_t i = 0; i < sizeof(b); i++) {
        b[i] ^= 0x01;
        assert_int_equal(ds_ct_equal(a, b, sizeof(a)), 0);
        b[i] ^= 0x01;
    }
    assert_int_equal(ds_ct_equal(BODY_HMAC_WITH_NEWLINE,
                                 BODY_HMAC_WITHOUT_NEWLINE,
                                 DS_SHA256_HEX_LEN), 0);
}

static void test_base64_len_is_four_chars_per_started_group(void **state)
{
    (void)state;
    assert_int_equal(ds_base64_len(0), 0);
    assert_int_equal(ds_base64_len(1), 4);
    assert_int_equal(ds_base64_len(2), 4);
    assert_int_equal(ds_base64_len(3), 4);
    assert_int_equal(ds_base64_len(4), 8);
    assert_int_equal(ds_base64_len(100), 136);
    assert_int_equal(ds_base64_len(5242880), 6990508);
}

/* C11: no line breaks, ever. */
static void test_base64_of_100_bytes_is_136_chars_without_whitespace(
    void **state)
{
    unsigned char buf[100];
    char *one;
    char *ref;

    (void)state;
    fill_pattern(buf, sizeof(buf));
    one = b64_in_slices(buf, sizeof(buf), sizeof(buf));
    ref = b64_reference(buf, sizeof(buf));

    assert_int_equal(strlen(one), 136);
    assert_null(strpbrk(one, " \t\r\n"));
    assert_string_equal(one, B64_OF_100);
    assert_string_equal(one, ref);
    free(one);
    free(ref);
}

/* C11: the streaming encoder gives the one-shot text for any slicing. */
static void test_base64_of_100_bytes_in_slices_of_1_2_3_7_4096_is_one_shot(
    void **state)
{
    static const size_t slices[] = {1, 2, 3, 7, 4096};
    unsigned char buf[100];

    (void)state;
    fill_pattern(buf, sizeof(buf));
    for (size_t k = 0; k < sizeof(slices) / sizeof(slices[0]); k++) {
        char *got = b64_in_slices(buf, sizeof(buf), slices[k]);

        assert_int_equal(strlen(got), 136);
        assert_string_equal(got, B64_OF_100);
        free(got);
    }
}

/* Large input crosses the encoder's internal chunking. */
static void test_base64_of_one_mebibyte_in_slices_is_one_shot(void **state)
{
    static const size_t slices[] = {1, 7, 4096, 65537, 1 << 20};
    enum { N = (1 << 20) + 1 };
    unsigned char *buf = malloc(N);
    char *ref;

    (void)state;
    assert_non_null(buf);
    fill_random(buf, N, 3);
    ref = b64_reference(buf, N);
    for (size_t k = 0; k < sizeof(slices) / sizeof(slices[0]); k++) {
        char *got = b64_in_slices(buf, N, slices[k]);

        assert_int_equal(strlen(got), ds_base64_len(N));
        assert_same_text(got, ref);
        free(got);
    }
    free(ref);
    free(buf);
}

/* A caller sizes its buffer with ds_b64_update_max; one byte more is fatal. */
static void test_base64_update_never_writes_past_its_stated_maximum(
    void **state)
{
    unsigned char in[64];
    ds_b64 enc;

    (void)state;
    fill_pattern(in, sizeof(in));
    for (size_t carried = 0; carried < 3; carried++) {
        for (size_t n = 0; n <= sizeof(in) - carried; n++) {
            size_t max = ds_b64_update_max(n);
            char out[128];
            size_t w;

            ds_b64_init(&enc);
            assert_int_equal(ds_b64_update(&enc, in, carried, out), 0);
            memset(out, '#', sizeof(out));
            w = ds_b64_update(&enc, in + carried, n, out);
            assert_true(w <= max);
            assert_int_equal(w % 4, 0);
            assert_int_equal(out[max], '#');
        }
    }
}

static void test_base64_decode_round_trips_every_length_up_to_64(
    void **state)
{
    unsigned char in[64];
    unsigned char back[64];

    (void)state;
    fill_random(in, sizeof(in), 11);
    for (size_t n = 0; n <= sizeof(in); n++) {
        char *text = b64_in_slices(in, n, 5);
        long got = ds_b64_decode(text, strlen(text), back);

        assert_int_equal(got, n);
        assert_memory_equal(back, in, n);
        free(text);
    }
}

static void test_base64_decode_counts_only_real_bytes_before_padding(
    void **state)
{
    unsigned char out[6];

    (void)state;
    assert_int_equal(ds_b64_decode("QQ==", 4, out), 1);
    assert_int_equal(out[0], 'A');
    assert_int_equal(ds_b64_decode("QUI=", 4, out), 2);
    assert_memory_equal(out, "AB", 2);
    assert_int_equal(ds_b64_decode("QUJDRA==", 8, out), 4);
    assert_memory_equal(out, "ABCD", 4);
    assert_int_equal(ds_b64_decode("", 0, out), 0);
}

static void test_base64_decode_rejects_whitespace_bad_chars_and_padding(
    void **state)
{
    static const char *const bad[] = {
        "QUJD\nRA==", /* line break, the fault of C11 */
        "QUJD RA==",  /* blank */
        "QU=D",       /* padding before data */
        "Q",          /* not a whole group */
        "QUJDRA=",    /* padding cut short */
        "QUJDRA",     /* padding missing */
        "QQ==QUJD",   /* padding in a group that is not the last */
        "Q===",       /* three pad characters */
        "====",
        "QUJ*",       /* outside the alphabet */
        "QUJ-",       /* base64url is another alphabet */
        "QR==",       /* non-zero bits under the padding */
        "QUJ=",
    };
    unsigned char out[16];

    (void)state;
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        long got = ds_b64_decode(bad[k], strlen(bad[k]), out);

        if (got != -1)
            fail_msg("accepted \"%s\" as %ld bytes", bad[k], got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_and_md5_of_abc_match_known_vectors),
        cmocka_unit_test(
            test_sha256_and_md5_of_empty_input_match_known_vectors),
        cmocka_unit_test(test_digest_fed_in_odd_slices_equals_one_shot),
        cmocka_unit_test(test_digest_refuses_update_and_final_after_final),
        cmocka_unit_test(test_hmac_sha256_matches_rfc4231_case_1),
        cmocka_unit_test(test_hmac_sha256_matches_rfc4231_case_2),
        cmocka_unit_test(
            test_c01_hmac_covers_raw_body_including_trailing_newline),
        cmocka_unit_test(test_ct_equal_is_true_only_for_identical_bytes),
        cmocka_unit_test(test_base64_len_is_four_chars_per_started_group),
        cmocka_unit_test(
            test_base64_of_100_bytes_is_136_chars_without_whitespace),
        cmocka_unit_test(
            test_base64_of_100_bytes_in_slices_of_1_2_3_7_4096_is_one_shot),
        cmocka_unit_test(test_base64_of_one_mebibyte_in_slices_is_one_shot),
        cmocka_unit_test(
            test_base64_update_never_writes_past_its_stated_maximum),
        cmocka_unit_test(test_base64_decode_round_trips_every_length_up_to_64),
        cmocka_unit_test(
            test_base64_decode_counts_only_real_bytes_before_padding),
        cmocka_unit_test(
            test_base64_decode_rejects_whitespace_bad_chars_and_padding),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
