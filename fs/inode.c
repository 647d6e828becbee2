/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inode.c - inode numbers <-> steps, trees, nodes (see fs.h), and the
 * refcounted states of trees.  Steps and trees are opened on first use
 * under their own mutex; a failure is remembered, so a corrupt item answers
 * EIO every time without being re-read, and is logged once.
 *
 * Lock order: tslot.lock, then ckptfs.lock (fs_alloc).  fs_resolve copies
 * the record under ckptfs.lock and drops it before taking anything else.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_RECS 1024

void fs_log(struct ckptfs *fs, const char *fmt, ...)
{
	char msg[1024];
	uint64_t h;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (fs->remote)
		ckpt_remote_unmirror(fs->remote, msg, sizeof(msg));
	h = ckpt_name_hash(msg, strlen(msg));
	pthread_mutex_lock(&fs->log_lock);
	for (size_t i = 0; i < fs->n_logged; i++) {
		if (fs->logged[i] == h) {
			pthread_mutex_unlock(&fs->log_lock);
			return; /* one line per problem */
		}
	}
	if (fs->n_logged < 65536) {
		uint64_t *nl = realloc(fs->logged, (fs->n_logged + 1) * sizeof(*nl));

		if (nl) {
			fs->logged = nl;
			fs->logged[fs->n_logged++] = h;
		}
	}
	pthread_mutex_unlock(&fs->log_lock);
	fuse_log(FUSE_LOG_ERR, "ckptfs: %s\n", msg);
}

/* ---------------------------------------------------------------- the inode table */

static struct inorec *rec_at(struct ckptfs *fs, fuse_ino_t ino)
{
	size_t pg = ino / PAGE_RECS;

	if (pg >= fs->n_pages || !fs->pages[pg])
		return NULL;
	return &fs->pages[pg][ino % PAGE_RECS];
}

fuse_ino_t fs_alloc(struct ckptfs *fs, const uint8_t *types, unsigned n, void *owner, size_t idx)
{
	fuse_ino_t base = 0;

	pthread_rwlock_wrlock(&fs->lock);
	for (unsigned i = 0; i < n; i++) {
		fuse_ino_t ino = fs->next_ino + i;
		size_t pg = ino / PAGE_RECS;
		struct inorec *r;

		if (pg >= fs->n_pages) {
			size_t nn = fs->n_pages ? fs->n_pages * 2 : 64;
			struct inorec **np;

			while (nn <= pg)
				nn *= 2;
			np = realloc(fs->pages, nn * sizeof(*np));
			if (!np)
				goto out;
			memset(np + fs->n_pages, 0, (nn - fs->n_pages) * sizeof(*np));
			fs->pages = np;
			fs->n_pages = nn;
		}
		if (!fs->pages[pg] && !(fs->pages[pg] = calloc(PAGE_RECS, sizeof(struct inorec))))
			goto out;
		r = rec_at(fs, ino);
		r->type = types[i];
		r->owner = owner;
		r->idx = idx;
	}
	base = fs->next_ino;
	fs->next_ino += n;
out:
	pthread_rwlock_unlock(&fs->lock);
	return base;
}

void fs_set_type(struct ckptfs *fs, fuse_ino_t ino, enum itype type)
{
	struct inorec *r;

	pthread_rwlock_wrlock(&fs->lock);
	r = rec_at(fs, ino);
	if (r)
		r->type = (uint8_t)type;
	pthread_rwlock_unlock(&fs->lock);
}

/* ---------------------------------------------------------------- steps */

struct ckpt_step *fs_step(struct step_slot *s)
{
	return __atomic_load_n(&s->step, __ATOMIC_ACQUIRE);
}

static void tslot_init(struct tslot *ts, struct step_slot *s, size_t index)
{
	ts->step = s;
	ts->index = index;
	pthread_mutex_init(&ts->lock, NULL);
	pthread_mutex_init(&ts->edit_lock, NULL);
}

struct step_slot *fs_step_slot(struct ckptfs *fs, const char *name, bool create)
{
	static const uint8_t types[3] = { T_STEP, T_STEP_JSON, T_VERSIONS };
	struct step_slot *s = NULL;

