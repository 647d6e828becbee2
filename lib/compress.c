/* SPDX-License-Identifier: Apache-2.0 */
/* compress.c - zstd/zlib/gzip/bzip2 codecs (tier 1); see compress.h. */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_srcSizeHint, as TensorStore sets it */
#include "compress.h"

#include "buf.h"
#include "util.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <bzlib.h>
#include <zlib.h>
#include <zstd.h>

const char *ckpt_comp_name(enum ckpt_comp c)
{
	switch (c) {
	case CKPT_COMP_NONE: return "none";
	case CKPT_COMP_ZSTD: return "zstd";
	case CKPT_COMP_ZLIB: return "zlib";
	case CKPT_COMP_GZIP: return "gzip";
	case CKPT_COMP_BZ2: return "bz2";
	case CKPT_COMP_BLOSC: return "blosc";
	case CKPT_COMP_CRC32C: return "crc32c";
	}
	return "?";
}

struct ckpt_dstream {
	enum ckpt_comp kind;
	ZSTD_DStream *zs;
	z_stream z;
	bool z_init, z_end;
	bz_stream bz;
	bool bz_init, bz_end;
	bool zs_frame_done; /* zstd: the last call ended a frame */
};

int ckpt_dstream_new(struct ckpt_dstream **out, enum ckpt_comp c)
{
	struct ckpt_dstream *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->kind = c;
	if (c == CKPT_COMP_ZSTD) {
		s->zs = ZSTD_createDStream();
		if (!s->zs) {
			free(s);
			return -ENOMEM;
		}
		/* window up to 2^27: enough for any level TensorStore uses, bounded */
		ZSTD_DCtx_setParameter(s->zs, ZSTD_d_windowLogMax, 27);
	} else if (c == CKPT_COMP_ZLIB || c == CKPT_COMP_GZIP) {
		/* 15+32: accept zlib and gzip headers both */
		if (inflateInit2(&s->z, 15 + 32) != Z_OK) {
			free(s);
			return -ENOMEM;
		}
		s->z_init = true;
	} else if (c == CKPT_COMP_BZ2) {
		if (BZ2_bzDecompressInit(&s->bz, 0, 0) != BZ_OK) {
			free(s);
			return -ENOMEM;
		}
		s->bz_init = true;
	} else if (c != CKPT_COMP_NONE) {
		free(s);
		return -EINVAL; /* not a stream codec */
	}
	*out = s;
	return 0;
}

void ckpt_dstream_free(struct ckpt_dstream *s)
{
	if (!s)
		return;
	if (s->zs)
		ZSTD_freeDStream(s->zs);
	if (s->z_init)
		inflateEnd(&s->z);
	if (s->bz_init)
		BZ2_bzDecompressEnd(&s->bz);
	free(s);
}

static int bz_restart(struct ckpt_dstream *s)
{
	BZ2_bzDecompressEnd(&s->bz);
	memset(&s->bz, 0, sizeof(s->bz));
	s->bz_end = false;
	if (BZ2_bzDecompressInit(&s->bz, 0, 0) != BZ_OK) {
		s->bz_init = false;
		return -ENOMEM;
	}
	return 0;
}

