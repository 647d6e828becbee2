/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writer_pytree.c - writing one pytree item (tier 5): ckpt_pw_* of
 * writer.h; the order of work is in writer.c's comment.  See writer_int.h.
 */
#define _GNU_SOURCE
#include "writer_int.h"

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

uint64_t ckpt_wr_now(const struct ckpt_wopts *o)
{
	struct timespec ts;

	if (o->hooks.now_ns)
		return o->hooks.now_ns(o->hooks.ctx);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int ckpt_wr_sync_dirfd(const struct ckpt_wopts *o, int fd)
{
	return o->no_fsync || fsync(fd) == 0 ? 0 : -errno;
}

int ckpt_wr_write_file(const struct ckpt_wopts *o, int dirfd, const char *label, const char *rel,
		       const void *p, size_t n, struct ckpt_err *err)
{
	return ckpt_write_file_at(o->no_fsync, dirfd, label, rel, p, n, err);
}

int ckpt_wr_write_json(const struct ckpt_wopts *o, int dirfd, const char *label, const char *rel,
		       json_t *j, bool compact, struct ckpt_err *err)
{
	char *s = compact ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : ckpt_py_json_dumps(j);
	int rc;

	json_decref(j);
	if (!s)
		return -ENOMEM;
	rc = ckpt_wr_write_file(o, dirfd, label, rel, s, strlen(s), err);
	free(s);
	return rc;
}

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

static struct ckpt_chunk_src chunk_src(const struct ckpt_pytree_writer *pw, const struct leaf *l)
{
	return (struct ckpt_chunk_src){ &l->spec, l->src, l->ctx, pw->o.stream_threshold, pw->o.no_fsync };
}

/* the per-process databases ocdbt.process_<p>, opened for writing */
static int open_processes(struct ckpt_pytree_writer *pw, unsigned P, struct ckpt_ocdbt_wr **w, char **bases,
			  struct ckpt_err *err)
{
	int rc = 0;

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
	return rc;
}

/* zarr metadata: process 0, one commit per array (or per `per` arrays) */
static int commit_metadata(struct ckpt_pytree_writer *pw, struct ckpt_ocdbt_wr *w0, unsigned per,
			   struct ckpt_putlist *pl, struct ckpt_err *err)
{
	unsigned batched = 0;
	int rc = 0;

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
		rc = ckpt_putlist_add(pl, key,
				      (struct ckpt_ocdbt_put){ CKPT_PUT_VALUE, NULL, 0, json, jn, NULL, NULL,
							       0, 0 },
				      (uint8_t *)json);
		if (rc == 0 && (++batched >= per || i + 1 == pw->n)) {
			rc = ckpt_ocdbt_wr_commit(w0, pl->p, pl->n, err);
			ckpt_putlist_clear(pl);
			batched = 0;
		}
	}
	if (rc == 0 && pl->n)
		rc = ckpt_ocdbt_wr_commit(w0, pl->p, pl->n, err);
	ckpt_putlist_clear(pl);
	return rc;
}

/* chunks: one commit per array and process (chunks go round-robin), or
 * each process's chunks of `per` arrays at a time */
static int commit_chunks(struct ckpt_pytree_writer *pw, unsigned P, struct ckpt_ocdbt_wr **w, unsigned per,
			 struct ckpt_putlist *pl, struct ckpt_err *err)
{
	unsigned batched = 0;
	int rc = 0;

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
				rc = ckpt_chunk_to_ocdbt(&cs, ci, l->param, w[p], pl, err);
			}
			if (rc == 0 && ++batched >= per && pl->n) {
				rc = ckpt_ocdbt_wr_commit(w[p], pl->p, pl->n, err);
				ckpt_putlist_clear(pl);
				batched = 0;
			}
		}
		if (rc == 0 && pl->n)
			rc = ckpt_ocdbt_wr_commit(w[p], pl->p, pl->n, err);
		ckpt_putlist_clear(pl);
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
				rc = ckpt_chunk_to_ocdbt(&cs, ci, l->param, w[p], pl, err);
			}
			if (rc == 0 && pl->n)
				rc = ckpt_ocdbt_wr_commit(w[p], pl->p, pl->n, err);
			ckpt_putlist_clear(pl);
		}
	}
	return rc;
}

