/* SPDX-License-Identifier: Apache-2.0 */
/* codec.c - the zarr codec table, blosc and bz2 glue (tier 1); see codec.h. */
#include "codec.h"

#include "util.h"

#include <blosc.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD(...) ckpt_err_set(err, CKPT_ECORRUPT, __VA_ARGS__)
#define UNSUP(...) ckpt_err_set(err, -ENOTSUP, __VA_ARGS__)

/* ---------------------------------------------------------------- configuration readers */

static int int_field(const json_t *cfg, const char *key, int dflt, int lo, int hi, int *out,
		     const char *codec, struct ckpt_err *err)
{
	const json_t *v = json_object_get(cfg, key);

	if (!v || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return BAD("%s '%s' must be an integer from %d to %d", codec, key, lo, hi);
	*out = (int)json_integer_value(v);
	return 0;
}

/* zstd, zlib, gzip, bz2: an optional integer "level" (anything else: the default, as before) */
static int parse_level(const json_t *cfg, int format, const struct ckpt_dtype *dt,
		       struct ckpt_codec_cfg *c, struct ckpt_err *err)
{
	const json_t *v = json_object_get(cfg, "level");

	(void)dt;
	(void)err;
	c->level = c->id == CKPT_COMP_ZSTD && format == 3 ? 0 : 1;
	if (c->id != CKPT_COMP_CRC32C && json_is_integer(v) && json_integer_value(v) >= INT_MIN &&
	    json_integer_value(v) <= INT_MAX)
		c->level = (int)json_integer_value(v);
	return 0;
}

static int parse_blosc(const json_t *cfg, int format, const struct ckpt_dtype *dt,
		       struct ckpt_codec_cfg *c, struct ckpt_err *err)
{
	const json_t *cn = json_object_get(cfg, "cname"), *sh = json_object_get(cfg, "shuffle");
	const char *cname = json_is_string(cn) ? json_string_value(cn) : "lz4";
	int ts = 0, bs = 0, rc;

	if (cn && !json_is_string(cn))
		return BAD("blosc 'cname' must be a string");
	if (strlen(cname) >= sizeof(c->cname) || blosc_compname_to_compcode(cname) < 0)
		return UNSUP("blosc compressor '%s' is not supported by this libblosc (it has: %s)",
			     cname, blosc_list_compressors());
	strcpy(c->cname, cname);
	if ((rc = int_field(cfg, "clevel", 5, 0, 9, &c->level, "blosc", err)) < 0)
		return rc;
	if ((rc = int_field(cfg, "blocksize", 0, 0, INT_MAX, &bs, "blosc", err)) < 0)
		return rc;
	c->blocksize = (uint32_t)bs;
	if (format == 3) {
		const char *s = json_is_string(sh) ? json_string_value(sh) : NULL;

		if (!s || !strcmp(s, "noshuffle"))
			c->shuffle = BLOSC_NOSHUFFLE;
		else if (!strcmp(s, "shuffle"))
			c->shuffle = BLOSC_SHUFFLE;
		else if (!strcmp(s, "bitshuffle"))
			c->shuffle = BLOSC_BITSHUFFLE;
		else
			return BAD("blosc 'shuffle' must be noshuffle, shuffle or bitshuffle");
		if ((rc = int_field(cfg, "typesize", (int)dt->itemsize, 1, INT_MAX, &ts, "blosc",
				    err)) < 0)
			return rc;
		c->typesize = (uint32_t)ts;
	} else {
		/* numcodecs: 0 no, 1 byte, 2 bit shuffle, -1 auto (bit for one-byte items) */
		if ((rc = int_field(cfg, "shuffle", 1, -1, 2, &c->shuffle, "blosc", err)) < 0)
			return rc;
		if (c->shuffle == -1)
			c->shuffle = dt->itemsize == 1 ? BLOSC_BITSHUFFLE : BLOSC_SHUFFLE;
		c->typesize = dt->itemsize;
	}
	return 0;
}

/* ---------------------------------------------------------------- blosc */

int ckpt_blosc_check(const uint8_t *src, size_t n, size_t want, size_t max, size_t *nbytes,
		     struct ckpt_err *err)
{
	uint32_t nb, bs, cb;
	uint8_t flags;

	if (n < BLOSC_MIN_HEADER_LENGTH)
		return BAD("blosc: frame of %zu bytes is shorter than its 16-byte header", n);
	flags = src[2];
	nb = ckpt_load_le32(src + 4);
	bs = ckpt_load_le32(src + 8);
	cb = ckpt_load_le32(src + 12);
	if (src[0] == 0 || src[0] > BLOSC_VERSION_FORMAT)
		return BAD("blosc: unknown frame version %u", src[0]);
	if (cb != n)
		return BAD("blosc: header says %u compressed bytes, the object has %zu", cb, n);
	if (nb > BLOSC_MAX_BUFFERSIZE)
		return BAD("blosc: header declares %u decoded bytes, more than blosc allows", nb);
	if (want != SIZE_MAX && nb != want)
		return BAD("blosc: frame decodes to %u bytes, expected %zu", nb, want);
	if (nb > max)
		return ckpt_err_set(err, -EFBIG, "blosc: frame declares %u bytes, limit is %zu", nb,
				    max);
	*nbytes = nb;
	if (nb == 0)
		return 0;
	if (flags & BLOSC_MEMCPYED) {
		if ((uint64_t)nb + BLOSC_MAX_OVERHEAD != cb)
			return BAD("blosc: stored frame of %u bytes for %u decoded bytes", cb, nb);
		return 0;
	}
	if (bs == 0 || bs > nb)
		return BAD("blosc: block size %u for %u decoded bytes", bs, nb);
	{
		uint64_t nblocks = nb / bs + (nb % bs ? 1 : 0);
		uint64_t first = BLOSC_MIN_HEADER_LENGTH + 4 * nblocks;

		if (first > cb)
			return BAD("blosc: %llu block starts do not fit the %u-byte frame",
				   (unsigned long long)nblocks, cb);
		for (uint64_t k = 0; k < nblocks; k++) {
			uint32_t st = ckpt_load_le32(src + BLOSC_MIN_HEADER_LENGTH + 4 * k);

			if (st < first || st >= cb)
				return BAD("blosc: block %llu starts at %u, outside the %u-byte frame",
					   (unsigned long long)k, st, cb);
		}
	}
	return 0;
}

static int blosc_decode(const void *src, size_t n, void *dst, size_t dst_n, struct ckpt_err *err)
{
	size_t nb;
	int rc = ckpt_blosc_check(src, n, dst_n, dst_n, &nb, err), r;

	if (rc < 0)
		return rc;
	if (nb == 0)
		return 0;
	/* the _ctx variant: no global state, safe from the daemon's threads */
	r = blosc_decompress_ctx(src, dst, dst_n, 1);
	if (r < 0 || (size_t)r != nb)
		return BAD("blosc: corrupt frame, or its compressor is not in this libblosc (%d)", r);
	return 0;
}

static int blosc_encode(const struct ckpt_codec_cfg *c, const void *src, size_t n, uint8_t **out,
			size_t *out_n)
{
	size_t cap = n + BLOSC_MAX_OVERHEAD;
	uint8_t *buf;
	int r;

	*out = NULL;
	if (n > BLOSC_MAX_BUFFERSIZE)
		return -EFBIG;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	r = blosc_compress_ctx(c->level, c->shuffle, c->typesize ? c->typesize : 1, n, src, buf,
			       cap, c->cname, c->blocksize, 1);
	if (r <= 0) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_n = (size_t)r;
	return 0;
}

/* ---------------------------------------------------------------- the others */

static int stream_decode(enum ckpt_comp id, const void *src, size_t n, void *dst, size_t dst_n,
			 struct ckpt_err *err)
{
	return ckpt_decompress_into(id, src, n, dst, dst_n, err);
}

static int zstd_encode(const struct ckpt_codec_cfg *c, const void *src, size_t n, uint8_t **out,
		       size_t *out_n)
{
	return ckpt_zstd_compress(c->level, src, n, out, out_n);
}

static int zlib_encode(const struct ckpt_codec_cfg *c, const void *src, size_t n, uint8_t **out,
		       size_t *out_n)
{
	return ckpt_zlib_compress(c->id == CKPT_COMP_GZIP, c->level, src, n, out, out_n);
}

static int bz2_encode(const struct ckpt_codec_cfg *c, const void *src, size_t n, uint8_t **out,
		      size_t *out_n)
{
	return ckpt_bz2_compress(c->level, src, n, out, out_n);
}

/* ---------------------------------------------------------------- the table */

struct codec_def {
	enum ckpt_comp id;
	const char *v2_id;   /* numcodecs compressor id (NULL: none) */
	const char *v3_name; /* zarr v3 codec name (NULL: none) */
	const char *v3_alt;  /* another v3 spelling (zarr-python 3's numcodecs.*) */
	bool streams;        /* ckpt_dstream decodes it piece by piece */
	int (*parse)(const json_t *cfg, int format, const struct ckpt_dtype *dt,
		     struct ckpt_codec_cfg *c, struct ckpt_err *err);
	/* NULL: ckpt_decompress_into (the stream codecs) */
	int (*decode)(const void *src, size_t n, void *dst, size_t dst_n, struct ckpt_err *err);
	int (*encode)(const struct ckpt_codec_cfg *c, const void *src, size_t n, uint8_t **out,
		      size_t *out_n);
};

static const struct codec_def codecs[] = {
	{ CKPT_COMP_ZSTD, "zstd", "zstd", "numcodecs.zstd", true, parse_level, NULL, zstd_encode },
	{ CKPT_COMP_ZLIB, "zlib", NULL, "numcodecs.zlib", true, parse_level, NULL, zlib_encode },
	{ CKPT_COMP_GZIP, "gzip", "gzip", "numcodecs.gzip", true, parse_level, NULL, zlib_encode },
	{ CKPT_COMP_BZ2, "bz2", NULL, "numcodecs.bz2", true, parse_level, NULL, bz2_encode },
	{ CKPT_COMP_BLOSC, "blosc", "blosc", "numcodecs.blosc", false, parse_blosc, blosc_decode,
	  blosc_encode },
	{ CKPT_COMP_CRC32C, NULL, "crc32c", NULL, false, parse_level, NULL, NULL },
};

static const struct codec_def *by_id(enum ckpt_comp id)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (codecs[i].id == id)
			return &codecs[i];
	return NULL;
}

