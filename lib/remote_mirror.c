/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote_mirror.c - the mirror of a remote source (tier 2, below remote.c):
 * a listing made into files, a step's files made when it is opened, small
 * objects fetched whole.  See remote.c.
 */
#define _GNU_SOURCE
#include "remote_int.h"

#include "fsutil.h"
#include "rpages.h"
#include "rstore.h"
#include "s3.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- the mirror */

void ckpt_remote_say(struct ckpt_remote *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!r->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->log(r->log_ctx, msg);
}

void ckpt_remote_entries_free(struct entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].rel);
		free(e[i].key);
	}
	free(e);
}

/* commit markers come last: a step is complete in the mirror before it is committed there */
static bool is_marker(const char *rel)
{
	const char *b = strrchr(rel, '/');

	b = b ? b + 1 : rel;
	return !strcmp(b, "commit_success.txt") || !strcmp(b, "_CHECKPOINT_METADATA");
}

/* the mirror path of an entry, relative to dir/m */
static int mpath(const struct ckpt_remote *r, const struct entry *e, char *out, size_t cap)
{
	int n = e->rel[0] ? snprintf(out, cap, "%s/%s", r->top, e->rel) : snprintf(out, cap, "%s", r->top);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* removes a file and the directories it leaves empty, up to the top */
static void unmirror(struct ckpt_remote *r, const struct entry *e)
{
	char p[4096];

	if (mpath(r, e, p, sizeof(p)) < 0)
		return;
	unlinkat(r->mfd, p, 0);
	for (char *s = strrchr(p, '/'); s && s != p; s = strrchr(p, '/')) {
		*s = 0;
		if (!strcmp(p, r->top) || unlinkat(r->mfd, p, AT_REMOVEDIR) < 0)
			break;
	}
}

struct pending {
	const struct entry *e;
	struct ckpt_robj_file f; /* f.fd < 0: not staged */
	char tmp[32];
	bool placed, missing; /* missing: small, and not all of it fetched */
	bool in_place;        /* made at its path, not in dir/tmp (the first listing) */
	bool made;            /* its name (in dir/tmp, or in place) was made */
};

/* every page of f present (a map bit past the last page means nothing) */
static bool all_present(const struct ckpt_robj_file *f, uint64_t size)
{
	uint64_t pages = size / CKPT_RPAGE + (size % CKPT_RPAGE != 0);

	for (uint64_t i = 0; i < pages; i++)
		if (!(f->map[i >> 3] & (1u << (i & 7))))
			return false;
	return true;
}

static int parents(struct ckpt_remote *r, const char *path);

/* The object's file (a mount's own, or the store's) in dir/tmp, to be
 * renamed into place; at the first listing, when nothing reads the mirror
 * yet, at its path at once (a rename less per file: the listing of a root
 * of many steps is thousands of files). */
static int stage(struct ckpt_remote *r, struct pending *p, bool first)
{
	char id[2048], path[4096];
	int rc, at = r->tfd;
	const char *name = p->tmp;

	p->f.fd = -1;
	snprintf(p->tmp, sizeof(p->tmp), "f%llu", (unsigned long long)++r->tmp_seq);
	if (first) {
		if ((rc = mpath(r, p->e, path, sizeof(path))) < 0 || (rc = parents(r, path)) < 0)
			return rc;
		at = r->mfd;
		name = path;
		p->in_place = true;
	}
	if (!r->shared) {
		/* a mount's own: the file itself, its map in memory */
		uint64_t pages = p->e->size / CKPT_RPAGE + (p->e->size % CKPT_RPAGE != 0);

		p->f.fd = openat(at, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (p->f.fd < 0)
			return -errno;
		p->made = true;
		if (ftruncate(p->f.fd, (off_t)p->e->size) < 0)
			return -errno;
		p->f.map_len = (size_t)(pages / 8 + 1);
		p->f.map = mmap(NULL, p->f.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p->f.map == MAP_FAILED) {
			p->f.map = NULL;
			return -ENOMEM;
		}
		return 0;
	}
	snprintf(id, sizeof(id), "%s\n%s\n%s\n%s", r->store_id, r->c.bucket, p->e->key, p->e->etag);
	rc = ckpt_rstore_get(r->store, id, p->e->size, &p->f);
	if (rc < 0)
		return rc;
	if (linkat(r->sfd, p->f.rel, at, name, 0) < 0)
		return -errno;
	p->made = true;
	return 0;
}

/* fetches the small staged objects whole, many at once, the bodies written
 * straight into their files (a later listing: before the step appears) */
static void prefetch_small(struct ckpt_remote *r, struct pending *p, size_t n)
{
	struct ckpt_s3_req q[PREFETCH_PARALLEL];
	size_t idx[PREFETCH_PARALLEL], k = 0, taken = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i].f.fd >= 0 && p[i].e->size && p[i].e->size <= SMALL_OBJECT &&
		    taken < SMALL_MAX && !all_present(&p[i].f, p[i].e->size)) {
			memset(&q[k], 0, sizeof(q[k]));
			q[k].key = p[i].e->key;
			q[k].if_match = p[i].e->etag[0] ? p[i].e->etag : NULL;
			q[k].len = p[i].e->size;
			q[k].to_fd = true; /* straight into the staged file */
			q[k].fd = p[i].f.fd;
			idx[k++] = i;
			taken++;
		}
		if (k == PREFETCH_PARALLEL || (i == n && k)) {
			ckpt_s3_get_many(r->s3, q, k, PREFETCH_PARALLEL);
			for (size_t j = 0; j < k; j++)
				if (q[j].rc == 0) /* written: present */
					memset(p[idx[j]].f.map, 0xff, p[idx[j]].f.map_len);
			k = 0;
		}
	}
}

