/* SPDX-License-Identifier: Apache-2.0 */
/*
 * content.c - the bytes of the files ckptfs generates: "<step>.json",
 * "<item>.json", "<leaf>.json", "metadata.json", ".ckptfs-stats" and a
 * JSON item's file.  The library builds every JSON document (lib/describe.c);
 * here they are only printed (indented, one newline at the end) and their
 * sizes remembered per state.  And an array leaf's "<name>.npy" view: its
 * header (the library's ckpt_npy_header), size, and the write that replaces it.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dump_json(json_t *j, size_t *n)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t len;

	if (!s)
		return NULL;
	len = strlen(s);
	s = realloc(s, len + 2);
	if (s) {
		s[len] = '\n';
		s[len + 1] = 0;
		*n = len + 1;
	}
	return s;
}

static json_t *describe_tree(struct ckptfs *fs, struct tslot *ts)
{
	struct ckpt_err err = { 0, "" };
	struct istate *st;
	json_t *j;

	if (fs_state_get(fs, ts, &st) < 0)
		return ckpt_describe_error(ts->errmsg);
	j = ckpt_item_describe(st->item, &err);
	fs_state_put(ts, st);
	return j;
}

int fs_content(struct ckptfs *fs, const struct target *t, char **buf, size_t *n)
{
	struct ckpt_err err = { 0, "" };
	json_t *j = NULL;
	int rc;

	*buf = NULL;
	*n = 0;
	switch (t->type) {
	case T_ROOT_META: {
		char *p;

		rc = ckpt_src_root_metadata(fs->src, &p, n, &err);
		if (rc < 0)
			return rc;
		*buf = p;
		return 0;
	}
	case T_STATS: {
		uint64_t leaves, bytes;

		j = ckpt_src_stats_describe(fs->src);
		fs_push_stats(fs, &leaves, &bytes);
		if (j) {
			json_object_set_new(j, "pushed_leaves", json_integer((json_int_t)leaves));
			json_object_set_new(j, "pushed_bytes", json_integer((json_int_t)bytes));
		}
		break;
	}
	case T_STEP_JSON:
		if ((rc = fs_step_open(fs, t->step)) < 0)
			return rc == -ENOENT ? rc : -EIO;
		j = ckpt_step_describe(fs_step(t->step));
		if (j && ckpt_step_is_direct(fs_step(t->step)))
			json_object_set_new(j, "item", describe_tree(fs, &t->step->items[0]));
		break;
	case T_ITEM_JSON:
		j = describe_tree(fs, t->ts);
		break;
	case T_JSON_ITEM: {
		struct istate *st;
		const uint8_t *p;

		if ((rc = fs_state_get(fs, t->ts, &st)) < 0)
			return rc;
		ckpt_item_json_bytes(st->item, &p, n);
		*buf = malloc(*n ? *n : 1);
		if (*buf)
			memcpy(*buf, p, *n);
		fs_state_put(t->ts, st);
		return *buf ? 0 : -ENOMEM;
	}
	case T_NODE_JSON:
		j = ckpt_leaf_describe(t->st->item, t->node, &err);
		break;
	default:
		return -EINVAL;
	}
	if (!j)
		return -ENOMEM;
	*buf = dump_json(j, n);
	json_decref(j);
	if (*buf && fs->remote) {
		/* paths in SOURCE on object storage: its URL, not the mirror's */
		char *u = ckpt_remote_unmirror_dup(fs->remote, *buf, n);

		free(*buf);
		*buf = u;
	}
	return *buf ? 0 : -ENOMEM;
}

bool fs_content_size_known(const struct target *t)
{
	uint64_t known = 1;

	switch (t->type) {
	case T_STEP_JSON: known = __atomic_load_n(&t->step->json_size, __ATOMIC_RELAXED); break;
	case T_ITEM_JSON:
		pthread_mutex_lock(&t->ts->lock);
		if (!t->ts->opened)
			known = 0; /* knowing it opens the item */
		else if (t->ts->err == 0)
			known = __atomic_load_n(&t->ts->cur->head_json_size, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&t->ts->lock);
		break;
	case T_NODE_JSON:
		known = __atomic_load_n(&t->st->json_size[ckpt_node_id(t->node)], __ATOMIC_RELAXED);
		break;
	default: break;
	}
	return known != 0;
}

