/* SPDX-License-Identifier: Apache-2.0 */
/*
 * write.c - edits through the mount.  Written bytes collect in a write
 * buffer per leaf (struct wbuf: an unlinked sparse file and the sorted
 * extents that differ from the leaf), shared by every handle open on the
 * leaf; close (flush), fsync and release commit them as one library edit
 * (ckpt_edit_*: copy-on-write, atomic, a new version).  A new array is
 * written as "NAME.npy" (numpy's format) and becomes the leaf NAME when
 * closed.  mkdir, unlink, rmdir and rename are edits of their own.
 *
 * Lock order: wbuf.lock, tslot.edit_lock, tslot.lock.  A wbuf's refs are
 * counted under tslot.lock (with its list); its size is read without a lock.
 */
#define _GNU_SOURCE
#include "wbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_STRING_BYTES ((uint64_t)64 << 20)

/* ---------------------------------------------------------------- running an edit */

typedef int (*edit_op)(struct ckpt_edit *e, struct ckpt_item *it, void *ctx, struct ckpt_err *err);

static const char *item_label(struct tslot *ts)
{
	return ckpt_step_item(fs_step(ts->step), ts->index)->name;
}

/* One edit of ts's item: begin, op, commit, then the new state goes live. */
static int run_edit(struct ckptfs *fs, struct tslot *ts, const char *what, edit_op op, void *ctx)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_edit *e = NULL;
	struct istate *st;
	uint64_t ver = 0;
	int rc, tries = 0;

	pthread_mutex_lock(&ts->edit_lock);
retry:
	rc = fs_state_get(fs, ts, &st);
	if (rc < 0)
		goto out;
	rc = ckpt_edit_begin(&e, st->item, &err);
	if (rc == 0)
		rc = op(e, st->item, ctx, &err);
	if (rc == 0)
		rc = ckpt_edit_commit(e, what, &ver, &err);
	ckpt_edit_free(e);
	fs_state_put(ts, st);
	if (rc == 0 || rc == -ESTALE) {
		/* the edit is on disk: show it (a failure here is logged; the
		 * next edit or remount sees the committed state); or another
		 * writer changed the item (ESTALE): read it again, and make the
		 * edit on that state, up to 20 times */
		fs_step_reopen(fs, ts->step);
		fs_tree_reload(fs, ts);
	}
	if (rc == -ESTALE && ++tries < 20) {
		e = NULL;
		err = (struct ckpt_err){ 0, "" };
		goto retry;
	}
out:
	pthread_mutex_unlock(&ts->edit_lock);
	if (rc < 0)
		fs_log(fs, "step '%s', item '%s': %s: %s", ts->step->name, item_label(ts), what,
		       err.msg[0] ? err.msg : ckpt_strerror(rc));
	return rc == -EUCLEAN ? -EIO : rc;
}

/* ---------------------------------------------------------------- committing a leaf */

struct leaf_edit {
	struct ckptfs *fs;
	struct wbuf *wb;
	struct ckpt_extent *dirty;
	size_t n_dirty;
	char *text; /* string leaves */
	size_t text_n;
};

static int from_fd(void *ctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err)
{
	struct leaf_edit *le = ctx;
	int rc = fs_wbuf_pread_zero(le->wb->fd, buf, n, off);

	return rc < 0 ? ckpt_err_set(err, rc, "write buffer: %s", strerror(-rc)) : 0;
}

static int op_write(struct ckpt_edit *e, struct ckpt_item *it, void *ctx, struct ckpt_err *err)
{
	struct leaf_edit *le = ctx;
	const struct ckpt_node *n = fs_node_by_key(it, le->wb->key);

	if (!n)
		return ckpt_err_set(err, -ENOENT, "'%s' is gone", le->wb->key);
	if (le->text)
		return ckpt_edit_set_string(e, n, le->text, le->text_n, err);
	return ckpt_edit_write(e, n, le->dirty, le->n_dirty, from_fd, le, err);
}

