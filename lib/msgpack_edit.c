/* SPDX-License-Identifier: Apache-2.0 */
/*
 * msgpack_edit.c - copy-on-write edits of Flax msgpack checkpoints (tier 5).
 *
 * The edited tree is written as a new msgpack file, encoded as Flax encodes
 * (msgpack.packb with Flax's extension types: FORMAT-orbax-layout.md 4.2):
 * an unchanged Flax file re-encodes to the same bytes.  Unchanged values are
 * streamed from the old file; nothing is held whole in memory.
 *
 * History, beside the file in <dir>/.ckptfs/<file>/:
 *   versions/<N>.json   the version records (edit.c's format)
 *   files/<N>           a hard link to the file as it was at version N
 *   tmp                 the file being written
 * Commit: tmp is written and fsynced, renamed over <file> (the commit point;
 * the directory is fsynced), then linked as files/<N> and recorded.  A crash
 * before the rename leaves the old file; after it, the new one, which the
 * next edit records as a version of its own (its inode is not the last
 * recorded one's).  Flax lists <prefix>* files, which .ckptfs never matches.
 */
#define _GNU_SOURCE
#include "edit_int.h"

#include "buf.h"
#include "chunkio.h"
#include "commit.h"
#include "dtype.h"
#include "fsutil.h"
#include "map.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WBUF (1u << 20)
#define FLAX_CHUNK_BYTES (1ull << 30) /* Flax chunks arrays larger than this */

/* ---------------------------------------------------------------- output */

struct mw {
	int fd;
	uint8_t *buf, *scratch;
	size_t n;
	uint64_t total;
	const char *label;
	struct ckpt_err *err;
	int rc; /* sticky */
};

static int flush(struct mw *w)
{
	int rc;

	if (w->rc == 0 && w->n) {
		rc = ckpt_write_full(w->fd, w->buf, w->n);
		if (rc < 0)
			w->rc = ckpt_err_set(w->err, rc, "'%s': write: %s", w->label, ckpt_strerror(rc));
	}
	w->n = 0;
	return w->rc;
}

static void put(struct mw *w, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n && w->rc == 0) {
		size_t k = CKPT_MIN(n, (size_t)WBUF - w->n);

		memcpy(w->buf + w->n, s, k);
		w->n += k;
		w->total += k;
		s += k;
		n -= k;
		if (w->n == WBUF)
			flush(w);
	}
}

/* msgpack headers, smallest form first (what msgpack.packb writes) */
static size_t hdr(uint8_t *o, uint8_t fix, size_t fix_max, const uint8_t c[3], uint64_t n)
{
	if (fix && n <= fix_max) {
		o[0] = (uint8_t)(fix | n);
		return 1;
	}
	for (unsigned i = 0, w = 1; i < 3; i++, w *= 2) {
		if (!c[i] || (w < 8 && n >> (8 * w)))
			continue;
		o[0] = c[i];
		for (unsigned k = 0; k < w; k++)
			o[1 + k] = (uint8_t)(n >> (8 * (w - 1 - k)));
		return 1 + w;
	}
	return 0; /* too long for msgpack: the callers check */
}

static size_t hdr_str(uint8_t *o, uint64_t n)
{
	static const uint8_t c[3] = { 0xd9, 0xda, 0xdb };

	return hdr(o, 0xa0, 31, c, n);
}

static size_t hdr_bin(uint8_t *o, uint64_t n)
{
	static const uint8_t c[3] = { 0xc4, 0xc5, 0xc6 };

	return hdr(o, 0, 0, c, n);
}

static size_t hdr_arr(uint8_t *o, uint64_t n)
{
	static const uint8_t c[3] = { 0, 0xdc, 0xdd };

	return hdr(o, 0x90, 15, c, n);
}

static size_t hdr_map(uint8_t *o, uint64_t n)
{
	static const uint8_t c[3] = { 0, 0xde, 0xdf };

	return hdr(o, 0x80, 15, c, n);
}

