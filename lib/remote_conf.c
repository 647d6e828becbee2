/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote_conf.c - a remote source's settings (tier 2): the URL, the store's
 * options (s3_conf.c) and the mirror's (cache_dir, cache_dir_size, poll,
 * parallel).  See include/ckpt.h.
 */
#define _GNU_SOURCE
#include "include/ckpt.h"

#include "remote_int.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

bool ckpt_remote_is_url(const char *s)
{
	return ckpt_s3_is_url(s);
}

int ckpt_remote_conf_new(struct ckpt_remote_conf **out, const char *url, struct ckpt_err *err)
{
	struct ckpt_remote_conf *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c || !(c->url = strdup(url))) {
		free(c);
		return -ENOMEM;
	}
	rc = ckpt_s3_url_parse(url, &c->scheme, &c->bucket, &c->prefix, err);
	if (rc == 0)
		rc = ckpt_s3_conf_init(&c->s3, c->scheme, err);
	if (rc < 0) {
		ckpt_remote_conf_free(c);
		return rc;
	}
	/* the trailing '/' of "s3://b/run/" says nothing more */
	for (size_t n = strlen(c->prefix); n && c->prefix[n - 1] == '/'; n--)
		c->prefix[n - 1] = 0;
	c->poll_ms = 30000;
	c->parallel = 8;
	c->warm_steps = UINT_MAX;
	*out = c;
	return 0;
}

void ckpt_remote_conf_free(struct ckpt_remote_conf *c)
{
	if (!c)
		return;
	ckpt_s3_conf_free(&c->s3);
	free(c->url);
	free(c->scheme);
	free(c->bucket);
	free(c->prefix);
	free(c->cache_dir);
	free(c);
}

int ckpt_remote_conf_set(struct ckpt_remote_conf *c, const char *key, const char *value,
			 struct ckpt_err *err)
{
	uint64_t v;

	if (!strcmp(key, "cache_dir")) {
		free(c->cache_dir);
		return (c->cache_dir = strdup(value ? value : "")) ? 0 : -ENOMEM;
	}
	if (!strcmp(key, "cache_dir_size")) {
		if (!value || ckpt_parse_size(value, &v) < 0 || v < (1u << 20))
			return ckpt_err_set(err, -EINVAL, "cache_dir_size must be a size of at least 1M, not '%s'",
					    value ? value : "");
		c->cache_size = v;
		return 0;
	}
	if (!strcmp(key, "poll")) {
		char *end;
		double s = value ? strtod(value, &end) : -1;

		if (!value || *end || end == value || s < 0 || s > 86400)
			return ckpt_err_set(err, -EINVAL, "poll must be seconds (0 turns it off), not '%s'",
					    value ? value : "");
		c->poll_ms = (unsigned)(s * 1000);
		return 0;
	}
	if (!strcmp(key, "warm_steps")) {
		if (value && !strcmp(value, "all")) {
			c->warm_steps = UINT_MAX;
			return 0;
		}
		if (!value || ckpt_parse_size(value, &v) < 0 || v >= UINT_MAX)
			return ckpt_err_set(err, -EINVAL,
					    "warm_steps must be a number of steps or 'all', not '%s'",
					    value ? value : "");
		c->warm_steps = (unsigned)v;
		return 0;
	}
	if (!strcmp(key, "parallel")) {
		if (!value || ckpt_parse_size(value, &v) < 0 || v < 1 || v > 64)
			return ckpt_err_set(err, -EINVAL, "parallel must be 1 to 64, not '%s'",
					    value ? value : "");
		c->parallel = (unsigned)v;
		return 0;
	}
	return ckpt_s3_conf_set(&c->s3, key, value, err);
}

int ckpt_remote_conf_copy(struct ckpt_remote_conf *d, const struct ckpt_remote_conf *s)
{
	*d = *s;
	memset(&d->s3, 0, sizeof(d->s3));
	d->url = strdup(s->url);
	d->scheme = strdup(s->scheme);
	d->bucket = strdup(s->bucket);
	d->prefix = strdup(s->prefix);
	d->cache_dir = s->cache_dir ? strdup(s->cache_dir) : NULL;
	return d->url && d->scheme && d->bucket && d->prefix && (!s->cache_dir || d->cache_dir)
		       ? 0
		       : -ENOMEM;
}
