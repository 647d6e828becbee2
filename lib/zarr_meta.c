/* SPDX-License-Identifier: Apache-2.0 */
/* zarr_meta.c - .zarray / zarr.json parsing (tier 1); see zarr_meta.h. */
#include "zarr_meta.h"

#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD(...) ckpt_err_set(err, CKPT_ECORRUPT, __VA_ARGS__)
#define UNSUP(...) ckpt_err_set(err, -ENOTSUP, __VA_ARGS__)

static int get_u64(const json_t *v, uint64_t *out)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d >= 0 && d < 18446744073709551616.0 && floor(d) == d) {
			*out = (uint64_t)d;
			return 0;
		}
	}
	return -1;
}

static int int_list(const json_t *a, const char *what, uint64_t *out, uint32_t *n, bool positive,
		    struct ckpt_err *err)
{
	size_t len;

	if (!json_is_array(a))
		return BAD("'%s' must be a list of integers", what);
	len = json_array_size(a);
	if (len > CKPT_MAX_RANK)
		return ckpt_err_set(err, -ENOTSUP, "'%s' has rank %zu, more than %d", what, len,
				    CKPT_MAX_RANK);
	for (size_t i = 0; i < len; i++) {
		if (get_u64(json_array_get(a, i), &out[i]) < 0 || (positive && out[i] == 0))
			return BAD("'%s' must be a list of %s integers", what,
				   positive ? "positive" : "non-negative");
	}
	*n = (uint32_t)len;
	return 0;
}

static const char *str_or(const json_t *v, const char *dflt)
{
	return json_is_string(v) ? json_string_value(v) : dflt;
}

/* ---------------------------------------------------------------- fill values */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

static int special_float(const char *s, double *out)
{
	if (!strcmp(s, "NaN"))
		*out = NAN;
	else if (!strcmp(s, "Infinity"))
		*out = INFINITY;
	else if (!strcmp(s, "-Infinity"))
		*out = -INFINITY;
	else
		return -1;
	return 0;
}

static int fill_number(struct ckpt_zarr_meta *m, const json_t *v, double *re_out)
{
	const struct ckpt_dtype *dt = &m->dtype;
	double re = 0;

	if (json_is_boolean(v))
		return ckpt_dtype_encode_number(dt, 0, 0, true, json_is_true(v), json_is_true(v),
						m->fill);
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		return ckpt_dtype_encode_number(dt, (double)i, 0, true, i, (uint64_t)i, m->fill);
	}
	if (json_is_real(v))
		re = json_real_value(v);
	else if (!json_is_string(v) || special_float(json_string_value(v), &re) < 0)
		return -1;
	if (re_out)
		*re_out = re;
	return ckpt_dtype_encode_number(dt, re, 0, false, 0, 0, m->fill);
}

