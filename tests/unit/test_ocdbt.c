/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ocdbt.c - OCDBT objects against the real files (shared fixtures and
 * TensorStore-written databases): manifest and node fields as documented
 * byte by byte, byte-identical re-encoding, corruption and truncation,
 * version trees, interior nodes, numbered manifests.
 * argv[1]: shared fixtures dir, argv[2]: tests/fixtures/real
 */
#define _GNU_SOURCE
#include "harness.h"
#include "ocdbt.h"
#include "ocdbt_fmt.h"

#include <fcntl.h>
#include <unistd.h>

static const char *fix, *real;
static struct ckpt_limits lim = CKPT_LIMITS_DEFAULT;

static char *path(const char *base, const char *rel)
{
	static char buf[4][4096];
	static int k;
	char *p = buf[k++ % 4];

	snprintf(p, 4096, "%s/%s", base, rel);
	return p;
}

#define V0 "orbax/compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata"

static void test_ocdbt__real_manifest_fields(void)
{
	size_t n, bn;
	unsigned char *raw = h_slurp(path(fix, V0 "/manifest.ocdbt"), &n), *body;
	struct ckpt_ocdbt_manifest m;
	struct ckpt_err err = { 0, "" };
	static const unsigned char uuid[16] = { 0x02, 0x33, 0x29, 0x70, 0xf7, 0xc8, 0x5c, 0x9b,
						0x53, 0x73, 0x1e, 0x74, 0x0d, 0x63, 0x5f, 0x15 };

	CHECK_EQ(n, 113);
	CHECK_EQ(ckpt_ocdbt_unwrap(raw, n, CKPT_OCDBT_MAGIC_MANIFEST, 1 << 20, &body, &bn, &err), 0);
	CHECK_EQ(bn, 86);
	CHECK_EQ(ckpt_ocdbt_manifest_parse(&m, body, bn, &err), 0);
	CHECK(!memcmp(m.config.uuid, uuid, 16));
	CHECK_EQ(m.config.manifest_kind, 0);
	CHECK_EQ(m.config.max_inline_value_bytes, 1024);
	CHECK_EQ(m.config.max_decoded_node_bytes, 100000000);
	CHECK_EQ(m.config.version_tree_arity_log2, 4);
	CHECK_EQ(m.config.compression, 1);
	CHECK_EQ(m.config.zstd_level, 0);
	CHECK_EQ(m.table.n, 1);
	CHECK(!strcmp(m.table.f[0].path, "d/9f51d9b77c0c771353c577b65dc7bba5"));
	CHECK_EQ(m.table.f[0].base_len, 0);
	CHECK_EQ(m.n_versions, 1);
	CHECK_EQ(m.versions[0].generation, 1);
	CHECK_EQ(m.versions[0].root.length, 240);
	CHECK_EQ(m.versions[0].stats.num_keys, 4);
	CHECK_EQ(m.versions[0].stats.num_tree_bytes, 240);
	CHECK(m.versions[0].commit_time == 1778718340771198958ull);
	CHECK_EQ(m.n_vrefs, 0);

	/* re-encoding the body reproduces the file byte for byte */
	{
		struct ckpt_buf again = CKPT_BUF_INIT, b2 = CKPT_BUF_INIT;
		struct ckpt_ocdbt_fid fid = { "", m.table.f[0].path };

		ckpt_ocdbt_config_encode(&m.config, &b2);
		ckpt_ocdbt_table_encode(&fid, 1, &b2);
		ckpt_ocdbt_versions_encode(m.versions, m.n_versions, &b2);
		ckpt_ocdbt_vrefs_encode(NULL, 0, true, &b2);
		CHECK_EQ(b2.len, bn);
		CHECK(!memcmp(b2.p, body, bn));
		CHECK_EQ(ckpt_ocdbt_wrap(CKPT_OCDBT_MAGIC_MANIFEST, 1, 0, b2.p, b2.len, &again), 0);
		CHECK_EQ(again.len, n);
		CHECK(!memcmp(again.p, raw, n));
		ckpt_buf_release(&again);
		ckpt_buf_release(&b2);
	}
	ckpt_ocdbt_manifest_release(&m);
	free(body);
	free(raw);
}

static void test_ocdbt__real_leaf_node(void)
{
	size_t n, bn;
	unsigned char *raw = h_slurp(path(fix, V0 "/d/9f51d9b77c0c771353c577b65dc7bba5"), &n), *body;
	struct ckpt_ocdbt_node nd;
	struct ckpt_err err = { 0, "" };
	static const char *keys[] = { "a/.zarray", "a/0", "b.c/.zarray", "b.c/0" };
	static const unsigned lens[] = { 164, 41, 164, 21 };

	CHECK_EQ(ckpt_ocdbt_unwrap(raw, n, CKPT_OCDBT_MAGIC_BTREE, 1 << 20, &body, &bn, &err), 0);
	CHECK_EQ(bn, 432);
	CHECK_EQ(ckpt_ocdbt_node_parse(&nd, body, bn, (struct ckpt_bytes){ (const uint8_t *)"", 0 },
				       "", 0, &err),
		 0);
	CHECK_EQ(nd.height, 0);
	CHECK_EQ(nd.n, 4);
	for (size_t i = 0; i < 4 && nd.n == 4; i++) {
		CHECK(nd.leaf[i].key.n == strlen(keys[i]) &&
		      !memcmp(nd.leaf[i].key.p, keys[i], strlen(keys[i])));
		CHECK_EQ(nd.leaf[i].value_len, lens[i]);
		CHECK(nd.leaf[i].is_inline);
	}
	/* the value of a/0: a zstd frame of int32 0..7 */
	CHECK(!memcmp(nd.leaf[1].value.p, "\x28\xb5\x2f\xfd\x00\x00\x01\x01\x00", 9));
	ckpt_ocdbt_node_release(&nd);
	free(raw);
}

