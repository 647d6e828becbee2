/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model.h - internals of the checkpoint model behind ckpt.h (tier 4):
 * sources, steps, items, nodes, leaves.  Private to lib/.
 */
#ifndef CKPT_MODEL_H
#define CKPT_MODEL_H

#include "cache.h"
#include "commit.h"
#include "readahead.h"
#include "include/ckpt.h"
#include "map.h"
#include "ocdbt.h"
#include "store.h"
#include "zarr.h"

#include <jansson.h>
#include <pthread.h>

struct ckpt_src {
	int fd;
	char *path;
	enum ckpt_src_kind kind;
	char *single_name;
	bool single_file; /* SOURCE is one Flax msgpack file (fd: its directory) */
	struct ckpt_opts o;
	struct ckpt_cache *cache;
	struct ckpt_ra *ra; /* read-ahead pool, or NULL */
	uint64_t scans;     /* ckpt_src_scan calls (statistics) */
};

struct ckpt_step {
	struct ckpt_src *src;
	char *name;
	char *path;
	int fd;
	char *file;       /* a Flax msgpack step: the file in fd's directory, else NULL */
	bool direct;
	bool has_number;
	uint64_t number;
	json_t *meta;     /* _CHECKPOINT_METADATA, or NULL */
	char *meta_error; /* why it could not be read, or NULL */
	bool commit_marker;
	struct ckpt_item_info *items;
	size_t n_items;
	uint64_t time_ns;
};

struct ckpt_node {
	char *key;
	size_t key_n;
	uint8_t key_type; /* 1 sequence, 2 dict, 0 unknown */
	enum ckpt_node_kind kind;
	const char *value_type; /* a literal, or interned by the item: never freed alone */
	char *param;     /* pytree leaves: the parameter name; raw files: the relative path */
	bool param_nul;  /* the name holds a NUL byte (a C string cannot): unreadable */
	bool agg_lost;   /* its value is in the aggregate file, which lacks it (agg_error) */
	uint64_t id;
	struct ckpt_node *parent;
	struct ckpt_node **children;
	size_t n_children, cap_children;
	struct ckpt_map index; /* key -> child position */
	/* compact JSON texts, interned by the item (NULL: none) */
	const char *vm;         /* the _METADATA entry's value_metadata */
	const char *sharding;   /* its _sharding value (itself JSON text) */
	const char *array_meta; /* its array_metadata, without param_name */
	struct ckpt_mp_leaf *mp; /* a leaf decoded from a msgpack file (msgpack.c) */
};

/* Where a msgpack leaf's bytes are. */
struct ckpt_mp_range {
	uint64_t off, len;
};

struct ckpt_mp_leaf {
	enum { MPL_RANGES, MPL_BYTES, MPL_GDA } how; /* placeholders are plain array nodes */
	const char *what;        /* "ndarray", "numpy scalar", "int", "float", "bool", "str", ... */
	char dtype[32];          /* numpy name; "" for strings and bytes */
	uint32_t rank;
	uint64_t shape[32];
	struct ckpt_mp_range *r; /* MPL_RANGES: in the msgpack file, in order */
	size_t n_r;
	uint8_t *bytes;          /* MPL_BYTES: owned */
	uint64_t size;           /* the leaf's bytes */
	int8_t ext;              /* "msgpack extension": its type code */
};

enum leaf_kind { LEAF_ARRAY, LEAF_BYTES, LEAF_FILE, LEAF_RANGES };

struct ckpt_leaf {
	enum leaf_kind kind;
	struct ckpt_array *arr;
	const uint8_t *bytes; /* LEAF_BYTES: borrowed from the item */
	uint64_t size;
	int fd;               /* LEAF_FILE (owned), LEAF_RANGES (the item's) */
	const struct ckpt_mp_range *ranges; /* LEAF_RANGES */
	size_t n_ranges;
};

struct leaf_slot {
	struct ckpt_leaf *leaf;
	uint64_t size_plus1; /* the leaf's size + 1 once known without keeping it open */
	int err;
	char *msg;
	uint8_t ra_sent;    /* decoded ahead of a reader walking the leaves (item.c) */
	uint8_t fetch_sent; /* its stored bytes fetched ahead of that (object storage) */
	uint32_t npy_head_plus1; /* its .npy view's header bytes + 1, known with the size */
};

struct ckpt_kind_ops;

/* An opened item.  Its fields are grouped by the kinds that use them
 * (kind.h); the edit code (edit*.c, msgpack_edit.c) reads them by name, and
 * ckpt_item_close (item.c) frees them all, whatever the kind. */
