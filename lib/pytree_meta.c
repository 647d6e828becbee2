/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pytree_meta.c - the item kind "pytree with _METADATA" (tier 4): the tree
 * from _METADATA's tree_metadata, read one entry at a time, with the values
 * of Orbax's msgpack aggregate file laid over it when the item has one.
 * Reader rules: shared/docs/FORMAT-orbax-layout.md section 2.10.
 */
#define _GNU_SOURCE
#include "kind.h"

#include "fsutil.h"
#include "jscan.h"
#include "map.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- tree from _METADATA */

static enum ckpt_node_kind kind_of_value(const char *vt, bool skip)
{
	if (!strcmp(vt, "jax.Array") || !strcmp(vt, "np.ndarray") || !strcmp(vt, "scalar"))
		return skip ? CKPT_NODE_NONE : CKPT_NODE_ARRAY;
	if (!strcmp(vt, "string"))
		return CKPT_NODE_STRING;
	if (!strcmp(vt, "Dict") || !strcmp(vt, "List") || !strcmp(vt, "Tuple") ||
	    !strcmp(vt, "NamedTuple"))
		return CKPT_NODE_EMPTY;
	if (!strcmp(vt, "None") || skip)
		return CKPT_NODE_NONE;
	return CKPT_NODE_ARRAY;
}

static bool is_container(enum ckpt_node_kind k)
{
	return k == CKPT_NODE_DICT || k == CKPT_NODE_LIST;
}

/* value types Orbax makes up from _METADATA alone */
static bool is_empty_type(const char *vt)
{
	return !strcmp(vt, "None") || !strcmp(vt, "Dict") || !strcmp(vt, "List") || !strcmp(vt, "Tuple") ||
	       !strcmp(vt, "NamedTuple");
}

/* key text and type of key_metadata element i */
static int key_at(const json_t *km, size_t i, const char **key, size_t *len, char *numbuf,
		  uint8_t *type)
{
	const json_t *e = json_array_get(km, i), *k = json_object_get(e, "key");
	json_int_t t = json_integer_value(json_object_get(e, "key_type"));

	if (json_is_string(k)) {
		*key = json_string_value(k);
		*len = json_string_length(k);
	} else if (json_is_integer(k)) {
		*len = (size_t)snprintf(numbuf, 32, "%lld", (long long)json_integer_value(k));
		*key = numbuf;
	} else {
		return -1;
	}
	*type = t == 1 ? 1 : 2;
	return 0;
}

/* the nodes on the path of one tree_metadata entry (key_metadata km,
 * depth keys), its leaf last; param collects the parameter name */
static int add_path(struct ckpt_item *it, const json_t *km, size_t depth, const json_t *vm,
		    const char *vt, bool skip, struct ckpt_buf *param, const char *kp, size_t kn,
		    struct ckpt_err *err)
{
	struct ckpt_node *cur = it->root;

	for (size_t i = 0; i < depth; i++) {
		char num[32];
		const char *key;
		size_t klen;
		uint8_t kt, next_kt = 2;
		struct ckpt_node *child;
		bool last = i + 1 == depth;

		if (key_at(km, i, &key, &klen, num, &kt) < 0 ||
		    (!last && key_at(km, i + 1, &(const char *){ NULL }, &(size_t){ 0 }, num,
				     &next_kt) < 0)) {
			return ckpt_err_set(err, CKPT_ECORRUPT,
					    "'%s/_METADATA': entry %.*s has a bad key", it->label,
					    (int)CKPT_MIN(kn, 200), kp);
		}
		if (i)
			ckpt_buf_addc(param, '.');
		ckpt_buf_add(param, key, klen);
		child = (struct ckpt_node *)ckpt_node_find(cur, key, klen);
		if (!last) {
			if (child && !is_container(child->kind)) {
				/* a placeholder for a prefix of this path: the deeper
				 * entry wins (Orbax tree.py as_nested_tree) */
				child->kind = next_kt == 1 ? CKPT_NODE_LIST : CKPT_NODE_DICT;
				child->vm = NULL;
				free(child->param);
				child->param = NULL;
			} else if (!child) {
				child = ckpt_node_new(it, cur, key, klen, kt,
						      next_kt == 1 ? CKPT_NODE_LIST
								   : CKPT_NODE_DICT);
				if (!child)
					return -ENOMEM;
			}
			cur = child;
			continue;
		}
		if (child)
			return 0; /* a prefix placeholder, or a repeat: keep what is there */
		child = ckpt_node_new(it, cur, key, klen, kt, kind_of_value(vt, skip));
		if (!child || !(child->value_type = ckpt_pytree_intern(it, vt, strlen(vt))) ||
		    !(child->param = ckpt_strndup(param->p, param->len)))
			return -ENOMEM;
		child->param_nul = memchr(param->p, 0, param->len) != NULL;
		child->vm = ckpt_pytree_intern_json(it, vm);
	}
	return 0;
}

