/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ckpt.h - the public API of libckpt: Orbax / TensorStore checkpoints as a
 * tree of steps, items, pytree nodes and leaves.  This is the only header
 * fs/ includes.
 *
 * Objects and lifetimes:
 *   ckpt_src   an opened SOURCE: a CheckpointManager root, or one checkpoint
 *   ckpt_step  one committed step directory (owns nothing of the src)
 *   ckpt_item  one item of a step: a pytree, a JSON file, or raw files
 *   ckpt_node  a pytree node; borrowed, lives as long as its item
 *   ckpt_leaf  the readable bytes of a leaf node; borrowed from its item
 * Steps and items are immutable after open and safe to share between
 * threads; ckpt_leaf_read() may be called from many threads at once.
 *
 * Errors: negative errno (see ckpt_err.h), with the message in struct ckpt_err.
 * This header and the two it includes are self-contained (tests/unit/
 * test_public_header.c is compiled with only lib/include on the path).
 */
#ifndef CKPT_H
#define CKPT_H

#include "ckpt_err.h"
#include "ckpt_limits.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ckpt_opts {
	struct ckpt_limits lim;
	size_t cache_bytes;        /* decoded-chunk cache budget */
	uint64_t stream_threshold; /* chunks larger than this decode as streams */
	size_t piece_bytes;        /* piece size of streamed chunks */
	bool strict_commit;        /* steps need commit_success.txt */
	unsigned readahead_threads; /* decode ahead of sequential readers (0: off) */
	bool read_only;            /* nothing is edited: items are opened without the
	                            * change stamp an edit checks (ckpt_edit_begin: -EROFS) */
	struct ckpt_spill *spill;  /* where streamed chunks' decoded pieces also go
	                            * (borrowed, shared by sources; NULL: nowhere) */
};

void ckpt_opts_default(struct ckpt_opts *o);

/* ---------------------------------------------------------------- spill */

/*
 * A bounded spill of decoded pieces on local disk: a chunk too large for
 * the cache is decoded as a stream, and its pieces are also written there,
 * so that a reader going back reads them instead of starting the stream
 * over.  Opens a private directory (mkdtemp) in parent; at most `bytes` are
 * held, the least recently used chunks released first.  The files in it
 * are unlinked as soon as they are created: nothing outlives the process,
 * however it ends (an empty directory does, unless ckpt_spill_close ran).
 * Give it to sources through ckpt_opts.spill; close it after them.
 * @return 0, -errno (the directory cannot be made)
 */
struct ckpt_spill;
int ckpt_spill_open(struct ckpt_spill **out, const char *parent, uint64_t bytes,
		    struct ckpt_err *err);
/* Releases every file and removes the directory. */
void ckpt_spill_close(struct ckpt_spill *sp);

/* ---------------------------------------------------------------- sources */

/*
 * Remote sources: a checkpoint on S3-compatible object storage,
 * s3://BUCKET/PREFIX or gs://BUCKET/PREFIX (GCS's XML API, HMAC keys).  It is
 * mirrored as a private local directory of sparse files (under cache_dir),
 * whose bytes are fetched with range GETs as they are read; open the
 * mirror's path, ckpt_remote_path(), with ckpt_src_open.  One per process.
 */
struct ckpt_remote;
struct ckpt_remote_conf;

/* starts with s3:// or gs:// */
bool ckpt_remote_is_url(const char *s);
/* the URL's bucket and prefix, and credentials, region and endpoint from the
 * usual AWS variables and files (see docs/object-storage.md) */
int ckpt_remote_conf_new(struct ckpt_remote_conf **out, const char *url, struct ckpt_err *err);
/*
 * One option, key=value: the store's (endpoint, region, addressing=path|virtual,
 * anonymous, profile, access_key_id, secret_access_key, session_token,
 * retries, timeout) and the mirror's (cache_dir, cache_dir_size, poll in
 * seconds with 0 for never, parallel).  @return 0, -EINVAL (err says why),
 * -ENOENT when key is none of these
 */