static int commit_leaf(struct ckptfs *fs, struct wbuf *wb)
{
	struct leaf_edit le = { fs, wb, NULL, 0, NULL, 0 };
	enum ckpt_node_kind k;
	char what[512];
	uint64_t bytes = 0;
	int rc;

	if (wb->n_ext == 0 && wb->cut == wb->base_size && wb->size == wb->base_size)
		return 0; /* nothing written */
	k = ckpt_node_kind(fs_node_by_key(wb->st->item, wb->key));
	if (k == CKPT_NODE_STRING) {
		if (wb->size > MAX_STRING_BYTES) {
			rc = -EFBIG;
			goto out;
		}
		le.text_n = (size_t)wb->size;
		le.text = malloc(le.text_n + 1);
		if (!le.text) {
			rc = -ENOMEM;
			goto out;
		}
		rc = (int)fs_wbuf_read_locked(fs, wb, le.text, le.text_n, 0);
		if (rc < 0)
			goto out;
		snprintf(what, sizeof(what), "set %s (%zu bytes)", wb->key, le.text_n);
	} else {
		if (wb->size != wb->base_size) {
			fs_log(fs, "step '%s', item '%s': %s: an array's size is fixed at %" PRIu64
			       " bytes (its shape times its itemsize), not %" PRIu64
			       "; write NAME.npy to replace it with another shape",
			       wb->ts->step->name, item_label(wb->ts), wb->key, wb->base_size, wb->size);
			rc = -EINVAL;
			goto out;
		}
		le.dirty = malloc((wb->n_ext + 1) * sizeof(*le.dirty));
		if (!le.dirty) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < wb->n_ext; i++) {
			le.dirty[i].off = wb->ext[i].off;
			le.dirty[i].len = wb->ext[i].len;
			bytes += wb->ext[i].len;
		}
		le.n_dirty = wb->n_ext;
		if (wb->cut < wb->size) {
			le.dirty[le.n_dirty].off = wb->cut;
			le.dirty[le.n_dirty++].len = wb->size - wb->cut;
			bytes += wb->size - wb->cut;
		}
		snprintf(what, sizeof(what), "write %s (%" PRIu64 " bytes in %zu extents)", wb->key, bytes,
			 le.n_dirty);
	}
	rc = run_edit(fs, wb->ts, what, op_write, &le);
out:
	free(le.dirty);
	free(le.text);
	/* committed or refused: either way the buffer starts again from the leaf */
	if (fs_wbuf_rebase(fs, wb) < 0 && rc == 0)
		rc = -EIO;
	return rc;
}

/* ---------------------------------------------------------------- NAME.npy */

struct npy_edit {
	struct wbuf *wb;
	struct ckpt_npy h;
	char *key;
	size_t key_n;
};

static int from_npy(void *ctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err)
{
	struct npy_edit *ne = ctx;
	int rc = fs_wbuf_pread_zero(ne->wb->fd, buf, n, ne->h.data_off + off);

	if (rc < 0)
		return ckpt_err_set(err, rc, "write buffer: %s", strerror(-rc));
	ckpt_npy_to_le(&ne->h, buf, n); /* pieces start at whole elements */
	return 0;
}

static int op_add(struct ckpt_edit *e, struct ckpt_item *it, void *ctx, struct ckpt_err *err)
{
	struct npy_edit *ne = ctx;
	const struct ckpt_node *dir = fs_node_by_key(it, ne->wb->pend->dir);

	if (!dir || !ckpt_node_is_dir(dir))
		return ckpt_err_set(err, -ENOENT, "the directory of '%s' is gone", ne->wb->pend->name);
	return ckpt_edit_add_array(e, dir, ne->key, ne->key_n, ne->h.dtype, ne->h.rank, ne->h.shape,
				   from_npy, ne, err);
}

