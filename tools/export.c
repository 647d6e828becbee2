/* SPDX-License-Identifier: Apache-2.0 */
/*
 * export.c - "ckpt export": the array leaves below a step, item or subtree
 * as a directory of .npy files (the tree as the mount shows it) or as one
 * .safetensors file.  Data are streamed leaf by leaf in blocks: memory
 * stays bounded.
 *
 * .npy: format 1.0, the header numpy's np.save writes (dict padded with
 * spaces to a multiple of 64 bytes, ending in a newline).  Types numpy
 * lacks are stored as they are in the leaf: bfloat16 and the float8/6/4
 * kinds as '|V<itemsize>' (np.load(p).view(ml_dtypes.bfloat16)), int4/int2
 * as '|i1' and uint4/uint2 as '|u1' (one value a byte, sign-extended).
 *
 * .safetensors (https://github.com/huggingface/safetensors, "Format"): an
 * 8-byte little-endian header length N, N bytes of JSON (padded with
 * spaces to a multiple of 8), then the byte buffer.  Each tensor's entry is
 * {"dtype", "shape", "data_offsets": [begin, end]} with offsets relative to
 * the buffer, contiguous, no holes; "__metadata__" is a string map.  Tensor
 * names are the mount paths joined with '.'; tensors are laid out by item
 * size (largest first) then name, so each starts aligned to its item size.
 * Dtypes safetensors has no name for (int4, complex, float8 other than
 * e4m3fn and e5m2, ...) are refused, naming the leaf.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CKPT_VERSION
#define CKPT_VERSION "unknown"
#endif
#define COPY_BYTES ((size_t)1 << 20)

struct leaf_out {
	const struct cli_ent *e;
	struct cli_array a;
	char *name;         /* safetensors: the tensor's name */
	const char *st;     /* safetensors dtype */
	uint64_t begin;
};

/* ---------------------------------------------------------------- streaming */

static int copy_leaf(const struct cli_ent *e, uint64_t size, int fd, uint8_t *buf,
		     struct cli_progress *pg, struct ckpt_err *err)
{
	struct ckpt_leaf *l;
	uint64_t off = 0;
	int rc = ckpt_item_leaf(e->item, e->node, &l, err);

	while (rc == 0 && off < size) {
		int64_t r = cli_read_full(l, buf, off, COPY_BYTES, err);

		if (r < 0)
			return (int)r;
		if (r == 0)
			return ckpt_err_set(err, -EIO, "the leaf ended at %llu of %llu bytes",
					    (unsigned long long)off, (unsigned long long)size);
		for (size_t done = 0; done < (size_t)r;) {
			ssize_t w = write(fd, buf + done, (size_t)r - done);

			if (w < 0)
				return ckpt_err_set(err, -errno, "write: %s", strerror(errno));
			done += (size_t)w;
		}
		off += (uint64_t)r;
		cli_progress_add(pg, (uint64_t)r);
	}
	return rc;
}

static int write_all(int fd, const void *p, size_t n, struct ckpt_err *err)
{
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, (const char *)p + done, n - done);

		if (w < 0)
			return ckpt_err_set(err, -errno, "write: %s", strerror(errno));
		done += (size_t)w;
	}
	return 0;
}

/* ---------------------------------------------------------------- .npy */

static const char *npy_descr(const struct cli_array *a, char buf[64])
{
	static const struct {
		const char *name, *descr;
	} map[] = {
		{ "bool", "|b1" },	{ "int8", "|i1" },	  { "uint8", "|u1" },	 { "int16", "<i2" },
		{ "int32", "<i4" },	{ "int64", "<i8" },	  { "uint16", "<u2" },	 { "uint32", "<u4" },
		{ "uint64", "<u8" },	{ "float16", "<f2" },	  { "float32", "<f4" },	 { "float64", "<f8" },
		{ "complex64", "<c8" }, { "complex128", "<c16" }, { "int4", "|i1" },	 { "int2", "|i1" },
		{ "uint4", "|u1" },	{ "uint2", "|u1" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i].name, a->dtype))
			return map[i].descr;
	if (a->numeric) /* bfloat16, float8/6/4 kinds */
		snprintf(buf, 64, "|V%u", a->dt.itemsize);
	else if (a->dtype[0] == 'V' || a->dtype[0] == 'S')
		snprintf(buf, 64, "|%s", a->dtype);
	else if (a->dtype[0] == 'r')
		snprintf(buf, 64, "|V%lu", strtoul(a->dtype + 1, NULL, 10) / 8);
	else
		return NULL;
	return buf;
}

