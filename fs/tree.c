/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tree.c - the namespace ckptfs shows, as functions over the library's
 * objects: attributes, lookups and directory listings (the generated
 * files' content: content.c).
 * No FUSE replies here (ops.c sends them).  The conventions are in README.md:
 *   /                    one directory per committed step, "<step>.json",
 *                        "latest" -> the newest step, "metadata.json"
 *   /<step>/             one directory per pytree item and "<item>.json";
 *                        a JSON item as "<item>.json" holding its JSON
 *   /<step>/<item>/...   the pytree: dicts and lists as directories, each
 *                        leaf a file of its bytes beside "<leaf>.json", and
 *                        an array leaf's "<leaf>.npy": a numpy .npy header,
 *                        then the leaf's bytes (docs/numpy.md)
 *   /<step>/.versions/<item>/<N>/   the item as it was at version N
 *                        (a direct step: /<step>/.versions/<N>/)
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <inttypes.h>
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

static bool ends_npy(const char *name, size_t *stem)
{
	size_t n = strlen(name);

	if (n <= 4 || strcmp(name + n - 4, ".npy"))
		return false;
	*stem = n - 4;
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
	bool dirty = __atomic_exchange_n(&fs->scan_dirty, false, __ATOMIC_RELAXED);
	int rc;

	if (fs->scanned && !dirty &&
	    (fs->live || t - ((uint64_t)fs->scan_time.tv_sec * 1000000000ull +
			      (uint64_t)fs->scan_time.tv_nsec) < SCAN_TTL_NS))
		return 0; /* the watcher keeps the list current (live.c) */
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

/* The tree a directory inode shows: 0 and *ts, or 1 for a composite step
 * (it lists items). */
static int tree_of(struct ckptfs *fs, const struct target *t, struct tslot **ts)
{
	int rc;

	if (t->type == T_STEP) {
		rc = fs_step_open(fs, t->step);
		if (rc < 0)
			return rc == -ENOENT ? -ENOENT : -EIO;
		if (!ckpt_step_is_direct(fs_step(t->step)))
			return 1;
		*ts = &t->step->items[0];
		return 0;
	}
	*ts = t->ts;
	return 0;
}

/* makes t the root node of its tree (T_ITEM or a direct step), state held */
static int root_target(struct ckptfs *fs, struct target *t, struct tslot *ts)
{
	int rc = fs_state_get(fs, ts, &t->st);

	if (rc < 0)
		return rc;
	t->ts = ts;
	t->node = ckpt_item_root(t->st->item);
	t->key = "";
	return 0;
}

/* ---------------------------------------------------------------- attributes */

/*
 * st_blksize.  cat and cp size their buffer from it (128 KiB at least), and
 * GNU cat maps a fresh one per file, faulted in page by page: 1 MiB faulted
 * 64 pages per 256 KiB leaf, 256 per 4 MiB one (walks of a step: ~15%).
 * glibc's stdio buffers min(st_blksize, BUFSIZ = 8 KiB) and aligns seeks to
 * that: fseek to the end (numpy's fromfile, any C program sizing a file)
 * reads the last partial block, and a leaf stored as one compressed chunk
 * is then decoded to its end before its first byte is read.  A size that
 * 8 KiB does not divide gets the largest power of two that does (512 B to
 * 4 KiB), so that the end is a block boundary and nothing is read there.
 */
static blksize_t blksize_for(uint64_t size)
{
	uint64_t b = size & (~size + 1); /* the lowest bit set */

	if (size % 8192 == 0 || b < 512)
		return 1 << 17;
	return (blksize_t)b;
}

static void fill(struct ckptfs *fs, struct stat *st, fuse_ino_t ino, mode_t type, mode_t perm,
		 uint64_t size, uint64_t time_ns)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = type | perm;
	st->st_nlink = type == S_IFDIR ? 2 : 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)size;
	st->st_blksize = blksize_for(size);
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

/* A generated .json whose size is not known yet: knowing it means
 * generating the document (a step's describes every leaf; a leaf's needs
 * its stored bytes from the B+tree).  READDIRPLUS leaves such an entry
 * bare, and a LOOKUP computes it if someone asks: a walk that skips the
 * .json files (find -type f ! -name '*.json') never pays for them. */
bool fs_attr_costly(struct ckptfs *fs, fuse_ino_t ino)
{
	struct target t;
	bool costly;

	if (fs_resolve(fs, ino, &t) < 0)
		return false;
	costly = !fs_content_size_known(&t);
	if (t.type == T_STEP || t.type == T_VERSIONS) {
		/* its attributes open the step: not for a listing of the steps
		 * (on object storage, opening a step makes its files) */
		pthread_mutex_lock(&t.step->lock);
		costly = !t.step->opened;
		pthread_mutex_unlock(&t.step->lock);
	}
	fs_put(&t);
	return costly;
}

int fs_getattr(struct ckptfs *fs, fuse_ino_t ino, struct stat *st)
{
	struct target t;
	uint64_t size = 0, time_ns = 0;
	mode_t dperm = 0555, fperm = 0444;
	int rc = fs_resolve(fs, ino, &t);

	if (rc < 0)
		return rc;
	if (t.step && t.step->opened && !t.step->err)
		time_ns = ckpt_step_time_ns(fs_step(t.step));
	if (fs_editable(fs, &t)) {
		dperm = 0755;
		fperm = 0644;
	}
	switch (t.type) {
	case T_ROOT:
		fill(fs, st, ino, S_IFDIR, fs->o.ro ? 0555 : 0755, 0, 0);
		break;
	case T_LATEST: {
		char name[4096];

		if ((rc = fs_readlink(fs, name, sizeof(name))) == 0)
			fill(fs, st, ino, S_IFLNK, 0777, strlen(name), 0);
		break;
	}
	case T_ROOT_META:
		if ((rc = fs_content_size(fs, &t, &size)) == 0)
			fill(fs, st, ino, S_IFREG, 0444, size, 0);
		break;
	case T_STATS:
		fill(fs, st, ino, S_IFREG, 0444, 0, 0); /* read with direct I/O: any size */
		break;
	case T_STEP:
	case T_STEP_JSON:
	case T_VERSIONS:
		if ((rc = fs_step_open(fs, t.step)) < 0) {
			rc = rc == -ENOENT ? rc : -EIO;
			break;
		}
		time_ns = ckpt_step_time_ns(fs_step(t.step));
		if (t.type == T_STEP_JSON && (rc = fs_content_size(fs, &t, &size)) < 0)
			break;
		if (t.type == T_STEP)
			fill(fs, st, ino, S_IFDIR, fs_editable(fs, &t) ? 0755 : 0555, 0, time_ns);
		else
			fill(fs, st, ino, t.type == T_VERSIONS ? S_IFDIR : S_IFREG,
			     t.type == T_VERSIONS ? 0555 : 0444, size, time_ns);
		break;
	case T_ITEM:
	case T_VITEM:
		fill(fs, st, ino, S_IFDIR, t.type == T_VITEM ? 0555 : dperm, 0, time_ns);
		break;
	case T_JSON_ITEM:
	case T_ITEM_JSON:
	case T_NODE_JSON:
		if ((rc = fs_content_size(fs, &t, &size)) == 0)
			fill(fs, st, ino, S_IFREG, 0444, size, time_ns);
		break;
	case T_NODE:
		if (ckpt_node_is_dir(t.node)) {
			fill(fs, st, ino, S_IFDIR, dperm, 0, time_ns);
		} else {
			struct ckpt_err err = { 0, "" };
			enum ckpt_node_kind k = ckpt_node_kind(t.node);

			if ((rc = ckpt_item_leaf_size(t.st->item, t.node, &size, &err)) < 0) {
				fs_log(fs, "%s", err.msg);
				rc = -EIO;
				break;
			}
			fs_wbuf_size_of(t.ts, t.key, &size); /* being written */
			fill(fs, st, ino, S_IFREG,
			     k == CKPT_NODE_ARRAY || k == CKPT_NODE_STRING ? fperm : 0444, size, time_ns);
		}
		break;
	case T_NODE_NPY:
		if ((rc = fs_npy_size(fs, &t, &size)) == 0)
			fill(fs, st, ino, S_IFREG, fperm, size, time_ns);
		break;
	case T_PENDING:
		fill(fs, st, ino, S_IFREG, 0644, fs_wbuf_size(t.pend->wb), 0);
		clock_gettime(CLOCK_REALTIME, &st->st_mtim);
		st->st_ctim = st->st_atim = st->st_mtim;
		break;
	default:
		rc = -ENOENT;
	}
	fs_put(&t);
	return rc;
}

/* ---------------------------------------------------------------- lookups */

static struct pending *pending_named(struct tslot *ts, const char *dir, const char *name)
{
	struct pending *p = NULL;

	pthread_mutex_lock(&ts->lock);
	for (size_t i = 0; i < ts->n_pending && !p; i++)
		if (!ts->pending[i]->done && !strcmp(ts->pending[i]->dir, dir) &&
		    !strcmp(ts->pending[i]->name, name))
			p = ts->pending[i];
	pthread_mutex_unlock(&ts->lock);
	return p;
}

static int lookup_in_node(struct ckptfs *fs, const struct target *t, const char *name, fuse_ino_t *ino)
{
	const struct ckpt_node *c = fs_child_named(t->node, name);
	struct pending *p;
	bool json = false;
	char *key;
	size_t stem;

	if (!c && ends_json(name, &stem)) {
		char *s = strndup(name, stem);

		if (!s)
			return -ENOMEM;
		c = fs_child_named(t->node, s);
		json = c && !ckpt_node_is_dir(c);
		if (json) {
			key = fs_key_join(t->key, s);
			free(s);
			goto found;
		}
		free(s);
		c = NULL;
	}
	if (!c && ends_npy(name, &stem)) {
		char *s = strndup(name, stem);

		if (!s)
			return -ENOMEM;
		c = fs_child_named(t->node, s);
		if (c && !ckpt_node_is_dir(c) && ckpt_node_kind(c) == CKPT_NODE_ARRAY) {
			key = fs_key_join(t->key, s);
			free(s);
			if (!key)
				return -ENOMEM;
			*ino = fs_path_ino(fs, t->ts, key, FS_SUB_NPY);
			free(key);
			return *ino ? 0 : -ENOMEM;
		}
		free(s);
		c = NULL;
	}
	if (!c) {
		p = pending_named(t->ts, t->key, name);
		if (!p)
			return -ENOENT;
		*ino = p->ino;
		return 0;
	}
	key = fs_key_join(t->key, name);
found:
	if (!key)
		return -ENOMEM;
	*ino = fs_path_ino(fs, t->ts, key, json);
	free(key);
	return *ino ? 0 : -ENOMEM;
}

/* versions of a tree: "N" and "N.json" */
static int lookup_version(struct ckptfs *fs, struct tslot *ts, const char *name, fuse_ino_t *ino)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_version_info *v;
	struct tslot *vs;
	size_t n, stem = strlen(name);
	bool json = ends_json(name, &stem), found = false;
	uint64_t num = 0;

	if (stem == 0 || stem > 20)
		return -ENOENT;
	for (size_t i = 0; i < stem; i++) {
		if (name[i] < '0' || name[i] > '9' || (i == 0 && name[0] == '0' && stem > 1))
			return -ENOENT;
		num = num * 10 + (uint64_t)(name[i] - '0');
	}
	if (ckpt_item_versions(fs_step(ts->step), ts->index, &v, &n, &err) < 0)
		return -EIO;
	for (size_t i = 0; i < n; i++)
		found |= v[i].version == num;
	ckpt_version_infos_free(v, n);
	if (!found)
		return -ENOENT;
	vs = fs_version_slot(fs, ts, num);
	if (!vs)
		return -ENOMEM;
	*ino = vs->head + (json ? 1 : 0);
	return 0;
}

