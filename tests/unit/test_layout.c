/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_layout.c - what SOURCE is, which steps are committed, which items a
 * step holds (layout.c), on real checkpoints and on made-up directories;
 * and what <step>.json shows (describe.c).  argv[1]: ../shared/fixtures,
 * argv[2]: tests/fixtures/real.
 */
#define _GNU_SOURCE
#include "model.h"
#include "layout.h"
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *shared_dir, *real_dir;
static char tmp_root[256];

static struct ckpt_src *open_src(const char *path, bool strict, int *rc, struct ckpt_err *err)
{
	struct ckpt_opts o;
	struct ckpt_src *s = NULL;

	ckpt_opts_default(&o);
	o.readahead_threads = 0;
	o.strict_commit = strict;
	memset(err, 0, sizeof(*err));
	*rc = ckpt_src_open(&s, path, &o, err);
	return s;
}

static void test_layout__manager_root(void)
{
	char p[1024];
	struct ckpt_err err;
	struct ckpt_step_ent *e = NULL;
	struct ckpt_step *st = NULL;
	size_t n = 0;
	int rc;
	struct ckpt_src *s;

	snprintf(p, sizeof(p), "%s/gen/manager/manager", real_dir);
	s = open_src(p, false, &rc, &err);
	CHECK_EQ(rc, 0);
	if (!s)
		return;
	CHECK_EQ(ckpt_src_kind(s), CKPT_SRC_ROOT);
	CHECK_EQ(ckpt_src_scan(s, &e, &n, &err), 0);
	/* ascending by number, not by name: 6, 8, 10 */
	CHECK_EQ(n, 3);
	if (n == 3) {
		CHECK(e[0].number == 6 && e[1].number == 8 && e[2].number == 10);
		CHECK_EQ(ckpt_step_open(&st, s, e[2].name, &err), 0);
	}
	if (st) {
		json_t *j = ckpt_step_describe(st);

		CHECK(!ckpt_step_is_direct(st));
		CHECK_EQ(ckpt_step_n_items(st), 2);
		/* items sorted by name; kinds from their files */
		CHECK(!strcmp(ckpt_step_item(st, 0)->name, "extra_params"));
		CHECK_EQ(ckpt_step_item(st, 0)->kind, CKPT_ITEM_JSON);
		CHECK(!strcmp(ckpt_step_item(st, 1)->name, "state"));
		CHECK_EQ(ckpt_step_item(st, 1)->kind, CKPT_ITEM_PYTREE);
		CHECK_EQ(json_integer_value(json_object_get(j, "step")), 10);
		CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "items"), "state")),
			      "pytree"));
		CHECK(json_is_false(json_object_get(j, "direct")));
		json_decref(j);
	}
	CHECK_EQ(ckpt_step_open(&(struct ckpt_step *){ NULL }, s, "7", &err), -ENOENT);
	ckpt_step_close(st);
	ckpt_step_ents_free(e, n);
	ckpt_src_close(s);
}

static void test_layout__single_checkpoints(void)
{
	static const struct {
		const char *rel;
		bool direct;
		size_t items;
	} cases[] = {
		{ "orbax/compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
		  "pytree_checkpointable_has_metadata", true, 1 },
		{ "orbax/compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_missing/"
		  "pytree_checkpointable_missing_metadata", true, 1 },
		{ "orbax/compat/v1_checkpoints/composite_checkpoint/checkpoint_metadata_present/"
		  "pytree_checkpointable_has_metadata", false, 2 },
		{ "orbax/legacy/aggregate_all", true, 1 },
	};

	for (size_t i = 0; i < CKPT_ARRAY_SIZE(cases); i++) {
		char p[1024];
		struct ckpt_err err;
		struct ckpt_step_ent *e = NULL;
		struct ckpt_step *st = NULL;
		size_t n = 0;
		int rc;
		struct ckpt_src *s;

		snprintf(p, sizeof(p), "%s/%s", shared_dir, cases[i].rel);
		s = open_src(p, false, &rc, &err);
		CHECK_EQ(rc, 0);
		if (!s)
			continue;
		CHECK_EQ(ckpt_src_kind(s), CKPT_SRC_SINGLE);
		CHECK_EQ(ckpt_src_scan(s, &e, &n, &err), 0);
		CHECK_EQ(n, 1);
		if (n == 1 && ckpt_step_open(&st, s, e[0].name, &err) == 0) {
			CHECK_EQ(ckpt_step_is_direct(st), cases[i].direct);
			CHECK_EQ(ckpt_step_n_items(st), cases[i].items);
			CHECK(ckpt_step_time_ns(st) > 0);
		} else {
			CHECK(!"step opens");
		}
		ckpt_step_close(st);
		ckpt_step_ents_free(e, n);
		ckpt_src_close(s);
	}
}