	pthread_rwlock_rdlock(&fs->lock);
	for (size_t i = 0; i < fs->n_steps && !s; i++)
		if (!strcmp(fs->steps[i]->name, name))
			s = fs->steps[i];
	pthread_rwlock_unlock(&fs->lock);
	if (s || !create)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(name))) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->base = fs_alloc(fs, types, 3, s, 0);
	pthread_rwlock_wrlock(&fs->lock);
	if (s->base && fs->n_steps == fs->cap_steps) {
		size_t nc = fs->cap_steps ? fs->cap_steps * 2 : 16;
		struct step_slot **ns = realloc(fs->steps, nc * sizeof(*ns));

		if (ns) {
			fs->steps = ns;
			fs->cap_steps = nc;
		}
	}
	for (size_t i = 0; i < fs->n_steps; i++) {
		if (!strcmp(fs->steps[i]->name, name)) {
			/* another thread made it first; our numbers stay unused */
			struct step_slot *other = fs->steps[i];

			pthread_rwlock_unlock(&fs->lock);
			pthread_mutex_destroy(&s->lock);
			free(s->name);
			free(s);
			return other;
		}
	}
	if (!s->base || fs->n_steps == fs->cap_steps) {
		pthread_rwlock_unlock(&fs->lock);
		pthread_mutex_destroy(&s->lock);
		free(s->name);
		free(s);
		return NULL;
	}
	fs->steps[fs->n_steps++] = s;
	pthread_rwlock_unlock(&fs->lock);
	return s;
}

void fs_step_forget(struct ckptfs *fs, const char *name)
{
	pthread_rwlock_wrlock(&fs->lock);
	for (size_t i = 0; i < fs->n_steps; i++) {
		struct step_slot **nd;

		if (strcmp(fs->steps[i]->name, name))
			continue;
		nd = realloc(fs->dead, (fs->n_dead + 1) * sizeof(*nd));
		if (!nd)
			break; /* kept: stale until remounted, but never freed early */
		fs->dead = nd;
		fs->dead[fs->n_dead++] = fs->steps[i]; /* its inodes may still be asked about */
		fs->steps[i] = fs->steps[--fs->n_steps];
		break;
	}
	pthread_rwlock_unlock(&fs->lock);
}