/* the header np.save writes: magic, version 1.0, length, dict, spaces, '\n' */
static size_t npy_header(const struct cli_array *a, const char *descr, char *out, size_t cap)
{
	char shape[64 * 22 + 8], dict[64 * 22 + 128];
	size_t k = 0, n, total;
	int spare = 0;

	k += (size_t)snprintf(shape, sizeof(shape), "(");
	for (uint32_t i = 0; i < a->rank; i++)
		k += (size_t)snprintf(shape + k, sizeof(shape) - k, "%s%llu", i ? ", " : "",
				      (unsigned long long)a->shape[i]);
	snprintf(shape + k, sizeof(shape) - k, a->rank == 1 ? ",)" : ")");
	if (a->rank > 0) /* numpy leaves room for the first axis to grow */
		spare = 21 - snprintf(dict, sizeof(dict), "%llu", (unsigned long long)a->shape[0]);
	n = (size_t)snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': False, 'shape': %s, }%*s",
			     descr, shape, spare > 0 ? spare : 0, "");
	total = (10 + n + 1 + 63) / 64 * 64;
	if (total > cap || total - 10 > 65535)
		return 0;
	memcpy(out, "\x93NUMPY\x01\x00", 8);
	out[8] = (char)((total - 10) & 0xff);
	out[9] = (char)((total - 10) >> 8);
	memcpy(out + 10, dict, n);
	memset(out + 10 + n, ' ', total - 10 - n - 1);
	out[total - 1] = '\n';
	return total;
}

static int mkdirs(char *path, struct ckpt_err *err)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0777) < 0 && errno != EEXIST) {
			int e = errno;

			*p = '/';
			return ckpt_err_set(err, -e, "cannot create '%s': %s", path, strerror(e));
		}
		*p = '/';
	}
	return 0;
}

static int export_npy_one(const char *out, struct leaf_out *lo, uint8_t *buf, struct cli_progress *pg,
			  struct ckpt_err *err)
{
	const struct cli_ent *e = lo->e;
	char descr[64], hdr[4096], *file;
	const char *d = npy_descr(&lo->a, descr);
	size_t hn;
	int fd, rc;

	if (asprintf(&file, "%s/%s%s", out, e->path[0] ? e->path : "leaf", ".npy") < 0)
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	if (!d || !(hn = npy_header(&lo->a, d, hdr, sizeof(hdr)))) {
		free(file);
		return ckpt_err_set(err, -ENOTSUP, "dtype '%s' has no .npy form", lo->a.dtype);
	}
	if ((rc = mkdirs(file, err)) < 0) {
		free(file);
		return rc;
	}
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		rc = ckpt_err_set(err, -errno, "cannot create '%s': %s", file, strerror(errno));
		free(file);
		return rc;
	}
	rc = write_all(fd, hdr, hn, err);
	if (rc == 0)
		rc = copy_leaf(e, lo->a.nbytes, fd, buf, pg, err);
	if (close(fd) < 0 && rc == 0)
		rc = ckpt_err_set(err, -errno, "'%s': %s", file, strerror(errno));
	free(file);
	return rc;
}

static int export_json_item(const char *out, const struct cli_ent *e, struct ckpt_err *err)
{
	const uint8_t *p;
	size_t n;
	char *file;
	int fd, rc;

	if (ckpt_item_json_bytes(e->item, &p, &n) < 0 || asprintf(&file, "%s/%s", out, e->path) < 0)
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	if ((rc = mkdirs(file, err)) == 0) {
		fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		rc = fd < 0 ? ckpt_err_set(err, -errno, "cannot create '%s': %s", file, strerror(errno))
			    : write_all(fd, p, n, err);
		if (fd >= 0)
			close(fd);
	}
	free(file);
	return rc;
}

/* ---------------------------------------------------------------- .safetensors */

static const char *st_dtype(const char *name)
{
	static const struct {
		const char *name, *st;
	} map[] = {
		{ "bool", "BOOL" },	{ "uint8", "U8" },	      { "int8", "I8" },
		{ "int16", "I16" },	{ "uint16", "U16" },	      { "float16", "F16" },
		{ "bfloat16", "BF16" }, { "int32", "I32" },	      { "uint32", "U32" },
		{ "float32", "F32" },	{ "float64", "F64" },	      { "int64", "I64" },
		{ "uint64", "U64" },	{ "float8_e4m3fn", "F8_E4M3" }, { "float8_e5m2", "F8_E5M2" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i].name, name))
			return map[i].st;
	return NULL;
}

