/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npy.c - the header of numpy's .npy files (format versions 1.0, 2.0, 3.0):
 *   "\x93NUMPY" major minor, header length (u16 LE for 1.x, u32 LE after),
 *   then a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a newline; the data follows, C order unless
 * fortran_order.  Source: numpy/lib/format.py (NEP 1).  The dict is parsed
 * by a bounds-checked scanner over its bytes: exactly the three keys numpy
 * writes, no nesting beyond the shape tuple.  ckpt_npy_make and
 * ckpt_npy_header write the header numpy itself writes (np.save of numpy
 * >= 1.24: keys sorted, spare spaces after the dict for growing the first
 * axis, padded with spaces and a newline so the data starts at a multiple
 * of 64), byte for byte.
 */
#define _GNU_SOURCE
#include "dtype.h"
#include "rd.h"
#include "util.h"

#include "include/ckpt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* the dict's scanner: every byte through the bounds-checked reader */
static bool peek_is(const struct ckpt_rd *r, char c)
{
	uint8_t b;

	return ckpt_rd_peek(r, &b) == 0 && b == (uint8_t)c;
}

static void ws(struct ckpt_rd *r)
{
	while (peek_is(r, ' ') || peek_is(r, '\t') || peek_is(r, '\n'))
		ckpt_rd_skip(r, 1);
}

static bool eat(struct ckpt_rd *r, char c)
{
	ws(r);
	return ckpt_rd_lit(r, &c, 1) == 0;
}

/* a '...' or "..." literal without escapes into out */
static bool str(struct ckpt_rd *r, char *out, size_t cap)
{
	uint8_t q, c;
	size_t n = 0;

	ws(r);
	if (!peek_is(r, '\'') && !peek_is(r, '"'))
		return false;
	ckpt_rd_u8(r, &q);
	for (;;) {
		if (ckpt_rd_u8(r, &c) < 0)
			return false;
		if (c == q)
			break;
		if (c == '\\' || n + 1 >= cap)
			return false;
		out[n++] = (char)c;
	}
	out[n] = 0;
	return true;
}

static bool word(struct ckpt_rd *r, const char *w)
{
	ws(r);
	return ckpt_rd_lit(r, w, strlen(w)) == 0;
}

static bool number(struct ckpt_rd *r, uint64_t *v)
{
	bool any = false;
	uint8_t c;

	ws(r);
	*v = 0;
	while (ckpt_rd_peek(r, &c) == 0 && c >= '0' && c <= '9') {
		unsigned d = (unsigned)(c - '0');

		if (*v > (UINT64_MAX - d) / 10)
			return false;
		*v = *v * 10 + d;
		any = true;
		ckpt_rd_skip(r, 1);
	}
	if (any && peek_is(r, 'L'))
		ckpt_rd_skip(r, 1); /* Python 2 longs */
	return any;
}

static int bad(struct ckpt_err *err, const char *why)
{
	return ckpt_err_set(err, -EINVAL, "not a .npy file numpy can read back: %s", why);
}

