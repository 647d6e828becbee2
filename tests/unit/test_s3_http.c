/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_s3_http.c - the S3 client's requests against a fake server on
 * 127.0.0.1 (a thread per connection, keep-alive), whose answers the key
 * names script: retries on 5xx, 429, SlowDown, resets, truncated bodies
 * and stalls; none on 403, 404, 412; a 200 to a range request; short and
 * long bodies; a wrong Content-Range; the region hint; list pages with
 * continuation tokens; get_many and threads sharing a client.
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include "harness.h"
#include "s3_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OBJ_SIZE 100000

static int port;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char key[128];
	int n;
} seen[256];
static int n_seen;
static char last_auth[512], last_date[32], last_host[128];
static int connections;

static uint8_t obj_byte(uint64_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* how many times key was asked for, this one included */
static int attempt_of(const char *key)
{
	int n = 0, i;

	pthread_mutex_lock(&mu);
	for (i = 0; i < n_seen && strcmp(seen[i].key, key); i++)
		;
	if (i == n_seen && n_seen < 256)
		snprintf(seen[n_seen++].key, sizeof(seen[0].key), "%s", key);
	if (i < 256)
		n = ++seen[i].n;
	pthread_mutex_unlock(&mu);

	return n;
}

static int times_asked(const char *key)
{
	int n = 0;

	pthread_mutex_lock(&mu);
	for (int i = 0; i < n_seen; i++)
		if (!strcmp(seen[i].key, key))
			n = seen[i].n;
	pthread_mutex_unlock(&mu);
	return n;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t k = send(fd, c, n, MSG_NOSIGNAL);

		if (k <= 0)
			return;
		c += k;
		n -= (size_t)k;
	}
}

static void respond(int fd, int status, const char *extra, const void *body, size_t n, size_t claimed)
{
	char h[1024];
	int k = snprintf(h, sizeof(h), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status, claimed, extra);

	send_all(fd, h, (size_t)k);
	send_all(fd, body, n);
}

static void s3_error(int fd, int status, const char *code, const char *extra)
{
	char b[512];
	int k = snprintf(b, sizeof(b), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
			 "<Message>msg of %s</Message><RequestId>r</RequestId></Error>", code, code);

	respond(fd, status, extra, b, (size_t)k, (size_t)k);
}

/* the object bytes [a, b] as a 206, with n_send of them sent and claimed bytes announced */
static void ranged(int fd, uint64_t a, uint64_t b, uint64_t cr_start, size_t n_send, size_t claimed)
{
	uint8_t *body = malloc(OBJ_SIZE + 16);
	char extra[128];

	for (uint64_t i = a; i <= b && i - a < OBJ_SIZE + 16; i++)
		body[i - a] = obj_byte(i);
	snprintf(extra, sizeof(extra), "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%d\r\n", cr_start,
		 cr_start + b - a, OBJ_SIZE);
	respond(fd, 206, extra, body, n_send, claimed);
	free(body);
}