/* Builds the tree from tree_metadata (the bytes tm[0, tn)), one entry at a
 * time: only one entry is ever a jansson document. */
static int build_from_metadata(struct ckpt_item *it, const char *tm, size_t tn, struct ckpt_err *err)
{
	const struct ckpt_limits *lim = &it->step->src->o.lim;
	struct ckpt_buf param = CKPT_BUF_INIT;
	struct ckpt_jscan js;
	const char *kp, *vp;
	size_t kn, vn;
	int rc = 0, more;

	it->root = ckpt_node_new(it, NULL, "", 0, 0, CKPT_NODE_DICT);
	if (!it->root)
		return -ENOMEM;
	if (ckpt_jscan_open(&js, tm, tn, '{') < 0)
		return ckpt_err_set(err, CKPT_ECORRUPT, "'%s/_METADATA': tree_metadata is not an object",
				    it->label);
	while ((more = ckpt_jscan_next(&js, &kp, &kn, &vp, &vn)) == 1) {
		json_t *entry = ckpt_pytree_parse_slice(vp, vn);
		const char *name = kp; /* for messages: the raw key, quotes and all */
		const json_t *km = json_object_get(entry, "key_metadata");
		const json_t *vm = json_object_get(entry, "value_metadata");
		const char *vt = json_string_value(json_object_get(vm, "value_type"));
		bool skip = json_is_true(json_object_get(vm, "skip_deserialize"));
		struct ckpt_node *cur = it->root;
		size_t depth;

		(void)name;
		if (!entry) {
			rc = ckpt_err_set(err, CKPT_ECORRUPT, "'%s/_METADATA': entry %.*s is not valid JSON",
					  it->label, (int)CKPT_MIN(kn, 200), kp);
			break;
		}
		if (!json_is_array(km) || !vt) {
			rc = ckpt_err_set(err, CKPT_ECORRUPT,
					  "'%s/_METADATA': entry %.*s lacks key_metadata or value_type",
					  it->label, (int)CKPT_MIN(kn, 200), kp);
			json_decref(entry);
			break;
		}
		depth = json_array_size(km);
		if (depth > lim->max_depth) {
			rc = ckpt_err_set(err, -EFBIG, "'%s/_METADATA': entry nested %zu deep (limit %u)",
					  it->label, depth, lim->max_depth);
			json_decref(entry);
			break;
		}
		param.len = 0;
		ckpt_buf_add(&param, "", 0);
		if (depth == 0) {
			/* the whole item is one value: show it as the empty key */
			if (!ckpt_node_find(cur, "", 0)) {
				struct ckpt_node *n = ckpt_node_new(it, cur, "", 0, 0, kind_of_value(vt, skip));

				if (!n || !(n->value_type = ckpt_pytree_intern(it, vt, strlen(vt))) || !(n->param = strdup(""))) {
					rc = -ENOMEM;
					json_decref(entry);
					break;
				}
				n->vm = ckpt_pytree_intern_json(it, vm);
			}
			json_decref(entry);
			continue;
		}
		rc = add_path(it, km, depth, vm, vt, skip, &param, kp, kn, err);
		json_decref(entry);
		if (rc < 0 || (rc = ckpt_buf_finish(&param)) < 0)
			break;
	}
	if (rc == 0 && more < 0)
		rc = ckpt_err_set(err, CKPT_ECORRUPT, "'%s/_METADATA': tree_metadata is not valid JSON",
				  it->label);
	ckpt_buf_release(&param);
	/* a dict whose children all have sequence keys is a list */
	for (size_t i = 0; rc == 0 && i < it->n_nodes; i++) {
		struct ckpt_node *n = it->nodes[i];
		bool seq = n->n_children > 0;

		for (size_t k = 0; k < n->n_children && seq; k++)
			seq = n->children[k]->key_type == 1;
		if (seq && n->kind == CKPT_NODE_DICT)
			n->kind = CKPT_NODE_LIST;
	}
	return rc;
}

