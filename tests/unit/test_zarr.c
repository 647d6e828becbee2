/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_zarr.c - zarr metadata, dtypes, fill values, chunk keys, codec
 * chains, n-d copies and decompression limits.  argv[1]: tests/fixtures/real
 */
#include "cache.h"
#include "compress.h"
#include "crc32c.h"
#include "harness.h"
#include "ndcopy.h"
#include "readahead.h"
#include "util.h"
#include "store.h"
#include "zarr.h"
#include "zarr_codec.h"
#include "zarr_meta.h"
#include "zarr_write.h"

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static struct ckpt_limits lim = CKPT_LIMITS_DEFAULT;

static int parse(struct ckpt_zarr_meta *m, const char *json, struct ckpt_err *err)
{
	ckpt_err_clear(err);
	return ckpt_zarr_meta_parse(m, json, strlen(json), &lim, err);
}

static void test_zarr__real_v2_metadata(void)
{
	struct ckpt_zarr_meta m;
	struct ckpt_err err = { 0, "" };
	char key[64];
	uint64_t idx[1] = { 0 };

	CHECK_EQ(parse(&m, "{\"chunks\":[8],\"compressor\":{\"id\":\"zstd\",\"level\":1},"
			   "\"dimension_separator\":\".\",\"dtype\":\"<i4\",\"fill_value\":null,"
			   "\"filters\":null,\"order\":\"C\",\"shape\":[8],\"zarr_format\":2}",
		       &err),
		 0);
	CHECK_EQ(m.format, 2);
	CHECK_EQ(m.rank, 1);
	CHECK_EQ(m.shape[0], 8);
	CHECK_EQ(m.nbytes, 32);
	CHECK(!strcmp(m.dtype.name, "int32"));
	CHECK(m.fill_null);
	CHECK_EQ(m.chain.n_b2b, 1);
	CHECK_EQ(m.chain.b2b[0].id, CKPT_COMP_ZSTD);
	CHECK_EQ(m.chain.b2b[0].level, 1);
	ckpt_zarr_chunk_key(&m, idx, key, sizeof(key));
	CHECK(!strcmp(key, "0"));
	ckpt_zarr_meta_release(&m);
}

static void test_zarr__real_v3_metadata(void)
{
	struct ckpt_zarr_meta m;
	struct ckpt_err err = { 0, "" };
	char key[64];
	uint64_t idx[2] = { 1, 2 };

	CHECK_EQ(parse(&m, "{\"chunk_grid\":{\"configuration\":{\"chunk_shape\":[8]},\"name\":\"regular\"},"
			   "\"chunk_key_encoding\":{\"name\":\"default\"},\"codecs\":[{\"configuration\":"
			   "{\"chunk_shape\":[8],\"codecs\":[{\"configuration\":{\"endian\":\"little\"},"
			   "\"name\":\"bytes\"},{\"configuration\":{\"checksum\":false,\"level\":3},\"name\":"
			   "\"zstd\"}],\"index_codecs\":[{\"configuration\":{\"endian\":\"little\"},\"name\":"
			   "\"bytes\"},{\"name\":\"crc32c\"}]},\"name\":\"sharding_indexed\"}],\"data_type\":"
			   "\"int32\",\"fill_value\":0,\"node_type\":\"array\",\"shape\":[8],\"zarr_format\":3}",
		       &err),
		 0);
	CHECK_EQ(m.format, 3);
	CHECK(m.chain.shard != NULL);
	CHECK(m.chain.shard && m.chain.shard->index_crc32c && !m.chain.shard->index_at_start);
	CHECK(m.chain.shard && m.chain.shard->codecs.n_b2b == 1);
	CHECK(m.key_c_prefix);
	m.rank = 2; /* key layout only */
	ckpt_zarr_chunk_key(&m, idx, key, sizeof(key));
	CHECK(!strcmp(key, "c/1/2"));
	m.rank = 0;
	ckpt_zarr_chunk_key(&m, idx, key, sizeof(key));
	CHECK(!strcmp(key, "c"));
	m.rank = 1;
	ckpt_zarr_meta_release(&m);
}

