/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jscan.c - see jscan.h.
 */
#include "jscan.h"

#include "err.h"

#include <string.h>

#define MAX_NESTING 100000

static void ws(struct ckpt_jscan *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* past the string that starts at j->p ('"') */
static int skip_string(struct ckpt_jscan *j)
{
	j->p++;
	while (j->p < j->end) {
		if (*j->p == '\\') {
			if (j->end - j->p < 2)
				return CKPT_ECORRUPT;
			j->p += 2;
			continue;
		}
		if (*j->p++ == '"')
			return 0;
	}
	return CKPT_ECORRUPT;
}

/* past one value of any kind */
static int skip_value(struct ckpt_jscan *j)
{
	size_t depth = 0;

	ws(j);
	if (j->p >= j->end)
		return CKPT_ECORRUPT;
	do {
		char c;

		if (j->p >= j->end)
			return CKPT_ECORRUPT;
		c = *j->p;
		if (c == '"') {
			if (skip_string(j) < 0)
				return CKPT_ECORRUPT;
		} else if (c == '{' || c == '[') {
			if (++depth > MAX_NESTING)
				return CKPT_ECORRUPT;
			j->p++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return CKPT_ECORRUPT;
			depth--;
			j->p++;
		} else if (depth == 0) {
			/* a number or literal: up to a delimiter */
			while (j->p < j->end && !strchr(",}] \t\r\n", *j->p))
				j->p++;
		} else {
			j->p++;
		}
	} while (depth > 0);
	return 0;
}

int ckpt_jscan_open(struct ckpt_jscan *j, const char *s, size_t n, char open)
{
	j->p = s;
	j->end = s + n;
	j->started = false;
	ws(j);
	if (j->p >= j->end || *j->p != open)
		return CKPT_ECORRUPT;
	j->p++;
	return 0;
}

int ckpt_jscan_next(struct ckpt_jscan *j, const char **key, size_t *key_n, const char **val,
		    size_t *val_n)
{
	const char *v;

	ws(j);
	if (j->p >= j->end)
		return CKPT_ECORRUPT;
	if (*j->p == '}' || *j->p == ']') {
		j->p++;
		return 0;
	}
	if (j->started) {
		if (*j->p != ',')
			return CKPT_ECORRUPT;
		j->p++;
		ws(j);
	}
	j->started = true;
	if (key) {
		const char *k = j->p;

		if (j->p >= j->end || *j->p != '"' || skip_string(j) < 0)
			return CKPT_ECORRUPT;
		*key = k;
		*key_n = (size_t)(j->p - k);
		ws(j);
		if (j->p >= j->end || *j->p != ':')
			return CKPT_ECORRUPT;
		j->p++;
	}
	ws(j);
	v = j->p;
	if (skip_value(j) < 0)
		return CKPT_ECORRUPT;
	*val = v;
	*val_n = (size_t)(j->p - v);
	return 1;
}
