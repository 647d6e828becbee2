/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.h - where a pytree item's zarr objects live (tier 3): the keys of an
 * OCDBT database, or files under the item directory (non-OCDBT items, where
 * key "<param>/<chunk>" is the file <item>/<param>/<chunk>).
 * Immutable after open; safe to share between threads.
 */
#ifndef CKPT_STORE_H
#define CKPT_STORE_H

#include "err.h"
#include "ocdbt.h"

#include <stdbool.h>
#include <stdint.h>

struct ckpt_store {
	struct ckpt_ocdbt_db *db; /* OCDBT, or NULL for a directory store */
	int dirfd;                /* directory store: the item directory */
	const char *label;        /* the item directory, for messages */
};

/* One stored object: in memory (inline OCDBT values) or a byte range of a file. */
struct ckpt_blob {
	uint64_t len;
	const uint8_t *mem;
	int fd;
	bool own_fd;
	uint64_t off;
	char key[512]; /* for messages */
};

/* @return 0, -ENOENT (absent), CKPT_ECORRUPT, -errno */
int ckpt_store_get(const struct ckpt_store *s, const char *key, struct ckpt_blob *b,
		   struct ckpt_err *err);
/* Reads n bytes at off of the blob. */
int ckpt_blob_read(const struct ckpt_store *s, const struct ckpt_blob *b, uint64_t off, size_t n,
		   void *buf, struct ckpt_err *err);
/* Reads the whole blob into a new buffer of at most max bytes. */
int ckpt_blob_load(const struct ckpt_store *s, const struct ckpt_blob *b, size_t max,
		   uint8_t **out, struct ckpt_err *err);
void ckpt_blob_release(struct ckpt_blob *b);
/* the blob's bytes will be read soon (ckpt_src_willneed: a remote mirror
 * fetches them before the reader allocates its buffers; !wait: starts to) */
void ckpt_blob_willneed(const struct ckpt_blob *b, bool wait);
/* the same for bytes [off, off+n) of the blob */
void ckpt_blob_willneed_range(const struct ckpt_blob *b, uint64_t off, uint64_t n, bool wait);

#endif
