/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writer.c - Orbax checkpoints (tier 5); see writer.h.
 *
 * Order of work in a pytree item, as Orbax does it (FORMAT-orbax-layout.md
 * 2.x, FORMAT-ocdbt-zarr.md 11): every array's zarr metadata is committed to
 * ocdbt.process_0 (one commit each), then every array's chunks (one commit
 * per array and process), then the merged top-level database (one commit
 * that copies inline values and refers to the per-process data files), then
 * _METADATA, _sharding, array_metadatas/process_0, _strings.json and
 * commit_success.txt.
 */
#define _GNU_SOURCE
#include "writer.h"

#include "buf.h"
#include "commit.h"
#include "chunkio.h"
#include "fsutil.h"
#include "util.h"
#include "zarr_write.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TARGET_FILE_BYTES ((uint64_t)2 << 30)

static const char *const H_STANDARD =
	"orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler";
static const char *const H_PYTREE =
	"orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler";
static const char *const H_JSON =
	"orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler";

void ckpt_wopts_default(struct ckpt_wopts *o)
{
	memset(o, 0, sizeof(*o));
	o->ocdbt = true;
	o->compress = true;
	o->processes = 1;
	o->stream_threshold = (uint64_t)64 << 20;
}

enum leaf_kind { L_ARRAY, L_STRING, L_EMPTY };

struct leaf {
	struct ckpt_key *path;
	size_t depth;
	char *param;
	enum leaf_kind kind;
	char *value_type;
	struct ckpt_zarr_spec spec;
	ckpt_source_fn src;
	void *ctx;
	char *str;
	size_t str_n;
};

struct ckpt_pytree_writer {
	struct ckpt_step_writer *sw;
	int fd;
	char *label;
	char *item;
	struct ckpt_wopts o;
	struct ckpt_limits lim;
	struct leaf *l;
	size_t n, cap;
	bool finished;
};

struct ckpt_step_writer {
	char *root, *step, *tmp, *final;
	int rootfd, fd;
	struct ckpt_wopts o;
	struct ckpt_limits lim;
	uint64_t init_ns;
	struct ckpt_pytree_writer **pw;
	size_t npw;
	char **items, **handlers;
	size_t nitems;
	bool direct, committed;
};

/* ---------------------------------------------------------------- Python's formats */

static uint32_t utf8_next(const uint8_t *s, size_t n, size_t *i)
{
	uint8_t c = s[*i];
	uint32_t cp;
	int len;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
	if (!len || *i + (size_t)len > n) {
		(*i)++;
		return 0xDC00 | c; /* not UTF-8: Python's surrogateescape */
	}
	cp = c & (0x7f >> len);
	for (int k = 1; k < len; k++)
		cp = cp << 6 | (s[*i + (size_t)k] & 0x3f);
	*i += (size_t)len;
	return cp;
}

static bool py_printable(uint32_t cp)
{
	/* str.isprintable(): not Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs other than ' '
	 * (the common cases; exotic unassigned code points print literally) */
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad)
		return false;
	if ((cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
	    (cp >= 0x205f && cp <= 0x2064) || cp == 0x3000 || cp == 0xfeff || cp == 0x1680 ||
	    (cp >= 0xd800 && cp <= 0xf8ff) || cp == 0x061c || cp == 0x180e || cp > 0x10ffff ||
	    (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0xf0000))
		return false;
	return true;
}

static void py_repr_str(struct ckpt_buf *b, const char *s, size_t n)
{
	bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
	char q = sq && !dq ? '"' : '\'';
	size_t i = 0;

	ckpt_buf_addc(b, (uint8_t)q);
	while (i < n) {
		size_t start = i;
		uint32_t cp = utf8_next((const uint8_t *)s, n, &i);

		if (cp == (uint32_t)q || cp == '\\') {
			ckpt_buf_addc(b, '\\');
			ckpt_buf_addc(b, (uint8_t)cp);
		} else if (cp == '\n') {
			ckpt_buf_adds(b, "\\n");
		} else if (cp == '\r') {
			ckpt_buf_adds(b, "\\r");
		} else if (cp == '\t') {
			ckpt_buf_adds(b, "\\t");
		} else if (py_printable(cp)) {
			ckpt_buf_add(b, s + start, i - start);
		} else if (cp < 0x100) {
			ckpt_buf_printf(b, "\\x%02x", cp);
		} else if (cp < 0x10000) {
			ckpt_buf_printf(b, "\\u%04x", cp);
		} else {
			ckpt_buf_printf(b, "\\U%08x", cp);
		}
	}
	ckpt_buf_addc(b, (uint8_t)q);
}

