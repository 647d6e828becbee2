/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writer.c - Orbax checkpoints (tier 5); see writer.h.  This file: the step
 * writer (ckpt_sw_*); pytree items are writer_pytree.c (writer_int.h).
 *
 * Order of work in a pytree item, as Orbax does it (FORMAT-orbax-layout.md
 * 2.x, FORMAT-ocdbt-zarr.md 11): every array's zarr metadata is committed to
 * ocdbt.process_0 (one commit each), then every array's chunks (one commit
 * per array and process), then the merged top-level database (one commit
 * that copies inline values and refers to the per-process data files), then
 * _METADATA, _sharding, array_metadatas/process_0, _strings.json and
 * commit_success.txt.
 */
#define _GNU_SOURCE
#include "writer_int.h"

#include "buf.h"
#include "commit.h"
#include "chunkio.h"
#include "fsutil.h"
#include "util.h"
#include "zarr_write.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const H_STANDARD =
	"orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler";

static const char *const H_PYTREE =
	"orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler";

static const char *const H_JSON =
	"orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler";

void ckpt_wopts_default(struct ckpt_wopts *o)
{
	memset(o, 0, sizeof(*o));
	o->ocdbt = true;
	o->compress = true;
	o->processes = 1;
	o->stream_threshold = (uint64_t)64 << 20;
}

