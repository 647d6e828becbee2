/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zarr_stream.c - chunks too large for the cache, decoded as one stream
 * (tier 3): cut into pieces of piece_bytes, each cached on its own, produced
 * in order by one decoder per chunk (restarted when a reader goes back
 * before it).  When the mount has a spill (spill.h), each piece of a chunk
 * decoded again for a reader that went back into it, and each piece a
 * reader jumped over, also goes there: a reader going back to an evicted
 * piece reads it there, and the stream starts over only for pieces the
 * spill does not hold.  A chunk read front to back (most are, some twice)
 * is not written to disk: that cost a first pass half its speed.
 * See zarr_int.h.
 */
#include "zarr_int.h"

#include "fsutil.h"
#include "ndcopy.h"
#include "util.h"
#include "zarr_codec.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Where a piece of this chunk is spilled; NULL when the array spills
 * nothing: no spill, or raw bytes (their stream moves to any piece at
 * once, from the stored chunk itself). */
static const struct ckpt_spill_key *spill_key(const struct ckpt_array *a, uint64_t chunk,
					      struct ckpt_spill_key *k)
{
	if (!a->o.spill || (a->scomp == CKPT_COMP_NONE && !a->whole))
		return NULL;
	*k = (struct ckpt_spill_key){ a->uid, chunk, a->m.chunk_nbytes, a->o.piece_bytes };
	return k;
}

/* n bytes at off of a chunk, inside one piece, from the spill: 0 or -ENOENT */
static int spill_read(struct ckpt_array *a, uint64_t chunk, uint64_t off, size_t n, uint8_t *out)
{
	struct ckpt_spill_key k;

	return spill_key(a, chunk, &k) ? ckpt_spill_get(a->o.spill, &k, off, n, out) : -ENOENT;
}

/* the spill's hold on a piece it writes: the piece's cache entry */
struct spill_hold {
	struct ckpt_cache *cache;
	struct ckpt_cache_ref ref;
};

static void spill_hold_done(void *ctx)
{
	struct spill_hold *h = ctx;

	ckpt_cache_unref(h->cache, &h->ref);
	free(h);
}

/* a piece of a's went into the cache, or a stream was let go: readers
 * waiting for theirs look again */
static void piece_signal(struct ckpt_array *a)
{
	pthread_mutex_lock(&a->pmu);
	__atomic_store_n(&a->pgen, a->pgen + 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&a->pcond);
	pthread_mutex_unlock(&a->pmu);
}

/* lets go of a stream: readers waiting for a piece from it (piece_wait)
 * look again, and take it if their piece did not come out */
static void stream_unlock(struct ckpt_array *a, struct zstream *st)
{
	pthread_mutex_unlock(&st->lock);
	piece_signal(a);
}

/* waits until a piece has come out since gen, or a stream was let go, or
 * 20 ms (a safety: every path that lets go signals) */
static void piece_wait(struct ckpt_array *a, uint64_t gen)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += 20 * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->pmu);
	while (a->pgen == gen && pthread_cond_timedwait(&a->pcond, &a->pmu, &t) == 0)
		;
	pthread_mutex_unlock(&a->pmu);
}

/* A piece decoded (buf, taken over) into the cache, and to the spill if
 * `spill`: the spill writes the cached bytes on its own thread, holding the
 * entry until then. */
static void piece_keep(struct ckpt_array *a, const struct zstream *st, uint64_t p, uint8_t *buf,
		       size_t len, bool spill)
{
	struct ckpt_cache_key key = { a->uid, st->chunk, p + 1 };
	struct ckpt_spill_key k;
	struct spill_hold *h;

	if (!spill || !spill_key(a, st->chunk, &k) || !(h = malloc(sizeof(*h)))) {
		ckpt_cache_insert(a->o.cache, key, buf, len);
		piece_signal(a);
		return;
	}
	h->cache = a->o.cache;
	/* not kept when an earlier pass's copy is there (maybe not spilled
	 * then: that one is offered), or when larger than the cache */
	if (ckpt_cache_insert_ref(a->o.cache, key, buf, len, &h->ref) < 0 &&
	    ckpt_cache_lookup(a->o.cache, key, &h->ref) < 0) {
		free(h);
		return;
	}
	piece_signal(a);
	ckpt_spill_put(a->o.spill, &k, p, h->ref.data, h->ref.n, spill_hold_done, h);
}