static size_t hdr_ext(uint8_t *o, int8_t type, uint64_t n)
{
	static const uint8_t c[3] = { 0xc7, 0xc8, 0xc9 };
	size_t k;

	switch (n) {
	case 1: o[0] = 0xd4; break;
	case 2: o[0] = 0xd5; break;
	case 4: o[0] = 0xd6; break;
	case 8: o[0] = 0xd7; break;
	case 16: o[0] = 0xd8; break;
	default:
		k = hdr(o, 0, 0, c, n);
		o[k] = (uint8_t)type;
		return k ? k + 1 : 0;
	}
	o[1] = (uint8_t)type;
	return 2;
}

static size_t enc_uint(uint8_t *o, uint64_t v)
{
	static const uint8_t c[4] = { 0xcc, 0xcd, 0xce, 0xcf };
	unsigned i = v <= 0xff ? 0 : v <= 0xffff ? 1 : v <= 0xffffffffu ? 2 : 3, w = 1u << i;

	if (v <= 0x7f) {
		o[0] = (uint8_t)v;
		return 1;
	}
	o[0] = c[i];
	for (unsigned k = 0; k < w; k++)
		o[1 + k] = (uint8_t)(v >> (8 * (w - 1 - k)));
	return 1 + w;
}

static size_t enc_int(uint8_t *o, int64_t v)
{
	static const uint8_t c[4] = { 0xd0, 0xd1, 0xd2, 0xd3 };
	unsigned i, w;

	if (v >= 0)
		return enc_uint(o, (uint64_t)v);
	if (v >= -32) {
		o[0] = (uint8_t)(int8_t)v;
		return 1;
	}
	i = v >= INT8_MIN ? 0 : v >= INT16_MIN ? 1 : v >= INT32_MIN ? 2 : 3;
	w = 1u << i;
	o[0] = c[i];
	for (unsigned k = 0; k < w; k++)
		o[1 + k] = (uint8_t)((uint64_t)v >> (8 * (w - 1 - k)));
	return 1 + w;
}

static size_t enc_f(uint8_t *o, double f, bool single)
{
	uint64_t u;

	if (single) {
		float x = (float)f;
		uint32_t b;

		memcpy(&b, &x, 4);
		o[0] = 0xca;
		for (unsigned k = 0; k < 4; k++)
			o[1 + k] = (uint8_t)(b >> (8 * (3 - k)));
		return 5;
	}
	memcpy(&u, &f, 8);
	o[0] = 0xcb;
	for (unsigned k = 0; k < 8; k++)
		o[1 + k] = (uint8_t)(u >> (8 * (7 - k)));
	return 9;
}

static void put_str(struct mw *w, const char *s, size_t n)
{
	uint8_t h[9];

	put(w, h, hdr_str(h, n));
	put(w, s, n);
}

/* ---------------------------------------------------------------- leaf bytes */

/* bytes [off, off+n) of the leaf as it was */
static int orig_read(struct ckpt_edit *e, const struct eleaf *l, uint64_t off, uint8_t *buf, size_t n,
		     struct ckpt_err *err)
{
	const struct ckpt_mp_leaf *m = l->node->mp;
	uint64_t base = 0, done = 0;

	if (off > m->size || n > m->size - off)
		return ckpt_err_set(err, -EIO, "a read past the end of a msgpack value");
	if (m->how == MPL_BYTES) {
		memcpy(buf, m->bytes + off, n);
		return 0;
	}
	for (size_t i = 0; i < m->n_r && done < n; i++) {
		uint64_t at = off + done;

		if (at < base + m->r[i].len) {
			uint64_t take = CKPT_MIN(m->r[i].len - (at - base), (uint64_t)n - done);
			int rc = ckpt_pread_full(e->it->mp_fd, buf + done, (size_t)take, m->r[i].off + (at - base));

			if (rc < 0)
				return ckpt_err_set(err, rc, "'%s': read: %s", e->it->mp_label, ckpt_strerror(rc));
			done += take;
		}
		base += m->r[i].len;
	}
	return done == n ? 0 : ckpt_err_set(err, -EIO, "'%s': cut short", e->it->mp_label);
}

/* bytes [off, off+n) of the leaf's new value */
static int leaf_read(struct ckpt_edit *e, const struct eleaf *l, uint64_t off, uint8_t *buf, size_t n,
		     struct ckpt_err *err)
{
	int rc;

