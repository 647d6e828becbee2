/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edit.c - copy-on-write edits of pytree items (tier 5); see ckpt.h.
 *
 * The edit works on a flat list of the item's leaves (arrays, strings, None,
 * empty containers), each with its key path.  Operations change the list;
 * the commit compares it with the item and writes, in this order:
 *   1. new array data: OCDBT commit A (new chunks, new keys of moved arrays
 *      referring to the same values) / new array directories (hard links to
 *      unchanged chunk files, new files for changed chunks)
 *   2. _sharding, array_metadatas, _strings.json with old and new entries
 *   3. _METADATA                                  <- the commit point of a
 *      structural change; a data edit's commit point is step 1 (the manifest
 *      rename, or the directory exchange)
 *   4. _sharding, ... with the new entries only; OCDBT commit B deleting the
 *      keys of removed and moved arrays; old array directories moved into
 *      .ckptfs/arrays/<param>@<version> (the history)
 *   5. _CHECKPOINT_METADATA's commit time, the version record
 * A crash between any two steps leaves a state Orbax restores as the old or
 * the new one: the extra keys, directories and sharding entries of an
 * unfinished step are never referenced by the _METADATA in force.
 * Every file is replaced by writing NAME.ckptfs-tmp, fsync, rename.
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>


/* ---------------------------------------------------------------- paths */

static void keys_free(struct ckpt_key *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)p[i].s);
	free(p);
}

static void eleaf_release(struct eleaf *l)
{
	keys_free(l->path, l->depth);
	free(l->value_type);
	json_decref(l->vm);
	free(l->orig_param);
	free(l->dirty);
	free(l->str);
	memset(l, 0, sizeof(*l));
}

/* the key path of node n (new array) */
static int node_path(const struct ckpt_node *n, struct ckpt_key **out, size_t *depth)
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
			keys_free(p, d);
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
static bool has_prefix(const struct ckpt_key *q, size_t qd, const struct ckpt_key *p, size_t pd,
		       bool strict)
{
	if (pd > qd || (strict && pd == qd))
		return false;
	for (size_t i = 0; i < pd; i++)
		if (!key_eq(&q[i], &p[i]))
			return false;
	return true;
}

static char *param_of(const struct ckpt_key *p, size_t d)
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

static ssize_t find_exact(const struct ckpt_edit *e, const struct ckpt_key *p, size_t d)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->l[i].depth == d && has_prefix(e->l[i].path, d, p, d, false))
			return (ssize_t)i;
	return -1;
}

static bool has_children(const struct ckpt_edit *e, const struct ckpt_key *p, size_t d)
{
	for (size_t i = 0; i < e->n; i++)
		if (has_prefix(e->l[i].path, e->l[i].depth, p, d, true))
			return true;
	return false;
}

static void remove_at(struct ckpt_edit *e, size_t i)
{
	eleaf_release(&e->l[i]);
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

/* ---------------------------------------------------------------- begin */

static enum ekind kind_of(const struct ckpt_node *n)
{
	switch (n->kind) {
	case CKPT_NODE_ARRAY: return E_ARRAY;
	case CKPT_NODE_STRING: return E_STRING;
	case CKPT_NODE_EMPTY: return E_EMPTY;
	default: return E_NONE;
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
		l->kind = kind_of(n);
		l->node = n;
		l->value_type = strdup(n->value_type ? n->value_type : "jax.Array");
		if (n->vm)
			l->vm = json_loads(n->vm, 0, NULL);
		if (l->kind == E_ARRAY)
			l->orig_param = strdup(n->param ? n->param : "");
		rc = node_path(n, &l->path, &l->depth);
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
		eleaf_release(&e->l[i]);
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
		    (in->n_b2b == 1 && in->b2b[0] != CKPT_B2B_ZSTD))
			goto refuse;
		s->compress = in->n_b2b == 1;
	} else {
		if (m->format != 2 || ch->n_transpose || ch->big_endian || ch->n_b2b > 1 ||
		    (ch->n_b2b == 1 && ch->b2b[0] != CKPT_B2B_ZSTD))
			goto refuse;
		s->compress = ch->n_b2b == 1;
	}
	*arr_out = leaf->arr;
	return 0;
refuse:
	return ckpt_err_set(err, -ENOTSUP,
			    "'%s': editing arrays whose codecs Orbax does not write (%s) is not supported",
			    n->param ? n->param : "", m->format == 2 ? "order F, big-endian, gzip, ..."
									: "transpose, gzip, ...");
}

