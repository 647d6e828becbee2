/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compress.h - zstd / zlib / gzip / bzip2 byte codecs, whole-buffer and
 * streaming (tier 1).  The ids of every codec live here; which zarr names
 * map to them, and blosc, are codec.h's table.  Output sizes are always bounded by the caller: an expected size
 * or a cap, so a small compressed input cannot expand without limit.
 */
#ifndef CKPT_COMPRESS_H
#define CKPT_COMPRESS_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ckpt_comp {
	CKPT_COMP_NONE,
	CKPT_COMP_ZSTD,
	CKPT_COMP_ZLIB, /* zlib stream (numcodecs "zlib") */
	CKPT_COMP_GZIP, /* gzip member(s) (numcodecs/zarr3 "gzip") */
	CKPT_COMP_BZ2,  /* bzip2 stream(s) (numcodecs "bz2") */
	CKPT_COMP_BLOSC, /* a blosc frame: not a stream, decoded by codec.c */
	CKPT_COMP_CRC32C, /* zarr3 checksum trailer: not a compressor (codec table only) */
};

const char *ckpt_comp_name(enum ckpt_comp c);

/*
 * Decompresses src into dst, which must come out exactly dst_n bytes long.
 * @return 0, CKPT_ECORRUPT (bad stream, or size differs from dst_n)
 */
int ckpt_decompress_into(enum ckpt_comp c, const void *src, size_t n, void *dst, size_t dst_n,
			 struct ckpt_err *err);

/*
 * Decompresses src into a new buffer (*out, caller frees) of at most max bytes.
 * @return 0, CKPT_ECORRUPT, -EFBIG (more than max), -ENOMEM
 */
int ckpt_decompress_alloc(enum ckpt_comp c, const void *src, size_t n, size_t max, uint8_t **out,
			  size_t *out_n, struct ckpt_err *err);

/* zstd frame checks used by OCDBT: exactly one frame covering all n bytes */
bool ckpt_zstd_is_single_frame(const void *src, size_t n);

/*
 * Compression for the writers.  *out is new (caller frees).
 * ckpt_zstd_compress: ZSTD_compress(level) - a single-segment frame with the
 *   content size, as TensorStore writes OCDBT nodes and zarr3 chunks.
 * ckpt_zstd_compress_hinted: fresh context with ZSTD_c_srcSizeHint = n, no
 *   pledged size, as TensorStore's zarr v2 zstd compressor writes chunks.
 * ckpt_zlib_compress: zlib (gzip=false) or gzip (gzip=true) at level.
 */
int ckpt_zstd_compress(int level, const void *src, size_t n, uint8_t **out, size_t *out_n);
int ckpt_zstd_compress_hinted(int level, const void *src, size_t n, uint8_t **out, size_t *out_n);
int ckpt_zlib_compress(bool gzip, int level, const void *src, size_t n, uint8_t **out, size_t *out_n);
/* one bzip2 stream, block size level (1-9; others: 9) */
int ckpt_bz2_compress(int level, const void *src, size_t n, uint8_t **out, size_t *out_n);

/*
 * A streaming decoder: feed compressed bytes, get decoded bytes.
 * Calling sequence: ckpt_dstream_new -> ckpt_dstream_run ... -> ckpt_dstream_free.
 * Stream kinds: NONE, ZSTD, ZLIB, GZIP, BZ2 (others: -EINVAL).
 * ckpt_dstream_reset starts over for a new stream of the same kind.
 */
struct ckpt_dstream;
int ckpt_dstream_new(struct ckpt_dstream **out, enum ckpt_comp c);
void ckpt_dstream_free(struct ckpt_dstream *s);
int ckpt_dstream_reset(struct ckpt_dstream *s);
/*
 * Consumes from *in (advancing it and decrementing *in_n) and writes up to
 * out_cap bytes to out; *produced says how many.  *done is set at the end
 * of the stream.  @return 0 or CKPT_ECORRUPT
 */
int ckpt_dstream_run(struct ckpt_dstream *s, const uint8_t **in, size_t *in_n, uint8_t *out,
		     size_t out_cap, size_t *produced, bool *done, struct ckpt_err *err);

/*
 * A streaming zstd encoder for chunks written piece by piece (the writer's
 * large leaves).  pledged = total size when known (SIZE_MAX = unknown).
 */
struct ckpt_cstream;
int ckpt_cstream_new(struct ckpt_cstream **out, int level, uint64_t pledged, uint64_t size_hint);
void ckpt_cstream_free(struct ckpt_cstream *s);
/* Compresses n bytes (end=true on the last call); appends output via sink. */
int ckpt_cstream_run(struct ckpt_cstream *s, const void *p, size_t n, bool end,
		     int (*sink)(void *payload, const void *p, size_t n), void *payload);

#endif
