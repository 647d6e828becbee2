/* SPDX-License-Identifier: Apache-2.0 */
/*
 * msgpack.c - Flax's msgpack checkpoints and Orbax's msgpack aggregate file
 * (FORMAT-orbax-layout.md 2.8, 4.2, 4.3) as a tree of nodes.
 *
 * The file is read as a stream through a small buffer: the structure is
 * walked once, and the bytes of arrays and binaries are not read but
 * remembered as ranges of the file, so a file of many GiB costs memory in
 * proportion to its number of leaves.  Nesting is an explicit stack bounded
 * by the limits; every length is checked against the file's size first.
 *
 * Values: maps are dicts (lists and tuples arrive as maps with keys "0",
 * "1", ...: Flax's state dicts), msgpack arrays and ext 4 (Orbax's tuple) are
 * lists, ext 1 is an ndarray and ext 3 a numpy scalar (payload [shape,
 * dtype name, raw bytes]), ext 2 a complex (payload [re, im]); ints, floats
 * and bools are scalars (int64, uint64, float64/32, bool), strings are text,
 * binaries are bytes, nil is None.  A map whose first key is
 * "__msgpack_chunked_array__" is one array, its chunks concatenated.
 * "PLACEHOLDER://p" and "AGGREGATED://p" are the array stored under
 * parameter p; "//GDAPlaceholder:p" the zarr array <file>_gda/p.
 */
#define _GNU_SOURCE
#include "kind.h"

#include "dtype.h"
#include "fsutil.h"
#include "mpack.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF 65536
#define MAX_KEY 65536       /* a map key, read whole */
#define MAX_INLINE (1 << 20) /* strings up to this are kept in memory */

struct rd {
	int fd;
	uint64_t size, pos;   /* the file, the next byte */
	uint64_t bstart;      /* file offset of buf[0] */
	size_t blen;
	uint8_t buf[BUF];
	const char *label;
	struct ckpt_err *err;
};

static int corrupt(struct rd *r, const char *what)
{
	return ckpt_err_set(r->err, CKPT_ECORRUPT, "'%s' @%llu: msgpack: %s", r->label,
			    (unsigned long long)r->pos, what);
}

/* makes n (<= BUF) bytes at r->pos readable at *p, without consuming them */
static int window(struct rd *r, size_t n, const uint8_t **p)
{
	if (n > r->size - r->pos)
		return corrupt(r, "cut short");
	if (r->pos < r->bstart || r->pos + n > r->bstart + r->blen) {
		size_t want = (size_t)CKPT_MIN((uint64_t)BUF, r->size - r->pos);
		int rc = ckpt_pread_full(r->fd, r->buf, want, r->pos);

		if (rc < 0)
			return ckpt_err_set(r->err, rc, "'%s': read: %s", r->label, ckpt_strerror(rc));
		r->bstart = r->pos;
		r->blen = want;
	}
	*p = r->buf + (r->pos - r->bstart);
	return 0;
}

/* n (<= BUF) bytes at r->pos, consumed */
static int take(struct rd *r, size_t n, const uint8_t **p)
{
	int rc = window(r, n, p);

	if (rc == 0)
		r->pos += n;
	return rc;
}

static int skip(struct rd *r, uint64_t n)
{
	if (n > r->size - r->pos)
		return corrupt(r, "cut short");
	r->pos += n;
	return 0;
}

#define T_NIL CKPT_MP_NIL
#define T_BOOL CKPT_MP_BOOL
#define T_INT CKPT_MP_INT
#define T_UINT CKPT_MP_UINT
#define T_F32 CKPT_MP_F32
#define T_F64 CKPT_MP_F64
#define T_STR CKPT_MP_STR
#define T_BIN CKPT_MP_BIN
#define T_ARR CKPT_MP_ARR
#define T_MAP CKPT_MP_MAP
#define T_EXT CKPT_MP_EXT

struct tok {
	enum ckpt_mp_type t;
	int64_t i;
	uint64_t u, len; /* u: uint value; len: str/bin/ext bytes, arr/map entries */
	double f;
	int8_t ext;
	uint64_t at;     /* str/bin/ext: where the data starts */
};

/* the next token's header (mpack.c decodes it from the window); str/bin/ext
 * data is left unread (t->at, t->len) */
