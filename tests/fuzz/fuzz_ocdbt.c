/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_ocdbt.c - OCDBT's parsers: the envelope (magic, length, CRC-32C,
 * compression) and the manifest, version-tree node and B+tree node bodies.
 * The first byte picks the parser; bodies are also parsed without an
 * envelope, so that the fuzzer need not forge CRCs to reach them.
 */
#include "ocdbt_fmt.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	static const uint32_t magic[3] = { CKPT_OCDBT_MAGIC_MANIFEST, CKPT_OCDBT_MAGIC_VERSION,
					   CKPT_OCDBT_MAGIC_BTREE };
	struct ckpt_err err = { 0, "" };
	uint8_t *body = NULL;
	size_t bn = 0;
	unsigned kind;

	if (n < 1)
		return 0;
	kind = p[0] % 6;
	p++, n--;
	if (kind < 3) {
		if (ckpt_ocdbt_unwrap(p, n, magic[kind], (size_t)1 << 24, &body, &bn, &err) < 0)
			return 0;
	} else {
		kind -= 3;
		body = malloc(n ? n : 1);
		if (!body)
			return 0;
		memcpy(body, p, n);
		bn = n;
	}
	if (kind == 0) {
		struct ckpt_ocdbt_manifest m;

		if (ckpt_ocdbt_manifest_parse(&m, body, bn, &err) == 0)
			ckpt_ocdbt_manifest_release(&m);
		free(body);
	} else if (kind == 1) {
		struct ckpt_ocdbt_vnode v;

		if (ckpt_ocdbt_vnode_parse(&v, body, bn, "d/", 2, &err) == 0)
			ckpt_ocdbt_vnode_release(&v);
		free(body);
	} else {
		struct ckpt_ocdbt_node nd;
		struct ckpt_bytes prefix = { (const uint8_t *)"", 0 };

		/* takes the body, frees it on failure too */
		if (ckpt_ocdbt_node_parse(&nd, body, bn, prefix, "d/", 2, &err) == 0)
			ckpt_ocdbt_node_release(&nd);
	}
	return 0;
}
