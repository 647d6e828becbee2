/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edit_meta.c - the metadata documents of an edit (tier 5): _METADATA,
 * _sharding, array_metadatas/process_0, _strings.json, the step's
 * _CHECKPOINT_METADATA commit time, and where Orbax's aggregate file
 * "checkpoint" is written around _METADATA (its encoding is
 * msgpack_edit.c).  Called by edit_commit.c.
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

static char *b64url(const char *s)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(s), o = 0;
	char *out = malloc((n + 2) / 3 * 4 + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)(uint8_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (uint8_t)s[i + 2];
		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tbl[v & 63] : '=';
	}
	out[o] = 0;
	return out;
}

json_t *ckpt_edit_new_metadata(struct ckpt_edit *e)
{
	json_t *m = json_deep_copy(e->it->metadata), *tree = json_object();

	for (size_t i = 0; i < e->n; i++) {
		const struct eleaf *l = &e->l[i];
		json_t *km = json_array(), *vm, *ent = json_object();
		char *key = ckpt_py_tuple_repr(l->path, l->depth);

		for (size_t k = 0; k < l->depth; k++) {
			json_t *o = json_object();

			json_object_set_new(o, "key", json_stringn(l->path[k].s, l->path[k].n));
			json_object_set_new(o, "key_type", json_integer(l->path[k].type == 1 ? 1 : 2));
			json_array_append_new(km, o);
		}
		if (l->vm && !l->is_new) {
			vm = json_deep_copy(l->vm);
		} else {
			vm = json_object();
			json_object_set_new(vm, "value_type", json_string(l->value_type));
			json_object_set_new(vm, "skip_deserialize",
					    json_boolean(l->kind == E_EMPTY || l->kind == E_NONE));
			if (l->kind == E_ARRAY && !strcmp(l->value_type, "jax.Array")) {
				json_t *ws = json_array();

				for (uint32_t k = 0; k < l->spec.rank; k++)
					json_array_append_new(ws, json_integer((json_int_t)l->spec.shape[k]));
				json_object_set_new(vm, "write_shape", ws);
			}
		}
		json_object_set_new(ent, "key_metadata", km);
		json_object_set_new(ent, "value_metadata", vm);
		if (key)
			json_object_set_new(tree, key, ent);
		else
			json_decref(ent);
		free(key);
	}
	json_object_set_new(m, "tree_metadata", tree);
	return m;
}

static bool is_jax(const struct eleaf *l)
{
	return l->kind == E_ARRAY && !eleaf_inline(l) && !strcmp(l->value_type, "jax.Array");
}

/* _sharding: union (old names kept) or exact */
static json_t *new_sharding(struct ckpt_edit *e, char **params, bool keep_old)
{
	json_t *old = e->it->sharding, *out = keep_old && old ? json_deep_copy(old) : json_object();

	for (size_t i = 0; i < e->n; i++) {
		const struct eleaf *l = &e->l[i];
		char *k = is_jax(l) ? b64url(params[i]) : NULL, *ok;
		json_t *v = NULL;

		if (!k)
			continue;
		if (!l->is_new && l->orig_param && old && (ok = b64url(l->orig_param))) {
			v = json_object_get(old, ok);
			free(ok);
		}
		json_object_set_new(out, k,
				    v ? json_incref(v)
				      : json_string("{\"sharding_type\": \"SingleDeviceSharding\", "
						    "\"device_str\": \"cpu:0\"}"));
		free(k);
	}
	return out;
}

static json_t *new_array_metas(struct ckpt_edit *e, char **params, bool keep_old)
{
	json_t *list = json_array(), *out = json_object(), *old = e->it->array_metas;

	if (keep_old && old) {
		const char *k;
		json_t *v;

		json_object_foreach(old, k, v) {
			json_t *w = json_object();

			json_object_set(w, "array_metadata", v);
			json_array_append_new(list, w);
		}
	}
	for (size_t i = 0; i < e->n; i++) {
		const struct eleaf *l = &e->l[i];
		json_t *am = NULL, *w;

		if (!is_jax(l))
			continue;
		if (keep_old && old && !l->is_new && !strcmp(params[i], l->orig_param))
			continue; /* already in the list */
		if (!l->is_new && old && json_object_get(old, l->orig_param)) {
			am = json_deep_copy(json_object_get(old, l->orig_param));
			json_object_set_new(am, "param_name", json_string(params[i]));
		} else if (l->is_new) {
			json_t *ws = json_array(), *cs = json_array();

			for (uint32_t k = 0; k < l->spec.rank; k++) {
				json_array_append_new(ws, json_integer((json_int_t)l->spec.shape[k]));
				json_array_append_new(cs, json_integer((json_int_t)l->spec.chunk[k]));
			}
			am = json_object();
			json_object_set_new(am, "param_name", json_string(params[i]));
			json_object_set_new(am, "write_shape", ws);
			json_object_set_new(am, "chunk_shape", cs);
			json_object_set_new(am, "ext_metadata", json_null());
		}
		if (!am)
			continue;
		w = json_object();
		json_object_set_new(w, "array_metadata", am);
		json_array_append_new(list, w);
	}
	json_object_set_new(out, "array_metadatas", list);
	return out;
}

static json_t *new_strings(struct ckpt_edit *e, char **params, bool keep_old)
{
	json_t *old = e->it->strings, *out = keep_old && old ? json_deep_copy(old) : json_object();

	for (size_t i = 0; i < e->n; i++) {
		const struct eleaf *l = &e->l[i];
		const char *op = l->node ? l->node->param : NULL;

		if (l->kind != E_STRING || eleaf_inline(l))
			continue;
		if (l->str_set)
			json_object_set_new(out, params[i], json_stringn(l->str, l->str_n));
		else if (old && op && json_object_get(old, op))
			json_object_set(out, params[i], json_object_get(old, op));
	}
	return out;
}

