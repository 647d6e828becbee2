/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt_gen.c - an OCDBT database's generations (tier 3): reading the
 * manifest (single or numbered), walking the version tree (explicit stack,
 * height bounded), listing generations.  ocdbt.c opens one of them.
 */
#define _GNU_SOURCE
#include "ocdbt.h"

#include "fsutil.h"
#include "ocdbt_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MANIFEST_NAME "manifest.ocdbt"

int ckpt_ocdbt_read_node_bytes(int dirfd, const char *label, const char *path, uint64_t off,
			       uint64_t len, size_t max, uint8_t **out, struct ckpt_err *err)
{
	uint8_t *buf;
	int fd, rc;

	*out = NULL;
	/* the caller names the file in front of these messages */
	(void)label;
	if (len > max)
		return ckpt_err_set(err, -EFBIG, "node of %llu bytes exceeds the limit %zu",
				    (unsigned long long)len, max);
	fd = ckpt_open_beneath(dirfd, path, O_RDONLY, 0);
	if (fd < 0)
		return ckpt_err_set(err, fd == -EXDEV ? CKPT_ECORRUPT : fd,
				    "cannot open data file: %s",
				    fd == -EXDEV ? "path leaves the database directory"
				    : fd == -ENOENT ? "missing" : ckpt_strerror(fd));
	buf = malloc(len ? (size_t)len : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	rc = ckpt_pread_full(fd, buf, (size_t)len, off);
	close(fd);
	if (rc < 0) {
		free(buf);
		return ckpt_err_set(err, rc, "cannot read %llu bytes at %llu: %s",
				    (unsigned long long)len, (unsigned long long)off,
				    rc == CKPT_ECORRUPT ? "file too short" : ckpt_strerror(rc));
	}
	*out = buf;
	return 0;
}

/* "manifest." followed by 16 lowercase hex digits */
static bool numbered_name(const char *name, uint64_t *gen)
{
	uint64_t g = 0;

	if (strncmp(name, "manifest.", 9) || strlen(name) != 25)
		return false;
	for (int i = 9; i < 25; i++) {
		char c = name[i];

		g <<= 4;
		if (c >= '0' && c <= '9')
			g |= (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			g |= (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*gen = g;
	return true;
}

static int load_manifest_file(int dirfd, const char *label, const char *name,
			      const struct ckpt_limits *lim, struct ckpt_ocdbt_manifest *m,
			      struct ckpt_err *err)
{
	uint8_t *raw = NULL, *body = NULL;
	size_t raw_n, body_n;
	int rc;

	rc = ckpt_read_file(dirfd, name, lim->max_node_bytes, &raw, &raw_n, NULL);
	if (rc < 0)
		return ckpt_err_set(err, rc, "'%s/%s': %s", label, name,
				    rc == -ENOENT ? "missing" : ckpt_strerror(rc));
	rc = ckpt_ocdbt_unwrap(raw, raw_n, CKPT_OCDBT_MAGIC_MANIFEST, lim->max_node_bytes, &body,
			       &body_n, err);
	if (rc == 0)
		rc = ckpt_ocdbt_manifest_parse(m, body, body_n, err);
	if (rc < 0)
		ckpt_err_prefix(err, "'%s/%s': ", label, name);
	free(raw);
	free(body);
	return rc;
}

int ckpt_ocdbt_read_manifest(int dirfd, const char *label, const struct ckpt_limits *lim,
			     struct ckpt_ocdbt_manifest *m, char **manifest_name,
			     struct ckpt_err *err)
{
	char best[32] = "";
	uint64_t best_gen = 0;
	DIR *d;
	int rc, fd;

	if (manifest_name)
		*manifest_name = NULL;
	rc = load_manifest_file(dirfd, label, MANIFEST_NAME, lim, m, err);
	if (rc < 0 || m->config.manifest_kind == 0) {
		if (rc == 0 && manifest_name)
			*manifest_name = strdup(MANIFEST_NAME);
		return rc;
	}
	/* numbered: the newest manifest.%016x holds the versions */
	ckpt_ocdbt_manifest_release(m);
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return ckpt_err_set(err, rc, "'%s': cannot list: %s", label, ckpt_strerror(rc));
	}
	for (struct dirent *e; (e = readdir(d));) {
		uint64_t g;

		if (numbered_name(e->d_name, &g) && g >= best_gen) {
			best_gen = g;
			snprintf(best, sizeof(best), "%.31s", e->d_name); /* 25 bytes: checked */
		}
	}
	closedir(d);
	if (!best[0])
		return ckpt_err_set(err, CKPT_ECORRUPT,
				    "'%s': numbered manifest kind but no manifest.<generation> file",
				    label);
	rc = load_manifest_file(dirfd, label, best, lim, m, err);
	if (rc < 0)
		return rc;
	if (m->config.manifest_kind != 0 || !m->n_versions ||
	    m->versions[m->n_versions - 1].generation != best_gen) {
		ckpt_ocdbt_manifest_release(m);
		return ckpt_err_set(err, CKPT_ECORRUPT,
				    "'%s/%s': does not hold generation %llu as its latest", label,
				    best, (unsigned long long)best_gen);
	}
	if (manifest_name)
		*manifest_name = strdup(best);
	return 0;
}

/* ---------------------------------------------------------------- version tree */

struct vstack_item {
	char *path; /* owned */
	size_t base_len;
	uint64_t offset, length;
	uint8_t height;
};

/*
 * Calls fn for every version entry (leaf) of the version tree, oldest first:
 * interior references first (they hold older generations), then the
 * manifest's inline versions.
 */
int ckpt_ocdbt_versions_walk(int dirfd, const char *label, const struct ckpt_limits *lim,
			     const struct ckpt_ocdbt_manifest *m, ckpt_ocdbt_version_fn fn, void *payload,
			     struct ckpt_err *err)
{
	struct vstack_item *stack = NULL;
	size_t sn = 0, scap = 0, visited = 0;
	int rc = 0;

	/* version_nodes are ordered oldest first; push in reverse so they pop in order */
	for (size_t i = m->n_vrefs; i-- > 0;) {
		const struct ckpt_ocdbt_vref *r = &m->vrefs[i];
		const struct ckpt_ocdbt_file *f = &m->table.f[r->loc.file];

		if ((rc = ckpt_grow((void **)&stack, &scap, sn + 1, sizeof(*stack))) < 0)
			goto out;
		stack[sn].path = strdup(f->path);
		if (!stack[sn].path) {
			rc = -ENOMEM;
			goto out;
		}
		stack[sn].base_len = f->base_len;
		stack[sn].offset = r->loc.offset;
		stack[sn].length = r->loc.length;
		stack[sn].height = r->height;
		sn++;
	}
	while (sn > 0) {
		struct vstack_item it = stack[--sn];
		struct ckpt_ocdbt_vnode vn;
		uint8_t *raw = NULL, *body = NULL;
		size_t body_n;

		/* a version tree is at most 64/arity levels of at most 2^arity refs */
		if (++visited > ((uint64_t)1 << 22)) {
			free(it.path);
			rc = ckpt_err_set(err, CKPT_ECORRUPT, "'%s': version tree too large", label);
			goto out;
		}
		rc = ckpt_ocdbt_read_node_bytes(dirfd, label, it.path, it.offset, it.length,
				     lim->max_node_bytes, &raw, err);
		if (rc == 0)
			rc = ckpt_ocdbt_unwrap(raw, (size_t)it.length, CKPT_OCDBT_MAGIC_VERSION,
					       lim->max_node_bytes, &body, &body_n, err);
		if (rc == 0)
			rc = ckpt_ocdbt_vnode_parse(&vn, body, body_n, it.path, it.base_len, err);
		free(raw);
		free(body);
		if (rc == 0 && (vn.height != it.height ||
				vn.arity_log2 != m->config.version_tree_arity_log2)) {
			ckpt_ocdbt_vnode_release(&vn);
			rc = ckpt_err_set(err, CKPT_ECORRUPT,
					  "version tree node height %u / arity %u, expected %u / %u",
					  vn.height, vn.arity_log2, it.height,
					  m->config.version_tree_arity_log2);
		}
		if (rc < 0) {
			ckpt_err_prefix(err, "'%s/%s': ", label, it.path);
			free(it.path);
			goto out;
		}
		free(it.path);
		if (vn.height == 0) {
			for (size_t i = 0; i < vn.n && rc == 0; i++)
				rc = fn(payload, &vn.versions[i], &vn.table);
		} else {
			for (size_t i = vn.n; i-- > 0 && rc == 0;) {
				const struct ckpt_ocdbt_file *f = &vn.table.f[vn.vrefs[i].loc.file];

				rc = ckpt_grow((void **)&stack, &scap, sn + 1, sizeof(*stack));
				if (rc < 0)
					break;
				stack[sn].path = strdup(f->path);
				if (!stack[sn].path) {
					rc = -ENOMEM;
					break;
				}
				stack[sn].base_len = f->base_len;
				stack[sn].offset = vn.vrefs[i].loc.offset;
				stack[sn].length = vn.vrefs[i].loc.length;
				stack[sn].height = vn.vrefs[i].height;
				sn++;
			}
		}
		ckpt_ocdbt_vnode_release(&vn);
		if (rc < 0)
			goto out;
	}
	for (size_t i = 0; i < m->n_versions && rc == 0; i++)
		rc = fn(payload, &m->versions[i], &m->table);
out:
	while (sn > 0)
		free(stack[--sn].path);
	free(stack);
	return rc;
}

struct gens_acc {
	struct ckpt_ocdbt_gen *g;
	size_t n, cap;
};

static int gens_add(void *payload, const struct ckpt_ocdbt_version *v,
		    const struct ckpt_ocdbt_table *t)
{
	struct gens_acc *a = payload;
	struct ckpt_ocdbt_gen *g;

	if (a->n && v->generation <= a->g[a->n - 1].generation)
		return CKPT_ECORRUPT;
	if (ckpt_grow((void **)&a->g, &a->cap, a->n + 1, sizeof(*a->g)) < 0)
		return -ENOMEM;
	g = &a->g[a->n];
	memset(g, 0, sizeof(*g));
	g->generation = v->generation;
	g->commit_time = v->commit_time;
	g->num_keys = v->stats.num_keys;
	g->root_height = v->root_height;
	g->root_offset = v->root.offset;
	g->root_length = v->root.length;
	if (v->root.offset != CKPT_OCDBT_MISSING) {
		g->root_path = strdup(t->f[v->root.file].path);
		if (!g->root_path)
			return -ENOMEM;
	}
	a->n++;
	return 0;
}

void ckpt_ocdbt_gens_free(struct ckpt_ocdbt_gen *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i].root_path);
	free(g);
}

int ckpt_ocdbt_list_generations(int dirfd, const char *label, const struct ckpt_limits *lim,
				struct ckpt_ocdbt_gen **out, size_t *n, struct ckpt_err *err)
{
	struct ckpt_ocdbt_manifest m;
	struct gens_acc a = { NULL, 0, 0 };
	int rc;

	*out = NULL;
	*n = 0;
	rc = ckpt_ocdbt_read_manifest(dirfd, label, lim, &m, NULL, err);
	if (rc < 0)
		return rc;
	rc = ckpt_ocdbt_versions_walk(dirfd, label, lim, &m, gens_add, &a, err);
	ckpt_ocdbt_manifest_release(&m);
	if (rc == CKPT_ECORRUPT)
		ckpt_err_set(err, rc, "'%s': version tree generations out of order", label);
	if (rc < 0) {
		ckpt_ocdbt_gens_free(a.g, a.n);
		return rc;
	}
	*out = a.g;
	*n = a.n;
	return 0;
}
