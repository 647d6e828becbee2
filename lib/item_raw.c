/* SPDX-License-Identifier: Apache-2.0 */
/*
 * item_raw.c - the item kind "raw" (tier 4): a directory of a handler
 * ckptfs does not know, shown as it is (regular files and directories).
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
#include <sys/stat.h>
#include <unistd.h>

/* mirrors a directory: regular files become FILE nodes, directories dict nodes */
static int open_raw_item(struct ckpt_item *it, struct ckpt_err *err)
{
	struct walk {
		struct ckpt_node *node;
		char *rel;
	} *stack = NULL;
	size_t sn = 0, scap = 0;
	int rc = 0;

	it->root = ckpt_node_new(it, NULL, "", 0, 0, CKPT_NODE_DICT);
	if (!it->root || ckpt_grow((void **)&stack, &scap, 1, sizeof(*stack)) < 0)
		return -ENOMEM;
	stack[sn++] = (struct walk){ it->root, NULL };
	while (sn > 0 && rc == 0) {
		struct walk w = stack[--sn];
		DIR *d;
		int fd = w.rel ? ckpt_open_beneath(it->fd, w.rel, O_RDONLY | O_DIRECTORY, 0)
			       : fcntl(it->fd, F_DUPFD_CLOEXEC, 3);

		if (fd < 0 || !(d = fdopendir(fd))) {
			if (fd >= 0)
				close(fd);
			free(w.rel);
			continue; /* unreadable sub-directory: shown empty */
		}
		for (struct dirent *e; rc == 0 && (e = readdir(d));) {
			struct stat st;
			struct ckpt_node *n;
			char *rel;

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
			    strstr(e->d_name, ".__lock"))
				continue;
			if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
				continue;
			if (it->n_nodes >= 1000000 || sn >= it->step->src->o.lim.max_depth) {
				rc = ckpt_err_set(err, -EFBIG, "'%s': too many files", it->label);
				break;
			}
			if (asprintf(&rel, "%s%s%s", w.rel ? w.rel : "", w.rel ? "/" : "", e->d_name) < 0) {
				rc = -ENOMEM;
				break;
			}
			n = ckpt_node_new(it, w.node, e->d_name, strlen(e->d_name), 2,
					  S_ISDIR(st.st_mode) ? CKPT_NODE_DICT : CKPT_NODE_FILE);
			if (!n) {
				free(rel);
				rc = -ENOMEM;
				break;
			}
			if (S_ISDIR(st.st_mode)) {
				if (ckpt_grow((void **)&stack, &scap, sn + 1, sizeof(*stack)) < 0) {
					free(rel);
					rc = -ENOMEM;
					break;
				}
				stack[sn++] = (struct walk){ n, rel };
			} else {
				n->param = rel;
			}
		}
		closedir(d);
		free(w.rel);
	}
	while (sn > 0)
		free(stack[--sn].rel);
	free(stack);
	return rc;
}

static int raw_leaf_open(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_leaf *l,
			 struct ckpt_err *err)
{
	struct stat st;

	if (n->kind != CKPT_NODE_FILE)
		return -EISDIR;
	l->kind = LEAF_FILE;
	l->fd = ckpt_open_beneath(it->fd, n->param, O_RDONLY, 0);
	if (l->fd < 0)
		return ckpt_err_set(err, l->fd, "'%s/%s': %s", it->label, n->param, ckpt_strerror(l->fd));
	if (fstat(l->fd, &st) < 0)
		return ckpt_err_set(err, -errno, "'%s/%s': %s", it->label, n->param, ckpt_strerror(-errno));
	l->size = (uint64_t)st.st_size;
	return 0;
}

static bool claims_raw(const struct ckpt_item *it)
{
	return it->kind == CKPT_ITEM_RAW;
}

const struct ckpt_kind_ops ckpt_kind_raw = {
	.claims = claims_raw,
	.open = open_raw_item,
	.leaf_open = raw_leaf_open,
};
