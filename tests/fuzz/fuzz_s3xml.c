/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_s3xml.c - the S3 XML scanner: a ListBucketResult page (twice, as two
 * pages of one listing) and an Error body.  What parses is checked: every
 * key and prefix a string, every ETag within its array. */
#include "s3_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_s3_page pg = { 0 };
	struct ckpt_s3_xerr xe;

	for (int page = 0; page < 2 && ckpt_s3_xml_list(p, n, &pg, &err) == 0; page++) {
		if (pg.n_objs > n || pg.n_prefixes > n || (pg.next_token && strlen(pg.next_token) > n))
			abort();
		for (size_t i = 0; i < pg.n_objs; i++)
			if (!pg.objs[i].key || strlen(pg.objs[i].key) > n || !memchr(pg.objs[i].etag, 0, 80))
				abort();
		for (size_t i = 0; i < pg.n_prefixes; i++)
			if (!pg.prefixes[i] || strlen(pg.prefixes[i]) > n)
				abort();
	}
	ckpt_s3_page_free(&pg);
	if (ckpt_s3_xml_error(p, n, &xe) &&
	    (!memchr(xe.code, 0, sizeof(xe.code)) || !memchr(xe.message, 0, sizeof(xe.message))))
		abort();
	return 0;
}
