/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jscan.h - walking a large JSON document without building it (tier 0).
 *
 * _METADATA, _sharding and array_metadatas of a checkpoint with 100,000
 * leaves are tens of MiB; jansson would build them as hundreds of MiB of
 * objects.  jscan finds the members of an object and the elements of an
 * array as byte ranges, so each value can be parsed (or skipped) alone.
 * It checks only what it needs to find the end of a value: balanced
 * brackets outside strings, string escapes; nesting is counted, not
 * recursed, and bounded.  The values it returns are parsed by jansson,
 * which checks them fully.
 */
#ifndef CKPT_JSCAN_H
#define CKPT_JSCAN_H

#include "rd.h"

#include <stdbool.h>
#include <stddef.h>

struct ckpt_jscan {
	struct ckpt_rd r; /* the bounds-checked reader over the document */
	bool started;     /* a member was returned: the next needs a comma */
};

/* Starts a walk of the object or array at s[0, n): 0, or CKPT_ECORRUPT. */
int ckpt_jscan_open(struct ckpt_jscan *j, const char *s, size_t n, char open);
/*
 * The next member (object: key is the raw "..." including quotes) or
 * element (array: key NULL): 1 and the value's bytes, 0 at the end,
 * CKPT_ECORRUPT when the bytes are not JSON.
 */
int ckpt_jscan_next(struct ckpt_jscan *j, const char **key, size_t *key_n, const char **val,
		    size_t *val_n);

#endif
