/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_pytree.c - items of every kind opened from real checkpoints: which
 * kind reads them (kind.h), their trees, leaf sizes and bytes; and the
 * failure paths (missing pieces, bad _METADATA) give errors that name the
 * file.  argv[1]: ../shared/fixtures, argv[2]: tests/fixtures/real.
 */
#define _GNU_SOURCE
#include "kind.h"
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *shared_dir, *real_dir;

struct opened {
	struct ckpt_src *src;
	struct ckpt_step *st;
	struct ckpt_item *it;
	struct ckpt_err err;
	int rc;
};

/* opens item `item` ("" for a direct checkpoint) of the one or first step of path */
static void open_item(struct opened *o, const char *path, const char *item)
{
	struct ckpt_opts opts;
	struct ckpt_step_ent *e = NULL;
	size_t n = 0, i = 0;

	memset(o, 0, sizeof(*o));
	ckpt_opts_default(&opts);
	opts.readahead_threads = 0;
	o->rc = ckpt_src_open(&o->src, path, &opts, &o->err);
	if (o->rc == 0)
		o->rc = ckpt_src_scan(o->src, &e, &n, &o->err);
	if (o->rc == 0 && n == 0)
		o->rc = -ENOENT;
	if (o->rc == 0)
		o->rc = ckpt_step_open(&o->st, o->src, e[0].name, &o->err);
	ckpt_step_ents_free(e, n);
	while (o->rc == 0 && i < ckpt_step_n_items(o->st) && strcmp(ckpt_step_item(o->st, i)->name, item))
		i++;
	if (o->rc == 0)
		o->rc = ckpt_item_open(&o->it, o->st, i, &o->err);
}

static void close_item(struct opened *o)
{
	ckpt_item_close(o->it);
	ckpt_step_close(o->st);
	ckpt_src_close(o->src);
}

static char *fix(const char *base, const char *rel)
{
	static char buf[8][4096];
	static int k;
	char *p = buf[k++ % 8];

	snprintf(p, 4096, "%s/%s", base, rel);
	return p;
}

/* the leaf at slash-separated path: its size, and its bytes into buf */
static int64_t leaf_bytes(struct ckpt_item *it, const char *path, void *buf, size_t cap)
{
	const struct ckpt_node *n = ckpt_item_root(it);
	char copy[256], *save = NULL;
	struct ckpt_leaf *l;
	struct ckpt_err err = { 0, "" };
	uint64_t size;

	snprintf(copy, sizeof(copy), "%s", path);
	for (char *t = strtok_r(copy, "/", &save); t && n; t = strtok_r(NULL, "/", &save))
		n = ckpt_node_find(n, t, strlen(t));
	if (!n) {
		printf("#   no node '%s'\n", path);
		return -ENOENT;
	}
	if (ckpt_item_leaf_size(it, n, &size, &err) < 0 || ckpt_item_leaf(it, n, &l, &err) < 0) {
		printf("#   '%s': %s\n", path, err.msg);
		return -EIO;
	}
	if (size != ckpt_leaf_size(l) || size > cap)
		return -EFBIG;
	return ckpt_leaf_read(l, buf, 0, (size_t)size, &err);
}

static const char *V0_DIRECT = "orbax/compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
			       "pytree_checkpointable_has_metadata";

static void check_ab(struct ckpt_item *it)
{
	int32_t a[8], c[3];

	CHECK_EQ(leaf_bytes(it, "a", a, sizeof(a)), 32);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(a[i], i);
	CHECK_EQ(leaf_bytes(it, "b/c", c, sizeof(c)), 12);
	CHECK(c[0] == 1 && c[1] == 2 && c[2] == 3);
}

static void test_pytree__with_metadata(void)
{
	struct opened o;
	const struct ckpt_node *root, *b;

	open_item(&o, fix(shared_dir, V0_DIRECT), "");
	CHECK_EQ(o.rc, 0);
	if (o.rc == 0) {
		CHECK(o.it->ops == &ckpt_kind_pytree);
		CHECK(ckpt_step_is_direct(o.st));
		root = ckpt_item_root(o.it);
		CHECK_EQ(ckpt_node_n_children(root), 2);
		b = ckpt_node_find(root, "b", 1);
		CHECK(b && ckpt_node_kind(b) == CKPT_NODE_DICT && ckpt_node_n_children(b) == 1);
		CHECK(o.it->have_metadata && o.it->use_ocdbt && o.it->db);
		check_ab(o.it);
	}
	close_item(&o);
}

