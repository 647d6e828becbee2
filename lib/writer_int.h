/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writer_int.h - what the writer's files share (tier 5): the pytree and
 * step writers' state.  The files stack:
 *   writer_pytree.c  a pytree item: leaves, OCDBT or directory arrays, the
 *                    metadata files (and the writers' small file helpers)
 *   writer.c         a step: begin, items, _CHECKPOINT_METADATA, the commit
 * Python's formats (repr, json.dumps) are pyformat.c.
 */
#ifndef CKPT_WRITER_INT_H
#define CKPT_WRITER_INT_H

#include "writer.h"
#include "zarr_write.h"

#define TARGET_FILE_BYTES ((uint64_t)2 << 30)

enum leaf_kind { L_ARRAY, L_STRING, L_EMPTY };

struct leaf {
	struct ckpt_key *path;
	size_t depth;
	char *param;
	enum leaf_kind kind;
	char *value_type;
	struct ckpt_zarr_spec spec;
	ckpt_source_fn src;
	void *ctx;
	char *str;
	size_t str_n;
};

struct ckpt_pytree_writer {
	struct ckpt_step_writer *sw;
	int fd;
	char *label;
	char *item;
	struct ckpt_wopts o;
	struct ckpt_limits lim;
	struct leaf *l;
	size_t n, cap;
	bool finished;
};

struct ckpt_step_writer {
	char *root, *step, *tmp, *final;
	int rootfd, fd;
	struct ckpt_wopts o;
	struct ckpt_limits lim;
	uint64_t init_ns;
	struct ckpt_pytree_writer **pw;
	size_t npw;
	char **items, **handlers;
	size_t nitems;
	bool direct, committed;
};

/* writer_pytree.c */
/* the time, or the hook's */
uint64_t ckpt_wr_now(const struct ckpt_wopts *o);
/* fsync of a directory unless no_fsync */
int ckpt_wr_sync_dirfd(const struct ckpt_wopts *o, int fd);
/* a new file of the step being written (the step is renamed in whole) */
int ckpt_wr_write_file(const struct ckpt_wopts *o, int dirfd, const char *label, const char *rel,
		       const void *p, size_t n, struct ckpt_err *err);
/* the same for a JSON document (j: stolen) */
int ckpt_wr_write_json(const struct ckpt_wopts *o, int dirfd, const char *label, const char *rel,
		       json_t *j, bool compact, struct ckpt_err *err);
/* frees a pytree writer */
void ckpt_wr_pw_free(struct ckpt_pytree_writer *pw);

#endif
