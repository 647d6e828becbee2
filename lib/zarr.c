/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zarr.c - zarr arrays over a store (tier 3); see zarr.h.
 *
 * A read is cut into runs: maximal spans of output bytes that are contiguous
 * in one decoded chunk (a run crosses rows when the chunk spans whole rows).
 * Whole chunks go through the cache; streamed chunks are zarr_stream.c's.
 */
#include "zarr.h"

#include "compress.h"
#include "fsutil.h"
#include "zarr_int.h"
#include "ndcopy.h"
#include "util.h"
#include "zarr_codec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t next_uid = 1;

static const char *meta_name(int format)
{
	return format == 3 ? "zarr.json" : ".zarray";
}

int ckpt_array_open(struct ckpt_array **out, const struct ckpt_store *s, const char *prefix,
		    int format, const struct ckpt_array_opts *o, struct ckpt_err *err)
{
	struct ckpt_array *a;
	struct ckpt_blob b;
	char key[1024];
	uint8_t *json = NULL;
	int rc = -ENOENT;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->slock, NULL);
	pthread_mutex_init(&a->pmu, NULL);
	{
		pthread_condattr_t ca; /* timed waits on CLOCK_MONOTONIC */

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&a->pcond, &ca);
		pthread_condattr_destroy(&ca);
	}
	a->s = s;
	a->o = *o;
	a->prefix = strdup(prefix);
	if (!a->prefix) {
		rc = -ENOMEM;
		goto out;
	}
	for (int f = 2; f <= 3; f++) {
		if (format && format != f)
			continue;
		snprintf(key, sizeof(key), "%s%s", prefix, meta_name(f));
		rc = ckpt_store_get(s, key, &b, err);
		if (rc == -ENOENT)
			continue;
		if (rc == 0) {
			rc = ckpt_blob_load(s, &b, o->lim->max_json_bytes, &json, err);
			ckpt_blob_release(&b);
		}
		break;
	}
	if (rc == -ENOENT) {
		rc = ckpt_err_set(err, -ENOENT, "'%s': no zarr metadata '%s%s'", s->label, prefix,
				  format == 3 ? "zarr.json" : format == 2 ? ".zarray"
									 : ".zarray' or 'zarr.json");
		goto out;
	}
	if (rc < 0)
		goto out;
	a->meta_json = (char *)json;
	a->meta_json_n = (size_t)b.len;
	json = NULL;
	rc = ckpt_zarr_meta_parse(&a->m, a->meta_json, a->meta_json_n, o->lim, err);
	if (rc < 0) {
		ckpt_err_prefix(err, "'%s/%s': ", s->label, key);
		goto out;
	}
	if (a->m.rank) {
		a->cstride[a->m.rank - 1] = 1;
		for (uint32_t i = a->m.rank - 1; i > 0; i--)
			a->cstride[i - 1] = a->cstride[i] * a->m.chunk[i];
	}
	/* a chunk the cache cannot hold a few of is streamed in pieces, or
	 * every read would decode it whole again */
	uint64_t stream_at = o->stream_threshold;

	if (o->cache) {
		size_t budget = ckpt_cache_budget(o->cache);

		stream_at = CKPT_MIN(stream_at, (uint64_t)budget / 4);
		a->o.piece_bytes = CKPT_MIN(a->o.piece_bytes, CKPT_MAX(budget / 16, (size_t)4096));
	}
	/* a chunk whose chain cannot be decoded as a stream (blosc, crc32c,
	 * several codecs, transposes, shards of several inner chunks) is
	 * decoded whole, once, and handed out in pieces the same way */
	if (a->m.chunk_nbytes > stream_at) {
		a->streaming = true;
		a->whole = !ckpt_chain_streamable(&a->m.chain, &a->m.dtype, a->m.rank, a->m.chunk,
						  &a->scomp);
		if (a->whole && a->m.chunk_nbytes > o->lim->max_chunk_bytes)
			a->streaming = false; /* refused below */
	}
	if (!a->streaming && a->m.chunk_nbytes > o->lim->max_chunk_bytes) {
		rc = ckpt_err_set(err, -EFBIG,
				  "'%s/%s': chunks of %llu bytes exceed the limit %zu and cannot be "
				  "decoded as a stream",
				  s->label, key, (unsigned long long)a->m.chunk_nbytes,
				  o->lim->max_chunk_bytes);
		goto out;
	}
	a->side = 1;
	for (uint32_t k = 1; k < a->m.rank && a->side < 64; k++)
		a->side *= a->m.grid[k];
	a->side = CKPT_MIN(a->side, 64);
	/* pieces hold whole elements (itemsize divides 16), so a fill pattern lines up */
	a->o.piece_bytes = CKPT_MAX((size_t)4096, a->o.piece_bytes & ~(size_t)15);
	a->uid = __atomic_fetch_add(&next_uid, 1, __ATOMIC_RELAXED);
	*out = a;
	a = NULL;
	rc = 0;
