/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zarr.h - one zarr array read through a store (tier 3).
 *
 * ckpt_array_read() serves any byte range of the decoded array (C order,
 * little-endian): it decodes only the chunks the range covers, through the
 * shared decoded-chunk cache.  A chunk larger than the stream threshold that
 * is one plain compressed stream (Orbax's one-chunk-per-leaf arrays) is
 * decoded as a stream in pieces, so memory does not grow with leaf size.
 * Thread-safe: many readers may call ckpt_array_read() at once.
 */
#ifndef CKPT_ZARR_H
#define CKPT_ZARR_H

#include "cache.h"
#include "readahead.h"
#include "spill.h"
#include "ckpt_limits.h"
#include "store.h"
#include "zarr_meta.h"

struct ckpt_array;

struct ckpt_array_opts {
	struct ckpt_cache *cache;    /* required */
	const struct ckpt_limits *lim;
	bool missing_is_error;       /* store_array_data_equal_to_fill_value */
	uint64_t stream_threshold;   /* chunks above this decode as streams */
	size_t piece_bytes;          /* stream piece size */
	struct ckpt_ra *ra;          /* read-ahead pool, or NULL */
	struct ckpt_spill *spill;    /* streamed pieces also go there, or NULL */
};

/*
 * Opens the array whose metadata is at key "<prefix>.zarray" or
 * "<prefix>zarr.json" (format 0: try both; 2 or 3: that one).
 * prefix is "<param_name>/" (or "" for a bare array).
 * @return 0, -ENOENT (no metadata), CKPT_ECORRUPT, -ENOTSUP
 */
int ckpt_array_open(struct ckpt_array **out, const struct ckpt_store *s, const char *prefix,
		    int format, const struct ckpt_array_opts *o, struct ckpt_err *err);
void ckpt_array_close(struct ckpt_array *a);

const struct ckpt_zarr_meta *ckpt_array_meta(const struct ckpt_array *a);
/* the raw metadata JSON bytes (borrowed) */
const char *ckpt_array_meta_json(const struct ckpt_array *a, size_t *n);

/*
 * Copies up to n bytes at off of the decoded array into buf.
 * @return bytes copied (0 at or past the end), or a negative error
 */
int64_t ckpt_array_read(struct ckpt_array *a, void *buf, uint64_t off, size_t n,
			struct ckpt_err *err);

/*
 * Borrows n bytes at off (fewer at the end) from the decoded-chunk cache when
 * they are contiguous there: 1 (the bytes are at ref->data + *skip; drop ref
 * with ckpt_cache_unref), 0 when they are not (use ckpt_array_read), or an
 * error.
 */
int ckpt_array_view(struct ckpt_array *a, uint64_t off, size_t n, struct ckpt_cache_ref *ref,
		    size_t *skip, struct ckpt_err *err);
/* Sum of the stored sizes of the chunks that exist, and how many exist. */
int ckpt_array_stored(struct ckpt_array *a, uint64_t *bytes, uint64_t *chunks,
		      struct ckpt_err *err);

/* Schedules the decoding of the chunks (pieces of streamed chunks) holding
 * bytes [off, off+len) on the read-ahead pool; returns at once. */
void ckpt_array_readahead(struct ckpt_array *a, uint64_t off, uint64_t len);
/* the stored bytes of the array's first chunks (FETCH_AHEAD_CHUNKS) will be
 * read: a remote mirror starts fetching them (ckpt_src_willneed), nothing
 * is decoded */
#define FETCH_AHEAD_CHUNKS 64
void ckpt_array_fetch_ahead(struct ckpt_array *a);
/* what a read-ahead job does: decode chunk (streamed: its pieces up to piece) into the cache */
void ckpt_array_ra_run(struct ckpt_array *a, uint64_t chunk, uint64_t piece);
/* Decodes chunk `chunk` ahead of time into the cache (read-ahead). */
int ckpt_array_prefetch(struct ckpt_array *a, uint64_t chunk, struct ckpt_err *err);
/* The linear chunk index holding byte off, and the chunk count. */
uint64_t ckpt_array_chunk_of(const struct ckpt_array *a, uint64_t off);
bool ckpt_array_streams(const struct ckpt_array *a);
struct ckpt_cache *ckpt_array_cache(const struct ckpt_array *a);

#endif
