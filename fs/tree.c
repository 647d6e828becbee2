/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tree.c - the namespace ckptfs shows, as functions over the library's
 * objects: attributes, lookups, directory listings and generated files.
 * No FUSE replies here (ops.c sends them).  The conventions are in README.md:
 *   /                    one directory per committed step, "<step>.json",
 *                        "latest" -> the newest step, "metadata.json"
 *   /<step>/             one directory per pytree item and "<item>.json";
 *                        a JSON item as "<item>.json" holding its JSON
 *   /<step>/<item>/...   the pytree: dicts and lists as directories, each
 *                        leaf a file of its bytes beside "<leaf>.json"
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCAN_TTL_NS 1000000000ull

static bool ends_json(const char *name, size_t *stem)
{
	size_t n = strlen(name);

	if (n <= 5 || strcmp(name + n - 5, ".json"))
		return false;
	*stem = n - 5;
	return true;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- the root's steps */

/* Refreshes the cached step list when it is older than the TTL; lock held by caller. */
static int scan_locked(struct ckptfs *fs)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_step_ent *e;
	size_t n;
	uint64_t t = now_ns();
	int rc;

	if (fs->scanned && t - ((uint64_t)fs->scan_time.tv_sec * 1000000000ull +
				(uint64_t)fs->scan_time.tv_nsec) < SCAN_TTL_NS)
		return 0;
	rc = ckpt_src_scan(fs->src, &e, &n, &err);
	if (rc < 0) {
		fs_log(fs, "%s", err.msg);
		return fs->scanned ? 0 : rc; /* keep the last good list */
	}
	ckpt_step_ents_free(fs->scan, fs->n_scan);
	fs->scan = e;
	fs->n_scan = n;
	fs->scan_time.tv_sec = (time_t)(t / 1000000000ull);
	fs->scan_time.tv_nsec = (long)(t % 1000000000ull);
	fs->scanned = true;
	return 0;
}

static bool step_listed(struct ckptfs *fs, const char *name)
{
	bool yes = false;

	pthread_mutex_lock(&fs->scan_lock);
	if (scan_locked(fs) == 0)
		for (size_t i = 0; i < fs->n_scan && !yes; i++)
			yes = !strcmp(fs->scan[i].name, name);
	pthread_mutex_unlock(&fs->scan_lock);
	return yes;
}

int fs_readlink(struct ckptfs *fs, char *buf, size_t cap)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&fs->scan_lock);
	if (scan_locked(fs) == 0 && fs->n_scan) {
		snprintf(buf, cap, "%s", fs->scan[fs->n_scan - 1].name);
		rc = 0;
	}
	pthread_mutex_unlock(&fs->scan_lock);
	return rc;
}

/* ---------------------------------------------------------------- helpers */

static int item_root(struct ckptfs *fs, struct item_slot *it, const struct ckpt_node **out)
{
	int rc = fs_item_open(fs, it);

	if (rc < 0)
		return rc;
	*out = ckpt_item_root(it->item);
	return 0;
}

/* the item whose tree a directory inode shows (direct steps and items) */
static int dir_item(struct ckptfs *fs, struct target *t, struct item_slot **out)
{
	int rc;

	if (t->type == T_STEP) {
		rc = fs_step_open(fs, t->step);
		if (rc < 0)
			return rc == -ENOENT ? -ENOENT : -EIO;
		if (!ckpt_step_is_direct(t->step->step))
			return 1; /* lists items */
		*out = &t->step->items[0];
		return 0;
	}
	*out = t->item;
	return 0;
}

bool fs_immutable(const struct target *t)
{
	return t->type != T_ROOT && t->type != T_LATEST && t->type != T_ROOT_META;
}

static char *dump_json(json_t *j, size_t *n)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t len;

	if (!s)
		return NULL;
	len = strlen(s);
	s = realloc(s, len + 2);
	if (s) {
		s[len] = '\n';
		s[len + 1] = 0;
		*n = len + 1;
	}
	return s;
}

