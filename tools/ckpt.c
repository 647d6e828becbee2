/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ckpt - the ckptfs library without FUSE: list, read, inspect, compare and
 * export checkpoints on machines where mounting is not allowed, and inspect
 * OCDBT databases.  Paths inside a checkpoint use the names the mount shows
 * (README.md); docs/cli.md is the manual, tools/ckpt.1 the man page.
 *
 * Exit status: 0 success, 1 failure, 2 bad command line (diff: 0 same,
 * 1 different, 2 trouble, as diff(1)).
 */
#define _GNU_SOURCE
#include "cli.h"
#include "make.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef CKPT_VERSION
#define CKPT_VERSION "unknown"
#endif

static const char usage[] =
	"usage: ckpt [--version] [--help] COMMAND [ARGS]\n"
	"\n"
	"Read checkpoints (a CheckpointManager root or one checkpoint) without mounting:\n"
	"  ls [-l] CHECKPOINT [PATH]        list steps, items and leaves in the mount's order\n"
	"  cat CHECKPOINT PATH              write a leaf's bytes (or a .json file) to stdout\n"
	"  meta CHECKPOINT [PATH]           print the metadata JSON of a step, item or leaf\n"
	"  info CHECKPOINT [PATH]           steps, items, leaves, parameters and bytes by dtype\n"
	"  stats CHECKPOINT [PATH]          per leaf min, max, mean, std, NaN, Inf and zeros\n"
	"  diff CHECKPOINT A B | diff A B   compare two steps, items or checkpoints\n"
	"  export CHECKPOINT STEP[/ITEM] OUT [--format npy|safetensors]\n"
	"                                   write .npy files or one .safetensors file\n"
	"  versions CHECKPOINT [STEP[/ITEM]] list the versions edits recorded\n"
	"  prune [--dry-run] CHECKPOINT STEP[/ITEM]  delete the recorded versions but the last\n"
	"  make OUTDIR [options]            write a synthetic checkpoint\n"
	"  ocdbt ls|get|versions DIR ...    inspect an OCDBT database\n"
	"\n"
	"PATH: STEP/ITEM/KEY/... with the names ckptfs shows; for a single checkpoint the\n"
	"step may be left out.  'latest' names the newest step.\n"
	"'ckpt COMMAND --help' describes a command.  Exit status: 0 success, 1 failure,\n"
	"2 bad usage (diff: 0 same, 1 different, 2 trouble).\n";