/* caller holds wb->lock */
static int commit_pending(struct ckptfs *fs, struct wbuf *wb, bool closing)
{
	struct pending *p = wb->pend;
	struct ckpt_err err = { 0, "" };
	struct npy_edit ne;
	uint8_t head[65536 + 16];
	size_t hn = wb->size < sizeof(head) ? (size_t)wb->size : sizeof(head);
	char what[600], stem[CKPT_NAME_MAX + 1];
	unsigned dup;
	uint64_t hash;
	bool is_hash;
	int rc;

	if (__atomic_load_n(&p->done, __ATOMIC_ACQUIRE))
		return 0;
	if (wb->size == 0 && !closing)
		return 0; /* created, nothing written yet (touch, then write) */
	memset(&ne, 0, sizeof(ne));
	ne.wb = wb;
	snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(p->name) - 4), p->name);
	if (wb->size == 0) {
		rc = 0; /* created and closed empty: nothing to add */
		goto out;
	}
	rc = fs_wbuf_pread_zero(wb->fd, head, hn, 0);
	if (rc == 0)
		rc = ckpt_npy_parse(head, hn, &ne.h, &err);
	if (rc == 0 && wb->size != ne.h.data_off + ne.h.data_bytes)
		rc = ckpt_err_set(&err, -EINVAL,
				  "%" PRIu64 " bytes, but its header says %" PRIu64 " (%" PRIu64
				  " of header and %" PRIu64 " of data)",
				  wb->size, ne.h.data_off + ne.h.data_bytes, ne.h.data_off, ne.h.data_bytes);
	if (rc < 0) {
		fs_log(fs, "step '%s', item '%s': %s%s%s: %s", wb->ts->step->name, item_label(wb->ts),
		       p->dir, *p->dir ? "/" : "", p->name, err.msg[0] ? err.msg : strerror(-rc));
		goto out;
	}
	if (ckpt_name_unescape(stem, &ne.key, &ne.key_n, &dup, &hash, &is_hash) < 0 || is_hash ||
	    dup) {
		rc = -EINVAL;
		goto out;
	}
	snprintf(what, sizeof(what), "add %s%s%s (%s, %u dims)", p->dir, *p->dir ? "/" : "", stem,
		 ne.h.dtype, ne.h.rank);
	rc = run_edit(fs, wb->ts, what, op_add, &ne);
out:
	free(ne.key);
	__atomic_store_n(&p->done, true, __ATOMIC_RELEASE);
	return rc;
}

int fs_pending_commit(struct ckptfs *fs, struct pending *p)
{
	int rc;

	pthread_mutex_lock(&p->wb->lock);
	rc = commit_pending(fs, p->wb, false);
	pthread_mutex_unlock(&p->wb->lock);
	return rc;
}

/* canonical file names only: what ckptfs itself would show for the key */
static int name_key(const char *name, char **key, size_t *n)
{
	char canon[CKPT_NAME_MAX + 1];
	unsigned dup;
	uint64_t hash;
	bool is_hash;

	if (ckpt_name_unescape(name, key, n, &dup, &hash, &is_hash) < 0)
		return -EINVAL;
	if (is_hash || dup) {
		free(*key);
		return -EINVAL;
	}
	ckpt_name_escape(*key, *n, 0, canon);
	if (strcmp(canon, name)) {
		free(*key);
		return -EINVAL;
	}
	return 0;
}

/* resolves an editable directory: a tree's root or a directory node */
static int edit_dir(struct ckptfs *fs, fuse_ino_t parent, struct target *t)
{
	int rc = fs_resolve(fs, parent, t);

	if (rc < 0)
		return rc;
	if (t->type == T_STEP) {
		rc = fs_step_open(fs, t->step);
		if (rc == 0 && !ckpt_step_is_direct(fs_step(t->step)))
			rc = fs->o.ro ? -EROFS : -EPERM; /* items are not edited as wholes */
		if (rc == 0)
			t->ts = &t->step->items[0];
	}
	if (rc == 0 && (t->type == T_STEP || t->type == T_ITEM) && t->ts) {
		if (!fs_editable(fs, t))
			rc = fs->o.ro ? -EROFS : t->ts->is_version ? -EROFS : -EPERM;
		else if ((rc = fs_state_get(fs, t->ts, &t->st)) == 0) {
			t->node = ckpt_item_root(t->st->item);
			t->key = "";
		}
	} else if (rc == 0 && t->type == T_NODE) {
		if (!ckpt_node_is_dir(t->node))
			rc = -ENOTDIR;
		else if (!fs_editable(fs, t))
			rc = fs->o.ro || t->ts->is_version ? -EROFS : -EPERM;
	} else if (rc == 0) {
		rc = fs->o.ro || t->type == T_VERSIONS || t->type == T_VITEM ? -EROFS : -EPERM;
	}
	if (rc < 0)
		fs_put(t);
	return rc;
}

