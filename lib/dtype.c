/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dtype.c - element types (tier 1).  Names and v2 strings follow TensorStore
 * (shared/docs/FORMAT-ocdbt-zarr.md section 12.1 and 13.1).
 */
#include "dtype.h"

#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	const char *name;
	enum ckpt_dkind kind;
	uint32_t itemsize;
	uint8_t exp_bits, man_bits;
	int bias;
	bool fn, fnuz;
};

static const struct entry types[] = {
	{ "bool", CKPT_DK_BOOL, 1, 0, 0, 0, false, false },
	{ "int8", CKPT_DK_INT, 1, 0, 0, 0, false, false },
	{ "int16", CKPT_DK_INT, 2, 0, 0, 0, false, false },
	{ "int32", CKPT_DK_INT, 4, 0, 0, 0, false, false },
	{ "int64", CKPT_DK_INT, 8, 0, 0, 0, false, false },
	{ "uint8", CKPT_DK_UINT, 1, 0, 0, 0, false, false },
	{ "uint16", CKPT_DK_UINT, 2, 0, 0, 0, false, false },
	{ "uint32", CKPT_DK_UINT, 4, 0, 0, 0, false, false },
	{ "uint64", CKPT_DK_UINT, 8, 0, 0, 0, false, false },
	{ "float16", CKPT_DK_FLOAT, 2, 5, 10, 15, false, false },
	{ "float32", CKPT_DK_FLOAT, 4, 8, 23, 127, false, false },
	{ "float64", CKPT_DK_FLOAT, 8, 11, 52, 1023, false, false },
	{ "bfloat16", CKPT_DK_BFLOAT16, 2, 8, 7, 127, false, false },
	{ "complex64", CKPT_DK_COMPLEX, 8, 0, 0, 0, false, false },
	{ "complex128", CKPT_DK_COMPLEX, 16, 0, 0, 0, false, false },
	/* sub-byte integers: one byte per element, sign-extended (TensorStore Int4Padded) */
	{ "int4", CKPT_DK_INT, 1, 0, 0, 0, false, false },
	{ "int2", CKPT_DK_INT, 1, 0, 0, 0, false, false },
	{ "uint4", CKPT_DK_UINT, 1, 0, 0, 0, false, false },
	{ "uint2", CKPT_DK_UINT, 1, 0, 0, 0, false, false },
	/* ml_dtypes minifloats */
	{ "float8_e3m4", CKPT_DK_FLOAT8, 1, 3, 4, 3, false, false },
	{ "float8_e4m3", CKPT_DK_FLOAT8, 1, 4, 3, 7, false, false },
	{ "float8_e4m3fn", CKPT_DK_FLOAT8, 1, 4, 3, 7, true, false },
	{ "float8_e4m3fnuz", CKPT_DK_FLOAT8, 1, 4, 3, 8, true, true },
	{ "float8_e4m3b11fnuz", CKPT_DK_FLOAT8, 1, 4, 3, 11, true, true },
	{ "float8_e5m2", CKPT_DK_FLOAT8, 1, 5, 2, 15, false, false },
	{ "float8_e5m2fnuz", CKPT_DK_FLOAT8, 1, 5, 2, 16, true, true },
	{ "float8_e8m0fnu", CKPT_DK_FLOAT8, 1, 8, 0, 127, true, false },
	{ "float4_e2m1fn", CKPT_DK_FLOAT8, 1, 2, 1, 1, true, false },
	{ "float6_e2m3fn", CKPT_DK_FLOAT8, 1, 2, 3, 1, true, false },
	{ "float6_e3m2fn", CKPT_DK_FLOAT8, 1, 3, 2, 3, true, false },
};

static void fill(struct ckpt_dtype *dt, const struct entry *e, bool big_endian)
{
	memset(dt, 0, sizeof(*dt));
	dt->name = e->name;
	dt->kind = e->kind;
	dt->itemsize = e->itemsize;
	dt->swap = e->kind == CKPT_DK_COMPLEX ? e->itemsize / 2 : e->itemsize;
	if (e->kind == CKPT_DK_RAW || dt->swap < 2)
		dt->swap = 1;
	dt->big_endian = big_endian && dt->swap > 1;
	dt->exp_bits = e->exp_bits;
	dt->man_bits = e->man_bits;
	dt->bias = e->bias;
	dt->finite_only = e->fn;
	dt->nan_neg_zero = e->fnuz;
}

