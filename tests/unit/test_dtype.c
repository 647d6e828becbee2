/* SPDX-License-Identifier: Apache-2.0 */
/* test_dtype.c - element types: names, sizes, zarr v2 and v3 spellings, byte order, fill values. */
#include "dtype.h"
#include "harness.h"

#include <errno.h>
#include <math.h>

static void test_dtype__names_and_sizes(void)
{
	static const struct {
		const char *name;
		enum ckpt_dkind kind;
		unsigned size, swap;
		const char *v2;
	} t[] = {
		{ "bool", CKPT_DK_BOOL, 1, 1, "|b1" },
		{ "int8", CKPT_DK_INT, 1, 1, "|i1" },
		{ "int16", CKPT_DK_INT, 2, 2, "<i2" },
		{ "int32", CKPT_DK_INT, 4, 4, "<i4" },
		{ "int64", CKPT_DK_INT, 8, 8, "<i8" },
		{ "uint8", CKPT_DK_UINT, 1, 1, "|u1" },
		{ "uint16", CKPT_DK_UINT, 2, 2, "<u2" },
		{ "uint32", CKPT_DK_UINT, 4, 4, "<u4" },
		{ "uint64", CKPT_DK_UINT, 8, 8, "<u8" },
		{ "float16", CKPT_DK_FLOAT, 2, 2, "<f2" },
		{ "float32", CKPT_DK_FLOAT, 4, 4, "<f4" },
		{ "float64", CKPT_DK_FLOAT, 8, 8, "<f8" },
		{ "complex64", CKPT_DK_COMPLEX, 8, 4, "<c8" },
		{ "complex128", CKPT_DK_COMPLEX, 16, 8, "<c16" },
		{ "bfloat16", CKPT_DK_BFLOAT16, 2, 2, "bfloat16" },
		{ "int4", CKPT_DK_INT, 1, 1, "int4" },
		{ "uint2", CKPT_DK_UINT, 1, 1, "uint2" },
		{ "float8_e4m3fn", CKPT_DK_FLOAT8, 1, 1, "float8_e4m3fn" },
		{ "float8_e5m2fnuz", CKPT_DK_FLOAT8, 1, 1, "float8_e5m2fnuz" },
		{ "float4_e2m1fn", CKPT_DK_FLOAT8, 1, 1, "float4_e2m1fn" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ckpt_dtype a, b, c;
		char buf[32];

		CHECK_EQ(ckpt_dtype_from_name(&a, t[i].name), 0);
		CHECK(!strcmp(a.name, t[i].name));
		CHECK_EQ(a.kind, t[i].kind);
		CHECK_EQ(a.itemsize, t[i].size);
		CHECK_EQ(a.swap, t[i].swap);
		CHECK(!a.big_endian);
		/* the v2 string a writer emits reads back as the same type */
		CHECK(!strcmp(ckpt_dtype_v2_string(&a, buf), t[i].v2));
		CHECK_EQ(ckpt_dtype_from_v2(&b, t[i].v2), 0);
		CHECK(!strcmp(b.name, t[i].name) && b.itemsize == a.itemsize);
		/* v3 names are the numpy names */
		CHECK_EQ(ckpt_dtype_from_v3(&c, t[i].name), 0);
		CHECK(!strcmp(c.name, t[i].name) && c.itemsize == a.itemsize);
	}
}

static void test_dtype__v2_and_v3_spellings(void)
{
	struct ckpt_dtype d;
	char buf[32];

	CHECK_EQ(ckpt_dtype_from_v2(&d, ">i8"), 0);
	CHECK(!strcmp(d.name, "int64") && d.big_endian);
	CHECK_EQ(ckpt_dtype_from_v2(&d, ">u1"), 0); /* one byte has no order */
	CHECK(!strcmp(d.name, "uint8") && !d.big_endian);
	CHECK_EQ(ckpt_dtype_from_v2(&d, ">c16"), 0);
	CHECK(d.big_endian && d.swap == 8);
	CHECK_EQ(ckpt_dtype_from_v2(&d, "=f4"), 0);
	CHECK(!strcmp(d.name, "float32"));
	CHECK_EQ(ckpt_dtype_from_v2(&d, "|V3"), 0);
	CHECK(d.kind == CKPT_DK_RAW && d.itemsize == 3 && !strcmp(d.name, "V3"));
	CHECK(!strcmp(ckpt_dtype_v2_string(&d, buf), "|V3"));
	CHECK_EQ(ckpt_dtype_from_v2(&d, "|S5"), 0);
	CHECK(d.kind == CKPT_DK_RAW && d.itemsize == 5);
	CHECK_EQ(ckpt_dtype_from_v3(&d, "r16"), 0);
	CHECK(d.kind == CKPT_DK_RAW && d.itemsize == 2 && !strcmp(d.name, "r16"));
	/* refused */
	CHECK_EQ(ckpt_dtype_from_v2(&d, "<x4"), -ENOTSUP);
	CHECK_EQ(ckpt_dtype_from_v2(&d, "<f3"), -ENOTSUP);
	CHECK_EQ(ckpt_dtype_from_v2(&d, "<f"), -ENOTSUP);
	CHECK_EQ(ckpt_dtype_from_v2(&d, "<i4x"), -ENOTSUP);
	CHECK_EQ(ckpt_dtype_from_v2(&d, "|V0"), -ENOTSUP);
	CHECK_EQ(ckpt_dtype_from_v2(&d, "<M8[ns]"), -ENOTSUP);
	CHECK_EQ(ckpt_dtype_from_v3(&d, "r12"), -ENOTSUP);
	CHECK_EQ(ckpt_dtype_from_v3(&d, "r"), -ENOTSUP);
	CHECK_EQ(ckpt_dtype_from_v3(&d, "float128"), -ENOTSUP);
	CHECK_EQ(ckpt_dtype_from_name(&d, ""), -ENOTSUP);
}

static void test_dtype__byte_order_and_numbers(void)
{
	struct ckpt_dtype d;
	uint8_t b[16] = { 1, 2, 3, 4, 5, 6, 7, 8 }, out[16];

	CHECK_EQ(ckpt_dtype_from_v2(&d, ">i4"), 0);
	ckpt_dtype_to_le(&d, b, 2);
	CHECK(b[0] == 4 && b[3] == 1 && b[4] == 8 && b[7] == 5);
	CHECK_EQ(ckpt_dtype_from_v2(&d, ">c8"), 0); /* re and im swap separately */
	memcpy(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	ckpt_dtype_to_le(&d, b, 1);
	CHECK(!memcmp(b, "\x04\x03\x02\x01\x08\x07\x06\x05", 8));
	CHECK_EQ(ckpt_dtype_from_v2(&d, "<i4"), 0);
	memcpy(b, "\x01\x02\x03\x04", 4);
	ckpt_dtype_to_le(&d, b, 1);
	CHECK(!memcmp(b, "\x01\x02\x03\x04", 4));

	CHECK_EQ(ckpt_dtype_from_name(&d, "float32"), 0);
	CHECK_EQ(ckpt_dtype_encode_number(&d, 1.5, 0, false, 0, 0, out), 0);
	CHECK(!memcmp(out, "\x00\x00\xc0\x3f", 4));
	CHECK(ckpt_dtype_to_double(&d, out) == 1.5);
	CHECK_EQ(ckpt_dtype_from_name(&d, "int16"), 0);
	CHECK_EQ(ckpt_dtype_encode_number(&d, 0, 0, true, -2, 0, out), 0);
	CHECK(out[0] == 0xfe && out[1] == 0xff);
	CHECK(ckpt_dtype_to_double(&d, out) == -2);
	CHECK_EQ(ckpt_dtype_encode_number(&d, 2.5, 0, false, 0, 0, out), -ERANGE);
	CHECK_EQ(ckpt_dtype_encode_number(&d, NAN, 0, false, 0, 0, out), -ERANGE);
	CHECK_EQ(ckpt_dtype_from_name(&d, "bfloat16"), 0);
	CHECK_EQ(ckpt_dtype_encode_number(&d, 1.0, 0, false, 0, 0, out), 0);
	CHECK(out[0] == 0x80 && out[1] == 0x3f);
	CHECK(ckpt_dtype_to_double(&d, out) == 1.0);
	CHECK_EQ(ckpt_dtype_from_name(&d, "float8_e4m3fn"), 0);
	CHECK_EQ(ckpt_dtype_encode_number(&d, 1.0, 0, false, 0, 0, out), 0);
	CHECK_EQ(out[0], 0x38);
	CHECK(ckpt_dtype_to_double(&d, out) == 1.0);
	CHECK_EQ(ckpt_dtype_from_name(&d, "complex128"), 0);
	CHECK_EQ(ckpt_dtype_encode_number(&d, 1.0, -2.0, false, 0, 0, out), 0);
	CHECK(!memcmp(out, "\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\x00\xc0", 16));
	CHECK_EQ(ckpt_dtype_from_v3(&d, "r16"), 0);
	CHECK_EQ(ckpt_dtype_encode_number(&d, 0, 0, true, 0, 0, out), -ERANGE);
}

int main(void)
{
	RUN(test_dtype__names_and_sizes);
	RUN(test_dtype__v2_and_v3_spellings);
	RUN(test_dtype__byte_order_and_numbers);
	DONE();
}
