/* SPDX-License-Identifier: Apache-2.0 */
/* rd.c - bounds-checked reader (tier 0); see rd.h. */
#include "rd.h"

#include "err.h"

#include <string.h>

int ckpt_rd_u8(struct ckpt_rd *r, uint8_t *out)
{
	if (r->left < 1)
		return CKPT_ECORRUPT;
	*out = r->p[0];
	r->p++;
	r->left--;
	return 0;
}

int ckpt_rd_peek(const struct ckpt_rd *r, uint8_t *out)
{
	if (r->left < 1)
		return CKPT_ECORRUPT;
	*out = r->p[0];
	return 0;
}

int ckpt_rd_u16le(struct ckpt_rd *r, uint16_t *out)
{
	if (r->left < 2)
		return CKPT_ECORRUPT;
	*out = (uint16_t)(r->p[0] | r->p[1] << 8);
	r->p += 2;
	r->left -= 2;
	return 0;
}

int ckpt_rd_u32le(struct ckpt_rd *r, uint32_t *out)
{
	if (r->left < 4)
		return CKPT_ECORRUPT;
	*out = ckpt_load_le32(r->p);
	r->p += 4;
	r->left -= 4;
	return 0;
}

int ckpt_rd_u64le(struct ckpt_rd *r, uint64_t *out)
{
	if (r->left < 8)
		return CKPT_ECORRUPT;
	*out = ckpt_load_le64(r->p);
	r->p += 8;
	r->left -= 8;
	return 0;
}

int ckpt_rd_u32be(struct ckpt_rd *r, uint32_t *out)
{
	if (r->left < 4)
		return CKPT_ECORRUPT;
	*out = ckpt_load_be32(r->p);
	r->p += 4;
	r->left -= 4;
	return 0;
}

int ckpt_rd_varint_max(struct ckpt_rd *r, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < 10 && i < r->left; i++) {
		uint8_t b = r->p[i];
		uint64_t part = (uint64_t)(b & 0x7f);

		/* byte 9 may only hold the top bit of a 64-bit value */
		if (i == 9 && part > 1)
			return CKPT_ECORRUPT;
		v |= part << (7 * i);
		if (!(b & 0x80)) {
			if (v > max)
				return CKPT_ECORRUPT;
			*out = v;
			r->p += i + 1;
			r->left -= i + 1;
			return 0;
		}
	}
	return CKPT_ECORRUPT;
}

int ckpt_rd_varint32(struct ckpt_rd *r, uint32_t *out)
{
	uint64_t v;
	int rc = ckpt_rd_varint_max(r, UINT32_MAX, &v);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

int ckpt_rd_varint16(struct ckpt_rd *r, uint32_t *out)
{
	uint64_t v;
	int rc = ckpt_rd_varint_max(r, 65535, &v);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

int ckpt_rd_bytes(struct ckpt_rd *r, size_t n, struct ckpt_bytes *out)
{
	if (r->left < n)
		return CKPT_ECORRUPT;
	out->p = r->p;
	out->n = n;
	r->p += n;
	r->left -= n;
	return 0;
}

int ckpt_rd_skip(struct ckpt_rd *r, size_t n)
{
	if (r->left < n)
		return CKPT_ECORRUPT;
	r->p += n;
	r->left -= n;
	return 0;
}

int ckpt_rd_lit(struct ckpt_rd *r, const void *lit, size_t n)
{
	if (r->left < n || memcmp(r->p, lit, n))
		return CKPT_ECORRUPT;
	r->p += n;
	r->left -= n;
	return 0;
}

int ckpt_rd_count(const struct ckpt_rd *r, uint64_t n, size_t min_each, size_t *out)
{
	uint64_t need;

	if (ckpt_mul_overflow(n, min_each ? min_each : 1, &need) || need > r->left)
		return CKPT_ECORRUPT;
	*out = (size_t)n;
	return 0;
}

int ckpt_rd_end(const struct ckpt_rd *r)
{
	return r->left ? CKPT_ECORRUPT : 0;
}
