/* SPDX-License-Identifier: Apache-2.0 */
/* rpages.c - the pages of a remote source's local mirror (tier 2); see rpages.h. */
#define _GNU_SOURCE
#include "rpages.h"

#include "fsutil.h"
#include "readahead.h"
#include "rstore.h"
#include "s3.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE CKPT_RPAGE
#define WINDOW_MIN (256u << 10) /* a sequential reader's first window ahead */
#define WINDOW_MAX (32u << 20)  /* and its largest */
#define PART (8u << 20)         /* one range GET at most */
#define PART_MIN (4u << 20)     /* a run is cut in `parallel` parts, of at least this:
                                 * each GET costs the store work of its own (1 MiB
                                 * parts: a step of 4 MiB objects took 1.5 s at 20
                                 * ms, 4 MiB parts 1.2 s; bench/RESULTS.md) */
#define MAX_RUNS 64             /* runs of missing pages claimed at once */
#define AHEAD_THREADS 4         /* threads fetching ahead of readers (readahead.c's pool) */
#define PREFETCH_MAX 32         /* whole small objects fetched at once (each held
                                 * against eviction meanwhile: ThreadSanitizer
                                 * follows at most 64 locks held by a thread) */

struct robj {
	struct robj *next; /* hash chain, by inode */
	struct ckpt_rpages *p;
	dev_t dev;
	ino_t ino;
	char *rel, *key; /* rel: the data file below the store's directory */
	char etag[80];
	uint64_t size, pages, n_present, last_use;
	uint64_t seq_next, window; /* a sequential reader, and how far ahead it gets */
	uint8_t *present;          /* the store's page map, shared with other processes */
	size_t map_len;
	uint8_t *busy;             /* a bit per page: this process fetches it */
	pthread_rwlock_t hold;     /* reads share it from fetch to pread; giving pages back takes it alone */
	/* other processes: while this one reads the file it holds a shared
	 * flock on it, and pages are given back only under an exclusive one */
	pthread_mutex_t fl;
	unsigned readers;
	int lock_fd;
};

struct run {
	uint64_t p0, p1; /* pages, p1 exclusive */
};

struct ckpt_rpages {
	struct ckpt_rpages_conf c;
	char *label;
	pthread_mutex_t lock;
	pthread_cond_t done;
	pthread_mutex_t evicting;
	struct robj **tab;
	size_t cap, n;
	uint64_t clock;
	struct ckpt_rpages_stats st;
	/* the fetches ahead of readers (threads start with the first job: after a fork) */
	struct ckpt_ra *ahead;
};

static bool bit(const uint8_t *b, uint64_t i)
{
	return b[i >> 3] & (1u << (i & 7));
}

static void bits_set(uint8_t *b, uint64_t i, bool on)
{
	if (on)
		b[i >> 3] |= (uint8_t)(1u << (i & 7));
	else
		b[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

static size_t slot_of(const struct ckpt_rpages *p, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)dev;

	return (size_t)(h >> 17) & (p->cap - 1);
}

int ckpt_rpages_new(struct ckpt_rpages **out, const struct ckpt_rpages_conf *c)
{
	struct ckpt_rpages *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p || !(p->tab = calloc(1024, sizeof(*p->tab)))) {
		free(p);
		return -ENOMEM;
	}
	p->cap = 1024;
	p->c = *c;
	if (!(p->label = strdup(c->label ? c->label : ""))) {
		free(p->tab);
		free(p);
		return -ENOMEM;
	}
	p->c.label = p->label;
	if (!p->c.parallel)
		p->c.parallel = 8;
	if (ckpt_ra_new(&p->ahead, AHEAD_THREADS) < 0) {
		free(p->tab);
		free(p->label);
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->evicting, NULL);
	pthread_cond_init(&p->done, NULL);
	*out = p;
	return 0;
}

static void obj_free(struct robj *o)
{
	pthread_rwlock_destroy(&o->hold);
	pthread_mutex_destroy(&o->fl);
	if (o->lock_fd >= 0)
		close(o->lock_fd);
	free(o->rel);
	free(o->key);
	if (o->present)
		munmap(o->present, o->map_len);
	free(o->busy);
	free(o);
}

