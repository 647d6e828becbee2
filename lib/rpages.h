/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rpages.h - the pages of a remote source's local mirror (tier 2).
 *
 * remote.c mirrors an object store prefix as a local directory tree of
 * sparse files, one per object, of the object's size.  The library reads
 * them as any local checkpoint; the source reader (fsutil.h) sends each read
 * here first, and the pages it needs that are not yet present are fetched
 * with range GETs (If-Match: the ETag listed, so an object replaced since is
 * never mixed with the old one), written into the file, then read from it.
 *
 * A page is CKPT_RPAGE bytes; a bit per page says it is present (set only
 * once its bytes are written; in a shared store the map is mapped shared
 * with other processes) and another that this process is fetching it (its
 * other readers wait for that fetch instead of sending their own).  A read's
 * missing pages are fetched in up to `parallel` parts sent at once; a reader
 * that goes on sequentially gets a growing window ahead of it, fetched by
 * the ahead threads while it reads on.  The bytes present are bounded (cache_size): past it, the least
 * recently read files give their pages back (a hole punched), never while a
 * read of that file is between its fetch and its pread.
 */
#ifndef CKPT_RPAGES_H
#define CKPT_RPAGES_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ckpt_s3;
struct ckpt_rpages;

struct ckpt_rpages_conf {
	struct ckpt_s3 *s3;
	const char *label;    /* "s3://bucket/": in front of keys in messages */
	int root_fd;          /* the store's directory (rstore.h): files reopened there to give pages back */
	uint64_t cache_size;  /* bytes of pages present at most (0: no bound) */
	unsigned parallel;    /* range GETs in flight for one read */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
};

struct ckpt_rpages_stats {
	uint64_t present_bytes, fetched_bytes, fetches, evicted_bytes, stale, errors;
};

int ckpt_rpages_new(struct ckpt_rpages **out, const struct ckpt_rpages_conf *c);
void ckpt_rpages_free(struct ckpt_rpages *p);

/*
 * Registers the mirror file open at fd as the object key with etag and
 * size: rel is its data file below root_fd (rstore.h), map its page map
 * (taken over: unmapped when p is freed, or here on failure).
 * @return 0, -ENOMEM, -EINVAL (a map too short), -errno
 */
int ckpt_rpages_add(struct ckpt_rpages *p, int fd, const char *rel, const char *key,
		    const char *etag, uint64_t size, uint8_t *map, size_t map_len);

/* the source reader's pread (struct ckpt_src_reader): ctx is the rpages */
ssize_t ckpt_rpages_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off);
/* the source reader's willneed: bytes [off, off+n) of fd made present now,
 * or (!wait) by the ahead threads (nothing when fd is not one of p's files;
 * a failure is met by the read) */
void ckpt_rpages_willneed(void *ctx, int fd, uint64_t off, uint64_t n, bool wait);

/* Fetches whole the objects open (writable) at fds, PREFETCH_MAX at once,
 * skipping those present or being read: small objects a mount will read one
 * after another (metadata), fetched while it is already serving. */
void ckpt_rpages_prefetch(struct ckpt_rpages *p, const int *fds, size_t n);

void ckpt_rpages_stats(struct ckpt_rpages *p, struct ckpt_rpages_stats *out);

#endif
