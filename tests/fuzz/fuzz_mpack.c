/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_mpack.c - the msgpack tokenizer (mpack.c) on the input bytes
 * directly, no files: every header decoded in turn, then the input checked
 * as one value.  Properties (abort when broken): a token never consumes
 * more than CKPT_MP_MAX_HEAD bytes or bytes it does not have; a failed call
 * does not move the reader; a value that checks out needs every one of its
 * bytes (the same value cut by one byte fails).  Also the Flax content
 * sniff of tree scans (treescan.c): an input it takes whole is one valid
 * value; as the start of a longer file it never reads past the input.
 */
#include "layout.h"
#include "mpack.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct ckpt_rd r = ckpt_rd_init(p, n), before;
	struct ckpt_mp_tok t;
	const char *why;
	int rc;

	/* a stream of tokens, data skipped */
	for (;;) {
		before = r;
		rc = ckpt_mp_head(&r, &t, &why);
		if (rc < 0) {
			if (r.p != before.p || r.left != before.left || !why)
				abort();
			break;
		}
		if (before.left - r.left > CKPT_MP_MAX_HEAD || r.left > before.left)
			abort();
		if ((t.t == CKPT_MP_STR || t.t == CKPT_MP_BIN || t.t == CKPT_MP_EXT) &&
		    (t.len > r.left || ckpt_rd_skip(&r, (size_t)t.len) < 0))
			break;
	}
	/* the Flax sniff: whole, and as the start of a longer file */
	if (ckpt_layout_flax_sniff(p, n, n)) {
		r = ckpt_rd_init(p, n);
		if (ckpt_mp_skip(&r, 64, &why) < 0 || r.left != 0)
			abort();
	}
	(void)ckpt_layout_flax_sniff(p, n, (uint64_t)n + 4096);
	/* the whole input as values, one after another */
	r = ckpt_rd_init(p, n);
	while (r.left) {
		size_t used;

		before = r;
		rc = ckpt_mp_skip(&r, 64, &why);
		if (rc < 0) {
			if (r.p != before.p || r.left != before.left)
				abort();
			break;
		}
		used = before.left - r.left;
		if (used == 0)
			abort();
		{
			struct ckpt_rd cut = ckpt_rd_init(before.p, used - 1);

			if (ckpt_mp_skip(&cut, 64, &why) == 0 && cut.left == 0 && used > 1)
				abort(); /* the value without its last byte still parsed whole */
		}
	}
	return 0;
}