	if (l->is_new)
		return l->src(l->ctx, off, buf, n, err);
	if (l->str_set) {
		memcpy(buf, l->str + off, n);
		return 0;
	}
	if ((rc = orig_read(e, l, off, buf, n, err)) < 0)
		return rc;
	for (size_t k = 0; k < l->n_dirty; k++) {
		uint64_t a = CKPT_MAX(off, l->dirty[k].off);
		uint64_t b = CKPT_MIN(off + n, l->dirty[k].off + l->dirty[k].len);

		if (a < b && (rc = l->src(l->ctx, a, buf + (a - off), (size_t)(b - a), err)) < 0)
			return rc;
	}
	return 0;
}

static uint64_t leaf_size(const struct eleaf *l)
{
	uint64_t n = l->spec.dtype.itemsize;

	if (l->str_set)
		return l->str_n;
	if (!l->is_new)
		return l->node->mp->size;
	for (uint32_t k = 0; k < l->spec.rank; k++)
		n *= l->spec.shape[k];
	return n;
}

static void put_leaf_bytes(struct mw *w, struct ckpt_edit *e, const struct eleaf *l, uint64_t off,
			   uint64_t n)
{
	while (n && w->rc == 0) {
		size_t k = (size_t)CKPT_MIN(n, (uint64_t)WBUF);

		if ((w->rc = leaf_read(e, l, off, w->scratch, k, w->err)) < 0)
			return;
		put(w, w->scratch, k);
		off += k;
		n -= k;
	}
}

/* ---------------------------------------------------------------- values */

/* ext 1 (ndarray) or 3 (numpy scalar): [shape, dtype name, raw bytes] */
static void put_ndarray(struct mw *w, int8_t type, uint32_t rank, const uint64_t *shape, const char *dtype,
			struct ckpt_edit *e, const struct eleaf *l, uint64_t off, uint64_t n)
{
	uint8_t h[16];
	struct ckpt_buf b = CKPT_BUF_INIT;
	size_t k;

	ckpt_buf_add(&b, h, hdr_arr(h, 3));
	ckpt_buf_add(&b, h, hdr_arr(h, rank));
	for (uint32_t i = 0; i < rank; i++)
		ckpt_buf_add(&b, h, enc_uint(h, shape[i]));
	ckpt_buf_add(&b, h, hdr_str(h, strlen(dtype)));
	ckpt_buf_adds(&b, dtype);
	k = hdr_bin(h, n);
	ckpt_buf_add(&b, h, k);
	if (ckpt_buf_finish(&b) < 0 || !k) {
		w->rc = b.oom ? -ENOMEM : ckpt_err_set(w->err, -EFBIG, "an array of %llu bytes is too large "
						     "for one msgpack value", (unsigned long long)n);
	} else {
		uint8_t eh[8];

		put(w, eh, hdr_ext(eh, type, b.len + n));
		put(w, b.p, b.len);
		put_leaf_bytes(w, e, l, off, n);
	}
	ckpt_buf_release(&b);
}

/* Flax's chunked form: {"__msgpack_chunked_array__": true, "shape": {"0": d0, ...},
 * "chunks": {"0": 1-D ndarray, ...}}; lens: the chunks' byte sizes */
static void put_chunked(struct mw *w, uint32_t rank, const uint64_t *shape, const char *dtype,
			uint32_t itemsize, struct ckpt_edit *e, const struct eleaf *l, const uint64_t *lens,
			size_t n_chunks)
{
	uint8_t h[16];
	char key[24];
	uint64_t off = 0;

	put(w, h, hdr_map(h, 3));
	put_str(w, "__msgpack_chunked_array__", 25);
	put(w, "\xc3", 1);
	put_str(w, "shape", 5);
	put(w, h, hdr_map(h, rank));
	for (uint32_t i = 0; i < rank; i++) {
		put_str(w, key, (size_t)snprintf(key, sizeof(key), "%u", i));
		put(w, h, enc_uint(h, shape[i]));
	}
	put_str(w, "chunks", 6);
	put(w, h, hdr_map(h, n_chunks));
	for (size_t i = 0; i < n_chunks && w->rc == 0; i++) {
		uint64_t elems = lens[i] / itemsize;

		put_str(w, key, (size_t)snprintf(key, sizeof(key), "%zu", i));
		put_ndarray(w, 1, 1, &elems, dtype, e, l, off, lens[i]);
		off += lens[i];
	}
}

