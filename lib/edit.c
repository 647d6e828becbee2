/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edit.c - copy-on-write edits of pytree items (tier 5); see ckpt.h:
 * ckpt_edit_begin (the item's writer lock, the check that the item is as it
 * was read, the flat list of its leaves) and the operations on that list
 * (write, set_string, add_array, mkdir, remove, rename).  The commit is
 * edit_commit.c; see edit_int.h for how the edit files stack.
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

static ssize_t find_exact(const struct ckpt_edit *e, const struct ckpt_key *p, size_t d)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->l[i].depth == d && ckpt_edit_has_prefix(e->l[i].path, d, p, d, false))
			return (ssize_t)i;
	return -1;
}

static bool has_children(const struct ckpt_edit *e, const struct ckpt_key *p, size_t d)
{
	for (size_t i = 0; i < e->n; i++)
		if (ckpt_edit_has_prefix(e->l[i].path, e->l[i].depth, p, d, true))
			return true;
	return false;
}

static void remove_at(struct ckpt_edit *e, size_t i)
{
	ckpt_edit_eleaf_release(&e->l[i]);
	memmove(&e->l[i], &e->l[i + 1], (e->n - i - 1) * sizeof(*e->l));
	e->n--;
}

static struct eleaf *append(struct ckpt_edit *e)
{
	if (ckpt_grow((void **)&e->l, &e->cap, e->n + 1, sizeof(*e->l)) < 0)
		return NULL;
	memset(&e->l[e->n], 0, sizeof(*e->l));
	return &e->l[e->n++];
}

/* an empty container keeps its place in _METADATA as an empty node */
static int keep_empty_parent(struct ckpt_edit *e, const struct ckpt_key *p, size_t d, bool list)
{
	struct eleaf *l;

	if (d == 0 || has_children(e, p, d) || find_exact(e, p, d) >= 0)
		return 0;
	l = append(e);
	if (!l)
		return -ENOMEM;
	l->path = calloc(d, sizeof(*l->path));
	if (!l->path)
		return -ENOMEM;
	for (size_t i = 0; i < d; i++) {
		l->path[i] = p[i];
		l->path[i].s = ckpt_strndup(p[i].s, p[i].n);
		if (!l->path[i].s)
			return -ENOMEM;
		l->depth = i + 1;
	}
	l->kind = E_EMPTY;
	l->value_type = strdup(list ? "List" : "Dict");
	return l->value_type ? 0 : -ENOMEM;
}

/* a placeholder at p (an empty container) goes when something is put inside */
static void drop_placeholder(struct ckpt_edit *e, const struct ckpt_key *p, size_t d)
{
	for (size_t k = 0; k <= d; k++) {
		ssize_t i = find_exact(e, p, k);

		if (i >= 0 && e->l[i].kind == E_EMPTY)
			remove_at(e, (size_t)i);
	}
}