/* the directories leading to path (below dir/m); the last one made is
 * remembered, since a listing gives an item's keys one after another */
static int parents(struct ckpt_remote *r, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	int rc;

	char dir[4096];

	if (!n || (r->last_dir && strlen(r->last_dir) == n && !memcmp(r->last_dir, path, n)))
		return 0;
	/* the parent itself first: there, or its own parent there, mostly */
	snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
	if (mkdirat(r->mfd, dir, 0755) < 0 && errno != EEXIST) {
		if (errno != ENOENT)
			return -errno;
		if ((rc = ckpt_mkparents(r->mfd, path)) < 0)
			return rc;
	}
	free(r->last_dir);
	r->last_dir = ckpt_strndup(path, n);
	return 0;
}

/* moves a staged file into place and hands it to rpages (with its map) */
static void place(struct ckpt_remote *r, struct pending *p)
{
	struct timespec ts[2];
	char path[4096];

	ts[0].tv_sec = ts[1].tv_sec = (time_t)(p->e->mtime_ns / 1000000000);
	ts[0].tv_nsec = ts[1].tv_nsec = (long)(p->e->mtime_ns % 1000000000);
	futimens(p->f.fd, ts);
	if (mpath(r, p->e, path, sizeof(path)) < 0 ||
	    (!p->in_place && (parents(r, path) < 0 || renameat(r->tfd, p->tmp, r->mfd, path) < 0))) {
		ckpt_remote_say(r, "%s://%s/%s: cannot be shown: its path clashes with another object's",
		    r->c.scheme, r->c.bucket, p->e->key);
		unlinkat(r->tfd, p->tmp, 0);
		return;
	}
	p->missing = p->e->size && p->e->size <= SMALL_OBJECT && !all_present(&p->f, p->e->size);
	if (ckpt_rpages_add(r->pages, p->f.fd, r->shared ? p->f.rel : path, p->e->key, p->e->etag,
			    p->e->size, p->f.map, p->f.map_len) < 0)
		ckpt_remote_say(r, "%s: out of memory", p->e->key);
	else
		p->placed = true;
	p->f.map = NULL; /* rpages has it */
}

