/* SPDX-License-Identifier: Apache-2.0 */
/*
 * diff.c - "ckpt diff": two steps, items or subtrees of one checkpoint, or
 * two checkpoints, compared leaf by leaf (paths as the mount shows them).
 * Leaves present on both sides with the same dtype and shape are compared
 * byte for byte in blocks (bounded memory); where bytes differ, numeric
 * leaves are decoded to double and the largest absolute difference |a - b|
 * and relative difference |a - b| / max(|a|, |b|) are reported (complex:
 * per component; a NaN on one side only is counted apart, equal infinities
 * differ by 0).  Exit status as diff(1): 0 same, 1 different, 2 trouble.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK ((size_t)1 << 16)

struct side {
	struct ckpt_src *src;
	struct target t;
	struct cli_tree tr;
	size_t *order; /* entries sorted by path */
	bool loaded;
};

struct cmp {
	uint64_t differ, nan_mismatch;
	double max_abs, max_rel;
	bool bytes_differ;
};

static const struct cli_tree *sort_tree;

static int by_path(const void *a, const void *b)
{
	return strcmp(sort_tree->e[*(const size_t *)a].path, sort_tree->e[*(const size_t *)b].path);
}

static int load_side(struct side *s, const char *path, struct ckpt_err *err)
{
	int rc = cli_resolve(s->src, path, &s->t, err);

	if (rc < 0)
		return rc;
	if ((rc = cli_tree_load(s->src, &s->t, &s->tr, err)) < 0) {
		cli_target_release(&s->t);
		return rc;
	}
	s->loaded = true;
	if (!(s->order = malloc((s->tr.n ? s->tr.n : 1) * sizeof(size_t))))
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < s->tr.n; i++)
		s->order[i] = i;
	sort_tree = &s->tr;
	qsort(s->order, s->tr.n, sizeof(size_t), by_path);
	return 0;
}

static void free_side(struct side *s)
{
	if (s->loaded) {
		cli_tree_free(&s->tr);
		cli_target_release(&s->t);
	}
	free(s->order);
}

static void cmp_numbers(const struct cli_array *a, const double *x, const double *y, size_t n,
			struct cmp *c)
{
	for (size_t i = 0; i < n; i++) {
		double d, m;

		if (isnan(x[i]) || isnan(y[i])) {
			if (!(isnan(x[i]) && isnan(y[i]))) {
				c->nan_mismatch++;
				c->differ++;
			}
			continue;
		}
		if (x[i] == y[i])
			continue;
		c->differ++;
		d = fabs(x[i] - y[i]);
		m = fmax(fabs(x[i]), fabs(y[i]));
		c->max_abs = fmax(c->max_abs, d);
		c->max_rel = fmax(c->max_rel, isinf(d) ? INFINITY : d / m);
	}
	(void)a;
}

/* bytes of two leaves of the same dtype and size, block by block */
static int cmp_leaves(const struct cli_ent *ea, const struct cli_ent *eb, const struct cli_array *a,
		      struct cmp *c, struct cli_progress *pg, struct ckpt_err *err)
{
	struct ckpt_leaf *la, *lb;
	size_t isz = a->numeric ? a->dt.itemsize : 1, per = a->dt.kind == CKPT_DK_COMPLEX ? 2 : 1;
	size_t bytes = BLOCK * isz;
	uint8_t *ba = malloc(bytes), *bb = malloc(bytes);
	double *x = a->numeric ? malloc(BLOCK * per * sizeof(double)) : NULL;
	double *y = a->numeric ? malloc(BLOCK * per * sizeof(double)) : NULL;
	double *lut = a->numeric ? cli_lut(&a->dt) : NULL;
	uint64_t off = 0;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	if (!ba || !bb || (a->numeric && (!x || !y)))
		rc = ckpt_err_set(err, -ENOMEM, "out of memory");
	if (rc == 0 && (rc = ckpt_item_leaf(ea->item, ea->node, &la, err)) == 0)
		rc = ckpt_item_leaf(eb->item, eb->node, &lb, err);
	while (rc == 0) {
		int64_t ra = cli_read_full(la, ba, off, bytes, err), rb;

		if (ra < 0 || (rb = cli_read_full(lb, bb, off, bytes, err)) < 0) {
			rc = -EIO;
			break;
		}
		if (ra != rb) {
			c->bytes_differ = true;
			break;
		}
		if (ra == 0)
			break;
		if (memcmp(ba, bb, (size_t)ra)) {
			c->bytes_differ = true;
			if (a->numeric) {
				size_t n = (size_t)ra / isz;

				cli_decode(&a->dt, lut, ba, n, x);
				cli_decode(&a->dt, lut, bb, n, y);
				cmp_numbers(a, x, y, n * per, c);
			}
		}
		off += (uint64_t)ra;
		cli_progress_add(pg, (uint64_t)ra);
		if ((size_t)ra < bytes)
			break;
	}
	free(ba);
	free(bb);
	free(x);
	free(y);
	free(lut);
	return rc;
}

