/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.c - the FUSE low-level handlers: each turns a request into calls to
 * tree.c and sends exactly one reply.  This mount is read-only: every
 * modifying operation answers EROFS.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

#define FOREVER 1e9 /* seconds: committed steps never change */

struct fh {
	enum { FH_LEAF, FH_BUF } kind;
	struct ckpt_leaf *leaf;
	char *buf;
	size_t n;
};

static struct ckptfs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static double timeout_of(struct ckptfs *fs, fuse_ino_t ino)
{
	struct target t;

	if (fs_resolve(fs, ino, &t) < 0 || !fs_immutable(&t))
		return fs->o.root_timeout;
	return FOREVER;
}

static int reply_err(fuse_req_t req, int rc)
{
	/* the library's corruption code is EUCLEAN; users see EIO */
	int e = rc < 0 ? -rc : rc;

	if (e == EUCLEAN)
		e = EIO;
	return fuse_reply_err(req, e);
}

/* Valid replies: fuse_reply_entry, fuse_reply_err */
static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ckptfs *fs = FS(req);
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = fs_lookup(fs, parent, name, &ino);
	if (rc == -ENOENT) {
		/* a negative entry: the kernel remembers the miss */
		e.entry_timeout = timeout_of(fs, parent);
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc == 0)
		rc = fs_getattr(fs, ino, &e.attr);
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	e.ino = ino;
	e.generation = 1;
	e.attr_timeout = e.entry_timeout = timeout_of(fs, ino);
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
	if (fs_resolve(fs, ino, &t) == 0 && fs_immutable(&t)) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
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
	double tmo = timeout_of(fs, ino);

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
			if (plus && fs_getattr(fs, l->e[i - 2].ino, &e.attr) == 0) {
				e.ino = l->e[i - 2].ino;
				e.generation = 1;
				e.attr_timeout = e.entry_timeout = timeout_of(fs, e.ino);
			}
		}
		(void)tmo;
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

/* Valid replies: fuse_reply_open, fuse_reply_err */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ckptfs *fs = FS(req);
	struct target t;
	struct fh *h;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if ((rc = fs_resolve(fs, ino, &t)) < 0) {
		reply_err(req, rc);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (t.type == T_NODE && !ckpt_node_is_dir(t.node)) {
		struct ckpt_err err = { 0, "" };

		h->kind = FH_LEAF;
		rc = ckpt_item_leaf(t.item->item, t.node, &h->leaf, &err);
		if (rc < 0) {
			fs_log(fs, "%s", err.msg);
			rc = -EIO;
		}
	} else if (t.type == T_NODE || t.type == T_ITEM || t.type == T_STEP || t.type == T_ROOT) {
		rc = -EISDIR;
	} else if (t.type == T_LATEST) {
		rc = -ELOOP;
	} else {
		h->kind = FH_BUF;
		rc = fs_content(fs, &t, &h->buf, &h->n);
	}
	if (rc < 0) {
		free(h->buf);
		free(h);
		reply_err(req, rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	fi->keep_cache = fs_immutable(&t);
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

/* Valid replies: fuse_reply_buf, fuse_reply_data, fuse_reply_err */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct ckptfs *fs = FS(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	struct ckpt_err err = { 0, "" };
	char *buf;
	int64_t r;

	(void)ino;
	if (h->kind == FH_BUF) {
		size_t n = (uint64_t)off >= h->n ? 0 : h->n - (size_t)off;

		fuse_reply_buf(req, h->buf + (n ? off : 0), n < size ? n : size);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = ckpt_leaf_read(h->leaf, buf, (uint64_t)off, size, &err);
	if (r < 0) {
		fs_log(fs, "%s", err.msg);
		reply_err(req, (int)r);
	} else {
		fuse_reply_buf(req, buf, (size_t)r);
	}
	free(buf);
}

/* Valid replies: fuse_reply_err */
static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	(void)ino;
	if (h) {
		free(h->buf);
		free(h);
	}
	fuse_reply_err(req, 0);
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
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

/* ---------------------------------------------------------------- read-only */

static void erofs_entry(fuse_req_t req)
{
	fuse_reply_err(req, EROFS);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int set,
		       struct fuse_file_info *fi)
{
	(void)ino, (void)a, (void)set, (void)fi;
	erofs_entry(req);
}

static void op_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, dev_t d)
{
	(void)p, (void)n, (void)m, (void)d;
	erofs_entry(req);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m)
{
	(void)p, (void)n, (void)m;
	erofs_entry(req);
}

static void op_unlink(fuse_req_t req, fuse_ino_t p, const char *n)
{
	(void)p, (void)n;
	erofs_entry(req);
}

static void op_symlink(fuse_req_t req, const char *l, fuse_ino_t p, const char *n)
{
	(void)l, (void)p, (void)n;
	erofs_entry(req);
}

static void op_rename(fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn,
		      unsigned int f)
{
	(void)p, (void)n, (void)np, (void)nn, (void)f;
	erofs_entry(req);
}

static void op_link(fuse_req_t req, fuse_ino_t i, fuse_ino_t np, const char *nn)
{
	(void)i, (void)np, (void)nn;
	erofs_entry(req);
}

static void op_create(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
		      struct fuse_file_info *fi)
{
	(void)p, (void)n, (void)m, (void)fi;
	erofs_entry(req);
}

static void op_write(fuse_req_t req, fuse_ino_t i, const char *b, size_t s, off_t o,
		     struct fuse_file_info *fi)
{
	(void)i, (void)b, (void)s, (void)o, (void)fi;
	erofs_entry(req);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t i, const char *n, const char *v, size_t s, int f)
{
	(void)i, (void)n, (void)v, (void)s, (void)f;
	erofs_entry(req);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t i, const char *n)
{
	(void)i, (void)n;
	erofs_entry(req);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t i, int m, off_t o, off_t l,
			 struct fuse_file_info *fi)
{
	(void)i, (void)m, (void)o, (void)l, (void)fi;
	erofs_entry(req);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want |= conn->capable & (FUSE_CAP_ASYNC_READ | FUSE_CAP_READDIRPLUS |
				       FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_CACHE_SYMLINKS |
				       FUSE_CAP_PARALLEL_DIROPS);
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
	.release = op_release,
	.statfs = op_statfs,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.create = op_create,
	.write = op_write,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
};
