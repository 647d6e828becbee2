/* SPDX-License-Identifier: Apache-2.0 */
/* zarr_write.c - zarr metadata and chunks as TensorStore writes them (tier 1). */
#include "zarr_write.h"

#include "buf.h"
#include "crc32c.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *dims(const uint64_t *v, uint32_t n)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer((json_int_t)v[i]));
	return a;
}

static json_t *fill_zero(const struct ckpt_dtype *dt)
{
	switch (dt->kind) {
	case CKPT_DK_BOOL:
		return json_false();
	case CKPT_DK_INT:
	case CKPT_DK_UINT:
		return json_integer(0);
	case CKPT_DK_COMPLEX: {
		json_t *a = json_array();

		json_array_append_new(a, json_real(0.0));
		json_array_append_new(a, json_real(0.0));
		return a;
	}
	case CKPT_DK_RAW: {
		json_t *a = json_array();

		for (uint32_t i = 0; i < dt->itemsize; i++)
			json_array_append_new(a, json_integer(0));
		return a;
	}
	default:
		return json_real(0.0);
	}
}

static json_t *codec(const char *name, json_t *cfg)
{
	json_t *c = json_object();

	if (cfg)
		json_object_set_new(c, "configuration", cfg);
	json_object_set_new(c, "name", json_string(name));
	return c;
}

static json_t *bytes_codec(const struct ckpt_dtype *dt)
{
	json_t *cfg;

	/* no byte order for one-byte types (seen in TensorStore 0.1.85 output) */
	if (dt->itemsize == 1 || dt->kind == CKPT_DK_RAW)
		return codec("bytes", NULL);
	cfg = json_object();
	json_object_set_new(cfg, "endian", json_string("little"));
	return codec("bytes", cfg);
}

int ckpt_zarr_meta_json(const struct ckpt_zarr_spec *s, char **out, size_t *n)
{
	json_t *j = json_object();
	char v2[32];

	if (s->format == 2) {
		json_object_set_new(j, "chunks", dims(s->chunk, s->rank));
		if (s->compress) {
			json_t *c = json_object();

			json_object_set_new(c, "id", json_string("zstd"));
			json_object_set_new(c, "level", json_integer(1));
			json_object_set_new(j, "compressor", c);
		} else {
			json_object_set_new(j, "compressor", json_null());
		}
		json_object_set_new(j, "dimension_separator", json_string("."));
		json_object_set_new(j, "dtype", json_string(ckpt_dtype_v2_string(&s->dtype, v2)));
		json_object_set_new(j, "fill_value", json_null());
		json_object_set_new(j, "filters", json_null());
		json_object_set_new(j, "order", json_string("C"));
		json_object_set_new(j, "shape", dims(s->shape, s->rank));
		json_object_set_new(j, "zarr_format", json_integer(2));
	} else {
		json_t *grid = json_object(), *gcfg = json_object(), *enc = json_object();
		json_t *shard = json_object(), *inner = json_array(), *index = json_array();
		json_t *codecs = json_array(), *idx_bytes = json_object();

		json_object_set_new(gcfg, "chunk_shape", dims(s->chunk, s->rank));
		json_object_set_new(grid, "configuration", gcfg);
		json_object_set_new(grid, "name", json_string("regular"));
		json_object_set_new(j, "chunk_grid", grid);
		json_object_set_new(enc, "name", json_string("default"));
		json_object_set_new(j, "chunk_key_encoding", enc);
		json_array_append_new(inner, bytes_codec(&s->dtype));
		if (s->compress) {
			json_t *z = json_object();

			json_object_set_new(z, "checksum", json_false());
			json_object_set_new(z, "level", json_integer(3));
			json_array_append_new(inner, codec("zstd", z));
		}
		json_object_set_new(idx_bytes, "endian", json_string("little"));
		json_array_append_new(index, codec("bytes", idx_bytes));
		json_array_append_new(index, codec("crc32c", NULL));
		json_object_set_new(shard, "chunk_shape", dims(s->chunk, s->rank));
		json_object_set_new(shard, "codecs", inner);
		json_object_set_new(shard, "index_codecs", index);
		json_array_append_new(codecs, codec("sharding_indexed", shard));
		json_object_set_new(j, "codecs", codecs);
		json_object_set_new(j, "data_type", json_string(s->dtype.name));
		json_object_set_new(j, "fill_value", fill_zero(&s->dtype));
		json_object_set_new(j, "node_type", json_string("array"));
		json_object_set_new(j, "shape", dims(s->shape, s->rank));
		json_object_set_new(j, "zarr_format", json_integer(3));
	}
	/* nlohmann's dump(): compact, keys sorted */
	*out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (!*out)
		return -ENOMEM;
	*n = strlen(*out);
	return 0;
}

bool ckpt_zarr_spec_own_codec(const struct ckpt_zarr_spec *s)
{
	return s->compress && s->codec.id != CKPT_COMP_NONE && s->codec.id != CKPT_COMP_ZSTD;
}

