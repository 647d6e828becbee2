/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_fmt.c - OCDBT envelope, manifest, data file table and version-tree
 * codecs (tier 1); the B+tree nodes are ocdbt_node.c.  Every read goes through rd.h; every count from disk is checked
 * against the bytes left before anything is allocated.
 * Format: shared/docs/FORMAT-ocdbt-zarr.md sections 3-8.
 */
#include "ocdbt_fmt.h"

#include "compress.h"
#include "ocdbt_fmt_int.h"
#include "crc32c.h"
#include "rd.h"

#include <stdlib.h>
#include <string.h>

static const char *magic_name(uint32_t magic)
{
	switch (magic) {
	case CKPT_OCDBT_MAGIC_MANIFEST: return "manifest";
	case CKPT_OCDBT_MAGIC_VERSION: return "version tree node";
	case CKPT_OCDBT_MAGIC_BTREE: return "b+tree node";
	}
	return "object";
}

int ckpt_ocdbt_unwrap(const uint8_t *p, size_t n, uint32_t magic, size_t max_body, uint8_t **body,
		      size_t *body_n, struct ckpt_err *err)
{
	struct ckpt_rd r = ckpt_rd_init(p, n);
	uint32_t m, version, comp, crc;
	uint64_t len;
	int rc = 0;

	*body = NULL;
	*body_n = 0;
	if (n < 16)
		return CORRUPT(err, "%s too short (%zu bytes)", magic_name(magic), n);
	RD(ckpt_rd_u32be(&r, &m), "header");
	if (m != magic)
		return CORRUPT(err, "bad magic 0x%08x, expected 0x%08x (%s)", m, magic,
			       magic_name(magic));
	RD(ckpt_rd_u64le(&r, &len), "header");
	if (len != n)
		return CORRUPT(err, "%s length field says %llu bytes, object is %zu",
			       magic_name(magic), (unsigned long long)len, n);
	crc = ckpt_load_le32(p + n - 4);
	if (ckpt_crc32c(0, p, n - 4) != crc)
		return CORRUPT(err, "%s checksum mismatch (crc32c 0x%08x, stored 0x%08x)",
			       magic_name(magic), ckpt_crc32c(0, p, n - 4), crc);
	r.left -= 4; /* the footer is not part of the body */
	RD(ckpt_rd_varint32(&r, &version), "header");
	if (version != 0)
		return ckpt_err_set(err, -ENOTSUP, "%s format version %u is not supported",
				    magic_name(magic), version);
	RD(ckpt_rd_varint32(&r, &comp), "header");
	if (comp == 0) {
		if (r.left > max_body)
			return ckpt_err_set(err, -EFBIG, "%s body of %zu bytes exceeds the limit %zu",
					    magic_name(magic), r.left, max_body);
		*body = malloc(r.left ? r.left : 1);
		if (!*body)
			return -ENOMEM;
		memcpy(*body, r.p, r.left);
		*body_n = r.left;
		return 0;
	}
	if (comp != 1)
		return CORRUPT(err, "%s has unknown compression format %u", magic_name(magic), comp);
	if (!ckpt_zstd_is_single_frame(r.p, r.left))
		return CORRUPT(err, "%s body is not exactly one zstd frame", magic_name(magic));
	rc = ckpt_decompress_alloc(CKPT_COMP_ZSTD, r.p, r.left, max_body, body, body_n, err);
out:
	return rc;
}

int ckpt_ocdbt_wrap(uint32_t magic, uint32_t compression, int32_t zstd_level, const uint8_t *body,
		    size_t body_n, struct ckpt_buf *out)
{
	uint8_t hdr[12];
	size_t start = out->len;
	uint8_t *z = NULL;
	size_t zn = 0;
	int rc;

	if (compression == 1) {
		rc = ckpt_zstd_compress(zstd_level, body, body_n, &z, &zn);
		if (rc < 0)
			return rc;
	}
	ckpt_store_be32(hdr, magic);
	ckpt_store_le64(hdr + 4, 0); /* patched below */
	ckpt_buf_add(out, hdr, 12);
	ckpt_buf_varint(out, 0);
	ckpt_buf_varint(out, compression == 1 ? 1 : 0);
	if (compression == 1)
		ckpt_buf_add(out, z, zn);
	else
		ckpt_buf_add(out, body, body_n);
	free(z);
	ckpt_buf_le32(out, 0);
	if ((rc = ckpt_buf_finish(out)) < 0)
		return rc;
	ckpt_store_le64(out->p + start + 4, out->len - start);
	ckpt_store_le32(out->p + out->len - 4, ckpt_crc32c(0, out->p + start, out->len - start - 4));
	return 0;
}

