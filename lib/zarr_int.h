/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zarr_int.h - the array's insides, shared by zarr.c (arrays, whole chunks,
 * reads) and zarr_stream.c (chunks decoded as a stream, piece by piece);
 * private to those two (tier 3).  zarr.c calls zarr_stream.c, never the
 * other way: what both need is inline here.
 */
#ifndef CKPT_ZARR_INT_H
#define CKPT_ZARR_INT_H

#include "cache.h"
#include "compress.h"
#include "store.h"
#include "zarr.h"
#include "zarr_meta.h"

#include <pthread.h>
#include <stdio.h>

#define MAX_STREAMS 16
#define STREAM_IN_BYTES (1u << 20)
#define SEEN_MAX_CHUNKS (8ull << 20) /* a 1 MiB bitmap */

struct zstream {
	uint64_t chunk;
	bool init, missing;
	bool retired; /* produced the whole chunk and let go of its decoder */
	bool again;   /* its decoding started before */
	bool spill;   /* decoded again for a reader that went back: its
		       * pieces also go to the spill */
	struct ckpt_blob blob;
	uint64_t data_off, data_len; /* the compressed stream inside the blob */
	struct ckpt_dstream *ds;
	uint8_t *dec; /* whole mode: the chunk, decoded at once */
	uint64_t produced, consumed;
	uint8_t *in;
	size_t in_pos, in_len;
	pthread_mutex_t lock;
	unsigned users;
	uint64_t last_use;
	struct zstream *next;
};

struct ckpt_array {
	struct ckpt_zarr_meta m;
	const struct ckpt_store *s;
	char *prefix;
	char *meta_json;
	size_t meta_json_n;
	uint64_t uid;
	struct ckpt_array_opts o;
	bool streaming;
	bool whole; /* streamed, but the chain cannot stream: each chunk is
		     * decoded whole once, then handed out piece by piece */
	enum ckpt_comp scomp;
	uint64_t cstride[CKPT_MAX_RANK]; /* chunk-buffer strides in elements */
	pthread_mutex_t slock;
	/* a piece came out of a stream: pgen moved, pcond broadcast (readers
	 * wait for their piece here, not for a stream read-ahead holds) */
	pthread_mutex_t pmu;
	pthread_cond_t pcond;
	uint64_t pgen;
	struct zstream *streams;
	unsigned n_streams;
	/* where readers last were in streamed chunks (chunk, offset + 1),
	 * by chunk % 16, relaxed atomics: a hint that keeps read-ahead
	 * from decoding further ahead than the cache holds */
	uint64_t hint_chunk[16], hint_at[16];
	/* streamed chunks decoded before, a bit each, made when the first
	 * one is (NULL: none yet, or more chunks than SEEN_MAX_CHUNKS) */
	uint8_t *seen;
	uint64_t side; /* chunks side by side: the grid's size past its first dimension (at most 64) */
	uint64_t use_clock;
};

static inline void ckpt_zarr_chunk_coords(const struct ckpt_array *a, uint64_t lin, uint64_t *ci)
{
	for (uint32_t k = a->m.rank; k-- > 0;) {
		ci[k] = lin % a->m.grid[k];
		lin /= a->m.grid[k];
	}
}

static inline void ckpt_zarr_key_of(const struct ckpt_array *a, const uint64_t *ci, char *buf, size_t cap)
{
	size_t p = (size_t)snprintf(buf, cap, "%s", a->prefix);

	if (p < cap)
		ckpt_zarr_chunk_key(&a->m, ci, buf + p, cap - p);
}

static inline int ckpt_zarr_missing_chunk(struct ckpt_array *a, const char *key, struct ckpt_err *err)
{
	return ckpt_err_set(err, CKPT_ECORRUPT,
			    "'%s': chunk '%s' is missing (the checkpoint stores every chunk)",
			    a->s->label, key);
}

/* zarr_stream.c */
void ckpt_zstream_free(struct zstream *st);
/* n bytes at off of streamed chunk `chunk` into out, through the cache's pieces */
int ckpt_zarr_copy_streamed(struct ckpt_array *a, uint64_t chunk, uint64_t off, size_t n,
			    uint8_t *out, struct ckpt_err *err);
/* piece `piece` of streamed chunk `chunk` is in the spill */
bool ckpt_zarr_spilled(struct ckpt_array *a, uint64_t chunk, uint64_t piece);
/* decodes the pieces of a streamed chunk up to `piece`, never starting over */
void ckpt_zarr_stream_prefetch(struct ckpt_array *a, uint64_t chunk, uint64_t piece);

#endif
