/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3_live.c - the S3 client against a real S3-compatible server: skipped
 * (exit 77) unless CKPTFS_TEST_S3_ENDPOINT is set.  With s3rver:
 *
 *   npm install --prefix /tmp/s3rver s3rver@3.7.1
 *   /tmp/s3rver/node_modules/.bin/s3rver -d /tmp/s3data -a 127.0.0.1 -p 4569 --configure-bucket test &
 *   CKPTFS_TEST_S3_ENDPOINT=http://127.0.0.1:4569 meson test -C build s3_live -v
 *
 * Also CKPTFS_TEST_S3_BUCKET (test), CKPTFS_TEST_S3_REGION (us-east-1),
 * CKPTFS_TEST_S3_KEY / CKPTFS_TEST_S3_SECRET (S3RVER / S3RVER),
 * CKPTFS_TEST_S3_ADDRESSING (path), and CKPTFS_TEST_S3_STRICT=1 for a
 * server that checks signatures and honours If-Match on GET, so that a wrong
 * secret must give -EACCES and a wrong ETag -ESTALE.  s3rver 3.7.1 does
 * neither: it only checks that the access key exists (V4 signature
 * checking is unimplemented there) and ignores If-Match; test_s3_http.c
 * covers both against a fake server.  s3rver's continuation tokens use
 * DES, which Node 17+ refuses (500 on the second page) unless started with
 * NODE_OPTIONS=--openssl-legacy-provider.
 *
 * It uploads its objects under a fresh prefix (PUTs signed by the same
 * SigV4 code), reads them back through ckpt_s3_list/get/get_many, and
 * deletes them at the end.
 */
#include "harness.h"
#include "s3_int.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <time.h>
#include <unistd.h>

#define N_PAGE 1005 /* over one ListObjectsV2 page of 1000 */
#define N_MANY 50

static const char *endpoint, *bucket, *region, *akey, *skey;
static bool path_style = true;
static char prefix[64];

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

static size_t sink(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)u;
	return size * n;
}

/* a signed PUT (body) or DELETE (body NULL) of key; returns the HTTP status */
static long put_or_delete(CURL *e, const char *key, const void *body, size_t n)
{
	const struct ckpt_s3_key k = { region, akey, skey };
	struct ckpt_buf path = CKPT_BUF_INIT, url = CKPT_BUF_INIT, auth = CKPT_BUF_INIT, line = CKPT_BUF_INIT;
	char *proto, *host, *base, date[17];
	struct curl_slist *h = NULL;
	struct ckpt_err err = { 0, "" };
	long status = 0;

	if (ckpt_s3_endpoint_split(endpoint, &proto, &host, &base, &err))
		return 0;
	ckpt_buf_printf(&path, "%s/%s/", base, bucket);
	ckpt_s3_uri_encode(&path, key, true);
	ckpt_buf_printf(&url, "%s://%s%s", proto, host, (char *)path.p);
	ckpt_s3_amz_date(time(NULL), date);
	{
		const struct ckpt_s3_kv hd[] = { { "host", host },
						 { "x-amz-content-sha256", "UNSIGNED-PAYLOAD" },
						 { "x-amz-date", date } };

		ckpt_s3_sign(&k, body ? "PUT" : "DELETE", (char *)path.p, "", hd, 3, "UNSIGNED-PAYLOAD", date, &auth);
		for (size_t i = 0; i < 3; i++) {
			line.len = 0;
			ckpt_buf_printf(&line, "%s: %s", hd[i].k, hd[i].v);
			h = curl_slist_append(h, (char *)line.p);
		}
	}
	line.len = 0;
	ckpt_buf_printf(&line, "authorization: %s", (char *)auth.p);
	h = curl_slist_append(h, (char *)line.p);
	h = curl_slist_append(h, "Expect:");
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, (char *)url.p);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	if (body) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	} else {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	free(proto), free(host), free(base);
	ckpt_buf_release(&path), ckpt_buf_release(&url), ckpt_buf_release(&auth), ckpt_buf_release(&line);
	return status;
}

