/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zarr_codec.c - codec chains (tier 1).  Decoding applies the
 * bytes-to-bytes codecs last to first, then the array-to-bytes codec (bytes
 * with byte order, or sharding_indexed), then undoes the transposes.
 */
#include "zarr_codec.h"

#include "codec.h"
#include "crc32c.h"
#include "ndcopy.h"
#include "rd.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static uint64_t elems(uint32_t rank, const uint64_t *shape)
{
	uint64_t n = 1;

	for (uint32_t i = 0; i < rank; i++)
		n *= shape[i];
	return n;
}

/* shapes after each transpose: s[0] = shape, s[t+1][k] = s[t][perm_t[k]] */
static void transposed_shapes(const struct ckpt_chain *ch, uint32_t rank, const uint64_t *shape,
			      uint64_t s[5][CKPT_MAX_RANK])
{
	memcpy(s[0], shape, rank * sizeof(uint64_t));
	for (uint32_t t = 0; t < ch->n_transpose; t++)
		for (uint32_t k = 0; k < rank; k++)
			s[t + 1][k] = s[t][ch->perm[t][k]];
}

uint64_t ckpt_shard_index_size(const struct ckpt_shard *s, uint32_t rank, const uint64_t *shape)
{
	uint64_t n = 1;

	for (uint32_t i = 0; i < rank; i++)
		if (ckpt_mul_overflow(n, shape[i] / s->inner[i], &n))
			return UINT64_MAX;
	if (ckpt_mul_overflow(n, 16, &n) || n > UINT64_MAX - 4)
		return UINT64_MAX;
	return n + (s->index_crc32c ? 4 : 0);
}

int ckpt_shard_index_check(const struct ckpt_shard *s, const uint8_t *idx, uint64_t ib,
			   uint64_t shard_len, struct ckpt_err *err)
{
	uint64_t body = ib - (s->index_crc32c ? 4 : 0), off, len, end;
	struct ckpt_rd r;

	if (ib > shard_len || ib < (s->index_crc32c ? 4u : 0u) || body % 16 || ib > SIZE_MAX)
		return ckpt_err_set(err, CKPT_ECORRUPT,
				    "shard of %llu bytes is smaller than its %llu-byte index",
				    (unsigned long long)shard_len, (unsigned long long)ib);
	r = ckpt_rd_init(idx, (size_t)body);
	if (s->index_crc32c && ckpt_crc32c(0, idx, (size_t)body) != ckpt_load_le32(idx + body))
		return ckpt_err_set(err, CKPT_ECORRUPT, "shard index checksum mismatch");
	for (uint64_t j = 0; r.left; j++) {
		if (ckpt_rd_u64le(&r, &off) < 0 || ckpt_rd_u64le(&r, &len) < 0)
			return ckpt_err_set(err, CKPT_ECORRUPT, "shard index truncated");
		if (off == UINT64_MAX && len == UINT64_MAX)
			continue;
		if (ckpt_add_overflow(off, len, &end) || end > shard_len)
			return ckpt_err_set(err, CKPT_ECORRUPT,
					    "shard index entry %llu (%llu+%llu) outside the %llu-byte shard",
					    (unsigned long long)j, (unsigned long long)off,
					    (unsigned long long)len, (unsigned long long)shard_len);
	}
	return 0;
}

bool ckpt_shard_index_at(const uint8_t *idx, uint64_t j, uint64_t *off, uint64_t *len)
{
	*off = ckpt_load_le64(idx + j * 16);
	*len = ckpt_load_le64(idx + j * 16 + 8);
	return !(*off == UINT64_MAX && *len == UINT64_MAX);
}

