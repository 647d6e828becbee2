/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pyformat.c - Python's text formats that Orbax files hold (tier 1):
 * repr of a tuple of strings, json.dumps; see pyformat.h.
 */
#define _GNU_SOURCE
#include "pyformat.h"

#include "buf.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t utf8_next(const uint8_t *s, size_t n, size_t *i)
{
	uint8_t c = s[*i];
	uint32_t cp;
	int len;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
	if (!len || *i + (size_t)len > n) {
		(*i)++;
		return 0xDC00 | c; /* not UTF-8: Python's surrogateescape */
	}
	cp = c & (0x7f >> len);
	for (int k = 1; k < len; k++)
		cp = cp << 6 | (s[*i + (size_t)k] & 0x3f);
	*i += (size_t)len;
	return cp;
}

static bool py_printable(uint32_t cp)
{
	/* str.isprintable(): not Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs other than ' '
	 * (the common cases; exotic unassigned code points print literally) */
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad)
		return false;
	if ((cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
	    (cp >= 0x205f && cp <= 0x2064) || cp == 0x3000 || cp == 0xfeff || cp == 0x1680 ||
	    (cp >= 0xd800 && cp <= 0xf8ff) || cp == 0x061c || cp == 0x180e || cp > 0x10ffff ||
	    (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0xf0000))
		return false;
	return true;
}

static void py_repr_str(struct ckpt_buf *b, const char *s, size_t n)
{
	bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
	char q = sq && !dq ? '"' : '\'';
	size_t i = 0;

	ckpt_buf_addc(b, (uint8_t)q);
	while (i < n) {
		size_t start = i;
		uint32_t cp = utf8_next((const uint8_t *)s, n, &i);

		if (cp == (uint32_t)q || cp == '\\') {
			ckpt_buf_addc(b, '\\');
			ckpt_buf_addc(b, (uint8_t)cp);
		} else if (cp == '\n') {
			ckpt_buf_adds(b, "\\n");
		} else if (cp == '\r') {
			ckpt_buf_adds(b, "\\r");
		} else if (cp == '\t') {
			ckpt_buf_adds(b, "\\t");
		} else if (py_printable(cp)) {
			ckpt_buf_add(b, s + start, i - start);
		} else if (cp < 0x100) {
			ckpt_buf_printf(b, "\\x%02x", cp);
		} else if (cp < 0x10000) {
			ckpt_buf_printf(b, "\\u%04x", cp);
		} else {
			ckpt_buf_printf(b, "\\U%08x", cp);
		}
	}
	ckpt_buf_addc(b, (uint8_t)q);
}

char *ckpt_py_tuple_repr(const struct ckpt_key *path, size_t depth)
{
	struct ckpt_buf b = CKPT_BUF_INIT;

	ckpt_buf_addc(&b, '(');
	for (size_t i = 0; i < depth; i++) {
		if (i)
			ckpt_buf_adds(&b, ", ");
		py_repr_str(&b, path[i].s, path[i].n);
	}
	if (depth == 1)
		ckpt_buf_addc(&b, ',');
	ckpt_buf_addc(&b, ')');
	if (ckpt_buf_finish(&b) < 0) {
		ckpt_buf_release(&b);
		return NULL;
	}
	return (char *)ckpt_buf_detach(&b, NULL);
}

char *ckpt_py_json_dumps(const json_t *j)
{
	char *s = json_dumps(j, JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);

	/* Python writes \u escapes in lower case */
	for (char *p = s; p && *p; p++) {
		if (*p != '\\')
			continue;
		p++;
		if (*p == 'u')
			for (int k = 1; k <= 4 && p[k]; k++)
				if (p[k] >= 'A' && p[k] <= 'F')
					p[k] = (char)(p[k] - 'A' + 'a');
	}
	return s;
}