/* every single-byte change and every truncation is rejected, never crashes */
static void test_ocdbt__corruption_sweep(void)
{
	size_t n;
	unsigned char *raw = h_slurp(path(fix, V0 "/manifest.ocdbt"), &n);
	unsigned char *copy = malloc(n);
	struct ckpt_err err = { 0, "" };
	int accepted = 0;

	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			unsigned char *body = NULL;
			size_t bn;

			memcpy(copy, raw, n);
			copy[i] ^= (unsigned char)(1 << bit);
			ckpt_err_clear(&err);
			if (ckpt_ocdbt_unwrap(copy, n, CKPT_OCDBT_MAGIC_MANIFEST, 1 << 20, &body, &bn,
					      &err) == 0)
				accepted++;
			free(body);
		}
	}
	CHECK_EQ(accepted, 0);
	for (size_t len = 0; len < n; len++) {
		unsigned char *body = NULL;
		size_t bn;

		ckpt_err_clear(&err);
		CHECK(ckpt_ocdbt_unwrap(raw, len, CKPT_OCDBT_MAGIC_MANIFEST, 1 << 20, &body, &bn, &err) <
		      0);
		free(body);
	}
	/* the wrong kind of object */
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_ocdbt_unwrap(raw, n, CKPT_OCDBT_MAGIC_BTREE, 1 << 20, &(unsigned char *){ NULL },
				   &(size_t){ 0 }, &err),
		 CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "bad magic") != NULL);
	free(copy);
	free(raw);
}

/* bodies that are valid envelopes but bad contents */
static void test_ocdbt__bad_bodies(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_ocdbt_manifest m;
	struct ckpt_ocdbt_node nd;
	size_t n, bn;
	unsigned char *raw = h_slurp(path(fix, V0 "/manifest.ocdbt"), &n), *body;
	unsigned char *longer;

	CHECK_EQ(ckpt_ocdbt_unwrap(raw, n, CKPT_OCDBT_MAGIC_MANIFEST, 1 << 20, &body, &bn, &err), 0);
	/* trailing byte */
	longer = malloc(bn + 1);
	memcpy(longer, body, bn);
	longer[bn] = 0;
	CHECK_EQ(ckpt_ocdbt_manifest_parse(&m, longer, bn + 1, &err), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "trailing") != NULL);
	/* every truncation of the body */
	for (size_t len = 0; len < bn; len++) {
		ckpt_err_clear(&err);
		CHECK(ckpt_ocdbt_manifest_parse(&m, body, len, &err) < 0);
	}
	/* a b+tree node claiming height 40 */
	{
		unsigned char *nb = malloc(4);

		memcpy(nb, "\x28\x00\x01\x00", 4);
		ckpt_err_clear(&err);
		CHECK_EQ(ckpt_ocdbt_node_parse(&nd, nb, 4, (struct ckpt_bytes){ (const uint8_t *)"", 0 },
					       "", 0, &err),
			 CKPT_ECORRUPT);
	}
	/* a leaf whose key prefix points past the previous key */
	{
		unsigned char *nb = malloc(16);

		/* height 0, 0 files, 2 entries, prefix[1]=5, suffix 1,1, keys "a","b" */
		memcpy(nb, "\x00\x00\x02\x05\x01\x01" "ab" "\x00\x00" "\x00\x00", 12);
		ckpt_err_clear(&err);
		CHECK_EQ(ckpt_ocdbt_node_parse(&nd, nb, 12, (struct ckpt_bytes){ (const uint8_t *)"", 0 },
					       "", 0, &err),
			 CKPT_ECORRUPT);
	}
	/* keys out of order */
	{
		unsigned char *nb = malloc(16);

		memcpy(nb, "\x00\x00\x02\x00\x01\x01" "ba" "\x00\x00" "\x00\x00", 12);
		ckpt_err_clear(&err);
		CHECK_EQ(ckpt_ocdbt_node_parse(&nd, nb, 12, (struct ckpt_bytes){ (const uint8_t *)"", 0 },
					       "", 0, &err),
			 CKPT_ECORRUPT);
		CHECK(strstr(err.msg, "increasing") != NULL);
	}
	/* an out-of-line value pointing at a file index past the table */
	{
		unsigned char *nb = malloc(16);

		memcpy(nb, "\x00\x00\x01\x01" "a" "\x05\x01\x03\x00", 9);
		ckpt_err_clear(&err);
		CHECK_EQ(ckpt_ocdbt_node_parse(&nd, nb, 9, (struct ckpt_bytes){ (const uint8_t *)"", 0 },
					       "", 0, &err),
			 CKPT_ECORRUPT);
	}
	free(longer);
	free(body);
	free(raw);
}