static void mkdirf(const char *fmt, const char *a)
{
	char p[1024];

	snprintf(p, sizeof(p), fmt, tmp_root, a);
	if (mkdir(p, 0755) < 0) {
		printf("Bail out! mkdir %s\n", p);
		exit(1);
	}
}

static void touch(const char *fmt, const char *a, const char *text)
{
	char p[1024];
	FILE *f;

	snprintf(p, sizeof(p), fmt, tmp_root, a);
	f = fopen(p, "w");
	if (!f) {
		printf("Bail out! cannot write %s\n", p);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static void test_layout__commits_and_names(void)
{
	char p[1024];
	struct ckpt_err err;
	struct ckpt_step_ent *e = NULL;
	size_t n = 0;
	int rc;
	struct ckpt_src *s;

	mkdirf("%s/%s", "mgr");
	/* committed (marker), in progress (neither), temporary names, a Flax file */
	const char *steps[] = { "1", "2", "3.orbax-checkpoint-tmp-5", "ckpt_4" };

	for (size_t i = 0; i < CKPT_ARRAY_SIZE(steps); i++) {
		mkdirf("%s/mgr/%s", steps[i]);
		snprintf(p, sizeof(p), "mgr/%s/_METADATA", steps[i]);
		touch("%s/%s", p, "{}");
	}
	touch("%s/%s", "mgr/1/commit_success.txt", "");
	touch("%s/%s", "mgr/ckpt_4/commit_success.txt", "");
	touch("%s/%s", "mgr/checkpoint_5", "\x80");
	snprintf(p, sizeof(p), "%s/mgr", tmp_root);
	s = open_src(p, false, &rc, &err);
	CHECK_EQ(rc, 0);
	if (!s)
		return;
	CHECK_EQ(ckpt_src_kind(s), CKPT_SRC_ROOT);
	CHECK_EQ(ckpt_src_scan(s, &e, &n, &err), 0);
	/* "2" lacks the marker while others have it: in progress */
	CHECK_EQ(n, 3);
	if (n == 3) {
		CHECK(!strcmp(e[0].name, "1") && !strcmp(e[1].name, "ckpt_4") &&
		      !strcmp(e[2].name, "checkpoint_5"));
		CHECK(e[2].file && !e[1].file && e[1].number == 4);
	}
	ckpt_step_ents_free(e, n);
	ckpt_src_close(s);
}

static void test_layout__not_a_checkpoint(void)
{
	char p[1024];
	struct ckpt_err err;
	int rc;

	mkdirf("%s/%s", "plain");
	touch("%s/%s", "plain/notes.txt", "hello");
	snprintf(p, sizeof(p), "%s/plain", tmp_root);
	CHECK(open_src(p, false, &rc, &err) == NULL);
	CHECK_EQ(rc, -EINVAL);
	CHECK(strstr(err.msg, "is not a checkpoint") && strstr(err.msg, "plain"));
	snprintf(p, sizeof(p), "%s/does-not-exist", tmp_root);
	CHECK(open_src(p, false, &rc, &err) == NULL);
	CHECK_EQ(rc, -ENOENT);
	CHECK(strstr(err.msg, "does-not-exist"));
	/* a file that is not msgpack is not a Flax checkpoint */
	snprintf(p, sizeof(p), "%s/plain/notes.txt", tmp_root);
	CHECK(open_src(p, false, &rc, &err) == NULL);
	CHECK_EQ(rc, -ENOTDIR);
}

static void test_layout__bad_step_metadata(void)
{
	char p[1024];
	struct ckpt_err err;
	struct ckpt_step *st = NULL;
	int rc;
	struct ckpt_src *s;

	mkdirf("%s/%s", "badmeta");
	touch("%s/%s", "badmeta/_CHECKPOINT_METADATA", "{not json");
	mkdirf("%s/%s", "badmeta/state");
	touch("%s/%s", "badmeta/state/_METADATA", "{}");
	snprintf(p, sizeof(p), "%s/badmeta", tmp_root);
	s = open_src(p, false, &rc, &err);
	CHECK_EQ(rc, 0);
	if (!s)
		return;
	/* the step still opens; its .json says why the metadata is missing */
	CHECK_EQ(ckpt_step_open(&st, s, "badmeta", &err), 0);
	if (st) {
		json_t *j = ckpt_step_describe(st);
		const char *why = json_string_value(json_object_get(j, "checkpoint_metadata_error"));

		CHECK(why && strstr(why, "_CHECKPOINT_METADATA is not a JSON object"));
		CHECK(json_is_null(json_object_get(j, "checkpoint_metadata")));
		json_decref(j);
	}
	ckpt_step_close(st);
	ckpt_src_close(s);
}

static void put_bytes(const char *name, const void *p, size_t n)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tree/%s", tmp_root, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fclose(f);
}

/* the Flax sniff of a tree scan: real shapes pass, random bytes that start
 * like a Flax file do not (a 100 kB random file in a tree was once shown as
 * a checkpoint: str32/bin32 lengths past the sniffed bytes were taken as
 * "the file goes on") */
static void test_layout__flax_sniff(void)
{
	/* {"params": {"w": ext 1 of 100000 bytes ...}}: cut inside the ext */
	static const uint8_t big[] = { 0x81, 0xa6, 'p', 'a', 'r', 'a', 'm', 's', 0x81, 0xa1, 'w',
				       0xc9, 0x00, 0x01, 0x86, 0xa0, 0x01, 0x93 };
	/* {"layers": {0: {"w": 1}, 1: {"w": 2}}}: integer keys below the top */
	static const uint8_t nnx[] = { 0x81, 0xa6, 'l', 'a', 'y', 'e', 'r', 's', 0x82, 0x00, 0x81,
				       0xa1, 'w', 0x01, 0x01, 0x81, 0xa1, 'w', 0x02 };
	static const uint8_t topint[] = { 0x82, 0xa1, 'a', 0x01, 0x05, 0x02 };  /* {"a": 1, 5: 2} */
	static const uint8_t longbin[] = { 0x81, 0xa1, 'a', 0xc6, 0x40, 0, 0, 0, 0 }; /* 1 GiB bin */
	static const uint8_t badext[] = { 0x81, 0xa1, 'a', 0xd4, 0x09, 0x00 };  /* ext 9 */
	static const uint8_t trail[] = { 0x81, 0xa1, 'a', 0x01, 0x01 };         /* a byte after */
	static const uint8_t unclosed[] = { 0x81, 0xa1, 'a', 0x82, 0xa1, 'b', 0xa1, 'x', 0xa1, 'c' }; /* ends in a key */
	static uint8_t buf[65536];
	uint64_t x = 0x9e3779b97f4a7c15u;
	unsigned passed = 0;

	CHECK(ckpt_layout_flax_sniff(big, sizeof(big), 100000 + 17));
	CHECK(!ckpt_layout_flax_sniff(big, sizeof(big), sizeof(big)));     /* the whole file: cut short */
	CHECK(!ckpt_layout_flax_sniff(big, sizeof(big), 1000));            /* the ext runs past the end */
	CHECK(ckpt_layout_flax_sniff(nnx, sizeof(nnx), sizeof(nnx)));
	CHECK(!ckpt_layout_flax_sniff(topint, sizeof(topint), sizeof(topint)));
	CHECK(!ckpt_layout_flax_sniff(longbin, sizeof(longbin), 100000));
	CHECK(ckpt_layout_flax_sniff(longbin, sizeof(longbin), (1u << 30) + 16));
	CHECK(!ckpt_layout_flax_sniff(badext, sizeof(badext), sizeof(badext)));
	CHECK(!ckpt_layout_flax_sniff(trail, sizeof(trail), sizeof(trail)));
	CHECK(!ckpt_layout_flax_sniff(trail, sizeof(trail), 100000));
	CHECK(!ckpt_layout_flax_sniff(unclosed, sizeof(unclosed), sizeof(unclosed)));
	CHECK(ckpt_layout_flax_sniff(unclosed, sizeof(unclosed), 100000));
	/* 20000 random files of 100000 bytes that start {"k": ... or
	 * {"k": {16384 entries ...: none pass */
	for (int i = 0; i < 20000; i++) {
		for (size_t j = 0; j < sizeof(buf); j += 8) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(buf + j, &x, 8);
		}
		if (i % 2)
			memcpy(buf, "\x81\xa1k", 3);
		else
			memcpy(buf, "\x81\xa1k\xde\x40\x00", 6);
		passed += ckpt_layout_flax_sniff(buf, sizeof(buf), 100000);
	}
	CHECK_EQ(passed, 0);
}

