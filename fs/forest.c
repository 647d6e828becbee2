/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forest.c - a tree mount: SOURCE is not a checkpoint but holds checkpoints
 * below it (docs/trees.md).  The top layer, served here, is SOURCE's folders
 * and files as ckpt_tree_scan found them at mount time: folders read-only,
 * regular files read from the underlying file, links as they are.  Each checkpoint found is
 * shown in its place exactly as a mount of it alone shows it: it is opened
 * (on first lookup) as its own ckpt_src in its own struct ckptfs, and its
 * requests go to the ordinary handlers (ckptfs_ops) with that ckptfs.
 *
 * Inode numbers: the top layer's node j is j + 1 (SOURCE is node 0, the
 * FUSE root); checkpoint node j's own inode n is ((j + 1) << PREFIX_SHIFT)
 * | n.  A request for a checkpoint's inode runs its handler with the prefix
 * removed and the checkpoint entered for the thread (prefix.c); the
 * handlers' replies and the step watcher's notifications go through
 * prefix.c, which adds the prefix back.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PREFIX_SHIFT 44 /* a checkpoint's own inodes stay below 2^44 */
#define LOCAL_MASK (((fuse_ino_t)1 << PREFIX_SHIFT) - 1)
#define TOP_TIMEOUT 1.0 /* the files below SOURCE may change */

extern const struct fuse_lowlevel_ops ckptfs_ops;

struct fnode {
	const struct ckpt_tree_ent *ent; /* NULL: SOURCE itself */
	size_t *kids;                    /* node indices, sorted by name */
	size_t n_kids;
	struct ckptfs *sub;              /* a checkpoint, once opened */
	int sub_err;
	fuse_ino_t prefix;
};

struct forest {
	struct ckptfs *top;
	char *source;
	int fd;
	struct ckpt_tree_ent *ents;
	size_t n_ents;
	struct fnode *nodes; /* nodes[0]: SOURCE; nodes[i + 1]: ents[i] */
	size_t n;
	pthread_mutex_t lock; /* opening checkpoints */
};

/* ---------------------------------------------------------------- the checkpoints */

static void sub_free(struct ckptfs *s)
{
	fs_live_stop(s);
	fs_handles_close(s);
	ckpt_step_ents_free(s->scan, s->n_scan);
	fs_destroy(s);
	pthread_mutex_destroy(&s->scan_lock);
	pthread_mutex_destroy(&s->handles_lock);
	free(s);
}

/* A struct ckptfs for the checkpoint at node n, as main.c sets one up for
 * a SOURCE: the mount's settings, its own source, tables and watcher. */
static int sub_open(struct forest *f, struct fnode *n)
{
	struct ckpt_err err = { 0, "" };
	struct ckptfs *s = malloc(sizeof(*s));
	char *path;
	struct stat st;
	int rc;

	if (!s || asprintf(&path, "%s/%s", f->source, n->ent->path) < 0) {
		free(s);
		return -ENOMEM;
	}
	*s = *f->top; /* the settings; what is the mount's own is reset below */
	s->src = NULL;
	s->pages = NULL;
	s->n_pages = 0;
	s->next_ino = INO_FIRST_FREE;
	s->steps = NULL;
	s->n_steps = s->cap_steps = 0;
	s->root_meta_size = 0;
	s->scan = NULL;
	s->n_scan = 0;
	s->scanned = false;
	s->logged = NULL;
	s->n_logged = 0;
	s->dead = NULL;
	s->n_dead = 0;
	s->handles = NULL;
	s->dirs = NULL;
	s->live = false;
	s->live_stop = -1;
	s->forest = NULL;
	s->se = NULL;
	s->parent = f->top; /* its watcher notifies through the mount (prefix.c) */
	s->ino_prefix = n->prefix;
	pthread_mutex_init(&s->handles_lock, NULL);
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->log_lock, NULL);
	pthread_mutex_init(&s->scan_lock, NULL);
	rc = ckpt_src_open(&s->src, path, &s->lib, &err);
	if (rc < 0) {
		fs_log(f->top, "%s", err.msg);
		free(path);
		sub_free(s);
		return rc;
	}
	if (stat(path, &st) == 0) {
		s->uid = st.st_uid;
		s->gid = st.st_gid;
		s->root_time = st.st_mtim;
	}
	if (fs_live_start(s) < 0)
		fs_log(f->top, "cannot watch '%s' for new steps", path);
	free(path);
	__atomic_store_n(&n->sub, s, __ATOMIC_RELEASE);
	return 0;
}

