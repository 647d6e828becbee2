/* SPDX-License-Identifier: Apache-2.0 */
/* store.c - OCDBT or directory key-value access (tier 3); see store.h. */
#include "store.h"

#include "fsutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ckpt_store_get(const struct ckpt_store *s, const char *key, struct ckpt_blob *b,
		   struct ckpt_err *err)
{
	memset(b, 0, sizeof(*b));
	b->fd = -1;
	snprintf(b->key, sizeof(b->key), "%s", key);
	if (s->db) {
		const struct ckpt_ocdbt_value *v = ckpt_ocdbt_find(s->db, key, strlen(key));
		int fd;

		if (!v)
			return -ENOENT;
		b->len = v->len;
		if (v->inline_p) {
			b->mem = v->inline_p;
			return 0;
		}
		fd = ckpt_ocdbt_file_fd(s->db, v->file, err);
		if (fd < 0)
			return fd == -ENOENT ? CKPT_ECORRUPT : fd;
		b->fd = fd;
		b->off = v->offset;
		return 0;
	}
	{
		struct stat st;
		int fd = ckpt_open_beneath(s->dirfd, key, O_RDONLY, 0);

		if (fd == -ENOENT || fd == -ENOTDIR)
			return -ENOENT;
		if (fd < 0)
			return ckpt_err_set(err, fd == -EXDEV ? CKPT_ECORRUPT : fd,
					    "'%s/%s': cannot open: %s", s->label, key,
					    fd == -EXDEV ? "path leaves the item directory"
							 : ckpt_strerror(fd));
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return ckpt_err_set(err, CKPT_ECORRUPT, "'%s/%s': not a regular file",
					    s->label, key);
		}
		b->fd = fd;
		b->own_fd = true;
		b->len = (uint64_t)st.st_size;
		return 0;
	}
}

int ckpt_blob_read(const struct ckpt_store *s, const struct ckpt_blob *b, uint64_t off, size_t n,
		   void *buf, struct ckpt_err *err)
{
	int rc;

	if (off > b->len || n > b->len - off)
		return -EINVAL;
	if (b->mem) {
		memcpy(buf, b->mem + off, n);
		return 0;
	}
	rc = ckpt_pread_full(b->fd, buf, n, b->off + off);
	if (rc < 0)
		return ckpt_err_set(err, rc, "'%s': cannot read '%s' (%zu bytes at %llu): %s",
				    s->label, b->key, n, (unsigned long long)(b->off + off),
				    rc == CKPT_ECORRUPT ? "data file too short" : ckpt_strerror(rc));
	return 0;
}

int ckpt_blob_load(const struct ckpt_store *s, const struct ckpt_blob *b, size_t max,
		   uint8_t **out, struct ckpt_err *err)
{
	uint8_t *p;
	int rc;

	*out = NULL;
	if (b->len > max)
		return ckpt_err_set(err, -EFBIG, "'%s': object '%s' of %llu bytes exceeds the limit %zu",
				    s->label, b->key, (unsigned long long)b->len, max);
	p = malloc(b->len ? (size_t)b->len : 1);
	if (!p)
		return -ENOMEM;
	rc = ckpt_blob_read(s, b, 0, (size_t)b->len, p, err);
	if (rc < 0) {
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void ckpt_blob_willneed(const struct ckpt_blob *b, bool wait)
{
	ckpt_blob_willneed_range(b, 0, b->len, wait);
}

void ckpt_blob_willneed_range(const struct ckpt_blob *b, uint64_t off, uint64_t n, bool wait)
{
	if (!b->mem && b->fd >= 0 && off < b->len)
		ckpt_src_willneed(b->fd, b->off + off, CKPT_MIN(n, b->len - off), wait);
}

void ckpt_blob_release(struct ckpt_blob *b)
{
	if (b->own_fd && b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->own_fd = false;
}
