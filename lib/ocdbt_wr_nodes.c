/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_wr_nodes.c - the OCDBT writer's lowest part (tier 4): the arena and
 * the table of data files, the commit's data file, and B+tree nodes encoded
 * and split the way TensorStore's BtreeNodeEncoder does (FORMAT-ocdbt-zarr.md
 * 8.5).  See ocdbt_wr_int.h.
 */
#define _GNU_SOURCE
#include "ocdbt_wr_int.h"

#include "buf.h"
#include "commit.h"
#include "compress.h"
#include "fsutil.h"
#include "map.h"
#include "ocdbt.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void *arena_alloc(struct ckpt_ocdbt_wr *w, size_t n)
{
	struct arena_block *b = w->arena;

	if (!b || b->cap - b->used < n) {
		size_t cap = CKPT_MAX(n, (size_t)1 << 20);

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->next = w->arena;
		b->used = 0;
		b->cap = cap;
		w->arena = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

const uint8_t *ckpt_ocdbt_wr_arena_copy(struct ckpt_ocdbt_wr *w, const void *p, size_t n)
{
	uint8_t *d = arena_alloc(w, n ? n : 1);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

int ckpt_ocdbt_wr_fid_intern(struct ckpt_ocdbt_wr *w, const char *base, size_t bl, const char *rel,
			     size_t rl, uint32_t *out)
{
	char *both;
	size_t v;
	int rc;

	both = malloc(bl + rl + 2);
	if (!both)
		return -ENOMEM;
	memcpy(both, base, bl);
	both[bl] = 0;
	memcpy(both + bl + 1, rel, rl);
	both[bl + 1 + rl] = 0;
	if (ckpt_map_get(&w->fmap, (struct ckpt_bytes){ (uint8_t *)both, bl + rl + 1 }, &v) == 0) {
		free(both);
		*out = (uint32_t)v;
		return 0;
	}
	if ((rc = ckpt_grow((void **)&w->f, &w->capf, w->nf + 1, sizeof(*w->f))) < 0) {
		free(both);
		return rc;
	}
	w->f[w->nf] = (struct fid){ both, bl, rl };
	if ((rc = ckpt_map_put(&w->fmap, (struct ckpt_bytes){ (uint8_t *)both, bl + rl + 1 }, w->nf)) < 0) {
		free(both);
		return rc;
	}
	*out = (uint32_t)w->nf++;
	return 0;
}

const char *ckpt_ocdbt_wr_fid_base(const struct ckpt_ocdbt_wr *w, uint32_t i)
{
	return w->f[i].both;
}

const char *ckpt_ocdbt_wr_fid_rel(const struct ckpt_ocdbt_wr *w, uint32_t i)
{
	return w->f[i].both + w->f[i].bl + 1;
}

static int fid_cmp(const struct ckpt_ocdbt_wr *w, uint32_t a, uint32_t b)
{
	int c = strcmp(ckpt_ocdbt_wr_fid_base(w, a), ckpt_ocdbt_wr_fid_base(w, b));

	return c ? c : strcmp(ckpt_ocdbt_wr_fid_rel(w, a), ckpt_ocdbt_wr_fid_rel(w, b));
}

static size_t cp(struct ckpt_bytes a, struct ckpt_bytes b)
{
	size_t n = CKPT_MIN(a.n, b.n), i = 0;

	while (i < n && a.p[i] == b.p[i])
		i++;
	return i;
}

void ckpt_ocdbt_wr_random_bytes(uint8_t *b, size_t n)
{
	if (getrandom(b, n, 0) != (ssize_t)n) {
		/* no entropy source: time, pid and a counter still avoid collisions */
		static uint64_t counter;
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 48 ^
		    __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ull;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			b[i] = (uint8_t)x;
		}
	}
}

static void random_hex(char out[33])
{
	uint8_t b[16];
	static const char hex[] = "0123456789abcdef";

	ckpt_ocdbt_wr_random_bytes(b, sizeof(b));
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = 0;
}

int ckpt_ocdbt_wr_data_flush(struct ckpt_ocdbt_wr *w, struct ckpt_err *err)
{
	int rc;

	if (!w->dbuf.len)
		return 0;
	rc = ckpt_write_full(w->dfd, w->dbuf.p, w->dbuf.len);
	if (rc < 0)
		return ckpt_err_set(err, rc, "'%s/%s': cannot write: %s", w->label, ckpt_ocdbt_wr_fid_rel(w, w->dfid),
				    ckpt_strerror(rc));
	w->written += w->dbuf.len;
	w->dbuf.len = 0;
	return 0;
}

int ckpt_ocdbt_wr_data_open(struct ckpt_ocdbt_wr *w, struct ckpt_err *err)
{
	char name[33], rel[40];
	int rc;

	if (w->dfd >= 0)
		return 0;
	if (w->h.file_name)
		w->h.file_name(w->h.ctx, name);
	else
		random_hex(name);
	snprintf(rel, sizeof(rel), "d/%s", name);
	if (mkdirat(w->dirfd, "d", 0755) < 0 && errno != EEXIST)
		return ckpt_err_set(err, -errno, "'%s/d': cannot create: %s", w->label,
				    ckpt_strerror(-errno));
	w->dfd = openat(w->dirfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->dfd < 0)
		return ckpt_err_set(err, -errno, "'%s/%s': cannot create: %s", w->label, rel,
				    ckpt_strerror(-errno));
	rc = ckpt_ocdbt_wr_fid_intern(w, "", 0, rel, strlen(rel), &w->dfid);
	if (rc < 0)
		return rc;
	w->dlen = 0;
	return 0;
}

int ckpt_ocdbt_wr_data_append(struct ckpt_ocdbt_wr *w, const void *p, size_t n, uint64_t *off,
			      struct ckpt_err *err)
{
	int rc = ckpt_ocdbt_wr_data_open(w, err);

	if (rc < 0)
		return rc;
	if (off)
		*off = w->dlen;
	ckpt_buf_add(&w->dbuf, p, n);
	if ((rc = ckpt_buf_finish(&w->dbuf)) < 0)
		return rc;
	w->dlen += n;
	return w->dbuf.len >= FLUSH_BYTES ? ckpt_ocdbt_wr_data_flush(w, err) : 0;
}

/* sorts ids[0, n) by fid_cmp: a bottom-up merge sort with the writer as
 * an argument (qsort would need it in a process-wide static, which two
 * writers in two threads would share) */
static int sort_fids(const struct ckpt_ocdbt_wr *w, uint32_t *ids, size_t n)
{
	uint32_t *tmp, *src = ids, *dst;

	if (n < 2)
		return 0;
	if (!(tmp = malloc(n * sizeof(*tmp))))
		return -ENOMEM;
	dst = tmp;
	for (size_t width = 1; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = CKPT_MIN(lo + width, n), hi = CKPT_MIN(lo + 2 * width, n);
			size_t i = lo, j = mid, k = lo;

			while (i < mid && j < hi)
				dst[k++] = fid_cmp(w, src[j], src[i]) < 0 ? src[j++] : src[i++];
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		uint32_t *t = src;

		src = dst;
		dst = t;
	}
	if (src != ids)
		memcpy(ids, src, n * sizeof(*ids));
	free(tmp);
	return 0;
}

int ckpt_ocdbt_wr_table_build(struct ckpt_ocdbt_wr *w, const uint32_t *fids, size_t n, struct table *t)
{
	size_t k = 0;

	t->ids = malloc((n ? n : 1) * sizeof(*t->ids));
	if (!t->ids)
		return -ENOMEM;
	memcpy(t->ids, fids, n * sizeof(*fids));
	if (sort_fids(w, t->ids, n) < 0) {
		free(t->ids);
		t->ids = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (!k || t->ids[k - 1] != t->ids[i])
			t->ids[k++] = t->ids[i];
	t->n = k;
	return 0;
}

uint32_t ckpt_ocdbt_wr_table_index(const struct table *t, uint32_t fid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->ids[i] == fid)
			return (uint32_t)i;
	return 0;
}

void ckpt_ocdbt_wr_table_encode(struct ckpt_ocdbt_wr *w, const struct table *t, struct ckpt_buf *b)
{
	struct ckpt_ocdbt_fid *ids = malloc((t->n ? t->n : 1) * sizeof(*ids));

	if (!ids) {
		b->oom = true;
		return;
	}
	for (size_t i = 0; i < t->n; i++) {
		ids[i].base = ckpt_ocdbt_wr_fid_base(w, t->ids[i]);
		ids[i].rel = ckpt_ocdbt_wr_fid_rel(w, t->ids[i]);
	}
	ckpt_ocdbt_table_encode(ids, t->n, b);
	free(ids);
}

/* keys of [0, n) with the excluded prefix x: prefixes, suffix lengths, [scp], suffixes */
static void keys_encode(const struct ckpt_bytes *k, size_t n, size_t x, const uint32_t *scp,
			struct ckpt_buf *b)
{
	for (size_t i = 1; i < n; i++)
		ckpt_buf_varint(b, cp(k[i - 1], k[i]) - x);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, k[i].n - (i ? cp(k[i - 1], k[i]) : x));
	if (scp)
		for (size_t i = 0; i < n; i++)
			ckpt_buf_varint(b, scp[i] - x);
	for (size_t i = 0; i < n; i++) {
		size_t s = i ? cp(k[i - 1], k[i]) : x;

		ckpt_buf_add(b, k[i].p + s, k[i].n - s);
	}
}

int ckpt_ocdbt_wr_place(struct ckpt_ocdbt_wr *w, uint32_t magic, const struct ckpt_buf *body, uint64_t *off,
			uint64_t *len, struct ckpt_err *err)
{
	struct ckpt_buf enc = CKPT_BUF_INIT;
	int rc = ckpt_ocdbt_wrap(magic, w->cfg.compression, w->cfg.zstd_level, body->p, body->len, &enc);

	if (rc == 0)
		rc = ckpt_ocdbt_wr_data_append(w, enc.p, enc.len, off, err);
	*len = enc.len;
	ckpt_buf_release(&enc);
	return rc;
}

static int leaf_encode(struct ckpt_ocdbt_wr *w, const struct ent *e, size_t n, size_t x,
		       struct nref *out, struct ckpt_err *err)
{
	struct ckpt_buf b = CKPT_BUF_INIT;
	struct ckpt_bytes *k = malloc(n * sizeof(*k));
	uint32_t *f = malloc(n * sizeof(*f));
	struct table t = { NULL, 0 };
	size_t nf = 0;
	int rc;

	if (!k || !f) {
		rc = -ENOMEM;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		k[i] = e[i].key;
		if (!e[i].inl) {
			f[nf++] = e[i].fid;
			out->st.num_indirect_value_bytes += e[i].len;
		}
	}
	if ((rc = ckpt_ocdbt_wr_table_build(w, f, nf, &t)) < 0)
		goto out;
	ckpt_buf_addc(&b, 0);
	ckpt_ocdbt_wr_table_encode(w, &t, &b);
	ckpt_buf_varint(&b, n);
	keys_encode(k, n, x, NULL, &b);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(&b, e[i].len);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_addc(&b, e[i].inl ? 0 : 1);
	for (size_t i = 0; i < n; i++)
		if (!e[i].inl)
			ckpt_buf_varint(&b, ckpt_ocdbt_wr_table_index(&t, e[i].fid));
	for (size_t i = 0; i < n; i++)
		if (!e[i].inl)
			ckpt_buf_varint(&b, e[i].off);
	for (size_t i = 0; i < n; i++)
		if (e[i].inl)
			ckpt_buf_add(&b, e[i].inl, (size_t)e[i].len);
	if ((rc = ckpt_buf_finish(&b)) < 0)
		goto out;
	rc = ckpt_ocdbt_wr_place(w, CKPT_OCDBT_MAGIC_BTREE, &b, &out->off, &out->len, err);
	out->key = e[0].key;
	out->scp = (uint32_t)x;
	out->fid = w->dfid;
	out->st.num_keys = n;
	out->st.num_tree_bytes = out->len;
out:
	free(t.ids);
	free(k);
	free(f);
	ckpt_buf_release(&b);
	return rc;
}

static int interior_encode(struct ckpt_ocdbt_wr *w, uint8_t height, const struct nref *c, size_t n,
			   size_t x, struct nref *out, struct ckpt_err *err)
{
	struct ckpt_buf b = CKPT_BUF_INIT;
	struct ckpt_bytes *k = malloc(n * sizeof(*k));
	uint32_t *f = malloc(n * sizeof(*f)), *scp = malloc(n * sizeof(*scp));
	struct table t = { NULL, 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	if (!k || !f || !scp) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		k[i] = c[i].key;
		f[i] = c[i].fid;
		scp[i] = c[i].scp;
		out->st.num_keys += c[i].st.num_keys;
		out->st.num_tree_bytes += c[i].st.num_tree_bytes;
		out->st.num_indirect_value_bytes += c[i].st.num_indirect_value_bytes;
	}
	if ((rc = ckpt_ocdbt_wr_table_build(w, f, n, &t)) < 0)
		goto out;
	ckpt_buf_addc(&b, height);
	ckpt_ocdbt_wr_table_encode(w, &t, &b);
	ckpt_buf_varint(&b, n);
	keys_encode(k, n, x, scp, &b);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(&b, ckpt_ocdbt_wr_table_index(&t, c[i].fid));
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(&b, c[i].off);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(&b, c[i].len);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(&b, c[i].st.num_keys);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(&b, c[i].st.num_tree_bytes);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(&b, c[i].st.num_indirect_value_bytes);
	if ((rc = ckpt_buf_finish(&b)) < 0)
		goto out;
	rc = ckpt_ocdbt_wr_place(w, CKPT_OCDBT_MAGIC_BTREE, &b, &out->off, &out->len, err);
	out->key = c[0].key;
	out->scp = (uint32_t)x;
	out->fid = w->dfid;
	out->st.num_tree_bytes += out->len;
out:
	free(t.ids);
	free(k);
	free(f);
	free(scp);
	ckpt_buf_release(&b);
	return rc;
}

/*
 * TensorStore's node split: est[i] estimates entry i's decoded size; c is
 * the common prefix of all keys of the level.  Returns where the node
 * starting at s ends.
 */
static size_t split_end(const uint64_t *psum, size_t s, size_t n, uint64_t c, uint64_t max_node,
			size_t min_arity)
{
	const size_t max_entries = 1048576;
#define SIZE(a, b) (psum[b] - psum[a] - ((b) - (a)-1) * c)
	uint64_t total = SIZE(s, n), num_nodes, target;
	size_t e;

	num_nodes = CKPT_MAX((n - s + max_entries - 1) / max_entries, (total + max_node - 1) / max_node);
	if (num_nodes == 0)
		num_nodes = 1;
	target = (total + num_nodes - 1) / num_nodes;
	for (e = s + 1; e < n; e++) {
		uint64_t sz = SIZE(s, e);

		if (e - s >= max_entries)
			break;
		if (sz >= target && e - s >= min_arity) {
			if (sz > max_node && e - s > min_arity)
				e--;
			break;
		}
	}
#undef SIZE
	return e;
}

int ckpt_ocdbt_wr_build_tree(struct ckpt_ocdbt_wr *w, struct ver *v, struct ckpt_err *err)
{
	struct nref *lvl = NULL, *next = NULL;
	uint64_t *psum = NULL;
	size_t nl = 0, nn = 0;
	uint8_t height = 0;
	int rc = 0;

	if (w->n == 0) {
		v->off = v->len = CKPT_OCDBT_MISSING;
		v->height = 0;
		memset(&v->st, 0, sizeof(v->st));
		return ckpt_ocdbt_wr_fid_intern(w, "", 0, "", 0, &v->fid);
	}
	psum = malloc((w->n + 1) * sizeof(*psum));
	lvl = malloc(w->n * sizeof(*lvl));
	if (!psum || !lvl) {
		rc = -ENOMEM;
		goto out;
	}
	/* leaves */
	psum[0] = 0;
	for (size_t i = 0; i < w->n; i++) {
		const struct ent *e = &w->e[i];
		uint64_t est = 16 + e->key.n +
			       (e->inl ? e->len : 16 + w->f[e->fid].bl + w->f[e->fid].rl);

		psum[i + 1] = psum[i] + est;
	}
	{
		uint64_t c = cp(w->e[0].key, w->e[w->n - 1].key);
		size_t s = 0, e;
		bool single = split_end(psum, 0, w->n, c, w->cfg.max_decoded_node_bytes, 1) == w->n;

		for (; s < w->n && rc == 0; s = e) {
			size_t x;

			e = split_end(psum, s, w->n, c, w->cfg.max_decoded_node_bytes, 1);
			x = single ? 0 : cp(w->e[s].key, w->e[e - 1].key);
			rc = leaf_encode(w, &w->e[s], e - s, x, &lvl[nl++], err);
		}
	}
	/* interior levels until one root remains */
	while (rc == 0 && nl > 1) {
		uint64_t c = cp(lvl[0].key, lvl[nl - 1].key);
		size_t s = 0, e;
		bool single;

		height++;
		psum[0] = 0;
		for (size_t i = 0; i < nl; i++)
			psum[i + 1] = psum[i] + 56 + lvl[i].key.n + w->f[lvl[i].fid].bl +
				      w->f[lvl[i].fid].rl;
		single = split_end(psum, 0, nl, c, w->cfg.max_decoded_node_bytes, 2) == nl;
		next = malloc(nl * sizeof(*next));
		if (!next) {
			rc = -ENOMEM;
			break;
		}
		nn = 0;
		for (; s < nl && rc == 0; s = e) {
			size_t x = 0;

			e = split_end(psum, s, nl, c, w->cfg.max_decoded_node_bytes, 2);
			if (!single) {
				x = cp(lvl[s].key, lvl[e - 1].key);
				for (size_t i = s; i < e; i++)
					x = CKPT_MIN(x, lvl[i].scp);
			}
			rc = interior_encode(w, height, &lvl[s], e - s, x, &next[nn++], err);
		}
		free(lvl);
		lvl = next;
		next = NULL;
		nl = nn;
	}
	if (rc == 0) {
		v->height = height;
		v->fid = lvl[0].fid;
		v->off = lvl[0].off;
		v->len = lvl[0].len;
		v->st = lvl[0].st;
	}
out:
	free(psum);
	free(lvl);
	free(next);
	return rc;
}
