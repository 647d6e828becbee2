/* SPDX-License-Identifier: Apache-2.0 */
/* chunkio.c - stored chunks from a source of decoded bytes (tier 5); see chunkio.h. */
#define _GNU_SOURCE
#include "chunkio.h"

#include "fsutil.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIECE (4u << 20)

/* ---------------------------------------------------------------- put lists */

int ckpt_putlist_add(struct ckpt_putlist *pl, char *key, struct ckpt_ocdbt_put put, uint8_t *val)
{
	if (pl->n == pl->cap) {
		size_t nc = pl->cap ? pl->cap * 2 : 16;
		void *a = realloc(pl->p, nc * sizeof(*pl->p)), *b, *c;

		if (a)
			pl->p = a;
		b = realloc(pl->keys, nc * sizeof(*pl->keys));
		if (b)
			pl->keys = b;
		c = realloc(pl->vals, nc * sizeof(*pl->vals));
		if (c)
			pl->vals = c;
		if (!a || !b || !c) {
			free(key);
			free(val);
			return -ENOMEM;
		}
		pl->cap = nc;
	}
	put.key = key;
	put.key_n = strlen(key);
	pl->p[pl->n] = put;
	pl->keys[pl->n] = key;
	pl->vals[pl->n] = val;
	pl->n++;
	return 0;
}

void ckpt_putlist_clear(struct ckpt_putlist *pl)
{
	for (size_t i = 0; i < pl->n; i++) {
		free(pl->keys[i]);
		free(pl->vals[i]);
	}
	pl->n = 0;
}

void ckpt_putlist_release(struct ckpt_putlist *pl)
{
	ckpt_putlist_clear(pl);
	free(pl->p);
	free(pl->keys);
	free(pl->vals);
	memset(pl, 0, sizeof(*pl));
}

/* ---------------------------------------------------------------- geometry */

static uint64_t prod(const uint64_t *v, uint32_t n)
{
	uint64_t p = 1;

	for (uint32_t i = 0; i < n; i++)
		p *= v[i];
	return p;
}

uint64_t ckpt_spec_grid(const struct ckpt_zarr_spec *s, uint64_t *grid)
{
	uint64_t n = 1;

	for (uint32_t k = 0; k < s->rank; k++) {
		grid[k] = (s->shape[k] + s->chunk[k] - 1) / s->chunk[k];
		n *= grid[k];
	}
	return n;
}

void ckpt_spec_coords(const struct ckpt_zarr_spec *s, uint64_t lin, uint64_t *ci)
{
	uint64_t grid[CKPT_MAX_RANK];

	ckpt_spec_grid(s, grid);
	for (uint32_t k = s->rank; k-- > 0;) {
		ci[k] = lin % grid[k];
		lin /= grid[k];
	}
}

char *ckpt_spec_chunk_key(const struct ckpt_zarr_spec *s, const char *param, const uint64_t *ci)
{
	struct ckpt_zarr_meta m;
	char key[1024];
	char *out;

	memset(&m, 0, sizeof(m));
	m.rank = s->rank;
	m.key_c_prefix = s->format == 3;
	m.sep = s->format == 3 ? '/' : '.';
	ckpt_zarr_chunk_key(&m, ci, key, sizeof(key));
	if (asprintf(&out, "%s%s%s", param, param[0] ? "/" : "", key) < 0)
		return NULL;
	return out;
}

char *ckpt_spec_meta_key(const struct ckpt_zarr_spec *s, const char *param)
{
	char *out;

	if (asprintf(&out, "%s%s%s", param, param[0] ? "/" : "",
		     s->format == 3 ? "zarr.json" : ".zarray") < 0)
		return NULL;
	return out;
}

/* ---------------------------------------------------------------- producing bytes */

static int read_source(const struct ckpt_chunk_src *c, uint64_t off, uint8_t *buf, uint64_t n,
		       struct ckpt_err *err)
{
	while (n > 0) {
		size_t take = (size_t)CKPT_MIN(n, (uint64_t)PIECE);
		int rc = c->src(c->ctx, off, buf, take, err);

		if (rc < 0)
			return rc;
		off += take;
		buf += take;
		n -= take;
	}
	return 0;
}

/* gathers the chunk at grid index ci into buf (chunk bytes, zero padded) */
static int gather(const struct ckpt_chunk_src *c, const uint64_t *ci, uint8_t *buf,
		  struct ckpt_err *err)
{
	const struct ckpt_zarr_spec *s = c->spec;
	const uint32_t r = s->rank;
	const uint64_t isz = s->dtype.itemsize;
	uint64_t ext[CKPT_MAX_RANK], ctr[CKPT_MAX_RANK] = { 0 }, sstride[CKPT_MAX_RANK],
		 cstride[CKPT_MAX_RANK];

