/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rd.h - the bounds-checked reader over untrusted bytes (tier 0).
 *
 * This is the only code that does pointer arithmetic on input.  Invariant:
 * p .. p+left is readable.  Every function returns 0 or CKPT_ECORRUPT and
 * does not advance on failure.
 */
#ifndef CKPT_RD_H
#define CKPT_RD_H

#include "util.h"

#include <stddef.h>
#include <stdint.h>

struct ckpt_rd {
	const uint8_t *p;
	size_t left;
};

static inline struct ckpt_rd ckpt_rd_init(const void *p, size_t n)
{
	struct ckpt_rd r = { (const uint8_t *)p, n };
	return r;
}

int ckpt_rd_u8(struct ckpt_rd *r, uint8_t *out);
/* the next byte, not consumed */
int ckpt_rd_peek(const struct ckpt_rd *r, uint8_t *out);
int ckpt_rd_u16le(struct ckpt_rd *r, uint16_t *out);
int ckpt_rd_u32le(struct ckpt_rd *r, uint32_t *out);
int ckpt_rd_u64le(struct ckpt_rd *r, uint64_t *out);
int ckpt_rd_u32be(struct ckpt_rd *r, uint32_t *out);
/* LEB128; rejects more than max_bytes bytes or a value above max. */
int ckpt_rd_varint_max(struct ckpt_rd *r, uint64_t max, uint64_t *out);
static inline int ckpt_rd_varint(struct ckpt_rd *r, uint64_t *out)
{
	return ckpt_rd_varint_max(r, UINT64_MAX, out);
}
int ckpt_rd_varint32(struct ckpt_rd *r, uint32_t *out);
int ckpt_rd_varint16(struct ckpt_rd *r, uint32_t *out);
int ckpt_rd_bytes(struct ckpt_rd *r, size_t n, struct ckpt_bytes *out);
int ckpt_rd_skip(struct ckpt_rd *r, size_t n);
/* consumes the n bytes of lit when they come next */
int ckpt_rd_lit(struct ckpt_rd *r, const void *lit, size_t n);
/* Checks that n items of at least min_each bytes could follow; *out = n. */
int ckpt_rd_count(const struct ckpt_rd *r, uint64_t n, size_t min_each, size_t *out);
/* CKPT_ECORRUPT if bytes remain */
int ckpt_rd_end(const struct ckpt_rd *r);

#endif
