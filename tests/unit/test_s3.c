/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_s3.c - the S3 client's parts that need no server: SHA-256 and
 * HMAC-SHA256, AWS's published SigV4 examples, URI and query encoding, s3://
 * URLs, the configuration from the environment and ~/.aws, addressing, and
 * the ListObjectsV2 and Error XML parsers.  test_s3_http.c talks to a fake
 * server; s3_live.c to a real one.
 */
#include "harness.h"
#include "s3_http.h"
#include "sha256.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void hex_of(const uint8_t *d, size_t n, char *out)
{
	sha256_tohex(d, n, out);
}

static void test_s3__sha256_vectors(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	struct sha256 s;
	char hex[65];
	static char mil[1000000];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sha256_init(&s);
		sha256_update(&s, v[i].in, strlen(v[i].in));
		sha256_hex(&s, hex);
		CHECK(!strcmp(hex, v[i].out));
	}
	/* a million 'a', fed in uneven pieces */
	memset(mil, 'a', sizeof(mil));
	sha256_init(&s);
	for (size_t o = 0, k = 1; o < sizeof(mil); o += k, k = k * 3 % 1000 + 1)
		sha256_update(&s, mil + o, k < sizeof(mil) - o ? k : sizeof(mil) - o);
	sha256_hex(&s, hex);
	CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

