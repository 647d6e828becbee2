/* SPDX-License-Identifier: Apache-2.0 */
/* crc32c.h - CRC-32C (Castagnoli), as TensorStore/absl compute it (tier 0). */
#ifndef CKPT_CRC32C_H
#define CKPT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over p[0..n). */
uint32_t ckpt_crc32c(uint32_t crc, const void *p, size_t n);

#endif
