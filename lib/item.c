/* SPDX-License-Identifier: Apache-2.0 */
/*
 * item.c - items, nodes and leaves (tier 4).  Pytree items are built in
 * pytree.c; here are the shared node tree, JSON items (one file) and raw
 * items (a directory shown as it is, for handlers ckptfs does not know).
 */
#define _GNU_SOURCE
#include "model.h"

#include "fsutil.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- nodes */

struct ckpt_node *ckpt_node_new(struct ckpt_item *it, struct ckpt_node *parent, const char *key,
				size_t key_n, uint8_t key_type, enum ckpt_node_kind kind)
{
	struct ckpt_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->key = ckpt_strndup(key, key_n);
	if (!n->key || ckpt_grow((void **)&it->nodes, &it->cap_nodes, it->n_nodes + 1,
				 sizeof(*it->nodes)) < 0)
		goto fail;
	n->key_n = key_n;
	n->key_type = key_type;
	n->kind = kind;
	n->parent = parent;
	if (parent) {
		if (ckpt_grow((void **)&parent->children, &parent->cap_children,
			      parent->n_children + 1, sizeof(*parent->children)) < 0)
			goto fail;
		if (ckpt_map_put(&parent->index, (struct ckpt_bytes){ (const uint8_t *)n->key, key_n },
				 parent->n_children) < 0)
			goto fail;
		parent->children[parent->n_children++] = n;
	}
	n->id = it->n_nodes;
	it->nodes[it->n_nodes++] = n;
	return n;
fail:
	free(n->key);
	free(n);
	return NULL;
}

void ckpt_node_free_tree(struct ckpt_node *n)
{
	/* iterative: the tree depth comes from the data */
	while (n) {
		struct ckpt_node *parent;

		if (n->n_children) {
			n = n->children[--n->n_children];
			continue;
		}
		parent = n->parent;
		free(n->children);
		ckpt_map_release(&n->index);
		free(n->key);
		free(n->param);
		ckpt_mp_leaf_free(n->mp);
		free(n);
		n = parent;
	}
}

enum ckpt_node_kind ckpt_node_kind(const struct ckpt_node *n)
{
	return n->kind;
}

bool ckpt_node_is_dir(const struct ckpt_node *n)
{
	return n->kind == CKPT_NODE_DICT || n->kind == CKPT_NODE_LIST || n->kind == CKPT_NODE_EMPTY;
}

const char *ckpt_node_key(const struct ckpt_node *n, size_t *len)
{
	if (len)
		*len = n->key_n;
	return n->key;
}

size_t ckpt_node_n_children(const struct ckpt_node *n)
{
	return n->n_children;
}

const struct ckpt_node *ckpt_node_child(const struct ckpt_node *n, size_t i)
{
	return i < n->n_children ? n->children[i] : NULL;
}

const struct ckpt_node *ckpt_node_find(const struct ckpt_node *n, const char *key, size_t len)
{
	size_t i;

	if (ckpt_map_get(&n->index, (struct ckpt_bytes){ (const uint8_t *)key, len }, &i) < 0)
		return NULL;
	return n->children[i];
}

uint64_t ckpt_node_id(const struct ckpt_node *n)
{
	return n->id;
}

uint64_t ckpt_item_n_nodes(const struct ckpt_item *it)
{
	return it->n_nodes;
}

const struct ckpt_node *ckpt_item_node(const struct ckpt_item *it, uint64_t id)
{
	return id < it->n_nodes ? it->nodes[id] : NULL;
}

/* ---------------------------------------------------------------- json and raw items */

