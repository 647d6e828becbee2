/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spill.h - decoded pieces of streamed chunks kept on local disk (tier 2).
 *
 * A chunk too large for the cache is decoded as a stream, and a reader
 * going back before the stream's position would start it over from byte 0.
 * Each piece offered (zarr_stream.c offers those of a chunk decoded a
 * second time) is written to a spill file, one per chunk, at
 * piece * piece_bytes: a later read of an evicted piece is one pread.
 *
 * Bounded: the bytes held (pieces rounded up to 4 KiB) never exceed the
 * bound given at open.  Room is made by closing the least recently used
 * chunks' files (not one in use); a piece that finds no room is not
 * written (a chunk larger than the bound keeps its first pieces).  Only
 * pieces whose bytes were all written are served.
 *
 * Nothing is left behind: the files are made in the directory given at
 * open with no name (O_TMPFILE; where a file system lacks it, unlinked as
 * soon as made), so their space goes back when they are closed, or when the
 * process ends however it ends.
 * Thread-safe; reads and writes run outside the lock, writes on a thread of
 * the spill's own.  The public half (open, close) is in ckpt.h.
 */
#ifndef CKPT_SPILL_H
#define CKPT_SPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ckpt_spill;

/* Where a piece lives: the array (an owner id), the chunk, its piece size. */
struct ckpt_spill_key {
	uint64_t owner, chunk;
	uint64_t chunk_bytes;
	size_t piece_bytes;
};

/* Called once the spill no longer needs the bytes it was given. */
typedef void (*ckpt_spill_done_fn)(void *ctx);

/* Queues piece `piece` (n bytes, which must stay valid until done(ctx) is
 * called, on the writer thread or here) to be written, unless it is there
 * or no room can be made; waits while the short queue is full.  done may
 * be NULL. */
void ckpt_spill_put(struct ckpt_spill *sp, const struct ckpt_spill_key *k, uint64_t piece,
		    const uint8_t *data, size_t n, ckpt_spill_done_fn done, void *ctx);
/* n bytes at off within the chunk, all inside one piece, into out.
 * @return 0, or -ENOENT when the piece is not (fully) spilled */
int ckpt_spill_get(struct ckpt_spill *sp, const struct ckpt_spill_key *k, uint64_t off, size_t n,
		   uint8_t *out);
bool ckpt_spill_has(struct ckpt_spill *sp, const struct ckpt_spill_key *k, uint64_t piece);
/* Releases every chunk of owner (the array is closed): its queued pieces
 * are dropped (their done called), the one being written waited for. */
void ckpt_spill_forget(struct ckpt_spill *sp, uint64_t owner);

struct ckpt_spill_stats {
	uint64_t bytes, budget;  /* held now, and the bound */
	uint64_t written, hits;  /* bytes written; reads served */
	uint64_t evicted;        /* bytes released to make room */
	uint64_t errors;         /* writes that failed (the piece is not kept) */
	uint64_t chunks;         /* chunks with a file now */
};
void ckpt_spill_stats(struct ckpt_spill *sp, struct ckpt_spill_stats *st);

#endif
