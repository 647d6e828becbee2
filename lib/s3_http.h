/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3_http.h - between s3.c (the API: open, list, get) and s3_http.c (the
 * requests through libcurl): the client's state and one transfer.
 */
#ifndef CKPT_S3_HTTP_H
#define CKPT_S3_HTTP_H

#include "s3_int.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>

#define CKPT_S3_LIST_BODY_MAX (64u << 20)

struct ckpt_s3 {
	char *bucket, *scheme; /* scheme: "s3" or "gs", for messages */
	char *proto, *host;    /* "http" or "https"; the Host requests go to */
	char *base;	       /* the encoded path before a key: "[/PATH][/BUCKET]", or "" */
	char *region, *access_key, *secret_key, *session_token;
	char *profile;		  /* the keys' profile, read again when refused, or NULL */
	pthread_mutex_t keys_lock; /* the keys, keys_gen, keys_read_ns */
	uint64_t keys_gen;	  /* changes when the keys do */
	int64_t keys_read_ns;	  /* when the profile was last read again */
	bool sign;
	unsigned retries;
	long timeout_ms;
	CURLSH *share; /* DNS and TLS sessions */
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
	pthread_mutex_t lock; /* idle, n_idle */
	struct worker *idle;  /* workers between calls (s3_http.c) */
	unsigned n_idle;
	atomic_uint_least64_t requests, retried, bytes, errors, lists, seed, key_reloads;
};

enum ckpt_s3_xstate { CKPT_S3_X_NEW, CKPT_S3_X_WAIT, CKPT_S3_X_ACTIVE, CKPT_S3_X_DONE };

/* One request, and the state of its current attempt.  The caller zeroes it
 * and fills the first group; DONE at the start means "nothing to do". */
struct ckpt_s3_xfer {
	struct ckpt_s3 *s;
	/* a GET of [off, off + len) of key into buf, or (key NULL) a list page
	 * with query into body */
	const char *key, *query, *if_match;
	const char *what; /* the key or prefix, for messages */
	uint64_t off, len;
	uint8_t *buf;
	bool to_fd; /* the bytes go to fd at fd_off, not to buf */
	int fd;
	uint64_t fd_off;
	struct ckpt_buf *body;
	struct ckpt_err *err;
	enum ckpt_s3_xstate state;
	int rc; /* the outcome, once DONE */
	/* the engine's */
	unsigned attempt;
	uint64_t keys_gen; /* the keys this attempt was signed with */
	int64_t due_ns;
	CURL *easy;
	struct curl_slist *hdrs;
	char *url;
	long status;
	uint64_t got, pos, cr_start; /* bytes into buf; bytes of a 200 body seen; Content-Range's start */
	bool have_cr, checked, complete, overflow, bad_range, too_big;
	int write_rc; /* to_fd: the write that failed */
	struct ckpt_buf ebody; /* an error's body, cut at 64 KiB */
	char region[64];       /* x-amz-bucket-region */
	char errbuf[CURL_ERROR_SIZE];
};

/* curl_global_init (once per process), the share handle and the locks of s */
int ckpt_s3_http_init(struct ckpt_s3 *s, struct ckpt_err *err);
/* the workers and the share handle; nothing may be in flight */
void ckpt_s3_http_fini(struct ckpt_s3 *s);
/* Runs the n transfers to their end, at most parallel at once: each ends
 * DONE with rc and, on failure, a message in its err.  Thread-safe. */
void ckpt_s3_run(struct ckpt_s3 *s, struct ckpt_s3_xfer *x, size_t n, unsigned parallel);
/* frees what the transfer's attempts left (headers, URL, error body) */
void ckpt_s3_xfer_release(struct ckpt_s3_xfer *x);

#endif
