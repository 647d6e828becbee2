/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edit_int.h - what edit.c and msgpack_edit.c share (tier 5): the edit as a
 * flat list of leaves with their key paths, and the version records.
 */
#ifndef CKPT_EDIT_INT_H
#define CKPT_EDIT_INT_H

#include "model.h"
#include "writer.h"
#include "zarr_write.h"

enum ekind { E_ARRAY, E_STRING, E_EMPTY, E_NONE };

struct eleaf {
	struct ckpt_key *path;
	size_t depth;
	enum ekind kind;
	char *value_type;
	json_t *vm;                    /* value_metadata to keep, or NULL */
	const struct ckpt_node *node;  /* the original node, NULL for a new leaf */
	char *orig_param;              /* arrays: where the data is now */
	/* data changes */
	struct ckpt_extent *dirty;
	size_t n_dirty;
	ckpt_bytes_fn src;
	void *ctx;
	bool is_new;
	struct ckpt_zarr_spec spec; /* new arrays */
	char *str;
	size_t str_n;
	bool str_set;
};

struct ckpt_edit {
	struct ckpt_item *it;
	struct eleaf *l;
	size_t n, cap;
	bool structural; /* _METADATA changes */
	bool done;       /* an operation was recorded */
	bool mp;         /* a Flax msgpack file step (msgpack_edit.c commits it) */
	bool agg;        /* an Orbax item with a msgpack aggregate file holding values */
	char *hist;      /* the item's history directory, relative to it->fd */
	int lockfd;      /* the item's writer lock (commit.h), held until ckpt_edit_free */
	uint64_t written;
	char what[256];
};

/* the node's value is in the msgpack file (Flax's file, or Orbax's aggregate
 * file), not in the item's array storage */
static inline bool node_inline(const struct ckpt_node *n)
{
	return n->mp && n->mp->how != MPL_GDA;
}

static inline bool eleaf_inline(const struct eleaf *l)
{
	return !l->is_new && l->node && node_inline(l->node);
}

#define FAULT(name) ckpt_fault_point("edit-" name)

/* edit.c */
int ckpt_edit_replace_file(struct ckpt_edit *e, int dirfd, const char *label, const char *rel,
			   const void *p, size_t n, struct ckpt_err *err);
int ckpt_edit_last_version(struct ckpt_edit *e, uint64_t *v);
int ckpt_edit_record_version(struct ckpt_edit *e, uint64_t v, uint64_t gen, const char *change,
			     struct ckpt_err *err);
int ckpt_edit_sync_parent(int dirfd, const char *rel);

/* msgpack_edit.c: writes the edited msgpack file and commits it */
int ckpt_mp_edit_commit(struct ckpt_edit *e, const char *what, uint64_t *version, struct ckpt_err *err);
/* msgpack_edit.c: Orbax's aggregate file "checkpoint" for the edit's leaves
 * (params[i]: leaf i's parameter name), written beside it, fsynced and
 * renamed over it; values in the file stay there, the others are
 * placeholders.  old[0, n_old): leaves that keep their old place where they
 * fit beside the new ones (NULL: none) */
int ckpt_mp_write_aggregate(struct ckpt_edit *e, char **params, const struct eleaf *old, size_t n_old,
			    char **old_params, struct ckpt_err *err);

#endif