/* makes the files of the new and changed entries: stage all, fetch the small, place (markers last) */
static size_t depth(const char *rel)
{
	size_t d = 0;

	for (; *rel; rel++)
		d += *rel == '/';
	return d;
}

struct by_depth {
	size_t depth, i;
};

static int depth_cmp(const void *a, const void *b)
{
	const struct by_depth *x = a, *y = b;

	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

#define WARM_MAX 8192 /* small objects kept open to be fetched in the background */

enum mode {
	FIRST,   /* the first listing: made in place, small objects fetched once serving */
	POLL,    /* a later listing: staged, small ones fetched, renamed in (markers last) */
	PREPARE, /* a deferred step, about to be read: made in place, small ones
		  * fetched in the background (opening a step reads none of them) */
};

/* Small objects just made are fetched in the background (warm_main), the
 * shallowest first (a step's _CHECKPOINT_METADATA, read to list the steps,
 * before an item's metadata, read when the item is opened); their files
 * stay open for that (placed already: p[i].f.fd is taken).  A reader that
 * gets there first fetches what it reads itself.  The queue is in order of
 * enum warm_prio: every step's own files first (one small object a step,
 * its _CHECKPOINT_METADATA: opening any step reads it, and `ls -l` opens
 * every step to show its time), then those of a step a reader opens (its
 * metadata is read next), the rest of the first listing's, and last those
 * of steps the warm thread makes on its own.  (A reader's step first made
 * `ls -l` of a root wait for each step's own file: every step it opened
 * went first.) */
static void defer_small(struct ckpt_remote *r, struct pending *p, size_t n, enum mode mode,
			bool urgent)
{
	struct by_depth *o = calloc(n ? n : 1, sizeof(*o));
	size_t m = 0;

	for (size_t i = 0; o && i < n; i++)
		if (p[i].f.fd >= 0 && p[i].placed && p[i].missing)
			o[m++] = (struct by_depth){ depth(p[i].e->rel), i };
	if (o)
		qsort(o, m, sizeof(*o), depth_cmp);
	pthread_mutex_lock(&r->warm_lock);
	m = CKPT_MIN(m, WARM_MAX - CKPT_MIN(r->n_warm - r->warm_head, (size_t)WARM_MAX));
	if (m && ckpt_grow((void **)&r->warm, &r->cap_warm, r->n_warm + m, sizeof(*r->warm)) < 0)
		m = 0;
	for (size_t j = 0; j < m; j++) {
		struct warm_ent e = { p[o[j].i].f.fd, WARM_BACKGROUND };
		size_t at = r->n_warm;

		if (mode == FIRST)
			e.prio = o[j].depth <= 1 ? WARM_STEPS : WARM_FIRST;
		else if (urgent)
			e.prio = WARM_OPENED;
		while (at > r->warm_head && r->warm[at - 1].prio > e.prio)
			at--;
		memmove(r->warm + at + 1, r->warm + at, (r->n_warm - at) * sizeof(*r->warm));
		r->warm[at] = e;
		r->n_warm++;
		p[o[j].i].f.fd = -1;
	}
	pthread_cond_signal(&r->warm_cond);
	pthread_mutex_unlock(&r->warm_lock);
	free(o);
}


static void materialise(struct ckpt_remote *r, struct entry **add, size_t n, enum mode mode,
			bool urgent)
{

	struct pending *p = calloc(n ? n : 1, sizeof(*p));

	if (!p) {
		ckpt_remote_say(r, "out of memory while mirroring %zu objects", n);
		return;
	}
	free(r->last_dir); /* a listing may have removed it since */
	r->last_dir = NULL;
	for (size_t i = 0; i < n; i++) {
		int rc;

		p[i].e = add[i];
		if ((rc = stage(r, &p[i], mode != POLL)) < 0) {
			char path[4096];

			if (rc == -EEXIST || rc == -ENOTDIR || rc == -EISDIR)
				ckpt_remote_say(r, "%s://%s/%s: cannot be shown: its path clashes with another object's",
				    r->c.scheme, r->c.bucket, p[i].e->key);
			else
				ckpt_remote_say(r, "cannot make a file of %llu bytes in cache_dir '%s': %s",
				    (unsigned long long)add[i]->size, r->dir, ckpt_strerror(rc));
			if (p[i].made && p[i].in_place && mpath(r, p[i].e, path, sizeof(path)) == 0)
				unlinkat(r->mfd, path, 0);
			else if (p[i].made)
				unlinkat(r->tfd, p[i].tmp, 0);
			ckpt_rstore_put(&p[i].f);
		}
	}
	/* a new step is complete when it appears; the first listing's small
	 * objects are fetched once the mount serves (listing the steps reads
	 * none of them: a root of many steps is served after its listing) */
	if (mode == POLL)
		prefetch_small(r, p, n);
	for (int markers = 0; markers < 2; markers++)
		for (size_t i = 0; i < n; i++)
			if (p[i].f.fd >= 0 && is_marker(p[i].e->rel) == markers)
				place(r, &p[i]);
	if (mode != POLL)
		defer_small(r, p, n, mode, urgent);
	for (size_t i = 0; i < n; i++) {
		if (p[i].f.map)
			munmap(p[i].f.map, p[i].f.map_len);
		ckpt_rstore_put(&p[i].f);
	}
	free(p);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->rel, ((const struct entry *)b)->rel);
}

