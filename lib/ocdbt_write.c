/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_write.c - OCDBT writer (tier 4); see ocdbt_write.h.
 *
 * The whole B+tree of the new version is rebuilt from the sorted entries
 * (unchanged out-of-line values are referenced, never copied), split into
 * nodes the way TensorStore's BtreeNodeEncoder does (FORMAT-ocdbt-zarr.md
 * 8.5), and the version tree grows as TensorStore's create_new_manifest.cc
 * grows it (7.5).  With Orbax's 100 MB node limit the tree is one leaf, which
 * TensorStore rewrites on every commit as well.
 */
#define _GNU_SOURCE
#include "ocdbt_write.h"

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

#define FLUSH_BYTES (1u << 20)
#define MAX_KEY 65535

struct fid {
	char *both; /* base '\0' rel '\0' */
	size_t bl, rl;
};

struct ent {
	struct ckpt_bytes key;
	uint64_t len;
	const uint8_t *inl;
	uint32_t fid;
	uint64_t off;
};

struct ver {
	uint64_t gen, time;
	uint8_t height;
	uint32_t fid;
	uint64_t off, len;
	struct ckpt_ocdbt_stats st;
};

struct vref {
	uint64_t gen, time, ngen;
	uint8_t height;
	uint32_t fid;
	uint64_t off, len;
};

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	uint8_t data[];
};

struct ckpt_ocdbt_wr {
	int dirfd;
	char *label;
	struct ckpt_limits lim;
	struct ckpt_ocdbt_hooks h;
	struct ckpt_ocdbt_config cfg;
	bool have_db;
	struct ent *e;
	size_t n, cap;
	struct fid *f;
	size_t nf, capf;
	struct ckpt_map fmap;
	struct ver *v;
	size_t nv, capv;
	struct vref *r;
	size_t nr, capr;
	struct arena_block *arena;
	/* the open commit's data file */
	int dfd;
	uint32_t dfid;
	uint64_t dlen; /* bytes in the file + in dbuf */
	struct ckpt_buf dbuf;
	bool in_value;
	uint64_t vstart;
	uint64_t written;
};

/* ---------------------------------------------------------------- small helpers */

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

