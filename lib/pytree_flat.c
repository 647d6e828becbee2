/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pytree_flat.c - the item kind "pytree without _METADATA" (tier 4): the
 * tree structure is unknown (Orbax cannot restore it), so every array in
 * the OCDBT database, or every directory holding .zarray or zarr.json, is
 * one leaf named by its parameter name, under the root.
 */
#define _GNU_SOURCE
#include "kind.h"

#include "fsutil.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int add_flat(struct ckpt_item *it, const char *param, size_t n)
{
	struct ckpt_node *node;

	if (ckpt_node_find(it->root, param, n))
		return 0;
	node = ckpt_node_new(it, it->root, param, n, 0, CKPT_NODE_ARRAY);
	if (!node || !(node->param = ckpt_strndup(param, n)))
		return -ENOMEM;
	node->value_type = "unknown";
	node->param_nul = memchr(param, 0, n) != NULL;
	return 0;
}

static bool ends_with(const uint8_t *p, size_t n, const char *suf, size_t *stem)
{
	size_t k = strlen(suf);

	if (n < k || memcmp(p + n - k, suf, k))
		return false;
	*stem = n - k;
	return true;
}

static int flat_from_ocdbt(struct ckpt_item *it)
{
	for (size_t i = 0; i < ckpt_ocdbt_count(it->db); i++) {
		const struct ckpt_ocdbt_value *v = ckpt_ocdbt_at(it->db, i);
		size_t stem;
		int rc;

		if (!ends_with(v->key.p, v->key.n, ".zarray", &stem) &&
		    !ends_with(v->key.p, v->key.n, "zarr.json", &stem))
			continue;
		if (stem && v->key.p[stem - 1] != '/')
			continue;
		rc = add_flat(it, (const char *)v->key.p, stem ? stem - 1 : 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* non-OCDBT: every directory holding .zarray or zarr.json is an array */
static int flat_from_dirs(struct ckpt_item *it, struct ckpt_err *err)
{
	struct walk {
		char *rel;
		unsigned depth;
	} *stack = NULL;
	size_t sn = 0, scap = 0, seen = 0;
	int rc = 0;

	if (ckpt_exists(it->fd, ".zarray") || ckpt_exists(it->fd, "zarr.json"))
		return add_flat(it, "", 0);
	if (ckpt_grow((void **)&stack, &scap, 1, sizeof(*stack)) < 0)
		return -ENOMEM;
	stack[sn++] = (struct walk){ NULL, 0 };
	while (sn > 0 && rc == 0) {
		struct walk w = stack[--sn];
		int fd = w.rel ? ckpt_open_beneath(it->fd, w.rel, O_RDONLY | O_DIRECTORY, 0)
			       : fcntl(it->fd, F_DUPFD_CLOEXEC, 3);
		DIR *d;

		if (fd < 0 || !(d = fdopendir(fd))) {
			if (fd >= 0)
				close(fd);
			free(w.rel);
			continue;
		}
		for (struct dirent *e; rc == 0 && (e = readdir(d));) {
			char *rel;
			int sub;

			if (e->d_name[0] == '.' || (!w.rel && (!strcmp(e->d_name, "d") ||
							       !strncmp(e->d_name, "ocdbt.", 6) ||
							       !strcmp(e->d_name, "array_metadatas"))))
				continue;
			if (++seen > 1000000 || w.depth >= 64) {
				rc = ckpt_err_set(err, -EFBIG, "'%s': directory tree too large", it->label);
				break;
			}
			sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				continue;
			if (asprintf(&rel, "%s%s%s", w.rel ? w.rel : "", w.rel ? "/" : "", e->d_name) < 0) {
				close(sub);
				rc = -ENOMEM;
				break;
			}
			if (ckpt_exists(sub, ".zarray") || ckpt_exists(sub, "zarr.json")) {
				rc = add_flat(it, rel, strlen(rel));
				free(rel);
			} else if (ckpt_grow((void **)&stack, &scap, sn + 1, sizeof(*stack)) < 0) {
				free(rel);
				rc = -ENOMEM;
			} else {
				stack[sn++] = (struct walk){ rel, w.depth + 1 };
			}
			close(sub);
		}
		closedir(d);
		free(w.rel);
	}
	while (sn > 0)
		free(stack[--sn].rel);
	free(stack);
	return rc;
}

int ckpt_pytree_flat_tree(struct ckpt_item *it, struct ckpt_err *err)
{
	it->root = ckpt_node_new(it, NULL, "", 0, 0, CKPT_NODE_DICT);
	if (!it->root)
		return -ENOMEM;
	return it->db ? flat_from_ocdbt(it) : flat_from_dirs(it, err);
}

static int open_flat(struct ckpt_item *it, struct ckpt_err *err)
{
	int rc = ckpt_pytree_begin(it, err);

	if (rc == 0)
		rc = ckpt_pytree_open_store(it, err);
	if (rc == 0)
		rc = ckpt_pytree_flat_tree(it, err);
	if (rc == 0)
		rc = ckpt_pytree_annotate(it);
	return rc;
}

static bool claims_flat(const struct ckpt_item *it)
{
	return it->kind == CKPT_ITEM_PYTREE && !it->step->file;
}

const struct ckpt_kind_ops ckpt_kind_pytree_flat = {
	.claims = claims_flat,
	.open = open_flat,
	.leaf_open = ckpt_pytree_leaf_open,
};