int ckpt_npy_parse(const uint8_t *p, size_t n, struct ckpt_npy *h, struct ckpt_err *err)
{
	struct ckpt_dtype dt;
	struct ckpt_rd r = ckpt_rd_init(p, n), s;
	struct ckpt_bytes dict;
	uint64_t hlen, elems = 1;
	uint8_t major, minor;
	bool have_descr = false, have_order = false, have_shape = false, fortran = false;
	char key[32], descr[32];

	memset(h, 0, sizeof(*h));
	if (ckpt_rd_lit(&r, "\x93NUMPY", 6) < 0 || ckpt_rd_u8(&r, &major) < 0 ||
	    ckpt_rd_u8(&r, &minor) < 0)
		return bad(err, "no \\x93NUMPY magic");
	if (major == 1) {
		uint16_t l16;

		if (ckpt_rd_u16le(&r, &l16) < 0)
			return bad(err, "no \\x93NUMPY magic");
		hlen = l16;
	} else if (major == 2 || major == 3) {
		uint32_t l32;

		if (ckpt_rd_u32le(&r, &l32) < 0)
			return bad(err, "header cut short");
		hlen = l32;
	} else {
		return bad(err, "unknown format version");
	}
	if (ckpt_rd_bytes(&r, (size_t)hlen, &dict) < 0)
		return bad(err, "header cut short");
	h->data_off = n - r.left;
	s = ckpt_rd_init(dict.p, dict.n);
	if (!eat(&s, '{'))
		return bad(err, "header is not a dict");
	while (!eat(&s, '}')) {
		if (!str(&s, key, sizeof(key)) || !eat(&s, ':'))
			return bad(err, "malformed header dict");
		if (!strcmp(key, "descr") && !have_descr) {
			if (!str(&s, descr, sizeof(descr)))
				return bad(err, "'descr' is not a simple type string (structured dtypes are not arrays)");
			have_descr = true;
		} else if (!strcmp(key, "fortran_order") && !have_order) {
			if (word(&s, "True"))
				fortran = true;
			else if (!word(&s, "False"))
				return bad(err, "'fortran_order' is not True or False");
			have_order = true;
		} else if (!strcmp(key, "shape") && !have_shape) {
			if (!eat(&s, '('))
				return bad(err, "'shape' is not a tuple");
			while (!eat(&s, ')')) {
				uint64_t d;

				if (h->rank == CKPT_NPY_MAX_RANK || !number(&s, &d))
					return bad(err, "'shape' is not a tuple of sizes");
				h->shape[h->rank++] = d;
				if (d && elems > UINT64_MAX / d)
					return bad(err, "'shape' overflows");
				elems *= d;
				if (!eat(&s, ',') && !(ws(&s), peek_is(&s, ')')))
					return bad(err, "'shape' is not a tuple of sizes");
			}
			have_shape = true;
		} else {
			return bad(err, "unexpected key in the header dict");
		}
		if (!eat(&s, ',') && !(ws(&s), peek_is(&s, '}')))
			return bad(err, "malformed header dict");
	}
	if (!have_descr || !have_order || !have_shape)
		return bad(err, "header lacks 'descr', 'fortran_order' or 'shape'");
	if (fortran && h->rank > 1)
		return ckpt_err_set(err, -ENOTSUP,
				    "Fortran-order arrays are not supported: save with np.ascontiguousarray");
	if (ckpt_dtype_from_v2(&dt, descr) < 0 || descr[1] == 'V' || descr[1] == 'S' ||
	    descr[1] == 'O' || descr[1] == 'U')
		return ckpt_err_set(err, -ENOTSUP, "dtype '%s' is not supported", descr);
	snprintf(h->dtype, sizeof(h->dtype), "%s", dt.name);
	snprintf(h->descr, sizeof(h->descr), "%s", descr);
	h->itemsize = dt.itemsize;
	h->swap = dt.big_endian ? dt.swap : 1;
	if (elems > UINT64_MAX / dt.itemsize)
		return bad(err, "'shape' overflows");
	h->data_bytes = elems * dt.itemsize;
	return 0;
}

void ckpt_npy_to_le(const struct ckpt_npy *h, void *p, size_t n)
{
	uint8_t *b = p;

	if (h->swap <= 1)
		return;
	for (size_t i = 0; i + h->swap <= n; i += h->swap)
		for (uint32_t a = 0, z = h->swap - 1; a < z; a++, z--) {
			uint8_t t = b[i + a];

			b[i + a] = b[i + z];
			b[i + z] = t;
		}
}

/* ---------------------------------------------------------------- writing a header */

#define NPY_ALIGN 64
#define NPY_GROWTH_DIGITS 21 /* numpy's GROWTH_AXIS_MAX_DIGITS */

/* the descr numpy shows for dt; *ml: the ml_dtypes name when numpy lacks it */
static void descr_of(const struct ckpt_dtype *dt, char out[32], const char **ml)
{
	static const struct {
		const char *name, *descr;
	} map[] = {
		{ "bool", "|b1" },      { "int8", "|i1" },        { "uint8", "|u1" },
		{ "int16", "<i2" },     { "int32", "<i4" },       { "int64", "<i8" },
		{ "uint16", "<u2" },    { "uint32", "<u4" },      { "uint64", "<u8" },
		{ "float16", "<f2" },   { "float32", "<f4" },     { "float64", "<f8" },
		{ "complex64", "<c8" }, { "complex128", "<c16" },
		/* one value per byte, sign-extended (TensorStore's padded storage) */
		{ "int4", "|i1" },      { "int2", "|i1" },        { "uint4", "|u1" },
		{ "uint2", "|u1" },
	};

	*ml = NULL;
	for (size_t i = 0; i < CKPT_ARRAY_SIZE(map); i++) {
		if (!strcmp(map[i].name, dt->name)) {
			snprintf(out, 32, "%s", map[i].descr);
			if (i >= 14)
				*ml = dt->name;
			return;
		}
	}
	/* bfloat16, the minifloats and raw bytes: numpy's raw type of that size */
	snprintf(out, 32, "|%c%u", dt->kind == CKPT_DK_RAW && dt->name[0] == 'S' ? 'S' : 'V',
		 dt->itemsize);
	if (dt->kind == CKPT_DK_BFLOAT16 || dt->kind == CKPT_DK_FLOAT8)
		*ml = dt->name;
}