int fs_content(struct ckptfs *fs, const struct target *t, char **buf, size_t *n)
{
	struct ckpt_err err = { 0, "" };
	json_t *j = NULL;
	int rc;

	*buf = NULL;
	*n = 0;
	switch (t->type) {
	case T_ROOT_META: {
		char *p;

		rc = ckpt_src_root_metadata(fs->src, &p, n, &err);
		if (rc < 0)
			return rc;
		*buf = p;
		return 0;
	}
	case T_STEP_JSON:
		if ((rc = fs_step_open(fs, t->step)) < 0)
			return rc == -ENOENT ? rc : -EIO;
		j = ckpt_step_describe(t->step->step);
		if (ckpt_step_is_direct(t->step->step)) {
			struct item_slot *it = &t->step->items[0];

			if (fs_item_open(fs, it) == 0)
				json_object_set_new(j, "item", ckpt_item_describe(it->item, &err));
			else
				json_object_set_new(j, "error", json_string(it->errmsg ? it->errmsg : "?"));
		}
		break;
	case T_ITEM_JSON:
		if (fs_item_open(fs, t->item) < 0) {
			j = json_object();
			json_object_set_new(j, "error",
					    json_string(t->item->errmsg ? t->item->errmsg : "?"));
		} else {
			j = ckpt_item_describe(t->item->item, &err);
		}
		break;
	case T_JSON_ITEM: {
		const uint8_t *p;

		if ((rc = fs_item_open(fs, t->item)) < 0)
			return rc;
		ckpt_item_json_bytes(t->item->item, &p, n);
		*buf = malloc(*n ? *n : 1);
		if (!*buf)
			return -ENOMEM;
		memcpy(*buf, p, *n);
		return 0;
	}
	case T_NODE_JSON:
		j = ckpt_leaf_describe(t->item->item, t->node, &err);
		break;
	default:
		return -EINVAL;
	}
	if (!j)
		return -ENOMEM;
	*buf = dump_json(j, n);
	json_decref(j);
	return *buf ? 0 : -ENOMEM;
}

/* size of a generated file, computed once */
static int content_size(struct ckptfs *fs, const struct target *t, uint64_t *size)
{
	uint64_t *cache = NULL;
	char *buf;
	size_t n;
	int rc;

	switch (t->type) {
	case T_ROOT_META: cache = &fs->root_meta_size; break;
	case T_STEP_JSON: cache = &t->step->json_size; break;
	case T_ITEM_JSON: cache = &t->item->head_json_size; break;
	case T_NODE_JSON: cache = &t->item->json_size[ckpt_node_id(t->node)]; break;
	default: break;
	}
	if (cache && __atomic_load_n(cache, __ATOMIC_RELAXED)) {
		*size = __atomic_load_n(cache, __ATOMIC_RELAXED) - 1;
		return 0;
	}
	rc = fs_content(fs, t, &buf, &n);
	if (rc < 0)
		return rc;
	free(buf);
	*size = n;
	if (cache && t->type != T_ROOT_META)
		__atomic_store_n(cache, n + 1, __ATOMIC_RELAXED);
	return 0;
}

/* ---------------------------------------------------------------- attributes */

static void fill(struct ckptfs *fs, struct stat *st, fuse_ino_t ino, mode_t type, uint64_t size,
		 uint64_t time_ns)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = type | (type == S_IFDIR ? 0555 : type == S_IFLNK ? 0777 : 0444);
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	if (time_ns) {
		st->st_mtim.tv_sec = (time_t)(time_ns / 1000000000ull);
		st->st_mtim.tv_nsec = (long)(time_ns % 1000000000ull);
	} else {
		st->st_mtim = fs->root_time;
	}
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

int fs_getattr(struct ckptfs *fs, fuse_ino_t ino, struct stat *st)
{
	struct target t;
	uint64_t size = 0, time_ns = 0;
	int rc = fs_resolve(fs, ino, &t);

	if (rc < 0)
		return rc;
	if (t.step && t.type != T_STEP && t.type != T_STEP_JSON)
		time_ns = t.step->step ? ckpt_step_time_ns(t.step->step) : 0;
	switch (t.type) {
	case T_ROOT:
		fill(fs, st, ino, S_IFDIR, 0, 0);
		return 0;
	case T_LATEST: {
		char name[4096];

		if ((rc = fs_readlink(fs, name, sizeof(name))) < 0)
			return rc;
		fill(fs, st, ino, S_IFLNK, strlen(name), 0);
		return 0;
	}
	case T_ROOT_META:
		if ((rc = content_size(fs, &t, &size)) < 0)
			return rc;
		fill(fs, st, ino, S_IFREG, size, 0);
		return 0;
	case T_STEP:
	case T_STEP_JSON:
		if ((rc = fs_step_open(fs, t.step)) < 0)
			return rc == -ENOENT ? rc : -EIO;
		time_ns = ckpt_step_time_ns(t.step->step);
		if (t.type == T_STEP_JSON && (rc = content_size(fs, &t, &size)) < 0)
			return rc;
		fill(fs, st, ino, t.type == T_STEP ? S_IFDIR : S_IFREG, size, time_ns);
		return 0;
	case T_ITEM:
		fill(fs, st, ino, S_IFDIR, 0, time_ns);
		return 0;
	case T_JSON_ITEM:
	case T_ITEM_JSON:
	case T_NODE_JSON:
		if ((rc = content_size(fs, &t, &size)) < 0)
			return rc;
		fill(fs, st, ino, S_IFREG, size, time_ns);
		return 0;
	case T_NODE:
		if (ckpt_node_is_dir(t.node)) {
			fill(fs, st, ino, S_IFDIR, 0, time_ns);
		} else {
			struct ckpt_leaf *l;
			struct ckpt_err err = { 0, "" };

			if ((rc = ckpt_item_leaf(t.item->item, t.node, &l, &err)) < 0) {
				fs_log(fs, "%s", err.msg);
				return -EIO;
			}
			fill(fs, st, ino, S_IFREG, ckpt_leaf_size(l), time_ns);
		}
		return 0;
	}
	return -EINVAL;
}