struct ckpt_item {
	struct ckpt_step *step;
	char *name;
	enum ckpt_item_kind kind;
	const struct ckpt_kind_ops *ops; /* how this item is read (kind.h) */
	int fd;
	char *label;
	/* pytree: the metadata files are read as streams into the nodes; the
	 * documents themselves are loaded only for edits (ckpt_pytree_load_docs) */
	json_t *metadata, *strings, *sharding, *array_metas;
	bool docs_loaded;
	char *custom_metadata; /* _METADATA's custom_metadata, JSON text */
	struct ckpt_map interned; /* text -> index in intern[] */
	char **intern;
	size_t n_intern, cap_intern;
	bool have_metadata, use_zarr3, have_use_zarr3, use_ocdbt, have_use_ocdbt, missing_is_error;
	struct ckpt_ocdbt_db *db;
	struct ckpt_store store;
	/* all kinds */
	struct ckpt_node *root;
	struct ckpt_node **nodes;
	size_t n_nodes, cap_nodes;
	struct leaf_slot *slots; /* by node id */
	uint64_t ra_last; /* id + 1 of the leaf opened last (cross-leaf read-ahead), 0: none */
	pthread_mutex_t lock;
	/* json items */
	uint8_t *json;
	size_t json_n;
	/* an old version (ckpt_item_open_version): metadata files from meta_dir,
	 * the OCDBT generation, and directory arrays from the history */
	bool is_version;
	uint64_t version;
	char *meta_dir;
	uint64_t generation;
	/* a msgpack file: a Flax checkpoint, or Orbax's aggregate "checkpoint" */
	int mp_fd;
	char *mp_label;
	char *agg_error; /* why values of the aggregate file are missing */
	int gda_fd;              /* <checkpoint>_gda/ for //GDAPlaceholder: leaves, or -1 */
	char *gda_label;
	struct ckpt_store gda_store;
	pthread_mutex_t gda_lock;
	/* the item's files as they were before it was read (commit.h): an edit
	 * checks them unchanged under the writer lock */
	struct ckpt_stamp stamp;
};

#define CKPT_HISTORY ".ckptfs"

/* history.c: the history directory of a step's items, relative to the
 * item's directory: .ckptfs, or .ckptfs/<file> for a Flax file step (whose
 * "item directory" is the directory that holds the file) */
char *ckpt_history_path(const struct ckpt_step *st);
/* history.c: where version N's metadata files are, relative to the item */
char *ckpt_history_meta_dir(uint64_t version);
/* history.c: a Flax file step's copy of its file at version N */
char *ckpt_history_file(const struct ckpt_step *st, uint64_t version);
/* history.c: a metadata file of the item (or of the version being read) */
char *ckpt_item_meta_path(const struct ckpt_item *it, const char *name);
/* history.c: *prefix ("<dir>/", caller frees) of the history's copy of
 * directory array param as it was at the version it->version, or NULL when
 * the history holds none (the array has not changed since) */
int ckpt_history_array(const struct ckpt_item *it, const char *param, char **prefix);

/* item.c: opens item i of the step, or (is_version) the recorded version
 * `version` of it (OCDBT generation `generation`); versions.c uses it */
int ckpt_item_open_at(struct ckpt_item **out, struct ckpt_step *st, size_t i, bool is_version,
		      uint64_t version, uint64_t generation, struct ckpt_err *err);

/* pytree.c: loads _METADATA, _sharding and array_metadatas as documents (for edits) */
int ckpt_pytree_load_docs(struct ckpt_item *it, struct ckpt_err *err);

/* node.c: the node tree every kind builds */
struct ckpt_node *ckpt_node_new(struct ckpt_item *it, struct ckpt_node *parent, const char *key,
				size_t key_n, uint8_t key_type, enum ckpt_node_kind kind);
void ckpt_node_free_tree(struct ckpt_node *n);
void ckpt_mp_leaf_free(struct ckpt_mp_leaf *l);

/* What the decoded-chunk cache has done since the source was opened. */
struct ckpt_src_stats {
	uint64_t cache_hits, cache_misses, cache_evictions, cache_bytes, cache_entries, cache_budget;
	uint64_t decoded_bytes; /* bytes decompressed and decoded */
	uint64_t readahead_jobs; /* chunks (or runs of pieces) decoded ahead of readers */
	struct ckpt_spill_stats spill; /* the mount's spill (all zero: none) */
	uint64_t source_reads;   /* reads of SOURCE's files (fsutil's helpers) */
	uint64_t source_scans;   /* listings of SOURCE's steps (ckpt_src_scan) */
};
void ckpt_src_stats(struct ckpt_src *s, struct ckpt_src_stats *out);

#endif
