/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zarr_codec.h - decoding (and encoding) one stored zarr object through its
 * codec chain (tier 1).  No I/O.
 */
#ifndef CKPT_ZARR_CODEC_H
#define CKPT_ZARR_CODEC_H

#include "buf.h"
#include "compress.h"
#include "zarr_meta.h"

/*
 * Decodes the stored bytes of one chunk (shape `shape`) into out, which holds
 * prod(shape) * itemsize bytes: C order, little-endian.  Missing inner chunks
 * of a shard are filled with fill.
 * @return 0, CKPT_ECORRUPT (checksum, size, stream), -ENOMEM, -EFBIG
 */
int ckpt_chain_decode(const struct ckpt_chain *ch, const struct ckpt_dtype *dt, uint32_t rank,
		      const uint64_t *shape, const uint8_t *fill, const uint8_t *in, size_t in_n,
		      uint8_t *out, const struct ckpt_limits *lim, struct ckpt_err *err);

/*
 * Whether a chunk can be decoded as one byte stream (no transpose, no byte
 * swap, no checksum, at most one compressor): then *comp names it.  For a
 * sharded chain, true when the shard holds exactly one inner chunk coded so.
 */
bool ckpt_chain_streamable(const struct ckpt_chain *ch, const struct ckpt_dtype *dt, uint32_t rank,
			   const uint64_t *shape, enum ckpt_comp *comp);

/* Size of a shard index (16 bytes per inner chunk, plus 4 with crc32c); UINT64_MAX on overflow. */
uint64_t ckpt_shard_index_size(const struct ckpt_shard *s, uint32_t rank, const uint64_t *shape);

/*
 * Checks a shard index, once, before any entry is used: its ib bytes (from
 * ckpt_shard_index_size) fit the shard_len-byte shard, its crc32c matches,
 * and every entry is "missing" (all ones) or lies inside the shard.
 * @return 0 or CKPT_ECORRUPT (naming the entry)
 */
int ckpt_shard_index_check(const struct ckpt_shard *s, const uint8_t *idx, uint64_t ib,
			   uint64_t shard_len, struct ckpt_err *err);

/* Entry j of a checked index: false when the inner chunk is missing. */
bool ckpt_shard_index_at(const uint8_t *idx, uint64_t j, uint64_t *off, uint64_t *len);

#endif