int ckpt_remote_conf_set(struct ckpt_remote_conf *c, const char *key, const char *value,
			 struct ckpt_err *err);
void ckpt_remote_conf_free(struct ckpt_remote_conf *c);
/* Lists the objects and builds the mirror; log gets what happens later
 * (fetch errors, listing failures), credentials never in it. */
int ckpt_remote_open(struct ckpt_remote **out, const struct ckpt_remote_conf *c,
		     void (*log)(void *ctx, const char *msg), void *log_ctx, struct ckpt_err *err);
const char *ckpt_remote_path(const struct ckpt_remote *r);
/* in msg (a message of cap bytes), the mirror's path becomes the URL: users know that */
void ckpt_remote_unmirror(const struct ckpt_remote *r, char *msg, size_t cap);
/* the same into a new string (*n: its length), for a document of any size; NULL: no memory */
char *ckpt_remote_unmirror_dup(const struct ckpt_remote *r, const char *s, size_t *n);
/* starts listing again every poll seconds (call it after a fork) */
int ckpt_remote_start(struct ckpt_remote *r);
/* stops, and removes the mirror */
void ckpt_remote_close(struct ckpt_remote *r);


enum ckpt_src_kind {
	CKPT_SRC_ROOT,   /* a CheckpointManager directory: one sub-directory per step */
	CKPT_SRC_SINGLE, /* one checkpoint (composite or direct) */
};

struct ckpt_src;

/*
 * Opens SOURCE and detects its kind.
 * @return 0, -ENOENT, -ENOTDIR, -EINVAL (not a checkpoint: message says why)
 */
int ckpt_src_open(struct ckpt_src **out, const char *path, const struct ckpt_opts *o,
		  struct ckpt_err *err);
void ckpt_src_close(struct ckpt_src *s);
enum ckpt_src_kind ckpt_src_kind(const struct ckpt_src *s);
const char *ckpt_src_path(const struct ckpt_src *s);

struct ckpt_step_ent {
	char *name;
	bool has_number;
	uint64_t number;
	double key;   /* the order: the step number, or a Flax file's float step */
	bool file;    /* a Flax msgpack file, not a directory */
	uint64_t ino; /* the directory entry's inode (0: unknown): a step saved
		       * again under the same name has a new one */
};

/* Lists the committed steps now on disk, ascending by step number. */
int ckpt_src_scan(struct ckpt_src *s, struct ckpt_step_ent **out, size_t *n, struct ckpt_err *err);
void ckpt_step_ents_free(struct ckpt_step_ent *e, size_t n);

/* A new JSON object of what the source's decoded-chunk cache and read-ahead
 * have done since it was opened (what /.ckptfs-stats shows). */
json_t *ckpt_src_stats_describe(struct ckpt_src *s);

/* The root metadata (metadata/_ROOT_METADATA or metadata/metadata). -ENOENT if none. */
int ckpt_src_root_metadata(struct ckpt_src *s, char **json, size_t *n, struct ckpt_err *err);

/* ---------------------------------------------------------------- trees of checkpoints */

/* A folder that is not a checkpoint but holds some below it (tree mounts). */
enum ckpt_tree_kind {
	CKPT_TREE_DIR,  /* a folder that is not a checkpoint */
	CKPT_TREE_FILE, /* a regular file that is not a checkpoint */
	CKPT_TREE_CKPT, /* a checkpoint: what ckpt_src_open opens at its path */
	CKPT_TREE_LINK, /* a symbolic link (not followed) */
};

struct ckpt_tree_ent {
	char *path;       /* relative to the scanned folder */
	const char *name; /* the last component (points into path) */
	size_t parent;    /* the index of its folder; SIZE_MAX: the scanned folder */
	unsigned depth;   /* 1: directly in the scanned folder */
	enum ckpt_tree_kind kind;
};

#define CKPT_TREE_MAX_ENTRIES ((size_t)1 << 20)

