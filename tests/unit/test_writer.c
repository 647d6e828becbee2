/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_writer.c - the Orbax checkpoint writer against checkpoints real Orbax
 * wrote: with the uuids, data file names and times injected, the tree
 * {'a': int32[8] = 0..7, 'b': {'c': int32[3] = 1,2,3}} written by ckptfs is
 * byte-identical to the compat fixtures (v0: zarr2, direct checkpoint; v1:
 * zarr3, the state item): every OCDBT manifest and node file (which hold the
 * zarr metadata and chunks), _METADATA, _sharding, array_metadatas and, for
 * v0, _CHECKPOINT_METADATA.   argv[1]: shared fixtures dir
 */
#define _GNU_SOURCE
#include "harness.h"
#include "ocdbt.h"
#include "writer.h"
#include "zarr_codec.h"
#include "zarr_write.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

static const char *fix;
static struct ckpt_limits lim = CKPT_LIMITS_DEFAULT;

struct inject {
	char names[16][33];
	size_t nn, next_name;
	uint64_t times[16];
	size_t next_time;
	uint8_t uuids[2][16];
	size_t next_uuid;
};

static void inj_name(void *ctx, char out[33])
{
	struct inject *in = ctx;

	memcpy(out, in->names[in->next_name++ % 16], 33);
}

static uint64_t inj_time(void *ctx)
{
	struct inject *in = ctx;

	return in->times[in->next_time++ % 16];
}

static void inj_uuid(void *ctx, uint8_t out[16])
{
	struct inject *in = ctx;

	memcpy(out, in->uuids[in->next_uuid++ % 2], 16);
}

static int src_a(void *ctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err)
{
	const int32_t *v = ctx;

	(void)err;
	memcpy(buf, (const uint8_t *)v + off, n);
	return 0;
}

/* the inputs real Orbax drew when it wrote `item` */
static void collect(const char *item, struct inject *in)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_ocdbt_gen *g;
	struct ckpt_ocdbt_manifest m;
	size_t ng;
	char p[4096];
	int fd;

	snprintf(p, sizeof(p), "%s/ocdbt.process_0", item);
	fd = open(p, O_RDONLY | O_DIRECTORY);
	ckpt_ocdbt_list_generations(fd, p, &lim, &g, &ng, &err);
	ckpt_ocdbt_read_manifest(fd, p, &lim, &m, NULL, &err);
	memcpy(in->uuids[0], m.config.uuid, 16);
	ckpt_ocdbt_manifest_release(&m);
	close(fd);
	for (size_t i = 0; i < ng; i++) {
		memcpy(in->names[in->nn], g[i].root_path + 2, 33);
		in->times[1 + in->nn++] = g[i].commit_time;
	}
	ckpt_ocdbt_gens_free(g, ng);
	fd = open(item, O_RDONLY | O_DIRECTORY);
	ckpt_ocdbt_list_generations(fd, item, &lim, &g, &ng, &err);
	ckpt_ocdbt_read_manifest(fd, item, &lim, &m, NULL, &err);
	memcpy(in->uuids[1], m.config.uuid, 16);
	ckpt_ocdbt_manifest_release(&m);
	close(fd);
	memcpy(in->names[in->nn], g[0].root_path + 2, 33);
	in->times[1 + in->nn++] = g[0].commit_time;
	ckpt_ocdbt_gens_free(g, ng);
}

static bool same(const char *a, const char *b)
{
	size_t na, nb;
	unsigned char *x = h_slurp(a, &na), *y = h_slurp(b, &nb);
	bool ok = na == nb && !memcmp(x, y, na);

	if (!ok)
		printf("#   %s differs from %s\n#     %.*s\n#     %.*s\n", a, b, (int)CKPT_MIN(na, 300), x,
		       (int)CKPT_MIN(nb, 300), y);
	free(x);
	free(y);
	return ok;
}

