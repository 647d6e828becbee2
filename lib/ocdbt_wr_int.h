/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_wr_int.h - what the OCDBT writer's files share (tier 4): the
 * writer's state and the entries, versions and node references it builds.
 * The files stack:
 *   ocdbt_wr_nodes.c  the writer's file table and arena, the commit's data
 *                     file, B+tree node encoding (leaves, interior nodes,
 *                     the split into nodes)
 *   ocdbt_wr_vtree.c  the version tree and the manifest's encoding
 *   ocdbt_write.c     the API of ocdbt_write.h: open, values, commit, compact
 */
#ifndef CKPT_OCDBT_WR_INT_H
#define CKPT_OCDBT_WR_INT_H

#include "ocdbt_write.h"

#include "buf.h"
#include "map.h"
#include "ocdbt.h"

#define FLUSH_BYTES (1u << 20)
#define MAX_KEY 65535

struct fid {
	char *both; /* base '\0' rel '\0' */
	size_t bl, rl;
};

struct ent {
	struct ckpt_bytes key;
	uint64_t len;
	const uint8_t *inl;
	uint32_t fid;
	uint64_t off;
};

struct ver {
	uint64_t gen, time;
	uint8_t height;
	uint32_t fid;
	uint64_t off, len;
	struct ckpt_ocdbt_stats st;
};

struct vref {
	uint64_t gen, time, ngen;
	uint8_t height;
	uint32_t fid;
	uint64_t off, len;
};

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	uint8_t data[];
};

struct ckpt_ocdbt_wr {
	int dirfd;
	char *label;
	struct ckpt_limits lim;
	struct ckpt_ocdbt_hooks h;
	struct ckpt_ocdbt_config cfg;
	bool have_db;
	struct ent *e;
	size_t n, cap;
	struct fid *f;
	size_t nf, capf;
	struct ckpt_map fmap;
	struct ver *v;
	size_t nv, capv;
	struct vref *r;
	size_t nr, capr;
	struct arena_block *arena;
	/* the open commit's data file */
	int dfd;
	uint32_t dfid;
	uint64_t dlen; /* bytes in the file + in dbuf */
	struct ckpt_buf dbuf;
	bool in_value;
	uint64_t vstart;
	uint64_t written;
};

/* a table of the distinct fids of an object, sorted; local index by lookup */
struct table {
	uint32_t *ids;
	size_t n;
};

/* a placed node, as its parent refers to it */
struct nref {
	struct ckpt_bytes key;
	uint32_t scp;
	uint32_t fid;
	uint64_t off, len;
	struct ckpt_ocdbt_stats st;
};

/* ocdbt_wr_nodes.c */
/* a copy of p[0, n) that lives as long as the writer */
const uint8_t *ckpt_ocdbt_wr_arena_copy(struct ckpt_ocdbt_wr *w, const void *p, size_t n);
/* the index of data file base+rel in the writer's table (added if new) */
int ckpt_ocdbt_wr_fid_intern(struct ckpt_ocdbt_wr *w, const char *base, size_t bl, const char *rel,
			     size_t rl, uint32_t *out);
/* a data file's base path and its path relative to it */
const char *ckpt_ocdbt_wr_fid_base(const struct ckpt_ocdbt_wr *w, uint32_t i);
const char *ckpt_ocdbt_wr_fid_rel(const struct ckpt_ocdbt_wr *w, uint32_t i);
/* n bytes from getrandom */
void ckpt_ocdbt_wr_random_bytes(uint8_t *b, size_t n);
/* the commit's data file d/<32 hex>: buffered bytes written; opened on
 * first use; bytes appended (*off: where they start) */
int ckpt_ocdbt_wr_data_flush(struct ckpt_ocdbt_wr *w, struct ckpt_err *err);
int ckpt_ocdbt_wr_data_open(struct ckpt_ocdbt_wr *w, struct ckpt_err *err);
int ckpt_ocdbt_wr_data_append(struct ckpt_ocdbt_wr *w, const void *p, size_t n, uint64_t *off,
			      struct ckpt_err *err);
/* the sorted distinct data files of an object, an index into it, its encoding */
int ckpt_ocdbt_wr_table_build(struct ckpt_ocdbt_wr *w, const uint32_t *fids, size_t n, struct table *t);
uint32_t ckpt_ocdbt_wr_table_index(const struct table *t, uint32_t fid);
void ckpt_ocdbt_wr_table_encode(struct ckpt_ocdbt_wr *w, const struct table *t, struct ckpt_buf *b);
/* an encoded node (magic, body) appended to the data file: *off, *len */
int ckpt_ocdbt_wr_place(struct ckpt_ocdbt_wr *w, uint32_t magic, const struct ckpt_buf *body, uint64_t *off,
			uint64_t *len, struct ckpt_err *err);
/* the B+tree of every entry, written to the data file; *v: its root */
int ckpt_ocdbt_wr_build_tree(struct ckpt_ocdbt_wr *w, struct ver *v, struct ckpt_err *err);

/* ocdbt_wr_vtree.c */
/* version nv added to the version tree (nodes written as they fill) */
int ckpt_ocdbt_wr_versions_add(struct ckpt_ocdbt_wr *w, const struct ver *nv, struct ckpt_err *err);
/* the manifest of the current state */
int ckpt_ocdbt_wr_manifest_encode(struct ckpt_ocdbt_wr *w, struct ckpt_buf *out);

#endif