static int next(struct rd *r, struct tok *t)
{
	size_t want = (size_t)CKPT_MIN((uint64_t)CKPT_MP_MAX_HEAD, r->size - r->pos);
	struct ckpt_mp_tok mt;
	struct ckpt_rd b;
	const uint8_t *p;
	const char *why = "?";
	size_t head;
	int rc;

	memset(t, 0, sizeof(*t));
	if (want == 0)
		return corrupt(r, "cut short");
	if ((rc = window(r, want, &p)) < 0)
		return rc;
	b = ckpt_rd_init(p, want);
	if (ckpt_mp_head(&b, &mt, &why) < 0)
		return corrupt(r, why);
	head = want - b.left;
	r->pos += head;
	*t = (struct tok){ mt.t, mt.i, mt.u, mt.len, mt.f, mt.ext, r->pos };
	if ((t->t == T_STR || t->t == T_BIN || t->t == T_EXT) && t->len > r->size - r->pos)
		return corrupt(r, "a string, binary or extension runs past the end");
	/* every entry takes at least a byte (two for a map's); a fixmap or
	 * fixarray (one byte) is cut short when its entries are read */
	if ((t->t == T_MAP || t->t == T_ARR) && head > 1 &&
	    t->len > (r->size - r->pos) / (t->t == T_MAP ? 2 : 1))
		return corrupt(r, "more entries than bytes left");
	return 0;
}

/* reads str/bin data of t (at most cap - 1 bytes; NUL-terminated) */
static int read_data(struct rd *r, const struct tok *t, char *out, size_t cap)
{
	uint64_t left = t->len;
	size_t o = 0;

	if (t->len >= cap)
		return corrupt(r, "a key or name is too long");
	while (left) {
		const uint8_t *p;
		size_t n = (size_t)CKPT_MIN(left, (uint64_t)BUF);
		int rc = take(r, n, &p);

		if (rc < 0)
			return rc;
		memcpy(out + o, p, n);
		o += n;
		left -= n;
	}
	out[o] = 0;
	return 0;
}

/* ---------------------------------------------------------------- leaves */

static struct ckpt_mp_leaf *leaf_new(const char *what, const char *dtype)
{
	struct ckpt_mp_leaf *l = calloc(1, sizeof(*l));

	if (l) {
		l->what = what;
		snprintf(l->dtype, sizeof(l->dtype), "%s", dtype);
	}
	return l;
}

static int leaf_bytes(struct ckpt_mp_leaf *l, const void *p, size_t n)
{
	l->how = MPL_BYTES;
	l->bytes = malloc(n ? n : 1);
	if (!l->bytes)
		return -ENOMEM;
	memcpy(l->bytes, p, n);
	l->size = n;
	return 0;
}

static int add_range(struct ckpt_mp_leaf *l, uint64_t off, uint64_t len, size_t *cap)
{
	if (ckpt_grow((void **)&l->r, cap, l->n_r + 1, sizeof(*l->r)) < 0)
		return -ENOMEM;
	l->r[l->n_r++] = (struct ckpt_mp_range){ off, len };
	l->how = MPL_RANGES;
	l->size += len;
	return 0;
}

/* ext 1 / 3 payload at t: [shape, dtype name, raw bytes] */
static int ndarray(struct rd *r, const struct tok *t, struct ckpt_mp_leaf *l, size_t *cap)
{
	struct ckpt_dtype dt;
	struct tok a, x;
	uint64_t end = t->at + t->len, elems = 1;
	char name[64];
	int rc;

	if ((rc = next(r, &a)) < 0)
		return rc;
	if (a.t != T_ARR || a.len != 3 || (rc = next(r, &x)) < 0)
		return rc < 0 ? rc : corrupt(r, "an ndarray is not [shape, dtype, bytes]");
	if (x.t != T_ARR || x.len > 32)
		return corrupt(r, "an ndarray's shape is not a list of at most 32 sizes");
	l->rank = (uint32_t)x.len;
	for (uint32_t k = 0; k < l->rank; k++) {
		struct tok d;

		if ((rc = next(r, &d)) < 0)
			return rc;
		if (d.t != T_INT || d.i < 0)
			return corrupt(r, "an ndarray's shape holds a negative or non-integer size");
		l->shape[k] = (uint64_t)d.i;
		if (l->shape[k] && elems > UINT64_MAX / l->shape[k])
			return corrupt(r, "an ndarray's size overflows");
		elems *= l->shape[k];
	}
	if ((rc = next(r, &x)) < 0)
		return rc;
	if (x.t != T_STR || (rc = read_data(r, &x, name, sizeof(name))) < 0)
		return rc < 0 ? rc : corrupt(r, "an ndarray's dtype is not a name");
	if (ckpt_dtype_from_name(&dt, name) < 0)
		return ckpt_err_set(r->err, -ENOTSUP, "'%s' @%llu: msgpack: dtype '%s' is not supported",
				    r->label, (unsigned long long)r->pos, name);
	snprintf(l->dtype, sizeof(l->dtype), "%s", dt.name);
	if ((rc = next(r, &x)) < 0)
		return rc;
	if (x.t != T_BIN && x.t != T_STR)
		return corrupt(r, "an ndarray's data is not bytes");
	if (elems > UINT64_MAX / dt.itemsize || x.len != elems * dt.itemsize)
		return corrupt(r, "an ndarray's data does not match its shape and dtype");
	if ((rc = add_range(l, x.at, x.len, cap)) < 0 || (rc = skip(r, x.len)) < 0)
		return rc;
	if (r->pos != end)
		return corrupt(r, "an ndarray extension has bytes left over");
	return 0;
}