int ckpt_edit_begin(struct ckpt_edit **out, struct ckpt_item *it, struct ckpt_err *err)
{
	struct ckpt_edit *e;
	int rc = 0;

	*out = NULL;
	if (it->kind != CKPT_ITEM_PYTREE)
		return ckpt_err_set(err, -ENOTSUP, "'%s': only pytree items can be edited", it->label);
	if (it->is_version)
		return ckpt_err_set(err, -EROFS, "'%s': versions are read-only", it->label);
	if (it->step->src->o.read_only)
		return ckpt_err_set(err, -EROFS, "'%s': the source was opened read-only", it->label);
	if (it->agg_error)
		return ckpt_err_set(err, -EIO, "'%s/checkpoint': the aggregate file cannot be read (%s): "
				    "the item is not edited", it->label, it->agg_error);
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->it = it;
	/* one writer at a time per item, across processes: the lock is held
	 * until ckpt_edit_free, so nothing changes between this check and the
	 * commit */
	e->lockfd = ckpt_lock_dir(it->fd, it->mp_label && it->step->file ? it->mp_label : it->label,
				  CKPT_WRITER_WAIT_MS, err);
	if (e->lockfd < 0) {
		rc = e->lockfd;
		free(e);
		return rc;
	}
	{
		struct ckpt_stamp now;

		ckpt_stamp_take(it->fd, it->step->file, CKPT_HISTORY, &now);
		if (!ckpt_stamp_equal(&now, &it->stamp))
			rc = ckpt_err_set(err, -ESTALE,
					  "'%s': the item changed on disk since it was read (another mount, "
					  "ckpt prune or another program wrote it): the edit is not made on "
					  "the old state; read the item again",
					  it->step->file && it->mp_label ? it->mp_label : it->label);
	}
	/* the metadata documents, which reading never needed whole */
	if (rc == 0 && !it->step->file)
		rc = ckpt_pytree_load_docs(it, err);
	if (rc < 0) {
		ckpt_unlock(e->lockfd);
		free(e);
		return rc;
	}
	e->mp = it->mp_fd >= 0 && it->step->file;
	e->agg = it->mp_fd >= 0 && !it->step->file;
	e->hist = ckpt_history_path(it->step);
	if (!e->hist) {
		ckpt_edit_free(e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < it->n_nodes && rc == 0; i++) {
		const struct ckpt_node *n = it->nodes[i];
		struct eleaf *l;

		if (n->kind == CKPT_NODE_DICT || n->kind == CKPT_NODE_LIST || n->kind == CKPT_NODE_FILE ||
		    !n->parent)
			continue;
		if (n->agg_lost) {
			rc = ckpt_err_set(err, -EIO, "'%s/checkpoint': _METADATA says the value of '%s' is in "
					  "this aggregate file, which does not hold it: the item is not edited",
					  it->label, n->param ? n->param : n->key);
			break;
		}
		l = append(e);
		if (!l) {
			rc = -ENOMEM;
			break;
		}
		l->kind = ckpt_edit_kind_of(n);
		l->node = n;
		l->value_type = strdup(n->value_type ? n->value_type : "jax.Array");
		if (n->vm)
			l->vm = json_loads(n->vm, 0, NULL);
		if (l->kind == E_ARRAY)
			l->orig_param = strdup(n->param ? n->param : "");
		rc = ckpt_edit_node_path(n, &l->path, &l->depth);
		if (rc == 0 && (!l->value_type || (l->kind == E_ARRAY && !l->orig_param)))
			rc = -ENOMEM;
	}
	if (rc < 0) {
		ckpt_edit_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

void ckpt_edit_free(struct ckpt_edit *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++)
		ckpt_edit_eleaf_release(&e->l[i]);
	free(e->l);
	free(e->hist);
	ckpt_unlock(e->lockfd);
	free(e);
}

uint64_t ckpt_edit_bytes_written(const struct ckpt_edit *e)
{
	return e->written;
}

static ssize_t find_node(struct ckpt_edit *e, const struct ckpt_node *n)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->l[i].node == n)
			return (ssize_t)i;
	return -1;
}

static int once(struct ckpt_edit *e, struct ckpt_err *err)
{
	if (e->done)
		return ckpt_err_set(err, -EINVAL, "one operation per edit");
	e->done = true;
	return 0;
}

/* arrays as Orbax writes them can be re-encoded; others are refused */
static int editable_spec(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_zarr_spec *s,
			 struct ckpt_array **arr_out, struct ckpt_err *err)
{
	struct ckpt_leaf *leaf;
	const struct ckpt_zarr_meta *m;
	const struct ckpt_chain *ch;
	int rc = ckpt_item_leaf(it, n, &leaf, err);

	if (rc < 0)
		return rc;
	m = ckpt_array_meta(leaf->arr);
	ch = &m->chain;
	memset(s, 0, sizeof(*s));
	s->format = m->format;
	s->dtype = m->dtype;
	s->rank = m->rank;
	memcpy(s->shape, m->shape, sizeof(s->shape));
	memcpy(s->chunk, m->chunk, sizeof(s->chunk));
	if (ch->shard) {
		const struct ckpt_chain *in = &ch->shard->codecs;

		for (uint32_t k = 0; k < m->rank; k++)
			if (ch->shard->inner[k] != m->chunk[k])
				goto refuse;
		if (ch->n_b2b || ch->n_transpose || in->shard || in->n_transpose || in->big_endian ||
		    !ch->shard->index_crc32c || ch->shard->index_at_start || in->n_b2b > 1 ||
		    (in->n_b2b == 1 && !ckpt_codec_encodes(in->b2b[0].id)))
			goto refuse;
		s->compress = in->n_b2b == 1;
		s->codec = in->b2b[0];
	} else {
		if (m->format != 2 || ch->n_transpose || ch->big_endian || ch->n_b2b > 1 ||
		    (ch->n_b2b == 1 && !ckpt_codec_encodes(ch->b2b[0].id)))
			goto refuse;
		s->compress = ch->n_b2b == 1;
		s->codec = ch->b2b[0];
	}
	*arr_out = leaf->arr;
	return 0;
refuse:
	return ckpt_err_set(err, -ENOTSUP,
			    "'%s': editing arrays whose codecs Orbax does not write (%s) is not supported",
			    n->param ? n->param : "", m->format == 2 ? "order F, big-endian, ..."
									: "transpose, ...");
}

