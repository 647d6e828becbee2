/* SPDX-License-Identifier: Apache-2.0 */
/* test_rd.c - the bounded reader, varints, buffers, CRC-32C. */
#include "buf.h"
#include "crc32c.h"
#include "err.h"
#include "harness.h"
#include "rd.h"

static void test_rd__varints(void)
{
	static const struct {
		const char *bytes;
		size_t n;
		unsigned long long v;
	} ok[] = {
		{ "\x00", 1, 0 },
		{ "\x7f", 1, 127 },
		{ "\x80\x01", 2, 128 },
		{ "\x80\x08", 2, 1024 },
		{ "\x80\xc2\xd7\x2f", 4, 100000000 },
		{ "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10, 0xffffffffffffffffull },
		{ "\x80\x80\x00", 3, 0 }, /* non-shortest forms are accepted */
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct ckpt_rd r = ckpt_rd_init(ok[i].bytes, ok[i].n);
		uint64_t v;

		CHECK_EQ(ckpt_rd_varint(&r, &v), 0);
		CHECK(v == ok[i].v);
		CHECK_EQ(r.left, 0);
	}
}

static void test_rd__bad_varints(void)
{
	/* truncated, 11 bytes, bits beyond 64, beyond 32 for a 32-bit field */
	struct ckpt_rd r = ckpt_rd_init("\x80\x80", 2);
	uint64_t v;
	uint32_t v32;

	CHECK_EQ(ckpt_rd_varint(&r, &v), CKPT_ECORRUPT);
	CHECK_EQ(r.left, 2); /* no advance on failure */
	r = ckpt_rd_init("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
	CHECK_EQ(ckpt_rd_varint(&r, &v), CKPT_ECORRUPT);
	r = ckpt_rd_init("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);
	CHECK_EQ(ckpt_rd_varint(&r, &v), CKPT_ECORRUPT);
	r = ckpt_rd_init("\x80\x80\x80\x80\x10", 5);
	CHECK_EQ(ckpt_rd_varint32(&r, &v32), CKPT_ECORRUPT);
	r = ckpt_rd_init("\x80\x80\x04", 3); /* 65536 */
	CHECK_EQ(ckpt_rd_varint16(&r, &v32), CKPT_ECORRUPT);
	r = ckpt_rd_init("\xff\xff\x03", 3); /* 65535 */
	CHECK_EQ(ckpt_rd_varint16(&r, &v32), 0);
	CHECK_EQ(v32, 65535);
}

static void test_rd__fixed_and_counts(void)
{
	struct ckpt_rd r = ckpt_rd_init("\x0c\xdb\x3a\x2a\x71\x00\x00\x00\x00\x00\x00\x00", 12);
	uint32_t m;
	uint64_t len;
	size_t n;

	CHECK_EQ(ckpt_rd_u32be(&r, &m), 0);
	CHECK(m == 0x0CDB3A2A);
	CHECK_EQ(ckpt_rd_u64le(&r, &len), 0);
	CHECK_EQ(len, 113);
	CHECK_EQ(ckpt_rd_u8(&r, &(uint8_t){ 0 }), CKPT_ECORRUPT);
	CHECK_EQ(ckpt_rd_end(&r), 0);
	r = ckpt_rd_init("abcdef", 6);
	CHECK_EQ(ckpt_rd_count(&r, 3, 2, &n), 0);
	CHECK_EQ(ckpt_rd_count(&r, 4, 2, &n), CKPT_ECORRUPT);
	/* a count whose byte size overflows 64 bits */
	CHECK_EQ(ckpt_rd_count(&r, 1ull << 62, 8, &n), CKPT_ECORRUPT);
}

static void test_rd__peek_u16_literals(void)
{
	struct ckpt_rd r = ckpt_rd_init("\x34\x12{x", 4);
	uint16_t v;
	uint8_t c;

	CHECK_EQ(ckpt_rd_peek(&r, &c), 0);
	CHECK_EQ(c, 0x34);
	CHECK_EQ(r.left, 4);
	CHECK_EQ(ckpt_rd_u16le(&r, &v), 0);
	CHECK_EQ(v, 0x1234);
	CHECK_EQ(ckpt_rd_lit(&r, "{y", 2), CKPT_ECORRUPT); /* not advanced */
	CHECK_EQ(r.left, 2);
	CHECK_EQ(ckpt_rd_lit(&r, "{x", 2), 0);
	CHECK_EQ(ckpt_rd_peek(&r, &c), CKPT_ECORRUPT);
	CHECK_EQ(ckpt_rd_u16le(&r, &v), CKPT_ECORRUPT);
	CHECK_EQ(ckpt_rd_lit(&r, "", 0), 0);
	r = ckpt_rd_init("\x01", 1);
	CHECK_EQ(ckpt_rd_u16le(&r, &v), CKPT_ECORRUPT);
	CHECK_EQ(r.left, 1);
}

static void test_buf__varint_round_trip(void)
{
	struct ckpt_buf b = CKPT_BUF_INIT;
	uint64_t vals[] = { 0, 1, 127, 128, 16383, 16384, 1ull << 35, UINT64_MAX };

	for (size_t i = 0; i < 8; i++)
		ckpt_buf_varint(&b, vals[i]);
	CHECK_EQ(ckpt_buf_finish(&b), 0);
	{
		struct ckpt_rd r = ckpt_rd_init(b.p, b.len);

		for (size_t i = 0; i < 8; i++) {
			uint64_t v;

			CHECK_EQ(ckpt_rd_varint(&r, &v), 0);
			CHECK(v == vals[i]);
		}
		CHECK_EQ(r.left, 0);
	}
	ckpt_buf_release(&b);
}

static uint32_t crc_bitwise(const unsigned char *p, size_t n)
{
	uint32_t c = 0xFFFFFFFF;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (c & 1 ? 0x82F63B78 : 0);
	}
	return c ^ 0xFFFFFFFF;
}

static void test_crc32c__vectors(void)
{
	unsigned char big[4099];

	CHECK(ckpt_crc32c(0, "123456789", 9) == 0xE3069283u);
	CHECK(ckpt_crc32c(0, "", 0) == 0);
	/* the index CRC of the real zarr3 shard of int32[8] (FORMAT-ocdbt-zarr.md 13.2) */
	CHECK(ckpt_crc32c(0, "\0\0\0\0\0\0\0\0\x29\0\0\0\0\0\0\0", 16) == 0x4477868Eu);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7 + 3);
	CHECK(ckpt_crc32c(0, big, sizeof(big)) == crc_bitwise(big, sizeof(big)));
	CHECK(ckpt_crc32c(ckpt_crc32c(0, big, 1000), big + 1000, sizeof(big) - 1000) ==
	      ckpt_crc32c(0, big, sizeof(big)));
}

int main(void)
{
	RUN(test_rd__varints);
	RUN(test_rd__bad_varints);
	RUN(test_rd__fixed_and_counts);
	RUN(test_rd__peek_u16_literals);
	RUN(test_buf__varint_round_trip);
	RUN(test_crc32c__vectors);
	DONE();
}
