/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_codec.c - the codec table (codec.h): every codec round-trips,
 * frames python3-numcodecs wrote decode to the known answer, unknown
 * codecs and corrupt input are refused by name.
 */
#include "codec.h"
#include "harness.h"

#include <blosc.h>
#include <errno.h>
#include <jansson.h>

/* numcodecs 0.11: Blosc('lz4', 5, SHUFFLE).encode(np.arange(64, dtype='<i4')) */
static const uint8_t kat_blosc_lz4[104] = {
	0x02, 0x01, 0x31, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x68, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00,
	0xff, 0x36, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
	0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21,
	0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d,
	0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
	0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
	0x00, 0xa3, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* numcodecs 0.11: Blosc('zstd', 3, BITSHUFFLE).encode(np.arange(64, dtype='<i4')) */
static const uint8_t kat_blosc_zstd_bit[62] = {
	0x02, 0x01, 0x94, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x3e, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x26, 0x00, 0x00, 0x00,
	0x28, 0xb5, 0x2f, 0xfd, 0x60, 0x00, 0x00, 0xe5, 0x00, 0x00, 0x38, 0xaa,
	0xcc, 0xf0, 0x00, 0xff, 0x00, 0xff, 0x08, 0x20, 0xa0, 0x82, 0xf7, 0x49,
	0x50, 0xd8, 0x03, 0x11, 0xc0, 0x66, 0xdc, 0x8c, 0x64, 0x36, 0x0b, 0x99,
	0xbf, 0x02,
};

/* numcodecs 0.11: Blosc('blosclz', 9, SHUFFLE, blocksize=64).encode(np.arange(64, dtype='<i4')):
 * two 128-byte blocks */
static const uint8_t kat_blosc_blosclz_blocks[114] = {
	0x02, 0x01, 0x11, 0x04, 0x00, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,
	0x72, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x00,
	0x29, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
	0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
	0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e,
	0x1f, 0x00, 0x00, 0xe0, 0x54, 0x00, 0x01, 0x00, 0x00, 0x29, 0x00, 0x00,
	0x00, 0x3f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29,
	0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
	0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x00, 0x00,
	0xe0, 0x54, 0x00, 0x01, 0x00, 0x00,
};

/* numcodecs 0.11: Blosc('blosclz', 9, NOSHUFFLE).encode(np.arange(64, dtype='<i4')): stored */
static const uint8_t kat_blosc_stored[272] = {
	0x02, 0x01, 0x12, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
	0x05, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00,
	0x0b, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x00, 0x00,
	0x0e, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
	0x11, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x13, 0x00, 0x00, 0x00,
	0x14, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00,
	0x17, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x19, 0x00, 0x00, 0x00,
	0x1a, 0x00, 0x00, 0x00, 0x1b, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00,
	0x1d, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00,
	0x20, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00,
	0x23, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x25, 0x00, 0x00, 0x00,
	0x26, 0x00, 0x00, 0x00, 0x27, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00,
	0x29, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00,
	0x2c, 0x00, 0x00, 0x00, 0x2d, 0x00, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00,
	0x2f, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x31, 0x00, 0x00, 0x00,
	0x32, 0x00, 0x00, 0x00, 0x33, 0x00, 0x00, 0x00, 0x34, 0x00, 0x00, 0x00,
	0x35, 0x00, 0x00, 0x00, 0x36, 0x00, 0x00, 0x00, 0x37, 0x00, 0x00, 0x00,
	0x38, 0x00, 0x00, 0x00, 0x39, 0x00, 0x00, 0x00, 0x3a, 0x00, 0x00, 0x00,
	0x3b, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x3d, 0x00, 0x00, 0x00,
	0x3e, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00,
};

/* numcodecs 0.11: BZ2(1).encode(np.arange(64, dtype='<i4')) */
static const uint8_t kat_bz2[121] = {
	0x42, 0x5a, 0x68, 0x31, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59, 0xe3, 0x92,
	0xb7, 0x67, 0x00, 0x00, 0x01, 0xf8, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xa0, 0x00, 0x54, 0x56, 0xa0, 0x26, 0x02, 0x30, 0x4c,
	0x01, 0x34, 0xc9, 0xa6, 0x04, 0xc9, 0x84, 0xc4, 0xc0, 0x39, 0x80, 0x02,
	0x60, 0x00, 0x26, 0x00, 0x00, 0x00, 0x00, 0x78, 0x07, 0xdf, 0x80, 0x84,
	0x18, 0x82, 0x8c, 0x39, 0x04, 0x94, 0x59, 0x9f, 0x8d, 0x38, 0xf4, 0x11,
	0x49, 0x35, 0x15, 0x59, 0x76, 0x19, 0x69, 0xbf, 0xee, 0x3a, 0xf3, 0xf0,
	0x43, 0x14, 0x72, 0x4b, 0x34, 0xf4, 0x53, 0x55, 0x76, 0x59, 0xf6, 0xdb,
	0xaf, 0xc3, 0xf6, 0x39, 0x67, 0xff, 0x4d, 0x76, 0xdf, 0x8d, 0xc0, 0x40,
	0x00, 0x02, 0xe4, 0x5d, 0xc9, 0x14, 0xe1, 0x42, 0x43, 0x8e, 0x4a, 0xdd,
	0x9c,
};

static void arange(uint8_t *out, int n)
{
	for (int i = 0; i < n; i++) {
		out[4 * i] = (uint8_t)i;
		out[4 * i + 1] = out[4 * i + 2] = out[4 * i + 3] = 0;
	}
}

static int v2(const char *js, const char *dtype, struct ckpt_codec_cfg *c, struct ckpt_err *err)
{
	json_t *j = json_loads(js, 0, NULL);
	struct ckpt_dtype dt;
	int rc;

	ckpt_err_clear(err);
	if (!j || ckpt_dtype_from_v2(&dt, dtype) < 0)
		return -99;
	rc = ckpt_codec_from_v2(j, &dt, c, err);
	json_decref(j);
	return rc;
}

static int v3(const char *name, const char *cfg, struct ckpt_codec_cfg *c, struct ckpt_err *err)
{
	json_t *j = cfg ? json_loads(cfg, 0, NULL) : NULL;
	struct ckpt_dtype dt;
	int rc;

	ckpt_err_clear(err);
	ckpt_dtype_from_name(&dt, "float32");
	rc = ckpt_codec_from_v3(name, j, &dt, c, err);
	json_decref(j);
	return rc;
}

static void test_codec__known_answers(void)
{
	static const struct {
		const uint8_t *p;
		size_t n;
		enum ckpt_comp id;
	} kat[] = {
		{ kat_blosc_lz4, sizeof(kat_blosc_lz4), CKPT_COMP_BLOSC },
		{ kat_blosc_zstd_bit, sizeof(kat_blosc_zstd_bit), CKPT_COMP_BLOSC },
		{ kat_blosc_blosclz_blocks, sizeof(kat_blosc_blosclz_blocks), CKPT_COMP_BLOSC },
		{ kat_blosc_stored, sizeof(kat_blosc_stored), CKPT_COMP_BLOSC },
		{ kat_bz2, sizeof(kat_bz2), CKPT_COMP_BZ2 },
	};
	uint8_t want[256], got[256], *o;
	struct ckpt_err err = { 0, "" };
	size_t on;

	arange(want, 64);
	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		memset(got, 0xee, sizeof(got));
		CHECK_EQ(ckpt_codec_decode_into(kat[i].id, kat[i].p, kat[i].n, got, 256, &err), 0);
		CHECK(!memcmp(got, want, 256));
		CHECK_EQ(ckpt_codec_decode_alloc(kat[i].id, kat[i].p, kat[i].n, 1 << 20, &o, &on, &err), 0);
		CHECK(on == 256 && !memcmp(o, want, 256));
		free(o);
		/* a wrong expected size, and a limit below the frame's size */
		CHECK_EQ(ckpt_codec_decode_into(kat[i].id, kat[i].p, kat[i].n, got, 255, &err),
			 CKPT_ECORRUPT);
		CHECK(ckpt_codec_decode_alloc(kat[i].id, kat[i].p, kat[i].n, 100, &o, &on, &err) < 0);
	}
}

