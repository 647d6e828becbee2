/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3_http.c - the S3 client's requests through libcurl (tier 2; see
 * s3_http.h): ranged GETs and list pages, many at once, with retries.
 *
 * Every request goes through the same engine, ckpt_s3_run(): a curl multi
 * handle with at most `parallel` transfers in flight, each one attempt of
 * one struct ckpt_s3_xfer.  A finished attempt is classified: done (success,
 * or an error that retrying cannot fix: 403, 404, 412, a short body) or to
 * be retried (5xx, 429, timeouts, refused or reset connections) after a
 * backoff with full jitter, random in [0, min(2 s, 50 ms * 2^attempt)],
 * while the other transfers go on.
 *
 * Connections are reused through a pool of workers, each a multi handle
 * (which owns a connection cache) with its easy handles.  A calling thread
 * takes a worker for the length of its call and gives it back, so a worker
 * is never used by two threads at once, and it keeps its connections alive
 * for the next caller.  DNS and TLS sessions are shared between workers
 * through a curl share handle with locks (curl does not support sharing the
 * connection cache between concurrent threads).
 *
 *   xfer states: NEW -> ACTIVE -> DONE
 *                        |  ^
 *                        v  |   (a retryable failure, attempts left)
 *                        WAIT
 */
#define _GNU_SOURCE /* fallocate */
#include "s3_http.h"

#include "fsutil.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ERR_BODY_MAX (64u << 10)
#define BACKOFF_BASE_MS 50
#define BACKOFF_CAP_MS 2000
#define MAX_PARALLEL 256
#define IDLE_WORKERS 16

struct worker {
	CURLM *multi;
	CURL **easy; /* idle easy handles */
	size_t n_easy, cap_easy;
	struct worker *next;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_ALL);
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
	struct ckpt_s3 *s = u;

	(void)h, (void)a;
	pthread_mutex_lock(&s->share_lock[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
	struct ckpt_s3 *s = u;

	(void)h;
	pthread_mutex_unlock(&s->share_lock[d]);
}

int ckpt_s3_http_init(struct ckpt_s3 *s, struct ckpt_err *err)
{
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->share_lock[i], NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->keys_lock, NULL);
	atomic_init(&s->seed, (uint64_t)now_ns() ^ (uint64_t)(uintptr_t)s);
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return ckpt_err_set(err, -EIO, "libcurl: %s", curl_easy_strerror(curl_init_rc));
	s->share = curl_share_init();
	if (!s->share)
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
	curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return 0;
}

/* ---------------------------------------------------------------- workers */

static void worker_free(struct worker *w)
{
	for (size_t i = 0; i < w->n_easy; i++)
		curl_easy_cleanup(w->easy[i]);
	free(w->easy);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	free(w);
}

void ckpt_s3_http_fini(struct ckpt_s3 *s)
{
	while (s->idle) {
		struct worker *w = s->idle;

		s->idle = w->next;
		worker_free(w);
	}
	if (s->share)
		curl_share_cleanup(s->share);
	s->share = NULL;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s->share_lock[i]);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->keys_lock);
}

static struct worker *worker_take(struct ckpt_s3 *s)
{
	struct worker *w;

	pthread_mutex_lock(&s->lock);
	w = s->idle;
	if (w) {
		s->idle = w->next;
		s->n_idle--;
	}
	pthread_mutex_unlock(&s->lock);
	if (w)
		return w;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->multi = curl_multi_init())) {
		free(w);
		return NULL;
	}
	curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, 64L);
	return w;
}

static void worker_give(struct ckpt_s3 *s, struct worker *w)
{
	pthread_mutex_lock(&s->lock);
	if (s->n_idle < IDLE_WORKERS) {
		w->next = s->idle;
		s->idle = w;
		s->n_idle++;
		w = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (w)
		worker_free(w);
}

static size_t on_header(char *p, size_t size, size_t n, void *u);
static size_t on_body(char *p, size_t size, size_t n, void *u);

static CURL *easy_take(struct ckpt_s3 *s, struct worker *w)
{
	long secs = (s->timeout_ms + 999) / 1000;
	CURL *e;

	if (w->n_easy)
		return w->easy[--w->n_easy];
	e = curl_easy_init();
	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SHARE, s->share);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L); /* keys may hold "/../": the path is signed as sent */
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms);
	/* a stall: under 1 byte/s for the timeout, waiting for the answer included */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, secs);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 15L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "ckptfs");
	curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L); /* a proxy's answer is not S3's */
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	return e;
}