/* ---------------------------------------------------------------- config */

static int config_parse(struct ckpt_rd *r, struct ckpt_ocdbt_config *c, struct ckpt_err *err)
{
	struct ckpt_bytes uuid;
	int rc = 0;

	RD(ckpt_rd_bytes(r, 16, &uuid), "config");
	memcpy(c->uuid, uuid.p, 16);
	RD(ckpt_rd_u8(r, &c->manifest_kind), "config");
	if (c->manifest_kind > 1)
		return CORRUPT(err, "unknown manifest kind %u", c->manifest_kind);
	RD(ckpt_rd_varint32(r, &c->max_inline_value_bytes), "config");
	RD(ckpt_rd_varint32(r, &c->max_decoded_node_bytes), "config");
	RD(ckpt_rd_u8(r, &c->version_tree_arity_log2), "config");
	if (c->version_tree_arity_log2 < 1 || c->version_tree_arity_log2 > 16)
		return CORRUPT(err, "version_tree_arity_log2 %u out of range 1..16",
			       c->version_tree_arity_log2);
	RD(ckpt_rd_varint32(r, &c->compression), "config");
	c->zstd_level = 0;
	if (c->compression == 1) {
		uint32_t lv;

		RD(ckpt_rd_u32le(r, &lv), "config");
		c->zstd_level = (int32_t)lv;
	} else if (c->compression != 0) {
		return CORRUPT(err, "unknown compression method %u", c->compression);
	}
out:
	return rc;
}

void ckpt_ocdbt_config_encode(const struct ckpt_ocdbt_config *c, struct ckpt_buf *b)
{
	ckpt_buf_add(b, c->uuid, 16);
	ckpt_buf_addc(b, c->manifest_kind);
	ckpt_buf_varint(b, c->max_inline_value_bytes);
	ckpt_buf_varint(b, c->max_decoded_node_bytes);
	ckpt_buf_addc(b, c->version_tree_arity_log2);
	ckpt_buf_varint(b, c->compression);
	if (c->compression == 1)
		ckpt_buf_le32(b, (uint32_t)c->zstd_level);
}

/* ---------------------------------------------------------------- data file table */

void ckpt_ocdbt_table_release(struct ckpt_ocdbt_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->f[i].path);
	free(t->f);
	t->f = NULL;
	t->n = 0;
}

int ckpt_ocdbt_table_parse(struct ckpt_rd *r, struct ckpt_ocdbt_table *t, const char *transitive,
			   size_t tlen, struct ckpt_err *err)
{
	uint32_t *prefix = NULL, *suffix = NULL, *base = NULL;
	size_t n = 0, prev_len = 0;
	uint64_t n64;
	char *prev = NULL;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	RD(ckpt_rd_varint(r, &n64), "data file table");
	/* each file needs at least a suffix and a base length byte */
	RD(ckpt_rd_count(r, n64, 2, &n), "data file table");
	if (n == 0)
		return 0;
	prefix = calloc(n, sizeof(*prefix));
	suffix = calloc(n, sizeof(*suffix));
	base = calloc(n, sizeof(*base));
	t->f = calloc(n, sizeof(*t->f));
	if (!prefix || !suffix || !base || !t->f) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 1; i < n; i++)
		RD(ckpt_rd_varint16(r, &prefix[i]), "data file table");
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_varint16(r, &suffix[i]), "data file table");
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_varint16(r, &base[i]), "data file table");
	for (size_t i = 0; i < n; i++) {
		struct ckpt_bytes s;
		size_t len = (size_t)prefix[i] + suffix[i];
		char *path;

		if (prefix[i] > prev_len) {
			rc = CORRUPT(err, "data file table: prefix %u longer than previous path",
				     prefix[i]);
			goto out;
		}
		if (base[i] > len) {
			rc = CORRUPT(err, "data file table: base path length %u exceeds path", base[i]);
			goto out;
		}
		if (i > 0 && prefix[i] > CKPT_MIN(base[i - 1], base[i]) && base[i - 1] != base[i]) {
			rc = CORRUPT(err, "data file table: shared prefix crosses base paths");
			goto out;
		}
		if (tlen + len > 65535) {
			rc = CORRUPT(err, "data file path longer than 65535 bytes");
			goto out;
		}
		RD(ckpt_rd_bytes(r, suffix[i], &s), "data file table");
		path = malloc(tlen + len + 1);
		if (!path) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(path, transitive, tlen);
		if (prefix[i])
			memcpy(path + tlen, prev + tlen, prefix[i]);
		memcpy(path + tlen + prefix[i], s.p, s.n);
		path[tlen + len] = 0;
		if (memchr(path, 0, tlen + len)) {
			free(path);
			rc = CORRUPT(err, "data file path contains a NUL byte");
			goto out;
		}
		t->f[i].path = path;
		t->f[i].base_len = tlen + base[i];
		t->n = i + 1;
		prev = path;
		prev_len = len;
	}
