/* SPDX-License-Identifier: Apache-2.0 */
/*
 * history.c - where an item's history lies (tier 4, below every item kind
 * and below versions.c): the history directory, the metadata files of a
 * version being read, and the saved copy of a directory array.  Only paths
 * and lookups: versions.c lists and prunes, edit.c writes.
 */
#define _GNU_SOURCE
#include "model.h"

#include "fsutil.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *ckpt_history_path(const struct ckpt_step *st)
{
	char *p;

	if (!st->file)
		return strdup(CKPT_HISTORY);
	return asprintf(&p, CKPT_HISTORY "/%s", st->file) < 0 ? NULL : p;
}

char *ckpt_history_meta_dir(uint64_t version)
{
	char *p;

	return asprintf(&p, CKPT_HISTORY "/versions/meta/%llu", (unsigned long long)version) < 0 ? NULL : p;
}

char *ckpt_history_file(const struct ckpt_step *st, uint64_t version)
{
	char *hist = ckpt_history_path(st), *p = NULL;

	if (hist && asprintf(&p, "%s/files/%llu", hist, (unsigned long long)version) < 0)
		p = NULL;
	free(hist);
	return p;
}

char *ckpt_item_meta_path(const struct ckpt_item *it, const char *name)
{
	char *p;

	if (!it->meta_dir)
		return strdup(name);
	if (asprintf(&p, "%s/%s", it->meta_dir, name) < 0)
		return NULL;
	return p;
}

int ckpt_history_array(const struct ckpt_item *it, const char *param, char **prefix)
{
	/* the first history copy at or after this version */
	char esc[CKPT_NAME_MAX + 1], *hist = NULL;

	*prefix = NULL;
	ckpt_name_escape(param, strlen(param), 0, esc);
	for (uint64_t j = it->version; j < it->version + 100000 && !hist; j++) {
		char *cand, rec[128];

		if (asprintf(&cand, CKPT_HISTORY "/arrays/%s@%llu", esc, (unsigned long long)j) < 0)
			return -ENOMEM;
		if (ckpt_is_dir(it->fd, cand))
			hist = cand;
		else
			free(cand);
		if (!hist && !ckpt_exists(it->fd, CKPT_HISTORY "/versions"))
			break;
		/* stop at the last recorded version */
		snprintf(rec, sizeof(rec), CKPT_HISTORY "/versions/%llu.json", (unsigned long long)(j + 1));
		if (!hist && !ckpt_exists(it->fd, rec))
			break;
	}
	if (hist) {
		int rc = asprintf(prefix, "%s/", hist);

		free(hist);
		if (rc < 0) {
			*prefix = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}