static void test_zarr__dtypes(void)
{
	static const struct {
		const char *v2, *name;
		unsigned size;
		bool be;
	} t[] = {
		{ "|b1", "bool", 1, false },       { "<i8", "int64", 8, false },
		{ ">i4", "int32", 4, true },       { "<u2", "uint16", 2, false },
		{ "<f2", "float16", 2, false },    { ">f8", "float64", 8, true },
		{ "<c8", "complex64", 8, false },  { "<c16", "complex128", 16, false },
		{ "bfloat16", "bfloat16", 2, false }, { "float8_e4m3fn", "float8_e4m3fn", 1, false },
		{ "float8_e5m2fnuz", "float8_e5m2fnuz", 1, false }, { "int4", "int4", 1, false },
		{ "int2", "int2", 1, false },      { "|V3", "V3", 3, false },
	};
	struct ckpt_dtype dt;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK_EQ(ckpt_dtype_from_v2(&dt, t[i].v2), 0);
		CHECK(!strcmp(dt.name, t[i].name));
		CHECK_EQ(dt.itemsize, t[i].size);
		CHECK_EQ(dt.big_endian, t[i].be);
	}
	CHECK_EQ(ckpt_dtype_from_v2(&dt, "<M8[ns]"), -ENOTSUP);
	CHECK_EQ(ckpt_dtype_from_v2(&dt, "object"), -ENOTSUP);
	CHECK_EQ(ckpt_dtype_from_v3(&dt, "r24"), 0);
	CHECK_EQ(dt.itemsize, 3);
	CHECK_EQ(ckpt_dtype_from_v3(&dt, "r7"), -ENOTSUP);
	/* byte order */
	{
		unsigned char v[8] = { 0, 0, 0, 1, 0, 0, 0, 2 };

		ckpt_dtype_from_v2(&dt, ">i4");
		ckpt_dtype_to_le(&dt, v, 2);
		CHECK(!memcmp(v, "\x01\0\0\0\x02\0\0\0", 8));
	}
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void test_zarr__fill_values(void)
{
	struct ckpt_zarr_meta m;
	struct ckpt_err err = { 0, "" };
	char j[512];
	static const struct {
		const char *dtype, *fill;
		uint32_t bits;
	} t[] = {
		{ "<f4", "\"NaN\"", 0x7fc00000 },     { "<f4", "\"-Infinity\"", 0xff800000 },
		{ "<f2", "\"Infinity\"", 0x7c00 },    { "<f2", "1.5", 0x3e00 },
		{ "bfloat16", "1.0", 0x3f80 },        { "bfloat16", "-2.0", 0xc000 },
		{ "<i4", "-7", 0xfffffff9 },          { "|u1", "255", 0xff },
		{ "|b1", "true", 1 },                 { "<f4", "-0.0", 0x80000000 },
		{ "float8_e4m3fn", "1.0", 0x38 },     { "float8_e5m2", "-1.0", 0xbc },
		{ "float8_e4m3fn", "\"NaN\"", 0x7f },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(j, sizeof(j),
			 "{\"chunks\":[2],\"compressor\":null,\"dtype\":\"%s\",\"fill_value\":%s,"
			 "\"filters\":null,\"order\":\"C\",\"shape\":[4],\"zarr_format\":2}",
			 t[i].dtype, t[i].fill);
		CHECK_EQ(parse(&m, j, &err), 0);
		if (le32(m.fill) != t[i].bits)
			printf("#   fill %s as %s: 0x%x, expected 0x%x\n", t[i].fill, t[i].dtype,
			       le32(m.fill), t[i].bits);
		CHECK(le32(m.fill) == t[i].bits);
		ckpt_zarr_meta_release(&m);
	}
	/* v3: raw hex bits, complex pairs */
	CHECK_EQ(parse(&m, "{\"zarr_format\":3,\"node_type\":\"array\",\"shape\":[2],\"data_type\":"
			   "\"float32\",\"chunk_grid\":{\"name\":\"regular\",\"configuration\":{\"chunk_shape\":[2]}},"
			   "\"codecs\":[{\"name\":\"bytes\"}],\"fill_value\":\"0x7fc00001\"}",
		       &err),
		 0);
	CHECK(le32(m.fill) == 0x7fc00001);
	ckpt_zarr_meta_release(&m);
	CHECK_EQ(parse(&m, "{\"chunks\":[2],\"compressor\":null,\"dtype\":\"<c8\",\"fill_value\":[1.0,-2.0],"
			   "\"filters\":null,\"order\":\"C\",\"shape\":[4],\"zarr_format\":2}",
		       &err),
		 0);
	CHECK(le32(m.fill) == 0x3f800000 && le32(m.fill + 4) == 0xc0000000);
	ckpt_zarr_meta_release(&m);
}

static void test_zarr__errors_name_the_problem(void)
{
	struct ckpt_zarr_meta m;
	struct ckpt_err err = { 0, "" };

	CHECK_EQ(parse(&m, "{\"chunks\":[2],\"compressor\":{\"id\":\"lzma\"},\"dtype\":\"<f4\","
			   "\"fill_value\":0,\"filters\":null,\"order\":\"C\",\"shape\":[4],\"zarr_format\":2}",
		       &err),
		 -ENOTSUP);
	CHECK(strstr(err.msg, "lzma") != NULL);
	CHECK_EQ(parse(&m, "{\"chunks\":[2],\"compressor\":null,\"dtype\":[[\"a\",\"<f4\"]],"
			   "\"fill_value\":0,\"filters\":null,\"order\":\"C\",\"shape\":[4],\"zarr_format\":2}",
		       &err),
		 -ENOTSUP);
	CHECK_EQ(parse(&m, "{\"chunks\":[2],\"compressor\":null,\"dtype\":\"<f4\",\"fill_value\":0,"
			   "\"filters\":[{\"id\":\"delta\"}],\"order\":\"C\",\"shape\":[4],\"zarr_format\":2}",
		       &err),
		 -ENOTSUP);
	CHECK(strstr(err.msg, "delta") != NULL);
	CHECK_EQ(parse(&m, "{\"zarr_format\":2, \"shape\": [", &err), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "invalid JSON") != NULL);
	CHECK_EQ(parse(&m, "{\"chunks\":[0],\"compressor\":null,\"dtype\":\"<f4\",\"fill_value\":0,"
			   "\"filters\":null,\"order\":\"C\",\"shape\":[4],\"zarr_format\":2}",
		       &err),
		 CKPT_ECORRUPT);
	/* a shape whose byte size overflows 64 bits */
	CHECK_EQ(parse(&m, "{\"chunks\":[1,1],\"compressor\":null,\"dtype\":\"<f8\",\"fill_value\":0,"
			   "\"filters\":null,\"order\":\"C\",\"shape\":[4294967296,4294967296],\"zarr_format\":2}",
		       &err),
		 -EFBIG);
	CHECK_EQ(parse(&m, "{\"zarr_format\":3,\"node_type\":\"array\",\"shape\":[2],\"data_type\":"
			   "\"float32\",\"chunk_grid\":{\"name\":\"regular\",\"configuration\":{\"chunk_shape\":[2]}},"
			   "\"codecs\":[{\"name\":\"bytes\"},{\"name\":\"lzma\"}],\"fill_value\":0}",
		       &err),
		 -ENOTSUP);
	CHECK(strstr(err.msg, "'lzma'") != NULL);
}