/* ---------------------------------------------------------------- lookups */

/* the child of n shown under `name` (canonical names only) */
static const struct ckpt_node *child_named(const struct ckpt_node *n, const char *name)
{
	char *key, canon[CKPT_NAME_MAX + 1];
	size_t len, kl;
	unsigned dup;
	uint64_t hash;
	bool is_hash;
	const struct ckpt_node *c = NULL;

	if (ckpt_name_unescape(name, &key, &len, &dup, &hash, &is_hash) < 0)
		return NULL;
	if (is_hash) {
		for (size_t i = 0; i < ckpt_node_n_children(n) && !c; i++) {
			const char *k = ckpt_node_key(ckpt_node_child(n, i), &kl);

			ckpt_name_escape(k, kl, 0, canon);
			if (!strcmp(canon, name))
				c = ckpt_node_child(n, i);
		}
		return c;
	}
	if (key && !dup) {
		c = ckpt_node_find(n, key, len);
		if (c) {
			const char *k = ckpt_node_key(c, &kl);

			ckpt_name_escape(k, kl, 0, canon);
			if (strcmp(canon, name))
				c = NULL;
		}
	}
	free(key);
	return c;
}

static int lookup_in_node(struct ckptfs *fs, struct item_slot *it, const struct ckpt_node *dir,
			  const char *name, fuse_ino_t *ino)
{
	const struct ckpt_node *c = child_named(dir, name);
	size_t stem;

	(void)fs;
	if (c) {
		*ino = fs_node_ino(it, c, false);
		return 0;
	}
	if (ends_json(name, &stem)) {
		char *s = strndup(name, stem);

		if (!s)
			return -ENOMEM;
		c = child_named(dir, s);
		free(s);
		if (c && !ckpt_node_is_dir(c)) {
			*ino = fs_node_ino(it, c, true);
			return 0;
		}
	}
	return -ENOENT;
}

int fs_lookup(struct ckptfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino)
{
	struct target t;
	struct item_slot *it;
	const struct ckpt_node *dir;
	size_t stem;
	int rc = fs_resolve(fs, parent, &t);

	if (rc < 0)
		return rc;
	switch (t.type) {
	case T_ROOT: {
		char step[4096];
		struct step_slot *s;
		bool json = false;

		if (!strcmp(name, "latest")) {
			if (fs_readlink(fs, step, sizeof(step)) < 0)
				return -ENOENT;
			*ino = INO_LATEST;
			return 0;
		}
		if (!strcmp(name, "metadata.json") && ckpt_src_kind(fs->src) == CKPT_SRC_ROOT) {
			char *p;
			size_t n;
			struct ckpt_err err = { 0, "" };

			if (ckpt_src_root_metadata(fs->src, &p, &n, &err) < 0)
				return -ENOENT;
			free(p);
			*ino = INO_ROOT_META;
			return 0;
		}
		snprintf(step, sizeof(step), "%s", name);
		if (ends_json(step, &stem)) {
			step[stem] = 0;
			json = true;
		}
		if (!step_listed(fs, step))
			return -ENOENT;
		s = fs_step_slot(fs, step, true);
		if (!s)
			return -ENOMEM;
		*ino = s->base + (json ? 1 : 0);
		return 0;
	}
	case T_STEP:
	case T_ITEM:
	case T_NODE:
		rc = t.type == T_NODE ? 1 : dir_item(fs, &t, &it);
		if (rc < 0)
			return rc;
		if (rc == 1 && t.type == T_STEP) {
			/* a composite step: its items */
			struct step_slot *s = t.step;

			for (size_t i = 0; i < s->n_items; i++) {
				const struct ckpt_item_info *info = ckpt_step_item(s->step, i);
				char esc[CKPT_NAME_MAX + 1], js[CKPT_NAME_MAX + 8];

				ckpt_name_escape(info->name, strlen(info->name), 0, esc);
				snprintf(js, sizeof(js), "%s.json", esc);
				if (info->kind != CKPT_ITEM_JSON && !strcmp(esc, name)) {
					*ino = s->items[i].head;
					return 0;
				}
				if (!strcmp(js, name)) {
					*ino = s->items[i].head + (info->kind == CKPT_ITEM_JSON ? 0 : 1);
					return 0;
				}
			}
			return -ENOENT;
		}
		if (t.type == T_NODE) {
			it = t.item;
			if (!ckpt_node_is_dir(t.node))
				return -ENOTDIR;
			dir = t.node;
		} else if ((rc = item_root(fs, it, &dir)) < 0) {
			return -EIO;
		}
		return lookup_in_node(fs, it, dir, name, ino);
	default:
		return -ENOTDIR;
	}
}