	memset(buf, 0, (size_t)(prod(s->chunk, r) * isz));
	if (r == 0)
		return read_source(c, 0, buf, isz, err);
	sstride[r - 1] = cstride[r - 1] = isz;
	for (uint32_t k = r - 1; k > 0; k--) {
		sstride[k - 1] = sstride[k] * s->shape[k];
		cstride[k - 1] = cstride[k] * s->chunk[k];
	}
	for (uint32_t k = 0; k < r; k++)
		ext[k] = CKPT_MIN(s->chunk[k], s->shape[k] - ci[k] * s->chunk[k]);
	for (;;) {
		uint64_t soff = 0, coff = 0;
		int rc;

		for (uint32_t k = 0; k < r; k++) {
			uint64_t v = k < r - 1 ? ctr[k] : 0;

			soff += (ci[k] * s->chunk[k] + v) * sstride[k];
			coff += v * cstride[k];
		}
		rc = read_source(c, soff, buf + coff, ext[r - 1] * isz, err);
		if (rc < 0)
			return rc;
		{
			int k = (int)r - 2;

			while (k >= 0 && ++ctr[k] == ext[k]) {
				ctr[k] = 0;
				k--;
			}
			if (k < 0)
				return 0;
		}
	}
}

/* a chunk whose valid bytes are one range of the source (full trailing dims) */
static bool contiguous(const struct ckpt_zarr_spec *s)
{
	for (uint32_t k = 1; k < s->rank; k++)
		if (s->chunk[k] != s->shape[k])
			return false;
	return true;
}

struct emit {
	struct ckpt_ocdbt_wr *w;
	int fd;
	struct ckpt_err *err;
};

static int emit_sink(void *payload, const void *p, size_t n)
{
	struct emit *e = payload;

	if (e->w)
		return ckpt_ocdbt_wr_value_write(e->w, p, n, e->err);
	return ckpt_write_full(e->fd, p, n);
}

static int stream_chunk(const struct ckpt_chunk_src *c, const uint64_t *ci, struct emit *e,
			uint64_t *total, struct ckpt_err *err)
{
	const struct ckpt_zarr_spec *s = c->spec;
	uint64_t isz = s->dtype.itemsize, row = prod(s->shape + 1, s->rank ? s->rank - 1 : 0) * isz;
	uint64_t valid = (s->rank ? CKPT_MIN(s->chunk[0], s->shape[0] - ci[0] * s->chunk[0]) : 1) * row;
	uint64_t chunk_bytes = prod(s->chunk, s->rank) * isz;
	uint64_t start = (s->rank ? ci[0] * s->chunk[0] : 0) * row;
	struct ckpt_chunk_stream *cs;
	uint8_t *buf = malloc(PIECE);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = ckpt_chunk_stream_new(&cs, s, chunk_bytes, emit_sink, e);
	for (uint64_t o = 0; rc == 0 && o < chunk_bytes;) {
		size_t take = (size_t)CKPT_MIN((uint64_t)PIECE, chunk_bytes - o);

		if (o + take <= valid) {
			rc = read_source(c, start + o, buf, take, err);
		} else {
			size_t have = o < valid ? (size_t)(valid - o) : 0;

			rc = have ? read_source(c, start + o, buf, have, err) : 0;
			memset(buf + have, 0, take - have); /* padding of the edge chunk */
		}
		if (rc == 0)
			rc = ckpt_chunk_stream_write(cs, buf, take);
		o += take;
	}
	if (rc == 0)
		rc = ckpt_chunk_stream_end(cs, total);
	ckpt_chunk_stream_free(cs);
	free(buf);
	return rc;
}

static bool streams(const struct ckpt_chunk_src *c)
{
	/* the table's codecs other than zstd encode whole chunks only */
	return prod(c->spec->chunk, c->spec->rank) * c->spec->dtype.itemsize > c->stream_threshold &&
	       contiguous(c->spec) && !ckpt_zarr_spec_own_codec(c->spec);
}

/* the whole encoded chunk in memory (new) */
static int encode_chunk(const struct ckpt_chunk_src *c, const uint64_t *ci, uint8_t **enc,
			size_t *en, struct ckpt_err *err)
{
	uint64_t chunk_bytes = prod(c->spec->chunk, c->spec->rank) * c->spec->dtype.itemsize;
	uint8_t *buf = malloc(chunk_bytes ? (size_t)chunk_bytes : 1);
	int rc;

	*enc = NULL;
	if (!buf)
		return -ENOMEM;
	rc = gather(c, ci, buf, err);
	if (rc == 0)
		rc = ckpt_zarr_chunk_encode(c->spec, buf, (size_t)chunk_bytes, enc, en);
	free(buf);
	return rc;
}