static void test_pytree__v1_composite_and_json_item(void)
{
	struct opened o;
	const char *p = fix(shared_dir, "orbax/compat/v1_checkpoints/composite_checkpoint/"
				"checkpoint_metadata_present/pytree_checkpointable_has_metadata");
	const uint8_t *j;
	size_t n;

	open_item(&o, p, "state");
	CHECK_EQ(o.rc, 0);
	if (o.rc == 0) {
		CHECK(o.it->ops == &ckpt_kind_pytree);
		CHECK(o.it->use_zarr3);
		check_ab(o.it);
	}
	close_item(&o);
	open_item(&o, p, "metadata");
	CHECK_EQ(o.rc, 0);
	if (o.rc == 0) {
		CHECK(o.it->ops == &ckpt_kind_json);
		CHECK_EQ(ckpt_item_json_bytes(o.it, &j, &n), 0);
		CHECK(n > 0 && memmem(j, n, "json_data", 9));
		CHECK(!ckpt_item_root(o.it));
	}
	close_item(&o);
}

static void test_pytree__without_metadata(void)
{
	struct opened o;
	const struct ckpt_node *root;
	int32_t c[3];

	open_item(&o, fix(shared_dir, "orbax/compat/v0_checkpoints/direct_checkpoint/"
				      "checkpoint_metadata_present/pytree_checkpointable_missing_metadata"), "");
	CHECK_EQ(o.rc, 0);
	if (o.rc == 0) {
		CHECK(o.it->ops == &ckpt_kind_pytree_flat);
		CHECK(!o.it->have_metadata);
		root = ckpt_item_root(o.it);
		/* one leaf per array, named by its parameter name */
		CHECK_EQ(ckpt_node_n_children(root), 2);
		CHECK(ckpt_node_find(root, "a", 1) && ckpt_node_find(root, "b.c", 3));
		CHECK_EQ(leaf_bytes(o.it, "b.c", c, sizeof(c)), 12);
		CHECK(c[2] == 3);
	}
	close_item(&o);
}

static void check_legacy(const char *name, bool zarr_dirs)
{
	struct opened o;
	int64_t v[16];

	open_item(&o, fix(shared_dir, name), "");
	CHECK_EQ(o.rc, 0);
	if (o.rc != 0) {
		printf("#   %s\n", o.err.msg);
		close_item(&o);
		return;
	}
	/* _METADATA with only use_zarr3: the tree, with the file's values laid over */
	CHECK(o.it->ops == &ckpt_kind_pytree);
	CHECK(o.it->mp_fd >= 0);
	CHECK_EQ(leaf_bytes(o.it, "a", v, sizeof(v)), 64);
	CHECK(v[0] == 0 && v[7] == 7);
	CHECK_EQ(leaf_bytes(o.it, "b", v, sizeof(v)), 128);
	CHECK(v[15] == 30);
	CHECK_EQ(leaf_bytes(o.it, "c/a", v, sizeof(v)), 64);
	CHECK(v[7] == 21);
	CHECK_EQ(leaf_bytes(o.it, "c/e", v, sizeof(v)), 128);
	CHECK(v[15] == 60);
	{
		const struct ckpt_node *a = ckpt_node_find(ckpt_item_root(o.it), "a", 1);

		/* aggregate_some: a and b are zarr directories beside the file */
		CHECK(a && (a->mp == NULL) == zarr_dirs);
	}
	close_item(&o);
}

static void test_pytree__legacy_aggregate(void)
{
	check_legacy("orbax/legacy/aggregate_all", false);
	check_legacy("orbax/legacy/aggregate_some", true);
}

/* ---------------------------------------------------------------- made-up items in a temp directory */

static char tmp_root[256];

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fclose(f);
}

static char *mk(const char *name)
{
	static char buf[4][1024];
	static int k;
	char *p = buf[k++ % 4];

	snprintf(p, 1024, "%s/%s", tmp_root, name);
	if (mkdir(p, 0755) < 0) {
		printf("Bail out! mkdir %s\n", p);
		exit(1);
	}
	return p;
}

