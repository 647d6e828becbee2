/* SPDX-License-Identifier: Apache-2.0 */
/* ckpt_limits.h - limits on untrusted input (tier 0): see
 * include/ckpt_limits.h, where they live because the public API uses them. */
#ifndef CKPT_LIMITS_H
#define CKPT_LIMITS_H

#include "include/ckpt_limits.h"

#endif
