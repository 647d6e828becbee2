/* SPDX-License-Identifier: Apache-2.0 */
/*
 * versions.c - the history of edited items (tier 5): .ckptfs/versions/<N>.json
 * records (time, OCDBT generation, change) with copies of the metadata
 * files in .ckptfs/versions/meta/<N>/, and for directory items the replaced
 * array directories in .ckptfs/arrays/<param>@<N> (the state up to version
 * N).  See edit.c for how they are written.
 */
#define _GNU_SOURCE
#include "edit_int.h"
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
#include <time.h>
#include <unistd.h>

static int item_fd(struct ckpt_step *st, size_t i)
{
	const struct ckpt_item_info *info = ckpt_step_item(st, i);

	if (!info)
		return -ENOENT;
	if (st->direct)
		return fcntl(st->fd, F_DUPFD_CLOEXEC, 3);
	return openat(st->fd, info->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
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
	if (cnt > 1) /* v is NULL when there is none: qsort must not see it */
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

/* ---------------------------------------------------------------- writing the history (edits) */

static int read_record(int fd, const char *hist, uint64_t v, json_t **out)
{
	char rel[CKPT_NAME_MAX + 128];
	uint8_t *buf;
	size_t n;
	int rc;

	snprintf(rel, sizeof(rel), "%s/versions/%llu.json", hist, (unsigned long long)v);
	rc = ckpt_read_file(fd, rel, 1 << 20, &buf, &n, NULL);
	if (rc < 0)
		return rc;
	*out = json_loadb((const char *)buf, n, 0, NULL);
	free(buf);
	return *out ? 0 : CKPT_ECORRUPT;
}

/* the highest recorded version, or -ENOENT */
static int last_version(int fd, const char *hist, uint64_t *v)
{
	char rel[CKPT_NAME_MAX + 64];
	DIR *d;
	int dfd;
	bool any = false;

	*v = 0;
	snprintf(rel, sizeof(rel), "%s/versions", hist);
	dfd = ckpt_open_beneath(fd, rel, O_RDONLY | O_DIRECTORY, 0);

	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return -ENOENT;
	}
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		unsigned long long x = strtoull(e->d_name, &end, 10);

		if (end != e->d_name && !strcmp(end, ".json") && (!any || x > *v)) {
			*v = x;
			any = true;
		}
	}
	closedir(d);
	return any ? 0 : -ENOENT;
}

static const char *const META_FILES[] = { "_METADATA", "_sharding", "array_metadatas/process_0",
					  "_strings.json" };

/* the aggregate file as version v keeps it */
static void agg_version_path(const struct ckpt_edit *e, uint64_t v, char *out, size_t n)
{
	snprintf(out, n, "%s/versions/meta/%llu/checkpoint", e->hist, (unsigned long long)v);
}

/* records the item's live state as version v */
int ckpt_edit_record_version(struct ckpt_edit *e, uint64_t v, uint64_t gen, const char *change,
			     struct ckpt_err *err)
{
	struct ckpt_item *it = e->it;
	struct timespec ts;
	json_t *r = json_object();
	char rel[CKPT_NAME_MAX + 256];
	int rc = 0;