void ckpt_rpages_free(struct ckpt_rpages *p)
{
	if (!p)
		return;
	ckpt_ra_free(p->ahead); /* queued jobs dropped, running ones waited for */
	for (size_t i = 0; i < p->cap; i++)
		for (struct robj *o = p->tab[i], *nx; o; o = nx) {
			nx = o->next;
			obj_free(o);
		}
	free(p->tab);
	free(p->label);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->evicting);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void grow(struct ckpt_rpages *p)
{
	struct robj **old = p->tab, **tab = calloc(p->cap * 2, sizeof(*tab));
	size_t cap = p->cap;

	if (!tab)
		return; /* longer chains, still correct */
	p->tab = tab;
	p->cap = cap * 2;
	for (size_t i = 0; i < cap; i++)
		for (struct robj *o = old[i], *nx; o; o = nx) {
			size_t s = slot_of(p, o->dev, o->ino);

			nx = o->next;
			o->next = p->tab[s];
			p->tab[s] = o;
		}
	free(old);
}

int ckpt_rpages_add(struct ckpt_rpages *p, int fd, const char *rel, const char *key,
		    const char *etag, uint64_t size, uint8_t *map, size_t map_len)
{
	struct robj *o = calloc(1, sizeof(*o));
	struct stat st;
	size_t nb, s;

	if (!o || fstat(fd, &st) < 0) {
		int e = o ? -errno : -ENOMEM;

		munmap(map, map_len);
		free(o);
		return e;
	}
	o->p = p;
	o->present = map;
	o->map_len = map_len;
	o->lock_fd = -1;
	pthread_mutex_init(&o->fl, NULL);
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	o->size = size;
	o->pages = size / PAGE + (size % PAGE != 0);
	nb = (size_t)(o->pages / 8 + 1);
	o->rel = strdup(rel);
	o->key = strdup(key);
	o->busy = calloc(1, nb);
	pthread_rwlock_init(&o->hold, NULL);
	if (!o->rel || !o->key || !o->busy || map_len < nb) {
		int e = !o->rel || !o->key || !o->busy ? -ENOMEM : -EINVAL;

		obj_free(o); /* (it unmaps the map) */
		return e;
	}
	for (uint64_t i = 0; i < o->pages; i++)
		o->n_present += bit(o->present, i); /* fetched before, by us or another process */
	snprintf(o->etag, sizeof(o->etag), "%s", etag ? etag : "");
	pthread_mutex_lock(&p->lock);
	p->st.present_bytes += o->n_present * PAGE;
	o->last_use = ++p->clock;
	if (p->n >= p->cap)
		grow(p);
	/* a newer file on a reused inode comes first in its chain */
	s = slot_of(p, o->dev, o->ino);
	o->next = p->tab[s];
	p->tab[s] = o;
	p->n++;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static struct robj *find(struct ckpt_rpages *p, dev_t dev, ino_t ino)
{
	struct robj *o;

	pthread_mutex_lock(&p->lock);
	for (o = p->tab[slot_of(p, dev, ino)]; o; o = o->next)
		if (o->dev == dev && o->ino == ino)
			break;
	pthread_mutex_unlock(&p->lock);
	return o;
}

static void report(struct ckpt_rpages *p, const char *msg)
{
	if (p->c.log)
		p->c.log(p->c.log_ctx, msg);
}

/*
 * Under p->lock: claims the runs of pages from p0 that are neither present
 * nor being fetched, up to p1 + ahead (exclusive).  @return the number of
 * runs
 */
static size_t claim(struct robj *o, uint64_t p0, uint64_t p1, uint64_t ahead, struct run *r)
{
	size_t n = 0;
	uint64_t end = CKPT_MIN(o->pages, p1 + ahead);

	for (uint64_t i = p0; i < end && n < MAX_RUNS; i++) {
		if (bit(o->present, i) || bit(o->busy, i))
			continue;
		if (n && r[n - 1].p1 == i)
			r[n - 1].p1 = i + 1;
		else
			r[n++] = (struct run){ i, i + 1 };
		bits_set(o->busy, i, true);
	}
	return n;
}

/* under p->lock: the pages of a run become present (ok) or missing again */
static void settle(struct ckpt_rpages *p, struct robj *o, uint64_t p0, uint64_t p1, bool ok)
{
	for (uint64_t i = p0; i < p1; i++) {
		bits_set(o->busy, i, false);
		if (ok && !bit(o->present, i)) {
			bits_set(o->present, i, true);
			o->n_present++;
			p->st.present_bytes += PAGE;
		}
	}
	pthread_cond_broadcast(&p->done);
}

/* fetches one batch of parts (at most `parallel`) and writes them into wfd */
static int fetch_batch(struct ckpt_rpages *p, struct robj *o, int wfd, struct ckpt_s3_req *q,
		       size_t n)
{
	int rc = 0;

	/* the bodies go straight into the mirror: no buffer, no copy */
	for (size_t i = 0; i < n; i++) {
		q[i].to_fd = true;
		q[i].fd = wfd;
		q[i].fd_off = q[i].off;
	}
	ckpt_s3_get_many(p->c.s3, q, n, p->c.parallel);
	for (size_t i = 0; i < n; i++) {
		int r = q[i].rc;

		pthread_mutex_lock(&p->lock);
		settle(p, o, q[i].off / PAGE, (q[i].off + q[i].len + PAGE - 1) / PAGE, r == 0);
		if (r == 0) {
			p->st.fetched_bytes += q[i].len;
			p->st.fetches++;
		} else {
			p->st.errors++;
			p->st.stale += r == -ESTALE;
		}
		pthread_mutex_unlock(&p->lock);
		if (r < 0 && rc >= 0) {
			report(p, q[i].err.msg[0] ? q[i].err.msg : ckpt_strerror(r));
			rc = r;
		}
	}
	return rc;
}

/* fetches the claimed runs, in parts of at most PART, `parallel` at a time */
/* a write descriptor of the file open at fd (the library's are read-only) */
static int open_writable(int fd)
{
	char path[64];
	int wfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	return wfd < 0 ? -errno : wfd;
}

/* under p->lock: the claimed runs were not fetched */
static void unclaim(struct ckpt_rpages *p, struct robj *o, const struct run *r, size_t n_runs)
{
	for (size_t i = 0; i < n_runs; i++)
		settle(p, o, r[i].p0, r[i].p1, false);
}

/* fetches the claimed runs into wfd, each in up to `parallel` parts sent at
 * once (PART_MIN to PART bytes each), `parallel` at a time */
static int fetch_runs(struct ckpt_rpages *p, struct robj *o, int wfd, const struct run *r,
		      size_t n_runs)
{
	struct ckpt_s3_req q[64];
	size_t n = 0, cap = CKPT_MIN((size_t)p->c.parallel, sizeof(q) / sizeof(q[0]));
	int rc = 0;

	for (size_t i = 0; i < n_runs; i++) {
		uint64_t at = r[i].p0 * PAGE, end = CKPT_MIN(r[i].p1 * PAGE, o->size);
		uint64_t part = (end - at) / p->c.parallel / PAGE * PAGE;

		part = CKPT_MIN(CKPT_MAX(part, (uint64_t)PART_MIN), (uint64_t)PART);
		while (at < end) {
			uint64_t len = CKPT_MIN(part, end - at);

			memset(&q[n], 0, sizeof(q[n]));
			q[n].key = o->key;
			q[n].if_match = o->etag[0] ? o->etag : NULL;
			q[n].off = at;
			q[n].len = len;
			at += len;
			if (++n == cap) {
				int b = fetch_batch(p, o, wfd, q, n);

				rc = rc < 0 ? rc : b;
				n = 0;
			}
		}
	}
	if (n) {
		int b = fetch_batch(p, o, wfd, q, n);

		rc = rc < 0 ? rc : b;
	}
	return rc;
}

/* Gives pages back while more than 3/4 of the bound are present, least
 * recently read files first, skipping those being read. */
static void evict(struct ckpt_rpages *p)
{
	uint64_t target = p->c.cache_size / 4 * 3, present;

	pthread_mutex_lock(&p->lock);
	present = p->st.present_bytes;
	pthread_mutex_unlock(&p->lock);
	if (!p->c.cache_size || present <= p->c.cache_size || pthread_mutex_trylock(&p->evicting) != 0)
		return;
	for (size_t tries = 0; tries < 4096; tries++) {
		struct robj *v = NULL;
		struct stat st;
		int fd;

		pthread_mutex_lock(&p->lock);
		if (p->st.present_bytes > target)
			for (size_t i = 0; i < p->cap; i++)
				for (struct robj *o = p->tab[i]; o; o = o->next)
					if (o->n_present && (!v || o->last_use < v->last_use))
						v = o;
		if (v)
			v->last_use = ++p->clock; /* busy ones go to the back */
		pthread_mutex_unlock(&p->lock);
		if (!v)
			break;
		if (pthread_rwlock_trywrlock(&v->hold) != 0)
			continue;
		fd = openat(p->c.root_fd, v->rel, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
			/* another process reads it now: not this one */
			close(fd);
			pthread_rwlock_unlock(&v->hold);
			continue;
		}
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == v->ino && st.st_dev == v->dev)
			fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)v->size);
		/* else removed from the store: its space goes when its last reader closes it */
		pthread_mutex_lock(&p->lock);
		memset(v->present, 0, (size_t)(v->pages / 8 + 1));
		p->st.present_bytes -= v->n_present * PAGE;
		p->st.evicted_bytes += v->n_present * PAGE;
		v->n_present = 0;
		pthread_mutex_unlock(&p->lock);
		if (fd >= 0)
			close(fd); /* after the map is cleared: then others may read again */
		pthread_rwlock_unlock(&v->hold);
	}
	pthread_mutex_unlock(&p->evicting);
}