static int easy_give(struct worker *w, CURL *e)
{
	if (ckpt_grow((void **)&w->easy, &w->cap_easy, w->n_easy + 1, sizeof(CURL *))) {
		curl_easy_cleanup(e);
		return -ENOMEM;
	}
	w->easy[w->n_easy++] = e;
	return 0;
}

/* ------------------------------------------------------------- callbacks */

static bool header_is(const char *p, size_t n, const char *name, const char **value, size_t *vn)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(p, name, k) || p[k] != ':')
		return false;
	*value = p + k + 1;
	*vn = n - k - 1;
	while (*vn && (**value == ' ' || **value == '\t'))
		(*value)++, (*vn)--;
	while (*vn && ((*value)[*vn - 1] == '\r' || (*value)[*vn - 1] == '\n' || (*value)[*vn - 1] == ' '))
		(*vn)--;
	return true;
}

static size_t on_header(char *p, size_t size, size_t n, void *u)
{
	struct ckpt_s3_xfer *x = u;
	const char *v;
	size_t vn, len = size * n;
	char tmp[64];

	if (len > 12 && !memcmp(p, "HTTP/", 5)) {
		/* a status line: a new response (after a 100 Continue too) */
		const char *sp = memchr(p, ' ', len);

		x->status = sp && sp + 4 <= p + len ? strtol(sp + 1, NULL, 10) : 0;
		x->have_cr = false;
		x->region[0] = 0;
	} else if (header_is(p, len, "content-range", &v, &vn) && vn < sizeof(tmp)) {
		memcpy(tmp, v, vn);
		tmp[vn] = 0;
		x->have_cr = sscanf(tmp, "bytes %" SCNu64 "-", &x->cr_start) == 1;
	} else if (header_is(p, len, "x-amz-bucket-region", &v, &vn)) {
		vn = CKPT_MIN(vn, sizeof(x->region) - 1);
		for (size_t i = 0; i < vn; i++)
			x->region[i] = v[i] > ' ' && v[i] < 0x7f ? v[i] : '?';
		x->region[vn] = 0;
	}
	return len;
}

/* n body bytes at p go to byte at of the answer: into buf, or the file */
static bool put(struct ckpt_s3_xfer *x, uint64_t at, const char *p, size_t n)
{
	if (!x->to_fd) {
		memcpy(x->buf + at, p, n);
		return true;
	}
	x->write_rc = ckpt_pwrite_full(x->fd, p, n, x->fd_off + at);
	return x->write_rc == 0;
}