/* ---------------------------------------------------------------- the aggregate file */

/* the node at n's key path in the tree under root, or NULL */
static struct ckpt_node *same_path(struct ckpt_node *root, const struct ckpt_node *n,
				   const struct ckpt_node ***stack, size_t *cap)
{
	size_t d = 0;

	for (const struct ckpt_node *p = n; p->parent; p = p->parent) {
		if (ckpt_grow((void **)stack, cap, d + 1, sizeof(**stack)) < 0)
			return NULL;
		(*stack)[d++] = p;
	}
	while (d > 0 && root) {
		d--;
		root = (struct ckpt_node *)ckpt_node_find(root, (*stack)[d]->key, (*stack)[d]->key_n);
	}
	return root;
}

/* Orbax's msgpack aggregate file `name` beside _METADATA (Orbax's restore,
 * FORMAT-orbax-layout.md 2.8): a file of placeholders only is ignored;
 * otherwise _METADATA gives the tree, and each of its leaves whose path holds
 * a value in the file (not a placeholder) takes that value.  Keys only the
 * file has are not part of the checkpoint. */
static int overlay_aggregate(struct ckpt_item *it, const char *name, const char *tm, size_t tn,
			     struct ckpt_err *err)
{
	struct ckpt_item a;
	struct ckpt_err e2 = { 0, "" };
	const struct ckpt_node **stack = NULL;
	size_t cap = 0;
	bool values = false;
	int rc;

	memset(&a, 0, sizeof(a));
	a.step = it->step;
	a.fd = it->fd;
	a.label = it->label;
	a.mp_fd = -1;
	if ((rc = ckpt_msgpack_open(&a, name, &values, &e2)) < 0) {
		/* _METADATA's tree; what only the file held cannot be read */
		ckpt_node_free_tree(a.root);
		a.root = NULL;
		values = true;
		it->agg_error = strdup(e2.msg);
		if (!it->agg_error)
			rc = -ENOMEM;
		else
			rc = 0;
	}
	if (rc == 0)
		rc = build_from_metadata(it, tm, tn, err);
	for (size_t i = 0; rc == 0 && values && i < it->n_nodes; i++) {
		struct ckpt_node *n = it->nodes[i], *v;

		if (!n->parent || is_container(n->kind) || n->kind == CKPT_NODE_EMPTY)
			continue;
		v = a.root ? same_path(a.root, n, &stack, &cap) : NULL;
		if (v && v->mp && v->mp->how != MPL_GDA) {
			n->mp = v->mp;
			v->mp = NULL;
			n->kind = v->kind;
		} else if (v && v->kind == CKPT_NODE_NONE) {
			n->kind = CKPT_NODE_NONE; /* None in the file wins too */
		} else if (n->vm && n->value_type && !is_empty_type(n->value_type)) {
			/* _METADATA says the value is in the file, which lacks it */
			json_t *vm = json_loads(n->vm, 0, NULL);

			n->agg_lost = json_is_true(json_object_get(vm, "skip_deserialize"));
			json_decref(vm);
		}
	}
	free(stack);
	if (values && !it->agg_error) {
		it->mp_fd = a.mp_fd;
		it->mp_label = a.mp_label;
		a.mp_fd = -1;
		a.mp_label = NULL;
	}
	ckpt_node_free_tree(a.root);
	free(a.nodes);
	if (a.mp_fd >= 0)
		close(a.mp_fd);
	free(a.mp_label);
	return rc;
}