static int shard_decode(const struct ckpt_shard *s, const struct ckpt_dtype *dt, uint32_t rank,
			const uint64_t *shape, const uint8_t *fill, const uint8_t *in, size_t in_n,
			uint8_t *out, const struct ckpt_limits *lim, struct ckpt_err *err)
{
	uint64_t grid[CKPT_MAX_RANK], ctr[CKPT_MAX_RANK] = { 0 }, origin[CKPT_MAX_RANK],
		 zero[CKPT_MAX_RANK] = { 0 }, n_inner = 1, ib, inner_bytes;
	const uint8_t *idx;
	uint8_t *tmp = NULL;
	int rc = 0;

	for (uint32_t i = 0; i < rank; i++) {
		grid[i] = shape[i] / s->inner[i];
		n_inner *= grid[i];
	}
	ib = ckpt_shard_index_size(s, rank, shape);
	if (ib > in_n)
		return ckpt_err_set(err, CKPT_ECORRUPT, "shard of %zu bytes is smaller than its index",
				    in_n);
	idx = s->index_at_start ? in : in + in_n - ib;
	rc = ckpt_shard_index_check(s, idx, ib, in_n, err);
	if (rc < 0)
		return rc;
	inner_bytes = elems(rank, s->inner) * dt->itemsize;
	tmp = malloc(inner_bytes ? (size_t)inner_bytes : 1);
	if (!tmp)
		return -ENOMEM;
	for (uint64_t j = 0; j < n_inner; j++) {
		uint64_t off, len;

		if (!ckpt_shard_index_at(idx, j, &off, &len)) {
			ckpt_fill_elems(tmp, elems(rank, s->inner), fill, dt->itemsize);
		} else {
			/* inside the shard: ckpt_shard_index_check */
			rc = ckpt_chain_decode(&s->codecs, dt, rank, s->inner, fill, in + off,
					       (size_t)len, tmp, lim, err);
			if (rc < 0) {
				ckpt_err_prefix(err, "inner chunk %llu: ", (unsigned long long)j);
				break;
			}
		}
		for (uint32_t i = 0; i < rank; i++)
			origin[i] = ctr[i] * s->inner[i];
		ckpt_nd_copy(out, shape, origin, tmp, s->inner, zero, s->inner, rank, dt->itemsize);
		for (int i = (int)rank - 1; i >= 0; i--) {
			if (++ctr[i] < grid[i])
				break;
			ctr[i] = 0;
		}
	}
	free(tmp);
	return rc;
}

/*
 * About 125 lines in one function: the three stages (bytes-to-bytes, the
 * array-to-bytes codec, the transposes) hand buffers to each other, and
 * which buffer is owned, borrowed or the caller's output is tracked in one
 * place with one cleanup path.
 */
