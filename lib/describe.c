/* SPDX-License-Identifier: Apache-2.0 */
/*
 * describe.c - every JSON document ckptfs generates (tier 5, above item.c,
 * layout.c and versions.c): <step>.json (ckpt_step_describe), <item>.json
 * (ckpt_item_describe), <leaf>.json (ckpt_leaf_describe) and
 * .ckptfs-stats (ckpt_src_stats_describe), and what an array leaf's .npy
 * view is (ckpt_item_leaf_npy).  To change what a .json shows, change it
 * here and in docs/metadata.md (the schema, every field); the bats tests in
 * tests/bats/read.bats, numpy.bats and cli.bats compare the output.
 *
 * Every document starts with "schema": CKPT_JSON_SCHEMA, raised when a
 * field changes meaning or goes away (adding a field does not raise it).
 * numpy's words: "nbytes" is bytes, "size" is the number of elements.
 */
#define _GNU_SOURCE
#include "kind.h"

#include "buf.h"
#include "dtype.h"
#include "remote.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1: ckptfs 0.13 (before: no version; "size" was the byte size) */
#define CKPT_JSON_SCHEMA 1

static json_t *new_doc(void)
{
	json_t *o = json_object();

	json_object_set_new(o, "schema", json_integer(CKPT_JSON_SCHEMA));
	return o;
}

static json_int_t elements(const uint64_t *shape, uint32_t rank)
{
	uint64_t e = 1;

	for (uint32_t i = 0; i < rank; i++)
		e *= shape[i]; /* the byte size did not overflow: neither does this */
	return (json_int_t)e;
}

/* ---------------------------------------------------------------- steps */

static const char *kind_name(enum ckpt_item_kind k)
{
	return k == CKPT_ITEM_PYTREE ? "pytree" : k == CKPT_ITEM_JSON ? "json" : "raw";
}

json_t *ckpt_step_describe(const struct ckpt_step *st)
{
	json_t *o = new_doc(), *items = json_object();

	json_object_set_new(o, "name", json_string(st->name));
	json_object_set_new(o, "step", st->has_number ? json_integer((json_int_t)st->number)
						      : json_null());
	json_object_set_new(o, "path", json_string(st->path));
	json_object_set_new(o, "direct", json_boolean(st->direct));
	json_object_set_new(o, "commit_success_txt", json_boolean(st->commit_marker));
	json_object_set_new(o, "time_ns", json_integer((json_int_t)st->time_ns));
	for (size_t i = 0; i < st->n_items; i++)
		json_object_set_new(items, st->direct ? "." : st->items[i].name,
				    json_string(kind_name(st->items[i].kind)));
	json_object_set_new(o, "items", items);
	json_object_set(o, "checkpoint_metadata", st->meta ? st->meta : json_null());
	if (st->meta_error)
		json_object_set_new(o, "checkpoint_metadata_error", json_string(st->meta_error));
	return o;
}

/* ---------------------------------------------------------------- leaves and items */

static json_t *int_array(const uint64_t *v, uint32_t n)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer((json_int_t)v[i]));
	return a;
}

static json_t *path_of(const struct ckpt_node *n)
{
	json_t *a = json_array();
	const struct ckpt_node *stack[64];
	size_t k = 0;

	/* the path is read bottom-up; deep trees fall back to the param name */
	for (const struct ckpt_node *p = n; p && p->parent; p = p->parent) {
		if (k == CKPT_ARRAY_SIZE(stack)) {
			json_decref(a);
			return json_null();
		}
		stack[k++] = p;
	}
	while (k-- > 0)
		json_array_append_new(a, json_stringn(stack[k]->key, stack[k]->key_n));
	return a;
}

static const char *node_kind_name(enum ckpt_node_kind k)
{
	switch (k) {
	case CKPT_NODE_DICT: return "dict";
	case CKPT_NODE_LIST: return "list";
	case CKPT_NODE_EMPTY: return "empty";
	case CKPT_NODE_ARRAY: return "array";
	case CKPT_NODE_STRING: return "string";
	case CKPT_NODE_NONE: return "none";
	case CKPT_NODE_FILE: return "file";
	}
	return "?";
}

