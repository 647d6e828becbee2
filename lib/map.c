/* SPDX-License-Identifier: Apache-2.0 */
/* map.c - open addressing hash map (tier 0); see map.h. */
#include "map.h"

#include <errno.h>
#include <stdlib.h>

uint64_t ckpt_hash(const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 29;
	return h ? h : 1;
}

void ckpt_map_release(struct ckpt_map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}

int ckpt_map_get(const struct ckpt_map *m, struct ckpt_bytes key, size_t *val_out)
{
	uint64_t h;
	size_t i;

	if (!m->cap)
		return -ENOENT;
	h = ckpt_hash(key.p, key.n);
	for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		const struct ckpt_map_slot *s = &m->slots[i];

		if (!s->hash)
			return -ENOENT;
		if (s->hash == h && ckpt_bytes_eq(s->key, key)) {
			*val_out = s->val;
			return 0;
		}
	}
}

static int grow(struct ckpt_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	struct ckpt_map_slot *ns = calloc(ncap, sizeof(*ns));

	if (!ns || ncap < m->cap) {
		free(ns);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		struct ckpt_map_slot *s = &m->slots[i];
		size_t j;

		if (!s->hash)
			continue;
		for (j = s->hash & (ncap - 1); ns[j].hash; j = (j + 1) & (ncap - 1))
			;
		ns[j] = *s;
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

int ckpt_map_put(struct ckpt_map *m, struct ckpt_bytes key, size_t val)
{
	uint64_t h;
	size_t i;

	if ((m->n + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return -ENOMEM;
	h = ckpt_hash(key.p, key.n);
	for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct ckpt_map_slot *s = &m->slots[i];

		if (!s->hash) {
			s->hash = h;
			s->key = key;
			s->val = val;
			m->n++;
			return 0;
		}
		if (s->hash == h && ckpt_bytes_eq(s->key, key)) {
			s->val = val;
			return 0;
		}
	}
}
