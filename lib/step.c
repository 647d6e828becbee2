/* SPDX-License-Identifier: Apache-2.0 */
/*
 * step.c - a step: its directory (or Flax file), _CHECKPOINT_METADATA, and
 * the items it holds with their kinds (tier 4, above layout.c).  Rules:
 * shared/docs/FORMAT-orbax-layout.md sections 1.3, 1.8.
 */
#define _GNU_SOURCE
#include "layout.h"

#include "fsutil.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

static const char *handler_of(const struct ckpt_step *st, const char *item)
{
	const json_t *h = st->meta ? json_object_get(st->meta, "item_handlers") : NULL;

	return json_is_object(h) ? json_string_value(json_object_get(h, item)) : NULL;
}

/* a JSON item: exactly the one file named metadata, data.json or metrics, or the
 * only regular file of a directory whose handler is a JSON handler */
static bool json_item_file(int fd, bool handler_says_json, char *name_out, size_t cap)
{
	static const char *const known[] = { "data.json", "metadata", "metrics" };
	char only[256] = "";
	int files = 0, dirs = 0;
	DIR *d;
	d = ckpt_opendir_fd(fd);

	if (!d) {
		return false;
	}
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;

		if (e->d_name[0] == '.' || !strcmp(e->d_name, "commit_success.txt") ||
		    strstr(e->d_name, ".__lock"))
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			dirs++;
		} else if (S_ISREG(st.st_mode)) {
			files++;
			snprintf(only, sizeof(only), "%s", e->d_name);
		}
	}
	closedir(d);
	if (files != 1 || dirs)
		return false;
	for (size_t i = 0; i < CKPT_ARRAY_SIZE(known); i++)
		if (!strcmp(only, known[i]) || handler_says_json) {
			snprintf(name_out, cap, "%s", only);
			return true;
		}
	return false;
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ckpt_item_info *)a)->name,
		      ((const struct ckpt_item_info *)b)->name);
}

static int list_items(struct ckpt_step *st, struct ckpt_err *err)
{
	size_t cap = 0;
	DIR *d = ckpt_opendir_fd(st->fd);

	if (!d) {
		int rc = -errno;

		return ckpt_err_set(err, rc, "cannot list '%s': %s", st->path, ckpt_strerror(rc));
	}
	for (struct dirent *e; (e = readdir(d));) {
		const char *h;
		char jf[256];
		int sub;
		enum ckpt_item_kind kind;

		if (e->d_name[0] == '.' || ckpt_layout_is_uncommitted_name(e->d_name) ||
		    !strcmp(e->d_name, "descriptor"))
			continue;
		sub = ckpt_layout_opendir_at(st->fd, e->d_name);
		if (sub < 0)
			continue;
		h = handler_of(st, e->d_name);
		if (ckpt_layout_looks_pytree(sub) || ckpt_layout_looks_legacy_aggregate(sub) ||
		    (h && (strstr(h, "PyTree") || strstr(h, "Standard") || strstr(h, "Array"))))
			kind = CKPT_ITEM_PYTREE;
		else if (json_item_file(sub, h && strstr(h, "Json"), jf, sizeof(jf)))
			kind = CKPT_ITEM_JSON;
		else
			kind = CKPT_ITEM_RAW;
		close(sub);
		if (ckpt_grow((void **)&st->items, &cap, st->n_items + 1, sizeof(*st->items)) < 0 ||
		    !(st->items[st->n_items].name = strdup(e->d_name))) {
			closedir(d);
			return -ENOMEM;
		}
		st->items[st->n_items++].kind = kind;
	}
	closedir(d);
	if (st->n_items > 1)
		qsort(st->items, st->n_items, sizeof(*st->items), item_cmp);
	return 0;
}

static void read_step_meta(struct ckpt_step *st)
{
	uint8_t *buf;
	size_t n;
	json_error_t jerr;
	int rc;

	rc = ckpt_read_file(st->fd, "_CHECKPOINT_METADATA", st->src->o.lim.max_json_bytes, &buf, &n,
			    NULL);
	if (rc == -ENOENT)
		return;
	if (rc < 0) {
		if (asprintf(&st->meta_error, "cannot read _CHECKPOINT_METADATA: %s",
			     ckpt_strerror(rc)) < 0)
			st->meta_error = NULL;
		return;
	}
	st->meta = json_loadb((const char *)buf, n, 0, &jerr);
	free(buf);
	if (!st->meta || !json_is_object(st->meta)) {
		if (asprintf(&st->meta_error, "_CHECKPOINT_METADATA is not a JSON object: %s",
			     st->meta ? "wrong type" : jerr.text) < 0)
			st->meta_error = NULL;
		json_decref(st->meta);
		st->meta = NULL;
	}
}

