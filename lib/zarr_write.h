/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zarr_write.h - zarr arrays as TensorStore writes them for Orbax (tier 1):
 * metadata JSON byte for byte, chunk encoding, and Orbax's choice of chunk
 * shape.  FORMAT-ocdbt-zarr.md sections 12-14.
 */
#ifndef CKPT_ZARR_WRITE_H
#define CKPT_ZARR_WRITE_H

#include "codec.h"
#include "compress.h"
#include "dtype.h"
#include "zarr_meta.h"

struct ckpt_zarr_spec {
	int format; /* 2 or 3 */
	struct ckpt_dtype dtype;
	uint32_t rank;
	uint64_t shape[CKPT_MAX_RANK];
	uint64_t chunk[CKPT_MAX_RANK];
	bool compress; /* zstd (Orbax's default) or none */
	/* zarr v2 zstd frames without a content size, as TensorStore wrote them
	 * before 0.1.85 (the compat fixtures); default: ZSTD_compress, as 0.1.85 */
	bool zstd_unsized;
	/* with compress: the array's own codec when it is not zstd (edits of
	 * arrays zarr-python wrote: blosc, bz2, zlib, gzip); id NONE or ZSTD:
	 * TensorStore's zstd as above.  Only chunks use it: the metadata of an
	 * existing array is kept as it is. */
	struct ckpt_codec_cfg codec;
};

/* whether chunks of s use codec (not TensorStore's zstd) */
bool ckpt_zarr_spec_own_codec(const struct ckpt_zarr_spec *s);

/* .zarray or zarr.json bytes (new, NUL-terminated) */
int ckpt_zarr_meta_json(const struct ckpt_zarr_spec *s, char **out, size_t *n);

/* One whole decoded chunk (C order, little-endian, padded) -> stored object (new). */
int ckpt_zarr_chunk_encode(const struct ckpt_zarr_spec *s, const uint8_t *chunk, size_t n,
			   uint8_t **out, size_t *out_n);

/*
 * Streaming encoder for large chunks: feed the chunk's bytes in order,
 * output goes to sink.  For zarr3 the shard index follows the data.
 */
struct ckpt_chunk_stream;
int ckpt_chunk_stream_new(struct ckpt_chunk_stream **out, const struct ckpt_zarr_spec *s,
			  uint64_t chunk_bytes, int (*sink)(void *payload, const void *p, size_t n),
			  void *payload);
int ckpt_chunk_stream_write(struct ckpt_chunk_stream *cs, const void *p, size_t n);
/* finishes the object; *total = bytes emitted */
int ckpt_chunk_stream_end(struct ckpt_chunk_stream *cs, uint64_t *total);
void ckpt_chunk_stream_free(struct ckpt_chunk_stream *cs);

/*
 * Orbax's chunk shape (subchunking.choose_chunk_shape): the write shape,
 * with its largest dimensions replaced by their next smaller divisor until
 * a chunk holds at most limit bytes (limit 0: no limit).
 */
void ckpt_zarr_choose_chunks(const uint64_t *shape, uint32_t rank, uint32_t itemsize,
			     uint64_t limit, uint64_t *chunk);

#endif
