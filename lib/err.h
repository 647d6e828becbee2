/* SPDX-License-Identifier: Apache-2.0 */
/* err.h - error codes and messages (tier 0): see include/ckpt_err.h, where
 * they live because the public API uses them; what only lib/ uses is here. */
#ifndef CKPT_ERR_H
#define CKPT_ERR_H

#include "include/ckpt_err.h"

/* Puts context in front of the recorded message ("'file': " ...). */
void ckpt_err_prefix(struct ckpt_err *err, const char *fmt, ...) CKPT_PRINTF(2, 3);

/*
 * Fault injection for crash tests: when the environment variable
 * CKPTFS_FAULT is "NAME" (or "NAME:N", the N-th time), the process dies
 * with _exit(99) when it reaches the point called NAME.
 */
void ckpt_fault_point(const char *name);

#endif