static void test_codec__chains(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_zarr_meta m;
	int32_t vals[6] = { 1, 2, 3, 4, 5, 6 }, out[6];
	uint8_t *z;
	size_t zn;

	/* F order: the chunk holds columns first */
	CHECK_EQ(parse(&m, "{\"chunks\":[2,3],\"compressor\":{\"id\":\"gzip\",\"level\":5},\"dtype\":\"<i4\","
			   "\"fill_value\":0,\"filters\":null,\"order\":\"F\",\"shape\":[2,3],\"zarr_format\":2}",
		       &err),
		 0);
	{
		int32_t fort[6] = { 1, 4, 2, 5, 3, 6 };

		CHECK_EQ(ckpt_zlib_compress(true, 5, fort, sizeof(fort), &z, &zn), 0);
		CHECK_EQ(ckpt_chain_decode(&m.chain, &m.dtype, m.rank, m.chunk, m.fill, z, zn,
					   (uint8_t *)out, &lim, &err),
			 0);
		CHECK(!memcmp(out, vals, sizeof(vals)));
		/* one byte short: a clear error, no crash */
		CHECK(ckpt_chain_decode(&m.chain, &m.dtype, m.rank, m.chunk, m.fill, z, zn - 1,
					(uint8_t *)out, &lim, &err) < 0);
		free(z);
	}
	ckpt_zarr_meta_release(&m);
	/* bytes + crc32c: a flipped bit is caught */
	CHECK_EQ(parse(&m, "{\"zarr_format\":3,\"node_type\":\"array\",\"shape\":[6],\"data_type\":\"int32\","
			   "\"chunk_grid\":{\"name\":\"regular\",\"configuration\":{\"chunk_shape\":[6]}},"
			   "\"codecs\":[{\"name\":\"bytes\",\"configuration\":{\"endian\":\"big\"}},{\"name\":\"crc32c\"}],"
			   "\"fill_value\":0}",
		       &err),
		 0);
	{
		uint8_t obj[28];

		for (int i = 0; i < 6; i++) {
			obj[4 * i] = 0, obj[4 * i + 1] = 0, obj[4 * i + 2] = 0;
			obj[4 * i + 3] = (uint8_t)vals[i];
		}
		{
			uint32_t c = ckpt_crc32c(0, obj, 24);

			obj[24] = (uint8_t)c, obj[25] = (uint8_t)(c >> 8);
			obj[26] = (uint8_t)(c >> 16), obj[27] = (uint8_t)(c >> 24);
		}
		CHECK_EQ(ckpt_chain_decode(&m.chain, &m.dtype, m.rank, m.chunk, m.fill, obj, 28,
					   (uint8_t *)out, &lim, &err),
			 0);
		CHECK(!memcmp(out, vals, sizeof(vals)));
		obj[5] ^= 1;
		ckpt_err_clear(&err);
		CHECK_EQ(ckpt_chain_decode(&m.chain, &m.dtype, m.rank, m.chunk, m.fill, obj, 28,
					   (uint8_t *)out, &lim, &err),
			 CKPT_ECORRUPT);
		CHECK(strstr(err.msg, "crc32c") != NULL);
	}
	ckpt_zarr_meta_release(&m);
}

static void test_codec__decompression_limits(void)
{
	struct ckpt_err err = { 0, "" };
	size_t big = 64 << 20, zn, on;
	uint8_t *zeros = calloc(1, big), *z, *o = NULL;

	/* 64 MiB of zeros compress to a few KiB: the cap stops the expansion */
	CHECK_EQ(ckpt_zstd_compress(3, zeros, big, &z, &zn), 0);
	CHECK(zn < 65536);
	CHECK_EQ(ckpt_decompress_alloc(CKPT_COMP_ZSTD, z, zn, 1 << 20, &o, &on, &err), -EFBIG);
	free(o);
	free(z);
	/* a frame without a content size (streamed), capped as well */
	CHECK_EQ(ckpt_zstd_compress_hinted(1, zeros, big, &z, &zn), 0);
	ckpt_err_clear(&err);
	o = NULL;
	CHECK_EQ(ckpt_decompress_alloc(CKPT_COMP_ZSTD, z, zn, 1 << 20, &o, &on, &err), -EFBIG);
	free(o);
	/* and decoding into a buffer of the expected size reports a size mismatch */
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_decompress_into(CKPT_COMP_ZSTD, z, zn, zeros, 4096, &err), CKPT_ECORRUPT);
	free(z);
	CHECK_EQ(ckpt_zlib_compress(false, 1, zeros, big, &z, &zn), 0);
	ckpt_err_clear(&err);
	o = NULL;
	CHECK_EQ(ckpt_decompress_alloc(CKPT_COMP_ZLIB, z, zn, 1 << 20, &o, &on, &err), -EFBIG);
	free(o);
	free(z);
	free(zeros);
}

