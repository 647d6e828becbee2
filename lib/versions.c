/* SPDX-License-Identifier: Apache-2.0 */
/*
 * versions.c - the history of edited items (tier 5): .ckptfs/versions/<N>.json
 * records (time, OCDBT generation, change) with copies of the metadata
 * files in .ckptfs/versions/meta/<N>/, and for directory items the replaced
 * array directories in .ckptfs/arrays/<param>@<N> (the state up to version
 * N).  See edit.c for how they are written.
 */
#define _GNU_SOURCE
#include "model.h"

#include "commit.h"
#include "fsutil.h"
#include "ocdbt_write.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ckpt_item_open_at(struct ckpt_item **out, struct ckpt_step *st, size_t i, bool is_version,
		      uint64_t version, uint64_t generation, struct ckpt_err *err);

static int item_fd(struct ckpt_step *st, size_t i)
{
	const struct ckpt_item_info *info = ckpt_step_item(st, i);

	if (!info)
		return -ENOENT;
	if (st->direct)
		return fcntl(st->fd, F_DUPFD_CLOEXEC, 3);
	return openat(st->fd, info->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

char *ckpt_history_path(const struct ckpt_step *st)
{
	char *p;

	if (!st->file)
		return strdup(CKPT_HISTORY);
	return asprintf(&p, CKPT_HISTORY "/%s", st->file) < 0 ? NULL : p;
}

static int vcmp(const void *a, const void *b)
{
	const struct ckpt_version_info *x = a, *y = b;

	return x->version < y->version ? -1 : x->version > y->version;
}

int ckpt_item_versions(struct ckpt_step *st, size_t i, struct ckpt_version_info **out, size_t *n,
		       struct ckpt_err *err)
{
	struct ckpt_version_info *v = NULL;
	size_t cnt = 0, cap = 0;
	int fd = item_fd(st, i), dfd;
	char *hist = ckpt_history_path(st), rel[CKPT_NAME_MAX + 300];
	DIR *d;

	*out = NULL;
	*n = 0;
	if (fd < 0 || !hist) {
		if (fd >= 0)
			close(fd);
		free(hist);
		return fd < 0 ? ckpt_err_set(err, fd, "cannot open item: %s", ckpt_strerror(fd)) : -ENOMEM;
	}
	snprintf(rel, sizeof(rel), "%s/versions", hist);
	dfd = ckpt_open_beneath(fd, rel, O_RDONLY | O_DIRECTORY, 0);
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		close(fd);
		free(hist);
		return 0; /* never edited */
	}
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		unsigned long long x = strtoull(e->d_name, &end, 10);
		uint8_t *buf;
		size_t len;
		json_t *j;

		if (end == e->d_name || strcmp(end, ".json"))
			continue;
		snprintf(rel, sizeof(rel), "%s/versions/%s", hist, e->d_name);
		if (ckpt_read_file(fd, rel, 1 << 20, &buf, &len, NULL) < 0)
			continue;
		j = json_loadb((const char *)buf, len, 0, NULL);
		free(buf);
		if (!j)
			continue;
		if (ckpt_grow((void **)&v, &cap, cnt + 1, sizeof(*v)) == 0) {
			v[cnt].version = x;
			v[cnt].time_ns = (uint64_t)json_integer_value(json_object_get(j, "time_ns"));
			v[cnt].generation = (uint64_t)json_integer_value(json_object_get(j, "ocdbt_generation"));
			const char *ch = json_string_value(json_object_get(j, "change"));

			v[cnt].change = strdup(ch ? ch : "");
			cnt++;
		}
		json_decref(j);
	}
	closedir(d);
	close(fd);
	free(hist);
	qsort(v, cnt, sizeof(*v), vcmp);
	*out = v;
	*n = cnt;
	return 0;
}

void ckpt_version_infos_free(struct ckpt_version_info *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].change);
	free(v);
}

int ckpt_item_open_version(struct ckpt_item **out, struct ckpt_step *st, size_t i, uint64_t version,
			   struct ckpt_err *err)
{
	struct ckpt_version_info *v;
	size_t n;
	int rc = ckpt_item_versions(st, i, &v, &n, err);
	uint64_t gen = 0;
	bool found = false;

	*out = NULL;
	if (rc < 0)
		return rc;
	for (size_t k = 0; k < n; k++)
		if (v[k].version == version) {
			gen = v[k].generation;
			found = true;
		}
	ckpt_version_infos_free(v, n);
	if (!found)
		return ckpt_err_set(err, -ENOENT, "no version %llu", (unsigned long long)version);
	return ckpt_item_open_at(out, st, i, true, version, gen, err);
}

int ckpt_item_prune(struct ckpt_step *st, size_t i, struct ckpt_err *err)
{
	const struct ckpt_limits *lim = &st->src->o.lim;
	char label[4200];
	int fd = item_fd(st, i), rc = 0, lockfd;

	if (fd < 0)
		return ckpt_err_set(err, fd, "cannot open item: %s", ckpt_strerror(fd));
	snprintf(label, sizeof(label), "%s/%s", st->path, ckpt_step_item(st, i)->name);
	/* the writers' lock (commit.h): no edit runs while the history goes */
	lockfd = ckpt_lock_dir(fd, label, CKPT_WRITER_WAIT_MS, err);
	if (lockfd < 0) {
		close(fd);
		return lockfd;
	}
	if (!st->file && ckpt_exists(fd, "manifest.ocdbt")) {
		struct ckpt_ocdbt_db *db;
		DIR *d;

		rc = ckpt_ocdbt_compact(fd, label, lim, err);
		if (rc == 0)
			rc = ckpt_ocdbt_open(&db, fd, label, 0, lim, err);
		if (rc == 0 && (d = ckpt_opendir_fd(fd)) != NULL) {
			int dd = ckpt_open_beneath(fd, "d", O_RDONLY | O_DIRECTORY, 0);
			DIR *dl = dd >= 0 ? fdopendir(dd) : NULL;

			closedir(d);
			/* data files of the top-level database that nothing refers to */
			for (struct dirent *e; dl && (e = readdir(dl));) {
				char rel[300];
				bool used = false;

				if (e->d_name[0] == '.')
					continue;
				snprintf(rel, sizeof(rel), "d/%s", e->d_name);
				for (size_t k = 0; k < ckpt_ocdbt_n_files(db) && !used; k++)
					used = !strcmp(ckpt_ocdbt_file_path(db, (uint32_t)k), rel);
				if (!used)
					unlinkat(dd, e->d_name, 0);
			}
			if (dl)
				closedir(dl);
			else if (dd >= 0)
				close(dd);
			ckpt_ocdbt_close(db);
		}
	}
	if (rc == 0 && st->file) {
		/* .ckptfs/<file> beneath the directory; .ckptfs goes once empty */
		int hfd = ckpt_open_beneath(fd, CKPT_HISTORY, O_RDONLY | O_DIRECTORY, 0);

		if (hfd >= 0) {
			rc = ckpt_rm_tree(hfd, st->file, 0);
			close(hfd);
			unlinkat(fd, CKPT_HISTORY, AT_REMOVEDIR);
		}
	} else if (rc == 0) {
		rc = ckpt_rm_tree(fd, CKPT_HISTORY, 0);
	}
	ckpt_unlock(lockfd);
	close(fd);
	return rc;
}