static void put_new_array(struct mw *w, struct ckpt_edit *e, const struct eleaf *l)
{
	const struct ckpt_zarr_spec *s = &l->spec;
	uint64_t n = leaf_size(l), per, *lens;
	size_t nc;

	if (n <= FLAX_CHUNK_BYTES) {
		put_ndarray(w, 1, s->rank, s->shape, s->dtype.name, e, l, 0, n);
		return;
	}
	/* as Flax does: flat chunks of int(2**30 / itemsize) elements */
	per = (FLAX_CHUNK_BYTES / s->dtype.itemsize) * s->dtype.itemsize;
	nc = (size_t)((n + per - 1) / per);
	lens = calloc(nc, sizeof(*lens));
	if (!lens) {
		w->rc = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < nc; i++)
		lens[i] = i + 1 < nc ? per : n - per * (nc - 1);
	put_chunked(w, s->rank, s->shape, s->dtype.name, s->dtype.itemsize, e, l, lens, nc);
	free(lens);
}

/* a Python scalar from its (possibly edited) bytes */
static void put_scalar(struct mw *w, struct ckpt_edit *e, const struct eleaf *l)
{
	const struct ckpt_mp_leaf *m = l->node->mp;
	uint8_t b[16], o[16];
	size_t k;

	if (m->size > sizeof(b) || (w->rc = leaf_read(e, l, 0, b, (size_t)m->size, w->err)) < 0) {
		if (w->rc == 0)
			w->rc = -EINVAL;
		return;
	}
	if (!strcmp(m->dtype, "bool")) {
		put(w, b[0] ? "\xc3" : "\xc2", 1);
		return;
	}
	if (!strcmp(m->dtype, "uint64")) {
		k = enc_uint(o, ckpt_load_le64(b));
	} else if (!strcmp(m->dtype, "int64")) {
		k = enc_int(o, (int64_t)ckpt_load_le64(b));
	} else if (!strcmp(m->dtype, "float32")) {
		uint32_t u = ckpt_load_le32(b);
		float f;

		memcpy(&f, &u, 4);
		k = enc_f(o, f, true);
	} else {
		uint64_t u = ckpt_load_le64(b);
		double f;

		memcpy(&f, &u, 8);
		k = enc_f(o, f, false);
	}
	put(w, o, k);
}

static void put_complex(struct mw *w, struct ckpt_edit *e, const struct eleaf *l)
{
	uint8_t b[16], p[19], h[4];
	uint64_t u;
	double re, im;

	if ((w->rc = leaf_read(e, l, 0, b, 16, w->err)) < 0)
		return;
	u = ckpt_load_le64(b);
	memcpy(&re, &u, 8);
	u = ckpt_load_le64(b + 8);
	memcpy(&im, &u, 8);
	p[0] = 0x92;
	enc_f(p + 1, re, false);
	enc_f(p + 10, im, false);
	put(w, h, hdr_ext(h, 2, sizeof(p)));
	put(w, p, sizeof(p));
}

