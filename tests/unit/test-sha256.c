/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/sha256.c against the examples of FIPS 180-4 and against OpenSSL's
 * SHA-256 (linked into this test only) over every length around the block
 * and padding boundaries, fed in pieces of every size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "daemon/sha256.h"

static void hex(const uint8_t d[32], char out[65])
{
        for (int i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", d[i]);
}

static void check(const char *msg, size_t n, const char *want)
{
        uint8_t d[32];
        char h[65];

        sha256(msg, n, d);
        hex(d, h);
        assert_string_equal(h, want);
}

static void test_fips_examples(void **state)
{
        check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_a_million_a(void **state)
{
        struct sha256_ctx c;
        char block[1000];
        uint8_t d[32];
        char h[65];

        memset(block, 'a', sizeof(block));
        sha256_init(&c);
        for (int i = 0; i < 1000; i++)
                sha256_update(&c, block, sizeof(block));
        sha256_final(&c, d);
        hex(d, h);
        assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_same_as_openssl_at_every_boundary(void **state)
{
        uint8_t msg[300], ours[32], theirs[32];
        unsigned int n_theirs;

        srand(8);
        for (size_t i = 0; i < sizeof(msg); i++)
                msg[i] = (uint8_t)rand();
        for (size_t len = 0; len <= sizeof(msg); len++) {
                assert_int_equal(EVP_Digest(msg, len, theirs, &n_theirs, EVP_sha256(), NULL), 1);
                /* In one piece, and in pieces of 1 … 70 bytes. */
                sha256(msg, len, ours);
                assert_memory_equal(ours, theirs, 32);
                for (size_t piece = 1; piece <= 70; piece++) {
                        struct sha256_ctx c;
                        sha256_init(&c);
                        for (size_t off = 0; off < len; off += piece)
                                sha256_update(&c, msg + off, len - off < piece ? len - off : piece);
                        sha256_final(&c, ours);
                        assert_memory_equal(ours, theirs, 32);
                }
        }
}

static void test_memeq_const_time(void **state)
{
        uint8_t a[32] = { 0 }, b[32] = { 0 };

        assert_true(memeq_const_time(a, b, 32));
        for (int i = 0; i < 32; i++) {
                b[i] = 1;
                assert_false(memeq_const_time(a, b, 32));
                b[i] = 0;
        }
        assert_true(memeq_const_time(a, b, 0));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fips_examples),
                cmocka_unit_test(test_a_million_a),
                cmocka_unit_test(test_same_as_openssl_at_every_boundary),
                cmocka_unit_test(test_memeq_const_time),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
