/* SPDX-License-Identifier: Apache-2.0 */
/*
 * item.c - items and leaves (tier 4, above every item kind): the table of
 * kinds (kind.h), opening and closing an item, the per-node leaf cache,
 * sizes, reads and views of leaves.  What a kind knows lives in its own
 * file; the node tree is node.c.
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

/* ---------------------------------------------------------------- items */

/* the kinds, in the order they are asked whether they read an item */
static const struct ckpt_kind_ops *const kinds[] = {
	&ckpt_kind_flax, &ckpt_kind_pytree, &ckpt_kind_aggregate, &ckpt_kind_pytree_flat,
	&ckpt_kind_json, &ckpt_kind_raw,
};

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
	it->name = strdup(info->name);
	it->is_version = is_version;
	it->version = version;
	it->generation = generation;
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
	if (!it->name || !it->label || (is_version && !(it->meta_dir = ckpt_history_meta_dir(version)))) {
		rc = -ENOMEM;
		goto fail;
	}
	/* before anything is read: an edit checks nothing changed since (a
	 * read-only source is never edited: no need to stat its files) */
	if (!st->src->o.read_only)
		ckpt_stamp_take(it->fd, st->file, CKPT_HISTORY, &it->stamp);
	for (size_t k = 0; k < CKPT_ARRAY_SIZE(kinds) && !it->ops; k++)
		if (kinds[k]->claims(it))
			it->ops = kinds[k];
	rc = it->ops ? it->ops->open(it, err) : -EINVAL;
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

/* ---------------------------------------------------------------- leaves */

/* the header bytes + 1 of an array leaf's .npy view (ckpt_item_leaf_npy),
 * or 0 when it has none */
static uint32_t npy_head_plus1(const struct ckpt_node *n, const struct ckpt_leaf *l, uint64_t size)
{
	const struct ckpt_zarr_meta *m;
	struct ckpt_err e = { 0, "" };
	struct ckpt_npy h;

	if (n->kind != CKPT_NODE_ARRAY || (n->mp && n->mp->how != MPL_GDA) || l->kind != LEAF_ARRAY)
		return 0;
	m = ckpt_array_meta(l->arr);
	if (ckpt_npy_make(&h, m->dtype.name, m->rank, m->shape, &e) < 0 || h.data_bytes != size ||
	    h.data_off >= UINT32_MAX)
		return 0;
	return (uint32_t)h.data_off + 1;
}

int ckpt_item_leaf_size(struct ckpt_item *it, const struct ckpt_node *n, uint64_t *size,
			struct ckpt_err *err)
{
	struct leaf_slot *slot;
	struct ckpt_leaf *l, tmp;
	struct ckpt_err e2 = { 0, "" };
	uint64_t known;
	int rc;

	if (!it->ops->leaf_open || ckpt_node_is_dir(n))
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
	rc = it->ops->leaf_open(it, n, &tmp, &e2);
	if (rc < 0) {
		slot->err = rc;
		slot->msg = strdup(e2.msg);
		ckpt_err_set(err, rc, "%s", e2.msg);
	} else {
		*size = ckpt_leaf_size(&tmp);
		/* its .npy view's header from the same look (ls: NAME, NAME.npy) */
		__atomic_store_n(&slot->npy_head_plus1, npy_head_plus1(n, &tmp, *size),
				 __ATOMIC_RELAXED);
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
	if (!it->ops->leaf_open || ckpt_node_is_dir(n))
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
	rc = it->ops->leaf_open(it, n, l, &e2);
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
		ssize_t r = ckpt_pread(l->fd, buf, n, off);

		if (r < 0)
			return ckpt_err_set(err, (int)r, "read: %s", ckpt_strerror((int)r));
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

/* the leaf's stored bytes will be read: fetched ahead, not decoded */
static void leaf_fetch_ahead(struct ckpt_leaf *l)
{
	if (l->kind == LEAF_ARRAY)
		ckpt_array_fetch_ahead(l->arr);
}

/* ------------------------------------------------- cross-leaf read-ahead */

#define AHEAD_LEAVES 64 /* leaves looked at past the one opened */
#define FETCH_WINDOWS 4 /* object storage: fetched ahead, this many decoding windows */

/* the leaf after n in tree order (children in their order, depth first), or NULL */
static const struct ckpt_node *next_leaf(const struct ckpt_node *n)
{
	for (;;) {
		if (ckpt_node_is_dir(n) && n->n_children) {
			n = n->children[0];
		} else {
			for (;;) {
				const struct ckpt_node *p = n->parent;
				size_t i;

				if (!p)
					return NULL;
				i = ckpt_node_pos(n);
				if (i + 1 < p->n_children) {
					n = p->children[i + 1];
					break;
				}
				n = p;
			}
		}
		if (!ckpt_node_is_dir(n))
			return n;
	}
}

void ckpt_item_leaves_ahead(struct ckpt_item *it, const struct ckpt_node *n, uint64_t window,
			    ckpt_leaf_ahead_fn fn, void *ctx)
{
	uint64_t last = __atomic_exchange_n(&it->ra_last, n->id + 1, __ATOMIC_ACQ_REL);
	uint64_t bytes = 0;
	const struct ckpt_node *m;
	int walking;

	if (!window || !it->step->src->ra || !it->ops->leaf_open || n->kind != CKPT_NODE_ARRAY ||
	    last == n->id + 1)
		return;
	walking = __atomic_load_n(&it->slots[n->id].ra_sent, __ATOMIC_ACQUIRE) ||
		  (last && last <= it->n_nodes && next_leaf(it->nodes[last - 1]) == n);
	if (!walking)
		return; /* one leaf opened alone: nothing to guess */
	m = n;
	for (int k = 0; k < AHEAD_LEAVES && (m = next_leaf(m)) != NULL; k++) {
		struct ckpt_err err = { 0, "" };
		struct ckpt_leaf *l;
		uint64_t size;

		if (m->kind != CKPT_NODE_ARRAY)
			continue;
		if (ckpt_item_leaf(it, m, &l, &err) < 0)
			continue; /* its reader gets the error */
		size = ckpt_leaf_size(l);
		if (size > window - bytes) {
			/* past the decoding window: on object storage, the next
			 * leaves' bytes are fetched (not decoded) as far again as
			 * FETCH_WINDOWS windows, so that as many GETs are in
			 * flight as round trips need; a local source: nothing */
			if (!ckpt_src_willneed_wanted() || size > FETCH_WINDOWS * window - bytes)
				break;
			bytes += size;
			if (!__atomic_exchange_n(&it->slots[m->id].fetch_sent, 1, __ATOMIC_ACQ_REL))
				leaf_fetch_ahead(l);
			continue;
		}
		bytes += size;
		if (!__atomic_exchange_n(&it->slots[m->id].ra_sent, 1, __ATOMIC_ACQ_REL)) {
			ckpt_leaf_readahead(l, 0, size);
			if (fn)
				fn(ctx, m, size);
		}
	}
}
