/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pytree.c - a PyTree item (tier 4): _METADATA, the array store (OCDBT or
 * directories), strings, sharding, array metadata, the tree and its leaves.
 * Reader rules: shared/docs/FORMAT-orbax-layout.md section 2.10.
 */
#define _GNU_SOURCE
#include "model.h"

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

char *ckpt_item_meta_path(const struct ckpt_item *it, const char *name)
{
	char *p;

	if (!it->meta_dir)
		return strdup(name);
	if (asprintf(&p, "%s/%s", it->meta_dir, name) < 0)
		return NULL;
	return p;
}

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


static bool has_regular_file(int fd, const char *name)
{
	struct stat st;

	return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

static int load_bytes(struct ckpt_item *it, const char *name, uint8_t **buf, size_t *n,
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

/* one copy of each distinct text per item: leaves share their metadata */
static const char *intern(struct ckpt_item *it, const char *s, size_t n)
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

static const char *intern_json(struct ckpt_item *it, const json_t *j)
{
	char *t = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
	const char *r = t ? intern(it, t, strlen(t)) : NULL;

	free(t);
	return r;
}

static json_t *parse_slice(const char *p, size_t n)
{
	return json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL); /* keys may hold NUL */
}

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
		json_t *entry = parse_slice(vp, vn);
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

				if (!n || !(n->value_type = intern(it, vt, strlen(vt))) || !(n->param = strdup(""))) {
					rc = -ENOMEM;
					json_decref(entry);
					break;
				}
				n->vm = intern_json(it, vm);
			}
			json_decref(entry);
			continue;
		}
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
				rc = ckpt_err_set(err, CKPT_ECORRUPT,
						  "'%s/_METADATA': entry %.*s has a bad key", it->label,
						  (int)CKPT_MIN(kn, 200), kp);
				break;
			}
			if (i)
				ckpt_buf_addc(&param, '.');
			ckpt_buf_add(&param, key, klen);
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
					if (!child) {
						rc = -ENOMEM;
						break;
					}
				}
				cur = child;
				continue;
			}
			if (child)
				break; /* a prefix placeholder, or a repeat: keep what is there */
			child = ckpt_node_new(it, cur, key, klen, kt, kind_of_value(vt, skip));
			if (!child || !(child->value_type = intern(it, vt, strlen(vt))) ||
			    !(child->param = ckpt_strndup(param.p, param.len))) {
				rc = -ENOMEM;
				break;
			}
			child->param_nul = memchr(param.p, 0, param.len) != NULL;
			child->vm = intern_json(it, vm);
		}
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

/* ---------------------------------------------------------------- tree without _METADATA */

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