static int parse_fill(struct ckpt_zarr_meta *m, const json_t *v, struct ckpt_err *err)
{
	const struct ckpt_dtype *dt = &m->dtype;

	memset(m->fill, 0, sizeof(m->fill));
	m->fill_null = false;
	if (!v || json_is_null(v)) {
		m->fill_null = true;
		return 0;
	}
	if (dt->kind == CKPT_DK_COMPLEX) {
		double re = 0, im = 0;

		if (!json_is_array(v) || json_array_size(v) != 2)
			return BAD("complex fill_value must be [re, im]");
		for (int k = 0; k < 2; k++) {
			const json_t *p = json_array_get(v, (size_t)k);
			double d;

			if (json_is_number(p))
				d = json_number_value(p);
			else if (!json_is_string(p) || special_float(json_string_value(p), &d) < 0)
				return BAD("complex fill_value must hold numbers");
			if (k)
				im = d;
			else
				re = d;
		}
		return ckpt_dtype_encode_number(dt, re, im, false, 0, 0, m->fill) < 0
			       ? BAD("fill_value does not fit %s", dt->name)
			       : 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = strlen(s);

		if (len > 2 && s[0] == '0' && s[1] == 'x' && m->format == 3) {
			/* v3: raw bits in hex, big-endian digits */
			uint64_t bits = 0;

			if (len - 2 > 2 * dt->itemsize || dt->itemsize > 8)
				return BAD("fill_value '%s' does not fit %s", s, dt->name);
			for (size_t i = 2; i < len; i++) {
				int h = hexval(s[i]);

				if (h < 0)
					return BAD("fill_value '%s' is not hex", s);
				bits = bits << 4 | (uint64_t)h;
			}
			for (uint32_t i = 0; i < dt->itemsize; i++)
				m->fill[i] = (uint8_t)(bits >> (8 * i));
			return 0;
		}
		if (dt->kind != CKPT_DK_RAW && fill_number(m, v, NULL) == 0)
			return 0;
		/* v2: base64 of the raw element bytes */
		{
			uint32_t acc = 0, bits = 0, outn = 0;

			for (size_t i = 0; i < len && s[i] != '='; i++) {
				int b = b64val(s[i]);

				if (b < 0)
					return BAD("fill_value '%s' is neither a number nor base64", s);
				acc = acc << 6 | (uint32_t)b;
				bits += 6;
				if (bits >= 8) {
					bits -= 8;
					if (outn >= sizeof(m->fill) || outn >= dt->itemsize)
						return BAD("fill_value '%s' longer than one element", s);
					m->fill[outn++] = (uint8_t)(acc >> bits);
				}
			}
			ckpt_dtype_to_le(dt, m->fill, 1);
			return 0;
		}
	}
	if (dt->kind == CKPT_DK_RAW) {
		/* v3 raw types: a list of byte values */
		if (json_is_array(v) && json_array_size(v) == dt->itemsize && dt->itemsize <= 16) {
			for (size_t i = 0; i < dt->itemsize; i++) {
				uint64_t b;

				if (get_u64(json_array_get(v, i), &b) < 0 || b > 255)
					return BAD("raw fill_value must hold bytes");
				m->fill[i] = (uint8_t)b;
			}
			return 0;
		}
		return BAD("fill_value unsupported for %s", dt->name);
	}
	if (fill_number(m, v, NULL) < 0)
		return BAD("fill_value does not fit %s", dt->name);
	return 0;
}

/* ---------------------------------------------------------------- sizes */

static int sizes(struct ckpt_zarr_meta *m, struct ckpt_err *err)
{
	uint64_t n = m->dtype.itemsize, c = m->dtype.itemsize, chunks = 1;

	for (uint32_t i = 0; i < m->rank; i++) {
		if (ckpt_mul_overflow(n, m->shape[i], &n) || ckpt_mul_overflow(c, m->chunk[i], &c))
			return ckpt_err_set(err, -EFBIG, "array size overflows 64 bits");
		m->grid[i] = m->shape[i] ? (m->shape[i] + m->chunk[i] - 1) / m->chunk[i] : 0;
		if (ckpt_mul_overflow(chunks, m->grid[i], &chunks))
			return ckpt_err_set(err, -EFBIG, "chunk count overflows 64 bits");
	}
	if (n > INT64_MAX)
		return ckpt_err_set(err, -EFBIG, "array of %llu bytes is too large",
				    (unsigned long long)n);
	m->nbytes = n;
	m->chunk_nbytes = c;
	m->n_chunks = chunks;
	return 0;
}

/* ---------------------------------------------------------------- v2 */

static int v2_compressor(struct ckpt_chain *ch, const json_t *c, const struct ckpt_dtype *dt,
			 struct ckpt_err *err)
{
	int rc;

	if (!c || json_is_null(c))
		return 0;
	rc = ckpt_codec_from_v2(c, dt, &ch->b2b[0], err);
	if (rc == 0)
		ch->n_b2b = 1;
	return rc;
}

