/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mpack.c - the msgpack tokenizer over bytes (tier 0); see mpack.h.
 */
#include "mpack.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>

static uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* n (<= 8) bytes big-endian */
static int rd_be(struct ckpt_rd *r, unsigned n, uint64_t *v)
{
	struct ckpt_bytes b;

	if (ckpt_rd_bytes(r, n, &b) < 0)
		return CKPT_ECORRUPT;
	*v = be(b.p, n);
	return 0;
}

/* the header after the type byte c; r is past c */
static int head_rest(struct ckpt_rd *r, uint8_t c, struct ckpt_mp_tok *t)
{
	uint64_t v;
	unsigned w;

	switch (c) {
	case 0xc0: t->t = CKPT_MP_NIL; return 0;
	case 0xc2: case 0xc3: t->t = CKPT_MP_BOOL; t->i = c == 0xc3; return 0;
	case 0xc4: case 0xc5: case 0xc6:
		t->t = CKPT_MP_BIN;
		return rd_be(r, 1u << (c - 0xc4), &t->len);
	case 0xd9: case 0xda: case 0xdb:
		t->t = CKPT_MP_STR;
		return rd_be(r, 1u << (c - 0xd9), &t->len);
	case 0xc7: case 0xc8: case 0xc9:
		t->t = CKPT_MP_EXT;
		if (rd_be(r, 1u << (c - 0xc7), &t->len) < 0 || rd_be(r, 1, &v) < 0)
			return CKPT_ECORRUPT;
		t->ext = (int8_t)(uint8_t)v;
		return 0;
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
		t->t = CKPT_MP_EXT;
		t->len = 1u << (c - 0xd4);
		if (rd_be(r, 1, &v) < 0)
			return CKPT_ECORRUPT;
		t->ext = (int8_t)(uint8_t)v;
		return 0;
	case 0xca: {
		uint32_t b;
		float f;

		if (rd_be(r, 4, &v) < 0)
			return CKPT_ECORRUPT;
		b = (uint32_t)v;
		memcpy(&f, &b, 4);
		t->t = CKPT_MP_F32;
		t->f = f;
		return 0;
	}
	case 0xcb:
		if (rd_be(r, 8, &v) < 0)
			return CKPT_ECORRUPT;
		memcpy(&t->f, &v, 8);
		t->t = CKPT_MP_F64;
		return 0;
	case 0xcc: case 0xcd: case 0xce: case 0xcf:
		if (rd_be(r, 1u << (c - 0xcc), &t->u) < 0)
			return CKPT_ECORRUPT;
		t->t = t->u > INT64_MAX ? CKPT_MP_UINT : CKPT_MP_INT;
		t->i = (int64_t)t->u;
		return 0;
	case 0xd0: case 0xd1: case 0xd2: case 0xd3:
		w = 1u << (c - 0xd0);
		if (rd_be(r, w, &v) < 0)
			return CKPT_ECORRUPT;
		if (w < 8 && (v >> (8 * w - 1)))
			v |= ~0ull << (8 * w); /* sign-extend */
		t->t = CKPT_MP_INT;
		t->i = (int64_t)v;
		t->u = v;
		return 0;
	case 0xdc: case 0xdd: case 0xde: case 0xdf:
		t->t = c <= 0xdd ? CKPT_MP_ARR : CKPT_MP_MAP;
		return rd_be(r, c == 0xdc || c == 0xde ? 2 : 4, &t->len);
	}
	return 1; /* 0xc1: never used */
}

int ckpt_mp_head(struct ckpt_rd *r, struct ckpt_mp_tok *t, const char **why)
{
	struct ckpt_rd save = *r;
	uint8_t c;
	int rc;

	memset(t, 0, sizeof(*t));
	if (ckpt_rd_u8(r, &c) < 0) {
		*why = "cut short";
		return CKPT_ECORRUPT;
	}
	if (c <= 0x7f || c >= 0xe0) {
		t->t = CKPT_MP_INT;
		t->i = c <= 0x7f ? c : (int8_t)c;
		t->u = (uint64_t)t->i;
		return 0;
	}
	if (c <= 0x9f) {
		t->t = c <= 0x8f ? CKPT_MP_MAP : CKPT_MP_ARR;
		t->len = c & 0x0f;
		return 0;
	}
	if (c <= 0xbf) {
		t->t = CKPT_MP_STR;
		t->len = c & 0x1f;
		return 0;
	}
	rc = head_rest(r, c, t);
	if (rc != 0) {
		*why = rc > 0 ? "unknown type byte" : "cut short";
		*r = save;
		return CKPT_ECORRUPT;
	}
	return 0;
}

int ckpt_mp_skip(struct ckpt_rd *r, uint32_t max_depth, const char **why)
{
	struct ckpt_rd save = *r;
	uint64_t *left = NULL; /* values still to read, per open container */
	size_t depth = 0, cap = 0;
	uint64_t pending = 1;   /* values still to read at the current level */
	int rc = 0;

	while (rc == 0) {
		struct ckpt_mp_tok t;

		while (pending == 0 && depth > 0)
			pending = left[--depth];
		if (pending == 0)
			break;
		pending--;
		if ((rc = ckpt_mp_head(r, &t, why)) < 0)
			break;
		if (t.t == CKPT_MP_STR || t.t == CKPT_MP_BIN || t.t == CKPT_MP_EXT) {
			if (t.len > r->left || ckpt_rd_skip(r, (size_t)t.len) < 0) {
				*why = "a string, binary or extension runs past the end";
				rc = CKPT_ECORRUPT;
			}
			continue;
		}
		if (t.t != CKPT_MP_ARR && t.t != CKPT_MP_MAP)
			continue;
		/* every value takes at least a byte: a count beyond the bytes left is a lie */
		if (t.len > r->left / (t.t == CKPT_MP_MAP ? 2 : 1)) {
			*why = "more entries than bytes left";
			rc = CKPT_ECORRUPT;
			break;
		}
		if (t.len == 0)
			continue;
		if (depth >= max_depth) {
			*why = "nested too deep";
			rc = -EFBIG;
			break;
		}
		if (depth + 1 > cap) {
			size_t nc = cap ? cap * 2 : 16;
			uint64_t *nl = realloc(left, nc * sizeof(*left));

			if (!nl) {
				*why = "out of memory";
				rc = -ENOMEM;
				break;
			}
			left = nl;
			cap = nc;
		}
		left[depth++] = pending;
		pending = t.t == CKPT_MP_MAP ? t.len * 2 : t.len;
	}
	free(left);
	if (rc < 0)
		*r = save;
	return rc;
}
