/* SPDX-License-Identifier: Apache-2.0 */
/*
 * push.c - small leaves put into the kernel's page cache before they are
 * read.  A reader walking a step of many small leaves (`cat`, a numpy loop)
 * waits for two round trips through the daemon per leaf, OPEN and READ, one
 * leaf at a time, while the leaves are already decoded ahead (item.c's
 * cross-leaf read-ahead).  For each leaf that read-ahead schedules, of at
 * most PUSH_MAX bytes, in a tree whose files are cached by the kernel
 * (fs_immutable: keep_cache), a thread of its own reads the leaf and hands
 * its bytes to the kernel (FUSE_NOTIFY_STORE): the reader's READ never
 * comes, and the pages are allocated and filled off its path.
 *
 * That thread is never one a FUSE reply waits for: a store into pages the
 * kernel has locked for a READ waits until that READ is answered by a
 * worker.  For the same reason it is stopped before the device is closed,
 * answering meanwhile what the stopped loop left (after SIGTERM the kernel
 * may still hold a READ that such a store waits on).
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PUSH_MAX (1u << 20) /* larger leaves are read in large READs anyway */
#define QUEUE_MAX 1024

struct push_job {
	struct ckptfs *fs; /* the tree's mount (a tree mount's checkpoint) */
	struct tslot *ts;
	struct istate *st; /* held */
	const struct ckpt_node *node;
	fuse_ino_t ino;
	uint64_t size;
};

struct fs_push {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct push_job q[QUEUE_MAX];
	size_t head, n;
	pthread_t thread;
	bool started, stop, done;
	uint64_t leaves, bytes; /* pushed */
};

static bool same_leaf(const struct push_job *j)
{
	struct target t;
	bool same;

	if (fs_resolve(j->fs, j->ino, &t) < 0)
		return false;
	same = t.type == T_NODE && t.node == j->node && t.st == j->st;
	fs_put(&t);
	return same;
}

/* the leaf's bytes into the page cache: straight from the decoded chunk
 * when they lie in one (as READ replies do, ops.c), else copied into buf */
static int store_leaf(const struct push_job *j, struct ckpt_leaf *leaf, uint8_t *buf)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT((size_t)j->size);
	struct ckpt_err err = { 0, "" };
	struct ckpt_view v;
	int rc;

	if (ckpt_leaf_view(leaf, 0, (size_t)j->size, &v, &err) == 1) {
		rc = -1;
		if (v.n == j->size) {
			bv.buf[0].mem = (void *)v.p;
			rc = fs_notify_store(j->fs, j->ino, &bv);
		}
		ckpt_view_release(&v);
		return rc;
	}
	if (!buf || ckpt_leaf_read(leaf, buf, 0, (size_t)j->size, &err) != (int64_t)j->size)
		return -1;
	bv.buf[0].mem = buf;
	return fs_notify_store(j->fs, j->ino, &bv);
}

static void *pusher(void *arg)
{
	struct fs_push *p = arg;
	uint8_t *buf = malloc(PUSH_MAX);

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct push_job j;
		struct ckpt_err err = { 0, "" };
		struct ckpt_leaf *leaf;
		int rc = -1;

		if (!p->n) {
			pthread_cond_wait(&p->work, &p->lock);
			continue;
		}
		j = p->q[p->head];
		p->head = (p->head + 1) % QUEUE_MAX;
		p->n--;
		pthread_mutex_unlock(&p->lock);
		/* the inode is the leaf's (its name made the same way as a
		 * lookup's); an error: the reader gets it from its own READ */
		if (same_leaf(&j) && ckpt_item_leaf(j.st->item, j.node, &leaf, &err) == 0 &&
		    ckpt_leaf_size(leaf) == j.size)
			rc = store_leaf(&j, leaf, buf);
		fs_state_put(j.ts, j.st);
		pthread_mutex_lock(&p->lock);
		if (rc == 0) {
			p->leaves++;
			p->bytes += j.size;
		}
	}
	/* what is queued is not pushed: its states go back */
	while (p->n) {
		struct push_job *j = &p->q[p->head];

		p->head = (p->head + 1) % QUEUE_MAX;
		p->n--;
		fs_state_put(j->ts, j->st);
	}
	p->done = true;
	pthread_mutex_unlock(&p->lock);
	free(buf);
	return NULL;
}