/* ---------------------------------------------------------------- operations */

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
	int rc = node_path(parent, &pp, &pd);

	if (rc < 0)
		return rc;
	*out = realloc(pp, (pd + 1) * sizeof(*pp));
	if (!*out) {
		keys_free(pp, pd);
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
		keys_free(p, d);
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
		keys_free(p, d);
		return ckpt_err_set(err, -EEXIST, "exists");
	}
	drop_placeholder(e, p, d - 1);
	if (!(l = append(e))) {
		keys_free(p, d);
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
	if ((rc = node_path(n, &p, &d)) < 0)
		return rc;
	for (size_t i = e->n; i-- > 0;)
		if (has_prefix(e->l[i].path, e->l[i].depth, p, d, false))
			remove_at(e, i);
	rc = keep_empty_parent(e, p, d - 1, n->parent->kind == CKPT_NODE_LIST);
	keys_free(p, d);
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
	if ((rc = node_path(n, &s, &sd)) < 0)
		return rc;
	if ((rc = child_path(new_parent, key, key_n, &d, &dd)) < 0) {
		keys_free(s, sd);
		return rc;
	}
	if (has_prefix(d, dd, s, sd, false)) {
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

		if (!has_prefix(l->path, l->depth, s, sd, false))
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
		keys_free(l->path, l->depth);
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
			if (!has_prefix(e->l[i].path, e->l[i].depth, d, dd, false))
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
	keys_free(s, sd);
	keys_free(d, dd);
	return rc;
}

/* ---------------------------------------------------------------- files */

static int sync_parent(int dirfd, const char *rel)
{
	const struct ckpt_commit c = { dirfd, "", false, NULL, NULL };

	return ckpt_commit_sync_parent(&c, rel);
}

/* writes rel beneath dirfd through rel.ckptfs-tmp + fsync + rename (commit.h) */
static int replace_file(struct ckpt_edit *e, int dirfd, const char *label, const char *rel,
			const void *p, size_t n, struct ckpt_err *err)
{
	const struct ckpt_commit c = { dirfd, label, false, NULL, NULL };
	int rc = ckpt_commit_file(&c, rel, NULL, p, n, err);

	if (rc == 0)
		e->written += n;
	return rc;
}

static int replace_json(struct ckpt_edit *e, int dirfd, const char *label, const char *rel, json_t *j,
			bool compact, struct ckpt_err *err)
{
	char *s = compact ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : ckpt_py_json_dumps(j);
	int rc;

	if (!s)
		return -ENOMEM;
	rc = replace_file(e, dirfd, label, rel, s, strlen(s), err);
	free(s);
	return rc;
}

static int exchange(int dirfd, const char *a, const char *b)
{
	const struct ckpt_commit c = { dirfd, "", false, NULL, NULL };

	return ckpt_commit_exchange(&c, a, b, NULL);
}

static int move_in(int dirfd, const char *from, const char *to)
{
	const struct ckpt_commit c = { dirfd, "", false, NULL, NULL };

	return ckpt_commit_rename(&c, from, to, NULL);
}

/* hard links of every file of the directory tree src into dst (new) */
static int link_tree(int at, const char *src, const char *dst, unsigned depth)
{
	int sfd, rc = 0;
	DIR *d;

	if (depth > 40)
		return -ELOOP;
	if ((rc = ckpt_mkdirs_beneath(at, dst)) < 0)
		return rc;
	if (mkdirat(at, dst, 0755) < 0 && errno != EEXIST)
		return -errno;
	sfd = ckpt_open_beneath(at, src, O_RDONLY | O_DIRECTORY, 0);
	if (sfd < 0 || !(d = fdopendir(sfd))) {
		if (sfd >= 0)
			close(sfd);
		return sfd < 0 ? sfd : -errno;
	}
	for (struct dirent *ent; rc == 0 && (ent = readdir(d));) {
		struct stat st;
		char *s2, *d2;

		if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (asprintf(&s2, "%s/%s", src, ent->d_name) < 0 ||
		    asprintf(&d2, "%s/%s", dst, ent->d_name) < 0) {
			rc = -ENOMEM;
			break;
		}
		if (S_ISDIR(st.st_mode))
			rc = link_tree(at, s2, d2, depth + 1);
		else if (S_ISREG(st.st_mode) && linkat(at, s2, at, d2, 0) < 0)
			rc = -errno;
		free(s2);
		free(d2);
	}
	closedir(d);
	return rc;
}

/* ---------------------------------------------------------------- versions */

static int read_record(int fd, const char *hist, uint64_t v, json_t **out)
{
	char rel[CKPT_NAME_MAX + 128];
	uint8_t *buf;
	size_t n;
	int rc;

	snprintf(rel, sizeof(rel), "%s/versions/%llu.json", hist, (unsigned long long)v);
	rc = ckpt_read_file(fd, rel, 1 << 20, &buf, &n, NULL);
	if (rc < 0)
		return rc;
	*out = json_loadb((const char *)buf, n, 0, NULL);
	free(buf);
	return *out ? 0 : CKPT_ECORRUPT;
}

/* the highest recorded version, or -ENOENT */
static int last_version(int fd, const char *hist, uint64_t *v)
{
	char rel[CKPT_NAME_MAX + 64];
	DIR *d;
	int dfd;
	bool any = false;

	*v = 0;
	snprintf(rel, sizeof(rel), "%s/versions", hist);
	dfd = ckpt_open_beneath(fd, rel, O_RDONLY | O_DIRECTORY, 0);

	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return -ENOENT;
	}
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		unsigned long long x = strtoull(e->d_name, &end, 10);

		if (end != e->d_name && !strcmp(end, ".json") && (!any || x > *v)) {
			*v = x;
			any = true;
		}
	}
	closedir(d);
	return any ? 0 : -ENOENT;
}

static const char *const META_FILES[] = { "_METADATA", "_sharding", "array_metadatas/process_0",
					  "_strings.json" };