/* the checkpoint of node n, opened on first use */
static struct ckptfs *sub_get(struct forest *f, struct fnode *n, int *rc)
{
	struct ckptfs *s = __atomic_load_n(&n->sub, __ATOMIC_ACQUIRE);

	*rc = 0;
	if (s)
		return s;
	pthread_mutex_lock(&f->lock);
	if (!n->sub && !n->sub_err)
		n->sub_err = sub_open(f, n);
	s = n->sub;
	*rc = s ? 0 : n->sub_err == -ENOMEM ? -ENOMEM : -EIO;
	pthread_mutex_unlock(&f->lock);
	return s;
}

/* ---------------------------------------------------------------- the tree */

static int build(struct forest *f)
{
	f->n = f->n_ents + 1;
	f->nodes = calloc(f->n, sizeof(*f->nodes));
	if (!f->nodes)
		return -ENOMEM;
	for (size_t j = 0; j < f->n; j++) {
		f->nodes[j].ent = j ? &f->ents[j - 1] : NULL;
		f->nodes[j].prefix = (fuse_ino_t)(j + 1) << PREFIX_SHIFT;
	}
	/* an entry's folder comes before it, siblings in name order: count,
	 * then fill each folder's list */
	for (size_t i = 0; i < f->n_ents; i++)
		f->nodes[f->ents[i].parent == SIZE_MAX ? 0 : f->ents[i].parent + 1].n_kids++;
	for (size_t j = 0; j < f->n; j++) {
		if (f->nodes[j].n_kids && !(f->nodes[j].kids = calloc(f->nodes[j].n_kids, sizeof(size_t))))
			return -ENOMEM;
		f->nodes[j].n_kids = 0;
	}
	for (size_t i = 0; i < f->n_ents; i++) {
		struct fnode *p = &f->nodes[f->ents[i].parent == SIZE_MAX ? 0 : f->ents[i].parent + 1];

		p->kids[p->n_kids++] = i + 1;
	}
	return 0;
}