/* this process starts or stops reading o: a shared flock on its data file
 * while any thread does, so that no other process gives its pages back */
static void reading(struct robj *o, int fd, bool start)
{
	pthread_mutex_lock(&o->fl);
	if (start && o->readers++ == 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		o->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (o->lock_fd >= 0)
			flock(o->lock_fd, LOCK_SH);
	} else if (!start && --o->readers == 0 && o->lock_fd >= 0) {
		close(o->lock_fd);
		o->lock_fd = -1;
	}
	pthread_mutex_unlock(&o->fl);
}

/* a job of the ahead pool: the pages [a, b) of o missing when it runs are
 * claimed and fetched, as a reader would (holding the object against
 * eviction, and its flock against other processes); the file is reopened
 * by its path, and left alone if another file has taken that path since */
static void ahead_job(void *owner, uint64_t a, uint64_t b)
{
	struct robj *o = owner;
	struct ckpt_rpages *p = o->p;
	struct run r[MAX_RUNS];
	struct stat st;
	size_t n;
	int wfd;

	pthread_rwlock_rdlock(&o->hold);
	wfd = openat(p->c.root_fd, o->rel, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (wfd >= 0 && fstat(wfd, &st) == 0 && st.st_ino == o->ino && st.st_dev == o->dev) {
		pthread_mutex_lock(&p->lock);
		n = claim(o, a, a, b - a, r);
		pthread_mutex_unlock(&p->lock);
		reading(o, wfd, true);
		if (n)
			fetch_runs(p, o, wfd, r, n); /* a failure: the reader's own fetch says why */
		reading(o, wfd, false);
	}
	if (wfd >= 0)
		close(wfd);
	pthread_rwlock_unlock(&o->hold);
	evict(p); /* what came in after the reader's last read is within the bound too */
}

/* A reader near where o was last read (behind the frontier by less than a
 * window, or ahead of it by less than one) reads on: its window ahead
 * doubles, up to WINDOW_MAX; elsewhere it starts again.  Several threads
 * of one reader (the library's read-ahead) read near each other. */
static uint64_t window_for(struct ckpt_rpages *p, struct robj *o, uint64_t off, size_t n)
{
	uint64_t slack, window;

	pthread_mutex_lock(&p->lock);
	slack = CKPT_MAX(o->window, (uint64_t)WINDOW_MIN) + PART_MIN;
	o->last_use = ++p->clock;
	if (o->seq_next && off + slack >= o->seq_next && off <= o->seq_next + slack)
		o->window = CKPT_MIN(CKPT_MAX(o->window * 2, (uint64_t)WINDOW_MIN), (uint64_t)WINDOW_MAX);
	else
		o->window = 0;
	o->seq_next = CKPT_MAX(o->seq_next, off + n);
	if (off + n < o->seq_next && !o->window)
		o->seq_next = off + n; /* went back: start from here */
	window = o->window;
	pthread_mutex_unlock(&p->lock);
	return window / PAGE;
}

/* makes bytes [off, off+n) of o present (n > 0, within the object): the
 * missing pages are fetched now, those in the window after them by the
 * ahead threads while the reader goes on (read: a read, not a willneed,
 * which leaves the window as it is) */
static int ensure(struct ckpt_rpages *p, struct robj *o, int fd, uint64_t off, size_t n, bool read)
{
	const uint64_t p0 = off / PAGE, p1 = (off + n - 1) / PAGE + 1;
	uint64_t ahead = read ? window_for(p, o, off, n) : 0;
	struct run r[MAX_RUNS];

	if (ahead)
		ckpt_ra_submit(p->ahead, ahead_job, o, p1, CKPT_MIN(p1 + ahead, o->pages));
	for (int tries = 0; tries < 4; tries++) {
		size_t n_runs;
		bool all = true;
		int rc = 0;

		pthread_mutex_lock(&p->lock);
		n_runs = claim(o, p0, p1, 0, r);
		pthread_mutex_unlock(&p->lock);
		if (n_runs) {
			int wfd = open_writable(fd);

			if (wfd < 0) {
				pthread_mutex_lock(&p->lock);
				unclaim(p, o, r, n_runs);
				pthread_mutex_unlock(&p->lock);
				return wfd;
			}
			rc = fetch_runs(p, o, wfd, r, n_runs);
			close(wfd);
			if (rc < 0)
				return rc;
		}
		pthread_mutex_lock(&p->lock);
		for (uint64_t i = p0; i < p1; i++) {
			while (bit(o->busy, i))
				pthread_cond_wait(&p->done, &p->lock);
			all = all && bit(o->present, i);
		}
		pthread_mutex_unlock(&p->lock);
		if (all)
			return 0;
		/* another fetch of some of them failed: ours next */
	}
	return -EIO;
}

ssize_t ckpt_rpages_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off)
{
	struct ckpt_rpages *p = ctx;
	struct robj *o;
	struct stat st;
	ssize_t r;
	int rc;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || !(o = find(p, st.st_dev, st.st_ino)))
		return CKPT_SRC_LOCAL;
	if (off >= o->size || n == 0)
		return 0;
	n = (size_t)CKPT_MIN((uint64_t)n, o->size - off);
	pthread_rwlock_rdlock(&o->hold);
	reading(o, fd, true);
	rc = ensure(p, o, fd, off, n, true);
	if (rc < 0) {
		reading(o, fd, false);
		pthread_rwlock_unlock(&o->hold);
		/* the log has the reason (replaced, access denied, unreachable) */
		return rc == -ENOMEM ? rc : -EIO;
	}
	do {
		r = pread(fd, buf, n, (off_t)off);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		r = -errno;
	reading(o, fd, false);
	pthread_rwlock_unlock(&o->hold);
	evict(p);
	return r;
}

