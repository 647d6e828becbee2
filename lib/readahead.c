/* SPDX-License-Identifier: Apache-2.0 */
/*
 * readahead.c - the read-ahead pool (see readahead.h): a bounded FIFO of
 * jobs under one mutex, N worker threads, and per-job "running" marks so
 * that forgetting an array can wait for exactly its own work.
 */
#include "readahead.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define QUEUE_MAX 256

struct job {
	ckpt_ra_fn fn;
	void *owner; /* NULL: an idle slot in running[] */
	uint64_t a, b;
};

struct ckpt_ra {
	pthread_mutex_t lock;
	pthread_cond_t work, idle;
	struct job q[QUEUE_MAX];
	size_t head, n;
	pthread_t *threads;
	unsigned n_threads, want_threads; /* started on the first job: after a
					   * daemon's fork, never before */
	struct job *running; /* one slot per thread: what it runs, owner NULL when idle */
	bool stop;
	uint64_t done; /* jobs run */
};

struct worker {
	struct ckpt_ra *p;
	unsigned id;
};

static void *worker_main(void *arg)
{
	struct worker w = *(struct worker *)arg;
	struct ckpt_ra *p = w.p;

	free(arg);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct job j;

		while (!p->n && !p->stop)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		j = p->q[p->head];
		p->head = (p->head + 1) % QUEUE_MAX;
		p->n--;
		p->running[w.id] = j;
		pthread_mutex_unlock(&p->lock);
		j.fn(j.owner, j.a, j.b);
		pthread_mutex_lock(&p->lock);
		p->running[w.id].owner = NULL;
		p->done++;
		pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int ckpt_ra_new(struct ckpt_ra **out, unsigned threads)
{
	struct ckpt_ra *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->threads = calloc(threads ? threads : 1, sizeof(*p->threads));
	p->running = calloc(threads ? threads : 1, sizeof(*p->running));
	if (!p->threads || !p->running) {
		ckpt_ra_free(p);
		return -ENOMEM;
	}
	p->want_threads = threads;
	*out = p;
	return 0;
}

/* caller holds p->lock */
static void start_threads(struct ckpt_ra *p)
{
	while (p->n_threads < p->want_threads) {
		struct worker *w = malloc(sizeof(*w));

		if (!w)
			break;
		w->p = p;
		w->id = p->n_threads;
		if (pthread_create(&p->threads[p->n_threads], NULL, worker_main, w) != 0) {
			free(w);
			break;
		}
		p->n_threads++;
	}
	p->want_threads = p->n_threads; /* what could not start, never will */
}

void ckpt_ra_free(struct ckpt_ra *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p->running);
	free(p);
}

void ckpt_ra_submit(struct ckpt_ra *p, ckpt_ra_fn fn, void *owner, uint64_t a, uint64_t b)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->n_threads < p->want_threads)
		start_threads(p);
	if (!p->n_threads)
		goto out;
	for (size_t i = 0; i < p->n; i++) {
		struct job *j = &p->q[(p->head + i) % QUEUE_MAX];

		if (j->fn == fn && j->owner == owner && j->a == a && j->b >= b)
			goto out; /* already asked for */
	}
	if (p->n < QUEUE_MAX && !p->stop && owner) {
		p->q[(p->head + p->n) % QUEUE_MAX] = (struct job){ fn, owner, a, b };
		p->n++;
		pthread_cond_signal(&p->work);
	}
out:
	pthread_mutex_unlock(&p->lock);
}

uint64_t ckpt_ra_done(struct ckpt_ra *p)
{
	uint64_t n;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	n = p->done;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void ckpt_ra_forget(struct ckpt_ra *p, const void *owner)
{
	bool busy;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	/* drop its queued jobs, keeping the order of the others */
	{
		size_t kept = 0;

		for (size_t i = 0; i < p->n; i++) {
			struct job j = p->q[(p->head + i) % QUEUE_MAX];

			if (j.owner != owner)
				p->q[(p->head + kept++) % QUEUE_MAX] = j;
		}
		p->n = kept;
	}
	do {
		busy = false;
		for (unsigned i = 0; i < p->n_threads; i++)
			busy = busy || p->running[i].owner == owner;
		if (busy)
			pthread_cond_wait(&p->idle, &p->lock);
	} while (busy);
	pthread_mutex_unlock(&p->lock);
}