/* param: Orbax's aggregate file, where a value kept elsewhere is a placeholder */
static void put_leaf(struct mw *w, struct ckpt_edit *e, const struct eleaf *l, const char *param)
{
	const struct ckpt_node *n = l->node;
	const struct ckpt_mp_leaf *m = n ? n->mp : NULL;
	uint8_t h[16];

	if (param && !eleaf_inline(l) && (l->kind == E_ARRAY || l->kind == E_STRING)) {
		char *s;

		if (asprintf(&s, "PLACEHOLDER://%s", param) < 0) {
			w->rc = -ENOMEM;
			return;
		}
		put_str(w, s, strlen(s));
		free(s);
		return;
	}
	switch (l->kind) {
	case E_NONE:
		put(w, "\xc0", 1);
		return;
	case E_EMPTY:
		put(w, l->value_type && (!strcmp(l->value_type, "List") || !strcmp(l->value_type, "Tuple"))
			       ? "\x90" : "\x80", 1);
		return;
	case E_STRING: {
		uint64_t size = leaf_size(l);
		size_t k = !strcmp(m->what, "bytes") ? hdr_bin(h, size)
			 : !strcmp(m->what, "msgpack extension") ? hdr_ext(h, m->ext, size)
								 : hdr_str(h, size);

		if (!k) {
			w->rc = ckpt_err_set(w->err, -EFBIG, "a value is too large for msgpack");
			return;
		}
		put(w, h, k);
		put_leaf_bytes(w, e, l, 0, size);
		return;
	}
	case E_ARRAY:
		break;
	}
	if (l->is_new) {
		put_new_array(w, e, l);
	} else if (!m || m->how == MPL_GDA) {
		char *s;

		if (asprintf(&s, "%s%s", m ? "//GDAPlaceholder:" : "PLACEHOLDER://", n->param) < 0) {
			w->rc = -ENOMEM;
			return;
		}
		put_str(w, s, strlen(s));
		free(s);
	} else if (!strcmp(m->what, "ndarray") || !strcmp(m->what, "numpy scalar")) {
		put_ndarray(w, !strcmp(m->what, "ndarray") ? 1 : 3, m->rank, m->shape, m->dtype, e, l, 0, m->size);
	} else if (!strcmp(m->what, "ndarray (chunked)")) {
		uint64_t *lens = calloc(m->n_r ? m->n_r : 1, sizeof(*lens));
		struct ckpt_dtype dt;

		if (!lens || ckpt_dtype_from_name(&dt, m->dtype) < 0) {
			free(lens);
			w->rc = -ENOMEM;
			return;
		}
		for (size_t i = 0; i < m->n_r; i++)
			lens[i] = m->r[i].len;
		put_chunked(w, m->rank, m->shape, m->dtype, dt.itemsize, e, l, lens, m->n_r);
		free(lens);
	} else if (!strcmp(m->what, "complex")) {
		put_complex(w, e, l);
	} else {
		put_scalar(w, e, l);
	}
}

/* ---------------------------------------------------------------- the tree */

struct tn {
	const struct ckpt_key *key; /* NULL: the root */
	ssize_t leaf;               /* index in e->l, or -1: a container */
	size_t *kids;
	size_t nk, ck;
	struct ckpt_map map;        /* child key -> index in the pool */
	bool seq;                   /* every child has a sequence key: a msgpack array */
};

struct tree {
	struct tn *t;
	size_t n, cap;
};

static void tree_free(struct tree *tr)
{
	for (size_t i = 0; i < tr->n; i++) {
		free(tr->t[i].kids);
		ckpt_map_release(&tr->t[i].map);
	}
	free(tr->t);
}

static ssize_t tn_new(struct tree *tr, const struct ckpt_key *key)
{
	if (ckpt_grow((void **)&tr->t, &tr->cap, tr->n + 1, sizeof(*tr->t)) < 0)
		return -ENOMEM;
	memset(&tr->t[tr->n], 0, sizeof(*tr->t));
	tr->t[tr->n].key = key;
	tr->t[tr->n].leaf = -1;
	tr->t[tr->n].seq = true;
	return (ssize_t)tr->n++;
}

/* a leaf list: ls[0, n), with their parameter names (Orbax's aggregate file)
 * or NULL */
struct leaves {
	const struct eleaf *l;
	size_t n;
	char **params;
};

/* the leaves' paths as a tree, children in the order they first appear;
 * then the leaves of `old` where they fit (the aggregate file during an edit:
 * the old leaves beside the new ones): a path already taken, or inside a
 * leaf, is skipped, and an empty container of the new tree gives way to an
 * old leaf inside it */
