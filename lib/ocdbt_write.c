/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_write.c - OCDBT writer (tier 4); see ocdbt_write.h: open, values,
 * commit, compact; nodes in ocdbt_wr_nodes.c, the version tree and the
 * manifest in ocdbt_wr_vtree.c (ocdbt_wr_int.h).
 *
 * The whole B+tree of the new version is rebuilt from the sorted entries
 * (unchanged out-of-line values are referenced, never copied), split into
 * nodes the way TensorStore's BtreeNodeEncoder does (FORMAT-ocdbt-zarr.md
 * 8.5), and the version tree grows as TensorStore's create_new_manifest.cc
 * grows it (7.5).  With Orbax's 100 MB node limit the tree is one leaf, which
 * TensorStore rewrites on every commit as well.
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
			ckpt_ocdbt_wr_random_bytes(w->cfg.uuid, 16);
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
			rc = ckpt_ocdbt_wr_fid_intern(w, "", 0, "", 0, &nv.fid);
		else
			rc = ckpt_ocdbt_wr_fid_intern(w, f->path, f->base_len, f->path + f->base_len,
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

		rc = ckpt_ocdbt_wr_fid_intern(w, f->path, f->base_len, f->path + f->base_len,
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
		e->key.p = ckpt_ocdbt_wr_arena_copy(w, v->key.p, v->key.n);
		e->key.n = v->key.n;
		e->len = v->len;
		if (!e->key.p) {
			rc = -ENOMEM;
			break;
		}
		if (v->inline_p) {
			e->inl = ckpt_ocdbt_wr_arena_copy(w, v->inline_p, (size_t)v->len);
			if (!e->inl)
				rc = -ENOMEM;
		} else {
			const char *p = ckpt_ocdbt_file_path(db, v->file);
			size_t bl = ckpt_ocdbt_file_base_len(db, v->file);

			rc = ckpt_ocdbt_wr_fid_intern(w, p, bl, p + bl, strlen(p) - bl, &e->fid);
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
		snprintf(path, sizeof(path), "d/%s", ckpt_ocdbt_wr_fid_rel(w, w->dfid) + 2);
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
	out->base = e->inl ? NULL : ckpt_ocdbt_wr_fid_base(w, e->fid);
	out->rel = e->inl ? NULL : ckpt_ocdbt_wr_fid_rel(w, e->fid);
	out->off = e->off;
}

int ckpt_ocdbt_wr_value_begin(struct ckpt_ocdbt_wr *w, struct ckpt_err *err)
{
	int rc = ckpt_ocdbt_wr_data_open(w, err);

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
	return ckpt_ocdbt_wr_data_append(w, p, n, NULL, err);
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
	ref->ref_base = ckpt_ocdbt_wr_fid_base(w, w->dfid);
	ref->ref_rel = ckpt_ocdbt_wr_fid_rel(w, w->dfid);
	ref->ref_off = w->vstart;
	ref->ref_len = w->dlen - w->vstart;
	return 0;
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
	e->key.p = ckpt_ocdbt_wr_arena_copy(w, p->key, p->key_n);
	e->key.n = p->key_n;
	if (!e->key.p)
		return -ENOMEM;
	if (p->kind == CKPT_PUT_REF) {
		e->len = p->ref_len;
		e->off = p->ref_off;
		if (p->ref_len == 0) {
			e->inl = ckpt_ocdbt_wr_arena_copy(w, "", 0); /* empty values are always inline */
			return e->inl ? 0 : -ENOMEM;
		}
		return ckpt_ocdbt_wr_fid_intern(w, p->ref_base, strlen(p->ref_base), p->ref_rel, strlen(p->ref_rel),
						&e->fid);
	}
	e->len = p->value_n;
	if (p->value_n <= w->cfg.max_inline_value_bytes) {
		e->inl = ckpt_ocdbt_wr_arena_copy(w, p->value, p->value_n);
		return e->inl ? 0 : -ENOMEM;
	}
	rc = ckpt_ocdbt_wr_data_append(w, p->value, p->value_n, &e->off, err);
	e->fid = w->dfid;
	return rc;
}

/* the current entries with the puts merged in (the last of equal keys wins,
 * deletions drop), sorted by key: *out (new, n_old + n + 1 slots), *out_n */
static int merge_puts(struct ckpt_ocdbt_wr *w, const struct ckpt_ocdbt_put *puts, size_t n,
		      struct ent **out, size_t *out_n, struct ckpt_err *err)
{
	const struct ent *old = w->e;
	size_t old_n = w->n, nn = 0, i = 0, j = 0;
	struct sput *sp = malloc((n ? n : 1) * sizeof(*sp));
	struct ent *ne = malloc((old_n + n + 1) * sizeof(*ne));
	int rc = 0;

	if (!sp || !ne) {
		free(sp);
		free(ne);
		return -ENOMEM;
	}
	for (size_t k = 0; k < n; k++)
		sp[k] = (struct sput){ &puts[k], k };
	if (n > 1)
		qsort(sp, n, sizeof(*sp), sput_cmp);
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
	free(sp);
	if (rc < 0) {
		free(ne);
		return rc;
	}
	*out = ne;
	*out_n = nn;
	return 0;
}

/* the commit's data file completed and synced, then the new manifest in
 * place (the commit point) */
static int publish(struct ckpt_ocdbt_wr *w, uint64_t gen, const struct ckpt_buf *man, struct ckpt_err *err)
{
	int rc = 0;

	if (w->dfd >= 0) {
		/* TensorStore pads data files over 4 MiB to a multiple of 4096 */
		if (w->dlen > ((uint64_t)4 << 20) && w->dlen % 4096) {
			static const uint8_t zeros[4096];

			rc = ckpt_ocdbt_wr_data_append(w, zeros, (size_t)(4096 - w->dlen % 4096), NULL, err);
		}
		if (rc == 0)
			rc = ckpt_ocdbt_wr_data_flush(w, err);
		step(w, "data-written");
		if (rc == 0 && (rc = sync_fd(w, w->dfd)) < 0)
			ckpt_err_set(err, rc, "'%s': fsync: %s", w->label, ckpt_strerror(rc));
		if (rc == 0)
			rc = sync_dir(w, w->dirfd, "d");
		step(w, "data-synced");
	}
	if (rc < 0)
		return rc;
	if (w->cfg.manifest_kind == 1) {
		char name[32];

		snprintf(name, sizeof(name), "manifest.%016llx", (unsigned long long)gen);
		return write_replace(w, name, man, true, err);
	}
	return write_replace(w, "manifest.ocdbt", man, false, err);
}

int ckpt_ocdbt_wr_commit(struct ckpt_ocdbt_wr *w, const struct ckpt_ocdbt_put *puts, size_t n,
			 struct ckpt_err *err)
{
	struct ent *ne = NULL, *old = w->e;
	size_t nn = 0, old_n = w->n;
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
	rc = merge_puts(w, puts, n, &ne, &nn, err);
	if (rc < 0)
		goto fail;
	w->e = ne;
	w->n = nn;
	w->cap = old_n + n + 1;
	ne = NULL;
	rc = ckpt_ocdbt_wr_build_tree(w, &v, err);
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
		rc = ckpt_ocdbt_wr_versions_add(w, &v, err);
		if (rc == 0)
			rc = ckpt_ocdbt_wr_manifest_encode(w, &man);
		if (rc == 0)
			rc = publish(w, v.gen, &man, err);
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
	rc = ckpt_ocdbt_wr_manifest_encode(w, &man);
	if (rc == 0)
		rc = write_replace(w, "manifest.ocdbt", &man, false, err);
	ckpt_buf_release(&man);
	ckpt_ocdbt_wr_close(w);
	return rc;
}
