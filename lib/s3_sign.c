/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3_sign.c - AWS Signature Version 4 for S3 requests (tier 2; see
 * s3_int.h), after AWS's "Signature Calculations for the Authorization
 * Header: Transferring Payload in a Single Chunk":
 *
 *   canonical request = METHOD \n URI \n QUERY \n
 *                       (name:value \n for each signed header, sorted) \n
 *                       signed;header;names \n PAYLOAD-HASH
 *   string to sign    = AWS4-HMAC-SHA256 \n DATE \n SCOPE \n hex(sha256(canonical request))
 *   scope             = YYYYMMDD/REGION/s3/aws4_request
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" SECRET, YYYYMMDD), REGION), "s3"), "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 *
 * S3 does not normalise the path: URI is exactly what goes on the wire,
 * each key byte encoded once.  libcurl's own CURLOPT_AWS_SIGV4 is not used:
 * 7.88 gets query strings wrong.  The secret and the derived keys are wiped
 * from the stack after use.
 */
#include "s3_int.h"

#include "sha256.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 16

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

void ckpt_s3_uri_encode(struct ckpt_buf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/')) {
			ckpt_buf_addc(b, *p);
		} else {
			ckpt_buf_addc(b, '%');
			ckpt_buf_addc(b, (uint8_t)hex[*p >> 4]);
			ckpt_buf_addc(b, (uint8_t)hex[*p & 15]);
		}
	}
}

struct enc_kv {
	char *k, *v;
};

static int kv_cmp(const void *a, const void *b)
{
	const struct enc_kv *x = a, *y = b;
	int c = strcmp(x->k, y->k);

	return c ? c : strcmp(x->v, y->v);
}

static char *encoded(const char *s)
{
	struct ckpt_buf b = CKPT_BUF_INIT;

	ckpt_buf_adds(&b, ""); /* "" rather than NULL for an empty value */
	ckpt_s3_uri_encode(&b, s ? s : "", false);
	if (ckpt_buf_finish(&b)) {
		ckpt_buf_release(&b);
		return NULL;
	}
	return (char *)ckpt_buf_detach(&b, NULL);
}

int ckpt_s3_query(struct ckpt_buf *b, const struct ckpt_s3_kv *q, size_t n)
{
	struct enc_kv *e = ckpt_calloc(n ? n : 1, sizeof(*e));
	int rc = 0;

	b->len = 0;
	ckpt_buf_adds(b, "");
	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		e[i].k = encoded(q[i].k);
		e[i].v = encoded(q[i].v);
		if (!e[i].k || !e[i].v)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		qsort(e, n, sizeof(*e), kv_cmp);
		for (size_t i = 0; i < n; i++)
			ckpt_buf_printf(b, "%s%s=%s", i ? "&" : "", e[i].k, e[i].v);
		rc = ckpt_buf_finish(b);
	}
	for (size_t i = 0; i < n; i++) {
		free(e[i].k);
		free(e[i].v);
	}
	free(e);
	return rc;
}

void ckpt_s3_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

void ckpt_s3_secret_free(char **s)
{
	if (*s)
		ckpt_s3_wipe(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

void ckpt_s3_amz_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		memcpy(out, "19700101T000000Z", 17);
}

/* a header value as SigV4 wants it: trimmed, runs of spaces as one */
static void add_value(struct ckpt_buf *b, const char *v)
{
	bool space = false;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space)
			ckpt_buf_addc(b, ' ');
		space = false;
		ckpt_buf_addc(b, (uint8_t)*v);
	}
}

/* the canonical request's headers and signed-header list, sorted by name */
static int canonical_headers(struct ckpt_buf *cr, struct ckpt_buf *names, const struct ckpt_s3_kv *hdr,
			     size_t n)
{
	size_t order[MAX_HEADERS];

	if (n > MAX_HEADERS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		while (j > 0 && strcmp(hdr[order[j - 1]].k, hdr[i].k) > 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (size_t i = 0; i < n; i++) {
		ckpt_buf_printf(cr, "%s:", hdr[order[i]].k);
		add_value(cr, hdr[order[i]].v);
		ckpt_buf_addc(cr, '\n');
		ckpt_buf_printf(names, "%s%s", i ? ";" : "", hdr[order[i]].k);
	}
	return 0;
}

static void hmac_str(const uint8_t *key, size_t klen, const char *msg, uint8_t out[32])
{
	hmac_sha256(key, klen, msg, strlen(msg), out);
}

/* hex(HMAC(signing key, sts)); the secret at most CKPT_S3_MAX_SECRET bytes */
static void signature(const struct ckpt_s3_key *k, const char *day, const char *sts, char out[65])
{
	uint8_t secret[4 + CKPT_S3_MAX_SECRET], a[32], b[32];
	size_t n = strlen(k->secret_key);

	memcpy(secret, "AWS4", 4);
	memcpy(secret + 4, k->secret_key, n);
	hmac_str(secret, 4 + n, day, a);
	hmac_str(a, sizeof(a), k->region, b);
	hmac_str(b, sizeof(b), "s3", a);
	hmac_str(a, sizeof(a), "aws4_request", b);
	hmac_str(b, sizeof(b), sts, a);
	sha256_tohex(a, sizeof(a), out);
	ckpt_s3_wipe(secret, sizeof(secret));
	ckpt_s3_wipe(a, sizeof(a));
	ckpt_s3_wipe(b, sizeof(b));
}

int ckpt_s3_sign(const struct ckpt_s3_key *k, const char *method, const char *uri, const char *query,
		 const struct ckpt_s3_kv *hdr, size_t n_hdr, const char *payload_hash, const char *amz_date,
		 struct ckpt_buf *auth)
{
	struct ckpt_buf cr = CKPT_BUF_INIT, names = CKPT_BUF_INIT, sts = CKPT_BUF_INIT;
	char day[9], hash[65], sig[65];
	struct sha256 h;
	int rc;

	auth->len = 0;
	if (strlen(amz_date) != 16 || amz_date[8] != 'T' || strlen(k->secret_key) > CKPT_S3_MAX_SECRET)
		return -EINVAL;
	memcpy(day, amz_date, 8);
	day[8] = 0;
	ckpt_buf_printf(&cr, "%s\n%s\n%s\n", method, uri, query);
	ckpt_buf_adds(&names, "");
	rc = canonical_headers(&cr, &names, hdr, n_hdr);
	if (rc == 0) {
		ckpt_buf_printf(&cr, "\n%s\n%s", (const char *)names.p, payload_hash);
		rc = ckpt_buf_finish(&cr) ? -ENOMEM : ckpt_buf_finish(&names);
	}
	if (rc == 0) {
		sha256_init(&h);
		sha256_update(&h, cr.p, cr.len);
		sha256_hex(&h, hash);
		ckpt_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s", amz_date, day, k->region,
				hash);
		rc = ckpt_buf_finish(&sts);
	}
	if (rc == 0) {
		signature(k, day, (const char *)sts.p, sig);
		ckpt_buf_printf(auth,
				"AWS4-HMAC-SHA256 Credential=%s/%s/%s/s3/aws4_request,SignedHeaders=%s,Signature=%s",
				k->access_key, day, k->region, (const char *)names.p, sig);
		rc = ckpt_buf_finish(auth);
	}
	ckpt_buf_release(&cr);
	ckpt_buf_release(&names);
	ckpt_buf_release(&sts);
	return rc;
}