static uint8_t big[1 << 20];
static const char *const names[] = { "a.bin", "dir/b.txt", "dir/sub/c", "sp ace+plus&amp<lt>\xc3\xbc'q\".bin",
				     "empty" };

static void key_of(char *out, size_t m, const char *rel)
{
	snprintf(out, m, "%s%s", prefix, rel);
}

/* the bytes of object i of names[] (big for a.bin), and its size */
static const uint8_t *content(size_t i, size_t *n)
{
	static const char *const small[] = { NULL, "bee\n", "sea", "special", "" };

	if (i == 0) {
		*n = sizeof(big);
		return big;
	}
	*n = strlen(small[i]);
	return (const uint8_t *)small[i];
}

static void upload(CURL *e)
{
	char key[300], body[32];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n;
		const uint8_t *p = content(i, &n);

		key_of(key, sizeof(key), names[i]);
		CHECK_EQ(put_or_delete(e, key, n ? (const void *)p : "", n), 200);
	}
	for (int i = 0; i < N_MANY; i++) {
		snprintf(body, sizeof(body), "many object %03d ....", i);
		snprintf(key, sizeof(key), "%smany/%03d", prefix, i);
		CHECK_EQ(put_or_delete(e, key, body, strlen(body)), 200);
	}
	for (int i = 0; i < N_PAGE; i++) {
		snprintf(key, sizeof(key), "%spage/%04d", prefix, i);
		CHECK_EQ(put_or_delete(e, key, "p", 1), 200);
	}
}