static const struct {
	const char *name, *text;
} usages[] = {
	{ "ls", "usage: ckpt ls [-l] CHECKPOINT [PATH]\n"
		"List the steps, items and leaves below PATH (everything by default), one path\n"
		"a line, in the order the mount lists them (steps ascending by number).\n"
		"  -l, --long   bytes, dtype and shape of each leaf\n" },
	{ "cat", "usage: ckpt cat CHECKPOINT PATH\n"
		 "Write a leaf's bytes (little-endian, C order, as the mount shows it) or a\n"
		 "JSON item's file to stdout; a step, item or NAME.json prints its metadata.\n" },
	{ "meta", "usage: ckpt meta CHECKPOINT [PATH]\n"
		  "Print the metadata JSON of the checkpoint, a step, an item or a leaf\n"
		  "(what the mount's .json files hold).\n" },
	{ "info", "usage: ckpt info [--json] CHECKPOINT [PATH]\n"
		  "Count the steps, items and leaves below PATH and total the parameters\n"
		  "(array elements) and bytes, by dtype.  Reads metadata only.\n"
		  "  --json   one JSON object instead of the table\n" },
	{ "stats", "usage: ckpt stats [--json] CHECKPOINT [PATH]\n"
		   "For each numeric leaf below PATH (a step, an item, a subtree or one leaf):\n"
		   "min, max, mean and std (population, ddof=0) of the finite values, and the\n"
		   "counts of NaN, Inf and zeros.  Every dtype (bool, ints, int4/int2, float16,\n"
		   "bfloat16, float8 and float4/6 kinds, float32/64); complex leaves are described\n"
		   "by |z|.  Leaves are read in blocks: memory stays bounded whatever their size.\n"
		   "  --json   a JSON array, one object per leaf, full precision\n" },
	{ "diff", "usage: ckpt diff [-q] [--json] CHECKPOINT A B\n"
		  "       ckpt diff [-q] [--json] CHECKPOINT_A CHECKPOINT_B\n"
		  "Compare two steps, items or subtrees of one checkpoint (A and B are PATHs), or\n"
		  "two checkpoints (a single checkpoint is compared by its step's contents).\n"
		  "Lists leaves added (+), removed (-), changed (M, with the largest absolute and\n"
		  "relative difference of numeric leaves) and dtype or shape changes (T).\n"
		  "Exit status as diff(1): 0 same, 1 different, 2 trouble.\n"
		  "  -q, --quiet  print nothing, only the exit status\n"
		  "  --json       a JSON object of the differences\n" },
	{ "export", "usage: ckpt export [--format npy|safetensors] [--force] CHECKPOINT PATH OUT\n"
		    "Write the leaves below PATH (a step, an item or a subtree) to OUT:\n"
		    "  --format npy          (default) a directory: one NAME.npy per array leaf,\n"
		    "                        folders as the mount shows them (escaped names)\n"
		    "  --format safetensors  one file as the safetensors format defines it; tensor\n"
		    "                        names are the paths joined with '.'; dtypes it lacks\n"
		    "                        (int4, complex, float8 kinds other than e4m3fn/e5m2,\n"
		    "                        ...) are refused, naming the leaf\n"
		    "  -f, --force           write even if OUT exists (a .safetensors is replaced;\n"
		    "                        in a directory the files exported are replaced)\n"
		    "Data are streamed: memory stays bounded whatever the leaves' size.\n" },
	{ "versions", "usage: ckpt versions CHECKPOINT [STEP[/ITEM]]\n"
		      "List the versions edits through a read-write mount recorded (oldest first):\n"
		      "STEP/ITEM, version, time, change.\n" },
	{ "prune", "usage: ckpt prune [-n|--dry-run] CHECKPOINT STEP[/ITEM]\n"
		   "Delete the recorded versions of a step's items (or one item) but the last;\n"
		   "their files are removed.\n"
		   "  -n, --dry-run   list the files that would be deleted and their bytes;\n"
		   "                  delete nothing\n" },
	{ "make", NULL },
	{ "ocdbt", "usage: ckpt ocdbt ls [--sha256] DIR   list the keys of an OCDBT database\n"
		   "       ckpt ocdbt get DIR KEY         write one value to stdout\n"
		   "       ckpt ocdbt versions DIR        list the generations of an OCDBT database\n" },
};

int cli_usage(const char *cmd, bool ok)
{
	FILE *f = ok ? stdout : stderr;

	if (cmd && !strcmp(cmd, "make")) {
		char a0[] = "ckpt", a1[] = "make", a2[] = "--help", *v[] = { a0, a1, a2, NULL };

		return ok ? ckpt_cmd_make(3, v) : CLI_USAGE;
	}
	for (size_t i = 0; cmd && i < sizeof(usages) / sizeof(usages[0]); i++)
		if (!strcmp(usages[i].name, cmd)) {
			fputs(usages[i].text, f);
			return ok ? 0 : CLI_USAGE;
		}
	fputs(usage, f);
	return ok ? 0 : CLI_USAGE;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
	const char *sp = *cmd ? " " : "";

	if (c == ':')
		fprintf(stderr, "ckpt%s%s: option '%s' needs a value; see 'ckpt%s%s --help'\n", sp, cmd,
			argv[optind - 1], sp, cmd);
	else if (optopt)
		fprintf(stderr, "ckpt%s%s: unknown option '-%c'; see 'ckpt%s%s --help'\n", sp, cmd,
			optopt, sp, cmd);
	else
		fprintf(stderr, "ckpt%s%s: unknown option '%s'; see 'ckpt%s%s --help'\n", sp, cmd,
			argv[optind - 1], sp, cmd);
	return CLI_USAGE;
}

/* ---------------------------------------------------------------- ls */

static const char *kind_name(const struct ckpt_node *n)
{
	switch (ckpt_node_kind(n)) {
	case CKPT_NODE_STRING:
		return "string";
	case CKPT_NODE_NONE:
		return "none";
	case CKPT_NODE_FILE:
		return "file";
	default:
		return "array";
	}
}

