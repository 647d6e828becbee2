/* SPDX-License-Identifier: Apache-2.0 */
/* commit.c - the atomic-commit protocol, the writer lock, stamps (tier 2); see commit.h. */
#define _GNU_SOURCE
#include "commit.h"

#include "fsutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void point(const struct ckpt_commit *c, const char *what)
{
	if (c->point)
		c->point(c->ctx, what);
}

int ckpt_commit_sync_parent(const struct ckpt_commit *c, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	char *d;
	int fd, rc = 0;

	if (c->no_fsync)
		return 0;
	if (!slash) {
		fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
	} else {
		if (!(d = strndup(rel, (size_t)(slash - rel))))
			return -ENOMEM;
		fd = ckpt_open_beneath(c->dirfd, d, O_RDONLY | O_DIRECTORY, 0);
		free(d);
	}
	if (fd < 0)
		return fd;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int ckpt_commit_tmp_open(const struct ckpt_commit *c, const char *tmp, struct ckpt_err *err)
{
	int fd = ckpt_mkparents(c->dirfd, tmp);

	if (fd < 0)
		return ckpt_err_set(err, fd, "'%s/%s': cannot create its directories: %s", c->label, tmp,
				    ckpt_strerror(fd));
	fd = ckpt_open_beneath(c->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return ckpt_err_set(err, fd, "'%s/%s': cannot create: %s", c->label, tmp, ckpt_strerror(fd));
	return fd;
}

int ckpt_commit_tmp_finish(const struct ckpt_commit *c, int fd, const char *tmp, const char *rel,
			   struct ckpt_err *err)
{
	int rc = 0;

	if (!c->no_fsync && fsync(fd) < 0)
		rc = ckpt_err_set(err, -errno, "'%s/%s': fsync: %s", c->label, tmp, ckpt_strerror(-errno));
	if (rc == 0) {
		point(c, "written");
		/* renamed before fd closes: a lock on it (ckpt_commit_file_ts) is
		 * held until the new file is in place */
		if (renameat(c->dirfd, tmp, c->dirfd, rel) < 0)
			rc = ckpt_err_set(err, -errno, "'%s/%s': cannot rename: %s", c->label, rel,
					  ckpt_strerror(-errno));
	}
	close(fd);
	if (rc < 0) {
		unlinkat(c->dirfd, tmp, 0);
		return rc;
	}
	point(c, "renamed");
	rc = ckpt_commit_sync_parent(c, rel);
	return rc < 0 ? ckpt_err_set(err, rc, "'%s/%s': fsync of its directory: %s", c->label, rel,
				     ckpt_strerror(rc))
		      : 0;
}

int ckpt_commit_file(const struct ckpt_commit *c, const char *rel, const char *tmp, const void *p, size_t n,
		     struct ckpt_err *err)
{
	char *own = NULL;
	int fd, rc;

	if (!tmp) {
		if (asprintf(&own, "%s.ckptfs-tmp", rel) < 0)
			return -ENOMEM;
		tmp = own;
	}
	fd = ckpt_commit_tmp_open(c, tmp, err);
	if (fd < 0) {
		free(own);
		return fd;
	}
	rc = ckpt_write_full(fd, p, n);
	if (rc < 0) {
		close(fd);
		unlinkat(c->dirfd, tmp, 0);
		rc = ckpt_err_set(err, rc, "'%s/%s': cannot write: %s", c->label, tmp, ckpt_strerror(rc));
	} else {
		rc = ckpt_commit_tmp_finish(c, fd, tmp, rel, err);
	}
	free(own);
	return rc;
}

int ckpt_commit_rename(const struct ckpt_commit *c, const char *from, const char *to, struct ckpt_err *err)
{
	int rc;

	if (renameat(c->dirfd, from, c->dirfd, to) < 0)
		return ckpt_err_set(err, -errno, "'%s/%s': cannot rename to '%s': %s", c->label, from, to,
				    ckpt_strerror(-errno));
	point(c, "renamed");
	rc = ckpt_commit_sync_parent(c, to);
	return rc < 0 ? ckpt_err_set(err, rc, "'%s/%s': fsync of its directory: %s", c->label, to,
				     ckpt_strerror(rc))
		      : 0;
}

int ckpt_commit_exchange(const struct ckpt_commit *c, const char *a, const char *b, struct ckpt_err *err)
{
	int rc;

	if (syscall(SYS_renameat2, c->dirfd, a, c->dirfd, b, RENAME_EXCHANGE) < 0)
		return ckpt_err_set(err, -errno, "'%s/%s': cannot exchange with '%s': %s", c->label, a, b,
				    ckpt_strerror(-errno));
	point(c, "renamed");
	rc = ckpt_commit_sync_parent(c, b);
	return rc < 0 ? ckpt_err_set(err, rc, "'%s/%s': fsync of its directory: %s", c->label, b,
				     ckpt_strerror(rc))
		      : 0;
}

/* waits (bounded) for an OFD write lock on the whole of fd */
static int ofd_lock(int fd, unsigned wait_ms)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	unsigned waited = 0;

	for (;;) {
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return -errno;
		if (waited >= wait_ms)
			return -EBUSY;
		nanosleep(&(struct timespec){ 0, 5000000L }, NULL);
		waited += 5;
	}
}

int ckpt_commit_file_ts(const struct ckpt_commit *c, const char *rel, const void *p, size_t n,
			struct ckpt_err *err)
{
	char *lock;
	int fd = -1, rc = 0;

	if (asprintf(&lock, "%s.__lock", rel) < 0)
		return -ENOMEM;
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;

		fd = ckpt_open_beneath(c->dirfd, lock, O_WRONLY | O_CREAT, 0644);
		if (fd < 0) {
			rc = ckpt_err_set(err, fd, "'%s/%s': cannot create: %s", c->label, lock, ckpt_strerror(fd));
			break;
		}
		if ((rc = ofd_lock(fd, CKPT_WRITER_WAIT_MS)) < 0) {
			rc = ckpt_err_set(err, rc, "'%s/%s': %s", c->label, lock,
					  rc == -EBUSY ? "locked by another writer" : ckpt_strerror(rc));
			break;
		}
		/* the previous holder may have renamed it: lock the file of that name */
		if (fstat(fd, &a) == 0 && fstatat(c->dirfd, lock, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0 || rc < 0) {
		if (fd >= 0)
			close(fd);
		free(lock);
		return rc < 0 ? rc : ckpt_err_set(err, -EBUSY, "'%s/%s': cannot lock", c->label, lock);
	}
	if (ftruncate(fd, 0) < 0 || (rc = ckpt_write_full(fd, p, n)) < 0) {
		rc = rc < 0 ? rc : -errno;
		close(fd);
		unlinkat(c->dirfd, lock, 0);
		rc = ckpt_err_set(err, rc, "'%s/%s': cannot write: %s", c->label, lock, ckpt_strerror(rc));
	} else {
		/* the rename happens while the lock is held (fd still open) */
		rc = ckpt_commit_tmp_finish(c, fd, lock, rel, err);
	}
	free(lock);
	return rc;
}

/* ---------------------------------------------------------------- the writer lock */

int ckpt_lock_dir(int dirfd, const char *label, unsigned wait_ms, struct ckpt_err *err)
{
	/* a new open file description: a dup would share the lock of another */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned waited = 0;

	if (fd < 0)
		return ckpt_err_set(err, -errno, "'%s': cannot open for locking: %s", label,
				    ckpt_strerror(-errno));
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int rc = -errno;

			close(fd);
			return ckpt_err_set(err, rc, "'%s': cannot lock: %s", label, ckpt_strerror(rc));
		}
		if (waited >= wait_ms) {
			close(fd);
			return ckpt_err_set(err, -EBUSY, "'%s' is being edited by another process (waited %u ms)",
					    label, waited);
		}
		/* 2 ms, growing to 50 ms */
		unsigned step = waited < 20 ? 2 : waited < 500 ? 10 : 50;
		struct timespec ts = { 0, (long)step * 1000000L };

		nanosleep(&ts, NULL);
		waited += step;
	}
}

