/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SHA-256 (FIPS 180-4), for the hashes of acknowledgement tokens.
 *
 * Written here rather than taken from libcrypto: OpenSSL 3 sets up its
 * provider machinery on the first digest, which alone touches ~2 MiB of the
 * library's pages in every process that hashes one token (docs/performance.md,
 * figure 4). Tested against the FIPS 180-4 examples and against OpenSSL in
 * tests/unit/test-sha256.c.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32

struct sha256_ctx {
        uint32_t h[8];
        uint64_t length; /* bytes hashed so far */
        uint8_t buf[64];
        size_t n_buf;
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t n);
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_SIZE]);

/* One call: the digest of n bytes. */
void sha256(const void *data, size_t n, uint8_t out[SHA256_DIGEST_SIZE]);

/* 1 if the n bytes at a and b are equal; the time taken does not depend on where they differ. */
int memeq_const_time(const void *a, const void *b, size_t n);