static int by_layout(const void *x, const void *y)
{
	const struct leaf_out *a = x, *b = y;

	if (a->a.dt.itemsize != b->a.dt.itemsize)
		return a->a.dt.itemsize > b->a.dt.itemsize ? -1 : 1;
	return strcmp(a->name, b->name);
}

static json_t *st_header(struct leaf_out *lo, size_t n, const char *source)
{
	json_t *h = json_object(), *meta = json_object();
	uint64_t off = 0;

	json_object_set_new(meta, "format", json_string("flax"));
	json_object_set_new(meta, "producer", json_string("ckpt " CKPT_VERSION));
	json_object_set_new(meta, "source", json_string(source));
	json_object_set_new(h, "__metadata__", meta);
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_object(), *shape = json_array();

		for (uint32_t k = 0; k < lo[i].a.rank; k++)
			json_array_append_new(shape, json_integer((json_int_t)lo[i].a.shape[k]));
		lo[i].begin = off;
		json_object_set_new(t, "dtype", json_string(lo[i].st));
		json_object_set_new(t, "shape", shape);
		json_object_set_new(t, "data_offsets", json_pack("[I,I]", (json_int_t)off,
								 (json_int_t)(off + lo[i].a.nbytes)));
		json_object_set_new(h, lo[i].name, t);
		off += lo[i].a.nbytes;
	}
	return h;
}

static int export_st(const char *out, struct leaf_out *lo, size_t n, const char *source,
		     uint8_t *buf, struct cli_progress *pg, struct ckpt_err *err)
{
	json_t *h;
	char *text = NULL, *tmp = NULL;
	size_t tn, pad;
	uint8_t len[8];
	int fd = -1, rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (!(lo[i].st = st_dtype(lo[i].a.dtype)))
			return ckpt_err_set(err, -ENOTSUP,
					    "'%s': safetensors has no dtype for %s (export it as npy)",
					    lo[i].e->path, lo[i].a.dtype);
		for (char *p = lo[i].name; *p; p++)
			*p = *p == '/' ? '.' : *p;
	}
	qsort(lo, n, sizeof(*lo), by_layout);
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			if (!strcmp(lo[i].name, lo[k].name))
				return ckpt_err_set(err, -EEXIST, "'%s' and '%s' both become tensor '%s'",
						    lo[i].e->path, lo[k].e->path, lo[i].name);
	h = st_header(lo, n, source);
	text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(h);
	if (!text || asprintf(&tmp, "%s.tmp", out) < 0) {
		free(text);
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	}
	tn = strlen(text);
	pad = (8 - tn % 8) % 8;
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)((uint64_t)(tn + pad) >> (8 * i));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		rc = ckpt_err_set(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
	if (rc == 0 && (rc = write_all(fd, len, 8, err)) == 0 && (rc = write_all(fd, text, tn, err)) == 0)
		rc = write_all(fd, "        ", pad, err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = copy_leaf(lo[i].e, lo[i].a.nbytes, fd, buf, pg, err);
		if (rc < 0)
			ckpt_err_prefix(err, "'%s': ", lo[i].e->path);
	}
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = ckpt_err_set(err, -errno, "'%s': %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, out) < 0)
		rc = ckpt_err_set(err, -errno, "cannot rename to '%s': %s", out, strerror(errno));
	if (rc < 0 && fd >= 0)
		unlink(tmp);
	free(tmp);
	free(text);
	return rc;
}

/* ---------------------------------------------------------------- the command */

static int collect(struct cli_tree *tr, struct leaf_out **out, size_t *n, uint64_t *total,
		   bool quiet_skip, struct ckpt_err *err)
{
	struct leaf_out *lo = calloc(tr->n ? tr->n : 1, sizeof(*lo));
	int rc = 0;

	*n = 0;
	*total = 0;
	if (!lo)
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < tr->n && rc == 0; i++) {
		const struct cli_ent *e = &tr->e[i];
		struct leaf_out *l = &lo[*n];

		if (e->error) {
			rc = ckpt_err_set(err, -EIO, "'%s': %s", e->path, e->error);
			break;
		}
		if (!e->node || e->empty_dir)
			continue;
		if ((rc = cli_array_of(e->item, e->node, &l->a, err)) < 0) {
			ckpt_err_prefix(err, "'%s': ", e->path);
			break;
		}
		if (!l->a.is_array) {
			if (!quiet_skip)
				fprintf(stderr, "ckpt export: '%s' skipped: not an array\n", e->path);
			continue;
		}
		if (l->a.numeric) {
			uint64_t elems = 1;

			for (uint32_t k = 0; k < l->a.rank; k++)
				elems *= l->a.shape[k];
			if (elems * l->a.dt.itemsize != l->a.nbytes) {
				rc = ckpt_err_set(err, CKPT_ECORRUPT, "'%s': %llu bytes for %s of %llu elements",
						  e->path, (unsigned long long)l->a.nbytes, l->a.dtype,
						  (unsigned long long)elems);
				break;
			}
		}
		l->e = e;
		if (!(l->name = strdup(e->path[0] ? e->path : "leaf")))
			rc = ckpt_err_set(err, -ENOMEM, "out of memory");
		*total += l->a.nbytes;
		(*n)++;
	}
	*out = lo;
	return rc;
}