static void ls_ent(const struct cli_ent *e, const char *prefix, bool lng)
{
	struct ckpt_err err = { 0, "" };
	struct cli_array a;
	char *p = cli_join(prefix, e->path), shape[256];

	if (!p)
		return;
	if (e->error)
		printf("%s: error: %s\n", p, e->error);
	else if (e->empty_dir)
		printf("%s/\n", p);
	else if (!lng || e->json_item)
		printf("%s\n", p);
	else if (cli_array_of(e->item, e->node, &a, &err) < 0)
		printf("%-12s %s  (%s)\n", "?", p, err.msg);
	else if (a.is_array) {
		cli_shape_str(&a, shape, sizeof(shape));
		printf("%12llu %s  %s%s\n", (unsigned long long)a.nbytes, p, a.dtype, shape);
	} else {
		printf("%12llu %s  %s\n", (unsigned long long)a.nbytes, p, kind_name(e->node));
	}
	free(p);
}

static int cmd_ls(struct ckpt_src *src, const char *path, bool lng)
{
	struct ckpt_err err = { 0, "" };
	struct target t;
	struct cli_tree tr;
	char *prefix;
	int rc = cli_resolve(src, path, &t, &err);

	if (rc < 0)
		return cli_die("ls", &err, rc);
	if (t.kind != T_ROOT && t.kind != T_STEP && t.kind != T_ITEM && t.kind != T_NODE) {
		printf("%s\n", path); /* a .json file */
		cli_target_release(&t);
		return 0;
	}
	prefix = strdup(t.kind == T_ROOT ? "" : t.kind == T_STEP ? ckpt_step_name(t.step) : path);
	if (prefix && t.kind == T_NODE && !ckpt_node_is_dir(t.node)) {
		char *slash = strrchr(prefix, '/'); /* the entry is named by the leaf's key */

		if (slash)
			*slash = 0;
		else
			*prefix = 0;
	}
	while (prefix && *prefix && prefix[strlen(prefix) - 1] == '/')
		prefix[strlen(prefix) - 1] = 0;
	if (!prefix || (rc = cli_tree_load(src, &t, &tr, &err)) < 0) {
		free(prefix);
		cli_target_release(&t);
		return cli_die("ls", &err, rc ? rc : -ENOMEM);
	}
	for (size_t i = 0; i < tr.n; i++)
		ls_ent(&tr.e[i], prefix, lng);
	free(prefix);
	cli_tree_free(&tr);
	cli_target_release(&t);
	return fflush(stdout) ? CLI_FAIL : 0;
}

int cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII);

	if (!s || !(s = cli_unmirror(s)))
		return 1;
	printf("%s\n", s);
	free(s);
	return 0;
}

static int cmd_meta(struct ckpt_src *src, const char *path)
{
#define CMD "meta"
	struct ckpt_err err = { 0, "" };
	struct target t;
	json_t *j = NULL;
	int rc = cli_resolve(src, path, &t, &err);

	if (rc < 0)
		return cli_die(CMD, &err, rc);
	switch (t.kind) {
	case T_ROOT: {
		struct ckpt_step_ent *e;
		size_t n;

		j = json_object();
		if (ckpt_src_scan(src, &e, &n, &err) == 0) {
			json_t *a = json_array();

			for (size_t i = 0; i < n; i++)
				json_array_append_new(a, json_string(e[i].name));
			json_object_set_new(j, "steps", a);
			ckpt_step_ents_free(e, n);
		}
		json_object_set_new(j, "path", json_string(ckpt_src_path(src)));
		break;
	}
	case T_STEP:
	case T_STEP_JSON:
		j = ckpt_step_describe(t.step);
		break;
	case T_ITEM:
	case T_ITEM_JSON:
		j = ckpt_item_describe(t.item, &err);
		break;
	case T_NODE:
	case T_NODE_JSON:
		j = ckpt_leaf_describe(t.item, t.node, &err);
		break;
	case T_JSON_ITEM: {
		const uint8_t *p;
		size_t n;

		ckpt_item_json_bytes(t.item, &p, &n);
		j = json_loadb((const char *)p, n, 0, NULL);
		break;
	}
	}
	rc = j ? cli_print_json(j) : 1;
	json_decref(j);
	cli_target_release(&t);
	return rc;
}

#undef CMD

