/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_edit.c - copy-on-write edits through the library: partial writes,
 * new arrays, directories, removal, renames; OCDBT and directory items;
 * old versions stay readable; prune.
 */
#define _GNU_SOURCE
#include "ckpt.h"
#include "commit.h"
#include "harness.h"
#include "writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static struct ckpt_limits lim = CKPT_LIMITS_DEFAULT;

static int counting(void *ctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err)
{
	(void)ctx, (void)err;
	for (size_t i = 0; i < n; i++)
		((uint8_t *)buf)[i] = (uint8_t)(off + i);
	return 0;
}

static int fives(void *ctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err)
{
	(void)ctx, (void)off, (void)err;
	memset(buf, 5, n);
	return 0;
}

/* a direct checkpoint: w (uint8[64,64] in 16x64 chunks), s (uint8[10]), t.u (uint8[4]) */
static char *make(bool ocdbt)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_wopts o;
	struct ckpt_step_writer *sw;
	struct ckpt_pytree_writer *pw;
	struct ckpt_dtype u8;
	struct ckpt_key kw[1] = { { "w", 1, 2 } }, ks[1] = { { "s", 1, 2 } },
			kt[2] = { { "t", 1, 2 }, { "u", 1, 2 } };
	uint64_t sw_shape[2] = { 64, 64 }, s_shape[1] = { 10 }, t_shape[1] = { 4 };
	char *root = strdup("/tmp/ckpt-edit.XXXXXX"), *path;

	mkdtemp(root);
	ckpt_wopts_default(&o);
	o.ocdbt = ocdbt;
	o.no_fsync = true;
	o.chunk_bytes = 1024;
	ckpt_dtype_from_name(&u8, "uint8");
	CHECK_EQ(ckpt_sw_begin(&sw, root, "c", &o, &lim, &err), 0);
	CHECK_EQ(ckpt_sw_pytree(sw, NULL, &pw, &err), 0);
	CHECK_EQ(ckpt_pw_array(pw, ks, 1, "jax.Array", &u8, 1, s_shape, counting, NULL, &err), 0);
	CHECK_EQ(ckpt_pw_array(pw, kt, 2, "jax.Array", &u8, 1, t_shape, counting, NULL, &err), 0);
	CHECK_EQ(ckpt_pw_array(pw, kw, 1, "jax.Array", &u8, 2, sw_shape, counting, NULL, &err), 0);
	CHECK_EQ(ckpt_sw_commit(sw, NULL, &err), 0);
	ckpt_sw_free(sw);
	if (asprintf(&path, "%s/c", root) < 0)
		exit(1);
	free(root);
	return path;
}

struct h {
	struct ckpt_src *src;
	struct ckpt_step *st;
	struct ckpt_item *it;
};

static void open_h(struct h *h, const char *path)
{
	struct ckpt_opts o;
	struct ckpt_err err = { 0, "" };

	ckpt_opts_default(&o);
	CHECK_EQ(ckpt_src_open(&h->src, path, &o, &err), 0);
	CHECK_EQ(ckpt_step_open(&h->st, h->src, "c", &err), 0);
	CHECK_EQ(ckpt_item_open(&h->it, h->st, 0, &err), 0);
	if (err.code)
		printf("#   %s\n", err.msg);
}

static void close_h(struct h *h)
{
	ckpt_item_close(h->it);
	ckpt_step_close(h->st);
	ckpt_src_close(h->src);
}

static const struct ckpt_node *at(const struct ckpt_item *it, const char *a, const char *b)
{
	const struct ckpt_node *n = ckpt_node_find(ckpt_item_root(it), a, strlen(a));

	if (n && b)
		n = ckpt_node_find(n, b, strlen(b));
	return n;
}

static void read_leaf(struct ckpt_item *it, const struct ckpt_node *n, uint8_t *buf, size_t len)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_leaf *l;

	CHECK(n != NULL);
	if (!n)
		return;
	CHECK_EQ(ckpt_item_leaf(it, n, &l, &err), 0);
	if (err.code)
		printf("#   %s\n", err.msg);
	CHECK_EQ(ckpt_leaf_read(l, buf, 0, len, &err), (int64_t)len);
}

