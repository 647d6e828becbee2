/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jscan.c - see jscan.h.  Every byte is read through the bounds-checked
 * reader (rd.h).
 */
#include "jscan.h"

#include "err.h"

#include <string.h>

#define MAX_NESTING 100000

/* the next byte, not consumed; false at the end */
static bool at(const struct ckpt_jscan *j, uint8_t *c)
{
	return ckpt_rd_peek(&j->r, c) == 0;
}

static void ws(struct ckpt_jscan *j)
{
	uint8_t c;

	while (at(j, &c) && (c == ' ' || c == '\t' || c == '\n' || c == '\r'))
		ckpt_rd_skip(&j->r, 1);
}

/* past the string that starts at the reader ('"') */
static int skip_string(struct ckpt_jscan *j)
{
	uint8_t c;

	ckpt_rd_skip(&j->r, 1);
	while (ckpt_rd_u8(&j->r, &c) == 0) {
		if (c == '\\') {
			if (ckpt_rd_skip(&j->r, 1) < 0)
				return CKPT_ECORRUPT;
			continue;
		}
		if (c == '"')
			return 0;
	}
	return CKPT_ECORRUPT;
}

/* past one value of any kind */
static int skip_value(struct ckpt_jscan *j)
{
	size_t depth = 0;
	uint8_t c;

	ws(j);
	if (!at(j, &c))
		return CKPT_ECORRUPT;
	do {
		if (!at(j, &c))
			return CKPT_ECORRUPT;
		if (c == '"') {
			if (skip_string(j) < 0)
				return CKPT_ECORRUPT;
		} else if (c == '{' || c == '[') {
			if (++depth > MAX_NESTING)
				return CKPT_ECORRUPT;
			ckpt_rd_skip(&j->r, 1);
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return CKPT_ECORRUPT;
			depth--;
			ckpt_rd_skip(&j->r, 1);
		} else if (depth == 0) {
			/* a number or literal: up to a delimiter (or a NUL) */
			while (at(j, &c) && !strchr(",}] \t\r\n", c))
				ckpt_rd_skip(&j->r, 1);
		} else {
			ckpt_rd_skip(&j->r, 1);
		}
	} while (depth > 0);
	return 0;
}

int ckpt_jscan_open(struct ckpt_jscan *j, const char *s, size_t n, char open)
{
	j->r = ckpt_rd_init(s, n);
	j->started = false;
	ws(j);
	return ckpt_rd_lit(&j->r, &open, 1);
}

int ckpt_jscan_next(struct ckpt_jscan *j, const char **key, size_t *key_n, const char **val,
		    size_t *val_n)
{
	size_t before;
	uint8_t c;

	ws(j);
	if (!at(j, &c))
		return CKPT_ECORRUPT;
	if (c == '}' || c == ']') {
		ckpt_rd_skip(&j->r, 1);
		return 0;
	}
	if (j->started) {
		if (ckpt_rd_lit(&j->r, ",", 1) < 0)
			return CKPT_ECORRUPT;
		ws(j);
	}
	j->started = true;
	if (key) {
		*key = (const char *)j->r.p;
		before = j->r.left;
		if (!at(j, &c) || c != '"' || skip_string(j) < 0)
			return CKPT_ECORRUPT;
		*key_n = before - j->r.left;
		ws(j);
		if (ckpt_rd_lit(&j->r, ":", 1) < 0)
			return CKPT_ECORRUPT;
	}
	ws(j);
	*val = (const char *)j->r.p;
	before = j->r.left;
	if (skip_value(j) < 0)
		return CKPT_ECORRUPT;
	*val_n = before - j->r.left;
	return 1;
}
