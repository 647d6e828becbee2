/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_zarr.c - zarr metadata (v2 .zarray, v3 zarr.json) and the decoding of
 * one chunk through the codec chain it declares.  Input: the metadata JSON,
 * a NUL byte, the stored chunk.
 */
#include "zarr_codec.h"
#include "zarr_meta.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct ckpt_limits lim = CKPT_LIMITS_DEFAULT;
	struct ckpt_err err = { 0, "" };
	struct ckpt_zarr_meta m;
	const uint8_t *nul = memchr(p, 0, n);
	size_t jn = nul ? (size_t)(nul - p) : n;

	lim.max_chunk_bytes = (size_t)1 << 22; /* the fuzzer's memory, not the format's */
	if (ckpt_zarr_meta_parse(&m, p, jn, &lim, &err) < 0)
		return 0;
	if (nul && m.chunk_nbytes && m.chunk_nbytes <= lim.max_chunk_bytes) {
		uint8_t *out = malloc((size_t)m.chunk_nbytes);

		if (out) {
			ckpt_chain_decode(&m.chain, &m.dtype, m.rank, m.chunk, m.fill, nul + 1,
					  n - jn - 1, out, &lim, &err);
			free(out);
		}
	}
	ckpt_zarr_meta_release(&m);
	return 0;
}
