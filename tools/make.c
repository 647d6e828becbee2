/* SPDX-License-Identifier: Apache-2.0 */
/*
 * make.c - "ckpt make": deterministic synthetic Orbax checkpoints for tests,
 * benchmarks and the demo, written with the library's writer.
 *
 * Values are computed from (seed, leaf, element) by a counter-based hash, so
 * any byte range of any leaf can be produced on demand (the writer reads
 * chunks in any order and never holds a whole leaf).  "normal" values are
 * N(0, 0.02) like trained weights; "pattern" leaves hold little-endian
 * uint64 words (leaf << 40 | word index), so every byte can be checked.
 */
#define _GNU_SOURCE
#include "make.h"

#include "ckpt_internal.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct mopts {
	const char *out;
	unsigned long leaves, steps, depth, processes;
	uint64_t leaf_bytes, seed, chunk_bytes, max_node_bytes, stream_bytes;
	const char *dtype, *values, *model, *expected;
	bool zarr3, ocdbt, json_item, deterministic, no_fsync, no_compress, extras;
};

struct src {
	struct ckpt_dtype dt;
	uint64_t seed, leaf, nbytes;
	bool pattern;
	float scale;
	double offset;
};

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static double normal(uint64_t h)
{
	double u1 = ((double)(h >> 11) + 0.5) / 9007199254740992.0;
	double u2 = ((double)(mix(h) >> 11) + 0.5) / 9007199254740992.0;

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* element e of a leaf, little-endian, itemsize bytes */
static void element(const struct src *s, uint64_t e, uint8_t *out)
{
	uint64_t h = mix(s->seed * 0x100000001B3ull ^ mix(s->leaf) ^ e);

	switch (s->dt.kind) {
	case CKPT_DK_BOOL:
		out[0] = h & 1;
		return;
	case CKPT_DK_INT:
		ckpt_dtype_encode_number(&s->dt, 0, 0, true, (int64_t)(h % 201) - 100, 0, out);
		/* non-negative: ml_dtypes shows negative int4/int2 bytes unlike
		 * TensorStore's sign-extended storage, so digests would not compare */
		if (!strcmp(s->dt.name, "int4"))
			out[0] = (uint8_t)(h % 8);
		else if (!strcmp(s->dt.name, "int2"))
			out[0] = (uint8_t)(h % 2);
		return;
	case CKPT_DK_UINT:
		ckpt_dtype_encode_number(&s->dt, 0, 0, true, 0, h % 256, out);
		if (!strcmp(s->dt.name, "uint4"))
			out[0] &= 15;
		return;
	case CKPT_DK_COMPLEX:
		ckpt_dtype_encode_number(&s->dt, s->offset + s->scale * normal(h),
					 s->scale * normal(mix(h + 1)), false, 0, 0, out);
		return;
	case CKPT_DK_RAW:
		for (uint32_t i = 0; i < s->dt.itemsize; i++)
			out[i] = (uint8_t)(h >> (8 * (i % 8)));
		return;
	default:
		if (s->dt.kind == CKPT_DK_FLOAT && s->dt.itemsize == 4) {
			float f = (float)(s->offset + s->scale * normal(h));
			uint32_t b;

			memcpy(&b, &f, 4);
			out[0] = (uint8_t)b, out[1] = (uint8_t)(b >> 8);
			out[2] = (uint8_t)(b >> 16), out[3] = (uint8_t)(b >> 24);
			return;
		}
		ckpt_dtype_encode_number(&s->dt, s->offset + s->scale * normal(h), 0, false, 0, 0, out);
	}
}

/* bytes produced, shown on a terminal (the writer runs in this thread) */
static struct cli_progress make_progress;

static int source(void *ctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err)
{
	const struct src *s = ctx;
	uint8_t *o = buf, el[16];
	uint32_t isz = s->dt.itemsize;

	(void)err;
	cli_progress_add(&make_progress, n);
	if (s->pattern) {
		for (size_t i = 0; i < n;) {
			uint64_t w = (off + i) / 8, v = s->leaf << 40 | w;
			size_t k = (size_t)((off + i) % 8);

			for (; k < 8 && i < n; k++, i++)
				o[i] = (uint8_t)(v >> (8 * k));
		}
		return 0;
	}
	for (size_t i = 0; i < n;) {
		uint64_t e = (off + i) / isz;
		size_t k = (size_t)((off + i) % isz);

		if (k == 0 && n - i >= isz) {
			element(s, e, o + i);
			i += isz;
			continue;
		}
		element(s, e, el);
		for (; k < isz && i < n; k++, i++)
			o[i] = el[k];
	}
	return 0;
}

static const char *const mix_dtypes[] = { "float32", "bfloat16", "int32", "float16", "int8",
					  "uint8", "bool", "float64", "int64", "complex64",
					  "float8_e4m3fn", "uint32", "int4" };

/* ---------------------------------------------------------------- determinism */

struct det {
	uint64_t seed, names, times;
};

static void det_name(void *ctx, char out[33])
{
	struct det *d = ctx;

	snprintf(out, 33, "%016llx%016llx", (unsigned long long)mix(d->seed ^ 0xd47a),
		 (unsigned long long)mix(++d->names));
}

static uint64_t det_time(void *ctx)
{
	struct det *d = ctx;

	/* 2026-01-01 plus a millisecond per call */
	return 1767225600000000000ull + (++d->times) * 1000000ull;
}

static void det_uuid(void *ctx, uint8_t out[16])
{
	struct det *d = ctx;
	uint64_t a = mix(d->seed ^ 0x0c4d), b = mix(a ^ ++d->names);

	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(a >> (8 * i));
		out[8 + i] = (uint8_t)(b >> (8 * i));
	}
}