/* zarr v3 blosc inside a shard (two inner chunks, one missing) and v2 bz2, through the chain */
static void test_codec__blosc_and_bz2_chains(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_zarr_meta m;
	int32_t vals[12], out[12];
	uint8_t shard[1024], *z;
	size_t zn, at = 0;

	for (int i = 0; i < 12; i++)
		vals[i] = i * 1000;
	CHECK_EQ(parse(&m, "{\"zarr_format\":3,\"node_type\":\"array\",\"shape\":[12],\"data_type\":"
			   "\"int32\",\"chunk_grid\":{\"name\":\"regular\",\"configuration\":{\"chunk_shape\":[12]}},"
			   "\"fill_value\":7,\"codecs\":[{\"name\":\"sharding_indexed\",\"configuration\":{"
			   "\"chunk_shape\":[4],\"codecs\":[{\"name\":\"bytes\",\"configuration\":{\"endian\":"
			   "\"little\"}},{\"name\":\"blosc\",\"configuration\":{\"cname\":\"lz4\",\"clevel\":5,"
			   "\"shuffle\":\"shuffle\",\"typesize\":4,\"blocksize\":0}}],\"index_codecs\":[{\"name\":"
			   "\"bytes\",\"configuration\":{\"endian\":\"little\"}},{\"name\":\"crc32c\"}]}}]}",
		       &err),
		 0);
	CHECK(m.chain.shard && m.chain.shard->codecs.n_b2b == 1);
	CHECK(m.chain.shard->codecs.b2b[0].id == CKPT_COMP_BLOSC);
	for (int k = 0; k < 3; k += 2) { /* inner chunks 0 and 2; 1 is missing */
		CHECK_EQ(ckpt_codec_encode(&m.chain.shard->codecs.b2b[0], vals + 4 * k, 16, &z, &zn), 0);
		memcpy(shard + at, z, zn);
		ckpt_store_le64(shard + 512 + 16 * k, at);
		ckpt_store_le64(shard + 512 + 16 * k + 8, zn);
		at += zn;
		free(z);
	}
	ckpt_store_le64(shard + 512 + 16, UINT64_MAX);
	ckpt_store_le64(shard + 512 + 24, UINT64_MAX);
	ckpt_store_le32(shard + 512 + 48, ckpt_crc32c(0, shard + 512, 48));
	memmove(shard + at, shard + 512, 52);
	CHECK_EQ(ckpt_chain_decode(&m.chain, &m.dtype, m.rank, m.chunk, m.fill, shard, at + 52,
				   (uint8_t *)out, &lim, &err),
		 0);
	CHECK(!memcmp(out, vals, 16) && !memcmp(out + 8, vals + 8, 16));
	CHECK(out[4] == 7 && out[7] == 7);
	/* a corrupt inner frame: an error naming blosc and the inner chunk */
	shard[12] ^= 0x40;
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_chain_decode(&m.chain, &m.dtype, m.rank, m.chunk, m.fill, shard, at + 52,
				   (uint8_t *)out, &lim, &err),
		 CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "inner chunk 0") && strstr(err.msg, "blosc"));
	ckpt_zarr_meta_release(&m);

	CHECK_EQ(parse(&m, "{\"chunks\":[12],\"compressor\":{\"id\":\"bz2\",\"level\":1},\"dtype\":\"<i4\","
			   "\"fill_value\":0,\"filters\":null,\"order\":\"C\",\"shape\":[12],\"zarr_format\":2}",
		       &err),
		 0);
	CHECK_EQ(ckpt_codec_encode(&m.chain.b2b[0], vals, sizeof(vals), &z, &zn), 0);
	CHECK_EQ(ckpt_chain_decode(&m.chain, &m.dtype, m.rank, m.chunk, m.fill, z, zn, (uint8_t *)out,
				   &lim, &err),
		 0);
	CHECK(!memcmp(out, vals, sizeof(vals)));
	free(z);
	ckpt_zarr_meta_release(&m);
}