out:
	free(prefix);
	free(suffix);
	free(base);
	if (rc < 0)
		ckpt_ocdbt_table_release(t);
	return rc;
}

/* Shared prefix of ids[i-1] and ids[i] as the table stores it: the common
 * prefix of the base paths, running into the relative paths only when the
 * base paths are equal (FORMAT-ocdbt-zarr.md section 5, writer rule 2). */
static size_t table_shared_prefix(const struct ckpt_ocdbt_fid *a, const struct ckpt_ocdbt_fid *b)
{
	size_t la = strlen(a->base), lb = strlen(b->base), p = 0, q = 0;

	while (p < la && p < lb && a->base[p] == b->base[p])
		p++;
	if (p != la || p != lb)
		return p;
	while (a->rel[q] && b->rel[q] && a->rel[q] == b->rel[q])
		q++;
	return p + q;
}

void ckpt_ocdbt_table_encode(const struct ckpt_ocdbt_fid *ids, size_t n, struct ckpt_buf *b)
{
	ckpt_buf_varint(b, n);
	for (size_t i = 1; i < n; i++)
		ckpt_buf_varint(b, table_shared_prefix(&ids[i - 1], &ids[i]));
	for (size_t i = 0; i < n; i++) {
		size_t pre = i ? table_shared_prefix(&ids[i - 1], &ids[i]) : 0;

		ckpt_buf_varint(b, strlen(ids[i].base) + strlen(ids[i].rel) - pre);
	}
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, strlen(ids[i].base));
	for (size_t i = 0; i < n; i++) {
		size_t pre = i ? table_shared_prefix(&ids[i - 1], &ids[i]) : 0;
		size_t bl = strlen(ids[i].base);

		if (pre < bl) {
			ckpt_buf_adds(b, ids[i].base + pre);
			ckpt_buf_adds(b, ids[i].rel);
		} else {
			ckpt_buf_adds(b, ids[i].rel + (pre - bl));
		}
	}
}

/* ---------------------------------------------------------------- version tree entries */

int ckpt_ocdbt_check_file(uint64_t id, const struct ckpt_ocdbt_table *t, struct ckpt_err *err)
{
	if (id >= t->n)
		return CORRUPT(err, "data file index %llu out of range (table has %zu)",
			       (unsigned long long)id, t->n);
	return 0;
}

int ckpt_ocdbt_check_loc(struct ckpt_ocdbt_loc *l, const struct ckpt_ocdbt_table *t,
			 struct ckpt_err *err)
{
	uint64_t end;

	if (l->offset == CKPT_OCDBT_MISSING)
		return 0;
	if (ckpt_ocdbt_check_file(l->file, t, err) < 0)
		return CKPT_ECORRUPT;
	if (ckpt_add_overflow(l->offset, l->length, &end) || end > INT64_MAX)
		return CORRUPT(err, "node location %llu+%llu overflows",
			       (unsigned long long)l->offset, (unsigned long long)l->length);
	return 0;
}

/* leaf entries: versions (manifest inline versions and height-0 version nodes) */
static int versions_parse(struct ckpt_rd *r, const struct ckpt_ocdbt_table *t,
			  struct ckpt_ocdbt_version **out, size_t *out_n, struct ckpt_err *err)
{
	struct ckpt_ocdbt_version *v = NULL;
	size_t n = 0;
	uint64_t n64, tmp;
	int rc = 0;