static int parse_v2(struct ckpt_zarr_meta *m, const json_t *j, struct ckpt_err *err)
{
	const json_t *dt = json_object_get(j, "dtype"), *order = json_object_get(j, "order");
	const json_t *filters = json_object_get(j, "filters");
	const char *sep = str_or(json_object_get(j, "dimension_separator"), ".");
	uint32_t crank;
	int rc;

	m->format = 2;
	if ((rc = int_list(json_object_get(j, "shape"), "shape", m->shape, &m->rank, false, err)) < 0)
		return rc;
	if ((rc = int_list(json_object_get(j, "chunks"), "chunks", m->chunk, &crank, true, err)) < 0)
		return rc;
	if (crank != m->rank)
		return BAD("'chunks' has rank %u, 'shape' rank %u", crank, m->rank);
	if (!json_is_string(dt)) {
		if (json_is_array(dt))
			return UNSUP("structured dtypes are not supported");
		return BAD("'dtype' must be a string");
	}
	if (ckpt_dtype_from_v2(&m->dtype, json_string_value(dt)) < 0)
		return UNSUP("dtype '%s' is not supported", json_string_value(dt));
	if (strcmp(sep, ".") && strcmp(sep, "/"))
		return BAD("dimension_separator '%s' must be '.' or '/'", sep);
	m->sep = sep[0];
	m->key_c_prefix = false;
	if (filters && !json_is_null(filters) &&
	    !(json_is_array(filters) && json_array_size(filters) == 0)) {
		const json_t *f0 = json_array_get(filters, 0);

		return UNSUP("filter '%s' is not supported",
			     str_or(json_object_get(f0, "id"), "?"));
	}
	if ((rc = v2_compressor(&m->chain, json_object_get(j, "compressor"), &m->dtype, err)) < 0)
		return rc;
	m->chain.big_endian = m->dtype.big_endian;
	if (json_is_string(order) && !strcmp(json_string_value(order), "F") && m->rank > 1) {
		m->chain.n_transpose = 1;
		for (uint32_t i = 0; i < m->rank; i++)
			m->chain.perm[0][i] = m->rank - 1 - i;
	} else if (order && !(json_is_string(order) && (!strcmp(json_string_value(order), "C") ||
							  !strcmp(json_string_value(order), "F")))) {
		return BAD("'order' must be \"C\" or \"F\"");
	}
	if ((rc = sizes(m, err)) < 0)
		return rc;
	return parse_fill(m, json_object_get(j, "fill_value"), err);
}

/* ---------------------------------------------------------------- v3 */

static int parse_chain(struct ckpt_zarr_meta *m, struct ckpt_chain *ch, const json_t *codecs,
		       uint32_t rank, int depth, struct ckpt_err *err);

static int parse_shard(struct ckpt_zarr_meta *m, struct ckpt_chain *ch, const json_t *cfg,
		       uint32_t rank, int depth, struct ckpt_err *err)
{
	struct ckpt_shard *s;
	const json_t *idx = json_object_get(cfg, "index_codecs");
	const char *loc = str_or(json_object_get(cfg, "index_location"), "end");
	uint32_t irank;
	int rc;

	if (depth >= CKPT_MAX_SHARD_NESTING)
		return UNSUP("sharding nested more than %d deep", CKPT_MAX_SHARD_NESTING);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ch->shard = s;
	if ((rc = int_list(json_object_get(cfg, "chunk_shape"), "sharding_indexed chunk_shape",
			   s->inner, &irank, true, err)) < 0)
		return rc;
	if (irank != rank)
		return BAD("sharding_indexed chunk_shape has rank %u, array rank %u", irank, rank);
	if (!strcmp(loc, "start"))
		s->index_at_start = true;
	else if (strcmp(loc, "end"))
		return BAD("index_location '%s' must be 'start' or 'end'", loc);
	/* index codecs: bytes (little) optionally followed by crc32c */
	if (!json_is_array(idx) || json_array_size(idx) < 1 || json_array_size(idx) > 2)
		return UNSUP("sharding index codecs other than [bytes, crc32c] are not supported");
	for (size_t i = 0; i < json_array_size(idx); i++) {
		const json_t *c = json_array_get(idx, i);
		const char *name = str_or(json_object_get(c, "name"), "?");
		const char *endian = str_or(
			json_object_get(json_object_get(c, "configuration"), "endian"), "little");

		if (i == 0 && !strcmp(name, "bytes") && !strcmp(endian, "little"))
			continue;
		if (i == 1 && !strcmp(name, "crc32c")) {
			s->index_crc32c = true;
			continue;
		}
		return UNSUP("sharding index codec '%s' is not supported", name);
	}
	return parse_chain(m, &s->codecs, json_object_get(cfg, "codecs"), rank, depth + 1, err);
}