static void list_page(int fd, const char *q)
{
	char b[2048];
	int k;

	if (strstr(q, "prefix=pg") && !strstr(q, "continuation-token")) {
		k = snprintf(b, sizeof(b), "<ListBucketResult><IsTruncated>true</IsTruncated>"
			     "<Contents><Key>pg/a</Key><Size>1</Size><ETag>&quot;e1&quot;</ETag></Contents>"
			     "<CommonPrefixes><Prefix>pg/d1/</Prefix></CommonPrefixes>"
			     "<NextContinuationToken>tok/1+=</NextContinuationToken></ListBucketResult>");
	} else if (strstr(q, "prefix=pg") && strstr(q, "continuation-token=tok%2F1%2B%3D")) {
		k = snprintf(b, sizeof(b), "<ListBucketResult><IsTruncated>true</IsTruncated>"
			     "<Contents><Key>pg/b</Key><Size>2</Size></Contents>"
			     "<NextContinuationToken>tok2</NextContinuationToken></ListBucketResult>");
	} else if (strstr(q, "prefix=pg") && strstr(q, "continuation-token=tok2")) {
		k = snprintf(b, sizeof(b), "<ListBucketResult><IsTruncated>false</IsTruncated>"
			     "<Contents><Key>pg/c</Key><Size>3</Size></Contents>"
			     "<CommonPrefixes><Prefix>pg/d2/</Prefix></CommonPrefixes></ListBucketResult>");
	} else if (strstr(q, "prefix=loop")) {
		k = snprintf(b, sizeof(b), "<ListBucketResult><IsTruncated>true</IsTruncated>"
			     "<NextContinuationToken>same</NextContinuationToken></ListBucketResult>");
	} else if (strstr(q, "prefix=flaky") && attempt_of("list-flaky") == 1) {
		s3_error(fd, 503, "SlowDown", "");
		return;
	} else if (strstr(q, "prefix=garbage")) {
		k = snprintf(b, sizeof(b), "<html>hello</html>");
	} else {
		k = snprintf(b, sizeof(b), "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
	}
	respond(fd, 200, "Content-Type: application/xml\r\n", b, (size_t)k, (size_t)k);
}

/* answers one GET of key (decoded) with Range a-b; false: close the connection */
static bool answer(int fd, const char *key, uint64_t a, uint64_t b, const char *if_match)
{
	int n = attempt_of(key);
	size_t len = (size_t)(b - a + 1);

	if (!strncmp(key, "flaky503-", 9) && n <= atoi(key + 9))
		s3_error(fd, 503, n % 2 ? "SlowDown" : "ServiceUnavailable", "");
	else if (!strcmp(key, "flaky429") && n == 1)
		respond(fd, 429, "", "", 0, 0);
	else if (!strcmp(key, "always500"))
		s3_error(fd, 500, "InternalError", "");
	else if (!strcmp(key, "reset") && n == 1) {
		struct linger l = { 1, 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		return false;
	} else if (!strcmp(key, "truncated") && n == 1) {
		ranged(fd, a, b, a, len / 2, len);
		return false;
	} else if (!strcmp(key, "stall") && n == 1) {
		ranged(fd, a, b, a, len / 2, len);
		sleep(3);
		return false;
	} else if (!strcmp(key, "denied"))
		s3_error(fd, 403, "AccessDenied", "");
	else if (!strcmp(key, "expired"))
		s3_error(fd, 400, "ExpiredToken", "");
	else if (!strcmp(key, "badreq"))
		s3_error(fd, 400, "InvalidArgument", "");
	else if (!strcmp(key, "missing"))
		s3_error(fd, 404, "NoSuchKey", "");
	else if (!strcmp(key, "stale") && if_match && strcmp(if_match, "\"good\""))
		s3_error(fd, 412, "PreconditionFailed", "");
	else if (!strcmp(key, "503region") && n == 1)
		s3_error(fd, 503, "SlowDown", "x-amz-bucket-region: us-east-1\r\n");
	else if (!strcmp(key, "region"))
		s3_error(fd, 301, "PermanentRedirect", "x-amz-bucket-region: eu-west-2\r\n");
	else if (!strcmp(key, "full200")) {
		uint8_t *all = malloc(OBJ_SIZE);

		for (size_t i = 0; i < OBJ_SIZE; i++)
			all[i] = obj_byte(i);
		respond(fd, 200, "", all, OBJ_SIZE, OBJ_SIZE);
		free(all);
	} else if (!strcmp(key, "short"))
		ranged(fd, a, b - 3, a, len - 3, len - 3);
	else if (!strcmp(key, "toolong"))
		ranged(fd, a, b + 5, a, len + 5, len + 5);
	else if (!strcmp(key, "wrongrange"))
		ranged(fd, a, b, a + 1, len, len);
	else
		ranged(fd, a, b, a, len, len);
	return true;
}

static void url_decode(const char *s, char *out, size_t m)
{
	size_t j = 0;

	for (; *s && j + 1 < m; s++) {
		unsigned v;

		if (*s == '%' && sscanf(s + 1, "%2x", &v) == 1) {
			out[j++] = (char)v;
			s += 2;
		} else {
			out[j++] = *s;
		}
	}
	out[j] = 0;
}

static void header_value(const char *req, const char *name, char *out, size_t m)
{
	const char *p = strcasestr(req, name);

	out[0] = 0;
	if (p) {
		p += strlen(name);
		while (*p == ' ')
			p++;
		snprintf(out, m, "%.*s", (int)strcspn(p, "\r\n"), p);
	}
}

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char req[16384];
	size_t have = 0;

	for (;;) {
		char *end, path[1024], key[1024], range[64], im[128], *q;
		uint64_t a = 0, b = OBJ_SIZE - 1;
		ssize_t k;

		while (!(end = memmem(req, have, "\r\n\r\n", 4))) {
			k = have < sizeof(req) ? recv(fd, req + have, sizeof(req) - have, 0) : 0;
			if (k <= 0)
				goto out;
			have += (size_t)k;
		}
		*end = 0;
		if (sscanf(req, "GET %1023s", path) != 1)
			goto out;
		pthread_mutex_lock(&mu);
		header_value(req, "\nauthorization:", last_auth, sizeof(last_auth));
		header_value(req, "\nx-amz-date:", last_date, sizeof(last_date));
		header_value(req, "\nhost:", last_host, sizeof(last_host));
		pthread_mutex_unlock(&mu);
		header_value(req, "\nrange:", range, sizeof(range));
		header_value(req, "\nif-match:", im, sizeof(im));
		sscanf(range, "bytes=%" SCNu64 "-%" SCNu64, &a, &b);
		q = strchr(path, '?');
		if (q)
			*q++ = 0;
		memmove(req, end + 4, have - (size_t)(end + 4 - req));
		have -= (size_t)(end + 4 - req);
		if (!strcmp(path, "/b") && q) {
			list_page(fd, q);
			continue;
		}
		url_decode(path + 3, key, sizeof(key));
		if (strncmp(path, "/b/", 3) || !answer(fd, key, a, b, im[0] ? im : NULL))
			goto out;
	}
out:
	close(fd);
	return NULL;
}

static void *server_main(void *arg)
{
	int ls = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept(ls, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		pthread_mutex_lock(&mu);
		connections++;
		pthread_mutex_unlock(&mu);
		pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
	return NULL;
}

static void server_start(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pthread_t t;

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 64) ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl)) {
		printf("Bail out! cannot listen\n");
		exit(1);
	}
	port = ntohs(sa.sin_port);
	pthread_create(&t, NULL, server_main, (void *)(intptr_t)ls);
	pthread_detach(t);
}

