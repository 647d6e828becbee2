/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_item.c - a whole checkpoint directory whose metadata files are the
 * input: _METADATA, _CHECKPOINT_METADATA, _sharding, array_metadatas/
 * process_0, _strings.json and one array's .zarray, separated by NUL bytes,
 * then (the rest, if any) Orbax's msgpack aggregate file "checkpoint".
 * Opens it through the public API, walks the tree, describes and reads
 * every leaf: the paths a mount takes.  Then, where every leaf reads, the
 * edit path of values held in the aggregate file: a write that changes
 * nothing, a move of such a value to a new key at the top and back, each
 * of which must read back as the same tree with the same bytes.
 */
#define _GNU_SOURCE
#include "ckpt.h"
#include "snapshot.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

static char dir[256];

static void cleanup(void)
{
	static const char *const names[] = { "_METADATA", "_CHECKPOINT_METADATA", "_sharding",
					     "array_metadatas/process_0", "_strings.json",
					     "a/.zarray", "checkpoint", "array_metadatas", "a", "" };
	char path[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (unlink(path) < 0)
			rmdir(path);
	}
}

static void put(const char *name, const uint8_t *d, size_t n)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	if (write(fd, d, n) < 0) {
		/* a short file is input too */
	}
	close(fd);
}

static int edit_move(struct ckpt_step *st, const char *from, const char *to)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_item *it;
	struct ckpt_edit *e;
	const struct ckpt_node *root, *n;
	int rc;

	if (ckpt_item_open(&it, st, 0, &err) < 0)
		return -1;
	root = ckpt_item_node(it, 0);
	n = ckpt_node_find(root, from, strlen(from));
	rc = n ? ckpt_edit_begin(&e, it, &err) : -1;
	if (rc == 0) {
		rc = ckpt_edit_rename(e, n, root, to, strlen(to), &err);
		if (rc == 0)
			rc = ckpt_edit_commit(e, "fuzz", NULL, &err);
		ckpt_edit_free(e);
	}
	ckpt_item_close(it);
	return rc;
}

static void round_trip(struct ckpt_step *st, struct ckpt_item *it)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_edit *e;
	struct snap *a;
	uint64_t na = 0;
	const struct ckpt_node *target = NULL, *top = NULL, *root = ckpt_item_node(it, 0);
	char from[33];
	int rc;

	a = snapshot(it, &na);
	if (!root || ckpt_node_find(root, "fuzz-moved", 10))
		na = 0;
	for (uint64_t k = 0; a && k < na; k++) {
		const struct ckpt_node *nd = ckpt_item_node(it, k);

		if (!a[k].in_file)
			continue;
		if (!target && a[k].kind == CKPT_NODE_ARRAY)
			target = nd;
		if (!top && a[k].key_n < sizeof(from) && !memchr(a[k].key, 0, a[k].key_n) &&
		    ckpt_node_find(root, a[k].key, a[k].key_n) == nd)
			top = nd;
	}
	if (target && ckpt_edit_begin(&e, it, &err) == 0) {
		rc = ckpt_edit_write(e, target, NULL, 0, none, NULL, &err);
		if (rc == 0)
			rc = ckpt_edit_commit(e, "fuzz", NULL, &err);
		ckpt_edit_free(e);
		if (rc == 0)
			same_as(st, a, na, "a write that changes nothing");
	}
	if (top) {
		size_t kn;
		const char *k = ckpt_node_key(top, &kn);

		memcpy(from, k, kn);
		from[kn] = 0;
		if (edit_move(st, from, "fuzz-moved") == 0 && edit_move(st, "fuzz-moved", from) == 0)
			same_as(st, a, na, "a move there and back");
	}
	if (target || top)
		ckpt_item_prune(st, 0, &err);
	free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	static const char *const files[] = { "_METADATA", "_CHECKPOINT_METADATA", "_sharding",
					     "array_metadatas/process_0", "_strings.json",
					     "a/.zarray" };
	struct ckpt_opts o;
	struct ckpt_err err = { 0, "" };
	struct ckpt_src *src;
	struct ckpt_step *st;
	struct ckpt_item *it;
	size_t f = 0;

	if (!dir[0]) {
		char path[512];

		snprintf(dir, sizeof(dir), "/tmp/ckptfs-fuzz-item.%d", (int)getpid());
		mkdir(dir, 0755);
		snprintf(path, sizeof(path), "%s/array_metadatas", dir);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/a", dir);
		mkdir(path, 0755);
		atexit(cleanup);
	}
	for (f = 0; f < sizeof(files) / sizeof(*files); f++) {
		const uint8_t *nul = memchr(p, 0, n);
		size_t k = nul ? (size_t)(nul - p) : n;

		put(files[f], p, k);
		p += k + (nul ? 1 : 0);
		n -= k + (nul ? 1 : 0);
	}
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/checkpoint", dir);
		if (n)
			put("checkpoint", p, n);
		else
			unlink(path);
	}
	ckpt_opts_default(&o);
	o.readahead_threads = 0;
	o.cache_bytes = 1 << 20;
	o.lim.max_chunk_bytes = 1 << 20;
	if (ckpt_src_open(&src, dir, &o, &err) < 0)
		return 0;
	if (ckpt_step_open(&st, src, strrchr(dir, '/') + 1, &err) == 0) {
		json_decref(ckpt_step_describe(st));
		for (size_t i = 0; i < ckpt_step_n_items(st); i++) {
			if (ckpt_item_open(&it, st, i, &err) < 0)
				continue;
			read_every_leaf(it);
			round_trip(st, it);
			ckpt_item_close(it);
		}
		ckpt_step_close(st);
	}
	ckpt_src_close(src);
	return 0;
}
