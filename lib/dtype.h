/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dtype.h - array element types as zarr v2 / zarr v3 / numpy name them (tier 1).
 *
 * Leaf files always hold little-endian elements of the dtype's item size;
 * sub-byte types (int4, int2, float4_e2m1fn) take one byte per element, as
 * TensorStore stores them.
 */
#ifndef CKPT_DTYPE_H
#define CKPT_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ckpt_dkind {
	CKPT_DK_BOOL,
	CKPT_DK_INT,
	CKPT_DK_UINT,
	CKPT_DK_FLOAT,   /* IEEE binary16/32/64 */
	CKPT_DK_BFLOAT16,
	CKPT_DK_FLOAT8,  /* and float4: minifloats, see exp/man/bias */
	CKPT_DK_COMPLEX,
	CKPT_DK_RAW,     /* r<bits>, |V<n>, |S<n>: opaque bytes */
};

struct ckpt_dtype {
	const char *name;  /* numpy / TensorStore name: "float32", "bfloat16", "int4", ... */
	enum ckpt_dkind kind;
	uint32_t itemsize; /* bytes per element in chunks and in leaf files */
	uint32_t swap;     /* byte-swap unit (itemsize, itemsize/2 for complex, 1 = none) */
	bool big_endian;   /* as stored in chunks */
	/* minifloat layout (CKPT_DK_FLOAT8) */
	uint8_t exp_bits, man_bits;
	int bias;
	bool finite_only;  /* fn: no infinities */
	bool nan_neg_zero; /* fnuz: 0x80 is NaN, no negative zero */
	char raw_name[32]; /* storage for names of raw types */
};

/* Parses a zarr v2 dtype string ("<f4", "|b1", "bfloat16", ...). -ENOTSUP if unknown. */
int ckpt_dtype_from_v2(struct ckpt_dtype *dt, const char *s);
/* Parses a zarr v3 data_type name ("float32", "r16", ...). */
int ckpt_dtype_from_v3(struct ckpt_dtype *dt, const char *s);
/* By numpy name ("float32", "int4", ...), little-endian */
int ckpt_dtype_from_name(struct ckpt_dtype *dt, const char *s);
/* The zarr v2 dtype string a writer emits ("<f4", "bfloat16", ...) */
const char *ckpt_dtype_v2_string(const struct ckpt_dtype *dt, char buf[32]);

/* Byte-swaps n elements in place when the stored order is big-endian. */
void ckpt_dtype_to_le(const struct ckpt_dtype *dt, void *p, size_t n_elems);

/*
 * Encodes a fill value given as a double (or NaN/inf) into itemsize bytes.
 * For complex types re/im are both given.  @return 0, or -ERANGE
 */
int ckpt_dtype_encode_number(const struct ckpt_dtype *dt, double re, double im, bool is_int,
			     int64_t ival, uint64_t uval, uint8_t *out);
/* Decodes one element at p to a double (for display of scalars). */
double ckpt_dtype_to_double(const struct ckpt_dtype *dt, const uint8_t *p);

#endif
