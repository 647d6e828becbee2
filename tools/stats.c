/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.c - "ckpt info" (steps, items, leaves, parameters and bytes by
 * dtype) and "ckpt stats" (per leaf min, max, mean, std, NaN, Inf, zeros).
 *
 * stats streams each leaf in blocks of BLOCK elements (bounded memory, any
 * size), decoding every dtype to double.  min, max, mean and std are over
 * the finite values (NaN and Inf are counted apart); std is the population
 * standard deviation (numpy's ddof=0).  Each block's mean and sum of squared
 * deviations are computed in two passes over the block, and blocks are
 * combined with Chan et al.'s pairwise update, all in double: no
 * catastrophic cancellation however long the leaf.  Complex leaves are
 * described by their magnitude |z| (a NaN or Inf component makes the
 * element NaN or Inf; zero means 0+0j).
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

struct acc {
	uint64_t n, nan, inf, zeros; /* n: finite values */
	double min, max, mean, m2;
};

static void acc_block(struct acc *a, const double *x, size_t n)
{
	double s = 0, m2 = 0, mean, d;
	uint64_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (isnan(x[i])) {
			a->nan++;
			continue;
		}
		if (isinf(x[i])) {
			a->inf++;
			continue;
		}
		a->zeros += x[i] == 0;
		if (a->n + k == 0 || x[i] < a->min)
			a->min = x[i];
		if (a->n + k == 0 || x[i] > a->max)
			a->max = x[i];
		s += x[i];
		k++;
	}
	if (!k)
		return;
	mean = s / (double)k;
	for (size_t i = 0; i < n; i++)
		if (isfinite(x[i]))
			m2 += (x[i] - mean) * (x[i] - mean);
	d = mean - a->mean;
	a->mean += d * (double)k / (double)(a->n + k);
	a->m2 += m2 + d * d * (double)a->n * (double)k / (double)(a->n + k);
	a->n += k;
}

/* complex: (re, im) pairs to magnitudes, in place */
static void magnitudes(double *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double re = x[2 * i], im = x[2 * i + 1];

		x[i] = isnan(re) || isnan(im) ? NAN : hypot(re, im);
	}
}

static int leaf_stats(struct ckpt_item *it, const struct ckpt_node *node, const struct cli_array *a,
		      struct acc *acc, struct cli_progress *pg, struct ckpt_err *err)
{
	struct ckpt_leaf *l;
	size_t isz = a->dt.itemsize, per = a->dt.kind == CKPT_DK_COMPLEX ? 2 : 1;
	uint8_t *buf = malloc(BLOCK * isz);
	double *x = malloc(BLOCK * per * sizeof(double)), *lut = cli_lut(&a->dt);
	uint64_t off = 0;
	int rc = ckpt_item_leaf(it, node, &l, err);

	memset(acc, 0, sizeof(*acc));
	if (!buf || !x)
		rc = ckpt_err_set(err, -ENOMEM, "out of memory");
	while (rc == 0) {
		int64_t r = cli_read_full(l, buf, off, BLOCK * isz, err);
		size_t n;

		if (r <= 0) {
			rc = (int)r;
			break;
		}
		n = (size_t)r / isz;
		cli_decode(&a->dt, lut, buf, n, x);
		if (per == 2)
			magnitudes(x, n);
		acc_block(acc, x, n);
		off += (uint64_t)r;
		cli_progress_add(pg, (uint64_t)r);
		if ((size_t)r < BLOCK * isz)
			break;
	}
	free(buf);
	free(x);
	free(lut);
	return rc;
}

static json_t *num(uint64_t n, double v)
{
	return n ? json_real(v) : json_null();
}

static void print_stats(const char *path, const struct cli_array *a, const struct acc *s, bool js,
			json_t *out)
{
	char shape[256];
	double sd = s->n ? sqrt(s->m2 / (double)s->n) : 0;

	cli_shape_str(a, shape, sizeof(shape));
	if (js) {
		json_t *o = json_object();

		json_object_set_new(o, "path", json_string(path));
		json_object_set_new(o, "dtype", json_string(a->dtype));
		json_object_set_new(o, "count", json_integer((json_int_t)(s->n + s->nan + s->inf)));
		json_object_set_new(o, "min", num(s->n, s->min));
		json_object_set_new(o, "max", num(s->n, s->max));
		json_object_set_new(o, "mean", num(s->n, s->mean));
		json_object_set_new(o, "std", num(s->n, sd));
		json_object_set_new(o, "nan", json_integer((json_int_t)s->nan));
		json_object_set_new(o, "inf", json_integer((json_int_t)s->inf));
		json_object_set_new(o, "zeros", json_integer((json_int_t)s->zeros));
		json_array_append_new(out, o);
		return;
	}
	printf("%s  %s%s", path[0] ? path : ".", a->dtype, shape);
	if (s->n)
		printf("  min=%.6g max=%.6g mean=%.6g std=%.6g", s->min, s->max, s->mean, sd);
	printf("  nan=%llu inf=%llu zeros=%llu%s\n", (unsigned long long)s->nan,
	       (unsigned long long)s->inf, (unsigned long long)s->zeros,
	       a->dt.kind == CKPT_DK_COMPLEX ? "  (of |z|)" : "");
}

