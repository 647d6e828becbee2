/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pytree.c - what the Orbax pytree kinds share (tier 4, below
 * pytree_meta.c, pytree_flat.c and item_aggregate.c): the item's flags and
 * array store (OCDBT or directories), _strings.json, _sharding and
 * array_metadatas (streamed into the leaves), the metadata documents for
 * edits, and the leaves.  Reader rules: shared/docs/FORMAT-orbax-layout.md
 * section 2.10.
 */
#define _GNU_SOURCE
#include "kind.h"

#include "fsutil.h"
#include "jscan.h"
#include "map.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static json_t *load_json(struct ckpt_item *it, const char *name, int *rc_out, struct ckpt_err *err)
{
	uint8_t *buf;
	size_t n;
	json_error_t jerr;
	json_t *j;
	char *path = ckpt_item_meta_path(it, name);
	int rc;

	if (!path) {
		*rc_out = -ENOMEM;
		return NULL;
	}
	rc = ckpt_read_file(it->fd, path, it->step->src->o.lim.max_json_bytes, &buf, &n, err);
	free(path);
	if (rc < 0) {
		*rc_out = rc;
		return NULL;
	}
	j = json_loadb((const char *)buf, n, 0, &jerr);
	free(buf);
	if (!j) {
		*rc_out = ckpt_err_set(err, CKPT_ECORRUPT, "'%s/%s': invalid JSON: %s (line %d)",
				       it->label, name, jerr.text, jerr.line);
		return NULL;
	}
	*rc_out = 0;
	return j;
}


bool ckpt_pytree_has_regular_file(int fd, const char *name)
{
	struct stat st;

	return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int ckpt_pytree_load_bytes(struct ckpt_item *it, const char *name, uint8_t **buf, size_t *n,
			   struct ckpt_err *err)
{
	char *path = ckpt_item_meta_path(it, name);
	int rc;

	if (!path)
		return -ENOMEM;
	rc = ckpt_read_file(it->fd, path, it->step->src->o.lim.max_json_bytes, buf, n, err);
	free(path);
	return rc;
}

const char *ckpt_pytree_intern(struct ckpt_item *it, const char *s, size_t n)
{
	struct ckpt_bytes k = { (const uint8_t *)s, n };
	size_t idx;
	char *c;

	if (ckpt_map_get(&it->interned, k, &idx) == 0)
		return it->intern[idx];
	if (ckpt_grow((void **)&it->intern, &it->cap_intern, it->n_intern + 1, sizeof(char *)) < 0 ||
	    !(c = ckpt_strndup(s, n)))
		return NULL;
	if (ckpt_map_put(&it->interned, (struct ckpt_bytes){ (const uint8_t *)c, n }, it->n_intern) < 0) {
		free(c);
		return NULL;
	}
	it->intern[it->n_intern++] = c;
	return c;
}

const char *ckpt_pytree_intern_json(struct ckpt_item *it, const json_t *j)
{
	char *t = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
	const char *r = t ? ckpt_pytree_intern(it, t, strlen(t)) : NULL;

	free(t);
	return r;
}

json_t *ckpt_pytree_parse_slice(const char *p, size_t n)
{
	return json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL); /* keys may hold NUL */
}

/* array_metadatas/process_N as documents: param -> array_metadata (edits) */
static json_t *load_array_metas(struct ckpt_item *it)
{
	char *dir = ckpt_item_meta_path(it, "array_metadatas");
	int dfd = dir ? ckpt_open_beneath(it->fd, dir, O_RDONLY | O_DIRECTORY, 0) : -ENOMEM;
	json_t *out;
	DIR *d;

	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		free(dir);
		return NULL;
	}
	out = json_object();
	for (struct dirent *e; (e = readdir(d));) {
		char path[512];
		json_t *j, *list;
		int rc;
		size_t i;

		if (strncmp(e->d_name, "process_", 8))
			continue;
		snprintf(path, sizeof(path), "array_metadatas/%s", e->d_name);
		j = load_json(it, path, &rc, NULL);
		list = json_object_get(j, "array_metadatas");
		for (i = 0; json_is_array(list) && i < json_array_size(list); i++) {
			json_t *am = json_object_get(json_array_get(list, i), "array_metadata");
			const char *pn = json_string_value(json_object_get(am, "param_name"));

			if (pn)
				json_object_set(out, pn, am);
		}
		json_decref(j);
	}
	closedir(d);
	free(dir);
	return out;
}

int ckpt_pytree_load_docs(struct ckpt_item *it, struct ckpt_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&it->lock);
	if (!it->docs_loaded) {
		it->metadata = load_json(it, "_METADATA", &rc, err);
		if (rc == -ENOENT) {
			ckpt_err_clear(err);
			rc = 0;
		}
		if (rc == 0) {
			it->sharding = load_json(it, "_sharding", &(int){ 0 }, NULL);
			it->array_metas = load_array_metas(it);
			it->docs_loaded = true;
		}
	}
	pthread_mutex_unlock(&it->lock);
	return rc;
}

