/* SPDX-License-Identifier: Apache-2.0 */
/* pyformat.h - Python's text formats that Orbax files hold (tier 1). */
#ifndef CKPT_PYFORMAT_H
#define CKPT_PYFORMAT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* a key of a pytree path */
struct ckpt_key {
	const char *s;
	size_t n;
	uint8_t type; /* 1 sequence, 2 dict (and attribute) */
};

/* Python's repr of a tuple of strings, as Orbax writes _METADATA keys. */
char *ckpt_py_tuple_repr(const struct ckpt_key *path, size_t depth);
/* json.dumps(obj) as Python writes it (", ", ": ", ensure_ascii). new. */
char *ckpt_py_json_dumps(const json_t *j);

#endif
