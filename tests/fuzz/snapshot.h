/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot.h - what the fuzz targets' edit round trips compare: every node's
 * kind and key and the first bytes of every leaf, before an edit and after
 * it (read back through a new ckpt_item).  Included by one target each.
 */
#ifndef CKPT_FUZZ_SNAPSHOT_H
#define CKPT_FUZZ_SNAPSHOT_H

#include "ckpt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct snap {
	enum ckpt_node_kind kind;
	uint64_t size;
	uint8_t head[64];
	size_t key_n;
	char key[32];
	bool in_file; /* the value is in the aggregate file */
};

static int none(void *ctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err)
{
	(void)ctx, (void)off, (void)buf, (void)n;
	return ckpt_err_set(err, -EIO, "no dirty bytes were declared");
}

/* every node's kind, key and first leaf bytes; NULL if a leaf cannot be read */
static struct snap *snapshot(struct ckpt_item *it, uint64_t *count)
{
	uint64_t nn = ckpt_item_n_nodes(it);
	struct snap *s = calloc(nn ? nn : 1, sizeof(*s));

	for (uint64_t k = 0; s && k < nn; k++) {
		const struct ckpt_node *nd = ckpt_item_node(it, k);
		struct ckpt_err err = { 0, "" };
		struct ckpt_leaf *l;
		const char *key = ckpt_node_key(nd, &s[k].key_n), *kind;
		json_t *d;

		s[k].kind = ckpt_node_kind(nd);
		memcpy(s[k].key, key, s[k].key_n < sizeof(s[k].key) ? s[k].key_n : sizeof(s[k].key));
		if (ckpt_node_is_dir(nd))
			continue;
		if (ckpt_item_leaf(it, nd, &l, &err) < 0 ||
		    ckpt_leaf_read(l, s[k].head, 0, sizeof(s[k].head), &err) < 0) {
			free(s);
			return NULL;
		}
		s[k].size = ckpt_leaf_size(l);
		d = ckpt_leaf_describe(it, nd, &err);
		kind = json_string_value(json_object_get(json_object_get(d, "storage"), "kind"));
		s[k].in_file = kind && !strcmp(kind, "msgpack");
		json_decref(d);
	}
	*count = nn;
	return s;
}

/* reopens the item: it must read as `a` did */
static void same_as(struct ckpt_step *st, const struct snap *a, uint64_t na, const char *what)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_item *it2;
	struct snap *b;
	uint64_t nb = 0;

	if (ckpt_item_open(&it2, st, 0, &err) < 0) {
		fprintf(stderr, "after %s, the item does not open: %s\n", what, err.msg);
		abort();
	}
	b = snapshot(it2, &nb);
	if (!b || nb != na || memcmp(a, b, na * sizeof(*a))) {
		fprintf(stderr, "after %s, the item reads differently (%llu vs %llu nodes)\n", what,
			(unsigned long long)na, (unsigned long long)nb);
		abort();
	}
	free(b);
	ckpt_item_close(it2);
}

/* every leaf described, sized and read (the paths a mount takes) */
static void read_every_leaf(struct ckpt_item *it)
{
	struct ckpt_err err = { 0, "" };

	json_decref(ckpt_item_describe(it, &err));
	for (uint64_t k = 0; k < ckpt_item_n_nodes(it); k++) {
		const struct ckpt_node *nd = ckpt_item_node(it, k);
		struct ckpt_leaf *l;
		uint64_t size;
		uint8_t buf[256];

		if (!nd || ckpt_node_is_dir(nd))
			continue;
		json_decref(ckpt_leaf_describe(it, nd, &err));
		ckpt_item_leaf_size(it, nd, &size, &err);
		if (ckpt_item_leaf(it, nd, &l, &err) == 0)
			ckpt_leaf_read(l, buf, 0, sizeof(buf), &err);
	}
}

#endif
