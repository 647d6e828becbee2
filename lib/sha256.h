/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) (tier 0): the
 * digests the ckpt tool prints, and the request signing of s3_sign.c.
 *
 * A struct sha256 is the caller's: init, any number of updates, then one of
 * sha256_final or sha256_hex, after which it must be initialised again.
 */
#ifndef CKPT_SHA256_H
#define CKPT_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t fill;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *p, size_t n);
/* the 32-byte digest */
void sha256_final(struct sha256 *s, uint8_t out[32]);
/* the digest as 64 lower-case hex digits and a NUL */
void sha256_hex(struct sha256 *s, char out[65]);
/* n bytes as 2n lower-case hex digits and a NUL */
void sha256_tohex(const uint8_t *p, size_t n, char *out);
/* HMAC-SHA256 of msg under key (any length: a key over 64 bytes is hashed first) */
void hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, uint8_t out[32]);

#endif