/* one step of bzip2; concatenated streams decode as one (Python's bz2 does) */
static int bz_run(struct ckpt_dstream *s, const uint8_t **in, size_t *in_n, uint8_t *out,
		  size_t out_cap, size_t *produced, bool *done, struct ckpt_err *err)
{
	size_t in_take, out_take;
	int r;

	if (!s->bz_init)
		return -ENOMEM;
	if (s->bz_end) {
		if (*in_n == 0) {
			*done = true;
			return 0;
		}
		if (bz_restart(s) < 0)
			return -ENOMEM;
	}
	in_take = CKPT_MIN(*in_n, (size_t)UINT_MAX);
	out_take = CKPT_MIN(out_cap, (size_t)UINT_MAX);
	s->bz.next_in = (char *)(uintptr_t)*in;
	s->bz.avail_in = (unsigned)in_take;
	s->bz.next_out = (char *)out;
	s->bz.avail_out = (unsigned)out_take;
	r = BZ2_bzDecompress(&s->bz);
	if (r != BZ_OK && r != BZ_STREAM_END)
		return ckpt_err_set(err, CKPT_ECORRUPT, "bz2: bad stream (error %d)", r);
	*produced = out_take - s->bz.avail_out;
	*in += in_take - s->bz.avail_in;
	*in_n -= in_take - s->bz.avail_in;
	if (r == BZ_STREAM_END) {
		s->bz_end = true;
		*done = *in_n == 0;
	}
	return 0;
}

int ckpt_dstream_reset(struct ckpt_dstream *s)
{
	s->z_end = false;
	s->zs_frame_done = false;
	if (s->zs)
		ZSTD_DCtx_reset(s->zs, ZSTD_reset_session_only);
	if (s->z_init && inflateReset(&s->z) != Z_OK)
		return -ENOMEM;
	return s->bz_init ? bz_restart(s) : 0;
}