/* ---------------------------------------------------------------- EXPECTED.json */

static json_t *leaf_record(const struct src *s, const uint64_t *shape, uint32_t rank)
{
	json_t *r = json_object(), *sh = json_array();
	struct sha256 h;
	char hex[65];
	static uint8_t buf[1 << 20];
	struct ckpt_err err = { 0, "" };

	sha256_init(&h);
	for (uint64_t o = 0; o < s->nbytes; o += sizeof(buf)) {
		size_t n = (size_t)(s->nbytes - o < sizeof(buf) ? s->nbytes - o : sizeof(buf));

		source((void *)s, o, buf, n, &err);
		sha256_update(&h, buf, n);
	}
	sha256_hex(&h, hex);
	for (uint32_t i = 0; i < rank; i++)
		json_array_append_new(sh, json_integer((json_int_t)shape[i]));
	json_object_set_new(r, "dtype", json_string(s->dt.name));
	json_object_set_new(r, "shape", sh);
	json_object_set_new(r, "sha256", json_string(hex));
	return r;
}

/* ---------------------------------------------------------------- trees */

struct leafspec {
	char comp[4][64];
	size_t depth;
	struct src src;
	uint32_t rank;
	uint64_t shape[2];
};

/* writes leaf l (its path, source and shape set) as a leaf of type and records it in exp */
static int put_leaf(struct ckpt_pytree_writer *pw, struct leafspec *l, const char *type, json_t *exp,
		    struct ckpt_err *err)
{
	struct ckpt_key path[4];
	int rc;

	for (size_t d = 0; d < l->depth; d++)
		path[d] = (struct ckpt_key){ l->comp[d], strlen(l->comp[d]), 2 };
	l->src.nbytes = l->src.dt.itemsize * l->shape[0] * (l->rank == 2 ? l->shape[1] : 1);
	rc = ckpt_pw_array(pw, path, l->depth, type, &l->src.dt, l->rank, l->shape, source, &l->src,
			   err);
	if (rc == 0 && exp) {
		char key[300] = "";

		for (size_t d = 0; d < l->depth; d++)
			snprintf(key + strlen(key), sizeof(key) - strlen(key), "%s%s", d ? "/" : "",
				 l->comp[d]);
		json_object_set_new(exp, key, leaf_record(&l->src, l->shape, l->rank));
	}
	return rc;
}