/* the aggregate file as version v keeps it */
static void agg_version_path(const struct ckpt_edit *e, uint64_t v, char *out, size_t n)
{
	snprintf(out, n, "%s/versions/meta/%llu/checkpoint", e->hist, (unsigned long long)v);
}

/* records the item's live state as version v */
static int record_version(struct ckpt_edit *e, uint64_t v, uint64_t gen, const char *change,
			  struct ckpt_err *err)
{
	struct ckpt_item *it = e->it;
	struct timespec ts;
	json_t *r = json_object();
	char rel[CKPT_NAME_MAX + 256];
	int rc = 0;

	for (size_t i = 0; i < CKPT_ARRAY_SIZE(META_FILES) && rc == 0; i++) {
		uint8_t *buf;
		size_t n;

		if (ckpt_read_file(it->fd, META_FILES[i], it->step->src->o.lim.max_json_bytes, &buf, &n,
				   NULL) < 0)
			continue;
		snprintf(rel, sizeof(rel), "%s/versions/meta/%llu/%s", e->hist, (unsigned long long)v,
			 META_FILES[i]);
		rc = replace_file(e, it->fd, it->label, rel, buf, n, err);
		free(buf);
	}
	if (rc == 0 && e->agg) {
		/* Orbax's aggregate file: a hard link (every edit replaces it) */
		agg_version_path(e, v, rel, sizeof(rel));
		rc = ckpt_mkdirs_beneath(it->fd, rel);
		unlinkat(it->fd, rel, 0); /* a leftover of an edit that stopped */
		if (rc == 0 && linkat(it->fd, "checkpoint", it->fd, rel, 0) < 0)
			rc = -errno;
		if (rc == 0)
			rc = sync_parent(it->fd, rel);
		if (rc < 0)
			rc = ckpt_err_set(err, rc, "'%s/%s': cannot keep the aggregate file: %s", it->label, rel,
					  ckpt_strerror(rc));
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_set_new(r, "version", json_integer((json_int_t)v));
	json_object_set_new(r, "time_ns", json_integer((json_int_t)((uint64_t)ts.tv_sec * 1000000000ull +
								   (uint64_t)ts.tv_nsec)));
	json_object_set_new(r, "ocdbt_generation", gen ? json_integer((json_int_t)gen) : json_null());
	json_object_set_new(r, "change", json_string(change));
	snprintf(rel, sizeof(rel), "%s/versions/%llu.json", e->hist, (unsigned long long)v);
	if (rc == 0)
		rc = replace_json(e, it->fd, it->label, rel, r, false, err);
	json_decref(r);
	return rc;
}

int ckpt_edit_replace_file(struct ckpt_edit *e, int dirfd, const char *label, const char *rel,
			   const void *p, size_t n, struct ckpt_err *err)
{
	return replace_file(e, dirfd, label, rel, p, n, err);
}

int ckpt_edit_last_version(struct ckpt_edit *e, uint64_t *v)
{
	return last_version(e->it->fd, e->hist, v);
}

int ckpt_edit_record_version(struct ckpt_edit *e, uint64_t v, uint64_t gen, const char *change,
			     struct ckpt_err *err)
{
	return record_version(e, v, gen, change, err);
}

int ckpt_edit_sync_parent(int dirfd, const char *rel)
{
	return sync_parent(dirfd, rel);
}

static uint64_t db_generation(struct ckpt_item *it)
{
	return it->db ? ckpt_ocdbt_generation(it->db) : 0;
}

/* the version number the edit will create; records the state before it if
 * nothing (or something else) recorded it */
/* whether some array's directory went to the history as it was at version v */
static bool history_has(int fd, uint64_t v)
{
	char suffix[32];
	size_t sl = (size_t)snprintf(suffix, sizeof(suffix), "@%llu", (unsigned long long)v);
	int dfd = ckpt_open_beneath(fd, CKPT_HISTORY "/arrays", O_RDONLY | O_DIRECTORY, 0);
	bool found = false;
	DIR *d;

	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return false;
	}
	for (struct dirent *de; !found && (de = readdir(d));) {
		size_t n = strlen(de->d_name);

		found = n > sl && !strcmp(de->d_name + n - sl, suffix);
	}
	closedir(d);
	return found;
}

static int prepare_versions(struct ckpt_edit *e, uint64_t *next, struct ckpt_err *err)
{
	uint64_t last = 0;
	json_t *r;
	int rc;

	if (last_version(e->it->fd, e->hist, &last) < 0) {
		rc = record_version(e, 0, db_generation(e->it), "original", err);
		*next = 1;
		return rc;
	}
	if (!e->it->db) {
		/* an edit that died before its record: its leftovers in tmp go,
		 * and if it had already moved arrays to the history (as they
		 * were at version last), the live state is an unrecorded
		 * version of its own */
		int hfd = ckpt_open_beneath(e->it->fd, CKPT_HISTORY, O_RDONLY | O_DIRECTORY, 0);

		if (hfd >= 0) {
			ckpt_rm_tree(hfd, "tmp", 0);
			close(hfd);
		}
		if (history_has(e->it->fd, last)) {
			rc = record_version(e, last + 1, 0, "recovered: an edit that stopped before its record", err);
			if (rc < 0)
				return rc;
			last++;
		}
	}
	if (e->it->db && read_record(e->it->fd, e->hist, last, &r) == 0) {
		uint64_t g = (uint64_t)json_integer_value(json_object_get(r, "ocdbt_generation"));

		json_decref(r);
		if (g != db_generation(e->it)) {
			rc = record_version(e, last + 1, db_generation(e->it), "changed outside ckptfs", err);
			if (rc < 0)
				return rc;
			last++;
		}
	}
	if (e->agg) {
		char rel[CKPT_NAME_MAX + 64];

		agg_version_path(e, last, rel, sizeof(rel));
		if (!ckpt_same_inode(e->it->fd, rel, "checkpoint")) {
			rc = record_version(e, last + 1, db_generation(e->it),
					    "changed outside ckptfs, or an edit that stopped before its record", err);
			if (rc < 0)
				return rc;
			last++;
		}
	}
	*next = last + 1;
	return 0;
}