static void describe_array(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_leaf *l,
			   json_t *o)
{
	const struct ckpt_zarr_meta *m = ckpt_array_meta(l->arr);
	size_t jn;
	const char *js = ckpt_array_meta_json(l->arr, &jn);
	json_t *zarr = json_loadb(js, jn, 0, NULL), *storage = json_object();
	uint64_t stored = 0, chunks = 0;
	struct ckpt_err e = { 0, "" };

	json_object_set_new(o, "dtype", json_string(m->dtype.name));
	json_object_set_new(o, "shape", int_array(m->shape, m->rank));
	json_object_set_new(o, "size", json_integer(elements(m->shape, m->rank)));
	json_object_set_new(o, "itemsize", json_integer(m->dtype.itemsize));
	json_object_set_new(o, "chunk_shape", int_array(m->chunk, m->rank));
	json_object_set_new(o, "chunks", json_integer((json_int_t)m->n_chunks));
	json_object_set_new(o, "zarr_format", json_integer(m->format));
	if (zarr) {
		static const char *const v2[] = { "fill_value", "compressor", "filters", "order" };
		static const char *const v3[] = { "fill_value", "codecs", "chunk_key_encoding" };
		const char *const *f = m->format == 2 ? v2 : v3;
		size_t nf = m->format == 2 ? CKPT_ARRAY_SIZE(v2) : CKPT_ARRAY_SIZE(v3);

		for (size_t i = 0; i < nf; i++) {
			json_t *v = json_object_get(zarr, f[i]);

			json_object_set(o, f[i], v ? v : json_null());
		}
		json_object_set_new(o, "zarr", zarr);
	}
	if (m->rank == 0 && m->dtype.kind != CKPT_DK_RAW && m->dtype.kind != CKPT_DK_COMPLEX) {
		uint8_t buf[16];

		if (ckpt_array_read(l->arr, buf, 0, m->dtype.itemsize, &e) == (int64_t)m->dtype.itemsize) {
			double d = ckpt_dtype_to_double(&m->dtype, buf);

			if (m->dtype.kind == CKPT_DK_BOOL)
				json_object_set_new(o, "value", json_boolean(d != 0));
			else if (m->dtype.kind == CKPT_DK_INT || m->dtype.kind == CKPT_DK_UINT)
				json_object_set_new(o, "value", json_integer((json_int_t)d));
			else
				json_object_set_new(o, "value", json_real(d));
		}
	}
	json_object_set_new(storage, "kind", json_string(it->db ? "ocdbt" : "directory"));
	json_object_set_new(storage, "item", json_string(it->label));
	{
		char key[1024];

		snprintf(key, sizeof(key), "%s%s%s", n->param, n->param[0] ? "/" : "",
			 m->format == 3 ? "zarr.json" : ".zarray");
		json_object_set_new(storage, "metadata_key", json_string(key));
	}
	if (ckpt_array_stored(l->arr, &stored, &chunks, &e) == 0) {
		json_object_set_new(storage, "stored_bytes", json_integer((json_int_t)stored));
		json_object_set_new(storage, "stored_chunks", json_integer((json_int_t)chunks));
	}
	json_object_set_new(o, "storage", storage);
	{
		json_t *sh = n->sharding ? json_loads(n->sharding, 0, NULL) : NULL;

		json_object_set_new(o, "sharding", sh ? sh : json_null());
	}
	if (n->array_meta) {
		json_t *am = json_loads(n->array_meta, 0, NULL), *full = json_object();

		/* param_name first, as Orbax writes it */
		json_object_set_new(full, "param_name", json_string(n->param));
		json_object_update(full, am);
		json_decref(am);
		json_object_set_new(o, "array_metadata", full);
	}
}

