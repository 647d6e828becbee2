/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_fmt.h - TensorStore OCDBT objects as bytes <-> structs (tier 1).
 *
 * Manifests, version-tree nodes and B+tree nodes share one envelope: magic
 * (u32 BE), total length (u64 LE), version varint (0), compression varint
 * (0 raw, 1 zstd), body, CRC-32C (u32 LE) of everything before it.
 * See shared/docs/FORMAT-ocdbt-zarr.md sections 3-8.  No I/O here: every
 * function works on a byte buffer, so every parser can be fuzzed directly.
 */
#ifndef CKPT_OCDBT_FMT_H
#define CKPT_OCDBT_FMT_H

#include "buf.h"
#include "err.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>

#define CKPT_OCDBT_MAGIC_MANIFEST 0x0CDB3A2Au
#define CKPT_OCDBT_MAGIC_VERSION 0x0CDB1234u
#define CKPT_OCDBT_MAGIC_BTREE 0x0CDB20DEu
#define CKPT_OCDBT_MISSING UINT64_MAX
#define CKPT_OCDBT_MAX_HEIGHT 32 /* B+tree height limit; TensorStore trees are a few levels */

struct ckpt_ocdbt_config {
	uint8_t uuid[16];
	uint8_t manifest_kind; /* 0 single, 1 numbered */
	uint32_t max_inline_value_bytes;
	uint32_t max_decoded_node_bytes;
	uint8_t version_tree_arity_log2;
	uint32_t compression; /* 0 none, 1 zstd */
	int32_t zstd_level;
};

/* One data file id, with the transitive prefix already applied. */
struct ckpt_ocdbt_file {
	char *path;      /* transitive + base_path + relative_path (owned) */
	size_t base_len; /* bytes of path that are transitive + base_path */
};

struct ckpt_ocdbt_table {
	size_t n;
	struct ckpt_ocdbt_file *f;
};

struct ckpt_ocdbt_loc {
	uint32_t file; /* index into the table of the object holding the reference */
	uint64_t offset, length;
};

struct ckpt_ocdbt_stats {
	uint64_t num_keys, num_tree_bytes, num_indirect_value_bytes;
};

/* version-tree leaf entry: one generation's B+tree root */
struct ckpt_ocdbt_version {
	uint64_t generation;
	uint8_t root_height;
	struct ckpt_ocdbt_loc root; /* offset == CKPT_OCDBT_MISSING: empty tree */
	struct ckpt_ocdbt_stats stats;
	uint64_t commit_time; /* ns since the epoch */
};

/* version-tree interior entry */
struct ckpt_ocdbt_vref {
	uint64_t generation; /* latest generation inside */
	struct ckpt_ocdbt_loc loc;
	uint64_t num_generations;
	uint64_t commit_time; /* earliest inside */
	uint8_t height;       /* height of the referenced node */
};

struct ckpt_ocdbt_manifest {
	struct ckpt_ocdbt_config config;
	struct ckpt_ocdbt_table table;
	size_t n_versions;
	struct ckpt_ocdbt_version *versions;
	size_t n_vrefs;
	struct ckpt_ocdbt_vref *vrefs;
};

struct ckpt_ocdbt_vnode {
	uint8_t arity_log2, height;
	struct ckpt_ocdbt_table table;
	size_t n;
	struct ckpt_ocdbt_version *versions; /* height 0 */
	struct ckpt_ocdbt_vref *vrefs;       /* height > 0 */
};

struct ckpt_ocdbt_leaf_entry {
	struct ckpt_bytes key;   /* full key: inherited prefix + stored key (view into keys) */
	uint64_t value_len;
	bool is_inline;
	struct ckpt_bytes value; /* inline: view into body */
	uint32_t file;           /* out-of-line: table index, offset */
	uint64_t offset;
};

struct ckpt_ocdbt_child {
	struct ckpt_bytes key;      /* full key: inclusive lower bound of the subtree */
	uint32_t subtree_prefix;    /* bytes of key (full-key terms) shared by the whole subtree */
	struct ckpt_ocdbt_loc loc;
	struct ckpt_ocdbt_stats stats;
};

struct ckpt_ocdbt_node {
	uint8_t height;
	struct ckpt_ocdbt_table table;
	size_t n;
	struct ckpt_ocdbt_leaf_entry *leaf; /* height 0 */
	struct ckpt_ocdbt_child *child;     /* height > 0 */
	uint8_t *body;                      /* owned decoded body */
	size_t body_n;
	uint8_t *keys;                      /* owned: full keys, concatenated */
	size_t keys_n;
};

/*
 * Verifies the envelope of an encoded object (magic, length, version, CRC)
 * and returns its decoded body in *body (new, caller frees).
 * @return 0, CKPT_ECORRUPT, -EFBIG (body larger than max_body), -ENOMEM
 */
int ckpt_ocdbt_unwrap(const uint8_t *p, size_t n, uint32_t magic, size_t max_body, uint8_t **body,
		      size_t *body_n, struct ckpt_err *err);

/* Encodes body into an envelope: zstd at level when compression is 1. */
int ckpt_ocdbt_wrap(uint32_t magic, uint32_t compression, int32_t zstd_level, const uint8_t *body,
		    size_t body_n, struct ckpt_buf *out);

int ckpt_ocdbt_manifest_parse(struct ckpt_ocdbt_manifest *m, const uint8_t *body, size_t n,
			      struct ckpt_err *err);
void ckpt_ocdbt_manifest_release(struct ckpt_ocdbt_manifest *m);

/* transitive: base prefix of the file the node was read from */
int ckpt_ocdbt_vnode_parse(struct ckpt_ocdbt_vnode *v, const uint8_t *body, size_t n,
			   const char *transitive, size_t tlen, struct ckpt_err *err);
void ckpt_ocdbt_vnode_release(struct ckpt_ocdbt_vnode *v);

/*
 * Parses a B+tree node body, taking ownership of body (freed on failure too).
 * prefix: the key prefix inherited from the parent ("" at the root).
 */
int ckpt_ocdbt_node_parse(struct ckpt_ocdbt_node *nd, uint8_t *body, size_t n,
			  struct ckpt_bytes prefix, const char *transitive, size_t tlen,
			  struct ckpt_err *err);
/* Frees all but a leaf node's key buffer (what values found by the walk point into). */
void ckpt_ocdbt_node_trim(struct ckpt_ocdbt_node *nd);
void ckpt_ocdbt_node_release(struct ckpt_ocdbt_node *nd);

/* Encoders, for the writer. */
void ckpt_ocdbt_config_encode(const struct ckpt_ocdbt_config *c, struct ckpt_buf *b);

/* A data file id to encode: base and relative parts. */
struct ckpt_ocdbt_fid {
	const char *base, *rel;
};
/* Encodes a table (ids must be sorted by (base, rel) and unique). */
void ckpt_ocdbt_table_encode(const struct ckpt_ocdbt_fid *ids, size_t n, struct ckpt_buf *b);
void ckpt_ocdbt_versions_encode(const struct ckpt_ocdbt_version *v, size_t n, struct ckpt_buf *b);
void ckpt_ocdbt_vrefs_encode(const struct ckpt_ocdbt_vref *v, size_t n, bool with_height,
			     struct ckpt_buf *b);

#endif