/* ---------------------------------------------------------------- data */

struct merged {
	struct ckpt_array *orig;
	const struct ckpt_extent *d;
	size_t nd;
	ckpt_bytes_fn src;
	void *ctx;
};

/* the edited array's bytes: dirty extents from the caller, the rest as it was */
static int merged_read(void *vctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err)
{
	const struct merged *m = vctx;
	uint8_t *o = buf;
	uint64_t end = off + n;
	size_t k = 0;

	while (off < end) {
		uint64_t stop = end;
		int64_t r;

		while (k < m->nd && m->d[k].off + m->d[k].len <= off)
			k++;
		if (k < m->nd && m->d[k].off <= off) {
			stop = CKPT_MIN(end, m->d[k].off + m->d[k].len);
			r = m->src(m->ctx, off, o, (size_t)(stop - off), err);
			if (r < 0)
				return (int)r;
		} else {
			if (k < m->nd)
				stop = CKPT_MIN(end, m->d[k].off);
			r = ckpt_array_read(m->orig, o, off, (size_t)(stop - off), err);
			if (r < 0)
				return (int)r;
			if ((uint64_t)r != stop - off)
				return ckpt_err_set(err, -EIO, "short read of the original array");
		}
		o += stop - off;
		off = stop;
	}
	return 0;
}

static bool touches(const struct ckpt_extent *d, size_t nd, uint64_t a, uint64_t b)
{
	size_t lo = 0, hi = nd;

	/* first extent ending after a */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d[mid].off + d[mid].len <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nd && d[lo].off < b;
}

/* does chunk ci hold any byte of the dirty extents */
static bool chunk_touched(const struct ckpt_zarr_spec *s, const uint64_t *ci, const struct ckpt_extent *d,
			  size_t nd)
{
	const uint32_t r = s->rank;
	const uint64_t isz = s->dtype.itemsize;
	uint64_t ext[CKPT_MAX_RANK], ctr[CKPT_MAX_RANK] = { 0 }, stride[CKPT_MAX_RANK];

	if (r == 0)
		return touches(d, nd, 0, isz);
	stride[r - 1] = isz;
	for (uint32_t k = r - 1; k > 0; k--)
		stride[k - 1] = stride[k] * s->shape[k];
	for (uint32_t k = 0; k < r; k++)
		ext[k] = CKPT_MIN(s->chunk[k], s->shape[k] - ci[k] * s->chunk[k]);
	for (;;) {
		uint64_t a = 0;

		for (uint32_t k = 0; k < r; k++)
			a += (ci[k] * s->chunk[k] + (k < r - 1 ? ctr[k] : 0)) * stride[k];
		if (touches(d, nd, a, a + ext[r - 1] * isz))
			return true;
		{
			int k = (int)r - 2;

			while (k >= 0 && ++ctr[k] == ext[k]) {
				ctr[k] = 0;
				k--;
			}
			if (k < 0)
				return false;
		}
	}
}

static int meta_json_put(const struct ckpt_zarr_spec *s, const char *param, struct ckpt_putlist *pl)
{
	char *json, *key;
	size_t jn;
	int rc = ckpt_zarr_meta_json(s, &json, &jn);

	if (rc < 0)
		return rc;
	key = ckpt_spec_meta_key(s, param);
	if (!key) {
		free(json);
		return -ENOMEM;
	}
	return ckpt_putlist_add(pl, key,
				(struct ckpt_ocdbt_put){ CKPT_PUT_VALUE, NULL, 0, json, jn, NULL, NULL, 0, 0 },
				(uint8_t *)json);
}

/* the stored keys of an existing array (metadata and the chunks present) */
static int array_keys(struct ckpt_item *it, const char *param, const struct ckpt_zarr_spec *s,
		      int (*fn)(void *ctx, const char *key, const struct ckpt_ocdbt_value *v), void *ctx)
{
	uint64_t grid[CKPT_MAX_RANK], n = ckpt_spec_grid(s, grid);
	char *key = ckpt_spec_meta_key(s, param);
	const struct ckpt_ocdbt_value *v;
	int rc = 0;

	if (!key)
		return -ENOMEM;
	if ((v = ckpt_ocdbt_find(it->db, key, strlen(key))))
		rc = fn(ctx, key, v);
	free(key);
	for (uint64_t c = 0; c < n && rc == 0; c++) {
		uint64_t ci[CKPT_MAX_RANK];

		ckpt_spec_coords(s, c, ci);
		key = ckpt_spec_chunk_key(s, param, ci);
		if (!key)
			return -ENOMEM;
		if ((v = ckpt_ocdbt_find(it->db, key, strlen(key))))
			rc = fn(ctx, key, v);
		free(key);
	}
	return rc;
}