/* ---------------------------------------------------------------- listings */

static int add(struct dir_list *l, const char *name, fuse_ino_t ino, mode_t type)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		struct dirent_ent *ne = realloc(l->e, nc * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		l->e = ne;
		l->cap = nc;
	}
	l->e[l->n].name = strdup(name);
	if (!l->e[l->n].name)
		return -ENOMEM;
	l->e[l->n].ino = ino;
	l->e[l->n].type = type;
	l->n++;
	return 0;
}

void fs_list_free(struct dir_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
	l->e = NULL;
	l->n = l->cap = 0;
}

static int list_node(struct item_slot *it, const struct ckpt_node *dir, struct dir_list *l)
{
	int rc = 0;

	for (size_t i = 0; i < ckpt_node_n_children(dir) && rc == 0; i++) {
		const struct ckpt_node *c = ckpt_node_child(dir, i);
		char name[CKPT_NAME_MAX + 1], js[CKPT_NAME_MAX + 8];
		size_t kl;
		const char *k = ckpt_node_key(c, &kl);

		ckpt_name_escape(k, kl, 0, name);
		if (ckpt_node_is_dir(c)) {
			rc = add(l, name, fs_node_ino(it, c, false), S_IFDIR);
			continue;
		}
		rc = add(l, name, fs_node_ino(it, c, false), S_IFREG);
		if (rc == 0 && strlen(name) + 5 <= CKPT_NAME_MAX) {
			snprintf(js, sizeof(js), "%s.json", name);
			rc = add(l, js, fs_node_ino(it, c, true), S_IFREG);
		}
	}
	return rc;
}

int fs_list(struct ckptfs *fs, fuse_ino_t ino, struct dir_list *l)
{
	struct target t;
	struct item_slot *it;
	const struct ckpt_node *dir;
	int rc = fs_resolve(fs, ino, &t);

	memset(l, 0, sizeof(*l));
	if (rc < 0)
		return rc;
	switch (t.type) {
	case T_ROOT: {
		char *p;
		size_t n;
		struct ckpt_err err = { 0, "" };

		pthread_mutex_lock(&fs->scan_lock);
		rc = scan_locked(fs);
		for (size_t i = 0; rc == 0 && i < fs->n_scan; i++) {
			struct step_slot *s = fs_step_slot(fs, fs->scan[i].name, true);
			char js[4200];

			if (!s) {
				rc = -ENOMEM;
				break;
			}
			snprintf(js, sizeof(js), "%s.json", s->name);
			rc = add(l, s->name, s->base, S_IFDIR);
			if (rc == 0)
				rc = add(l, js, s->base + 1, S_IFREG);
		}
		if (rc == 0 && fs->n_scan)
			rc = add(l, "latest", INO_LATEST, S_IFLNK);
		pthread_mutex_unlock(&fs->scan_lock);
		if (rc == 0 && ckpt_src_kind(fs->src) == CKPT_SRC_ROOT &&
		    ckpt_src_root_metadata(fs->src, &p, &n, &err) == 0) {
			free(p);
			rc = add(l, "metadata.json", INO_ROOT_META, S_IFREG);
		}
		break;
	}
	case T_STEP:
	case T_ITEM:
		rc = dir_item(fs, &t, &it);
		if (rc < 0)
			break;
		if (rc == 1) {
			struct step_slot *s = t.step;

			rc = 0;
			for (size_t i = 0; i < s->n_items && rc == 0; i++) {
				const struct ckpt_item_info *info = ckpt_step_item(s->step, i);
				char esc[CKPT_NAME_MAX + 1], js[CKPT_NAME_MAX + 8];

				ckpt_name_escape(info->name, strlen(info->name), 0, esc);
				snprintf(js, sizeof(js), "%s.json", esc);
				if (info->kind == CKPT_ITEM_JSON) {
					rc = add(l, js, s->items[i].head, S_IFREG);
					continue;
				}
				rc = add(l, esc, s->items[i].head, S_IFDIR);
				if (rc == 0)
					rc = add(l, js, s->items[i].head + 1, S_IFREG);
			}
			break;
		}
		if (item_root(fs, it, &dir) < 0) {
			rc = -EIO;
			break;
		}
		rc = list_node(it, dir, l);
		break;
	case T_NODE:
		if (!ckpt_node_is_dir(t.node))
			return -ENOTDIR;
		rc = list_node(t.item, t.node, l);
		break;
	default:
		return -ENOTDIR;
	}
	if (rc < 0)
		fs_list_free(l);
	return rc;
}