/* ---------------------------------------------------------------- the tree */

struct frame {
	struct ckpt_node *node;
	uint64_t left;  /* entries still to read */
	uint64_t index; /* lists: the next child's index */
	uint64_t end;   /* ext 4: where its payload ends, else 0 */
	bool map;
};

static int scalar(struct ckpt_mp_leaf **out, const struct tok *t)
{
	struct ckpt_mp_leaf *l;
	uint8_t b[8];

	switch (t->t) {
	case T_BOOL: l = leaf_new("bool", "bool"); b[0] = (uint8_t)t->i; break;
	case T_INT: l = leaf_new("int", "int64"); ckpt_store_le64(b, (uint64_t)t->i); break;
	case T_UINT: l = leaf_new("int", "uint64"); ckpt_store_le64(b, t->u); break;
	case T_F32: {
		float f = (float)t->f;
		uint32_t u;

		memcpy(&u, &f, 4);
		l = leaf_new("float", "float32");
		ckpt_store_le32(b, u);
		break;
	}
	default: {
		uint64_t u;

		memcpy(&u, &t->f, 8);
		l = leaf_new("float", "float64");
		ckpt_store_le64(b, u);
	}
	}
	if (!l)
		return -ENOMEM;
	*out = l;
	return leaf_bytes(l, b, t->t == T_BOOL ? 1 : t->t == T_F32 ? 4 : 8);
}

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

/* a string leaf: text, or a placeholder for an array stored elsewhere */
static int string_value(struct rd *r, struct ckpt_item *it, struct ckpt_node *n, const struct tok *t,
			bool *values)
{
	struct ckpt_mp_leaf *l = leaf_new("str", "");
	size_t cap = 0;
	int rc;

	if (!l)
		return -ENOMEM;
	n->mp = l;
	if (t->len <= MAX_INLINE) {
		char *s = malloc((size_t)t->len + 1);
		const char *param = NULL;

		if (!s)
			return -ENOMEM;
		if ((rc = read_data(r, t, s, (size_t)t->len + 1)) < 0) {
			free(s);
			return rc;
		}
		if (has_prefix(s, "PLACEHOLDER://"))
			param = s + 14;
		else if (has_prefix(s, "AGGREGATED://"))
			param = s + 13;
		if (param || has_prefix(s, "//GDAPlaceholder:")) {
			/* an array stored beside the file: opened as a zarr array */
			n->kind = CKPT_NODE_ARRAY;
			n->param = strdup(param ? param : s + 17);
			n->param_nul = strlen(s) != t->len;
			n->value_type = param ? "placeholder" : "GDA placeholder";
			rc = !n->param ? -ENOMEM : 0;
			if (param) {
				ckpt_mp_leaf_free(l);
				n->mp = NULL;
			} else {
				l->how = MPL_GDA;
				l->what = "GDA placeholder";
			}
			(void)it;
			free(s);
			return rc;
		}
		rc = leaf_bytes(l, s, (size_t)t->len);
		free(s);
	} else {
		rc = add_range(l, t->at, t->len, &cap);
		if (rc == 0)
			rc = skip(r, t->len);
	}
	*values = true;
	n->kind = CKPT_NODE_STRING;
	n->value_type = "str";
	return rc;
}

