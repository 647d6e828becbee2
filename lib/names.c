/* SPDX-License-Identifier: Apache-2.0 */
/* names.c - reversible file names for pytree keys (tier 0); see ckpt.h. */
#include "include/ckpt.h"
#include "map.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t ckpt_name_hash(const char *key, size_t len)
{
	return ckpt_hash(key, len);
}

static bool ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);

	return n >= k && !memcmp(s + n - k, suf, k);
}

size_t ckpt_name_escape(const char *key, size_t len, unsigned dup, char out[CKPT_NAME_MAX + 1])
{
	char buf[4 * 1024];
	size_t o = 0, reserved_dot = SIZE_MAX;
	char tail[32];
	size_t tl = 0;

	if (ends_with(key, len, ".json"))
		reserved_dot = len - 5;
	else if (ends_with(key, len, ".npy"))
		reserved_dot = len - 4;
	if (len == 0) {
		buf[o++] = '%';
	} else if ((len == 1 && key[0] == '.') || (len == 2 && key[0] == '.' && key[1] == '.')) {
		for (size_t i = 0; i < len; i++) {
			memcpy(buf + o, "%2E", 3);
			o += 3;
		}
	} else {
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)key[i];

			if (o + 4 > sizeof(buf))
				break; /* overlong: the cut below applies */
			if (c == '%' || c == '/' || c == 0 || i == reserved_dot) {
				o += (size_t)snprintf(buf + o, 4, "%%%02X", c);
			} else {
				buf[o++] = (char)c;
			}
		}
	}
	if (dup)
		tl = (size_t)snprintf(tail, sizeof(tail), "%%~%u", dup);
	if (o + tl > CKPT_NAME_MAX || o + 4 > sizeof(buf)) {
		/* cut at 200 bytes, not inside a %XX escape */
		size_t cut = 200;

		while (cut > 0 && (buf[cut - 1] == '%' || (cut > 1 && buf[cut - 2] == '%')))
			cut--;
		o = cut;
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%%~h%016llx",
				      (unsigned long long)ckpt_name_hash(key, len));
		tl = 0;
	}
	memcpy(out, buf, o);
	memcpy(out + o, tail, tl);
	out[o + tl] = 0;
	return o + tl;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int ckpt_name_unescape(const char *name, char **key, size_t *len, unsigned *dup, uint64_t *hash,
		       bool *is_hash)
{
	size_t n = strlen(name), o = 0;
	const char *cut;
	char *k;

	*key = NULL;
	*len = 0;
	*dup = 0;
	*hash = 0;
	*is_hash = false;
	if ((cut = strstr(name, "%~h")) != NULL) {
		char *end;

		*hash = strtoull(cut + 3, &end, 16);
		if (*end || end - (cut + 3) != 16)
			return -ENOENT;
		*is_hash = true;
		return 0;
	}
	if ((cut = strstr(name, "%~")) != NULL) {
		char *end;
		unsigned long d = strtoul(cut + 2, &end, 10);

		if (*end || d == 0 || d > 1000000)
			return -ENOENT;
		*dup = (unsigned)d;
		n = (size_t)(cut - name);
	}
	if (n == 1 && name[0] == '%') {
		*key = strdup("");
		return *key ? 0 : -ENOMEM;
	}
	k = malloc(n + 1);
	if (!k)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '%') {
			int h, l;

			if (i + 2 >= n) {
				free(k);
				return -ENOENT;
			}
			h = hexv(name[i + 1]);
			l = hexv(name[i + 2]);
			if (h < 0 || l < 0) {
				free(k);
				return -ENOENT;
			}
			k[o++] = (char)(h << 4 | l);
			i += 2;
		} else {
			k[o++] = name[i];
		}
	}
	k[o] = 0;
	*key = k;
	*len = o;
	return 0;
}
