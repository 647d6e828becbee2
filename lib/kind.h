/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kind.h - one table of operations per kind of item (tier 4).  Private to
 * lib/.
 *
 * item.c holds the table of kinds (ckpt_kinds in item.c) and asks each in
 * order whether it reads an item; the first that claims it opens the item
 * (builds the node tree with node.c) and opens its leaves.  Everything
 * else (the leaf cache, sizes, reads, the JSON descriptions in describe.c)
 * is the same for every kind.  A new layout is one new file that defines a
 * `const struct ckpt_kind_ops` and one entry in that table.
 *
 *   kind               file                claims
 *   flax               item_flax.c         a step that is one Flax msgpack file
 *   pytree             pytree_meta.c       a pytree item with _METADATA
 *   aggregate          item_aggregate.c    a pytree item without _METADATA, with
 *                                          Orbax's msgpack aggregate file
 *   pytree (flat)      pytree_flat.c       any other pytree item: the arrays
 *                                          stored in OCDBT or as directories
 *   json               item_json.c         a JSON item (one file)
 *   raw                item_raw.c          a raw item (files shown as they are)
 * A recorded version of an item (versions.c) is read by the same kinds:
 * it->is_version, it->meta_dir and it->generation say where its files are.
 *
 * The Orbax pytree kinds share pytree.c (flags, the array store, strings,
 * _sharding, array_metadatas, leaves); leaves held in a msgpack file are
 * opened by msgpack.c.
 */
#ifndef CKPT_KIND_H
#define CKPT_KIND_H

#include "model.h"

struct ckpt_kind_ops {
	/* true when this kind reads the item (tried in table order) */
	bool (*claims)(const struct ckpt_item *it);
	/* builds it->root and the node table; on failure the item is closed */
	int (*open)(struct ckpt_item *it, struct ckpt_err *err);
	/* the bytes of leaf node n into *l (zeroed, l->fd = -1), under it->lock;
	 * NULL: the kind has no leaves (-EISDIR) */
	int (*leaf_open)(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_leaf *l,
			 struct ckpt_err *err);
};

extern const struct ckpt_kind_ops ckpt_kind_flax, ckpt_kind_pytree, ckpt_kind_aggregate,
	ckpt_kind_pytree_flat, ckpt_kind_json, ckpt_kind_raw;

/* ---------------------------------------------------------------- pytree.c: shared by the Orbax pytree kinds */

/* the item's store and optional files (_strings.json), before its tree */
int ckpt_pytree_begin(struct ckpt_item *it, struct ckpt_err *err);
/* after the tree: opens the OCDBT database (use_ocdbt) */
int ckpt_pytree_open_store(struct ckpt_item *it, struct ckpt_err *err);
/* after the tree: each array leaf's _sharding and array_metadata */
int ckpt_pytree_annotate(struct ckpt_item *it);
/* the leaf of a pytree node: a msgpack value, an array, a string, None */
int ckpt_pytree_leaf_open(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_leaf *l,
			  struct ckpt_err *err);
/* a metadata file's bytes (the version's copy when reading a version) */
int ckpt_pytree_load_bytes(struct ckpt_item *it, const char *name, uint8_t **buf, size_t *n,
			   struct ckpt_err *err);
/* one copy of each distinct text per item: leaves share their metadata */
const char *ckpt_pytree_intern(struct ckpt_item *it, const char *s, size_t n);
const char *ckpt_pytree_intern_json(struct ckpt_item *it, const json_t *j);
/* a JSON value from a slice of a document (keys may hold NUL) */
json_t *ckpt_pytree_parse_slice(const char *p, size_t n);
bool ckpt_pytree_has_regular_file(int fd, const char *name);

/* pytree_flat.c: the tree of a pytree item without _METADATA: one leaf per
 * array in the OCDBT database or per array directory */
int ckpt_pytree_flat_tree(struct ckpt_item *it, struct ckpt_err *err);

/* ---------------------------------------------------------------- msgpack.c */

/* the tree of msgpack file `name` (beneath it->fd); *values: some leaf
 * holds its value (not only placeholders) */
int ckpt_msgpack_open(struct ckpt_item *it, const char *name, bool *values, struct ckpt_err *err);
/* the leaf of a node whose value the msgpack file holds (n->mp) */
int ckpt_mp_leaf_open(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_leaf *l,
		      struct ckpt_err *err);

#endif
