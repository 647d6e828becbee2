/* SPDX-License-Identifier: Apache-2.0 */
/* remote.h - what the library itself asks of remote sources (tier 2); the
 * API is in include/ckpt.h. */
#ifndef CKPT_REMOTE_H
#define CKPT_REMOTE_H

#include "include/ckpt.h"

struct ckpt_remote_stats {
	uint64_t requests, retries, errors, lists, bytes; /* sent to the store */
	uint64_t polls, poll_errors;
	uint64_t key_reloads; /* the profile's keys read again (refused) and changed */
	uint64_t cache_bytes, cache_limit, evicted_bytes; /* the mirror's pages */
	uint64_t stale; /* reads refused: the object was replaced since it was listed */
	uint64_t deferred; /* objects in steps not opened yet: no file in the mirror yet */
};
/* the process's remote source's counters; -ENOENT when there is none */
int ckpt_remote_stats(struct ckpt_remote_stats *out);

#endif