/* the listing as entries, sorted by path; names a path cannot hold are skipped (and said) */
static int list(struct ckpt_remote *r, struct entry **out, size_t *n_out, bool *single,
		struct ckpt_err *err)
{
	struct ckpt_s3_obj *o = NULL;
	size_t n = 0, k = 0, plen = strlen(r->c.prefix);
	char *dirp = NULL;
	struct entry *e;
	int rc;

	*out = NULL;
	*n_out = 0;
	*single = false;
	if (plen && asprintf(&dirp, "%s/", r->c.prefix) < 0)
		return -ENOMEM;
	rc = ckpt_s3_list(r->s3, plen ? dirp : "", NULL, &o, &n, NULL, NULL, err);
	if (rc == 0 && n == 0 && plen) {
		/* no "directory": perhaps one object of that name (a Flax file) */
		rc = ckpt_s3_list(r->s3, r->c.prefix, "/", &o, &n, NULL, NULL, err);
		for (size_t i = 0; rc == 0 && i < n; i++)
			if (!strcmp(o[i].key, r->c.prefix))
				*single = true;
	}
	free(dirp);
	if (rc < 0)
		return rc;
	e = calloc(n ? n : 1, sizeof(*e));
	for (size_t i = 0; e && i < n; i++) {
		const char *rel = *single ? "" : o[i].key + (plen ? plen + 1 : 0);

		if (*single ? strcmp(o[i].key, r->c.prefix) != 0 : !ckpt_path_is_clean(rel, strlen(rel))) {
			if (!*single && rel[strlen(rel) - 1] != '/') /* "dir/" markers say nothing */
				ckpt_remote_say(r, "%s://%s/%s: skipped: not a name a file can have", r->c.scheme,
				    r->c.bucket, o[i].key);
			continue;
		}
		e[k].rel = strdup(rel);
		e[k].key = o[i].key;
		o[i].key = NULL;
		snprintf(e[k].etag, sizeof(e[k].etag), "%s", o[i].etag);
		e[k].size = o[i].size;
		e[k].mtime_ns = o[i].mtime_ns;
		if (!e[k++].rel)
			break;
	}
	ckpt_s3_objs_free(o, n);
	if (!e || (k && !e[k - 1].rel)) {
		ckpt_remote_entries_free(e, k);
		return -ENOMEM;
	}
	qsort(e, k, sizeof(*e), entry_cmp);
	*out = e;
	*n_out = k;
	return 0;
}

/* ---------------------------------------------------------------- deferred steps */

