/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_public_header.c - ckpt.h is all a user of the library needs: this
 * file is compiled with only lib/include on the include path, includes
 * nothing of the library but <ckpt.h>, and reads a real checkpoint through
 * it.  argv[1]: ../shared/fixtures.
 */
#include <ckpt.h>

#include "harness.h"

static const char *fixtures;

static void test_public_header__read(void)
{
	struct ckpt_opts o;
	struct ckpt_err err = { 0, "" };
	struct ckpt_src *src = NULL;
	struct ckpt_step *st = NULL;
	struct ckpt_item *it = NULL;
	struct ckpt_step_ent *e = NULL;
	struct ckpt_leaf *l;
	const struct ckpt_node *a = NULL;
	size_t n = 0;
	int32_t v[8];
	json_t *j;
	char path[1024];

	snprintf(path, sizeof(path), "%s/orbax/compat/v0_checkpoints/direct_checkpoint/"
		 "checkpoint_metadata_present/pytree_checkpointable_has_metadata", fixtures);
	ckpt_opts_default(&o);
	CHECK_EQ(ckpt_src_open(&src, path, &o, &err), 0);
	CHECK_EQ(ckpt_src_kind(src), CKPT_SRC_SINGLE);
	CHECK_EQ(ckpt_src_scan(src, &e, &n, &err), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(ckpt_step_open(&st, src, e[0].name, &err), 0);
	CHECK_EQ(ckpt_item_open(&it, st, 0, &err), 0);
	if (it)
		a = ckpt_node_find(ckpt_item_root(it), "a", 1);
	CHECK(a != NULL);
	if (a) {
		CHECK_EQ(ckpt_item_leaf(it, a, &l, &err), 0);
		CHECK_EQ(ckpt_leaf_read(l, v, 0, sizeof(v), &err), 32);
		CHECK(v[0] == 0 && v[7] == 7);
	}
	j = src ? ckpt_src_stats_describe(src) : NULL;
	CHECK(json_is_integer(json_object_get(j, "cache_budget")));
	json_decref(j);
	j = ckpt_describe_error("x");
	CHECK(!strcmp(json_string_value(json_object_get(j, "error")), "x"));
	json_decref(j);
	/* an error code from ckpt_err.h */
	CHECK(CKPT_ECORRUPT < 0);
	ckpt_item_close(it);
	ckpt_step_close(st);
	ckpt_step_ents_free(e, n);
	ckpt_src_close(src);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		printf("Bail out! usage: test_public_header SHARED_FIXTURES\n");
		return 1;
	}
	fixtures = argv[1];
	RUN(test_public_header__read);
	DONE();
}
