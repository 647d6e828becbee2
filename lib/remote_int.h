/* SPDX-License-Identifier: Apache-2.0 */
/* remote_int.h - what remote_conf.c, remote_mirror.c and remote.c share (tier 2). */
#ifndef CKPT_REMOTE_INT_H
#define CKPT_REMOTE_INT_H

#include "s3.h"

#include <stdint.h>

struct ckpt_remote_conf {
	struct ckpt_s3_conf s3;
	char *url, *scheme, *bucket, *prefix;
	char *cache_dir;
	uint64_t cache_size; /* 0: the default */
	unsigned poll_ms, parallel;
	unsigned warm_steps; /* steps made in the background after mount, the newest first */
};

/* a copy of s's strings in d, without its store options (d->s3 all zero) */
int ckpt_remote_conf_copy(struct ckpt_remote_conf *d, const struct ckpt_remote_conf *s);

/* ---------------------------------------------------------------- remote.c and remote_mirror.c */

#include "err.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

struct ckpt_rpages;
struct ckpt_rstore;

/* a small object to fetch in the background: its file, open, and when */
enum warm_prio {
	WARM_STEPS,      /* the first listing's steps' own files: opening any step reads them */
	WARM_OPENED,     /* a step a reader opens: its metadata is read next */
	WARM_FIRST,      /* the rest of the first listing's */
	WARM_BACKGROUND, /* a step the warm thread makes on its own: a few at a time */
};
struct warm_ent {
	int fd;
	enum warm_prio prio;
};

#define SMALL_OBJECT (64u << 10) /* fetched whole when listed */
#define SMALL_MAX 8192           /* of them per listing */
#define PREFETCH_PARALLEL 64


struct entry {
	char *rel; /* below the mirror's top ("" for a single object) */
	char *key;
	char etag[80];
	uint64_t size;
	int64_t mtime_ns;
	bool deferred; /* in a step left for later: no file yet (struct group) */
	bool fresh;    /* new or changed in this listing (sync_mirror) */
};

/* A step of the first listing (a directory at the top holding
 * _CHECKPOINT_METADATA) whose deeper files are made when it is first opened
 * (ckpt_src_prepare from ckpt_step_open), or by the warm thread, newest
 * step first: a root of many steps is served once its listing is, not
 * once thousands of files are made. */
struct group {
	char *name;
	dev_t dev; /* its directory in the mirror */
	ino_t ino;
	uint64_t order; /* the step number in its name: the newest is made first */
	bool deferred;
};

struct ckpt_remote {
	struct ckpt_remote_conf c;
	struct ckpt_s3 *s3;
	struct ckpt_rpages *pages;
	char *dir, *top, *path; /* dir: private; top: the mirror's name in dir/m; path: dir/m/top */
	char *url;
	int mfd, tfd;           /* dir/m and dir/tmp */
	int lfd;                /* dir/lock, flocked while the mount lives */
	bool shared;            /* a cache_dir was given: the bytes go to its store (rstore.c) */
	int sfd;                /* that store's directory */
	char *store_id;         /* the store's name of the endpoint (in each object's id) */
	char *last_dir;         /* the mirror's directory made last (parents()) */
	struct ckpt_rstore *store;
	bool single;            /* the URL names one object (a msgpack file) */
	struct entry *known;
	size_t n_known;
	uint64_t tmp_seq, polls, poll_errors;
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
	pthread_mutex_t sync_lock;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	pthread_t poller;
	bool polling, stop, failing;
	/* small objects to fetch in the background (warm_main): their files,
	 * open; the first listing's, then those of each step made since */
	pthread_mutex_t warm_lock;
	pthread_cond_t warm_cond;
	struct warm_ent *warm; /* in order of prio, then of arrival */
	size_t warm_head, n_warm, cap_warm;
	struct group *groups; /* sorted by name */
	size_t n_groups, cap_groups, n_deferred; /* n_deferred: groups still deferred (read unlocked) */
	uint64_t deferred_objects;   /* objects without a file yet (read unlocked) */
	pthread_t warmer;
	bool warming;
};

/* a line to the log (the mount's, or the command's stderr) */
void ckpt_remote_say(struct ckpt_remote *r, const char *fmt, ...) CKPT_PRINTF(2, 3);
void ckpt_remote_entries_free(struct entry *e, size_t n);
/* lists again and brings the mirror in line (sync_lock held, or at open) */
int ckpt_remote_sync(struct ckpt_remote *r, bool first, struct ckpt_err *err);
/* makes the files of a deferred step (sync_lock held); urgent: a reader opens it */
void ckpt_remote_prepare_group(struct ckpt_remote *r, struct group *g, bool urgent);

#endif
