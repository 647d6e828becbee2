/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote.c - a checkpoint on object storage as a local mirror (tier 2).
 *
 * The objects under s3://BUCKET/PREFIX are listed (ListObjectsV2) and each
 * becomes a sparse file of its size, at its key's path, in a private
 * directory (under cache_dir): the library then reads the mirror as it
 * reads any local checkpoint, and rpages.c fetches the byte ranges it reads.
 * Without a cache_dir given the files are the mirror's own, their page maps
 * in memory; with one they are hard links to the files of its store
 * (rstore.c), which every process using it shares.  In a root of steps
 * the first listing makes only each step's own files; those below a step
 * are made when it is opened (ckpt_src_prepare) or by a thread, the newest
 * step first (struct group).  Small objects (metadata, manifests) are
 * fetched whole, many at once, since opening a step reads them one after
 * another: those of the first listing and of each step made by a thread
 * once the mount serves (warm_main), later ones before their step appears.
 *
 * A poller lists again every poll_ms: new objects appear (the files of a
 * step first, its commit markers last), replaced ones (a new ETag or size)
 * are renamed over their old file (a reader holding the old one keeps the
 * old bytes or fails: rpages sends the old ETag as If-Match), deleted ones
 * go.  The local rescans (fs/live.c) then see the mirror change as they
 * see a local SOURCE change, without a request to the object store.
 */
#define _GNU_SOURCE
#include "remote.h"
#include "remote_int.h"

#include "fsutil.h"
#include "rpages.h"
#include "rstore.h"
#include "s3.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* the source reader is one per process: it asks each open remote in turn */
#define MAX_REMOTES 8
static struct ckpt_remote *opened[MAX_REMOTES];
static pthread_mutex_t opened_lock = PTHREAD_MUTEX_INITIALIZER;

static ssize_t remotes_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off)
{
	ssize_t r = CKPT_SRC_LOCAL;

	(void)ctx;
	/* remotes are added and removed while no reads run (open and close) */
	for (size_t i = 0; i < MAX_REMOTES && r == CKPT_SRC_LOCAL; i++)
		if (opened[i])
			r = ckpt_rpages_pread(opened[i]->pages, fd, buf, n, off);
	return r;
}

/* the source reader's willneed: the bytes are fetched now */
static void remotes_willneed(void *ctx, int fd, uint64_t off, uint64_t n, bool wait)
{
	(void)ctx;
	for (size_t i = 0; i < MAX_REMOTES; i++)
		if (opened[i])
			ckpt_rpages_willneed(opened[i]->pages, fd, off, n, wait);
}

/* ckpt_src_prepare: dirfd is a deferred step's directory about to be read */
static void remotes_prepare(void *ctx, int dirfd)
{
	struct stat st;

	(void)ctx;
	if (fstat(dirfd, &st) < 0)
		return;
	for (size_t i = 0; i < MAX_REMOTES; i++) {
		struct ckpt_remote *r = opened[i];

		if (!r || !__atomic_load_n(&r->n_deferred, __ATOMIC_RELAXED))
			continue;
		pthread_mutex_lock(&r->sync_lock);
		for (size_t k = 0; k < r->n_groups; k++)
			if (r->groups[k].deferred && r->groups[k].ino == st.st_ino &&
			    r->groups[k].dev == st.st_dev)
				ckpt_remote_prepare_group(r, &r->groups[k], true);
		pthread_mutex_unlock(&r->sync_lock);
	}
}

static void *poll_main(void *arg)
{
	struct ckpt_remote *r = arg;

	pthread_mutex_lock(&r->stop_lock);
	while (!r->stop) {
		struct timespec t;
		struct ckpt_err err = { 0, "" };
		int rc;

		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_sec += r->c.poll_ms / 1000;
		t.tv_nsec += (long)(r->c.poll_ms % 1000) * 1000000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000;
		}
		while (!r->stop && pthread_cond_timedwait(&r->stop_cond, &r->stop_lock, &t) != ETIMEDOUT)
			;
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->stop_lock);
		pthread_mutex_lock(&r->sync_lock);
		rc = ckpt_remote_sync(r, false, &err);
		__atomic_add_fetch(&r->polls, 1, __ATOMIC_RELAXED); /* read by stats, unlocked */
		if (rc < 0)
			__atomic_add_fetch(&r->poll_errors, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&r->sync_lock);
		/* one line when listing starts failing, one when it works again */
		if (rc < 0 && !r->failing)
			ckpt_remote_say(r, "listing %s failed (tried again every %u ms): %s", r->c.url, r->c.poll_ms,
			    err.msg[0] ? err.msg : ckpt_strerror(rc));
		else if (rc == 0 && r->failing)
			ckpt_remote_say(r, "listing %s works again", r->c.url);
		r->failing = rc < 0;
		pthread_mutex_lock(&r->stop_lock);
	}
	pthread_mutex_unlock(&r->stop_lock);
	return NULL;
}