struct out {
	bool quiet, js;
	json_t *j;
	int status; /* 0, 1 (different), 2 (trouble) */
};

static void report(struct out *o, char what, const char *path, const char *detail)
{
	static const char *const keys[] = { "added", "removed", "type_changed", "changed" };
	const char *k = keys[what == '+' ? 0 : what == '-' ? 1 : what == 'T' ? 2 : 3];
	json_t *e;

	if (o->status == 0)
		o->status = 1;
	if (o->quiet)
		return;
	if (!o->js) {
		printf("%c %s%s%s\n", what, path, detail[0] ? "  " : "", detail);
		return;
	}
	if (!(e = json_object_get(o->j, k)))
		json_object_set_new(o->j, k, e = json_array());
	json_array_append_new(e, json_pack("{s:s,s:s}", "path", path, "detail", detail));
}

static void describe(const struct cli_ent *e, const struct cli_array *a, char *buf, size_t n)
{
	char shape[200];

	if (e->json_item || !e->node)
		snprintf(buf, n, "%s", e->json_item ? "json" : "");
	else if (e->empty_dir)
		snprintf(buf, n, "empty directory");
	else if (a->is_array) {
		cli_shape_str(a, shape, sizeof(shape));
		snprintf(buf, n, "%s%s", a->dtype, shape);
	} else
		snprintf(buf, n, "%llu bytes", (unsigned long long)a->nbytes);
}

/* the two entries with the same path */
static int compare_pair(struct out *o, const struct cli_ent *ea, const struct cli_ent *eb,
			struct cli_progress *pg, struct ckpt_err *err)
{
	struct cli_array a, b;
	char da[256], db[256], detail[600];
	struct cmp c;
	int rc;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (ea->error || eb->error)
		return ckpt_err_set(err, -EIO, "%s", ea->error ? ea->error : eb->error);
	if (ea->json_item || eb->json_item) {
		const uint8_t *pa = NULL, *pb = NULL;
		size_t na = 0, nb = 0;

		if (ea->json_item != eb->json_item || ckpt_item_json_bytes(ea->item, &pa, &na) < 0 ||
		    ckpt_item_json_bytes(eb->item, &pb, &nb) < 0 || na != nb || memcmp(pa, pb, na))
			report(o, 'M', ea->path, "json");
		return 0;
	}
	if (ea->empty_dir || eb->empty_dir) {
		if (ea->empty_dir != eb->empty_dir) {
			describe(ea, &a, da, sizeof(da));
			describe(eb, &b, db, sizeof(db));
			snprintf(detail, sizeof(detail), "%s -> %s", da, db);
			report(o, 'T', ea->path, detail);
		}
		return 0;
	}
	if ((rc = cli_array_of(ea->item, ea->node, &a, err)) < 0 ||
	    (rc = cli_array_of(eb->item, eb->node, &b, err)) < 0)
		return rc;
	describe(ea, &a, da, sizeof(da));
	describe(eb, &b, db, sizeof(db));
	if (strcmp(da, db) || a.is_array != b.is_array || ckpt_node_kind(ea->node) != ckpt_node_kind(eb->node)) {
		snprintf(detail, sizeof(detail), "%s -> %s", da, db);
		report(o, 'T', ea->path, detail);
		return 0;
	}
	if ((rc = cmp_leaves(ea, eb, &a, &c, pg, err)) < 0)
		return rc;
	if (!c.bytes_differ)
		return 0;
	if (a.numeric)
		snprintf(detail, sizeof(detail),
			 "%s  %llu of %llu elements differ, max abs %.9g, max rel %.9g%s", da,
			 (unsigned long long)c.differ, (unsigned long long)a.count, c.max_abs, c.max_rel,
			 c.nan_mismatch ? ", NaN on one side" : "");
	else
		snprintf(detail, sizeof(detail), "%s  bytes differ", da);
	report(o, 'M', ea->path, detail);
	if (o->js && !o->quiet) {
		json_t *arr = json_object_get(o->j, "changed");
		json_t *last = json_array_get(arr, json_array_size(arr) - 1);

		if (a.numeric) {
			json_object_set_new(last, "elements_differ", json_integer((json_int_t)c.differ));
			json_object_set_new(last, "max_abs", json_real(c.max_abs));
			json_object_set_new(last, "max_rel", json_real(c.max_rel));
			json_object_set_new(last, "nan_mismatch", json_integer((json_int_t)c.nan_mismatch));
		}
	}
	return 0;
}

