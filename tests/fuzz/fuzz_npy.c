/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_npy.c - the .npy header parser (new arrays written as NAME.npy), and
 * the header builder (the views) as its inverse: what parses is rebuilt,
 * and the rebuilt header parses to the same array (a dtype numpy lacks is
 * rebuilt as numpy's stand-in, its name beside it). */
#include "ckpt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_npy h;
	uint8_t buf[64];

	if (ckpt_npy_parse(p, n, &h, &err) == 0) {
		size_t k = n - h.data_off < sizeof(buf) ? (size_t)(n - h.data_off) : sizeof(buf);

		struct ckpt_npy m, back;
		uint8_t head[4096];
		int rc;

		memcpy(buf, p + h.data_off, k);
		ckpt_npy_to_le(&h, buf, k);
		rc = ckpt_npy_make(&m, h.dtype, h.rank, h.shape, &err);
		if (rc == -EOVERFLOW)
			return 0;
		if (rc < 0 || m.data_off % 64 || m.data_off > sizeof(head) ||
		    m.data_bytes != h.data_bytes)
			abort();
		if (m.ml_dtype) {
			/* an ml_dtypes type ('int4', 'bfloat16' as descr): the header
			 * made holds numpy's stand-in ('|i1', '|V2'), the name is in
			 * m.ml_dtype, so it does not parse back to the same dtype */
			if (strcmp(m.ml_dtype, h.dtype))
				abort();
			return 0;
		}
		ckpt_npy_header(&m, head, sizeof(head));
		if (ckpt_npy_parse(head, (size_t)m.data_off, &back, &err) < 0 ||
		    strcmp(back.dtype, h.dtype) || back.rank != h.rank ||
		    memcmp(back.shape, h.shape, h.rank * sizeof(h.shape[0])) ||
		    back.data_off != m.data_off)
			abort();
	}
	return 0;
}
