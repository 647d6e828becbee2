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

/* ---- what the edit files share; each stacks on the ones above it:
 *   edit_leaf.c   leaves, key paths, replacing a file (commit.h)
 *   versions.c    the history: version records, recovering an unrecorded state
 *   msgpack_edit.c  Flax msgpack files and Orbax's aggregate file
 *   edit_data.c   array data (OCDBT, array directories)
 *   edit_meta.c   metadata documents, the aggregate file around _METADATA
 *   edit_commit.c the commit: the steps in order
 *   edit.c        begin and the operations (edit_leaf.c only)
 */

/* edit_leaf.c */
/* frees a key path of n keys */
void ckpt_edit_keys_free(struct ckpt_key *p, size_t n);
/* frees what a leaf of the list owns (not the leaf) */
void ckpt_edit_eleaf_release(struct eleaf *l);
/* the key path of node n from the root: *out (new), *depth */
int ckpt_edit_node_path(const struct ckpt_node *n, struct ckpt_key **out, size_t *depth);
/* q[0, qd) starts with p[0, pd) (strict: and is longer) */
bool ckpt_edit_has_prefix(const struct ckpt_key *q, size_t qd, const struct ckpt_key *p, size_t pd,
			  bool strict);
/* the Orbax parameter name of a key path (keys joined with "."): new */
char *ckpt_edit_param_of(const struct ckpt_key *p, size_t d);
/* what the list holds for node n */
enum ekind ckpt_edit_kind_of(const struct ckpt_node *n);
/* fsync of the directory that holds rel (commit.h) */
int ckpt_edit_sync_parent(int dirfd, const char *rel);
/* replaces rel beneath dirfd atomically (commit.h), counting the bytes */
int ckpt_edit_replace_file(struct ckpt_edit *e, int dirfd, const char *label, const char *rel,
			   const void *p, size_t n, struct ckpt_err *err);
/* the same for a JSON document, compact or as Python writes it */
int ckpt_edit_replace_json(struct ckpt_edit *e, int dirfd, const char *label, const char *rel, json_t *j,
			   bool compact, struct ckpt_err *err);
/* the item's node at key path p, or NULL */
const struct ckpt_node *ckpt_edit_orig_at(const struct ckpt_item *it, const struct ckpt_key *p, size_t d);
/* a leaf (not a container, not the root) */
bool ckpt_edit_is_leaf_node(const struct ckpt_node *n);

/* versions.c */
/* records the item's live state as version v (its metadata files, the
 * aggregate file, then the record: time, OCDBT generation, change) */
int ckpt_edit_record_version(struct ckpt_edit *e, uint64_t v, uint64_t gen, const char *change,
			     struct ckpt_err *err);
/* the version number the edit will create; records the state before it if
 * nothing (or something else) recorded it */
int ckpt_edit_prepare_versions(struct ckpt_edit *e, uint64_t *next, struct ckpt_err *err);
/* the highest recorded version, or -ENOENT */
int ckpt_edit_last_version(struct ckpt_edit *e, uint64_t *v);

/* edit_data.c */
/* OCDBT items: commit A (phase_b false: new chunks and keys) or B (the keys
 * of removed and moved arrays deleted) */
int ckpt_edit_ocdbt_data(struct ckpt_edit *e, char **params, struct ckpt_ocdbt_wr *w, bool phase_b,
			 struct ckpt_err *err);
/* directory items, step 1: new array directories swapped in */
int ckpt_edit_dir_data(struct ckpt_edit *e, char **params, uint64_t ver, struct ckpt_err *err);
/* directory items, step 4: arrays no longer under their name go to the history */
int ckpt_edit_dir_cleanup(struct ckpt_edit *e, char **params, uint64_t ver);

/* edit_meta.c */
/* the new _METADATA document (new), NULL on ENOMEM */
json_t *ckpt_edit_new_metadata(struct ckpt_edit *e);
/* _sharding, array_metadatas, _strings.json; keep_old: with the old entries too */
int ckpt_edit_write_docs(struct ckpt_edit *e, char **params, bool keep_old, struct ckpt_err *err);
/* the step's _CHECKPOINT_METADATA commit time */
int ckpt_edit_stamp_step(struct ckpt_edit *e, struct ckpt_err *err);
/* refuses a tree change that would move a value of the aggregate file */
int ckpt_edit_agg_check(struct ckpt_edit *e, struct ckpt_err *err);
/* before _METADATA: the aggregate file with old and new leaves, if a value moves */
int ckpt_edit_agg_grow(struct ckpt_edit *e, char **params, struct ckpt_err *err);
/* a value in the aggregate file was written */
bool ckpt_edit_agg_touched(const struct ckpt_edit *e);

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