/* a leaf decoded from a msgpack file: dtype, shape, where its bytes are */
static void describe_mp(struct ckpt_item *it, const struct ckpt_node *n, json_t *o)
{
	const struct ckpt_mp_leaf *m = n->mp;
	json_t *st = json_object(), *rg = json_array();

	if (m->dtype[0]) {
		struct ckpt_dtype dt;

		json_object_set_new(o, "dtype", json_string(m->dtype));
		json_object_set_new(o, "shape", int_array(m->shape, m->rank));
		json_object_set_new(o, "size", json_integer(elements(m->shape, m->rank)));
		if (ckpt_dtype_from_name(&dt, m->dtype) == 0) {
			json_object_set_new(o, "itemsize", json_integer(dt.itemsize));
			if (m->how == MPL_BYTES && m->rank == 0 && dt.kind != CKPT_DK_COMPLEX) {
				double d = ckpt_dtype_to_double(&dt, m->bytes);

				if (!strcmp(m->what, "bool"))
					json_object_set_new(o, "value", json_boolean(d != 0));
				else if (!strcmp(m->what, "int") && !strcmp(m->dtype, "int64"))
					json_object_set_new(o, "value",
							    json_integer((json_int_t)ckpt_load_le64(m->bytes)));
				else
					json_object_set_new(o, "value", json_real(d));
			}
		}
	} else if (n->kind == CKPT_NODE_STRING && m->how == MPL_BYTES && !strcmp(m->what, "str")) {
		json_object_set_new(o, "value", json_stringn((const char *)m->bytes, (size_t)m->size));
	}
	json_object_set_new(o, "msgpack_type", json_string(m->what));
	json_object_set_new(st, "kind", json_string("msgpack"));
	json_object_set_new(st, "file", json_string(it->mp_label ? it->mp_label : "?"));
	for (size_t i = 0; i < m->n_r && i < 16; i++)
		json_array_append_new(rg, json_pack("[II]", (json_int_t)m->r[i].off,
						    (json_int_t)m->r[i].len));
	json_object_set_new(st, "ranges", rg);
	if (m->n_r > 16)
		json_object_set_new(st, "n_ranges", json_integer((json_int_t)m->n_r));
	json_object_set_new(o, "storage", st);
}

/* an array leaf's dtype and shape, from its opened leaf: 0 or -ENOTSUP */
static int leaf_npy(const struct ckpt_node *n, struct ckpt_leaf *l, struct ckpt_npy *h,
		    struct ckpt_err *err)
{
	int rc;

	if (n->kind != CKPT_NODE_ARRAY)
		return ckpt_err_set(err, -ENOTSUP, "not an array");
	if (n->mp && n->mp->how != MPL_GDA) {
		if (!n->mp->dtype[0])
			return ckpt_err_set(err, -ENOTSUP, "not an array");
		rc = ckpt_npy_make(h, n->mp->dtype, n->mp->rank, n->mp->shape, err);
	} else if (l->kind == LEAF_ARRAY) {
		const struct ckpt_zarr_meta *m = ckpt_array_meta(l->arr);

		rc = ckpt_npy_make(h, m->dtype.name, m->rank, m->shape, err);
	} else {
		return ckpt_err_set(err, -ENOTSUP, "not an array");
	}
	if (rc == 0 && h->data_bytes != ckpt_leaf_size(l))
		return ckpt_err_set(err, -ENOTSUP, "%llu bytes, but its dtype and shape make %llu",
				    (unsigned long long)ckpt_leaf_size(l),
				    (unsigned long long)h->data_bytes);
	return rc;
}

/* "npy": what NAME.npy shows (docs/numpy.md) */
static void describe_npy(const struct ckpt_node *n, struct ckpt_leaf *l, json_t *o)
{
	struct ckpt_npy h;
	struct ckpt_err e = { 0, "" };

	if (leaf_npy(n, l, &h, &e) < 0)
		return;
	json_object_set_new(o, "npy", json_pack("{ss sI sI so}", "descr", h.descr, "header_bytes",
						(json_int_t)h.data_off, "file_bytes",
						(json_int_t)(h.data_off + h.data_bytes), "ml_dtype",
						h.ml_dtype ? json_string(h.ml_dtype) : json_null()));
}

int ckpt_item_leaf_npy(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_npy *h,
		       struct ckpt_err *err)
{
	struct ckpt_leaf *l = NULL, tmp;
	int rc;

