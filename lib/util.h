/* SPDX-License-Identifier: Apache-2.0 */
/* util.h - overflow-checked size math, byte loads/stores, allocation (tier 0). */
#ifndef CKPT_UTIL_H
#define CKPT_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CKPT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CKPT_MAX(a, b) ((a) > (b) ? (a) : (b))

/* true on overflow */
static inline bool ckpt_add_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_add_overflow(a, b, out);
}
static inline bool ckpt_mul_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

static inline uint32_t ckpt_load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ckpt_load_le64(const uint8_t *p)
{
	return (uint64_t)ckpt_load_le32(p) | (uint64_t)ckpt_load_le32(p + 4) << 32;
}
static inline uint32_t ckpt_load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline void ckpt_store_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
static inline void ckpt_store_le64(uint8_t *p, uint64_t v)
{
	ckpt_store_le32(p, (uint32_t)v);
	ckpt_store_le32(p + 4, (uint32_t)(v >> 32));
}
static inline void ckpt_store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A view: never owns. */
struct ckpt_bytes {
	const uint8_t *p;
	size_t n;
};

static inline bool ckpt_bytes_eq(struct ckpt_bytes a, struct ckpt_bytes b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}
/* memcmp order, shorter first on a common prefix */
static inline int ckpt_bytes_cmp(struct ckpt_bytes a, struct ckpt_bytes b)
{
	size_t n = a.n < b.n ? a.n : b.n;
	int c = n ? memcmp(a.p, b.p, n) : 0;

	if (c)
		return c;
	return a.n < b.n ? -1 : a.n > b.n;
}

/* strdup of n bytes plus a NUL; NULL on ENOMEM */
char *ckpt_strndup(const void *p, size_t n);
/* frees a one-off buffer of n bytes and, when it was big, returns free
 * memory to the system (metadata files read whole) */
void ckpt_free_big(void *p, size_t n);
/* calloc(n, size) with overflow check */
void *ckpt_calloc(size_t n, size_t size);
/* realloc to hold n elements of size; NULL on overflow/ENOMEM (old kept) */
void *ckpt_reallocarray(void *p, size_t n, size_t size);
/* Grows *arr (with *cap elements) so that it can hold need elements. */
int ckpt_grow(void **arr, size_t *cap, size_t need, size_t size);
/* "123", "64K", "8M", "2G", "1T" (binary multiples) into bytes.  @return 0 or -EINVAL */
int ckpt_parse_size(const char *s, uint64_t *out);

#endif