static int build(const struct leaves *nw, const struct leaves *old, struct tree *tr, struct ckpt_err *err)
{
	size_t total = nw->n + (old ? old->n : 0);

	if (tn_new(tr, NULL) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < total; i++) {
		bool is_old = i >= nw->n;
		const struct eleaf *l = is_old ? &old->l[i - nw->n] : &nw->l[i];
		size_t cur = 0;
		bool fits = true;

		for (size_t d = 0; d < l->depth && fits; d++) {
			struct ckpt_bytes kb = { (const uint8_t *)l->path[d].s, l->path[d].n };
			size_t at;
			ssize_t nn;

			if (tr->t[cur].leaf >= 0) {
				if (!is_old)
					return ckpt_err_set(err, -EINVAL, "a value is both a leaf and a container");
				if ((size_t)tr->t[cur].leaf >= nw->n || nw->l[tr->t[cur].leaf].kind != E_EMPTY) {
					fits = false;
					break;
				}
				tr->t[cur].leaf = -1;
			}
			if (ckpt_map_get(&tr->t[cur].map, kb, &at) == 0) {
				cur = at;
				continue;
			}
			if ((nn = tn_new(tr, &l->path[d])) < 0 ||
			    ckpt_grow((void **)&tr->t[cur].kids, &tr->t[cur].ck, tr->t[cur].nk + 1,
				      sizeof(size_t)) < 0 ||
			    ckpt_map_put(&tr->t[cur].map, kb, (size_t)nn) < 0)
				return -ENOMEM;
			tr->t[cur].kids[tr->t[cur].nk++] = (size_t)nn;
			tr->t[cur].seq = tr->t[cur].seq && l->path[d].type == 1;
			cur = (size_t)nn;
		}
		if (!fits)
			continue;
		if (tr->t[cur].nk || tr->t[cur].leaf >= 0 || cur == 0) {
			if (is_old)
				continue;
			return ckpt_err_set(err, -EINVAL, "a value is both a leaf and a container");
		}
		tr->t[cur].leaf = (ssize_t)i;
	}
	return 0;
}

struct wframe {
	size_t node, next;
};

/* the whole file: an explicit stack, as deep as the tree */
static int emit(struct ckpt_edit *e, const struct leaves *nw, const struct leaves *old, struct tree *tr,
		struct mw *w)
{
	struct wframe *st = NULL;
	size_t sn = 0, cap = 0;
	uint8_t h[16];

	put(w, h, hdr_map(h, tr->t[0].nk));
	if (ckpt_grow((void **)&st, &cap, 1, sizeof(*st)) < 0)
		return -ENOMEM;
	st[sn++] = (struct wframe){ 0, 0 };
	while (sn && w->rc == 0) {
		struct wframe *f = &st[sn - 1];
		const struct tn *p = &tr->t[f->node], *c;

		if (f->next == p->nk) {
			sn--;
			continue;
		}
		c = &tr->t[p->kids[f->next++]];
		if (f->node == 0 || !p->seq)
			put_str(w, c->key->s, c->key->n);
		if (c->leaf >= 0) {
			size_t i = (size_t)c->leaf;
			const struct leaves *ls = i < nw->n ? nw : old;

			i -= ls == nw ? 0 : nw->n;
			put_leaf(w, e, &ls->l[i], ls->params ? ls->params[i] : NULL);
			continue;
		}
		put(w, h, c->seq ? hdr_arr(h, c->nk) : hdr_map(h, c->nk));
		if (ckpt_grow((void **)&st, &cap, sn + 1, sizeof(*st)) < 0) {
			w->rc = -ENOMEM;
			break;
		}
		st[sn++] = (struct wframe){ (size_t)(c - tr->t), 0 };
	}
	free(st);
	return w->rc;
}

/* ---------------------------------------------------------------- commit */

/* files/<v>: a hard link to the live file */
static int keep_file(struct ckpt_edit *e, uint64_t v, struct ckpt_err *err)
{
	struct ckpt_item *it = e->it;
	char rel[CKPT_NAME_MAX + 64];
	int rc;

	snprintf(rel, sizeof(rel), "%s/files/%llu", e->hist, (unsigned long long)v);
	if ((rc = ckpt_mkdirs_beneath(it->fd, rel)) < 0)
		return ckpt_err_set(err, rc, "'%s/%s': %s", it->label, rel, ckpt_strerror(rc));
	unlinkat(it->fd, rel, 0); /* a leftover of an edit that stopped */
	if (linkat(it->fd, it->step->file, it->fd, rel, 0) < 0)
		return ckpt_err_set(err, -errno, "'%s/%s': cannot link the old version: %s", it->label, rel,
				    ckpt_strerror(-errno));
	return ckpt_edit_sync_parent(it->fd, rel);
}

