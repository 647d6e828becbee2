/* SPDX-License-Identifier: Apache-2.0 */
/* rstore.c - the bytes fetched from object storage, on local disk (tier 2); see rstore.h. */
#define _GNU_SOURCE
#include "rstore.h"

#include "fsutil.h"
#include "sha256.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct ckpt_rstore {
	int dfd;            /* DIR */
	uint8_t made[32];   /* a bit per objects/XX known to exist */
};

int ckpt_rstore_dirfd(const struct ckpt_rstore *s)
{
	return s->dfd;
}

/* this boot's id ("" where the kernel does not say) */
static void boot_id(char out[64])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, out, 63) : -1;

	if (fd >= 0)
		close(fd);
	out[n > 0 ? n : 0] = 0;
}

/* an object whose data file nobody reads (no flock held) is removed */
static bool remove_if_idle(int sub, const char *data)
{
	char map[128];
	int fd = openat(sub, data, O_RDONLY | O_CLOEXEC);
	bool gone = false;

	if (fd < 0)
		return false;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		/* the map first: a map without its data is cleared when found */
		snprintf(map, sizeof(map), "%.*s.map", (int)(strlen(data) - 5), data);
		unlinkat(sub, map, 0);
		gone = unlinkat(sub, data, 0) == 0;
	}
	close(fd);
	return gone;
}

struct held {
	char rel[96];
	int64_t when;
	uint64_t bytes;
};

static int held_cmp(const void *a, const void *b)
{
	const struct held *x = a, *y = b;

	return x->when < y->when ? -1 : x->when > y->when;
}

/* removes idle objects, least recently used first (ctime: linked into a mirror, written), while over the bound */
static void bring_under(int ofd, uint64_t bound)
{
	struct held *h = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	DIR *top = ckpt_opendir_fd(ofd);

	for (struct dirent *e; top && (e = readdir(top));) {
		int sfd = e->d_name[0] == '.' ? -1 : openat(ofd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = sfd >= 0 ? fdopendir(sfd) : NULL;

		if (sfd >= 0 && !d)
			close(sfd);
		for (struct dirent *f; d && (f = readdir(d));) {
			struct stat st;
			size_t len = strlen(f->d_name);

			if (len < 6 || len > 80 || strlen(e->d_name) != 2 || strcmp(f->d_name + len - 5, ".data") ||
			    fstatat(dirfd(d), f->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    ckpt_grow((void **)&h, &cap, n + 1, sizeof(*h)) < 0)
				continue;
			snprintf(h[n].rel, sizeof(h[n].rel), "%.2s/%.80s", e->d_name, f->d_name);
			h[n].when = (int64_t)st.st_ctim.tv_sec; /* linked into a mirror, fetched into */
			h[n].bytes = (uint64_t)st.st_blocks * 512;
			total += h[n++].bytes;
		}
		if (d)
			closedir(d);
	}
	if (top)
		closedir(top);
	if (h)
		qsort(h, n, sizeof(*h), held_cmp);
	for (size_t i = 0; i < n && total > bound; i++) {
		char sub[3] = { h[i].rel[0], h[i].rel[1], 0 };
		int sfd = openat(ofd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (sfd >= 0 && remove_if_idle(sfd, h[i].rel + 3))
			total -= h[i].bytes;
		if (sfd >= 0)
			close(sfd);
	}
	free(h);
}

int ckpt_rstore_open(struct ckpt_rstore **out, int dirfd, uint64_t bound, struct ckpt_err *err)
{
	struct ckpt_rstore *s = calloc(1, sizeof(*s));
	char now[64], then[64] = "";
	int ofd, fd;
	ssize_t n;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if ((mkdirat(dirfd, "objects", 0700) < 0 && errno != EEXIST) ||
	    (ofd = openat(dirfd, "objects", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		free(s);
		return ckpt_err_set(err, -errno, "cache_dir: cannot make 'objects': %s", ckpt_strerror(-errno));
	}
	boot_id(now);
	fd = openat(ofd, "boot_id", O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, then, sizeof(then) - 1) : -1;
	then[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
	if (strcmp(now, then)) {
		/* filled in another boot (or new): what its maps say is not to be trusted */
		bring_under(ofd, 0);
		fd = openat(ofd, "boot_id", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			ckpt_write_full(fd, now, strlen(now));
			close(fd);
		}
	} else if (bound) {
		bring_under(ofd, bound);
	}
	s->dfd = dirfd;
	close(ofd);
	*out = s;
	return 0;
}

void ckpt_rstore_close(struct ckpt_rstore *s)
{
	free(s);
}

/* opens or makes the file rel (below DIR) of exactly size bytes; *fresh:
 * it was made (or made again), nothing in it */
static int open_sized(int dfd, const char *rel, uint64_t size, bool *fresh)
{
	struct stat st;
	int fd = openat(dfd, rel, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

	*fresh = false;
	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail;
	if ((uint64_t)st.st_size != size) {
		*fresh = true;
		/* new (0 bytes), or not what the name says: made again */
		if (st.st_size) {
			close(fd);
			unlinkat(dfd, rel, 0);
			fd = openat(dfd, rel, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
			if (fd < 0)
				goto fail;
		}
		if (ftruncate(fd, (off_t)size) < 0)
			goto fail;
	}
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -errno;
}

int ckpt_rstore_get(struct ckpt_rstore *s, const char *id, uint64_t size, struct ckpt_robj_file *out)
{
	struct sha256 h;
	char hex[65], rel[96];
	uint64_t pages = size / CKPT_RPAGE + (size % CKPT_RPAGE != 0);
	int mfd, rc;
	bool fresh;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	sha256_init(&h);
	sha256_update(&h, id, strlen(id));
	sha256_hex(&h, hex);
	snprintf(rel, sizeof(rel), "objects/%.2s", hex);
	{
		unsigned b = (unsigned)strtoul(rel + 8, NULL, 16);

		if (!(__atomic_load_n(&s->made[b >> 3], __ATOMIC_RELAXED) & (1u << (b & 7)))) {
			if (mkdirat(s->dfd, rel, 0700) < 0 && errno != EEXIST)
				return -errno;
			__atomic_fetch_or(&s->made[b >> 3], (uint8_t)(1u << (b & 7)), __ATOMIC_RELAXED);
		}
	}
	snprintf(out->rel, sizeof(out->rel), "objects/%.2s/%s.data", hex, hex);
	snprintf(rel, sizeof(rel), "objects/%.2s/%s.map", hex, hex);
	out->map_len = (size_t)(pages / 8 + 1);
	/* the map first: a data file found without its map is made again */
	mfd = open_sized(s->dfd, rel, out->map_len, &fresh);
	if (mfd < 0)
		return mfd;
	out->map = mmap(NULL, out->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	rc = out->map == MAP_FAILED ? -errno : 0;
	close(mfd);
	if (rc < 0) {
		out->map = NULL;
		return rc;
	}
	out->fd = open_sized(s->dfd, out->rel, size, &fresh);
	if (out->fd < 0) {
		rc = out->fd;
		munmap(out->map, out->map_len);
		out->map = NULL;
		return rc;
	}
	if (fresh) /* a map left without its data (a removal cut short) says nothing */
		memset(out->map, 0, out->map_len);
	return 0;
}

void ckpt_rstore_put(struct ckpt_robj_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}