int ckpt_edit_write_docs(struct ckpt_edit *e, char **params, bool keep_old, struct ckpt_err *err)
{
	struct ckpt_item *it = e->it;
	bool any_jax = false, any_str = false;
	int rc = 0;

	/* without _METADATA there are no value types to keep them by: they
	 * stay as they are */
	if (!it->have_metadata)
		return 0;

	for (size_t i = 0; i < e->n; i++) {
		any_jax |= is_jax(&e->l[i]);
		any_str |= e->l[i].kind == E_STRING && !eleaf_inline(&e->l[i]);
	}
	if (any_jax || it->sharding) {
		json_t *j = new_sharding(e, params, keep_old);

		rc = ckpt_edit_replace_json(e, it->fd, it->label, "_sharding", j, true, err);
		json_decref(j);
	}
	if (rc == 0 && it->array_metas && ckpt_exists(it->fd, "array_metadatas/process_0")) {
		json_t *j = new_array_metas(e, params, keep_old);

		rc = ckpt_edit_replace_json(e, it->fd, it->label, "array_metadatas/process_0", j, false, err);
		json_decref(j);
	}
	if (rc == 0 && (any_str || it->strings)) {
		json_t *j = new_strings(e, params, keep_old);

		rc = ckpt_edit_replace_json(e, it->fd, it->label, "_strings.json", j, true, err);
		json_decref(j);
	}
	return rc;
}

int ckpt_edit_stamp_step(struct ckpt_edit *e, struct ckpt_err *err)
{
	struct ckpt_step *st = e->it->step;
	uint8_t *buf;
	size_t n;
	json_t *m = NULL;
	struct timespec ts;
	int rc;

	if (ckpt_read_file(st->fd, "_CHECKPOINT_METADATA", 1 << 24, &buf, &n, NULL) == 0) {
		m = json_loadb((const char *)buf, n, 0, NULL);
		free(buf);
	}
	if (!m || !json_is_object(m)) {
		json_decref(m);
		m = json_object();
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_set_new(m, "commit_timestamp_nsecs",
			    json_integer((json_int_t)((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec)));
	rc = ckpt_edit_replace_json(e, st->fd, st->path, "_CHECKPOINT_METADATA", m, false, err);
	json_decref(m);
	return rc;
}

/* a path whose value in the file changes cannot change in the same commit
 * as _METADATA: both would have to be the commit point */
int ckpt_edit_agg_check(struct ckpt_edit *e, struct ckpt_err *err)
{
	for (size_t i = 0; i < e->n; i++) {
		const struct eleaf *l = &e->l[i];
		const struct ckpt_node *o = ckpt_edit_orig_at(e->it, l->path, l->depth);

		if (o && ckpt_edit_is_leaf_node(o) && o != l->node && (eleaf_inline(l) || node_inline(o)))
			return ckpt_err_set(err, -EEXIST,
					    "'%s': '%s' holds its value in the aggregate file: it cannot be "
					    "replaced in the same step as the tree changes (remove it first)",
					    e->it->mp_label, o->param ? o->param : o->key);
	}
	return 0;
}

/* before _METADATA: the file with the old leaves beside the new ones, where
 * a value of the file moves to a new path */
int ckpt_edit_agg_grow(struct ckpt_edit *e, char **params, struct ckpt_err *err)
{
	static char empty[] = "";
	struct ckpt_item *it = e->it;
	bool *stays = calloc(it->n_nodes ? it->n_nodes : 1, sizeof(*stays)), moved = false;
	struct eleaf *old = NULL;
	char **op = NULL;
	size_t n = 0;
	int rc = 0;

	if (!stays)
		return -ENOMEM;
	for (size_t i = 0; i < e->n; i++) {
		const struct eleaf *l = &e->l[i];

		if (l->node && ckpt_edit_orig_at(it, l->path, l->depth) == l->node)
			stays[l->node->id] = true;
		else if (eleaf_inline(l))
			moved = true;
	}
	if (moved) {
		old = calloc(it->n_nodes, sizeof(*old));
		op = calloc(it->n_nodes, sizeof(*op));
		if (!old || !op)
			rc = -ENOMEM;
	}
	for (size_t i = 0; moved && rc == 0 && i < it->n_nodes; i++) {
		const struct ckpt_node *nd = it->nodes[i];
		struct eleaf *o = &old[n];

		if (!ckpt_edit_is_leaf_node(nd) || stays[nd->id])
			continue;
		o->node = nd;
		o->kind = ckpt_edit_kind_of(nd);
		o->value_type = strdup(nd->value_type ? nd->value_type : "");
		op[n++] = nd->param ? nd->param : empty;
		rc = o->value_type ? ckpt_edit_node_path(nd, &o->path, &o->depth) : -ENOMEM;
	}
	if (moved && rc == 0)
		rc = ckpt_mp_write_aggregate(e, params, old, n, op, err);
	for (size_t i = 0; old && i < n; i++)
		ckpt_edit_eleaf_release(&old[i]);
	free(old);
	free(op);
	free(stays);
	return rc;
}

/* a value in the file was written */
bool ckpt_edit_agg_touched(const struct ckpt_edit *e)
{
	for (size_t i = 0; i < e->n; i++)
		if (eleaf_inline(&e->l[i]) && (e->l[i].dirty || e->l[i].str_set))
			return true;
	return false;
}