static void conf_for(struct ckpt_s3_conf *c, const char *ak, const char *sk)
{
	struct ckpt_err err = { 0, "" };

	CHECK_EQ(ckpt_s3_conf_init(c, "s3", &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(c, "endpoint", endpoint, &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(c, "region", region, &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(c, "addressing", path_style ? "path" : "virtual", &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(c, "access_key_id", ak, &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(c, "secret_access_key", sk, &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(c, "retries", "2", &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(c, "timeout", "5", &err), 0);
	if (err.code)
		printf("#   conf: %s\n", err.msg);
}

static struct ckpt_s3 *open_with(const char *ak, const char *sk)
{
	struct ckpt_s3_conf c;
	struct ckpt_err err = { 0, "" };
	struct ckpt_s3 *s = NULL;

	conf_for(&c, ak, sk);
	CHECK_EQ(ckpt_s3_open(&s, &c, bucket, &err), 0);
	ckpt_s3_conf_free(&c);
	return s;
}

static struct ckpt_s3 *s;
static struct ckpt_s3_obj *objs;
static size_t n_objs;

static void test_s3_live__list(void)
{
	struct ckpt_err err = { 0, "" };
	char **pre = NULL, want[300];
	size_t n_pre = 0;

	CHECK_EQ(ckpt_s3_list(s, prefix, NULL, &objs, &n_objs, NULL, NULL, &err), 0);
	if (err.code)
		printf("#   %s\n", err.msg);
	CHECK_EQ(n_objs, sizeof(names) / sizeof(names[0]) + N_MANY + N_PAGE);
	for (size_t i = 1; i < n_objs; i++)
		CHECK(strcmp(objs[i - 1].key, objs[i].key) < 0);
	for (size_t i = 0; i < n_objs; i++) {
		for (size_t j = 0; j < sizeof(names) / sizeof(names[0]); j++) {
			size_t n;

			key_of(want, sizeof(want), names[j]);
			content(j, &n);
			if (!strcmp(objs[i].key, want)) {
				CHECK_EQ(objs[i].size, n);
				CHECK(objs[i].etag[0] == '"' && objs[i].mtime_ns > 0);
				if (j == 0)
					printf("#   %s: %" PRIu64 " bytes, ETag %s\n", objs[i].key, objs[i].size,
					       objs[i].etag);
				break;
			}
		}
	}
	/* one level, with the common prefixes */
	{
		struct ckpt_s3_obj *o = NULL;
		size_t n = 0;

		CHECK_EQ(ckpt_s3_list(s, prefix, "/", &o, &n, &pre, &n_pre, &err), 0);
		CHECK_EQ(n, 3); /* a.bin, empty, the special one, and none of the directories' */
		CHECK_EQ(n_pre, 3); /* dir/ many/ page/ */
		for (size_t i = 0; i < n_pre; i++)
			CHECK(!strncmp(pre[i], prefix, strlen(prefix)) && pre[i][strlen(pre[i]) - 1] == '/');
		ckpt_s3_objs_free(o, n);
		ckpt_s3_strv_free(pre, n_pre);
	}
	/* a prefix that matches nothing */
	{
		struct ckpt_s3_obj *o = NULL;
		size_t n = 0;

		key_of(want, sizeof(want), "nothing-here/");
		CHECK_EQ(ckpt_s3_list(s, want, "/", &o, &n, NULL, NULL, &err), 0);
		CHECK_EQ(n, 0);
		ckpt_s3_objs_free(o, n);
	}
}

static const char *etag_of(const char *rel)
{
	char want[300];

	key_of(want, sizeof(want), rel);
	for (size_t i = 0; i < n_objs; i++)
		if (!strcmp(objs[i].key, want))
			return objs[i].etag;
	return NULL;
}

static void test_s3_live__get(void)
{
	static uint8_t buf[1 << 20];
	struct ckpt_err err = { 0, "" };
	const uint64_t r[][2] = { { 0, 10 }, { 1000, 4000 }, { sizeof(big) - 7, 7 }, { 0, sizeof(big) } };
	char key[300];

	key_of(key, sizeof(key), "a.bin");
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		memset(buf, 0, sizeof(buf));
		CHECK_EQ(ckpt_s3_get(s, key, NULL, r[i][0], r[i][1], buf, &err), 0);
		CHECK(!memcmp(buf, big + r[i][0], r[i][1]));
	}
	for (size_t i = 1; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n;
		const uint8_t *p = content(i, &n);

		key_of(key, sizeof(key), names[i]);
		memset(buf, 0, 16);
		CHECK_EQ(ckpt_s3_get(s, key, etag_of(names[i]), 0, n, buf, &err), 0);
		if (err.code)
			printf("#   %s\n", err.msg);
		ckpt_err_clear(&err);
		CHECK(!memcmp(buf, p, n));
	}
	/* past the end: short, or nothing at all */
	key_of(key, sizeof(key), "dir/b.txt");
	CHECK_EQ(ckpt_s3_get(s, key, NULL, 2, 10, buf, &err), CKPT_ECORRUPT);
	printf("#   %s\n", err.msg);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_get(s, key, NULL, 100, 10, buf, &err), CKPT_ECORRUPT);
	printf("#   %s\n", err.msg);
	ckpt_err_clear(&err);
}

static void test_s3_live__errors(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_s3 *bad;
	char key[300], buf[16], want[400];
	int rc;

	key_of(key, sizeof(key), "missing");
	CHECK_EQ(ckpt_s3_get(s, key, NULL, 0, 4, buf, &err), -ENOENT);
	snprintf(want, sizeof(want), "s3://%s/%s: no such object", bucket, key);
	CHECK(!strcmp(err.msg, want));
	printf("#   %s\n", err.msg);
	ckpt_err_clear(&err);
	/* If-Match: the object changed since it was listed */
	key_of(key, sizeof(key), "dir/b.txt");
	rc = ckpt_s3_get(s, key, "\"0123456789abcdef0123456789abcdef\"", 0, 4, buf, &err);
	printf("#   a wrong ETag: rc %d %s\n", rc, err.msg);
	if (getenv("CKPTFS_TEST_S3_STRICT"))
		CHECK_EQ(rc, -ESTALE);
	ckpt_err_clear(&err);
	/* an access key the server does not know */
	bad = open_with("NOSUCHKEY", "whatever");
	CHECK_EQ(ckpt_s3_get(bad, key, NULL, 0, 4, buf, &err), -EACCES);
	CHECK(!strstr(err.msg, "whatever"));
	printf("#   %s\n", err.msg);
	ckpt_err_clear(&err);
	ckpt_s3_close(bad);
	/* the right key with a wrong secret */
	bad = open_with(akey, "wrong-secret");
	rc = ckpt_s3_get(bad, key, NULL, 0, 4, buf, &err);
	printf("#   a wrong secret: rc %d %s\n", rc, err.msg);
	if (getenv("CKPTFS_TEST_S3_STRICT"))
		CHECK_EQ(rc, -EACCES);
	ckpt_err_clear(&err);
	ckpt_s3_close(bad);
	/* a bucket that does not exist */
	{
		struct ckpt_s3_conf c;
		struct ckpt_s3_obj *o = NULL;
		size_t n = 0;

		conf_for(&c, akey, skey);
		CHECK_EQ(ckpt_s3_open(&bad, &c, "no-such-bucket-ckptfs", &err), 0);
		ckpt_s3_conf_free(&c);
		CHECK_EQ(ckpt_s3_list(bad, "", NULL, &o, &n, NULL, NULL, &err), -ENOENT);
		printf("#   %s\n", err.msg);
		ckpt_err_clear(&err);
		ckpt_s3_close(bad);
	}
}

static void test_s3_live__get_many(void)
{
	struct ckpt_s3_req r[N_MANY + 1];
	char keys[N_MANY + 1][300], bufs[N_MANY + 1][32], want[32];
	struct ckpt_s3_stats st0, st1;

	ckpt_s3_stats(s, &st0);
	for (int i = 0; i <= N_MANY; i++) {
		/* the last one is missing: it fails alone */
		snprintf(keys[i], sizeof(keys[i]), "%smany/%03d", prefix, i);
		r[i] = (struct ckpt_s3_req){ .key = keys[i], .off = 5, .len = 10, .buf = bufs[i] };
	}
	CHECK_EQ(ckpt_s3_get_many(s, r, N_MANY + 1, 8), -ENOENT);
	for (int i = 0; i < N_MANY; i++) {
		snprintf(want, sizeof(want), "many object %03d ....", i);
		CHECK_EQ(r[i].rc, 0);
		CHECK(!memcmp(bufs[i], want + 5, 10));
	}
	CHECK_EQ(r[N_MANY].rc, -ENOENT);
	CHECK(strstr(r[N_MANY].err.msg, "no such object") != NULL);
	ckpt_s3_stats(s, &st1);
	CHECK_EQ(st1.requests - st0.requests, N_MANY + 1);
	CHECK_EQ(st1.errors - st0.errors, 1);
	printf("#   stats: %" PRIu64 " requests, %" PRIu64 " retries, %" PRIu64 " bytes, %" PRIu64 " errors, %" PRIu64
	       " list pages\n",
	       st1.requests, st1.retries, st1.bytes, st1.errors, st1.lists);
}

static void cleanup(CURL *e)
{
	for (size_t i = 0; i < n_objs; i++)
		put_or_delete(e, objs[i].key, NULL, 0);
	ckpt_s3_objs_free(objs, n_objs);
}

int main(void)
{
	CURL *e;

	endpoint = getenv("CKPTFS_TEST_S3_ENDPOINT");
	if (!endpoint || !*endpoint) {
		printf("1..0 # SKIP CKPTFS_TEST_S3_ENDPOINT is not set\n");
		return 77;
	}
	bucket = env_or("CKPTFS_TEST_S3_BUCKET", "test");
	region = env_or("CKPTFS_TEST_S3_REGION", "us-east-1");
	akey = env_or("CKPTFS_TEST_S3_KEY", "S3RVER");
	skey = env_or("CKPTFS_TEST_S3_SECRET", "S3RVER");
	path_style = strcmp(env_or("CKPTFS_TEST_S3_ADDRESSING", "path"), "virtual");
	snprintf(prefix, sizeof(prefix), "ckptfs-live-%ld-%ld/", (long)getpid(), (long)time(NULL));
	curl_global_init(CURL_GLOBAL_ALL);
	e = curl_easy_init();
	upload(e);
	s = open_with(akey, skey);
	if (!s) {
		printf("Bail out! cannot open the client\n");
		return 1;
	}
	RUN(test_s3_live__list);
	RUN(test_s3_live__get);
	RUN(test_s3_live__errors);
	RUN(test_s3_live__get_many);
	cleanup(e);
	ckpt_s3_close(s);
	curl_easy_cleanup(e);
	DONE();
}
