/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt.h - an OCDBT database opened read-only from a directory (tier 3).
 *
 * Opening reads the manifest (single or numbered kind), then walks the
 * B+tree of the chosen generation once and keeps a sorted index of every
 * key: inline values point into the decoded nodes, out-of-line values name
 * a data file, an offset and a length.  Lookups are binary searches.
 * Immutable after open, safe to share between threads.
 */
#ifndef CKPT_OCDBT_H
#define CKPT_OCDBT_H

#include "err.h"
#include "ckpt_limits.h"
#include "ocdbt_fmt.h"
#include "util.h"

#include <stdint.h>

struct ckpt_ocdbt_db;

struct ckpt_ocdbt_value {
	struct ckpt_bytes key;
	uint64_t len;
	const uint8_t *inline_p; /* inline value, or NULL */
	uint32_t file;           /* out-of-line: index for ckpt_ocdbt_file_path() */
	uint64_t offset;
};

/* One committed generation, as the version tree lists it. */
struct ckpt_ocdbt_gen {
	uint64_t generation;
	uint64_t commit_time; /* ns since the epoch */
	uint64_t num_keys;
	uint8_t root_height;
	char *root_path; /* data file of the root (owned), NULL for an empty tree */
	uint64_t root_offset, root_length;
};

/*
 * Opens the database in dirfd (which must hold manifest.ocdbt) at the given
 * generation (0: the latest).  label names the directory in messages.
 * @return 0, -ENOENT (no manifest, or no such generation), CKPT_ECORRUPT,
 *         -EFBIG (a limit), -ENOTSUP
 */
int ckpt_ocdbt_open(struct ckpt_ocdbt_db **out, int dirfd, const char *label, uint64_t generation,
		    const struct ckpt_limits *lim, struct ckpt_err *err);
void ckpt_ocdbt_close(struct ckpt_ocdbt_db *db);

size_t ckpt_ocdbt_count(const struct ckpt_ocdbt_db *db);
const struct ckpt_ocdbt_value *ckpt_ocdbt_at(const struct ckpt_ocdbt_db *db, size_t i);
/* index of the first key >= key */
size_t ckpt_ocdbt_lower_bound(const struct ckpt_ocdbt_db *db, const void *key, size_t n);
/* the value of key, or NULL */
const struct ckpt_ocdbt_value *ckpt_ocdbt_find(const struct ckpt_ocdbt_db *db, const void *key,
					       size_t n);
const char *ckpt_ocdbt_file_path(const struct ckpt_ocdbt_db *db, uint32_t file);
/* data files the opened version refers to (values and B+tree nodes): 0..n-1 */
size_t ckpt_ocdbt_n_files(const struct ckpt_ocdbt_db *db);
/* how many leading bytes of that path are its base_path (the rest: relative path) */
size_t ckpt_ocdbt_file_base_len(const struct ckpt_ocdbt_db *db, uint32_t file);
/* an fd for an out-of-line value's data file (opened on first use, kept) */
int ckpt_ocdbt_file_fd(struct ckpt_ocdbt_db *db, uint32_t file, struct ckpt_err *err);
/* Reads n bytes at off of a value into buf.  @return 0, CKPT_ECORRUPT, -errno */
int ckpt_ocdbt_read(struct ckpt_ocdbt_db *db, const struct ckpt_ocdbt_value *v, uint64_t off,
		    size_t n, void *buf, struct ckpt_err *err);

/* the opened version */
const struct ckpt_ocdbt_config *ckpt_ocdbt_config(const struct ckpt_ocdbt_db *db);
uint64_t ckpt_ocdbt_generation(const struct ckpt_ocdbt_db *db);
uint64_t ckpt_ocdbt_commit_time(const struct ckpt_ocdbt_db *db);

/*
 * Lists every generation the version tree holds, oldest first (*out new,
 * free with ckpt_ocdbt_gens_free).
 */
int ckpt_ocdbt_list_generations(int dirfd, const char *label, const struct ckpt_limits *lim,
				struct ckpt_ocdbt_gen **out, size_t *n, struct ckpt_err *err);
void ckpt_ocdbt_gens_free(struct ckpt_ocdbt_gen *g, size_t n);

/* Reads and parses the current manifest (following a numbered manifest). */
int ckpt_ocdbt_read_manifest(int dirfd, const char *label, const struct ckpt_limits *lim,
			     struct ckpt_ocdbt_manifest *m, char **manifest_name,
			     struct ckpt_err *err);

#endif
