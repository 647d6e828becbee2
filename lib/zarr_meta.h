/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zarr_meta.h - zarr v2 .zarray and zarr v3 zarr.json, parsed into one
 * representation (tier 1).  v2 is mapped onto the v3 codec model: order F
 * becomes a transpose, a big-endian dtype becomes bytes(endian big), the
 * compressor becomes one bytes-to-bytes codec.
 * Sources: shared/docs/FORMAT-ocdbt-zarr.md sections 12-13, the zarr v2 and
 * v3 specifications.
 */
#ifndef CKPT_ZARR_META_H
#define CKPT_ZARR_META_H

#include "ckpt_limits.h"
#include "codec.h"
#include "dtype.h"
#include "err.h"

#include <stdbool.h>
#include <stdint.h>

#define CKPT_MAX_RANK 32
#define CKPT_MAX_CODECS 8
#define CKPT_MAX_SHARD_NESTING 4

struct ckpt_shard;

struct ckpt_chain {
	uint32_t n_transpose;
	uint32_t perm[4][CKPT_MAX_RANK]; /* array->array transposes, in order */
	bool big_endian;                 /* array->bytes "bytes" codec */
	struct ckpt_shard *shard;        /* array->bytes "sharding_indexed", or NULL */
	uint32_t n_b2b;
	struct ckpt_codec_cfg b2b[CKPT_MAX_CODECS]; /* bytes-to-bytes codecs (codec.h), in order */
};

struct ckpt_shard {
	uint64_t inner[CKPT_MAX_RANK]; /* inner chunk shape */
	struct ckpt_chain codecs;      /* of the inner chunks */
	bool index_crc32c;             /* index codecs: bytes(little) [+ crc32c] */
	bool index_at_start;
};

struct ckpt_zarr_meta {
	int format; /* 2 or 3 */
	uint32_t rank;
	uint64_t shape[CKPT_MAX_RANK];
	uint64_t chunk[CKPT_MAX_RANK]; /* shape of one stored object (v3: shard) */
	uint64_t grid[CKPT_MAX_RANK];  /* chunks per dimension */
	uint64_t n_chunks;
	uint64_t nbytes;               /* decoded array: prod(shape) * itemsize */
	uint64_t chunk_nbytes;         /* decoded chunk: prod(chunk) * itemsize */
	struct ckpt_dtype dtype;
	uint8_t fill[16];              /* fill value, little-endian element */
	bool fill_null;                /* v2 fill_value null (reads as zeros) */
	char sep;                      /* chunk key separator */
	bool key_c_prefix;             /* v3 "default" key encoding: "c/..." */
	struct ckpt_chain chain;
};

/*
 * Parses .zarray (v2) or zarr.json (v3) bytes.
 * @return 0, CKPT_ECORRUPT (bad JSON or fields), -ENOTSUP (unsupported codec or
 *         dtype, named in the message), -EFBIG (sizes overflow 64 bits)
 */
int ckpt_zarr_meta_parse(struct ckpt_zarr_meta *m, const void *json, size_t n,
			 const struct ckpt_limits *lim, struct ckpt_err *err);
void ckpt_zarr_meta_release(struct ckpt_zarr_meta *m);

/* Writes the key of chunk grid index idx (rank entries) into buf; returns its length. */
size_t ckpt_zarr_chunk_key(const struct ckpt_zarr_meta *m, const uint64_t *idx, char *buf,
			   size_t cap);

#endif
