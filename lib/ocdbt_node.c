/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_node.c - OCDBT B+tree node decoding (tier 1): leaf and interior
 * nodes with their prefix-compressed keys; declared in ocdbt_fmt.h.  Every
 * read goes through rd.h; every count is checked against the bytes left.
 * Format: shared/docs/FORMAT-ocdbt-zarr.md sections 7-8.
 */
#include "ocdbt_fmt.h"

#include "ocdbt_fmt_int.h"
#include "rd.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- b+tree nodes */

/* Rebuilds the full keys of n entries from prefix/suffix columns. */
static int keys_build(struct ckpt_ocdbt_node *nd, struct ckpt_rd *r, const uint32_t *pre,
		      const uint32_t *suf, struct ckpt_bytes prefix, struct ckpt_bytes *keys,
		      size_t body_n, struct ckpt_err *err)
{
	uint64_t total = 0, limit;
	size_t prev_len = 0, pos = 0;
	int rc = 0;

	for (size_t i = 0; i < nd->n; i++) {
		if (pre[i] > prev_len)
			return CORRUPT(err, "b+tree key %zu: prefix %u longer than previous key", i,
				       pre[i]);
		prev_len = (size_t)pre[i] + suf[i];
		total += prefix.n + prev_len;
	}
	/* prefix compression can expand: bound what a small node may allocate */
	limit = CKPT_MAX((uint64_t)64 << 20, (uint64_t)body_n * 32);
	if (total > limit)
		return ckpt_err_set(err, -EFBIG, "b+tree node keys expand to %llu bytes",
				    (unsigned long long)total);
	nd->keys = malloc(total ? (size_t)total : 1);
	if (!nd->keys)
		return -ENOMEM;
	nd->keys_n = (size_t)total;
	for (size_t i = 0; i < nd->n; i++) {
		struct ckpt_bytes s;
		uint8_t *k = nd->keys + pos;

		RD(ckpt_rd_bytes(r, suf[i], &s), "b+tree keys");
		memcpy(k, prefix.p, prefix.n);
		if (pre[i])
			memcpy(k + prefix.n, keys[i - 1].p + prefix.n, pre[i]);
		memcpy(k + prefix.n + pre[i], s.p, s.n);
		keys[i].p = k;
		keys[i].n = prefix.n + pre[i] + suf[i];
		pos += keys[i].n;
		if (i && ckpt_bytes_cmp(keys[i - 1], keys[i]) >= 0) {
			rc = CORRUPT(err, "b+tree keys not strictly increasing at entry %zu", i);
			goto out;
		}
	}
out:
	return rc;
}

/*
 * One function (about 150 lines) because the node format is column-wise:
 * the key columns, then per-entry columns for leaves or for interior
 * references, all read in order by one reader with one cleanup path.
 */
int ckpt_ocdbt_node_parse(struct ckpt_ocdbt_node *nd, uint8_t *body, size_t n,
			  struct ckpt_bytes prefix, const char *transitive, size_t tlen,
			  struct ckpt_err *err)
{
	struct ckpt_rd r = ckpt_rd_init(body, n);
	uint32_t *pre = NULL, *suf = NULL, *scp = NULL, num;
	struct ckpt_bytes *keys = NULL;
	int rc = 0;

