/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_fmt_int.h - what ocdbt_fmt.c shares with ocdbt_node.c (tier 1,
 * private to those two): the data file table reader, location checks, and
 * the error macros of their parsers.
 */
#ifndef CKPT_OCDBT_FMT_INT_H
#define CKPT_OCDBT_FMT_INT_H

#include "ocdbt_fmt.h"
#include "rd.h"

#define CORRUPT(err, ...) ckpt_err_set(err, CKPT_ECORRUPT, __VA_ARGS__)
#define TRY(x)                         \
	do {                           \
		if ((rc = (x)) < 0)    \
			goto out;      \
	} while (0)
/* a reader failure: bytes ran out or a value was out of range */
#define RD(x, what)                                                   \
	do {                                                          \
		if ((x) < 0) {                                        \
			rc = CORRUPT(err, "truncated or invalid %s", what); \
			goto out;                                     \
		}                                                     \
	} while (0)

/* The data file table of a manifest or node (transitive: the referring path). */
int ckpt_ocdbt_table_parse(struct ckpt_rd *r, struct ckpt_ocdbt_table *t, const char *transitive,
			   size_t tlen, struct ckpt_err *err);
void ckpt_ocdbt_table_release(struct ckpt_ocdbt_table *t);
/* A data file index / a location inside the table, no overflow. */
int ckpt_ocdbt_check_file(uint64_t id, const struct ckpt_ocdbt_table *t, struct ckpt_err *err);
int ckpt_ocdbt_check_loc(struct ckpt_ocdbt_loc *l, const struct ckpt_ocdbt_table *t,
			 struct ckpt_err *err);

#endif
