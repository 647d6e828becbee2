/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wbuf.c - write buffers: the bytes written to a leaf through the mount,
 * kept in an unlinked sparse file with the sorted extents that differ from
 * the leaf, shared by every handle open on the leaf (write.c commits them).
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

/* ---------------------------------------------------------------- write buffers */

static int tmpfile_fd(struct ckptfs *fs)
{
	char path[4200];
	int fd = open(fs->tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/ckptfs-XXXXXX", fs->tmpdir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

int fs_wbuf_new(struct ckptfs *fs, struct tslot *ts, struct wbuf **out)
{
	struct wbuf *wb = calloc(1, sizeof(*wb));
	int fd;

	if (!wb)
		return -ENOMEM;
	fd = tmpfile_fd(fs);
	if (fd < 0) {
		fs_log(fs, "cannot create a write buffer in %s: %s", fs->tmpdir, strerror(-fd));
		free(wb);
		return fd;
	}
	wb->fd = fd;
	wb->ts = ts;
	wb->refs = 1;
	pthread_mutex_init(&wb->lock, NULL);
	*out = wb;
	return 0;
}

void fs_wbuf_free(struct wbuf *wb)
{
	if (wb->st)
		fs_state_put(wb->ts, wb->st);
	close(wb->fd);
	pthread_mutex_destroy(&wb->lock);
	free(wb->ext);
	free(wb->key);
	free(wb);
}

int fs_wbuf_rebase(struct ckptfs *fs, struct wbuf *wb)
{
	struct ckpt_err err = { 0, "" };
	const struct ckpt_node *n;
	struct istate *st;
	int rc = fs_state_get(fs, wb->ts, &st);

	if (rc < 0)
		return rc;
	if (wb->st)
		fs_state_put(wb->ts, wb->st);
	wb->st = st;
	wb->leaf = NULL;
	wb->n_ext = 0;
	wb->wrote = false;
	wb->base_size = wb->cut = 0;
	__atomic_store_n(&wb->size, 0, __ATOMIC_RELAXED);
	n = fs_node_by_key(st->item, wb->key);
	if (!n)
		return -ENOENT;
	rc = ckpt_item_leaf(st->item, n, &wb->leaf, &err);
	if (rc < 0) {
		fs_log(fs, "%s", err.msg);
		return -EIO;
	}
	wb->base_size = wb->cut = ckpt_leaf_size(wb->leaf);
	__atomic_store_n(&wb->size, wb->base_size, __ATOMIC_RELAXED);
	if (ftruncate(wb->fd, 0) < 0 || ftruncate(wb->fd, (off_t)wb->size) < 0)
		return -errno;
	return 0;
}

int fs_wbuf_open(struct ckptfs *fs, struct target *t, struct wbuf **out)
{
	struct tslot *ts = t->ts;
	struct wbuf *wb = NULL, **nw;
	enum ckpt_node_kind k = ckpt_node_kind(t->node);
	int rc;

	if (!fs_editable(fs, t))
		return fs->o.ro ? -EROFS : -EACCES;
	if (k != CKPT_NODE_ARRAY && k != CKPT_NODE_STRING)
		return -EACCES; /* None leaves and raw files take no bytes */
	pthread_mutex_lock(&ts->lock);
	for (size_t i = 0; i < ts->n_wbufs && !wb; i++)
		if (!strcmp(ts->wbufs[i]->key, t->key))
			wb = ts->wbufs[i];
	if (wb) {
		wb->refs++;
		pthread_mutex_unlock(&ts->lock);
		*out = wb;
		return 0;
	}
	pthread_mutex_unlock(&ts->lock);
	if ((rc = fs_wbuf_new(fs, ts, &wb)) < 0)
		return rc;
	wb->key = strdup(t->key);
	if (!wb->key || (rc = fs_wbuf_rebase(fs, wb)) < 0) {
		fs_wbuf_free(wb);
		return wb->key ? rc : -ENOMEM;
	}
	pthread_mutex_lock(&ts->lock);
	for (size_t i = 0; i < ts->n_wbufs; i++) {
		if (!strcmp(ts->wbufs[i]->key, t->key)) {
			/* opened meanwhile by another thread: share that one */
			struct wbuf *other = ts->wbufs[i];

			other->refs++;
			pthread_mutex_unlock(&ts->lock);
			fs_wbuf_free(wb);
			*out = other;
			return 0;
		}
	}
	nw = realloc(ts->wbufs, (ts->n_wbufs + 1) * sizeof(*nw));
	if (!nw) {
		pthread_mutex_unlock(&ts->lock);
		fs_wbuf_free(wb);
		return -ENOMEM;
	}
	ts->wbufs = nw;
	ts->wbufs[ts->n_wbufs++] = wb;
	pthread_mutex_unlock(&ts->lock);
	*out = wb;
	return 0;
}

/* adds [off, off+len) to the written extents; caller holds wb->lock */
static int add_extent(struct wbuf *wb, uint64_t off, uint64_t len)
{
	size_t lo = 0, hi = wb->n_ext, i, j;
	uint64_t end = off + len;

	if (!len)
		return 0;
	/* first extent that ends at or after off */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (wb->ext[mid].off + wb->ext[mid].len < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	i = lo;
	/* merge every extent that touches [off, end) */
	for (j = i; j < wb->n_ext && wb->ext[j].off <= end; j++) {
		if (wb->ext[j].off < off)
			off = wb->ext[j].off;
		if (wb->ext[j].off + wb->ext[j].len > end)
			end = wb->ext[j].off + wb->ext[j].len;
	}
	if (j == i) {
		if (wb->n_ext == wb->cap_ext) {
			size_t nc = wb->cap_ext ? wb->cap_ext * 2 : 16;
			struct ext *ne = realloc(wb->ext, nc * sizeof(*ne));

			if (!ne)
				return -ENOMEM;
			wb->ext = ne;
			wb->cap_ext = nc;
		}
		memmove(wb->ext + i + 1, wb->ext + i, (wb->n_ext - i) * sizeof(*wb->ext));
		wb->n_ext++;
	} else if (j > i + 1) {
		memmove(wb->ext + i + 1, wb->ext + j, (wb->n_ext - j) * sizeof(*wb->ext));
		wb->n_ext -= j - i - 1;
	}
	wb->ext[i].off = off;
	wb->ext[i].len = end - off;
	return 0;
}

static int pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const char *c = p;

	while (n) {
		ssize_t w = pwrite(fd, c, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* reads [off, off+n) of fd, zeros past its end */
int fs_wbuf_pread_zero(int fd, void *p, size_t n, uint64_t off)
{
	char *c = p;

	while (n) {
		ssize_t r = pread(fd, c, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {
			memset(c, 0, n);
			return 0;
		}
		c += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int fs_wbuf_write(struct wbuf *wb, const void *p, size_t n, uint64_t off)
{
	uint64_t end;
	int rc;

	if (__builtin_add_overflow(off, (uint64_t)n, &end) || end > (uint64_t)INT64_MAX)
		return -EFBIG;
	pthread_mutex_lock(&wb->lock);
	rc = pwrite_all(wb->fd, p, n, off);
	if (rc == 0 && off < wb->cut)
		rc = add_extent(wb, off, (end < wb->cut ? end : wb->cut) - off);
	if (rc == 0 && end > wb->size)
		__atomic_store_n(&wb->size, end, __ATOMIC_RELAXED);
	wb->wrote = wb->wrote || rc == 0;
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

int fs_wbuf_truncate(struct wbuf *wb, uint64_t size)
{
	int rc = 0;

	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	pthread_mutex_lock(&wb->lock);
	if (!wb->pend && size && size != wb->base_size && wb->leaf &&
	    ckpt_node_kind(fs_node_by_key(wb->st->item, wb->key)) == CKPT_NODE_ARRAY) {
		/* an array's size is its shape's: only emptying it to rewrite it
		 * whole makes sense */
		pthread_mutex_unlock(&wb->lock);
		return -EINVAL;
	}
	if (size < wb->cut) {
		wb->cut = size;
		while (wb->n_ext && wb->ext[wb->n_ext - 1].off >= size)
			wb->n_ext--;
		if (wb->n_ext && wb->ext[wb->n_ext - 1].off + wb->ext[wb->n_ext - 1].len > size)
			wb->ext[wb->n_ext - 1].len = size - wb->ext[wb->n_ext - 1].off;
	}
	/* past the cut the file holds every byte: cut it there too, so that
	 * growing again reads zeros */
	if (ftruncate(wb->fd, (off_t)size) < 0)
		rc = -errno;
	else
		__atomic_store_n(&wb->size, size, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

uint64_t fs_wbuf_size(struct wbuf *wb)
{
	return __atomic_load_n(&wb->size, __ATOMIC_RELAXED);
}

/* caller holds wb->lock */
int64_t fs_wbuf_read_locked(struct ckptfs *fs, struct wbuf *wb, void *p, size_t n, uint64_t off)
{
	struct ckpt_err err = { 0, "" };
	uint8_t *out = p;
	size_t done = 0;

	if (off >= wb->size)
		return 0;
	if (n > wb->size - off)
		n = (size_t)(wb->size - off);
	while (done < n) {
		uint64_t pos = off + done, lim = off + n;
		bool in_fd = pos >= wb->cut;
		int rc;

		if (!in_fd) {
			/* the extent holding pos, or the next one */
			size_t lo = 0, hi = wb->n_ext;

			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;

				if (wb->ext[mid].off + wb->ext[mid].len <= pos)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < wb->n_ext && wb->ext[lo].off <= pos) {
				in_fd = true;
				if (wb->ext[lo].off + wb->ext[lo].len < lim)
					lim = wb->ext[lo].off + wb->ext[lo].len;
			} else {
				if (lo < wb->n_ext && wb->ext[lo].off < lim)
					lim = wb->ext[lo].off;
				if (wb->cut < lim)
					lim = wb->cut;
			}
		}
		if (in_fd) {
			rc = fs_wbuf_pread_zero(wb->fd, out + done, (size_t)(lim - pos), pos);
			if (rc < 0)
				return rc;
		} else {
			int64_t r = ckpt_leaf_read(wb->leaf, out + done, pos, (size_t)(lim - pos), &err);

			if (r < 0) {
				fs_log(fs, "%s", err.msg);
				return r;
			}
			if ((uint64_t)r < lim - pos)
				memset(out + done + r, 0, (size_t)(lim - pos - (uint64_t)r));
		}
		done += (size_t)(lim - pos);
	}
	return (int64_t)n;
}

int64_t fs_wbuf_read(struct ckptfs *fs, struct wbuf *wb, void *p, size_t n, uint64_t off)
{
	int64_t r;

	pthread_mutex_lock(&wb->lock);
	r = fs_wbuf_read_locked(fs, wb, p, n, off);
	pthread_mutex_unlock(&wb->lock);
	return r;
}

bool fs_wbuf_size_of(struct tslot *ts, const char *key, uint64_t *size)
{
	struct wbuf *wb = NULL;

	pthread_mutex_lock(&ts->lock);
	for (size_t i = 0; i < ts->n_wbufs && !wb; i++)
		if (!strcmp(ts->wbufs[i]->key, key))
			wb = ts->wbufs[i];
	if (wb)
		*size = fs_wbuf_size(wb);
	pthread_mutex_unlock(&ts->lock);
	return wb != NULL;
}

