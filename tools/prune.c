/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prune.c - "ckpt prune --dry-run": the files ckpt_item_prune would delete,
 * found the way it finds them, and deleting nothing: the item's history
 * directory (.ckptfs beneath the item, or .ckptfs/FILE beside a Flax file)
 * and, for an OCDBT item, the data files under d/ that the latest
 * generation does not refer to.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t *g_total; /* nftw has no context argument */

static int one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)f;
	if (flag == FTW_F || flag == FTW_SL) {
		printf("%s\t%llu\n", p, (unsigned long long)sb->st_size);
		g_total[0]++;
		g_total[1] += (uint64_t)sb->st_size;
	}
	return 0;
}

static int unreferenced(const char *dir, uint64_t total[2], struct ckpt_err *err)
{
	struct ckpt_limits lim = CKPT_LIMITS_DEFAULT;
	struct ckpt_ocdbt_db *db;
	char *d = cli_join(dir, "d");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;
	DIR *dl;

	if (fd < 0 || !d) {
		free(d);
		if (fd >= 0)
			close(fd);
		return ckpt_err_set(err, -errno, "cannot open '%s': %s", dir, strerror(errno));
	}
	rc = ckpt_ocdbt_open(&db, fd, dir, 0, &lim, err);
	close(fd);
	if (rc == 0 && (dl = opendir(d)) != NULL) {
		for (struct dirent *e; (e = readdir(dl));) {
			char rel[300];
			bool used = false;
			struct stat sb;

			if (e->d_name[0] == '.')
				continue;
			snprintf(rel, sizeof(rel), "d/%s", e->d_name);
			for (size_t k = 0; k < ckpt_ocdbt_n_files(db) && !used; k++)
				used = !strcmp(ckpt_ocdbt_file_path(db, (uint32_t)k), rel);
			if (!used && fstatat(dirfd(dl), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
				printf("%s/%s\t%llu\n", d, e->d_name, (unsigned long long)sb.st_size);
				total[0]++;
				total[1] += (uint64_t)sb.st_size;
			}
		}
		closedir(dl);
	}
	if (rc == 0)
		ckpt_ocdbt_close(db);
	free(d);
	return rc;
}

int cli_prune_dry_run(struct ckpt_step *st, size_t i, size_t older, uint64_t total[2],
		      struct ckpt_err *err)
{
	json_t *d = ckpt_step_describe(st);
	const char *path = json_string_value(json_object_get(d, "path"));
	char *item = NULL, *hist = NULL, *m;
	struct stat sb;
	int rc = 0;

	if (!path || stat(path, &sb) < 0) {
		rc = ckpt_err_set(err, -ENOENT, "cannot find the step's files");
	} else if (S_ISREG(sb.st_mode)) {
		/* a Flax file: its history lies beside it */
		char *c1 = strdup(path), *c2 = strdup(path);

		if (c1 && c2 && asprintf(&hist, "%s/.ckptfs/%s", dirname(c1), basename(c2)) < 0)
			hist = NULL;
		free(c1);
		free(c2);
	} else {
		item = cli_join(path, ckpt_step_is_direct(st) ? "" : ckpt_step_item(st, i)->name);
		hist = item ? cli_join(item, ".ckptfs") : NULL;
	}
	if (rc == 0 && !hist)
		rc = ckpt_err_set(err, -ENOMEM, "out of memory");
	printf("# %s%s%s: %zu older versions\n", ckpt_step_name(st), ckpt_step_item(st, i)->name[0] ? "/" : "",
	       ckpt_step_item(st, i)->name, older);
	if (rc == 0 && item && (m = cli_join(item, "manifest.ocdbt")) != NULL) {
		if (access(m, F_OK) == 0)
			rc = unreferenced(item, total, err);
		free(m);
	}
	g_total = total;
	if (rc == 0 && access(hist, F_OK) == 0 && nftw(hist, one, 16, FTW_PHYS) < 0)
		rc = ckpt_err_set(err, -errno, "cannot list '%s': %s", hist, strerror(errno));
	free(item);
	free(hist);
	json_decref(d);
	return rc;
}
