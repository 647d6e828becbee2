/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buf.h - growable byte buffer with a sticky error (tier 0).
 *
 * Appends after an allocation failure are no-ops; ckpt_buf_finish() (or
 * checking b->oom) reports it, so encoders stay linear.  p is NUL-terminated
 * past len whenever it is non-NULL.
 */
#ifndef CKPT_BUF_H
#define CKPT_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ckpt_buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

#define CKPT_BUF_INIT { NULL, 0, 0, false }

void ckpt_buf_release(struct ckpt_buf *b);
bool ckpt_buf_reserve(struct ckpt_buf *b, size_t extra);
void ckpt_buf_add(struct ckpt_buf *b, const void *p, size_t n);
void ckpt_buf_addc(struct ckpt_buf *b, uint8_t c);
void ckpt_buf_adds(struct ckpt_buf *b, const char *s);
void ckpt_buf_printf(struct ckpt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ckpt_buf_varint(struct ckpt_buf *b, uint64_t v);
void ckpt_buf_le32(struct ckpt_buf *b, uint32_t v);
void ckpt_buf_le64(struct ckpt_buf *b, uint64_t v);
/* 0, or -ENOMEM if any append failed */
int ckpt_buf_finish(const struct ckpt_buf *b);
/* Takes the bytes out of b (caller frees); b is reset. */
uint8_t *ckpt_buf_detach(struct ckpt_buf *b, size_t *len);

#endif