static int run_export(struct ckpt_src *src, const char *path, const char *out, bool st, bool force,
		      struct ckpt_err *err)
{
	struct target t;
	struct cli_tree tr;
	struct cli_progress pg;
	struct leaf_out *lo = NULL;
	struct stat sb;
	size_t n = 0;
	uint64_t total = 0;
	uint8_t *buf = malloc(COPY_BYTES);
	int rc = buf ? cli_resolve(src, cli_default_path(src, path), &t, err) : ckpt_err_set(err, -ENOMEM, "out of memory");

	if (rc < 0) {
		free(buf);
		return rc;
	}
	if ((rc = cli_tree_load(src, &t, &tr, err)) < 0) {
		cli_target_release(&t);
		free(buf);
		return rc;
	}
	if (!force && lstat(out, &sb) == 0)
		rc = ckpt_err_set(err, -EEXIST, "'%s' exists (--force writes anyway)", out);
	else if (!st && mkdir(out, 0777) < 0 && errno != EEXIST)
		rc = ckpt_err_set(err, -errno, "cannot create '%s': %s", out, strerror(errno));
	if (rc == 0)
		rc = collect(&tr, &lo, &n, &total, false, err);
	cli_progress_start(&pg, "export", total);
	if (rc == 0 && st) {
		rc = export_st(out, lo, n, path, buf, &pg, err);
	} else if (rc == 0) {
		for (size_t i = 0; i < n && rc == 0; i++)
			if ((rc = export_npy_one(out, &lo[i], buf, &pg, err)) < 0)
				ckpt_err_prefix(err, "'%s': ", lo[i].e->path);
		for (size_t i = 0; i < tr.n && rc == 0; i++)
			if (tr.e[i].json_item)
				rc = export_json_item(out, &tr.e[i], err);
	}
	cli_progress_end(&pg);
	for (size_t i = 0; lo && i < n; i++)
		free(lo[i].name);
	free(lo);
	free(buf);
	cli_tree_free(&tr);
	cli_target_release(&t);
	return rc;
}

int cli_export(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "format", required_argument, NULL, 'F' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ckpt_err err = { 0, "" };
	struct ckpt_src *src;
	const char *fmt = "npy";
	bool force = false;
	int c, rc;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":fh", lo, NULL)) != -1) {
		if (c == 'h')
			return cli_usage("export", true);
		if (c == 'F')
			fmt = optarg;
		else if (c == 'f')
			force = true;
		else
			return cli_bad_option("export", c, argv);
	}
	if (strcmp(fmt, "npy") && strcmp(fmt, "safetensors")) {
		fprintf(stderr, "ckpt export: unknown format '%s' (npy or safetensors)\n", fmt);
		return CLI_USAGE;
	}
	if (argc - optind != 3) {
		fprintf(stderr, "ckpt export: expected CHECKPOINT PATH OUT\n");
		return cli_usage("export", false);
	}
	if (cli_open("export", argv[optind], &src))
		return CLI_FAIL;
	rc = run_export(src, argv[optind + 1], argv[optind + 2], !strcmp(fmt, "safetensors"), force, &err);
	ckpt_src_close(src);
	return rc < 0 ? cli_die("export", &err, rc) : 0;
}
