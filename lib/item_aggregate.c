/* SPDX-License-Identifier: Apache-2.0 */
/*
 * item_aggregate.c - the item kind "Orbax aggregate file without
 * _METADATA" (tier 4): an item written by Orbax before 0.5.16 whose tree
 * is its msgpack file "checkpoint" (read by msgpack.c), the arrays it names
 * as placeholders stored beside it.  With _METADATA the file's values are
 * laid over _METADATA's tree instead (pytree_meta.c).
 */
#define _GNU_SOURCE
#include "kind.h"

#include "fsutil.h"

#include <stdlib.h>

static int open_aggregate(struct ckpt_item *it, struct ckpt_err *err)
{
	char *agg = ckpt_item_meta_path(it, "checkpoint");
	int rc = agg ? ckpt_pytree_begin(it, err) : -ENOMEM;

	if (rc == 0)
		rc = ckpt_msgpack_open(it, agg, &(bool){ false }, err);
	free(agg);
	if (rc == 0)
		rc = ckpt_pytree_open_store(it, err);
	if (rc == 0)
		rc = ckpt_pytree_annotate(it);
	return rc;
}

/* tried after pytree_meta.c's kind: the item has no _METADATA */
static bool claims_aggregate(const struct ckpt_item *it)
{
	char *p;
	bool yes;

	if (it->kind != CKPT_ITEM_PYTREE || it->step->file)
		return false;
	p = ckpt_item_meta_path(it, "checkpoint");
	yes = p && ckpt_pytree_has_regular_file(it->fd, p);
	free(p);
	return yes;
}

const struct ckpt_kind_ops ckpt_kind_aggregate = {
	.claims = claims_aggregate,
	.open = open_aggregate,
	.leaf_open = ckpt_pytree_leaf_open,
};