	*out = NULL;
	*out_n = 0;
	RD(ckpt_rd_varint(r, &n64), "version list");
	RD(ckpt_rd_count(r, n64, 16, &n), "version list");
	v = ckpt_calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		RD(ckpt_rd_varint(r, &v[i].generation), "version list");
		if (v[i].generation == 0 || (i && v[i].generation <= v[i - 1].generation)) {
			rc = CORRUPT(err, "version generations not strictly increasing");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_u8(r, &v[i].root_height), "version list");
	for (size_t i = 0; i < n; i++) {
		RD(ckpt_rd_varint(r, &tmp), "version list");
		if (tmp > UINT32_MAX) {
			rc = CORRUPT(err, "data file index out of range");
			goto out;
		}
		v[i].root.file = (uint32_t)tmp;
	}
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_varint(r, &v[i].root.offset), "version list");
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_varint(r, &v[i].root.length), "version list");
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_varint(r, &v[i].stats.num_keys), "version list");
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_varint(r, &v[i].stats.num_tree_bytes), "version list");
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_varint(r, &v[i].stats.num_indirect_value_bytes), "version list");
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_u64le(r, &v[i].commit_time), "version list");
	for (size_t i = 0; i < n; i++) {
		if ((rc = ckpt_ocdbt_check_loc(&v[i].root, t, err)) < 0)
			goto out;
		if (v[i].root_height >= CKPT_OCDBT_MAX_HEIGHT) {
			rc = CORRUPT(err, "b+tree height %u exceeds %d", v[i].root_height,
				     CKPT_OCDBT_MAX_HEIGHT);
			goto out;
		}
	}
	*out = v;
	*out_n = n;
	v = NULL;
out:
	free(v);
	return rc;
}

static int vrefs_parse(struct ckpt_rd *r, const struct ckpt_ocdbt_table *t, bool with_height,
		       uint8_t implicit_height, struct ckpt_ocdbt_vref **out, size_t *out_n,
		       struct ckpt_err *err)
{
	struct ckpt_ocdbt_vref *v = NULL;
	size_t n = 0;
	uint64_t n64, tmp;
	int rc = 0;

	*out = NULL;
	*out_n = 0;
	RD(ckpt_rd_varint(r, &n64), "version node references");
	RD(ckpt_rd_count(r, n64, with_height ? 14 : 13, &n), "version node references");
	v = ckpt_calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_varint(r, &v[i].generation), "version node references");
	for (size_t i = 0; i < n; i++) {
		RD(ckpt_rd_varint(r, &tmp), "version node references");
		if (tmp > UINT32_MAX) {
			rc = CORRUPT(err, "data file index out of range");
			goto out;
		}
		v[i].loc.file = (uint32_t)tmp;
	}
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_varint(r, &v[i].loc.offset), "version node references");
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_varint(r, &v[i].loc.length), "version node references");
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_varint(r, &v[i].num_generations), "version node references");
	for (size_t i = 0; i < n; i++)
		RD(ckpt_rd_u64le(r, &v[i].commit_time), "version node references");
	for (size_t i = 0; i < n; i++) {
		if (with_height)
			RD(ckpt_rd_u8(r, &v[i].height), "version node references");
		else
			v[i].height = implicit_height;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i].loc.offset == CKPT_OCDBT_MISSING) {
			rc = CORRUPT(err, "version node reference without a location");
			goto out;
		}
		if ((rc = ckpt_ocdbt_check_loc(&v[i].loc, t, err)) < 0)
			goto out;
	}
	*out = v;
	*out_n = n;
	v = NULL;
out:
	free(v);
	return rc;
}

void ckpt_ocdbt_versions_encode(const struct ckpt_ocdbt_version *v, size_t n, struct ckpt_buf *b)
{
	ckpt_buf_varint(b, n);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].generation);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_addc(b, v[i].root_height);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].root.file);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].root.offset);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].root.length);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].stats.num_keys);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].stats.num_tree_bytes);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].stats.num_indirect_value_bytes);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_le64(b, v[i].commit_time);
}

