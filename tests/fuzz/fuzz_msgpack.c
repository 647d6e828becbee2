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
#include "snapshot.h"

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

static void round_trip(struct ckpt_step *st, struct ckpt_item *it)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_edit *e;
	struct snap *a;
	uint64_t na;
	const struct ckpt_node *target = NULL;
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
		same_as(st, a, na, "a write that changes nothing");
		ckpt_item_prune(st, 0, &err);
	}
	free(a);
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
			read_every_leaf(it);
			round_trip(st, it);
			ckpt_item_close(it);
		}
		ckpt_step_close(st);
	}
	ckpt_src_close(src);
	return 0;
}