static bool reserved_suffix(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && !strcmp(name + n - 5, ".json")) || (n > 4 && !strcmp(name + n - 4, ".npy"));
}

int fs_create_npy(struct ckptfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino,
		  struct wbuf **out)
{
	static const uint8_t type = T_PENDING;
	struct target t;
	struct pending *p = NULL, **np;
	struct wbuf *wb = NULL;
	size_t n = strlen(name);
	char stem[CKPT_NAME_MAX + 1], *key;
	size_t key_n;
	int rc = edit_dir(fs, parent, &t);

	if (rc < 0)
		return rc;
	if (n <= 4 || strcmp(name + n - 4, ".npy")) {
		fs_log(fs, "cannot create '%s': a new array is written as NAME.npy (numpy's format)",
		       name);
		rc = -EPERM;
		goto out;
	}
	snprintf(stem, sizeof(stem), "%.*s", (int)(n - 4), name);
	if (name_key(stem, &key, &key_n) < 0) {
		rc = -EINVAL;
		goto out;
	}
	free(key);
	{
		const struct ckpt_node *c = fs_child_named(t.node, stem);

		if (c && ckpt_node_is_dir(c)) {
			rc = -EISDIR;
			goto out;
		}
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->dir = strdup(t.key)) || !(p->name = strdup(name))) {
		rc = -ENOMEM;
		goto out;
	}
	p->ts = t.ts;
	if ((rc = fs_wbuf_new(fs, t.ts, &wb)) < 0)
		goto out;
	wb->pend = p;
	p->wb = wb;
	pthread_mutex_lock(&t.ts->lock);
	for (size_t i = 0; i < t.ts->n_pending; i++) {
		struct pending *o = t.ts->pending[i];

		if (!o->done && !strcmp(o->dir, p->dir) && !strcmp(o->name, name))
			rc = -EEXIST;
	}
	np = rc ? NULL : realloc(t.ts->pending, (t.ts->n_pending + 1) * sizeof(*np));
	if (np) {
		t.ts->pending = np;
		t.ts->pending[t.ts->n_pending++] = p;
	} else if (!rc) {
		rc = -ENOMEM;
	}
	pthread_mutex_unlock(&t.ts->lock);
	if (rc < 0)
		goto out;
	p->ino = fs_alloc(fs, &type, 1, p, 0);
	if (!p->ino) {
		__atomic_store_n(&p->done, true, __ATOMIC_RELEASE);
		p = NULL; /* listed (done) in ts->pending: freed at unmount */
		wb->pend = NULL;
		fs_wbuf_free(wb);
		fs_put(&t);
		return -ENOMEM;
	}
	*ino = p->ino;
	*out = wb;
	fs_put(&t);
	return 0;
out:
	if (wb) {
		wb->pend = NULL;
		fs_wbuf_free(wb);
	}
	if (p) {
		free(p->dir);
		free(p->name);
		free(p);
	}
	fs_put(&t);
	return rc;
}

/* ---------------------------------------------------------------- flush, release */

