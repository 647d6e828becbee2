/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_msgpack.c - the msgpack tokenizer (mpack.c) on bytes: every type,
 * input cut at every length, nesting limits; and the file layer
 * (msgpack.c) through a Flax msgpack file: values, duplicate keys refused,
 * nesting beyond the limit refused, every truncation an error naming the
 * file.
 */
#define _GNU_SOURCE
#include "kind.h"
#include "mpack.h"
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sample {
	const char *name;
	const uint8_t *p;
	size_t n;          /* the whole value */
	size_t head;       /* its header */
	enum ckpt_mp_type t;
	int64_t i;
	uint64_t u, len;
	double f;
	int8_t ext;
};

#define B(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static const struct sample samples[] = {
	{ "positive fixint", B(0x05), 1, CKPT_MP_INT, 5, 5, 0, 0, 0 },
	{ "negative fixint", B(0xff), 1, CKPT_MP_INT, -1, (uint64_t)-1, 0, 0, 0 },
	{ "nil", B(0xc0), 1, CKPT_MP_NIL, 0, 0, 0, 0, 0 },
	{ "false", B(0xc2), 1, CKPT_MP_BOOL, 0, 0, 0, 0, 0 },
	{ "true", B(0xc3), 1, CKPT_MP_BOOL, 1, 0, 0, 0, 0 },
	{ "uint8", B(0xcc, 0xff), 2, CKPT_MP_INT, 255, 255, 0, 0, 0 },
	{ "uint16", B(0xcd, 0x01, 0x02), 3, CKPT_MP_INT, 258, 258, 0, 0, 0 },
	{ "uint32", B(0xce, 0xff, 0xff, 0xff, 0xff), 5, CKPT_MP_INT, 4294967295, 4294967295, 0, 0, 0 },
	{ "uint64 max", B(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 9, CKPT_MP_UINT, -1,
	  UINT64_MAX, 0, 0, 0 },
	{ "int8", B(0xd0, 0x80), 2, CKPT_MP_INT, -128, (uint64_t)-128, 0, 0, 0 },
	{ "int16", B(0xd1, 0xff, 0x00), 3, CKPT_MP_INT, -256, (uint64_t)-256, 0, 0, 0 },
	{ "int32", B(0xd2, 0x80, 0, 0, 0), 5, CKPT_MP_INT, INT32_MIN, (uint64_t)(int64_t)INT32_MIN, 0, 0, 0 },
	{ "int64", B(0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0), 9, CKPT_MP_INT, INT64_MIN, (uint64_t)INT64_MIN, 0, 0,
	  0 },
	{ "float32", B(0xca, 0x3f, 0xc0, 0, 0), 5, CKPT_MP_F32, 0, 0, 0, 1.5, 0 },
	{ "float64", B(0xcb, 0xc0, 0x04, 0, 0, 0, 0, 0, 0), 9, CKPT_MP_F64, 0, 0, 0, -2.5, 0 },
	{ "fixstr", B(0xa3, 'a', 'b', 'c'), 1, CKPT_MP_STR, 0, 0, 3, 0, 0 },
	{ "str8", B(0xd9, 2, 'h', 'i'), 2, CKPT_MP_STR, 0, 0, 2, 0, 0 },
	{ "str16", B(0xda, 0, 1, 'x'), 3, CKPT_MP_STR, 0, 0, 1, 0, 0 },
	{ "str32", B(0xdb, 0, 0, 0, 2, 'o', 'k'), 5, CKPT_MP_STR, 0, 0, 2, 0, 0 },
	{ "bin8", B(0xc4, 1, 0xaa), 2, CKPT_MP_BIN, 0, 0, 1, 0, 0 },
	{ "bin16", B(0xc5, 0, 2, 1, 2), 3, CKPT_MP_BIN, 0, 0, 2, 0, 0 },
	{ "bin32", B(0xc6, 0, 0, 0, 0), 5, CKPT_MP_BIN, 0, 0, 0, 0, 0 },
	{ "fixarray", B(0x92, 0x01, 0xc0), 1, CKPT_MP_ARR, 0, 0, 2, 0, 0 },
	{ "array16", B(0xdc, 0, 1, 0xc3), 3, CKPT_MP_ARR, 0, 0, 1, 0, 0 },
	{ "array32", B(0xdd, 0, 0, 0, 1, 0x07), 5, CKPT_MP_ARR, 0, 0, 1, 0, 0 },
	{ "fixmap", B(0x81, 0xa1, 'k', 0x01), 1, CKPT_MP_MAP, 0, 0, 1, 0, 0 },
	{ "map16", B(0xde, 0, 1, 0x01, 0x02), 3, CKPT_MP_MAP, 0, 0, 1, 0, 0 },
	{ "map32", B(0xdf, 0, 0, 0, 1, 0xc0, 0xc0), 5, CKPT_MP_MAP, 0, 0, 1, 0, 0 },
	{ "fixext1", B(0xd4, 9, 0x55), 2, CKPT_MP_EXT, 0, 0, 1, 0, 9 },
	{ "fixext2", B(0xd5, 1, 1, 2), 2, CKPT_MP_EXT, 0, 0, 2, 0, 1 },
	{ "fixext4", B(0xd6, 0xff, 1, 2, 3, 4), 2, CKPT_MP_EXT, 0, 0, 4, 0, -1 },
	{ "fixext8", B(0xd7, 3, 1, 2, 3, 4, 5, 6, 7, 8), 2, CKPT_MP_EXT, 0, 0, 8, 0, 3 },
	{ "fixext16", B(0xd8, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 2, CKPT_MP_EXT, 0, 0, 16, 0,
	  4 },
	{ "ext8", B(0xc7, 2, 1, 0xc0, 0xc0), 3, CKPT_MP_EXT, 0, 0, 2, 0, 1 },
	{ "ext16", B(0xc8, 0, 1, 2, 0x00), 4, CKPT_MP_EXT, 0, 0, 1, 0, 2 },
	{ "ext32", B(0xc9, 0, 0, 0, 0, 4), 6, CKPT_MP_EXT, 0, 0, 0, 0, 4 },
	{ "nested", B(0x81, 0xa1, 'a', 0x92, 0x81, 0x00, 0x90, 0xc4, 0), 1, CKPT_MP_MAP, 0, 0, 1, 0, 0 },
};

static void test_msgpack__every_type(void)
{
	for (size_t k = 0; k < CKPT_ARRAY_SIZE(samples); k++) {
		const struct sample *s = &samples[k];
		struct ckpt_rd r = ckpt_rd_init(s->p, s->n);
		struct ckpt_mp_tok t;
		const char *why = NULL;
		int rc = ckpt_mp_head(&r, &t, &why);

		if (rc != 0 || t.t != s->t)
			printf("#   %s: rc %d type %d\n", s->name, rc, (int)t.t);
		CHECK_EQ(rc, 0);
		CHECK_EQ(t.t, s->t);
		CHECK_EQ(s->n - r.left, s->head);
		if (s->t == CKPT_MP_INT || s->t == CKPT_MP_BOOL)
			CHECK_EQ(t.i, s->i);
		if (s->t == CKPT_MP_INT || s->t == CKPT_MP_UINT)
			CHECK(t.u == s->u);
		if (s->t == CKPT_MP_F32 || s->t == CKPT_MP_F64)
			CHECK(t.f == s->f);
		if (s->t >= CKPT_MP_STR)
			CHECK(t.len == s->len);
		if (s->t == CKPT_MP_EXT)
			CHECK_EQ(t.ext, s->ext);
		/* the whole value */
		r = ckpt_rd_init(s->p, s->n);
		CHECK_EQ(ckpt_mp_skip(&r, 8, &why), 0);
		CHECK_EQ(r.left, 0);
	}
}

static void test_msgpack__cut_at_every_length(void)
{
	for (size_t k = 0; k < CKPT_ARRAY_SIZE(samples); k++) {
		const struct sample *s = &samples[k];

		for (size_t n = 0; n < s->n; n++) {
			struct ckpt_rd r = ckpt_rd_init(s->p, n);
			struct ckpt_mp_tok t;
			const char *why = NULL;

			if (n < s->head) {
				CHECK_EQ(ckpt_mp_head(&r, &t, &why), CKPT_ECORRUPT);
				CHECK(r.left == n && r.p == s->p); /* not advanced */
				CHECK(why && !strcmp(why, "cut short"));
			}
			r = ckpt_rd_init(s->p, n);
			if (ckpt_mp_skip(&r, 8, &why) != CKPT_ECORRUPT)
				printf("#   %s cut to %zu bytes did not fail\n", s->name, n);
			CHECK(r.left == n && r.p == s->p);
		}
	}
}

static void test_msgpack__bad_bytes(void)
{
	struct ckpt_rd r = ckpt_rd_init(B(0xc1));
	struct ckpt_mp_tok t;
	const char *why = NULL;

	r.left = 1;
	CHECK_EQ(ckpt_mp_head(&r, &t, &why), CKPT_ECORRUPT);
	CHECK(why && !strcmp(why, "unknown type byte"));
	/* a count no input could hold */
	r = ckpt_rd_init((const uint8_t[]){ 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0 }, 6);
	CHECK_EQ(ckpt_mp_skip(&r, 8, &why), CKPT_ECORRUPT);
	CHECK(!strcmp(why, "more entries than bytes left"));
	r = ckpt_rd_init((const uint8_t[]){ 0xc6, 0x7f, 0xff, 0xff, 0xff, 0xc0 }, 6);
	CHECK_EQ(ckpt_mp_skip(&r, 8, &why), CKPT_ECORRUPT);
	CHECK(!strcmp(why, "a string, binary or extension runs past the end"));
}

static void test_msgpack__nesting_limit(void)
{
	uint8_t deep[201];
	struct ckpt_rd r;
	const char *why = NULL;

	/* [[[...[nil]...]]]: 200 arrays deep */
	memset(deep, 0x91, 200);
	deep[200] = 0xc0;
	r = ckpt_rd_init(deep, sizeof(deep));
	CHECK_EQ(ckpt_mp_skip(&r, 64, &why), -EFBIG);
	CHECK(r.left == sizeof(deep));
	CHECK_EQ(ckpt_mp_skip(&r, 200, &why), 0);
	CHECK_EQ(r.left, 0);
	r = ckpt_rd_init(deep, sizeof(deep));
	CHECK_EQ(ckpt_mp_skip(&r, 199, &why), -EFBIG);
}

/* ---------------------------------------------------------------- the file layer */

static char tmp_root[256];

/* opens bytes p[0, n) as the Flax file checkpoint_1; the item, or NULL with *err */
static int open_flax(const uint8_t *p, size_t n, uint32_t max_depth, struct ckpt_err *err,
		     size_t *n_nodes)
{
	char path[512];
	struct ckpt_opts o;
	struct ckpt_src *src = NULL;
	struct ckpt_step *st = NULL;
	struct ckpt_item *it = NULL;
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/checkpoint_1", tmp_root);
	f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n)) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fclose(f);
	ckpt_opts_default(&o);
	o.readahead_threads = 0;
	o.lim.max_depth = max_depth;
	memset(err, 0, sizeof(*err));
	rc = ckpt_src_open(&src, path, &o, err);
	if (rc == 0)
		rc = ckpt_step_open(&st, src, "checkpoint_1", err);
	if (rc == 0)
		rc = ckpt_item_open(&it, st, 0, err);
	if (rc == 0) {
		if (it->ops != &ckpt_kind_flax)
			rc = -EPROTO;
		*n_nodes = (size_t)ckpt_item_n_nodes(it);
	}
	ckpt_item_close(it);
	ckpt_step_close(st);
	ckpt_src_close(src);
	return rc;
}