int ckpt_edit_write(struct ckpt_edit *e, const struct ckpt_node *leaf, const struct ckpt_extent *dirty,
		    size_t n_dirty, ckpt_bytes_fn src, void *ctx, struct ckpt_err *err)
{
	ssize_t i = find_node(e, leaf);
	struct ckpt_array *arr = NULL;
	struct ckpt_zarr_spec s;
	uint64_t nb;
	int rc;

	if ((rc = once(e, err)) < 0)
		return rc;
	if (i < 0 || e->l[i].kind != E_ARRAY)
		return ckpt_err_set(err, -EINVAL, "not an array leaf");
	memset(&s, 0, sizeof(s));
	if (e->mp || (e->agg && node_inline(leaf))) {
		/* the value is in the msgpack file, unless it is a placeholder */
		if (!leaf->mp || leaf->mp->how == MPL_GDA)
			return ckpt_err_set(err, -ENOTSUP,
					    "'%s': '%s' is stored outside the msgpack file (%s): editing it "
					    "is not supported", e->it->mp_label, leaf->param ? leaf->param : "",
					    leaf->value_type ? leaf->value_type : "placeholder");
		nb = leaf->mp->size;
	} else {
		if ((rc = editable_spec(e->it, leaf, &s, &arr, err)) < 0)
			return rc;
		nb = ckpt_array_meta(arr)->nbytes;
	}
	for (size_t k = 0; k < n_dirty; k++)
		if (dirty[k].off > nb || dirty[k].len > nb - dirty[k].off)
			return ckpt_err_set(err, -EINVAL, "write beyond the leaf's %llu bytes",
					    (unsigned long long)nb);
	e->l[i].dirty = malloc((n_dirty ? n_dirty : 1) * sizeof(*dirty));
	if (!e->l[i].dirty)
		return -ENOMEM;
	if (n_dirty)
		memcpy(e->l[i].dirty, dirty, n_dirty * sizeof(*dirty));
	e->l[i].n_dirty = n_dirty;
	e->l[i].src = src;
	e->l[i].ctx = ctx;
	e->l[i].spec = s;
	snprintf(e->what, sizeof(e->what), "write %s", e->l[i].orig_param && *e->l[i].orig_param
		 ? e->l[i].orig_param : leaf->key);
	return 0;
}

int ckpt_edit_set_string(struct ckpt_edit *e, const struct ckpt_node *leaf, const char *s, size_t n,
			 struct ckpt_err *err)
{
	ssize_t i = find_node(e, leaf);
	int rc;

	if ((rc = once(e, err)) < 0)
		return rc;
	if (i < 0 || e->l[i].kind != E_STRING)
		return ckpt_err_set(err, -EINVAL, "not a string leaf");
	e->l[i].str = ckpt_strndup(s, n);
	e->l[i].str_n = n;
	e->l[i].str_set = true;
	snprintf(e->what, sizeof(e->what), "write string %s", leaf->param ? leaf->param : leaf->key);
	return e->l[i].str ? 0 : -ENOMEM;
}

/* new path = parent's path + key; the key type follows the parent */
static int child_path(const struct ckpt_node *parent, const char *key, size_t key_n,
		      struct ckpt_key **out, size_t *depth)
{
	struct ckpt_key *pp;
	size_t pd;
	int rc = ckpt_edit_node_path(parent, &pp, &pd);

	if (rc < 0)
		return rc;
	*out = realloc(pp, (pd + 1) * sizeof(*pp));
	if (!*out) {
		ckpt_edit_keys_free(pp, pd);
		return -ENOMEM;
	}
	(*out)[pd].s = ckpt_strndup(key, key_n);
	(*out)[pd].n = key_n;
	(*out)[pd].type = parent->kind == CKPT_NODE_LIST ? 1 : 2;
	*depth = pd + 1;
	return (*out)[pd].s ? 0 : -ENOMEM;
}

/* makes room at p: a leaf or empty container there goes, a non-empty one refuses */
static int clear_target(struct ckpt_edit *e, const struct ckpt_key *p, size_t d, bool want_dir,
			struct ckpt_err *err)
{
	ssize_t i = find_exact(e, p, d);

	if (has_children(e, p, d))
		return ckpt_err_set(err, want_dir ? -ENOTEMPTY : -EISDIR, "the target is a directory");
	if (i >= 0) {
		if (want_dir && e->l[i].kind != E_EMPTY)
			return ckpt_err_set(err, -ENOTDIR, "the target is not a directory");
		remove_at(e, (size_t)i);
	}
	return 0;
}