/* every codec of the table, configured as zarr metadata names it, round-trips */
static void test_codec__round_trips(void)
{
	static const char *const v2cfg[] = {
		"{\"id\":\"zstd\",\"level\":3}",
		"{\"id\":\"zlib\",\"level\":6}",
		"{\"id\":\"gzip\",\"level\":1}",
		"{\"id\":\"bz2\",\"level\":9}",
		"{\"id\":\"blosc\",\"cname\":\"lz4\",\"clevel\":5,\"shuffle\":1,\"blocksize\":0}",
		"{\"id\":\"blosc\",\"cname\":\"lz4hc\",\"clevel\":9,\"shuffle\":0,\"blocksize\":0}",
		"{\"id\":\"blosc\",\"cname\":\"blosclz\",\"clevel\":5,\"shuffle\":2,\"blocksize\":0}",
		"{\"id\":\"blosc\",\"cname\":\"zstd\",\"clevel\":3,\"shuffle\":1,\"blocksize\":4096}",
		"{\"id\":\"blosc\",\"cname\":\"zlib\",\"clevel\":1,\"shuffle\":-1,\"blocksize\":0}",
	};
	size_t n = 100000;
	uint8_t *src = malloc(n), *dst = malloc(n), *enc, *o;
	struct ckpt_err err = { 0, "" };
	struct ckpt_codec_cfg c;
	size_t en, on;

	for (size_t i = 0; i < n; i++)
		src[i] = (uint8_t)((i % 4 == 0) ? i / 4 : i % 7);
	for (size_t k = 0; k < sizeof(v2cfg) / sizeof(v2cfg[0]); k++) {
		CHECK_EQ(v2(v2cfg[k], "<f4", &c, &err), 0);
		CHECK(ckpt_codec_encodes(c.id));
		CHECK_EQ(ckpt_codec_encode(&c, src, n, &enc, &en), 0);
		CHECK(en < n);
		memset(dst, 0, n);
		CHECK_EQ(ckpt_codec_decode_into(c.id, enc, en, dst, n, &err), 0);
		CHECK(!memcmp(src, dst, n));
		CHECK_EQ(ckpt_codec_decode_alloc(c.id, enc, en, n, &o, &on, &err), 0);
		CHECK(on == n && !memcmp(src, o, n));
		free(o);
		/* truncated: refused, never read past the end */
		CHECK(ckpt_codec_decode_into(c.id, enc, en / 2, dst, n, &err) < 0);
		free(enc);
	}
	/* snappy when this libblosc has it */
	if (blosc_compname_to_compcode("snappy") >= 0) {
		CHECK_EQ(v2("{\"id\":\"blosc\",\"cname\":\"snappy\",\"clevel\":5,\"shuffle\":1}", "<i8",
			    &c, &err), 0);
		CHECK_EQ(ckpt_codec_encode(&c, src, n, &enc, &en), 0);
		CHECK_EQ(ckpt_codec_decode_into(c.id, enc, en, dst, n, &err), 0);
		CHECK(!memcmp(src, dst, n));
		free(enc);
	}
	/* empty input */
	CHECK_EQ(v2("{\"id\":\"blosc\",\"cname\":\"lz4\",\"clevel\":5,\"shuffle\":1}", "<f4", &c, &err), 0);
	CHECK_EQ(ckpt_codec_encode(&c, src, 0, &enc, &en), 0);
	CHECK_EQ(ckpt_codec_decode_into(c.id, enc, en, dst, 0, &err), 0);
	free(enc);
	free(src);
	free(dst);
}