	if (n->kind != CKPT_NODE_ARRAY || ckpt_node_is_dir(n))
		return ckpt_err_set(err, -ENOTSUP, "not an array");
	if ((n->mp && n->mp->how != MPL_GDA) ||
	    __atomic_load_n(&it->slots[n->id].leaf, __ATOMIC_ACQUIRE)) {
		rc = ckpt_item_leaf(it, n, &l, err);
		if (rc == 0)
			rc = leaf_npy(n, l, h, err);
	} else {
		/* not open: its metadata from a short-lived open (stat of many
		 * views keeps no array open), as ckpt_item_leaf_size does */
		memset(&tmp, 0, sizeof(tmp));
		tmp.fd = -1;
		pthread_mutex_lock(&it->lock);
		rc = it->ops->leaf_open ? it->ops->leaf_open(it, n, &tmp, err) : -EISDIR;
		pthread_mutex_unlock(&it->lock);
		if (rc == 0)
			rc = leaf_npy(n, &tmp, h, err);
		ckpt_array_close(tmp.arr);
	}
	if (rc == 0 && h->data_off < UINT32_MAX) { /* the next stat asks no more */
		pthread_mutex_lock(&it->lock); /* ckpt_item_leaf_size reads them under it */
		__atomic_store_n(&it->slots[n->id].npy_head_plus1, (uint32_t)h->data_off + 1,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&it->slots[n->id].size_plus1, h->data_bytes + 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&it->lock);
	}
	return rc;
}

int ckpt_item_leaf_npy_bytes(struct ckpt_item *it, const struct ckpt_node *n, uint64_t *bytes,
			     struct ckpt_err *err)
{
	const struct leaf_slot *slot = &it->slots[n->id];
	uint64_t size = __atomic_load_n(&slot->size_plus1, __ATOMIC_ACQUIRE);
	uint32_t head = __atomic_load_n(&slot->npy_head_plus1, __ATOMIC_RELAXED);
	struct ckpt_npy h;
	int rc;

	if (size && head && !ckpt_node_is_dir(n)) {
		*bytes = head - 1 + size - 1;
		return 0;
	}
	rc = ckpt_item_leaf_npy(it, n, &h, err);
	if (rc == 0)
		*bytes = h.data_off + h.data_bytes;
	return rc;
}

json_t *ckpt_leaf_describe(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_err *err)
{
	json_t *o = new_doc();
	struct ckpt_leaf *l = NULL, tmp = { .fd = -1 };
	struct ckpt_err e = { 0, "" };
	int rc;

	json_object_set_new(o, "path", path_of(n));
	json_object_set_new(o, "kind", json_string(node_kind_name(n->kind)));
	if (n->value_type)
		json_object_set_new(o, "value_type", json_string(n->value_type));
	if (n->param)
		json_object_set_new(o, it->kind == CKPT_ITEM_RAW ? "file" : "param_name",
				    json_string(n->param));
	if (n->vm) {
		json_t *vm = json_loads(n->vm, 0, NULL);
		json_t *ws = json_object_get(vm, "write_shape");

		if (ws)
			json_object_set(o, "write_shape", ws);
		json_decref(vm);
	}
	if (ckpt_node_is_dir(n))
		return o;
	if (n->kind == CKPT_NODE_ARRAY && !__atomic_load_n(&it->slots[n->id].leaf, __ATOMIC_ACQUIRE)) {
		/* an array nobody reads: describe it from a short-lived open, so
		 * that listing 100,000 leaves' JSON keeps no array open */
		memset(&tmp, 0, sizeof(tmp));
		tmp.fd = -1;
		pthread_mutex_lock(&it->lock);
		rc = it->ops->leaf_open(it, n, &tmp, &e);
		pthread_mutex_unlock(&it->lock);
		l = rc == 0 ? &tmp : NULL;
	} else {
		rc = ckpt_item_leaf(it, n, &l, &e);
	}
	if (rc < 0) {
		ckpt_array_close(tmp.arr);
		json_object_set_new(o, "error", json_string(e.msg));
		ckpt_err_set(err, rc, "%s", e.msg);
		return o;
	}
	json_object_set_new(o, "nbytes", json_integer((json_int_t)ckpt_leaf_size(l)));
	if (n->mp && n->mp->how != MPL_GDA)
		describe_mp(it, n, o);
	else if (l->kind == LEAF_ARRAY)
		describe_array(it, n, l, o);
	else if (n->kind == CKPT_NODE_STRING && l->kind == LEAF_BYTES)
		json_object_set_new(o, "value", json_stringn((const char *)l->bytes, (size_t)l->size));
	describe_npy(n, l, o);
	if (l == &tmp)
		ckpt_array_close(tmp.arr);
	return o;
}

