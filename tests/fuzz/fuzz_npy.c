/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_npy.c - the .npy header parser (new arrays written as NAME.npy). */
#include "ckpt.h"

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

		memcpy(buf, p + h.data_off, k);
		ckpt_npy_to_le(&h, buf, k);
	}
	return 0;
}
