/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.c - the FUSE low-level handlers: each turns a request into calls to
 * tree.c (reading) or write.c (edits) and sends exactly one reply.  With
 * -o ro every modifying operation answers EROFS.
 *
 * Caching: below the root, a read-only mount never changes, so the kernel
 * keeps entries, attributes and pages forever.  On a read-write mount the
 * trees being edited are not cached by the kernel (timeouts 0); a file
 * opened for reading there reads its own snapshot with direct I/O, and one
 * opened for writing goes through the page cache (so that mmap writes
 * work); recorded versions are cached like read-only trees.  Shared
 * read-only mmaps of direct-I/O files work where the kernel allows it
 * (kio.c), so np.memmap(mode="r") works on every mount.
 *
 * Errors: every EIO and EINVAL a user receives is logged once, with the
 * file (its path in the mount) and the reason (the library's message).
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOREVER 1e9 /* seconds: nothing below the root changes */

struct fh {
	enum { FH_LEAF, FH_BUF, FH_WRITE } kind;
	struct tslot *ts;   /* FH_LEAF: the state holding leaf */
	struct istate *st;
	struct ckpt_leaf *leaf;
	struct wbuf *wb;    /* FH_WRITE */
	char *buf;          /* FH_BUF */
	size_t n;
	unsigned refs;      /* the open file, and reads in progress */
	struct fh *prev, *next; /* every open handle: freed at unmount if the
	                         * kernel's RELEASE did not arrive first */
	uint64_t last_end;  /* FH_LEAF: where the last read ended (a hint) */
	uint64_t ra_until;  /* FH_LEAF: read-ahead asked for up to here */
	uint64_t fixed;     /* FH_WRITE of an array leaf: its size, else UINT64_MAX */
	char *path;         /* FH_LEAF, FH_WRITE: the file in the mount, for messages */
	uint8_t *head;      /* FH_LEAF of a "<name>.npy": its header, then the leaf */
	uint64_t head_n;
};

static struct ckptfs *FS(fuse_req_t req)
{
	return fs_req_fs(req);
}

static double timeout_of(struct ckptfs *fs, fuse_ino_t ino)
{
	struct target t;
	double tmo;

	if (fs_resolve(fs, ino, &t) < 0)
		return 0;
	if (t.type == T_ROOT || t.type == T_LATEST || t.type == T_ROOT_META)
		tmo = fs->o.root_timeout;
	else
		tmo = fs_immutable(fs, &t) ? FOREVER : 0;
	fs_put(&t);
	return tmo;
}

static int reply_err(fuse_req_t req, int rc)
{
	/* the library's corruption code is EUCLEAN; users see EIO */
	int e = rc < 0 ? -rc : rc;

	if (e == EUCLEAN)
		e = EIO;
	return fuse_reply_err(req, e);
}

static int entry_of(struct ckptfs *fs, fuse_ino_t ino, struct fuse_entry_param *e)
{
	int rc;

	memset(e, 0, sizeof(*e));
	rc = fs_getattr(fs, ino, &e->attr);
	if (rc < 0)
		return rc;
	e->ino = ino;
	e->generation = 1;
	e->attr_timeout = e->entry_timeout = timeout_of(fs, ino);
	return 0;
}

/* Valid replies: fuse_reply_entry, fuse_reply_err */
static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ckptfs *fs = FS(req);
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int rc = fs_lookup(fs, parent, name, &ino);

	if (rc == -ENOENT) {
		/* a negative entry: the kernel remembers the miss */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = timeout_of(fs, parent);
		fs_reply_entry(req, &e);
		return;
	}
	if (rc == 0)
		rc = entry_of(fs, ino, &e);
	if (rc < 0)
		reply_err(req, rc);
	else
		fs_reply_entry(req, &e);
}

/* Valid replies: fuse_reply_attr, fuse_reply_err */
static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ckptfs *fs = FS(req);
	struct stat st;
	int rc = fs_getattr(fs, ino, &st);

	(void)fi;
	if (rc < 0)
		reply_err(req, rc);
	else
		fs_reply_attr(req, &st, timeout_of(fs, ino));
}