out:
	free(json);
	ckpt_array_close(a);
	return rc;
}

void ckpt_array_close(struct ckpt_array *a)
{
	if (!a)
		return;
	ckpt_ra_forget(a->o.ra, a);
	ckpt_spill_forget(a->o.spill, a->uid);
	free(a->seen);
	while (a->streams) {
		struct zstream *st = a->streams;

		a->streams = st->next;
		ckpt_zstream_free(st);
	}
	ckpt_zarr_meta_release(&a->m);
	pthread_mutex_destroy(&a->slock);
	pthread_mutex_destroy(&a->pmu);
	pthread_cond_destroy(&a->pcond);
	free(a->meta_json);
	free(a->prefix);
	free(a);
}

const struct ckpt_zarr_meta *ckpt_array_meta(const struct ckpt_array *a)
{
	return &a->m;
}

const char *ckpt_array_meta_json(const struct ckpt_array *a, size_t *n)
{
	*n = a->meta_json_n;
	return a->meta_json;
}

struct ckpt_cache *ckpt_array_cache(const struct ckpt_array *a)
{
	return a->o.cache;
}

bool ckpt_array_streams(const struct ckpt_array *a)
{
	return a->streaming;
}

/* ---------------------------------------------------------------- whole chunks */

struct fill_ctx {
	struct ckpt_array *a;
	uint64_t chunk;
};

/*
 * The decoders at work at once on chunks of 1 MiB or more: at most one per
 * CPU on object storage, one more on local sources.  More would not decode
 * faster, and each holds a chunk's stored and decoded bytes: with 16
 * read-ahead threads whose chunks arrive together (object storage), or 8
 * readers each on its own leaf, memory grew with the threads, not the
 * cores.  Local sources have as many read-ahead threads as CPUs, besides
 * the reader's own: bound to one per CPU, a single reader's whole step of
 * 4 MiB chunks was about 7% slower; with one more, it is as fast as
 * without a bound (bench/RESULTS.md, "8 readers").
 */
#define GATE_MIN_BYTES (1u << 20)
#ifndef GATE_LOCAL_EXTRA
#define GATE_LOCAL_EXTRA 1 /* a -D lets a benchmark build turn it off */
#endif
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static long gate_busy, gate_max;

static bool gate_enter(uint64_t bytes)
{
	long max;

	if (bytes < GATE_MIN_BYTES)
		return false;
	pthread_mutex_lock(&gate_lock);
	if (!gate_max) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		gate_max = n < 2 ? 2 : n;
	}
	max = ckpt_src_willneed_wanted() ? gate_max : gate_max + GATE_LOCAL_EXTRA;
	while (gate_busy >= max)
		pthread_cond_wait(&gate_cond, &gate_lock);
	gate_busy++;
	pthread_mutex_unlock(&gate_lock);
	return true;
}