int ckpt_edit_add_array(struct ckpt_edit *e, const struct ckpt_node *parent, const char *key,
			size_t key_n, const char *dtype, uint32_t rank, const uint64_t *shape,
			ckpt_bytes_fn src, void *ctx, struct ckpt_err *err)
{
	struct ckpt_key *p;
	size_t d;
	struct eleaf *l;
	struct ckpt_dtype dt;
	uint64_t nbytes;
	int rc;

	if ((rc = once(e, err)) < 0)
		return rc;
	if (!ckpt_node_is_dir(parent))
		return ckpt_err_set(err, -ENOTDIR, "the parent is not a directory");
	if (!e->mp && !e->agg && !e->it->have_metadata)
		return ckpt_err_set(err, -ENOTSUP, "'%s' has no _METADATA: only leaf data can be edited",
				    e->it->label);
	if (ckpt_dtype_from_name(&dt, dtype) < 0)
		return ckpt_err_set(err, -ENOTSUP, "dtype '%s' is not supported", dtype);
	if (rank > CKPT_MAX_RANK)
		return ckpt_err_set(err, -EINVAL, "rank %u is too large", rank);
	nbytes = dt.itemsize;
	for (uint32_t k = 0; k < rank; k++)
		if (!shape[k] || ckpt_mul_overflow(nbytes, shape[k], &nbytes))
			return ckpt_err_set(err, -EINVAL, "zero-sized or overflowing shape (Orbax refuses both)");
	if ((rc = child_path(parent, key, key_n, &p, &d)) < 0)
		return rc;
	rc = clear_target(e, p, d, false, err);
	if (rc == 0)
		drop_placeholder(e, p, d - 1);
	if (rc < 0 || !(l = append(e))) {
		ckpt_edit_keys_free(p, d);
		return rc < 0 ? rc : -ENOMEM;
	}
	l->path = p;
	l->depth = d;
	l->kind = E_ARRAY;
	l->is_new = true;
	/* an aggregate item: Orbax's legacy restore path gets no sharding for
	 * a new jax.Array; a numpy array needs none */
	l->value_type = strdup(e->mp ? "ndarray" : e->agg ? "np.ndarray"
			       : dt.itemsize == 8 && dt.kind != CKPT_DK_COMPLEX ? "np.ndarray"
			       : dt.itemsize == 16 ? "np.ndarray" : "jax.Array");
	l->src = src;
	l->ctx = ctx;
	l->spec.format = e->it->use_zarr3 ? 3 : 2;
	l->spec.dtype = dt;
	if (dt.name == dt.raw_name) /* the copy's name is its own */
		l->spec.dtype.name = l->spec.dtype.raw_name;
	l->spec.rank = rank;
	l->spec.compress = true;
	memcpy(l->spec.shape, shape, rank * sizeof(*shape));
	ckpt_zarr_choose_chunks(shape, rank, dt.itemsize,
				nbytes > ((uint64_t)2 << 30) ? (uint64_t)2 << 30 : 0, l->spec.chunk);
	e->structural = true;
	snprintf(e->what, sizeof(e->what), "add %.*s", (int)CKPT_MIN(key_n, 200), key);
	return l->value_type ? 0 : -ENOMEM;
}

int ckpt_edit_mkdir(struct ckpt_edit *e, const struct ckpt_node *parent, const char *key, size_t key_n,
		    struct ckpt_err *err)
{
	struct ckpt_key *p;
	size_t d;
	struct eleaf *l;
	int rc;

	if ((rc = once(e, err)) < 0)
		return rc;
	if (!ckpt_node_is_dir(parent))
		return ckpt_err_set(err, -ENOTDIR, "the parent is not a directory");
	if (!e->mp && !e->agg && !e->it->have_metadata)
		return ckpt_err_set(err, -ENOTSUP, "'%s' has no _METADATA", e->it->label);
	if ((rc = child_path(parent, key, key_n, &p, &d)) < 0)
		return rc;
	if (find_exact(e, p, d) >= 0 || has_children(e, p, d)) {
		ckpt_edit_keys_free(p, d);
		return ckpt_err_set(err, -EEXIST, "exists");
	}
	drop_placeholder(e, p, d - 1);
	if (!(l = append(e))) {
		ckpt_edit_keys_free(p, d);
		return -ENOMEM;
	}
	l->path = p;
	l->depth = d;
	l->kind = E_EMPTY;
	l->value_type = strdup("Dict");
	e->structural = true;
	snprintf(e->what, sizeof(e->what), "mkdir %.*s", (int)CKPT_MIN(key_n, 200), key);
	return l->value_type ? 0 : -ENOMEM;
}

