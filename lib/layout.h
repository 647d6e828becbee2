/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layout.h - what a name, file or directory is in Orbax's layout
 * (layout.c), shared by sources (layout.c) and steps (step.c).  Private to
 * lib/.
 */
#ifndef CKPT_LAYOUT_H
#define CKPT_LAYOUT_H

#include "model.h"

/* a temporary or partial save (not committed) */
bool ckpt_layout_is_uncommitted_name(const char *name);
/* "N", zero-padded "000N", or "<prefix>_N" (Orbax step_from_checkpoint_name) */
bool ckpt_layout_parse_step(const char *name, uint64_t *num);
/* a Flax checkpoint file name "<prefix><step>"; *key: the step as a number */
bool ckpt_layout_flax_step(const char *name, double *key);
/* a regular file that starts like a msgpack map */
bool ckpt_layout_is_msgpack_file(int dirfd, const char *name);
bool ckpt_layout_has_file(int dirfd, const char *name);
/* p[0, n), the start of a file of size bytes, reads as one Flax msgpack
 * checkpoint as far as it goes (treescan.c; ckpt_is_flax_file sniffs with it) */
bool ckpt_layout_flax_sniff(const uint8_t *p, size_t n, uint64_t size);
/* a directory that holds a pytree item's own files */
bool ckpt_layout_looks_pytree(int fd);
/* a directory with Orbax's msgpack aggregate file "checkpoint" */
bool ckpt_layout_looks_legacy_aggregate(int fd);
/* a directory ckpt_src_open takes for a manager root with steps, or one
 * checkpoint (not an empty or step-less manager root) */
bool ckpt_layout_is_checkpoint_dir(int fd);
/* the sub-directory name of fd (not following symlinks), or -errno */
int ckpt_layout_opendir_at(int fd, const char *name);

#endif