/* every file of ref's item (and its d/ directories) exists identically in out */
static void compare_item(const char *ref, const char *out, bool with_ckpt_meta)
{
	static const char *const files[] = { "_METADATA", "_sharding", "array_metadatas/process_0",
					     "manifest.ocdbt", "ocdbt.process_0/manifest.ocdbt",
					     "_CHECKPOINT_METADATA" };
	static const char *const dirs[] = { "d", "ocdbt.process_0/d" };
	char a[8192], b[8192];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (!with_ckpt_meta && !strcmp(files[i], "_CHECKPOINT_METADATA"))
			continue;
		snprintf(a, sizeof(a), "%s/%s", out, files[i]);
		snprintf(b, sizeof(b), "%s/%s", ref, files[i]);
		CHECK(same(a, b));
	}
	for (size_t i = 0; i < 2; i++) {
		DIR *d;
		int n = 0;

		snprintf(b, sizeof(b), "%s/%s", ref, dirs[i]);
		d = opendir(b);
		for (struct dirent *e; d && (e = readdir(d));) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(a, sizeof(a), "%s/%s/%s", out, dirs[i], e->d_name);
			snprintf(b, sizeof(b), "%s/%s/%s", ref, dirs[i], e->d_name);
			CHECK(same(a, b));
			n++;
		}
		if (d)
			closedir(d);
		CHECK(n > 0);
	}
}

