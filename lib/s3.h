/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3.h - a read-only client for S3-compatible object storage (tier 2): AWS
 * S3, MinIO, s3rver, and Google Cloud Storage's S3-compatible XML API with
 * HMAC keys.  It lists keys (ListObjectsV2) and reads byte ranges of objects
 * (GET with Range), signing requests with AWS Signature Version 4.
 *
 * Calling sequence:
 *
 *	struct ckpt_s3_conf c;
 *	ckpt_s3_url_parse(url, &scheme, &bucket, &prefix, &err);
 *	ckpt_s3_conf_init(&c, scheme, &err);       environment and ~/.aws
 *	ckpt_s3_conf_set(&c, key, value, &err);    each -o option, in order
 *	ckpt_s3_open(&s, &c, bucket, &err);        copies what it needs of c
 *	ckpt_s3_conf_free(&c);
 *	ckpt_s3_list(s, ...), ckpt_s3_get(s, ...), ckpt_s3_get_many(s, ...)
 *	ckpt_s3_close(s);
 *
 * Errors (negative errno, message in err naming the object as
 * s3://bucket/key, or gs://...):
 *   -ENOENT   no such object or bucket (HTTP 404)
 *   -EACCES   access denied (401, 403, and the 400s that mean bad credentials
 *             or a wrong region): the message has the S3 error Code
 *   -ESTALE   If-Match failed (412): the object was replaced since it was listed
 *   -EIO      still failing after the retries (5xx, 429, SlowDown, timeouts,
 *             refused or reset connections), or an answer that cannot be
 *             retried (another 4xx, a redirect, a TLS certificate error)
 *   CKPT_ECORRUPT  a body that is not what was asked: short, too long, an
 *             unreadable listing
 *   -EINVAL   a bad option, URL or argument; -ENOMEM
 * Access keys, secrets, session tokens and signatures never appear in a
 * message.  Nothing here logs.
 */
#ifndef CKPT_S3_H
#define CKPT_S3_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ckpt_s3_conf {
	char *endpoint;	     /* "https://s3.REGION.amazonaws.com" or a custom URL, no trailing slash;
			      * NULL: AWS's endpoint for region, chosen by ckpt_s3_open */
	char *region;	     /* "us-east-1" default; "auto" for gs:// */
	bool path_style;     /* path-style addressing (default with a custom endpoint); else virtual-hosted */
	bool anonymous;	     /* no signing (public buckets) */
	char *access_key, *secret_key, *session_token; /* never logged */
	char *profile;	     /* the keys are this profile's, from the AWS files: read
			      * again when the store refuses them (NULL: from the
			      * environment or options, which cannot change) */
	unsigned retries;    /* attempts after the first; default 6 */
	unsigned timeout_ms; /* per request (connect + transfer stall); default 30000 */
	/* beyond the brief's struct: */
	char *scheme;	     /* "s3" or "gs": how messages write URLs */
	bool addressing_set; /* addressing= was given: a later endpoint= keeps path_style */
};

/*
 * Fills c from the usual AWS sources: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE (default "default")
 * with ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE) and ~/.aws/config
 * (AWS_CONFIG_FILE; "region" and "endpoint_url" from "[profile NAME]" or
 * "[default]"), AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL.  Keys in the environment win over the profile's, as in
 * the AWS CLI.  scheme is "s3" or "gs" (gs: endpoint
 * https://storage.googleapis.com, region "auto", path style; the AWS region
 * and endpoint settings are not used).  Options given later
 * (ckpt_s3_conf_set) override.  No credentials anywhere: anonymous.
 * @return 0; -EINVAL (unknown scheme, AWS_PROFILE names a profile that no
 * file has, a bad endpoint URL), -ENOMEM.  On failure c is freed.
 */
int ckpt_s3_conf_init(struct ckpt_s3_conf *c, const char *scheme, struct ckpt_err *err);
/*
 * One -o option: endpoint=URL, region=R, addressing=path|virtual,
 * anonymous (no value, or 1/0), profile=NAME (that profile's keys, region
 * and endpoint, replacing the environment's), access_key_id=,
 * secret_access_key=, session_token=, retries=N, timeout=SECONDS (a decimal
 * number).  endpoint= switches to path style unless addressing= was given.
 * value may be NULL for "no value".
 * @return 0; -ENOENT when key is not one of these (err is left alone, so
 * that the caller may try its own options); -EINVAL for a bad value.
 */
int ckpt_s3_conf_set(struct ckpt_s3_conf *c, const char *key, const char *value, struct ckpt_err *err);
/* frees the strings (wiping the secrets first); c may be all zero */
void ckpt_s3_conf_free(struct ckpt_s3_conf *c);