static int rm_rf_depth(int at, const char *name, unsigned depth)
{
	/* the tmp trees we write are a few levels deep: the depth is capped */
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return unlinkat(at, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	if (depth > 64) {
		close(fd);
		return -ELOOP;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (e->d_type == DT_DIR)
			rm_rf_depth(dirfd(d), e->d_name, depth + 1);
		else
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	return unlinkat(at, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int rm_rf_at(int at, const char *name)
{
	return rm_rf_depth(at, name, 0);
}

int ckpt_sw_begin(struct ckpt_step_writer **out, const char *root, const char *step,
		  const struct ckpt_wopts *o, const struct ckpt_limits *lim, struct ckpt_err *err)
{
	struct ckpt_step_writer *sw;
	json_t *m;
	int rc;

	*out = NULL;
	if (!*step || strchr(step, '/') || !strcmp(step, ".") || !strcmp(step, ".."))
		return ckpt_err_set(err, -EINVAL, "'%s' is not a step name", step);
	sw = calloc(1, sizeof(*sw));
	if (!sw)
		return -ENOMEM;
	sw->fd = sw->rootfd = -1;
	sw->o = *o;
	if (!sw->o.processes)
		sw->o.processes = 1;
	sw->lim = *lim;
	sw->root = strdup(root);
	sw->step = strdup(step);
	if (!sw->root || !sw->step || asprintf(&sw->tmp, "%s.orbax-checkpoint-tmp", step) < 0 ||
	    asprintf(&sw->final, "%s/%s", root, step) < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	if (mkdir(root, 0755) < 0 && errno != EEXIST) {
		rc = ckpt_err_set(err, -errno, "cannot create '%s': %s", root, ckpt_strerror(-errno));
		goto fail;
	}
	sw->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sw->rootfd < 0) {
		rc = ckpt_err_set(err, -errno, "cannot open '%s': %s", root, ckpt_strerror(-errno));
		goto fail;
	}
	if (ckpt_exists(sw->rootfd, step)) {
		rc = ckpt_err_set(err, -EEXIST, "'%s/%s' exists already", root, step);
		goto fail;
	}
	rm_rf_at(sw->rootfd, sw->tmp); /* a crashed earlier attempt */
	if (mkdirat(sw->rootfd, sw->tmp, 0755) < 0) {
		rc = ckpt_err_set(err, -errno, "cannot create '%s/%s': %s", root, sw->tmp,
				  ckpt_strerror(-errno));
		goto fail;
	}
	sw->fd = openat(sw->rootfd, sw->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sw->fd < 0) {
		rc = -errno;
		goto fail;
	}
	sw->init_ns = ckpt_wr_now(&sw->o);
	m = json_object();
	json_object_set_new(m, "init_timestamp_nsecs", json_integer((json_int_t)sw->init_ns));
	rc = ckpt_wr_write_json(&sw->o, sw->fd, sw->tmp, "_CHECKPOINT_METADATA", m, false, err);
	if (rc < 0)
		goto fail;
	*out = sw;
	return 0;
fail:
	ckpt_sw_free(sw);
	return rc;
}

const char *ckpt_sw_path(const struct ckpt_step_writer *sw)
{
	return sw->final;
}

static int add_item(struct ckpt_step_writer *sw, const char *item, const char *handler)
{
	char **a = realloc(sw->items, (sw->nitems + 1) * sizeof(*a)), **b;

	if (!a)
		return -ENOMEM;
	sw->items = a;
	b = realloc(sw->handlers, (sw->nitems + 1) * sizeof(*b));
	if (!b)
		return -ENOMEM;
	sw->handlers = b;
	sw->items[sw->nitems] = strdup(item ? item : "");
	sw->handlers[sw->nitems] = strdup(handler);
	if (!sw->items[sw->nitems] || !sw->handlers[sw->nitems])
		return -ENOMEM;
	sw->nitems++;
	return 0;
}

int ckpt_sw_pytree(struct ckpt_step_writer *sw, const char *item, struct ckpt_pytree_writer **out,
		   struct ckpt_err *err)
{
	struct ckpt_pytree_writer *pw;
	struct ckpt_pytree_writer **a;
	int rc;

	*out = NULL;
	if (item && (!*item || strchr(item, '/') || item[0] == '.'))
		return ckpt_err_set(err, -EINVAL, "'%s' is not an item name", item);
	if ((!item && sw->nitems) || sw->direct)
		return ckpt_err_set(err, -EINVAL, "a direct checkpoint holds one item");
	pw = calloc(1, sizeof(*pw));
	if (!pw)
		return -ENOMEM;
	pw->fd = -1;
	pw->sw = sw;
	pw->o = sw->o;
	pw->lim = sw->lim;
	if (item) {
		if (mkdirat(sw->fd, item, 0755) < 0) {
			rc = ckpt_err_set(err, -errno, "cannot create '%s/%s/%s': %s", sw->root, sw->tmp,
					  item, ckpt_strerror(-errno));
			goto fail;
		}
		pw->fd = openat(sw->fd, item, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (asprintf(&pw->label, "%s/%s/%s", sw->root, sw->tmp, item) < 0)
			pw->label = NULL;
	} else {
		sw->direct = true;
		pw->fd = fcntl(sw->fd, F_DUPFD_CLOEXEC, 3);
		if (asprintf(&pw->label, "%s/%s", sw->root, sw->tmp) < 0)
			pw->label = NULL;
	}
	pw->item = item ? strdup(item) : NULL;
	if (pw->fd < 0 || !pw->label) {
		rc = -ENOMEM;
		goto fail;
	}
	a = realloc(sw->pw, (sw->npw + 1) * sizeof(*a));
	if (!a) {
		rc = -ENOMEM;
		goto fail;
	}
	sw->pw = a;
	sw->pw[sw->npw++] = pw;
	if ((rc = add_item(sw, item, H_STANDARD)) < 0)
		return rc;
	*out = pw;
	return 0;
fail:
	ckpt_wr_pw_free(pw);
	return rc;
}

int ckpt_sw_json(struct ckpt_step_writer *sw, const char *item, const char *json, size_t n,
		 struct ckpt_err *err)
{
	char *rel;
	int rc;

	if (!item || !*item || strchr(item, '/') || item[0] == '.' || sw->direct)
		return ckpt_err_set(err, -EINVAL, "'%s' is not an item name", item ? item : "");
	if (asprintf(&rel, "%s/metadata", item) < 0)
		return -ENOMEM;
	rc = ckpt_wr_write_file(&sw->o, sw->fd, sw->tmp, rel, json, n, err);
	free(rel);
	if (rc == 0) {
		char *msg, *cs;

		if (asprintf(&msg, "Checkpoint commit was successful to %s/%s", sw->final, item) < 0 ||
		    asprintf(&cs, "%s/commit_success.txt", item) < 0)
			return -ENOMEM;
		rc = ckpt_wr_write_file(&sw->o, sw->fd, sw->tmp, cs, msg, strlen(msg), err);
		free(msg);
		free(cs);
	}
	return rc ? rc : add_item(sw, item, H_JSON);
}

int ckpt_sw_commit(struct ckpt_step_writer *sw, json_t *custom, struct ckpt_err *err)
{
	json_t *m = json_object(), *h;
	char msg[4200];
	int rc = 0;

	for (size_t i = 0; i < sw->npw && rc == 0; i++) {
		struct ckpt_pytree_writer *pw = sw->pw[i];

		rc = ckpt_pw_finish(pw, err);
		/* StandardCheckpointHandler refuses strings: such trees are PyTree saves */
		for (size_t k = 0; rc == 0 && k < pw->n; k++)
			if (pw->l[k].kind == L_STRING)
				for (size_t j = 0; j < sw->nitems; j++)
					if (!strcmp(sw->items[j], pw->item ? pw->item : "")) {
						free(sw->handlers[j]);
						sw->handlers[j] = strdup(H_PYTREE);
					}
	}
	if (rc < 0) {
		json_decref(m);
		return rc;
	}
	if (sw->direct) {
		h = json_string(sw->handlers[0]);
	} else {
		/* items sorted by name, as Orbax writes them */
		h = json_object();
		for (size_t i = 0; i < sw->nitems; i++) {
			size_t best = i;

			for (size_t j = i + 1; j < sw->nitems; j++)
				if (strcmp(sw->items[j], sw->items[best]) < 0)
					best = j;
			if (best != i) {
				char *t = sw->items[i], *u = sw->handlers[i];

				sw->items[i] = sw->items[best];
				sw->handlers[i] = sw->handlers[best];
				sw->items[best] = t;
				sw->handlers[best] = u;
			}
			json_object_set_new(h, sw->items[i], json_string(sw->handlers[i]));
		}
	}
	json_object_set_new(m, "item_handlers", h);
	json_object_set_new(m, "metrics", json_object());
	json_object_set_new(m, "performance_metrics", json_object());
	json_object_set_new(m, "init_timestamp_nsecs", json_integer((json_int_t)sw->init_ns));
	json_object_set_new(m, "commit_timestamp_nsecs", json_integer((json_int_t)ckpt_wr_now(&sw->o)));
	json_object_set_new(m, "custom_metadata", custom ? json_incref(custom) : json_object());
	rc = ckpt_wr_write_json(&sw->o, sw->fd, sw->tmp, "_CHECKPOINT_METADATA", m, false, err);
	if (rc == 0) {
		snprintf(msg, sizeof(msg), "Checkpoint commit was successful to %s", sw->final);
		rc = ckpt_wr_write_file(&sw->o, sw->fd, sw->tmp, "commit_success.txt", msg, strlen(msg), err);
	}
	if (rc == 0)
		rc = ckpt_wr_sync_dirfd(&sw->o, sw->fd);
	if (sw->o.hooks.step)
		sw->o.hooks.step(sw->o.hooks.ctx, "step-ready");
	ckpt_fault_point("step-ready");
	if (rc == 0) {
		/* the step directory, complete and synced, takes its name (commit.h) */
		const struct ckpt_commit c = { sw->rootfd, sw->root, sw->o.no_fsync, NULL, NULL };

		rc = ckpt_commit_rename(&c, sw->tmp, sw->step, err);
	}
	if (rc == 0)
		sw->committed = true;
	return rc;
}

void ckpt_sw_free(struct ckpt_step_writer *sw)
{
	if (!sw)
		return;
	for (size_t i = 0; i < sw->npw; i++)
		ckpt_wr_pw_free(sw->pw[i]);
	free(sw->pw);
	for (size_t i = 0; i < sw->nitems; i++) {
		free(sw->items[i]);
		free(sw->handlers[i]);
	}
	free(sw->items);
	free(sw->handlers);
	if (sw->fd >= 0)
		close(sw->fd);
	if (!sw->committed && sw->rootfd >= 0 && sw->tmp)
		rm_rf_at(sw->rootfd, sw->tmp);
	if (sw->rootfd >= 0)
		close(sw->rootfd);
	free(sw->root);
	free(sw->step);
	free(sw->tmp);
	free(sw->final);
	free(sw);
}