int ckpt_dtype_from_name(struct ckpt_dtype *dt, const char *s)
{
	for (size_t i = 0; i < CKPT_ARRAY_SIZE(types); i++) {
		if (!strcmp(types[i].name, s)) {
			fill(dt, &types[i], false);
			return 0;
		}
	}
	return -ENOTSUP;
}

static void raw(struct ckpt_dtype *dt, uint32_t bytes, const char *fmt, unsigned v)
{
	memset(dt, 0, sizeof(*dt));
	dt->kind = CKPT_DK_RAW;
	dt->itemsize = bytes;
	dt->swap = 1;
	snprintf(dt->raw_name, sizeof(dt->raw_name), fmt, v);
	dt->name = dt->raw_name;
}

int ckpt_dtype_from_v2(struct ckpt_dtype *dt, const char *s)
{
	static const struct {
		char c;
		unsigned size;
		const char *name;
	} simple[] = {
		{ 'b', 1, "bool" },     { 'i', 1, "int8" },     { 'i', 2, "int16" },
		{ 'i', 4, "int32" },    { 'i', 8, "int64" },    { 'u', 1, "uint8" },
		{ 'u', 2, "uint16" },   { 'u', 4, "uint32" },   { 'u', 8, "uint64" },
		{ 'f', 2, "float16" },  { 'f', 4, "float32" },  { 'f', 8, "float64" },
		{ 'c', 8, "complex64" }, { 'c', 16, "complex128" },
	};
	char order = s[0];
	unsigned size;
	char *end;

	if (order != '<' && order != '>' && order != '|' && order != '=')
		return ckpt_dtype_from_name(dt, s); /* "bfloat16", "float8_e4m3fn", "int4" */
	if (!s[1] || !s[2])
		return -ENOTSUP;
	size = (unsigned)strtoul(s + 2, &end, 10);
	if (*end || size == 0 || size > (1u << 20))
		return -ENOTSUP;
	if (s[1] == 'V' || s[1] == 'S') {
		raw(dt, size, s[1] == 'V' ? "V%u" : "S%u", size);
		return 0;
	}
	for (size_t i = 0; i < CKPT_ARRAY_SIZE(simple); i++) {
		if (simple[i].c == s[1] && simple[i].size == size) {
			int rc = ckpt_dtype_from_name(dt, simple[i].name);

			dt->big_endian = order == '>' && dt->swap > 1;
			return rc;
		}
	}
	return -ENOTSUP;
}

int ckpt_dtype_from_v3(struct ckpt_dtype *dt, const char *s)
{
	if (s[0] == 'r' && s[1]) {
		char *end;
		unsigned long bits = strtoul(s + 1, &end, 10);

		if (*end || bits == 0 || bits % 8 || bits > (8ul << 20))
			return -ENOTSUP;
		raw(dt, (uint32_t)(bits / 8), "r%u", (unsigned)bits);
		return 0;
	}
	return ckpt_dtype_from_name(dt, s);
}

const char *ckpt_dtype_v2_string(const struct ckpt_dtype *dt, char buf[32])
{
	static const struct {
		const char *name, *v2;
	} map[] = {
		{ "bool", "|b1" },    { "int8", "|i1" },    { "uint8", "|u1" },   { "int16", "<i2" },
		{ "int32", "<i4" },   { "int64", "<i8" },   { "uint16", "<u2" },  { "uint32", "<u4" },
		{ "uint64", "<u8" },  { "float16", "<f2" }, { "float32", "<f4" }, { "float64", "<f8" },
		{ "complex64", "<c8" }, { "complex128", "<c16" },
	};

	for (size_t i = 0; i < CKPT_ARRAY_SIZE(map); i++)
		if (!strcmp(map[i].name, dt->name))
			return map[i].v2;
	if (dt->kind == CKPT_DK_RAW) {
		snprintf(buf, 32, "|V%u", dt->itemsize);
		return buf;
	}
	return dt->name;
}

