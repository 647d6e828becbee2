/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spill.c - the spill of decoded pieces to local disk (tier 2); see
 * spill.h.
 *
 * One list of chunks under one mutex, most recently used first (a few
 * hundred at most: MAX_CHUNKS).  Each chunk has an unlinked file, a bitmap
 * of the pieces whose bytes are all written (`have`) and one of those
 * being written (`busy`).  Bytes are reserved under the lock before a
 * write, so the bound holds at every moment; the write and the reads run
 * outside it, holding the chunk (users), and a chunk in use is never
 * closed: one forgotten meanwhile is closed by its last user.
 *
 * Writes run on one thread of their own, fed by a short queue: the
 * decoding thread goes on decoding while the last piece is copied into the
 * file (on the first pass over a 256 MiB one-chunk leaf, writing in the
 * decoding thread made the pass 1.5-2.5x slower, the write a second copy
 * of every byte).  A full queue makes the producer wait: every piece
 * decoded is offered to the spill, whatever the disk's speed.  The thread
 * starts with the first piece, so that the process may fork
 * (fuse_daemonize) after opening the spill.
 */
#define _GNU_SOURCE
#include "spill.h"

#include "err.h"
#include "include/ckpt.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CHUNKS 1024
#define BLOCK 4096
#define QUEUE_MAX 4

struct sjob {
	struct ckpt_spill_key k;
	uint64_t piece;
	const uint8_t *data;
	size_t n;
	ckpt_spill_done_fn done;
	void *ctx;
};

struct schunk {
	struct ckpt_spill_key k;
	int fd;
	uint64_t *have, *busy; /* bitmaps of pieces */
	uint64_t bytes;        /* reserved: pieces written or being written */
	unsigned users;
	bool dead;             /* forgotten while in use: the last user frees it */
	struct schunk *next;   /* most recently used first */
};

struct ckpt_spill {
	pthread_mutex_t lock;
	int dir_fd; /* where the files are made (with no name: O_TMPFILE) */
	uint64_t bound, used;
	uint64_t seq; /* file names, where O_TMPFILE is not supported */
	struct schunk *chunks;
	unsigned n_chunks;
	struct ckpt_spill_stats st;
	/* the writer thread and its queue */
	pthread_cond_t work, room, idle;
	struct sjob q[QUEUE_MAX];
	size_t head, nq;
	bool writing;         /* a job is being written, */
	uint64_t writing_of;  /* of this owner */
	pthread_t thread;
	bool started, no_thread, stop;
};

static uint64_t round_block(uint64_t n)
{
	return (n + BLOCK - 1) / BLOCK * BLOCK;
}

static bool bit(const uint64_t *b, uint64_t i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static void set_bit(uint64_t *b, uint64_t i, bool v)
{
	if (v)
		b[i / 64] |= (uint64_t)1 << (i % 64);
	else
		b[i / 64] &= ~((uint64_t)1 << (i % 64));
}

int ckpt_spill_open(struct ckpt_spill **out, const char *parent, uint64_t bytes,
		    struct ckpt_err *err)
{
	struct ckpt_spill *sp;
	int rc;

	*out = NULL;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->dir_fd = -1;
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->work, NULL);
	pthread_cond_init(&sp->room, NULL);
	pthread_cond_init(&sp->idle, NULL);
	sp->bound = sp->st.budget = bytes;
	/* no directory of its own: the files have no name there (O_TMPFILE),
	 * so nothing is left behind, however the process ends */
	sp->dir_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dir_fd < 0 || faccessat(sp->dir_fd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		rc = ckpt_err_set(err, -errno, "spill directory in '%s': %s", parent, strerror(errno));
		ckpt_spill_close(sp);
		return rc;
	}
	*out = sp;
	return 0;
}

static void chunk_free(struct schunk *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->have);
	free(c->busy);
	free(c);
}

void ckpt_spill_close(struct ckpt_spill *sp)
{
	if (!sp)
		return;
	pthread_mutex_lock(&sp->lock);
	sp->stop = true;
	pthread_cond_signal(&sp->work);
	pthread_mutex_unlock(&sp->lock);
	if (sp->started)
		pthread_join(sp->thread, NULL); /* after what was queued */
	while (sp->chunks) {
		struct schunk *c = sp->chunks;

		sp->chunks = c->next;
		chunk_free(c);
	}
	if (sp->dir_fd >= 0)
		close(sp->dir_fd);
	pthread_cond_destroy(&sp->work);
	pthread_cond_destroy(&sp->room);
	pthread_cond_destroy(&sp->idle);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
}

/* a file with no name in the spill's directory: its space is freed when it
 * is closed, or when the process ends, however it ends */