/* an edit's chunk encoder uses the array's own codec (v2 and a v3 shard), and decodes back */
static void test_codec__chunks_encode_with_the_arrays_codec(void)
{
	static const char *const metas[] = {
		"{\"chunks\":[100],\"compressor\":{\"id\":\"blosc\",\"cname\":\"zstd\",\"clevel\":3,"
		"\"shuffle\":2,\"blocksize\":0},\"dtype\":\"<i4\",\"fill_value\":0,\"filters\":null,"
		"\"order\":\"C\",\"shape\":[100],\"zarr_format\":2}",
		"{\"chunks\":[100],\"compressor\":{\"id\":\"bz2\",\"level\":9},\"dtype\":\"<i4\","
		"\"fill_value\":0,\"filters\":null,\"order\":\"C\",\"shape\":[100],\"zarr_format\":2}",
		"{\"zarr_format\":3,\"node_type\":\"array\",\"shape\":[100],\"data_type\":\"int32\","
		"\"chunk_grid\":{\"name\":\"regular\",\"configuration\":{\"chunk_shape\":[100]}},"
		"\"fill_value\":0,\"codecs\":[{\"name\":\"sharding_indexed\",\"configuration\":{"
		"\"chunk_shape\":[100],\"codecs\":[{\"name\":\"bytes\",\"configuration\":{\"endian\":"
		"\"little\"}},{\"name\":\"blosc\",\"configuration\":{\"cname\":\"lz4\",\"clevel\":5,"
		"\"shuffle\":\"shuffle\",\"typesize\":4,\"blocksize\":0}}],\"index_codecs\":[{\"name\":"
		"\"bytes\",\"configuration\":{\"endian\":\"little\"}},{\"name\":\"crc32c\"}]}}]}",
	};
	struct ckpt_err err = { 0, "" };
	int32_t vals[100], out[100];

	for (int i = 0; i < 100; i++)
		vals[i] = i * i;
	for (size_t k = 0; k < sizeof(metas) / sizeof(metas[0]); k++) {
		const struct ckpt_chain *in;
		struct ckpt_zarr_spec sp;
		struct ckpt_zarr_meta m;
		uint8_t *enc;
		size_t en;

		CHECK_EQ(parse(&m, metas[k], &err), 0);
		in = m.chain.shard ? &m.chain.shard->codecs : &m.chain;
		memset(&sp, 0, sizeof(sp));
		sp.format = m.format;
		sp.dtype = m.dtype;
		sp.rank = m.rank;
		memcpy(sp.shape, m.shape, sizeof(sp.shape));
		memcpy(sp.chunk, m.chunk, sizeof(sp.chunk));
		sp.compress = true;
		sp.codec = in->b2b[0];
		CHECK(ckpt_zarr_spec_own_codec(&sp));
		CHECK_EQ(ckpt_zarr_chunk_encode(&sp, (const uint8_t *)vals, sizeof(vals), &enc, &en), 0);
		if (k == 0)
			CHECK(enc[0] == 2 && (enc[2] & 0x04)); /* a blosc frame, bitshuffled */
		if (k == 1)
			CHECK(!memcmp(enc, "BZh9", 4));
		memset(out, 0, sizeof(out));
		CHECK_EQ(ckpt_chain_decode(&m.chain, &m.dtype, m.rank, m.chunk, m.fill, enc, en,
					   (uint8_t *)out, &lim, &err),
			 0);
		CHECK(!memcmp(out, vals, sizeof(vals)));
		free(enc);
		ckpt_zarr_meta_release(&m);
	}
}

/* the shard index is checked once, against the shard's length */
static void test_codec__shard_index_checked_once(void)
{
	struct ckpt_shard sh = { .inner = { 2 }, .index_crc32c = true };
	uint64_t shape[1] = { 4 }, off, len;
	struct ckpt_err err = { 0, "" };
	uint8_t idx[36];

	CHECK_EQ(ckpt_shard_index_size(&sh, 1, shape), 36);
	ckpt_store_le64(idx, 0);
	ckpt_store_le64(idx + 8, 10);
	ckpt_store_le64(idx + 16, UINT64_MAX); /* missing */
	ckpt_store_le64(idx + 24, UINT64_MAX);
	ckpt_store_le32(idx + 32, ckpt_crc32c(0, idx, 32));
	CHECK_EQ(ckpt_shard_index_check(&sh, idx, 36, 46, &err), 0);
	CHECK(ckpt_shard_index_at(idx, 0, &off, &len) && off == 0 && len == 10);
	CHECK(!ckpt_shard_index_at(idx, 1, &off, &len));
	CHECK_EQ(ckpt_shard_index_check(&sh, idx, 36, 30, &err), CKPT_ECORRUPT); /* index > shard */
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_shard_index_check(&sh, idx, 36, 45, &err), 0); /* 0+10 still fits */
	ckpt_store_le64(idx, 40); /* 40+10 > 46 */
	ckpt_store_le32(idx + 32, ckpt_crc32c(0, idx, 32));
	CHECK_EQ(ckpt_shard_index_check(&sh, idx, 36, 46, &err), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "entry 0") != NULL);
	ckpt_err_clear(&err);
	ckpt_store_le64(idx, UINT64_MAX - 1); /* offset + length overflows */
	ckpt_store_le32(idx + 32, ckpt_crc32c(0, idx, 32));
	CHECK_EQ(ckpt_shard_index_check(&sh, idx, 36, 46, &err), CKPT_ECORRUPT);
	ckpt_err_clear(&err);
	idx[3] ^= 1; /* checksum */
	CHECK_EQ(ckpt_shard_index_check(&sh, idx, 36, 46, &err), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "checksum") != NULL);
	/* an index too large to count overflows to UINT64_MAX, never wraps */
	{
		struct ckpt_shard big = { .inner = { 1, 1, 1 } };
		uint64_t bshape[3] = { 1ull << 30, 1ull << 30, 1ull << 30 };

		CHECK(ckpt_shard_index_size(&big, 3, bshape) == UINT64_MAX);
	}
}

