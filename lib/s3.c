/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3.c - the S3 client's API (tier 2; see s3.h): a client for one bucket,
 * where its requests go, listing page by page, and GETs one or many at once.
 * The requests themselves are s3_http.c's.
 *
 * Addressing: virtual-hosted, https://BUCKET.HOST[/PATH]/KEY, or path
 * style, https://HOST[/PATH]/BUCKET/KEY.  The key is URI-encoded once, '/'
 * kept, and the path goes on the wire exactly as it is signed.
 */
#include "s3_http.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* a bucket name that can be a DNS label in front of the endpoint's host */
static bool dns_bucket(const char *b, bool https)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63 || b[0] == '.' || b[0] == '-' || b[n - 1] == '.' || b[n - 1] == '-' ||
	    strstr(b, ".."))
		return false;
	for (const char *p = b; *p; p++) {
		if (*p == '.' && https)
			return false; /* bucket.with.dots.s3... does not match the TLS certificate */
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return false;
	}
	return true;
}

/* an authority that a bucket name cannot go in front of: an IP address or localhost */
static bool ip_or_local(const char *auth)
{
	size_t n = strcspn(auth, ":");

	if (auth[0] == '[' || (n == 9 && !strncmp(auth, "localhost", 9)))
		return true;
	for (size_t i = 0; i < n; i++)
		if (!((auth[i] >= '0' && auth[i] <= '9') || auth[i] == '.'))
			return false;
	return true;
}

static int dup_or(char **dst, const char *v, struct ckpt_err *err)
{
	*dst = v ? strdup(v) : NULL;
	return v && !*dst ? ckpt_err_set(err, -ENOMEM, "out of memory") : 0;
}

/* where requests go: proto, host and base of s */
static int place(struct ckpt_s3 *s, const struct ckpt_s3_conf *c, struct ckpt_err *err)
{
	char aws[300], *proto, *auth, *path;
	struct ckpt_buf base = CKPT_BUF_INIT;
	bool path_style;
	int rc;

	snprintf(aws, sizeof(aws), "https://s3.%s.amazonaws.com%s", s->region,
		 strncmp(s->region, "cn-", 3) ? "" : ".cn");
	rc = ckpt_s3_endpoint_split(c->endpoint ? c->endpoint : aws, &proto, &auth, &path, err);
	if (rc)
		return rc;
	path_style = c->path_style || !dns_bucket(s->bucket, !strcmp(proto, "https")) || ip_or_local(auth);
	ckpt_buf_adds(&base, path);
	if (path_style) {
		ckpt_buf_addc(&base, '/');
		ckpt_s3_uri_encode(&base, s->bucket, false);
		s->host = strdup(auth);
	} else {
		s->host = malloc(strlen(s->bucket) + strlen(auth) + 2);
		if (s->host)
			sprintf(s->host, "%s.%s", s->bucket, auth);
	}
	s->proto = proto;
	s->base = ckpt_buf_finish(&base) ? NULL : (char *)ckpt_buf_detach(&base, NULL);
	ckpt_buf_release(&base);
	free(auth);
	free(path);
	return s->host && s->base ? 0 : ckpt_err_set(err, -ENOMEM, "out of memory");
}

static int keys(struct ckpt_s3 *s, const struct ckpt_s3_conf *c, struct ckpt_err *err)
{
	s->sign = !c->anonymous;
	if (!s->sign)
		return 0;
	if (!c->access_key || !c->secret_key || !*c->access_key || !*c->secret_key)
		return ckpt_err_set(err, -EINVAL,
				    c->access_key || c->secret_key
					    ? "an access key without its secret, or a secret without its key"
					    : "no credentials: give access_key_id and secret_access_key, or anonymous");
	if (strlen(c->secret_key) > CKPT_S3_MAX_SECRET)
		return ckpt_err_set(err, -EINVAL, "the secret access key is longer than %d bytes", CKPT_S3_MAX_SECRET);
	if (dup_or(&s->access_key, c->access_key, err) || dup_or(&s->secret_key, c->secret_key, err) ||
	    dup_or(&s->session_token, c->session_token, err) || dup_or(&s->profile, c->profile, err))
		return -ENOMEM;
	return 0;
}

