/* SPDX-License-Identifier: Apache-2.0 */
/* test_npy.c - the .npy header builder (ckpt_npy_make, ckpt_npy_header):
 * byte for byte what numpy writes, and the inverse of ckpt_npy_parse. */
#include "ckpt.h"
#include "harness.h"

#include <errno.h>
#include <stdio.h>

struct golden {
	const char *dtype, *descr;
	uint32_t rank;
	uint64_t shape[20];
	uint64_t total; /* the header's length as numpy 1.24 writes it (np.save) */
};

/* lengths from numpy.lib.format.write_array_header_1_0 (numpy 1.24.2): the
 * 20-dimension case is 192, not 128, because of numpy's spare spaces for
 * growing the first axis */
static const struct golden goldens[] = {
	{ "float32", "<f4", 2, { 3, 5 }, 128 },
	{ "float32", "<f4", 0, { 0 }, 128 },
	{ "int64", "<i8", 1, { 0 }, 128 },
	{ "bool", "|b1", 1, { 7 }, 128 },
	{ "uint8", "|u1", 2, { 1099511627776ull, 3 }, 128 },
	{ "complex128", "<c16", 4, { 2, 3, 4, 5 }, 128 },
	{ "float32", "<f4", 6, { 10, 20, 30, 40, 50, 60 }, 128 },
	{ "float32", "<f4", 20, { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, 192 },
	{ "uint16", "<u2", 11, { 123456789, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, 128 },
	{ "uint16", "<u2", 15, { 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5 }, 192 },
};

/* the dict numpy writes: Python's repr of the shape tuple */
static void dict_of(const struct golden *g, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (",
				    g->descr);

	for (uint32_t i = 0; i < g->rank; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%llu", i ? ", " : "",
				      (unsigned long long)g->shape[i]);
	snprintf(out + n, cap - n, "%s), }", g->rank == 1 ? "," : "");
}

static void test_npy__numpy_bytes(void)
{
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		struct ckpt_err err = { 0, "" };
		struct ckpt_npy h, back;
		uint8_t got[512], want[512];
		char dict[512];
		size_t dn;

		CHECK_EQ(ckpt_npy_make(&h, g->dtype, g->rank, g->shape, &err), 0);
		CHECK_EQ(h.data_off, g->total);
		CHECK(!strcmp(h.descr, g->descr));
		CHECK(h.ml_dtype == NULL);
		if (h.data_off != g->total || g->total > sizeof(got))
			continue;
		CHECK_EQ(ckpt_npy_header(&h, got, sizeof(got)), g->total);
		/* magic, version 1.0, u16 length, the dict, spaces, a newline */
		memcpy(want, "\x93NUMPY\x01\x00", 8);
		want[8] = (uint8_t)((g->total - 10) & 0xff);
		want[9] = (uint8_t)((g->total - 10) >> 8);
		dict_of(g, dict, sizeof(dict));
		dn = strlen(dict);
		memcpy(want + 10, dict, dn);
		memset(want + 10 + dn, ' ', g->total - 11 - dn);
		want[g->total - 1] = '\n';
		if (memcmp(got, want, g->total))
			printf("#   case %zu: header differs: %.*s\n", i, (int)g->total - 10, got + 10);
		CHECK(!memcmp(got, want, g->total));
		/* and ckpt_npy_parse reads back what was made */
		CHECK_EQ(ckpt_npy_parse(got, g->total, &back, &err), 0);
		CHECK(!strcmp(back.dtype, g->dtype));
		CHECK_EQ(back.rank, g->rank);
		CHECK_EQ(back.data_off, h.data_off);
		CHECK_EQ(back.data_bytes, h.data_bytes);
		for (uint32_t d = 0; d < g->rank; d++)
			CHECK_EQ(back.shape[d], g->shape[d]);
	}
}

/* a header cut short: only the first cap bytes are written */
static void test_npy__partial(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_npy h;
	uint64_t shape[2] = { 3, 5 };
	uint8_t full[128], part[20];

	CHECK_EQ(ckpt_npy_make(&h, "float32", 2, shape, &err), 0);
	CHECK_EQ(h.data_bytes, 60);
	CHECK_EQ(ckpt_npy_header(&h, full, sizeof(full)), 128);
	memset(part, 0xee, sizeof(part));
	CHECK_EQ(ckpt_npy_header(&h, part, 10), 128);
	CHECK(!memcmp(part, full, 10) && part[10] == 0xee);
}

/* types numpy lacks: a numpy type of the same item size (docs/numpy.md) */
static void test_npy__ml_dtypes(void)
{
	static const struct {
		const char *dtype, *descr;
		uint32_t itemsize;
	} t[] = {
		{ "bfloat16", "|V2", 2 },      { "float8_e4m3fn", "|V1", 1 },
		{ "float8_e5m2", "|V1", 1 },   { "float8_e4m3fnuz", "|V1", 1 },
		{ "float8_e5m2fnuz", "|V1", 1 }, { "float8_e4m3b11fnuz", "|V1", 1 },
		{ "float8_e8m0fnu", "|V1", 1 }, { "float4_e2m1fn", "|V1", 1 },
		{ "float6_e2m3fn", "|V1", 1 }, { "int4", "|i1", 1 },
		{ "int2", "|i1", 1 },          { "uint4", "|u1", 1 },
		{ "uint2", "|u1", 1 },
	};
	uint64_t shape[1] = { 9 };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ckpt_err err = { 0, "" };
		struct ckpt_npy h, back;
		uint8_t buf[128];
		int rc;

		CHECK_EQ(ckpt_npy_make(&h, t[i].dtype, 1, shape, &err), 0);
		CHECK(!strcmp(h.descr, t[i].descr));
		CHECK(h.ml_dtype && !strcmp(h.ml_dtype, t[i].dtype));
		CHECK_EQ(h.itemsize, t[i].itemsize);
		CHECK_EQ(h.data_bytes, 9 * t[i].itemsize);
		CHECK_EQ(h.data_off % 64, 0);
		ckpt_npy_header(&h, buf, sizeof(buf));
		/* written back, numpy's integers are taken; raw bytes are refused */
		rc = ckpt_npy_parse(buf, sizeof(buf), &back, &err);
		CHECK_EQ(rc, t[i].descr[1] == 'V' ? -ENOTSUP : 0);
	}
}