int forest_open(struct ckptfs *fs, const char *source, unsigned depth, size_t max_ckpts,
		const char *msg, struct ckpt_err *err)
{
	struct ckpt_err e2 = { 0, "" };
	struct forest *f;
	size_t n_ckpt = 0;
	int rc;

	if (!depth)
		return ckpt_err_set(err, -EINVAL, "%s", msg);
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->top = fs;
	f->fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	rc = ckpt_tree_scan(source, depth, max_ckpts, &f->ents, &f->n_ents, &n_ckpt, &e2);
	if (rc < 0) {
		ckpt_err_set(err, rc, "%s; %s", msg, e2.msg);
	} else if (!n_ckpt) {
		rc = ckpt_err_set(err, -EINVAL,
				  "%s, and no checkpoint was found within %u level%s below it "
				  "(-o tree_depth)",
				  msg, depth, depth == 1 ? "" : "s");
	} else if (!(f->source = strdup(source))) {
		rc = -ENOMEM;
	} else if ((f->fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = ckpt_err_set(err, -errno, "cannot open '%s': %s", source, strerror(errno));
	} else {
		rc = build(f);
	}
	fs->forest = f;
	if (rc < 0) {
		forest_close(fs);
		return rc;
	}
	return 0;
}

void forest_stop(struct ckptfs *fs)
{
	struct forest *f = fs->forest;

	for (size_t j = 0; f && j < f->n; j++) {
		if (f->nodes[j].sub) {
			fs_live_stop(f->nodes[j].sub);
			fs_handles_close(f->nodes[j].sub);
		}
	}
}

void forest_close(struct ckptfs *fs)
{
	struct forest *f = fs->forest;

	if (!f)
		return;
	forest_stop(fs); /* no watcher may notify once the mount is gone */
	for (size_t j = 0; j < f->n; j++) {
		if (f->nodes[j].sub)
			sub_free(f->nodes[j].sub);
		free(f->nodes[j].kids);
	}
	free(f->nodes);
	ckpt_tree_ents_free(f->ents, f->n_ents);
	if (f->fd >= 0)
		close(f->fd);
	free(f->source);
	pthread_mutex_destroy(&f->lock);
	free(f);
	fs->forest = NULL;
}

/* ---------------------------------------------------------------- requests */

static struct forest *F(fuse_req_t req)
{
	return ((struct ckptfs *)fuse_req_userdata(req))->forest;
}

/*
 * Where inode ino is: 0, the top layer (*j: its node); 1, inside a
 * checkpoint (*j: its node, *local: its own number), with the checkpoint
 * entered for the handler (leave() after); or -errno.
 */
static int route(struct forest *f, fuse_ino_t ino, size_t *j, fuse_ino_t *local)
{
	size_t k = (size_t)(ino >> PREFIX_SHIFT);
	int rc;

	if (k == 0) {
		if (ino < 1 || ino > f->n ||
		    (f->nodes[ino - 1].ent && f->nodes[ino - 1].ent->kind == CKPT_TREE_CKPT))
			return -ESTALE;
		*j = ino - 1;
		return 0;
	}
	if (k > f->n || !f->nodes[k - 1].ent || f->nodes[k - 1].ent->kind != CKPT_TREE_CKPT)
		return -ESTALE;
	*j = k - 1;
	if (!sub_get(f, &f->nodes[k - 1], &rc))
		return rc;
	*local = ino & LOCAL_MASK;
	fs_prefix_enter(f->nodes[k - 1].sub);
	return 1;
}

static void leave(void)
{
	fs_prefix_leave();
}

static int stat_node(struct forest *f, size_t j, struct stat *st)
{
	const struct ckpt_tree_ent *e = f->nodes[j].ent;

	if ((e ? fstatat(f->fd, e->path, st, AT_SYMLINK_NOFOLLOW) : fstat(f->fd, st)) < 0)
		return -errno;
	if (S_ISDIR(st->st_mode) != (!e || e->kind == CKPT_TREE_DIR) ||
	    S_ISLNK(st->st_mode) != (e && e->kind == CKPT_TREE_LINK))
		return -ESTALE; /* replaced since the scan */
	st->st_ino = j + 1;
	st->st_mode &= ~(mode_t)0222; /* read-only, as they are otherwise */
	return 0;
}

/* the entry of top-layer node j: a folder, a file, or a checkpoint's root */
static int entry_of(struct forest *f, size_t j, struct fuse_entry_param *e, bool open_sub)
{
	struct fnode *n = &f->nodes[j];
	int rc;

	memset(e, 0, sizeof(*e));
	e->generation = 1;
	if (n->ent && n->ent->kind == CKPT_TREE_CKPT) {
		struct ckptfs *s = open_sub ? sub_get(f, n, &rc) : __atomic_load_n(&n->sub, __ATOMIC_ACQUIRE);

		if (!s) {
			/* a bare entry: lookup opens it */
			e->attr.st_ino = n->prefix | INO_ROOT;
			e->attr.st_mode = S_IFDIR;
			return open_sub ? rc : 0;
		}
		rc = fs_getattr(s, INO_ROOT, &e->attr);
		if (rc < 0)
			return rc;
		e->ino = e->attr.st_ino = n->prefix | INO_ROOT;
		e->attr_timeout = e->entry_timeout = s->o.root_timeout;
		return 0;
	}
	rc = stat_node(f, j, &e->attr);
	if (rc < 0)
		return rc;
	e->ino = j + 1;
	e->attr_timeout = e->entry_timeout = TOP_TIMEOUT;
	return 0;
}

static void reply_err(fuse_req_t req, int rc)
{
	fuse_reply_err(req, rc == CKPT_ECORRUPT ? EIO : -rc);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct forest *f = F(req);
	struct fuse_entry_param e;
	fuse_ino_t local;
	size_t j;
	int rc = route(f, parent, &j, &local);

	if (rc == 1) {
		ckptfs_ops.lookup(req, local, name);
		leave();
		return;
	}
	for (size_t i = 0; rc == 0 && i < f->nodes[j].n_kids; i++) {
		size_t k = f->nodes[j].kids[i];

		if (!strcmp(f->nodes[k].ent->name, name)) {
			rc = entry_of(f, k, &e, true);
			if (rc == 0)
				fuse_reply_entry(req, &e);
			else
				reply_err(req, rc);
			return;
		}
	}
	reply_err(req, rc < 0 ? rc : -ENOENT);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct forest *f = F(req);
	struct stat st;
	fuse_ino_t local;
	size_t j;
	int rc = route(f, ino, &j, &local);

	if (rc == 1) {
		ckptfs_ops.getattr(req, local, fi);
		leave();
		return;
	}
	if (rc == 0)
		rc = stat_node(f, j, &st);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, TOP_TIMEOUT);
}