static void write_ab(const char *ref, bool zarr3, bool direct)
{
	static const int32_t a[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, c[3] = { 1, 2, 3 };
	struct ckpt_err err = { 0, "" };
	struct ckpt_wopts o;
	struct inject in;
	struct ckpt_step_writer *sw;
	struct ckpt_pytree_writer *pw;
	struct ckpt_dtype i32;
	struct ckpt_key ka[1] = { { "a", 1, 2 } }, kc[2] = { { "b", 1, 2 }, { "c", 1, 2 } };
	uint64_t sa[1] = { 8 }, sc[1] = { 3 };
	char root[] = "/tmp/ckpt-writer.XXXXXX", out[4200];
	char *item = direct ? strdup(ref) : NULL;
	size_t n;
	unsigned char *cm;
	json_t *j, *custom = NULL;

	memset(&in, 0, sizeof(in));
	if (!direct && asprintf(&item, "%s/state", ref) < 0)
		return;
	collect(item, &in);
	/* times: init, the commits, commit */
	snprintf(out, sizeof(out), "%s/_CHECKPOINT_METADATA", ref);
	cm = h_slurp(out, &n);
	j = json_loadb((const char *)cm, n, 0, NULL);
	in.times[0] = (uint64_t)json_integer_value(json_object_get(j, "init_timestamp_nsecs"));
	in.times[1 + in.nn] = (uint64_t)json_integer_value(json_object_get(j, "commit_timestamp_nsecs"));
	custom = json_incref(json_object_get(j, "custom_metadata"));
	json_decref(j);
	free(cm);
	ckpt_wopts_default(&o);
	o.zarr3 = zarr3;
	o.no_fsync = true;
	o.zstd_unsized = true; /* the fixtures predate TensorStore 0.1.85 */
	o.hooks = (struct ckpt_ocdbt_hooks){ inj_name, inj_time, inj_uuid, NULL, &in, true };
	ckpt_dtype_from_name(&i32, "int32");
	mkdtemp(root);
	CHECK_EQ(ckpt_sw_begin(&sw, root, "ckpt", &o, &lim, &err), 0);
	CHECK_EQ(ckpt_sw_pytree(sw, direct ? NULL : "state", &pw, &err), 0);
	CHECK_EQ(ckpt_pw_array(pw, ka, 1, "jax.Array", &i32, 1, sa, src_a, (void *)a, &err), 0);
	CHECK_EQ(ckpt_pw_array(pw, kc, 2, "jax.Array", &i32, 1, sc, src_a, (void *)c, &err), 0);
	CHECK_EQ(ckpt_sw_commit(sw, custom, &err), 0);
	if (err.code)
		printf("#   %s\n", err.msg);
	ckpt_sw_free(sw);
	json_decref(custom);
	snprintf(out, sizeof(out), "%s/ckpt%s", root, direct ? "" : "/state");
	compare_item(item, out, direct);
	free(item);
}

static void test_writer__byte_identical_v0_zarr2_direct(void)
{
	char ref[4096];

	snprintf(ref, sizeof(ref), "%s/orbax/compat/v0_checkpoints/direct_checkpoint/"
		 "checkpoint_metadata_present/pytree_checkpointable_has_metadata", fix);
	write_ab(ref, false, true);
}

static void test_writer__byte_identical_v1_zarr3(void)
{
	char ref[4096];

	snprintf(ref, sizeof(ref), "%s/orbax/compat/v1_checkpoints/composite_checkpoint/"
		 "checkpoint_metadata_present/pytree_checkpointable_has_metadata", fix);
	write_ab(ref, true, false);
}

static void test_writer__python_formats(void)
{
	struct ckpt_key k1[1] = { { "step", 4, 2 } };
	struct ckpt_key k3[3] = { { "it's", 4, 2 }, { "x\"y", 3, 2 }, { "both'\"\\\n", 8, 2 } };
	struct ckpt_key ku[2] = { { "\xc3\xbc", 2, 2 }, { "\xe2\x80\xa8", 3, 2 } };
	char *s;
	json_t *j = json_object();

	s = ckpt_py_tuple_repr(k1, 1);
	CHECK(!strcmp(s, "('step',)"));
	free(s);
	s = ckpt_py_tuple_repr(NULL, 0);
	CHECK(!strcmp(s, "()"));
	free(s);
	/* Python: ("it's", 'x"y', 'both\'"\\\n') */
	s = ckpt_py_tuple_repr(k3, 3);
	CHECK(!strcmp(s, "(\"it's\", 'x\"y', 'both\\'\"\\\\\\n')"));
	free(s);
	/* printable non-ASCII stays, U+2028 is escaped */
	s = ckpt_py_tuple_repr(ku, 2);
	CHECK(!strcmp(s, "('\xc3\xbc', '\\u2028')"));
	json_object_set_new(j, s, json_null());
	free(s);
	s = ckpt_py_json_dumps(j);
	CHECK(!strcmp(s, "{\"('\\u00fc', '\\\\u2028')\": null}"));
	free(s);
	json_decref(j);
}

static const char *real;

struct acc {
	uint8_t *p;
	size_t n;
};

static int acc_sink(void *payload, const void *p, size_t n)
{
	struct acc *a = payload;

	a->p = realloc(a->p, a->n + n);
	memcpy(a->p + a->n, p, n);
	a->n += n;
	return 0;
}

/* chunks TensorStore 0.1.85 wrote, decoded and encoded again: same bytes */
static void test_writer__chunks_like_tensorstore_0_1_85(void)
{
	static const struct {
		const char *db, *param, *chunk;
	} t[] = {
		{ "gen/ocdbt_zarr2/ocdbt_zarr2", "f32", "0.0" },
		{ "gen/ocdbt_zarr2/ocdbt_zarr2", "bf16", "0.0" },
		{ "gen/ocdbt_zarr2/ocdbt_zarr2", "c64", "0" },
		{ "gen/ocdbt_zarr2/ocdbt_zarr2", "u8", "0" },
		{ "gen/ocdbt_zarr2/ocdbt_zarr2", "i32", "0.0.0" },
		{ "gen/ocdbt_zarr3/ocdbt_zarr3", "f32", "c/0/0" },
		{ "gen/ocdbt_zarr3/ocdbt_zarr3", "bool", "c/0" },
		{ "gen/ocdbt_zarr3/ocdbt_zarr3", "f64", "c/0" },
		{ "gen/ocdbt_zarr3/ocdbt_zarr3", "scalar0d", "c" },
		{ "gen/large/large", "big", "0.0" },
	};
	struct ckpt_err err = { 0, "" };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char dir[4096], key[256];
		struct ckpt_ocdbt_db *db;
		const struct ckpt_ocdbt_value *mv, *cv;
		struct ckpt_zarr_meta m;
		struct ckpt_zarr_spec s;
		uint8_t *meta, *stored, *dec, *enc;
		size_t en;
		int fd;

		snprintf(dir, sizeof(dir), "%s/%s", real, t[i].db);
		fd = open(dir, O_RDONLY | O_DIRECTORY);
		CHECK_EQ(ckpt_ocdbt_open(&db, fd, dir, 0, &lim, &err), 0);
		snprintf(key, sizeof(key), "%s/.zarray", t[i].param);
		mv = ckpt_ocdbt_find(db, key, strlen(key));
		if (!mv) {
			snprintf(key, sizeof(key), "%s/zarr.json", t[i].param);
			mv = ckpt_ocdbt_find(db, key, strlen(key));
		}
		snprintf(key, sizeof(key), "%s/%s", t[i].param, t[i].chunk);
		cv = ckpt_ocdbt_find(db, key, strlen(key));
		CHECK(mv && cv);
		if (!mv || !cv) {
			printf("#   %s: no %s\n", dir, key);
			continue;
		}
		meta = malloc(mv->len);
		stored = malloc(cv->len);
		ckpt_ocdbt_read(db, mv, 0, mv->len, meta, &err);
		ckpt_ocdbt_read(db, cv, 0, cv->len, stored, &err);
		CHECK_EQ(ckpt_zarr_meta_parse(&m, meta, mv->len, &lim, &err), 0);
		dec = malloc(m.chunk_nbytes);
		CHECK_EQ(ckpt_chain_decode(&m.chain, &m.dtype, m.rank, m.chunk, m.fill, stored, cv->len, dec,
					   &lim, &err), 0);
		memset(&s, 0, sizeof(s));
		s.format = m.format;
		s.dtype = m.dtype;
		s.rank = m.rank;
		memcpy(s.shape, m.shape, sizeof(s.shape));
		memcpy(s.chunk, m.chunk, sizeof(s.chunk));
		s.compress = true;
		/* the metadata too */
		{
			char *js;
			size_t jn;

			CHECK_EQ(ckpt_zarr_meta_json(&s, &js, &jn), 0);
			if (jn != mv->len || memcmp(js, meta, jn))
				printf("#   %s metadata:\n#     %s\n#     %.*s\n", key, js, (int)mv->len, meta);
			CHECK(jn == mv->len && !memcmp(js, meta, jn));
			free(js);
		}
		CHECK_EQ(ckpt_zarr_chunk_encode(&s, dec, m.chunk_nbytes, &enc, &en), 0);
		if (en != cv->len || memcmp(enc, stored, en))
			printf("#   %s/%s: %zu bytes, TensorStore wrote %llu\n", t[i].db, key, en,
			       (unsigned long long)cv->len);
		CHECK(en == cv->len && !memcmp(enc, stored, en));
		/* streamed in 1 MiB pieces: the same bytes */
		{
			struct ckpt_chunk_stream *cs;
			struct acc a = { NULL, 0 };
			uint64_t total;

			CHECK_EQ(ckpt_chunk_stream_new(&cs, &s, m.chunk_nbytes, acc_sink, &a), 0);
			for (uint64_t o = 0; o < m.chunk_nbytes; o += 1 << 20)
				ckpt_chunk_stream_write(cs, dec + o, CKPT_MIN((uint64_t)1 << 20, m.chunk_nbytes - o));
			CHECK_EQ(ckpt_chunk_stream_end(cs, &total), 0);
			if (m.chunk_nbytes <= (1u << 20)) {
				CHECK(a.n == cv->len && !memcmp(a.p, stored, a.n));
			} else {
				/* fed in pieces, zstd cuts blocks differently from a one-shot
				 * compress: a valid frame of the same values, not the same bytes */
				uint8_t *again = malloc(m.chunk_nbytes);

				CHECK_EQ(ckpt_chain_decode(&m.chain, &m.dtype, m.rank, m.chunk, m.fill, a.p,
							   a.n, again, &lim, &err), 0);
				CHECK(!memcmp(again, dec, m.chunk_nbytes));
				printf("#   %s streamed: %zu bytes, one-shot %llu\n", key, a.n,
				       (unsigned long long)cv->len);
				free(again);
			}
			ckpt_chunk_stream_free(cs);
			free(a.p);
		}
		free(enc);
		free(dec);
		free(meta);
		free(stored);
		ckpt_zarr_meta_release(&m);
		ckpt_ocdbt_close(db);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		printf("Bail out! usage: test_writer SHARED_FIXTURES REAL_FIXTURES\n");
		return 1;
	}
	fix = argv[1];
	real = argv[2];
	RUN(test_writer__byte_identical_v0_zarr2_direct);
	RUN(test_writer__byte_identical_v1_zarr3);
	RUN(test_writer__python_formats);
	RUN(test_writer__chunks_like_tensorstore_0_1_85);
	DONE();
}