static const struct option stats_opts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse(const char *cmd, int argc, char **argv, bool *js, int want)
{
	int c;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":jh", stats_opts, NULL)) != -1) {
		if (c == 'h')
			return cli_usage(cmd, true) + 100;
		if (c == 'j')
			*js = true;
		else
			return cli_bad_option(cmd, c, argv);
	}
	if (argc - optind < 1 || argc - optind > want) {
		fprintf(stderr, "ckpt %s: expected CHECKPOINT [PATH]; see 'ckpt %s --help'\n", cmd, cmd);
		return CLI_USAGE;
	}
	return -1;
}

/* opens the source and lists what PATH names */
static int load(const char *cmd, int argc, char **argv, struct ckpt_src **src, struct target *t,
		struct cli_tree *tr)
{
	struct ckpt_err err = { 0, "" };
	int rc;

	if (cli_open(cmd, argv[optind], src))
		return CLI_FAIL;
	rc = cli_resolve(*src, cli_default_path(*src, optind + 1 < argc ? argv[optind + 1] : ""), t, &err);
	if (rc == 0 && (rc = cli_tree_load(*src, t, tr, &err)) < 0)
		cli_target_release(t);
	if (rc < 0) {
		ckpt_src_close(*src);
		return cli_die(cmd, &err, rc);
	}
	return 0;
}

static void unload(struct ckpt_src *src, struct target *t, struct cli_tree *tr)
{
	cli_tree_free(tr);
	cli_target_release(t);
	ckpt_src_close(src);
}

int cli_stats(int argc, char **argv)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_src *src;
	struct target t;
	struct cli_tree tr;
	struct cli_progress pg;
	struct cli_array *arr;
	bool js = false;
	uint64_t total = 0;
	json_t *out;
	int rc = parse("stats", argc, argv, &js, 2), bad = 0;

	if (rc >= 0)
		return rc >= 100 ? rc - 100 : rc;
	if (load("stats", argc, argv, &src, &t, &tr))
		return CLI_FAIL;
	out = json_array();
	arr = calloc(tr.n ? tr.n : 1, sizeof(*arr));
	for (size_t i = 0; arr && i < tr.n; i++) {
		struct cli_ent *e = &tr.e[i];

		if (e->node && !e->empty_dir && cli_array_of(e->item, e->node, &arr[i], &err) < 0) {
			fprintf(stderr, "ckpt stats: '%s': %s\n", e->path, err.msg);
			ckpt_err_clear(&err);
			bad = 1;
		}
		total += arr[i].numeric ? arr[i].nbytes : 0;
	}
	cli_progress_start(&pg, "stats", total);
	for (size_t i = 0; arr && i < tr.n; i++) {
		struct cli_ent *e = &tr.e[i];
		struct acc s;

		if (e->error) {
			fprintf(stderr, "ckpt stats: '%s': %s\n", e->path, e->error);
			bad = 1;
		}
		if (!arr[i].numeric)
			continue;
		if (leaf_stats(e->item, e->node, &arr[i], &s, &pg, &err) < 0) {
			cli_progress_end(&pg);
			fprintf(stderr, "ckpt stats: '%s': %s\n", e->path, err.msg);
			ckpt_err_clear(&err);
			bad = 1;
			continue;
		}
		cli_progress_end(&pg);
		print_stats(e->path, &arr[i], &s, js, out);
	}
	cli_progress_end(&pg);
	if (js && cli_print_json(out))
		bad = 1;
	json_decref(out);
	rc = bad || !arr ? CLI_FAIL : 0;
	free(arr);
	unload(src, &t, &tr);
	return rc;
}

/* ---------------------------------------------------------------- info */

struct by_dtype {
	char name[40];
	uint64_t leaves, params, bytes;
};

static void add_dtype(struct by_dtype *d, size_t *n, const struct cli_array *a)
{
	size_t i;
	uint64_t params = 1;

	for (uint32_t k = 0; k < a->rank; k++)
		params *= a->shape[k];
	for (i = 0; i < *n && strcmp(d[i].name, a->dtype); i++)
		;
	if (i == *n) {
		snprintf(d[i].name, sizeof(d[i].name), "%s", a->dtype);
		d[i].leaves = d[i].params = d[i].bytes = 0;
		(*n)++;
	}
	d[i].leaves++;
	d[i].params += params;
	d[i].bytes += a->nbytes;
}