static void test_npy__raw_and_errors(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_npy h;
	uint64_t shape[CKPT_NPY_MAX_RANK + 1];

	for (size_t i = 0; i <= CKPT_NPY_MAX_RANK; i++)
		shape[i] = 2;
	CHECK_EQ(ckpt_npy_make(&h, "V6", 1, shape, &err), 0);
	CHECK(!strcmp(h.descr, "|V6") && h.itemsize == 6 && !h.ml_dtype);
	CHECK_EQ(ckpt_npy_make(&h, "S3", 1, shape, &err), 0);
	CHECK(!strcmp(h.descr, "|S3"));
	CHECK_EQ(ckpt_npy_make(&h, "r24", 1, shape, &err), 0);
	CHECK(!strcmp(h.descr, "|V3"));
	CHECK_EQ(ckpt_npy_make(&h, "float128", 1, shape, &err), -ENOTSUP);
	CHECK(strstr(err.msg, "float128") != NULL);
	CHECK_EQ(ckpt_npy_make(&h, "float32", CKPT_NPY_MAX_RANK + 1, shape, &err), -EINVAL);
	/* every rank up to the most: the data starts at a multiple of 64 */
	for (uint32_t r = 0; r <= CKPT_NPY_MAX_RANK; r++) {
		CHECK_EQ(ckpt_npy_make(&h, "float64", r, shape, &err), 0);
		CHECK_EQ(h.data_off % 64, 0);
		CHECK_EQ(h.data_bytes, 8ull << r);
	}
	{
		uint64_t big[2] = { 1ull << 40, 1ull << 40 };

		CHECK_EQ(ckpt_npy_make(&h, "float64", 2, big, &err), -EOVERFLOW);
		big[0] = 1ull << 61;
		big[1] = 1;
		CHECK_EQ(ckpt_npy_make(&h, "float64", 2, big, &err), -EOVERFLOW);
	}
}

int main(void)
{
	RUN(test_npy__numpy_bytes);
	RUN(test_npy__partial);
	RUN(test_npy__ml_dtypes);
	RUN(test_npy__raw_and_errors);
	DONE();
}