static int cmd_cat(struct ckpt_src *src, const char *path)
{
#define CMD "cat"
	struct ckpt_err err = { 0, "" };
	struct target t;
	struct ckpt_leaf *l;
	static uint8_t buf[1 << 20];
	uint64_t off = 0;
	int rc = cli_resolve(src, path, &t, &err);

	if (rc < 0)
		return cli_die(CMD, &err, rc);
	if (t.kind == T_JSON_ITEM) {
		const uint8_t *p;
		size_t n;

		ckpt_item_json_bytes(t.item, &p, &n);
		rc = fwrite(p, 1, n, stdout) == n ? 0 : 1;
		cli_target_release(&t);
		return rc;
	}
	if (t.kind != T_NODE || ckpt_node_is_dir(t.node)) {
		cli_target_release(&t);
		if (t.kind == T_NODE) {
			fprintf(stderr, "ckpt: '%s' is a directory\n", path);
			return 1;
		}
		return cmd_meta(src, path);
	}
	if ((rc = ckpt_item_leaf(t.item, t.node, &l, &err)) < 0) {
		cli_target_release(&t);
		return cli_die(CMD, &err, rc);
	}
	for (;;) {
		int64_t r = ckpt_leaf_read(l, buf, off, sizeof(buf), &err);

		if (r < 0) {
			cli_target_release(&t);
			return cli_die(CMD, &err, (int)r);
		}
		if (r == 0)
			break;
		if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r) {
			cli_target_release(&t);
			return 1;
		}
		off += (uint64_t)r;
	}
	cli_target_release(&t);
	return fflush(stdout) ? 1 : 0;
}
#undef CMD

/* ---------------------------------------------------------------- ocdbt */

static void print_key(const struct ckpt_bytes *k)
{
	for (size_t i = 0; i < k->n; i++) {
		uint8_t c = k->p[i];

		if (c < 0x21 || c > 0x7e || c == '%')
			printf("%%%02X", c);
		else
			putchar(c);
	}
}

static int cmd_ocdbt(int argc, char **argv, const struct ckpt_opts *o)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_ocdbt_db *db;
	bool digest = false;
	const char *sub, *dir;
	int fd, rc, a = 1;

	if (argc < 3)
		goto usage;
	sub = argv[a++];
	if (!strcmp(argv[a], "--sha256")) {
		digest = true;
		a++;
	}
	if (a >= argc)
		goto usage;
	dir = argv[a++];
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ckpt ocdbt: cannot open '%s': %s\n", dir, strerror(errno));
		return 1;
	}
	if (!strcmp(sub, "versions")) {
		struct ckpt_ocdbt_gen *g;
		size_t n;

		rc = ckpt_ocdbt_list_generations(fd, dir, &o->lim, &g, &n, &err);
		close(fd);
		if (rc < 0)
			return cli_die("ocdbt", &err, rc);
		for (size_t i = 0; i < n; i++)
			printf("%llu %llu keys=%llu root=%s@%llu+%llu\n",
			       (unsigned long long)g[i].generation, (unsigned long long)g[i].commit_time,
			       (unsigned long long)g[i].num_keys, g[i].root_path ? g[i].root_path : "-",
			       (unsigned long long)g[i].root_offset, (unsigned long long)g[i].root_length);
		ckpt_ocdbt_gens_free(g, n);
		return 0;
	}
	rc = ckpt_ocdbt_open(&db, fd, dir, 0, &o->lim, &err);
	close(fd);
	if (rc < 0)
		return cli_die("ocdbt", &err, rc);
	if (!strcmp(sub, "ls")) {
		for (size_t i = 0; i < ckpt_ocdbt_count(db); i++) {
			const struct ckpt_ocdbt_value *v = ckpt_ocdbt_at(db, i);

			print_key(&v->key);
			printf(" %llu", (unsigned long long)v->len);
			if (digest) {
				struct sha256 s;
				char hex[65];
				uint8_t *buf = malloc(v->len ? (size_t)v->len : 1);

				if (!buf || ckpt_ocdbt_read(db, v, 0, (size_t)v->len, buf, &err) < 0) {
					free(buf);
					ckpt_ocdbt_close(db);
					return cli_die("ocdbt", &err, -EIO);
				}
				sha256_init(&s);
				sha256_update(&s, buf, (size_t)v->len);
				sha256_hex(&s, hex);
				printf(" %s", hex);
				free(buf);
			}
			if (v->inline_p)
				printf(" inline\n");
			else
				printf(" %s@%llu\n", ckpt_ocdbt_file_path(db, v->file),
				       (unsigned long long)v->offset);
		}
	} else if (!strcmp(sub, "get") && a < argc) {
		const struct ckpt_ocdbt_value *v = ckpt_ocdbt_find(db, argv[a], strlen(argv[a]));
		uint8_t *buf;

		if (!v) {
			fprintf(stderr, "ckpt ocdbt: no key '%s'\n", argv[a]);
			ckpt_ocdbt_close(db);
			return 1;
		}
		buf = malloc(v->len ? (size_t)v->len : 1);
		if (!buf || ckpt_ocdbt_read(db, v, 0, (size_t)v->len, buf, &err) < 0) {
			free(buf);
			ckpt_ocdbt_close(db);
			return cli_die("ocdbt", &err, -EIO);
		}
		fwrite(buf, 1, (size_t)v->len, stdout);
		free(buf);
	} else {
		ckpt_ocdbt_close(db);
		goto usage;
	}
	ckpt_ocdbt_close(db);
	return 0;