/* a map that starts with "__msgpack_chunked_array__": the array it holds */
static int chunked(struct rd *r, struct ckpt_node *n, uint64_t entries)
{
	struct ckpt_mp_leaf *l = leaf_new("ndarray (chunked)", "");
	uint64_t elems = 1, shape_n = 0;
	size_t cap = 0;
	char key[64];
	int rc;

	if (!l)
		return -ENOMEM;
	n->mp = l;
	n->kind = CKPT_NODE_ARRAY;
	n->value_type = "ndarray";
	for (uint64_t e = 1; e < entries; e++) {
		struct tok k, v;

		if ((rc = next(r, &k)) < 0)
			return rc;
		if (k.t != T_STR || (rc = read_data(r, &k, key, sizeof(key))) < 0 || (rc = next(r, &v)) < 0)
			return rc < 0 ? rc : corrupt(r, "a chunked array has a non-string key");
		if (v.t != T_MAP)
			return corrupt(r, "a chunked array's shape or chunks is not a map");
		for (uint64_t i = 0; i < v.len; i++) {
			struct tok ik, iv;
			char idx[32];

			if ((rc = next(r, &ik)) < 0)
				return rc;
			if (ik.t == T_STR && (rc = read_data(r, &ik, idx, sizeof(idx))) < 0)
				return rc;
			if ((rc = next(r, &iv)) < 0)
				return rc;
			if (!strcmp(key, "shape")) {
				if (iv.t != T_INT || iv.i < 0 || shape_n == 32)
					return corrupt(r, "a chunked array's shape is not sizes");
				l->shape[shape_n++] = (uint64_t)iv.i;
			} else if (!strcmp(key, "chunks")) {
				struct ckpt_mp_leaf c = { 0 };
				size_t cc = 0;

				if (iv.t != T_EXT || iv.ext != 1)
					return corrupt(r, "a chunk of a chunked array is not an ndarray");
				rc = ndarray(r, &iv, &c, &cc);
				if (rc == 0 && l->dtype[0] && strcmp(l->dtype, c.dtype))
					rc = corrupt(r, "the chunks of a chunked array differ in dtype");
				if (rc == 0) {
					memcpy(l->dtype, c.dtype, sizeof(l->dtype));
					rc = add_range(l, c.r[0].off, c.r[0].len, &cap);
				}
				free(c.r);
				if (rc < 0)
					return rc;
			} else {
				return corrupt(r, "a chunked array has an unknown member");
			}
		}
	}
	l->rank = (uint32_t)shape_n;
	for (uint32_t k = 0; k < l->rank; k++) {
		if (l->shape[k] && elems > UINT64_MAX / l->shape[k])
			return corrupt(r, "a chunked array's size overflows");
		elems *= l->shape[k];
	}
	{
		struct ckpt_dtype dt;

		if (!l->dtype[0] || ckpt_dtype_from_name(&dt, l->dtype) < 0 ||
		    elems > UINT64_MAX / dt.itemsize || l->size != elems * dt.itemsize)
			return corrupt(r, "a chunked array's chunks do not add up to its shape");
	}
	return 0;
}

/* opens msgpack file `name` beneath the item as it->mp_fd, for r */
static int open_file(struct ckpt_item *it, const char *name, struct rd *r, struct ckpt_err *err)
{
	struct stat sb;
	bool own;

	it->mp_fd = ckpt_open_beneath(it->fd, name, O_RDONLY, 0);
	if (it->mp_fd < 0) {
		int rc = ckpt_err_set(err, it->mp_fd, "'%s/%s': %s", it->label, name, ckpt_strerror(it->mp_fd));

		it->mp_fd = -1;
		return rc;
	}
	if (fstat(it->mp_fd, &sb) < 0)
		return -errno;
	own = it->step->file && !strcmp(name, it->step->file);
	if (asprintf(&it->mp_label, "%s%s%s", it->label, own ? "" : "/", own ? "" : name) < 0) {
		it->mp_label = NULL;
		return -ENOMEM;
	}
	r->fd = it->mp_fd;
	r->size = (uint64_t)sb.st_size;
	r->label = it->mp_label;
	r->err = err;
	return 0;
}