void ckpt_unlock(int lockfd)
{
	if (lockfd >= 0)
		close(lockfd); /* the last descriptor of the description: the lock goes */
}

/* ---------------------------------------------------------------- stamps */

static uint64_t mix(uint64_t h, uint64_t v)
{
	/* FNV-1a over the 8 bytes of v */
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (i * 8)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix_stat(uint64_t h, const struct stat *st)
{
	h = mix(h, (uint64_t)st->st_ino);
	h = mix(h, (uint64_t)st->st_size);
	h = mix(h, (uint64_t)st->st_mtim.tv_sec * 1000000000ull + (uint64_t)st->st_mtim.tv_nsec);
	return mix(h, (uint64_t)st->st_ctim.tv_sec * 1000000000ull + (uint64_t)st->st_ctim.tv_nsec);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !memcmp(s + n - k, suffix, k);
}

void ckpt_stamp_take(int dirfd, const char *file, const char *skip_prefix, struct ckpt_stamp *s)
{
	uint64_t h = 0xcbf29ce484222325ull, sum = 0;
	struct stat st;
	DIR *d;

	s->n = 0;
	if (file) {
		s->n = fstatat(dirfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0;
		s->hash = s->n ? mix_stat(h, &st) : h;
		return;
	}
	if (fstat(dirfd, &st) < 0 || !(d = ckpt_opendir_fd(dirfd))) {
		s->hash = h;
		return;
	}
	h = mix_stat(h, &st);
	/* entries in any order: a sum of their own hashes */
	for (struct dirent *e; (e = readdir(d));) {
		uint64_t eh = 0xcbf29ce484222325ull;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (skip_prefix && !strncmp(e->d_name, skip_prefix, strlen(skip_prefix))) ||
		    ends_with(e->d_name, ".ckptfs-tmp") || ends_with(e->d_name, ".__lock") ||
		    fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		for (const char *p = e->d_name; *p; p++)
			eh = mix(eh, (uint8_t)*p);
		sum += mix_stat(eh, &st);
		s->n++;
	}
	closedir(d);
	s->hash = mix(h, sum);
}

bool ckpt_stamp_equal(const struct ckpt_stamp *a, const struct ckpt_stamp *b)
{
	return a->hash == b->hash && a->n == b->n;
}