struct move_ctx {
	struct ckpt_item *it;
	const char *from, *to;
	struct ckpt_putlist *pl;
};

static int move_key(void *vctx, const char *key, const struct ckpt_ocdbt_value *v)
{
	struct move_ctx *m = vctx;
	char *nk;

	if (asprintf(&nk, "%s%s", m->to, key + strlen(m->from)) < 0)
		return -ENOMEM;
	if (v->inline_p)
		return ckpt_putlist_add(m->pl, nk,
					(struct ckpt_ocdbt_put){ CKPT_PUT_VALUE, NULL, 0, v->inline_p,
								 (size_t)v->len, NULL, NULL, 0, 0 },
					NULL);
	{
		const char *path = ckpt_ocdbt_file_path(m->it->db, v->file);
		size_t bl = ckpt_ocdbt_file_base_len(m->it->db, v->file);
		char *base = ckpt_strndup(path, bl);

		if (!base) {
			free(nk);
			return -ENOMEM;
		}
		/* base is owned by the put list as its value; rel points into the db */
		return ckpt_putlist_add(m->pl, nk,
					(struct ckpt_ocdbt_put){ CKPT_PUT_REF, NULL, 0, NULL, 0, base, path + bl,
								 v->offset, v->len },
					(uint8_t *)base);
	}
}

static int delete_key(void *vctx, const char *key, const struct ckpt_ocdbt_value *v)
{
	char *k = strdup(key);

	(void)v;
	if (!k)
		return -ENOMEM;
	return ckpt_putlist_add(vctx, k,
				(struct ckpt_ocdbt_put){ CKPT_PUT_DELETE, NULL, 0, NULL, 0, NULL, NULL, 0, 0 },
				NULL);
}

static int orig_spec(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_zarr_spec *s,
		     struct ckpt_array **arr, struct ckpt_err *err)
{
	struct ckpt_leaf *leaf;
	const struct ckpt_zarr_meta *m;
	int rc = ckpt_item_leaf(it, n, &leaf, err);

	if (rc < 0)
		return rc;
	m = ckpt_array_meta(leaf->arr);
	memset(s, 0, sizeof(*s));
	s->format = m->format;
	s->dtype = m->dtype;
	s->rank = m->rank;
	memcpy(s->shape, m->shape, sizeof(s->shape));
	memcpy(s->chunk, m->chunk, sizeof(s->chunk));
	*arr = leaf->arr;
	return 0;
}

static bool param_live(const struct ckpt_edit *e, const char *p, char **params)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->l[i].kind == E_ARRAY && !eleaf_inline(&e->l[i]) && params[i] && !strcmp(params[i], p))
			return true;
	return false;
}

static int ocdbt_data(struct ckpt_edit *e, char **params, struct ckpt_ocdbt_wr *w, bool phase_b,
		      struct ckpt_err *err)
{
	struct ckpt_item *it = e->it;
	struct ckpt_putlist pl = { 0 };
	int rc = 0;

	if (!phase_b) {
		for (size_t i = 0; i < e->n && rc == 0; i++) {
			struct eleaf *l = &e->l[i];

			if (l->kind != E_ARRAY || eleaf_inline(l))
				continue;
			if (l->is_new) {
				struct ckpt_chunk_src cs = { &l->spec, l->src, l->ctx, (uint64_t)64 << 20, false };
				uint64_t grid[CKPT_MAX_RANK], n = ckpt_spec_grid(&l->spec, grid);

				rc = meta_json_put(&l->spec, params[i], &pl);
				for (uint64_t c = 0; c < n && rc == 0; c++) {
					uint64_t ci[CKPT_MAX_RANK];

					ckpt_spec_coords(&l->spec, c, ci);
					rc = ckpt_chunk_to_ocdbt(&cs, ci, params[i], w, &pl, err);
				}
			} else if (l->n_dirty) {
				struct ckpt_array *orig;
				struct ckpt_zarr_spec s;
				struct merged m;
				struct ckpt_chunk_src cs;
				uint64_t grid[CKPT_MAX_RANK], n;

				rc = orig_spec(it, l->node, &s, &orig, err);
				if (rc < 0)
					break;
				s.compress = l->spec.compress;
				m = (struct merged){ orig, l->dirty, l->n_dirty, l->src, l->ctx };
				cs = (struct ckpt_chunk_src){ &s, merged_read, &m, (uint64_t)64 << 20, false };
				n = ckpt_spec_grid(&s, grid);
				for (uint64_t c = 0; c < n && rc == 0; c++) {
					uint64_t ci[CKPT_MAX_RANK];

					ckpt_spec_coords(&s, c, ci);
					if (chunk_touched(&s, ci, l->dirty, l->n_dirty))
						rc = ckpt_chunk_to_ocdbt(&cs, ci, params[i], w, &pl, err);
				}
			} else if (strcmp(params[i], l->orig_param)) {
				struct ckpt_array *orig;
				struct ckpt_zarr_spec s;
				char *from, *to;

				rc = orig_spec(it, l->node, &s, &orig, err);
				if (rc < 0)
					break;
				if (asprintf(&from, "%s%s", l->orig_param, l->orig_param[0] ? "/" : "") < 0)
					return -ENOMEM;
				if (asprintf(&to, "%s%s", params[i], params[i][0] ? "/" : "") < 0) {
					free(from);
					return -ENOMEM;
				}
				{
					struct move_ctx mc = { it, from, to, &pl };

					rc = array_keys(it, l->orig_param, &s, move_key, &mc);
				}
				free(from);
				free(to);
			}
		}
	} else {
		/* keys of arrays no longer under their name */
		for (size_t i = 0; i < it->n_nodes && rc == 0; i++) {
			const struct ckpt_node *n = it->nodes[i];
			struct ckpt_array *orig;
			struct ckpt_zarr_spec s;

			if (n->kind != CKPT_NODE_ARRAY || node_inline(n) || !n->param ||
			    param_live(e, n->param, params))
				continue;
			if (orig_spec(it, n, &s, &orig, err) < 0) {
				ckpt_err_clear(err); /* unreadable: nothing to delete */
				continue;
			}
			rc = array_keys(it, n->param, &s, delete_key, &pl);
		}
	}
	if (rc == 0 && pl.n) {
		rc = ckpt_ocdbt_wr_commit(w, pl.p, pl.n, err);
		e->written = ckpt_ocdbt_wr_bytes_written(w);
	}
	ckpt_putlist_release(&pl);
	return rc;
}