void ckpt_rpages_willneed(void *ctx, int fd, uint64_t off, uint64_t n, bool wait)
{
	struct ckpt_rpages *p = ctx;
	struct robj *o;
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(o = find(p, st.st_dev, st.st_ino)) ||
	    off >= o->size || n == 0)
		return;
	n = CKPT_MIN(n, o->size - off);
	if (!wait) { /* the ahead threads fetch what is missing when they get to it */
		ckpt_ra_submit(p->ahead, ahead_job, o, off / PAGE, (off + n - 1) / PAGE + 1);
		return;
	}
	pthread_rwlock_rdlock(&o->hold);
	reading(o, fd, true);
	(void)ensure(p, o, fd, off, (size_t)n, false); /* a failure: the read says why */
	reading(o, fd, false);
	pthread_rwlock_unlock(&o->hold);
	evict(p);
}

/* claims every page of o, or none when a reader is at some of it or some
 * are present already */
static bool claim_whole(struct ckpt_rpages *p, struct robj *o)
{
	bool none = true;

	pthread_mutex_lock(&p->lock);
	for (uint64_t pg = 0; pg < o->pages && none; pg++)
		none = !bit(o->present, pg) && !bit(o->busy, pg);
	for (uint64_t pg = 0; none && pg < o->pages; pg++)
		bits_set(o->busy, pg, true);
	pthread_mutex_unlock(&p->lock);
	return none;
}