static void supported_v2(char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = 0;
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (codecs[i].v2_id && len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "%s, ", codecs[i].v2_id);
	if (len < cap)
		snprintf(buf + len, cap - len, "null");
}

const char *ckpt_codec_name(enum ckpt_comp id)
{
	return ckpt_comp_name(id);
}

int ckpt_codec_from_v2(const json_t *comp, const struct ckpt_dtype *dt, struct ckpt_codec_cfg *c,
		       struct ckpt_err *err)
{
	const char *id;
	char list[128];

	memset(c, 0, sizeof(*c));
	if (!json_is_object(comp) || !json_is_string(json_object_get(comp, "id")))
		return BAD("'compressor' must be null or an object with an 'id'");
	id = json_string_value(json_object_get(comp, "id"));
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
		if (codecs[i].v2_id && !strcmp(codecs[i].v2_id, id)) {
			c->id = codecs[i].id;
			return codecs[i].parse(comp, 2, dt, c, err);
		}
	}
	supported_v2(list, sizeof(list));
	return UNSUP("compressor '%s' is not supported (supported: %s)", id, list);
}

int ckpt_codec_from_v3(const char *name, const json_t *cfg, const struct ckpt_dtype *dt,
		       struct ckpt_codec_cfg *c, struct ckpt_err *err)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
		const struct codec_def *d = &codecs[i];

		if ((d->v3_name && !strcmp(d->v3_name, name)) ||
		    (d->v3_alt && !strcmp(d->v3_alt, name))) {
			c->id = d->id;
			if (cfg && !json_is_object(cfg))
				return BAD("codec '%s': configuration must be an object", name);
			return d->parse(cfg, 3, dt, c, err);
		}
	}
	return -ENOENT;
}

