/* SPDX-License-Identifier: Apache-2.0 */
/*
 * readahead.h - a pool of threads that decode chunks ahead of sequential
 * readers into the decoded-chunk cache (tier 3).
 *
 * A job is (array, chunk, piece): decode that whole chunk, or for a streamed
 * chunk its pieces up to `piece`.  Submitting never blocks: a job already
 * queued is not queued twice, and when the queue is full the job is dropped
 * (read-ahead is a hint).  The threads start with the first job, so that a
 * process may fork (fuse_daemonize) after creating the pool.
 * ckpt_ra_forget() must run before an array is freed: it drops the array's
 * queued jobs and waits for its running one.
 */
#ifndef CKPT_READAHEAD_H
#define CKPT_READAHEAD_H

#include <stdint.h>

struct ckpt_ra;
struct ckpt_array;

int ckpt_ra_new(struct ckpt_ra **out, unsigned threads);
void ckpt_ra_free(struct ckpt_ra *p);
void ckpt_ra_submit(struct ckpt_ra *p, struct ckpt_array *a, uint64_t chunk, uint64_t piece);
void ckpt_ra_forget(struct ckpt_ra *p, struct ckpt_array *a);
/* jobs run so far (statistics) */
uint64_t ckpt_ra_done(struct ckpt_ra *p);

/* zarr.c: what a job runs */
void ckpt_array_ra_run(struct ckpt_array *a, uint64_t chunk, uint64_t piece);

#endif