/* the version the edit creates; records the state before it where nothing did */
static int prepare(struct ckpt_edit *e, uint64_t *next, struct ckpt_err *err)
{
	uint64_t last;
	char rel[CKPT_NAME_MAX + 64];
	int rc;

	if (ckpt_edit_last_version(e, &last) < 0) {
		if ((rc = keep_file(e, 0, err)) == 0)
			rc = ckpt_edit_record_version(e, 0, 0, "original", err);
		*next = 1;
		return rc;
	}
	snprintf(rel, sizeof(rel), "%s/files/%llu", e->hist, (unsigned long long)last);
	if (!ckpt_same_inode(e->it->fd, rel, e->it->step->file)) {
		last++;
		if ((rc = keep_file(e, last, err)) < 0 ||
		    (rc = ckpt_edit_record_version(e, last, 0, "changed outside ckptfs, or an edit that "
						   "stopped before its record", err)) < 0)
			return rc;
	}
	*next = last + 1;
	return 0;
}

static void fault_at(void *ctx, const char *what)
{
	if (!strcmp(what, "written"))
		ckpt_fault_point(ctx);
}

/* the file for the leaves ls[0, nl) written to tmp, fsynced and renamed over
 * final (the commit point), its directory fsynced; `fault`: the fault
 * point just before the rename */
static int write_file(struct ckpt_edit *e, const struct leaves *nw, const struct leaves *old,
		      const char *tmp, const char *final, const char *fault, struct ckpt_err *err)
{
	struct ckpt_item *it = e->it;
	struct tree tr = { 0 };
	struct mw w = { .fd = -1, .label = it->mp_label, .err = err };
	const struct ckpt_commit c = { it->fd, it->label, false, fault_at, (void *)fault };
	int rc;

	if ((rc = build(nw, old, &tr, err)) < 0)
		goto out;
	w.buf = malloc(WBUF);
	w.scratch = malloc(WBUF);
	if (!w.buf || !w.scratch) {
		rc = -ENOMEM;
		goto out;
	}
	w.fd = ckpt_commit_tmp_open(&c, tmp, err);
	if (w.fd < 0) {
		rc = w.fd;
		goto out;
	}
	if ((rc = emit(e, nw, old, &tr, &w)) == 0)
		rc = flush(&w);
	if (rc < 0)
		goto out;
	/* fsync, the fault point, rename (the commit point), directory fsync */
	rc = ckpt_commit_tmp_finish(&c, w.fd, tmp, final, err);
	w.fd = -1;
	if (rc == 0)
		e->written += w.total;
out:
	if (w.fd >= 0)
		close(w.fd);
	if (rc < 0)
		unlinkat(it->fd, tmp, 0);
	free(w.buf);
	free(w.scratch);
	tree_free(&tr);
	return rc;
}

int ckpt_mp_write_aggregate(struct ckpt_edit *e, char **params, const struct eleaf *old, size_t n_old,
			    char **old_params, struct ckpt_err *err)
{
	struct leaves nw = { e->l, e->n, params }, o = { old, n_old, old_params };

	return write_file(e, &nw, old ? &o : NULL, "checkpoint.ckptfs-tmp", "checkpoint",
			  "edit-aggregate-tmp", err);
}

int ckpt_mp_edit_commit(struct ckpt_edit *e, const char *what, uint64_t *version, struct ckpt_err *err)
{
	char tmp[CKPT_NAME_MAX + 64];
	uint64_t ver = 0;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s/tmp", e->hist);
	if ((rc = prepare(e, &ver, err)) < 0)
		return rc;
	/* 1. the new file; 2. the commit point: its rename */
	{
		struct leaves nw = { e->l, e->n, NULL };

		rc = write_file(e, &nw, NULL, tmp, e->it->step->file, "edit-data", err);
	}
	if (rc < 0)
		return rc;
	FAULT("metadata");
	/* 3. the history */
	rc = keep_file(e, ver, err);
	FAULT("step");
	if (rc == 0)
		rc = ckpt_edit_record_version(e, ver, 0, what && *what ? what : e->what, err);
	FAULT("record");
	if (rc == 0 && version)
		*version = ver;
	return rc;
}