/*
 * Lists the folder at path down to max_depth levels: its folders and
 * regular files, and in place of a folder or file that is a checkpoint (a
 * manager root with steps, one checkpoint, a Flax msgpack file recognised
 * by content), that checkpoint, not looked into.  Folders below max_depth
 * are listed without their content.  Symbolic links are listed, not
 * followed.  Not listed: special files, uncommitted saves
 * (*.orbax-checkpoint-tmp*).  Folders come before
 * what they hold; siblings are sorted by name.
 * @return 0 (*n_ckpt may be 0), -E2BIG (more than max_ckpts checkpoints or
 *         CKPT_TREE_MAX_ENTRIES entries), -errno (path cannot be listed)
 */
int ckpt_tree_scan(const char *path, unsigned max_depth, size_t max_ckpts,
		   struct ckpt_tree_ent **out, size_t *n, size_t *n_ckpt, struct ckpt_err *err);
void ckpt_tree_ents_free(struct ckpt_tree_ent *e, size_t n);
/* A regular file that holds one Flax msgpack checkpoint (by content, not name). */
bool ckpt_is_flax_file(int dirfd, const char *name);

/* ---------------------------------------------------------------- steps */

enum ckpt_item_kind {
	CKPT_ITEM_PYTREE,
	CKPT_ITEM_JSON, /* one JSON file: shown as <name>.json */
	CKPT_ITEM_RAW,  /* not understood: its files are shown as they are */
};

struct ckpt_item_info {
	char *name;
	enum ckpt_item_kind kind;
};

struct ckpt_step;

/* @return 0, -ENOENT (no such committed step), -errno */
int ckpt_step_open(struct ckpt_step **out, struct ckpt_src *s, const char *name,
		   struct ckpt_err *err);
void ckpt_step_close(struct ckpt_step *st);
const char *ckpt_step_name(const struct ckpt_step *st);
/* true when the step directory is itself one pytree item (a direct checkpoint) */
bool ckpt_step_is_direct(const struct ckpt_step *st);
size_t ckpt_step_n_items(const struct ckpt_step *st);
const struct ckpt_item_info *ckpt_step_item(const struct ckpt_step *st, size_t i);
/* commit time in ns (from _CHECKPOINT_METADATA, else the directory mtime) */
uint64_t ckpt_step_time_ns(const struct ckpt_step *st);
/* A new JSON object describing the step (its _CHECKPOINT_METADATA and items). */
json_t *ckpt_step_describe(const struct ckpt_step *st);

/* ---------------------------------------------------------------- items and nodes */

struct ckpt_item;
struct ckpt_node;
struct ckpt_leaf;

enum ckpt_node_kind {
	CKPT_NODE_DICT,   /* children by key */
	CKPT_NODE_LIST,   /* children by index (a list or tuple) */
	CKPT_NODE_EMPTY,  /* an empty dict, list or tuple: an empty directory */
	CKPT_NODE_ARRAY,  /* a zarr array: jax.Array, np.ndarray, or scalar (0-d) */
	CKPT_NODE_STRING, /* a string leaf (_strings.json) */
	CKPT_NODE_NONE,   /* None or an empty named tuple: an empty file */
	CKPT_NODE_FILE,   /* a raw file of a RAW item, or a JSON item's file */
};

/* Opens item i of the step (the whole step for a direct checkpoint, i = 0). */
int ckpt_item_open(struct ckpt_item **out, struct ckpt_step *st, size_t i, struct ckpt_err *err);
void ckpt_item_close(struct ckpt_item *it);
enum ckpt_item_kind ckpt_item_kind(const struct ckpt_item *it);
const struct ckpt_node *ckpt_item_root(const struct ckpt_item *it);
/* A new JSON object describing the item: format, flags, and every leaf;
 * for a recorded version (ckpt_item_open_version), its record too. */
json_t *ckpt_item_describe(struct ckpt_item *it, struct ckpt_err *err);
/* A new JSON object {"error": msg}: what a .json shows for what cannot be opened. */
json_t *ckpt_describe_error(const char *msg);
/* A JSON item's file content (borrowed).  @return 0 or -EINVAL */
int ckpt_item_json_bytes(const struct ckpt_item *it, const uint8_t **p, size_t *n);

