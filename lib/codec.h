/* SPDX-License-Identifier: Apache-2.0 */
/*
 * codec.h - the one table of zarr bytes-to-bytes codecs (tier 1): for each,
 * its zarr v2 compressor id, its zarr v3 codec name, how its configuration
 * is read, decode (whole buffer and, where it exists, streaming) and encode.
 * zarr_meta.c parses through it, zarr_codec.c and zarr.c decode through it,
 * zarr_write.c encodes through it.  To add a codec: one entry in codec.c.
 *
 * Codecs: zstd, zlib, gzip, bz2 (libbz2), blosc (libblosc: lz4, lz4hc,
 * blosclz, zstd, zlib, snappy where the library has it; shuffle, bitshuffle),
 * crc32c (zarr v3 checksum; no decode here: the chain checks it).
 */
#ifndef CKPT_CODEC_H
#define CKPT_CODEC_H

#include "compress.h"
#include "dtype.h"
#include "err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* one configured codec */
struct ckpt_codec_cfg {
	enum ckpt_comp id;
	int level;          /* zstd/zlib/gzip/bz2 level, blosc clevel */
	char cname[12];     /* blosc: inner compressor */
	int shuffle;        /* blosc: 0 none, 1 byte shuffle, 2 bitshuffle */
	uint32_t typesize;  /* blosc: element size for shuffling */
	uint32_t blocksize; /* blosc: 0 = automatic */
};

/* the codec's name for messages ("zstd", "blosc", ...) */
const char *ckpt_codec_name(enum ckpt_comp id);

/*
 * Reads a zarr v2 "compressor" object; dt gives blosc's typesize (numcodecs
 * shuffles by the array's item size).
 * @return 0, CKPT_ECORRUPT (malformed), -ENOTSUP (unknown id, named)
 */
int ckpt_codec_from_v2(const json_t *compressor, const struct ckpt_dtype *dt,
		       struct ckpt_codec_cfg *c, struct ckpt_err *err);

/*
 * Reads a zarr v3 bytes-to-bytes codec entry (name + configuration).
 * @return 0, -ENOENT (name is not a bytes-to-bytes codec of the table; err
 *         untouched), CKPT_ECORRUPT (bad configuration), -ENOTSUP
 */
int ckpt_codec_from_v3(const char *name, const json_t *cfg, const struct ckpt_dtype *dt,
		       struct ckpt_codec_cfg *c, struct ckpt_err *err);

/* whether ckpt_dstream can decode this codec piece by piece */
bool ckpt_codec_streams(enum ckpt_comp id);
/* whether ckpt_codec_encode can write it */
bool ckpt_codec_encodes(enum ckpt_comp id);

/*
 * Decodes one stored object into dst, which must come out exactly dst_n bytes.
 * @return 0, CKPT_ECORRUPT (bad input, wrong size), -ENOMEM
 */
int ckpt_codec_decode_into(enum ckpt_comp id, const void *src, size_t n, void *dst, size_t dst_n,
			   struct ckpt_err *err);

/* Decodes into a new buffer of at most max bytes. @return as ckpt_decompress_alloc */
int ckpt_codec_decode_alloc(enum ckpt_comp id, const void *src, size_t n, size_t max,
			    uint8_t **out, size_t *out_n, struct ckpt_err *err);

/* Encodes with the configuration; *out is new. @return 0, -ENOMEM, -EFBIG, -EIO, -ENOTSUP */
int ckpt_codec_encode(const struct ckpt_codec_cfg *c, const void *src, size_t n, uint8_t **out,
		      size_t *out_n);

/*
 * Blosc frame header check (exported for the tests): the 16-byte header's
 * sizes against the buffer (n) and the expected decoded size (want; SIZE_MAX:
 * any up to max), the block starts inside the frame.  *nbytes = decoded size.
 */
int ckpt_blosc_check(const uint8_t *src, size_t n, size_t want, size_t max, size_t *nbytes,
		     struct ckpt_err *err);

#endif