/* " (1.2 M)", " (3.4 MiB)" or "" below the first unit */
static const char *human(uint64_t v, unsigned base, char buf[32])
{
	static const char *const dec[] = { "K", "M", "G", "T", "P" }, *const bin[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double x = (double)v;
	int u = -1;

	while (x >= base && u < 4) {
		x /= base;
		u++;
	}
	if (u < 0)
		buf[0] = 0;
	else
		snprintf(buf, 32, " (%.1f %s)", x, base == 1000 ? dec[u] : bin[u]);
	return buf;
}

static void print_info(const char *what, const struct cli_tree *tr, uint64_t leaves, uint64_t other,
		       const struct by_dtype *d, size_t nd, bool js)
{
	uint64_t params = 0, bytes = 0;
	char hp[32], hb[32];

	for (size_t i = 0; i < nd; i++)
		params += d[i].params, bytes += d[i].bytes;
	if (js) {
		json_t *o = json_object(), *t = json_object();

		json_object_set_new(o, "path", json_string(what));
		json_object_set_new(o, "steps", json_integer((json_int_t)tr->steps_seen));
		json_object_set_new(o, "items", json_integer((json_int_t)tr->items_seen));
		json_object_set_new(o, "leaves", json_integer((json_int_t)leaves));
		json_object_set_new(o, "arrays", json_integer((json_int_t)(leaves - other)));
		json_object_set_new(o, "params", json_integer((json_int_t)params));
		json_object_set_new(o, "nbytes", json_integer((json_int_t)bytes));
		for (size_t i = 0; i < nd; i++) {
			json_t *e = json_object();

			json_object_set_new(e, "leaves", json_integer((json_int_t)d[i].leaves));
			json_object_set_new(e, "params", json_integer((json_int_t)d[i].params));
			json_object_set_new(e, "nbytes", json_integer((json_int_t)d[i].bytes));
			json_object_set_new(t, d[i].name, e);
		}
		json_object_set_new(o, "dtypes", t);
		cli_print_json(o);
		json_decref(o);
		return;
	}
	printf("%s\n", what);
	printf("  steps   %llu\n  items   %llu\n", (unsigned long long)tr->steps_seen,
	       (unsigned long long)tr->items_seen);
	printf("  leaves  %llu (%llu arrays, %llu other)\n", (unsigned long long)leaves,
	       (unsigned long long)(leaves - other), (unsigned long long)other);
	printf("  params  %llu%s\n", (unsigned long long)params, human(params, 1000, hp));
	printf("  bytes   %llu%s\n", (unsigned long long)bytes, human(bytes, 1024, hb));
	if (nd)
		printf("  %-20s %8s %16s %16s\n", "dtype", "leaves", "params", "bytes");
	for (size_t i = 0; i < nd; i++)
		printf("  %-20s %8llu %16llu %16llu\n", d[i].name, (unsigned long long)d[i].leaves,
		       (unsigned long long)d[i].params, (unsigned long long)d[i].bytes);
}

int cli_info(int argc, char **argv)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_src *src;
	struct target t;
	struct cli_tree tr;
	struct by_dtype *d;
	size_t nd = 0;
	uint64_t leaves = 0, other = 0;
	bool js = false;
	char *what;
	int rc = parse("info", argc, argv, &js, 2), bad = 0;

	if (rc >= 0)
		return rc >= 100 ? rc - 100 : rc;
	if (load("info", argc, argv, &src, &t, &tr))
		return CLI_FAIL;
	d = calloc(tr.n ? tr.n : 1, sizeof(*d));
	for (size_t i = 0; d && i < tr.n; i++) {
		struct cli_ent *e = &tr.e[i];
		struct cli_array a;

		if (e->error) {
			fprintf(stderr, "ckpt info: '%s': %s\n", e->path, e->error);
			bad = 1;
			continue;
		}
		if (e->empty_dir || e->json_item)
			continue;
		leaves++;
		if (!e->node || cli_array_of(e->item, e->node, &a, &err) < 0 || !a.is_array) {
			if (err.code) {
				fprintf(stderr, "ckpt info: '%s': %s\n", e->path, err.msg);
				ckpt_err_clear(&err);
				bad = 1;
			}
			other++;
			continue;
		}
		add_dtype(d, &nd, &a);
	}
	if (asprintf(&what, "%s%s%s", argv[optind], optind + 1 < argc ? ":" : "",
		     optind + 1 < argc ? argv[optind + 1] : "") < 0)
		what = NULL;
	if (d && what)
		print_info(what, &tr, leaves, other, d, nd, js);
	rc = bad || !d || !what ? CLI_FAIL : 0;
	free(what);
	free(d);
	unload(src, &t, &tr);
	return rc;
}