enum ckpt_node_kind ckpt_node_kind(const struct ckpt_node *n);
bool ckpt_node_is_dir(const struct ckpt_node *n);
const char *ckpt_node_key(const struct ckpt_node *n, size_t *len);
size_t ckpt_node_n_children(const struct ckpt_node *n);
const struct ckpt_node *ckpt_node_child(const struct ckpt_node *n, size_t i);
/* n's parent (NULL for the root), and n's position among its children
 * (SIZE_MAX for the root) */
const struct ckpt_node *ckpt_node_parent(const struct ckpt_node *n);
size_t ckpt_node_pos(const struct ckpt_node *n);
/* the child with this exact key, or NULL */
const struct ckpt_node *ckpt_node_find(const struct ckpt_node *n, const char *key, size_t len);
/* which repeat of its key child i of dir is (0: the first), for its file
 * name's "%~n" (ckpt_name_escape's dup) */
unsigned ckpt_node_dup_index(const struct ckpt_node *dir, size_t i);
/* a number unique within the item, < ckpt_item_n_nodes */
uint64_t ckpt_node_id(const struct ckpt_node *n);
uint64_t ckpt_item_n_nodes(const struct ckpt_item *it);
/* the node with this id, or NULL */
const struct ckpt_node *ckpt_item_node(const struct ckpt_item *it, uint64_t id);

/*
 * The leaf of a leaf node (opened on first use, then kept by the item).
 * @return 0, CKPT_ECORRUPT, -ENOTSUP, -ENOENT (array data missing), -EISDIR
 */
int ckpt_item_leaf(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_leaf **out,
		   struct ckpt_err *err);
uint64_t ckpt_leaf_size(const struct ckpt_leaf *l);
/* A leaf's size, without keeping its array open (for stat). */
int ckpt_item_leaf_size(struct ckpt_item *it, const struct ckpt_node *n, uint64_t *size,
			struct ckpt_err *err);
/* @return bytes copied, 0 at the end, or a negative error */
int64_t ckpt_leaf_read(struct ckpt_leaf *l, void *buf, uint64_t off, size_t n, struct ckpt_err *err);
/* Decoded bytes lent from the cache: p[0, n), valid until ckpt_view_release. */
struct ckpt_view {
	const void *p;
	size_t n;
	void *priv[3];
};

/* Lends bytes [off, off+n) (fewer at the end of the leaf) without copying
 * when they lie contiguous in one decoded chunk: 1 (release the view), 0
 * (not possible: use ckpt_leaf_read), or a negative error. */
int ckpt_leaf_view(struct ckpt_leaf *l, uint64_t off, size_t n, struct ckpt_view *v,
		   struct ckpt_err *err);
void ckpt_view_release(struct ckpt_view *v);
/* Schedules bytes [off, off+len) to be decoded in the background (read-ahead
 * of a sequential reader); returns at once, no-op where pointless. */
void ckpt_leaf_readahead(struct ckpt_leaf *l, uint64_t off, uint64_t len);
/* Called when leaf n is opened: when the reader walks the item's leaves in
 * tree order (n follows the leaf opened before it, or was decoded ahead),
 * opens the array leaves after n and schedules them to be decoded in the
 * background, whole leaves of at most `window` bytes in all, and calls
 * fn(ctx, leaf, size) (fn may be NULL) for each leaf it has just scheduled:
 * once per leaf of the item, so what the caller does with it is done once.
 * Returns at once; errors are left for the reader of each leaf. */
typedef void (*ckpt_leaf_ahead_fn)(void *ctx, const struct ckpt_node *leaf, uint64_t size);
void ckpt_item_leaves_ahead(struct ckpt_item *it, const struct ckpt_node *n, uint64_t window,
			    ckpt_leaf_ahead_fn fn, void *ctx);
/* A new JSON object describing a leaf node. */
json_t *ckpt_leaf_describe(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_err *err);

/* ---------------------------------------------------------------- edits */