/* a Flax msgpack file as a step: one direct pytree item, its mtime as time */
static int file_step(struct ckpt_step *st, struct ckpt_step **out)
{
	struct stat sb;

	st->direct = true;
	st->items = calloc(1, sizeof(*st->items));
	if (!st->items || !(st->items[0].name = strdup(""))) {
		ckpt_step_close(st);
		return -ENOMEM;
	}
	st->items[0].kind = CKPT_ITEM_PYTREE;
	st->n_items = 1;
	if (fstatat(st->fd, st->file, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		st->time_ns = (uint64_t)sb.st_mtim.tv_sec * 1000000000ull + (uint64_t)sb.st_mtim.tv_nsec;
	*out = st;
	return 0;
}

int ckpt_step_open(struct ckpt_step **out, struct ckpt_src *s, const char *name,
		   struct ckpt_err *err)
{
	struct ckpt_step *st;
	struct stat sb;
	int rc;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->src = s;
	st->fd = -1;
	st->name = strdup(name);
	if (!st->name) {
		rc = -ENOMEM;
		goto fail;
	}
	st->has_number = ckpt_layout_parse_step(name, &st->number);
	if (s->kind == CKPT_SRC_SINGLE && s->single_file && strcmp(name, s->single_name)) {
		rc = -ENOENT;
		goto fail;
	}
	if (s->kind == CKPT_SRC_SINGLE ? s->single_file
				       : s->kind == CKPT_SRC_ROOT && !strchr(name, '/') && name[0] != '.' &&
					 ckpt_layout_flax_step(name, &(double){ 0 }) && ckpt_layout_is_msgpack_file(s->fd, name)) {
		/* a Flax msgpack file: the step is the file, in SOURCE's directory */
		st->fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 3);
		st->file = strdup(name);
		st->path = path_join(s->path, name);
		if (st->fd < 0 || !st->file || !st->path) {
			rc = -ENOMEM;
			goto fail;
		}
		return file_step(st, out);
	}
	if (s->kind == CKPT_SRC_SINGLE) {
		if (strcmp(name, s->single_name)) {
			rc = -ENOENT;
			goto fail;
		}
		st->fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 3);
		st->path = strdup(s->path);
	} else {
		if (strchr(name, '/') || name[0] == '.' || ckpt_layout_is_uncommitted_name(name) ||
		    !st->has_number) {
			rc = -ENOENT;
			goto fail;
		}
		st->fd = ckpt_layout_opendir_at(s->fd, name);
		if (st->fd < 0) {
			rc = -errno == -ELOOP ? -ENOENT : -errno;
			goto fail;
		}
		st->path = path_join(s->path, name);
	}
	if (st->fd < 0 || !st->path) {
		rc = -ENOMEM;
		goto fail;
	}
	ckpt_src_prepare(st->fd); /* a remote mirror makes the step's files */
	st->commit_marker = ckpt_layout_has_file(st->fd, "commit_success.txt");
	read_step_meta(st);
	st->direct = ckpt_layout_looks_pytree(st->fd) || ckpt_layout_looks_legacy_aggregate(st->fd);
	if (st->direct) {
		st->items = calloc(1, sizeof(*st->items));
		if (!st->items || !(st->items[0].name = strdup(""))) {
			rc = -ENOMEM;
			goto fail;
		}
		st->items[0].kind = CKPT_ITEM_PYTREE;
		st->n_items = 1;
	} else if ((rc = list_items(st, err)) < 0) {
		goto fail;
	}
	st->time_ns = 0;
	if (st->meta && json_is_integer(json_object_get(st->meta, "commit_timestamp_nsecs")))
		st->time_ns = (uint64_t)json_integer_value(json_object_get(st->meta,
									    "commit_timestamp_nsecs"));
	if (!st->time_ns && fstat(st->fd, &sb) == 0)
		st->time_ns = (uint64_t)sb.st_mtim.tv_sec * 1000000000ull + (uint64_t)sb.st_mtim.tv_nsec;
	*out = st;
	return 0;
fail:
	ckpt_step_close(st);
	return rc;
}

void ckpt_step_close(struct ckpt_step *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n_items; i++)
		free(st->items[i].name);
	free(st->items);
	free(st->file);
	json_decref(st->meta);
	free(st->meta_error);
	if (st->fd >= 0)
		close(st->fd);
	free(st->path);
	free(st->name);
	free(st);
}

const char *ckpt_step_name(const struct ckpt_step *st)
{
	return st->name;
}

bool ckpt_step_is_direct(const struct ckpt_step *st)
{
	return st->direct;
}

size_t ckpt_step_n_items(const struct ckpt_step *st)
{
	return st->n_items;
}

const struct ckpt_item_info *ckpt_step_item(const struct ckpt_step *st, size_t i)
{
	return i < st->n_items ? &st->items[i] : NULL;
}

uint64_t ckpt_step_time_ns(const struct ckpt_step *st)
{
	return st->time_ns;
}