int fs_wbuf_commit(struct ckptfs *fs, struct wbuf *wb, bool final)
{
	int rc = 0;

	pthread_mutex_lock(&wb->lock);
	if (wb->err)
		rc = wb->err; /* a duplicate's close may have swallowed it (numpy's tofile) */
	else if (wb->pend)
		rc = commit_pending(fs, wb, final);
	else if (final || wb->wrote || (wb->cut == wb->base_size && wb->size == wb->base_size))
		rc = commit_leaf(fs, wb);
	if (rc < 0)
		wb->err = rc;
	/* else truncated and nothing written yet: the close of a duplicate
	 * (a shell's "> file" opens, dups and closes) must not commit an
	 * empty leaf; the writes that follow, or release, will */
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

void fs_wbuf_close(struct ckptfs *fs, struct wbuf *wb)
{
	struct tslot *ts = wb->ts;
	bool last;

	pthread_mutex_lock(&ts->lock);
	last = --wb->refs == 0;
	if (last) {
		for (size_t i = 0; i < ts->n_wbufs; i++) {
			if (ts->wbufs[i] == wb) {
				ts->wbufs[i] = ts->wbufs[--ts->n_wbufs];
				break;
			}
		}
	}
	pthread_mutex_unlock(&ts->lock);
	if (!last)
		return;
	/* normally flush has committed already */
	pthread_mutex_lock(&wb->lock);
	if (wb->pend)
		commit_pending(fs, wb, true);
	else
		commit_leaf(fs, wb);
	pthread_mutex_unlock(&wb->lock);
	if (wb->pend) {
		pthread_mutex_lock(&ts->lock);
		wb->pend->wb = NULL;
		pthread_mutex_unlock(&ts->lock);
	}
	fs_wbuf_free(wb);
}

/* ---------------------------------------------------------------- namespace edits */

struct ns_edit {
	const char *dir, *name; /* parent key, file name */
	char *key;              /* the new key */
	size_t key_n;
	const char *to_dir;     /* rename: new parent key */
};

static const struct ckpt_node *child_of(struct ckpt_item *it, const char *dir, const char *name,
					const struct ckpt_node **parent)
{
	const struct ckpt_node *d = fs_node_by_key(it, dir);

	if (parent)
		*parent = d;
	return d ? fs_child_named(d, name) : NULL;
}

static int op_mkdir(struct ckpt_edit *e, struct ckpt_item *it, void *ctx, struct ckpt_err *err)
{
	struct ns_edit *ne = ctx;
	const struct ckpt_node *dir;

	if (child_of(it, ne->dir, ne->name, &dir))
		return ckpt_err_set(err, -EEXIST, "'%s' exists", ne->name);
	if (!dir)
		return ckpt_err_set(err, -ENOENT, "the directory is gone");
	return ckpt_edit_mkdir(e, dir, ne->key, ne->key_n, err);
}

static int op_remove(struct ckpt_edit *e, struct ckpt_item *it, void *ctx, struct ckpt_err *err)
{
	struct ns_edit *ne = ctx;
	const struct ckpt_node *n = child_of(it, ne->dir, ne->name, NULL);

	if (!n)
		return ckpt_err_set(err, -ENOENT, "'%s' is gone", ne->name);
	return ckpt_edit_remove(e, n, err);
}

static int op_rename(struct ckpt_edit *e, struct ckpt_item *it, void *ctx, struct ckpt_err *err)
{
	struct ns_edit *ne = ctx;
	const struct ckpt_node *n = child_of(it, ne->dir, ne->name, NULL);
	const struct ckpt_node *to = fs_node_by_key(it, ne->to_dir);

	if (!n || !to)
		return ckpt_err_set(err, -ENOENT, "'%s' is gone", ne->name);
	return ckpt_edit_rename(e, n, to, ne->key, ne->key_n, err);
}

int fs_mkdir(struct ckptfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino)
{
	struct ns_edit ne = { 0 };
	struct target t;
	char what[600], *path = NULL;
	int rc = edit_dir(fs, parent, &t);

	if (rc < 0)
		return rc;
	if (reserved_suffix(name) || name_key(name, &ne.key, &ne.key_n) < 0) {
		rc = -EINVAL;
		goto out;
	}
	if (fs_child_named(t.node, name)) {
		rc = -EEXIST;
		goto out;
	}
	ne.dir = t.key;
	ne.name = name;
	path = fs_key_join(t.key, name);
	if (!path) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(what, sizeof(what), "mkdir %s", path);
	rc = run_edit(fs, t.ts, what, op_mkdir, &ne);
	if (rc == 0)
		*ino = fs_path_ino(fs, t.ts, path, false);
	if (rc == 0 && !*ino)
		rc = -ENOMEM;
out:
	free(path);
	free(ne.key);
	fs_put(&t);
	return rc;
}

static struct pending *find_pending(struct tslot *ts, const char *dir, const char *name)
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

int fs_unlink(struct ckptfs *fs, fuse_ino_t parent, const char *name, bool dir)
{
	struct ns_edit ne = { 0 };
	struct target t;
	const struct ckpt_node *c;
	struct pending *p;
	char what[600], *path = NULL;
	int rc = edit_dir(fs, parent, &t);

	if (rc < 0)
		return rc;
	c = fs_child_named(t.node, name);
	if (!c) {
		size_t n = strlen(name);

		if (!dir && (p = find_pending(t.ts, t.key, name))) {
			/* a NAME.npy not yet closed: it is dropped */
			__atomic_store_n(&p->done, true, __ATOMIC_RELEASE);
			rc = 0;
		} else {
			rc = (n > 5 && !strcmp(name + n - 5, ".json")) || fs_is_npy_view(t.node, name)
				     ? -EACCES : -ENOENT;
		}
		goto out;
	}
	if (dir && !ckpt_node_is_dir(c)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!dir && ckpt_node_is_dir(c)) {
		rc = -EISDIR;
		goto out;
	}
	if (dir && ckpt_node_n_children(c)) {
		rc = -ENOTEMPTY;
		goto out;
	}
	ne.dir = t.key;
	ne.name = name;
	path = fs_key_join(t.key, name);
	if (!path) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(what, sizeof(what), "remove %s", path);
	rc = run_edit(fs, t.ts, what, op_remove, &ne);
	if (rc == 0)
		fs_rekey(fs, t.ts, path, NULL);
out:
	free(path);
	fs_put(&t);
	return rc;
}

int fs_rename(struct ckptfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	      const char *newname, unsigned flags)
{
	struct ns_edit ne = { 0 };
	struct target a, b;
	const struct ckpt_node *src, *dst;
	char what[1200], *from = NULL, *to = NULL;
	int rc;

	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL; /* RENAME_EXCHANGE, RENAME_WHITEOUT */
	if ((rc = edit_dir(fs, parent, &a)) < 0)
		return rc;
	if ((rc = edit_dir(fs, newparent, &b)) < 0) {
		fs_put(&a);
		return rc;
	}
	if (a.ts != b.ts) {
		rc = -EXDEV; /* mv copies then: a new array there, a removal here */
		goto out;
	}
	src = fs_child_named(a.node, name);
	if (!src) {
		rc = find_pending(a.ts, a.key, name) ? -EBUSY
		     : (strlen(name) > 5 && !strcmp(name + strlen(name) - 5, ".json")) ||
				       fs_is_npy_view(a.node, name) ? -EACCES
								    : -ENOENT;
		goto out;
	}
	if (reserved_suffix(newname) || name_key(newname, &ne.key, &ne.key_n) < 0) {
		rc = -EINVAL;
		goto out;
	}
	from = fs_key_join(a.key, name);
	to = fs_key_join(b.key, newname);
	if (!from || !to) {
		rc = -ENOMEM;
		goto out;
	}
	if (!strcmp(from, to))
		goto out; /* rename to itself: nothing to do */
	if (!strncmp(to, from, strlen(from)) && to[strlen(from)] == '/') {
		rc = -EINVAL;
		goto out;
	}
	dst = fs_child_named(b.node, newname);
	if (dst) {
		if (flags & RENAME_NOREPLACE)
			rc = -EEXIST;
		else if (ckpt_node_is_dir(src) && !ckpt_node_is_dir(dst))
			rc = -ENOTDIR;
		else if (!ckpt_node_is_dir(src) && ckpt_node_is_dir(dst))
			rc = -EISDIR;
		else if (ckpt_node_is_dir(dst) && ckpt_node_n_children(dst))
			rc = -ENOTEMPTY;
		if (rc < 0)
			goto out;
	}
	ne.dir = a.key;
	ne.name = name;
	ne.to_dir = b.key;
	snprintf(what, sizeof(what), "rename %s -> %s", from, to);
	rc = run_edit(fs, a.ts, what, op_rename, &ne);
	if (rc == 0) {
		fs_rekey(fs, a.ts, to, NULL); /* what was replaced */
		fs_rekey(fs, a.ts, from, to);
	}
out:
	free(from);
	free(to);
	free(ne.key);
	fs_put(&a);
	fs_put(&b);
	return rc;
}

