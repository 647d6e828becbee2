/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kio.c - the /dev/fuse channel read and written by us (libfuse's custom
 * I/O), for one reason: the INIT reply also asks for
 * FUSE_DIRECT_IO_ALLOW_MMAP, which the kernel offers since Linux 6.6 and
 * libfuse 3.14 cannot ask for.  On a read-write mount, leaves opened for
 * reading use direct I/O (each handle reads the state it opened); without
 * this flag the kernel refuses a shared mmap of such a file with ENODEV,
 * so np.memmap(leaf, mode="r") failed.  With it, the mapping goes through
 * the page cache, filled by reads of the mapping handle's state.  Kernels
 * that do not offer the flag are not asked (the mmap then still fails).
 * Once the INIT reply is written, -o kernel_readahead is applied (bdi.c):
 * reading that reply, the kernel lowered the mount's read-ahead to it.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <linux/fuse.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define ALLOW_MMAP_FLAGS2 (1u << (36 - 32)) /* FUSE_DIRECT_IO_ALLOW_MMAP, in flags2 */

static int init_state;          /* 0 INIT not seen, 1 INIT to answer, 2 done */
static uint64_t init_unique;
static bool kernel_offers;
static char *ra_path;       /* -o kernel_readahead: the mount point, and bytes */
static int64_t ra_bytes = -1;

static ssize_t kio_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t r = read(fd, buf, len);

	(void)userdata;
	if (r >= (ssize_t)(sizeof(struct fuse_in_header) + sizeof(struct fuse_init_in)) &&
	    __atomic_load_n(&init_state, __ATOMIC_ACQUIRE) == 0) {
		const struct fuse_in_header *h = buf;
		const struct fuse_init_in *in = (const void *)(h + 1);

		if (h->opcode == FUSE_INIT) {
			init_unique = h->unique;
			kernel_offers = (in->flags & FUSE_INIT_EXT) && (in->flags2 & ALLOW_MMAP_FLAGS2);
			__atomic_store_n(&init_state, 1, __ATOMIC_RELEASE);
		}
	}
	return r;
}

static ssize_t kio_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	bool init = false;
	ssize_t r;

	(void)userdata;
	if (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) == 1 && count >= 2 &&
	    iov[0].iov_len == sizeof(struct fuse_out_header) &&
	    iov[1].iov_len >= offsetof(struct fuse_init_out, flags2) + sizeof(uint32_t)) {
		const struct fuse_out_header *h = iov[0].iov_base;
		struct fuse_init_out *out = iov[1].iov_base;

		if (h->unique == init_unique) {
			if (h->error == 0 && kernel_offers && (out->flags & FUSE_INIT_EXT))
				out->flags2 |= ALLOW_MMAP_FLAGS2;
			init = h->error == 0;
			__atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
		}
	}
	r = writev(fd, iov, count);
	if (init && r > 0 && ra_bytes >= 0) {
		char why[512];

		if (fs_kernel_readahead(ra_path, (size_t)ra_bytes, why, sizeof(why)) < 0)
			fuse_log(FUSE_LOG_ERR, "ckptfs: -o kernel_readahead: %s\n", why);
	}
	return r;
}

int fs_kio_install(struct fuse_session *se, const char *path, int64_t kernel_readahead)
{
	static const struct fuse_custom_io io = { .read = kio_read, .writev = kio_writev };

	free(ra_path);
	ra_path = NULL;
	ra_bytes = -1;
	if (kernel_readahead >= 0) {
		if (!(ra_path = strdup(path)))
			return -1;
		ra_bytes = kernel_readahead;
	}
	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}
