/* SPDX-License-Identifier: Apache-2.0 */
/*
 * walk.c - everything below a target in the order the mount lists it:
 * steps ascending by number (ckpt_src_scan's order), a step's items in its
 * order, a node's children in the pytree's order, depth first (what
 * `find MOUNT` prints).  Names are escaped as the mount escapes them.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cli_join(const char *a, const char *b)
{
	char *p;

	if (!*a)
		return strdup(b);
	if (!*b)
		return strdup(a);
	return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

static int push(struct cli_tree *tr, const struct cli_ent *e)
{
	if (tr->n == tr->cap) {
		size_t nc = tr->cap ? tr->cap * 2 : 64;
		struct cli_ent *ne = realloc(tr->e, nc * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		tr->e = ne;
		tr->cap = nc;
	}
	tr->e[tr->n++] = *e;
	return 0;
}

static int keep(void ***v, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void **nv = realloc(*v, nc * sizeof(**v));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = p;
	return 0;
}

static int push_error(struct cli_tree *tr, const char *path, const char *msg)
{
	struct cli_ent e = { strdup(path), NULL, NULL, false, false, strdup(msg) };

	return e.path && e.error ? push(tr, &e) : -ENOMEM;
}

/* the nodes below n, depth first in the pytree's order (explicit stack:
 * the depth comes from the data) */
static int walk_node(struct cli_tree *tr, struct ckpt_item *it, const struct ckpt_node *n,
		     const char *prefix)
{
	struct frame {
		const struct ckpt_node *n;
		char *path;
	} *st = malloc(sizeof(*st));
	size_t sn = 1, cap = 1;
	int rc = 0;

	if (!st)
		return -ENOMEM;
	st[0].n = n;
	if (!(st[0].path = strdup(prefix))) {
		free(st);
		return -ENOMEM;
	}
	while (sn > 0 && rc == 0) {
		struct frame f = st[--sn];

		if (!ckpt_node_is_dir(f.n) || !ckpt_node_n_children(f.n)) {
			struct cli_ent e = { f.path, it, f.n, ckpt_node_is_dir(f.n), false, NULL };

			if ((rc = push(tr, &e)) < 0)
				free(f.path);
			continue;
		}
		/* children pushed last first: popped in the pytree's order */
		for (size_t i = ckpt_node_n_children(f.n); i-- > 0 && rc == 0;) {
			const struct ckpt_node *c = ckpt_node_child(f.n, i);
			char name[CKPT_NAME_MAX + 1];
			size_t kl;
			const char *k = ckpt_node_key(c, &kl);

			ckpt_name_escape(k, kl, ckpt_node_dup_index(f.n, i), name);
			if (sn == cap) {
				struct frame *ns = realloc(st, (cap * 2) * sizeof(*st));

				if (!ns) {
					rc = -ENOMEM;
					break;
				}
				st = ns;
				cap *= 2;
			}
			st[sn].n = c;
			if (!(st[sn++].path = cli_join(f.path, name)))
				rc = -ENOMEM;
		}
		free(f.path);
	}
	while (sn > 0)
		free(st[--sn].path);
	free(st);
	return rc;
}

static int walk_step(struct cli_tree *tr, struct ckpt_step *st, const char *prefix,
		     struct ckpt_err *err)
{
	int rc = 0;

	tr->steps_seen++;
	for (size_t i = 0; i < ckpt_step_n_items(st) && rc == 0; i++) {
		const struct ckpt_item_info *info = ckpt_step_item(st, i);
		struct ckpt_item *it;
		char *p, *js;

		tr->items_seen++;
		if (info->kind == CKPT_ITEM_JSON) {
			struct cli_ent e = { NULL, NULL, NULL, false, true, NULL };

			if (asprintf(&js, "%s.json", info->name) < 0)
				return -ENOMEM;
			e.path = cli_join(prefix, js);
			free(js);
			if (!e.path)
				return -ENOMEM;
			if (ckpt_item_open(&it, st, i, err) < 0) {
				rc = push_error(tr, e.path, err->msg);
				ckpt_err_clear(err);
				free(e.path);
				continue;
			}
			if ((rc = keep((void ***)&tr->items, &tr->n_items, &tr->cap_items, it)) < 0) {
				ckpt_item_close(it);
				free(e.path);
				continue;
			}
			e.item = it; /* its bytes: ckpt_item_json_bytes */
			if ((rc = push(tr, &e)) < 0)
				free(e.path);
			continue;
		}
		if (!(p = cli_join(prefix, ckpt_step_is_direct(st) ? "" : info->name)))
			return -ENOMEM;
		if (ckpt_item_open(&it, st, i, err) < 0) {
			rc = push_error(tr, p, err->msg);
			ckpt_err_clear(err);
		} else if ((rc = keep((void ***)&tr->items, &tr->n_items, &tr->cap_items, it)) < 0) {
			ckpt_item_close(it);
		} else {
			rc = walk_node(tr, it, ckpt_item_root(it), p);
		}
		free(p);
	}
	return rc;
}

static int walk_root(struct ckpt_src *src, struct cli_tree *tr, struct ckpt_err *err)
{
	struct ckpt_step_ent *e;
	size_t n;
	int rc = ckpt_src_scan(src, &e, &n, err);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct ckpt_step *st;

		if (ckpt_step_open(&st, src, e[i].name, err) < 0) {
			rc = push_error(tr, e[i].name, err->msg);
			ckpt_err_clear(err);
			continue;
		}
		if ((rc = keep((void ***)&tr->steps, &tr->n_steps, &tr->cap_steps, st)) < 0) {
			ckpt_step_close(st);
			break;
		}
		rc = walk_step(tr, st, e[i].name, err);
	}
	ckpt_step_ents_free(e, n);
	return rc;
}

int cli_tree_load(struct ckpt_src *src, struct target *t, struct cli_tree *tr, struct ckpt_err *err)
{
	int rc;

	memset(tr, 0, sizeof(*tr));
	switch (t->kind) {
	case T_ROOT:
		rc = walk_root(src, tr, err);
		break;
	case T_STEP:
		rc = walk_step(tr, t->step, "", err);
		break;
	case T_ITEM:
	case T_NODE:
		tr->steps_seen = tr->items_seen = 1;
		if (ckpt_node_is_dir(t->node)) {
			rc = walk_node(tr, t->item, t->node, "");
		} else { /* one leaf: named by its key */
			char name[CKPT_NAME_MAX + 1];
			size_t kl;
			const char *k = ckpt_node_key(t->node, &kl);

			ckpt_name_escape(k ? k : "", k ? kl : 0, 0, name);
			rc = walk_node(tr, t->item, t->node, name);
		}
		break;
	default:
		rc = ckpt_err_set(err, -EINVAL, "not a step, an item or a leaf");
	}
	if (rc == -ENOMEM)
		ckpt_err_set(err, rc, "out of memory");
	return rc;
}

void cli_tree_free(struct cli_tree *tr)
{
	for (size_t i = 0; i < tr->n; i++) {
		free(tr->e[i].path);
		free(tr->e[i].error);
	}
	free(tr->e);
	for (size_t i = tr->n_items; i-- > 0;)
		ckpt_item_close(tr->items[i]);
	for (size_t i = tr->n_steps; i-- > 0;)
		ckpt_step_close(tr->steps[i]);
	free(tr->items);
	free(tr->steps);
	memset(tr, 0, sizeof(*tr));
}