static void leaf_path(const struct ckpt_node *n, struct ckpt_buf *b)
{
	const struct ckpt_node *stack[256];
	size_t k = 0;

	for (const struct ckpt_node *p = n; p && p->parent && k < CKPT_ARRAY_SIZE(stack); p = p->parent)
		stack[k++] = p;
	while (k-- > 0) {
		ckpt_buf_add(b, stack[k]->key, stack[k]->key_n);
		if (k)
			ckpt_buf_addc(b, '/');
	}
}

/* an item's JSON lists its leaves, with each one's dtype, shape and size
 * (which opens its array), only up to this many nodes: beyond, the list
 * would cost more memory than the tree (a JSON document of 100,000 leaves
 * is ~90 MB as objects): `find` lists them, each <leaf>.json describes one */
#define DESCRIBE_LEAVES_MAX 10000

static json_t *describe_item(struct ckpt_item *it, struct ckpt_err *err)
{
	json_t *o = new_doc(), *leaves = json_object();

	json_object_set_new(o, "kind", json_string(it->kind == CKPT_ITEM_PYTREE ? "pytree"
						   : it->kind == CKPT_ITEM_JSON ? "json" : "raw"));
	json_object_set_new(o, "path", json_string(it->label));
	if (it->kind == CKPT_ITEM_PYTREE) {
		json_object_set_new(o, "has_metadata", json_boolean(it->have_metadata));
		json_object_set_new(o, "use_ocdbt", json_boolean(it->use_ocdbt));
		json_object_set_new(o, "use_zarr3", json_boolean(it->use_zarr3));
		json_object_set_new(o, "store_array_data_equal_to_fill_value",
				    json_boolean(it->missing_is_error));
		if (it->custom_metadata) {
			json_t *cm = json_loads(it->custom_metadata, JSON_DECODE_ANY, NULL);

			if (cm)
				json_object_set_new(o, "custom_metadata", cm);
		}
		if (it->db) {
			json_t *db = json_object();

			json_object_set_new(db, "generation",
					    json_integer((json_int_t)ckpt_ocdbt_generation(it->db)));
			json_object_set_new(db, "commit_time_ns",
					    json_integer((json_int_t)ckpt_ocdbt_commit_time(it->db)));
			json_object_set_new(db, "keys", json_integer((json_int_t)ckpt_ocdbt_count(it->db)));
			json_object_set_new(o, "ocdbt", db);
		}
	}
	if (it->n_nodes > DESCRIBE_LEAVES_MAX) {
		size_t count = 0;

		for (size_t i = 0; i < it->n_nodes; i++)
			count += !ckpt_node_is_dir(it->nodes[i]) || (!it->nodes[i]->n_children &&
								      it->nodes[i] != it->root);
		json_decref(leaves);
		json_object_set_new(o, "n_leaves", json_integer((json_int_t)count));
		json_object_set_new(o, "leaves_omitted",
				    json_string("more than 10000 nodes: `find` lists the leaves, each "
						"<leaf>.json describes one"));
		return o;
	}
	for (size_t i = 0; i < it->n_nodes; i++) {
		const struct ckpt_node *n = it->nodes[i];
		struct ckpt_buf path = CKPT_BUF_INIT;
		struct ckpt_leaf *l = NULL;
		struct ckpt_err e = { 0, "" };
		json_t *d;

		if (ckpt_node_is_dir(n) && (n->n_children || n == it->root))
			continue;
		leaf_path(n, &path);
		d = json_object();
		json_object_set_new(d, "kind", json_string(node_kind_name(n->kind)));
		if (n->value_type)
			json_object_set_new(d, "value_type", json_string(n->value_type));
		if (n->param)
			json_object_set_new(d, "param_name", json_string(n->param));
		if (!ckpt_node_is_dir(n)) {
			if (ckpt_item_leaf(it, n, &l, &e) == 0) {
				if (l->kind == LEAF_ARRAY) {
					const struct ckpt_zarr_meta *m = ckpt_array_meta(l->arr);

					json_object_set_new(d, "dtype", json_string(m->dtype.name));
					json_object_set_new(d, "shape", int_array(m->shape, m->rank));
					json_object_set_new(d, "size", json_integer(elements(m->shape, m->rank)));
				} else if (n->mp && n->mp->dtype[0]) {
					json_object_set_new(d, "dtype", json_string(n->mp->dtype));
					json_object_set_new(d, "shape", int_array(n->mp->shape, n->mp->rank));
					json_object_set_new(d, "size",
							    json_integer(elements(n->mp->shape, n->mp->rank)));
				}
				json_object_set_new(d, "nbytes", json_integer((json_int_t)ckpt_leaf_size(l)));
			} else {
				json_object_set_new(d, "error", json_string(e.msg));
			}
		}
		json_object_set_new(leaves, path.p ? (char *)path.p : "", d);
		ckpt_buf_release(&path);
	}
	json_object_set_new(o, "leaves", leaves);
	(void)err;
	return o;
}