int ckpt_dstream_run(struct ckpt_dstream *s, const uint8_t **in, size_t *in_n, uint8_t *out,
		     size_t out_cap, size_t *produced, bool *done, struct ckpt_err *err)
{
	*produced = 0;
	*done = false;
	switch (s->kind) {
	case CKPT_COMP_NONE: {
		size_t n = CKPT_MIN(*in_n, out_cap);

		memcpy(out, *in, n);
		*in += n;
		*in_n -= n;
		*produced = n;
		*done = *in_n == 0;
		return 0;
	}
	case CKPT_COMP_ZSTD: {
		ZSTD_inBuffer ib = { *in, *in_n, 0 };
		ZSTD_outBuffer ob = { out, out_cap, 0 };
		size_t r = ZSTD_decompressStream(s->zs, &ob, &ib);

		if (ZSTD_isError(r))
			return ckpt_err_set(err, CKPT_ECORRUPT, "zstd: %s", ZSTD_getErrorName(r));
		*in += ib.pos;
		*in_n -= ib.pos;
		*produced = ob.pos;
		if (r == 0)
			s->zs_frame_done = true;
		else if (ob.pos || ib.pos)
			s->zs_frame_done = false;
		/* end of stream: a frame ended and no more input follows */
		*done = s->zs_frame_done && *in_n == 0;
		return 0;
	}
	case CKPT_COMP_ZLIB:
	case CKPT_COMP_GZIP: {
		int zr;
		size_t in_take, out_take;

		if (s->z_end) {
			/* another gzip member may follow (concatenated gzip) */
			if (*in_n == 0) {
				*done = true;
				return 0;
			}
			if (inflateReset(&s->z) != Z_OK)
				return -ENOMEM;
			s->z_end = false;
		}
		in_take = CKPT_MIN(*in_n, (size_t)UINT_MAX);
		out_take = CKPT_MIN(out_cap, (size_t)UINT_MAX);
		s->z.next_in = (Bytef *)(uintptr_t)*in;
		s->z.avail_in = (uInt)in_take;
		s->z.next_out = out;
		s->z.avail_out = (uInt)out_take;
		zr = inflate(&s->z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
			return ckpt_err_set(err, CKPT_ECORRUPT, "%s: %s", ckpt_comp_name(s->kind),
					    s->z.msg ? s->z.msg : "bad stream");
		*produced = out_take - s->z.avail_out;
		*in += in_take - s->z.avail_in;
		*in_n -= in_take - s->z.avail_in;
		if (zr == Z_BUF_ERROR && *produced == 0 && *in_n == 0)
			return ckpt_err_set(err, CKPT_ECORRUPT, "%s: truncated stream",
					    ckpt_comp_name(s->kind));
		if (zr == Z_STREAM_END) {
			s->z_end = true;
			*done = *in_n == 0;
		}
		return 0;
	}
	case CKPT_COMP_BZ2:
		return bz_run(s, in, in_n, out, out_cap, produced, done, err);
	case CKPT_COMP_BLOSC:
	case CKPT_COMP_CRC32C:
		break;
	}
	return -EINVAL;
}

/* One zstd decoding context per thread, kept between chunks: ZSTD_decompress
 * allocates and sets up a new one for each call, which costs more than
 * decoding a small chunk.  Freed when the thread ends. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static int dctx_ok;

static void dctx_free(void *p)
{
	ZSTD_freeDCtx(p);
}

static void dctx_init(void)
{
	dctx_ok = pthread_key_create(&dctx_key, dctx_free) == 0;
}

/* this thread's context, or NULL (then a one-shot call does the work) */
static ZSTD_DCtx *thread_dctx(void)
{
	ZSTD_DCtx *dc;

	pthread_once(&dctx_once, dctx_init);
	if (!dctx_ok)
		return NULL;
	dc = pthread_getspecific(dctx_key);
	if (!dc) {
		dc = ZSTD_createDCtx();
		if (dc && pthread_setspecific(dctx_key, dc) != 0) {
			ZSTD_freeDCtx(dc);
			dc = NULL;
		}
	}
	return dc;
}

int ckpt_decompress_into(enum ckpt_comp c, const void *src, size_t n, void *dst, size_t dst_n,
			 struct ckpt_err *err)
{
	struct ckpt_dstream *s = NULL;
	const uint8_t *in = src;
	size_t in_n = n, got = 0;
	uint8_t extra;
	int rc;

	if (c == CKPT_COMP_NONE) {
		if (n != dst_n)
			return ckpt_err_set(err, CKPT_ECORRUPT,
					    "raw chunk is %zu bytes, expected %zu", n, dst_n);
		memcpy(dst, src, n);
		return 0;
	}
	if (c == CKPT_COMP_ZSTD) {
		ZSTD_DCtx *dc = thread_dctx();
		size_t r = dc ? ZSTD_decompressDCtx(dc, dst, dst_n, src, n)
			      : ZSTD_decompress(dst, dst_n, src, n);

		if (ZSTD_isError(r))
			return ckpt_err_set(err, CKPT_ECORRUPT, "zstd: %s (expected %zu bytes)",
					    ZSTD_getErrorName(r), dst_n);
		if (r != dst_n)
			return ckpt_err_set(err, CKPT_ECORRUPT,
					    "zstd: decoded %zu bytes, expected %zu", r, dst_n);
		return 0;
	}
	rc = ckpt_dstream_new(&s, c);
	if (rc < 0)
		return rc;
	for (;;) {
		size_t produced, before = in_n;
		bool done, full = got == dst_n;

		/* once dst is full, ask for one more byte: there must be none */
		rc = ckpt_dstream_run(s, &in, &in_n, full ? &extra : (uint8_t *)dst + got,
				      full ? 1 : dst_n - got, &produced, &done, err);
		if (rc < 0)
			break;
		if (full && produced) {
			rc = ckpt_err_set(err, CKPT_ECORRUPT, "%s: decodes to more than %zu bytes",
					  ckpt_comp_name(c), dst_n);
			break;
		}
		got += produced;
		if (done) {
			if (got != dst_n)
				rc = ckpt_err_set(err, CKPT_ECORRUPT,
						  "%s: decoded %zu bytes, expected %zu",
						  ckpt_comp_name(c), got, dst_n);
			break;
		}
		if (!produced && before == in_n) {
			rc = ckpt_err_set(err, CKPT_ECORRUPT,
					  "%s: truncated stream (%zu of %zu bytes)",
					  ckpt_comp_name(c), got, dst_n);
			break;
		}
	}
	ckpt_dstream_free(s);
	return rc;
}

int ckpt_decompress_alloc(enum ckpt_comp c, const void *src, size_t n, size_t max, uint8_t **out,
			  size_t *out_n, struct ckpt_err *err)
{
	struct ckpt_dstream *s = NULL;
	const uint8_t *in = src;
	size_t in_n = n, len = 0, cap = 0;
	uint8_t *buf = NULL;
	int rc;

	*out = NULL;
	*out_n = 0;
	if (max == SIZE_MAX)
		max--;
	if (c == CKPT_COMP_ZSTD) {
		unsigned long long fcs = ZSTD_getFrameContentSize(src, n);

		if (fcs == ZSTD_CONTENTSIZE_ERROR)
			return ckpt_err_set(err, CKPT_ECORRUPT, "zstd: not a zstd frame");
		if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && ckpt_zstd_is_single_frame(src, n)) {
			if (fcs > max)
				return ckpt_err_set(err, -EFBIG,
						    "zstd frame declares %llu bytes, limit is %zu",
						    fcs, max);
			buf = malloc(fcs ? (size_t)fcs : 1);
			if (!buf)
				return -ENOMEM;
			rc = ckpt_decompress_into(c, src, n, buf, (size_t)fcs, err);
			if (rc < 0) {
				free(buf);
				return rc;
			}
			*out = buf;
			*out_n = (size_t)fcs;
			return 0;
		}
	}
	rc = ckpt_dstream_new(&s, c);
	if (rc < 0)
		return rc;
	for (;;) {
		size_t produced, before = in_n;
		bool done;

		if (cap - len < 4096 && cap <= max) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *nb;

			if (ncap > max + 1 || ncap < cap)
				ncap = max + 1;
			nb = realloc(buf, ncap);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap = ncap;
		}
		rc = ckpt_dstream_run(s, &in, &in_n, buf + len, cap - len, &produced, &done, err);
		if (rc < 0)
			break;
		len += produced;
		if (len > max) {
			rc = ckpt_err_set(err, -EFBIG, "%s: decodes to more than %zu bytes",
					  ckpt_comp_name(c), max);
			break;
		}
		if (done)
			break;
		if (!produced && before == in_n) {
			rc = ckpt_err_set(err, CKPT_ECORRUPT, "%s: truncated stream",
					  ckpt_comp_name(c));
			break;
		}
	}
	ckpt_dstream_free(s);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf ? buf : malloc(1);
	if (!*out)
		return -ENOMEM;
	*out_n = len;
	return 0;
}