usage:
	return cli_usage("ocdbt", false);
}

/* versions and prune: every pytree item the path names (a step: all of them) */
static int cmd_versions(struct ckpt_src *src, const char *path, bool prune, bool dry_run)
{
	struct ckpt_err err = { 0, "" };
	struct target t;
	size_t lo, hi;
	uint64_t total[2] = { 0, 0 };
	int rc = cli_resolve(src, *path ? path : "latest", &t, &err);

	if (rc < 0)
		return cli_die(prune ? "prune" : "versions", &err, rc);
	if (t.kind == T_ITEM && t.node == ckpt_item_root(t.item)) {
		lo = t.index;
		hi = t.index + 1;
	} else if (t.kind == T_STEP) {
		lo = 0;
		hi = ckpt_step_n_items(t.step);
	} else {
		cli_target_release(&t);
		fprintf(stderr, "ckpt %s: '%s' is not a step or an item\n", prune ? "prune" : "versions",
			path);
		return 2;
	}
	for (size_t i = lo; i < hi && rc == 0; i++) {
		const struct ckpt_item_info *info = ckpt_step_item(t.step, i);
		struct ckpt_version_info *v;
		size_t n;

		if (info->kind != CKPT_ITEM_PYTREE)
			continue;
		if ((rc = ckpt_item_versions(t.step, i, &v, &n, &err)) < 0)
			break;
		if (prune && dry_run) {
			ckpt_version_infos_free(v, n);
			if (n > 1)
				rc = cli_prune_dry_run(t.step, i, n - 1, total, &err);
			continue;
		}
		if (prune) {
			ckpt_version_infos_free(v, n);
			if (n > 1 && (rc = ckpt_item_prune(t.step, i, &err)) == 0)
				printf("%s/%s: %zu older versions deleted\n", ckpt_step_name(t.step),
				       info->name, n - 1);
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			time_t sec = (time_t)(v[k].time_ns / 1000000000ull);
			struct tm tm;
			char when[32];

			gmtime_r(&sec, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			printf("%s/%s\t%llu\t%s\t%s\n", ckpt_step_name(t.step), info->name,
			       (unsigned long long)v[k].version, when, v[k].change ? v[k].change : "");
		}
		ckpt_version_infos_free(v, n);
	}
	cli_target_release(&t);
	if (dry_run && rc == 0)
		printf("would delete %llu files, %llu bytes (nothing deleted: --dry-run)\n",
		       (unsigned long long)total[0], (unsigned long long)total[1]);
	return rc < 0 ? cli_die(prune ? "prune" : "versions", &err, rc) : 0;
}

/* ---------------------------------------------------------------- command lines */

/* options -h/--help and the ones in `more`; positional arguments between lo
 * and hi.  @return -1 (go on), or the exit status */
static int simple_opts(const char *cmd, int argc, char **argv, const char *shortopts,
		       const struct option *more, int lo, int hi, bool *flag)
{
	struct option lopts[4] = { { "help", no_argument, NULL, 'h' } };
	char so[16];
	int c, k = 1;

	for (; more && more[k - 1].name && k < 3; k++)
		lopts[k] = more[k - 1];
	snprintf(so, sizeof(so), ":h%s", shortopts);
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, so, lopts, NULL)) != -1) {
		if (c == 'h')
			return cli_usage(cmd, true);
		if (c == '?' || c == ':')
			return cli_bad_option(cmd, c, argv);
		*flag = true;
	}
	if (argc - optind < lo || argc - optind > hi) {
		fprintf(stderr, "ckpt %s: wrong number of arguments\n", cmd);
		return cli_usage(cmd, false);
	}
	return -1;
}