static struct ckpt_s3 *client(unsigned retries, const char *timeout, bool anonymous)
{
	struct ckpt_s3_conf c;
	struct ckpt_err err = { 0, "" };
	struct ckpt_s3 *s = NULL;
	char ep[64], r[16];

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	snprintf(r, sizeof(r), "%u", retries);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_PROFILE");
	setenv("HOME", "/nonexistent", 1);
	CHECK_EQ(ckpt_s3_conf_init(&c, "s3", &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(&c, "endpoint", ep, &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(&c, "retries", r, &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(&c, "timeout", timeout, &err), 0);
	if (!anonymous) {
		CHECK_EQ(ckpt_s3_conf_set(&c, "access_key_id", "AKIDTEST", &err), 0);
		CHECK_EQ(ckpt_s3_conf_set(&c, "secret_access_key", "SECRETTEST", &err), 0);
		CHECK_EQ(ckpt_s3_conf_set(&c, "session_token", "TOKENTEST", &err), 0);
	}
	CHECK_EQ(ckpt_s3_open(&s, &c, "b", &err), 0);
	ckpt_s3_conf_free(&c);
	return s;
}

static bool bytes_ok(const uint8_t *p, uint64_t off, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] != obj_byte(off + i))
			return false;
	return true;
}

static double secs(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* one GET of [off, off + n) of key: its rc, message in err */
static int get(struct ckpt_s3 *s, const char *key, uint64_t off, uint64_t n, struct ckpt_err *err)
{
	static uint8_t buf[OBJ_SIZE + 16];
	int rc;

	ckpt_err_clear(err);
	memset(buf, 0, sizeof(buf));
	rc = ckpt_s3_get(s, key, NULL, off, n, buf, err);
	if (rc == 0 && !bytes_ok(buf, off, n)) {
		printf("#   %s: wrong bytes\n", key);
		return -1;
	}
	return rc;
}

static void test_s3_http__get_and_sign(void)
{
	struct ckpt_s3 *s = client(6, "5", false);
	struct ckpt_err err = { 0, "" };
	struct ckpt_s3_stats st;

	CHECK_EQ(get(s, "plain", 0, 10, &err), 0);
	CHECK_EQ(get(s, "plain", 777, 5000, &err), 0);
	CHECK_EQ(get(s, "dir/k\xc3\xbc y+z", 99990, 10, &err), 0);
	CHECK(times_asked("dir/k\xc3\xbc y+z") == 1);
	/* signed: the key id and scope, never the secret */
	pthread_mutex_lock(&mu);
	CHECK(!strncmp(last_auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/", 37));
	CHECK(strstr(last_auth, "/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;"
				"x-amz-date;x-amz-security-token,Signature=") != NULL);
	CHECK(!strstr(last_auth, "SECRETTEST") && strlen(last_date) == 16);
	CHECK(!strncmp(last_host, "127.0.0.1:", 10));
	pthread_mutex_unlock(&mu);
	/* len 0 sends nothing; a range that overflows is refused */
	CHECK_EQ(get(s, "never", 5, 0, &err), 0);
	CHECK_EQ(times_asked("never"), 0);
	CHECK_EQ(get(s, "never", UINT64_MAX, 2, &err), -EINVAL);
	ckpt_s3_stats(s, &st);
	CHECK_EQ(st.requests, 3);
	CHECK_EQ(st.bytes, 10 + 5000 + 10);
	CHECK_EQ(st.retries, 0);
	ckpt_s3_close(s);
	/* anonymous: no signature */
	s = client(0, "5", true);
	CHECK_EQ(get(s, "anon", 0, 10, &err), 0);
	pthread_mutex_lock(&mu);
	CHECK(!last_auth[0]);
	pthread_mutex_unlock(&mu);
	ckpt_s3_close(s);
}

static void test_s3_http__retries(void)
{
	struct ckpt_s3 *s = client(6, "1", false);
	struct ckpt_err err = { 0, "" };
	struct ckpt_s3_stats st;
	double t0 = secs();

	CHECK_EQ(get(s, "flaky503-3", 10, 100, &err), 0);
	CHECK_EQ(times_asked("flaky503-3"), 4);
	CHECK_EQ(get(s, "flaky429", 0, 100, &err), 0);
	CHECK_EQ(times_asked("flaky429"), 2);
	CHECK_EQ(get(s, "reset", 0, 100, &err), 0);
	CHECK_EQ(times_asked("reset"), 2);
	CHECK_EQ(get(s, "truncated", 0, 50000, &err), 0);
	CHECK_EQ(times_asked("truncated"), 2);
	/* a region header on a 503 is not the region hint: retried */
	CHECK_EQ(get(s, "503region", 0, 10, &err), 0);
	CHECK_EQ(times_asked("503region"), 2);
	/* the backoff is short: 7 retries above, each at most 50 ms * 2^k */
	CHECK(secs() - t0 < 2.0);
	/* a stall: the low-speed limit ends it after the timeout (1 s) */
	t0 = secs();
	CHECK_EQ(get(s, "stall", 0, 50000, &err), 0);
	CHECK_EQ(times_asked("stall"), 2);
	CHECK(secs() - t0 > 0.9 && secs() - t0 < 4.0);
	ckpt_s3_stats(s, &st);
	/* the reset may be retried by curl itself (a reused connection that died) */
	CHECK(st.retries == 3 + 1 + 1 + 1 + 1 + 1 || st.retries == 3 + 1 + 1 + 1 + 1);
	CHECK_EQ(st.errors, 0);
	ckpt_s3_close(s);

	/* still failing after the retries: -EIO naming the object, the answer and the attempts */
	s = client(3, "1", false);
	t0 = secs();
	CHECK_EQ(get(s, "always500", 0, 10, &err), -EIO);
	CHECK_EQ(times_asked("always500"), 4);
	CHECK(secs() - t0 < 1.0);
	CHECK(!strcmp(err.msg, "s3://b/always500: HTTP 500 (InternalError: msg of InternalError), after 4 attempts"));
	ckpt_s3_stats(s, &st);
	CHECK(st.retries == 3 && st.errors == 1 && st.requests == 4);
	ckpt_s3_close(s);
}

static void test_s3_http__no_retry(void)
{
	struct ckpt_s3 *s = client(6, "5", false);
	struct ckpt_err err = { 0, "" };
	static uint8_t buf[100];

	CHECK_EQ(get(s, "missing", 0, 10, &err), -ENOENT);
	CHECK(!strcmp(err.msg, "s3://b/missing: no such object"));
	CHECK_EQ(get(s, "denied", 0, 10, &err), -EACCES);
	CHECK(!strcmp(err.msg, "s3://b/denied: access denied: check the credentials (AccessDenied: msg of AccessDenied)"));
	CHECK_EQ(get(s, "expired", 0, 10, &err), -EACCES);
	CHECK(strstr(err.msg, "ExpiredToken") != NULL);
	CHECK_EQ(get(s, "badreq", 0, 10, &err), -EIO);
	CHECK(!strcmp(err.msg, "s3://b/badreq: HTTP 400 (InvalidArgument: msg of InvalidArgument)"));
	CHECK_EQ(get(s, "region", 0, 10, &err), -EIO);
	CHECK(strstr(err.msg, "region eu-west-2: give -o region=eu-west-2") != NULL);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_get(s, "stale", "\"old\"", 0, 10, buf, &err), -ESTALE);
	CHECK(strstr(err.msg, "s3://b/stale: the object was replaced since it was listed") == err.msg);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_get(s, "stale", "\"good\"", 0, 10, buf, &err), 0);
	CHECK_EQ(ckpt_s3_get(s, "stale", "", 0, 10, buf, &err), 0); /* "": no If-Match */
	/* a value that would make two header lines is not sent */
	CHECK_EQ(ckpt_s3_get(s, "inject", "\"x\"\r\nx-evil: 1", 0, 10, buf, &err), -EINVAL);
	CHECK_EQ(times_asked("inject"), 0);
	ckpt_err_clear(&err);
	CHECK(times_asked("missing") == 1 && times_asked("denied") == 1 && times_asked("expired") == 1 &&
	      times_asked("badreq") == 1 && times_asked("region") == 1 && times_asked("stale") == 3);
	ckpt_s3_close(s);
}

static void test_s3_http__bodies(void)
{
	struct ckpt_s3 *s = client(6, "5", false);
	struct ckpt_err err = { 0, "" };

	/* a server that ignores Range: the slice asked for, from anywhere in the body */
	CHECK_EQ(get(s, "full200", 0, 10, &err), 0);
	CHECK_EQ(get(s, "full200", 54321, 1000, &err), 0);
	CHECK_EQ(get(s, "full200", OBJ_SIZE - 100, 100, &err), 0);
	CHECK_EQ(get(s, "full200", OBJ_SIZE - 100, 101, &err), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "short object: 100 of the 101 bytes") != NULL);
	CHECK_EQ(get(s, "short", 0, 100, &err), CKPT_ECORRUPT);
	CHECK(!strcmp(err.msg, "s3://b/short: short object: 97 of the 100 bytes at offset 0"));
	CHECK_EQ(get(s, "toolong", 0, 100, &err), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "more than the 100 bytes") != NULL);
	CHECK_EQ(get(s, "wrongrange", 10, 100, &err), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "bytes from 11, not from 10") != NULL);
	CHECK(times_asked("short") == 1 && times_asked("toolong") == 1 && times_asked("wrongrange") == 1);
	ckpt_s3_close(s);
}

