/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edit_data.c - the array data of an edit (tier 5): OCDBT commits A (new
 * chunks, new keys of moved arrays) and B (the keys of removed and moved
 * arrays deleted), and for directory items new array directories (hard
 * links to unchanged chunk files, new files for changed chunks) swapped in
 * by rename, the old ones moved to the history.  Called by edit_commit.c.
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

/* the chunk source of a written array leaf: its array as it is, with the
 * dirty extents laid over it; l->spec is the array's (ckpt_edit_write took
 * it, codec included, so the new chunks keep the array's encoding) */
static int dirty_chunks(struct ckpt_item *it, const struct eleaf *l, struct merged *m,
			struct ckpt_chunk_src *cs, struct ckpt_err *err)
{
	struct ckpt_leaf *leaf;
	int rc = ckpt_item_leaf(it, l->node, &leaf, err);

	if (rc < 0)
		return rc;
	*m = (struct merged){ leaf->arr, l->dirty, l->n_dirty, l->src, l->ctx };
	*cs = (struct ckpt_chunk_src){ &l->spec, merged_read, m, (uint64_t)64 << 20, false };
	return 0;
}

static bool param_live(const struct ckpt_edit *e, const char *p, char **params)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->l[i].kind == E_ARRAY && !eleaf_inline(&e->l[i]) && params[i] && !strcmp(params[i], p))
			return true;
	return false;
}

int ckpt_edit_ocdbt_data(struct ckpt_edit *e, char **params, struct ckpt_ocdbt_wr *w, bool phase_b,
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
				struct merged m;
				struct ckpt_chunk_src cs;
				uint64_t grid[CKPT_MAX_RANK], n;

				rc = dirty_chunks(it, l, &m, &cs, err);
				if (rc < 0)
					break;
				n = ckpt_spec_grid(&l->spec, grid);
				for (uint64_t c = 0; c < n && rc == 0; c++) {
					uint64_t ci[CKPT_MAX_RANK];

					ckpt_spec_coords(&l->spec, c, ci);
					if (chunk_touched(&l->spec, ci, l->dirty, l->n_dirty))
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
int ckpt_edit_dir_data(struct ckpt_edit *e, char **params, uint64_t ver, struct ckpt_err *err)
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
				struct merged m;
				struct ckpt_chunk_src cs;
				uint64_t grid[CKPT_MAX_RANK], n = 0;

				rc = dirty_chunks(it, l, &m, &cs, err);
				if (rc == 0)
					n = ckpt_spec_grid(&l->spec, grid);
				for (uint64_t c = 0; c < n && rc == 0; c++) {
					uint64_t ci[CKPT_MAX_RANK];
					char *rel;

					ckpt_spec_coords(&l->spec, c, ci);
					if (!chunk_touched(&l->spec, ci, l->dirty, l->n_dirty))
						continue;
					rel = ckpt_spec_chunk_key(&l->spec, tmp, ci);
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
int ckpt_edit_dir_cleanup(struct ckpt_edit *e, char **params, uint64_t ver)
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