static int write_synthetic(struct ckpt_pytree_writer *pw, const struct mopts *m, uint64_t step,
			   json_t *exp, struct leafspec **keep, struct ckpt_err *err)
{
	struct leafspec *ls = calloc(m->leaves ? m->leaves : 1, sizeof(*ls));
	int rc = 0;

	*keep = ls;
	if (!ls)
		return -ENOMEM;
	for (unsigned long i = 0; i < m->leaves && rc == 0; i++) {
		struct leafspec *l = &ls[i];
		const char *dn = !strcmp(m->dtype, "mix") ? mix_dtypes[i % CKPT_ARRAY_SIZE(mix_dtypes)]
							  : m->dtype;
		uint64_t elems;
		bool np;

		if (ckpt_dtype_from_name(&l->src.dt, dn) < 0)
			return ckpt_err_set(err, -EINVAL, "unknown dtype '%s'", dn);
		l->src.seed = m->seed + step * 7919;
		l->src.leaf = i;
		l->src.pattern = !strcmp(m->values, "pattern");
		l->src.scale = 0.02f;
		elems = m->leaf_bytes / l->src.dt.itemsize;
		if (elems == 0)
			elems = 1;
		if (elems % 256 == 0 && elems >= 1024) {
			l->rank = 2;
			l->shape[0] = elems / 256;
			l->shape[1] = 256;
		} else {
			l->rank = 1;
			l->shape[0] = elems;
		}
		/* names sort in index order: the flatten order is the key order */
		if (m->depth <= 1) {
			snprintf(l->comp[0], 64, "param_%06lu", i);
			l->depth = 1;
		} else {
			snprintf(l->comp[0], 64, "layer_%04lu", i / 16);
			for (unsigned long d = 1; d + 1 < m->depth && d < 3; d++)
				snprintf(l->comp[d], 64, "block_%lu", d);
			snprintf(l->comp[m->depth < 4 ? m->depth - 1 : 3], 64, "w_%02lu", i % 16);
			l->depth = m->depth < 4 ? m->depth : 4;
		}
		/* JAX without x64 has no 64-bit arrays: such leaves are numpy arrays */
		np = (l->src.dt.itemsize == 8 && l->src.dt.kind != CKPT_DK_COMPLEX) || l->src.dt.itemsize == 16;
		rc = put_leaf(pw, l, np ? "np.ndarray" : "jax.Array", exp, err);
	}
	return rc;
}

/* a model's leaves from a table, float32, in key order: path components
 * (a NULL ends the path early; write_gpt2 fills in the first), rank and
 * shape */
struct mleaf {
	const char *comp[4];
	uint32_t rank;
	uint64_t shape[2];
};

static int put_table(struct ckpt_pytree_writer *pw, const struct mopts *m, uint64_t step,
		     json_t *exp, const struct mleaf *t, size_t n, unsigned long *leaf,
		     struct leafspec *ls, float scale, struct ckpt_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++, (*leaf)++) {
		struct leafspec *l = &ls[*leaf];

		ckpt_dtype_from_name(&l->src.dt, "float32");
		l->src.seed = m->seed + step * 7919;
		l->src.leaf = *leaf;
		l->src.scale = scale;
		l->src.offset = (double)step / 100.0;
		l->rank = t[i].rank;
		memcpy(l->shape, t[i].shape, sizeof(l->shape));
		for (l->depth = 0; l->depth < 4 && t[i].comp[l->depth]; l->depth++)
			snprintf(l->comp[l->depth], 64, "%s", t[i].comp[l->depth]);
		rc = put_leaf(pw, l, "jax.Array", exp, err);
	}
	return rc;
}

/* a two-layer MLP as Flax NNX saves it: linear{1,2}/{kernel,bias}/value */
static int write_mlp(struct ckpt_pytree_writer *pw, const struct mopts *m, uint64_t step, json_t *exp,
		     struct leafspec **keep, struct ckpt_err *err)
{
	static const struct mleaf t[] = {
		{ { "linear1", "bias", "value" }, 1, { 16, 0 } },
		{ { "linear1", "kernel", "value" }, 2, { 8, 16 } },
		{ { "linear2", "bias", "value" }, 1, { 4, 0 } },
		{ { "linear2", "kernel", "value" }, 2, { 16, 4 } },
	};
	unsigned long leaf = 0;

	*keep = calloc(4, sizeof(**keep));
	if (!*keep)
		return -ENOMEM;
	return put_table(pw, m, step, exp, t, 4, &leaf, *keep, 0.1f, err);
}

/* GPT-2 small's parameters (width 768, vocabulary 50257, context 1024),
 * float32, with m->leaves blocks h_NN of 12 arrays each, then ln_f, wpe and
 * wte: a real model's mix of a few large arrays (wte 147 MiB; 2.25 to 9 MiB
 * kernels) and many small ones (3-12 KiB biases and norms) */
#define GPT2_D 768
#define GPT2_MAX_LAYERS 100