bool ckpt_zstd_is_single_frame(const void *src, size_t n)
{
	size_t r = ZSTD_findFrameCompressedSize(src, n);

	return !ZSTD_isError(r) && r == n;
}

int ckpt_zstd_compress(int level, const void *src, size_t n, uint8_t **out, size_t *out_n)
{
	size_t cap = ZSTD_compressBound(n), r;
	uint8_t *buf = malloc(cap ? cap : 1);

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	r = ZSTD_compress(buf, cap, src, n, level);
	if (ZSTD_isError(r)) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_n = r;
	return 0;
}

static int buf_sink(void *payload, const void *p, size_t n)
{
	struct ckpt_buf *b = payload;

	ckpt_buf_add(b, p, n);
	return ckpt_buf_finish(b);
}

int ckpt_zstd_compress_hinted(int level, const void *src, size_t n, uint8_t **out, size_t *out_n)
{
	struct ckpt_buf b = CKPT_BUF_INIT;
	struct ckpt_cstream *s;
	int rc;

	*out = NULL;
	rc = ckpt_cstream_new(&s, level, UINT64_MAX, n);
	if (rc < 0)
		return rc;
	ckpt_buf_reserve(&b, ZSTD_compressBound(n));
	rc = ckpt_cstream_run(s, src, n, true, buf_sink, &b);
	ckpt_cstream_free(s);
	if (rc == 0)
		rc = ckpt_buf_finish(&b);
	if (rc < 0) {
		ckpt_buf_release(&b);
		return rc;
	}
	*out = ckpt_buf_detach(&b, out_n);
	return 0;
}

