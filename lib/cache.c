/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache.c - decoded-bytes cache (tier 2); see cache.h.
 *
 * Entry states: PENDING (a thread is filling it; others wait on the
 * condition variable) -> READY (in the hash table and the LRU list) ->
 * removed (evicted, or failed).  An entry is freed when it is removed and
 * its reference count is zero.
 */
#include "cache.h"

#include "map.h"
#include "util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum state { PENDING, READY, FAILED };

struct ckpt_cache_entry {
	struct ckpt_cache_key key;
	enum state state;
	bool in_table;
	uint8_t *data;
	size_t n;
	unsigned refs;
	struct ckpt_cache_entry *hnext;       /* hash chain */
	struct ckpt_cache_entry *prev, *next; /* LRU list, most recent first */
};

struct ckpt_cache {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ckpt_cache_entry **buckets;
	size_t nbuckets, n;
	struct ckpt_cache_entry *head, *tail;
	size_t bytes, budget;
	uint64_t hits, misses, evictions;
	uint64_t decoded; /* bytes decoded into the cache, ever (atomic) */
};

static size_t hash_key(struct ckpt_cache_key k, size_t nbuckets)
{
	uint64_t h = k.owner * 0x9E3779B97F4A7C15ull ^ k.chunk * 0xC2B2AE3D27D4EB4Full ^
		     (k.piece + 1) * 0x165667B19E3779F9ull;

	h ^= h >> 31;
	return (size_t)(h & (nbuckets - 1));
}

static size_t bucket_of(const struct ckpt_cache *c, struct ckpt_cache_key k)
{
	return hash_key(k, c->nbuckets);
}

static bool key_eq(struct ckpt_cache_key a, struct ckpt_cache_key b)
{
	return a.owner == b.owner && a.chunk == b.chunk && a.piece == b.piece;
}

size_t ckpt_cache_budget(const struct ckpt_cache *c)
{
	return c->budget; /* set once, at creation */
}

int ckpt_cache_new(struct ckpt_cache **out, size_t budget)
{
	struct ckpt_cache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->nbuckets = 1024;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	c->budget = budget;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	*out = c;
	return 0;
}

void ckpt_cache_free(struct ckpt_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct ckpt_cache_entry *e = c->buckets[i], *nx;

		for (; e; e = nx) {
			nx = e->hnext;
			free(e->data);
			free(e);
		}
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}

static struct ckpt_cache_entry *find(struct ckpt_cache *c, struct ckpt_cache_key k)
{
	struct ckpt_cache_entry *e = c->buckets[bucket_of(c, k)];

	while (e && !key_eq(e->key, k))
		e = e->hnext;
	return e;
}