bool ckpt_codec_streams(enum ckpt_comp id)
{
	const struct codec_def *d = by_id(id);

	return id == CKPT_COMP_NONE || (d && d->streams);
}

bool ckpt_codec_encodes(enum ckpt_comp id)
{
	const struct codec_def *d = by_id(id);

	return d && d->encode;
}

int ckpt_codec_decode_into(enum ckpt_comp id, const void *src, size_t n, void *dst, size_t dst_n,
			   struct ckpt_err *err)
{
	const struct codec_def *d = by_id(id);

	if (id != CKPT_COMP_NONE && (!d || (!d->decode && !d->streams)))
		return ckpt_err_set(err, -EINVAL, "%s cannot decode data", ckpt_codec_name(id));
	if (d && d->decode)
		return d->decode(src, n, dst, dst_n, err);
	return stream_decode(id, src, n, dst, dst_n, err);
}

int ckpt_codec_decode_alloc(enum ckpt_comp id, const void *src, size_t n, size_t max,
			    uint8_t **out, size_t *out_n, struct ckpt_err *err)
{
	size_t nb;
	uint8_t *buf;
	int rc;

	*out = NULL;
	*out_n = 0;
	if (id != CKPT_COMP_BLOSC)
		return ckpt_decompress_alloc(id, src, n, max, out, out_n, err);
	rc = ckpt_blosc_check(src, n, SIZE_MAX, max, &nb, err);
	if (rc < 0)
		return rc;
	buf = malloc(nb ? nb : 1);
	if (!buf)
		return -ENOMEM;
	rc = blosc_decode(src, n, buf, nb, err);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*out_n = nb;
	return 0;
}

int ckpt_codec_encode(const struct ckpt_codec_cfg *c, const void *src, size_t n, uint8_t **out,
		      size_t *out_n)
{
	const struct codec_def *d = by_id(c->id);

	*out = NULL;
	if (!d || !d->encode)
		return -ENOTSUP;
	return d->encode(c, src, n, out, out_n);
}