/* a link below SOURCE: its target as it is */
static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct forest *f = F(req);
	char buf[4097];
	fuse_ino_t local;
	ssize_t n;
	size_t j;
	int rc = route(f, ino, &j, &local);

	if (rc == 1) {
		ckptfs_ops.readlink(req, local);
		leave();
		return;
	}
	if (rc == 0 && (!f->nodes[j].ent || f->nodes[j].ent->kind != CKPT_TREE_LINK))
		rc = -EINVAL;
	if (rc == 0) {
		n = readlinkat(f->fd, f->nodes[j].ent->path, buf, sizeof(buf) - 1);
		if (n < 0)
			rc = -errno;
		else if ((size_t)n >= sizeof(buf) - 1)
			rc = -ENAMETOOLONG;
		else
			buf[n] = 0;
	}
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_readlink(req, buf);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct forest *f = F(req);
	fuse_ino_t local;
	size_t j;
	int rc = route(f, ino, &j, &local);

	if (rc == 1) {
		ckptfs_ops.opendir(req, local, fi);
		leave();
		return;
	}
	if (rc == 0 && f->nodes[j].ent && f->nodes[j].ent->kind != CKPT_TREE_DIR)
		rc = -ENOTDIR;
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	fi->fh = 0; /* the listing is the scan's */
	fuse_reply_open(req, fi);
}

static void readdir_top(fuse_req_t req, struct forest *f, size_t j, size_t size, off_t off, bool plus)
{
	struct fnode *n = &f->nodes[j];
	char *buf = malloc(size ? size : 1);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* offsets: 1 ".", 2 "..", then entry i at i + 3 */
	for (off_t i = off; i >= 0 && i < (off_t)n->n_kids + 2; i++) {
		size_t k = i < 2 ? j : n->kids[i - 2];
		const char *name = i == 0 ? "." : i == 1 ? ".." : f->nodes[k].ent->name;
		struct fuse_entry_param e;
		size_t need;

		if (i < 2 || entry_of(f, k, &e, false) < 0) {
			memset(&e, 0, sizeof(e)); /* a bare entry: lookup will tell */
			e.attr.st_ino = i < 2 ? j + 1 : f->nodes[k].ent->kind == CKPT_TREE_CKPT
							 ? f->nodes[k].prefix | INO_ROOT : k + 1;
			e.attr.st_mode = i < 2 ? S_IFDIR
					 : f->nodes[k].ent->kind == CKPT_TREE_FILE ? S_IFREG
					 : f->nodes[k].ent->kind == CKPT_TREE_LINK ? S_IFLNK : S_IFDIR;
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

static void readdir_any(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi, bool plus)
{
	struct forest *f = F(req);
	fuse_ino_t local;
	size_t j;
	int rc = route(f, ino, &j, &local);

	if (rc == 1) {
		if (plus)
			ckptfs_ops.readdirplus(req, local, size, off, fi);
		else
			ckptfs_ops.readdir(req, local, size, off, fi);
		leave();
		return;
	}
	if (rc < 0)
		reply_err(req, rc);
	else
		readdir_top(req, f, j, size, off, plus);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_any(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_any(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_ino_t local;
	size_t j;

	if (route(F(req), ino, &j, &local) == 1) {
		ckptfs_ops.releasedir(req, local, fi);
		leave();
		return;
	}
	fuse_reply_err(req, 0);
}

/* a file below SOURCE: read from the file itself */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct forest *f = F(req);
	fuse_ino_t local;
	size_t j;
	int rc = route(f, ino, &j, &local), fd;

	if (rc == 1) {
		ckptfs_ops.open(req, local, fi);
		leave();
		return;
	}
	if (rc == 0 && (!f->nodes[j].ent || f->nodes[j].ent->kind != CKPT_TREE_FILE))
		rc = -EISDIR;
	if (rc == 0 && ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)))
		rc = -EROFS;
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	fd = openat(f->fd, f->nodes[j].ent->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		fs_log(f->top, "'%s/%s': %s", f->source, f->nodes[j].ent->path, strerror(-rc));
		reply_err(req, rc);
		return;
	}
	fi->fh = (uint64_t)fd;
	if (fuse_reply_open(req, fi) == -ENOENT)
		close(fd); /* the opener was interrupted: no RELEASE comes */
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	fuse_ino_t local;
	size_t j;

	if (route(F(req), ino, &j, &local) == 1) {
		ckptfs_ops.read(req, local, size, off, fi);
		leave();
		return;
	}
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = (int)fi->fh;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_ino_t local;
	size_t j;

	if (route(F(req), ino, &j, &local) == 1) {
		ckptfs_ops.release(req, local, fi);
		leave();
		return;
	}
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_ino_t local;
	size_t j;

	if (route(F(req), ino, &j, &local) == 1) {
		ckptfs_ops.flush(req, local, fi);
		leave();
		return;
	}
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_ino_t local;
	size_t j;

	if (route(F(req), ino, &j, &local) == 1) {
		ckptfs_ops.fsync(req, local, datasync, fi);
		leave();
		return;
	}
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	ckptfs_ops.statfs(req, INO_ROOT); /* the mount's settings, no checkpoint's */
}

/* Requests that change something: inside one checkpoint its handler
 * decides; the top layer is read-only (EROFS) */
#define EDIT(req, ino, call)                                              \
	do {                                                              \
		fuse_ino_t local;                                         \
		size_t j;                                                 \
		int rc_ = route(F(req), ino, &j, &local);                 \
		if (rc_ == 1) {                                           \
			call;                                             \
			leave();                                          \
			return;                                           \
		}                                                         \
		reply_err(req, rc_ < 0 ? rc_ : -EROFS);                   \
	} while (0)

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *b, size_t n, off_t off,
		     struct fuse_file_info *fi)
{
	EDIT(req, ino, ckptfs_ops.write(req, local, b, n, off, fi));
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	EDIT(req, parent, ckptfs_ops.create(req, local, name, mode, fi));
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int set,
		       struct fuse_file_info *fi)
{
	EDIT(req, ino, ckptfs_ops.setattr(req, local, a, set, fi));
}

static void op_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, dev_t d)
{
	EDIT(req, p, ckptfs_ops.mknod(req, local, n, m, d));
}