	memset(nd, 0, sizeof(*nd));
	nd->body = body;
	nd->body_n = n;
	RD(ckpt_rd_u8(&r, &nd->height), "b+tree node");
	if (nd->height >= CKPT_OCDBT_MAX_HEIGHT) {
		rc = CORRUPT(err, "b+tree node height %u exceeds %d", nd->height,
			     CKPT_OCDBT_MAX_HEIGHT);
		goto out;
	}
	TRY(ckpt_ocdbt_table_parse(&r, &nd->table, transitive, tlen, err));
	RD(ckpt_rd_varint32(&r, &num), "b+tree node");
	if (num == 0 || num > 1048576) {
		rc = CORRUPT(err, "b+tree node has %u entries (allowed 1..1048576)", num);
		goto out;
	}
	RD(ckpt_rd_count(&r, num, 2, &nd->n), "b+tree node");
	pre = calloc(nd->n, sizeof(*pre));
	suf = calloc(nd->n, sizeof(*suf));
	keys = calloc(nd->n, sizeof(*keys));
	if (!pre || !suf || !keys) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 1; i < nd->n; i++)
		RD(ckpt_rd_varint16(&r, &pre[i]), "b+tree key prefixes");
	for (size_t i = 0; i < nd->n; i++)
		RD(ckpt_rd_varint16(&r, &suf[i]), "b+tree key suffixes");
	if (nd->height > 0) {
		scp = calloc(nd->n, sizeof(*scp));
		if (!scp) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < nd->n; i++)
			RD(ckpt_rd_varint16(&r, &scp[i]), "b+tree subtree prefixes");
	}
	TRY(keys_build(nd, &r, pre, suf, prefix, keys, n, err));

	if (nd->height == 0) {
		struct ckpt_ocdbt_leaf_entry *e = calloc(nd->n, sizeof(*e));

		if (!e) {
			rc = -ENOMEM;
			goto out;
		}
		nd->leaf = e;
		for (size_t i = 0; i < nd->n; i++) {
			e[i].key = keys[i];
			RD(ckpt_rd_varint(&r, &e[i].value_len), "b+tree value lengths");
		}
		for (size_t i = 0; i < nd->n; i++) {
			uint8_t kind;

			RD(ckpt_rd_u8(&r, &kind), "b+tree value kinds");
			if (kind > 1) {
				rc = CORRUPT(err, "b+tree value kind %u unknown", kind);
				goto out;
			}
			e[i].is_inline = kind == 0;
		}
		for (size_t i = 0; i < nd->n; i++) {
			uint64_t id;

			if (e[i].is_inline)
				continue;
			RD(ckpt_rd_varint(&r, &id), "b+tree value files");
			if ((rc = ckpt_ocdbt_check_file(id, &nd->table, err)) < 0)
				goto out;
			e[i].file = (uint32_t)id;
		}
		for (size_t i = 0; i < nd->n; i++) {
			uint64_t end;

			if (e[i].is_inline)
				continue;
			RD(ckpt_rd_varint(&r, &e[i].offset), "b+tree value offsets");
			if (ckpt_add_overflow(e[i].offset, e[i].value_len, &end) || end > INT64_MAX) {
				rc = CORRUPT(err, "b+tree value location overflows");
				goto out;
			}
		}
		for (size_t i = 0; i < nd->n; i++) {
			if (!e[i].is_inline)
				continue;
			if (e[i].value_len > (1u << 20) || e[i].value_len > r.left) {
				rc = CORRUPT(err, "b+tree inline value of %llu bytes does not fit",
					     (unsigned long long)e[i].value_len);
				goto out;
			}
			RD(ckpt_rd_bytes(&r, (size_t)e[i].value_len, &e[i].value), "inline values");
		}
	} else {
		struct ckpt_ocdbt_child *c = calloc(nd->n, sizeof(*c));
		uint64_t tmp;

		if (!c) {
			rc = -ENOMEM;
			goto out;
		}
		nd->child = c;
		for (size_t i = 0; i < nd->n; i++) {
			c[i].key = keys[i];
			if (scp[i] > keys[i].n - prefix.n) {
				rc = CORRUPT(err, "b+tree subtree prefix %u longer than key", scp[i]);
				goto out;
			}
			c[i].subtree_prefix = (uint32_t)(prefix.n + scp[i]);
		}
		for (size_t i = 0; i < nd->n; i++) {
			RD(ckpt_rd_varint(&r, &tmp), "b+tree child files");
			if ((rc = ckpt_ocdbt_check_file(tmp, &nd->table, err)) < 0)
				goto out;
			c[i].loc.file = (uint32_t)tmp;
		}
		for (size_t i = 0; i < nd->n; i++)
			RD(ckpt_rd_varint(&r, &c[i].loc.offset), "b+tree child offsets");
		for (size_t i = 0; i < nd->n; i++)
			RD(ckpt_rd_varint(&r, &c[i].loc.length), "b+tree child lengths");
		for (size_t i = 0; i < nd->n; i++)
			RD(ckpt_rd_varint(&r, &c[i].stats.num_keys), "b+tree child statistics");
		for (size_t i = 0; i < nd->n; i++)
			RD(ckpt_rd_varint(&r, &c[i].stats.num_tree_bytes), "b+tree child statistics");
		for (size_t i = 0; i < nd->n; i++)
			RD(ckpt_rd_varint(&r, &c[i].stats.num_indirect_value_bytes),
			   "b+tree child statistics");
		for (size_t i = 0; i < nd->n; i++) {
			if (c[i].loc.offset == CKPT_OCDBT_MISSING) {
				rc = CORRUPT(err, "b+tree child without a location");
				goto out;
			}
			if ((rc = ckpt_ocdbt_check_loc(&c[i].loc, &nd->table, err)) < 0)
				goto out;
		}
	}
	if (ckpt_rd_end(&r) < 0)
		rc = CORRUPT(err, "%zu trailing bytes after a b+tree node", r.left);
out:
	free(pre);
	free(suf);
	free(scp);
	free(keys);
	if (rc < 0)
		ckpt_ocdbt_node_release(nd);
	return rc;
}

void ckpt_ocdbt_node_trim(struct ckpt_ocdbt_node *nd)
{
	ckpt_ocdbt_table_release(&nd->table);
	free(nd->leaf);
	free(nd->child);
	ckpt_free_big(nd->body, nd->body_n);
	nd->leaf = NULL;
	nd->child = NULL;
	nd->body = NULL;
	nd->body_n = 0;
	nd->n = 0;
	if (nd->height) {
		free(nd->keys);
		nd->keys = NULL;
		nd->keys_n = 0;
	}
}

void ckpt_ocdbt_node_release(struct ckpt_ocdbt_node *nd)
{
	ckpt_ocdbt_table_release(&nd->table);
	free(nd->leaf);
	free(nd->child);
	free(nd->body);
	free(nd->keys);
	memset(nd, 0, sizeof(*nd));
}