static uint64_t pair_bytes(const struct side *a, const struct side *b)
{
	uint64_t t = 0;

	(void)b;
	for (size_t i = 0; i < a->tr.n; i++) {
		const struct cli_ent *e = &a->tr.e[i];
		uint64_t sz = 0;
		struct ckpt_err err = { 0, "" };

		if (e->node && !e->empty_dir && ckpt_item_leaf_size(e->item, e->node, &sz, &err) == 0)
			t += sz;
	}
	return t;
}

static void merge(struct out *o, struct side *A, struct side *B)
{
	struct ckpt_err err = { 0, "" };
	struct cli_progress pg;
	size_t i = 0, k = 0;

	cli_progress_start(&pg, "diff", pair_bytes(A, B));
	while (i < A->tr.n || k < B->tr.n) {
		const struct cli_ent *ea = i < A->tr.n ? &A->tr.e[A->order[i]] : NULL;
		const struct cli_ent *eb = k < B->tr.n ? &B->tr.e[B->order[k]] : NULL;
		int c = !ea ? 1 : !eb ? -1 : strcmp(ea->path, eb->path);
		char d[256];
		struct cli_array a;

		memset(&a, 0, sizeof(a));
		if (c != 0) {
			const struct cli_ent *e = c < 0 ? ea : eb;

			if (e->node && !e->empty_dir && cli_array_of(e->item, e->node, &a, &err) < 0)
				ckpt_err_clear(&err);
			describe(e, &a, d, sizeof(d));
			cli_progress_end(&pg);
			report(o, c < 0 ? '-' : '+', e->path, d);
			i += c < 0;
			k += c > 0;
			continue;
		}
		if (compare_pair(o, ea, eb, &pg, &err) < 0) {
			cli_progress_end(&pg);
			fprintf(stderr, "ckpt diff: '%s': %s\n", ea->path, err.msg);
			ckpt_err_clear(&err);
			o->status = 2;
		}
		cli_progress_end(&pg);
		i++, k++;
	}
	cli_progress_end(&pg);
}

int cli_diff(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ckpt_err err = { 0, "" };
	struct side A, B;
	struct out o = { false, false, NULL, 0 };
	int c, n, rc = 0;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":qjh", lo, NULL)) != -1) {
		if (c == 'h')
			return cli_usage("diff", true);
		if (c == 'q')
			o.quiet = true;
		else if (c == 'j')
			o.js = true;
		else
			return cli_bad_option("diff", c, argv);
	}
	n = argc - optind;
	if (n != 2 && n != 3) {
		fprintf(stderr, "ckpt diff: expected CHECKPOINT A B, or CHECKPOINT_A CHECKPOINT_B\n");
		return cli_usage("diff", false);
	}
	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	if (cli_open("diff", argv[optind], &A.src))
		return CLI_USAGE;
	if (n == 3) {
		B.src = A.src;
		rc = load_side(&A, argv[optind + 1], &err);
		if (rc == 0)
			rc = load_side(&B, argv[optind + 2], &err);
	} else if (cli_open("diff", argv[optind + 1], &B.src)) {
		ckpt_src_close(A.src);
		return CLI_USAGE;
	} else {
		rc = load_side(&A, cli_default_path(A.src, ""), &err);
		if (rc == 0)
			rc = load_side(&B, cli_default_path(B.src, ""), &err);
	}
	if (rc < 0) {
		cli_die("diff", &err, rc);
		o.status = 2;
	} else {
		o.j = o.js ? json_object() : NULL;
		merge(&o, &A, &B);
		if (o.js && !o.quiet) {
			json_object_set_new(o.j, "same", json_boolean(o.status == 0));
			cli_print_json(o.j);
		}
		json_decref(o.j);
	}
	free_side(&A);
	free_side(&B);
	if (B.src != A.src)
		ckpt_src_close(B.src);
	ckpt_src_close(A.src);
	return o.status;
}