/* a 200 to a range request is the whole object: keep [off, off + len) */
static size_t body_slice(struct ckpt_s3_xfer *x, const char *p, size_t len)
{
	uint64_t a = CKPT_MAX(x->pos, x->off), b = CKPT_MIN(x->pos + len, x->off + x->len);
	curl_off_t cl = -1;

	if (a < b) {
		if (!put(x, a - x->off, p + (a - x->pos), (size_t)(b - a)))
			return 0;
		x->got += b - a;
	}
	x->pos += len;
	if (x->got == x->len) {
		x->complete = true;
		/* stop the transfer unless the body ends here anyway */
		curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (cl < 0 || x->pos < (uint64_t)cl)
			return 0;
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *u)
{
	struct ckpt_s3_xfer *x = u;
	size_t len = size * n;

	atomic_fetch_add_explicit(&x->s->bytes, len, memory_order_relaxed);
	if (x->status < 200 || x->status > 299) {
		if (x->ebody.len < ERR_BODY_MAX)
			ckpt_buf_add(&x->ebody, p, CKPT_MIN(len, ERR_BODY_MAX - x->ebody.len));
		return len;
	}
	if (!x->key) {
		if (x->body->len + len > CKPT_S3_LIST_BODY_MAX) {
			x->too_big = true;
			return 0;
		}
		ckpt_buf_add(x->body, p, len);
		return len;
	}
	if (x->status != 206)
		return body_slice(x, p, len);
	if (!x->checked) {
		x->checked = true;
		if (x->have_cr && x->cr_start != x->off) {
			x->bad_range = true;
			return 0;
		}
	}
	if (len > x->len - x->got) {
		x->overflow = true;
		return 0;
	}
	if (!put(x, x->got, p, len))
		return 0;
	x->got += len;
	return len;
}

/* --------------------------------------------------------------- requests */

/* the path of a request as sent and signed: base, then "/" and the key encoded */
static int request_path(const struct ckpt_s3 *s, const struct ckpt_s3_xfer *x, struct ckpt_buf *b)
{
	ckpt_buf_adds(b, s->base);
	if (x->key) {
		ckpt_buf_addc(b, '/');
		ckpt_s3_uri_encode(b, x->key, true);
	} else if (!s->base[0]) {
		ckpt_buf_addc(b, '/');
	}
	return ckpt_buf_finish(b);
}

static int add_header(struct curl_slist **l, const char *name, const char *value)
{
	char line[1024];
	struct curl_slist *n;
	int k = snprintf(line, sizeof(line), "%s: %s", name, value);

	/* a value is one line: an ETag or a token with CR or LF would add headers */
	if (k < 0 || (size_t)k >= sizeof(line) || strpbrk(value, "\r\n"))
		return -EINVAL;
	n = curl_slist_append(*l, line);
	ckpt_s3_wipe(line, sizeof(line));
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

/* the headers of one attempt, signed when the client has keys */
static int request_headers(struct ckpt_s3 *s, struct ckpt_s3_xfer *x, const char *path)
{
	struct ckpt_s3_key key;
	struct ckpt_s3_kv h[6];
	struct ckpt_buf auth = CKPT_BUF_INIT;
	char range[64], date[17];
	size_t n = 0;
	int rc = 0;

	h[n++] = (struct ckpt_s3_kv){ "host", s->host };
	if (x->key) {
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, x->off, x->off + x->len - 1);
		h[n++] = (struct ckpt_s3_kv){ "range", range };
	}
	if (x->if_match)
		h[n++] = (struct ckpt_s3_kv){ "if-match", x->if_match };
	pthread_mutex_lock(&s->keys_lock); /* keys_reread may replace them */
	key = (struct ckpt_s3_key){ s->region, s->access_key, s->secret_key };
	x->keys_gen = s->keys_gen;
	if (s->sign) {
		ckpt_s3_amz_date(time(NULL), date);
		h[n++] = (struct ckpt_s3_kv){ "x-amz-content-sha256", CKPT_S3_EMPTY_SHA256 };
		h[n++] = (struct ckpt_s3_kv){ "x-amz-date", date };
		if (s->session_token)
			h[n++] = (struct ckpt_s3_kv){ "x-amz-security-token", s->session_token };
		rc = ckpt_s3_sign(&key, "GET", path, x->query ? x->query : "", h, n, CKPT_S3_EMPTY_SHA256, date,
				  &auth);
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = add_header(&x->hdrs, h[i].k, h[i].v);
	pthread_mutex_unlock(&s->keys_lock);
	if (rc == 0 && s->sign)
		rc = add_header(&x->hdrs, "authorization", (const char *)auth.p);
	if (auth.p)
		ckpt_s3_wipe(auth.p, auth.len);
	ckpt_buf_release(&auth);
	return rc;
}

static void attempt_reset(struct ckpt_s3_xfer *x)
{
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	free(x->url);
	x->url = NULL;
	x->status = 0;
	x->got = x->pos = x->cr_start = 0;
	x->have_cr = x->checked = x->complete = x->overflow = x->bad_range = x->too_big = false;
	x->write_rc = 0;
	x->ebody.len = 0;
	x->region[0] = 0;
	x->errbuf[0] = 0;
	if (x->body)
		x->body->len = 0;
}

/* sets up x's attempt on the easy handle e */
static int request_setup(struct ckpt_s3 *s, struct ckpt_s3_xfer *x, CURL *e)
{
	struct ckpt_buf path = CKPT_BUF_INIT, url = CKPT_BUF_INIT;
	int rc;

	attempt_reset(x);
	rc = request_path(s, x, &path);
	if (rc == 0)
		rc = request_headers(s, x, (const char *)path.p);
	if (rc == 0) {
		ckpt_buf_printf(&url, "%s://%s%s%s%s", s->proto, s->host, (const char *)path.p,
				x->query && *x->query ? "?" : "", x->query ? x->query : "");
		rc = ckpt_buf_finish(&url);
	}
	ckpt_buf_release(&path);
	if (rc) {
		ckpt_buf_release(&url);
		return rc;
	}
	x->url = (char *)ckpt_buf_detach(&url, NULL);
	x->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
	return 0;
}

/* ---------------------------------------------------------- classification */

/* CURLcodes worth another attempt: the network, not the request */
static bool curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_AGAIN:
		return true;
	default:
		return false;
	}
}

