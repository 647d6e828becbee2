/* SPDX-License-Identifier: Apache-2.0 */
/*
 * commit.h - the one atomic-commit protocol (tier 2), and the writer lock
 * and change stamp of a directory.  Knows nothing of checkpoints: every
 * caller names its files.
 *
 * Replacing a file: write TMP (created or truncated), fsync it, rename it
 * over the final name, fsync the directory that holds it.  A crash leaves
 * the old file or the new one, never a mix; a failure removes TMP.
 * Directories (a new step, a new array directory) are committed by
 * ckpt_commit_rename or swapped by ckpt_commit_exchange (RENAME_EXCHANGE),
 * each followed by the fsync of the directory that holds them.
 *
 * Every commit site of lib/ (edits, msgpack files, OCDBT manifests, ckpt
 * make's step directory) goes through these functions.  The fault points
 * of the crash tests stay where they were: a caller's `point` hook runs
 * with "written" (TMP is durable, not yet renamed) and "renamed" (renamed,
 * the directory not yet fsynced).
 */
#ifndef CKPT_COMMIT_H
#define CKPT_COMMIT_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ckpt_commit {
	int dirfd;         /* names are relative to it */
	const char *label; /* for messages: what dirfd is */
	bool no_fsync;     /* tests and benchmarks */
	void (*point)(void *ctx, const char *what); /* NULL: none */
	void *ctx;
};

/* fsync of the directory that holds rel (beneath c->dirfd) */
int ckpt_commit_sync_parent(const struct ckpt_commit *c, const char *rel);
/* creates (or truncates) tmp beneath c->dirfd for writing: an fd or -errno */
int ckpt_commit_tmp_open(const struct ckpt_commit *c, const char *tmp, struct ckpt_err *err);
/* fsyncs and closes fd (tmp, written by the caller), renames tmp over rel and
 * fsyncs the directory; on failure tmp is removed.  fd is closed either way. */
int ckpt_commit_tmp_finish(const struct ckpt_commit *c, int fd, const char *tmp, const char *rel,
			   struct ckpt_err *err);
/* replaces rel with p[0, n) through tmp (NULL: "<rel>.ckptfs-tmp") */
int ckpt_commit_file(const struct ckpt_commit *c, const char *rel, const char *tmp, const void *p, size_t n,
		     struct ckpt_err *err);
/* the same through TensorStore's file kvstore protocol, which TensorStore
 * writers respect: REL.__lock is opened (not truncated), locked with a
 * whole-file OFD write lock (waiting up to CKPT_WRITER_WAIT_MS), checked to
 * still be the file of that name, truncated, written, fsynced and renamed
 * over REL while locked */
int ckpt_commit_file_ts(const struct ckpt_commit *c, const char *rel, const void *p, size_t n,
			struct ckpt_err *err);
/* renames from (a file or a directory, complete and synced) to to, then
 * fsyncs to's directory */
int ckpt_commit_rename(const struct ckpt_commit *c, const char *from, const char *to, struct ckpt_err *err);
/* swaps a and b atomically (RENAME_EXCHANGE), then fsyncs their directory */
int ckpt_commit_exchange(const struct ckpt_commit *c, const char *a, const char *b, struct ckpt_err *err);

/*
 * The writer lock of a directory: an exclusive flock(2) on a new open file
 * description of the directory itself (not a lock file: nothing to create,
 * and nothing a prune could delete under a waiter).  Like an OFD lock it
 * works across processes and across open file descriptions of one process,
 * and the kernel releases it when the holder's descriptor goes, so a
 * killed holder never blocks the next writer.  Waits up to wait_ms, then
 * fails with -EBUSY ("'<label>' is being edited by another process").
 * Returns the lock's fd (>= 0), to be given to ckpt_unlock.
 */
int ckpt_lock_dir(int dirfd, const char *label, unsigned wait_ms, struct ckpt_err *err);
void ckpt_unlock(int lockfd);
/* how long a writer waits for another one before failing */
#define CKPT_WRITER_WAIT_MS 10000u

/*
 * A stamp of what a directory holds, taken before reading it and compared
 * under the writer lock before changing it: a hash of the inode number,
 * size, modification and change times of the directory and of every entry
 * directly in it (files and subdirectories), names starting with skip_prefix
 * and temporary files ("*.ckptfs-tmp", "*.__lock") left out.  Every commit
 * replaces an entry of the directory by rename, so it changes the stamp.
 * With file != NULL, the stamp of that one file of the directory instead.
 * A missing directory or file gives a stamp of its own (never an error).
 */
struct ckpt_stamp {
	uint64_t hash;
	uint64_t n;
};
void ckpt_stamp_take(int dirfd, const char *file, const char *skip_prefix, struct ckpt_stamp *s);
bool ckpt_stamp_equal(const struct ckpt_stamp *a, const struct ckpt_stamp *b);

#endif
