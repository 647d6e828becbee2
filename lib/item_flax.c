/* SPDX-License-Identifier: Apache-2.0 */
/*
 * item_flax.c - the item kind "Flax msgpack file" (tier 4): a step that is
 * one msgpack file (flax.training.checkpoints), its tree read by msgpack.c.
 * A recorded version of it is a hard link in its history (msgpack_edit.c).
 */
#define _GNU_SOURCE
#include "kind.h"

#include <stdlib.h>

static int open_flax(struct ckpt_item *it, struct ckpt_err *err)
{
	char *vfile = NULL;
	int rc;

	it->store.dirfd = it->fd;
	it->store.label = it->label;
	if (it->is_version && !(vfile = ckpt_history_file(it->step, it->version)))
		return -ENOMEM;
	rc = ckpt_msgpack_open(it, vfile ? vfile : it->step->file, &(bool){ false }, err);
	free(vfile);
	return rc;
}

static bool claims_flax(const struct ckpt_item *it)
{
	return it->kind == CKPT_ITEM_PYTREE && it->step->file;
}

/* placeholders in the file are zarr arrays beside it: pytree.c opens them */
const struct ckpt_kind_ops ckpt_kind_flax = {
	.claims = claims_flax,
	.open = open_flax,
	.leaf_open = ckpt_pytree_leaf_open,
};