static void test_ndcopy__transpose_and_boxes(void)
{
	uint64_t shape[3] = { 2, 3, 4 };
	uint32_t perm[3] = { 2, 0, 1 };
	int32_t in[24], enc[24], back[24];
	uint64_t dshape[2] = { 4, 5 }, sshape[2] = { 2, 2 }, dor[2] = { 2, 3 }, sor[2] = { 0, 0 },
		 ext[2] = { 2, 2 };
	int32_t dst[20] = { 0 }, src[4] = { 1, 2, 3, 4 };

	for (int i = 0; i < 24; i++)
		in[i] = i;
	ckpt_nd_transpose((uint8_t *)enc, (uint8_t *)in, shape, perm, 3, 4);
	/* enc[k][i][j] = in[i][j][k] with enc shape (4, 2, 3) */
	CHECK_EQ(enc[1 * 6 + 1 * 3 + 2], in[1 * 12 + 2 * 4 + 1]);
	ckpt_nd_untranspose((uint8_t *)back, (uint8_t *)enc, shape, perm, 3, 4);
	CHECK(!memcmp(in, back, sizeof(in)));
	ckpt_nd_copy((uint8_t *)dst, dshape, dor, (uint8_t *)src, sshape, sor, ext, 2, 4);
	CHECK_EQ(dst[2 * 5 + 3], 1);
	CHECK_EQ(dst[3 * 5 + 4], 4);
	CHECK_EQ(dst[0], 0);
}

static uint64_t decoded(struct ckpt_cache *c)
{
	struct ckpt_cache_stats st;

	ckpt_cache_stats(c, &st);
	return st.decoded;
}

/* A streamed chunk read to its end lets its decoder go; a read-ahead job that
 * arrives after that, for a piece the cache has dropped, must not decode the
 * chunk again from its start (it did: 2 GiB decoded for a 1 GiB leaf). */
static void test_stream__late_readahead_after_the_end(void)
{
	enum { N = 1 << 20 }; /* 4 MiB of float32, one chunk */
	char dir[] = "/tmp/ckptfs-test-stream.XXXXXX", path[64];
	float *v = malloc(N * sizeof(*v));
	uint8_t *z = NULL, *buf = malloc(65536);
	size_t zn = 0;
	struct ckpt_cache *cache = NULL;
	struct ckpt_array *a = NULL;
	struct ckpt_err err = { 0, "" };
	struct ckpt_store store = { 0 };
	struct ckpt_array_opts o = { 0 };
	int dfd, fd;
	uint64_t before;

	CHECK(v && buf && mkdtemp(dir));
	for (int i = 0; i < N; i++)
		v[i] = (float)i;
	CHECK_EQ(ckpt_zstd_compress(1, v, N * sizeof(*v), &z, &zn), 0);
	snprintf(path, sizeof(path), "%s/.zarray", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dprintf(fd, "{\"chunks\":[%d],\"compressor\":{\"id\":\"zstd\",\"level\":1},\"dtype\":\"<f4\","
		    "\"fill_value\":0,\"filters\":null,\"order\":\"C\",\"shape\":[%d],\"zarr_format\":2}", N, N);
	close(fd);
	snprintf(path, sizeof(path), "%s/0", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK_EQ(write(fd, z, zn), (long long)zn);
	close(fd);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	store.dirfd = dfd;
	store.label = dir;
	CHECK_EQ(ckpt_cache_new(&cache, 1 << 20), 0);
	o.cache = cache;
	o.lim = &lim;
	o.stream_threshold = 256 << 10;
	o.piece_bytes = 64 << 10;
	CHECK_EQ(ckpt_array_open(&a, &store, "", 2, &o, &err), 0);
	CHECK(a && ckpt_array_streams(a));
	for (uint64_t off = 0; a && off < (uint64_t)N * 4; off += 65536)
		CHECK_EQ(ckpt_array_read(a, buf, off, 65536, &err), 65536);
	CHECK_EQ(decoded(cache), (long long)N * 4);
	/* the cache drops the chunk's pieces for other data */
	for (uint64_t k = 0; k < 32; k++)
		ckpt_cache_insert(cache, (struct ckpt_cache_key){ 999999, k, 1 }, calloc(1, 65536), 65536);
	before = decoded(cache);
	if (a)
		ckpt_array_ra_run(a, 0, (uint64_t)N * 4 / 65536 - 1); /* the last piece, late */
	CHECK_EQ(decoded(cache) - before, 0);
	/* a reader that comes back still gets its bytes */
	CHECK_EQ(a ? ckpt_array_read(a, buf, 65536, 4096, &err) : -1, 4096);
	CHECK(!memcmp(buf, &v[16384], 4096));
	ckpt_array_close(a);
	ckpt_cache_free(cache);
	close(dfd);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.zarray", dir);
	unlink(path);
	rmdir(dir);
	free(z);
	free(v);
	free(buf);
}

static void put_file(const char *dir, const char *name, const void *data, size_t n)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (strchr(name, '/')) {
		char sub[128];

		snprintf(sub, sizeof(sub), "%s/%.*s", dir, (int)(strchr(name, '/') - name), name);
		mkdir(sub, 0755);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, data, n), (long long)n);
	close(fd);
}

