/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fs.h - the ckptfs FUSE driver's private types.  fs/ sees the library only
 * through ckpt.h.
 *
 * Inode numbers are allocated in ranges and never reused while mounted:
 *   1 root, 2 "latest", 3 "metadata.json" (root metadata)
 *   a step:   base+0 the step directory, base+1 "<step>.json"
 *   an item:  base+0 its directory (the pytree's root node) or, for a JSON
 *             item, its file; base+1 "<item>.json"
 *   its nodes (allocated when the item is opened): node i >= 1 is
 *             nodes+2(i-1), its "<name>.json" nodes+2(i-1)+1
 * A direct checkpoint's step directory is also its item's root node.
 * Everything below the root is immutable, so nodes are never forgotten:
 * lookup counts are not tracked and forget is a no-op.
 */
#ifndef CKPTFS_FS_H
#define CKPTFS_FS_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 14)
#include <fuse_lowlevel.h>

#include "ckpt.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#define INO_ROOT 1
#define INO_LATEST 2
#define INO_ROOT_META 3
#define INO_FIRST_FREE 16

struct item_slot;

struct step_slot {
	char *name;
	fuse_ino_t base;
	pthread_mutex_t lock;
	bool opened;
	struct ckpt_step *step;
	int err;
	char *errmsg;
	size_t n_items;
	struct item_slot *items;
	uint64_t json_size; /* size of <step>.json + 1, 0 = unknown */
};

struct item_slot {
	struct step_slot *step;
	size_t index;
	fuse_ino_t head;  /* dir (or JSON file) and .json */
	fuse_ino_t nodes; /* node range, 0 until opened */
	bool opened;
	struct ckpt_item *item;
	int err;
	char *errmsg;
	uint64_t *json_size; /* per node: size of <name>.json + 1, 0 = unknown */
	uint64_t head_json_size;
};

enum range_kind { R_STEP, R_ITEM_HEAD, R_ITEM_NODES };

struct range {
	fuse_ino_t base;
	uint64_t len;
	enum range_kind kind;
	void *owner;
};

struct ckptfs_opts {
	char *source;
	size_t cache_bytes;
	bool strict_commit;
	unsigned threads;
	double root_timeout;
};

struct ckptfs {
	struct ckpt_src *src;
	struct ckpt_opts lib;
	struct ckptfs_opts o;
	uid_t uid;
	gid_t gid;
	struct timespec root_time;
	pthread_rwlock_t lock; /* ranges, step map, next_ino */
	struct range *ranges;
	size_t n_ranges, cap_ranges;
	fuse_ino_t next_ino;
	struct step_slot **steps;
	size_t n_steps, cap_steps;
	uint64_t root_meta_size; /* + 1, 0 = unknown */
	pthread_mutex_t scan_lock;
	struct ckpt_step_ent *scan;
	size_t n_scan;
	struct timespec scan_time;
	bool scanned;
	pthread_mutex_t log_lock;
	uint64_t *logged; /* hashes of messages already logged */
	size_t n_logged;
};

/* What an inode number stands for. */
enum itype {
	T_ROOT,
	T_LATEST,
	T_ROOT_META,
	T_STEP,       /* step directory (a direct step: also the item's root node) */
	T_STEP_JSON,
	T_ITEM,       /* item directory (root node) */
	T_ITEM_JSON,
	T_JSON_ITEM,  /* a JSON item's file */
	T_NODE,       /* a pytree node: directory or leaf */
	T_NODE_JSON,
};

struct target {
	enum itype type;
	struct step_slot *step;
	struct item_slot *item;
	const struct ckpt_node *node; /* T_NODE, T_NODE_JSON; root node for T_ITEM */
};

/* inode.c */
int fs_resolve(struct ckptfs *fs, fuse_ino_t ino, struct target *t);
struct step_slot *fs_step_slot(struct ckptfs *fs, const char *name, bool create);
int fs_step_open(struct ckptfs *fs, struct step_slot *s);
int fs_item_open(struct ckptfs *fs, struct item_slot *it);
fuse_ino_t fs_node_ino(const struct item_slot *it, const struct ckpt_node *n, bool json);
fuse_ino_t fs_item_dir_ino(const struct item_slot *it);
void fs_destroy(struct ckptfs *fs);
void fs_log(struct ckptfs *fs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* tree.c: the namespace, no FUSE replies */
struct dirent_ent {
	char *name;
	fuse_ino_t ino;
	mode_t type;
};

struct dir_list {
	struct dirent_ent *e;
	size_t n, cap;
};

int fs_getattr(struct ckptfs *fs, fuse_ino_t ino, struct stat *st);
int fs_lookup(struct ckptfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino);
int fs_list(struct ckptfs *fs, fuse_ino_t ino, struct dir_list *out);
void fs_list_free(struct dir_list *l);
/* generated file contents (JSON files): *buf new */
int fs_content(struct ckptfs *fs, const struct target *t, char **buf, size_t *n);
int fs_readlink(struct ckptfs *fs, char *buf, size_t cap);
bool fs_immutable(const struct target *t);

#endif