/* the path key of node n, as a listing makes it (tree.c list_node) */
static char *node_key(const struct ckpt_node *n)
{
	const struct ckpt_node **up = NULL, *m;
	size_t depth = 0, cap = 0;
	char *key = strdup(""), *k;

	for (m = n; key && ckpt_node_parent(m); m = ckpt_node_parent(m)) {
		if (depth == cap) {
			const struct ckpt_node **nu = realloc(up, (cap = cap ? cap * 2 : 16) * sizeof(*nu));

			if (!nu) {
				free(key);
				key = NULL;
				break;
			}
			up = nu;
		}
		up[depth++] = m;
	}
	while (key && depth--) {
		const struct ckpt_node *p = ckpt_node_parent(up[depth]);
		char name[CKPT_NAME_MAX + 1];
		size_t kl;
		const char *kb = ckpt_node_key(up[depth], &kl);

		ckpt_name_escape(kb, kl, ckpt_node_dup_index(p, ckpt_node_pos(up[depth])), name);
		k = fs_key_join(key, name);
		free(key);
		key = k;
	}
	free(up);
	return key;
}

static struct fs_push *push_of(struct ckptfs *fs)
{
	return fs->parent ? fs->parent->push : fs->push;
}

struct leaf_ctx {
	struct ckptfs *fs;
	const struct target *t;
};

/* ckpt_item_leaves_ahead's callback: a leaf was scheduled */
static void scheduled(void *vctx, const struct ckpt_node *leaf, uint64_t size)
{
	struct leaf_ctx *c = vctx;
	struct fs_push *p = push_of(c->fs);
	struct istate *st;
	fuse_ino_t ino;
	char *key;

	if (!p || size == 0 || size > PUSH_MAX || !(key = node_key(leaf)))
		return;
	ino = fs_path_ino(c->fs, c->t->ts, key, 0);
	free(key);
	if (!ino || fs_state_get(c->fs, c->t->ts, &st) < 0)
		return;
	if (st != c->t->st) { /* the tree changed meanwhile */
		fs_state_put(c->t->ts, st);
		return;
	}
	pthread_mutex_lock(&p->lock);
	if (!p->started && !p->stop)
		p->started = pthread_create(&p->thread, NULL, pusher, p) == 0;
	if (p->started && !p->stop && p->n < QUEUE_MAX) {
		p->q[(p->head + p->n) % QUEUE_MAX] =
			(struct push_job){ c->fs, c->t->ts, st, leaf, ino, size };
		p->n++;
		st = NULL;
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->lock);
	fs_state_put(c->t->ts, st);
}

void fs_leaves_ahead(struct ckptfs *fs, const struct target *t)
{
	struct leaf_ctx c = { fs, t };
	bool push = push_of(fs) && fs_immutable(fs, t);

	ckpt_item_leaves_ahead(t->st->item, t->node, fs->o.readahead_bytes, push ? scheduled : NULL,
			       &c);
}

int fs_push_init(struct ckptfs *fs)
{
	struct fs_push *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	fs->push = p;
	return 0;
}

/* one request left by the stopped loop answered, if one comes within
 * 50 ms; false when the device is gone */
static bool answer_one(struct fuse_session *se)
{
	struct pollfd pfd = { fuse_session_fd(se), POLLIN, 0 };
	struct fuse_buf fbuf = { .mem = NULL };
	int r;

	r = poll(&pfd, 1, 50);
	if (r <= 0)
		return r == 0 || errno == EINTR;
	if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
		return false;
	r = fuse_session_receive_buf(se, &fbuf);
	if (r > 0)
		fuse_session_process_buf(se, &fbuf);
	free(fbuf.mem);
	return r > 0 || r == -EINTR || r == -EAGAIN;
}

bool fs_push_stop(struct ckptfs *fs, struct fuse_session *se)
{
	struct fs_push *p = fs->push;
	struct timespec t0, now;
	bool done, device = true;

	if (!p)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	while (p->started && !p->done) {
		pthread_mutex_unlock(&p->lock);
		/* a store into pages the kernel locked for a READ waits for its
		 * answer, and the loop's workers are gone: answer it here */
		if (device && se)
			device = answer_one(se);
		else
			usleep(10000);
		clock_gettime(CLOCK_MONOTONIC, &now);
		pthread_mutex_lock(&p->lock);
		if (now.tv_sec - t0.tv_sec > 10)
			break;
	}
	done = !p->started || p->done;
	pthread_mutex_unlock(&p->lock);
	if (!done)
		return false; /* left running: the device's close ends its store */
	if (p->started)
		pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
	fs->push = NULL;
	return true;
}

void fs_push_stats(struct ckptfs *fs, uint64_t *leaves, uint64_t *bytes)
{
	struct fs_push *p = push_of(fs);

	*leaves = *bytes = 0;
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	*leaves = p->leaves;
	*bytes = p->bytes;
	pthread_mutex_unlock(&p->lock);
}
