/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ckpt_err.h - error codes and the caller-owned error message struct (tier 0),
 * part of the public API (ckpt.h includes it; lib/err.h is this file).
 *
 * Every function that can fail returns an int: 0 on success, a negative
 * errno on failure.  Project meanings:
 *   -ENOENT        key, step, path or leaf absent (expected)
 *   CKPT_ECORRUPT  on-disk bytes violate the format (-EUCLEAN, as ext4/xfs)
 *   -ENOTSUP       valid but unsupported (codec, dtype, version)
 *   -EFBIG         exceeds a configured limit
 *   -EROFS         modification of a read-only object
 *   -ENOMEM, -EIO  passed through
 * The message goes into a struct ckpt_err owned by the caller (never global or
 * thread-local state).  The first error wins; callers may only add context in
 * front of it with ckpt_err_prefix().
 */
#ifndef CKPT_PUBLIC_ERR_H
#define CKPT_PUBLIC_ERR_H

#include <errno.h>
#include <stddef.h>

#define CKPT_ECORRUPT (-EUCLEAN)

struct ckpt_err {
	int code;
	char msg[512];
};

#if defined(__GNUC__)
#define CKPT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CKPT_PRINTF(a, b)
#endif

/* Records the error unless one is already recorded; returns code.  err may be NULL. */
int ckpt_err_set(struct ckpt_err *err, int code, const char *fmt, ...) CKPT_PRINTF(3, 4);
void ckpt_err_clear(struct ckpt_err *err);
/* A short name for a code: "corrupt data", "not supported", strerror otherwise. */
const char *ckpt_strerror(int code);

#endif
