/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_write.h - writing OCDBT databases (tier 4): a new database, or a
 * new version of an existing one, copy-on-write.
 *
 * Calling sequence:
 *   ckpt_ocdbt_wr_open()                  reads the current version, if any
 *   [ckpt_ocdbt_wr_value_begin/write/end] streams large values into the
 *                                         commit's data file (optional)
 *   ckpt_ocdbt_wr_commit(puts)            one new generation
 *   ... more commits ...
 *   ckpt_ocdbt_wr_close()
 *
 * A commit writes a new data file d/<32 hex> (values, then B+tree nodes
 * bottom-up, then version-tree nodes), fsyncs it, then replaces
 * manifest.ocdbt atomically: manifest.ocdbt.__lock is written and fsynced,
 * renamed over manifest.ocdbt, and the directory fsynced (TensorStore's
 * file kvstore protocol; FORMAT-ocdbt-zarr.md section 10).  Existing files
 * are never modified.  A crash leaves the old or the new version.
 * One thread at a time.
 */
#ifndef CKPT_OCDBT_WRITE_H
#define CKPT_OCDBT_WRITE_H

#include "ckpt_limits.h"
#include "err.h"
#include "ocdbt_fmt.h"

#include <stdbool.h>
#include <stdint.h>

/* Hooks that make output reproducible (tests) and commits observable. */
struct ckpt_ocdbt_hooks {
	void (*file_name)(void *ctx, char out[33]); /* 32 hex digits; default random */
	uint64_t (*now_ns)(void *ctx);              /* default CLOCK_REALTIME */
	void (*uuid)(void *ctx, uint8_t out[16]);   /* a new database's uuid; default random */
	/* called at each step of a commit ("data-written", "data-synced",
	 * "manifest-written", "manifest-renamed"): fault injection */
	void (*step)(void *ctx, const char *what);
	void *ctx;
	bool no_fsync; /* tests only: skip fsync */
};

/* The configuration Orbax writes (random uuid filled by the writer). */
void ckpt_ocdbt_config_orbax(struct ckpt_ocdbt_config *c);

enum ckpt_put_kind { CKPT_PUT_VALUE, CKPT_PUT_REF, CKPT_PUT_DELETE };

struct ckpt_ocdbt_put {
	enum ckpt_put_kind kind;
	const void *key;
	size_t key_n;
	const void *value; /* CKPT_PUT_VALUE: the bytes (copied) */
	size_t value_n;
	/* CKPT_PUT_REF: an out-of-line value already on disk, relative to this
	 * database's directory: base_path + relative path, offset, length */
	const char *ref_base, *ref_rel;
	uint64_t ref_off, ref_len;
};

struct ckpt_ocdbt_wr;

/*
 * Opens dirfd for writing.  If it holds a database, its latest version is
 * read; otherwise a new database with config cfg (NULL: Orbax's) is created
 * by the first commit.
 */
int ckpt_ocdbt_wr_open(struct ckpt_ocdbt_wr **out, int dirfd, const char *label,
		       const struct ckpt_ocdbt_config *cfg, const struct ckpt_ocdbt_hooks *hooks,
		       const struct ckpt_limits *lim, struct ckpt_err *err);
void ckpt_ocdbt_wr_close(struct ckpt_ocdbt_wr *w);

/* Commits puts (sorted or not; for a repeated key the last wins) as one generation. */
int ckpt_ocdbt_wr_commit(struct ckpt_ocdbt_wr *w, const struct ckpt_ocdbt_put *puts, size_t n,
			 struct ckpt_err *err);

/*
 * Streams one value into the next commit's data file; value_end fills a
 * CKPT_PUT_REF put for it (the strings live until the commit).
 */
int ckpt_ocdbt_wr_value_begin(struct ckpt_ocdbt_wr *w, struct ckpt_err *err);
int ckpt_ocdbt_wr_value_write(struct ckpt_ocdbt_wr *w, const void *p, size_t n,
			      struct ckpt_err *err);
int ckpt_ocdbt_wr_value_end(struct ckpt_ocdbt_wr *w, struct ckpt_ocdbt_put *ref,
			    struct ckpt_err *err);

/*
 * Drops every version but the latest from the manifest (the history), so
 * the data files only older versions used can be deleted.  Single manifests
 * only.  @return 0, -ENOTSUP (numbered manifest), -errno
 */
int ckpt_ocdbt_compact(int dirfd, const char *label, const struct ckpt_limits *lim,
		       struct ckpt_err *err);

/* State after the last commit. */
uint64_t ckpt_ocdbt_wr_generation(const struct ckpt_ocdbt_wr *w);
const struct ckpt_ocdbt_config *ckpt_ocdbt_wr_config(const struct ckpt_ocdbt_wr *w);
uint64_t ckpt_ocdbt_wr_bytes_written(const struct ckpt_ocdbt_wr *w);

/* Entries of the current version, for merging one database into another. */
struct ckpt_ocdbt_went {
	struct ckpt_bytes key;
	uint64_t len;
	const uint8_t *inline_p; /* or NULL: base/rel/off */
	const char *base, *rel;
	uint64_t off;
};
size_t ckpt_ocdbt_wr_count(const struct ckpt_ocdbt_wr *w);
void ckpt_ocdbt_wr_entry(const struct ckpt_ocdbt_wr *w, size_t i, struct ckpt_ocdbt_went *out);

#endif