/* leaves by parameter name (_sharding keys are its base64url: decoded) */
struct by_param {
	struct ckpt_map param;
};

static int by_param_build(struct ckpt_item *it, struct by_param *m)
{
	for (size_t i = 0; i < it->n_nodes; i++) {
		struct ckpt_node *n = it->nodes[i];

		if (!n->param || n->kind != CKPT_NODE_ARRAY)
			continue;
		if (ckpt_map_put(&m->param, (struct ckpt_bytes){ (const uint8_t *)n->param, strlen(n->param) }, i) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void by_param_release(struct by_param *m)
{
	ckpt_map_release(&m->param);
}

/* base64url (padding optional) -> bytes in out (n * 3 / 4 + 3 bytes); -1 if not base64url */
static ssize_t b64url_decode(const char *s, size_t n, uint8_t *out)
{
	uint32_t acc = 0;
	size_t o = 0;
	unsigned bits = 0;

	while (n && s[n - 1] == '=')
		n--;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
			: c >= '0' && c <= '9' ? c - '0' + 52 : c == '-' ? 62 : c == '_' ? 63 : -1;

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return (ssize_t)o;
}

static struct ckpt_node *node_by(struct ckpt_item *it, struct ckpt_map *map, const char *k, size_t n)
{
	size_t i;

	return ckpt_map_get(map, (struct ckpt_bytes){ (const uint8_t *)k, n }, &i) == 0 ? it->nodes[i]
											     : NULL;
}

/* _sharding: {"<base64url param>": "<JSON text>"}, member by member */
static void stream_sharding(struct ckpt_item *it, struct by_param *m)
{
	uint8_t *buf;
	size_t n, kn, vn;
	const char *kp, *vp;
	struct ckpt_jscan js;

	if (ckpt_pytree_load_bytes(it, "_sharding", &buf, &n, NULL) < 0)
		return; /* optional: a leaf's sharding is then unknown */
	if (ckpt_jscan_open(&js, (const char *)buf, n, '{') == 0) {
		while (ckpt_jscan_next(&js, &kp, &kn, &vp, &vn) == 1) {
			json_t *k = ckpt_pytree_parse_slice(kp, kn), *v = ckpt_pytree_parse_slice(vp, vn);
			size_t kl = json_is_string(k) ? json_string_length(k) : 0;
			uint8_t *p = json_is_string(k) ? malloc(kl / 4 * 3 + 3) : NULL;
			ssize_t pn = p ? b64url_decode(json_string_value(k), kl, p) : -1;
			struct ckpt_node *node = pn >= 0 ? node_by(it, &m->param, (const char *)p, (size_t)pn)
							 : NULL;

			free(p);

			if (node && json_is_string(v))
				node->sharding = ckpt_pytree_intern(it, json_string_value(v), json_string_length(v));
			json_decref(k);
			json_decref(v);
		}
	}
	ckpt_free_big(buf, n);
}

/* array_metadatas/process_N: {"array_metadatas": [{"array_metadata": {...}}, ...]} */
static void stream_array_metas(struct ckpt_item *it, struct by_param *m)
{
	char *dir = ckpt_item_meta_path(it, "array_metadatas");
	int dfd = dir ? ckpt_open_beneath(it->fd, dir, O_RDONLY | O_DIRECTORY, 0) : -ENOMEM;
	DIR *d;

	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		free(dir);
		return;
	}
	for (struct dirent *e; (e = readdir(d));) {
		char path[512];
		uint8_t *buf;
		size_t n, kn, vn;
		const char *kp, *vp;
		struct ckpt_jscan top, list;

		if (strncmp(e->d_name, "process_", 8))
			continue;
		snprintf(path, sizeof(path), "array_metadatas/%s", e->d_name);
		if (ckpt_pytree_load_bytes(it, path, &buf, &n, NULL) < 0)
			continue;
		if (ckpt_jscan_open(&top, (const char *)buf, n, '{') == 0) {
			while (ckpt_jscan_next(&top, &kp, &kn, &vp, &vn) == 1) {
				const char *ep;
				size_t en;

				if (kn != 17 || memcmp(kp, "\"array_metadatas\"", 17) ||
				    ckpt_jscan_open(&list, vp, vn, '[') < 0)
					continue;
				while (ckpt_jscan_next(&list, NULL, NULL, &ep, &en) == 1) {
					json_t *w = ckpt_pytree_parse_slice(ep, en), *am = json_object_get(w, "array_metadata");
					const char *pn = json_string_value(json_object_get(am, "param_name"));
					struct ckpt_node *node = pn ? node_by(it, &m->param, pn, strlen(pn)) : NULL;

					if (node) {
						json_object_del(am, "param_name"); /* it is the leaf's own */
						node->array_meta = ckpt_pytree_intern_json(it, am);
					}
					json_decref(w);
				}
			}
		}
		ckpt_free_big(buf, n);
	}
	closedir(d);
	free(dir);
}

/* _METADATA's top level: flags, custom_metadata, and where tree_metadata is */
/* ---------------------------------------------------------------- opening */

int ckpt_pytree_begin(struct ckpt_item *it, struct ckpt_err *err)
{
	(void)err;
	if (!it->have_use_ocdbt)
		it->use_ocdbt = ckpt_exists(it->fd, "manifest.ocdbt");
	it->store.dirfd = it->fd;
	it->store.label = it->label;
	/* optional: a broken one only loses what it describes */
	it->strings = load_json(it, "_strings.json", &(int){ 0 }, NULL);
	return 0;
}

int ckpt_pytree_open_store(struct ckpt_item *it, struct ckpt_err *err)
{
	int rc;

	if (!it->use_ocdbt)
		return 0;
	rc = ckpt_ocdbt_open(&it->db, it->fd, it->label, it->generation, &it->step->src->o.lim, err);
	if (rc == -ENOENT && !ckpt_exists(it->fd, "manifest.ocdbt"))
		rc = ckpt_err_set(err, -ENOENT, "'%s/manifest.ocdbt' is missing", it->label);
	it->store.db = it->db;
	return rc;
}

int ckpt_pytree_annotate(struct ckpt_item *it)
{
	struct by_param bp;
	int rc;

	memset(&bp, 0, sizeof(bp));
	if ((rc = by_param_build(it, &bp)) == 0) {
		stream_sharding(it, &bp);
		stream_array_metas(it, &bp);
	}
	by_param_release(&bp);
	return rc;
}

/* ---------------------------------------------------------------- leaves */

static const json_t *string_value(struct ckpt_item *it, const char *param)
{
	const json_t *cur = it->strings;
	char *copy = strdup(param), *save = NULL, *tok;

	if (!copy)
		return NULL;
	/* JSON pointer "/<param>" without escaping: '/' in a name nests */
	for (tok = strtok_r(copy, "/", &save); tok && cur; tok = strtok_r(NULL, "/", &save))
		cur = json_object_get(cur, tok);
	free(copy);
	return cur;
}

int ckpt_pytree_leaf_open(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_leaf *l,
			  struct ckpt_err *err)
{
	const struct ckpt_opts *o = &it->step->src->o;

	if (n->param_nul)
		return ckpt_err_set(err, CKPT_ECORRUPT,
				    "'%s': the parameter name of leaf '%s' holds a NUL byte", it->label,
				    n->param);
	if (n->agg_lost && it->agg_error)
		return ckpt_err_set(err, CKPT_ECORRUPT, "'%s': _METADATA says the value of '%s' is in the "
				    "aggregate file, which cannot be read: %s", it->label,
				    n->param ? n->param : n->key, it->agg_error);
	if (n->agg_lost)
		return ckpt_err_set(err, CKPT_ECORRUPT, "'%s/checkpoint': _METADATA says the value of '%s' is "
				    "in this aggregate file, which does not hold it", it->label,
				    n->param ? n->param : n->key);
	if (n->mp)
		return ckpt_mp_leaf_open(it, n, l, err);
	switch (n->kind) {
	case CKPT_NODE_ARRAY: {
		struct ckpt_array_opts ao = { it->step->src->cache, &o->lim, it->missing_is_error,
					      o->stream_threshold, o->piece_bytes, it->step->src->ra,
					      o->spill };
		char *prefix;
		int rc;

		if (it->is_version && !it->db) {
			/* the array as it was, if the history holds a copy */
			int rc2 = ckpt_history_array(it, n->param, &prefix);

			if (rc2 < 0)
				return rc2;
			if (prefix)
				goto have_prefix;
		}
		if (asprintf(&prefix, "%s%s", n->param, n->param[0] ? "/" : "") < 0)
			return -ENOMEM;
have_prefix:
		l->kind = LEAF_ARRAY;
		rc = ckpt_array_open(&l->arr, &it->store, prefix,
				     it->have_use_zarr3 ? (it->use_zarr3 ? 3 : 2) : 0, &ao, err);
		free(prefix);
		return rc;
	}
	case CKPT_NODE_STRING: {
		const json_t *s = it->strings ? string_value(it, n->param) : NULL;

		if (!json_is_string(s))
			return ckpt_err_set(err, it->strings ? CKPT_ECORRUPT : -ENOENT,
					    "'%s/_strings.json' has no string for '%s'", it->label,
					    n->param);
		l->kind = LEAF_BYTES;
		l->bytes = (const uint8_t *)json_string_value(s);
		l->size = json_string_length(s);
		return 0;
	}
	case CKPT_NODE_NONE:
		l->kind = LEAF_BYTES;
		l->bytes = (const uint8_t *)"";
		l->size = 0;
		return 0;
	default:
		return -EISDIR;
	}
}

/* ---------------------------------------------------------------- descriptions */