static int parse_chain(struct ckpt_zarr_meta *m, struct ckpt_chain *ch, const json_t *codecs,
		       uint32_t rank, int depth, struct ckpt_err *err)
{
	bool have_a2b = false;
	int rc;

	if (!json_is_array(codecs) || json_array_size(codecs) == 0)
		return BAD("'codecs' must be a non-empty list");
	for (size_t i = 0; i < json_array_size(codecs); i++) {
		const json_t *c = json_array_get(codecs, i), *cfg;
		const char *name;

		if (json_is_string(c)) {
			name = json_string_value(c);
			cfg = NULL;
		} else {
			name = str_or(json_object_get(c, "name"), NULL);
			cfg = json_object_get(c, "configuration");
		}
		if (!name)
			return BAD("codec without a name");
		if (!strcmp(name, "transpose")) {
			const json_t *order = json_object_get(cfg, "order");
			uint64_t perm[CKPT_MAX_RANK];
			uint32_t n = 0, seen = 0;

			if (have_a2b)
				return BAD("transpose after the array-to-bytes codec");
			if (ch->n_transpose >= 4)
				return UNSUP("more than 4 transpose codecs");
			if (json_is_string(order)) { /* early drafts: "C" / "F" */
				for (uint32_t k = 0; k < rank; k++)
					perm[k] = !strcmp(json_string_value(order), "F") ? rank - 1 - k
											    : k;
				n = rank;
			} else if ((rc = int_list(order, "transpose order", perm, &n, false, err)) < 0) {
				return rc;
			}
			if (n != rank)
				return BAD("transpose order has %u entries, rank is %u", n, rank);
			for (uint32_t k = 0; k < rank; k++) {
				if (perm[k] >= rank || (seen & (1u << perm[k])))
					return BAD("transpose order is not a permutation");
				seen |= 1u << perm[k];
				ch->perm[ch->n_transpose][k] = (uint32_t)perm[k];
			}
			ch->n_transpose++;
		} else if (!strcmp(name, "bytes") || !strcmp(name, "endian")) {
			const char *endian = str_or(json_object_get(cfg, "endian"), "little");

			if (have_a2b)
				return BAD("more than one array-to-bytes codec");
			have_a2b = true;
			if (!strcmp(endian, "big"))
				ch->big_endian = m->dtype.swap > 1;
			else if (strcmp(endian, "little"))
				return BAD("bytes endian '%s' must be 'little' or 'big'", endian);
		} else if (!strcmp(name, "sharding_indexed")) {
			if (have_a2b)
				return BAD("more than one array-to-bytes codec");
			have_a2b = true;
			if ((rc = parse_shard(m, ch, cfg, rank, depth, err)) < 0)
				return rc;
		} else {
			struct ckpt_codec_cfg cc;

			rc = ckpt_codec_from_v3(name, cfg, &m->dtype, &cc, err);
			if (rc == -ENOENT)
				return UNSUP("codec '%s' is not supported", name);
			if (rc < 0)
				return rc;
			if (!have_a2b)
				return BAD("codec '%s' before the array-to-bytes codec", name);
			if (ch->n_b2b >= CKPT_MAX_CODECS)
				return UNSUP("more than %d bytes-to-bytes codecs", CKPT_MAX_CODECS);
			ch->b2b[ch->n_b2b++] = cc;
		}
	}
	if (!have_a2b)
		return BAD("codec list has no array-to-bytes codec (bytes or sharding_indexed)");
	return 0;
}

static int parse_v3(struct ckpt_zarr_meta *m, const json_t *j, const struct ckpt_limits *lim,
		    struct ckpt_err *err)
{
	const json_t *grid = json_object_get(j, "chunk_grid"), *enc = json_object_get(j, "chunk_key_encoding");
	const json_t *dt = json_object_get(j, "data_type"), *st = json_object_get(j, "storage_transformers");
	const char *node_type = str_or(json_object_get(j, "node_type"), "array");
	uint32_t crank;
	int rc;

