/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ckpt_internal.h - the library internals that tools/ (the `ckpt` command)
 * uses beyond ckpt.h, in one place.  Not for fs/, which sees only ckpt.h.
 *
 *   ocdbt.h   the OCDBT reader: `ckpt verify` and `ckpt dump` walk an item's
 *             database key by key and list its generations (ckpt.h shows
 *             pytrees, not keys)
 *   dtype.h   numpy dtype names and number encoding: `ckpt make` fills
 *             arrays from a JSON spec
 *   writer.h  the checkpoint writer (zarr arrays, OCDBT, _METADATA and the
 *             step files): `ckpt make` writes new checkpoints
 *   sha256.h  SHA-256: `ckpt ocdbt ls --sha256` prints digests, `ckpt make`
 *             records them (the library signs S3 requests with it)
 * These are internal interfaces: they may change with the library, and the
 * tools change with them.
 */
#ifndef CKPT_INTERNAL_H
#define CKPT_INTERNAL_H

#include "ckpt.h"

#include "../dtype.h"
#include "../ocdbt.h"
#include "../sha256.h"
#include "../writer.h"

#endif