char *ckpt_py_tuple_repr(const struct ckpt_key *path, size_t depth)
{
	struct ckpt_buf b = CKPT_BUF_INIT;

	ckpt_buf_addc(&b, '(');
	for (size_t i = 0; i < depth; i++) {
		if (i)
			ckpt_buf_adds(&b, ", ");
		py_repr_str(&b, path[i].s, path[i].n);
	}
	if (depth == 1)
		ckpt_buf_addc(&b, ',');
	ckpt_buf_addc(&b, ')');
	if (ckpt_buf_finish(&b) < 0) {
		ckpt_buf_release(&b);
		return NULL;
	}
	return (char *)ckpt_buf_detach(&b, NULL);
}

char *ckpt_py_json_dumps(const json_t *j)
{
	char *s = json_dumps(j, JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);

	/* Python writes \u escapes in lower case */
	for (char *p = s; p && *p; p++) {
		if (*p != '\\')
			continue;
		p++;
		if (*p == 'u')
			for (int k = 1; k <= 4 && p[k]; k++)
				if (p[k] >= 'A' && p[k] <= 'F')
					p[k] = (char)(p[k] - 'A' + 'a');
	}
	return s;
}

/* ---------------------------------------------------------------- files */

static uint64_t now(const struct ckpt_wopts *o)
{
	struct timespec ts;

	if (o->hooks.now_ns)
		return o->hooks.now_ns(o->hooks.ctx);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int sync_dirfd(const struct ckpt_wopts *o, int fd)
{
	return o->no_fsync || fsync(fd) == 0 ? 0 : -errno;
}

static int write_file(const struct ckpt_wopts *o, int dirfd, const char *label, const char *rel,
		      const void *p, size_t n, struct ckpt_err *err)
{
	return ckpt_write_file_at(o->no_fsync, dirfd, label, rel, p, n, err);
}

static int write_json(const struct ckpt_wopts *o, int dirfd, const char *label, const char *rel,
		      json_t *j, bool compact, struct ckpt_err *err)
{
	char *s = compact ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : ckpt_py_json_dumps(j);
	int rc;

	json_decref(j);
	if (!s)
		return -ENOMEM;
	rc = write_file(o, dirfd, label, rel, s, strlen(s), err);
	free(s);
	return rc;
}

/* ---------------------------------------------------------------- pytree leaves */

static int add_leaf(struct ckpt_pytree_writer *pw, const struct ckpt_key *path, size_t depth,
		    struct leaf **out)
{
	struct leaf *l;
	struct ckpt_buf param = CKPT_BUF_INIT;

	if (pw->finished)
		return -EINVAL;
	if (ckpt_grow((void **)&pw->l, &pw->cap, pw->n + 1, sizeof(*pw->l)) < 0)
		return -ENOMEM;
	l = &pw->l[pw->n];
	memset(l, 0, sizeof(*l));
	l->path = calloc(depth ? depth : 1, sizeof(*l->path));
	if (!l->path)
		return -ENOMEM;
	for (size_t i = 0; i < depth; i++) {
		char *s = ckpt_strndup(path[i].s, path[i].n);

		if (!s)
			return -ENOMEM;
		l->path[i] = (struct ckpt_key){ s, path[i].n, path[i].type };
		l->depth = i + 1;
		if (i)
			ckpt_buf_addc(&param, '.');
		ckpt_buf_add(&param, path[i].s, path[i].n);
	}
	ckpt_buf_add(&param, "", 0);
	if (ckpt_buf_finish(&param) < 0)
		return -ENOMEM;
	l->param = (char *)ckpt_buf_detach(&param, NULL);
	pw->n++;
	*out = l;
	return 0;
}

int ckpt_pw_array(struct ckpt_pytree_writer *pw, const struct ckpt_key *path, size_t depth,
		  const char *value_type, const struct ckpt_dtype *dt, uint32_t rank,
		  const uint64_t *shape, ckpt_source_fn src, void *ctx, struct ckpt_err *err)
{
	struct leaf *l;
	uint64_t nbytes = dt->itemsize, limit;
	int rc;

	if (rank > CKPT_MAX_RANK)
		return ckpt_err_set(err, -EINVAL, "rank %u is more than %d", rank, CKPT_MAX_RANK);
	for (uint32_t i = 0; i < rank; i++) {
		if (!shape[i])
			return ckpt_err_set(err, -EINVAL,
					    "arrays with a zero-sized dimension cannot be saved (as in Orbax)");
		if (ckpt_mul_overflow(nbytes, shape[i], &nbytes))
			return ckpt_err_set(err, -EFBIG, "array size overflows 64 bits");
	}
	if ((rc = add_leaf(pw, path, depth, &l)) < 0)
		return rc;
	l->kind = L_ARRAY;
	l->value_type = strdup(value_type);
	l->src = src;
	l->ctx = ctx;
	l->spec.format = pw->o.zarr3 ? 3 : 2;
	l->spec.dtype = *dt;
	l->spec.dtype.big_endian = false;
	l->spec.rank = rank;
	l->spec.compress = pw->o.compress;
	l->spec.zstd_unsized = pw->o.zstd_unsized;
	memcpy(l->spec.shape, shape, rank * sizeof(*shape));
	/* Orbax: one chunk per write shard, capped at the target data file size */
	limit = pw->o.chunk_bytes;
	if (!limit && nbytes > TARGET_FILE_BYTES)
		limit = TARGET_FILE_BYTES;
	if (pw->o.chunk_bytes && pw->o.chunk_bytes > TARGET_FILE_BYTES)
		limit = TARGET_FILE_BYTES;
	ckpt_zarr_choose_chunks(shape, rank, dt->itemsize, limit, l->spec.chunk);
	return l->value_type ? 0 : -ENOMEM;
}

int ckpt_pw_string(struct ckpt_pytree_writer *pw, const struct ckpt_key *path, size_t depth,
		   const char *s, size_t n, struct ckpt_err *err)
{
	struct leaf *l;
	int rc;

	(void)err;
	if ((rc = add_leaf(pw, path, depth, &l)) < 0)
		return rc;
	l->kind = L_STRING;
	l->value_type = strdup("string");
	l->str = ckpt_strndup(s, n);
	l->str_n = n;
	return l->value_type && l->str ? 0 : -ENOMEM;
}

int ckpt_pw_empty(struct ckpt_pytree_writer *pw, const struct ckpt_key *path, size_t depth,
		  const char *value_type, struct ckpt_err *err)
{
	struct leaf *l;
	int rc;

	(void)err;
	if ((rc = add_leaf(pw, path, depth, &l)) < 0)
		return rc;
	l->kind = L_EMPTY;
	l->value_type = strdup(value_type);
	return l->value_type ? 0 : -ENOMEM;
}

/* ---------------------------------------------------------------- OCDBT items */

static struct ckpt_chunk_src chunk_src(const struct ckpt_pytree_writer *pw, const struct leaf *l)
{
	return (struct ckpt_chunk_src){ &l->spec, l->src, l->ctx, pw->o.stream_threshold, pw->o.no_fsync };
}

static int write_ocdbt(struct ckpt_pytree_writer *pw, struct ckpt_err *err)
{
	unsigned P = pw->o.processes ? pw->o.processes : 1;
	struct ckpt_ocdbt_wr **w = calloc(P, sizeof(*w)), *top = NULL;
	struct ckpt_putlist pl = { 0 };
	char **bases = calloc(P, sizeof(*bases));
	unsigned per = pw->o.arrays_per_commit ? pw->o.arrays_per_commit : 1, batched = 0;
	int rc = 0;

	pw->o.hooks.no_fsync = pw->o.hooks.no_fsync || pw->o.no_fsync;
	if (!w || !bases) {
		free(w);
		free(bases);
		return -ENOMEM;
	}
	for (unsigned p = 0; p < P && rc == 0; p++) {
		char name[64], *label;
		int fd;

		snprintf(name, sizeof(name), "ocdbt.process_%u", p);
		if (asprintf(&bases[p], "%s/", name) < 0 || asprintf(&label, "%s/%s", pw->label, name) < 0) {
			rc = -ENOMEM;
			break;
		}
		if (mkdirat(pw->fd, name, 0755) < 0 && errno != EEXIST)
			rc = ckpt_err_set(err, -errno, "'%s': cannot create: %s", label,
					  ckpt_strerror(-errno));
		fd = rc ? -1 : openat(pw->fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rc == 0 && fd < 0)
			rc = -errno;
		if (rc == 0)
			rc = ckpt_ocdbt_wr_open(&w[p], fd, label, pw->o.ocdbt_cfg, &pw->o.hooks, &pw->lim,
						err);
		if (fd >= 0)
			close(fd);
		free(label);
	}
	/* zarr metadata: process 0, one commit per array */
	for (size_t i = 0; i < pw->n && rc == 0; i++) {
		const struct leaf *l = &pw->l[i];
		char *json, *key;
		size_t jn;

		if (l->kind != L_ARRAY)
			continue;
		rc = ckpt_zarr_meta_json(&l->spec, &json, &jn);
		if (rc < 0)
			break;
		key = ckpt_spec_meta_key(&l->spec, l->param);
		if (!key) {
			free(json);
			rc = -ENOMEM;
			break;
		}
		rc = ckpt_putlist_add(&pl, key,
				      (struct ckpt_ocdbt_put){ CKPT_PUT_VALUE, NULL, 0, json, jn, NULL, NULL,
							       0, 0 },
				      (uint8_t *)json);
		if (rc == 0 && (++batched >= per || i + 1 == pw->n)) {
			rc = ckpt_ocdbt_wr_commit(w[0], pl.p, pl.n, err);
			ckpt_putlist_clear(&pl);
			batched = 0;
		}
	}
	if (rc == 0 && pl.n)
		rc = ckpt_ocdbt_wr_commit(w[0], pl.p, pl.n, err);
	ckpt_putlist_clear(&pl);
	batched = 0;
	/* chunks: one commit per array and process (chunks go round-robin) */
	for (unsigned p = 0; p < P && per > 1 && rc == 0; p++) {
		/* coalesced: each process's chunks of `per` arrays at a time */
		batched = 0;
		for (size_t i = 0; i < pw->n && rc == 0; i++) {
			const struct leaf *l = &pw->l[i];
			struct ckpt_chunk_src cs = chunk_src(pw, l);
			uint64_t grid[CKPT_MAX_RANK], n;

			if (l->kind != L_ARRAY)
				continue;
			n = ckpt_spec_grid(&l->spec, grid);
			for (uint64_t c = p; c < n && rc == 0; c += P) {
				uint64_t ci[CKPT_MAX_RANK];

				ckpt_spec_coords(&l->spec, c, ci);
				rc = ckpt_chunk_to_ocdbt(&cs, ci, l->param, w[p], &pl, err);
			}
			if (rc == 0 && ++batched >= per && pl.n) {
				rc = ckpt_ocdbt_wr_commit(w[p], pl.p, pl.n, err);
				ckpt_putlist_clear(&pl);
				batched = 0;
			}
		}
		if (rc == 0 && pl.n)
			rc = ckpt_ocdbt_wr_commit(w[p], pl.p, pl.n, err);
		ckpt_putlist_clear(&pl);
	}
	for (size_t i = 0; i < pw->n && per <= 1 && rc == 0; i++) {
		const struct leaf *l = &pw->l[i];
		struct ckpt_chunk_src cs = chunk_src(pw, l);
		uint64_t grid[CKPT_MAX_RANK], n;

		if (l->kind != L_ARRAY)
			continue;
		n = ckpt_spec_grid(&l->spec, grid);
		for (unsigned p = 0; p < P && rc == 0; p++) {
			for (uint64_t c = p; c < n && rc == 0; c += P) {
				uint64_t ci[CKPT_MAX_RANK];

				ckpt_spec_coords(&l->spec, c, ci);
				rc = ckpt_chunk_to_ocdbt(&cs, ci, l->param, w[p], &pl, err);
			}
			if (rc == 0 && pl.n)
				rc = ckpt_ocdbt_wr_commit(w[p], pl.p, pl.n, err);
			ckpt_putlist_clear(&pl);
		}
	}
	/* the merged top-level database */
	if (rc == 0)
		rc = ckpt_ocdbt_wr_open(&top, pw->fd, pw->label, pw->o.ocdbt_cfg, &pw->o.hooks, &pw->lim,
					err);
	for (unsigned p = 0; p < P && rc == 0; p++) {
		for (size_t i = 0; i < ckpt_ocdbt_wr_count(w[p]) && rc == 0; i++) {
			struct ckpt_ocdbt_went e;
			char *key, *base = NULL;

			ckpt_ocdbt_wr_entry(w[p], i, &e);
			key = ckpt_strndup(e.key.p, e.key.n);
			if (!key || (!e.inline_p && asprintf(&base, "%s%s", bases[p], e.base) < 0)) {
				free(key);
				rc = -ENOMEM;
				break;
			}
			if (e.inline_p)
				rc = ckpt_putlist_add(&pl, key,
						      (struct ckpt_ocdbt_put){ CKPT_PUT_VALUE, NULL, 0,
									       e.inline_p, (size_t)e.len,
									       NULL, NULL, 0, 0 },
						      NULL);
			else
				rc = ckpt_putlist_add(&pl, key,
						      (struct ckpt_ocdbt_put){ CKPT_PUT_REF, NULL, 0, NULL, 0,
									       base, e.rel, e.off, e.len },
						      (uint8_t *)base);
		}
	}
	if (rc == 0)
		rc = ckpt_ocdbt_wr_commit(top, pl.p, pl.n, err);
	ckpt_putlist_release(&pl);
	ckpt_ocdbt_wr_close(top);
	for (unsigned p = 0; p < P; p++) {
		ckpt_ocdbt_wr_close(w[p]);
		free(bases[p]);
	}
	free(w);
	free(bases);
	return rc;
}

/* ---------------------------------------------------------------- directory items */

static int write_dirs(struct ckpt_pytree_writer *pw, struct ckpt_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < pw->n && rc == 0; i++) {
		const struct leaf *l = &pw->l[i];
		struct ckpt_chunk_src cs = chunk_src(pw, l);
		uint64_t grid[CKPT_MAX_RANK], n;
		char *json, *rel;
		size_t jn;

		if (l->kind != L_ARRAY)
			continue;
		if (!l->param[0])
			return ckpt_err_set(err, -EINVAL, "'%s': a bare array needs OCDBT", pw->label);
		rc = ckpt_zarr_meta_json(&l->spec, &json, &jn);
		if (rc < 0)
			break;
		rel = ckpt_spec_meta_key(&l->spec, l->param);
		rc = rel ? write_file(&pw->o, pw->fd, pw->label, rel, json, jn, err) : -ENOMEM;
		free(rel);
		free(json);
		n = ckpt_spec_grid(&l->spec, grid);
		for (uint64_t c = 0; c < n && rc == 0; c++) {
			uint64_t ci[CKPT_MAX_RANK];
			char *key;

			ckpt_spec_coords(&l->spec, c, ci);
			key = ckpt_spec_chunk_key(&l->spec, l->param, ci);
			rc = key ? ckpt_chunk_to_file(&cs, ci, pw->fd, pw->label, key, err) : -ENOMEM;
			free(key);
		}
	}
	return rc;
}

