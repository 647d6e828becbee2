/* SPDX-License-Identifier: Apache-2.0 */
/*
 * map.h - byte-string -> size_t hash map, open addressing (tier 0).
 * Keys are views owned by the caller and must outlive the map.
 * One thread at a time.
 */
#ifndef CKPT_MAP_H
#define CKPT_MAP_H

#include "util.h"

#include <stddef.h>
#include <stdint.h>

struct ckpt_map_slot {
	struct ckpt_bytes key;
	size_t val;
	uint64_t hash; /* 0: empty */
};

struct ckpt_map {
	struct ckpt_map_slot *slots;
	size_t cap, n;
};

#define CKPT_MAP_INIT { NULL, 0, 0 }

uint64_t ckpt_hash(const void *p, size_t n);
void ckpt_map_release(struct ckpt_map *m);
/* *val_out = value; @return 0, or -ENOENT */
int ckpt_map_get(const struct ckpt_map *m, struct ckpt_bytes key, size_t *val_out);
/* Inserts or replaces.  @return 0 or -ENOMEM */
int ckpt_map_put(struct ckpt_map *m, struct ckpt_bytes key, size_t val);

#endif
