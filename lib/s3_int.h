/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3_int.h - what the S3 client's files share, and its unit tests see:
 *   s3_xml.c  (tier 1) ListObjectsV2 and Error bodies into structs
 *   s3_sign.c (tier 2) URI encoding and AWS Signature Version 4
 *   s3_conf.c (tier 2) the configuration: environment, ~/.aws, -o options, URLs
 *   s3.c      (tier 2) requests through libcurl: retries, ranges, listing
 */
#ifndef CKPT_S3_INT_H
#define CKPT_S3_INT_H

#include "buf.h"
#include "s3.h"

#include <time.h>

/* ---------------------------------------------------------------- s3_xml.c */

/* A listing being gathered, page after page: each page appends to the arrays
 * and replaces truncated and next_token. */
struct ckpt_s3_page {
	struct ckpt_s3_obj *objs;
	size_t n_objs, cap_objs;
	char **prefixes;
	size_t n_prefixes, cap_prefixes;
	bool truncated;
	char *next_token; /* NextContinuationToken, or NULL */
};
/*
 * Parses one ListBucketResult body (n bytes at p, no NUL needed) into pg.
 * Keys and prefixes are entity-decoded; ETags are kept as given (quotes
 * included; "" when longer than struct ckpt_s3_obj holds or with control
 * characters).
 * @return 0; CKPT_ECORRUPT (not well-formed as far as it reads, not a
 * ListBucketResult, a <Contents> without <Key>, a bad Size or LastModified),
 * -ENOMEM.  On failure pg may hold part of the page: free it.
 */
int ckpt_s3_xml_list(const void *p, size_t n, struct ckpt_s3_page *pg, struct ckpt_err *err);
void ckpt_s3_page_free(struct ckpt_s3_page *pg);

/* what an <Error> body says; strings sanitized to printable text, cut to fit */
struct ckpt_s3_xerr {
	char code[64];
	char message[200];
	char region[64]; /* <Region>, as AuthorizationHeaderMalformed gives */
};
/* false (out all "") when the body is not an <Error> document */
bool ckpt_s3_xml_error(const void *p, size_t n, struct ckpt_s3_xerr *out);
/* "2009-10-12T17:50:30.000Z" (or with +hh:mm) as ns since the epoch; CKPT_ECORRUPT if not one */
int ckpt_s3_parse_time(const char *s, size_t n, int64_t *ns);

/* --------------------------------------------------------------- s3_sign.c */

#define CKPT_S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct ckpt_s3_kv {
	const char *k, *v;
};
/* Appends s URI-encoded as SigV4 wants: A-Z a-z 0-9 - . _ ~ as they are,
 * '/' too when keep_slash (a key in a path), every other byte as %XX. */
void ckpt_s3_uri_encode(struct ckpt_buf *b, const char *s, bool keep_slash);
/* The canonical query string of n parameters into b (reset first): names
 * and values encoded, sorted by name then value, "name=" for a NULL value.
 * The same string goes into the URL.  @return 0, -ENOMEM. */
int ckpt_s3_query(struct ckpt_buf *b, const struct ckpt_s3_kv *q, size_t n);

/* longer secrets are refused (AWS's and GCS's have 40 bytes) */
#define CKPT_S3_MAX_SECRET 256

struct ckpt_s3_key {
	const char *region, *access_key, *secret_key;
};
/*
 * The Authorization header's value for a request, into auth (reset first).
 * uri: the path as sent (already encoded); query: canonical (ckpt_s3_query);
 * hdr: the n_hdr (at most 16) headers to sign, names in lower case, host
 * and x-amz-date among them; amz_date: "YYYYMMDDTHHMMSSZ".
 * @return 0; -EINVAL (too many headers, a bad date, a secret too long), -ENOMEM.
 */
int ckpt_s3_sign(const struct ckpt_s3_key *k, const char *method, const char *uri, const char *query,
		 const struct ckpt_s3_kv *hdr, size_t n_hdr, const char *payload_hash, const char *amz_date,
		 struct ckpt_buf *auth);
/* t as "YYYYMMDDTHHMMSSZ" (UTC) */
void ckpt_s3_amz_date(time_t t, char out[17]);
/* overwrites n bytes at p in a way the compiler keeps (secrets) */
void ckpt_s3_wipe(void *p, size_t n);
/* wipes the string *s (ckpt_s3_wipe), frees it and sets *s to NULL */
void ckpt_s3_secret_free(char **s);

/* --------------------------------------------------------------- s3_conf.c */

/* The keys profile has in the AWS files now (new strings; tok NULL when it
 * has none).  @return 0; -ENOENT (no keys there now), -EINVAL, -ENOMEM. */
int ckpt_s3_profile_keys(const char *profile, char **ak, char **sk, char **tok, struct ckpt_err *err);

/*
 * Splits an endpoint URL "http[s]://authority[/path]" into its protocol
 * ("http" or "https"), authority (host in lower case, with its port) and
 * path (no trailing '/'; "" for none): new strings.
 * @return 0; -EINVAL (another scheme, no host, user info, a query); -ENOMEM.
 */
int ckpt_s3_endpoint_split(const char *url, char **proto, char **authority, char **path, struct ckpt_err *err);

#endif
