/* SPDX-License-Identifier: Apache-2.0 */
/*
 * num.c - a leaf's array type and its elements as doubles (stats, diff),
 * and progress on a terminal.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cli_array_of(struct ckpt_item *it, const struct ckpt_node *n, struct cli_array *a,
		 struct ckpt_err *err)
{
	json_t *d, *shape, *v;
	const char *dt;
	size_t i;
	uint64_t size = 0;
	int rc;

	memset(a, 0, sizeof(*a));
	if ((rc = ckpt_item_leaf_size(it, n, &size, err)) < 0)
		return rc;
	a->nbytes = size;
	if (ckpt_node_kind(n) != CKPT_NODE_ARRAY)
		return 0;
	if (!(d = ckpt_leaf_describe(it, n, err)))
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	if (json_object_get(d, "error")) {
		rc = ckpt_err_set(err, -EIO, "%s", json_string_value(json_object_get(d, "error")));
		json_decref(d);
		return rc;
	}
	dt = json_string_value(json_object_get(d, "dtype"));
	shape = json_object_get(d, "shape");
	if (dt && json_is_array(shape) && json_array_size(shape) <= 64) {
		a->is_array = true;
		snprintf(a->dtype, sizeof(a->dtype), "%s", dt);
		a->rank = (uint32_t)json_array_size(shape);
		json_array_foreach(shape, i, v)
			a->shape[i] = (uint64_t)json_integer_value(v);
		a->numeric = ckpt_dtype_from_name(&a->dt, dt) == 0;
		a->count = a->numeric && a->dt.itemsize ? size / a->dt.itemsize : 0;
	}
	json_decref(d);
	return 0;
}

void cli_shape_str(const struct cli_array *a, char *buf, size_t n)
{
	size_t k = 0;

	k += (size_t)snprintf(buf, n, "[");
	for (uint32_t i = 0; i < a->rank && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%llu", i ? "," : "",
				      (unsigned long long)a->shape[i]);
	if (k < n)
		snprintf(buf + k, n - k, "]");
}

int64_t cli_read_full(struct ckpt_leaf *l, uint8_t *buf, uint64_t off, size_t n, struct ckpt_err *err)
{
	size_t got = 0;

	while (got < n) {
		int64_t r = ckpt_leaf_read(l, buf + got, off + got, n - got, err);

		if (r < 0)
			return r;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (int64_t)got;
}

double *cli_lut(const struct ckpt_dtype *dt)
{
	size_t n = dt->itemsize == 1 ? 256 : dt->itemsize == 2 ? 65536 : 0;
	double *t;

	if (!n || dt->kind == CKPT_DK_COMPLEX || dt->kind == CKPT_DK_RAW || !(t = malloc(n * sizeof(*t))))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		uint8_t b[2] = { (uint8_t)i, (uint8_t)(i >> 8) };

		t[i] = ckpt_dtype_to_double(dt, b);
	}
	return t;
}

static double f32(const uint8_t *p)
{
	uint32_t b = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	float f;

	memcpy(&f, &b, 4);
	return f;
}

static double f64(const uint8_t *p)
{
	uint64_t b = 0;
	double d;

	for (int i = 0; i < 8; i++)
		b |= (uint64_t)p[i] << (8 * i);
	memcpy(&d, &b, 8);
	return d;
}

void cli_decode(const struct ckpt_dtype *dt, const double *lut, const uint8_t *p, size_t n,
		double *out)
{
	uint32_t sz = dt->itemsize;

	if (lut && sz == 1) {
		for (size_t i = 0; i < n; i++)
			out[i] = lut[p[i]];
	} else if (lut && sz == 2) {
		for (size_t i = 0; i < n; i++)
			out[i] = lut[(size_t)p[2 * i] | (size_t)p[2 * i + 1] << 8];
	} else if (dt->kind == CKPT_DK_COMPLEX) {
		for (size_t i = 0; i < 2 * n; i++)
			out[i] = sz == 8 ? f32(p + 4 * i) : f64(p + 8 * i);
	} else if (dt->kind == CKPT_DK_FLOAT && sz == 4) {
		for (size_t i = 0; i < n; i++)
			out[i] = f32(p + 4 * i);
	} else {
		for (size_t i = 0; i < n; i++)
			out[i] = ckpt_dtype_to_double(dt, p + (size_t)sz * i);
	}
}

/* ---------------------------------------------------------------- progress */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_start(struct cli_progress *p, const char *what, uint64_t total)
{
	p->on = isatty(STDERR_FILENO) == 1 && !getenv("CKPT_NO_PROGRESS");
	p->what = what;
	p->total = total;
	p->done = 0;
	p->last = 0;
}

void cli_progress_add(struct cli_progress *p, uint64_t n)
{
	double t;

	p->done += n;
	if (!p->on || (t = now()) - p->last < 0.2)
		return;
	p->last = t;
	if (p->total) {
		uint64_t d = p->done < p->total ? p->done : p->total;

		fprintf(stderr, "\r%s: %5.1f%% (%llu/%llu MiB)\033[K", p->what,
			100.0 * (double)d / (double)p->total, (unsigned long long)(d >> 20),
			(unsigned long long)(p->total >> 20));
	}
	else
		fprintf(stderr, "\r%s: %llu MiB\033[K", p->what, (unsigned long long)(p->done >> 20));
}

void cli_progress_end(struct cli_progress *p)
{
	if (p->on && p->last > 0)
		fprintf(stderr, "\r\033[K");
	p->last = 0;
}
