/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wbuf.h - the write buffer of a leaf being written through the mount
 * (wbuf.c), shared by write.c, which commits it.  Private to fs/.
 */
#ifndef CKPTFS_WBUF_H
#define CKPTFS_WBUF_H

#include "fs.h"

struct ext {
	uint64_t off, len;
};

struct wbuf {
	struct tslot *ts;
	char *key;             /* the leaf's path key; NULL for a pending NAME.npy */
	struct pending *pend;
	pthread_mutex_t lock;
	unsigned refs;         /* open handles */
	int fd;                /* the written bytes, at their offsets */
	struct istate *st;     /* the state the unwritten bytes come from */
	struct ckpt_leaf *leaf;
	uint64_t base_size;    /* the leaf's size */
	uint64_t size;         /* the file's size now */
	uint64_t cut;          /* every byte at or past cut is in fd */
	struct ext *ext;       /* written extents below cut, sorted, disjoint */
	size_t n_ext, cap_ext;
	bool wrote;            /* bytes written since the last commit */
	int err;               /* a refused commit: every later flush reports it */
};

/* a new, empty write buffer of ts (an unlinked file in fs->tmpdir) */
int fs_wbuf_new(struct ckptfs *fs, struct tslot *ts, struct wbuf **out);
void fs_wbuf_free(struct wbuf *wb);
/* Points wb at the leaf's current bytes and forgets what was written. */
int fs_wbuf_rebase(struct ckptfs *fs, struct wbuf *wb);
/* reads [off, off+n) of fd, zeros past its end */
int fs_wbuf_pread_zero(int fd, void *p, size_t n, uint64_t off);
/* the leaf's bytes as written so far; caller holds wb->lock */
int64_t fs_wbuf_read_locked(struct ckptfs *fs, struct wbuf *wb, void *p, size_t n, uint64_t off);

#endif
