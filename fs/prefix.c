/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prefix.c - inode numbers of a tree mount's checkpoints (forest.c).  Each
 * checkpoint is served by ops.c's handlers with its own struct ckptfs,
 * whose inode numbers are its own; the mount shows them with the
 * checkpoint's prefix (struct ckptfs.ino_prefix).  forest.c strips the
 * prefix from a request and runs the handler with the checkpoint entered
 * for the thread; the handlers reply through the functions below, which
 * put it back.  A checkpoint's step watcher notifies through its parent's
 * session.  Outside a tree mount nothing is entered, the prefix is 0 and
 * these are the fuse_* functions they name.
 */
#include "fs.h"

static _Thread_local struct ckptfs *cur; /* the checkpoint whose handler runs */

void fs_prefix_enter(struct ckptfs *sub)
{
	cur = sub;
}

void fs_prefix_leave(void)
{
	cur = NULL;
}

struct ckptfs *fs_req_fs(fuse_req_t req)
{
	return cur ? cur : fuse_req_userdata(req);
}

static fuse_ino_t out_ino(fuse_ino_t ino)
{
	return cur && ino ? cur->ino_prefix | ino : ino;
}

int fs_reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	struct fuse_entry_param x = *e;

	x.ino = out_ino(x.ino);
	x.attr.st_ino = out_ino(x.attr.st_ino);
	return fuse_reply_entry(req, &x);
}

int fs_reply_create(fuse_req_t req, const struct fuse_entry_param *e, const struct fuse_file_info *fi)
{
	struct fuse_entry_param x = *e;

	x.ino = out_ino(x.ino);
	x.attr.st_ino = out_ino(x.attr.st_ino);
	return fuse_reply_create(req, &x, fi);
}

int fs_reply_attr(fuse_req_t req, const struct stat *attr, double attr_timeout)
{
	struct stat x = *attr;

	x.st_ino = out_ino(x.st_ino);
	return fuse_reply_attr(req, &x, attr_timeout);
}

size_t fs_add_direntry(fuse_req_t req, char *buf, size_t bufsize, const char *name,
		       const struct stat *stbuf, off_t off)
{
	struct stat x = *stbuf;

	x.st_ino = out_ino(x.st_ino);
	return fuse_add_direntry(req, buf, bufsize, name, &x, off);
}

size_t fs_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize, const char *name,
			    const struct fuse_entry_param *e, off_t off)
{
	struct fuse_entry_param x = *e;

	x.ino = out_ino(x.ino);
	x.attr.st_ino = out_ino(x.attr.st_ino);
	return fuse_add_direntry_plus(req, buf, bufsize, name, &x, off);
}

int fs_notify_inval_inode(struct ckptfs *fs, fuse_ino_t ino, off_t off, off_t len)
{
	struct fuse_session *se = fs->parent ? fs->parent->se : fs->se;

	return fuse_lowlevel_notify_inval_inode(se, fs->ino_prefix | ino, off, len);
}

int fs_notify_store(struct ckptfs *fs, fuse_ino_t ino, struct fuse_bufvec *bv)
{
	struct fuse_session *se = fs->parent ? fs->parent->se : fs->se;

	return fuse_lowlevel_notify_store(se, fs->ino_prefix | ino, 0, bv, 0);
}

int fs_notify_inval_entry(struct ckptfs *fs, fuse_ino_t parent, const char *name, size_t namelen)
{
	struct fuse_session *se = fs->parent ? fs->parent->se : fs->se;

	return fuse_lowlevel_notify_inval_entry(se, fs->ino_prefix | parent, name, namelen);
}