/* Valid replies: fuse_reply_readlink, fuse_reply_err */
static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[4096];
	int rc = ino == INO_LATEST ? fs_readlink(FS(req), buf, sizeof(buf)) : -EINVAL;

	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_readlink(req, buf);
}

/* Valid replies: fuse_reply_open, fuse_reply_err */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ckptfs *fs = FS(req);
	struct dir_list *l = calloc(1, sizeof(*l));
	struct target t;
	int rc;

	if (!l) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = fs_list(fs, ino, l);
	if (rc < 0) {
		free(l);
		reply_err(req, rc);
		return;
	}
	fi->fh = (uintptr_t)l;
	pthread_mutex_lock(&fs->handles_lock);
	l->next = fs->dirs;
	if (l->next)
		l->next->prev = l;
	fs->dirs = l;
	pthread_mutex_unlock(&fs->handles_lock);
	if (fs_resolve(fs, ino, &t) == 0) {
		if (fs_immutable(fs, &t)) {
			fi->cache_readdir = 1;
			fi->keep_cache = 1;
		}
		fs_put(&t);
	}
	fuse_reply_open(req, fi);
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, bool plus)
{
	struct ckptfs *fs = FS(req);
	struct dir_list *l = (struct dir_list *)(uintptr_t)fi->fh;
	char *buf = malloc(size ? size : 1);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* offsets: 1 ".", 2 "..", then entry i at i + 3 */
	for (off_t i = off; i < (off_t)l->n + 2; i++) {
		const char *name = i == 0 ? "." : i == 1 ? ".." : l->e[i - 2].name;
		struct fuse_entry_param e;
		size_t need;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			e.attr.st_ino = i == 0 ? ino : INO_ROOT;
			e.attr.st_mode = S_IFDIR;
		} else {
			e.attr.st_ino = l->e[i - 2].ino;
			e.attr.st_mode = l->e[i - 2].type;
			if (plus && !fs_attr_costly(fs, l->e[i - 2].ino) &&
			    entry_of(fs, l->e[i - 2].ino, &e) < 0) {
				memset(&e, 0, sizeof(e)); /* a bare entry: lookup will tell */
				e.attr.st_ino = l->e[i - 2].ino;
				e.attr.st_mode = l->e[i - 2].type;
			}
		}
		if (plus)
			need = fs_add_direntry_plus(req, buf + used, size - used, name, &e, i + 1);
		else
			need = fs_add_direntry(req, buf + used, size - used, name, &e.attr, i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* Valid replies: fuse_reply_buf, fuse_reply_data, fuse_reply_err */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

/* Valid replies: fuse_reply_err */
static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ckptfs *fs = FS(req);
	struct dir_list *l = (struct dir_list *)(uintptr_t)fi->fh;

	(void)ino;
	pthread_mutex_lock(&fs->handles_lock);
	if (l->prev)
		l->prev->next = l->next;
	else if (fs->dirs == l)
		fs->dirs = l->next;
	if (l->next)
		l->next->prev = l->prev;
	pthread_mutex_unlock(&fs->handles_lock);
	fs_list_free(l);
	free(l);
	fuse_reply_err(req, 0);
}

static void fh_link(struct ckptfs *fs, struct fh *h)
{
	pthread_mutex_lock(&fs->handles_lock);
	h->next = (struct fh *)fs->handles;
	if (h->next)
		h->next->prev = h;
	fs->handles = h;
	pthread_mutex_unlock(&fs->handles_lock);
}

static void fh_destroy(struct ckptfs *fs, struct fh *h)
{
	if (h->wb)
		fs_wbuf_close(fs, h->wb);
	if (h->st)
		fs_state_put(h->ts, h->st);
	free(h->buf);
	free(h->path);
	free(h->head);
	free(h);
}

static void fh_free(struct ckptfs *fs, struct fh *h)
{
	if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return; /* a read still replies from it */
	pthread_mutex_lock(&fs->handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else if (fs->handles == h)
		fs->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fs->handles_lock);
	fh_destroy(fs, h);
}

/* after the session: handles whose RELEASE never came (commits what they
 * hold), and listings whose RELEASEDIR never came (an unmount right after
 * a close can end the session before the kernel sends it) */
void fs_handles_close(struct ckptfs *fs)
{
	while (fs->handles) {
		struct fh *h = (struct fh *)fs->handles;

		fs->handles = h->next;
		fh_destroy(fs, h);
	}
	while (fs->dirs) {
		struct dir_list *l = fs->dirs;

		fs->dirs = l->next;
		fs_list_free(l);
		free(l);
	}
}

/* the file in the mount a target stands for, for messages: STEP/ITEM/KEY
 * (a direct step has no ITEM; a version is STEP/.versions/ITEM/N/KEY) */
static char *target_path(struct ckptfs *fs, const struct target *t)
{
	const char *item = "", *key = t->key ? t->key : "";
	struct ckpt_step *st;
	char ver[64] = "", *p;

	(void)fs;
	if (!t->step || !t->ts || !(st = fs_step(t->step)))
		return strdup("?");
	item = ckpt_step_item(st, t->ts->index)->name;
	if (t->ts->is_version)
		snprintf(ver, sizeof(ver), ".versions/%s/%" PRIu64 "%s", item, t->ts->version,
			 *key ? "/" : "");
	else if (!ckpt_step_is_direct(st))
		snprintf(ver, sizeof(ver), "%.40s%s", item, *key ? "/" : "");
	if (asprintf(&p, "%s/%s%s", t->step->name, ver, key) < 0)
		return NULL;
	return p;
}

static bool is_dir_target(const struct target *t)
{
	return t->type == T_ROOT || t->type == T_STEP || t->type == T_ITEM || t->type == T_VERSIONS ||
	       t->type == T_VITEM || (t->type == T_NODE && ckpt_node_is_dir(t->node));
}

/* Valid replies: fuse_reply_open, fuse_reply_err */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ckptfs *fs = FS(req);
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	struct target t;
	struct fh *h;
	int rc;

	if ((rc = fs_resolve(fs, ino, &t)) < 0) {
		reply_err(req, rc);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fs_put(&t);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->refs = 1;
	if (is_dir_target(&t)) {
		rc = -EISDIR;
	} else if (t.type == T_LATEST) {
		rc = -ELOOP;
	} else if (t.type == T_PENDING) {
		rc = -EBUSY; /* being written by the handle that created it */
	} else if (writing) {
		if (fs->o.ro || fs_immutable(fs, &t))
			rc = -EROFS;
		else if (t.type == T_NODE_NPY)
			rc = fs_npy_open_write(fs, &t, &h->wb); /* replaces the array */
		else if (t.type != T_NODE)
			rc = -EACCES; /* generated JSON */
		else
			rc = fs_wbuf_open(fs, &t, &h->wb);
		if (rc == 0 && (fi->flags & O_TRUNC))
			rc = fs_wbuf_truncate(h->wb, 0);
		h->kind = FH_WRITE;
		h->fixed = UINT64_MAX;
		/* an array leaf keeps its size (NAME.npy replaces it with any) */
		if (rc == 0 && t.type == T_NODE && ckpt_node_kind(t.node) == CKPT_NODE_ARRAY) {
			struct ckpt_err err = { 0, "" };

			if (ckpt_item_leaf_size(t.st->item, t.node, &h->fixed, &err) < 0)
				h->fixed = UINT64_MAX; /* the commit says why */
		}
		if (rc == 0)
			h->path = target_path(fs, &t);
	} else if (t.type == T_NODE || t.type == T_NODE_NPY) {
		struct ckpt_err err = { 0, "" };
		struct ckpt_npy npy;

		h->kind = FH_LEAF;
		h->path = target_path(fs, &t);
		/* the leaf first: its .npy header then needs no look of its own */
		rc = ckpt_item_leaf(t.st->item, t.node, &h->leaf, &err);
		if (rc == 0 && t.type == T_NODE_NPY)
			rc = fs_npy_head(fs, &t, &npy);
		if (rc == 0 && t.type == T_NODE_NPY) {
			h->head_n = npy.data_off;
			h->head = malloc(npy.data_off);
			if (h->head)
				ckpt_npy_header(&npy, h->head, npy.data_off);
			else
				rc = -ENOMEM;
		}
		if (rc < 0) {
			if (err.msg[0])
				fs_log(fs, "open '%s': %s", h->path ? h->path : "?", err.msg);
			rc = rc == -ENOMEM ? rc : -EIO;
		} else {
			/* the leaf lives as long as its state: keep it */
			h->ts = t.ts;
			h->st = t.st;
			/* a reader walking the leaves finds the next ones decoded */
			fs_leaves_ahead(fs, &t);
			t.st = NULL;
			/* a tree that edits may change: this handle reads the state
			 * it opened, past the page cache, which may hold another
			 * state's pages or bytes a writer has not committed */
			fi->direct_io = !fs_immutable(fs, &t);
		}
	} else {
		h->kind = FH_BUF;
		rc = fs_content(fs, &t, &h->buf, &h->n);
		if (rc < 0 && rc != -ENOMEM && t.type == T_ROOT_META) {
			/* content.c returns the code: ask again for the reason */
			struct ckpt_err err = { 0, "" };
			char *p = NULL;
			size_t n;

			if (ckpt_src_root_metadata(fs->src, &p, &n, &err) < 0)
				fs_log(fs, "open 'metadata.json': %s", err.msg[0] ? err.msg : strerror(-rc));
			free(p);
		}
		fi->direct_io = !fs_immutable(fs, &t); /* its size may change */
	}
	if (rc < 0) {
		fs_put(&t);
		fh_free(fs, h);
		reply_err(req, rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	fi->keep_cache = fs_immutable(fs, &t);
	fi->noflush = h->kind != FH_WRITE;
	fs_put(&t);
	fh_link(fs, h);
	if (fuse_reply_open(req, fi) == -ENOENT) /* the opener was interrupted: no RELEASE comes */
		fh_free(fs, h);
}

/* A per-thread buffer for replies (fuse_reply_buf copies it at once); freed
 * when libfuse ends the thread. */
struct tbuf {
	size_t cap;
	char data[];
};

static pthread_key_t tbuf_key;
static pthread_once_t tbuf_once = PTHREAD_ONCE_INIT;

static void tbuf_init(void)
{
	pthread_key_create(&tbuf_key, free);
}

static char *thread_buf(size_t n)
{
	struct tbuf *b;

	pthread_once(&tbuf_once, tbuf_init);
	b = pthread_getspecific(tbuf_key);
	if (!b || b->cap < n) {
		struct tbuf *nb = realloc(b, sizeof(*nb) + (n ? n : 1));

		if (!nb)
			return NULL;
		nb->cap = n ? n : 1;
		pthread_setspecific(tbuf_key, nb);
		b = nb;
	}
	return b->data;
}

/* A read that starts near where the last one ended is sequential: the
 * window after it is decoded ahead on the library's pool, a window at a
 * time, so that the next requests find their chunks decoded.  The kernel
 * sends several reads at once and out of order, hence "near". */
static void read_ahead(struct ckptfs *fs, struct fh *h, uint64_t off, size_t size)
{
	uint64_t last = __atomic_load_n(&h->last_end, __ATOMIC_RELAXED);
	uint64_t until = __atomic_load_n(&h->ra_until, __ATOMIC_RELAXED);
	uint64_t win = fs->o.readahead_bytes, slack = (uint64_t)4 << 20;

	__atomic_store_n(&h->last_end, off + size, __ATOMIC_RELAXED);
	if (!win || off + slack < last || off > last + slack)
		return; /* random access: nothing to guess */
	if (off + size + win / 2 <= until)
		return; /* still well inside the last window */
	if (until < off + size)
		until = off + size;
	ckpt_leaf_readahead(h->leaf, until, off + size + win - until);
	__atomic_store_n(&h->ra_until, off + size + win, __ATOMIC_RELAXED);
}

static void do_read(fuse_req_t req, struct fh *h, size_t size, off_t off);
static char *thread_buf(size_t n);

/* a read of a .npy view that starts in its header: the header's bytes, then the leaf's */
static void read_head(fuse_req_t req, struct fh *h, size_t size, off_t off)
{
	struct ckpt_err err = { 0, "" };
	size_t hn = (size_t)(h->head_n - (uint64_t)off), got;
	char *buf = thread_buf(size);
	int64_t r = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	hn = hn < size ? hn : size;
	memcpy(buf, h->head + off, hn);
	for (got = hn; got < size; got += (size_t)r) {
		r = ckpt_leaf_read(h->leaf, buf + got, got - hn, size - got, &err);
		if (r <= 0)
			break;
	}
	if (r < 0) {
		fs_log(FS(req), "%s", err.msg);
		reply_err(req, (int)r);
		return;
	}
	fuse_reply_buf(req, buf, got);
}

/* Valid replies: fuse_reply_buf, fuse_reply_data, fuse_reply_err.  The
 * handle is held across the reply: the kernel may send RELEASE as soon as
 * it has the reply, before fuse_reply_buf has returned here. */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct ckptfs *fs = FS(req); /* req is gone once replied to */
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	(void)ino;
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
	do_read(req, h, size, off);
	fh_free(fs, h);
}

static void do_read(fuse_req_t req, struct fh *h, size_t size, off_t off)
{
	struct ckptfs *fs = FS(req);
	struct ckpt_err err = { 0, "" };
	char *buf;
	int64_t r;

	if (h->kind == FH_BUF) {
		size_t n = (uint64_t)off >= h->n ? 0 : h->n - (size_t)off;

		fuse_reply_buf(req, h->buf + (n ? off : 0), n < size ? n : size);
		return;
	}
	if (h->kind == FH_LEAF && h->head_n) {
		if ((uint64_t)off < h->head_n) {
			read_head(req, h, size, off);
			return;
		}
		off -= (off_t)h->head_n; /* the rest is the leaf */
	}
	if (h->kind == FH_LEAF) {
		struct ckpt_view v;
		int rc;

		read_ahead(fs, h, (uint64_t)off, size);
		/* the decoded bytes straight from the cache, when they lie in one piece */
		rc = ckpt_leaf_view(h->leaf, (uint64_t)off, size, &v, &err);
		if (rc == 1) {
			fuse_reply_buf(req, v.p, v.n);
			ckpt_view_release(&v);
			return;
		}
		if (rc < 0) {
			fs_log(fs, "read '%s': %s", h->path ? h->path : "?", err.msg);
			reply_err(req, rc);
			return;
		}
	}
	buf = thread_buf(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (h->kind == FH_WRITE) {
		r = fs_wbuf_read(fs, h->wb, buf, size, (uint64_t)off);
	} else {
		r = ckpt_leaf_read(h->leaf, buf, (uint64_t)off, size, &err);
		if (r < 0)
			fs_log(fs, "read '%s': %s", h->path ? h->path : "?", err.msg);
	}
	if (r < 0)
		reply_err(req, (int)r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
}

/* Valid replies: fuse_reply_write, fuse_reply_err */
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *b, size_t n, off_t off,
		     struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	int rc;

	(void)ino;
	if (!h || h->kind != FH_WRITE) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (off < 0 || (uint64_t)off > h->fixed || n > h->fixed - (uint64_t)off) {
		/* fail the write itself: a shell ignores the error of close */
		fs_log(FS(req), "write '%s': an array's size is fixed at %" PRIu64
		       " bytes (its shape times its itemsize); this write ends at %" PRIu64
		       "; write NAME.npy to replace it with another shape",
		       h->path ? h->path : "?", h->fixed, (uint64_t)off + n);
		fuse_reply_err(req, EFBIG);
		return;
	}
	rc = fs_wbuf_write(h->wb, b, n, (uint64_t)off);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_write(req, n);
}

/* Valid replies: fuse_reply_err */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	(void)ino;
	reply_err(req, h && h->kind == FH_WRITE ? fs_wbuf_commit(FS(req), h->wb, false) : 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	op_flush(req, ino, fi);
}

/* Valid replies: fuse_reply_err */
static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fh_free(FS(req), (struct fh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Valid replies: fuse_reply_create, fuse_reply_err */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct ckptfs *fs = FS(req);
	struct fuse_entry_param e;
	struct fh *h;
	fuse_ino_t ino;
	int rc;

	(void)mode;
	if (fs->o.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->refs = 1;
	h->kind = FH_WRITE;
	h->fixed = UINT64_MAX; /* a new .npy: any size */
	rc = fs_create_npy(fs, parent, name, &ino, &h->wb);
	if (rc == 0 && (rc = entry_of(fs, ino, &e)) < 0)
		fs_wbuf_close(fs, h->wb);
	if (rc < 0) {
		free(h);
		reply_err(req, rc);
		return;
	}
	e.attr_timeout = e.entry_timeout = 0;
	fi->fh = (uintptr_t)h;
	fi->noflush = 0;
	fh_link(fs, h);
	if (fs_reply_create(req, &e, fi) == -ENOENT)
		fh_free(fs, h);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

/* what is wrong with a name a tree cannot hold, or NULL */
static const char *name_problem(const char *name)
{
	char canon[CKPT_NAME_MAX + 1], *key = NULL;
	const char *why = NULL;
	size_t n;
	unsigned dup;
	uint64_t hash;
	bool is_hash;

	if (ends_with(name, ".json") || ends_with(name, ".npy"))
		return "names ending in .json or .npy are ckptfs's own (a key that ends so is "
		       "written with %2E for its last dot)";
	if (ckpt_name_unescape(name, &key, &n, &dup, &hash, &is_hash) < 0 || is_hash || dup ||
	    (ckpt_name_escape(key, n, 0, canon), strcmp(canon, name)))
		why = "not the canonical escaped form of a key (% escapes: see docs/mounting.md)";
	free(key);
	return why;
}

/* why a name is refused with EINVAL: logged, naming the file */
static int name_refused(struct ckptfs *fs, const char *op, fuse_ino_t parent, const char *name,
			int rc)
{
	const char *why = name_problem(name);
	char *dir = NULL;
	struct target t;

	if (rc != -EINVAL)
		return rc;
	if (!why)
		why = "a directory cannot move below itself";
	if (fs_resolve(fs, parent, &t) == 0) {
		dir = target_path(fs, &t);
		fs_put(&t);
	}
	fs_log(fs, "%s '%s/%s': %s", op, dir ? dir : "?", name, why);
	free(dir);
	return rc;
}

/* Valid replies: fuse_reply_entry, fuse_reply_err */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct ckptfs *fs = FS(req);
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int rc;

	(void)mode;
	rc = fs->o.ro ? -EROFS : name_refused(fs, "mkdir", parent, name, fs_mkdir(fs, parent, name, &ino));
	if (rc == 0)
		rc = entry_of(fs, ino, &e);
	if (rc < 0)
		reply_err(req, rc);
	else
		fs_reply_entry(req, &e);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ckptfs *fs = FS(req);

	reply_err(req, fs->o.ro ? -EROFS : fs_unlink(fs, parent, name, false));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ckptfs *fs = FS(req);

	reply_err(req, fs->o.ro ? -EROFS : fs_unlink(fs, parent, name, true));
}

static void op_rename(fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn,
		      unsigned int flags)
{
	struct ckptfs *fs = FS(req);

	int rc;

	if (fs->o.ro) {
		reply_err(req, -EROFS);
		return;
	}
	rc = fs_rename(fs, p, n, np, nn, flags);
	if (rc == -EINVAL && (flags & ~RENAME_NOREPLACE))
		fs_log(fs, "rename '%s': only RENAME_NOREPLACE is supported", n);
	else if (name_problem(n))
		name_refused(fs, "rename", p, n, rc);
	else
		name_refused(fs, "rename to", np, nn, rc);
	reply_err(req, rc);
}

/* Valid replies: fuse_reply_attr, fuse_reply_err.  Sizes are edits (a
 * truncate without a handle commits at once); modes, owners and times are
 * accepted and ignored, so cp -p and touch work. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int set,
		       struct fuse_file_info *fi)
{
	struct ckptfs *fs = FS(req);
	struct fh *h = fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
	struct target t;
	struct stat st;
	int rc;

	if (fs->o.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if ((rc = fs_resolve(fs, ino, &t)) < 0) {
		reply_err(req, rc);
		return;
	}
	if (set & FUSE_SET_ATTR_SIZE) {
		if (h && h->kind == FH_WRITE) {
			rc = fs_wbuf_truncate(h->wb, (uint64_t)a->st_size);
		} else if (t.type == T_NODE && !ckpt_node_is_dir(t.node)) {
			struct wbuf *wb;

			rc = fs_wbuf_open(fs, &t, &wb);
			if (rc == 0) {
				rc = fs_wbuf_truncate(wb, (uint64_t)a->st_size);
				if (rc == 0)
					rc = fs_wbuf_commit(fs, wb, true);
				fs_wbuf_close(fs, wb);
			}
		} else {
			rc = is_dir_target(&t) ? -EISDIR : fs_immutable(fs, &t) ? -EROFS : -EACCES;
		}
		if (rc == -EINVAL && t.type == T_NODE) {
			struct ckpt_err err = { 0, "" };
			char *path = target_path(fs, &t);
			uint64_t size = 0;

			ckpt_item_leaf_size(t.st->item, t.node, &size, &err);
			fs_log(fs, "truncate '%s' to %lld bytes: an array's size is fixed at %" PRIu64
			       " bytes (its shape times its itemsize); write NAME.npy to replace it "
			       "with another shape", path ? path : "?", (long long)a->st_size, size);
			free(path);
		}
	}
	fs_put(&t);
	if (rc == 0)
		rc = fs_getattr(fs, ino, &st);
	if (rc < 0)
		reply_err(req, rc);
	else
		fs_reply_attr(req, &st, timeout_of(fs, ino));
}

/* Valid replies: fuse_reply_statfs, fuse_reply_err */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = CKPT_NAME_MAX;
	sv.f_flag = FS(req)->o.ro ? ST_RDONLY : 0;
	fuse_reply_statfs(req, &sv);
}

/* ---------------------------------------------------------------- not supported */

static void refuse(fuse_req_t req, int rw_errno)
{
	fuse_reply_err(req, FS(req)->o.ro ? EROFS : rw_errno);
}

static void op_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, dev_t d)
{
	(void)p, (void)n, (void)m, (void)d;
	refuse(req, EPERM);
}

static void op_symlink(fuse_req_t req, const char *l, fuse_ino_t p, const char *n)
{
	(void)l, (void)p, (void)n;
	refuse(req, EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t i, fuse_ino_t np, const char *nn)
{
	(void)i, (void)np, (void)nn;
	refuse(req, EPERM);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t i, const char *n, const char *v, size_t s, int f)
{
	(void)i, (void)n, (void)v, (void)s, (void)f;
	refuse(req, ENOTSUP);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t i, const char *n)
{
	(void)i, (void)n;
	refuse(req, ENOTSUP);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t i, int m, off_t o, off_t l,
			 struct fuse_file_info *fi)
{
	(void)i, (void)m, (void)o, (void)l, (void)fi;
	refuse(req, EOPNOTSUPP);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct ckptfs *fs = userdata;

	conn->want |= conn->capable & (FUSE_CAP_ASYNC_READ | FUSE_CAP_READDIRPLUS |
				       FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_CACHE_SYMLINKS |
				       FUSE_CAP_PARALLEL_DIROPS);
	if (!fs->o.ro)
		conn->want |= conn->capable & FUSE_CAP_ATOMIC_O_TRUNC;
	/* writes must reach us as they happen: no write-back caching */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
}

const struct fuse_lowlevel_ops ckptfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.fsync = op_fsync,
	.release = op_release,
	.create = op_create,
	.statfs = op_statfs,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
};