static void gate_leave(bool entered)
{
	if (!entered)
		return;
	pthread_mutex_lock(&gate_lock);
	gate_busy--;
	pthread_cond_signal(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static int fill_chunk(void *vctx, uint8_t **data, size_t *n, struct ckpt_err *err)
{
	struct fill_ctx *c = vctx;
	struct ckpt_array *a = c->a;
	uint64_t ci[CKPT_MAX_RANK];
	char key[1024];
	struct ckpt_blob b;
	uint8_t *raw = NULL, *dec;
	bool gated = false;
	int rc;

	ckpt_zarr_chunk_coords(a, c->chunk, ci);
	ckpt_zarr_key_of(a, ci, key, sizeof(key));
	rc = ckpt_store_get(a->s, key, &b, err);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0) { /* fetched now if remote: no buffer is held while it comes */
		ckpt_blob_willneed(&b, true);
		gated = gate_enter(a->m.chunk_nbytes + b.len);
	}
	dec = malloc(a->m.chunk_nbytes ? (size_t)a->m.chunk_nbytes : 1);
	if (!dec) {
		if (rc == 0)
			ckpt_blob_release(&b);
		gate_leave(gated);
		return -ENOMEM;
	}
	if (rc == -ENOENT) {
		if (a->o.missing_is_error) {
			free(dec);
			return ckpt_zarr_missing_chunk(a, key, err);
		}
		ckpt_fill_elems(dec, a->m.chunk_nbytes / a->m.dtype.itemsize, a->m.fill,
				a->m.dtype.itemsize);
		*data = dec;
		*n = (size_t)a->m.chunk_nbytes;
		return 0;
	}
	if (rc == 0) {
		/* a compressed chunk may legitimately be a little larger than decoded */
		rc = ckpt_blob_load(a->s, &b, a->o.lim->max_chunk_bytes + (a->m.chunk_nbytes / 8) + 65536,
				    &raw, err);
		if (rc == 0) {
			rc = ckpt_chain_decode(&a->m.chain, &a->m.dtype, a->m.rank, a->m.chunk,
					       a->m.fill, raw, (size_t)b.len, dec, a->o.lim, err);
			if (rc < 0)
				ckpt_err_prefix(err, "'%s': chunk '%s': ", a->s->label, key);
		}
		ckpt_blob_release(&b);
	}
	free(raw);
	gate_leave(gated);
	if (rc < 0) {
		free(dec);
		return rc;
	}
	*data = dec;
	*n = (size_t)a->m.chunk_nbytes;
	ckpt_cache_count_decoded(a->o.cache, a->m.chunk_nbytes);
	return 0;
}

static int copy_whole(struct ckpt_array *a, uint64_t chunk, uint64_t off, size_t n, uint8_t *out,
		      struct ckpt_err *err)
{
	struct fill_ctx c = { a, chunk };
	struct ckpt_cache_ref ref;
	int rc;

	rc = ckpt_cache_get(a->o.cache, (struct ckpt_cache_key){ a->uid, chunk, 0 }, fill_chunk, &c,
			    &ref, err);
	if (rc < 0)
		return rc;
	memcpy(out, ref.data + off, n);
	ckpt_cache_unref(a->o.cache, &ref);
	return 0;
}

/* ---------------------------------------------------------------- reads */

/* Where byte pos of the array is: its chunk (linear index), its element's
 * position in the decoded chunk, and how many elements from there on are
 * contiguous in both the array and the chunk. */
static void locate(const struct ckpt_array *a, uint64_t pos, uint64_t *chunk_lin, uint64_t *cpos,
		   uint64_t *run)
{
	const struct ckpt_zarr_meta *m = &a->m;
	uint64_t e = pos / m->dtype.itemsize, idx[CKPT_MAX_RANK], ci[CKPT_MAX_RANK], w[CKPT_MAX_RANK];
	uint32_t r = m->rank;

	*chunk_lin = 0;
	*cpos = 0;
	for (uint32_t k = r; k-- > 0;) {
		idx[k] = e % m->shape[k];
		e /= m->shape[k];
		ci[k] = idx[k] / m->chunk[k];
		w[k] = idx[k] % m->chunk[k];
	}
	for (uint32_t k = 0; k < r; k++) {
		*chunk_lin = *chunk_lin * m->grid[k] + ci[k];
		*cpos += w[k] * a->cstride[k];
	}
	if (r == 0) {
		*run = 1;
	} else {
		/* extend across trailing dims that the chunk covers exactly */
		uint32_t j = r - 1;
		uint64_t inner = 1, lin = w[r - 1], valid;

		while (j > 0 && m->chunk[j] == m->shape[j]) {
			inner *= m->shape[j];
			j--;
			lin += w[j] * inner;
		}
		valid = CKPT_MIN(m->chunk[j], m->shape[j] - ci[j] * m->chunk[j]);
		*run = valid * inner - lin;
	}
}

int64_t ckpt_array_read(struct ckpt_array *a, void *buf, uint64_t off, size_t n,
			struct ckpt_err *err)
{
	const struct ckpt_zarr_meta *m = &a->m;
	const uint64_t isz = m->dtype.itemsize;
	uint64_t pos, end;
	uint8_t *out = buf;
	
	if (off >= m->nbytes)
		return 0;
	if (n > m->nbytes - off)
		n = (size_t)(m->nbytes - off);
	pos = off;
	end = off + n;
	while (pos < end) {
		uint64_t b = pos % isz, chunk_lin, cpos, run, take;
		int rc;

		locate(a, pos, &chunk_lin, &cpos, &run);
		take = CKPT_MIN(run * isz - b, end - pos);
		if (a->streaming)
			rc = ckpt_zarr_copy_streamed(a, chunk_lin, cpos * isz + b, (size_t)take, out, err);
		else
			rc = copy_whole(a, chunk_lin, cpos * isz + b, (size_t)take, out, err);
		if (rc < 0)
			return rc;
		out += take;
		pos += take;
	}
	return (int64_t)n;
}

uint64_t ckpt_array_chunk_of(const struct ckpt_array *a, uint64_t off)
{
	const struct ckpt_zarr_meta *m = &a->m;
	uint64_t e = off / m->dtype.itemsize, lin = 0, idx[CKPT_MAX_RANK];

	for (uint32_t k = m->rank; k-- > 0;) {
		idx[k] = e % m->shape[k];
		e /= m->shape[k];
	}
	for (uint32_t k = 0; k < m->rank; k++)
		lin = lin * m->grid[k] + idx[k] / m->chunk[k];
	return lin;
}

int ckpt_array_prefetch(struct ckpt_array *a, uint64_t chunk, struct ckpt_err *err)
{
	struct fill_ctx c = { a, chunk };
	struct ckpt_cache_ref ref;
	int rc;

	if (a->streaming || chunk >= a->m.n_chunks)
		return 0;
	rc = ckpt_cache_get(a->o.cache, (struct ckpt_cache_key){ a->uid, chunk, 0 }, fill_chunk, &c,
			    &ref, err);
	if (rc == 0)
		ckpt_cache_unref(a->o.cache, &ref);
	return rc;
}

void ckpt_array_ra_run(struct ckpt_array *a, uint64_t chunk, uint64_t piece)
{
	struct ckpt_err err = { 0, "" };

	if (a->streaming)
		ckpt_zarr_stream_prefetch(a, chunk, piece);
	else
		ckpt_array_prefetch(a, chunk, &err); /* errors surface when read */
}

/* the read-ahead pool's job for an array */
static void ra_job(void *owner, uint64_t chunk, uint64_t piece)
{
	ckpt_array_ra_run(owner, chunk, piece);
}

/* the array coordinates of byte pos */
static void elem_index(const struct ckpt_array *a, uint64_t pos, uint64_t *idx)
{
	uint64_t e = pos / a->m.dtype.itemsize;

	for (uint32_t k = a->m.rank; k-- > 0;) {
		idx[k] = e % a->m.shape[k];
		e /= a->m.shape[k];
	}
}

/* An upper bound on the last byte of chunk `chunk` that a reader reaching
 * element idx (array coordinates) has passed: idx clamped into the chunk's
 * box, row-major (a dimension clamped up sets the following ones to their
 * ends, clamped down to their starts). */
static uint64_t chunk_pos_until(const struct ckpt_array *a, uint64_t chunk, const uint64_t *idx)
{
	const struct ckpt_zarr_meta *m = &a->m;
	uint64_t ci[CKPT_MAX_RANK], pos = 0;
	int clamp = 0; /* 1: past the box, -1: before it */

	ckpt_zarr_chunk_coords(a, chunk, ci);
	for (uint32_t k = 0; k < m->rank; k++) {
		uint64_t lo = ci[k] * m->chunk[k], hi = CKPT_MIN(lo + m->chunk[k], m->shape[k]) - 1;
		uint64_t v = clamp > 0 ? hi : clamp < 0 ? lo : idx[k];

		if (!clamp && v > hi) {
			v = hi;
			clamp = 1;
		} else if (!clamp && v < lo) {
			v = lo;
			clamp = -1;
		}
		pos += (v - lo) * a->cstride[k];
	}
	return pos * m->dtype.itemsize;
}

void ckpt_array_fetch_ahead(struct ckpt_array *a)
{
	for (uint64_t c = 0; c < a->m.n_chunks && c < FETCH_AHEAD_CHUNKS; c++) {
		uint64_t ci[CKPT_MAX_RANK];
		struct ckpt_err err = { 0, "" };
		struct ckpt_blob b;
		char key[1024];

		ckpt_zarr_chunk_coords(a, c, ci);
		ckpt_zarr_key_of(a, ci, key, sizeof(key));
		if (ckpt_store_get(a->s, key, &b, &err) < 0)
			continue; /* absent (fill value), or its reader meets the error */
		ckpt_blob_willneed(&b, false);
		ckpt_blob_release(&b);
	}
}

void ckpt_array_readahead(struct ckpt_array *a, uint64_t off, uint64_t len)
{
	const struct ckpt_zarr_meta *m = &a->m;
	uint64_t end, c0, c1, cpos, run;

	if (!a->o.ra || off >= m->nbytes || len == 0)
		return;
	end = CKPT_MIN(m->nbytes, off + len);
	locate(a, off, &c0, &cpos, &run);
	locate(a, end - 1, &c1, &cpos, &run);
	if (a->streaming) {
		/* pieces up to the one holding the last byte, chunk by chunk;
		 * where chunks lie side by side (split along a later
		 * dimension), only as far as the reader will have gone in
		 * each: decoding each to its end evicted the pieces the reader
		 * needed next and its stream started over (prefetch_limit in
		 * zarr_stream.c bounds them further) */
		uint64_t to[CKPT_MAX_RANK];

		elem_index(a, end - 1, to);
		for (uint64_t c = c0; c <= c1 && c < c0 + 4; c++)
			ckpt_ra_submit(a->o.ra, ra_job, a, c,
				       chunk_pos_until(a, c, to) / a->o.piece_bytes);
		return;
	}
	for (uint64_t c = c0; c <= c1 && c < c0 + 64; c++) {
		struct ckpt_cache_ref ref;

		if (ckpt_cache_lookup(a->o.cache, (struct ckpt_cache_key){ a->uid, c, 0 }, &ref) == 0)
			ckpt_cache_unref(a->o.cache, &ref);
		else
			ckpt_ra_submit(a->o.ra, ra_job, a, c, 0);
	}
}

int ckpt_array_view(struct ckpt_array *a, uint64_t off, size_t n, struct ckpt_cache_ref *ref,
		    size_t *skip, struct ckpt_err *err)
{
	const struct ckpt_zarr_meta *m = &a->m;
	const uint64_t isz = m->dtype.itemsize, P = a->o.piece_bytes;
	uint64_t chunk, cpos, run, at;
	int rc;

	if (off >= m->nbytes || n == 0)
		return 0;
	if (n > m->nbytes - off)
		n = (size_t)(m->nbytes - off);
	locate(a, off, &chunk, &cpos, &run);
	at = cpos * isz + off % isz;
	if (n > run * isz - off % isz)
		return 0; /* not contiguous in one chunk */
	if (!a->streaming) {
		struct fill_ctx c = { a, chunk };

		rc = ckpt_cache_get(a->o.cache, (struct ckpt_cache_key){ a->uid, chunk, 0 }, fill_chunk,
				    &c, ref, err);
		if (rc < 0)
			return rc;
		*skip = (size_t)at;
		return 1;
	}
	if (at / P != (at + n - 1) / P)
		return 0; /* across two pieces */
	for (int tries = 0; tries < 2; tries++) {
		uint8_t one;

		if (ckpt_cache_lookup(a->o.cache, (struct ckpt_cache_key){ a->uid, chunk, at / P + 1 }, ref) == 0) {
			*skip = (size_t)(at % P);
			return 1;
		}
		if (ckpt_zarr_spilled(a, chunk, at / P))
			return 0; /* ckpt_array_read reads it from the spill */
		/* decode up to that piece (it is cached on the way) */
		if ((rc = ckpt_zarr_copy_streamed(a, chunk, at, 1, &one, err)) < 0)
			return rc;
	}
	return 0; /* evicted at once: a cache smaller than a piece */
}

int ckpt_array_stored(struct ckpt_array *a, uint64_t *bytes, uint64_t *chunks,
		      struct ckpt_err *err)
{
	uint64_t ci[CKPT_MAX_RANK];
	char key[1024];

	*bytes = *chunks = 0;
	if (a->m.n_chunks > 65536)
		return -EFBIG; /* not worth a stat per chunk just for a summary */
	for (uint64_t c = 0; c < a->m.n_chunks; c++) {
		struct ckpt_blob b;
		int rc;

		ckpt_zarr_chunk_coords(a, c, ci);
		ckpt_zarr_key_of(a, ci, key, sizeof(key));
		rc = ckpt_store_get(a->s, key, &b, err);
		if (rc == -ENOENT)
			continue;
		if (rc < 0)
			return rc;
		*bytes += b.len;
		(*chunks)++;
		ckpt_blob_release(&b);
	}
	return 0;
}