/* Whether chunk's decoding started before (and now it has): a chunk
 * decoded again may be spilled.  Past SEEN_MAX_CHUNKS chunks, or without
 * memory for the bits, every decoding counts as a second one. */
static bool decoded_before(struct ckpt_array *a, uint64_t chunk)
{
	uint8_t *seen, bit = (uint8_t)(1u << (chunk % 8));

	if (a->m.n_chunks > SEEN_MAX_CHUNKS)
		return true;
	pthread_mutex_lock(&a->slock);
	if (!a->seen)
		a->seen = calloc((size_t)((a->m.n_chunks + 7) / 8), 1);
	seen = a->seen;
	pthread_mutex_unlock(&a->slock);
	if (!seen)
		return true;
	/* streams of other chunks set other bits of the same byte */
	return __atomic_fetch_or(&seen[chunk / 8], bit, __ATOMIC_RELAXED) & bit;
}

bool ckpt_zarr_spilled(struct ckpt_array *a, uint64_t chunk, uint64_t piece)
{
	struct ckpt_spill_key k;

	return spill_key(a, chunk, &k) && ckpt_spill_has(a->o.spill, &k, piece);
}

void ckpt_zstream_free(struct zstream *st)
{
	ckpt_blob_release(&st->blob);
	ckpt_dstream_free(st->ds);
	free(st->dec);
	free(st->in);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static struct zstream *stream_acquire(struct ckpt_array *a, uint64_t chunk)
{
	struct zstream *st, **pp, *victim = NULL;

	pthread_mutex_lock(&a->slock);
	for (st = a->streams; st; st = st->next)
		if (st->chunk == chunk)
			break;
	if (!st) {
		if (a->n_streams >= MAX_STREAMS) {
			for (struct zstream *s = a->streams; s; s = s->next)
				if (!s->users && (!victim || s->last_use < victim->last_use))
					victim = s;
			if (victim) {
				for (pp = &a->streams; *pp != victim; pp = &(*pp)->next)
					;
				*pp = victim->next;
				a->n_streams--;
				ckpt_zstream_free(victim);
			}
		}
		st = calloc(1, sizeof(*st));
		if (st) {
			st->chunk = chunk;
			st->blob.fd = -1;
			pthread_mutex_init(&st->lock, NULL);
			st->next = a->streams;
			a->streams = st;
			a->n_streams++;
		}
	}
	if (st) {
		st->users++;
		st->last_use = ++a->use_clock;
	}
	pthread_mutex_unlock(&a->slock);
	return st;
}

static void stream_release(struct ckpt_array *a, struct zstream *st)
{
	pthread_mutex_lock(&a->slock);
	st->users--;
	pthread_mutex_unlock(&a->slock);
}

/* whole mode: at most this many idle decoded chunks kept per array, besides
 * those being read (chunks side by side are read in turns; beyond, the least
 * recent idle one goes and is decoded again if read again) */
#define MAX_WHOLE 4

static void drop_idle_wholes(struct ckpt_array *a, struct zstream *keep)
{
	pthread_mutex_lock(&a->slock);
	for (;;) {
		struct zstream *victim = NULL;
		unsigned held = 0;

		for (struct zstream *s = a->streams; s; s = s->next) {
			/* idle ones only (users == 0: nobody holds its lock,
			 * nobody can take it while a->slock is held); those in
			 * use, at most one per reader, are not counted */
			if (s == keep || s->users || !s->dec)
				continue;
			held++;
			if (!victim || s->last_use < victim->last_use)
				victim = s;
		}
		if (held < MAX_WHOLE)
			break;
		free(victim->dec);
		victim->dec = NULL;
		victim->init = false;
		victim->retired = false;
		victim->produced = victim->consumed = 0;
	}
	pthread_mutex_unlock(&a->slock);
}

/* whole mode: the chunk decoded at once (within the limit on a chunk
 * decoded whole, checked when the array was opened), the blob let go */
static int stream_init_whole(struct ckpt_array *a, struct zstream *st, const char *key,
			     struct ckpt_err *err)
{
	uint8_t *raw = NULL;
	int rc;

	/* a compressed chunk may legitimately be a little larger than decoded */
	rc = ckpt_blob_load(a->s, &st->blob, a->o.lim->max_chunk_bytes + (a->m.chunk_nbytes / 8) + 65536,
			    &raw, err);
	if (rc == 0) {
		drop_idle_wholes(a, st);
		st->dec = malloc(a->m.chunk_nbytes ? (size_t)a->m.chunk_nbytes : 1);
		rc = st->dec ? ckpt_chain_decode(&a->m.chain, &a->m.dtype, a->m.rank, a->m.chunk,
						 a->m.fill, raw, (size_t)st->blob.len, st->dec,
						 a->o.lim, err)
			     : -ENOMEM;
		if (rc < 0 && rc != -ENOMEM)
			ckpt_err_prefix(err, "'%s': chunk '%s': ", a->s->label, key);
	}
	free(raw);
	ckpt_blob_release(&st->blob);
	memset(&st->blob, 0, sizeof(st->blob));
	st->blob.fd = -1;
	if (rc < 0) {
		free(st->dec);
		st->dec = NULL;
		return rc;
	}
	ckpt_cache_count_decoded(a->o.cache, a->m.chunk_nbytes);
	st->produced = st->consumed = 0;
	st->init = true;
	return 0;
}

static int stream_init(struct ckpt_array *a, struct zstream *st, struct ckpt_err *err)
{
	uint64_t ci[CKPT_MAX_RANK];
	char key[1024];
	int rc;

	ckpt_zarr_chunk_coords(a, st->chunk, ci);
	ckpt_zarr_key_of(a, ci, key, sizeof(key));
	rc = ckpt_store_get(a->s, key, &st->blob, err);
	if (rc == -ENOENT) {
		if (a->o.missing_is_error)
			return ckpt_zarr_missing_chunk(a, key, err);
		st->missing = true;
		st->init = true;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (a->o.spill && decoded_before(a, st->chunk))
		st->again = true;
	if (a->whole)
		return stream_init_whole(a, st, key, err);
	st->data_off = 0;
	st->data_len = st->blob.len;
	if (a->m.chain.shard) {
		const struct ckpt_shard *sh = a->m.chain.shard;
		uint64_t ib = ckpt_shard_index_size(sh, a->m.rank, a->m.chunk), off, len;
		uint8_t idx[20];

		if (ib > sizeof(idx) || ib > st->blob.len)
			return ckpt_err_set(err, CKPT_ECORRUPT, "'%s': shard '%s' too short",
					    a->s->label, key);
		rc = ckpt_blob_read(a->s, &st->blob, sh->index_at_start ? 0 : st->blob.len - ib,
				    (size_t)ib, idx, err);
		if (rc == 0)
			rc = ckpt_shard_index_check(sh, idx, ib, st->blob.len, err);
		if (rc < 0) {
			ckpt_err_prefix(err, "'%s': shard '%s': ", a->s->label, key);
			return rc;
		}
		if (!ckpt_shard_index_at(idx, 0, &off, &len)) {
			st->missing = true;
			st->init = true;
			return 0;
		}
		st->data_off = off;
		st->data_len = len;
	}
	if (a->scomp == CKPT_COMP_NONE && st->data_len != a->m.chunk_nbytes)
		return ckpt_err_set(err, CKPT_ECORRUPT, "'%s': chunk '%s' holds %llu bytes, expected %llu",
				    a->s->label, key, (unsigned long long)st->data_len,
				    (unsigned long long)a->m.chunk_nbytes);
	st->in = malloc(STREAM_IN_BYTES);
	if (!st->in)
		return -ENOMEM;
	rc = ckpt_dstream_new(&st->ds, a->scomp);
	if (rc < 0)
		return rc;
	st->init = true;
	return 0;
}

/* A stream that has produced its whole chunk keeps no decoder, input
 * buffer or blob (~2 MiB): a reader that comes back starts it over. */
static void stream_retire_if_done(struct ckpt_array *a, struct zstream *st)
{
	if (!st->init || st->missing || st->produced < a->m.chunk_nbytes)
		return;
	ckpt_dstream_free(st->ds);
	st->ds = NULL;
	free(st->dec);
	st->dec = NULL;
	free(st->in);
	st->in = NULL;
	ckpt_blob_release(&st->blob);
	memset(&st->blob, 0, sizeof(st->blob));
	st->blob.fd = -1;
	st->init = false;
	st->retired = true;
	st->produced = st->consumed = 0;
	st->in_pos = st->in_len = 0;
}

/* An uncompressed chunk needs no decoder state: its stream moves to any
 * piece at once, where a compressed one starts over from its beginning. */
static bool stream_seekable(const struct ckpt_array *a, const struct zstream *st)
{
	return a->scomp == CKPT_COMP_NONE && st->init && !st->dec && !st->missing;
}

static int stream_seek(struct zstream *st, uint64_t pos)
{
	st->produced = st->consumed = pos;
	st->in_pos = st->in_len = 0;
	return ckpt_dstream_reset(st->ds);
}

/* Decodes the next n bytes of the stream into out. */
static int stream_next(struct ckpt_array *a, struct zstream *st, uint8_t *out, size_t n,
		       struct ckpt_err *err)
{
	size_t got = 0;

	if (st->dec) {
		/* whole mode (counted as decoded when the chunk was) */
		memcpy(out, st->dec + st->produced, n);
		st->produced += n;
		return 0;
	}
	while (got < n) {
		size_t produced;
		bool done;
		int rc;

		if (st->in_pos == st->in_len) {
			size_t take = (size_t)CKPT_MIN((uint64_t)STREAM_IN_BYTES,
						       st->data_len - st->consumed);

			if (take == 0)
				return ckpt_err_set(err, CKPT_ECORRUPT,
						    "'%s': chunk '%s' ends after %llu of %llu bytes",
						    a->s->label, st->blob.key,
						    (unsigned long long)(st->produced + got),
						    (unsigned long long)a->m.chunk_nbytes);
			/* a remote mirror fetches the next input while this one
			 * decodes: the first bytes of a stream wait for one round
			 * trip, not two (its window ahead starts small) */
			ckpt_blob_willneed_range(&st->blob, st->data_off + st->consumed + take,
						 CKPT_MIN((uint64_t)STREAM_IN_BYTES,
							  st->data_len - st->consumed - take), false);
			rc = ckpt_blob_read(a->s, &st->blob, st->data_off + st->consumed, take, st->in,
					    err);
			if (rc < 0)
				return rc;
			st->consumed += take;
			st->in_pos = 0;
			st->in_len = take;
		}
		{
			const uint8_t *in = st->in + st->in_pos;
			size_t in_n = st->in_len - st->in_pos;

			rc = ckpt_dstream_run(st->ds, &in, &in_n, out + got, n - got, &produced,
					      &done, err);
			if (rc < 0) {
				ckpt_err_prefix(err, "'%s': chunk '%s': ", a->s->label,
						st->blob.key);
				return rc;
			}
			st->in_pos = st->in_len - in_n;
		}
		got += produced;
		/* "done" is the end of a frame or of this read's input, which
		 * is the stream's end only once the whole object is read (a
		 * raw chunk is "done" with each buffer, zstd after each frame) */
		if (done && got < n && st->consumed == st->data_len && st->in_pos == st->in_len)
			return ckpt_err_set(err, CKPT_ECORRUPT,
					    "'%s': chunk '%s' decodes to %llu bytes, expected %llu",
					    a->s->label, st->blob.key,
					    (unsigned long long)(st->produced + got),
					    (unsigned long long)a->m.chunk_nbytes);
	}
	st->produced += n;
	ckpt_cache_count_decoded(a->o.cache, n);
	return 0;
}

/*
 * Takes st's lock (false), or finds piece `key` in the cache meanwhile
 * (true, ref held).  Read-ahead holds the stream for a window of pieces: a
 * reader waits for its piece to come out of it, not for the window's end
 * (its bytes then reach the kernel while the next pieces decode: a
 * one-chunk leaf read about 9% faster).  Not on object storage, whose 16
 * read-ahead threads queue on the stream while they wait for the network:
 * there a reader that only tried the lock was passed over by them, 20 ms
 * at a time (2 s more for a 256 MiB leaf in 3 of 11 runs); it takes its
 * turn in the queue instead.
 */
static bool stream_lock_or_piece(struct ckpt_array *a, struct zstream *st, struct ckpt_cache_key key,
				 struct ckpt_cache_ref *ref)
{
	if (ckpt_src_willneed_wanted()) {
		pthread_mutex_lock(&st->lock);
		return false;
	}
	for (;;) {
		uint64_t gen = __atomic_load_n(&a->pgen, __ATOMIC_ACQUIRE);

		if (pthread_mutex_trylock(&st->lock) == 0)
			return false;
		if (ckpt_cache_lookup(a->o.cache, key, ref) == 0)
			return true;
		piece_wait(a, gen);
	}
}

int ckpt_zarr_copy_streamed(struct ckpt_array *a, uint64_t chunk, uint64_t off, size_t n,
			    uint8_t *out, struct ckpt_err *err)
{
	const uint64_t P = a->o.piece_bytes;

	__atomic_store_n(&a->hint_chunk[chunk % 16], chunk, __ATOMIC_RELAXED);
	__atomic_store_n(&a->hint_at[chunk % 16], off + n + 1, __ATOMIC_RELAXED);
	while (n > 0) {
		uint64_t piece = off / P, within = off % P;
		size_t take = (size_t)CKPT_MIN((uint64_t)n, P - within);
		struct ckpt_cache_key key = { a->uid, chunk, piece + 1 };
		struct ckpt_cache_ref ref;
		struct zstream *st;
		int rc = 0;

		if (ckpt_cache_lookup(a->o.cache, key, &ref) == 0) {
			memcpy(out, ref.data + within, take);
			ckpt_cache_unref(a->o.cache, &ref);
			goto next;
		}
		if (spill_read(a, chunk, off, take, out) == 0)
			goto next; /* decoded before: no stream needed */
		st = stream_acquire(a, chunk);
		if (!st)
			return -ENOMEM;
		if (stream_lock_or_piece(a, st, key, &ref)) {
			/* it came out of the stream while this reader waited */
			memcpy(out, ref.data + within, take);
			ckpt_cache_unref(a->o.cache, &ref);
			stream_release(a, st);
			goto next;
		}
		if (ckpt_cache_lookup(a->o.cache, key, &ref) == 0) {
			memcpy(out, ref.data + within, take);
			ckpt_cache_unref(a->o.cache, &ref);
		} else if (spill_read(a, chunk, off, take, out) == 0) {
			/* spilled while this reader waited for the stream */
		} else {
			bool start = !st->init;

			if (start)
				rc = stream_init(a, st, err);
			if (rc == 0 && stream_seekable(a, st) && st->produced != piece * P) {
				/* raw bytes: straight to the piece, either way */
				rc = stream_seek(st, piece * P);
			} else if (rc == 0 && st->dec && st->produced > piece * P) {
				/* the reader went back: the decoded chunk is still here */
				st->produced = piece * P;
			} else if (rc == 0 && !st->missing && st->produced > piece * P) {
				/* the reader went back: start the stream over */
				st->again = start = true;
				rc = ckpt_dstream_reset(st->ds);
				st->produced = st->consumed = 0;
				st->in_pos = st->in_len = 0;
			}
			/* decoded again for a reader that went back into the
			 * chunk, it is spilled from now on; for one that reads
			 * it again from its start (a second pass: tar reads
			 * NAME.npy after NAME) not yet */
			if (start && st->again && piece > 0)
				st->spill = true;
			/* produce pieces up to and including the one asked for */
			while (rc == 0) {
				uint64_t p = st->missing ? piece : st->produced / P;
				size_t len = (size_t)CKPT_MIN(P, a->m.chunk_nbytes - p * P);
				uint8_t *buf = malloc(len ? len : 1);

				if (!buf) {
					rc = -ENOMEM;
					break;
				}
				if (st->missing)
					ckpt_fill_elems(buf, len / a->m.dtype.itemsize, a->m.fill,
							a->m.dtype.itemsize);
				else
					rc = stream_next(a, st, buf, len, err);
				if (rc < 0) {
					free(buf);
					break;
				}
				if (p == piece)
					memcpy(out, buf + within, take);
				if (st->missing)
					ckpt_cache_insert(a->o.cache,
							  (struct ckpt_cache_key){ a->uid, chunk, p + 1 },
							  buf, len);
				else
					/* pieces passed over to reach the one
					 * asked for (numpy reads a file's last
					 * bytes first) are spilled: read later,
					 * they would cost a second decoding */
					piece_keep(a, st, p, buf, len, st->spill || p != piece);
				if (p == piece)
					break;
			}
			stream_retire_if_done(a, st);
		}
		stream_unlock(a, st);
		stream_release(a, st);
		if (rc < 0)
			return rc;
next:
		off += take;
		out += take;
		n -= take;
	}
	return 0;
}

/* decodes the pieces of a streamed chunk up to `piece`, never starting over */
/* The last piece read-ahead may decode in a chunk.  Where the chunks
 * split a later dimension, a reader going through the array reads several
 * side by side (and one mostly past the array's edge decodes far more than
 * its bytes read): those, and as many of the next row of chunks, share half
 * the cache, counted from where a reader last was in each; without this,
 * pieces were evicted before they were read and their streams started over
 * (a 3 MB array decoded 150 MB with cache_size=2M).  Chunks one after the
 * other (one chunk, or split along the first dimension only) have the
 * caller's window as their bound. */
static uint64_t prefetch_limit(struct ckpt_array *a, uint64_t chunk)
{
	uint64_t at = 0;

	if (a->side == 1 || !a->o.cache)
		return UINT64_MAX;
	if (__atomic_load_n(&a->hint_chunk[chunk % 16], __ATOMIC_RELAXED) == chunk)
		at = __atomic_load_n(&a->hint_at[chunk % 16], __ATOMIC_RELAXED);
	at = at ? at - 1 : 0;
	/* twice: where a row of chunks ends, the next row's start as well */
	return (at + ckpt_cache_budget(a->o.cache) / 4 / a->side) / a->o.piece_bytes;
}

void ckpt_zarr_stream_prefetch(struct ckpt_array *a, uint64_t chunk, uint64_t piece)
{
	const uint64_t P = a->o.piece_bytes;
	struct ckpt_err err = { 0, "" };
	struct ckpt_cache_ref ref;
	struct zstream *st;
	int rc = 0;

	if (chunk >= a->m.n_chunks || a->m.chunk_nbytes == 0)
		return;
	if (piece > (a->m.chunk_nbytes - 1) / P)
		piece = (a->m.chunk_nbytes - 1) / P; /* the whole chunk */
	piece = CKPT_MIN(piece, prefetch_limit(a, chunk));
	if (ckpt_cache_lookup(a->o.cache, (struct ckpt_cache_key){ a->uid, chunk, piece + 1 }, &ref) == 0) {
		ckpt_cache_unref(a->o.cache, &ref);
		return;
	}
	if (ckpt_zarr_spilled(a, chunk, piece))
		return; /* decoded before: a reader reads it from the spill */
	st = stream_acquire(a, chunk);
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	if (st->retired) {
		/* decoded to the end already: a job that comes late must not
		 * start it over (a reader that needs an evicted piece will) */
		stream_unlock(a, st);
		stream_release(a, st);
		return;
	}
	if (!st->init)
		rc = stream_init(a, st, &err);
	if (rc == 0 && stream_seekable(a, st) &&
	    __atomic_load_n(&a->hint_chunk[chunk % 16], __ATOMIC_RELAXED) == chunk) {
		/* raw bytes: start where the reader is, not where the stream was */
		uint64_t at = __atomic_load_n(&a->hint_at[chunk % 16], __ATOMIC_RELAXED);

		at = at ? (at - 1) / P * P : 0;
		if (at > st->produced && at <= piece * P)
			rc = stream_seek(st, at);
	}
	while (rc == 0 && !st->missing && st->produced <= piece * P &&
	       st->produced < a->m.chunk_nbytes) {
		uint64_t p = st->produced / P;
		size_t len = (size_t)CKPT_MIN(P, a->m.chunk_nbytes - p * P);
		uint8_t *buf = malloc(len ? len : 1);

		if (!buf)
			break;
		rc = stream_next(a, st, buf, len, &err);
		if (rc < 0) {
			free(buf); /* the reader will meet the error and report it */
			break;
		}
		piece_keep(a, st, p, buf, len, st->spill);
	}
	stream_retire_if_done(a, st);
	stream_unlock(a, st);
	stream_release(a, st);
}