	for (size_t i = 0; i < CKPT_ARRAY_SIZE(META_FILES) && rc == 0; i++) {
		uint8_t *buf;
		size_t n;

		if (ckpt_read_file(it->fd, META_FILES[i], it->step->src->o.lim.max_json_bytes, &buf, &n,
				   NULL) < 0)
			continue;
		snprintf(rel, sizeof(rel), "%s/versions/meta/%llu/%s", e->hist, (unsigned long long)v,
			 META_FILES[i]);
		rc = ckpt_edit_replace_file(e, it->fd, it->label, rel, buf, n, err);
		free(buf);
	}
	if (rc == 0 && e->agg) {
		/* Orbax's aggregate file: a hard link (every edit replaces it) */
		agg_version_path(e, v, rel, sizeof(rel));
		rc = ckpt_mkparents(it->fd, rel);
		unlinkat(it->fd, rel, 0); /* a leftover of an edit that stopped */
		if (rc == 0 && linkat(it->fd, "checkpoint", it->fd, rel, 0) < 0)
			rc = -errno;
		if (rc == 0)
			rc = ckpt_edit_sync_parent(it->fd, rel);
		if (rc < 0)
			rc = ckpt_err_set(err, rc, "'%s/%s': cannot keep the aggregate file: %s", it->label, rel,
					  ckpt_strerror(rc));
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_set_new(r, "version", json_integer((json_int_t)v));
	json_object_set_new(r, "time_ns", json_integer((json_int_t)((uint64_t)ts.tv_sec * 1000000000ull +
								   (uint64_t)ts.tv_nsec)));
	json_object_set_new(r, "ocdbt_generation", gen ? json_integer((json_int_t)gen) : json_null());
	json_object_set_new(r, "change", json_string(change));
	snprintf(rel, sizeof(rel), "%s/versions/%llu.json", e->hist, (unsigned long long)v);
	if (rc == 0)
		rc = ckpt_edit_replace_json(e, it->fd, it->label, rel, r, false, err);
	json_decref(r);
	return rc;
}

int ckpt_edit_last_version(struct ckpt_edit *e, uint64_t *v)
{
	return last_version(e->it->fd, e->hist, v);
}

static uint64_t db_generation(struct ckpt_item *it)
{
	return it->db ? ckpt_ocdbt_generation(it->db) : 0;
}

/* the version number the edit will create; records the state before it if
 * nothing (or something else) recorded it */
/* whether some array's directory went to the history as it was at version v */
static bool history_has(int fd, uint64_t v)
{
	char suffix[32];
	size_t sl = (size_t)snprintf(suffix, sizeof(suffix), "@%llu", (unsigned long long)v);
	int dfd = ckpt_open_beneath(fd, CKPT_HISTORY "/arrays", O_RDONLY | O_DIRECTORY, 0);
	bool found = false;
	DIR *d;

	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return false;
	}
	for (struct dirent *de; !found && (de = readdir(d));) {
		size_t n = strlen(de->d_name);

		found = n > sl && !strcmp(de->d_name + n - sl, suffix);
	}
	closedir(d);
	return found;
}

int ckpt_edit_prepare_versions(struct ckpt_edit *e, uint64_t *next, struct ckpt_err *err)
{
	uint64_t last = 0;
	json_t *r;
	int rc;

	if (last_version(e->it->fd, e->hist, &last) < 0) {
		rc = ckpt_edit_record_version(e, 0, db_generation(e->it), "original", err);
		*next = 1;
		return rc;
	}
	if (!e->it->db) {
		/* an edit that died before its record: its leftovers in tmp go,
		 * and if it had already moved arrays to the history (as they
		 * were at version last), the live state is an unrecorded
		 * version of its own */
		int hfd = ckpt_open_beneath(e->it->fd, CKPT_HISTORY, O_RDONLY | O_DIRECTORY, 0);

		if (hfd >= 0) {
			ckpt_rm_tree(hfd, "tmp", 0);
			close(hfd);
		}
		if (history_has(e->it->fd, last)) {
			rc = ckpt_edit_record_version(e, last + 1, 0,
						      "recovered: an edit that stopped before its record", err);
			if (rc < 0)
				return rc;
			last++;
		}
	}
	if (e->it->db && read_record(e->it->fd, e->hist, last, &r) == 0) {
		uint64_t g = (uint64_t)json_integer_value(json_object_get(r, "ocdbt_generation"));

		json_decref(r);
		if (g != db_generation(e->it)) {
			rc = ckpt_edit_record_version(e, last + 1, db_generation(e->it),
						      "changed outside ckptfs", err);
			if (rc < 0)
				return rc;
			last++;
		}
	}
	if (e->agg) {
		char rel[CKPT_NAME_MAX + 64];

		agg_version_path(e, last, rel, sizeof(rel));
		if (!ckpt_same_inode(e->it->fd, rel, "checkpoint")) {
			rc = ckpt_edit_record_version(e, last + 1, db_generation(e->it),
						      "changed outside ckptfs, or an edit that stopped before its "
						      "record", err);
			if (rc < 0)
				return rc;
			last++;
		}
	}
	*next = last + 1;
	return 0;
}