int fs_content_size(struct ckptfs *fs, const struct target *t, uint64_t *size)
{
	uint64_t *cache = NULL;
	struct istate *st = NULL;
	char *buf;
	size_t n;
	int rc;

	switch (t->type) {
	case T_STEP_JSON: cache = &t->step->json_size; break;
	case T_ITEM_JSON:
		if (fs_state_get(fs, t->ts, &st) == 0)
			cache = &st->head_json_size;
		break;
	case T_NODE_JSON: cache = &t->st->json_size[ckpt_node_id(t->node)]; break;
	default: break;
	}
	if (cache && __atomic_load_n(cache, __ATOMIC_RELAXED)) {
		*size = __atomic_load_n(cache, __ATOMIC_RELAXED) - 1;
		fs_state_put(t->ts, st);
		return 0;
	}
	rc = fs_content(fs, t, &buf, &n);
	if (rc == 0) {
		free(buf);
		*size = n;
		if (cache)
			__atomic_store_n(cache, n + 1, __ATOMIC_RELAXED);
	}
	if (st)
		fs_state_put(t->ts, st);
	return rc;
}

/* ---------------------------------------------------------------- .npy views */

int fs_npy_head(struct ckptfs *fs, const struct target *t, struct ckpt_npy *h)
{
	struct ckpt_err err = { 0, "" };
	int rc = ckpt_item_leaf_npy(t->st->item, t->node, h, &err);

	if (rc < 0) {
		fs_log(fs, "step '%s': %s.npy: %s", t->step->name, t->key, err.msg);
		return -EIO;
	}
	return 0;
}

/* NAME.npy's size: its header and the leaf's bytes (the library remembers
 * both once asked); while it is being written (the replace path), what was
 * written */
int fs_npy_size(struct ckptfs *fs, const struct target *t, uint64_t *size)
{
	struct ckpt_err err = { 0, "" };
	const char *slash = strrchr(t->key, '/');
	char *dir = strndup(t->key, slash ? (size_t)(slash - t->key) : 0), name[CKPT_NAME_MAX + 8];
	struct pending *p;

	if (!dir)
		return -ENOMEM;
	snprintf(name, sizeof(name), "%s.npy", slash ? slash + 1 : t->key);
	*size = 0;
	pthread_mutex_lock(&t->ts->lock);
	for (size_t i = 0; i < t->ts->n_pending; i++) {
		p = t->ts->pending[i];
		if (!p->done && p->wb && !strcmp(p->dir, dir) && !strcmp(p->name, name))
			*size = fs_wbuf_size(p->wb);
	}
	pthread_mutex_unlock(&t->ts->lock);
	free(dir);
	if (*size)
		return 0;
	if (ckpt_item_leaf_npy_bytes(t->st->item, t->node, size, &err) < 0) {
		fs_log(fs, "step '%s': %s.npy: %s", t->step->name, t->key, err.msg);
		return -EIO;
	}
	return 0;
}

int fs_npy_open_write(struct ckptfs *fs, const struct target *t, struct wbuf **wb)
{
	const char *slash = strrchr(t->key, '/');
	char *dir = strndup(t->key, slash ? (size_t)(slash - t->key) : 0), name[CKPT_NAME_MAX + 8];
	fuse_ino_t parent, ino;
	int rc;

	if (!dir)
		return -ENOMEM;
	snprintf(name, sizeof(name), "%s.npy", slash ? slash + 1 : t->key);
	parent = *dir ? fs_path_ino(fs, t->ts, dir, 0) : t->ts->head;
	free(dir);
	if (!parent)
		return -ENOMEM;
	/* the same path as creating a new NAME.npy: replaced when closed */
	rc = fs_create_npy(fs, parent, name, &ino, wb);
	return rc;
}
