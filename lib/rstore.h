/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rstore.h - the bytes fetched from object storage, on local disk (tier 2).
 *
 * One data file per object version (its key and ETag: a replaced object is
 * another file), sparse, of the object's size, and beside it a page map, a
 * bit per page that is set once the page's bytes are written.  The map is
 * mapped shared: every process using the store sees a page as soon as any
 * of them has fetched it.  A remote mount's mirror holds hard links to the
 * data files (remote.c), and rpages.c fetches into them.
 *
 *   DIR/objects/boot_id             the boot the store was filled in
 *   DIR/objects/XX/HASH.data, .map  HASH: SHA-256 of endpoint, bucket, key, ETag
 *
 * A store made in an earlier boot is emptied when opened: after a crash a
 * map may say present for bytes the disk lost.  Opening a shared store also
 * brings it under its bound, removing the objects no process is reading
 * (a reader holds a shared flock on the data file; see rpages.c), oldest
 * first.
 */
#ifndef CKPT_RSTORE_H
#define CKPT_RSTORE_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CKPT_RPAGE 4096u /* the unit of fetching and of the page map */

struct ckpt_rstore;

struct ckpt_robj_file {
	int fd;          /* the data file, read-write */
	uint8_t *map;    /* the page map, mapped shared */
	size_t map_len;
	char rel[96];    /* the data file's path below DIR */
};

/* the store in dirfd (objects/ is made there); bound: bytes on disk at most,
 * enforced at open (0: none) */
int ckpt_rstore_open(struct ckpt_rstore **out, int dirfd, uint64_t bound, struct ckpt_err *err);
void ckpt_rstore_close(struct ckpt_rstore *s);
int ckpt_rstore_dirfd(const struct ckpt_rstore *s);

/* opens (or makes) the files of one object version: id names it (endpoint,
 * bucket, key, ETag); a file of another size than `size` is made again */
int ckpt_rstore_get(struct ckpt_rstore *s, const char *id, uint64_t size, struct ckpt_robj_file *out);
/* closes the data file; the map stays mapped (whoever took it unmaps it) */
void ckpt_rstore_put(struct ckpt_robj_file *f);

#endif