/* ---------------------------------------------------------------- metadata files */

static int write_metadata(struct ckpt_pytree_writer *pw, struct ckpt_err *err)
{
	json_t *meta = json_object(), *tree = json_object(), *shard = json_object();
	json_t *ams = json_array(), *strings = json_object();
	size_t n_arrays = 0, n_strings = 0;
	int rc;

	for (size_t i = 0; i < pw->n; i++) {
		const struct leaf *l = &pw->l[i];
		json_t *km = json_array(), *vm = json_object(), *e = json_object();
		char *key = ckpt_py_tuple_repr(l->path, l->depth);
		bool jax = l->kind == L_ARRAY && !strcmp(l->value_type, "jax.Array");

		for (size_t k = 0; k < l->depth; k++) {
			json_t *o = json_object();

			json_object_set_new(o, "key", json_stringn(l->path[k].s, l->path[k].n));
			json_object_set_new(o, "key_type", json_integer(l->path[k].type == 1 ? 1 : 2));
			json_array_append_new(km, o);
		}
		json_object_set_new(vm, "value_type", json_string(l->value_type));
		json_object_set_new(vm, "skip_deserialize", json_boolean(l->kind == L_EMPTY));
		if (jax) {
			json_t *ws = json_array(), *am = json_object(), *wrap = json_object();
			char *b64 = NULL;
			static const char tbl[] =
				"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
			size_t pn = strlen(l->param), o = 0;

			for (uint32_t k = 0; k < l->spec.rank; k++)
				json_array_append_new(ws, json_integer((json_int_t)l->spec.shape[k]));
			json_object_set_new(vm, "write_shape", ws);
			/* _sharding key: base64url(param) with padding */
			b64 = malloc((pn + 2) / 3 * 4 + 1);
			for (size_t k = 0; b64 && k < pn; k += 3) {
				uint32_t v = (uint32_t)(uint8_t)l->param[k] << 16;

				if (k + 1 < pn)
					v |= (uint32_t)(uint8_t)l->param[k + 1] << 8;
				if (k + 2 < pn)
					v |= (uint8_t)l->param[k + 2];
				b64[o++] = tbl[v >> 18];
				b64[o++] = tbl[(v >> 12) & 63];
				b64[o++] = k + 1 < pn ? tbl[(v >> 6) & 63] : '=';
				b64[o++] = k + 2 < pn ? tbl[v & 63] : '=';
			}
			if (b64) {
				b64[o] = 0;
				json_object_set_new(shard, b64,
						    json_string("{\"sharding_type\": \"SingleDeviceSharding\", "
								"\"device_str\": \"cpu:0\"}"));
				free(b64);
			}
			json_object_set_new(am, "param_name", json_string(l->param));
			json_object_set_new(am, "write_shape", json_copy(ws));
			{
				json_t *cs = json_array();

				for (uint32_t k = 0; k < l->spec.rank; k++)
					json_array_append_new(cs, json_integer((json_int_t)l->spec.chunk[k]));
				json_object_set_new(am, "chunk_shape", cs);
			}
			json_object_set_new(am, "ext_metadata", json_null());
			json_object_set_new(wrap, "array_metadata", am);
			json_array_append_new(ams, wrap);
			n_arrays++;
		}
		if (l->kind == L_STRING) {
			json_object_set_new(strings, l->param, json_stringn(l->str, l->str_n));
			n_strings++;
		}
		json_object_set_new(e, "key_metadata", km);
		json_object_set_new(e, "value_metadata", vm);
		if (key)
			json_object_set_new(tree, key, e);
		else
			json_decref(e);
		free(key);
	}
	json_object_set_new(meta, "tree_metadata", tree);
	json_object_set_new(meta, "use_ocdbt", json_boolean(pw->o.ocdbt));
	json_object_set_new(meta, "use_zarr3", json_boolean(pw->o.zarr3));
	json_object_set_new(meta, "store_array_data_equal_to_fill_value", json_true());
	json_object_set_new(meta, "custom_metadata", json_null());
	rc = write_json(&pw->o, pw->fd, pw->label, "_METADATA", meta, false, err);
	if (rc == 0 && n_arrays)
		rc = write_json(&pw->o, pw->fd, pw->label, "_sharding", shard, true, err);
	else
		json_decref(shard);
	if (rc == 0 && n_arrays) {
		json_t *o = json_object();

		json_object_set_new(o, "array_metadatas", ams);
		rc = write_json(&pw->o, pw->fd, pw->label, "array_metadatas/process_0", o, false, err);
	} else {
		json_decref(ams);
	}
	if (rc == 0 && n_strings)
		rc = write_json(&pw->o, pw->fd, pw->label, "_strings.json", strings, true, err);
	else
		json_decref(strings);
	return rc;
}

