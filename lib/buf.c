/* SPDX-License-Identifier: Apache-2.0 */
/* buf.c - growable byte buffer (tier 0); see buf.h. */
#include "buf.h"

#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ckpt_buf_release(struct ckpt_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

bool ckpt_buf_reserve(struct ckpt_buf *b, size_t extra)
{
	size_t need, ncap;
	uint8_t *p;

	if (b->oom)
		return false;
	if (__builtin_add_overflow(b->len, extra, &need) || need == SIZE_MAX)
		goto fail;
	need++; /* NUL */
	if (need <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	p = realloc(b->p, ncap);
	if (!p)
		goto fail;
	b->p = p;
	b->cap = ncap;
	return true;
fail:
	b->oom = true;
	return false;
}

void ckpt_buf_add(struct ckpt_buf *b, const void *p, size_t n)
{
	if (!ckpt_buf_reserve(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
}

void ckpt_buf_addc(struct ckpt_buf *b, uint8_t c)
{
	ckpt_buf_add(b, &c, 1);
}

void ckpt_buf_adds(struct ckpt_buf *b, const char *s)
{
	ckpt_buf_add(b, s, strlen(s));
}

void ckpt_buf_printf(struct ckpt_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (!ckpt_buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void ckpt_buf_varint(struct ckpt_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		tmp[n++] = c | (v ? 0x80 : 0);
	} while (v);
	ckpt_buf_add(b, tmp, n);
}

void ckpt_buf_le32(struct ckpt_buf *b, uint32_t v)
{
	uint8_t tmp[4];

	ckpt_store_le32(tmp, v);
	ckpt_buf_add(b, tmp, 4);
}

void ckpt_buf_le64(struct ckpt_buf *b, uint64_t v)
{
	uint8_t tmp[8];

	ckpt_store_le64(tmp, v);
	ckpt_buf_add(b, tmp, 8);
}

int ckpt_buf_finish(const struct ckpt_buf *b)
{
	return b->oom ? -ENOMEM : 0;
}

uint8_t *ckpt_buf_detach(struct ckpt_buf *b, size_t *len)
{
	uint8_t *p = b->p;

	if (len)
		*len = b->len;
	if (!p)
		p = calloc(1, 1);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
	return p;
}