/* the merged top-level database: every process's entries, inline values
 * copied, the others referring to the per-process data files */
static int commit_merged(struct ckpt_pytree_writer *pw, unsigned P, struct ckpt_ocdbt_wr **w, char **bases,
			 struct ckpt_putlist *pl, struct ckpt_err *err)
{
	struct ckpt_ocdbt_wr *top = NULL;
	int rc;

	rc = ckpt_ocdbt_wr_open(&top, pw->fd, pw->label, pw->o.ocdbt_cfg, &pw->o.hooks, &pw->lim, err);
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
				rc = ckpt_putlist_add(pl, key,
						      (struct ckpt_ocdbt_put){ CKPT_PUT_VALUE, NULL, 0,
									       e.inline_p, (size_t)e.len,
									       NULL, NULL, 0, 0 },
						      NULL);
			else
				rc = ckpt_putlist_add(pl, key,
						      (struct ckpt_ocdbt_put){ CKPT_PUT_REF, NULL, 0, NULL, 0,
									       base, e.rel, e.off, e.len },
						      (uint8_t *)base);
		}
	}
	if (rc == 0)
		rc = ckpt_ocdbt_wr_commit(top, pl->p, pl->n, err);
	ckpt_ocdbt_wr_close(top);
	return rc;
}

static int write_ocdbt(struct ckpt_pytree_writer *pw, struct ckpt_err *err)
{
	unsigned P = pw->o.processes ? pw->o.processes : 1;
	struct ckpt_ocdbt_wr **w = calloc(P, sizeof(*w));
	struct ckpt_putlist pl = { 0 };
	char **bases = calloc(P, sizeof(*bases));
	unsigned per = pw->o.arrays_per_commit ? pw->o.arrays_per_commit : 1;
	int rc;

	pw->o.hooks.no_fsync = pw->o.hooks.no_fsync || pw->o.no_fsync;
	if (!w || !bases) {
		free(w);
		free(bases);
		return -ENOMEM;
	}
	rc = open_processes(pw, P, w, bases, err);
	if (rc == 0)
		rc = commit_metadata(pw, w[0], per, &pl, err);
	ckpt_putlist_clear(&pl);
	if (rc == 0)
		rc = commit_chunks(pw, P, w, per, &pl, err);
	ckpt_putlist_clear(&pl);
	if (rc == 0)
		rc = commit_merged(pw, P, w, bases, &pl, err);
	ckpt_putlist_release(&pl);
	for (unsigned p = 0; p < P; p++) {
		ckpt_ocdbt_wr_close(w[p]);
		free(bases[p]);
	}
	free(w);
	free(bases);
	return rc;
}

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
		rc = rel ? ckpt_wr_write_file(&pw->o, pw->fd, pw->label, rel, json, jn, err) : -ENOMEM;
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
	rc = ckpt_wr_write_json(&pw->o, pw->fd, pw->label, "_METADATA", meta, false, err);
	if (rc == 0 && n_arrays)
		rc = ckpt_wr_write_json(&pw->o, pw->fd, pw->label, "_sharding", shard, true, err);
	else
		json_decref(shard);
	if (rc == 0 && n_arrays) {
		json_t *o = json_object();

		json_object_set_new(o, "array_metadatas", ams);
		rc = ckpt_wr_write_json(&pw->o, pw->fd, pw->label, "array_metadatas/process_0", o, false, err);
	} else {
		json_decref(ams);
	}
	if (rc == 0 && n_strings)
		rc = ckpt_wr_write_json(&pw->o, pw->fd, pw->label, "_strings.json", strings, true, err);
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
		rc = ckpt_wr_write_file(&pw->o, pw->fd, pw->label, "commit_success.txt", msg, strlen(msg), err);
	}
	if (rc == 0)
		rc = ckpt_wr_sync_dirfd(&pw->o, pw->fd);
	pw->finished = rc == 0;
	return rc;
}

void ckpt_wr_pw_free(struct ckpt_pytree_writer *pw)
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