/* the length of rel's first component when rel is below one (0: at the top) */
static size_t group_len(const char *rel)
{
	const char *slash = strchr(rel, '/');

	return slash ? (size_t)(slash - rel) : 0;
}

static bool in_group(const char *rel, const char *name, size_t n)
{
	return !strncmp(rel, name, n) && rel[n] == '/';
}

/* the number a step's name ends with ("5", "000005", "checkpoint_5") */
static uint64_t trailing_number(const char *s, size_t n)
{
	size_t a = n;
	uint64_t v = 0;

	while (a > 0 && s[a - 1] >= '0' && s[a - 1] <= '9')
		a--;
	for (size_t i = a; i < n && i < a + 18; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	return v;
}

static int group_cmp(const void *a, const void *b)
{
	return strcmp(((const struct group *)a)->name, ((const struct group *)b)->name);
}

static struct group *find_group(struct ckpt_remote *r, const char *rel, size_t n)
{
	size_t lo = 0, hi = r->n_groups;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(r->groups[mid].name, rel, n);

		if (c == 0 && r->groups[mid].name[n])
			c = 1;
		if (c == 0)
			return &r->groups[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* [a, *b): the run of sorted entries in e[0, n) in the group of e[a] (one
 * entry when e[a] is at the top); its group's name is e[a].rel[0, len) */
static size_t group_run(const struct entry *e, size_t n, size_t a, size_t *len)
{
	size_t gl = group_len(e[a].rel), b = a + 1;

	while (gl && b < n && in_group(e[b].rel, e[a].rel, gl))
		b++;
	*len = gl;
	return b;
}

/* The first listing: each directory at the top that holds
 * _CHECKPOINT_METADATA is a step (an item may hold commit_success.txt, a
 * step's items never hold that); its files below its own are deferred (e
 * sorted). */
static void plan_groups(struct ckpt_remote *r, struct entry *e, size_t n)
{
	for (size_t a = 0, b, gl; a < n; a = b) {
		bool marker = false, deeper = false;
		struct group *g;

		b = group_run(e, n, a, &gl);
		for (size_t k = a; gl && k < b; k++) {
			marker = marker || (depth(e[k].rel) == 1 &&
					    !strcmp(e[k].rel + gl, "/_CHECKPOINT_METADATA"));
			deeper = deeper || depth(e[k].rel) >= 2;
		}
		if (!marker || !deeper ||
		    ckpt_grow((void **)&r->groups, &r->cap_groups, r->n_groups + 1, sizeof(*r->groups)) < 0)
			continue; /* (out of memory: made now, as before) */
		g = &r->groups[r->n_groups];
		if (!(g->name = ckpt_strndup(e[a].rel, gl)))
			continue;
		g->order = trailing_number(e[a].rel, gl);
		g->deferred = true;
		r->n_groups++;
		r->n_deferred++;
		for (size_t k = a; k < b; k++)
			if (depth(e[k].rel) >= 2) {
				e[k].deferred = true;
				r->deferred_objects++;
			}
	}
	if (r->n_groups > 1)
		qsort(r->groups, r->n_groups, sizeof(*r->groups), group_cmp);
}

static void undefer(struct ckpt_remote *r, struct group *g)
{
	g->deferred = false;
	__atomic_sub_fetch(&r->n_deferred, 1, __ATOMIC_RELAXED);
}

/* makes the files of a deferred step (sync_lock held); urgent: a reader opens it */
void ckpt_remote_prepare_group(struct ckpt_remote *r, struct group *g, bool urgent)
{
	size_t gl = strlen(g->name), m = 0;
	struct entry **add = calloc(r->n_known ? r->n_known : 1, sizeof(*add));

	if (!add) {
		ckpt_remote_say(r, "out of memory while making the files of step '%s'", g->name);
		return;
	}
	for (size_t i = 0; i < r->n_known; i++)
		if (r->known[i].deferred && in_group(r->known[i].rel, g->name, gl)) {
			r->known[i].deferred = false;
			add[m++] = &r->known[i];
		}
	undefer(r, g);
	__atomic_sub_fetch(&r->deferred_objects, m, __ATOMIC_RELAXED);
	materialise(r, add, m, PREPARE, urgent);
	free(add);
}

/* after the first listing is made: each deferred step's directory, by
 * which ckpt_src_prepare knows it (one that is not there is made now) */
static void locate_groups(struct ckpt_remote *r)
{
	for (size_t i = 0; i < r->n_groups; i++) {
		struct group *g = &r->groups[i];
		char path[4096];
		struct stat st;

		if (!g->deferred)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", r->top, g->name) < (int)sizeof(path) &&
		    fstatat(r->mfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
			g->dev = st.st_dev;
			g->ino = st.st_ino;
		} else {
			ckpt_remote_prepare_group(r, g, false);
		}
	}
}

/* a later listing: what is new in a deferred step is deferred too, and a
 * step with nothing deferred left (or gone) is deferred no more */
static void regroup(struct ckpt_remote *r, struct entry *now, size_t n)
{
	bool *seen = calloc(r->n_groups ? r->n_groups : 1, sizeof(*seen));

	for (size_t a = 0, b, gl; seen && a < n; a = b) {
		struct group *g;
		bool any = false;

		b = group_run(now, n, a, &gl);
		if (!gl || !(g = find_group(r, now[a].rel, gl)) || !g->deferred)
			continue;
		seen[g - r->groups] = true;
		for (size_t k = a; k < b && !any; k++)
			any = now[k].deferred;
		if (!any) {
			undefer(r, g);
			continue;
		}
		for (size_t k = a; k < b; k++)
			if (now[k].fresh && depth(now[k].rel) >= 2) {
				now[k].fresh = false;
				now[k].deferred = true;
				__atomic_add_fetch(&r->deferred_objects, 1, __ATOMIC_RELAXED);
			}
	}
	for (size_t i = 0; seen && i < r->n_groups; i++)
		if (r->groups[i].deferred && !seen[i])
			undefer(r, &r->groups[i]); /* the step went */
	free(seen);
}


/* ---------------------------------------------------------------- listings */

/* Lists again and brings the mirror in line: what went goes, what is new or
 * changed is made (a changed object's new file renamed over its old one);
 * in a deferred step only the listing changes. */
int ckpt_remote_sync(struct ckpt_remote *r, bool first, struct ckpt_err *err)
{
	struct entry *now, **add;
	size_t n, i = 0, j = 0, n_add = 0;
	bool single;
	int rc = list(r, &now, &n, &single, err);

	if (rc < 0)
		return rc;
	if (!(add = calloc(n ? n : 1, sizeof(*add)))) {
		ckpt_remote_entries_free(now, n);
		return -ENOMEM;
	}
	if (first)
		plan_groups(r, now, n);
	while (i < r->n_known || j < n) {
		int c = i == r->n_known ? 1 : j == n ? -1 : strcmp(r->known[i].rel, now[j].rel);

		if (c < 0) {
			if (r->known[i].deferred)
				__atomic_sub_fetch(&r->deferred_objects, 1, __ATOMIC_RELAXED);
			else
				unmirror(r, &r->known[i]);
			i++;
		} else if (c > 0) {
			now[j].fresh = !now[j].deferred;
			j++;
		} else {
			now[j].deferred = r->known[i].deferred;
			now[j].fresh = !now[j].deferred && (strcmp(r->known[i].etag, now[j].etag) ||
							    r->known[i].size != now[j].size);
			i++;
			j++;
		}
	}
	if (!first && r->n_deferred)
		regroup(r, now, n);
	for (i = 0; i < n; i++)
		if (now[i].fresh)
			add[n_add++] = &now[i];
	materialise(r, add, n_add, first ? FIRST : POLL, false);
	free(add);
	ckpt_remote_entries_free(r->known, r->n_known);
	r->known = now;
	r->n_known = n;
	if (first)
		locate_groups(r);
	return 0;
}
