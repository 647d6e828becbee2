/* SPDX-License-Identifier: Apache-2.0 */
/* err.h - error codes and messages (tier 0): see include/ckpt_err.h, where
 * they live because the public API uses them. */
#ifndef CKPT_ERR_H
#define CKPT_ERR_H

#include "include/ckpt_err.h"

#endif