int fs_step_open(struct ckptfs *fs, struct step_slot *s)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_step *st;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (s->opened) {
		rc = s->err;
		goto out;
	}
	rc = ckpt_step_open(&st, fs->src, s->name, &err);
	if (rc == 0) {
		size_t n = ckpt_step_n_items(st);

		s->items = calloc(n ? n : 1, sizeof(*s->items));
		if (!s->items) {
			ckpt_step_close(st);
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct tslot *ts = &s->items[i];
			uint8_t types[2] = { ckpt_step_item(st, i)->kind == CKPT_ITEM_JSON ? T_JSON_ITEM
											    : T_ITEM,
					     T_ITEM_JSON };

			tslot_init(ts, s, i);
			/* a direct step's item lives in the step's own inodes */
			ts->head = ckpt_step_is_direct(st) ? s->base : fs_alloc(fs, types, 2, ts, 0);
			if (!ts->head)
				rc = -ENOMEM;
		}
		s->n_items = n;
		__atomic_store_n(&s->step, st, __ATOMIC_RELEASE);
	} else if (rc != -ENOENT) {
		fs_log(fs, "step '%s': %s", s->name, err.msg[0] ? err.msg : ckpt_strerror(rc));
		s->errmsg = strdup(err.msg);
	} else {
		/* listed, but gone: the next listing looks again rather than
		 * show it until the watcher's rescan (a listing opens no step) */
		__atomic_store_n(&fs->scan_dirty, true, __ATOMIC_RELAXED);
	}
	s->err = rc;
	s->opened = true;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int fs_step_reopen(struct ckptfs *fs, struct step_slot *s)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_step *st, **nr;
	int rc = ckpt_step_open(&st, fs->src, s->name, &err);

	if (rc < 0) {
		fs_log(fs, "step '%s': %s", s->name, err.msg);
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	nr = realloc(s->retired, (s->n_retired + 1) * sizeof(*nr));
	if (!nr) {
		pthread_mutex_unlock(&s->lock);
		ckpt_step_close(st);
		return -ENOMEM;
	}
	s->retired = nr;
	s->retired[s->n_retired++] = s->step; /* older states still use it */
	__atomic_store_n(&s->step, st, __ATOMIC_RELEASE);
	__atomic_store_n(&s->json_size, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ---------------------------------------------------------------- tree states */

static struct istate *state_new(struct ckpt_item *it)
{
	struct istate *st = calloc(1, sizeof(*st));
	uint64_t n = ckpt_item_n_nodes(it);

	if (!st || !(st->json_size = calloc(n ? n : 1, sizeof(*st->json_size)))) {
		free(st);
		return NULL;
	}
	st->item = it;
	st->refs = 1;
	return st;
}

static void state_free(struct istate *st)
{
	ckpt_item_close(st->item);
	free(st->json_size);
	free(st);
}

static int open_item(struct ckptfs *fs, struct tslot *ts, struct istate **out, struct ckpt_err *err)
{
	struct ckpt_item *it;
	int rc;

	(void)fs;
	if (ts->is_version)
		rc = ckpt_item_open_version(&it, fs_step(ts->step), ts->index, ts->version, err);
	else
		rc = ckpt_item_open(&it, fs_step(ts->step), ts->index, err);
	if (rc < 0)
		return rc;
	*out = state_new(it);
	if (!*out) {
		ckpt_item_close(it);
		return -ENOMEM;
	}
	return 0;
}

int fs_state_get(struct ckptfs *fs, struct tslot *ts, struct istate **out)
{
	struct ckpt_err err = { 0, "" };
	int rc;

	pthread_mutex_lock(&ts->lock);
	if (!ts->opened) {
		rc = open_item(fs, ts, &ts->cur, &err);
		if (rc < 0) {
			fs_log(fs, "%s", err.msg[0] ? err.msg : ckpt_strerror(rc));
			ts->errmsg = strdup(err.msg[0] ? err.msg : ckpt_strerror(rc));
			rc = rc == -ENOMEM ? rc : -EIO;
		}
		ts->err = rc;
		ts->opened = true;
	}
	rc = ts->err;
	if (rc == 0) {
		ts->cur->refs++;
		*out = ts->cur;
	}
	pthread_mutex_unlock(&ts->lock);
	return rc;
}

void fs_state_put(struct tslot *ts, struct istate *st)
{
	bool last;

	if (!st)
		return;
	pthread_mutex_lock(&ts->lock);
	last = --st->refs == 0;
	pthread_mutex_unlock(&ts->lock);
	if (last)
		state_free(st);
}

int fs_tree_reload(struct ckptfs *fs, struct tslot *ts)
{
	struct ckpt_err err = { 0, "" };
	struct istate *nst, *old;
	int rc = open_item(fs, ts, &nst, &err);

	if (rc < 0) {
		fs_log(fs, "after an edit: %s", err.msg[0] ? err.msg : ckpt_strerror(rc));
		return rc;
	}
	pthread_mutex_lock(&ts->lock);
	old = ts->cur;
	ts->cur = nst;
	ts->opened = true;
	ts->err = 0;
	pthread_mutex_unlock(&ts->lock);
	fs_state_put(ts, old);
	return 0;
}

/* ---------------------------------------------------------------- node paths */

char *fs_key_join(const char *dir, const char *name)
{
	char *k;

	if (!*dir)
		return strdup(name);
	if (asprintf(&k, "%s/%s", dir, name) < 0)
		return NULL;
	return k;
}

/* the child of n shown under `name` (canonical names only) */
const struct ckpt_node *fs_child_named(const struct ckpt_node *n, const char *name)
{
	char *key, canon[CKPT_NAME_MAX + 1];
	size_t len, kl;
	unsigned dup;
	uint64_t hash;
	bool is_hash;
	const struct ckpt_node *c = NULL;

	if (!ckpt_node_is_dir(n) || ckpt_name_unescape(name, &key, &len, &dup, &hash, &is_hash) < 0)
		return NULL;
	if (is_hash || dup) {
		/* cut or repeated names: find the child whose name this is */
		unsigned seen = 0;

		for (size_t i = 0; i < ckpt_node_n_children(n) && !c; i++) {
			const char *k = ckpt_node_key(ckpt_node_child(n, i), &kl);

			if (!is_hash && (kl != len || memcmp(k, key, len)))
				continue;
			ckpt_name_escape(k, kl, is_hash ? 0 : seen++, canon);
			if (!strcmp(canon, name))
				c = ckpt_node_child(n, i);
		}
		free(key);
		return c;
	}
	c = ckpt_node_find(n, key, len);
	if (c) {
		const char *k = ckpt_node_key(c, &kl);

		ckpt_name_escape(k, kl, 0, canon);
		if (strcmp(canon, name))
			c = NULL;
	}
	free(key);
	return c;
}

bool fs_is_npy_view(const struct ckpt_node *dir, const char *name)
{
	const struct ckpt_node *c;
	size_t n = strlen(name);
	char *s;

	if (!dir || n <= 4 || strcmp(name + n - 4, ".npy") || !(s = strndup(name, n - 4)))
		return false;
	c = fs_child_named(dir, s);
	free(s);
	return c && !ckpt_node_is_dir(c) && ckpt_node_kind(c) == CKPT_NODE_ARRAY;
}

const struct ckpt_node *fs_node_by_key(const struct ckpt_item *it, const char *key)
{
	const struct ckpt_node *n = ckpt_item_root(it);
	char comp[CKPT_NAME_MAX + 1];

	while (n && *key) {
		const char *slash = strchr(key, '/');
		size_t len = slash ? (size_t)(slash - key) : strlen(key);

		if (len > CKPT_NAME_MAX)
			return NULL;
		memcpy(comp, key, len);
		comp[len] = 0;
		n = fs_child_named(n, comp);
		key += len + (slash ? 1 : 0);
	}
	return n;
}

static size_t hash_slot(const struct tslot *ts, const char *key)
{
	return (size_t)ckpt_name_hash(key, strlen(key)) & (ts->cap_hash - 1);
}

/* caller holds ts->lock */
static int hash_grow(struct tslot *ts)
{
	size_t nc = ts->cap_hash ? ts->cap_hash * 2 : 64;
	size_t *nh = calloc(nc, sizeof(*nh));

	if (!nh)
		return -ENOMEM;
	free(ts->hash);
	ts->hash = nh;
	ts->cap_hash = nc;
	for (size_t i = 0; i < ts->n_paths; i++) {
		size_t h = hash_slot(ts, ts->keys[i]);

		while (ts->hash[h])
			h = (h + 1) & (nc - 1);
		ts->hash[h] = i + 1;
	}
	return 0;
}

fuse_ino_t fs_path_ino(struct ckptfs *fs, struct tslot *ts, const char *key, unsigned sub)
{
	static const uint8_t types[3] = { T_NODE, T_NODE_JSON, T_NODE_NPY };
	fuse_ino_t ino = 0;
	size_t h;

	if (!*key)
		return sub == FS_SUB_NPY ? 0 : ts->head + sub; /* the root: no view */
	pthread_mutex_lock(&ts->lock);
	if ((ts->n_paths + 1) * 2 > ts->cap_hash && hash_grow(ts) < 0)
		goto out;
	for (h = hash_slot(ts, key); ts->hash[h]; h = (h + 1) & (ts->cap_hash - 1)) {
		if (!strcmp(ts->keys[ts->hash[h] - 1], key)) {
			ino = ts->inos[ts->hash[h] - 1] + sub;
			goto out;
		}
	}
	if (ts->n_paths == ts->cap_paths) {
		size_t nc = ts->cap_paths ? ts->cap_paths * 2 : 64;
		char **nk = realloc(ts->keys, nc * sizeof(*nk));
		fuse_ino_t *ni;

		if (!nk)
			goto out;
		ts->keys = nk;
		ni = realloc(ts->inos, nc * sizeof(*ni));
		if (!ni)
			goto out;
		ts->inos = ni;
		ts->cap_paths = nc;
	}
	ts->keys[ts->n_paths] = strdup(key);
	if (!ts->keys[ts->n_paths])
		goto out;
	ts->inos[ts->n_paths] = fs_alloc(fs, types, 3, ts, ts->n_paths);
	if (!ts->inos[ts->n_paths]) {
		free(ts->keys[ts->n_paths]);
		goto out;
	}
	ts->hash[h] = ++ts->n_paths;
	ino = ts->inos[ts->n_paths - 1] + sub;
out:
	pthread_mutex_unlock(&ts->lock);
	return ino;
}

/* caller holds ts->lock */
static void hash_rebuild(struct tslot *ts)
{
	memset(ts->hash, 0, ts->cap_hash * sizeof(*ts->hash));
	for (size_t i = 0; i < ts->n_paths; i++) {
		size_t h = hash_slot(ts, ts->keys[i]);

		while (ts->hash[h])
			h = (h + 1) & (ts->cap_hash - 1);
		ts->hash[h] = i + 1;
	}
}

void fs_rekey(struct ckptfs *fs, struct tslot *ts, const char *from, const char *to)
{
	size_t fl = strlen(from);
	bool changed = false;

	(void)fs;
	pthread_mutex_lock(&ts->lock);
	for (size_t i = 0; i < ts->n_paths; i++) {
		char *k = ts->keys[i], *nk, **ng;

		if (strncmp(k, from, fl) || (k[fl] && k[fl] != '/'))
			continue;
		/* a removed path's numbers are retired ("//N" matches no node),
		 * so a later node there gets new ones */
		if (to ? asprintf(&nk, "%s%s", to, k + fl) < 0
		       : asprintf(&nk, "//%llu", (unsigned long long)++ts->n_retired_keys) < 0)
			continue;
		ng = realloc(ts->graveyard, (ts->n_graveyard + 1) * sizeof(*ng));
		if (!ng) {
			free(nk);
			continue;
		}
		ts->graveyard = ng;
		ts->graveyard[ts->n_graveyard++] = k; /* fs_resolve may still use it */
		ts->keys[i] = nk;
		changed = true;
	}
	if (changed)
		hash_rebuild(ts);
	pthread_mutex_unlock(&ts->lock);
}

/* ---------------------------------------------------------------- versions */

fuse_ino_t fs_vdir(struct ckptfs *fs, struct tslot *item)
{
	static const uint8_t type = T_VITEM;
	fuse_ino_t ino;

	pthread_mutex_lock(&item->lock);
	if (!item->vdir)
		item->vdir = fs_alloc(fs, &type, 1, item, 0);
	ino = item->vdir;
	pthread_mutex_unlock(&item->lock);
	return ino;
}

struct tslot *fs_version_slot(struct ckptfs *fs, struct tslot *item, uint64_t version)
{
	static const uint8_t types[2] = { T_ITEM, T_ITEM_JSON };
	struct tslot *v = NULL, **nv;

	pthread_mutex_lock(&item->lock);
	for (size_t i = 0; i < item->n_vers && !v; i++)
		if (item->vers[i]->version == version)
			v = item->vers[i];
	if (v)
		goto out;
	nv = realloc(item->vers, (item->n_vers + 1) * sizeof(*nv));
	if (!nv)
		goto out;
	item->vers = nv;
	v = calloc(1, sizeof(*v));
	if (!v)
		goto out;
	tslot_init(v, item->step, item->index);
	v->is_version = true;
	v->version = version;
	v->head = fs_alloc(fs, types, 2, v, 0);
	if (!v->head) {
		free(v);
		v = NULL;
		goto out;
	}
	item->vers[item->n_vers++] = v;
out:
	pthread_mutex_unlock(&item->lock);
	return v;
}

/* ---------------------------------------------------------------- resolving */

int fs_resolve(struct ckptfs *fs, fuse_ino_t ino, struct target *t)
{
	struct inorec r = { T_NONE, NULL, 0 }, *p;
	int rc;

	memset(t, 0, sizeof(*t));
	switch (ino) {
	case INO_ROOT: t->type = T_ROOT; return 0;
	case INO_LATEST: t->type = T_LATEST; return 0;
	case INO_ROOT_META: t->type = T_ROOT_META; return 0;
	case INO_STATS: t->type = T_STATS; return 0;
	}
	pthread_rwlock_rdlock(&fs->lock);
	p = ino < fs->next_ino ? rec_at(fs, ino) : NULL;
	if (p)
		r = *p;
	pthread_rwlock_unlock(&fs->lock);
	t->type = r.type;
	switch (r.type) {
	case T_STEP:
	case T_STEP_JSON:
	case T_VERSIONS:
		t->step = r.owner;
		return 0;
	case T_ITEM:
	case T_ITEM_JSON:
	case T_JSON_ITEM:
	case T_VITEM:
		t->ts = r.owner;
		t->step = t->ts->step;
		t->key = "";
		return 0;
	case T_NODE:
	case T_NODE_JSON:
	case T_NODE_NPY:
		t->ts = r.owner;
		t->step = t->ts->step;
		if ((rc = fs_state_get(fs, t->ts, &t->st)) < 0)
			return rc;
		pthread_mutex_lock(&t->ts->lock);
		t->key = t->ts->keys[r.idx]; /* never freed while mounted */
		pthread_mutex_unlock(&t->ts->lock);
		t->node = fs_node_by_key(t->st->item, t->key);
		if (!t->node || (r.type == T_NODE_JSON && ckpt_node_is_dir(t->node)) ||
		    (r.type == T_NODE_NPY && (ckpt_node_is_dir(t->node) ||
					      ckpt_node_kind(t->node) != CKPT_NODE_ARRAY))) {
			fs_put(t);
			return -ENOENT; /* removed by an edit */
		}
		return 0;
	case T_PENDING:
		t->pend = r.owner;
		t->ts = t->pend->ts;
		t->step = t->ts->step;
		return __atomic_load_n(&t->pend->done, __ATOMIC_ACQUIRE) ? -ENOENT : 0;
	default:
		return -ENOENT;
	}
}

void fs_put(struct target *t)
{
	if (t->st)
		fs_state_put(t->ts, t->st);
	t->st = NULL;
}

/* ---------------------------------------------------------------- teardown */

static void tslot_free(struct tslot *ts)
{
	if (ts->cur)
		fs_state_put(ts, ts->cur);
	for (size_t i = 0; i < ts->n_paths; i++)
		free(ts->keys[i]);
	free(ts->keys);
	for (size_t i = 0; i < ts->n_graveyard; i++)
		free(ts->graveyard[i]);
	free(ts->graveyard);
	free(ts->inos);
	free(ts->hash);
	free(ts->errmsg);
	for (size_t i = 0; i < ts->n_pending; i++) {
		free(ts->pending[i]->dir);
		free(ts->pending[i]->name);
		free(ts->pending[i]);
	}
	free(ts->pending);
	free(ts->wbufs);
	for (size_t i = 0; i < ts->n_vers; i++) {
		tslot_free(ts->vers[i]);
		free(ts->vers[i]);
	}
	free(ts->vers);
	pthread_mutex_destroy(&ts->lock);
	pthread_mutex_destroy(&ts->edit_lock);
}

static void step_free(struct step_slot *s)
{
	for (size_t k = 0; k < s->n_items; k++)
		tslot_free(&s->items[k]);
	free(s->items);
	ckpt_step_close(s->step);
	for (size_t k = 0; k < s->n_retired; k++)
		ckpt_step_close(s->retired[k]);
	free(s->retired);
	pthread_mutex_destroy(&s->lock);
	free(s->errmsg);
	free(s->name);
	free(s);
}

void fs_destroy(struct ckptfs *fs)
{
	for (size_t i = 0; i < fs->n_dead; i++)
		step_free(fs->dead[i]);
	free(fs->dead);
	for (size_t i = 0; i < fs->n_steps; i++)
		step_free(fs->steps[i]);
	free(fs->steps);
	for (size_t i = 0; i < fs->n_pages; i++)
		free(fs->pages[i]);
	free(fs->pages);
	free(fs->logged);
	ckpt_src_close(fs->src);
	pthread_rwlock_destroy(&fs->lock);
	pthread_mutex_destroy(&fs->log_lock);
}

/* ---------------------------------------------------------------- what a target allows */

bool fs_immutable(struct ckptfs *fs, const struct target *t)
{
	if (t->type == T_ROOT || t->type == T_LATEST || t->type == T_ROOT_META || t->type == T_STATS)
		return false;
	if (t->ts && t->ts->is_version)
		return true;
	return fs->o.ro;
}

bool fs_editable(struct ckptfs *fs, const struct target *t)
{
	const struct tslot *ts = t->ts;

	if (fs->o.ro)
		return false;
	if (t->type == T_STEP && t->step->opened && !t->step->err &&
	    ckpt_step_is_direct(fs_step(t->step)))
		ts = &t->step->items[0];
	return ts && !ts->is_version &&
	       ckpt_step_item(fs_step(ts->step), ts->index)->kind == CKPT_ITEM_PYTREE;
}