	(void)lim;
	m->format = 3;
	if (strcmp(node_type, "array"))
		return BAD("node_type '%s' is not an array", node_type);
	if ((rc = int_list(json_object_get(j, "shape"), "shape", m->shape, &m->rank, false, err)) < 0)
		return rc;
	if (!json_is_string(dt))
		return UNSUP("data_type must be a string (extension types are not supported)");
	if (ckpt_dtype_from_v3(&m->dtype, json_string_value(dt)) < 0)
		return UNSUP("data_type '%s' is not supported", json_string_value(dt));
	if (strcmp(str_or(json_object_get(grid, "name"), "?"), "regular"))
		return UNSUP("chunk_grid '%s' is not supported",
			     str_or(json_object_get(grid, "name"), "?"));
	if ((rc = int_list(json_object_get(json_object_get(grid, "configuration"), "chunk_shape"),
			   "chunk_shape", m->chunk, &crank, true, err)) < 0)
		return rc;
	if (crank != m->rank)
		return BAD("chunk_shape has rank %u, shape rank %u", crank, m->rank);
	if (st && !(json_is_array(st) && json_array_size(st) == 0))
		return UNSUP("storage_transformers are not supported");
	{
		const char *name = enc ? str_or(json_object_get(enc, "name"), "?") : "default";
		const char *sep = str_or(json_object_get(json_object_get(enc, "configuration"),
							  "separator"),
					 !strcmp(name, "v2") ? "." : "/");

		if (!strcmp(name, "default"))
			m->key_c_prefix = true;
		else if (strcmp(name, "v2"))
			return UNSUP("chunk_key_encoding '%s' is not supported", name);
		if (strcmp(sep, ".") && strcmp(sep, "/"))
			return BAD("chunk key separator '%s' must be '.' or '/'", sep);
		m->sep = sep[0];
	}
	if ((rc = parse_chain(m, &m->chain, json_object_get(j, "codecs"), m->rank, 0, err)) < 0)
		return rc;
	if ((rc = sizes(m, err)) < 0)
		return rc;
	if (m->chain.shard) {
		for (uint32_t i = 0; i < m->rank; i++)
			if (m->chunk[i] % m->chain.shard->inner[i])
				return BAD("shard shape is not a multiple of the inner chunk shape");
	}
	if (!json_object_get(j, "fill_value"))
		return BAD("zarr.json has no fill_value");
	return parse_fill(m, json_object_get(j, "fill_value"), err);
}

int ckpt_zarr_meta_parse(struct ckpt_zarr_meta *m, const void *json, size_t n,
			 const struct ckpt_limits *lim, struct ckpt_err *err)
{
	json_error_t jerr;
	json_t *j;
	int rc;

	memset(m, 0, sizeof(*m));
	if (n > lim->max_json_bytes)
		return ckpt_err_set(err, -EFBIG, "metadata of %zu bytes exceeds the limit", n);
	j = json_loadb(json, n, 0, &jerr);
	if (!j)
		return BAD("invalid JSON: %s (line %d)", jerr.text, jerr.line);
	if (!json_is_object(j)) {
		rc = BAD("metadata is not a JSON object");
	} else {
		json_int_t fmt = json_integer_value(json_object_get(j, "zarr_format"));

		if (fmt == 2)
			rc = parse_v2(m, j, err);
		else if (fmt == 3)
			rc = parse_v3(m, j, lim, err);
		else
			rc = UNSUP("zarr_format %lld is not supported", (long long)fmt);
	}
	json_decref(j);
	if (rc < 0)
		ckpt_zarr_meta_release(m);
	return rc;
}

static void chain_release(struct ckpt_chain *c)
{
	if (c->shard) {
		chain_release(&c->shard->codecs);
		free(c->shard);
		c->shard = NULL;
	}
}

void ckpt_zarr_meta_release(struct ckpt_zarr_meta *m)
{
	chain_release(&m->chain);
}

size_t ckpt_zarr_chunk_key(const struct ckpt_zarr_meta *m, const uint64_t *idx, char *buf,
			   size_t cap)
{
	/* v3 default: "c/1/2" ("c" for rank 0); v2 and v3 "v2": "1.2" ("0" for rank 0) */
	char tmp[CKPT_MAX_RANK * 22 + 4];
	size_t len = 0;

	if (m->key_c_prefix)
		tmp[len++] = 'c';
	else if (m->rank == 0)
		tmp[len++] = '0';
	for (uint32_t i = 0; i < m->rank; i++) {
		if (i || m->key_c_prefix)
			tmp[len++] = m->sep;
		len += (size_t)snprintf(tmp + len, sizeof(tmp) - len, "%llu",
					(unsigned long long)idx[i]);
	}
	if (cap == 0)
		return 0;
	if (len >= cap)
		len = cap - 1;
	memcpy(buf, tmp, len);
	buf[len] = 0;
	return len;
}