int ckpt_pw_finish(struct ckpt_pytree_writer *pw, struct ckpt_err *err)
{
	char msg[4200];
	int rc;

	if (pw->finished)
		return 0;
	rc = pw->o.ocdbt ? write_ocdbt(pw, err) : write_dirs(pw, err);
	if (rc == 0)
		rc = write_metadata(pw, err);
	if (rc == 0) {
		snprintf(msg, sizeof(msg), "Checkpoint commit was successful to %s", pw->sw->final);
		rc = write_file(&pw->o, pw->fd, pw->label, "commit_success.txt", msg, strlen(msg), err);
	}
	if (rc == 0)
		rc = sync_dirfd(&pw->o, pw->fd);
	pw->finished = rc == 0;
	return rc;
}

static void pw_free(struct ckpt_pytree_writer *pw)
{
	if (!pw)
		return;
	for (size_t i = 0; i < pw->n; i++) {
		for (size_t k = 0; k < pw->l[i].depth; k++)
			free((char *)pw->l[i].path[k].s);
		free(pw->l[i].path);
		free(pw->l[i].param);
		free(pw->l[i].value_type);
		free(pw->l[i].str);
	}
	free(pw->l);
	if (pw->fd >= 0)
		close(pw->fd);
	free(pw->label);
	free(pw->item);
	free(pw);
}

