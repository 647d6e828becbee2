/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsutil.h - file access confined beneath a directory (tier 2).
 *
 * Every path taken from checkpoint metadata (data file names, parameter
 * names, item names) is opened with these helpers relative to a directory
 * fd: absolute paths, ".." components and symlinks leading out of that
 * directory are refused (openat2 RESOLVE_BENEATH; a component walk with
 * O_NOFOLLOW where openat2 is unavailable).
 */
#ifndef CKPT_FSUTIL_H
#define CKPT_FSUTIL_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* true when path is relative, non-empty, without "..", "." or empty components */
bool ckpt_path_is_clean(const char *path, size_t n);

/* openat confined beneath dirfd.  Returns an fd or a negative errno. */
int ckpt_open_beneath(int dirfd, const char *path, int flags, mode_t mode);

/*
 * Reads a whole file (at most max bytes) beneath dirfd into *out (new, NUL
 * terminated, caller frees).  @return 0, -ENOENT, -EFBIG, -errno
 */
int ckpt_read_file(int dirfd, const char *path, size_t max, uint8_t **out, size_t *out_n,
		   struct ckpt_err *err);

/* pread of exactly n bytes; CKPT_ECORRUPT when the file is shorter */
int ckpt_pread_full(int fd, void *buf, size_t n, uint64_t off);
/* pread(2), at most n bytes (fewer at the end of the file), through the
 * source reader when one is set; EINTR retried.  @return bytes or -errno */
ssize_t ckpt_pread(int fd, void *buf, size_t n, uint64_t off);

/*
 * The source reader: every read of SOURCE's files (ckpt_read_file,
 * ckpt_pread_full, ckpt_pread) asks it first.  A mirror of a remote source
 * (remote.c) sets one: its files are local and sparse, and the reader makes
 * the bytes asked for present before reading them.  pread returns the bytes
 * read, or -errno, or CKPT_SRC_LOCAL when fd is not one of its files.
 * Without a reader, and for CKPT_SRC_LOCAL, the file is read as it is.
 * prepare (may be NULL) is told of a directory of SOURCE before what is
 * below it is read (a step, when it is opened): a mirror makes the files
 * it left out of its first listing there.  willneed (may be NULL) is told
 * of bytes about to be read: a mirror fetches them now, so that a decoder
 * holds no buffers while it waits for the network.
 */
#define CKPT_SRC_LOCAL (-100000)
struct ckpt_src_reader {
	ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, uint64_t off);
	void (*prepare)(void *ctx, int dirfd);
	void (*willneed)(void *ctx, int fd, uint64_t off, uint64_t n, bool wait);
	void *ctx;
};
/* sets (or with NULL clears) the process's one source reader */
void ckpt_src_set_reader(const struct ckpt_src_reader *r);
/* the directory dirfd of SOURCE is about to be read below (the reader's prepare) */
void ckpt_src_prepare(int dirfd);
/* a source reader that fetches (a remote mirror) is set: fetching ahead pays */
bool ckpt_src_willneed_wanted(void);
/* bytes [off, off+n) of fd will be read soon (the reader's willneed; errors
 * are not said here: the read that follows meets them); wait: until they
 * are there, else started in the background */
void ckpt_src_willneed(int fd, uint64_t off, uint64_t n, bool wait);
/* reads made of SOURCE's files through these helpers since start */
uint64_t ckpt_src_reads(void);

/* pwrite of exactly n bytes at off */
int ckpt_pwrite_full(int fd, const void *buf, size_t n, uint64_t off);
/* write of exactly n bytes */
int ckpt_write_full(int fd, const void *buf, size_t n);
/* Removes name (below at) and everything in it; depth: of the caller's recursion (0). */
int ckpt_rm_tree(int at, const char *name, unsigned depth);

/* A directory stream of its own (fresh file offset) for the directory fd. */
#include <dirent.h>
DIR *ckpt_opendir_fd(int fd);

/* true when name exists beneath dirfd (any type) */
bool ckpt_exists(int dirfd, const char *path);
bool ckpt_is_dir(int dirfd, const char *path);
/* a and b (beneath dirfd, links not followed) are the same file */
bool ckpt_same_inode(int dirfd, const char *a, const char *b);
/* creates the directories leading to rel (clean, beneath dirfd) */
int ckpt_mkparents(int dirfd, const char *rel);

#endif
