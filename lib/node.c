/* SPDX-License-Identifier: Apache-2.0 */
/*
 * node.c - the node tree of an item (tier 4, below every item kind): nodes
 * are created in the item's id table, found by key through a per-directory
 * index, and freed iteratively (the depth comes from the data).  Every kind
 * (kind.h) builds its tree with ckpt_node_new; nothing here knows about
 * kinds.
 */
#define _GNU_SOURCE
#include "model.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

struct ckpt_node *ckpt_node_new(struct ckpt_item *it, struct ckpt_node *parent, const char *key,
				size_t key_n, uint8_t key_type, enum ckpt_node_kind kind)
{
	struct ckpt_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->key = ckpt_strndup(key, key_n);
	if (!n->key || ckpt_grow((void **)&it->nodes, &it->cap_nodes, it->n_nodes + 1,
				 sizeof(*it->nodes)) < 0)
		goto fail;
	n->key_n = key_n;
	n->key_type = key_type;
	n->kind = kind;
	n->parent = parent;
	if (parent) {
		if (ckpt_grow((void **)&parent->children, &parent->cap_children,
			      parent->n_children + 1, sizeof(*parent->children)) < 0)
			goto fail;
		if (ckpt_map_put(&parent->index, (struct ckpt_bytes){ (const uint8_t *)n->key, key_n },
				 parent->n_children) < 0)
			goto fail;
		parent->children[parent->n_children++] = n;
	}
	n->id = it->n_nodes;
	it->nodes[it->n_nodes++] = n;
	return n;
fail:
	free(n->key);
	free(n);
	return NULL;
}

void ckpt_node_free_tree(struct ckpt_node *n)
{
	/* iterative: the tree depth comes from the data */
	while (n) {
		struct ckpt_node *parent;

		if (n->n_children) {
			n = n->children[--n->n_children];
			continue;
		}
		parent = n->parent;
		free(n->children);
		ckpt_map_release(&n->index);
		free(n->key);
		free(n->param);
		ckpt_mp_leaf_free(n->mp);
		free(n);
		n = parent;
	}
}

enum ckpt_node_kind ckpt_node_kind(const struct ckpt_node *n)
{
	return n->kind;
}

bool ckpt_node_is_dir(const struct ckpt_node *n)
{
	return n->kind == CKPT_NODE_DICT || n->kind == CKPT_NODE_LIST || n->kind == CKPT_NODE_EMPTY;
}

const char *ckpt_node_key(const struct ckpt_node *n, size_t *len)
{
	if (len)
		*len = n->key_n;
	return n->key;
}

size_t ckpt_node_n_children(const struct ckpt_node *n)
{
	return n->n_children;
}

const struct ckpt_node *ckpt_node_child(const struct ckpt_node *n, size_t i)
{
	return i < n->n_children ? n->children[i] : NULL;
}

const struct ckpt_node *ckpt_node_parent(const struct ckpt_node *n)
{
	return n->parent;
}

size_t ckpt_node_pos(const struct ckpt_node *n)
{
	const struct ckpt_node *p = n->parent;
	size_t i;

	if (!p)
		return SIZE_MAX;
	if (ckpt_map_get(&p->index, (struct ckpt_bytes){ (const uint8_t *)n->key, n->key_n }, &i) == 0 &&
	    i < p->n_children && p->children[i] == n)
		return i;
	for (i = 0; i < p->n_children && p->children[i] != n; i++)
		; /* a duplicate key: not the one the index holds */
	return i;
}

const struct ckpt_node *ckpt_node_find(const struct ckpt_node *n, const char *key, size_t len)
{
	size_t i;

	if (ckpt_map_get(&n->index, (struct ckpt_bytes){ (const uint8_t *)key, len }, &i) < 0)
		return NULL;
	return n->children[i];
}

unsigned ckpt_node_dup_index(const struct ckpt_node *dir, size_t i)
{
	size_t kl, ol;
	const char *k = ckpt_node_key(ckpt_node_child(dir, i), &kl);
	unsigned dup = 0;

	if (ckpt_node_find(dir, k, kl) == ckpt_node_child(dir, i))
		return 0; /* the first (usual) */
	for (size_t j = 0; j < i; j++) {
		const char *o = ckpt_node_key(ckpt_node_child(dir, j), &ol);

		dup += ol == kl && !memcmp(o, k, kl);
	}
	return dup;
}

uint64_t ckpt_node_id(const struct ckpt_node *n)
{
	return n->id;
}

uint64_t ckpt_item_n_nodes(const struct ckpt_item *it)
{
	return it->n_nodes;
}

const struct ckpt_node *ckpt_item_node(const struct ckpt_item *it, uint64_t id)
{
	return id < it->n_nodes ? it->nodes[id] : NULL;
}

void ckpt_mp_leaf_free(struct ckpt_mp_leaf *l)
{
	if (!l)
		return;
	free(l->r);
	free(l->bytes);
	free(l);
}