void ckpt_ocdbt_vrefs_encode(const struct ckpt_ocdbt_vref *v, size_t n, bool with_height,
			     struct ckpt_buf *b)
{
	ckpt_buf_varint(b, n);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].generation);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].loc.file);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].loc.offset);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].loc.length);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_varint(b, v[i].num_generations);
	for (size_t i = 0; i < n; i++)
		ckpt_buf_le64(b, v[i].commit_time);
	if (with_height)
		for (size_t i = 0; i < n; i++)
			ckpt_buf_addc(b, v[i].height);
}

/* ---------------------------------------------------------------- manifest */

int ckpt_ocdbt_manifest_parse(struct ckpt_ocdbt_manifest *m, const uint8_t *body, size_t n,
			      struct ckpt_err *err)
{
	struct ckpt_rd r = ckpt_rd_init(body, n);
	int rc;

	memset(m, 0, sizeof(*m));
	TRY(config_parse(&r, &m->config, err));
	if (m->config.manifest_kind == 1) {
		/* numbered: this file holds only the config */
		if (ckpt_rd_end(&r) < 0)
			rc = CORRUPT(err, "trailing bytes after the config of a numbered manifest");
		goto out;
	}
	TRY(ckpt_ocdbt_table_parse(&r, &m->table, "", 0, err));
	TRY(versions_parse(&r, &m->table, &m->versions, &m->n_versions, err));
	if (m->n_versions > ((size_t)1 << m->config.version_tree_arity_log2)) {
		rc = CORRUPT(err, "manifest holds %zu inline versions, more than the arity",
			     m->n_versions);
		goto out;
	}
	TRY(vrefs_parse(&r, &m->table, true, 0, &m->vrefs, &m->n_vrefs, err));
	for (size_t i = 0; i < m->n_vrefs; i++) {
		if (m->vrefs[i].height == 0 || m->vrefs[i].height >= 64 / m->config.version_tree_arity_log2) {
			rc = CORRUPT(err, "version node height %u out of range", m->vrefs[i].height);
			goto out;
		}
	}
	if (ckpt_rd_end(&r) < 0)
		rc = CORRUPT(err, "%zu trailing bytes after the manifest", r.left);
out:
	if (rc < 0)
		ckpt_ocdbt_manifest_release(m);
	return rc;
}

void ckpt_ocdbt_manifest_release(struct ckpt_ocdbt_manifest *m)
{
	ckpt_ocdbt_table_release(&m->table);
	free(m->versions);
	free(m->vrefs);
	m->versions = NULL;
	m->vrefs = NULL;
	m->n_versions = m->n_vrefs = 0;
}

/* ---------------------------------------------------------------- version tree nodes */

int ckpt_ocdbt_vnode_parse(struct ckpt_ocdbt_vnode *v, const uint8_t *body, size_t n,
			   const char *transitive, size_t tlen, struct ckpt_err *err)
{
	struct ckpt_rd r = ckpt_rd_init(body, n);
	int rc = 0;

	memset(v, 0, sizeof(*v));
	RD(ckpt_rd_u8(&r, &v->arity_log2), "version tree node");
	RD(ckpt_rd_u8(&r, &v->height), "version tree node");
	if (v->arity_log2 < 1 || v->arity_log2 > 16 ||
	    ((unsigned)v->height + 1) * v->arity_log2 >= 64) {
		rc = CORRUPT(err, "version tree node height %u / arity %u out of range", v->height,
			     v->arity_log2);
		goto out;
	}
	TRY(ckpt_ocdbt_table_parse(&r, &v->table, transitive, tlen, err));
	if (v->height == 0)
		TRY(versions_parse(&r, &v->table, &v->versions, &v->n, err));
	else
		TRY(vrefs_parse(&r, &v->table, false, (uint8_t)(v->height - 1), &v->vrefs, &v->n,
				err));
	if (v->n > ((size_t)1 << v->arity_log2)) {
		rc = CORRUPT(err, "version tree node holds %zu entries, more than the arity", v->n);
		goto out;
	}
	if (ckpt_rd_end(&r) < 0)
		rc = CORRUPT(err, "%zu trailing bytes after a version tree node", r.left);
out:
	if (rc < 0)
		ckpt_ocdbt_vnode_release(v);
	return rc;
}

void ckpt_ocdbt_vnode_release(struct ckpt_ocdbt_vnode *v)
{
	ckpt_ocdbt_table_release(&v->table);
	free(v->versions);
	free(v->vrefs);
	memset(v, 0, sizeof(*v));
}
