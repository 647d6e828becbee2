/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layout.c - what names, files and directories are in Orbax's layout
 * (layout.h), what SOURCE is and which steps are committed (tier 4; the
 * items of a step: step.c).  Rules: shared/docs/FORMAT-orbax-layout.md
 * sections 1.2, 1.3, 1.8; the choices where Orbax leaves room are in
 * README.md.
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

void ckpt_opts_default(struct ckpt_opts *o)
{
	struct ckpt_limits lim = CKPT_LIMITS_DEFAULT;

	memset(o, 0, sizeof(*o));
	o->lim = lim;
	/* bench/RESULTS.md: 256M reads multi-chunk leaves ~20% faster and
	 * holds ~5x the memory; one-chunk leaves read faster with 32M */
	o->cache_bytes = (size_t)32 << 20;
	o->stream_threshold = (uint64_t)64 << 20;
	o->piece_bytes = (size_t)4 << 20;
	{
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		o->readahead_threads = n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
	}
}

/* ---------------------------------------------------------------- names of steps */

bool ckpt_layout_is_uncommitted_name(const char *name)
{
	return strstr(name, ".orbax-checkpoint-tmp") || strstr(name, ".partial_save") ||
	       strstr(name, ".pending_");
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* "N", zero-padded "000N", or "<prefix>_N" (Orbax step_from_checkpoint_name) */
bool ckpt_layout_parse_step(const char *name, uint64_t *num)
{
	size_t n = strlen(name);
	const char *us;

	if (all_digits(name, n)) {
		*num = strtoull(name, NULL, 10);
		return true;
	}
	if (!strncmp(name, "ocdbt.", 6))
		return false; /* ocdbt.process_N: a per-process database, not a step */
	us = strrchr(name, '_');
	if (us && us != name && all_digits(us + 1, strlen(us + 1))) {
		*num = strtoull(us + 1, NULL, 10);
		return true;
	}
	return false;
}

/* A Flax checkpoint file name: "<prefix><step>", step an integer or a float
 * (flax/training/checkpoints.py natural_sort); not "<prefix>tmp", not
 * "*_gda".  *key: the step as a number. */
bool ckpt_layout_flax_step(const char *name, double *key)
{
	size_t n = strlen(name), i = n;
	bool digits = false;
	char *end;

	if (n > 4 && !strcmp(name + n - 4, "_gda"))
		return false;
	while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
		i--, digits = true;
	if (i > 0 && name[i - 1] == '.') {
		i--;
		while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
			i--, digits = true;
	}
	if (i > 0 && (name[i - 1] == '-' || name[i - 1] == '+') && i > 1 && name[i - 2] == '_')
		i--;
	if (!digits || i == n)
		return false;
	*key = strtod(name + i, &end);
	return *end == 0;
}

/* a regular file that starts like a msgpack map (Flax writes one map) */
bool ckpt_layout_is_msgpack_file(int dirfd, const char *name)
{
	struct stat st;
	uint8_t c;
	int fd;
	bool yes;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	yes = ckpt_pread(fd, &c, 1, 0) == 1 && ((c & 0xf0) == 0x80 || c == 0xde || c == 0xdf);
	close(fd);
	return yes;
}

bool ckpt_layout_has_file(int dirfd, const char *name)
{
	return ckpt_exists(dirfd, name);
}

/* a directory holding zarr arrays as sub-directories (non-OCDBT, no _METADATA) */
static bool holds_zarr_dirs(int fd)
{
	DIR *d = ckpt_opendir_fd(fd);
	bool yes = false;

	if (!d)
		return false;
	for (struct dirent *e; !yes && (e = readdir(d));) {
		int sub;

		if (e->d_name[0] == '.')
			continue;
		sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		yes = ckpt_layout_has_file(sub, ".zarray") || ckpt_layout_has_file(sub, "zarr.json");
		close(sub);
	}
	closedir(d);
	return yes;
}

/* a directory that holds a pytree item's own files */
bool ckpt_layout_looks_pytree(int fd)
{
	return ckpt_layout_has_file(fd, "_METADATA") || ckpt_layout_has_file(fd, "manifest.ocdbt") ||
	       ckpt_layout_has_file(fd, "_sharding") || ckpt_layout_has_file(fd, "ocdbt.process_0") || holds_zarr_dirs(fd);
}

bool ckpt_layout_looks_legacy_aggregate(int fd)
{
	struct stat st;

	return fstatat(fd, "checkpoint", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int ckpt_layout_opendir_at(int fd, const char *name)
{
	return openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* does this directory hold a checkpoint (step level or a direct pytree)?
 * tree: as a tree mount looks (ckpt_tree_scan), where a folder of whole
 * checkpoints is not one composite checkpoint */
static bool looks_checkpoint(int fd, bool tree)
{
	DIR *d;
	bool yes = false;

	if (ckpt_layout_has_file(fd, "_CHECKPOINT_METADATA") || ckpt_layout_has_file(fd, "orbax.checkpoint") ||
	    ckpt_layout_looks_pytree(fd) || ckpt_layout_looks_legacy_aggregate(fd))
		return true;
	d = ckpt_opendir_fd(fd);
	if (!d) {
		return false;
	}
	for (struct dirent *e; !yes && (e = readdir(d));) {
		int sub;

		if (e->d_name[0] == '.' || ckpt_layout_is_uncommitted_name(e->d_name))
			continue;
		sub = ckpt_layout_opendir_at(fd, e->d_name);
		if (sub < 0)
			continue;
		/* a sub-directory with a pytree: an item of a composite
		 * checkpoint; in a tree, not when it is a whole checkpoint of
		 * its own (a folder of saves) */
		yes = ckpt_layout_looks_pytree(sub) &&
		      !(tree && ckpt_layout_has_file(sub, "_CHECKPOINT_METADATA"));
		close(sub);
	}
	closedir(d);
	return yes;
}

/* ---------------------------------------------------------------- sources */

static const char *base_name(const char *path, char *buf, size_t cap)
{
	size_t n = strlen(path);
	const char *s;

	while (n > 1 && path[n - 1] == '/')
		n--;
	snprintf(buf, cap, "%.*s", (int)n, path);
	s = strrchr(buf, '/');
	return s && s[1] ? s + 1 : buf;
}

/* SOURCE is a file: one Flax msgpack file is the one step, in its
 * directory (s->fd); -ENOTDIR when it is not one */
static int open_file_source(struct ckpt_src *s, const char *path, const struct ckpt_opts *o)
{
	char buf[4096], dir[4096];
	const char *base = base_name(path, buf, sizeof(buf));
	const char *slash = strrchr(path, '/');
	int rc;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	if (!dir[0])
		snprintf(dir, sizeof(dir), "/");
	s->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->fd < 0 || !ckpt_layout_is_msgpack_file(s->fd, base)) {
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
		return -ENOTDIR;
	}
	s->kind = CKPT_SRC_SINGLE;
	s->single_file = true;
	s->path = strdup(dir);
	s->single_name = strdup(base);
	rc = !s->path || !s->single_name ? -ENOMEM : ckpt_cache_new(&s->cache, o->cache_bytes);
	if (rc == 0 && o->readahead_threads)
		rc = ckpt_ra_new(&s->ra, o->readahead_threads);
	return rc;
}

/* what SOURCE's own listing says: committed steps, and the signs of a
 * CheckpointManager directory without steps yet */
struct dir_look {
	bool any_step, any_tmp, any_entry, meta_dir;
};

static int look_dir(int fd, struct dir_look *l, bool tree)
{
	DIR *d = ckpt_opendir_fd(fd);

	memset(l, 0, sizeof(*l));
	if (!d)
		return -errno;
	for (struct dirent *e; (e = readdir(d));) {
		uint64_t num;
		double key;
		int sub;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		l->any_entry = true;
		if (!strcmp(e->d_name, "metadata"))
			l->meta_dir = true;
		if (ckpt_layout_is_uncommitted_name(e->d_name)) {
			l->any_tmp = true;
			continue;
		}
		if (ckpt_layout_flax_step(e->d_name, &key) && ckpt_layout_is_msgpack_file(fd, e->d_name)) {
			l->any_step = true;
			continue;
		}
		if (!ckpt_layout_parse_step(e->d_name, &num))
			continue;
		sub = ckpt_layout_opendir_at(fd, e->d_name);
		if (sub < 0)
			continue;
		if (looks_checkpoint(sub, tree))
			l->any_step = true;
		close(sub);
	}
	closedir(d);
	if (ckpt_layout_has_file(fd, "_CHECKPOINT_METADATA") || ckpt_layout_has_file(fd, "orbax.checkpoint") ||
	    ckpt_layout_looks_pytree(fd) || ckpt_layout_looks_legacy_aggregate(fd))
		l->any_step = false; /* the directory itself is one checkpoint */
	return 0;
}

/* a directory ckpt_src_open takes for a manager root with steps or one checkpoint */
bool ckpt_layout_is_checkpoint_dir(int fd)
{
	struct dir_look l;

	return look_dir(fd, &l, true) == 0 && (l.any_step || looks_checkpoint(fd, true));
}

int ckpt_src_open(struct ckpt_src **out, const char *path, const struct ckpt_opts *o,
		  struct ckpt_err *err)
{
	struct ckpt_src *s;
	struct dir_look l;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *o;
	s->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->fd < 0 && errno == ENOTDIR) {
		rc = open_file_source(s, path, o);
		if (rc == 0) {
			*out = s;
			return 0;
		}
		if (rc != -ENOTDIR)
			goto fail;
		errno = ENOTDIR;
	}
	if (s->fd < 0) {
		rc = ckpt_err_set(err, -errno, "cannot open '%s': %s", path,
				  errno == ENOTDIR ? "not a directory or a Flax msgpack checkpoint"
						   : ckpt_strerror(-errno));
		free(s);
		return rc;
	}
	s->path = strdup(path);
	if (!s->path) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = look_dir(s->fd, &l, false);
	if (rc < 0) {
		rc = ckpt_err_set(err, rc, "cannot list '%s': %s", path, ckpt_strerror(rc));
		goto fail;
	}
	if (l.any_step) {
		s->kind = CKPT_SRC_ROOT;
	} else if (looks_checkpoint(s->fd, false)) {
		char buf[4096];

		s->kind = CKPT_SRC_SINGLE;
		s->single_name = strdup(base_name(path, buf, sizeof(buf)));
		if (!s->single_name || !strcmp(s->single_name, "/") || !s->single_name[0]) {
			free(s->single_name);
			s->single_name = strdup("checkpoint");
		}
		if (!s->single_name) {
			rc = -ENOMEM;
			goto fail;
		}
	} else if (!l.any_entry || l.any_tmp || l.meta_dir) {
		s->kind = CKPT_SRC_ROOT; /* a CheckpointManager directory without steps yet */
	} else {
		rc = ckpt_err_set(err, -EINVAL,
				  "'%s' is not a checkpoint: no step directories and no "
				  "_CHECKPOINT_METADATA, _METADATA or manifest.ocdbt",
				  path);
		goto fail;
	}
	rc = ckpt_cache_new(&s->cache, o->cache_bytes);
	if (rc == 0 && o->readahead_threads)
		rc = ckpt_ra_new(&s->ra, o->readahead_threads);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	ckpt_src_close(s);
	return rc;
}

void ckpt_src_stats(struct ckpt_src *s, struct ckpt_src_stats *out)
{
	struct ckpt_cache_stats c;

	ckpt_cache_stats(s->cache, &c);
	*out = (struct ckpt_src_stats){ c.hits, c.misses, c.evictions, c.bytes, c.entries, c.budget,
					c.decoded, ckpt_ra_done(s->ra), { 0 }, ckpt_src_reads(),
					__atomic_load_n(&s->scans, __ATOMIC_RELAXED) };
	ckpt_spill_stats(s->o.spill, &out->spill);
}

void ckpt_src_close(struct ckpt_src *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	ckpt_ra_free(s->ra);
	ckpt_cache_free(s->cache);
	free(s->path);
	free(s->single_name);
	free(s);
}

enum ckpt_src_kind ckpt_src_kind(const struct ckpt_src *s)
{
	return s->kind;
}

const char *ckpt_src_path(const struct ckpt_src *s)
{
	return s->path;
}

/* _CHECKPOINT_METADATA: commit_timestamp_nsecs present and not null */
static bool meta_says_committed(int fd)
{
	uint8_t *buf;
	size_t n;
	json_t *j;
	bool yes = false;

	if (ckpt_read_file(fd, "_CHECKPOINT_METADATA", 1 << 20, &buf, &n, NULL) < 0)
		return false;
	j = json_loadb((const char *)buf, n, 0, NULL);
	if (j && json_is_integer(json_object_get(j, "commit_timestamp_nsecs")))
		yes = true;
	json_decref(j);
	free(buf);
	return yes;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct ckpt_step_ent *x = a, *y = b;

	if (x->has_number != y->has_number)
		return x->has_number ? 1 : -1;
	if (x->has_number && x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->name, y->name);
}

int ckpt_src_scan(struct ckpt_src *s, struct ckpt_step_ent **out, size_t *n, struct ckpt_err *err)
{
	struct ckpt_step_ent *e = NULL;
	bool *marker = NULL;
	size_t cnt = 0, cap = 0, mcap = 0;
	bool any_marker = false;
	DIR *d;
	int rc = 0;

	__atomic_add_fetch(&s->scans, 1, __ATOMIC_RELAXED);
	*out = NULL;
	*n = 0;
	if (s->kind == CKPT_SRC_SINGLE) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->name = strdup(s->single_name))) {
			free(e);
			return -ENOMEM;
		}
		e->has_number = ckpt_layout_parse_step(e->name, &e->number);
		e->key = (double)e->number;
		e->file = s->single_file;
		*out = e;
		*n = 1;
		return 0;
	}
	d = ckpt_opendir_fd(s->fd);
	if (!d)
		return ckpt_err_set(err, -errno, "cannot list '%s': %s", s->path, ckpt_strerror(-errno));
	for (struct dirent *de; (de = readdir(d));) {
		uint64_t num;
		int sub;

		double key;

		if (de->d_name[0] == '.' || ckpt_layout_is_uncommitted_name(de->d_name))
			continue;
		if (de->d_type != DT_DIR && ckpt_layout_flax_step(de->d_name, &key) &&
		    ckpt_layout_is_msgpack_file(s->fd, de->d_name)) {
			/* a Flax msgpack checkpoint: written whole, then renamed */
			if (ckpt_grow((void **)&e, &cap, cnt + 1, sizeof(*e)) < 0 ||
			    ckpt_grow((void **)&marker, &mcap, cnt + 1, sizeof(*marker)) < 0 ||
			    !(e[cnt].name = strdup(de->d_name))) {
				rc = -ENOMEM;
				break;
			}
			e[cnt].has_number = true;
			e[cnt].number = key < 0 ? 0 : (uint64_t)key;
			e[cnt].key = key;
			e[cnt].file = true;
			e[cnt].ino = (uint64_t)de->d_ino;
			marker[cnt] = true;
			cnt++;
			continue;
		}
		if (!ckpt_layout_parse_step(de->d_name, &num))
			continue;
		sub = ckpt_layout_opendir_at(s->fd, de->d_name); /* O_NOFOLLOW: symlinked steps are not shown */
		if (sub < 0)
			continue;
		if (ckpt_grow((void **)&e, &cap, cnt + 1, sizeof(*e)) < 0 ||
		    ckpt_grow((void **)&marker, &mcap, cnt + 1, sizeof(*marker)) < 0 ||
		    !(e[cnt].name = strdup(de->d_name))) {
			close(sub);
			rc = -ENOMEM;
			break;
		}
		e[cnt].has_number = true;
		e[cnt].number = num;
		e[cnt].key = (double)num;
		e[cnt].file = false;
		e[cnt].ino = (uint64_t)de->d_ino;
		marker[cnt] = ckpt_layout_has_file(sub, "commit_success.txt");
		any_marker |= marker[cnt];
		close(sub);
		cnt++;
	}
	closedir(d);
	if (rc == 0) {
		/* commit-file mode (some steps carry commit_success.txt): a step
		 * without the marker whose metadata has no commit time is in
		 * progress.  strict_commit: the marker is required. */
		size_t k = 0;

		for (size_t i = 0; i < cnt; i++) {
			bool keep = true;

			if (!marker[i] && !e[i].file && (s->o.strict_commit || any_marker)) {
				int sub = ckpt_layout_opendir_at(s->fd, e[i].name);

				keep = !s->o.strict_commit && sub >= 0 && meta_says_committed(sub);
				if (sub >= 0)
					close(sub);
			}
			if (keep)
				e[k++] = e[i];
			else
				free(e[i].name);
		}
		cnt = k;
		if (cnt > 1)
			qsort(e, cnt, sizeof(*e), ent_cmp);
		*out = e;
		*n = cnt;
		e = NULL;
	}
	free(marker);
	if (e) {
		ckpt_step_ents_free(e, cnt);
	}
	return rc;
}

void ckpt_step_ents_free(struct ckpt_step_ent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

int ckpt_src_root_metadata(struct ckpt_src *s, char **json, size_t *n, struct ckpt_err *err)
{
	uint8_t *buf;
	int rc;

	*json = NULL;
	*n = 0;
	if (s->kind != CKPT_SRC_ROOT)
		return -ENOENT;
	rc = ckpt_read_file(s->fd, "metadata/_ROOT_METADATA", s->o.lim.max_json_bytes, &buf, n, NULL);
	if (rc == -ENOENT)
		rc = ckpt_read_file(s->fd, "metadata/metadata", s->o.lim.max_json_bytes, &buf, n, err);
	if (rc < 0)
		return rc;
	*json = (char *)buf;
	return 0;
}
