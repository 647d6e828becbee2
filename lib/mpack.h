/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mpack.h - the msgpack tokenizer (tier 0): bytes in, tokens out, no I/O.
 *
 * ckpt_mp_head decodes one token's header from a bounds-checked reader
 * (rd.h); the data of a string, binary or extension is not part of the
 * header: t->len bytes of it follow, for the caller to take or skip.
 * ckpt_mp_skip checks one whole value (nesting bounded, iterative).  The
 * file layer in msgpack.c feeds the tokenizer from a window it refills.
 */
#ifndef CKPT_MPACK_H
#define CKPT_MPACK_H

#include "rd.h"

#include <stdint.h>

/* the longest header: a float64 or a 64-bit integer (1 + 8 bytes) */
#define CKPT_MP_MAX_HEAD 9

enum ckpt_mp_type {
	CKPT_MP_NIL,
	CKPT_MP_BOOL,
	CKPT_MP_INT,  /* any integer that fits int64 (i) */
	CKPT_MP_UINT, /* an unsigned integer above INT64_MAX (u) */
	CKPT_MP_F32,
	CKPT_MP_F64,
	CKPT_MP_STR,  /* len bytes of data follow */
	CKPT_MP_BIN,  /* len bytes of data follow */
	CKPT_MP_ARR,  /* len values follow */
	CKPT_MP_MAP,  /* len key, value pairs follow */
	CKPT_MP_EXT,  /* type code ext, len bytes of data follow */
};

struct ckpt_mp_tok {
	enum ckpt_mp_type t;
	int64_t i;   /* INT, BOOL (0 or 1) */
	uint64_t u;  /* INT (as unsigned), UINT */
	uint64_t len;
	double f;    /* F32, F64 */
	int8_t ext;
};

/*
 * Decodes the header at r and advances past it.  @return 0, or
 * CKPT_ECORRUPT (header cut short, or a type byte msgpack does not define:
 * 0xc1) without advancing; *why says which.
 */
int ckpt_mp_head(struct ckpt_rd *r, struct ckpt_mp_tok *t, const char **why);

/*
 * Checks the one complete value at r and advances past it: every length
 * within the bytes, nesting at most max_depth (-EFBIG beyond).
 * @return 0, CKPT_ECORRUPT, -EFBIG, -ENOMEM; *why says what is wrong
 */
int ckpt_mp_skip(struct ckpt_rd *r, uint32_t max_depth, const char **why);

#endif