static int open_json_item(struct ckpt_item *it, struct ckpt_err *err)
{
	static const char *const names[] = { "data.json", "metadata", "metrics" };
	DIR *d;
	int rc = -ENOENT;
	char only[256] = "";

	/* the single regular file of the item */
	d = ckpt_opendir_fd(it->fd);
	if (!d) {
		return ckpt_err_set(err, -EIO, "cannot list '%s'", it->label);
	}
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;

		if (e->d_name[0] == '.' || !strcmp(e->d_name, "commit_success.txt") ||
		    strstr(e->d_name, ".__lock"))
			continue;
		if (fstatat(it->fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			snprintf(only, sizeof(only), "%s", e->d_name);
	}
	closedir(d);
	for (size_t i = 0; !only[0] && i < CKPT_ARRAY_SIZE(names); i++)
		if (ckpt_exists(it->fd, names[i]))
			snprintf(only, sizeof(only), "%s", names[i]);
	if (only[0])
		rc = ckpt_read_file(it->fd, only, it->step->src->o.lim.max_json_bytes, &it->json,
				    &it->json_n, err);
	else
		rc = ckpt_err_set(err, -ENOENT, "'%s': JSON item without a file", it->label);
	if (rc < 0)
		ckpt_err_prefix(err, "'%s': ", it->label);
	return rc;
}

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

/* ---------------------------------------------------------------- items */

int ckpt_item_open_at(struct ckpt_item **out, struct ckpt_step *st, size_t i, bool is_version,
		      uint64_t version, uint64_t generation, struct ckpt_err *err);

int ckpt_item_open(struct ckpt_item **out, struct ckpt_step *st, size_t i, struct ckpt_err *err)
{
	return ckpt_item_open_at(out, st, i, false, 0, 0, err);
}

int ckpt_item_open_at(struct ckpt_item **out, struct ckpt_step *st, size_t i, bool is_version,
		      uint64_t version, uint64_t generation, struct ckpt_err *err)
{
	const struct ckpt_item_info *info = ckpt_step_item(st, i);
	struct ckpt_item *it;
	int rc;

	*out = NULL;
	if (!info)
		return -ENOENT;
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	pthread_mutex_init(&it->lock, NULL);
	it->mp_fd = -1;
	it->gda_fd = -1;
	pthread_mutex_init(&it->gda_lock, NULL);
	it->step = st;
	it->kind = info->kind;
	it->time_ns = st->time_ns;
	it->name = strdup(info->name);
	it->is_version = is_version;
	it->version = version;
	it->generation = generation;
	if (is_version && asprintf(&it->meta_dir, CKPT_HISTORY "/versions/meta/%llu",
				   (unsigned long long)version) < 0)
		it->meta_dir = NULL;
	if (st->direct) {
		it->fd = fcntl(st->fd, F_DUPFD_CLOEXEC, 3);
		it->label = strdup(st->path);
	} else {
		it->fd = openat(st->fd, info->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (asprintf(&it->label, "%s/%s", st->path, info->name) < 0)
			it->label = NULL;
	}
	if (it->fd < 0) {
		rc = ckpt_err_set(err, -errno, "cannot open '%s/%s': %s", st->path, info->name,
				  ckpt_strerror(-errno));
		goto fail;
	}
	if (!it->name || !it->label) {
		rc = -ENOMEM;
		goto fail;
	}
	/* before anything is read: an edit checks nothing changed since */
	ckpt_stamp_take(it->fd, st->file, CKPT_HISTORY, &it->stamp);
	switch (it->kind) {
	case CKPT_ITEM_PYTREE:
		if (st->file) {
			char *hist = NULL, *vfile = NULL;
			bool values;

			/* a Flax msgpack checkpoint: the step is one file; a version
			 * of it is a hard link in its history (msgpack_edit.c) */
			it->store.dirfd = it->fd;
			it->store.label = it->label;
			if (is_version && (!(hist = ckpt_history_path(st)) ||
					   asprintf(&vfile, "%s/files/%llu", hist, (unsigned long long)version) < 0)) {
				free(hist);
				rc = -ENOMEM;
				goto fail;
			}
			rc = ckpt_msgpack_open(it, vfile ? vfile : st->file, &values, err);
			free(hist);
			free(vfile);
		} else {
			rc = ckpt_pytree_open(it, err);
		}
		break;
	case CKPT_ITEM_JSON:
		rc = open_json_item(it, err);
		break;
	case CKPT_ITEM_RAW:
		rc = open_raw_item(it, err);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc < 0)
		goto fail;
	if (it->n_nodes) {
		it->slots = calloc(it->n_nodes, sizeof(*it->slots));
		if (!it->slots) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	*out = it;
	return 0;
fail:
	ckpt_item_close(it);
	return rc;
}

static void leaf_free(struct ckpt_leaf *l)
{
	if (!l)
		return;
	ckpt_array_close(l->arr);
	if (l->kind == LEAF_FILE && l->fd >= 0)
		close(l->fd);
	free(l);
}

void ckpt_item_close(struct ckpt_item *it)
{
	if (!it)
		return;
	if (it->slots) {
		for (size_t i = 0; i < it->n_nodes; i++) {
			leaf_free(it->slots[i].leaf);
			free(it->slots[i].msg);
		}
		free(it->slots);
	}
	ckpt_node_free_tree(it->root);
	free(it->nodes);
	ckpt_ocdbt_close(it->db);
	json_decref(it->metadata);
	json_decref(it->strings);
	json_decref(it->sharding);
	json_decref(it->array_metas);
	for (size_t i = 0; i < it->n_intern; i++)
		free(it->intern[i]);
	free(it->intern);
	ckpt_map_release(&it->interned);
	free(it->custom_metadata);
	if (it->mp_fd >= 0)
		close(it->mp_fd);
	if (it->gda_fd >= 0)
		close(it->gda_fd);
	free(it->mp_label);
	free(it->agg_error);
	free(it->gda_label);
	pthread_mutex_destroy(&it->gda_lock);
	free(it->json);
	free(it->meta_dir);
	if (it->fd >= 0)
		close(it->fd);
	pthread_mutex_destroy(&it->lock);
	free(it->label);
	free(it->name);
	free(it);
}

enum ckpt_item_kind ckpt_item_kind(const struct ckpt_item *it)
{
	return it->kind;
}

const struct ckpt_node *ckpt_item_root(const struct ckpt_item *it)
{
	return it->root;
}

int ckpt_item_json_bytes(const struct ckpt_item *it, const uint8_t **p, size_t *n)
{
	if (it->kind != CKPT_ITEM_JSON)
		return -EINVAL;
	*p = it->json;
	*n = it->json_n;
	return 0;
}

uint64_t ckpt_item_time_ns(const struct ckpt_item *it)
{
	return it->time_ns;
}

/* ---------------------------------------------------------------- leaves */

int ckpt_pytree_leaf_open(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_leaf *l,
			  struct ckpt_err *err);

int ckpt_item_leaf_size(struct ckpt_item *it, const struct ckpt_node *n, uint64_t *size,
			struct ckpt_err *err)
{
	struct leaf_slot *slot;
	struct ckpt_leaf *l, tmp;
	struct ckpt_err e2 = { 0, "" };
	uint64_t known;
	int rc;

	if (it->kind == CKPT_ITEM_JSON || ckpt_node_is_dir(n))
		return -EISDIR;
	slot = &it->slots[n->id];
	l = __atomic_load_n(&slot->leaf, __ATOMIC_ACQUIRE);
	known = __atomic_load_n(&slot->size_plus1, __ATOMIC_ACQUIRE);
	if (l || known) {
		*size = l ? ckpt_leaf_size(l) : known - 1;
		return 0;
	}
	if (n->kind != CKPT_NODE_ARRAY) {
		rc = ckpt_item_leaf(it, n, &l, err);
		if (rc == 0)
			*size = ckpt_leaf_size(l);
		return rc;
	}
	/* an array: read its metadata for the size, and keep only the size
	 * (stat of 100,000 leaves must not keep 100,000 arrays open) */
	pthread_mutex_lock(&it->lock);
	if (slot->leaf || slot->err || slot->size_plus1) {
		rc = slot->err;
		if (rc)
			ckpt_err_set(err, rc, "%s", slot->msg ? slot->msg : ckpt_strerror(rc));
		else
			*size = slot->leaf ? ckpt_leaf_size(slot->leaf) : slot->size_plus1 - 1;
		pthread_mutex_unlock(&it->lock);
		return rc;
	}
	memset(&tmp, 0, sizeof(tmp));
	tmp.fd = -1;
	rc = ckpt_pytree_leaf_open(it, n, &tmp, &e2);
	if (rc < 0) {
		slot->err = rc;
		slot->msg = strdup(e2.msg);
		ckpt_err_set(err, rc, "%s", e2.msg);
	} else {
		*size = ckpt_leaf_size(&tmp);
		__atomic_store_n(&slot->size_plus1, *size + 1, __ATOMIC_RELEASE);
	}
	ckpt_array_close(tmp.arr);
	pthread_mutex_unlock(&it->lock);
	return rc;
}

int ckpt_item_leaf(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_leaf **out,
		   struct ckpt_err *err)
{
	struct leaf_slot *slot;
	struct ckpt_leaf *l;
	struct ckpt_err e2 = { 0, "" };
	int rc;

	*out = NULL;
	if (it->kind == CKPT_ITEM_JSON || ckpt_node_is_dir(n))
		return -EISDIR;
	slot = &it->slots[n->id];
	l = __atomic_load_n(&slot->leaf, __ATOMIC_ACQUIRE);
	if (l) {
		*out = l;
		return 0;
	}
	pthread_mutex_lock(&it->lock);
	if (slot->leaf || slot->err) {
		rc = slot->err;
		if (rc)
			ckpt_err_set(err, rc, "%s", slot->msg ? slot->msg : ckpt_strerror(rc));
		*out = slot->leaf;
		pthread_mutex_unlock(&it->lock);
		return rc;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		pthread_mutex_unlock(&it->lock);
		return -ENOMEM;
	}
	l->fd = -1;
	if (n->kind == CKPT_NODE_FILE) {
		struct stat st;

		l->kind = LEAF_FILE;
		l->fd = ckpt_open_beneath(it->fd, n->param, O_RDONLY, 0);
		if (l->fd < 0)
			rc = ckpt_err_set(&e2, l->fd, "'%s/%s': %s", it->label, n->param,
					  ckpt_strerror(l->fd));
		else if (fstat(l->fd, &st) < 0)
			rc = ckpt_err_set(&e2, -errno, "'%s/%s': %s", it->label, n->param,
					  ckpt_strerror(-errno));
		else
			rc = 0, l->size = (uint64_t)st.st_size;
	} else {
		rc = ckpt_pytree_leaf_open(it, n, l, &e2);
	}
	if (rc < 0) {
		leaf_free(l);
		slot->err = rc;
		slot->msg = strdup(e2.msg);
		ckpt_err_set(err, rc, "%s", e2.msg);
	} else {
		__atomic_store_n(&slot->leaf, l, __ATOMIC_RELEASE);
		*out = l;
	}
	pthread_mutex_unlock(&it->lock);
	return rc;
}

uint64_t ckpt_leaf_size(const struct ckpt_leaf *l)
{
	if (l->kind == LEAF_ARRAY)
		return ckpt_array_meta(l->arr)->nbytes;
	return l->size;
}

int64_t ckpt_leaf_read(struct ckpt_leaf *l, void *buf, uint64_t off, size_t n, struct ckpt_err *err)
{
	switch (l->kind) {
	case LEAF_ARRAY:
		return ckpt_array_read(l->arr, buf, off, n, err);
	case LEAF_BYTES:
		if (off >= l->size)
			return 0;
		n = (size_t)CKPT_MIN((uint64_t)n, l->size - off);
		memcpy(buf, l->bytes + off, n);
		return (int64_t)n;
	case LEAF_FILE: {
		ssize_t r;

		do {
			r = pread(l->fd, buf, n, (off_t)off);
		} while (r < 0 && errno == EINTR);
		if (r < 0)
			return ckpt_err_set(err, -errno, "read: %s", ckpt_strerror(-errno));
		return r;
	}
	case LEAF_RANGES: {
		/* the leaf's bytes are ranges of a msgpack file, in order */
		uint64_t base = 0, done = 0;

		if (off >= l->size)
			return 0;
		n = (size_t)CKPT_MIN((uint64_t)n, l->size - off);
		for (size_t i = 0; i < l->n_ranges && done < n; i++) {
			const struct ckpt_mp_range *rg = &l->ranges[i];
			uint64_t at = off + done;

			if (at < base + rg->len) {
				uint64_t take = CKPT_MIN(rg->len - (at - base), (uint64_t)n - done);
				int rc = ckpt_pread_full(l->fd, (uint8_t *)buf + done, (size_t)take,
							 rg->off + (at - base));

				if (rc < 0)
					return ckpt_err_set(err, rc, "read: %s", ckpt_strerror(rc));
				done += take;
			}
			base += rg->len;
		}
		return (int64_t)done;
	}
	}
	return -EINVAL;
}

int ckpt_leaf_view(struct ckpt_leaf *l, uint64_t off, size_t n, struct ckpt_view *v,
		   struct ckpt_err *err)
{
	struct ckpt_cache_ref ref;
	size_t skip = 0;
	uint64_t size = ckpt_leaf_size(l);
	int rc;

	memset(v, 0, sizeof(*v));
	if (l->kind != LEAF_ARRAY)
		return 0;
	rc = ckpt_array_view(l->arr, off, n, &ref, &skip, err);
	if (rc != 1)
		return rc;
	v->p = ref.data + skip;
	v->n = off >= size ? 0 : (size_t)CKPT_MIN((uint64_t)n, size - off);
	v->priv[0] = ckpt_array_cache(l->arr);
	v->priv[1] = ref.e;
	v->priv[2] = (void *)ref.data;
	return 1;
}

void ckpt_view_release(struct ckpt_view *v)
{
	struct ckpt_cache_ref ref = { v->priv[1], v->priv[2], 0 };

	if (v->priv[0])
		ckpt_cache_unref(v->priv[0], &ref);
	memset(v, 0, sizeof(*v));
}

void ckpt_leaf_readahead(struct ckpt_leaf *l, uint64_t off, uint64_t len)
{
	if (l->kind == LEAF_ARRAY)
		ckpt_array_readahead(l->arr, off, len);
}

void ckpt_leaf_prefetch(struct ckpt_leaf *l, uint64_t off)
{
	struct ckpt_err err = { 0, "" };

	if (l->kind == LEAF_ARRAY && !ckpt_array_streams(l->arr))
		ckpt_array_prefetch(l->arr, ckpt_array_chunk_of(l->arr, off), &err);
}