int ckpt_s3_open(struct ckpt_s3 **out, const struct ckpt_s3_conf *c, const char *bucket, struct ckpt_err *err)
{
	struct ckpt_s3 *s;
	int rc;

	*out = NULL;
	if (!bucket || !*bucket || strchr(bucket, '/'))
		return ckpt_err_set(err, -EINVAL, "'%s': not a bucket name", bucket ? bucket : "");
	s = calloc(1, sizeof(*s));
	if (!s)
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	rc = ckpt_s3_http_init(s, err);
	if (rc == 0 && (dup_or(&s->bucket, bucket, err) || dup_or(&s->scheme, c->scheme ? c->scheme : "s3", err) ||
			dup_or(&s->region, c->region && *c->region ? c->region : "us-east-1", err)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = keys(s, c, err);
	if (rc == 0)
		rc = place(s, c, err);
	if (rc) {
		ckpt_s3_close(s);
		return rc;
	}
	s->retries = c->retries;
	s->timeout_ms = c->timeout_ms ? (long)c->timeout_ms : 30000;
	*out = s;
	return 0;
}

void ckpt_s3_close(struct ckpt_s3 *s)
{
	if (!s)
		return;
	ckpt_s3_http_fini(s);
	free(s->bucket);
	free(s->scheme);
	free(s->proto);
	free(s->host);
	free(s->base);
	free(s->region);
	free(s->access_key);
	ckpt_s3_secret_free(&s->secret_key);
	ckpt_s3_secret_free(&s->session_token);
	free(s->profile);
	free(s);
}

void ckpt_s3_stats(struct ckpt_s3 *s, struct ckpt_s3_stats *out)
{
	out->requests = atomic_load_explicit(&s->requests, memory_order_relaxed);
	out->retries = atomic_load_explicit(&s->retried, memory_order_relaxed);
	out->bytes = atomic_load_explicit(&s->bytes, memory_order_relaxed);
	out->errors = atomic_load_explicit(&s->errors, memory_order_relaxed);
	out->lists = atomic_load_explicit(&s->lists, memory_order_relaxed);
	out->key_reloads = atomic_load_explicit(&s->key_reloads, memory_order_relaxed);
}

/* ---------------------------------------------------------------- listing */

/* one page after token (NULL: the first) into pg */
static int list_page(struct ckpt_s3 *s, const char *prefix, const char *delimiter, const char *token,
		     struct ckpt_s3_page *pg, struct ckpt_err *err)
{
	struct ckpt_s3_kv q[4] = { { "list-type", "2" } };
	struct ckpt_buf query = CKPT_BUF_INIT, body = CKPT_BUF_INIT;
	struct ckpt_s3_xfer x = { .s = s, .what = prefix, .body = &body, .err = err };
	size_t n = 1;
	int rc;

	if (prefix && *prefix)
		q[n++] = (struct ckpt_s3_kv){ "prefix", prefix };
	if (delimiter && *delimiter)
		q[n++] = (struct ckpt_s3_kv){ "delimiter", delimiter };
	if (token)
		q[n++] = (struct ckpt_s3_kv){ "continuation-token", token };
	rc = ckpt_s3_query(&query, q, n);
	if (rc) {
		ckpt_buf_release(&query);
		return ckpt_err_set(err, rc, "out of memory");
	}
	x.query = (const char *)query.p;
	atomic_fetch_add_explicit(&s->lists, 1, memory_order_relaxed);
	ckpt_s3_run(s, &x, 1, 1);
	ckpt_s3_xfer_release(&x);
	rc = x.rc;
	if (rc == 0) {
		rc = ckpt_s3_xml_list(body.p, body.len, pg, err);
		if (rc)
			ckpt_err_prefix(err, "%s://%s/%s: listing: ", s->scheme, s->bucket, prefix ? prefix : "");
	}
	ckpt_buf_release(&query);
	ckpt_buf_release(&body);
	return rc;
}

int ckpt_s3_list(struct ckpt_s3 *s, const char *prefix, const char *delimiter,
		 struct ckpt_s3_obj **objs, size_t *n_objs, char ***prefixes, size_t *n_prefixes,
		 struct ckpt_err *err)
{
	struct ckpt_s3_page pg = { 0 };
	char *token = NULL;
	int rc;

	do {
		rc = list_page(s, prefix, delimiter, token, &pg, err);
		if (rc == 0 && pg.truncated) {
			/* a token that does not move on would loop for ever */
			if (!pg.next_token || !*pg.next_token || (token && !strcmp(token, pg.next_token)))
				rc = ckpt_err_set(err, CKPT_ECORRUPT,
						  "%s://%s/%s: listing: a truncated page without a new continuation token",
						  s->scheme, s->bucket, prefix ? prefix : "");
			free(token);
			token = pg.next_token;
			pg.next_token = NULL;
		}
	} while (rc == 0 && pg.truncated);
	free(token);
	if (rc) {
		ckpt_s3_page_free(&pg);
		return rc;
	}
	*objs = pg.objs;
	*n_objs = pg.n_objs;
	pg.objs = NULL;
	pg.n_objs = 0;
	if (prefixes) {
		*prefixes = pg.prefixes;
		*n_prefixes = pg.n_prefixes;
		pg.prefixes = NULL;
		pg.n_prefixes = 0;
	}
	ckpt_s3_page_free(&pg);
	return 0;
}

/* ------------------------------------------------------------------- GETs */

int ckpt_s3_get_many(struct ckpt_s3 *s, struct ckpt_s3_req *r, size_t n, unsigned parallel)
{
	struct ckpt_s3_xfer *x = ckpt_calloc(n ? n : 1, sizeof(*x));
	uint64_t end;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		ckpt_err_clear(&r[i].err);
		r[i].rc = 0;
		if (!x) {
			r[i].rc = ckpt_err_set(&r[i].err, -ENOMEM, "out of memory");
			continue;
		}
		x[i] = (struct ckpt_s3_xfer){ .s = s, .key = r[i].key, .what = r[i].key, .off = r[i].off,
					      .len = r[i].len, .buf = r[i].buf, .to_fd = r[i].to_fd,
					      .fd = r[i].fd, .fd_off = r[i].fd_off, .err = &r[i].err };
		x[i].if_match = r[i].if_match && *r[i].if_match ? r[i].if_match : NULL;
		if (!r[i].key || !*r[i].key || ckpt_add_overflow(r[i].off, r[i].len, &end))
			r[i].rc = ckpt_err_set(&r[i].err, -EINVAL, "%s://%s/%s: a bad key or range", s->scheme,
					       s->bucket, r[i].key ? r[i].key : "");
		if (r[i].rc || !r[i].len)
			x[i].state = CKPT_S3_X_DONE;
	}
	if (x) {
		ckpt_s3_run(s, x, n, parallel);
		for (size_t i = 0; i < n; i++) {
			if (x[i].state == CKPT_S3_X_DONE && !r[i].rc)
				r[i].rc = x[i].rc;
			ckpt_s3_xfer_release(&x[i]);
		}
	}
	for (size_t i = 0; i < n && !rc; i++)
		rc = r[i].rc;
	free(x);
	return rc;
}

int ckpt_s3_get(struct ckpt_s3 *s, const char *key, const char *if_match, uint64_t off, uint64_t len,
		void *buf, struct ckpt_err *err)
{
	struct ckpt_s3_req r = { .key = key, .if_match = if_match, .off = off, .len = len, .buf = buf };
	int rc = ckpt_s3_get_many(s, &r, 1, 1);

	if (rc)
		ckpt_err_set(err, rc, "%s", r.err.msg);
	return rc;
}