static char *hist_name(const char *param, uint64_t v)
{
	char esc[CKPT_NAME_MAX + 1], *out;

	ckpt_name_escape(param, strlen(param), 0, esc);
	if (asprintf(&out, CKPT_HISTORY "/arrays/%s@%llu", esc, (unsigned long long)v) < 0)
		return NULL;
	return out;
}

static int to_history(struct ckpt_item *it, const char *from, const char *param, uint64_t v)
{
	char *h = hist_name(param, v);
	int rc;

	if (!h)
		return -ENOMEM;
	rc = ckpt_mkdirs_beneath(it->fd, h);
	if (rc == 0)
		rc = move_in(it->fd, from, h);
	free(h);
	return rc;
}

/* directory items, step 1: new array directories */
static int dir_data(struct ckpt_edit *e, char **params, uint64_t ver, struct ckpt_err *err)
{
	struct ckpt_item *it = e->it;
	int rc = 0;

	for (size_t i = 0; i < e->n && rc == 0; i++) {
		struct eleaf *l = &e->l[i];
		char esc[CKPT_NAME_MAX + 1], *tmp;
		bool changed_here;

		if (l->kind != E_ARRAY || eleaf_inline(l) ||
		    !(l->is_new || l->n_dirty || strcmp(params[i], l->orig_param)))
			continue;
		if (!ckpt_path_is_clean(params[i], strlen(params[i])))
			return ckpt_err_set(err, -EINVAL, "'%s' cannot be a directory name", params[i]);
		ckpt_name_escape(params[i], strlen(params[i]), 0, esc);
		if (asprintf(&tmp, CKPT_HISTORY "/tmp/%llu-%s", (unsigned long long)ver, esc) < 0)
			return -ENOMEM;
		rc = ckpt_mkdirs_beneath(it->fd, tmp);
		if (l->is_new) {
			struct ckpt_chunk_src cs = { &l->spec, l->src, l->ctx, (uint64_t)64 << 20, false };
			uint64_t grid[CKPT_MAX_RANK], n = ckpt_spec_grid(&l->spec, grid);
			char *json, *rel;
			size_t jn;

			if (rc == 0 && mkdirat(it->fd, tmp, 0755) < 0)
				rc = -errno;
			if (rc == 0)
				rc = ckpt_zarr_meta_json(&l->spec, &json, &jn);
			if (rc == 0) {
				rel = ckpt_spec_meta_key(&l->spec, tmp);
				rc = rel ? ckpt_write_file_at(false, it->fd, it->label, rel, json, jn, err)
					 : -ENOMEM;
				e->written += jn;
				free(rel);
				free(json);
			}
			for (uint64_t c = 0; c < n && rc == 0; c++) {
				uint64_t ci[CKPT_MAX_RANK];

				ckpt_spec_coords(&l->spec, c, ci);
				rel = ckpt_spec_chunk_key(&l->spec, tmp, ci);
				rc = rel ? ckpt_chunk_to_file(&cs, ci, it->fd, it->label, rel, err) : -ENOMEM;
				free(rel);
			}
		} else {
			/* the array as it is, by hard links, then the changed chunks */
			rc = rc ? rc : link_tree(it->fd, l->orig_param, tmp, 0);
			if (rc == 0 && l->n_dirty) {
				struct ckpt_array *orig;
				struct ckpt_zarr_spec s;
				struct merged m;
				struct ckpt_chunk_src cs;
				uint64_t grid[CKPT_MAX_RANK], n;

				rc = orig_spec(it, l->node, &s, &orig, err);
				s.compress = l->spec.compress;
				m = (struct merged){ orig, l->dirty, l->n_dirty, l->src, l->ctx };
				cs = (struct ckpt_chunk_src){ &s, merged_read, &m, (uint64_t)64 << 20, false };
				n = ckpt_spec_grid(&s, grid);
				for (uint64_t c = 0; c < n && rc == 0; c++) {
					uint64_t ci[CKPT_MAX_RANK];
					char *rel;

					ckpt_spec_coords(&s, c, ci);
					if (!chunk_touched(&s, ci, l->dirty, l->n_dirty))
						continue;
					rel = ckpt_spec_chunk_key(&s, tmp, ci);
					if (!rel)
						return -ENOMEM;
					/* never write through a link: the old version shares it */
					unlinkat(it->fd, rel, 0);
					rc = ckpt_chunk_to_file(&cs, ci, it->fd, it->label, rel, err);
					if (rc == 0) {
						struct stat st;

						if (fstatat(it->fd, rel, &st, 0) == 0)
							e->written += (uint64_t)st.st_size;
					}
					free(rel);
				}
			}
		}
		if (rc < 0) {
			free(tmp);
			break;
		}
		changed_here = ckpt_is_dir(it->fd, params[i]);
		if (changed_here) {
			/* the same name: swap in one rename, the old one goes to the history */
			rc = exchange(it->fd, tmp, params[i]);
			if (rc == 0)
				rc = to_history(it, tmp, params[i], ver - 1);
		} else {
			rc = ckpt_mkdirs_beneath(it->fd, params[i]);
			if (rc == 0)
				rc = move_in(it->fd, tmp, params[i]);
		}
		if (rc < 0)
			rc = ckpt_err_set(err, rc, "'%s/%s': cannot put the new array in place: %s",
					  it->label, params[i], ckpt_strerror(rc));
		free(tmp);
	}
	return rc;
}