/* " (Code: Message)" of an S3 error body, or "" */
static void s3_detail(const struct ckpt_s3_xfer *x, struct ckpt_s3_xerr *xe, char *out, size_t m)
{
	out[0] = 0;
	if (!ckpt_s3_xml_error(x->ebody.p, x->ebody.len, xe) || !xe->code[0])
		return;
	snprintf(out, m, " (%s%s%s)", xe->code, xe->message[0] ? ": " : "", xe->message);
}

/* the outcome of an HTTP answer; *retry when another attempt may help */
static int http_outcome(const struct ckpt_s3_xfer *x, char *why, size_t m, bool *retry)
{
	struct ckpt_s3_xerr xe;
	char d[300];
	long st = x->status;

	s3_detail(x, &xe, d, sizeof(d));
	if ((st == 200 && !x->key) || ((st == 200 || st == 206) && x->got == x->len))
		return 0;
	if (st == 200 || st == 206) {
		snprintf(why, m, "short object: %" PRIu64 " of the %" PRIu64 " bytes at offset %" PRIu64, x->got,
			 x->len, x->off);
		return CKPT_ECORRUPT;
	}
	if (st == 404) {
		bool bucket = !x->key || !strcmp(xe.code, "NoSuchBucket");

		snprintf(why, m, "no such %s", bucket ? "bucket" : "object");
		return -ENOENT;
	}
	if (st == 401 || st == 403 || !strcmp(xe.code, "ExpiredToken") || !strcmp(xe.code, "InvalidToken") ||
	    !strcmp(xe.code, "InvalidAccessKeyId")) {
		snprintf(why, m, "access denied: check the credentials%s", d);
		return -EACCES;
	}
	if (st == 412) {
		snprintf(why, m, "the object was replaced since it was listed (ETag no longer %s)", x->if_match);
		return -ESTALE;
	}
	if (st == 416) {
		snprintf(why, m, "the object is shorter than offset %" PRIu64 " (HTTP 416)", x->off);
		return CKPT_ECORRUPT;
	}
	if ((st == 301 || st == 307 || st == 400) && (x->region[0] || xe.region[0])) {
		snprintf(why, m, "the bucket is in region %s: give -o region=%s (HTTP %ld%s)",
			 x->region[0] ? x->region : xe.region, x->region[0] ? x->region : xe.region, st, d);
		return -EIO;
	}
	*retry = st >= 500 || st == 429 || st == 408 || !strcmp(xe.code, "RequestTimeout") ||
		 !strcmp(xe.code, "SlowDown");
	snprintf(why, m, "HTTP %ld%s", st, d);
	return -EIO;
}

/* the outcome of an attempt that ended with res */
static int outcome(struct ckpt_s3_xfer *x, CURLcode res, char *why, size_t m, bool *retry)
{
	*retry = false;
	if (res == CURLE_WRITE_ERROR && x->complete)
		res = CURLE_OK;
	if (x->write_rc < 0) {
		snprintf(why, m, "cannot write the local mirror: %s", ckpt_strerror(x->write_rc));
		return x->write_rc;
	}
	if (x->overflow) {
		snprintf(why, m, "the server sent more than the %" PRIu64 " bytes asked", x->len);
		return CKPT_ECORRUPT;
	}
	if (x->bad_range) {
		snprintf(why, m, "the server sent bytes from %" PRIu64 ", not from %" PRIu64, x->cr_start, x->off);
		return CKPT_ECORRUPT;
	}
	if (x->too_big) {
		snprintf(why, m, "a listing page over %u MiB", CKPT_S3_LIST_BODY_MAX >> 20);
		return CKPT_ECORRUPT;
	}
	if (x->ebody.oom || (x->body && x->body->oom) || res == CURLE_OUT_OF_MEMORY) {
		snprintf(why, m, "out of memory");
		return -ENOMEM;
	}
	if (res != CURLE_OK) {
		*retry = curl_retryable(res);
		snprintf(why, m, "%s%s%s%s", curl_easy_strerror(res), x->errbuf[0] ? " (" : "", x->errbuf,
			 x->errbuf[0] ? ")" : "");
		return -EIO;
	}
	return http_outcome(x, why, m, retry);
}

