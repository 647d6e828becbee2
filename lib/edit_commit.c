/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edit_commit.c - the commit of an edit (tier 5, the top of the edit
 * files): the order of the steps, each done by edit_data.c, edit_meta.c,
 * msgpack_edit.c and the history (versions.c).
 *
 * The edit works on a flat list of the item's leaves (arrays, strings, None,
 * empty containers), each with its key path.  Operations change the list;
 * the commit compares it with the item and writes, in this order:
 *   1. new array data: OCDBT commit A (new chunks, new keys of moved arrays
 *      referring to the same values) / new array directories (hard links to
 *      unchanged chunk files, new files for changed chunks)
 *   2. _sharding, array_metadatas, _strings.json with old and new entries
 *   3. _METADATA                                  <- the commit point of a
 *      structural change; a data edit's commit point is step 1 (the manifest
 *      rename, or the directory exchange)
 *   4. _sharding, ... with the new entries only; OCDBT commit B deleting the
 *      keys of removed and moved arrays; old array directories moved into
 *      .ckptfs/arrays/<param>@<version> (the history)
 *   5. _CHECKPOINT_METADATA's commit time, the version record
 * A crash between any two steps leaves a state Orbax restores as the old or
 * the new one: the extra keys, directories and sharding entries of an
 * unfinished step are never referenced by the _METADATA in force.
 * Every file is replaced by writing NAME.ckptfs-tmp, fsync, rename, and the
 * directory fsynced (commit.c, the one place of that protocol).  The whole
 * commit runs under the item's writer lock, taken by ckpt_edit_begin (edit.c)
 * after checking that the item is as it was read.
 */
#define _GNU_SOURCE
#include "edit_int.h"

#include "buf.h"
#include "chunkio.h"
#include "commit.h"
#include "fsutil.h"
#include "ocdbt_write.h"
#include "util.h"
#include "writer.h"
#include "zarr_write.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ckpt_edit_commit(struct ckpt_edit *e, const char *what, uint64_t *version, struct ckpt_err *err)
{
	struct ckpt_item *it = e->it;
	struct ckpt_ocdbt_wr *w = NULL;
	struct ckpt_limits lim = it->step->src->o.lim;
	char **params = calloc(e->n ? e->n : 1, sizeof(*params));
	uint64_t ver = 0;
	int rc = 0;

	if (!params)
		return -ENOMEM;
	if (!e->done) {
		free(params);
		return 0;
	}
	if (e->mp) {
		free(params);
		rc = ckpt_mp_edit_commit(e, what, version, err);
		if (rc < 0)
			ckpt_err_prefix(err, "'%s': edit failed: ", it->mp_label ? it->mp_label : it->label);
		return rc;
	}
	for (size_t i = 0; i < e->n && rc == 0; i++) {
		if (!(params[i] = ckpt_edit_param_of(e->l[i].path, e->l[i].depth)))
			rc = -ENOMEM;
		/* two leaves would share a parameter name (Orbax joins keys with '.') */
		for (size_t k = 0; rc == 0 && k < i; k++)
			if (e->l[k].kind == E_ARRAY && e->l[i].kind == E_ARRAY &&
			    !strcmp(params[k], params[i]))
				rc = ckpt_err_set(err, -EEXIST, "two arrays would be named '%s'", params[i]);
	}
	if (rc == 0 && e->agg && e->structural && it->have_metadata)
		rc = ckpt_edit_agg_check(e, err);
	if (rc == 0)
		rc = ckpt_edit_prepare_versions(e, &ver, err);
	/* 1. data */
	if (rc == 0 && it->db) {
		rc = ckpt_ocdbt_wr_open(&w, it->fd, it->label, NULL, NULL, &lim, err);
		if (rc == 0)
			rc = ckpt_edit_ocdbt_data(e, params, w, false, err);
	} else if (rc == 0) {
		rc = ckpt_edit_dir_data(e, params, ver, err);
	}
	FAULT("data");
	/* 2.-4. metadata documents */
	if (rc == 0 && e->structural) {
		json_t *m;

		rc = ckpt_edit_write_docs(e, params, true, err);
		FAULT("grow");
		if (rc == 0 && e->agg && it->have_metadata)
			rc = ckpt_edit_agg_grow(e, params, err);
		FAULT("aggregate-grow");
		/* without _METADATA (Orbax before 0.5), the aggregate file is the
		 * tree, and its rename the commit point */
		m = rc == 0 && it->have_metadata ? ckpt_edit_new_metadata(e) : NULL;
		if (m) {
			rc = ckpt_edit_replace_json(e, it->fd, it->label, "_METADATA", m, false, err);
			json_decref(m);
		}
		FAULT("metadata");
		if (rc == 0 && e->agg)
			rc = ckpt_mp_write_aggregate(e, params, NULL, 0, NULL, err);
		FAULT("aggregate");
		if (rc == 0)
			rc = ckpt_edit_write_docs(e, params, false, err);
		if (rc == 0 && w)
			rc = ckpt_edit_ocdbt_data(e, params, w, true, err);
		if (rc == 0 && !it->db)
			rc = ckpt_edit_dir_cleanup(e, params, ver);
		FAULT("shrink");
	} else if (rc == 0) {
		/* a value in the aggregate file: its rename is the commit point */
		if (e->agg && ckpt_edit_agg_touched(e))
			rc = ckpt_mp_write_aggregate(e, params, NULL, 0, NULL, err);
		FAULT("aggregate");
		if (rc == 0)
			rc = ckpt_edit_write_docs(e, params, false, err);
	}
	/* 5. the step's commit time, the version record */
	if (rc == 0)
		rc = ckpt_edit_stamp_step(e, err);
	FAULT("step");
	if (rc == 0) {
		uint64_t gen = w ? ckpt_ocdbt_wr_generation(w) : 0;

		rc = ckpt_edit_record_version(e, ver, gen, what && *what ? what : e->what, err);
	}
	FAULT("record");
	if (rc == 0 && version)
		*version = ver;
	ckpt_ocdbt_wr_close(w);
	for (size_t i = 0; i < e->n; i++)
		free(params[i]);
	free(params);
	if (rc < 0)
		ckpt_err_prefix(err, "'%s': edit failed: ", it->label);
	return rc;
}
