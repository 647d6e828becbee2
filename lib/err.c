/* SPDX-License-Identifier: Apache-2.0 */
/* err.c - caller-owned error messages (tier 0). */
#include "err.h"

#include "util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

int ckpt_err_set(struct ckpt_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->code)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void ckpt_err_prefix(struct ckpt_err *err, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	size_t n;
	va_list ap;
	int h;

	if (!err || !err->code)
		return;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	h = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (h < 0)
		h = 0;
	n = (size_t)h < sizeof(err->msg) ? (size_t)h : sizeof(err->msg) - 1;
	/* the original message follows, truncated if it no longer fits */
	memcpy(err->msg + n, old, CKPT_MIN(strlen(old), sizeof(err->msg) - 1 - n));
	err->msg[CKPT_MIN(n + strlen(old), sizeof(err->msg) - 1)] = 0;
}

void ckpt_err_clear(struct ckpt_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = 0;
	}
}

const char *ckpt_strerror(int code)
{
	if (code == CKPT_ECORRUPT)
		return "corrupt data";
	if (code == -ENOTSUP)
		return "not supported";
	return strerror(code < 0 ? -code : code);
}

void ckpt_fault_point(const char *name)
{
	static unsigned hits;
	const char *f = getenv("CKPTFS_FAULT");
	size_t n = strlen(name);
	unsigned want = 1;

	if (!f || strncmp(f, name, n) || (f[n] && f[n] != ':'))
		return;
	if (f[n] == ':')
		want = (unsigned)strtoul(f + n + 1, NULL, 10);
	if (__atomic_add_fetch(&hits, 1, __ATOMIC_SEQ_CST) == want)
		_exit(99);
}