/*
 * Splits "s3://bucket/some/prefix" (or gs://) into scheme, bucket and prefix
 * (new strings; prefix without leading '/', possibly empty, otherwise as
 * written: a trailing '/' stays).
 * @return 0; -EINVAL (not s3:// or gs://, no bucket, a bucket name with
 * characters S3 does not allow), -ENOMEM.
 */
int ckpt_s3_url_parse(const char *url, char **scheme, char **bucket, char **prefix, struct ckpt_err *err);
/* true when s starts with s3:// or gs:// */
bool ckpt_s3_is_url(const char *s);

/* thread-safe: any number of threads may call get, get_many, list and stats at once */
struct ckpt_s3;
/*
 * A client for one bucket.  Sends nothing: a wrong bucket or key shows at
 * the first request.  Virtual-hosted addressing falls back to path style
 * for a bucket name that is not a DNS label (dots over https, capitals,
 * '_') and for an endpoint that is an IP address or localhost.
 * @return 0; -EINVAL (bad endpoint, an access key without a secret or the
 * reverse), -ENOMEM, -EIO (libcurl could not start).
 */
int ckpt_s3_open(struct ckpt_s3 **out, const struct ckpt_s3_conf *c, const char *bucket, struct ckpt_err *err);
/* s may be NULL; no request may be in flight */
void ckpt_s3_close(struct ckpt_s3 *s);

struct ckpt_s3_obj {
	char *key;
	uint64_t size;
	char etag[80]; /* as S3 gives it, quotes included; "" when longer than fits or with control characters */
	int64_t mtime_ns; /* LastModified */
};
/*
 * ListObjectsV2, every page (continuation tokens), keys in the order S3
 * gives (UTF-8 byte order).  prefix may be NULL or "".  delimiter NULL:
 * recursive.  With a delimiter, the common prefixes go to *prefixes (may be
 * NULL when not wanted).  Outputs are new (ckpt_s3_objs_free,
 * ckpt_s3_strv_free), and set only on success.
 * @return 0; -ENOENT (no such bucket), -EACCES, -EIO, CKPT_ECORRUPT, -ENOMEM.
 */
int ckpt_s3_list(struct ckpt_s3 *s, const char *prefix, const char *delimiter,
		 struct ckpt_s3_obj **objs, size_t *n_objs, char ***prefixes, size_t *n_prefixes,
		 struct ckpt_err *err);
void ckpt_s3_objs_free(struct ckpt_s3_obj *o, size_t n);
void ckpt_s3_strv_free(char **v, size_t n);

/*
 * GET of bytes [off, off+len) of key into buf: exactly len bytes (fewer is
 * CKPT_ECORRUPT: the object is shorter than the caller thinks).  len 0 sends
 * nothing and returns 0.  if_match: the ETag recorded when listed (sent as
 * If-Match); NULL or "" for none.
 * @return 0; -ENOENT (404: "s3://bucket/key: no such object"), -EACCES
 * (403/401: "...: access denied: check the credentials" and the S3 error
 * Code), -ESTALE (412: the object was replaced since it was listed), -EIO
 * after the retries, CKPT_ECORRUPT, -EINVAL (off + len overflows), -ENOMEM.
 */
int ckpt_s3_get(struct ckpt_s3 *s, const char *key, const char *if_match, uint64_t off, uint64_t len,
		void *buf, struct ckpt_err *err);

/* one GET of ckpt_s3_get_many: inputs, then rc and err as ckpt_s3_get would give */
struct ckpt_s3_req {
	const char *key;
	const char *if_match;
	uint64_t off, len;
	void *buf;
	/* to_fd: the body goes to fd at fd_off instead of buf (no copy in
	 * memory), a range that holds nothing the caller needs; after a
	 * failure it is a hole again (its space given back) */
	bool to_fd;
	int fd;
	uint64_t fd_off;
	int rc;
	struct ckpt_err err;
};
/*
 * Many GETs in flight at once (curl multi), at most `parallel` (0 counts as
 * 1); each request gets its own rc and err (cleared first).  A request that
 * waits to be retried does not hold up the others.
 * @return 0 when every request succeeded, else the rc of the first failed one
 * (in array order).
 */
int ckpt_s3_get_many(struct ckpt_s3 *s, struct ckpt_s3_req *r, size_t n, unsigned parallel);

/* counters since open: requests sent (retries and list pages included),
 * retries, body bytes received, requests that failed, list pages */
struct ckpt_s3_stats {
	uint64_t requests, retries, bytes, errors, lists;
	uint64_t key_reloads; /* the profile's keys read again and changed */
};
void ckpt_s3_stats(struct ckpt_s3 *s, struct ckpt_s3_stats *out);

#endif
