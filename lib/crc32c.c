/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32c.c - CRC-32C (tier 0): reflected polynomial 0x82F63B78, init and
 * final XOR 0xFFFFFFFF.  Uses the SSE4.2 crc32 instruction when the CPU has
 * it, slicing-by-8 tables otherwise.
 */
#include "crc32c.h"

#include "util.h"

#include <pthread.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static int have_hw;

static void table_init(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	have_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (c & 1 ? 0x82F63B78u : 0);
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint32_t lo = c ^ ckpt_load_le32(p), hi = ckpt_load_le32(p + 4);

		c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
		    table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
		    table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
	return c;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t c64 = c;

	while (n >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
		p += 8;
		n -= 8;
	}
	c = (uint32_t)c64;
	while (n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}

#endif

uint32_t ckpt_crc32c(uint32_t crc, const void *p, size_t n)
{
	uint32_t c = crc ^ 0xFFFFFFFFu;

	pthread_once(&table_once, table_init);
#if defined(__x86_64__) && defined(__GNUC__)
	if (have_hw)
		return crc_hw(c, p, n) ^ 0xFFFFFFFFu;
#endif
	return crc_sw(c, p, n) ^ 0xFFFFFFFFu;
}