static bool is_tree_item(struct step_slot *s, size_t i)
{
	return ckpt_step_item(fs_step(s), i)->kind == CKPT_ITEM_PYTREE;
}

static int lookup_root(struct ckptfs *fs, const char *name, fuse_ino_t *ino)
{
	char step[4096];
	struct step_slot *s;
	bool json = false;
	size_t stem;

	if (!strcmp(name, "latest")) {
		if (fs_readlink(fs, step, sizeof(step)) < 0)
			return -ENOENT;
		*ino = INO_LATEST;
		return 0;
	}
	if (!strcmp(name, ".ckptfs-stats")) {
		*ino = INO_STATS;
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

static int lookup_items(struct step_slot *s, const char *name, fuse_ino_t *ino)
{
	for (size_t i = 0; i < s->n_items; i++) {
		const struct ckpt_item_info *info = ckpt_step_item(fs_step(s), i);
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

int fs_lookup(struct ckptfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino)
{
	struct target t;
	struct tslot *ts;
	int rc = fs_resolve(fs, parent, &t);

	if (rc < 0)
		return rc;
	switch (t.type) {
	case T_ROOT:
		rc = lookup_root(fs, name, ino);
		break;
	case T_STEP:
	case T_ITEM:
		rc = tree_of(fs, &t, &ts);
		if (rc == 1) {
			rc = !strcmp(name, ".versions") ? (*ino = t.step->base + 2, 0)
							: lookup_items(t.step, name, ino);
			break;
		}
		if (rc == 0 && (rc = root_target(fs, &t, ts)) < 0)
			rc = -EIO;
		if (rc == 0)
			rc = lookup_in_node(fs, &t, name, ino);
		if (rc == -ENOENT && t.type == T_STEP && !strcmp(name, ".versions")) {
			*ino = t.step->base + 2;
			rc = 0;
		}
		break;
	case T_NODE:
		rc = ckpt_node_is_dir(t.node) ? lookup_in_node(fs, &t, name, ino) : -ENOTDIR;
		break;
	case T_VERSIONS:
		if ((rc = fs_step_open(fs, t.step)) < 0)
			break;
		if (ckpt_step_is_direct(fs_step(t.step))) {
			rc = lookup_version(fs, &t.step->items[0], name, ino);
			break;
		}
		rc = -ENOENT;
		for (size_t i = 0; i < t.step->n_items && rc == -ENOENT; i++) {
			const struct ckpt_item_info *info = ckpt_step_item(fs_step(t.step), i);
			char esc[CKPT_NAME_MAX + 1];

			ckpt_name_escape(info->name, strlen(info->name), 0, esc);
			if (is_tree_item(t.step, i) && !strcmp(esc, name)) {
				*ino = fs_vdir(fs, &t.step->items[i]);
				rc = *ino ? 0 : -ENOMEM;
			}
		}
		break;
	case T_VITEM:
		rc = lookup_version(fs, t.ts, name, ino);
		break;
	default:
		rc = -ENOTDIR;
	}
	fs_put(&t);
	return rc;
}

/* ---------------------------------------------------------------- listings */

static int add(struct dir_list *l, const char *name, fuse_ino_t ino, mode_t type)
{
	if (!ino)
		return -ENOMEM;
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

static int list_node(struct ckptfs *fs, const struct target *t, struct dir_list *l)
{
	int rc = 0;

	for (size_t i = 0; i < ckpt_node_n_children(t->node) && rc == 0; i++) {
		const struct ckpt_node *c = ckpt_node_child(t->node, i);
		char name[CKPT_NAME_MAX + 1], js[CKPT_NAME_MAX + 8];
		size_t kl;
		const char *k = ckpt_node_key(c, &kl);
		char *key;

		ckpt_name_escape(k, kl, ckpt_node_dup_index(t->node, i), name);
		key = fs_key_join(t->key, name);
		if (!key)
			return -ENOMEM;
		if (ckpt_node_is_dir(c)) {
			rc = add(l, name, fs_path_ino(fs, t->ts, key, false), S_IFDIR);
		} else {
			rc = add(l, name, fs_path_ino(fs, t->ts, key, false), S_IFREG);
			if (rc == 0 && strlen(name) + 5 <= CKPT_NAME_MAX) {
				snprintf(js, sizeof(js), "%s.json", name);
				rc = add(l, js, fs_path_ino(fs, t->ts, key, true), S_IFREG);
			}
			if (rc == 0 && ckpt_node_kind(c) == CKPT_NODE_ARRAY &&
			    strlen(name) + 4 <= CKPT_NAME_MAX) {
				snprintf(js, sizeof(js), "%s.npy", name);
				rc = add(l, js, fs_path_ino(fs, t->ts, key, FS_SUB_NPY), S_IFREG);
			}
		}
		free(key);
	}
	pthread_mutex_lock(&t->ts->lock);
	for (size_t i = 0; i < t->ts->n_pending && rc == 0; i++) {
		struct pending *p = t->ts->pending[i];

		/* replacing an array: its view is listed already */
		if (!p->done && !strcmp(p->dir, t->key) && !fs_is_npy_view(t->node, p->name))
			rc = add(l, p->name, p->ino, S_IFREG);
	}
	pthread_mutex_unlock(&t->ts->lock);
	return rc;
}

static int list_versions(struct ckptfs *fs, struct tslot *ts, struct dir_list *l)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_version_info *v;
	size_t n;
	int rc = 0;

	if (ckpt_item_versions(fs_step(ts->step), ts->index, &v, &n, &err) < 0) {
		fs_log(fs, "%s", err.msg);
		return -EIO;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct tslot *vs = fs_version_slot(fs, ts, v[i].version);
		char name[32];

		if (!vs) {
			rc = -ENOMEM;
			break;
		}
		snprintf(name, sizeof(name), "%" PRIu64, v[i].version);
		rc = add(l, name, vs->head, S_IFDIR);
		snprintf(name, sizeof(name), "%" PRIu64 ".json", v[i].version);
		if (rc == 0)
			rc = add(l, name, vs->head + 1, S_IFREG);
	}
	ckpt_version_infos_free(v, n);
	return rc;
}

static bool has_versions(struct tslot *ts)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_version_info *v;
	size_t n = 0;

	if (ckpt_step_item(fs_step(ts->step), ts->index)->kind != CKPT_ITEM_PYTREE ||
	    ckpt_item_versions(fs_step(ts->step), ts->index, &v, &n, &err) < 0)
		return false;
	ckpt_version_infos_free(v, n);
	return n > 0;
}

static int list_root(struct ckptfs *fs, struct dir_list *l)
{
	char *p;
	size_t n;
	struct ckpt_err err = { 0, "" };
	int rc;

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
	return rc;
}

static int list_items(struct step_slot *s, struct dir_list *l)
{
	int rc = 0;
	bool versions = false;

	for (size_t i = 0; i < s->n_items && rc == 0; i++) {
		const struct ckpt_item_info *info = ckpt_step_item(fs_step(s), i);
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
		versions = versions || has_versions(&s->items[i]);
	}
	if (rc == 0 && versions)
		rc = add(l, ".versions", s->base + 2, S_IFDIR);
	return rc;
}

int fs_list(struct ckptfs *fs, fuse_ino_t ino, struct dir_list *l)
{
	struct target t;
	struct tslot *ts;
	int rc = fs_resolve(fs, ino, &t);

	memset(l, 0, sizeof(*l));
	if (rc < 0)
		return rc;
	switch (t.type) {
	case T_ROOT:
		rc = list_root(fs, l);
		break;
	case T_STEP:
	case T_ITEM:
		rc = tree_of(fs, &t, &ts);
		if (rc == 1) {
			rc = list_items(t.step, l);
			break;
		}
		if (rc == 0 && root_target(fs, &t, ts) < 0)
			rc = -EIO;
		if (rc == 0)
			rc = list_node(fs, &t, l);
		if (rc == 0 && t.type == T_STEP && has_versions(ts) &&
		    !fs_child_named(t.node, ".versions"))
			rc = add(l, ".versions", t.step->base + 2, S_IFDIR);
		break;
	case T_NODE:
		rc = ckpt_node_is_dir(t.node) ? list_node(fs, &t, l) : -ENOTDIR;
		break;
	case T_VERSIONS:
		if ((rc = fs_step_open(fs, t.step)) < 0)
			break;
		if (ckpt_step_is_direct(fs_step(t.step))) {
			rc = list_versions(fs, &t.step->items[0], l);
			break;
		}
		for (size_t i = 0; i < t.step->n_items && rc == 0; i++) {
			const struct ckpt_item_info *info = ckpt_step_item(fs_step(t.step), i);
			char esc[CKPT_NAME_MAX + 1];

			if (!has_versions(&t.step->items[i]))
				continue;
			ckpt_name_escape(info->name, strlen(info->name), 0, esc);
			rc = add(l, esc, fs_vdir(fs, &t.step->items[i]), S_IFDIR);
		}
		break;
	case T_VITEM:
		rc = list_versions(fs, t.ts, l);
		break;
	default:
		rc = -ENOTDIR;
	}
	fs_put(&t);
	if (rc < 0)
		fs_list_free(l);
	return rc;
}