/* a random delay in [0, min(cap, base * 2^attempt)] ms, as ns (full jitter) */
static int64_t backoff_ns(struct ckpt_s3 *s, unsigned attempt)
{
	uint64_t z = atomic_fetch_add_explicit(&s->seed, 0x9e3779b97f4a7c15ull, memory_order_relaxed);
	uint64_t cap = BACKOFF_BASE_MS << CKPT_MIN(attempt, 16u);

	/* splitmix64 */
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	cap = CKPT_MIN(cap, (uint64_t)BACKOFF_CAP_MS) * 1000000;
	return (int64_t)(z % (cap + 1));
}

static void name_of(const struct ckpt_s3 *s, const struct ckpt_s3_xfer *x, char *out, size_t m)
{
	snprintf(out, m, "%s://%s/%s", s->scheme, s->bucket, x->what ? x->what : "");
}

/*
 * Keys refused (x signed with them): whether newer ones may be accepted.
 * Temporary keys (a session token) expire, and whatever renews them
 * rewrites the credentials file: keys from a profile are read again, at
 * most once a second, and x is tried again if they changed, or changed
 * since x was signed.  Keys from the environment or options cannot change.
 */
#define KEYS_REREAD_NS 1000000000ll
static bool keys_reread(struct ckpt_s3 *s, const struct ckpt_s3_xfer *x)
{
	struct ckpt_err err = { 0, "" };
	char *ak, *sk, *tok;
	bool newer;

	if (!s->profile)
		return false;
	pthread_mutex_lock(&s->keys_lock);
	newer = x->keys_gen != s->keys_gen;
	if (!newer && now_ns() - s->keys_read_ns >= KEYS_REREAD_NS) {
		s->keys_read_ns = now_ns();
		if (ckpt_s3_profile_keys(s->profile, &ak, &sk, &tok, &err) == 0) {
			newer = strcmp(ak, s->access_key) || strcmp(sk, s->secret_key) ||
				(!tok) != (!s->session_token) || (tok && strcmp(tok, s->session_token));
			if (newer && strlen(sk) <= CKPT_S3_MAX_SECRET) {
				free(s->access_key);
				ckpt_s3_secret_free(&s->secret_key);
				ckpt_s3_secret_free(&s->session_token);
				s->access_key = ak;
				s->secret_key = sk;
				s->session_token = tok;
				ak = sk = tok = NULL;
				s->keys_gen++;
				atomic_fetch_add_explicit(&s->key_reloads, 1, memory_order_relaxed);
			} else {
				newer = false;
			}
			free(ak);
			ckpt_s3_secret_free(&sk);
			ckpt_s3_secret_free(&tok);
		}
	}
	pthread_mutex_unlock(&s->keys_lock);
	return newer;
}

/* A request into a file failed: the bytes it wrote there are not kept,
 * and their space goes back (the range is the caller's to fill, and held
 * nothing: ckpt_s3_req.to_fd). */
static void give_back(const struct ckpt_s3_xfer *x)
{
	if (x->to_fd && x->len)
		fallocate(x->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)x->fd_off,
			  (off_t)x->len);
}

/* an attempt ended: x is DONE, or WAITs for its next attempt */
static void finish(struct ckpt_s3 *s, struct ckpt_s3_xfer *x, CURLcode res)
{
	char why[400], name[300];
	bool retry;
	int rc = outcome(x, res, why, sizeof(why), &retry);

	if (rc == -EACCES && keys_reread(s, x))
		retry = true;

	x->easy = NULL;
	if (rc && retry && x->attempt < s->retries) {
		x->due_ns = now_ns() + backoff_ns(s, x->attempt);
		x->attempt++;
		x->state = CKPT_S3_X_WAIT;
		atomic_fetch_add_explicit(&s->retried, 1, memory_order_relaxed);
		return;
	}
	x->state = CKPT_S3_X_DONE;
	x->rc = rc;
	if (!rc)
		return;
	give_back(x);
	atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
	name_of(s, x, name, sizeof(name));
	if (retry)
		ckpt_err_set(x->err, rc, "%s: %s, after %u attempts", name, why, x->attempt + 1);
	else
		ckpt_err_set(x->err, rc, "%s: %s", name, why);
}