/* ---------------------------------------------------------------- opening */

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

	if (load_bytes(it, "_sharding", &buf, &n, NULL) < 0)
		return; /* optional: a leaf's sharding is then unknown */
	if (ckpt_jscan_open(&js, (const char *)buf, n, '{') == 0) {
		while (ckpt_jscan_next(&js, &kp, &kn, &vp, &vn) == 1) {
			json_t *k = parse_slice(kp, kn), *v = parse_slice(vp, vn);
			size_t kl = json_is_string(k) ? json_string_length(k) : 0;
			uint8_t *p = json_is_string(k) ? malloc(kl / 4 * 3 + 3) : NULL;
			ssize_t pn = p ? b64url_decode(json_string_value(k), kl, p) : -1;
			struct ckpt_node *node = pn >= 0 ? node_by(it, &m->param, (const char *)p, (size_t)pn)
							 : NULL;

			free(p);

			if (node && json_is_string(v))
				node->sharding = intern(it, json_string_value(v), json_string_length(v));
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
		if (load_bytes(it, path, &buf, &n, NULL) < 0)
			continue;
		if (ckpt_jscan_open(&top, (const char *)buf, n, '{') == 0) {
			while (ckpt_jscan_next(&top, &kp, &kn, &vp, &vn) == 1) {
				const char *ep;
				size_t en;

				if (kn != 17 || memcmp(kp, "\"array_metadatas\"", 17) ||
				    ckpt_jscan_open(&list, vp, vn, '[') < 0)
					continue;
				while (ckpt_jscan_next(&list, NULL, NULL, &ep, &en) == 1) {
					json_t *w = parse_slice(ep, en), *am = json_object_get(w, "array_metadata");
					const char *pn = json_string_value(json_object_get(am, "param_name"));
					struct ckpt_node *node = pn ? node_by(it, &m->param, pn, strlen(pn)) : NULL;

					if (node) {
						json_object_del(am, "param_name"); /* it is the leaf's own */
						node->array_meta = intern_json(it, am);
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
		json_t *k = parse_slice(kp, kn), *v;
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
		} else if ((v = parse_slice(vp, vn)) != NULL) {
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

int ckpt_pytree_open(struct ckpt_item *it, struct ckpt_err *err)
{
	const struct ckpt_limits *lim = &it->step->src->o.lim;
	uint8_t *buf = NULL;
	size_t n = 0, tn = 0;
	const char *tm = NULL;
	struct by_param bp;
	int rc;

	memset(&bp, 0, sizeof(bp));
	rc = load_bytes(it, "_METADATA", &buf, &n, err);
	if (rc == -ENOENT) {
		ckpt_err_clear(err);
		rc = 0;
	} else if (rc == 0) {
		it->have_metadata = true;
		rc = metadata_top(it, buf, n, &tm, &tn, err);
	}
	if (rc < 0) {
		free(buf);
		return rc;
	}
	if (!it->have_use_ocdbt)
		it->use_ocdbt = ckpt_exists(it->fd, "manifest.ocdbt");
	it->store.dirfd = it->fd;
	it->store.label = it->label;

	/* optional files: a broken one only loses what it describes */
	it->strings = load_json(it, "_strings.json", &rc, NULL);
	rc = 0;
	{
		char *agg = ckpt_item_meta_path(it, "checkpoint");

		if (!agg)
			rc = -ENOMEM;
		else if (has_regular_file(it->fd, agg))
			rc = tm ? overlay_aggregate(it, agg, tm, tn, err)
				: ckpt_msgpack_open(it, agg, &(bool){ false }, err);
		free(agg);
	}
	if (rc == 0 && !it->root && tm)
		rc = build_from_metadata(it, tm, tn, err);
	/* _METADATA's bytes go before the database comes: the peak is the
	 * larger of the two, not their sum */
	ckpt_free_big(buf, n);
	buf = NULL;
	if (rc == 0 && it->use_ocdbt) {
		rc = ckpt_ocdbt_open(&it->db, it->fd, it->label, it->generation, lim, err);
		if (rc == -ENOENT && !ckpt_exists(it->fd, "manifest.ocdbt"))
			rc = ckpt_err_set(err, -ENOENT, "'%s/manifest.ocdbt' is missing", it->label);
		it->store.db = it->db;
	}
	if (rc == 0 && !it->root) {
		it->root = ckpt_node_new(it, NULL, "", 0, 0, CKPT_NODE_DICT);
		rc = !it->root ? -ENOMEM : it->db ? flat_from_ocdbt(it) : flat_from_dirs(it, err);
	}
	if (rc == 0 && (rc = by_param_build(it, &bp)) == 0) {
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
			  struct ckpt_err *err);

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
	if (n->mp && n->mp->how != MPL_GDA) {
		if (n->mp->how == MPL_BYTES) {
			l->kind = LEAF_BYTES;
			l->bytes = n->mp->bytes;
		} else {
			l->kind = LEAF_RANGES;
			l->fd = it->mp_fd; /* the item's: not closed with the leaf */
			l->ranges = n->mp->r;
			l->n_ranges = n->mp->n_r;
		}
		l->size = n->mp->size;
		return 0;
	}
	if (n->mp) {
		/* //GDAPlaceholder:p -> the zarr v2 array <file>_gda/p */
		struct ckpt_array_opts ao = { it->step->src->cache, &o->lim, false, o->stream_threshold,
					      o->piece_bytes, it->step->src->ra };
		char *prefix, *dir;
		int rc;

		pthread_mutex_lock(&it->gda_lock);
		if (it->gda_fd < 0 && asprintf(&dir, "%s_gda", it->step->file ? it->step->file : "checkpoint") >= 0) {
			it->gda_fd = ckpt_open_beneath(it->fd, dir, O_RDONLY | O_DIRECTORY, 0);
			if (it->gda_fd >= 0 && asprintf(&it->gda_label, "%s_gda", it->mp_label) < 0)
				it->gda_label = NULL;
			it->gda_store = (struct ckpt_store){ NULL, it->gda_fd, it->gda_label ? it->gda_label : "?" };
			free(dir);
		}
		pthread_mutex_unlock(&it->gda_lock);
		if (it->gda_fd < 0)
			return ckpt_err_set(err, -ENOENT, "'%s': the _gda directory of GDA placeholder '%s' is missing",
					    it->mp_label, n->param);
		if (asprintf(&prefix, "%s/", n->param) < 0)
			return -ENOMEM;
		l->kind = LEAF_ARRAY;
		rc = ckpt_array_open(&l->arr, &it->gda_store, prefix, 2, &ao, err);
		free(prefix);
		return rc;
	}
	switch (n->kind) {
	case CKPT_NODE_ARRAY: {
		struct ckpt_array_opts ao = { it->step->src->cache, &o->lim, it->missing_is_error,
					      o->stream_threshold, o->piece_bytes, it->step->src->ra };
		char *prefix;
		int rc;

		if (it->is_version && !it->db) {
			/* the array as it was: the first history copy at or after this version */
			char esc[CKPT_NAME_MAX + 1], *hist = NULL;

			ckpt_name_escape(n->param, strlen(n->param), 0, esc);
			for (uint64_t j = it->version; j < it->version + 100000 && !hist; j++) {
				char *cand;

				if (asprintf(&cand, CKPT_HISTORY "/arrays/%s@%llu", esc,
					     (unsigned long long)j) < 0)
					return -ENOMEM;
				if (ckpt_is_dir(it->fd, cand))
					hist = cand;
				else
					free(cand);
				if (!hist && !ckpt_exists(it->fd, CKPT_HISTORY "/versions"))
					break;
				/* stop at the last recorded version */
				{
					char rec[128];

					snprintf(rec, sizeof(rec), CKPT_HISTORY "/versions/%llu.json",
						 (unsigned long long)(j + 1));
					if (!hist && !ckpt_exists(it->fd, rec))
						break;
				}
			}
			if (hist) {
				int rc2 = asprintf(&prefix, "%s/", hist);

				free(hist);
				if (rc2 < 0)
					return -ENOMEM;
				goto have_prefix;
			}
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
	json_object_set_new(o, "nbytes", json_integer((json_int_t)m->nbytes));
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

json_t *ckpt_leaf_describe(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_err *err)
{
	json_t *o = json_object();
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
		rc = ckpt_pytree_leaf_open(it, n, &tmp, &e);
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
	json_object_set_new(o, "size", json_integer((json_int_t)ckpt_leaf_size(l)));
	if (n->mp && n->mp->how != MPL_GDA)
		describe_mp(it, n, o);
	else if (l->kind == LEAF_ARRAY)
		describe_array(it, n, l, o);
	else if (n->kind == CKPT_NODE_STRING && l->kind == LEAF_BYTES)
		json_object_set_new(o, "value", json_stringn((const char *)l->bytes, (size_t)l->size));
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

json_t *ckpt_item_describe(struct ckpt_item *it, struct ckpt_err *err)
{
	json_t *o = json_object(), *leaves = json_object();

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
				}
				json_object_set_new(d, "size", json_integer((json_int_t)ckpt_leaf_size(l)));
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