static void op_mkdir(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m)
{
	EDIT(req, p, ckptfs_ops.mkdir(req, local, n, m));
}

static void op_unlink(fuse_req_t req, fuse_ino_t p, const char *n)
{
	EDIT(req, p, ckptfs_ops.unlink(req, local, n));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t p, const char *n)
{
	EDIT(req, p, ckptfs_ops.rmdir(req, local, n));
}

static void op_symlink(fuse_req_t req, const char *l, fuse_ino_t p, const char *n)
{
	EDIT(req, p, ckptfs_ops.symlink(req, l, local, n));
}

static void op_setxattr(fuse_req_t req, fuse_ino_t i, const char *n, const char *v, size_t s, int fl)
{
	EDIT(req, i, ckptfs_ops.setxattr(req, local, n, v, s, fl));
}

static void op_removexattr(fuse_req_t req, fuse_ino_t i, const char *n)
{
	EDIT(req, i, ckptfs_ops.removexattr(req, local, n));
}

static void op_fallocate(fuse_req_t req, fuse_ino_t i, int m, off_t o, off_t l,
			 struct fuse_file_info *fi)
{
	EDIT(req, i, ckptfs_ops.fallocate(req, local, m, o, l, fi));
}

/* two inodes: both in the same checkpoint, else EXDEV (or EROFS above) */
static bool same_place(fuse_req_t req, fuse_ino_t a, fuse_ino_t b)
{
	if ((a >> PREFIX_SHIFT) == (b >> PREFIX_SHIFT))
		return true;
	fuse_reply_err(req, (a >> PREFIX_SHIFT) && (b >> PREFIX_SHIFT) ? EXDEV : EROFS);
	return false;
}

static void op_rename(fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn,
		      unsigned flags)
{
	if (same_place(req, p, np))
		EDIT(req, p, ckptfs_ops.rename(req, local, n, np & LOCAL_MASK, nn, flags));
}

static void op_link(fuse_req_t req, fuse_ino_t i, fuse_ino_t np, const char *nn)
{
	if (same_place(req, i, np))
		EDIT(req, i, ckptfs_ops.link(req, local, np & LOCAL_MASK, nn));
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	ckptfs_ops.init(userdata, conn);
}

const struct fuse_lowlevel_ops forest_ops = {
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