static void shard_index(uint64_t off, uint64_t len, uint8_t idx[20])
{
	ckpt_store_le64(idx, off);
	ckpt_store_le64(idx + 8, len);
	ckpt_store_le32(idx + 16, ckpt_crc32c(0, idx, 16));
}

int ckpt_zarr_chunk_encode(const struct ckpt_zarr_spec *s, const uint8_t *chunk, size_t n,
			   uint8_t **out, size_t *out_n)
{
	uint8_t *z = NULL, *o;
	size_t zn;
	int rc;

	*out = NULL;
	if (s->format == 2 && ckpt_zarr_spec_own_codec(s))
		return ckpt_codec_encode(&s->codec, chunk, n, out, out_n);
	if (s->format == 2) {
		if (s->compress && s->zstd_unsized)
			return ckpt_zstd_compress_hinted(1, chunk, n, out, out_n);
		if (s->compress)
			return ckpt_zstd_compress(1, chunk, n, out, out_n);
		o = malloc(n ? n : 1);
		if (!o)
			return -ENOMEM;
		memcpy(o, chunk, n);
		*out = o;
		*out_n = n;
		return 0;
	}
	/* zarr3: one inner chunk per shard, index (offset, length) + crc32c at the end */
	if (ckpt_zarr_spec_own_codec(s)) {
		rc = ckpt_codec_encode(&s->codec, chunk, n, &z, &zn);
		if (rc < 0)
			return rc;
	} else if (s->compress) {
		rc = ckpt_zstd_compress(3, chunk, n, &z, &zn);
		if (rc < 0)
			return rc;
	} else {
		zn = n;
	}
	o = malloc(zn + 20);
	if (!o) {
		free(z);
		return -ENOMEM;
	}
	memcpy(o, z ? z : chunk, zn);
	shard_index(0, zn, o + zn);
	free(z);
	*out = o;
	*out_n = zn + 20;
	return 0;
}

struct ckpt_chunk_stream {
	struct ckpt_zarr_spec s;
	struct ckpt_cstream *cs;
	int (*sink)(void *payload, const void *p, size_t n);
	void *payload;
	uint64_t total;
};

static int count_sink(void *payload, const void *p, size_t n)
{
	struct ckpt_chunk_stream *c = payload;

	c->total += n;
	return c->sink(c->payload, p, n);
}

int ckpt_chunk_stream_new(struct ckpt_chunk_stream **out, const struct ckpt_zarr_spec *s,
			  uint64_t chunk_bytes, int (*sink)(void *payload, const void *p, size_t n),
			  void *payload)
{
	struct ckpt_chunk_stream *c = calloc(1, sizeof(*c));
	int rc = 0;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->s = *s;
	c->sink = sink;
	c->payload = payload;
	if (s->compress) {
		/* v2 level 1, v3 level 3, both with the size pledged (TensorStore
		 * 0.1.85); older TensorStore left the v2 size out */
		if (s->format == 2 && s->zstd_unsized)
			rc = ckpt_cstream_new(&c->cs, 1, UINT64_MAX, chunk_bytes);
		else
			rc = ckpt_cstream_new(&c->cs, s->format == 2 ? 1 : 3, chunk_bytes, 0);
	}
	if (rc < 0) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int ckpt_chunk_stream_write(struct ckpt_chunk_stream *c, const void *p, size_t n)
{
	if (c->cs)
		return ckpt_cstream_run(c->cs, p, n, false, count_sink, c);
	return count_sink(c, p, n);
}

int ckpt_chunk_stream_end(struct ckpt_chunk_stream *c, uint64_t *total)
{
	int rc = 0;

	if (c->cs)
		rc = ckpt_cstream_run(c->cs, NULL, 0, true, count_sink, c);
	if (rc == 0 && c->s.format == 3) {
		uint8_t idx[20];
		uint64_t data = c->total;

		shard_index(0, data, idx);
		rc = count_sink(c, idx, sizeof(idx));
	}
	*total = c->total;
	return rc;
}

void ckpt_chunk_stream_free(struct ckpt_chunk_stream *c)
{
	if (!c)
		return;
	ckpt_cstream_free(c->cs);
	free(c);
}

void ckpt_zarr_choose_chunks(const uint64_t *shape, uint32_t rank, uint32_t itemsize,
			     uint64_t limit, uint64_t *chunk)
{
	uint64_t bytes = itemsize;

	for (uint32_t i = 0; i < rank; i++) {
		chunk[i] = shape[i] ? shape[i] : 1; /* zero-sized dims become 1 */
		bytes *= chunk[i];
	}
	if (!limit)
		return;
	while (bytes > limit) {
		uint32_t big = 0;
		uint64_t d;

		for (uint32_t i = 1; i < rank; i++)
			if (chunk[i] > chunk[big])
				big = i;
		if (rank == 0 || chunk[big] == 1)
			return; /* cannot get smaller */
		/* the next smaller divisor of the write shape's dimension */
		for (d = chunk[big] - 1; d > 1 && (shape[big] ? shape[big] : 1) % d; d--)
			;
		bytes = bytes / chunk[big] * d;
		chunk[big] = d;
	}
}