/*
 * Copy-on-write edits of a pytree item.  An edit is one operation, committed
 * atomically by ckpt_edit_commit: for OCDBT items a new OCDBT generation (new
 * chunks only; unchanged data is referenced, not copied), for directory
 * items new array directories swapped in by rename; _METADATA, _sharding,
 * array_metadatas and _strings.json are replaced by rename in an order that
 * keeps every intermediate state restorable; the step's
 * _CHECKPOINT_METADATA records the commit time.  No byte of an existing file
 * is overwritten.  The state before each edit stays readable as a version
 * (ckpt_item_open_version) until pruned.  After a commit the item object is
 * stale: open it again.
 *
 * Calling sequence: ckpt_edit_begin -> one operation -> ckpt_edit_commit ->
 * ckpt_edit_free (free without commit: nothing changes).
 */
struct ckpt_edit;

/* produces bytes [off, off+n) of a leaf's new content */
typedef int (*ckpt_bytes_fn)(void *ctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err);

struct ckpt_extent {
	uint64_t off, len;
};

int ckpt_edit_begin(struct ckpt_edit **out, struct ckpt_item *it, struct ckpt_err *err);
void ckpt_edit_free(struct ckpt_edit *e);
/* New bytes for the dirty extents (sorted, disjoint) of an array leaf. */
int ckpt_edit_write(struct ckpt_edit *e, const struct ckpt_node *leaf, const struct ckpt_extent *dirty,
		    size_t n_dirty, ckpt_bytes_fn src, void *ctx, struct ckpt_err *err);
/* A string leaf's new text. */
int ckpt_edit_set_string(struct ckpt_edit *e, const struct ckpt_node *leaf, const char *s, size_t n,
			 struct ckpt_err *err);
/* A new array leaf (replacing what is at key), dtype by numpy name. */
int ckpt_edit_add_array(struct ckpt_edit *e, const struct ckpt_node *parent, const char *key,
			size_t key_n, const char *dtype, uint32_t rank, const uint64_t *shape,
			ckpt_bytes_fn src, void *ctx, struct ckpt_err *err);
/* A new empty dict. */
int ckpt_edit_mkdir(struct ckpt_edit *e, const struct ckpt_node *parent, const char *key, size_t key_n,
		    struct ckpt_err *err);
/* Removes a leaf or a whole subtree. */
int ckpt_edit_remove(struct ckpt_edit *e, const struct ckpt_node *n, struct ckpt_err *err);
/* Moves a leaf or subtree to new_parent/key (replacing a leaf or empty dict there). */
int ckpt_edit_rename(struct ckpt_edit *e, const struct ckpt_node *n, const struct ckpt_node *new_parent,
		     const char *key, size_t key_n, struct ckpt_err *err);
/* Commits; *version: the version number the item is now at. */
int ckpt_edit_commit(struct ckpt_edit *e, const char *what, uint64_t *version, struct ckpt_err *err);
/* bytes written to disk by the commit (data files, chunk files, metadata) */
uint64_t ckpt_edit_bytes_written(const struct ckpt_edit *e);

/* ---------------------------------------------------------------- .npy files */

/* The header of a numpy .npy file: what a new array written as NAME.npy is. */
#define CKPT_NPY_MAX_RANK 32
struct ckpt_npy {
	char dtype[32];      /* numpy name, as ckpt_edit_add_array takes it */
	uint32_t itemsize;
	uint32_t swap;       /* > 1: big-endian data, swap units of this size */
	uint32_t rank;
	uint64_t shape[CKPT_NPY_MAX_RANK];
	uint64_t data_off;   /* where the data starts */
	uint64_t data_bytes; /* product(shape) * itemsize */
	char descr[32];      /* the header's 'descr' (ckpt_npy_make): "<f4", "|V2", ... */
	const char *ml_dtype; /* ckpt_npy_make: the ml_dtypes name when numpy lacks the
			       * dtype ("bfloat16", "float8_e4m3fn", "int4"), else NULL */
};

