/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ckpt_limits.h - bounds on what untrusted input may make us allocate (tier
 * 0), part of the public API (struct ckpt_opts holds them).
 * A limit that is hit gives -EFBIG with a message naming it.
 */
#ifndef CKPT_PUBLIC_LIMITS_H
#define CKPT_PUBLIC_LIMITS_H

#include <stddef.h>
#include <stdint.h>

struct ckpt_limits {
	size_t max_json_bytes;     /* _METADATA, .zarray, zarr.json, ... */
	size_t max_node_bytes;     /* one OCDBT node, encoded or decoded */
	uint64_t max_keys;         /* keys of one OCDBT database */
	size_t max_chunk_bytes;    /* a chunk decoded whole into memory */
	uint32_t max_depth;        /* pytree nesting */
};

#define CKPT_LIMITS_DEFAULT                                                          \
	{                                                                            \
		.max_json_bytes = (size_t)1 << 30, .max_node_bytes = (size_t)1 << 30, \
		.max_keys = (uint64_t)1 << 26, .max_chunk_bytes = (size_t)1 << 30,    \
		.max_depth = 4096,                                                   \
	}

#endif
