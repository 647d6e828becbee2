/* SPDX-License-Identifier: Apache-2.0 */
/* harness.h - a tiny TAP test harness for the C unit tests. */
#ifndef CKPT_HARNESS_H
#define CKPT_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int h_failed, h_tests, h_cur_failed;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			h_cur_failed = 1;                                             \
		}                                                                     \
	} while (0)

#define CHECK_EQ(a, b)                                                                  \
	do {                                                                            \
		long long _a = (long long)(a), _b = (long long)(b);                     \
		if (_a != _b) {                                                         \
			printf("#   %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, \
			       #a, _a, _b);                                             \
			h_cur_failed = 1;                                               \
		}                                                                       \
	} while (0)

#define RUN(fn)                                                                   \
	do {                                                                      \
		h_cur_failed = 0;                                                 \
		fn();                                                             \
		h_tests++;                                                        \
		printf("%s %d - %s\n", h_cur_failed ? "not ok" : "ok", h_tests, #fn); \
		h_failed += h_cur_failed;                                         \
	} while (0)

#define DONE()                                   \
	do {                                     \
		printf("1..%d\n", h_tests);      \
		return h_failed ? 1 : 0;         \
	} while (0)

/* reads a whole file for tests; aborts if it cannot */
static inline unsigned char *h_slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long len;

	if (!f) {
		printf("Bail out! cannot open %s\n", path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	buf[len] = 0;
	*n = (size_t)len;
	return buf;
}

#endif