static uint64_t gpt2_bytes(unsigned long blocks)
{
	const uint64_t D = GPT2_D;

	return 4 * (blocks * (12 * D * D + 13 * D) + (50257 + 1024 + 2) * D);
}

static int write_gpt2(struct ckpt_pytree_writer *pw, const struct mopts *m, uint64_t step,
		      json_t *exp, struct leafspec **keep, struct ckpt_err *err)
{
	enum { D = GPT2_D };
	static const struct mleaf blk[] = {
		{ { NULL, "attn", "c_attn", "bias" }, 1, { 3 * D, 0 } },
		{ { NULL, "attn", "c_attn", "kernel" }, 2, { D, 3 * D } },
		{ { NULL, "attn", "c_proj", "bias" }, 1, { D, 0 } },
		{ { NULL, "attn", "c_proj", "kernel" }, 2, { D, D } },
		{ { NULL, "ln_1", "bias" }, 1, { D, 0 } },
		{ { NULL, "ln_1", "scale" }, 1, { D, 0 } },
		{ { NULL, "ln_2", "bias" }, 1, { D, 0 } },
		{ { NULL, "ln_2", "scale" }, 1, { D, 0 } },
		{ { NULL, "mlp", "c_fc", "bias" }, 1, { 4 * D, 0 } },
		{ { NULL, "mlp", "c_fc", "kernel" }, 2, { D, 4 * D } },
		{ { NULL, "mlp", "c_proj", "bias" }, 1, { D, 0 } },
		{ { NULL, "mlp", "c_proj", "kernel" }, 2, { 4 * D, D } },
	};
	static const struct mleaf top[] = {
		{ { "ln_f", "bias" }, 1, { D, 0 } },
		{ { "ln_f", "scale" }, 1, { D, 0 } },
		{ { "wpe" }, 2, { 1024, D } },
		{ { "wte" }, 2, { 50257, D } },
	};
	const size_t nb = CKPT_ARRAY_SIZE(blk);
	unsigned long leaf = 0;
	int rc = 0;

	*keep = calloc(m->leaves * nb + CKPT_ARRAY_SIZE(top), sizeof(**keep));
	if (!*keep)
		return -ENOMEM;
	for (unsigned long b = 0; b < m->leaves && rc == 0; b++) {
		struct mleaf t[CKPT_ARRAY_SIZE(blk)];
		char name[24];

		snprintf(name, sizeof(name), "h_%02lu", b); /* names sort in block order */
		memcpy(t, blk, sizeof(t));
		for (size_t i = 0; i < nb; i++)
			t[i].comp[0] = name;
		rc = put_table(pw, m, step, exp, t, nb, &leaf, *keep, 0.02f, err);
	}
	if (rc == 0)
		rc = put_table(pw, m, step, exp, top, CKPT_ARRAY_SIZE(top), &leaf, *keep, 0.02f, err);
	return rc;
}

static int64_t extra_table[12] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
static int64_t extra_step = 42;

static int mem_source(void *ctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err)
{
	(void)err;
	memcpy(buf, (const uint8_t *)ctx + off, n);
	return 0;
}

/* the leaf kinds besides jax.Array, under "extras" */
static int write_extras(struct ckpt_pytree_writer *pw, json_t *exp, struct ckpt_err *err)
{
	struct ckpt_key p[2] = { { "extras", 6, 2 }, { NULL, 0, 2 } };
	struct ckpt_dtype i64;
	uint64_t shape[2] = { 3, 4 };
	int rc;

	ckpt_dtype_from_name(&i64, "int64");
	p[1] = (struct ckpt_key){ "empty", 5, 2 };
	rc = ckpt_pw_empty(pw, p, 2, "Dict", err);
	p[1] = (struct ckpt_key){ "name", 4, 2 };
	if (rc == 0)
		rc = ckpt_pw_string(pw, p, 2, "ckptfs", 6, err);
	p[1] = (struct ckpt_key){ "none", 4, 2 };
	if (rc == 0)
		rc = ckpt_pw_empty(pw, p, 2, "None", err);
	p[1] = (struct ckpt_key){ "step", 4, 2 };
	if (rc == 0)
		rc = ckpt_pw_array(pw, p, 2, "scalar", &i64, 0, shape, mem_source, &extra_step, err);
	p[1] = (struct ckpt_key){ "table", 5, 2 };
	if (rc == 0)
		rc = ckpt_pw_array(pw, p, 2, "np.ndarray", &i64, 2, shape, mem_source, extra_table, err);
	if (rc == 0 && exp) {
		struct src s;
		json_t *v = json_object();

		memset(&s, 0, sizeof(s));
		json_object_set_new(v, "value", json_string("ckptfs"));
		json_object_set_new(exp, "extras/name", v);
		v = json_object();
		json_object_set_new(v, "value", json_integer(42));
		json_object_set_new(exp, "extras/step", v);
		/* the digest of arange(12) as int64 */
		{
			struct sha256 h;
			char hex[65];
			json_t *r = json_object(), *sh = json_array();

			sha256_init(&h);
			sha256_update(&h, extra_table, sizeof(extra_table));
			sha256_hex(&h, hex);
			json_array_append_new(sh, json_integer(3));
			json_array_append_new(sh, json_integer(4));
			json_object_set_new(r, "dtype", json_string("int64"));
			json_object_set_new(r, "shape", sh);
			json_object_set_new(r, "sha256", json_string(hex));
			json_object_set_new(exp, "extras/table", r);
		}
		(void)s;
	}
	return rc;
}