static void test_pytree__flax_file(void)
{
	/* {"w": ndarray int32 [2] = [7, -1], "s": "hi", "n": nil, "t": {"0": 1.5}} */
	static const uint8_t mp[] = {
		0x84, 0xa1, 'w', 0xc7, 19, 1, 0x93, 0x91, 2, 0xa5, 'i', 'n', 't', '3', '2', 0xc4, 8,
		7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xa1, 's', 0xa2, 'h', 'i', 0xa1, 'n', 0xc0, 0xa1,
		't', 0x81, 0xa1, '0', 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
	};
	char *d = mk("flax");
	char path[1100];
	struct opened o;
	int32_t w[2];
	char s[8];
	double f;

	write_file(d, "checkpoint_3", mp, sizeof(mp));
	snprintf(path, sizeof(path), "%s/checkpoint_3", d);
	open_item(&o, path, "");
	CHECK_EQ(o.rc, 0);
	if (o.rc == 0) {
		CHECK(o.it->ops == &ckpt_kind_flax);
		CHECK_EQ(ckpt_node_n_children(ckpt_item_root(o.it)), 4);
		CHECK_EQ(leaf_bytes(o.it, "w", w, sizeof(w)), 8);
		CHECK(w[0] == 7 && w[1] == -1);
		CHECK_EQ(leaf_bytes(o.it, "s", s, sizeof(s)), 2);
		CHECK(!memcmp(s, "hi", 2));
		CHECK_EQ(leaf_bytes(o.it, "n", s, sizeof(s)), 0);
		CHECK_EQ(leaf_bytes(o.it, "t/0", &f, sizeof(f)), 8);
		CHECK(f == 1.5);
	}
	close_item(&o);
}

static void test_pytree__raw_item(void)
{
	char *d = mk("rawstep"), sub[1100];
	struct opened o;
	char buf[16];

	write_file(d, "_CHECKPOINT_METADATA", "{}", 2);
	snprintf(sub, sizeof(sub), "%s/other", d);
	mkdir(sub, 0755);
	snprintf(sub, sizeof(sub), "%s/other/deep", d);
	mkdir(sub, 0755);
	write_file(sub, "x.bin", "abc", 3);
	snprintf(sub, sizeof(sub), "%s/other", d);
	write_file(sub, "y.bin", "hello", 5);
	open_item(&o, d, "other");
	CHECK_EQ(o.rc, 0);
	if (o.rc == 0) {
		CHECK(o.it->ops == &ckpt_kind_raw);
		CHECK_EQ(leaf_bytes(o.it, "deep/x.bin", buf, sizeof(buf)), 3);
		CHECK_EQ(leaf_bytes(o.it, "y.bin", buf, sizeof(buf)), 5);
		CHECK(!memcmp(buf, "hello", 5));
	}
	close_item(&o);
}

/* a pytree item whose _METADATA is `meta`: the error of opening it */
static int open_with_metadata(const char *name, const char *meta, struct ckpt_err *err)
{
	char *d = mk(name);
	struct opened o;
	int rc;

	write_file(d, "_METADATA", meta, strlen(meta));
	open_item(&o, d, "");
	rc = o.rc;
	*err = o.err;
	close_item(&o);
	return rc;
}

static void test_pytree__bad_metadata(void)
{
	struct ckpt_err err;

	CHECK_EQ(open_with_metadata("badjson", "{\"tree_metadata\": {", &err), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "_METADATA") && strstr(err.msg, "badjson"));
	CHECK_EQ(open_with_metadata("notobj", "[1, 2]", &err), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "_METADATA' is not a JSON object"));
	CHECK_EQ(open_with_metadata("nokeys",
				    "{\"tree_metadata\": {\"('a',)\": {\"value_metadata\": "
				    "{\"value_type\": \"jax.Array\"}}}}", &err), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "lacks key_metadata or value_type"));
	CHECK_EQ(open_with_metadata("badkey",
				    "{\"tree_metadata\": {\"('a',)\": {\"key_metadata\": [{\"key\": []}], "
				    "\"value_metadata\": {\"value_type\": \"jax.Array\"}}}}", &err),
		 CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "has a bad key"));
}

static void test_pytree__missing_pieces(void)
{
	struct opened o;
	const char *base = "orbax/compat/v0_checkpoints/composite_checkpoint/critical_metadata_alterations/";
	char p[512];
	int32_t a[8];

	/* manifest.ocdbt removed: the item does not open, the message names it */
	snprintf(p, sizeof(p), "%smissing_pytree_data_file_manifest.ocdbt", base);
	open_item(&o, fix(shared_dir, p), "state");
	CHECK_EQ(o.rc, -ENOENT);
	if (!strstr(o.err.msg, "manifest.ocdbt"))
		printf("#   message: %s\n", o.err.msg);
	CHECK(strstr(o.err.msg, "manifest.ocdbt") && strstr(o.err.msg, "missing"));
	close_item(&o);
	/* d/ removed: the tree opens, reading a leaf fails naming the data file */
	snprintf(p, sizeof(p), "%smissing_pytree_data_dir_d", base);
	open_item(&o, fix(shared_dir, p), "state");
	if (o.rc == 0) {
		CHECK(leaf_bytes(o.it, "a", a, sizeof(a)) < 0);
	} else {
		CHECK(strstr(o.err.msg, "/d/"));
	}
	close_item(&o);
}