struct ckpt_cstream {
	ZSTD_CCtx *cc;
	uint8_t out[1 << 17];
};

int ckpt_cstream_new(struct ckpt_cstream **out, int level, uint64_t pledged, uint64_t size_hint)
{
	struct ckpt_cstream *s = malloc(sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->cc = ZSTD_createCCtx();
	if (!s->cc) {
		free(s);
		return -ENOMEM;
	}
	ZSTD_CCtx_setParameter(s->cc, ZSTD_c_compressionLevel, level);
	if (pledged != UINT64_MAX)
		ZSTD_CCtx_setPledgedSrcSize(s->cc, pledged);
	else if (size_hint && size_hint <= INT_MAX)
		ZSTD_CCtx_setParameter(s->cc, ZSTD_c_srcSizeHint, (int)size_hint);
	*out = s;
	return 0;
}

void ckpt_cstream_free(struct ckpt_cstream *s)
{
	if (!s)
		return;
	ZSTD_freeCCtx(s->cc);
	free(s);
}

int ckpt_cstream_run(struct ckpt_cstream *s, const void *p, size_t n, bool end,
		     int (*sink)(void *payload, const void *p, size_t n), void *payload)
{
	ZSTD_inBuffer ib = { p, n, 0 };
	size_t r;
	int rc;

	/* TensorStore passes data with e_continue and finishes with an empty e_end */
	do {
		ZSTD_outBuffer ob = { s->out, sizeof(s->out), 0 };

		r = ZSTD_compressStream2(s->cc, &ob, &ib, ZSTD_e_continue);
		if (ZSTD_isError(r))
			return -EIO;
		if (ob.pos && (rc = sink(payload, s->out, ob.pos)) < 0)
			return rc;
	} while (ib.pos < ib.size);
	if (!end)
		return 0;
	do {
		ZSTD_inBuffer empty = { NULL, 0, 0 };
		ZSTD_outBuffer ob = { s->out, sizeof(s->out), 0 };

		r = ZSTD_compressStream2(s->cc, &ob, &empty, ZSTD_e_end);
		if (ZSTD_isError(r))
			return -EIO;
		if (ob.pos && (rc = sink(payload, s->out, ob.pos)) < 0)
			return rc;
	} while (r != 0);
	return 0;
}

int ckpt_zlib_compress(bool gzip, int level, const void *src, size_t n, uint8_t **out, size_t *out_n)
{
	z_stream z;
	uint8_t *buf;
	uLong cap;
	int zr;

	*out = NULL;
	memset(&z, 0, sizeof(z));
	if (n > UINT_MAX)
		return -EFBIG;
	if (deflateInit2(&z, level, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	cap = deflateBound(&z, (uLong)n) + 32;
	buf = malloc(cap);
	if (!buf) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)src;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	zr = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (zr != Z_STREAM_END) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_n = cap - z.avail_out;
	return 0;
}

int ckpt_bz2_compress(int level, const void *src, size_t n, uint8_t **out, size_t *out_n)
{
	unsigned cap, len;
	uint8_t *buf;
	int r;

	*out = NULL;
	/* bzip2's bound: 1% plus 600 bytes */
	if (n > (size_t)UINT_MAX / 2)
		return -EFBIG;
	if (level < 1 || level > 9)
		level = 9;
	cap = (unsigned)(n + n / 100 + 600);
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	len = cap;
	r = BZ2_bzBuffToBuffCompress((char *)buf, &len, (char *)(uintptr_t)src, (unsigned)n, level,
				     0, 0);
	if (r != BZ_OK) {
		free(buf);
		return r == BZ_MEM_ERROR ? -ENOMEM : -EIO;
	}
	*out = buf;
	*out_n = len;
	return 0;
}