/* a recorded version's item: its record (number, time, generation, change) */
static void describe_version(struct ckpt_item *it, json_t *o)
{
	struct ckpt_version_info *v;
	struct ckpt_err err = { 0, "" };
	size_t n, idx = 0;

	while (idx < it->step->n_items && strcmp(it->step->items[idx].name, it->name))
		idx++;
	if (ckpt_item_versions(it->step, idx, &v, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (v[i].version != it->version)
			continue;
		json_object_set_new(o, "version",
				    json_pack("{sI sI sI ss}", "number", (json_int_t)v[i].version,
					      "time_ns", (json_int_t)v[i].time_ns, "ocdbt_generation",
					      (json_int_t)v[i].generation, "change",
					      v[i].change ? v[i].change : ""));
	}
	ckpt_version_infos_free(v, n);
}

json_t *ckpt_item_describe(struct ckpt_item *it, struct ckpt_err *err)
{
	json_t *o = describe_item(it, err);

	if (o && it->is_version)
		describe_version(it, o);
	return o;
}

json_t *ckpt_describe_error(const char *msg)
{
	return json_pack("{sI ss}", "schema", (json_int_t)CKPT_JSON_SCHEMA, "error", msg ? msg : "?");
}

/* ---------------------------------------------------------------- the source */

json_t *ckpt_src_stats_describe(struct ckpt_src *s)
{
	struct ckpt_src_stats st;

	struct ckpt_remote_stats rs;
	json_t *j;

	ckpt_src_stats(s, &st);
	j = json_pack("{sI sI sI sI sI sI sI sI sI sI sI sI sI sI sI sI sI sI}", "schema",
		      (json_int_t)CKPT_JSON_SCHEMA, "cache_hits", (json_int_t)st.cache_hits,
		      "cache_misses", (json_int_t)st.cache_misses, "cache_evictions",
		      (json_int_t)st.cache_evictions, "cache_bytes", (json_int_t)st.cache_bytes,
		      "cache_entries", (json_int_t)st.cache_entries, "cache_budget",
		      (json_int_t)st.cache_budget, "decoded_bytes", (json_int_t)st.decoded_bytes,
		      "readahead_jobs", (json_int_t)st.readahead_jobs, "spill_bytes",
		      (json_int_t)st.spill.bytes, "spill_budget", (json_int_t)st.spill.budget,
		      "spill_written", (json_int_t)st.spill.written, "spill_hits",
		      (json_int_t)st.spill.hits, "spill_evicted", (json_int_t)st.spill.evicted,
		      "spill_errors", (json_int_t)st.spill.errors, "spill_chunks",
		      (json_int_t)st.spill.chunks, "source_reads", (json_int_t)st.source_reads,
		      "source_scans", (json_int_t)st.source_scans);
	if (j && ckpt_remote_stats(&rs) == 0)
		json_object_set_new(
			j, "remote",
			json_pack("{sI sI sI sI sI sI sI sI sI sI sI sI sI}", "requests", (json_int_t)rs.requests,
				  "retries", (json_int_t)rs.retries, "errors", (json_int_t)rs.errors,
				  "lists", (json_int_t)rs.lists, "bytes", (json_int_t)rs.bytes, "polls",
				  (json_int_t)rs.polls, "poll_errors", (json_int_t)rs.poll_errors,
				  "cache_bytes", (json_int_t)rs.cache_bytes, "cache_limit",
				  (json_int_t)rs.cache_limit, "evicted_bytes",
				  (json_int_t)rs.evicted_bytes, "stale", (json_int_t)rs.stale,
				  "deferred_objects", (json_int_t)rs.deferred, "key_reloads",
				  (json_int_t)rs.key_reloads));
	return j;
}