void ckpt_dtype_to_le(const struct ckpt_dtype *dt, void *p, size_t n_elems)
{
	uint8_t *b = p;
	size_t units, w = dt->swap;

	if (!dt->big_endian || w < 2)
		return;
	units = n_elems * (dt->itemsize / w);
	for (size_t i = 0; i < units; i++, b += w)
		for (size_t j = 0; j < w / 2; j++) {
			uint8_t t = b[j];

			b[j] = b[w - 1 - j];
			b[w - 1 - j] = t;
		}
}

/* double -> minifloat bits, round to nearest even */
static uint64_t encode_minifloat(const struct ckpt_dtype *dt, double v)
{
	int E = dt->exp_bits, M = dt->man_bits;
	uint64_t sign = signbit(v) ? 1 : 0, mag;
	int emax, e;
	double m;

	if (isnan(v)) {
		if (dt->nan_neg_zero)
			return 1ull << (E + M);
		if (dt->finite_only)
			return (1ull << (E + M)) - 1;
		return ((1ull << E) - 1) << M | (1ull << (M ? M - 1 : 0));
	}
	if (v == 0)
		return dt->nan_neg_zero ? 0 : sign << (E + M);
	if (isinf(v)) {
		if (dt->finite_only) /* saturate: no infinity in this format */
			return (dt->nan_neg_zero ? 0 : sign) << (E + M) |
			       (((1ull << (E + M)) - 1) - (dt->nan_neg_zero ? 0 : 1));
		return sign << (E + M) | ((1ull << E) - 1) << M;
	}
	v = fabs(v);
	m = frexp(v, &e); /* v = m * 2^e, 0.5 <= m < 1 */
	e = e - 1 + dt->bias; /* biased exponent for 1.x form */
	emax = (1 << E) - 1;
	if (e <= 0) {
		/* subnormal */
		double scaled = ldexp(v, dt->bias - 1 + M);

		mag = (uint64_t)nearbyint(scaled);
	} else {
		double frac = (m * 2 - 1) * (double)(1ull << M);
		uint64_t f = (uint64_t)nearbyint(frac);

		if (f == (1ull << M)) {
			f = 0;
			e++;
		}
		mag = (uint64_t)e << M | f;
	}
	if (!dt->finite_only && (mag >> M) >= (uint64_t)emax)
		mag = (uint64_t)emax << M; /* infinity */
	else if (dt->finite_only && mag > ((1ull << (E + M)) - 1))
		mag = (1ull << (E + M)) - 1;
	return (dt->nan_neg_zero ? 0 : sign) << (E + M) | mag;
}