static int metadata_top(struct ckpt_item *it, const uint8_t *buf, size_t n, const char **tm,
			size_t *tn, struct ckpt_err *err)
{
	struct ckpt_jscan js;
	const char *kp, *vp;
	size_t kn, vn;
	int more;

	*tm = NULL;
	if (ckpt_jscan_open(&js, (const char *)buf, n, '{') < 0)
		return ckpt_err_set(err, CKPT_ECORRUPT, "'%s/_METADATA' is not a JSON object", it->label);
	while ((more = ckpt_jscan_next(&js, &kp, &kn, &vp, &vn)) == 1) {
		json_t *k = ckpt_pytree_parse_slice(kp, kn), *v;
		const char *key = json_string_value(k);

		if (!key) {
			json_decref(k);
			return ckpt_err_set(err, CKPT_ECORRUPT, "'%s/_METADATA': invalid JSON", it->label);
		}
		if (!strcmp(key, "tree_metadata")) {
			*tm = vp;
			*tn = vn;
		} else if (!strcmp(key, "custom_metadata")) {
			free(it->custom_metadata);
			it->custom_metadata = ckpt_strndup(vp, vn);
		} else if ((v = ckpt_pytree_parse_slice(vp, vn)) != NULL) {
			if (!strcmp(key, "use_zarr3")) {
				it->have_use_zarr3 = json_is_boolean(v);
				it->use_zarr3 = json_is_true(v);
			} else if (!strcmp(key, "use_ocdbt") && json_is_boolean(v)) {
				it->use_ocdbt = json_is_true(v);
				it->have_use_ocdbt = true;
			} else if (!strcmp(key, "store_array_data_equal_to_fill_value")) {
				it->missing_is_error = json_is_true(v);
			}
			json_decref(v);
		}
		json_decref(k);
	}
	if (more < 0)
		return ckpt_err_set(err, CKPT_ECORRUPT, "'%s/_METADATA': invalid JSON", it->label);
	return 0;
}

static int open_meta(struct ckpt_item *it, struct ckpt_err *err)
{
	uint8_t *buf = NULL;
	size_t n = 0, tn = 0;
	const char *tm = NULL;
	char *agg;
	int rc;

	rc = ckpt_pytree_load_bytes(it, "_METADATA", &buf, &n, err);
	if (rc < 0)
		return rc;
	it->have_metadata = true;
	rc = metadata_top(it, buf, n, &tm, &tn, err);
	if (rc == 0)
		rc = ckpt_pytree_begin(it, err);
	agg = rc == 0 ? ckpt_item_meta_path(it, "checkpoint") : NULL;
	if (rc == 0 && !agg)
		rc = -ENOMEM;
	else if (rc == 0 && ckpt_pytree_has_regular_file(it->fd, agg))
		rc = tm ? overlay_aggregate(it, agg, tm, tn, err)
			: ckpt_msgpack_open(it, agg, &(bool){ false }, err);
	free(agg);
	if (rc == 0 && !it->root && tm)
		rc = build_from_metadata(it, tm, tn, err);
	/* _METADATA's bytes go before the database comes: the peak is the
	 * larger of the two, not their sum */
	ckpt_free_big(buf, n);
	if (rc == 0)
		rc = ckpt_pytree_open_store(it, err);
	if (rc == 0 && !it->root)
		rc = ckpt_pytree_flat_tree(it, err); /* _METADATA without tree_metadata */
	if (rc == 0)
		rc = ckpt_pytree_annotate(it);
	return rc;
}

static bool claims_meta(const struct ckpt_item *it)
{
	char *p;
	bool yes;

	if (it->kind != CKPT_ITEM_PYTREE || it->step->file)
		return false;
	p = ckpt_item_meta_path(it, "_METADATA");
	yes = !p || ckpt_exists(it->fd, p); /* out of memory: open says so */
	free(p);
	return yes;
}

const struct ckpt_kind_ops ckpt_kind_pytree = {
	.claims = claims_meta,
	.open = open_meta,
	.leaf_open = ckpt_pytree_leaf_open,
};
