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
 * work); recorded versions are cached like read-only trees.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <float.h>
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
	uint8_t *head;      /* FH_LEAF of a "<name>.npy": its header, then the leaf */
	uint64_t head_n;
};

static struct ckptfs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
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
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc == 0)
		rc = entry_of(fs, ino, &e);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
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
		fuse_reply_attr(req, &st, timeout_of(fs, ino));
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
			if (plus && entry_of(fs, l->e[i - 2].ino, &e) < 0) {
				memset(&e, 0, sizeof(e)); /* a bare entry: lookup will tell */
				e.attr.st_ino = l->e[i - 2].ino;
				e.attr.st_mode = l->e[i - 2].type;
			}
		}
		if (plus)
			need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, i + 1);
		else
			need = fuse_add_direntry(req, buf + used, size - used, name, &e.attr, i + 1);
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
	struct dir_list *l = (struct dir_list *)(uintptr_t)fi->fh;

	(void)ino;
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

/* after the session: handles whose RELEASE never came (commits what they hold) */
void fs_handles_close(struct ckptfs *fs)
{
	while (fs->handles) {
		struct fh *h = (struct fh *)fs->handles;

		fs->handles = h->next;
		fh_destroy(fs, h);
	}
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
	} else if (t.type == T_NODE || t.type == T_NODE_NPY) {
		struct ckpt_err err = { 0, "" };
		struct ckpt_npy npy;

		h->kind = FH_LEAF;
		rc = t.type == T_NODE_NPY ? fs_npy_head(fs, &t, &npy) : 0;
		if (rc == 0 && t.type == T_NODE_NPY) {
			h->head_n = npy.data_off;
			h->head = malloc(npy.data_off);
			if (h->head)
				ckpt_npy_header(&npy, h->head, npy.data_off);
			else
				rc = -ENOMEM;
		}
		if (rc == 0)
			rc = ckpt_item_leaf(t.st->item, t.node, &h->leaf, &err);
		if (rc < 0) {
			if (err.msg[0])
				fs_log(fs, "%s", err.msg);
			rc = rc == -ENOMEM ? rc : -EIO;
		} else {
			/* the leaf lives as long as its state: keep it */
			h->ts = t.ts;
			h->st = t.st;
			t.st = NULL;
			/* a tree that edits may change: this handle reads the state
			 * it opened, past the page cache, which may hold another
			 * state's pages or bytes a writer has not committed */
			fi->direct_io = !fs_immutable(fs, &t);
		}
	} else {
		h->kind = FH_BUF;
		rc = fs_content(fs, &t, &h->buf, &h->n);
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
			fs_log(fs, "%s", err.msg);
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
			fs_log(fs, "%s", err.msg);
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
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		fh_free(fs, h);
}

/* Valid replies: fuse_reply_entry, fuse_reply_err */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct ckptfs *fs = FS(req);
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int rc;

	(void)mode;
	rc = fs->o.ro ? -EROFS : fs_mkdir(fs, parent, name, &ino);
	if (rc == 0)
		rc = entry_of(fs, ino, &e);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
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

	reply_err(req, fs->o.ro ? -EROFS : fs_rename(fs, p, n, np, nn, flags));
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
	}
	fs_put(&t);
	if (rc == 0)
		rc = fs_getattr(fs, ino, &st);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, timeout_of(fs, ino));
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
