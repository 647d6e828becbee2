/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_wr_vtree.c - the OCDBT writer's version tree, grown as TensorStore's
 * create_new_manifest.cc grows it (FORMAT-ocdbt-zarr.md 7.5), and the
 * manifest's encoding (tier 4).  See ocdbt_wr_int.h.
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

/* a data file's index in an object's table */
static uint32_t tix(const struct table *t, uint32_t fid)
{
	return ckpt_ocdbt_wr_table_index(t, fid);
}

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
	rc = ckpt_ocdbt_wr_table_build(w, f, n, &t);
	free(f);
	if (rc < 0)
		return rc;
	ckpt_buf_addc(&b, w->cfg.version_tree_arity_log2);
	ckpt_buf_addc(&b, height);
	ckpt_ocdbt_wr_table_encode(w, &t, &b);
	if (height == 0) {
		struct ckpt_ocdbt_version *v = calloc(n, sizeof(*v));

		if (!v) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			v[i] = (struct ckpt_ocdbt_version){ vs[i].gen, vs[i].height,
				{ tix(&t, vs[i].fid), vs[i].off, vs[i].len }, vs[i].st, vs[i].time };
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
			r[i] = (struct ckpt_ocdbt_vref){ rs[i].gen, { tix(&t, rs[i].fid), rs[i].off,
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
	rc = ckpt_ocdbt_wr_place(w, CKPT_OCDBT_MAGIC_VERSION, &b, &out->off, &out->len, err);
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
	snprintf(path, sizeof(path), "%s%s", ckpt_ocdbt_wr_fid_base(w, r->fid), ckpt_ocdbt_wr_fid_rel(w, r->fid));
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
		rc = ckpt_ocdbt_vnode_parse(&vn, body, body_n, ckpt_ocdbt_wr_fid_base(w, r->fid),
					    strlen(ckpt_ocdbt_wr_fid_base(w, r->fid)), err);
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
		rc = ckpt_ocdbt_wr_fid_intern(w, f->path, f->base_len, f->path + f->base_len,
					      strlen(f->path) - f->base_len, &(*out)[i].fid);
	}
	*n = vn.n;
	ckpt_ocdbt_vnode_release(&vn);
	if (!*out)
		return -ENOMEM;
	return rc;
}

/* Adds version nv, growing the version tree (FORMAT-ocdbt-zarr.md 7.5). */
int ckpt_ocdbt_wr_versions_add(struct ckpt_ocdbt_wr *w, const struct ver *nv, struct ckpt_err *err)
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

int ckpt_ocdbt_wr_manifest_encode(struct ckpt_ocdbt_wr *w, struct ckpt_buf *out)
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
	if ((rc = ckpt_ocdbt_wr_table_build(w, f, n, &t)) < 0)
		goto out;
	cfg.manifest_kind = 0; /* a numbered database's manifests say single */
	ckpt_ocdbt_config_encode(&cfg, &b);
	ckpt_ocdbt_wr_table_encode(w, &t, &b);
	for (size_t i = 0; i < w->nv; i++)
		v[i] = (struct ckpt_ocdbt_version){ w->v[i].gen, w->v[i].height,
			{ tix(&t, w->v[i].fid), w->v[i].off, w->v[i].len }, w->v[i].st, w->v[i].time };
	ckpt_ocdbt_versions_encode(v, w->nv, &b);
	for (size_t i = 0; i < w->nr; i++)
		r[i] = (struct ckpt_ocdbt_vref){ w->r[i].gen, { tix(&t, w->r[i].fid), w->r[i].off,
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