static void test_s3__hmac_rfc4231(void)
{
	uint8_t key[131], d[32];
	char hex[65];

	memset(key, 0x0b, 20);
	hmac_sha256(key, 20, "Hi There", 8, d);
	hex_of(d, 32, hex);
	CHECK(!strcmp(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
	hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	hex_of(d, 32, hex);
	CHECK(!strcmp(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
	/* a key longer than the block is hashed first */
	memset(key, 0xaa, sizeof(key));
	hmac_sha256(key, sizeof(key), "Test Using Larger Than Block-Size Key - Hash Key First", 54, d);
	hex_of(d, 32, hex);
	CHECK(!strcmp(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
}

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define HOST "examplebucket.s3.amazonaws.com"
#define DATE "20130524T000000Z"
#define CRED "AWS4-HMAC-SHA256 Credential=" AKID "/20130524/us-east-1/s3/aws4_request,"

/* the examples of AWS's "Signature Calculations for the Authorization Header" (S3 API reference) */
static void test_s3__sigv4_aws_examples(void)
{
	const struct ckpt_s3_key k = { "us-east-1", AKID, SECRET };
	struct ckpt_buf auth = CKPT_BUF_INIT, uri = CKPT_BUF_INIT, q = CKPT_BUF_INIT;
	const struct ckpt_s3_kv get[] = { { "host", HOST },
					  { "range", "bytes=0-9" },
					  { "x-amz-content-sha256", CKPT_S3_EMPTY_SHA256 },
					  { "x-amz-date", DATE } };
	/* the same headers in another order sign the same */
	const struct ckpt_s3_kv get2[] = { get[3], get[1], get[0], get[2] };
	const char *put_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
	const struct ckpt_s3_kv put[] = { { "date", "Fri, 24 May 2013 00:00:00 GMT" },
					  { "host", HOST },
					  { "x-amz-content-sha256", put_hash },
					  { "x-amz-date", DATE },
					  { "x-amz-storage-class", "REDUCED_REDUNDANCY" } };
	const struct ckpt_s3_kv plain[] = { { "host", HOST },
					    { "x-amz-content-sha256", CKPT_S3_EMPTY_SHA256 },
					    { "x-amz-date", DATE } };
	const struct ckpt_s3_kv life[] = { { "lifecycle", NULL } };
	const struct ckpt_s3_kv list[] = { { "prefix", "J" }, { "max-keys", "2" } };

	/* GET Object */
	CHECK_EQ(ckpt_s3_sign(&k, "GET", "/test.txt", "", get, 4, CKPT_S3_EMPTY_SHA256, DATE, &auth), 0);
	CHECK(!strcmp((char *)auth.p, CRED "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
					   "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
	CHECK_EQ(ckpt_s3_sign(&k, "GET", "/test.txt", "", get2, 4, CKPT_S3_EMPTY_SHA256, DATE, &auth), 0);
	CHECK(strstr((char *)auth.p, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") != NULL);
	/* PUT Object: the key "test$file.text" encoded in the path */
	uri.len = 0;
	ckpt_buf_addc(&uri, '/');
	ckpt_s3_uri_encode(&uri, "test$file.text", true);
	CHECK(!strcmp((char *)uri.p, "/test%24file.text"));
	CHECK_EQ(ckpt_s3_sign(&k, "PUT", (char *)uri.p, "", put, 5, put_hash, DATE, &auth), 0);
	CHECK(strstr((char *)auth.p, "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
				     "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"));
	/* GET Bucket Lifecycle: a parameter without a value */
	CHECK_EQ(ckpt_s3_query(&q, life, 1), 0);
	CHECK(!strcmp((char *)q.p, "lifecycle="));
	CHECK_EQ(ckpt_s3_sign(&k, "GET", "/", (char *)q.p, plain, 3, CKPT_S3_EMPTY_SHA256, DATE, &auth), 0);
	CHECK(strstr((char *)auth.p, "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"));
	/* Get Bucket (List Objects): parameters sorted */
	CHECK_EQ(ckpt_s3_query(&q, list, 2), 0);
	CHECK(!strcmp((char *)q.p, "max-keys=2&prefix=J"));
	CHECK_EQ(ckpt_s3_sign(&k, "GET", "/", (char *)q.p, plain, 3, CKPT_S3_EMPTY_SHA256, DATE, &auth), 0);
	CHECK(strstr((char *)auth.p, "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
	/* refusals */
	CHECK_EQ(ckpt_s3_sign(&k, "GET", "/", "", plain, 3, CKPT_S3_EMPTY_SHA256, "2013-05-24", &auth), -EINVAL);
	ckpt_buf_release(&auth);
	ckpt_buf_release(&uri);
	ckpt_buf_release(&q);
}

/* two signatures botocore 1.43's S3SigV4Auth computed: an encoded key with a
 * session token, and a list query with characters to encode */
static void test_s3__sigv4_botocore(void)
{
	const char *secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", *date = "20240229T235959Z";
	const struct ckpt_s3_key eu = { "eu-west-1", "AKIDEXAMPLE", secret }, us = { "us-west-2", "AKIDEXAMPLE", secret };
	const struct ckpt_s3_kv get[] = { { "host", "127.0.0.1:4569" },
					  { "range", "bytes=5-104" },
					  { "if-match", "\"abc\"" },
					  { "x-amz-content-sha256", CKPT_S3_EMPTY_SHA256 },
					  { "x-amz-date", date },
					  { "x-amz-security-token", "FQoGZXIvYXdzE+/=token" } };
	const struct ckpt_s3_kv list_h[] = { { "host", "bkt.s3.us-west-2.amazonaws.com" },
					     { "x-amz-content-sha256", CKPT_S3_EMPTY_SHA256 },
					     { "x-amz-date", date } };
	const struct ckpt_s3_kv list_q[] = { { "list-type", "2" },
					     { "prefix", "a b/c+d&e=f~g" },
					     { "delimiter", "/" },
					     { "continuation-token", "1/Ab+c=" } };
	struct ckpt_buf uri = CKPT_BUF_INIT, q = CKPT_BUF_INIT, auth = CKPT_BUF_INIT;

	ckpt_buf_adds(&uri, "/test/");
	ckpt_s3_uri_encode(&uri, "dir/\xc3\xbc x+y*()!'#?~._-/a", true);
	CHECK(!strcmp((char *)uri.p, "/test/dir/%C3%BC%20x%2By%2A%28%29%21%27%23%3F~._-/a"));
	CHECK_EQ(ckpt_s3_sign(&eu, "GET", (char *)uri.p, "", get, 6, CKPT_S3_EMPTY_SHA256, date, &auth), 0);
	CHECK(strstr((char *)auth.p, "Signature=14247d284379752ebae1f9aea219b97705b68bdb6080ee7b640d035930e7b3a6"));
	CHECK(strstr((char *)auth.p, "SignedHeaders=host;if-match;range;x-amz-content-sha256;x-amz-date;"
				     "x-amz-security-token,"));
	CHECK_EQ(ckpt_s3_query(&q, list_q, 4), 0);
	CHECK_EQ(ckpt_s3_sign(&us, "GET", "/", (char *)q.p, list_h, 3, CKPT_S3_EMPTY_SHA256, date, &auth), 0);
	CHECK(strstr((char *)auth.p, "Signature=d38c2f2ba51e4a3732c9e6fcc182306e1b02b3366a725b86d6a129dbef6df9c1"));
	ckpt_buf_release(&uri);
	ckpt_buf_release(&q);
	ckpt_buf_release(&auth);
}

static void test_s3__encoding(void)
{
	struct ckpt_buf b = CKPT_BUF_INIT;
	const struct ckpt_s3_kv q[] = { { "prefix", "a b/c+d&e=f~g" },
					{ "list-type", "2" },
					{ "delimiter", "/" },
					{ "continuation-token", "1/Ab+c=" } };

	ckpt_buf_adds(&b, "");
	ckpt_s3_uri_encode(&b, "dir/ü x+y%z_~.-*()!'#?", true);
	CHECK(!strcmp((char *)b.p, "dir/%C3%BC%20x%2By%25z_~.-%2A%28%29%21%27%23%3F"));
	b.len = 0;
	ckpt_s3_uri_encode(&b, "a/b", false);
	CHECK(!strcmp((char *)b.p, "a%2Fb"));
	CHECK_EQ(ckpt_s3_query(&b, q, 4), 0);
	CHECK(!strcmp((char *)b.p, "continuation-token=1%2FAb%2Bc%3D&delimiter=%2F&list-type=2&"
				   "prefix=a%20b%2Fc%2Bd%26e%3Df~g"));
	CHECK_EQ(ckpt_s3_query(&b, q, 0), 0);
	CHECK(!strcmp((char *)b.p, ""));
	ckpt_buf_release(&b);
}

static void test_s3__url_parse(void)
{
	struct ckpt_err err = { 0, "" };
	char *sc, *b, *p;

	CHECK(ckpt_s3_is_url("s3://b") && ckpt_s3_is_url("gs://b/x") && !ckpt_s3_is_url("/tmp/x") &&
	      !ckpt_s3_is_url("s3:/b") && !ckpt_s3_is_url(NULL));
	CHECK_EQ(ckpt_s3_url_parse("s3://my-bucket/some/prefix", &sc, &b, &p, &err), 0);
	CHECK(!strcmp(sc, "s3") && !strcmp(b, "my-bucket") && !strcmp(p, "some/prefix"));
	free(sc), free(b), free(p);
	CHECK_EQ(ckpt_s3_url_parse("gs://bkt", &sc, &b, &p, &err), 0);
	CHECK(!strcmp(sc, "gs") && !strcmp(b, "bkt") && !strcmp(p, ""));
	free(sc), free(b), free(p);
	CHECK_EQ(ckpt_s3_url_parse("s3://b.with.dots//lead/trail/", &sc, &b, &p, &err), 0);
	CHECK(!strcmp(b, "b.with.dots") && !strcmp(p, "lead/trail/"));
	free(sc), free(b), free(p);
	CHECK_EQ(ckpt_s3_url_parse("s3:///x", &sc, &b, &p, &err), -EINVAL);
	CHECK(strstr(err.msg, "no bucket") != NULL);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_url_parse("s3://a b/x", &sc, &b, &p, &err), -EINVAL);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_url_parse("http://b/x", &sc, &b, &p, &err), -EINVAL);
	CHECK(sc == NULL && b == NULL && p == NULL);
}

static char tmp_home[64];

static void write_file(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp_home, rel);
	f = fopen(path, "w");
	if (!f) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static void clear_env(void)
{
	static const char *const v[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
					 "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
					 "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL",
					 "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		unsetenv(v[i]);
	setenv("HOME", tmp_home, 1);
}

static void test_s3__conf_env_and_profiles(void)
{
	static const char *const files[] = { ".aws/credentials", ".aws/config", "creds2", ".aws", "" };
	struct ckpt_s3_conf c;
	struct ckpt_err err = { 0, "" };
	char dir[128];

	snprintf(tmp_home, sizeof(tmp_home), "/tmp/ckpt-s3-home.XXXXXX");
	CHECK(mkdtemp(tmp_home) != NULL);
	snprintf(dir, sizeof(dir), "%s/.aws", tmp_home);
	mkdir(dir, 0700);
	clear_env();

	/* nothing anywhere: anonymous, us-east-1, AWS's endpoint chosen at open */
	CHECK_EQ(ckpt_s3_conf_init(&c, "s3", &err), 0);
	CHECK(c.anonymous && !c.access_key && !strcmp(c.region, "us-east-1") && !c.endpoint && !c.path_style);
	CHECK(c.retries == 6 && c.timeout_ms == 30000 && !strcmp(c.scheme, "s3"));
	ckpt_s3_conf_free(&c);

	write_file(".aws/credentials", "# comment\n[default]\naws_access_key_id = AKDEF\n"
				       "aws_secret_access_key=SKDEF\n\n[work]\n  ; indented comment\n"
				       "aws_access_key_id = AKWORK\naws_secret_access_key = SKWORK\n"
				       "aws_session_token = TOKWORK\n");
	write_file(".aws/config", "[default]\nregion = eu-west-1\n\n[profile   work]\nregion=ap-south-1\n"
				  "endpoint_url = http://minio.local:9000/\ns3 =\n  addressing_style = virtual\n"
				  "[profile sso]\nsso_session = corp\nregion = us-west-2\n"
				  "[profile svc]\nservices = mine\n[services mine]\ns3 =\n"
				  "  endpoint_url = https://S3.Example.com\n");
	CHECK_EQ(ckpt_s3_conf_init(&c, "s3", &err), 0);
	CHECK(!c.anonymous && !strcmp(c.access_key, "AKDEF") && !strcmp(c.secret_key, "SKDEF") && !c.session_token);
	CHECK(!strcmp(c.region, "eu-west-1") && !c.endpoint);
	ckpt_s3_conf_free(&c);

	setenv("AWS_PROFILE", "work", 1);
	CHECK_EQ(ckpt_s3_conf_init(&c, "s3", &err), 0);
	CHECK(!strcmp(c.access_key, "AKWORK") && !strcmp(c.session_token, "TOKWORK"));
	CHECK(!strcmp(c.region, "ap-south-1") && !strcmp(c.endpoint, "http://minio.local:9000"));
	CHECK(!c.path_style && c.addressing_set); /* the profile's s3 addressing_style */
	ckpt_s3_conf_free(&c);

	/* the environment's keys win over the profile's; region and endpoint from the environment */
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	setenv("AWS_DEFAULT_REGION", "ca-central-1", 1);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4569", 1);
	CHECK_EQ(ckpt_s3_conf_init(&c, "s3", &err), 0);
	CHECK(!strcmp(c.access_key, "AKENV") && !c.session_token && !strcmp(c.region, "ca-central-1"));
	CHECK(!strcmp(c.endpoint, "http://127.0.0.1:4569"));
	/* options override, in order; -ENOENT for what is not ours, without a message */
	CHECK_EQ(ckpt_s3_conf_set(&c, "region", "us-west-1", &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(&c, "addressing", "path", &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(&c, "endpoint", "https://other.example:8443/", &err), 0);
	CHECK(c.path_style && !strcmp(c.endpoint, "https://other.example:8443"));
	CHECK_EQ(ckpt_s3_conf_set(&c, "retries", "2", &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(&c, "timeout", "1.5", &err), 0);
	CHECK(c.retries == 2 && c.timeout_ms == 1500);
	CHECK_EQ(ckpt_s3_conf_set(&c, "cache_size", "1", &err), -ENOENT);
	CHECK_EQ(err.code, 0);
	CHECK_EQ(ckpt_s3_conf_set(&c, "retries", "lots", &err), -EINVAL);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_conf_set(&c, "addressing", "sideways", &err), -EINVAL);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_conf_set(&c, "endpoint", "ftp://x", &err), -EINVAL);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_conf_set(&c, "region", NULL, &err), -EINVAL);
	ckpt_err_clear(&err);
	/* a secret never shows in a message */
	CHECK_EQ(ckpt_s3_conf_set(&c, "secret_access_key", NULL, &err), -EINVAL);
	CHECK(!strstr(err.msg, "SKENV"));
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_conf_set(&c, "anonymous", NULL, &err), 0);
	CHECK(c.anonymous);
	CHECK_EQ(ckpt_s3_conf_set(&c, "access_key_id", "AKOPT", &err), 0);
	CHECK(!c.anonymous && !strcmp(c.access_key, "AKOPT"));
	/* profile=: that profile's keys only (not the environment's), its region and endpoint */
	CHECK_EQ(ckpt_s3_conf_set(&c, "profile", "default", &err), 0);
	CHECK(!strcmp(c.access_key, "AKDEF") && !strcmp(c.region, "eu-west-1"));
	CHECK_EQ(ckpt_s3_conf_set(&c, "profile", "svc", &err), 0);
	CHECK(c.anonymous && !c.access_key && !strcmp(c.endpoint, "https://s3.example.com"));
	CHECK_EQ(ckpt_s3_conf_set(&c, "profile", "nosuch", &err), -EINVAL);
	CHECK(strstr(err.msg, "nosuch") != NULL);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_conf_set(&c, "profile", "sso", &err), -EINVAL);
	CHECK(strstr(err.msg, "sso_session") != NULL);
	ckpt_err_clear(&err);
	ckpt_s3_conf_free(&c);

	/* gs: Google's endpoint, region auto, path style, the keys as for s3 */
	CHECK_EQ(ckpt_s3_conf_init(&c, "gs", &err), 0);
	CHECK(!strcmp(c.endpoint, "https://storage.googleapis.com") && !strcmp(c.region, "auto") && c.path_style);
	CHECK(!strcmp(c.access_key, "AKENV") && !strcmp(c.scheme, "gs"));
	ckpt_s3_conf_free(&c);

	/* refusals */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	CHECK_EQ(ckpt_s3_conf_init(&c, "s3", &err), -EINVAL);
	CHECK(strstr(err.msg, "AWS_SECRET_ACCESS_KEY") != NULL);
	ckpt_err_clear(&err);
	clear_env();
	setenv("AWS_PROFILE", "nosuch", 1);
	CHECK_EQ(ckpt_s3_conf_init(&c, "s3", &err), -EINVAL);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_conf_init(&c, "ftp", &err), -EINVAL);
	ckpt_err_clear(&err);
	/* other files, named by the environment */
	clear_env();
	write_file("creds2", "[default]\naws_access_key_id=AK2\naws_secret_access_key=SK2\n");
	snprintf(dir, sizeof(dir), "%s/creds2", tmp_home);
	setenv("AWS_SHARED_CREDENTIALS_FILE", dir, 1);
	setenv("AWS_CONFIG_FILE", "~/nosuch", 1);
	CHECK_EQ(ckpt_s3_conf_init(&c, "s3", &err), 0);
	CHECK(!strcmp(c.access_key, "AK2") && !strcmp(c.region, "us-east-1"));
	ckpt_s3_conf_free(&c);
	clear_env();
	/* the temp HOME */
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/%s", tmp_home, files[i]);
		remove(dir);
	}
}

/* where requests go, for a conf and a bucket */
static void check_place(const char *endpoint, bool path_style, const char *bucket, const char *host,
			const char *base)
{
	struct ckpt_s3_conf c = { 0 };
	struct ckpt_err err = { 0, "" };
	struct ckpt_s3 *s;

	c.endpoint = (char *)endpoint;
	c.region = (char *)"eu-west-1";
	c.path_style = path_style;
	c.anonymous = true;
	CHECK_EQ(ckpt_s3_open(&s, &c, bucket, &err), 0);
	if (!s)
		return;
	if (strcmp(s->host, host) || strcmp(s->base, base)) {
		printf("#   %s %s: host %s base '%s'\n", endpoint ? endpoint : "(aws)", bucket, s->host, s->base);
		CHECK(0);
	}
	ckpt_s3_close(s);
}

static void test_s3__addressing(void)
{
	struct ckpt_s3_conf c = { 0 };
	struct ckpt_err err = { 0, "" };
	struct ckpt_s3 *s;

	check_place(NULL, false, "bkt", "bkt.s3.eu-west-1.amazonaws.com", "");
	check_place(NULL, true, "bkt", "s3.eu-west-1.amazonaws.com", "/bkt");
	/* not a DNS label under https: path style */
	check_place(NULL, false, "my.bkt", "s3.eu-west-1.amazonaws.com", "/my.bkt");
	check_place(NULL, false, "My_Bkt", "s3.eu-west-1.amazonaws.com", "/My_Bkt");
	check_place("http://127.0.0.1:4569", false, "test", "127.0.0.1:4569", "/test");
	check_place("http://LocalHost:9000/", false, "test", "localhost:9000", "/test");
	check_place("https://minio.example/s3", false, "bkt", "bkt.minio.example", "/s3");
	check_place("https://minio.example/s3", true, "bkt", "minio.example", "/s3/bkt");
	/* keys: both or neither */
	c.access_key = (char *)"AK";
	CHECK_EQ(ckpt_s3_open(&s, &c, "b", &err), -EINVAL);
	CHECK(!strstr(err.msg, "AK"));
	ckpt_err_clear(&err);
	c.access_key = NULL;
	CHECK_EQ(ckpt_s3_open(&s, &c, "b", &err), -EINVAL);
	ckpt_err_clear(&err);
	c.anonymous = true;
	CHECK_EQ(ckpt_s3_open(&s, &c, "a/b", &err), -EINVAL);
	CHECK(s == NULL);
}

static const char list_page1[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	"<Name>bucket</Name><Prefix>ck/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
	"<IsTruncated>true</IsTruncated>\n"
	"  <Contents>\n    <Key>ck/a&amp;b &lt;1&gt; &quot;q&quot; &apos;s&apos;</Key>\n"
	"    <LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
	"    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>\n"
	"    <Size>434234</Size><StorageClass>STANDARD</StorageClass>\n"
	"    <Owner><ID>abc</ID><DisplayName>me</DisplayName></Owner>\n  </Contents>\n"
	"  <Contents><Key>ck/&#252;&#x20AC;&#x1F600;</Key><Size>0</Size>"
	"<LastModified>1970-01-01T00:00:01.5+01:00</LastModified><ETag>\"d41d8cd98f00b204e9800998ecf8427e-2\"</ETag>"
	"</Contents>\n"
	"  <!-- a comment <Contents> -->\n"
	"  <CommonPrefixes><Prefix>ck/dir/</Prefix></CommonPrefixes>"
	"<CommonPrefixes><Prefix><![CDATA[ck/<raw>&/]]></Prefix></CommonPrefixes>\n"
	"  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\n"
	"</ListBucketResult>\n";

static const char list_page2[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
				 "<Contents><Key>ck/z</Key><Size>18446744073709551615</Size><ETag/></Contents>"
				 "<Contents><Key>ck/nl</Key><Size>1</Size><ETag>\"a&#13;&#10;x: y\"</ETag></Contents>"
				 "<Contents><Key>ck/long</Key><Size>1</Size><ETag>\"0123456789012345678901234567890123456789"
				 "0123456789012345678901234567890123456789\"</ETag></Contents>"
				 "</ListBucketResult>";

static void test_s3__xml_list(void)
{
	struct ckpt_s3_page pg = { 0 };
	struct ckpt_err err = { 0, "" };

	CHECK_EQ(ckpt_s3_xml_list(list_page1, strlen(list_page1), &pg, &err), 0);
	CHECK_EQ(pg.n_objs, 2);
	CHECK_EQ(pg.n_prefixes, 2);
	CHECK(pg.truncated && pg.next_token && !strcmp(pg.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="));
	if (pg.n_objs == 2 && pg.n_prefixes == 2) {
		CHECK(!strcmp(pg.objs[0].key, "ck/a&b <1> \"q\" 's'"));
		CHECK_EQ(pg.objs[0].size, 434234);
		CHECK(!strcmp(pg.objs[0].etag, "\"fba9dede5f27731c9771645a39863328\""));
		CHECK_EQ(pg.objs[0].mtime_ns, 1255369830LL * 1000000000);
		CHECK(!strcmp(pg.objs[1].key, "ck/\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80"));
		CHECK_EQ(pg.objs[1].size, 0);
		CHECK_EQ(pg.objs[1].mtime_ns, -3600LL * 1000000000 + 1500000000);
		CHECK(!strcmp(pg.objs[1].etag, "\"d41d8cd98f00b204e9800998ecf8427e-2\""));
		CHECK(!strcmp(pg.prefixes[0], "ck/dir/") && !strcmp(pg.prefixes[1], "ck/<raw>&/"));
	}
	/* a second page appends */
	CHECK_EQ(ckpt_s3_xml_list(list_page2, strlen(list_page2), &pg, &err), 0);
	CHECK(!pg.truncated && !pg.next_token);
	CHECK_EQ(pg.n_objs, 5);
	if (pg.n_objs == 5) {
		CHECK(!strcmp(pg.objs[2].key, "ck/z") && pg.objs[2].size == UINT64_MAX && !pg.objs[2].etag[0]);
		/* ETags that could not be sent back as If-Match: none */
		CHECK(!strcmp(pg.objs[3].key, "ck/nl") && !pg.objs[3].etag[0]);
		CHECK(!strcmp(pg.objs[4].key, "ck/long") && !pg.objs[4].etag[0]);
	}
	ckpt_s3_page_free(&pg);
	/* an empty listing */
	CHECK_EQ(ckpt_s3_xml_list("<ListBucketResult/>", 19, &pg, &err), 0);
	CHECK(pg.n_objs == 0 && !pg.truncated);
	ckpt_s3_page_free(&pg);
}

static void test_s3__xml_list_refuses(void)
{
	static const char *const bad[] = {
		"",
		"<ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key></Contents>",
		"<Error><Code>x</Code></Error>",
		"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>18446744073709551616</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#0;</Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#xD800;</Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#x110000;</Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&amp</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Size></Contents></ListBucketResult>",
		("<ListBucketResult><Contents><Key>a</Key><Size>1</Size><LastModified>yesterday</LastModified>"
		 "</Contents></ListBucketResult>"),
		"<ListBucketResult></ListBucketResult><ListBucketResult/>",
		"<!DOCTYPE x [<!ENTITY a \"b\">]><ListBucketResult/>",
		"<ListBucketResult><!-- unterminated",
		"<ListBucketResult><![CDATA[ unterminated",
		"<ListBucketResult a=\"1></ListBucketResult>",
		"<ListBucketResult <x/></ListBucketResult>",
	};
	struct ckpt_s3_page pg = { 0 };
	struct ckpt_err err = { 0, "" };
	char deep[40 * 4 + 1];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = ckpt_s3_xml_list(bad[i], strlen(bad[i]), &pg, &err);

		if (rc != CKPT_ECORRUPT)
			printf("#   bad[%zu] gave %d\n", i, rc);
		CHECK_EQ(rc, CKPT_ECORRUPT);
		CHECK(!strncmp(err.msg, "bad XML", 7));
		ckpt_err_clear(&err);
		ckpt_s3_page_free(&pg);
	}
	/* nesting deeper than the stack */
	for (int i = 0; i < 40; i++)
		memcpy(deep + 3 * i, "<a>", 3);
	deep[120] = 0;
	CHECK_EQ(ckpt_s3_xml_list(deep, strlen(deep), &pg, &err), CKPT_ECORRUPT);
	ckpt_s3_page_free(&pg);
	/* every cut of a good page is refused, never read past (ASan builds check) */
	for (size_t n = 0; n < strlen(list_page1) - 1; n++) {
		char *cut = malloc(n ? n : 1);

		memcpy(cut, list_page1, n);
		ckpt_err_clear(&err);
		CHECK(ckpt_s3_xml_list(cut, n, &pg, &err) == CKPT_ECORRUPT);
		ckpt_s3_page_free(&pg);
		free(cut);
	}
}

static void test_s3__xml_error_and_time(void)
{
	static const char body[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
				   "<Message>The request signature we calculated does not match\nthe signature you "
				   "provided.</Message><AWSAccessKeyId>AKIA</AWSAccessKeyId>"
				   "<StringToSign>AWS4-HMAC-SHA256...</StringToSign><RequestId>1</RequestId></Error>";
	static const char region[] = "<Error><Code>AuthorizationHeaderMalformed</Code><Message>wrong</Message>"
				     "<Region>eu-west-1</Region></Error>";
	struct ckpt_s3_xerr e;
	int64_t ns;

	CHECK(ckpt_s3_xml_error(body, strlen(body), &e));
	CHECK(!strcmp(e.code, "SignatureDoesNotMatch"));
	CHECK(!strcmp(e.message, "The request signature we calculated does not match the signature you provided."));
	CHECK(ckpt_s3_xml_error(region, strlen(region), &e));
	CHECK(!strcmp(e.region, "eu-west-1"));
	CHECK(!ckpt_s3_xml_error("<html>503</html>", 16, &e) && !e.code[0]);
	CHECK(!ckpt_s3_xml_error("Service Unavailable", 19, &e));
	CHECK(!ckpt_s3_xml_error(NULL, 0, &e));

	CHECK_EQ(ckpt_s3_parse_time("2009-10-12T17:50:30.000Z", 24, &ns), 0);
	CHECK_EQ(ns, 1255369830LL * 1000000000);
	CHECK_EQ(ckpt_s3_parse_time("2024-02-29T23:59:59.123456789Z", 30, &ns), 0);
	CHECK_EQ(ns, 1709251199LL * 1000000000 + 123456789);
	CHECK_EQ(ckpt_s3_parse_time("1969-12-31T23:59:59Z", 20, &ns), 0);
	CHECK_EQ(ns, -1000000000LL);
	CHECK_EQ(ckpt_s3_parse_time("2009-10-12T17:50:30-02:30", 25, &ns), 0);
	CHECK_EQ(ns, (1255369830LL + 9000) * 1000000000);
	CHECK_EQ(ckpt_s3_parse_time("2009-13-12T17:50:30Z", 20, &ns), CKPT_ECORRUPT);
	CHECK_EQ(ckpt_s3_parse_time("2009-10-12 17:50:30Z", 20, &ns), CKPT_ECORRUPT);
	CHECK_EQ(ckpt_s3_parse_time("2009-10-12T17:50:30", 19, &ns), CKPT_ECORRUPT);
	CHECK_EQ(ckpt_s3_parse_time("9999-10-12T17:50:30Z", 20, &ns), CKPT_ECORRUPT);
}

int main(void)
{
	RUN(test_s3__sha256_vectors);
	RUN(test_s3__hmac_rfc4231);
	RUN(test_s3__sigv4_aws_examples);
	RUN(test_s3__sigv4_botocore);
	RUN(test_s3__encoding);
	RUN(test_s3__url_parse);
	RUN(test_s3__conf_env_and_profiles);
	RUN(test_s3__addressing);
	RUN(test_s3__xml_list);
	RUN(test_s3__xml_list_refuses);
	RUN(test_s3__xml_error_and_time);
	DONE();
}