/* {"a": {"b": [1, "s", nil]}, "c": ext1 ndarray int8 [2] = [1, 2]} */
static const uint8_t good[] = {
	0x82, 0xa1, 'a', 0x81, 0xa1, 'b', 0x93, 0x01, 0xa1, 's', 0xc0, 0xa1, 'c',
	0xc7, 0x0c, 0x01, 0x93, 0x91, 0x02, 0xa4, 'i', 'n', 't', '8', 0xc4, 0x02, 0x01, 0x02,
};

static void test_msgpack__file_layer(void)
{
	struct ckpt_err err;
	size_t nodes = 0;

	CHECK_EQ(open_flax(good, sizeof(good), 64, &err, &nodes), 0);
	/* root, a, a/b, a/b/0..2, c */
	CHECK_EQ(nodes, 7);
	/* every cut: an error naming the file, never a crash */
	for (size_t n = 1; n < sizeof(good); n++) {
		int rc = open_flax(good, n, 64, &err, &nodes);

		CHECK(rc == CKPT_ECORRUPT);
		CHECK(strstr(err.msg, "checkpoint_1") && strstr(err.msg, "msgpack"));
	}
}

static void test_msgpack__duplicate_keys(void)
{
	static const uint8_t dup[] = { 0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02 };
	static const uint8_t dup_int[] = { 0x82, 0x01, 0x01, 0xa1, '1', 0x02 };
	struct ckpt_err err;
	size_t nodes;

	CHECK_EQ(open_flax(dup, sizeof(dup), 64, &err, &nodes), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "the same key twice"));
	/* 1 and "1" are the same name */
	CHECK_EQ(open_flax(dup_int, sizeof(dup_int), 64, &err, &nodes), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "the same key twice"));
}

static void test_msgpack__file_nesting(void)
{
	uint8_t deep[1 + 3 * 20 + 1];
	struct ckpt_err err;
	size_t nodes, k = 0;

	/* {"k": {"k": ... {"k": nil}}}: 21 maps */
	deep[k++] = 0x81;
	for (int i = 0; i < 20; i++) {
		deep[k++] = 0xa1;
		deep[k++] = 'k';
		deep[k++] = i == 19 ? 0xc0 : 0x81;
	}
	CHECK_EQ(open_flax(deep, k, 64, &err, &nodes), 0);
	CHECK_EQ(open_flax(deep, k, 8, &err, &nodes), -EFBIG);
	CHECK(strstr(err.msg, "nested more than 8 deep"));
}

int main(void)
{
	char cmd[600];

	snprintf(tmp_root, sizeof(tmp_root), "%s/ckpt-test-msgpack-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp_root)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	RUN(test_msgpack__every_type);
	RUN(test_msgpack__cut_at_every_length);
	RUN(test_msgpack__bad_bytes);
	RUN(test_msgpack__nesting_limit);
	RUN(test_msgpack__file_layer);
	RUN(test_msgpack__duplicate_keys);
	RUN(test_msgpack__file_nesting);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmp_root);
	DONE();
}