static void scenario(bool ocdbt)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_edit *e;
	struct h h;
	uint8_t buf[4096];
	uint64_t ver;
	char *path = make(ocdbt);
	struct ckpt_extent dirty = { 1000, 100 };

	/* 1. write 100 bytes in the middle of w: one chunk rewritten */
	open_h(&h, path);
	CHECK_EQ(ckpt_edit_begin(&e, h.it, &err), 0);
	CHECK_EQ(ckpt_edit_write(e, at(h.it, "w", NULL), &dirty, 1, fives, NULL, &err), 0);
	CHECK_EQ(ckpt_edit_commit(e, NULL, &ver, &err), 0);
	if (err.code)
		printf("#   %s\n", err.msg);
	CHECK_EQ(ver, 1);
	CHECK(ckpt_edit_bytes_written(e) < 4096); /* one 1 KiB chunk and metadata */
	ckpt_edit_free(e);
	close_h(&h);
	open_h(&h, path);
	read_leaf(h.it, at(h.it, "w", NULL), buf, 4096);
	for (size_t i = 0; i < 4096; i++)
		if (buf[i] != (i >= 1000 && i < 1100 ? 5 : (uint8_t)i)) {
			CHECK(!"value");
			break;
		}
	/* 2. add x (uint8[8]) under a new dict d, then remove s */
	CHECK_EQ(ckpt_edit_begin(&e, h.it, &err), 0);
	CHECK_EQ(ckpt_edit_mkdir(e, ckpt_item_root(h.it), "d", 1, &err), 0);
	CHECK_EQ(ckpt_edit_commit(e, NULL, &ver, &err), 0);
	ckpt_edit_free(e);
	close_h(&h);
	open_h(&h, path);
	CHECK(at(h.it, "d", NULL) && ckpt_node_kind(at(h.it, "d", NULL)) == CKPT_NODE_EMPTY);
	{
		uint64_t shape[1] = { 8 };

		CHECK_EQ(ckpt_edit_begin(&e, h.it, &err), 0);
		CHECK_EQ(ckpt_edit_add_array(e, at(h.it, "d", NULL), "x", 1, "uint8", 1, shape, fives, NULL,
					     &err), 0);
		CHECK_EQ(ckpt_edit_commit(e, NULL, &ver, &err), 0);
		if (err.code)
			printf("#   %s\n", err.msg);
		ckpt_edit_free(e);
	}
	close_h(&h);
	open_h(&h, path);
	read_leaf(h.it, at(h.it, "d", "x"), buf, 8);
	CHECK(buf[0] == 5 && buf[7] == 5);
	CHECK_EQ(ckpt_edit_begin(&e, h.it, &err), 0);
	CHECK_EQ(ckpt_edit_remove(e, at(h.it, "s", NULL), &err), 0);
	CHECK_EQ(ckpt_edit_commit(e, NULL, &ver, &err), 0);
	ckpt_edit_free(e);
	close_h(&h);
	/* 3. rename t/u to d/y (t is left empty) */
	open_h(&h, path);
	CHECK(at(h.it, "s", NULL) == NULL);
	CHECK_EQ(ckpt_edit_begin(&e, h.it, &err), 0);
	CHECK_EQ(ckpt_edit_rename(e, at(h.it, "t", "u"), at(h.it, "d", NULL), "y", 1, &err), 0);
	CHECK_EQ(ckpt_edit_commit(e, NULL, &ver, &err), 0);
	if (err.code)
		printf("#   %s\n", err.msg);
	CHECK_EQ(ver, 5);
	ckpt_edit_free(e);
	close_h(&h);
	open_h(&h, path);
	read_leaf(h.it, at(h.it, "d", "y"), buf, 4);
	CHECK(buf[0] == 0 && buf[3] == 3);
	CHECK(at(h.it, "t", NULL) && ckpt_node_kind(at(h.it, "t", NULL)) == CKPT_NODE_EMPTY);
	/* every version is readable as it was */
	{
		struct ckpt_version_info *v;
		size_t n;
		struct ckpt_item *old;

		CHECK_EQ(ckpt_item_versions(h.st, 0, &v, &n, &err), 0);
		CHECK_EQ(n, 6);
		ckpt_version_infos_free(v, n);
		CHECK_EQ(ckpt_item_open_version(&old, h.st, 0, 0, &err), 0);
		if (err.code)
			printf("#   %s\n", err.msg);
		read_leaf(old, at(old, "w", NULL), buf, 4096);
		CHECK(buf[1000] == (uint8_t)1000);
		read_leaf(old, at(old, "s", NULL), buf, 10);
		CHECK(buf[9] == 9);
		read_leaf(old, at(old, "t", "u"), buf, 4);
		CHECK(at(old, "d", NULL) == NULL);
		ckpt_item_close(old);
		CHECK_EQ(ckpt_item_open_version(&old, h.st, 0, 3, &err), 0);
		read_leaf(old, at(old, "d", "x"), buf, 8);
		read_leaf(old, at(old, "s", NULL), buf, 10);
		read_leaf(old, at(old, "w", NULL), buf, 4096);
		CHECK(buf[1000] == 5);
		ckpt_item_close(old);
	}
	/* prune: the history goes, the present stays */
	CHECK_EQ(ckpt_item_prune(h.st, 0, &err), 0);
	close_h(&h);
	open_h(&h, path);
	read_leaf(h.it, at(h.it, "d", "y"), buf, 4);
	read_leaf(h.it, at(h.it, "w", NULL), buf, 4096);
	CHECK(buf[1000] == 5 && buf[999] == (uint8_t)999);
	{
		struct ckpt_version_info *v;
		size_t n;

		CHECK_EQ(ckpt_item_versions(h.st, 0, &v, &n, &err), 0);
		CHECK_EQ(n, 0);
	}
	close_h(&h);
	free(path);
}

