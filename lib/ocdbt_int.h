/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_int.h - what ocdbt_gen.c (manifests, version tree) gives ocdbt.c
 * (the B+tree database); private to those two (tier 3).
 */
#ifndef CKPT_OCDBT_INT_H
#define CKPT_OCDBT_INT_H

#include "ocdbt.h"

/* len bytes at off of path (relative to dirfd), at most max: *out is new. */
int ckpt_ocdbt_read_node_bytes(int dirfd, const char *label, const char *path, uint64_t off,
			       uint64_t len, size_t max, uint8_t **out, struct ckpt_err *err);

typedef int (*ckpt_ocdbt_version_fn)(void *payload, const struct ckpt_ocdbt_version *v,
				     const struct ckpt_ocdbt_table *t);
/*
 * Calls fn for every version entry (leaf) of the version tree, oldest first:
 * interior references first (they hold older generations), then the
 * manifest's inline versions.
 */
int ckpt_ocdbt_versions_walk(int dirfd, const char *label, const struct ckpt_limits *lim,
			     const struct ckpt_ocdbt_manifest *m, ckpt_ocdbt_version_fn fn, void *payload,
			     struct ckpt_err *err);

#endif