/* ls, cat, meta, versions, prune: CHECKPOINT then a PATH */
static int cmd_path(int argc, char **argv)
{
	static const struct option ls_o[] = { { "long", no_argument, NULL, 'l' }, { NULL, 0, NULL, 0 } };
	static const struct option pr_o[] = { { "dry-run", no_argument, NULL, 'n' },
					      { NULL, 0, NULL, 0 } };
	const char *cmd = argv[0], *path;
	bool flag = false, ls = !strcmp(cmd, "ls"), prune = !strcmp(cmd, "prune");
	bool need = prune || !strcmp(cmd, "cat");
	struct ckpt_src *src;
	int rc = simple_opts(cmd, argc, argv, ls ? "l" : prune ? "n" : "", ls ? ls_o : prune ? pr_o : NULL,
			     need ? 2 : 1, 2, &flag);

	if (rc >= 0)
		return rc;
	if (prune && !flag && ckpt_remote_is_url(argv[optind])) {
		fprintf(stderr, "ckpt prune: '%s' is on object storage, which ckpt only reads "
			"(--dry-run shows what would go)\n", argv[optind]);
		return CLI_FAIL;
	}
	if (cli_open(cmd, argv[optind], &src))
		return CLI_FAIL;
	path = optind + 1 < argc ? argv[optind + 1] : "";
	if (ls)
		rc = cmd_ls(src, path, flag);
	else if (!strcmp(cmd, "cat"))
		rc = cmd_cat(src, path);
	else if (!strcmp(cmd, "meta"))
		rc = cmd_meta(src, path);
	else
		rc = cmd_versions(src, path, prune, flag);
	ckpt_src_close(src);
	return rc;
}

static int cmd_make(int argc, char **argv)
{
	return ckpt_cmd_make(argc + 1, argv - 1); /* make.c counts from "ckpt" */
}

static int cmd_ocdbt_main(int argc, char **argv)
{
	struct ckpt_opts o;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return cli_usage("ocdbt", true);
	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--sha256")) {
			fprintf(stderr, "ckpt ocdbt: unknown option '%s'; see 'ckpt ocdbt --help'\n", argv[i]);
			return CLI_USAGE;
		}
	ckpt_opts_default(&o);
	return cmd_ocdbt(argc, argv, &o);
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "ls", cmd_path },	  { "cat", cmd_path },	       { "meta", cmd_path },
	{ "versions", cmd_path }, { "prune", cmd_path },       { "info", cli_info },
	{ "stats", cli_stats },	  { "diff", cli_diff },	       { "export", cli_export },
	{ "make", cmd_make },	  { "ocdbt", cmd_ocdbt_main },
};

int main(int argc, char **argv)
{
	static const struct option top[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* decoded chunks and pieces are allocated and freed by the MiB: keep
	 * them on the heap, so that freed memory is reused instead of mapped
	 * and zeroed again for each one (halves the time of a streamed read) */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_ARENA_MAX, 2); /* frees in another thread's arena were zeroed again */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hV", top, NULL)) != -1) {
		if (c == 'h')
			return cli_usage(NULL, true);
		if (c == 'V') {
			printf("ckpt %s\n", CKPT_VERSION);
			return 0;
		}
		return cli_bad_option("", c, argv);
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[optind], "help"))
		return cli_usage(optind + 1 < argc ? argv[optind + 1] : NULL, true);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, argv[optind]))
			return commands[i].fn(argc - optind, argv + optind);
	fprintf(stderr, "ckpt: '%s' is not a ckpt command; see 'ckpt --help'\n", argv[optind]);
	return CLI_USAGE;
}