int ckpt_edit_remove(struct ckpt_edit *e, const struct ckpt_node *n, struct ckpt_err *err)
{
	struct ckpt_key *p;
	size_t d;
	int rc;

	if ((rc = once(e, err)) < 0)
		return rc;
	if (!n->parent)
		return ckpt_err_set(err, -EBUSY, "the item's root cannot be removed");
	if (!e->mp && !e->agg && !e->it->have_metadata)
		return ckpt_err_set(err, -ENOTSUP, "'%s' has no _METADATA", e->it->label);
	if ((rc = ckpt_edit_node_path(n, &p, &d)) < 0)
		return rc;
	for (size_t i = e->n; i-- > 0;)
		if (ckpt_edit_has_prefix(e->l[i].path, e->l[i].depth, p, d, false))
			remove_at(e, i);
	rc = keep_empty_parent(e, p, d - 1, n->parent->kind == CKPT_NODE_LIST);
	ckpt_edit_keys_free(p, d);
	e->structural = true;
	snprintf(e->what, sizeof(e->what), "remove %s", n->param ? n->param : n->key);
	return rc;
}

int ckpt_edit_rename(struct ckpt_edit *e, const struct ckpt_node *n, const struct ckpt_node *new_parent,
		     const char *key, size_t key_n, struct ckpt_err *err)
{
	struct ckpt_key *s, *d;
	size_t sd, dd;
	int rc;

	if ((rc = once(e, err)) < 0)
		return rc;
	if (!n->parent || !ckpt_node_is_dir(new_parent))
		return ckpt_err_set(err, -EINVAL, "bad rename");
	if (!e->mp && !e->agg && !e->it->have_metadata)
		return ckpt_err_set(err, -ENOTSUP, "'%s' has no _METADATA", e->it->label);
	if ((rc = ckpt_edit_node_path(n, &s, &sd)) < 0)
		return rc;
	if ((rc = child_path(new_parent, key, key_n, &d, &dd)) < 0) {
		ckpt_edit_keys_free(s, sd);
		return rc;
	}
	if (ckpt_edit_has_prefix(d, dd, s, sd, false)) {
		rc = sd == dd ? 0 : ckpt_err_set(err, -EINVAL, "cannot move a directory into itself");
		goto out;
	}
	rc = clear_target(e, d, dd, ckpt_node_is_dir(n), err);
	if (rc < 0)
		goto out;
	drop_placeholder(e, d, dd - 1);
	/* every leaf under s moves under d */
	for (size_t i = 0; i < e->n && rc == 0; i++) {
		struct eleaf *l = &e->l[i];
		struct ckpt_key *np;
		size_t nd;

		if (!ckpt_edit_has_prefix(l->path, l->depth, s, sd, false))
			continue;
		nd = dd + l->depth - sd;
		np = calloc(nd, sizeof(*np));
		if (!np) {
			rc = -ENOMEM;
			break;
		}
		for (size_t k = 0; k < nd && rc == 0; k++) {
			const struct ckpt_key *src = k < dd ? &d[k] : &l->path[sd + k - dd];

			np[k] = *src;
			np[k].s = ckpt_strndup(src->s, src->n);
			if (!np[k].s)
				rc = -ENOMEM;
		}
		ckpt_edit_keys_free(l->path, l->depth);
		l->path = np;
		l->depth = nd;
	}
	if (rc == 0 && e->mp) {
		/* as d[new] = d.pop(old) does: the moved keys come last (a
		 * msgpack map keeps its order) */
		size_t k = 0, m = 0;
		struct eleaf *tmp = malloc((e->n ? e->n : 1) * sizeof(*tmp));

		if (!tmp)
			rc = -ENOMEM;
		for (size_t i = 0; tmp && i < e->n; i++)
			if (!ckpt_edit_has_prefix(e->l[i].path, e->l[i].depth, d, dd, false))
				e->l[k++] = e->l[i];
			else
				tmp[m++] = e->l[i];
		if (tmp) {
			memcpy(&e->l[k], tmp, m * sizeof(*tmp));
			free(tmp);
		}
	}
	if (rc == 0)
		rc = keep_empty_parent(e, s, sd - 1, n->parent->kind == CKPT_NODE_LIST);
	e->structural = true;
	snprintf(e->what, sizeof(e->what), "move %s to %.*s", n->param ? n->param : n->key,
		 (int)CKPT_MIN(key_n, 100), key);
out:
	ckpt_edit_keys_free(s, sd);
	ckpt_edit_keys_free(d, dd);
	return rc;
}