int ckpt_chain_decode(const struct ckpt_chain *ch, const struct ckpt_dtype *dt, uint32_t rank,
		      const uint64_t *shape, const uint8_t *fill, const uint8_t *in, size_t in_n,
		      uint8_t *out, const struct ckpt_limits *lim, struct ckpt_err *err)
{
	uint64_t s[5][CKPT_MAX_RANK];
	uint64_t nbytes = elems(rank, shape) * dt->itemsize;
	const uint8_t *cur = in;
	size_t cur_n = in_n;
	uint8_t *owned = NULL, *arr = NULL, *tmp = NULL;
	bool cur_in_out = false;
	int rc = 0;

	transposed_shapes(ch, rank, shape, s);

	/* bytes-to-bytes, last codec first */
	for (uint32_t i = ch->n_b2b; i-- > 0;) {
		enum ckpt_comp b = ch->b2b[i].id;
		const char *bname = ckpt_codec_name(b);

		if (b == CKPT_COMP_CRC32C) {
			if (cur_n < 4) {
				rc = ckpt_err_set(err, CKPT_ECORRUPT, "crc32c: object too short");
				goto out;
			}
			if (ckpt_crc32c(0, cur, cur_n - 4) != ckpt_load_le32(cur + cur_n - 4)) {
				rc = ckpt_err_set(err, CKPT_ECORRUPT, "crc32c checksum mismatch");
				goto out;
			}
			cur_n -= 4;
			continue;
		}
		{
			/* size after this decoder: the a2b output plus earlier crc32c trailers */
			uint64_t expect = nbytes;
			uint8_t *dec = NULL;
			size_t dec_n;

			for (uint32_t k = 0; k < i; k++)
				if (ch->b2b[k].id == CKPT_COMP_CRC32C)
					expect += 4;
			if (ch->shard) {
				rc = ckpt_codec_decode_alloc(b, cur, cur_n, lim->max_chunk_bytes,
							   &dec, &dec_n, err);
			} else if (i == 0 && !ch->n_transpose && !cur_in_out) {
				/* the common case: decompress straight into the output */
				rc = ckpt_codec_decode_into(b, cur, cur_n, out, (size_t)expect, err);
				if (rc == 0) {
					cur = out;
					cur_n = (size_t)expect;
					cur_in_out = true;
					free(owned);
					owned = NULL;
					continue;
				}
			} else {
				dec = malloc(expect ? (size_t)expect : 1);
				rc = dec ? ckpt_codec_decode_into(b, cur, cur_n, dec,
								(size_t)expect, err)
					 : -ENOMEM;
				dec_n = (size_t)expect;
			}
			if (rc < 0) {
				free(dec);
				if (strncmp(err->msg, bname, strlen(bname)))
					ckpt_err_prefix(err, "%s: ", bname);
				goto out;
			}
			free(owned);
			owned = dec;
			cur = dec;
			cur_n = dec_n;
		}
	}

	/* array-to-bytes: into arr, which has the last transposed shape */
	arr = ch->n_transpose ? malloc(nbytes ? (size_t)nbytes : 1) : out;
	if (!arr) {
		rc = -ENOMEM;
		goto out;
	}
	if (ch->shard) {
		rc = shard_decode(ch->shard, dt, rank, s[ch->n_transpose], fill, cur, cur_n, arr, lim,
				  err);
		if (rc < 0)
			goto out;
	} else {
		if (cur_n != nbytes) {
			rc = ckpt_err_set(err, CKPT_ECORRUPT, "chunk holds %zu bytes, expected %llu",
					  cur_n, (unsigned long long)nbytes);
			goto out;
		}
		if (cur != arr)
			memcpy(arr, cur, cur_n);
		if (ch->big_endian) {
			struct ckpt_dtype be = *dt;

			be.big_endian = true;
			ckpt_dtype_to_le(&be, arr, (size_t)elems(rank, shape));
		}
	}

	/* undo the transposes, last first */
	if (ch->n_transpose) {
		uint8_t *src = arr;

		for (uint32_t t = ch->n_transpose; t-- > 0;) {
			uint8_t *dst = t == 0 ? out : malloc(nbytes ? (size_t)nbytes : 1);

			if (!dst) {
				rc = -ENOMEM;
				goto out;
			}
			ckpt_nd_untranspose(dst, src, s[t], ch->perm[t], rank, dt->itemsize);
			if (src != arr)
				free(src);
			src = dst;
		}
	}
out:
	if (arr && arr != out)
		free(arr);
	free(tmp);
	free(owned);
	return rc;
}

bool ckpt_chain_streamable(const struct ckpt_chain *ch, const struct ckpt_dtype *dt, uint32_t rank,
			   const uint64_t *shape, enum ckpt_comp *comp)
{
	if (ch->n_transpose && rank > 1)
		return false;
	if (ch->big_endian && dt->swap > 1)
		return false;
	if (ch->shard) {
		for (uint32_t i = 0; i < rank; i++)
			if (ch->shard->inner[i] != shape[i])
				return false;
		if (ch->n_b2b)
			return false;
		if (ch->shard->codecs.shard)
			return false;
		return ckpt_chain_streamable(&ch->shard->codecs, dt, rank, shape, comp);
	}
	if (ch->n_b2b > 1 || (ch->n_b2b == 1 && !ckpt_codec_streams(ch->b2b[0].id)))
		return false;
	*comp = ch->n_b2b ? ch->b2b[0].id : CKPT_COMP_NONE;
	return true;
}