void ckpt_rpages_prefetch(struct ckpt_rpages *p, const int *fds, size_t n)
{
	for (size_t i = 0; i < n;) {
		struct ckpt_s3_req q[PREFETCH_MAX];
		struct robj *os[PREFETCH_MAX];
		size_t k = 0;

		for (; i < n && k < PREFETCH_MAX; i++) {
			struct stat st;
			struct robj *o;

			if (fstat(fds[i], &st) < 0 || !(o = find(p, st.st_dev, st.st_ino)) || !o->size ||
			    o->size > (64u << 20))
				continue;
			pthread_rwlock_rdlock(&o->hold); /* no eviction between write and settle */
			if (!claim_whole(p, o)) {
				pthread_rwlock_unlock(&o->hold);
				continue;
			}
			memset(&q[k], 0, sizeof(q[k]));
			q[k].key = o->key;
			q[k].if_match = o->etag[0] ? o->etag : NULL;
			q[k].len = o->size;
			q[k].to_fd = true; /* straight into the mirror */
			q[k].fd = fds[i];
			os[k++] = o;
		}
		if (k)
			ckpt_s3_get_many(p->c.s3, q, k, PREFETCH_MAX);
		for (size_t j = 0; j < k; j++) {
			bool ok = q[j].rc == 0;

			pthread_mutex_lock(&p->lock);
			settle(p, os[j], 0, os[j]->pages, ok);
			if (ok) {
				p->st.fetched_bytes += q[j].len;
				p->st.fetches++;
			}
			pthread_mutex_unlock(&p->lock);
			pthread_rwlock_unlock(&os[j]->hold);
		}
	}
	evict(p);
}

void ckpt_rpages_stats(struct ckpt_rpages *p, struct ckpt_rpages_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->st;
	pthread_mutex_unlock(&p->lock);
}