static int anon_file(struct ckpt_spill *sp)
{
	char name[64];
	int fd = openat(sp->dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	/* no O_TMPFILE here: a name, unlinked at once */
	snprintf(name, sizeof(name), ".ckptfs-spill.%ld.%llu", (long)getpid(),
		 (unsigned long long)++sp->seq);
	fd = openat(sp->dir_fd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		unlinkat(sp->dir_fd, name, 0);
	return fd;
}

/* the chunk of k, moved to the front; NULL when absent (locked) */
static struct schunk *find(struct ckpt_spill *sp, const struct ckpt_spill_key *k)
{
	for (struct schunk **pp = &sp->chunks; *pp; pp = &(*pp)->next) {
		struct schunk *c = *pp;

		if (c->k.owner == k->owner && c->k.chunk == k->chunk && !c->dead) {
			*pp = c->next;
			c->next = sp->chunks;
			sp->chunks = c;
			return c;
		}
	}
	return NULL;
}

/* takes c out of the list (locked); freed now, or by its last user */
static void drop(struct ckpt_spill *sp, struct schunk **pp, bool evicted)
{
	struct schunk *c = *pp;

	*pp = c->next;
	sp->n_chunks--;
	if (evicted)
		sp->st.evicted += c->bytes;
	if (c->users) {
		c->dead = true; /* its bytes stay counted until it is closed */
		return;
	}
	sp->used -= c->bytes;
	chunk_free(c);
}

/* closes the least recently used chunk not in use other than keep (locked) */
static bool evict_one(struct ckpt_spill *sp, const struct schunk *keep)
{
	struct schunk **victim = NULL;

	for (struct schunk **pp = &sp->chunks; *pp; pp = &(*pp)->next)
		if (*pp != keep && !(*pp)->users)
			victim = pp;
	if (!victim)
		return false;
	drop(sp, victim, true);
	return true;
}

static struct schunk *chunk_new(struct ckpt_spill *sp, const struct ckpt_spill_key *k)
{
	uint64_t pieces = (k->chunk_bytes + k->piece_bytes - 1) / k->piece_bytes, words = pieces / 64 + 1;
	struct schunk *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->k = *k;
	c->have = calloc(words, sizeof(uint64_t));
	c->busy = calloc(words, sizeof(uint64_t));
	c->fd = anon_file(sp);
	if (!c->have || !c->busy || c->fd < 0) {
		chunk_free(c);
		return NULL;
	}
	if (sp->n_chunks >= MAX_CHUNKS)
		evict_one(sp, NULL);
	c->next = sp->chunks;
	sp->chunks = c;
	sp->n_chunks++;
	return c;
}

/* the last user of a chunk lets it go (locked) */
static void unuse(struct ckpt_spill *sp, struct schunk *c)
{
	if (--c->users == 0 && c->dead) {
		sp->used -= c->bytes;
		chunk_free(c);
	}
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* writes one piece, in the calling thread */
static void put_now(struct ckpt_spill *sp, const struct ckpt_spill_key *k, uint64_t piece,
		    const uint8_t *data, size_t n)
{
	uint64_t need = round_block(n), at = piece * k->piece_bytes;
	struct schunk *c;
	int rc;

	pthread_mutex_lock(&sp->lock);
	c = find(sp, k);
	if (!c && !(c = chunk_new(sp, k))) {
		sp->st.errors++;
		pthread_mutex_unlock(&sp->lock);
		return;
	}
	if (bit(c->have, piece) || bit(c->busy, piece)) {
		pthread_mutex_unlock(&sp->lock);
		return;
	}
	while (sp->used + need > sp->bound && evict_one(sp, c))
		;
	if (sp->used + need > sp->bound) {
		/* this chunk alone fills the bound: it keeps what it has */
		pthread_mutex_unlock(&sp->lock);
		return;
	}
	sp->used += need;
	c->bytes += need;
	c->users++;
	set_bit(c->busy, piece, true);
	pthread_mutex_unlock(&sp->lock);

	rc = write_all(c->fd, data, n, at);
	if (rc < 0) /* a short write's blocks go back (a failure here changes nothing) */
		fallocate(c->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)at, (off_t)need);

	pthread_mutex_lock(&sp->lock);
	set_bit(c->busy, piece, false);
	if (rc == 0) {
		set_bit(c->have, piece, true);
		sp->st.written += n;
	} else {
		sp->st.errors++;
		c->bytes -= need;
		sp->used -= need;
	}
	unuse(sp, c);
	pthread_mutex_unlock(&sp->lock);
}

static void *writer_main(void *arg)
{
	struct ckpt_spill *sp = arg;

	pthread_mutex_lock(&sp->lock);
	for (;;) {
		struct sjob j;

		while (!sp->nq && !sp->stop)
			pthread_cond_wait(&sp->work, &sp->lock);
		if (!sp->nq)
			break;
		j = sp->q[sp->head];
		sp->head = (sp->head + 1) % QUEUE_MAX;
		sp->nq--;
		sp->writing = true;
		sp->writing_of = j.k.owner;
		pthread_cond_signal(&sp->room);
		pthread_mutex_unlock(&sp->lock);
		put_now(sp, &j.k, j.piece, j.data, j.n);
		if (j.done)
			j.done(j.ctx);
		pthread_mutex_lock(&sp->lock);
		sp->writing = false;
		pthread_cond_broadcast(&sp->idle);
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

void ckpt_spill_put(struct ckpt_spill *sp, const struct ckpt_spill_key *k, uint64_t piece,
		    const uint8_t *data, size_t n, ckpt_spill_done_fn done, void *ctx)
{
	if (!sp || round_block(n) > sp->bound) {
		if (done)
			done(ctx);
		return;
	}
	pthread_mutex_lock(&sp->lock);
	if (!sp->started && !sp->no_thread) {
		sp->started = pthread_create(&sp->thread, NULL, writer_main, sp) == 0;
		sp->no_thread = !sp->started;
	}
	if (sp->no_thread) {
		/* no thread: written here */
		pthread_mutex_unlock(&sp->lock);
		put_now(sp, k, piece, data, n);
		if (done)
			done(ctx);
		return;
	}
	while (sp->nq == QUEUE_MAX)
		pthread_cond_wait(&sp->room, &sp->lock);
	sp->q[(sp->head + sp->nq++) % QUEUE_MAX] = (struct sjob){ *k, piece, data, n, done, ctx };
	pthread_cond_signal(&sp->work);
	pthread_mutex_unlock(&sp->lock);
}

bool ckpt_spill_has(struct ckpt_spill *sp, const struct ckpt_spill_key *k, uint64_t piece)
{
	struct schunk *c;
	bool yes;

	if (!sp)
		return false;
	pthread_mutex_lock(&sp->lock);
	c = find(sp, k);
	yes = c && bit(c->have, piece);
	pthread_mutex_unlock(&sp->lock);
	return yes;
}

int ckpt_spill_get(struct ckpt_spill *sp, const struct ckpt_spill_key *k, uint64_t off, size_t n,
		   uint8_t *out)
{
	uint64_t piece = off / k->piece_bytes;
	struct schunk *c;
	size_t got = 0;

	if (!sp)
		return -ENOENT;
	pthread_mutex_lock(&sp->lock);
	c = find(sp, k);
	if (!c || !bit(c->have, piece)) {
		pthread_mutex_unlock(&sp->lock);
		return -ENOENT;
	}
	c->users++;
	pthread_mutex_unlock(&sp->lock);

	while (got < n) {
		ssize_t r = pread(c->fd, out + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}

	pthread_mutex_lock(&sp->lock);
	if (got == n)
		sp->st.hits++;
	else
		set_bit(c->have, piece, false); /* unreadable: decoded again */
	unuse(sp, c);
	pthread_mutex_unlock(&sp->lock);
	return got == n ? 0 : -ENOENT;
}

void ckpt_spill_forget(struct ckpt_spill *sp, uint64_t owner)
{
	struct sjob gone[QUEUE_MAX];
	size_t n_gone = 0, kept = 0;

	if (!sp)
		return;
	pthread_mutex_lock(&sp->lock);
	/* its queued pieces are not written; the one being written finishes */
	for (size_t i = 0; i < sp->nq; i++) {
		struct sjob j = sp->q[(sp->head + i) % QUEUE_MAX];

		if (j.k.owner == owner)
			gone[n_gone++] = j;
		else
			sp->q[(sp->head + kept++) % QUEUE_MAX] = j;
	}
	sp->nq = kept;
	if (n_gone)
		pthread_cond_broadcast(&sp->room);
	while (sp->writing && sp->writing_of == owner)
		pthread_cond_wait(&sp->idle, &sp->lock);
	for (struct schunk **pp = &sp->chunks; *pp;) {
		if ((*pp)->k.owner == owner)
			drop(sp, pp, false);
		else
			pp = &(*pp)->next;
	}
	pthread_mutex_unlock(&sp->lock);
	for (size_t i = 0; i < n_gone; i++)
		if (gone[i].done)
			gone[i].done(gone[i].ctx);
}

void ckpt_spill_stats(struct ckpt_spill *sp, struct ckpt_spill_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!sp)
		return;
	pthread_mutex_lock(&sp->lock);
	*st = sp->st;
	st->bytes = sp->used;
	st->chunks = sp->n_chunks;
	pthread_mutex_unlock(&sp->lock);
}
