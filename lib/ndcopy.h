/* SPDX-License-Identifier: Apache-2.0 */
/* ndcopy.h - strided copies between C-order n-d arrays (tier 0). */
#ifndef CKPT_NDCOPY_H
#define CKPT_NDCOPY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Copies the box of extent ext at sorigin in src (shape sshape) to dorigin in
 * dst (shape dshape).  All C order, itemsize bytes per element; the caller
 * guarantees that both boxes lie inside their arrays.
 */
void ckpt_nd_copy(uint8_t *dst, const uint64_t *dshape, const uint64_t *dorigin, const uint8_t *src,
		  const uint64_t *sshape, const uint64_t *sorigin, const uint64_t *ext,
		  uint32_t rank, size_t itemsize);

/*
 * Undoes a transpose: enc has shape eshape[k] = shape[perm[k]]; writes the
 * array of shape `shape` to out.
 */
void ckpt_nd_untranspose(uint8_t *out, const uint8_t *enc, const uint64_t *shape,
			 const uint32_t *perm, uint32_t rank, size_t itemsize);

/* Applies a transpose (the writer's direction). */
void ckpt_nd_transpose(uint8_t *enc, const uint8_t *in, const uint64_t *shape, const uint32_t *perm,
		       uint32_t rank, size_t itemsize);

/* Repeats the itemsize-byte element fill n times. */
void ckpt_fill_elems(uint8_t *dst, uint64_t n, const uint8_t *fill, size_t itemsize);

#endif