/* Parses the header in p[0, n).  -EINVAL (not .npy, cut short), -ENOTSUP (dtype, order). */
int ckpt_npy_parse(const uint8_t *p, size_t n, struct ckpt_npy *h, struct ckpt_err *err);
/* Converts n bytes of its data to little-endian in place. */
void ckpt_npy_to_le(const struct ckpt_npy *h, void *p, size_t n);
/*
 * The inverse of ckpt_npy_parse: the header numpy writes (np.save, format
 * 1.0; 2.0 when the header needs more than 65535 bytes) for an array of
 * this dtype (numpy / TensorStore name) and shape, C order, little-endian.
 * Fills h: descr, itemsize, rank, shape, data_off (the header's length, a
 * multiple of 64) and data_bytes.  Types numpy lacks are shown as numpy
 * types of the same item size (docs/numpy.md): bfloat16, the float8, float6
 * and float4 types as raw '|V<n>' (view with ml_dtypes), int4/int2 as '|i1'
 * and uint4/uint2 as '|u1' (one value per byte); h->ml_dtype names them.
 * @return 0, -ENOTSUP (unknown dtype), -EOVERFLOW (sizes), -EINVAL (rank)
 */
int ckpt_npy_make(struct ckpt_npy *h, const char *dtype, uint32_t rank, const uint64_t *shape,
		  struct ckpt_err *err);
/* Writes the header ckpt_npy_make described: bytes [0, min(cap, h->data_off))
 * of it into out.  @return h->data_off */
uint64_t ckpt_npy_header(const struct ckpt_npy *h, uint8_t *out, size_t cap);
/*
 * An array leaf as a .npy file shows it (ckpt_npy_make for its dtype and
 * shape), without keeping its array open.  h->data_bytes equals the leaf's
 * size.  @return 0, -ENOTSUP (not an array leaf), or the leaf's open error
 */
int ckpt_item_leaf_npy(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_npy *h,
		       struct ckpt_err *err);
/* The size of that .npy file (header and data); a leaf whose size was asked
 * (ckpt_item_leaf_size) answers without another look at its array. */
int ckpt_item_leaf_npy_bytes(struct ckpt_item *it, const struct ckpt_node *n, uint64_t *bytes,
			     struct ckpt_err *err);

/* ---------------------------------------------------------------- versions */

struct ckpt_version_info {
	uint64_t version;
	uint64_t time_ns;
	uint64_t generation; /* OCDBT generation, 0 for directory items */
	char *change;
};

/* The recorded versions of item i of a step, oldest first (none before the first edit). */
int ckpt_item_versions(struct ckpt_step *st, size_t i, struct ckpt_version_info **out, size_t *n,
		       struct ckpt_err *err);
void ckpt_version_infos_free(struct ckpt_version_info *v, size_t n);
/* Opens item i as it was at a recorded version (read-only). */
int ckpt_item_open_version(struct ckpt_item **out, struct ckpt_step *st, size_t i, uint64_t version,
			   struct ckpt_err *err);
/* Drops the history of item i: older versions become unreadable, their files are deleted. */
int ckpt_item_prune(struct ckpt_step *st, size_t i, struct ckpt_err *err);

/* ---------------------------------------------------------------- names */

/*
 * File names for keys.  A key becomes its bytes, except: '%' -> %25, '/' ->
 * %2F, NUL -> %00; the empty key -> "%"; "." and ".." -> %2E and %2E%2E; a
 * key ending in ".json" or ".npy" gets its last '.' as %2E (those suffixes
 * are ckptfs's own names); the n-th repeat of an identical key gets "%~n";
 * a name longer than 255 bytes is cut to 200 bytes plus "%~h" and 16 hex
 * digits of a hash of the key.  ckpt_name_unescape reverses all but the cut.
 */
#define CKPT_NAME_MAX 255
size_t ckpt_name_escape(const char *key, size_t len, unsigned dup, char out[CKPT_NAME_MAX + 1]);
/*
 * Parses a name: *key (new, caller frees) and *len, *dup; for cut names
 * *hash is set and *key is NULL.  @return 0 or -ENOENT (not a valid name)
 */
int ckpt_name_unescape(const char *name, char **key, size_t *len, unsigned *dup, uint64_t *hash,
		       bool *is_hash);
uint64_t ckpt_name_hash(const char *key, size_t len);

#endif