static int open_dir(const char *p)
{
	int fd = open(p, O_RDONLY | O_DIRECTORY);

	if (fd < 0) {
		printf("Bail out! cannot open %s\n", p);
		exit(1);
	}
	return fd;
}

/* TensorStore-written databases with version-tree and interior nodes */
static void test_ocdbt__version_tree_and_interior_nodes(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_ocdbt_gen *g;
	struct ckpt_ocdbt_db *db;
	size_t n;
	int fd = open_dir(path(real, "extra/ocdbt_version_tree"));
	struct ckpt_ocdbt_manifest m;

	/* arity 4 and 44 generations: the manifest holds version-node references */
	CHECK_EQ(ckpt_ocdbt_read_manifest(fd, "vt", &lim, &m, NULL, &err), 0);
	CHECK_EQ(m.config.version_tree_arity_log2, 2);
	CHECK(m.n_vrefs >= 1);
	ckpt_ocdbt_manifest_release(&m);
	CHECK_EQ(ckpt_ocdbt_list_generations(fd, "vt", &lim, &g, &n, &err), 0);
	CHECK_EQ(n, 44);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(g[i].generation, i + 1);
	CHECK(g[0].root_path == NULL); /* TensorStore's empty generation 1 */
	/* an old generation opens too: generation 5 held 4 keys */
	CHECK_EQ(ckpt_ocdbt_open(&db, fd, "vt", 5, &lim, &err), 0);
	CHECK_EQ(ckpt_ocdbt_count(db), 4);
	ckpt_ocdbt_close(db);
	ckpt_ocdbt_gens_free(g, n);
	/* the latest: 639 keys across interior and leaf nodes, out-of-line values */
	CHECK_EQ(ckpt_ocdbt_open(&db, fd, "vt", 0, &lim, &err), 0);
	CHECK_EQ(ckpt_ocdbt_count(db), 639);
	{
		size_t ool = 0;

		for (size_t i = 0; i < ckpt_ocdbt_count(db); i++)
			ool += ckpt_ocdbt_at(db, i)->inline_p == NULL;
		CHECK(ool > 100);
	}
	CHECK(ckpt_ocdbt_find(db, "gen/0003", 8) == NULL); /* deleted */
	CHECK(ckpt_ocdbt_find(db, "gen/0004", 8) != NULL);
	ckpt_ocdbt_close(db);
	close(fd);
	/* asking for a generation that does not exist */
	fd = open_dir(path(real, "extra/ocdbt_default_arity"));
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_ocdbt_open(&db, fd, "da", 999, &lim, &err), -ENOENT);
	close(fd);
}

static void test_ocdbt__numbered_and_merged(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_ocdbt_db *db;
	char *name = NULL;
	struct ckpt_ocdbt_manifest m;
	int fd = open_dir(path(real, "extra/ocdbt_numbered"));

	CHECK_EQ(ckpt_ocdbt_read_manifest(fd, "num", &lim, &m, &name, &err), 0);
	CHECK(name && !strcmp(name, "manifest.000000000000000a"));
	ckpt_ocdbt_manifest_release(&m);
	free(name);
	CHECK_EQ(ckpt_ocdbt_open(&db, fd, "num", 0, &lim, &err), 0);
	CHECK_EQ(ckpt_ocdbt_count(db), 105);
	ckpt_ocdbt_close(db);
	close(fd);
	/* Orbax's merged top-level database refers into ocdbt.process_0/ */
	fd = open_dir(path(real, "gen/large/large"));
	CHECK_EQ(ckpt_ocdbt_open(&db, fd, "large", 0, &lim, &err), 0);
	{
		const struct ckpt_ocdbt_value *v = ckpt_ocdbt_find(db, "big/0.0", 7);
		unsigned char head[4];

		CHECK(v && !v->inline_p);
		CHECK(v && !strncmp(ckpt_ocdbt_file_path(db, v->file), "ocdbt.process_0/d/", 18));
		CHECK(v && ckpt_ocdbt_read(db, v, 0, 4, head, &err) == 0 &&
		      !memcmp(head, "\x28\xb5\x2f\xfd", 4));
	}
	ckpt_ocdbt_close(db);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		printf("Bail out! usage: test_ocdbt SHARED_FIXTURES REAL_FIXTURES\n");
		return 1;
	}
	fix = argv[1];
	real = argv[2];
	RUN(test_ocdbt__real_manifest_fields);
	RUN(test_ocdbt__real_leaf_node);
	RUN(test_ocdbt__corruption_sweep);
	RUN(test_ocdbt__bad_bodies);
	RUN(test_ocdbt__version_tree_and_interior_nodes);
	RUN(test_ocdbt__numbered_and_merged);
	DONE();
}
