/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache.h - bounded, refcounted, thread-safe cache of decoded bytes (tier 2).
 *
 * Keys are three integers (owner id, chunk, piece).  ckpt_cache_get() returns
 * a reference the caller must drop with ckpt_cache_unref().  When the key is
 * absent, exactly one caller runs the fill function (outside the lock) while
 * others asking for the same key wait for it: a chunk is never decoded twice
 * at once.  Unreferenced entries are evicted least recently used first when
 * the byte budget is exceeded; an entry larger than the whole budget is
 * handed out but not kept.
 */
#ifndef CKPT_CACHE_H
#define CKPT_CACHE_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

struct ckpt_cache;
struct ckpt_cache_entry;

struct ckpt_cache_ref {
	struct ckpt_cache_entry *e;
	const uint8_t *data;
	size_t n;
};

struct ckpt_cache_key {
	uint64_t owner, chunk, piece;
};

/* Produces the bytes for a missing key: *data is malloc'ed and taken over. */
typedef int (*ckpt_cache_fill_fn)(void *ctx, uint8_t **data, size_t *n, struct ckpt_err *err);

int ckpt_cache_new(struct ckpt_cache **out, size_t budget);
void ckpt_cache_free(struct ckpt_cache *c);

/* @return 0 (ref filled), or the fill function's error */
int ckpt_cache_get(struct ckpt_cache *c, struct ckpt_cache_key k, ckpt_cache_fill_fn fill,
		   void *ctx, struct ckpt_cache_ref *ref, struct ckpt_err *err);
/* @return 0 (ref filled) or -ENOENT, never waits for a fill in progress */
int ckpt_cache_lookup(struct ckpt_cache *c, struct ckpt_cache_key k, struct ckpt_cache_ref *ref);
/* Inserts data (taken over) unless the key is present. */
void ckpt_cache_insert(struct ckpt_cache *c, struct ckpt_cache_key k, uint8_t *data, size_t n);
/* The same, and a reference to the entry (not counted as a hit): 0, or
 * -ENOENT when it was not kept (present already, larger than the budget) */
int ckpt_cache_insert_ref(struct ckpt_cache *c, struct ckpt_cache_key k, uint8_t *data, size_t n,
			  struct ckpt_cache_ref *ref);
void ckpt_cache_unref(struct ckpt_cache *c, struct ckpt_cache_ref *ref);

struct ckpt_cache_stats {
	uint64_t hits, misses, evictions, bytes, entries, budget, decoded;
};
void ckpt_cache_stats(struct ckpt_cache *c, struct ckpt_cache_stats *st);
size_t ckpt_cache_budget(const struct ckpt_cache *c);
/* counts bytes decoded (for statistics) */
void ckpt_cache_count_decoded(struct ckpt_cache *c, uint64_t n);

#endif