/* directory items, step 4: arrays no longer under their name go to the history */
static int dir_cleanup(struct ckpt_edit *e, char **params, uint64_t ver)
{
	struct ckpt_item *it = e->it;

	for (size_t i = 0; i < it->n_nodes; i++) {
		const struct ckpt_node *n = it->nodes[i];

		if (n->kind != CKPT_NODE_ARRAY || node_inline(n) || !n->param || param_live(e, n->param, params) ||
		    !ckpt_is_dir(it->fd, n->param))
			continue;
		to_history(it, n->param, n->param, ver - 1);
	}
	return 0;
}

/* ---------------------------------------------------------------- metadata documents */

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

static json_t *new_metadata(struct ckpt_edit *e)
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

static int write_docs(struct ckpt_edit *e, char **params, bool keep_old, struct ckpt_err *err)
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

		rc = replace_json(e, it->fd, it->label, "_sharding", j, true, err);
		json_decref(j);
	}
	if (rc == 0 && it->array_metas && ckpt_exists(it->fd, "array_metadatas/process_0")) {
		json_t *j = new_array_metas(e, params, keep_old);

		rc = replace_json(e, it->fd, it->label, "array_metadatas/process_0", j, false, err);
		json_decref(j);
	}
	if (rc == 0 && (any_str || it->strings)) {
		json_t *j = new_strings(e, params, keep_old);

		rc = replace_json(e, it->fd, it->label, "_strings.json", j, true, err);
		json_decref(j);
	}
	return rc;
}

static int stamp_step(struct ckpt_edit *e, struct ckpt_err *err)
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
	rc = replace_json(e, st->fd, st->path, "_CHECKPOINT_METADATA", m, false, err);
	json_decref(m);
	return rc;
}

/* ---------------------------------------------------------------- Orbax's aggregate file */

/* The aggregate file "checkpoint" beside _METADATA: Orbax takes the tree from
 * _METADATA and, for each of its paths, the value the file holds there (a
 * placeholder: the array storage).  So values that only move or go are
 * written in two steps around _METADATA, the commit point: before it, a file
 * with the old leaves and the new (paths _METADATA does not name are
 * ignored); after it, the file with the new leaves only.  A data edit of a
 * value in the file has the file's rename as its commit point, and so has
 * every edit of an item without _METADATA (Orbax before 0.5), whose tree the
 * file is. */

static const struct ckpt_node *orig_at(const struct ckpt_item *it, const struct ckpt_key *p, size_t d)
{
	const struct ckpt_node *n = it->root;

	for (size_t i = 0; i < d && n; i++)
		n = ckpt_node_find(n, p[i].s, p[i].n);
	return n;
}

static bool is_leaf_node(const struct ckpt_node *n)
{
	return n->parent && n->kind != CKPT_NODE_DICT && n->kind != CKPT_NODE_LIST &&
	       n->kind != CKPT_NODE_FILE;
}

/* a path whose value in the file changes cannot change in the same commit
 * as _METADATA: both would have to be the commit point */
static int agg_check(struct ckpt_edit *e, struct ckpt_err *err)
{
	for (size_t i = 0; i < e->n; i++) {
		const struct eleaf *l = &e->l[i];
		const struct ckpt_node *o = orig_at(e->it, l->path, l->depth);

		if (o && is_leaf_node(o) && o != l->node && (eleaf_inline(l) || node_inline(o)))
			return ckpt_err_set(err, -EEXIST,
					    "'%s': '%s' holds its value in the aggregate file: it cannot be "
					    "replaced in the same step as the tree changes (remove it first)",
					    e->it->mp_label, o->param ? o->param : o->key);
	}
	return 0;
}

