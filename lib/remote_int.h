/* SPDX-License-Identifier: Apache-2.0 */
/* remote_int.h - what remote_conf.c and remote.c share (tier 2). */
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

#endif