/* opens the one-chunk array in dir (threshold 256K, pieces 64K, a 1 MiB
 * cache), reads it whole in 64K requests, then one piece again backwards;
 * returns the bytes decoded for the first pass, or -1 */
static long long read_streamed(const char *dir, int format, const float *v, size_t n,
			       struct ckpt_err *err)
{
	struct ckpt_cache *cache = NULL;
	struct ckpt_array *a = NULL;
	struct ckpt_store store = { 0 };
	struct ckpt_array_opts o = { 0 };
	uint8_t *buf = malloc(65536);
	long long dec = -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	store.dirfd = dfd;
	store.label = dir;
	CHECK_EQ(ckpt_cache_new(&cache, 1 << 20), 0);
	o.cache = cache;
	o.lim = &lim;
	o.stream_threshold = 256 << 10;
	o.piece_bytes = 64 << 10;
	ckpt_err_clear(err);
	CHECK_EQ(ckpt_array_open(&a, &store, "", format, &o, err), 0);
	CHECK(a && ckpt_array_streams(a));
	for (uint64_t off = 0; a && buf && off < n * 4; off += 65536) {
		CHECK_EQ(ckpt_array_read(a, buf, off, 65536, err), 65536);
		CHECK(!memcmp(buf, (const uint8_t *)v + off, 65536));
	}
	if (a)
		dec = (long long)decoded(cache);
	/* a reader going back (the pieces evicted by now) still gets its bytes */
	CHECK_EQ(a ? ckpt_array_read(a, buf, 65536 + 8, 4096, err) : -1, 4096);
	CHECK(a && buf && !memcmp(buf, (const uint8_t *)v + 65536 + 8, 4096));
	ckpt_array_close(a);
	ckpt_cache_free(cache);
	close(dfd);
	free(buf);
	return dec;
}

/* Chunks above the stream threshold read for every chain: stored without
 * compression (they failed: "decodes to 1048576 bytes, expected ..." at the
 * first 1 MiB input buffer), with a codec that cannot stream (blosc,
 * decoded whole once, then handed out in pieces), crc32c alone (zarr v3). */
static void test_stream__raw_and_non_streaming_chunks_above_the_threshold(void)
{
	enum { N = 1 << 20 }; /* 4 MiB of float32, one chunk */
	char dir[] = "/tmp/ckptfs-test-raw.XXXXXX", rm[96];
	float *v = malloc((N + 1) * sizeof(*v));
	struct ckpt_err err = { 0, "" };
	struct ckpt_zarr_meta m;
	uint8_t *z = NULL;
	size_t zn = 0;
	char meta[512];

	CHECK(v && mkdtemp(dir));
	for (int i = 0; i < N; i++)
		v[i] = (float)i * 0.5f;
	/* no compressor */
	snprintf(meta, sizeof(meta),
		 "{\"chunks\":[%d],\"compressor\":null,\"dtype\":\"<f4\",\"fill_value\":0,"
		 "\"filters\":null,\"order\":\"C\",\"shape\":[%d],\"zarr_format\":2}", N, N);
	put_file(dir, ".zarray", meta, strlen(meta));
	put_file(dir, "0", v, (size_t)N * 4);
	CHECK_EQ(read_streamed(dir, 2, v, N, &err), (long long)N * 4);
	/* a raw chunk of the wrong size is named */
	put_file(dir, "0", v, (size_t)N * 4 - 4);
	{
		struct ckpt_cache *cache = NULL;
		struct ckpt_array *a = NULL;
		struct ckpt_store store = { 0 };
		struct ckpt_array_opts o = { 0 };
		uint8_t b[16];
		int dfd = open(dir, O_RDONLY | O_DIRECTORY);

		store.dirfd = dfd;
		store.label = dir;
		CHECK_EQ(ckpt_cache_new(&cache, 1 << 20), 0);
		o.cache = cache;
		o.lim = &lim;
		o.stream_threshold = 256 << 10;
		o.piece_bytes = 64 << 10;
		CHECK_EQ(ckpt_array_open(&a, &store, "", 2, &o, &err), 0);
		CHECK_EQ(a ? ckpt_array_read(a, b, 0, sizeof(b), &err) : 0, CKPT_ECORRUPT);
		CHECK(strstr(err.msg, "holds 4194300 bytes, expected 4194304"));
		ckpt_array_close(a);
		ckpt_cache_free(cache);
		close(dfd);
	}
	/* blosc: decoded once for the whole forward pass (whole chunks larger
	 * than the cache were decoded again for every read) */
	snprintf(meta, sizeof(meta),
		 "{\"chunks\":[%d],\"compressor\":{\"id\":\"blosc\",\"cname\":\"lz4\",\"clevel\":5,"
		 "\"shuffle\":1,\"blocksize\":0},\"dtype\":\"<f4\",\"fill_value\":0,"
		 "\"filters\":null,\"order\":\"C\",\"shape\":[%d],\"zarr_format\":2}", N, N);
	CHECK_EQ(parse(&m, meta, &err), 0);
	CHECK_EQ(ckpt_codec_encode(&m.chain.b2b[0], v, (size_t)N * 4, &z, &zn), 0);
	ckpt_zarr_meta_release(&m);
	put_file(dir, ".zarray", meta, strlen(meta));
	put_file(dir, "0", z, zn);
	free(z);
	CHECK_EQ(read_streamed(dir, 2, v, N, &err), (long long)N * 4);
	/* zarr v3, bytes + crc32c: no compression, a checksum (cannot stream) */
	snprintf(meta, sizeof(meta),
		 "{\"zarr_format\":3,\"node_type\":\"array\",\"shape\":[%d],\"data_type\":\"float32\","
		 "\"chunk_grid\":{\"name\":\"regular\",\"configuration\":{\"chunk_shape\":[%d]}},"
		 "\"chunk_key_encoding\":{\"name\":\"default\"},\"fill_value\":0,\"codecs\":[{\"name\":"
		 "\"bytes\",\"configuration\":{\"endian\":\"little\"}},{\"name\":\"crc32c\"}]}", N, N);
	put_file(dir, "zarr.json", meta, strlen(meta));
	ckpt_store_le32((uint8_t *)&v[N], ckpt_crc32c(0, v, (size_t)N * 4));
	put_file(dir, "c/0", v, (size_t)N * 4 + 4);
	CHECK_EQ(read_streamed(dir, 3, v, N, &err), (long long)N * 4);
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	CHECK_EQ(system(rm), 0);
	free(v);
}

