/* SPDX-License-Identifier: Apache-2.0 */
/*
 * readahead.h - a pool of threads that decode chunks ahead of sequential
 * readers into the decoded-chunk cache (tier 3).
 *
 * A job is a callback with its owner and two numbers, fn(owner, a, b): for
 * zarr.c (array, chunk, piece) - decode that chunk, or for a streamed chunk
 * its pieces up to `piece`.  The pool knows nothing of what a job does.  Submitting never blocks: a job already
 * queued is not queued twice, and when the queue is full the job is dropped
 * (read-ahead is a hint).  The threads start with the first job, so that a
 * process may fork (fuse_daemonize) after creating the pool.
 * ckpt_ra_forget() must run before an owner is freed: it drops the owner's
 * queued jobs and waits for its running one.  A job for (fn, owner, a) is
 * not queued again while one with b at least as large waits.
 */
#ifndef CKPT_READAHEAD_H
#define CKPT_READAHEAD_H

#include <stdint.h>

struct ckpt_ra;

typedef void (*ckpt_ra_fn)(void *owner, uint64_t a, uint64_t b);

int ckpt_ra_new(struct ckpt_ra **out, unsigned threads);
void ckpt_ra_free(struct ckpt_ra *p);
void ckpt_ra_submit(struct ckpt_ra *p, ckpt_ra_fn fn, void *owner, uint64_t a, uint64_t b);
void ckpt_ra_forget(struct ckpt_ra *p, const void *owner);
/* jobs run so far (statistics) */
uint64_t ckpt_ra_done(struct ckpt_ra *p);

#endif