static void test_codec__configurations(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_codec_cfg c;

	/* v2 blosc: typesize is the item size; shuffle -1 is bit shuffle for one-byte items */
	CHECK_EQ(v2("{\"id\":\"blosc\",\"cname\":\"zstd\",\"clevel\":7,\"shuffle\":-1,\"blocksize\":0}",
		    "<f8", &c, &err), 0);
	CHECK(c.id == CKPT_COMP_BLOSC && !strcmp(c.cname, "zstd") && c.level == 7);
	CHECK_EQ(c.typesize, 8);
	CHECK_EQ(c.shuffle, BLOSC_SHUFFLE);
	CHECK_EQ(v2("{\"id\":\"blosc\",\"cname\":\"lz4\",\"clevel\":5,\"shuffle\":-1}", "|u1", &c, &err), 0);
	CHECK_EQ(c.shuffle, BLOSC_BITSHUFFLE);
	CHECK_EQ(v2("{\"id\":\"bz2\",\"level\":4}", "<f4", &c, &err), 0);
	CHECK(c.id == CKPT_COMP_BZ2 && c.level == 4);
	/* v3 names */
	CHECK_EQ(v3("blosc", "{\"cname\":\"lz4\",\"clevel\":5,\"shuffle\":\"bitshuffle\",\"typesize\":4,"
			     "\"blocksize\":0}", &c, &err), 0);
	CHECK(c.id == CKPT_COMP_BLOSC && c.shuffle == BLOSC_BITSHUFFLE && c.typesize == 4);
	CHECK_EQ(v3("blosc", "{\"cname\":\"lz4\",\"shuffle\":\"noshuffle\"}", &c, &err), 0);
	CHECK_EQ(c.shuffle, BLOSC_NOSHUFFLE);
	CHECK_EQ(v3("zstd", "{\"level\":3,\"checksum\":false}", &c, &err), 0);
	CHECK(c.id == CKPT_COMP_ZSTD && c.level == 3);
	CHECK_EQ(v3("gzip", "{\"level\":5}", &c, &err), 0);
	CHECK(c.id == CKPT_COMP_GZIP);
	CHECK_EQ(v3("crc32c", NULL, &c, &err), 0);
	CHECK(c.id == CKPT_COMP_CRC32C && !ckpt_codec_encodes(c.id) && !ckpt_codec_streams(c.id));
	CHECK_EQ(v3("numcodecs.bz2", "{\"level\":2}", &c, &err), 0);
	CHECK(c.id == CKPT_COMP_BZ2);
	CHECK(ckpt_codec_streams(CKPT_COMP_BZ2) && !ckpt_codec_streams(CKPT_COMP_BLOSC));
	/* unknown names and bad configurations are refused by name */
	CHECK_EQ(v2("{\"id\":\"lzma\",\"preset\":1}", "<f4", &c, &err), -ENOTSUP);
	CHECK(strstr(err.msg, "compressor 'lzma' is not supported") && strstr(err.msg, "blosc"));
	CHECK_EQ(v2("{\"cname\":\"lz4\"}", "<f4", &c, &err), CKPT_ECORRUPT);
	CHECK_EQ(v3("lzma", NULL, &c, &err), -ENOENT);
	CHECK_EQ(v3("transpose", NULL, &c, &err), -ENOENT);
	CHECK_EQ(v2("{\"id\":\"blosc\",\"cname\":\"nope\",\"clevel\":5,\"shuffle\":1}", "<f4", &c, &err),
		 -ENOTSUP);
	CHECK(strstr(err.msg, "'nope'") != NULL);
	CHECK_EQ(v2("{\"id\":\"blosc\",\"cname\":\"lz4\",\"clevel\":15,\"shuffle\":1}", "<f4", &c, &err),
		 CKPT_ECORRUPT);
	CHECK_EQ(v2("{\"id\":\"blosc\",\"cname\":\"lz4\",\"clevel\":5,\"shuffle\":3}", "<f4", &c, &err),
		 CKPT_ECORRUPT);
	CHECK_EQ(v3("blosc", "{\"cname\":\"lz4\",\"shuffle\":\"sideways\"}", &c, &err), CKPT_ECORRUPT);
	CHECK_EQ(v3("blosc", "[1]", &c, &err), CKPT_ECORRUPT);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* every field of a blosc frame header is checked against the buffer */
static void test_codec__corrupt_blosc(void)
{
	uint8_t f[sizeof(kat_blosc_blosclz_blocks)], out[256];
	struct ckpt_err err = { 0, "" };
	size_t n = sizeof(f), nb;

#define RESET() memcpy(f, kat_blosc_blosclz_blocks, n)
#define DEC() (ckpt_err_clear(&err), ckpt_codec_decode_into(CKPT_COMP_BLOSC, f, n, out, 256, &err))
	RESET();
	CHECK_EQ(ckpt_blosc_check(f, n, 256, 256, &nb, &err), 0);
	CHECK_EQ(nb, 256);
	CHECK_EQ(ckpt_codec_decode_into(CKPT_COMP_BLOSC, f, 10, out, 256, &err), CKPT_ECORRUPT);
	CHECK(!(f[2] & BLOSC_MEMCPYED)); /* compressed blocks, not stored */
	CHECK(strstr(err.msg, "shorter than its 16-byte header") != NULL);
	put32(f + 12, (uint32_t)n + 1); /* compressed size beyond the buffer */
	CHECK_EQ(DEC(), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "compressed bytes") != NULL);
	RESET();
	put32(f + 4, 0xfffffff0u); /* decoded size: overflow territory */
	CHECK_EQ(DEC(), CKPT_ECORRUPT);
	{
		uint8_t *o = NULL;

		ckpt_err_clear(&err);
		CHECK_EQ(ckpt_codec_decode_alloc(CKPT_COMP_BLOSC, f, n, SIZE_MAX, &o, &nb, &err),
			 CKPT_ECORRUPT);
		CHECK(o == NULL);
	}
	RESET();
	put32(f + 4, 512); /* more than the chunk */
	CHECK_EQ(DEC(), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "expected 256") != NULL);
	RESET();
	put32(f + 8, 0); /* block size 0 */
	CHECK_EQ(DEC(), CKPT_ECORRUPT);
	RESET();
	put32(f + 8, 1); /* 256 blocks: their starts do not fit */
	CHECK_EQ(DEC(), CKPT_ECORRUPT);
	RESET();
	put32(f + 16 + 4, (uint32_t)n); /* block 1 starts at the end */
	CHECK_EQ(DEC(), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "block 1 starts at") != NULL);
	RESET();
	f[2] |= BLOSC_MEMCPYED; /* "stored" but the sizes disagree */
	CHECK_EQ(DEC(), CKPT_ECORRUPT);
	RESET();
	f[0] = 9; /* unknown format version */
	CHECK_EQ(DEC(), CKPT_ECORRUPT);
	/* every single-byte change: an error or 256 bytes, never a crash */
	for (size_t i = 0; i < n; i++) {
		for (int v = 0; v < 256; v += 51) {
			RESET();
			f[i] = (uint8_t)(f[i] ^ (v | 1));
			(void)DEC();
		}
	}
	/* a stored frame: its size must be exactly header + data */
	CHECK_EQ(ckpt_codec_decode_into(CKPT_COMP_BLOSC, kat_blosc_stored, sizeof(kat_blosc_stored) - 1,
					out, 256, &err), CKPT_ECORRUPT);
