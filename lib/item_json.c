/* SPDX-License-Identifier: Apache-2.0 */
/*
 * item_json.c - the item kind "JSON" (tier 4): an item that is one JSON
 * file (Orbax's JsonHandler), shown as <item>.json; no tree, no leaves.
 */
#define _GNU_SOURCE
#include "kind.h"

#include "fsutil.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_json_item(struct ckpt_item *it, struct ckpt_err *err)
{
	static const char *const names[] = { "data.json", "metadata", "metrics" };
	DIR *d;
	int rc = -ENOENT;
	char only[256] = "";

	/* the single regular file of the item */
	d = ckpt_opendir_fd(it->fd);
	if (!d) {
		return ckpt_err_set(err, -EIO, "cannot list '%s'", it->label);
	}
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;

		if (e->d_name[0] == '.' || !strcmp(e->d_name, "commit_success.txt") ||
		    strstr(e->d_name, ".__lock"))
			continue;
		if (fstatat(it->fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			snprintf(only, sizeof(only), "%s", e->d_name);
	}
	closedir(d);
	for (size_t i = 0; !only[0] && i < CKPT_ARRAY_SIZE(names); i++)
		if (ckpt_exists(it->fd, names[i]))
			snprintf(only, sizeof(only), "%s", names[i]);
	if (only[0])
		rc = ckpt_read_file(it->fd, only, it->step->src->o.lim.max_json_bytes, &it->json,
				    &it->json_n, err);
	else
		rc = ckpt_err_set(err, -ENOENT, "'%s': JSON item without a file", it->label);
	if (rc < 0)
		ckpt_err_prefix(err, "'%s': ", it->label);
	return rc;
}

static bool claims_json(const struct ckpt_item *it)
{
	return it->kind == CKPT_ITEM_JSON;
}

const struct ckpt_kind_ops ckpt_kind_json = {
	.claims = claims_json,
	.open = open_json_item,
	.leaf_open = NULL,
};