static void test_s3_http__refused(void)
{
	struct ckpt_s3_conf c;
	struct ckpt_err err = { 0, "" };
	struct ckpt_s3 *s;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char ep[64];
	uint8_t buf[10];

	/* a port that was free a moment ago */
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	close(fd);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	CHECK_EQ(ckpt_s3_conf_init(&c, "s3", &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(&c, "endpoint", ep, &err), 0);
	CHECK_EQ(ckpt_s3_conf_set(&c, "retries", "2", &err), 0);
	CHECK_EQ(ckpt_s3_open(&s, &c, "b", &err), 0);
	ckpt_s3_conf_free(&c);
	CHECK_EQ(ckpt_s3_get(s, "k", NULL, 0, 10, buf, &err), -EIO);
	CHECK(strstr(err.msg, "s3://b/k: Couldn't connect to server") == err.msg);
	CHECK(strstr(err.msg, "after 3 attempts") != NULL);
	printf("#   %s\n", err.msg);
	ckpt_s3_close(s);
}

static void test_s3_http__list(void)
{
	struct ckpt_s3 *s = client(6, "5", false);
	struct ckpt_err err = { 0, "" };
	struct ckpt_s3_obj *o;
	char **p;
	size_t n, np;

	CHECK_EQ(ckpt_s3_list(s, "pg/", "/", &o, &n, &p, &np, &err), 0);
	CHECK(n == 3 && np == 2);
	if (n == 3 && np == 2) {
		CHECK(!strcmp(o[0].key, "pg/a") && !strcmp(o[1].key, "pg/b") && !strcmp(o[2].key, "pg/c"));
		CHECK(o[0].size == 1 && o[2].size == 3 && !strcmp(o[0].etag, "\"e1\""));
		CHECK(!strcmp(p[0], "pg/d1/") && !strcmp(p[1], "pg/d2/"));
	}
	ckpt_s3_objs_free(o, n);
	ckpt_s3_strv_free(p, np);
	CHECK_EQ(ckpt_s3_list(s, "pg/", NULL, &o, &n, NULL, NULL, &err), 0);
	CHECK_EQ(n, 3);
	ckpt_s3_objs_free(o, n);
	CHECK_EQ(ckpt_s3_list(s, "flaky", NULL, &o, &n, NULL, NULL, &err), 0);
	CHECK_EQ(n, 0);
	ckpt_s3_objs_free(o, n);
	CHECK_EQ(ckpt_s3_list(s, "loop", NULL, &o, &n, NULL, NULL, &err), CKPT_ECORRUPT);
	CHECK(strstr(err.msg, "s3://b/loop: listing: a truncated page") == err.msg);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_s3_list(s, "garbage", NULL, &o, &n, NULL, NULL, &err), CKPT_ECORRUPT);
	CHECK(!strcmp(err.msg, "s3://b/garbage: listing: bad XML from the server: not a ListBucketResult"));
	ckpt_s3_close(s);
}