/* the next key of frame f into key[0, *kn) (lists: the index) */
static int next_key(struct rd *r, struct frame *f, char *key, size_t *kn)
{
	struct tok t;
	int rc;

	if (!f->map) {
		*kn = (size_t)snprintf(key, MAX_KEY, "%llu", (unsigned long long)f->index++);
		return 0;
	}
	if ((rc = next(r, &t)) < 0)
		return rc;
	if (t.t == T_STR || t.t == T_BIN) {
		if ((rc = read_data(r, &t, key, MAX_KEY)) < 0)
			return rc;
		*kn = (size_t)t.len;
	} else if (t.t == T_INT) {
		*kn = (size_t)snprintf(key, MAX_KEY, "%lld", (long long)t.i);
	} else {
		return corrupt(r, "a map key is not a string or an integer");
	}
	return 0;
}

/* a map of t->len entries at r: if its first key is
 * "__msgpack_chunked_array__", n becomes that array (1); else r is back
 * where it was (0) */
static int chunked_map(struct rd *r, const struct tok *t, struct ckpt_node *n)
{
	uint64_t save = r->pos;
	struct tok k, v;
	char first[32];
	int rc;

	if ((rc = next(r, &k)) < 0)
		return rc;
	if (k.t == T_STR && k.len == 25 && read_data(r, &k, first, sizeof(first)) == 0 &&
	    !strcmp(first, "__msgpack_chunked_array__")) {
		if ((rc = next(r, &v)) < 0 || (rc = chunked(r, n, t->len)) < 0)
			return rc;
		return 1;
	}
	r->pos = save;
	return 0;
}

/* a value that is not a container: n becomes its leaf */
static int leaf_value(struct rd *r, struct ckpt_item *it, struct ckpt_node *n, const struct tok *tp,
		      bool *values)
{
	struct tok t = *tp;
	int rc;

	*values = *values || (t.t != T_STR && t.t != T_NIL); /* None: no leaf to Orbax */
	switch (t.t) {
	case T_NIL:
		n->kind = CKPT_NODE_NONE;
		n->value_type = "None";
		rc = 0;
		break;
	case T_STR:
		rc = string_value(r, it, n, &t, values);
		break;
	case T_BIN: {
		size_t cap = 0;

		n->mp = leaf_new("bytes", "");
		n->kind = CKPT_NODE_STRING;
		n->value_type = "bytes";
		rc = !n->mp ? -ENOMEM : add_range(n->mp, t.at, t.len, &cap);
		if (rc == 0)
			rc = skip(r, t.len);
		break;
	}
	case T_EXT:
		n->kind = CKPT_NODE_ARRAY;
		if (t.ext == 1 || t.ext == 3) {
			size_t cap = 0;

			n->mp = leaf_new(t.ext == 1 ? "ndarray" : "numpy scalar", "");
			n->value_type = t.ext == 1 ? "ndarray" : "numpy scalar";
			rc = !n->mp ? -ENOMEM : ndarray(r, &t, n->mp, &cap);
		} else if (t.ext == 2) {
			struct tok a, re, im;
			uint8_t b[16];
			uint64_t u;

			if ((rc = next(r, &a)) < 0 || (rc = next(r, &re)) < 0 || (rc = next(r, &im)) < 0)
				break;
			if (a.t != T_ARR || a.len != 2 || (re.t != T_F64 && re.t != T_F32) ||
			    (im.t != T_F64 && im.t != T_F32) || r->pos != t.at + t.len) {
				rc = corrupt(r, "a complex extension is not [re, im]");
				break;
			}
			memcpy(&u, &re.f, 8);
			ckpt_store_le64(b, u);
			memcpy(&u, &im.f, 8);
			ckpt_store_le64(b + 8, u);
			n->mp = leaf_new("complex", "complex128");
			n->value_type = "complex";
			rc = !n->mp ? -ENOMEM : leaf_bytes(n->mp, b, 16);
		} else {
			size_t cap = 0;

			/* an extension nobody defined: its bytes, as they are */
			n->kind = CKPT_NODE_STRING;
			n->mp = leaf_new("msgpack extension", "");
			n->value_type = "msgpack extension";
			if (n->mp)
				n->mp->ext = t.ext;
			rc = !n->mp ? -ENOMEM : add_range(n->mp, t.at, t.len, &cap);
			if (rc == 0)
				rc = skip(r, t.len);
		}
		break;
	default:
		n->kind = CKPT_NODE_ARRAY;
		n->value_type = "scalar";
		rc = scalar(&n->mp, &t);
	}
	return rc;
}