/* before _METADATA: the file with the old leaves beside the new ones, where
 * a value of the file moves to a new path */
static int agg_grow(struct ckpt_edit *e, char **params, struct ckpt_err *err)
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

		if (l->node && orig_at(it, l->path, l->depth) == l->node)
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

		if (!is_leaf_node(nd) || stays[nd->id])
			continue;
		o->node = nd;
		o->kind = kind_of(nd);
		o->value_type = strdup(nd->value_type ? nd->value_type : "");
		op[n++] = nd->param ? nd->param : empty;
		rc = o->value_type ? node_path(nd, &o->path, &o->depth) : -ENOMEM;
	}
	if (moved && rc == 0)
		rc = ckpt_mp_write_aggregate(e, params, old, n, op, err);
	for (size_t i = 0; old && i < n; i++)
		eleaf_release(&old[i]);
	free(old);
	free(op);
	free(stays);
	return rc;
}

/* a value in the file was written */
static bool agg_touched(const struct ckpt_edit *e)
{
	for (size_t i = 0; i < e->n; i++)
		if (eleaf_inline(&e->l[i]) && (e->l[i].dirty || e->l[i].str_set))
			return true;
	return false;
}

/* ---------------------------------------------------------------- commit */

int ckpt_edit_commit(struct ckpt_edit *e, const char *what, uint64_t *version, struct ckpt_err *err)
{
	struct ckpt_item *it = e->it;
	struct ckpt_ocdbt_wr *w = NULL;
	struct ckpt_limits lim = it->step->src->o.lim;
	char **params = calloc(e->n ? e->n : 1, sizeof(*params));
	uint64_t ver = 0;
	int rc = 0;

	if (!params)
		return -ENOMEM;
	if (!e->done) {
		free(params);
		return 0;
	}
	if (e->mp) {
		free(params);
		rc = ckpt_mp_edit_commit(e, what, version, err);
		if (rc < 0)
			ckpt_err_prefix(err, "'%s': edit failed: ", it->mp_label ? it->mp_label : it->label);
		return rc;
	}
	for (size_t i = 0; i < e->n && rc == 0; i++) {
		if (!(params[i] = param_of(e->l[i].path, e->l[i].depth)))
			rc = -ENOMEM;
		/* two leaves would share a parameter name (Orbax joins keys with '.') */
		for (size_t k = 0; rc == 0 && k < i; k++)
			if (e->l[k].kind == E_ARRAY && e->l[i].kind == E_ARRAY &&
			    !strcmp(params[k], params[i]))
				rc = ckpt_err_set(err, -EEXIST, "two arrays would be named '%s'", params[i]);
	}
	if (rc == 0 && e->agg && e->structural && it->have_metadata)
		rc = agg_check(e, err);
	if (rc == 0)
		rc = prepare_versions(e, &ver, err);
	/* 1. data */
	if (rc == 0 && it->db) {
		rc = ckpt_ocdbt_wr_open(&w, it->fd, it->label, NULL, NULL, &lim, err);
		if (rc == 0)
			rc = ocdbt_data(e, params, w, false, err);
	} else if (rc == 0) {
		rc = dir_data(e, params, ver, err);
	}
	FAULT("data");
	/* 2.-4. metadata documents */
	if (rc == 0 && e->structural) {
		json_t *m;

		rc = write_docs(e, params, true, err);
		FAULT("grow");
		if (rc == 0 && e->agg && it->have_metadata)
			rc = agg_grow(e, params, err);
		FAULT("aggregate-grow");
		/* without _METADATA (Orbax before 0.5), the aggregate file is the
		 * tree, and its rename the commit point */
		m = rc == 0 && it->have_metadata ? new_metadata(e) : NULL;
		if (m) {
			rc = replace_json(e, it->fd, it->label, "_METADATA", m, false, err);
			json_decref(m);
		}
		FAULT("metadata");
		if (rc == 0 && e->agg)
			rc = ckpt_mp_write_aggregate(e, params, NULL, 0, NULL, err);
		FAULT("aggregate");
		if (rc == 0)
			rc = write_docs(e, params, false, err);
		if (rc == 0 && w)
			rc = ocdbt_data(e, params, w, true, err);
		if (rc == 0 && !it->db)
			rc = dir_cleanup(e, params, ver);
		FAULT("shrink");
	} else if (rc == 0) {
		/* a value in the aggregate file: its rename is the commit point */
		if (e->agg && agg_touched(e))
			rc = ckpt_mp_write_aggregate(e, params, NULL, 0, NULL, err);
		FAULT("aggregate");
		if (rc == 0)
			rc = write_docs(e, params, false, err);
	}
	/* 5. the step's commit time, the version record */
	if (rc == 0)
		rc = stamp_step(e, err);
	FAULT("step");
	if (rc == 0) {
		uint64_t gen = w ? ckpt_ocdbt_wr_generation(w) : 0;

		rc = record_version(e, ver, gen, what && *what ? what : e->what, err);
	}
	FAULT("record");
	if (rc == 0 && version)
		*version = ver;
	ckpt_ocdbt_wr_close(w);
	for (size_t i = 0; i < e->n; i++)
		free(params[i]);
	free(params);
	if (rc < 0)
		ckpt_err_prefix(err, "'%s': edit failed: ", it->label);
	return rc;
}