static void lru_unlink(struct ckpt_cache *c, struct ckpt_cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else if (c->head == e)
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else if (c->tail == e)
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct ckpt_cache *c, struct ckpt_cache_entry *e)
{
	lru_unlink(c, e);
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void table_remove(struct ckpt_cache *c, struct ckpt_cache_entry *e)
{
	struct ckpt_cache_entry **pp = &c->buckets[bucket_of(c, e->key)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
	e->in_table = false;
	c->n--;
	lru_unlink(c, e);
	if (e->state == READY)
		c->bytes -= e->n;
}

static void grow_table(struct ckpt_cache *c)
{
	size_t nb = c->nbuckets * 2;
	struct ckpt_cache_entry **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* keep the smaller table: only slower */
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct ckpt_cache_entry *e = c->buckets[i], *nx;

		for (; e; e = nx) {
			size_t j = hash_key(e->key, nb);

			nx = e->hnext;
			e->hnext = b[j];
			b[j] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = nb;
}

static void table_add(struct ckpt_cache *c, struct ckpt_cache_entry *e)
{
	size_t b;

	if (c->n + 1 > c->nbuckets)
		grow_table(c);
	b = bucket_of(c, e->key);
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	e->in_table = true;
	c->n++;
}

/* evicts unreferenced READY entries, least recent first, down to the budget */
static void evict(struct ckpt_cache *c)
{
	struct ckpt_cache_entry *e = c->tail, *pv;

	for (; e && c->bytes > c->budget; e = pv) {
		pv = e->prev;
		if (e->refs || e->state != READY)
			continue;
		table_remove(c, e);
		c->evictions++;
		free(e->data);
		free(e);
	}
}

static void make_ready(struct ckpt_cache *c, struct ckpt_cache_entry *e, uint8_t *data, size_t n)
{
	e->data = data;
	e->n = n;
	e->state = READY;
	c->bytes += n;
	lru_front(c, e);
	if (n > c->budget) {
		/* too large to keep: hand it out, drop it on the last unref */
		table_remove(c, e);
	}
	evict(c);
}

int ckpt_cache_get(struct ckpt_cache *c, struct ckpt_cache_key k, ckpt_cache_fill_fn fill,
		   void *ctx, struct ckpt_cache_ref *ref, struct ckpt_err *err)
{
	struct ckpt_cache_entry *e;
	uint8_t *data = NULL;
	size_t n = 0;
	int rc;

	memset(ref, 0, sizeof(*ref));
	pthread_mutex_lock(&c->lock);
	for (;;) {
		e = find(c, k);
		if (!e)
			break;
		if (e->state == READY) {
			e->refs++;
			lru_front(c, e);
			c->hits++;
			pthread_mutex_unlock(&c->lock);
			ref->e = e;
			ref->data = e->data;
			ref->n = e->n;
			return 0;
		}
		/* PENDING: wait for the filler, then look again */
		e->refs++;
		while (e->state == PENDING)
			pthread_cond_wait(&c->cond, &c->lock);
		e->refs--;
		if (!e->in_table && !e->refs) {
			/* failed, or too large to keep: the last waiter frees it */
			free(e->data);
			free(e);
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	e->key = k;
	e->state = PENDING;
	e->refs = 1;
	table_add(c, e);
	c->misses++;
	pthread_mutex_unlock(&c->lock);

	rc = fill(ctx, &data, &n, err);

	pthread_mutex_lock(&c->lock);
	if (rc < 0) {
		e->state = FAILED;
		table_remove(c, e);
		e->refs--;
		free(data);
		pthread_cond_broadcast(&c->cond);
		if (!e->refs)
			free(e);
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	make_ready(c, e, data, n);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	ref->e = e;
	ref->data = e->data;
	ref->n = e->n;
	return 0;
}

int ckpt_cache_lookup(struct ckpt_cache *c, struct ckpt_cache_key k, struct ckpt_cache_ref *ref)
{
	struct ckpt_cache_entry *e;

	memset(ref, 0, sizeof(*ref));
	pthread_mutex_lock(&c->lock);
	e = find(c, k);
	if (!e || e->state != READY) {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	e->refs++;
	lru_front(c, e);
	c->hits++;
	pthread_mutex_unlock(&c->lock);
	ref->e = e;
	ref->data = e->data;
	ref->n = e->n;
	return 0;
}

int ckpt_cache_insert_ref(struct ckpt_cache *c, struct ckpt_cache_key k, uint8_t *data, size_t n,
			  struct ckpt_cache_ref *ref)
{
	struct ckpt_cache_entry *e;

	if (ref)
		memset(ref, 0, sizeof(*ref));
	pthread_mutex_lock(&c->lock);
	if (find(c, k) || n > c->budget || !(e = calloc(1, sizeof(*e)))) {
		pthread_mutex_unlock(&c->lock);
		free(data);
		return -ENOENT;
	}
	e->key = k;
	e->state = PENDING;
	e->refs = ref ? 1 : 0; /* held: not evicted before it is ready */
	table_add(c, e);
	make_ready(c, e, data, n);
	pthread_mutex_unlock(&c->lock);
	if (ref)
		*ref = (struct ckpt_cache_ref){ e, data, n };
	return 0;
}

void ckpt_cache_insert(struct ckpt_cache *c, struct ckpt_cache_key k, uint8_t *data, size_t n)
{
	ckpt_cache_insert_ref(c, k, data, n, NULL);
}

void ckpt_cache_unref(struct ckpt_cache *c, struct ckpt_cache_ref *ref)
{
	struct ckpt_cache_entry *e = ref->e;

	if (!e)
		return;
	pthread_mutex_lock(&c->lock);
	if (--e->refs == 0 && !e->in_table) {
		free(e->data);
		free(e);
	} else if (e->refs == 0) {
		evict(c);
	}
	pthread_mutex_unlock(&c->lock);
	memset(ref, 0, sizeof(*ref));
}

void ckpt_cache_stats(struct ckpt_cache *c, struct ckpt_cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	st->hits = c->hits;
	st->misses = c->misses;
	st->evictions = c->evictions;
	st->bytes = c->bytes;
	st->entries = c->n;
	st->budget = c->budget;
	st->decoded = __atomic_load_n(&c->decoded, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->lock);
}

void ckpt_cache_count_decoded(struct ckpt_cache *c, uint64_t n)
{
	__atomic_add_fetch(&c->decoded, n, __ATOMIC_RELAXED);
}