static const uint8_t *arena_copy(struct ckpt_ocdbt_wr *w, const void *p, size_t n)
{
	uint8_t *d = arena_alloc(w, n ? n : 1);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

static int fid_intern(struct ckpt_ocdbt_wr *w, const char *base, size_t bl, const char *rel,
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

static const char *fid_base(const struct ckpt_ocdbt_wr *w, uint32_t i)
{
	return w->f[i].both;
}

static const char *fid_rel(const struct ckpt_ocdbt_wr *w, uint32_t i)
{
	return w->f[i].both + w->f[i].bl + 1;
}

static int fid_cmp(const struct ckpt_ocdbt_wr *w, uint32_t a, uint32_t b)
{
	int c = strcmp(fid_base(w, a), fid_base(w, b));

	return c ? c : strcmp(fid_rel(w, a), fid_rel(w, b));
}

static size_t cp(struct ckpt_bytes a, struct ckpt_bytes b)
{
	size_t n = CKPT_MIN(a.n, b.n), i = 0;

	while (i < n && a.p[i] == b.p[i])
		i++;
	return i;
}

static void step(struct ckpt_ocdbt_wr *w, const char *what)
{
	char name[64];

	if (w->h.step)
		w->h.step(w->h.ctx, what);
	snprintf(name, sizeof(name), "ocdbt-%s", what);
	ckpt_fault_point(name);
}

static uint64_t now_ns(struct ckpt_ocdbt_wr *w)
{
	struct timespec ts;

	if (w->h.now_ns)
		return w->h.now_ns(w->h.ctx);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int sync_fd(struct ckpt_ocdbt_wr *w, int fd)
{
	if (w->h.no_fsync)
		return 0;
	return fsync(fd) < 0 ? -errno : 0;
}

static int sync_dir(struct ckpt_ocdbt_wr *w, int dirfd, const char *sub)
{
	int fd, rc;

	if (w->h.no_fsync)
		return 0;
	fd = sub ? openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
		 : openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

void ckpt_ocdbt_config_orbax(struct ckpt_ocdbt_config *c)
{
	memset(c, 0, sizeof(*c));
	c->manifest_kind = 0;
	c->max_inline_value_bytes = 1024;
	c->max_decoded_node_bytes = 100000000;
	c->version_tree_arity_log2 = 4;
	c->compression = 1;
	c->zstd_level = 0;
}

static void random_bytes(uint8_t *b, size_t n)
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

	random_bytes(b, sizeof(b));
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = 0;
}

/* ---------------------------------------------------------------- open / close */

int ckpt_ocdbt_wr_open(struct ckpt_ocdbt_wr **out, int dirfd, const char *label,
		       const struct ckpt_ocdbt_config *cfg, const struct ckpt_ocdbt_hooks *hooks,
		       const struct ckpt_limits *lim, struct ckpt_err *err)
{
	struct ckpt_ocdbt_wr *w;
	struct ckpt_ocdbt_manifest m;
	struct ckpt_ocdbt_db *db = NULL;
	int rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->dfd = -1;
	w->lim = *lim;
	if (hooks)
		w->h = *hooks;
	w->label = strdup(label);
	w->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (!w->label || w->dirfd < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	if (!ckpt_exists(dirfd, "manifest.ocdbt")) {
		if (cfg)
			w->cfg = *cfg;
		else
			ckpt_ocdbt_config_orbax(&w->cfg);
		if (w->h.uuid)
			w->h.uuid(w->h.ctx, w->cfg.uuid);
		else
			random_bytes(w->cfg.uuid, 16);
		*out = w;
		return 0;
	}
	/* an existing database: its config, version tree and latest entries */
	rc = ckpt_ocdbt_read_manifest(dirfd, label, lim, &m, NULL, err);
	if (rc < 0)
		goto fail;
	w->have_db = true;
	w->cfg = m.config;
	/* a numbered database keeps its kind: manifest.ocdbt holds only config */
	for (size_t i = 0; i < m.n_versions && rc == 0; i++) {
		const struct ckpt_ocdbt_version *v = &m.versions[i];
		const struct ckpt_ocdbt_file *f = &m.table.f[v->root.file];
		struct ver nv = { v->generation, v->commit_time, v->root_height, 0, v->root.offset,
				  v->root.length, v->stats };

		if (v->root.offset == CKPT_OCDBT_MISSING)
			rc = fid_intern(w, "", 0, "", 0, &nv.fid);
		else
			rc = fid_intern(w, f->path, f->base_len, f->path + f->base_len,
					strlen(f->path) - f->base_len, &nv.fid);
		if (rc == 0)
			rc = ckpt_grow((void **)&w->v, &w->capv, w->nv + 1, sizeof(*w->v));
		if (rc == 0)
			w->v[w->nv++] = nv;
	}
	for (size_t i = 0; i < m.n_vrefs && rc == 0; i++) {
		const struct ckpt_ocdbt_vref *r = &m.vrefs[i];
		const struct ckpt_ocdbt_file *f = &m.table.f[r->loc.file];
		struct vref nr = { r->generation, r->commit_time, r->num_generations, r->height, 0,
				   r->loc.offset, r->loc.length };

		rc = fid_intern(w, f->path, f->base_len, f->path + f->base_len,
				strlen(f->path) - f->base_len, &nr.fid);
		if (rc == 0)
			rc = ckpt_grow((void **)&w->r, &w->capr, w->nr + 1, sizeof(*w->r));
		if (rc == 0)
			w->r[w->nr++] = nr;
	}
	ckpt_ocdbt_manifest_release(&m);
	if (rc < 0)
		goto fail;
	rc = ckpt_ocdbt_open(&db, dirfd, label, 0, lim, err);
	if (rc < 0)
		goto fail;
	rc = ckpt_grow((void **)&w->e, &w->cap, ckpt_ocdbt_count(db), sizeof(*w->e));
	for (size_t i = 0; rc == 0 && i < ckpt_ocdbt_count(db); i++) {
		const struct ckpt_ocdbt_value *v = ckpt_ocdbt_at(db, i);
		struct ent *e = &w->e[w->n];

		memset(e, 0, sizeof(*e));
		e->key.p = arena_copy(w, v->key.p, v->key.n);
		e->key.n = v->key.n;
		e->len = v->len;
		if (!e->key.p) {
			rc = -ENOMEM;
			break;
		}
		if (v->inline_p) {
			e->inl = arena_copy(w, v->inline_p, (size_t)v->len);
			if (!e->inl)
				rc = -ENOMEM;
		} else {
			const char *p = ckpt_ocdbt_file_path(db, v->file);
			size_t bl = ckpt_ocdbt_file_base_len(db, v->file);

			rc = fid_intern(w, p, bl, p + bl, strlen(p) - bl, &e->fid);
			e->off = v->offset;
		}
		w->n++;
	}
	ckpt_ocdbt_close(db);
	if (rc < 0)
		goto fail;
	*out = w;
	return 0;
fail:
	ckpt_ocdbt_wr_close(w);
	return rc;
}

static void abort_data_file(struct ckpt_ocdbt_wr *w)
{
	if (w->dfd >= 0) {
		char path[64];

		close(w->dfd);
		w->dfd = -1;
		/* unreferenced: nothing points at it yet */
		snprintf(path, sizeof(path), "d/%s", fid_rel(w, w->dfid) + 2);
		unlinkat(w->dirfd, path, 0);
	}
	ckpt_buf_release(&w->dbuf);
	w->dlen = 0;
	w->in_value = false;
}

void ckpt_ocdbt_wr_close(struct ckpt_ocdbt_wr *w)
{
	if (!w)
		return;
	abort_data_file(w);
	while (w->arena) {
		struct arena_block *b = w->arena;

		w->arena = b->next;
		free(b);
	}
	for (size_t i = 0; i < w->nf; i++)
		free(w->f[i].both);
	free(w->f);
	ckpt_map_release(&w->fmap);
	free(w->e);
	free(w->v);
	free(w->r);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->label);
	free(w);
}

uint64_t ckpt_ocdbt_wr_generation(const struct ckpt_ocdbt_wr *w)
{
	return w->nv ? w->v[w->nv - 1].gen : 0;
}

const struct ckpt_ocdbt_config *ckpt_ocdbt_wr_config(const struct ckpt_ocdbt_wr *w)
{
	return &w->cfg;
}

uint64_t ckpt_ocdbt_wr_bytes_written(const struct ckpt_ocdbt_wr *w)
{
	return w->written;
}

size_t ckpt_ocdbt_wr_count(const struct ckpt_ocdbt_wr *w)
{
	return w->n;
}

void ckpt_ocdbt_wr_entry(const struct ckpt_ocdbt_wr *w, size_t i, struct ckpt_ocdbt_went *out)
{
	const struct ent *e = &w->e[i];

	out->key = e->key;
	out->len = e->len;
	out->inline_p = e->inl;
	out->base = e->inl ? NULL : fid_base(w, e->fid);
	out->rel = e->inl ? NULL : fid_rel(w, e->fid);
	out->off = e->off;
}

/* ---------------------------------------------------------------- the data file */

static int data_flush(struct ckpt_ocdbt_wr *w, struct ckpt_err *err)
{
	int rc;

	if (!w->dbuf.len)
		return 0;
	rc = ckpt_write_full(w->dfd, w->dbuf.p, w->dbuf.len);
	if (rc < 0)
		return ckpt_err_set(err, rc, "'%s/%s': cannot write: %s", w->label, fid_rel(w, w->dfid),
				    ckpt_strerror(rc));
	w->written += w->dbuf.len;
	w->dbuf.len = 0;
	return 0;
}

static int data_open(struct ckpt_ocdbt_wr *w, struct ckpt_err *err)
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
	rc = fid_intern(w, "", 0, rel, strlen(rel), &w->dfid);
	if (rc < 0)
		return rc;
	w->dlen = 0;
	return 0;
}

static int data_append(struct ckpt_ocdbt_wr *w, const void *p, size_t n, uint64_t *off,
		       struct ckpt_err *err)
{
	int rc = data_open(w, err);

	if (rc < 0)
		return rc;
	if (off)
		*off = w->dlen;
	ckpt_buf_add(&w->dbuf, p, n);
	if ((rc = ckpt_buf_finish(&w->dbuf)) < 0)
		return rc;
	w->dlen += n;
	return w->dbuf.len >= FLUSH_BYTES ? data_flush(w, err) : 0;
}

int ckpt_ocdbt_wr_value_begin(struct ckpt_ocdbt_wr *w, struct ckpt_err *err)
{
	int rc = data_open(w, err);

	if (rc < 0)
		return rc;
	w->in_value = true;
	w->vstart = w->dlen;
	return 0;
}

int ckpt_ocdbt_wr_value_write(struct ckpt_ocdbt_wr *w, const void *p, size_t n,
			      struct ckpt_err *err)
{
	if (!w->in_value)
		return -EINVAL;
	return data_append(w, p, n, NULL, err);
}

int ckpt_ocdbt_wr_value_end(struct ckpt_ocdbt_wr *w, struct ckpt_ocdbt_put *ref,
			    struct ckpt_err *err)
{
	(void)err;
	if (!w->in_value)
		return -EINVAL;
	w->in_value = false;
	memset(ref, 0, sizeof(*ref));
	ref->kind = CKPT_PUT_REF;
	ref->ref_base = fid_base(w, w->dfid);
	ref->ref_rel = fid_rel(w, w->dfid);
	ref->ref_off = w->vstart;
	ref->ref_len = w->dlen - w->vstart;
	return 0;
}

/* ---------------------------------------------------------------- encoding nodes */

/* a table of the distinct fids of an object, sorted; local index by lookup */
struct table {
	uint32_t *ids;
	size_t n;
};

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

static int table_build(struct ckpt_ocdbt_wr *w, const uint32_t *fids, size_t n, struct table *t)
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

static uint32_t table_index(const struct table *t, uint32_t fid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->ids[i] == fid)
			return (uint32_t)i;
	return 0;
}

static void table_encode(struct ckpt_ocdbt_wr *w, const struct table *t, struct ckpt_buf *b)
{
	struct ckpt_ocdbt_fid *ids = malloc((t->n ? t->n : 1) * sizeof(*ids));

	if (!ids) {
		b->oom = true;
		return;
	}
	for (size_t i = 0; i < t->n; i++) {
		ids[i].base = fid_base(w, t->ids[i]);
		ids[i].rel = fid_rel(w, t->ids[i]);
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

/* a placed node, as its parent refers to it */
struct nref {
	struct ckpt_bytes key;
	uint32_t scp;
	uint32_t fid;
	uint64_t off, len;
	struct ckpt_ocdbt_stats st;
};

static int place(struct ckpt_ocdbt_wr *w, uint32_t magic, const struct ckpt_buf *body, uint64_t *off,
		 uint64_t *len, struct ckpt_err *err)
{
	struct ckpt_buf enc = CKPT_BUF_INIT;
	int rc = ckpt_ocdbt_wrap(magic, w->cfg.compression, w->cfg.zstd_level, body->p, body->len, &enc);

	if (rc == 0)
		rc = data_append(w, enc.p, enc.len, off, err);
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
	if ((rc = table_build(w, f, nf, &t)) < 0)
		goto out;
	ckpt_buf_addc(&b, 0);
	table_encode(w, &t, &b);
	ckpt_buf_varint(&b, n);
	keys_encode(k, n, x, NULL, &b);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(&b, e[i].len);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_addc(&b, e[i].inl ? 0 : 1);
	for (size_t i = 0; i < n; i++)
		if (!e[i].inl)
			ckpt_buf_varint(&b, table_index(&t, e[i].fid));
	for (size_t i = 0; i < n; i++)
		if (!e[i].inl)
			ckpt_buf_varint(&b, e[i].off);
	for (size_t i = 0; i < n; i++)
		if (e[i].inl)
			ckpt_buf_add(&b, e[i].inl, (size_t)e[i].len);
	if ((rc = ckpt_buf_finish(&b)) < 0)
		goto out;
	rc = place(w, CKPT_OCDBT_MAGIC_BTREE, &b, &out->off, &out->len, err);
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
	if ((rc = table_build(w, f, n, &t)) < 0)
		goto out;
	ckpt_buf_addc(&b, height);
	table_encode(w, &t, &b);
	ckpt_buf_varint(&b, n);
	keys_encode(k, n, x, scp, &b);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(&b, table_index(&t, c[i].fid));
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
	rc = place(w, CKPT_OCDBT_MAGIC_BTREE, &b, &out->off, &out->len, err);
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

static int build_tree(struct ckpt_ocdbt_wr *w, struct ver *v, struct ckpt_err *err)
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
		return fid_intern(w, "", 0, "", 0, &v->fid);
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

/* ---------------------------------------------------------------- version tree */

static int vnode_write(struct ckpt_ocdbt_wr *w, uint8_t height, const struct ver *vs,
		       const struct vref *rs, size_t n, struct vref *out, struct ckpt_err *err)
{
	struct ckpt_buf b = CKPT_BUF_INIT;
	uint32_t *f = malloc((n ? n : 1) * sizeof(*f));
	struct table t = { NULL, 0 };
	int rc;

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		f[i] = height ? rs[i].fid : vs[i].fid;
	rc = table_build(w, f, n, &t);
	free(f);
	if (rc < 0)
		return rc;
	ckpt_buf_addc(&b, w->cfg.version_tree_arity_log2);
	ckpt_buf_addc(&b, height);
	table_encode(w, &t, &b);
	if (height == 0) {
		struct ckpt_ocdbt_version *v = calloc(n, sizeof(*v));

		if (!v) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			v[i] = (struct ckpt_ocdbt_version){ vs[i].gen, vs[i].height,
				{ table_index(&t, vs[i].fid), vs[i].off, vs[i].len }, vs[i].st, vs[i].time };
		ckpt_ocdbt_versions_encode(v, n, &b);
		free(v);
		memset(out, 0, sizeof(*out));
		out->gen = vs[n - 1].gen;
		out->ngen = n;
		out->time = vs[0].time;
	} else {
		struct ckpt_ocdbt_vref *r = calloc(n, sizeof(*r));

		if (!r) {
			rc = -ENOMEM;
			goto out;
		}
		memset(out, 0, sizeof(*out));
		for (size_t i = 0; i < n; i++) {
			r[i] = (struct ckpt_ocdbt_vref){ rs[i].gen, { table_index(&t, rs[i].fid), rs[i].off,
							 rs[i].len }, rs[i].ngen, rs[i].time, 0 };
			out->ngen += rs[i].ngen;
		}
		ckpt_ocdbt_vrefs_encode(r, n, false, &b);
		free(r);
		out->gen = rs[n - 1].gen;
		out->time = rs[0].time;
	}
	if ((rc = ckpt_buf_finish(&b)) < 0)
		goto out;
	rc = place(w, CKPT_OCDBT_MAGIC_VERSION, &b, &out->off, &out->len, err);
	out->fid = w->dfid;
	out->height = height;
out:
	free(t.ids);
	ckpt_buf_release(&b);
	return rc;
}

/* children of an existing interior version node */
static int vnode_children(struct ckpt_ocdbt_wr *w, const struct vref *r, struct vref **out,
			  size_t *n, struct ckpt_err *err)
{
	char path[8192];
	uint8_t *raw = NULL, *body = NULL;
	size_t body_n;
	struct ckpt_ocdbt_vnode vn;
	int fd, rc;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s%s", fid_base(w, r->fid), fid_rel(w, r->fid));
	fd = ckpt_open_beneath(w->dirfd, path, O_RDONLY, 0);
	if (fd < 0)
		return ckpt_err_set(err, fd, "'%s/%s': cannot open: %s", w->label, path,
				    ckpt_strerror(fd));
	raw = malloc(r->len ? (size_t)r->len : 1);
	rc = raw ? ckpt_pread_full(fd, raw, (size_t)r->len, r->off) : -ENOMEM;
	close(fd);
	if (rc == 0)
		rc = ckpt_ocdbt_unwrap(raw, (size_t)r->len, CKPT_OCDBT_MAGIC_VERSION, w->lim.max_node_bytes,
				       &body, &body_n, err);
	free(raw);
	if (rc == 0)
		rc = ckpt_ocdbt_vnode_parse(&vn, body, body_n, fid_base(w, r->fid),
					    strlen(fid_base(w, r->fid)), err);
	free(body);
	if (rc < 0) {
		ckpt_err_prefix(err, "'%s/%s': ", w->label, path);
		return rc;
	}
	*out = calloc(vn.n ? vn.n : 1, sizeof(**out));
	for (size_t i = 0; *out && i < vn.n && rc == 0; i++) {
		const struct ckpt_ocdbt_vref *c = &vn.vrefs[i];
		const struct ckpt_ocdbt_file *f = &vn.table.f[c->loc.file];

		(*out)[i] = (struct vref){ c->generation, c->commit_time, c->num_generations, c->height,
					   0, c->loc.offset, c->loc.length };
		rc = fid_intern(w, f->path, f->base_len, f->path + f->base_len,
				strlen(f->path) - f->base_len, &(*out)[i].fid);
	}
	*n = vn.n;
	ckpt_ocdbt_vnode_release(&vn);
	if (!*out)
		return -ENOMEM;
	return rc;
}

/* Adds version nv, growing the version tree (FORMAT-ocdbt-zarr.md 7.5). */
static int versions_add(struct ckpt_ocdbt_wr *w, const struct ver *nv, struct ckpt_err *err)
{
	const unsigned A = w->cfg.version_tree_arity_log2;
	const uint64_t G = nv->gen;
	struct vref pending, *newr = NULL;
	bool have_pending;
	size_t nnew = 0;
	uint64_t g0;
	int rc = 0;

	if (w->nv == 0 || ((G - 1) >> A) == ((w->v[w->nv - 1].gen - 1) >> A)) {
		if ((rc = ckpt_grow((void **)&w->v, &w->capv, w->nv + 1, sizeof(*w->v))) < 0)
			return rc;
		w->v[w->nv++] = *nv;
		return 0;
	}
	/* the full leaf range moves into a version-tree leaf node */
	rc = vnode_write(w, 0, w->v, NULL, w->nv, &pending, err);
	if (rc < 0)
		return rc;
	have_pending = true;
	newr = calloc(64, sizeof(*newr));
	if (!newr)
		return -ENOMEM;
	g0 = ((G - 1) >> A) << A;
	for (unsigned h = 1; g0 > 0 && rc == 0; h++) {
		uint64_t next = (A * (h + 1) >= 64) ? 0 : ((g0 - 1) >> (A * (h + 1))) << (A * (h + 1));
		struct vref *old = NULL, *kids = NULL, made;
		size_t nk = 0;
		bool old_in, pend_in;

		for (size_t i = 0; i < w->nr; i++)
			if (w->r[i].height == h)
				old = &w->r[i];
		old_in = old && old->gen >= next + 1 && old->gen <= g0;
		pend_in = have_pending && pending.gen >= next + 1 && pending.gen <= g0;
		if (old_in && !pend_in) {
			newr[nnew++] = *old; /* unchanged */
			have_pending = false;
		} else if (pend_in) {
			if (old_in && (rc = vnode_children(w, old, &kids, &nk, err)) < 0)
				break;
			{
				struct vref *all = realloc(kids, (nk + 1) * sizeof(*all));

				if (!all) {
					free(kids);
					rc = -ENOMEM;
					break;
				}
				kids = all;
			}
			kids[nk++] = pending;
			rc = vnode_write(w, (uint8_t)h, NULL, kids, nk, &made, err);
			free(kids);
			if (rc < 0)
				break;
			newr[nnew++] = made;
			/* an old node outside the range is displaced one level up */
			have_pending = old && !old_in;
			if (have_pending)
				pending = *old;
		} else if (old) {
			/* out of range and nothing new here: it moves up */
			pending = *old;
			have_pending = true;
		}
		g0 = next;
	}
	if (rc == 0) {
		/* decreasing height, increasing generation */
		for (size_t i = 0; i < nnew / 2; i++) {
			struct vref t = newr[i];

			newr[i] = newr[nnew - 1 - i];
			newr[nnew - 1 - i] = t;
		}
		free(w->r);
		w->r = newr;
		w->nr = w->capr = nnew;
		newr = NULL;
		w->nv = 0;
		if ((rc = ckpt_grow((void **)&w->v, &w->capv, 1, sizeof(*w->v))) == 0)
			w->v[w->nv++] = *nv;
	}
	free(newr);
	return rc;
}

/* ---------------------------------------------------------------- manifest */

static int manifest_encode(struct ckpt_ocdbt_wr *w, struct ckpt_buf *out)
{
	struct ckpt_buf b = CKPT_BUF_INIT;
	size_t n = w->nv + w->nr;
	uint32_t *f = malloc((n ? n : 1) * sizeof(*f));
	struct table t = { NULL, 0 };
	struct ckpt_ocdbt_config cfg = w->cfg;
	struct ckpt_ocdbt_version *v = calloc(w->nv ? w->nv : 1, sizeof(*v));
	struct ckpt_ocdbt_vref *r = calloc(w->nr ? w->nr : 1, sizeof(*r));
	int rc;

	if (!f || !v || !r) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < w->nv; i++)
		f[i] = w->v[i].fid;
	for (size_t i = 0; i < w->nr; i++)
		f[w->nv + i] = w->r[i].fid;
	if ((rc = table_build(w, f, n, &t)) < 0)
		goto out;
	cfg.manifest_kind = 0; /* a numbered database's manifests say single */
	ckpt_ocdbt_config_encode(&cfg, &b);
	table_encode(w, &t, &b);
	for (size_t i = 0; i < w->nv; i++)
		v[i] = (struct ckpt_ocdbt_version){ w->v[i].gen, w->v[i].height,
			{ table_index(&t, w->v[i].fid), w->v[i].off, w->v[i].len }, w->v[i].st, w->v[i].time };
	ckpt_ocdbt_versions_encode(v, w->nv, &b);
	for (size_t i = 0; i < w->nr; i++)
		r[i] = (struct ckpt_ocdbt_vref){ w->r[i].gen, { table_index(&t, w->r[i].fid), w->r[i].off,
						 w->r[i].len }, w->r[i].ngen, w->r[i].time, w->r[i].height };
	ckpt_ocdbt_vrefs_encode(r, w->nr, true, &b);
	if ((rc = ckpt_buf_finish(&b)) < 0)
		goto out;
	rc = ckpt_ocdbt_wrap(CKPT_OCDBT_MAGIC_MANIFEST, w->cfg.compression, w->cfg.zstd_level, b.p, b.len,
			     out);
out:
	free(f);
	free(v);
	free(r);
	free(t.ids);
	ckpt_buf_release(&b);
	return rc;
}

/* the commit module's points are the writer's steps "manifest-written" and
 * "manifest-renamed" (hooks and fault points) */
static void commit_point(void *ctx, const char *what)
{
	step(ctx, !strcmp(what, "written") ? "manifest-written" : "manifest-renamed");
}

static int write_replace(struct ckpt_ocdbt_wr *w, const char *name, const struct ckpt_buf *data,
			 bool exclusive, struct ckpt_err *err)
{
	const struct ckpt_commit c = { w->dirfd, w->label, w->h.no_fsync, commit_point, w };
	int fd, rc;

	if (exclusive) {
		/* numbered manifests are written once, never replaced */
		fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			return ckpt_err_set(err, -errno, "'%s/%s': cannot create: %s", w->label, name,
					    ckpt_strerror(-errno));
		rc = ckpt_write_full(fd, data->p, data->len);
		if (rc == 0)
			rc = sync_fd(w, fd);
		close(fd);
		w->written += data->len;
		step(w, "manifest-written");
		if (rc == 0)
			rc = sync_dir(w, w->dirfd, NULL);
		step(w, "manifest-renamed");
		return rc < 0 ? ckpt_err_set(err, rc, "'%s/%s': %s", w->label, name, ckpt_strerror(rc)) : 0;
	}
	/* manifest.ocdbt.__lock locked, written, fsynced, renamed; the
	 * directory fsynced (commit.h: TensorStore's protocol) */
	rc = ckpt_commit_file_ts(&c, name, data->p, data->len, err);
	if (rc == 0)
		w->written += data->len;
	return rc;
}

/* ---------------------------------------------------------------- commit */

struct sput {
	const struct ckpt_ocdbt_put *p;
	size_t order;
};

static int sput_cmp(const void *a, const void *b)
{
	const struct sput *x = a, *y = b;
	int c = ckpt_bytes_cmp((struct ckpt_bytes){ x->p->key, x->p->key_n },
			       (struct ckpt_bytes){ y->p->key, y->p->key_n });

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int make_ent(struct ckpt_ocdbt_wr *w, const struct ckpt_ocdbt_put *p, struct ent *e,
		    struct ckpt_err *err)
{
	int rc = 0;

	memset(e, 0, sizeof(*e));
	e->key.p = arena_copy(w, p->key, p->key_n);
	e->key.n = p->key_n;
	if (!e->key.p)
		return -ENOMEM;
	if (p->kind == CKPT_PUT_REF) {
		e->len = p->ref_len;
		e->off = p->ref_off;
		if (p->ref_len == 0) {
			e->inl = arena_copy(w, "", 0); /* empty values are always inline */
			return e->inl ? 0 : -ENOMEM;
		}
		return fid_intern(w, p->ref_base, strlen(p->ref_base), p->ref_rel, strlen(p->ref_rel),
				  &e->fid);
	}
	e->len = p->value_n;
	if (p->value_n <= w->cfg.max_inline_value_bytes) {
		e->inl = arena_copy(w, p->value, p->value_n);
		return e->inl ? 0 : -ENOMEM;
	}
	rc = data_append(w, p->value, p->value_n, &e->off, err);
	e->fid = w->dfid;
	return rc;
}

int ckpt_ocdbt_wr_commit(struct ckpt_ocdbt_wr *w, const struct ckpt_ocdbt_put *puts, size_t n,
			 struct ckpt_err *err)
{
	struct sput *sp = NULL;
	struct ent *ne = NULL, *old = w->e;
	size_t nn = 0, i = 0, j = 0, old_n = w->n;
	struct ver v;
	struct ckpt_buf man = CKPT_BUF_INIT;
	uint64_t prev_time = w->nv ? w->v[w->nv - 1].time : 0;
	int rc = 0;

	if (w->in_value)
		return -EINVAL;
	for (size_t k = 0; k < n; k++)
		if (puts[k].key_n > MAX_KEY)
			return ckpt_err_set(err, -EINVAL, "'%s': key of %zu bytes, the limit is %d",
					    w->label, puts[k].key_n, MAX_KEY);
	sp = malloc((n ? n : 1) * sizeof(*sp));
	ne = malloc((old_n + n + 1) * sizeof(*ne));
	if (!sp || !ne) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t k = 0; k < n; k++)
		sp[k] = (struct sput){ &puts[k], k };
	qsort(sp, n, sizeof(*sp), sput_cmp);
	/* merge: the puts (last of equal keys) over the current entries */
	while (rc == 0 && (i < old_n || j < n)) {
		int c;

		if (j < n && j + 1 < n &&
		    ckpt_bytes_eq((struct ckpt_bytes){ sp[j].p->key, sp[j].p->key_n },
				  (struct ckpt_bytes){ sp[j + 1].p->key, sp[j + 1].p->key_n })) {
			j++;
			continue;
		}
		if (i >= old_n)
			c = 1;
		else if (j >= n)
			c = -1;
		else
			c = ckpt_bytes_cmp(old[i].key, (struct ckpt_bytes){ sp[j].p->key, sp[j].p->key_n });
		if (c < 0) {
			ne[nn++] = old[i++];
			continue;
		}
		if (c == 0)
			i++;
		if (sp[j].p->kind != CKPT_PUT_DELETE)
			rc = make_ent(w, sp[j].p, &ne[nn++], err);
		j++;
	}
	if (rc < 0)
		goto fail;
	w->e = ne;
	w->n = nn;
	w->cap = old_n + n + 1;
	ne = NULL;
	rc = build_tree(w, &v, err);
	if (rc < 0)
		goto fail_restore;
	v.gen = ckpt_ocdbt_wr_generation(w) + 1;
	{
		uint64_t t = now_ns(w); /* once: CKPT_MAX evaluates twice */

		v.time = CKPT_MAX(t, prev_time + 1);
	}
	{
		/* keep the old version list to restore it if the commit fails */
		struct ver *sv = malloc((w->nv ? w->nv : 1) * sizeof(*sv));
		struct vref *sr = malloc((w->nr ? w->nr : 1) * sizeof(*sr));
		size_t snv = w->nv, snr = w->nr;

		if (!sv || !sr) {
			free(sv);
			free(sr);
			rc = -ENOMEM;
			goto fail_restore;
		}
		if (w->nv)
			memcpy(sv, w->v, w->nv * sizeof(*sv));
		if (w->nr)
			memcpy(sr, w->r, w->nr * sizeof(*sr));
		rc = versions_add(w, &v, err);
		if (rc == 0)
			rc = manifest_encode(w, &man);
		if (rc == 0 && w->dfd >= 0) {
			/* TensorStore pads data files over 4 MiB to a multiple of 4096 */
			if (w->dlen > ((uint64_t)4 << 20) && w->dlen % 4096) {
				static const uint8_t zeros[4096];

				rc = data_append(w, zeros, (size_t)(4096 - w->dlen % 4096), NULL, err);
			}
			if (rc == 0)
				rc = data_flush(w, err);
			step(w, "data-written");
			if (rc == 0 && (rc = sync_fd(w, w->dfd)) < 0)
				ckpt_err_set(err, rc, "'%s': fsync: %s", w->label, ckpt_strerror(rc));
			if (rc == 0)
				rc = sync_dir(w, w->dirfd, "d");
			step(w, "data-synced");
		}
		if (rc == 0) {
			if (w->cfg.manifest_kind == 1) {
				char name[32];

				snprintf(name, sizeof(name), "manifest.%016llx", (unsigned long long)v.gen);
				rc = write_replace(w, name, &man, true, err);
			} else {
				rc = write_replace(w, "manifest.ocdbt", &man, false, err);
			}
		}
		if (rc < 0) {
			free(w->v);
			free(w->r);
			w->v = sv;
			w->r = sr;
			w->nv = w->capv = snv;
			w->nr = w->capr = snr;
			goto fail_restore;
		}
		free(sv);
		free(sr);
	}
	if (w->dfd >= 0) {
		close(w->dfd);
		w->dfd = -1;
	}
	ckpt_buf_release(&w->dbuf);
	w->have_db = true;
	free(old);
	free(sp);
	ckpt_buf_release(&man);
	return 0;
fail_restore:
	free(w->e);
	w->e = old;
	w->n = old_n;
	old = NULL;
fail:
	abort_data_file(w);
	free(ne);
	free(sp);
	ckpt_buf_release(&man);
	return rc;
}

int ckpt_ocdbt_compact(int dirfd, const char *label, const struct ckpt_limits *lim,
		       struct ckpt_err *err)
{
	struct ckpt_ocdbt_wr *w;
	struct ckpt_buf man = CKPT_BUF_INIT;
	int rc = ckpt_ocdbt_wr_open(&w, dirfd, label, NULL, NULL, lim, err);

	if (rc < 0)
		return rc;
	if (w->cfg.manifest_kind != 0 || !w->nv) {
		ckpt_ocdbt_wr_close(w);
		return w->nv ? ckpt_err_set(err, -ENOTSUP, "'%s': numbered manifests are not compacted",
					    label)
			     : 0;
	}
	w->v[0] = w->v[w->nv - 1];
	w->nv = 1;
	w->nr = 0;
	rc = manifest_encode(w, &man);
	if (rc == 0)
		rc = write_replace(w, "manifest.ocdbt", &man, false, err);
	ckpt_buf_release(&man);
	ckpt_ocdbt_wr_close(w);
	return rc;
}