/*
 * Private directories under base left by mounts that were killed (SIGKILL,
 * a crash, a power cut) are removed: a live one holds an flock on its
 * "lock" file for as long as its process lives, which the kernel lets go
 * however the process ends.  One whose lock is free, or that has none, is
 * removed once older than a minute (a mount starting takes its lock
 * microseconds after making its directory).  Only the user's own.
 * @return how many were removed
 */
#define STALE_AFTER_S 60
static unsigned sweep_stale(const char *base)
{
	DIR *d = opendir(base);
	time_t now = time(NULL);
	unsigned n = 0;

	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;
		int dfd, lfd;

		if (strncmp(e->d_name, "ckptfs-remote.", 14) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != geteuid() || now - st.st_mtime < STALE_AFTER_S)
			continue;
		dfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			continue;
		lfd = openat(dfd, "lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		close(dfd);
		if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0) {
			close(lfd); /* its mount lives */
			continue;
		}
		if (ckpt_rm_tree(dirfd(d), e->d_name, 0) == 0)
			n++;
		if (lfd >= 0)
			close(lfd);
	}
	closedir(d);
	return n;
}

/* the private directory: DIR/ckptfs-remote.XXXXXX with m/ (the mirror),
 * tmp/ and lock (see sweep_stale) */
static int make_dir(struct ckpt_remote *r, struct ckpt_err *err)
{
	const char *base = r->c.cache_dir && r->c.cache_dir[0] ? r->c.cache_dir : getenv("TMPDIR");
	struct statvfs vfs;
	unsigned swept;
	int dfd;

	if (!base || !base[0])
		base = "/var/tmp";
	swept = sweep_stale(base);
	if (swept)
		ckpt_remote_say(r, "removed %u mirror director%s under %s left by mounts that were killed",
				swept, swept == 1 ? "y" : "ies", base);
	if (asprintf(&r->dir, "%s/ckptfs-remote.XXXXXX", base) < 0) {
		r->dir = NULL;
		return -ENOMEM;
	}
	if (!mkdtemp(r->dir)) {
		int e = -errno;

		free(r->dir);
		r->dir = NULL;
		return ckpt_err_set(err, e, "cache_dir '%s': cannot make a directory there: %s", base,
				    ckpt_strerror(e));
	}
	dfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 ||
	    (r->lfd = openat(dfd, "lock", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    flock(r->lfd, LOCK_EX | LOCK_NB) < 0 || mkdirat(dfd, "m", 0755) < 0 || mkdirat(dfd, "tmp", 0700) < 0 ||
	    (r->mfd = openat(dfd, "m", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (r->tfd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int e = -errno;

		if (dfd >= 0)
			close(dfd);
		return ckpt_err_set(err, e, "cache_dir '%s': %s", r->dir, ckpt_strerror(e));
	}
	if (!r->c.cache_size) {
		/* 4 GiB, or half of what is free there if less, at least 64 MiB */
		uint64_t half = fstatvfs(dfd, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize / 2 : 0;

		r->c.cache_size = CKPT_MAX(CKPT_MIN((uint64_t)4 << 30, half), (uint64_t)64 << 20);
	}
	close(dfd);
	/* a cache_dir given: its store, shared by every process that uses it */
	r->shared = r->c.cache_dir && r->c.cache_dir[0];
	if (!r->shared)
		return 0;
	r->sfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->sfd < 0)
		return ckpt_err_set(err, -errno, "cache_dir '%s': %s", base, ckpt_strerror(-errno));
	return ckpt_rstore_open(&r->store, r->sfd, r->c.cache_size, err);
}


int ckpt_remote_open(struct ckpt_remote **out, const struct ckpt_remote_conf *c,
		     void (*log)(void *ctx, const char *msg), void *log_ctx, struct ckpt_err *err)
{
	struct ckpt_remote *r = calloc(1, sizeof(*r));
	struct ckpt_rpages_conf pc = { 0 };
	struct ckpt_src_reader rd;
	char label[600];
	const char *slash;
	int rc;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->mfd = r->tfd = r->sfd = r->lfd = -1;
	r->log = log;
	r->log_ctx = log_ctx;
	pthread_mutex_init(&r->sync_lock, NULL);
	pthread_mutex_init(&r->stop_lock, NULL);
	pthread_mutex_init(&r->warm_lock, NULL);
	pthread_cond_init(&r->warm_cond, NULL);
	{
		pthread_condattr_t ca; /* the poller's deadlines are on CLOCK_MONOTONIC */

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&r->stop_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	rc = ckpt_remote_conf_copy(&r->c, c);
	if (rc == 0)
		rc = ckpt_s3_open(&r->s3, &c->s3, c->bucket, err);
	if (rc == 0)
		rc = make_dir(r, err);
	slash = strrchr(c->prefix, '/');
	if (rc == 0 && !(r->top = strdup(c->prefix[0] ? (slash ? slash + 1 : c->prefix) : c->bucket)))
		rc = -ENOMEM;
	snprintf(label, sizeof(label), "%s://%s/", c->scheme, c->bucket);
	if (rc == 0 && asprintf(&r->store_id, "%s %s", c->scheme,
				c->s3.endpoint ? c->s3.endpoint : c->s3.region ? c->s3.region : "") < 0) {
		r->store_id = NULL;
		rc = -ENOMEM;
	}
	pc = (struct ckpt_rpages_conf){ r->s3, label, r->shared ? r->sfd : r->mfd, r->c.cache_size,
					c->parallel, log, log_ctx };
	if (rc == 0)
		rc = ckpt_rpages_new(&r->pages, &pc);
	if (rc == 0 && (rc = ckpt_remote_sync(r, true, err)) == 0 && r->n_known == 0)
		rc = ckpt_err_set(err, -ENOENT, "%s: no objects there", c->url);
	if (rc == 0 && asprintf(&r->path, "%s/m/%s", r->dir, r->top) < 0) {
		r->path = NULL;
		rc = -ENOMEM;
	}
	if (rc == 0 && asprintf(&r->url, "%s://%s%s%s", c->scheme, c->bucket, c->prefix[0] ? "/" : "",
				c->prefix) < 0) {
		r->url = NULL;
		rc = -ENOMEM;
	}
	if (rc < 0) {
		ckpt_remote_close(r);
		return rc;
	}
	pthread_mutex_lock(&opened_lock);
	for (size_t i = 0; i < MAX_REMOTES && !*out; i++)
		if (!opened[i])
			*out = opened[i] = r;
	pthread_mutex_unlock(&opened_lock);
	if (!*out) {
		ckpt_remote_close(r);
		return ckpt_err_set(err, -EMFILE, "at most %d remote sources in one process", MAX_REMOTES);
	}
	rd = (struct ckpt_src_reader){ remotes_pread, remotes_prepare, remotes_willneed, NULL };
	ckpt_src_set_reader(&rd);
	return 0;
}

const char *ckpt_remote_path(const struct ckpt_remote *r)
{
	return r->path;
}

char *ckpt_remote_unmirror_dup(const struct ckpt_remote *r, const char *s, size_t *n)
{
	size_t mn = strlen(r->path), un = strlen(r->url), hits = 0, len = 0;
	char *out, *o;

	for (const char *at = s; (at = strstr(at, r->path)); at += mn)
		hits++;
	if (!(out = malloc(strlen(s) + hits * un + 1)))
		return NULL;
	o = out;
	for (const char *at; (at = strstr(s, r->path)); s = at + mn) {
		memcpy(o, s, (size_t)(at - s));
		o += at - s;
		memcpy(o, r->url, un);
		o += un;
	}
	len = (size_t)(o - out) + strlen(s);
	strcpy(o, s);
	if (n)
		*n = len;
	return out;
}

void ckpt_remote_unmirror(const struct ckpt_remote *r, char *msg, size_t cap)
{
	char *u = ckpt_remote_unmirror_dup(r, msg, NULL);

	if (u && cap)
		snprintf(msg, cap, "%s", u);
	free(u);
}

/* Fetches small objects in the background, many at once, while the mount
 * serves, in the queue's order (defer_small): those of steps it made on its
 * own BACKGROUND_ROUND at a time, so that a slow store serves readers'
 * requests between them; with nothing to fetch, makes the newest deferred
 * step (up to warm_steps of them). */
#define BACKGROUND_ROUND 8
static void *warm_main(void *arg)
{
	struct ckpt_remote *r = arg;
	unsigned made = 0;

	for (;;) {
		int fds[32]; /* one round of GETs: an urgent step waits for one at most */
		size_t k = 0, max = CKPT_ARRAY_SIZE(fds);
		struct group *g = NULL;

		pthread_mutex_lock(&r->warm_lock);
		while (!r->stop && r->warm_head == r->n_warm &&
		       !(made < r->c.warm_steps && __atomic_load_n(&r->n_deferred, __ATOMIC_RELAXED)))
			pthread_cond_wait(&r->warm_cond, &r->warm_lock);
		if (r->stop) {
			pthread_mutex_unlock(&r->warm_lock);
			break;
		}
		if (r->warm_head < r->n_warm && r->warm[r->warm_head].prio == WARM_BACKGROUND)
			max = BACKGROUND_ROUND;
		while (k < max && r->warm_head < r->n_warm)
			fds[k++] = r->warm[r->warm_head++].fd;
		if (r->warm_head == r->n_warm)
			r->warm_head = r->n_warm = 0;
		pthread_mutex_unlock(&r->warm_lock);
		if (k) {
			ckpt_rpages_prefetch(r->pages, fds, k);
			for (size_t j = 0; j < k; j++)
				close(fds[j]);
			continue;
		}
		pthread_mutex_lock(&r->sync_lock);
		for (size_t i = 0; i < r->n_groups; i++)
			if (r->groups[i].deferred && (!g || r->groups[i].order >= g->order))
				g = &r->groups[i];
		if (g) {
			ckpt_remote_prepare_group(r, g, false);
			made++;
		}
		pthread_mutex_unlock(&r->sync_lock);
		if (!g && !__atomic_load_n(&r->n_deferred, __ATOMIC_RELAXED))
			made = r->c.warm_steps; /* none left: wait for objects only */
	}
	return NULL;
}

int ckpt_remote_start(struct ckpt_remote *r)
{
	int rc = 0;

	if (!r->warming)
		r->warming = pthread_create(&r->warmer, NULL, warm_main, r) == 0;
	if (r->c.poll_ms && !r->polling) {
		rc = -pthread_create(&r->poller, NULL, poll_main, r);
		r->polling = rc == 0;
	}
	return rc;
}

void ckpt_remote_close(struct ckpt_remote *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->stop_lock);
	pthread_mutex_lock(&r->warm_lock);
	__atomic_store_n(&r->stop, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&r->stop_cond);
	pthread_cond_broadcast(&r->warm_cond);
	pthread_mutex_unlock(&r->warm_lock);
	pthread_mutex_unlock(&r->stop_lock);
	if (r->polling)
		pthread_join(r->poller, NULL);
	if (r->warming)
		pthread_join(r->warmer, NULL);
	for (size_t i = r->warm_head; i < r->n_warm; i++)
		close(r->warm[i].fd);
	free(r->warm);
	for (size_t i = 0; i < r->n_groups; i++)
		free(r->groups[i].name);
	free(r->groups);
	pthread_mutex_lock(&opened_lock);
	for (size_t i = 0; i < MAX_REMOTES; i++)
		if (opened[i] == r)
			opened[i] = NULL;
	pthread_mutex_unlock(&opened_lock);
	ckpt_rpages_free(r->pages);
	ckpt_s3_close(r->s3);
	if (r->mfd >= 0)
		close(r->mfd);
	if (r->tfd >= 0)
		close(r->tfd);
	if (r->sfd >= 0)
		close(r->sfd);
	ckpt_rstore_close(r->store);
	free(r->store_id);
	free(r->last_dir);
	if (r->dir)
		ckpt_rm_tree(AT_FDCWD, r->dir, 0);
	if (r->lfd >= 0)
		close(r->lfd); /* after: a sweep must not take it half removed */
	ckpt_remote_entries_free(r->known, r->n_known);
	free(r->dir);
	free(r->top);
	free(r->path);
	free(r->url);
	free(r->c.url);
	free(r->c.scheme);
	free(r->c.bucket);
	free(r->c.prefix);
	free(r->c.cache_dir);
	pthread_cond_destroy(&r->stop_cond);
	pthread_cond_destroy(&r->warm_cond);
	pthread_mutex_destroy(&r->warm_lock);
	pthread_mutex_destroy(&r->stop_lock);
	pthread_mutex_destroy(&r->sync_lock);
	free(r);
}

int ckpt_remote_stats(struct ckpt_remote_stats *out)
{
	struct ckpt_remote *r = opened[0];
	struct ckpt_rpages_stats ps;
	struct ckpt_s3_stats ss;

	memset(out, 0, sizeof(*out));
	if (!r)
		return -ENOENT;
	ckpt_rpages_stats(r->pages, &ps);
	ckpt_s3_stats(r->s3, &ss);
	out->requests = ss.requests;
	out->retries = ss.retries;
	out->errors = ss.errors;
	out->lists = ss.lists;
	out->bytes = ss.bytes;
	out->key_reloads = ss.key_reloads;
	out->polls = __atomic_load_n(&r->polls, __ATOMIC_RELAXED);
	out->poll_errors = __atomic_load_n(&r->poll_errors, __ATOMIC_RELAXED);
	out->cache_bytes = ps.present_bytes;
	out->cache_limit = r->c.cache_size;
	out->evicted_bytes = ps.evicted_bytes;
	out->stale = ps.stale;
	out->deferred = __atomic_load_n(&r->deferred_objects, __ATOMIC_RELAXED);
	return 0;
}
