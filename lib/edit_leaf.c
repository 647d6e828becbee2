/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edit_leaf.c - the lowest of the edit files (tier 5): the edit's leaves
 * and their key paths, and replacing one file of the item through the
 * commit module (commit.h), counting the bytes written.  See edit_int.h for
 * how the edit files stack.
 */
#define _GNU_SOURCE
#include "edit_int.h"

#include "buf.h"
#include "chunkio.h"
#include "commit.h"
#include "fsutil.h"
#include "ocdbt_write.h"
#include "util.h"
#include "writer.h"
#include "zarr_write.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void ckpt_edit_keys_free(struct ckpt_key *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)p[i].s);
	free(p);
}

void ckpt_edit_eleaf_release(struct eleaf *l)
{
	ckpt_edit_keys_free(l->path, l->depth);
	free(l->value_type);
	json_decref(l->vm);
	free(l->orig_param);
	free(l->dirty);
	free(l->str);
	memset(l, 0, sizeof(*l));
}

/* the key path of node n (new array) */
int ckpt_edit_node_path(const struct ckpt_node *n, struct ckpt_key **out, size_t *depth)
{
	size_t d = 0, i;
	struct ckpt_key *p;

	for (const struct ckpt_node *x = n; x->parent; x = x->parent)
		d++;
	p = calloc(d ? d : 1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	i = d;
	for (const struct ckpt_node *x = n; x->parent; x = x->parent) {
		i--;
		p[i].s = ckpt_strndup(x->key, x->key_n);
		p[i].n = x->key_n;
		p[i].type = x->key_type ? x->key_type : 2;
		if (!p[i].s) {
			ckpt_edit_keys_free(p, d);
			return -ENOMEM;
		}
	}
	*out = p;
	*depth = d;
	return 0;
}

static bool key_eq(const struct ckpt_key *a, const struct ckpt_key *b)
{
	return a->n == b->n && !memcmp(a->s, b->s, a->n);
}

/* is p (depth pd) a prefix of q (depth qd), strictly or not */
bool ckpt_edit_has_prefix(const struct ckpt_key *q, size_t qd, const struct ckpt_key *p, size_t pd,
			  bool strict)
{
	if (pd > qd || (strict && pd == qd))
		return false;
	for (size_t i = 0; i < pd; i++)
		if (!key_eq(&q[i], &p[i]))
			return false;
	return true;
}

char *ckpt_edit_param_of(const struct ckpt_key *p, size_t d)
{
	struct ckpt_buf b = CKPT_BUF_INIT;

	for (size_t i = 0; i < d; i++) {
		if (i)
			ckpt_buf_addc(&b, '.');
		ckpt_buf_add(&b, p[i].s, p[i].n);
	}
	ckpt_buf_add(&b, "", 0);
	if (ckpt_buf_finish(&b) < 0) {
		ckpt_buf_release(&b);
		return NULL;
	}
	return (char *)ckpt_buf_detach(&b, NULL);
}

enum ekind ckpt_edit_kind_of(const struct ckpt_node *n)
{
	switch (n->kind) {
	case CKPT_NODE_ARRAY: return E_ARRAY;
	case CKPT_NODE_STRING: return E_STRING;
	case CKPT_NODE_EMPTY: return E_EMPTY;
	default: return E_NONE;
	}
}

int ckpt_edit_sync_parent(int dirfd, const char *rel)
{
	const struct ckpt_commit c = { dirfd, "", false, NULL, NULL };

	return ckpt_commit_sync_parent(&c, rel);
}

/* writes rel beneath dirfd through rel.ckptfs-tmp + fsync + rename (commit.h) */
int ckpt_edit_replace_file(struct ckpt_edit *e, int dirfd, const char *label, const char *rel,
			   const void *p, size_t n, struct ckpt_err *err)
{
	const struct ckpt_commit c = { dirfd, label, false, NULL, NULL };
	int rc = ckpt_commit_file(&c, rel, NULL, p, n, err);

	if (rc == 0)
		e->written += n;
	return rc;
}

int ckpt_edit_replace_json(struct ckpt_edit *e, int dirfd, const char *label, const char *rel, json_t *j,
			   bool compact, struct ckpt_err *err)
{
	char *s = compact ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : ckpt_py_json_dumps(j);
	int rc;

	if (!s)
		return -ENOMEM;
	rc = ckpt_edit_replace_file(e, dirfd, label, rel, s, strlen(s), err);
	free(s);
	return rc;
}

/* The aggregate file "checkpoint" beside _METADATA: Orbax takes the tree from
 * _METADATA and, for each of its paths, the value the file holds there (a
 * placeholder: the array storage).  So values that only move or go are
 * written in two steps around _METADATA, the commit point: before it, a file
 * with the old leaves and the new (paths _METADATA does not name are
 * ignored); after it, the file with the new leaves only.  A data edit of a
 * value in the file has the file's rename as its commit point, and so has
 * every edit of an item without _METADATA (Orbax before 0.5), whose tree the
 * file is. */

const struct ckpt_node *ckpt_edit_orig_at(const struct ckpt_item *it, const struct ckpt_key *p, size_t d)
{
	const struct ckpt_node *n = it->root;

	for (size_t i = 0; i < d && n; i++)
		n = ckpt_node_find(n, p[i].s, p[i].n);
	return n;
}

bool ckpt_edit_is_leaf_node(const struct ckpt_node *n)
{
	return n->parent && n->kind != CKPT_NODE_DICT && n->kind != CKPT_NODE_LIST &&
	       n->kind != CKPT_NODE_FILE;
}