/* More blosc chunks above the threshold read in turns than the array keeps
 * decoded (4): the least recent idle one is let go and decoded again. */
static void test_stream__whole_chunks_in_turns(void)
{
	enum { C = 1 << 17, K = 6, N = C * K }; /* 6 chunks of 512K */
	char dir[] = "/tmp/ckptfs-test-turns.XXXXXX", meta[512], name[16], rm[96];
	float *v = malloc(N * sizeof(*v));
	uint8_t *buf = malloc(4096);
	struct ckpt_err err = { 0, "" };
	struct ckpt_zarr_meta m;
	struct ckpt_cache *cache = NULL;
	struct ckpt_array *a = NULL;
	struct ckpt_store store = { 0 };
	struct ckpt_array_opts o = { 0 };
	int dfd;

	CHECK(v && buf && mkdtemp(dir));
	for (int i = 0; i < N; i++)
		v[i] = (float)(i % 1000) + (float)(i / C);
	snprintf(meta, sizeof(meta),
		 "{\"chunks\":[%d],\"compressor\":{\"id\":\"blosc\",\"cname\":\"lz4\",\"clevel\":5,"
		 "\"shuffle\":1,\"blocksize\":0},\"dtype\":\"<f4\",\"fill_value\":0,"
		 "\"filters\":null,\"order\":\"C\",\"shape\":[%d],\"zarr_format\":2}", C, N);
	CHECK_EQ(parse(&m, meta, &err), 0);
	for (int k = 0; k < K; k++) {
		uint8_t *z = NULL;
		size_t zn = 0;

		CHECK_EQ(ckpt_codec_encode(&m.chain.b2b[0], v + (size_t)k * C, (size_t)C * 4, &z, &zn), 0);
		snprintf(name, sizeof(name), "%d", k);
		put_file(dir, name, z, zn);
		free(z);
	}
	ckpt_zarr_meta_release(&m);
	put_file(dir, ".zarray", meta, strlen(meta));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	store.dirfd = dfd;
	store.label = dir;
	CHECK_EQ(ckpt_cache_new(&cache, 1 << 20), 0);
	o.cache = cache;
	o.lim = &lim;
	o.stream_threshold = 256 << 10;
	o.piece_bytes = 64 << 10;
	CHECK_EQ(ckpt_array_open(&a, &store, "", 2, &o, &err), 0);
	CHECK(a && ckpt_array_streams(a));
	/* piece p of every chunk, then piece p + 1 of every chunk, ... */
	for (uint64_t p = 0; a && p < (uint64_t)C * 4 / 65536; p += 3)
		for (int k = 0; k < K; k++) {
			uint64_t off = (uint64_t)k * C * 4 + p * 65536 + 100 * 4;

			CHECK_EQ(ckpt_array_read(a, buf, off, 4096, &err), 4096);
			CHECK(!memcmp(buf, (const uint8_t *)v + off, 4096));
		}
	/* six decoded chunks were not all kept: some were decoded again */
	CHECK(decoded(cache) > (uint64_t)N * 4);
	ckpt_array_close(a);
	ckpt_cache_free(cache);
	close(dfd);
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	CHECK_EQ(system(rm), 0);
	free(buf);
	free(v);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	RUN(test_zarr__real_v2_metadata);
	RUN(test_zarr__real_v3_metadata);
	RUN(test_zarr__dtypes);
	RUN(test_zarr__fill_values);
	RUN(test_zarr__errors_name_the_problem);
	RUN(test_codec__chains);
	RUN(test_codec__decompression_limits);
	RUN(test_codec__blosc_and_bz2_chains);
	RUN(test_codec__chunks_encode_with_the_arrays_codec);
	RUN(test_codec__shard_index_checked_once);
	RUN(test_ndcopy__transpose_and_boxes);
	RUN(test_stream__late_readahead_after_the_end);
	RUN(test_stream__raw_and_non_streaming_chunks_above_the_threshold);
	RUN(test_stream__whole_chunks_in_turns);
	DONE();
}