int ckpt_dtype_encode_number(const struct ckpt_dtype *dt, double re, double im, bool is_int,
			     int64_t ival, uint64_t uval, uint8_t *out)
{
	memset(out, 0, dt->itemsize);
	switch (dt->kind) {
	case CKPT_DK_BOOL:
		out[0] = is_int ? (ival != 0) : (re != 0);
		return 0;
	case CKPT_DK_INT:
	case CKPT_DK_UINT: {
		uint64_t u;

		/* a float for an integer type: only a whole, representable one */
		if (!is_int && (!isfinite(re) || re != floor(re) || re < -9223372036854775808.0 ||
				re >= 18446744073709551616.0))
			return -ERANGE;
		u = is_int ? (dt->kind == CKPT_DK_UINT ? uval : (uint64_t)ival)
			   : re < 0 ? (uint64_t)(int64_t)re : (uint64_t)re;

		for (uint32_t i = 0; i < dt->itemsize; i++)
			out[i] = (uint8_t)(u >> (8 * i));
		return 0;
	}
	case CKPT_DK_FLOAT:
		if (is_int)
			re = dt->kind == CKPT_DK_UINT ? (double)uval : (double)ival;
		if (dt->itemsize == 8) {
			uint64_t b;

			memcpy(&b, &re, 8);
			ckpt_store_le64(out, b);
		} else if (dt->itemsize == 4) {
			float f = (float)re;
			uint32_t b;

			memcpy(&b, &f, 4);
			ckpt_store_le32(out, b);
		} else {
			uint64_t b = encode_minifloat(dt, re);

			out[0] = (uint8_t)b;
			out[1] = (uint8_t)(b >> 8);
		}
		return 0;
	case CKPT_DK_BFLOAT16:
	case CKPT_DK_FLOAT8: {
		uint64_t b;

		if (is_int)
			re = (double)ival;
		b = encode_minifloat(dt, re);
		out[0] = (uint8_t)b;
		if (dt->itemsize > 1)
			out[1] = (uint8_t)(b >> 8);
		return 0;
	}
	case CKPT_DK_COMPLEX:
		if (dt->itemsize == 16) {
			uint64_t b;

			memcpy(&b, &re, 8);
			ckpt_store_le64(out, b);
			memcpy(&b, &im, 8);
			ckpt_store_le64(out + 8, b);
		} else {
			float f = (float)re, g = (float)im;
			uint32_t b;

			memcpy(&b, &f, 4);
			ckpt_store_le32(out, b);
			memcpy(&b, &g, 4);
			ckpt_store_le32(out + 4, b);
		}
		return 0;
	case CKPT_DK_RAW:
		return -ERANGE;
	}
	return -ERANGE;
}

static double decode_minifloat(const struct ckpt_dtype *dt, uint64_t b)
{
	int E = dt->exp_bits, M = dt->man_bits;
	uint64_t sign = (b >> (E + M)) & 1, e = (b >> M) & ((1ull << E) - 1),
		 f = b & ((1ull << M) - 1);
	double v;

	if (dt->nan_neg_zero && sign && !e && !f)
		return NAN;
	if (!dt->finite_only && e == (1ull << E) - 1)
		return f ? NAN : (sign ? -INFINITY : INFINITY);
	if (dt->finite_only && !dt->nan_neg_zero && e == (1ull << E) - 1 &&
	    f == (1ull << M) - 1 && E + M >= 7)
		return NAN;
	if (e == 0)
		v = ldexp((double)f, 1 - dt->bias - M);
	else
		v = ldexp((double)((1ull << M) | f), (int)e - dt->bias - M);
	return (sign && !dt->nan_neg_zero) ? -v : v;
}

double ckpt_dtype_to_double(const struct ckpt_dtype *dt, const uint8_t *p)
{
	switch (dt->kind) {
	case CKPT_DK_BOOL:
		return p[0] != 0;
	case CKPT_DK_INT: {
		int64_t v = 0;
		uint64_t u = 0;

		for (uint32_t i = 0; i < dt->itemsize; i++)
			u |= (uint64_t)p[i] << (8 * i);
		if (dt->itemsize < 8 && (u >> (8 * dt->itemsize - 1)) & 1)
			u |= ~0ull << (8 * dt->itemsize);
		v = (int64_t)u;
		return (double)v;
	}
	case CKPT_DK_UINT: {
		uint64_t u = 0;

		for (uint32_t i = 0; i < dt->itemsize; i++)
			u |= (uint64_t)p[i] << (8 * i);
		return (double)u;
	}
	case CKPT_DK_FLOAT:
		if (dt->itemsize == 8) {
			uint64_t b = ckpt_load_le64(p);
			double d;

			memcpy(&d, &b, 8);
			return d;
		}
		if (dt->itemsize == 4) {
			uint32_t b = ckpt_load_le32(p);
			float f;

			memcpy(&f, &b, 4);
			return f;
		}
		return decode_minifloat(dt, (uint64_t)p[0] | (uint64_t)p[1] << 8);
	case CKPT_DK_BFLOAT16:
		return decode_minifloat(dt, (uint64_t)p[0] | (uint64_t)p[1] << 8);
	case CKPT_DK_FLOAT8:
		return decode_minifloat(dt, p[0]);
	case CKPT_DK_COMPLEX:
	case CKPT_DK_RAW:
		break;
	}
	return NAN;
}
