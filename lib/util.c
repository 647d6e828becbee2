/* SPDX-License-Identifier: Apache-2.0 */
/* util.c - allocation helpers (tier 0). */
#include "util.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

char *ckpt_strndup(const void *p, size_t n)
{
	char *s;

	if (n == SIZE_MAX)
		return NULL;
	s = malloc(n + 1);
	if (!s)
		return NULL;
	if (n)
		memcpy(s, p, n);
	s[n] = 0;
	return s;
}

void *ckpt_calloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size ? size : 1);
}

void *ckpt_reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	return realloc(p, total ? total : 1);
}

int ckpt_grow(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	p = ckpt_reallocarray(*arr, ncap, size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

void ckpt_free_big(void *p, size_t n)
{
	free(p);
	/* the daemon keeps freed memory for reuse (fs/main.c's mallopt), so a
	 * one-off buffer of many MiB would stay resident beside the next one:
	 * hand its pages back (glibc also drops free pages inside the heap) */
	if (n >= ((size_t)4 << 20))
		malloc_trim(0);
}

int ckpt_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (errno || *end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}
