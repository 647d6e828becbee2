/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_msgpack.c - a Flax msgpack checkpoint file whose bytes are the input,
 * opened as a one-file SOURCE through the public API: the tree walked,
 * every leaf described and read.  Then the edit path: a write that changes
 * nothing re-encodes the whole file (msgpack_edit.c), which must read back
 * as the same tree with the same bytes in every leaf.
 */
#define _GNU_SOURCE
#include "ckpt.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

static char path[256];

static void cleanup(void)
{
	char cmd[300];

	*strrchr(path, '/') = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0) {
		/* nothing to do */
	}
}

struct snap {
	enum ckpt_node_kind kind;
	uint64_t size;
	uint8_t head[64];
	size_t key_n;
	char key[32];
};

static int none(void *ctx, uint64_t off, void *buf, size_t n, struct ckpt_err *err)
{
	(void)ctx, (void)off, (void)buf, (void)n;
	return ckpt_err_set(err, -EIO, "no dirty bytes were declared");
}

/* every node's kind, key and first leaf bytes; NULL if a leaf cannot be read */
static struct snap *snapshot(struct ckpt_item *it, uint64_t *count)
{
	uint64_t nn = ckpt_item_n_nodes(it);
	struct snap *s = calloc(nn ? nn : 1, sizeof(*s));

	for (uint64_t k = 0; s && k < nn; k++) {
		const struct ckpt_node *nd = ckpt_item_node(it, k);
		struct ckpt_err err = { 0, "" };
		struct ckpt_leaf *l;
		const char *key = ckpt_node_key(nd, &s[k].key_n);

		s[k].kind = ckpt_node_kind(nd);
		memcpy(s[k].key, key, s[k].key_n < sizeof(s[k].key) ? s[k].key_n : sizeof(s[k].key));
		if (ckpt_node_is_dir(nd))
			continue;
		if (ckpt_item_leaf(it, nd, &l, &err) < 0 ||
		    ckpt_leaf_read(l, s[k].head, 0, sizeof(s[k].head), &err) < 0) {
			free(s);
			return NULL;
		}
		s[k].size = ckpt_leaf_size(l);
	}
	*count = nn;
	return s;
}

static void round_trip(struct ckpt_step *st, struct ckpt_item *it)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_edit *e;
	struct snap *a, *b = NULL;
	uint64_t na, nb = 0;
	const struct ckpt_node *target = NULL;
	struct ckpt_item *it2;
	int rc;

	a = snapshot(it, &na);
	for (uint64_t k = 0; a && k < na && !target; k++)
		if (a[k].kind == CKPT_NODE_ARRAY)
			target = ckpt_item_node(it, k);
	if (!target || ckpt_edit_begin(&e, it, &err) < 0) {
		free(a);
		return;
	}
	rc = ckpt_edit_write(e, target, NULL, 0, none, NULL, &err);
	if (rc == 0)
		rc = ckpt_edit_commit(e, "fuzz", NULL, &err);
	ckpt_edit_free(e);
	if (rc == 0) {
		if (ckpt_item_open(&it2, st, 0, &err) < 0) {
			fprintf(stderr, "the re-encoded file does not open: %s\n", err.msg);
			abort();
		}
		b = snapshot(it2, &nb);
		if (!b || nb != na || memcmp(a, b, na * sizeof(*a))) {
			fprintf(stderr, "the re-encoded file reads differently (%llu vs %llu nodes)\n",
				(unsigned long long)na, (unsigned long long)nb);
			abort();
		}
		ckpt_item_close(it2);
		ckpt_item_prune(st, 0, &err);
	}
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct ckpt_opts o;
	struct ckpt_err err = { 0, "" };
	struct ckpt_src *src;
	struct ckpt_step *st;
	struct ckpt_item *it;
	int fd;

	if (!path[0]) {
		snprintf(path, sizeof(path), "%s/ckptfs-fuzz-msgpack.%d",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
		mkdir(path, 0755);
		strcat(path, "/checkpoint_1");
		atexit(cleanup);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 0;
	if (write(fd, p, n) < 0) {
		/* a short file is input too */
	}
	close(fd);
	ckpt_opts_default(&o);
	o.readahead_threads = 0;
	o.cache_bytes = 1 << 20;
	if (ckpt_src_open(&src, path, &o, &err) < 0)
		return 0;
	if (ckpt_step_open(&st, src, "checkpoint_1", &err) == 0) {
		if (ckpt_item_open(&it, st, 0, &err) == 0) {
			json_decref(ckpt_item_describe(it, &err));
			for (uint64_t k = 0; k < ckpt_item_n_nodes(it); k++) {
				const struct ckpt_node *nd = ckpt_item_node(it, k);
				struct ckpt_leaf *l;
				uint8_t buf[256];

				if (!nd || ckpt_node_is_dir(nd))
					continue;
				json_decref(ckpt_leaf_describe(it, nd, &err));
				if (ckpt_item_leaf(it, nd, &l, &err) == 0)
					ckpt_leaf_read(l, buf, 0, sizeof(buf), &err);
			}
			round_trip(st, it);
			ckpt_item_close(it);
		}
		ckpt_step_close(st);
	}
	ckpt_src_close(src);
	return 0;
}