/* ---------------------------------------------------------------- steps */

static int rm_rf_depth(int at, const char *name, unsigned depth)
{
	/* the tmp trees we write are a few levels deep: the depth is capped */
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return unlinkat(at, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	if (depth > 64) {
		close(fd);
		return -ELOOP;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (e->d_type == DT_DIR)
			rm_rf_depth(dirfd(d), e->d_name, depth + 1);
		else
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	return unlinkat(at, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int rm_rf_at(int at, const char *name)
{
	return rm_rf_depth(at, name, 0);
}

int ckpt_sw_begin(struct ckpt_step_writer **out, const char *root, const char *step,
		  const struct ckpt_wopts *o, const struct ckpt_limits *lim, struct ckpt_err *err)
{
	struct ckpt_step_writer *sw;
	json_t *m;
	int rc;

	*out = NULL;
	if (!*step || strchr(step, '/') || !strcmp(step, ".") || !strcmp(step, ".."))
		return ckpt_err_set(err, -EINVAL, "'%s' is not a step name", step);
	sw = calloc(1, sizeof(*sw));
	if (!sw)
		return -ENOMEM;
	sw->fd = sw->rootfd = -1;
	sw->o = *o;
	if (!sw->o.processes)
		sw->o.processes = 1;
	sw->lim = *lim;
	sw->root = strdup(root);
	sw->step = strdup(step);
	if (!sw->root || !sw->step || asprintf(&sw->tmp, "%s.orbax-checkpoint-tmp", step) < 0 ||
	    asprintf(&sw->final, "%s/%s", root, step) < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	if (mkdir(root, 0755) < 0 && errno != EEXIST) {
		rc = ckpt_err_set(err, -errno, "cannot create '%s': %s", root, ckpt_strerror(-errno));
		goto fail;
	}
	sw->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sw->rootfd < 0) {
		rc = ckpt_err_set(err, -errno, "cannot open '%s': %s", root, ckpt_strerror(-errno));
		goto fail;
	}
	if (ckpt_exists(sw->rootfd, step)) {
		rc = ckpt_err_set(err, -EEXIST, "'%s/%s' exists already", root, step);
		goto fail;
	}
	rm_rf_at(sw->rootfd, sw->tmp); /* a crashed earlier attempt */
	if (mkdirat(sw->rootfd, sw->tmp, 0755) < 0) {
		rc = ckpt_err_set(err, -errno, "cannot create '%s/%s': %s", root, sw->tmp,
				  ckpt_strerror(-errno));
		goto fail;
	}
	sw->fd = openat(sw->rootfd, sw->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sw->fd < 0) {
		rc = -errno;
		goto fail;
	}
	sw->init_ns = now(&sw->o);
	m = json_object();
	json_object_set_new(m, "init_timestamp_nsecs", json_integer((json_int_t)sw->init_ns));
	rc = write_json(&sw->o, sw->fd, sw->tmp, "_CHECKPOINT_METADATA", m, false, err);
	if (rc < 0)
		goto fail;
	*out = sw;
	return 0;
fail:
	ckpt_sw_free(sw);
	return rc;
}

const char *ckpt_sw_path(const struct ckpt_step_writer *sw)
{
	return sw->final;
}

static int add_item(struct ckpt_step_writer *sw, const char *item, const char *handler)
{
	char **a = realloc(sw->items, (sw->nitems + 1) * sizeof(*a)), **b;

	if (!a)
		return -ENOMEM;
	sw->items = a;
	b = realloc(sw->handlers, (sw->nitems + 1) * sizeof(*b));
	if (!b)
		return -ENOMEM;
	sw->handlers = b;
	sw->items[sw->nitems] = strdup(item ? item : "");
	sw->handlers[sw->nitems] = strdup(handler);
	if (!sw->items[sw->nitems] || !sw->handlers[sw->nitems])
		return -ENOMEM;
	sw->nitems++;
	return 0;
}

int ckpt_sw_pytree(struct ckpt_step_writer *sw, const char *item, struct ckpt_pytree_writer **out,
		   struct ckpt_err *err)
{
	struct ckpt_pytree_writer *pw;
	struct ckpt_pytree_writer **a;
	int rc;

	*out = NULL;
	if (item && (!*item || strchr(item, '/') || item[0] == '.'))
		return ckpt_err_set(err, -EINVAL, "'%s' is not an item name", item);
	if ((!item && sw->nitems) || sw->direct)
		return ckpt_err_set(err, -EINVAL, "a direct checkpoint holds one item");
	pw = calloc(1, sizeof(*pw));
	if (!pw)
		return -ENOMEM;
	pw->fd = -1;
	pw->sw = sw;
	pw->o = sw->o;
	pw->lim = sw->lim;
	if (item) {
		if (mkdirat(sw->fd, item, 0755) < 0) {
			rc = ckpt_err_set(err, -errno, "cannot create '%s/%s/%s': %s", sw->root, sw->tmp,
					  item, ckpt_strerror(-errno));
			goto fail;
		}
		pw->fd = openat(sw->fd, item, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (asprintf(&pw->label, "%s/%s/%s", sw->root, sw->tmp, item) < 0)
			pw->label = NULL;
	} else {
		sw->direct = true;
		pw->fd = fcntl(sw->fd, F_DUPFD_CLOEXEC, 3);
		if (asprintf(&pw->label, "%s/%s", sw->root, sw->tmp) < 0)
			pw->label = NULL;
	}
	pw->item = item ? strdup(item) : NULL;
	if (pw->fd < 0 || !pw->label) {
		rc = -ENOMEM;
		goto fail;
	}
	a = realloc(sw->pw, (sw->npw + 1) * sizeof(*a));
	if (!a) {
		rc = -ENOMEM;
		goto fail;
	}
	sw->pw = a;
	sw->pw[sw->npw++] = pw;
	if ((rc = add_item(sw, item, H_STANDARD)) < 0)
		return rc;
	*out = pw;
	return 0;
fail:
	pw_free(pw);
	return rc;
}

int ckpt_sw_json(struct ckpt_step_writer *sw, const char *item, const char *json, size_t n,
		 struct ckpt_err *err)
{
	char *rel;
	int rc;

	if (!item || !*item || strchr(item, '/') || item[0] == '.' || sw->direct)
		return ckpt_err_set(err, -EINVAL, "'%s' is not an item name", item ? item : "");
	if (asprintf(&rel, "%s/metadata", item) < 0)
		return -ENOMEM;
	rc = write_file(&sw->o, sw->fd, sw->tmp, rel, json, n, err);
	free(rel);
	if (rc == 0) {
		char *msg, *cs;

		if (asprintf(&msg, "Checkpoint commit was successful to %s/%s", sw->final, item) < 0 ||
		    asprintf(&cs, "%s/commit_success.txt", item) < 0)
			return -ENOMEM;
		rc = write_file(&sw->o, sw->fd, sw->tmp, cs, msg, strlen(msg), err);
		free(msg);
		free(cs);
	}
	return rc ? rc : add_item(sw, item, H_JSON);
}

int ckpt_sw_commit(struct ckpt_step_writer *sw, json_t *custom, struct ckpt_err *err)
{
	json_t *m = json_object(), *h;
	char msg[4200];
	int rc = 0;

	for (size_t i = 0; i < sw->npw && rc == 0; i++) {
		struct ckpt_pytree_writer *pw = sw->pw[i];

		rc = ckpt_pw_finish(pw, err);
		/* StandardCheckpointHandler refuses strings: such trees are PyTree saves */
		for (size_t k = 0; rc == 0 && k < pw->n; k++)
			if (pw->l[k].kind == L_STRING)
				for (size_t j = 0; j < sw->nitems; j++)
					if (!strcmp(sw->items[j], pw->item ? pw->item : "")) {
						free(sw->handlers[j]);
						sw->handlers[j] = strdup(H_PYTREE);
					}
	}
	if (rc < 0) {
		json_decref(m);
		return rc;
	}
	if (sw->direct) {
		h = json_string(sw->handlers[0]);
	} else {
		/* items sorted by name, as Orbax writes them */
		h = json_object();
		for (size_t i = 0; i < sw->nitems; i++) {
			size_t best = i;

			for (size_t j = i + 1; j < sw->nitems; j++)
				if (strcmp(sw->items[j], sw->items[best]) < 0)
					best = j;
			if (best != i) {
				char *t = sw->items[i], *u = sw->handlers[i];

				sw->items[i] = sw->items[best];
				sw->handlers[i] = sw->handlers[best];
				sw->items[best] = t;
				sw->handlers[best] = u;
			}
			json_object_set_new(h, sw->items[i], json_string(sw->handlers[i]));
		}
	}
	json_object_set_new(m, "item_handlers", h);
	json_object_set_new(m, "metrics", json_object());
	json_object_set_new(m, "performance_metrics", json_object());
	json_object_set_new(m, "init_timestamp_nsecs", json_integer((json_int_t)sw->init_ns));
	json_object_set_new(m, "commit_timestamp_nsecs", json_integer((json_int_t)now(&sw->o)));
	json_object_set_new(m, "custom_metadata", custom ? json_incref(custom) : json_object());
	rc = write_json(&sw->o, sw->fd, sw->tmp, "_CHECKPOINT_METADATA", m, false, err);
	if (rc == 0) {
		snprintf(msg, sizeof(msg), "Checkpoint commit was successful to %s", sw->final);
		rc = write_file(&sw->o, sw->fd, sw->tmp, "commit_success.txt", msg, strlen(msg), err);
	}
	if (rc == 0)
		rc = sync_dirfd(&sw->o, sw->fd);
	if (sw->o.hooks.step)
		sw->o.hooks.step(sw->o.hooks.ctx, "step-ready");
	ckpt_fault_point("step-ready");
	if (rc == 0) {
		/* the step directory, complete and synced, takes its name (commit.h) */
		const struct ckpt_commit c = { sw->rootfd, sw->root, sw->o.no_fsync, NULL, NULL };

		rc = ckpt_commit_rename(&c, sw->tmp, sw->step, err);
	}
	if (rc == 0)
		sw->committed = true;
	return rc;
}

void ckpt_sw_free(struct ckpt_step_writer *sw)
{
	if (!sw)
		return;
	for (size_t i = 0; i < sw->npw; i++)
		pw_free(sw->pw[i]);
	free(sw->pw);
	for (size_t i = 0; i < sw->nitems; i++) {
		free(sw->items[i]);
		free(sw->handlers[i]);
	}
	free(sw->items);
	free(sw->handlers);
	if (sw->fd >= 0)
		close(sw->fd);
	if (!sw->committed && sw->rootfd >= 0 && sw->tmp)
		rm_rf_at(sw->rootfd, sw->tmp);
	if (sw->rootfd >= 0)
		close(sw->rootfd);
	free(sw->root);
	free(sw->step);
	free(sw->tmp);
	free(sw->final);
	free(sw);
}