static int one_step(const struct mopts *m, const char *root, const char *step_name, uint64_t step,
		    const struct ckpt_wopts *wo, json_t *expected, const char *rel,
		    struct ckpt_err *err)
{
	struct ckpt_limits lim = CKPT_LIMITS_DEFAULT;
	struct ckpt_step_writer *sw;
	struct ckpt_pytree_writer *pw;
	struct leafspec *keep = NULL;
	json_t *exp = expected ? json_object() : NULL;
	bool composite = m->steps > 0 || m->json_item || m->model;
	int rc;

	rc = ckpt_sw_begin(&sw, root, step_name, wo, &lim, err);
	if (rc < 0)
		return rc;
	rc = ckpt_sw_pytree(sw, composite ? "state" : NULL, &pw, err);
	if (rc == 0 && m->extras)
		rc = write_extras(pw, exp, err);
	if (rc == 0)
		rc = !m->model			? write_synthetic(pw, m, step, exp, &keep, err)
		     : !strcmp(m->model, "mlp") ? write_mlp(pw, m, step, exp, &keep, err)
						: write_gpt2(pw, m, step, exp, &keep, err);
	if (rc == 0 && (m->json_item || m->model)) {
		char json[200];
		int n = snprintf(json, sizeof(json), "{\"step\": %llu, \"loss\": %.6f}",
				 (unsigned long long)step, 2.0 / (1.0 + (double)step / 100.0));

		rc = ckpt_sw_json(sw, "metadata", json, (size_t)n, err);
	}
	if (rc == 0)
		rc = ckpt_sw_commit(sw, NULL, err);
	ckpt_sw_free(sw);
	free(keep);
	if (rc == 0 && expected) {
		char key[4200];

		snprintf(key, sizeof(key), "%s%s", rel, composite ? "/state" : "");
		json_object_set_new(expected, key, exp);
	} else {
		json_decref(exp);
	}
	return rc;
}

static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	unsigned shift = 0;

	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end || end == s || v < 0)
		return -1;
	*out = (uint64_t)(v * (double)(1ull << shift));
	return 0;
}

static const char make_usage[] =
	"usage: ckpt make OUTDIR [options]\n"
	"  --leaves N         array leaves (default 8)\n"
	"  --leaf-bytes SIZE  bytes per leaf, suffixes K M G (default 4K)\n"
	"  --steps K          a CheckpointManager root with steps 0..K-1 (default: one checkpoint)\n"
	"  --dtype NAME       float32 (default), bfloat16, int8, ..., or 'mix'\n"
	"  --zarr3            zarr v3 (default v2)\n"
	"  --no-ocdbt         one zarr directory per leaf\n"
	"  --processes P      per-process OCDBT databases (default 1)\n"
	"  --seed S           values and, with --deterministic, names and times\n"
	"  --depth D          nesting of the tree (default 2)\n"
	"  --values KIND      normal (default) or pattern\n"
	"  --chunk-bytes SIZE split arrays into chunks of at most SIZE (default: one chunk)\n"
	"  --json-item        add a JSON item 'metadata' (implies a composite checkpoint)\n"
	"  --model mlp        a two-layer MLP as Flax NNX saves it, with a JSON item\n"
	"  --model gpt2       GPT-2 small's parameters (float32, with a JSON item): wte,\n"
	"                     wpe, ln_f and --leaves blocks of 12 arrays (at most 100)\n"
	"  --no-compress      chunks without zstd\n"
	"  --max-node-bytes N OCDBT node size limit (default Orbax's 100000000)\n"
	"  --stream-bytes N   stream chunks larger than N (default 64M)\n"
	"  --extras           add a string, a Python scalar, None, an empty dict, an np.ndarray\n"
	"  --deterministic    reproducible bytes: uuids, file names and times from the seed\n"
	"  --expected FILE    write the leaves' digests for real_checkpoints.py verify\n"
	"  --no-fsync         skip fsync (benchmarks and tests)\n";