/* ckpt_tree_scan: folders, files, checkpoints, depth, limits; the Flax
 * content sniff on made-up bytes */
static void test_layout__tree_scan(void)
{
	static const uint8_t flax[] = { 0x81, 0xa6, 'p', 'a', 'r', 'a', 'm', 's', 0x81, 0xa1, 'w', 0x01 };
	static const uint8_t cut[] = { 0x81, 0xa6, 'p', 'a', 'r' };           /* a map cut short */
	static const uint8_t junk[] = { 0x85, 'g', 'a', 'r', 'b', 0xc1, 0xc1 }; /* starts like a map */
	static const uint8_t intkey[] = { 0x81, 0x01, 0x02 };                 /* key not a string */
	static const uint8_t empty_map[] = { 0x80, 0xc0 };
	char p[1024];
	struct ckpt_tree_ent *e = NULL;
	struct ckpt_err err = { 0, "" };
	size_t n = 0, nc = 0;
	int dfd;

	mkdirf("%s/%s", "tree");
	mkdirf("%s/%s", "tree/a");
	mkdirf("%s/%s", "tree/a/b");
	mkdirf("%s/%s", "tree/a/b/single");
	touch("%s/%s", "tree/a/b/single/_CHECKPOINT_METADATA", "{}");
	touch("%s/%s", "tree/a/b/single/_METADATA", "{}");
	mkdirf("%s/%s", "tree/a/save.orbax-checkpoint-tmp-1");
	mkdirf("%s/%s", "tree/empty");
	touch("%s/%s", "tree/notes.txt", "hello");
	put_bytes("model.ckpt", flax, sizeof(flax));
	put_bytes("cut.ckpt", cut, sizeof(cut));
	put_bytes("junk.ckpt", junk, sizeof(junk));
	put_bytes("intkey.ckpt", intkey, sizeof(intkey));
	put_bytes("empty.ckpt", empty_map, sizeof(empty_map));
	snprintf(p, sizeof(p), "%s/tree", tmp_root);
	dfd = open(p, O_RDONLY | O_DIRECTORY);
	CHECK(ckpt_is_flax_file(dfd, "model.ckpt"));
	CHECK(!ckpt_is_flax_file(dfd, "cut.ckpt"));
	CHECK(!ckpt_is_flax_file(dfd, "junk.ckpt"));
	CHECK(!ckpt_is_flax_file(dfd, "intkey.ckpt"));
	CHECK(!ckpt_is_flax_file(dfd, "empty.ckpt"));
	CHECK(!ckpt_is_flax_file(dfd, "a"));
	close(dfd);
	CHECK_EQ(ckpt_tree_scan(p, 6, 100, &e, &n, &nc, &err), 0);
	CHECK_EQ(nc, 2);
	/* breadth first, sorted: a cut.ckpt empty empty.ckpt intkey.ckpt
	 * junk.ckpt model.ckpt notes.txt, a/b, a/b/single (the tmp save is
	 * not listed) */
	CHECK_EQ(n, 10);
	if (n == 10) {
		CHECK(!strcmp(e[0].path, "a") && e[0].kind == CKPT_TREE_DIR && e[0].depth == 1);
		CHECK(!strcmp(e[2].path, "empty") && e[2].kind == CKPT_TREE_DIR);
		CHECK(!strcmp(e[6].path, "model.ckpt") && e[6].kind == CKPT_TREE_CKPT);
		CHECK(!strcmp(e[5].name, "junk.ckpt") && e[5].kind == CKPT_TREE_FILE);
		CHECK(!strcmp(e[8].path, "a/b") && e[8].parent == 0 && e[8].depth == 2);
		CHECK(!strcmp(e[9].path, "a/b/single") && !strcmp(e[9].name, "single") &&
		      e[9].kind == CKPT_TREE_CKPT && e[9].parent == 8);
	}
	ckpt_tree_ents_free(e, n);
	/* depth 2: a/b is listed, empty */
	CHECK_EQ(ckpt_tree_scan(p, 2, 100, &e, &n, &nc, &err), 0);
	CHECK_EQ(nc, 1);
	CHECK_EQ(n, 9);
	ckpt_tree_ents_free(e, n);
	/* more checkpoints than allowed */
	CHECK_EQ(ckpt_tree_scan(p, 6, 1, &e, &n, &nc, &err), -E2BIG);
	CHECK(strstr(err.msg, "more than 1 checkpoints") != NULL);
	CHECK(e == NULL && n == 0);
	snprintf(p, sizeof(p), "%s/nowhere", tmp_root);
	memset(&err, 0, sizeof(err));
	CHECK_EQ(ckpt_tree_scan(p, 6, 100, &e, &n, &nc, &err), -ENOENT);
}

int main(int argc, char **argv)
{
	char cmd[600];

	if (argc < 3) {
		printf("Bail out! usage: test_layout SHARED_FIXTURES REAL_FIXTURES\n");
		return 1;
	}
	shared_dir = argv[1];
	real_dir = argv[2];
	snprintf(tmp_root, sizeof(tmp_root), "%s/ckpt-test-layout-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp_root)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	RUN(test_layout__manager_root);
	RUN(test_layout__single_checkpoints);
	RUN(test_layout__commits_and_names);
	RUN(test_layout__not_a_checkpoint);
	RUN(test_layout__bad_step_metadata);
	RUN(test_layout__tree_scan);
	RUN(test_layout__flax_sniff);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmp_root);
	DONE();
}
