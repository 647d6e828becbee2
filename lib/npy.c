/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npy.c - the header of numpy's .npy files (format versions 1.0, 2.0, 3.0):
 *   "\x93NUMPY" major minor, header length (u16 LE for 1.x, u32 LE after),
 *   then a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a newline; the data follows, C order unless
 * fortran_order.  Source: numpy/lib/format.py (NEP 1).  The dict is parsed
 * by a bounds-checked scanner over its bytes: exactly the three keys numpy
 * writes, no nesting beyond the shape tuple.
 */
#define _GNU_SOURCE
#include "dtype.h"
#include "util.h"

#include "include/ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct scan {
	const char *p, *end;
};

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n'))
		s->p++;
}

static bool eat(struct scan *s, char c)
{
	ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return true;
	}
	return false;
}

/* a '...' or "..." literal without escapes into out */
static bool str(struct scan *s, char *out, size_t cap)
{
	char q;
	size_t n = 0;

	ws(s);
	if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
		return false;
	q = *s->p++;
	while (s->p < s->end && *s->p != q) {
		if (*s->p == '\\' || n + 1 >= cap)
			return false;
		out[n++] = *s->p++;
	}
	if (s->p >= s->end)
		return false;
	s->p++;
	out[n] = 0;
	return true;
}

static bool word(struct scan *s, const char *w)
{
	size_t n = strlen(w);

	ws(s);
	if ((size_t)(s->end - s->p) >= n && !memcmp(s->p, w, n)) {
		s->p += n;
		return true;
	}
	return false;
}

static bool number(struct scan *s, uint64_t *v)
{
	bool any = false;

	ws(s);
	*v = 0;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		unsigned d = (unsigned)(*s->p++ - '0');

		if (*v > (UINT64_MAX - d) / 10)
			return false;
		*v = *v * 10 + d;
		any = true;
	}
	if (any && s->p < s->end && *s->p == 'L')
		s->p++; /* Python 2 longs */
	return any;
}

static int bad(struct ckpt_err *err, const char *why)
{
	return ckpt_err_set(err, -EINVAL, "not a .npy file numpy can read back: %s", why);
}

int ckpt_npy_parse(const uint8_t *p, size_t n, struct ckpt_npy *h, struct ckpt_err *err)
{
	struct ckpt_dtype dt;
	struct scan s;
	uint64_t hlen, elems = 1;
	bool have_descr = false, have_order = false, have_shape = false, fortran = false;
	char key[32], descr[32];

	memset(h, 0, sizeof(*h));
	if (n < 10 || memcmp(p, "\x93NUMPY", 6))
		return bad(err, "no \\x93NUMPY magic");
	if (p[6] == 1) {
		hlen = (uint64_t)p[8] | (uint64_t)p[9] << 8;
		h->data_off = 10 + hlen;
	} else if (p[6] == 2 || p[6] == 3) {
		if (n < 12)
			return bad(err, "header cut short");
		hlen = ckpt_load_le32(p + 8);
		h->data_off = 12 + hlen;
	} else {
		return bad(err, "unknown format version");
	}
	if (h->data_off > n)
		return bad(err, "header cut short");
	s.p = (const char *)p + (h->data_off - hlen);
	s.end = (const char *)p + h->data_off;
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
				if (!eat(&s, ',') && !(ws(&s), s.p < s.end && *s.p == ')'))
					return bad(err, "'shape' is not a tuple of sizes");
			}
			have_shape = true;
		} else {
			return bad(err, "unexpected key in the header dict");
		}
		if (!eat(&s, ',') && !(ws(&s), s.p < s.end && *s.p == '}'))
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