static void test_s3_http__get_many(void)
{
	struct ckpt_s3 *s = client(6, "5", false);
	struct ckpt_s3_req r[60];
	static uint8_t bufs[60][1000];
	char keys[60][32];
	struct ckpt_s3_stats st;
	int before;

	pthread_mutex_lock(&mu);
	before = connections;
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 60; i++) {
		if (i == 7)
			snprintf(keys[i], sizeof(keys[i]), "missing");
		else if (i % 10 == 3)
			snprintf(keys[i], sizeof(keys[i]), "flaky503-%d-m", 1 + i / 10); /* N 503s, then 206 */
		else
			snprintf(keys[i], sizeof(keys[i]), "many-%d", i);
		r[i] = (struct ckpt_s3_req){ .key = keys[i], .off = (uint64_t)i * 100, .len = 1000, .buf = bufs[i] };
	}
	r[9].len = 0;
	CHECK_EQ(ckpt_s3_get_many(s, r, 60, 8), -ENOENT);
	for (int i = 0; i < 60; i++) {
		if (i == 7) {
			CHECK(r[i].rc == -ENOENT && !strcmp(r[i].err.msg, "s3://b/missing: no such object"));
			continue;
		}
		CHECK_EQ(r[i].rc, 0);
		CHECK(r[i].err.code == 0 && bytes_ok(bufs[i], r[i].off, r[i].len));
	}
	ckpt_s3_stats(s, &st);
	/* 53 answered at once (one of them 404), 6 after 1 + 2 + ... + 6 = 21 retries */
	CHECK_EQ(st.requests, 53 + 6 + 21);
	CHECK_EQ(st.retries, 21);
	CHECK_EQ(st.errors, 1);
	/* connections: at most the 8 in flight, kept for the next call */
	pthread_mutex_lock(&mu);
	CHECK(connections - before <= 8);
	before = connections;
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 60; i++)
		r[i].key = "again";
	CHECK_EQ(ckpt_s3_get_many(s, r, 60, 8), 0);
	pthread_mutex_lock(&mu);
	CHECK_EQ(connections, before);
	pthread_mutex_unlock(&mu);
	ckpt_s3_close(s);
}