/* two openings of one item (two mounts): an edit through one makes the
 * other's next edit fail with ESTALE, before it changes anything; an edit
 * holds the item's writer lock until it is freed */
static void writers(bool ocdbt)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_edit *e, *e2;
	struct h a, b;
	uint8_t buf[4096];
	uint64_t ver;
	char *path = make(ocdbt);
	struct ckpt_extent dirty = { 0, 10 };

	int dfd = open(path, O_RDONLY | O_DIRECTORY); /* the item's directory */

	CHECK(dfd >= 0);
	open_h(&a, path);
	open_h(&b, path);
	CHECK_EQ(ckpt_edit_begin(&e, b.it, &err), 0);
	/* the item's writer lock is held until the edit is freed */
	{
		struct ckpt_err e3 = { 0, "" };

		CHECK_EQ(ckpt_lock_dir(dfd, "item", 20, &e3), -EBUSY);
	}
	CHECK_EQ(ckpt_edit_write(e, at(b.it, "w", NULL), &dirty, 1, fives, NULL, &err), 0);
	CHECK_EQ(ckpt_edit_commit(e, NULL, &ver, &err), 0);
	ckpt_edit_free(e);
	{
		struct ckpt_err e3 = { 0, "" };
		int l = ckpt_lock_dir(dfd, "item", 0, &e3);

		CHECK(l >= 0);
		ckpt_unlock(l);
	}
	/* a's view is stale now */
	err = (struct ckpt_err){ 0, "" };
	CHECK_EQ(ckpt_edit_begin(&e2, a.it, &err), -ESTALE);
	CHECK(strstr(err.msg, "changed on disk since it was read") != NULL);
	/* read again, the edit works and keeps b's */
	close_h(&a);
	open_h(&a, path);
	err = (struct ckpt_err){ 0, "" };
	dirty = (struct ckpt_extent){ 2000, 10 };
	CHECK_EQ(ckpt_edit_begin(&e2, a.it, &err), 0);
	CHECK_EQ(ckpt_edit_write(e2, at(a.it, "w", NULL), &dirty, 1, fives, NULL, &err), 0);
	CHECK_EQ(ckpt_edit_commit(e2, NULL, &ver, &err), 0);
	ckpt_edit_free(e2);
	close_h(&a);
	close_h(&b);
	open_h(&a, path);
	read_leaf(a.it, at(a.it, "w", NULL), buf, 4096);
	CHECK(buf[0] == 5 && buf[9] == 5 && buf[10] == 10 && buf[2000] == 5 && buf[2010] == (uint8_t)2010);
	/* a commit that prune made is seen the same way */
	open_h(&b, path);
	CHECK_EQ(ckpt_item_prune(a.st, 0, &err), 0);
	err = (struct ckpt_err){ 0, "" };
	if (ocdbt) {
		CHECK_EQ(ckpt_edit_begin(&e, b.it, &err), -ESTALE);
	} else if (ckpt_edit_begin(&e, b.it, &err) == 0) {
		ckpt_edit_free(e); /* a directory item's prune may leave its files as they were */
	}
	close_h(&a);
	close_h(&b);
	close(dfd);
	free(path);
}

static void test_edit__two_writers_ocdbt(void)
{
	writers(true);
}

static void test_edit__two_writers_directories(void)
{
	writers(false);
}

static void test_edit__ocdbt(void)
{
	scenario(true);
}

static void test_edit__directories(void)
{
	scenario(false);
}

int main(void)
{
	RUN(test_edit__ocdbt);
	RUN(test_edit__directories);
	RUN(test_edit__two_writers_ocdbt);
	RUN(test_edit__two_writers_directories);
	DONE();
}