static void test_pytree__real_generated(void)
{
	struct opened o;

	open_item(&o, fix(real_dir, "gen/composite/composite_checkpoint"), "state");
	CHECK_EQ(o.rc, 0);
	if (o.rc == 0) {
		CHECK(o.it->ops == &ckpt_kind_pytree);
		CHECK(ckpt_item_n_nodes(o.it) > 1);
		for (uint64_t i = 0; i < ckpt_item_n_nodes(o.it); i++) {
			const struct ckpt_node *n = ckpt_item_node(o.it, i);
			uint64_t size;
			struct ckpt_err err = { 0, "" };

			CHECK(ckpt_node_id(n) == i);
			if (!ckpt_node_is_dir(n))
				CHECK_EQ(ckpt_item_leaf_size(o.it, n, &size, &err), 0);
		}
	}
	close_item(&o);
}

/* what <item>.json and <leaf>.json show (describe.c) */
static void test_pytree__describe(void)
{
	struct opened o;
	json_t *j, *a;
	const struct ckpt_node *n;
	struct ckpt_err err = { 0, "" };

	open_item(&o, fix(shared_dir, V0_DIRECT), "");
	CHECK_EQ(o.rc, 0);
	if (o.rc != 0) {
		close_item(&o);
		return;
	}
	j = ckpt_item_describe(o.it, &err);
	CHECK(!strcmp(json_string_value(json_object_get(j, "kind")), "pytree"));
	CHECK(json_is_true(json_object_get(j, "has_metadata")));
	CHECK(json_is_true(json_object_get(j, "use_ocdbt")));
	CHECK(json_is_integer(json_object_get(json_object_get(j, "ocdbt"), "generation")));
	a = json_object_get(json_object_get(j, "leaves"), "a");
	CHECK(!strcmp(json_string_value(json_object_get(a, "dtype")), "int32"));
	CHECK_EQ(json_integer_value(json_array_get(json_object_get(a, "shape"), 0)), 8);
	CHECK_EQ(json_integer_value(json_object_get(a, "nbytes")), 32);
	CHECK_EQ(json_integer_value(json_object_get(a, "size")), 8); /* elements, as numpy counts */
	CHECK_EQ(json_integer_value(json_object_get(j, "schema")), 1);
	CHECK(json_object_get(json_object_get(j, "leaves"), "b/c") != NULL);
	json_decref(j);
	n = ckpt_node_find(ckpt_node_find(ckpt_item_root(o.it), "b", 1), "c", 1);
	j = n ? ckpt_leaf_describe(o.it, n, &err) : NULL;
	CHECK(j != NULL);
	CHECK(!strcmp(json_string_value(json_array_get(json_object_get(j, "path"), 1)), "c"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "kind")), "array"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "param_name")), "b.c"));
	CHECK_EQ(json_integer_value(json_object_get(j, "nbytes")), 12);
	CHECK_EQ(json_integer_value(json_object_get(j, "schema")), 1);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "npy"), "descr")), "<i4"));
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(j, "npy"), "header_bytes")), 128);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "storage"), "kind")), "ocdbt"));
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "storage"), "metadata_key")),
		      "b.c/.zarray"));
	json_decref(j);
	/* the step's .json */
	j = ckpt_step_describe(o.st);
	CHECK(json_is_true(json_object_get(j, "direct")));
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "items"), ".")), "pytree"));
	json_decref(j);
	close_item(&o);
}

int main(int argc, char **argv)
{
	char cmd[600];

	if (argc < 3) {
		printf("Bail out! usage: test_pytree SHARED_FIXTURES REAL_FIXTURES\n");
		return 1;
	}
	shared_dir = argv[1];
	real_dir = argv[2];
	snprintf(tmp_root, sizeof(tmp_root), "%s/ckpt-test-pytree-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp_root)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	RUN(test_pytree__with_metadata);
	RUN(test_pytree__v1_composite_and_json_item);
	RUN(test_pytree__without_metadata);
	RUN(test_pytree__legacy_aggregate);
	RUN(test_pytree__flax_file);
	RUN(test_pytree__raw_item);
	RUN(test_pytree__bad_metadata);
	RUN(test_pytree__missing_pieces);
	RUN(test_pytree__real_generated);
	RUN(test_pytree__describe);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmp_root);
	DONE();
}
