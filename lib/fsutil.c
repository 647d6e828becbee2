/* SPDX-License-Identifier: Apache-2.0 */
/* fsutil.c - confined file access (tier 2); see fsutil.h. */
#define _GNU_SOURCE
#include "fsutil.h"

#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

bool ckpt_path_is_clean(const char *path, size_t n)
{
	size_t i = 0;

	if (n == 0 || path[0] == '/' || memchr(path, 0, n))
		return false;
	while (i < n) {
		size_t j = i;

		while (j < n && path[j] != '/')
			j++;
		if (j == i || (j - i == 1 && path[i] == '.') ||
		    (j - i == 2 && path[i] == '.' && path[i + 1] == '.'))
			return false;
		i = j + 1;
		if (j + 1 == n) /* trailing slash */
			return false;
	}
	return true;
}

static int have_openat2 = 1;

/* Fallback: walk the components with O_NOFOLLOW, refusing symlinks. */
static int open_walk(int dirfd, const char *path, int flags, mode_t mode)
{
	char *copy = strdup(path), *save = NULL, *comp, *next;
	int fd = dirfd, rc;

	if (!copy)
		return -ENOMEM;
	comp = strtok_r(copy, "/", &save);
	while (comp) {
		int nfd;

		next = strtok_r(NULL, "/", &save);
		if (next)
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		else
			nfd = openat(fd, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
		rc = nfd < 0 ? -errno : 0;
		if (fd != dirfd)
			close(fd);
		if (rc < 0) {
			free(copy);
			return rc == -ELOOP ? -EXDEV : rc;
		}
		fd = nfd;
		comp = next;
	}
	free(copy);
	return fd;
}

int ckpt_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how;
	long fd;

	if (!ckpt_path_is_clean(path, strlen(path)))
		return -EXDEV;
	if (__atomic_load_n(&have_openat2, __ATOMIC_RELAXED)) {
		memset(&how, 0, sizeof(how));
		how.flags = (uint64_t)(flags | O_CLOEXEC);
		how.mode = (flags & O_CREAT) ? mode : 0;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
		do {
			fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		} while (fd < 0 && errno == EAGAIN);
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS && errno != EPERM)
			return -errno;
		__atomic_store_n(&have_openat2, 0, __ATOMIC_RELAXED);
	}
	return open_walk(dirfd, path, flags, mode);
}

int ckpt_read_file(int dirfd, const char *path, size_t max, uint8_t **out, size_t *out_n,
		   struct ckpt_err *err)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0, cap;
	int fd, rc = 0;

	*out = NULL;
	*out_n = 0;
	fd = ckpt_open_beneath(dirfd, path, O_RDONLY, 0);
	if (fd < 0)
		return ckpt_err_set(err, fd, "cannot open '%s': %s", path, ckpt_strerror(fd));
	if (fstat(fd, &st) < 0) {
		rc = ckpt_err_set(err, -errno, "cannot stat '%s': %s", path, ckpt_strerror(-errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = ckpt_err_set(err, -EISDIR, "'%s' is not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = ckpt_err_set(err, -EFBIG, "'%s' is %lld bytes, more than the limit %zu", path,
				  (long long)st.st_size, max);
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = ckpt_pread(fd, buf + len, cap - len, len);

		if (r < 0) {
			rc = ckpt_err_set(err, (int)r, "cannot read '%s': %s", path,
					  ckpt_strerror((int)r));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == cap) {
			/* the file grew: read on, within the limit */
			uint8_t *nb;

			if (cap > max) {
				rc = ckpt_err_set(err, -EFBIG, "'%s' is larger than the limit %zu",
						  path, max);
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
	}
	buf[len] = 0;
	*out = buf;
	*out_n = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

static struct ckpt_src_reader src_reader;
static uint64_t src_reads;

void ckpt_src_set_reader(const struct ckpt_src_reader *r)
{
	if (r)
		src_reader = *r;
	else
		memset(&src_reader, 0, sizeof(src_reader));
}

void ckpt_src_prepare(int dirfd)
{
	if (src_reader.prepare && dirfd >= 0)
		src_reader.prepare(src_reader.ctx, dirfd);
}

bool ckpt_src_willneed_wanted(void)
{
	return src_reader.willneed != NULL;
}

void ckpt_src_willneed(int fd, uint64_t off, uint64_t n, bool wait)
{
	if (src_reader.willneed && fd >= 0 && n)
		src_reader.willneed(src_reader.ctx, fd, off, n, wait);
}

uint64_t ckpt_src_reads(void)
{
	return __atomic_load_n(&src_reads, __ATOMIC_RELAXED);
}

ssize_t ckpt_pread(int fd, void *buf, size_t n, uint64_t off)
{
	ssize_t r;

	if (off > INT64_MAX)
		return -EINVAL;
	__atomic_add_fetch(&src_reads, 1, __ATOMIC_RELAXED);
	if (src_reader.pread) {
		r = src_reader.pread(src_reader.ctx, fd, buf, n, off);
		if (r != CKPT_SRC_LOCAL)
			return r;
	}
	do {
		r = pread(fd, buf, n, (off_t)off);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

int ckpt_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	if (off > INT64_MAX)
		return -EINVAL;
	while (done < n) {
		ssize_t r = ckpt_pread(fd, (uint8_t *)buf + done, n - done, off + done);

		if (r < 0)
			return (int)r;
		if (r == 0)
			return CKPT_ECORRUPT; /* file shorter than the reference */
		done += (size_t)r;
	}
	return 0;
}

int ckpt_pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	if (off > INT64_MAX)
		return -EINVAL;
	while (done < n) {
		ssize_t r = pwrite(fd, (const uint8_t *)buf + done, n - done, (off_t)(off + done));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

int ckpt_write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const uint8_t *)buf + done, n - done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

bool ckpt_exists(int dirfd, const char *path)
{
	struct stat st;

	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool ckpt_is_dir(int dirfd, const char *path)
{
	struct stat st;

	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

DIR *ckpt_opendir_fd(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (dfd < 0)
		return NULL;
	d = fdopendir(dfd);
	if (!d)
		close(dfd);
	return d;
}

int ckpt_rm_tree(int at, const char *name, unsigned depth)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return unlinkat(at, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	if (depth > 64 || !(d = fdopendir(fd))) {
		close(fd);
		return -ELOOP;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		/* (a file system without d_type: a directory fails to unlink) */
		if (e->d_type == DT_DIR || unlinkat(dirfd(d), e->d_name, 0) < 0)
			ckpt_rm_tree(dirfd(d), e->d_name, depth + 1);
	}
	closedir(d);
	return unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

bool ckpt_same_inode(int dirfd, const char *a, const char *b)
{
	struct stat x, y;

	if (fstatat(dirfd, a, &x, AT_SYMLINK_NOFOLLOW) < 0 || fstatat(dirfd, b, &y, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int ckpt_mkparents(int dirfd, const char *rel)
{
	char *p;
	int rc = 0;

	if (!ckpt_path_is_clean(rel, strlen(rel)))
		return -EINVAL;
	if (!(p = strdup(rel)))
		return -ENOMEM;
	for (char *s = strchr(p, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
		*s = 0;
		if (mkdirat(dirfd, p, 0755) < 0 && errno != EEXIST)
			rc = -errno;
		*s = '/';
	}
	free(p);
	return rc;
}