int ckpt_msgpack_open(struct ckpt_item *it, const char *name, bool *values, struct ckpt_err *err)
{
	const struct ckpt_limits *lim = &it->step->src->o.lim;
	struct rd *r = calloc(1, sizeof(*r));
	struct frame *st = NULL;
	size_t sn = 0, scap = 0;
	struct tok t;
	char *key = NULL;
	int rc;

	*values = false;
	if (!r || !(key = malloc(MAX_KEY))) {
		free(r);
		return -ENOMEM;
	}
	if ((rc = open_file(it, name, r, err)) < 0)
		goto out;
	it->root = ckpt_node_new(it, NULL, "", 0, 0, CKPT_NODE_DICT);
	if (!it->root) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = next(r, &t)) < 0)
		goto out;
	if (t.t != T_MAP) {
		rc = corrupt(r, "the top level is not a map");
		goto out;
	}
	if (t.len == 0)
		it->root->kind = CKPT_NODE_EMPTY;
	if (ckpt_grow((void **)&st, &scap, 1, sizeof(*st)) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	st[sn++] = (struct frame){ it->root, t.len, 0, 0, true };
	while (sn > 0) {
		struct frame *f = &st[sn - 1];
		struct ckpt_node *n;
		size_t kn = 0;

		if (f->left == 0) {
			if (f->end && r->pos != f->end) {
				rc = corrupt(r, "a tuple extension has bytes left over");
				goto out;
			}
			sn--;
			continue;
		}
		f->left--;
		if ((rc = next_key(r, f, key, &kn)) < 0)
			goto out;
		if (it->n_nodes >= lim->max_keys) {
			rc = ckpt_err_set(err, -EFBIG, "'%s': more than %llu values", r->label,
					  (unsigned long long)lim->max_keys);
			goto out;
		}
		if (f->map && ckpt_node_find(f->node, key, kn)) {
			/* Python keeps one of them (the last value); a file system
			 * cannot show two: refused, not guessed */
			rc = corrupt(r, "a map holds the same key twice");
			goto out;
		}
		n = ckpt_node_new(it, f->node, key, kn, f->map ? 2 : 1, CKPT_NODE_NONE);
		if (!n) {
			rc = -ENOMEM;
			goto out;
		}
		if ((rc = next(r, &t)) < 0)
			goto out;
		if (t.t == T_MAP || t.t == T_ARR || (t.t == T_EXT && t.ext == 4)) {
			uint64_t end = 0;
			bool map = t.t == T_MAP;

			if (t.t == T_EXT) {
				end = t.at + t.len;
				if ((rc = next(r, &t)) < 0)
					goto out;
				if (t.t != T_ARR) {
					rc = corrupt(r, "a tuple extension does not hold a list");
					goto out;
				}
			}
			/* Flax's chunked arrays announce themselves first */
			if (map && t.len > 0 && (rc = chunked_map(r, &t, n)) != 0) {
				if (rc < 0)
					goto out;
				*values = true;
				rc = 0;
				continue;
			}
			if (sn > lim->max_depth) {
				rc = ckpt_err_set(err, -EFBIG, "'%s': nested more than %u deep", r->label,
						  lim->max_depth);
				goto out;
			}
			n->kind = t.len ? (map ? CKPT_NODE_DICT : CKPT_NODE_LIST) : CKPT_NODE_EMPTY;
			if (!t.len)
				n->value_type = map ? "Dict" : "List";
			if (ckpt_grow((void **)&st, &scap, sn + 1, sizeof(*st)) < 0) {
				rc = -ENOMEM;
				goto out;
			}
			st[sn++] = (struct frame){ n, t.len, 0, end, map };
			continue;
		}
		if ((rc = leaf_value(r, it, n, &t, values)) < 0)
			goto out;
	}
	if (r->pos != r->size)
		rc = corrupt(r, "bytes after the top-level map");
out:
	free(st);
	free(key);
	free(r);
	return rc;
}

/* ---------------------------------------------------------------- leaves */

int ckpt_mp_leaf_open(struct ckpt_item *it, const struct ckpt_node *n, struct ckpt_leaf *l,
		      struct ckpt_err *err)
{
	const struct ckpt_opts *o = &it->step->src->o;
	struct ckpt_array_opts ao = { it->step->src->cache, &o->lim, false, o->stream_threshold,
				      o->piece_bytes, it->step->src->ra, o->spill };
	char *prefix, *dir;
	int rc;

	if (n->mp->how != MPL_GDA) {
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
	/* //GDAPlaceholder:p -> the zarr v2 array <file>_gda/p */
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