#undef DEC
#undef RESET
}

static void test_codec__corrupt_bz2(void)
{
	uint8_t f[sizeof(kat_bz2)], out[256];
	struct ckpt_err err = { 0, "" };

	memcpy(f, kat_bz2, sizeof(f));
	f[40] ^= 0x10;
	ckpt_err_clear(&err);
	CHECK(ckpt_codec_decode_into(CKPT_COMP_BZ2, f, sizeof(f), out, 256, &err) < 0);
	CHECK(strstr(err.msg, "bz2") != NULL);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_codec_decode_into(CKPT_COMP_BZ2, kat_bz2, sizeof(kat_bz2) - 5, out, 256, &err),
		 CKPT_ECORRUPT);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_codec_decode_into(CKPT_COMP_BZ2, "BZh9", 4, out, 256, &err), CKPT_ECORRUPT);
	/* two concatenated streams decode as one (as Python's bz2 does) */
	{
		uint8_t two[2 * sizeof(kat_bz2)], big[512], want[256];

		memcpy(two, kat_bz2, sizeof(kat_bz2));
		memcpy(two + sizeof(kat_bz2), kat_bz2, sizeof(kat_bz2));
		arange(want, 64);
		ckpt_err_clear(&err);
	CHECK_EQ(ckpt_codec_decode_into(CKPT_COMP_BZ2, two, sizeof(two), big, 512, &err), 0);
		CHECK(!memcmp(big, want, 256) && !memcmp(big + 256, want, 256));
	}
	/* not a decoder */
	CHECK_EQ(ckpt_codec_decode_into(CKPT_COMP_CRC32C, kat_bz2, 8, out, 8, &err), -EINVAL);
}

int main(void)
{
	RUN(test_codec__known_answers);
	RUN(test_codec__round_trips);
	RUN(test_codec__configurations);
	RUN(test_codec__corrupt_blosc);
	RUN(test_codec__corrupt_bz2);
	DONE();
}
