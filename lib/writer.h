/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writer.h - writing Orbax checkpoints (tier 5): pytree items (OCDBT or not,
 * zarr v2 or v3) and steps, committed the way Orbax commits them.
 *
 * Calling sequence:
 *   ckpt_sw_begin(root, step)           creates <root>/<step>.orbax-checkpoint-tmp
 *   ckpt_sw_pytree(item) -> pw          one pytree item (item NULL: a direct checkpoint)
 *     ckpt_pw_array / _string / _empty  leaves, in the tree's flatten order
 *     ckpt_pw_finish                    writes arrays, OCDBT commits, metadata files
 *   ckpt_sw_json(item, json)            a JSON item
 *   ckpt_sw_commit                      _CHECKPOINT_METADATA, commit_success.txt,
 *                                       fsync, rename to <root>/<step>
 * ckpt_sw_free() without a commit removes the tmp directory.  Array data comes
 * from a source callback and is encoded chunk by chunk; large chunks stream
 * straight to disk, so memory does not grow with the leaf's size.
 * One thread at a time.
 */
#ifndef CKPT_WRITER_H
#define CKPT_WRITER_H

#include "ckpt_limits.h"
#include "dtype.h"
#include "err.h"
#include "ocdbt_write.h"
#include "pyformat.h"

#include <jansson.h>

struct ckpt_wopts {
	bool ocdbt;            /* default true */
	bool zarr3;            /* default false (Orbax's v0 API default) */
	bool compress;         /* default true (zstd) */
	unsigned processes;    /* per-process OCDBT databases, default 1 */
	uint64_t chunk_bytes;  /* chunk size limit; 0: Orbax's (one chunk, at most 2 GiB) */
	bool no_fsync;         /* tests and benchmarks only */
	struct ckpt_ocdbt_hooks hooks; /* injected names, times and uuids; fault steps */
	uint64_t stream_threshold; /* contiguous chunks above this are streamed (default 64 MiB) */
	const struct ckpt_ocdbt_config *ocdbt_cfg; /* new databases' config; NULL: Orbax's */
	bool zstd_unsized; /* zarr v2 frames as TensorStore wrote them before 0.1.85 */
	/* OCDBT commits: 0 (default) one per array, as the real TensorStore's
	 * show in small checkpoints; n > 0 coalesces n arrays per commit (the
	 * writer rewrites the tree at each commit: large trees need this) */
	unsigned arrays_per_commit;
};

void ckpt_wopts_default(struct ckpt_wopts *o);

/* struct ckpt_key (a key of a pytree path): pyformat.h */

/* produces bytes [off, off+n) of the array, C order, little-endian */
typedef int (*ckpt_source_fn)(void *ctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err);

struct ckpt_pytree_writer;
struct ckpt_step_writer;

int ckpt_sw_begin(struct ckpt_step_writer **out, const char *root, const char *step,
		  const struct ckpt_wopts *o, const struct ckpt_limits *lim, struct ckpt_err *err);
/* item NULL: the step directory itself is the pytree (a direct checkpoint) */
int ckpt_sw_pytree(struct ckpt_step_writer *sw, const char *item, struct ckpt_pytree_writer **pw,
		   struct ckpt_err *err);
int ckpt_sw_json(struct ckpt_step_writer *sw, const char *item, const char *json, size_t n,
		 struct ckpt_err *err);
/* custom may be NULL */
int ckpt_sw_commit(struct ckpt_step_writer *sw, json_t *custom, struct ckpt_err *err);
void ckpt_sw_free(struct ckpt_step_writer *sw);
/* the path of the committed step */
const char *ckpt_sw_path(const struct ckpt_step_writer *sw);

/* value_type: "jax.Array", "np.ndarray" or "scalar" */
int ckpt_pw_array(struct ckpt_pytree_writer *pw, const struct ckpt_key *path, size_t depth,
		  const char *value_type, const struct ckpt_dtype *dt, uint32_t rank,
		  const uint64_t *shape, ckpt_source_fn src, void *ctx, struct ckpt_err *err);
int ckpt_pw_string(struct ckpt_pytree_writer *pw, const struct ckpt_key *path, size_t depth,
		   const char *s, size_t n, struct ckpt_err *err);
/* value_type: "Dict", "List", "Tuple" or "None" */
int ckpt_pw_empty(struct ckpt_pytree_writer *pw, const struct ckpt_key *path, size_t depth,
		  const char *value_type, struct ckpt_err *err);
int ckpt_pw_finish(struct ckpt_pytree_writer *pw, struct ckpt_err *err);


#endif