static void fail(struct ckpt_s3 *s, struct ckpt_s3_xfer *x, int rc, const char *why)
{
	char name[300];

	name_of(s, x, name, sizeof(name));
	x->state = CKPT_S3_X_DONE;
	x->rc = ckpt_err_set(x->err, rc, "%s: %s", name, why);
	give_back(x);
	atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ engine */

/* starts x's next attempt on w; false when it could not (x is DONE) */
static bool start(struct ckpt_s3 *s, struct worker *w, struct ckpt_s3_xfer *x)
{
	CURL *e = easy_take(s, w);
	int rc = e ? request_setup(s, x, e) : -ENOMEM;

	if (rc == 0 && curl_multi_add_handle(w->multi, e) != CURLM_OK)
		rc = -ENOMEM;
	if (rc) {
		if (e)
			easy_give(w, e);
		fail(s, x, rc,
		     rc == -ENOMEM ? "out of memory" : "a request that cannot be sent (a header too long or in two lines)");
		return false;
	}
	x->state = CKPT_S3_X_ACTIVE;
	return true;
}

/* takes the finished transfers off w; returns how many */
static size_t reap(struct ckpt_s3 *s, struct worker *w, size_t *left, size_t *waiting)
{
	size_t n = 0;
	CURLMsg *m;
	int q;

	while ((m = curl_multi_info_read(w->multi, &q))) {
		struct ckpt_s3_xfer *x = NULL;
		CURL *e = m->easy_handle;
		CURLcode res = m->data.result;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(w->multi, e);
		easy_give(w, e);
		n++;
		finish(s, x, res);
		if (x->state == CKPT_S3_X_DONE)
			(*left)--;
		else
			(*waiting)++;
	}
	return n;
}

void ckpt_s3_run(struct ckpt_s3 *s, struct ckpt_s3_xfer *x, size_t n, unsigned parallel)
{
	struct worker *w = worker_take(s);
	size_t left = 0, next = 0, active = 0, waiting = 0;

	for (size_t i = 0; i < n; i++)
		left += x[i].state != CKPT_S3_X_DONE;
	if (!w) {
		for (size_t i = 0; i < n; i++)
			if (x[i].state != CKPT_S3_X_DONE)
				fail(s, &x[i], -ENOMEM, "out of memory");
		return;
	}
	parallel = CKPT_MAX(1u, CKPT_MIN(parallel, (unsigned)MAX_PARALLEL));
	while (left) {
		int64_t now = now_ns(), wake = now + 1000000000;
		int running;

		/* retries that are due first, then new requests, in order */
		for (size_t i = 0; waiting && active < parallel && i < next; i++) {
			if (x[i].state != CKPT_S3_X_WAIT || x[i].due_ns > now)
				continue;
			waiting--;
			if (start(s, w, &x[i]))
				active++;
			else
				left--;
		}
		for (; active < parallel && next < n; next++) {
			if (x[next].state != CKPT_S3_X_NEW)
				continue;
			if (start(s, w, &x[next]))
				active++;
			else
				left--;
		}
		curl_multi_perform(w->multi, &running);
		active -= reap(s, w, &left, &waiting);
		if (!left)
			break;
		if (active < parallel && next < n)
			continue; /* room for more: no waiting (a multi with nothing added would sleep) */
		/* sleep until a transfer moves or the first retry is due (when it may start) */
		for (size_t i = 0; waiting && active < parallel && i < next; i++)
			if (x[i].state == CKPT_S3_X_WAIT)
				wake = CKPT_MIN(wake, x[i].due_ns);
		now = now_ns();
		if (wake > now)
			curl_multi_poll(w->multi, NULL, 0, (int)((wake - now + 999999) / 1000000), NULL);
	}
	worker_give(s, w);
}

void ckpt_s3_xfer_release(struct ckpt_s3_xfer *x)
{
	curl_slist_free_all(x->hdrs);
	free(x->url);
	ckpt_buf_release(&x->ebody);
	x->hdrs = NULL;
	x->url = NULL;
}