int ckpt_chunk_to_ocdbt(const struct ckpt_chunk_src *c, const uint64_t *ci, const char *param,
			struct ckpt_ocdbt_wr *w, struct ckpt_putlist *pl, struct ckpt_err *err)
{
	char *key = ckpt_spec_chunk_key(c->spec, param, ci);
	struct ckpt_ocdbt_put ref;
	uint8_t *enc = NULL;
	size_t en;
	int rc;

	if (!key)
		return -ENOMEM;
	if (streams(c)) {
		struct emit e = { w, -1, err };
		uint64_t total;

		rc = ckpt_ocdbt_wr_value_begin(w, err);
		if (rc == 0)
			rc = stream_chunk(c, ci, &e, &total, err);
		if (rc == 0)
			rc = ckpt_ocdbt_wr_value_end(w, &ref, err);
		if (rc < 0) {
			free(key);
			return rc;
		}
		return ckpt_putlist_add(pl, key, ref, NULL);
	}
	rc = encode_chunk(c, ci, &enc, &en, err);
	if (rc < 0) {
		free(key);
		return rc;
	}
	if (en <= ckpt_ocdbt_wr_config(w)->max_inline_value_bytes)
		return ckpt_putlist_add(pl, key,
					(struct ckpt_ocdbt_put){ CKPT_PUT_VALUE, NULL, 0, enc, en, NULL, NULL,
								 0, 0 },
					enc);
	/* out of line: to the data file now, not held in memory until the commit */
	rc = ckpt_ocdbt_wr_value_begin(w, err);
	if (rc == 0)
		rc = ckpt_ocdbt_wr_value_write(w, enc, en, err);
	if (rc == 0)
		rc = ckpt_ocdbt_wr_value_end(w, &ref, err);
	free(enc);
	if (rc < 0) {
		free(key);
		return rc;
	}
	return ckpt_putlist_add(pl, key, ref, NULL);
}

int ckpt_mkdirs_beneath(int dirfd, const char *rel)
{
	char *p = strdup(rel);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (mkdirat(dirfd, p, 0755) < 0 && errno != EEXIST)
			rc = -errno;
		*s = '/';
		if (rc < 0)
			break;
	}
	free(p);
	return rc;
}

int ckpt_write_file_at(bool no_fsync, int dirfd, const char *label, const char *rel, const void *p,
		       size_t n, struct ckpt_err *err)
{
	int fd, rc;

	if (!ckpt_path_is_clean(rel, strlen(rel)))
		return ckpt_err_set(err, -EINVAL, "'%s': '%s' is not a clean relative path", label, rel);
	if ((rc = ckpt_mkdirs_beneath(dirfd, rel)) < 0)
		return ckpt_err_set(err, rc, "'%s/%s': cannot create directories: %s", label, rel,
				    ckpt_strerror(rc));
	fd = ckpt_open_beneath(dirfd, rel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return ckpt_err_set(err, fd, "'%s/%s': cannot create: %s", label, rel, ckpt_strerror(fd));
	rc = ckpt_write_full(fd, p, n);
	if (rc == 0 && !no_fsync && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc < 0)
		return ckpt_err_set(err, rc, "'%s/%s': cannot write: %s", label, rel, ckpt_strerror(rc));
	return 0;
}

int ckpt_chunk_to_file(const struct ckpt_chunk_src *c, const uint64_t *ci, int dirfd,
		       const char *label, const char *rel, struct ckpt_err *err)
{
	int rc, fd;

	if (!streams(c)) {
		uint8_t *enc = NULL;
		size_t en;

		rc = encode_chunk(c, ci, &enc, &en, err);
		if (rc == 0)
			rc = ckpt_write_file_at(c->no_fsync, dirfd, label, rel, enc, en, err);
		free(enc);
		return rc;
	}
	rc = ckpt_mkdirs_beneath(dirfd, rel);
	fd = rc ? rc : ckpt_open_beneath(dirfd, rel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return ckpt_err_set(err, fd, "'%s/%s': cannot create: %s", label, rel, ckpt_strerror(fd));
	{
		struct emit e = { NULL, fd, err };
		uint64_t total;

		rc = stream_chunk(c, ci, &e, &total, err);
		if (rc == 0 && !c->no_fsync && fsync(fd) < 0)
			rc = -errno;
	}
	close(fd);
	if (rc < 0)
		ckpt_err_prefix(err, "'%s/%s': ", label, rel);
	return rc;
}
