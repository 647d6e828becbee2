/* SPDX-License-Identifier: Apache-2.0 */
/* ndcopy.c - strided n-d copies (tier 0); see ndcopy.h. */
#include "ndcopy.h"

#include <string.h>

#define MAXR 32

void ckpt_nd_copy(uint8_t *dst, const uint64_t *dshape, const uint64_t *dorigin, const uint8_t *src,
		  const uint64_t *sshape, const uint64_t *sorigin, const uint64_t *ext,
		  uint32_t rank, size_t itemsize)
{
	uint64_t dstride[MAXR], sstride[MAXR], ctr[MAXR] = { 0 };
	size_t row;

	if (rank == 0) {
		memcpy(dst, src, itemsize);
		return;
	}
	for (uint32_t i = 0; i < rank; i++)
		if (ext[i] == 0)
			return;
	dstride[rank - 1] = sstride[rank - 1] = itemsize;
	for (uint32_t i = rank - 1; i > 0; i--) {
		dstride[i - 1] = dstride[i] * dshape[i];
		sstride[i - 1] = sstride[i] * sshape[i];
	}
	row = (size_t)(ext[rank - 1] * itemsize);
	for (;;) {
		uint64_t doff = 0, soff = 0;

		for (uint32_t i = 0; i < rank; i++) {
			doff += (dorigin[i] + (i < rank - 1 ? ctr[i] : 0)) * dstride[i];
			soff += (sorigin[i] + (i < rank - 1 ? ctr[i] : 0)) * sstride[i];
		}
		memcpy(dst + doff, src + soff, row);
		/* next row: odometer over dims 0..rank-2 */
		{
			int i = (int)rank - 2;

			while (i >= 0 && ++ctr[i] == ext[i]) {
				ctr[i] = 0;
				i--;
			}
			if (i < 0)
				return;
		}
	}
}

static void transpose_common(uint8_t *out, const uint8_t *in, const uint64_t *shape,
			     const uint32_t *perm, uint32_t rank, size_t itemsize, int decode)
{
	uint64_t stride[MAXR], estride[MAXR], eshape[MAXR], ctr[MAXR] = { 0 };
	uint64_t total = 1;

	if (rank == 0) {
		memcpy(out, in, itemsize);
		return;
	}
	for (uint32_t i = 0; i < rank; i++) {
		eshape[i] = shape[perm[i]];
		total *= shape[i];
	}
	if (total == 0)
		return;
	stride[rank - 1] = itemsize;
	for (uint32_t i = rank - 1; i > 0; i--)
		stride[i - 1] = stride[i] * shape[i];
	/* moving along encoded dim k moves along decoded dim perm[k] */
	for (uint32_t k = 0; k < rank; k++)
		estride[k] = stride[perm[k]];
	for (uint64_t e = 0; e < total; e++) {
		uint64_t off = 0;

		for (uint32_t k = 0; k < rank; k++)
			off += ctr[k] * estride[k];
		if (decode)
			memcpy(out + off, in + e * itemsize, itemsize);
		else
			memcpy(out + e * itemsize, in + off, itemsize);
		for (int k = (int)rank - 1; k >= 0; k--) {
			if (++ctr[k] < eshape[k])
				break;
			ctr[k] = 0;
		}
	}
}

void ckpt_nd_untranspose(uint8_t *out, const uint8_t *enc, const uint64_t *shape,
			 const uint32_t *perm, uint32_t rank, size_t itemsize)
{
	transpose_common(out, enc, shape, perm, rank, itemsize, 1);
}

void ckpt_nd_transpose(uint8_t *enc, const uint8_t *in, const uint64_t *shape, const uint32_t *perm,
		       uint32_t rank, size_t itemsize)
{
	transpose_common(enc, in, shape, perm, rank, itemsize, 0);
}

void ckpt_fill_elems(uint8_t *dst, uint64_t n, const uint8_t *fill, size_t itemsize)
{
	uint64_t total = n * itemsize, done;
	{
		size_t i;

		for (i = 0; i < itemsize && !fill[i]; i++)
			;
		if (i == itemsize) {
			memset(dst, 0, (size_t)total);
			return;
		}
	}
	if (total == 0)
		return;
	memcpy(dst, fill, itemsize);
	/* doubling copy */
	for (done = itemsize; done < total;) {
		uint64_t n2 = done < total - done ? done : total - done;

		memcpy(dst + done, dst, (size_t)n2);
		done += n2;
	}
}