/* Python's repr of the shape tuple: "()", "(3,)", "(2, 3)" */
static size_t shape_repr(const struct ckpt_npy *h, char *out, size_t cap)
{
	size_t n = 0;

	n += (size_t)snprintf(out + n, cap - n, "(");
	for (uint32_t i = 0; i < h->rank && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%" PRIu64, i ? ", " : "", h->shape[i]);
	if (n < cap)
		n += (size_t)snprintf(out + n, cap - n, h->rank == 1 ? ",)" : ")");
	return n < cap ? n : cap - 1;
}

/* the dict literal with numpy's spare spaces (no padding, no newline) */
static size_t dict_text(const struct ckpt_npy *h, char *out, size_t cap)
{
	char shape[CKPT_NPY_MAX_RANK * 23 + 8], first[24];
	size_t n;
	int spare = 0;

	shape_repr(h, shape, sizeof(shape));
	if (h->rank > 0)
		spare = NPY_GROWTH_DIGITS -
			snprintf(first, sizeof(first), "%" PRIu64, h->shape[0]);
	n = (size_t)snprintf(out, cap, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }%*s",
			     h->descr, shape, spare > 0 ? spare : 0, "");
	return n < cap ? n : cap - 1; /* never cut: the buffers fit 32 dimensions */
}

int ckpt_npy_make(struct ckpt_npy *h, const char *dtype, uint32_t rank, const uint64_t *shape,
		  struct ckpt_err *err)
{
	struct ckpt_dtype dt;
	char dict[CKPT_NPY_MAX_RANK * 23 + 160];
	uint64_t elems = 1, total;
	size_t dn;
	int rc;

	memset(h, 0, sizeof(*h));
	rc = ckpt_dtype_from_name(&dt, dtype);
	if (rc < 0 && (dtype[0] == 'V' || dtype[0] == 'S')) {
		char v2[40];

		snprintf(v2, sizeof(v2), "|%s", dtype);
		rc = ckpt_dtype_from_v2(&dt, v2);
	} else if (rc < 0 && dtype[0] == 'r') {
		rc = ckpt_dtype_from_v3(&dt, dtype);
	}
	if (rc < 0)
		return ckpt_err_set(err, -ENOTSUP, "dtype '%s' has no .npy form", dtype);
	if (rank > CKPT_NPY_MAX_RANK)
		return ckpt_err_set(err, -EINVAL, "%u dimensions: a .npy header holds at most %d",
				    rank, CKPT_NPY_MAX_RANK);
	for (uint32_t i = 0; i < rank; i++) {
		if (shape[i] && elems > UINT64_MAX / shape[i])
			return ckpt_err_set(err, -EOVERFLOW, "the shape's size overflows 64 bits");
		elems *= shape[i];
		h->shape[i] = shape[i];
	}
	if (elems > UINT64_MAX / dt.itemsize)
		return ckpt_err_set(err, -EOVERFLOW, "the array's byte size overflows 64 bits");
	snprintf(h->dtype, sizeof(h->dtype), "%s", dt.name);
	descr_of(&dt, h->descr, &h->ml_dtype);
	h->itemsize = dt.itemsize;
	h->swap = 1;
	h->rank = rank;
	h->data_bytes = elems * dt.itemsize;
	dn = dict_text(h, dict, sizeof(dict)) + 1; /* and the newline */
	/* version 1.0: magic (6), version (2), u16 length; 2.0: u32 length */
	total = 10 + dn;
	total += NPY_ALIGN - total % NPY_ALIGN;
	if (total - 10 > 0xffff) {
		total = 12 + dn;
		total += NPY_ALIGN - total % NPY_ALIGN;
	}
	if (h->data_bytes > UINT64_MAX - total)
		return ckpt_err_set(err, -EOVERFLOW, "the .npy file's size overflows 64 bits");
	h->data_off = total;
	return 0;
}

uint64_t ckpt_npy_header(const struct ckpt_npy *h, uint8_t *out, size_t cap)
{
	char dict[CKPT_NPY_MAX_RANK * 23 + 160];
	uint8_t pre[12] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0 };
	size_t dn = dict_text(h, dict, sizeof(dict)), pn = 10;
	uint64_t len;

	if (h->data_off - 10 > 0xffff) {
		pre[6] = 2;
		pn = 12;
	}
	len = h->data_off - pn;
	for (size_t i = 0; i < pn - 8; i++)
		pre[8 + i] = (uint8_t)(len >> (8 * i));
	for (uint64_t i = 0; i < h->data_off && i < cap; i++) {
		if (i < pn)
			out[i] = pre[i];
		else if (i - pn < dn)
			out[i] = (uint8_t)dict[i - pn];
		else
			out[i] = i + 1 == h->data_off ? '\n' : ' ';
	}
	return h->data_off;
}