struct targ {
	struct ckpt_s3 *s;
	int id, ok;
};

static void *reader(void *p)
{
	struct targ *t = p;
	uint8_t buf[3000];
	char key[32];

	for (int i = 0; i < 40; i++) {
		struct ckpt_err err = { 0, "" };
		uint64_t off = (uint64_t)(t->id * 1000 + i * 37);

		snprintf(key, sizeof(key), "t%d-%d", t->id, i % 3);
		if (ckpt_s3_get(t->s, key, NULL, off, sizeof(buf), buf, &err) == 0 && bytes_ok(buf, off, sizeof(buf)))
			t->ok++;

	}
	return NULL;
}

static void test_s3_http__threads(void)
{
	struct ckpt_s3 *s = client(6, "5", false);
	pthread_t th[8];
	struct targ a[8];

	for (int i = 0; i < 8; i++) {
		a[i] = (struct targ){ s, i, 0 };
		pthread_create(&th[i], NULL, reader, &a[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(a[i].ok, 40);
	}
	ckpt_s3_close(s);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	server_start();
	RUN(test_s3_http__get_and_sign);
	RUN(test_s3_http__retries);
	RUN(test_s3_http__no_retry);
	RUN(test_s3_http__bodies);
	RUN(test_s3_http__refused);
	RUN(test_s3_http__list);
	RUN(test_s3_http__get_many);
	RUN(test_s3_http__threads);
	DONE();
}