/* Longer than 120 lines: one flat option parser (a line per option, as in
 * the usage text above), then the steps written one after another; split,
 * it would only pass struct mopts around. */
int ckpt_cmd_make(int argc, char **argv)
{
	struct mopts m = { NULL, 8, 0, 2, 1, 4096, 0, 0, 0, 0, "float32", "normal", NULL, NULL,
			   false, true, false, false, false, false, false };
	struct ckpt_ocdbt_config cfg;
	struct ckpt_wopts wo;
	struct ckpt_err err = { 0, "" };
	struct det det;
	json_t *expected = NULL;
	char root[4096], base[4096];
	int rc = 0;

	static const struct option lo[] = {
		{ "zarr3", no_argument, NULL, 'z' },	   { "no-ocdbt", no_argument, NULL, 'O' },
		{ "json-item", no_argument, NULL, 'J' },   { "deterministic", no_argument, NULL, 'D' },
		{ "no-fsync", no_argument, NULL, 'F' },	   { "no-compress", no_argument, NULL, 'C' },
		{ "extras", no_argument, NULL, 'X' },	   { "help", no_argument, NULL, 'h' },
		{ "stream-bytes", required_argument, NULL, 'S' },
		{ "leaves", required_argument, NULL, 'l' }, { "steps", required_argument, NULL, 's' },
		{ "depth", required_argument, NULL, 'd' },  { "processes", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 'e' },   { "dtype", required_argument, NULL, 't' },
		{ "values", required_argument, NULL, 'v' }, { "model", required_argument, NULL, 'm' },
		{ "expected", required_argument, NULL, 'x' },
		{ "leaf-bytes", required_argument, NULL, 'b' },
		{ "chunk-bytes", required_argument, NULL, 'c' },
		{ "max-node-bytes", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	optind = 0;
	argc--, argv++; /* from "make" on */
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		uint64_t u = 0;
		bool size_ok = !strchr("SbcN", c) || (optarg && parse_bytes(optarg, &u) == 0);

		if (!size_ok) {
			fprintf(stderr, "ckpt make: bad size '%s' for '%s'\n", optarg, argv[optind - 1]);
			return 2;
		}
		switch (c) {
		case 'h': fputs(make_usage, stdout); return 0;
		case 'z': m.zarr3 = true; break;
		case 'O': m.ocdbt = false; break;
		case 'J': m.json_item = true; break;
		case 'D': m.deterministic = true; break;
		case 'F': m.no_fsync = true; break;
		case 'C': m.no_compress = true; break;
		case 'X': m.extras = true; break;
		case 'S': m.stream_bytes = u; break;
		case 'l': m.leaves = strtoul(optarg, NULL, 10); break;
		case 's': m.steps = strtoul(optarg, NULL, 10); break;
		case 'd': m.depth = strtoul(optarg, NULL, 10); break;
		case 'p': m.processes = strtoul(optarg, NULL, 10); break;
		case 'e': m.seed = strtoull(optarg, NULL, 10); break;
		case 't': m.dtype = optarg; break;
		case 'v': m.values = optarg; break;
		case 'm': m.model = optarg; break;
		case 'x': m.expected = optarg; break;
		case 'b': m.leaf_bytes = u; break;
		case 'c': m.chunk_bytes = u; break;
		case 'N': m.max_node_bytes = u; break;
		default:
			if (c == ':')
				fprintf(stderr, "ckpt make: option '%s' needs a value; see 'ckpt make --help'\n",
					argv[optind - 1]);
			else
				fprintf(stderr, "ckpt make: unknown option '%s'; see 'ckpt make --help'\n",
					optopt ? (char[]){ '-', (char)optopt, 0 } : argv[optind - 1]);
			return 2;
		}
	}
	if (optind + 1 == argc)
		m.out = argv[optind];
	else if (optind < argc) {
		fprintf(stderr, "ckpt make: one OUTDIR expected; see 'ckpt make --help'\n");
		return 2;
	}
	if (!m.out || m.processes < 1 || m.depth < 1 || (m.model && strcmp(m.model, "mlp") && strcmp(m.model, "gpt2")) ||
	    (m.model && !strcmp(m.model, "gpt2") && m.leaves > GPT2_MAX_LAYERS) ||
	    (strcmp(m.values, "normal") && strcmp(m.values, "pattern"))) {
		fprintf(stderr, "ckpt make: %s\n%s", !m.out ? "OUTDIR missing" : "bad option value", make_usage);
		return 2;
	}
	ckpt_wopts_default(&wo);
	wo.ocdbt = m.ocdbt;
	wo.zarr3 = m.zarr3;
	wo.compress = !m.no_compress;
	wo.processes = (unsigned)m.processes;
	wo.chunk_bytes = m.chunk_bytes;
	wo.no_fsync = m.no_fsync;
	/* a commit per array, as TensorStore's show, until that gets
	 * quadratic: then about 16 commits in all */
	if (m.leaves > 256)
		wo.arrays_per_commit = (unsigned)(m.leaves / 16 + 1);
	if (m.stream_bytes)
		wo.stream_threshold = m.stream_bytes;
	if (m.max_node_bytes) {
		/* small B+tree nodes: interior nodes appear (tests) */
		ckpt_ocdbt_config_orbax(&cfg);
		cfg.max_decoded_node_bytes = (uint32_t)m.max_node_bytes;
		wo.ocdbt_cfg = &cfg;
	}
	if (m.deterministic) {
		det = (struct det){ m.seed, 0, 0 };
		wo.hooks.file_name = det_name;
		wo.hooks.now_ns = det_time;
		wo.hooks.uuid = det_uuid;
		wo.hooks.ctx = &det;
	}
	if (m.expected)
		expected = json_object();
	{
		size_t n = strlen(m.out);
		char *slash;

		while (n > 1 && m.out[n - 1] == '/')
			n--;
		snprintf(root, sizeof(root), "%.*s", (int)n, m.out);
		slash = strrchr(root, '/');
		snprintf(base, sizeof(base), "%s", slash ? slash + 1 : root);
	}
	cli_progress_start(&make_progress, "make",
			   (m.model && !strcmp(m.model, "gpt2") ? gpt2_bytes(m.leaves)
								 : (uint64_t)m.leaves * m.leaf_bytes) *
				   (m.steps ? m.steps : 1));
	if (m.steps == 0) {
		/* one checkpoint: OUTDIR is the step itself */
		char parent[4096];
		char *slash;

		snprintf(parent, sizeof(parent), "%s", root);
		slash = strrchr(parent, '/');
		if (slash)
			*slash = 0;
		else
			snprintf(parent, sizeof(parent), ".");
		rc = one_step(&m, slash == parent ? "/" : parent, base, 0, &wo, expected, base, &err);
	} else {
		for (unsigned long k = 0; k < m.steps && rc == 0; k++) {
			char step[32], rel[4200];
			uint64_t num = m.model ? (k + 1) * 100 : k;

			snprintf(step, sizeof(step), "%llu", (unsigned long long)num);
			snprintf(rel, sizeof(rel), "%s/%s", base, step);
			rc = one_step(&m, root, step, num, &wo, expected, rel, &err);
		}
	}
	cli_progress_end(&make_progress);
	if (rc == 0 && expected) {
		json_t *top = json_object();
		FILE *f;

		json_object_set_new(top, "checkpoints", expected);
		expected = NULL;
		f = fopen(m.expected, "w");
		if (!f || json_dumpf(top, f, JSON_INDENT(1) | JSON_SORT_KEYS) < 0) {
			fprintf(stderr, "ckpt make: cannot write '%s': %s\n", m.expected, strerror(errno));
			rc = -EIO;
		}
		if (f)
			fclose(f);
		json_decref(top);
	}
	json_decref(expected);
	if (rc < 0) {
		fprintf(stderr, "ckpt make: %s\n", err.code ? err.msg : ckpt_strerror(rc));
		return 1;
	}
	return 0;
}
