/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ckpt - the ckptfs library without FUSE: list and read checkpoints on
 * machines where mounting is not allowed, and inspect OCDBT databases.
 * Paths inside a checkpoint use the names the mount shows (README.md).
 */
#define _GNU_SOURCE
#include "ckpt_internal.h"
#include "make.h"
#include "sha256.h"

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"usage: ckpt ls [-l] CHECKPOINT [PATH]   list steps, items and leaves\n"
	"       ckpt cat CHECKPOINT PATH         write a leaf's bytes (or a .json file) to stdout\n"
	"       ckpt meta CHECKPOINT [PATH]      print the metadata JSON of a step, item or leaf\n"
	"       ckpt make OUTDIR [options]       write a synthetic checkpoint (ckpt make --help)\n"
	"       ckpt versions CHECKPOINT [STEP[/ITEM]]  list the versions edits recorded\n"
	"       ckpt prune CHECKPOINT STEP[/ITEM]       delete the recorded versions but the last\n"
	"       ckpt ocdbt ls [--sha256] DIR     list the keys of an OCDBT database\n"
	"       ckpt ocdbt get DIR KEY           write one value to stdout\n"
	"       ckpt ocdbt versions DIR          list the generations of an OCDBT database\n"
	"PATH: STEP/ITEM/KEY/... with the names ckptfs shows; for a single checkpoint the\n"
	"step may be left out.  'latest' names the newest step.\n";

static int die(const struct ckpt_err *e, int rc)
{
	fprintf(stderr, "ckpt: %s\n", e->code ? e->msg : ckpt_strerror(rc));
	return 1;
}

/* ---------------------------------------------------------------- resolving paths */

struct target {
	struct ckpt_step *step;
	struct ckpt_item *item;
	const struct ckpt_node *node;
	size_t index; /* the item's index in the step */
	enum { T_ROOT, T_STEP, T_STEP_JSON, T_ITEM, T_ITEM_JSON, T_JSON_ITEM, T_NODE, T_NODE_JSON } kind;
};

static char **split(const char *path, size_t *n)
{
	char *copy = strdup(path ? path : ""), *save = NULL, *tok, **v = NULL;
	size_t cnt = 0;

	for (tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		v = realloc(v, (cnt + 1) * sizeof(*v));
		v[cnt++] = strdup(tok);
	}
	free(copy);
	*n = cnt;
	return v;
}

static bool strip_suffix(char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);

	if (n <= k || strcmp(s + n - k, suf))
		return false;
	s[n - k] = 0;
	return true;
}

/* the child of n named `name` as the mount names it */
static const struct ckpt_node *child_named(const struct ckpt_node *n, const char *name)
{
	char *key, canon[CKPT_NAME_MAX + 1];
	size_t len;
	unsigned dup;
	uint64_t hash;
	bool is_hash;
	const struct ckpt_node *c = NULL;

	if (ckpt_name_unescape(name, &key, &len, &dup, &hash, &is_hash) < 0)
		return NULL;
	for (size_t i = 0; i < ckpt_node_n_children(n); i++) {
		size_t kl;
		const char *k = ckpt_node_key(ckpt_node_child(n, i), &kl);

		ckpt_name_escape(k, kl, 0, canon);
		if (!strcmp(canon, name)) {
			c = ckpt_node_child(n, i);
			break;
		}
	}
	free(key);
	return c;
}

static int resolve(struct ckpt_src *src, const char *path, struct target *t, struct ckpt_err *err)
{
	struct ckpt_step_ent *ents;
	size_t n_ent, nc, i = 0;
	char **comp = split(path, &nc);
	char *step = NULL;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if ((rc = ckpt_src_scan(src, &ents, &n_ent, err)) < 0)
		goto out;
	if (nc == 0) {
		t->kind = T_ROOT;
		ckpt_step_ents_free(ents, n_ent);
		goto out;
	}
	if (ckpt_src_kind(src) == CKPT_SRC_SINGLE && strcmp(comp[0], ents[0].name) &&
	    strcmp(comp[0], "latest") && strcmp(comp[0], ents[0].name))
		step = strdup(ents[0].name); /* the step was left out */
	else {
		char *c0 = comp[i++];
		bool json = strip_suffix(c0, ".json");

		step = strdup(!strcmp(c0, "latest") && n_ent ? ents[n_ent - 1].name : c0);
		if (json) {
			t->kind = T_STEP_JSON;
			if (i != nc)
				rc = -ENOENT;
		}
	}
	rc = rc ? rc : ckpt_step_open(&t->step, src, step, err);
	ckpt_step_ents_free(ents, n_ent);
	if (rc < 0 || t->kind == T_STEP_JSON)
		goto out;
	if (i == nc) {
		t->kind = T_STEP;
		goto out;
	}
	if (ckpt_step_is_direct(t->step)) {
		rc = ckpt_item_open(&t->item, t->step, 0, err);
	} else {
		char *c = comp[i++];
		bool json = strip_suffix(c, ".json");
		size_t k;

		for (k = 0; k < ckpt_step_n_items(t->step); k++)
			if (!strcmp(ckpt_step_item(t->step, k)->name, c))
				break;
		if (k == ckpt_step_n_items(t->step)) {
			rc = ckpt_err_set(err, -ENOENT, "no item '%s' in step '%s'", c, step);
			goto out;
		}
		t->index = k;
		if ((rc = ckpt_item_open(&t->item, t->step, k, err)) < 0)
			goto out;
		if (json) {
			t->kind = ckpt_item_kind(t->item) == CKPT_ITEM_JSON ? T_JSON_ITEM : T_ITEM_JSON;
			if (i != nc)
				rc = -ENOENT;
			goto out;
		}
	}
	if (rc < 0)
		goto out;
	t->node = ckpt_item_root(t->item);
	t->kind = T_ITEM;
	for (; i < nc; i++) {
		const struct ckpt_node *c = t->node ? child_named(t->node, comp[i]) : NULL;

		if (!c && i + 1 == nc && strip_suffix(comp[i], ".json") &&
		    (c = child_named(t->node, comp[i])) && !ckpt_node_is_dir(c)) {
			t->node = c;
			t->kind = T_NODE_JSON;
			goto out;
		}
		if (!c) {
			rc = ckpt_err_set(err, -ENOENT, "'%s': no such entry", path);
			goto out;
		}
		t->node = c;
		t->kind = T_NODE;
	}
out:
	for (size_t k = 0; k < nc; k++)
		free(comp[k]);
	free(comp);
	free(step);
	return rc;
}

static void target_release(struct target *t)
{
	ckpt_item_close(t->item);
	ckpt_step_close(t->step);
}

/* ---------------------------------------------------------------- commands */

static void print_dims(const json_t *shape)
{
	size_t i;
	json_t *v;

	putchar('[');
	json_array_foreach(shape, i, v)
		printf("%s%lld", i ? "," : "", (long long)json_integer_value(v));
	putchar(']');
}

static void ls_node(struct ckpt_item *it, const struct ckpt_node *n, const char *prefix, bool lng)
{
	/* explicit stack: the depth comes from the data */
	struct frame {
		const struct ckpt_node *n;
		char *path;
	} *st = malloc(sizeof(*st));
	size_t sn = 1, cap = 1;

	st[0].n = n;
	st[0].path = strdup(prefix);
	while (sn > 0) {
		struct frame f = st[--sn];

		for (size_t i = ckpt_node_n_children(f.n); i-- > 0;) {
			const struct ckpt_node *c = ckpt_node_child(f.n, i);
			char name[CKPT_NAME_MAX + 1], *p;
			size_t kl;
			const char *k = ckpt_node_key(c, &kl);

			ckpt_name_escape(k, kl, 0, name);
			if (asprintf(&p, "%s%s%s", f.path, f.path[0] ? "/" : "", name) < 0)
				continue;
			if (ckpt_node_is_dir(c)) {
				if (sn == cap)
					st = realloc(st, (cap *= 2) * sizeof(*st));
				st[sn].n = c;
				st[sn++].path = p;
				if (!ckpt_node_n_children(c))
					printf("%s/\n", p);
				continue;
			}
			if (lng) {
				struct ckpt_err e = { 0, "" };
				json_t *d = ckpt_leaf_describe(it, c, &e);

				if (json_object_get(d, "error"))
					printf("%-12s %s  (%s)\n", "?", p,
					       json_string_value(json_object_get(d, "error")));
				else {
					printf("%12lld %s ",
					       (long long)json_integer_value(json_object_get(d, "nbytes")), p);
					if (json_object_get(d, "dtype")) {
						printf(" %s", json_string_value(json_object_get(d, "dtype")));
						print_dims(json_object_get(d, "shape"));
					} else {
						printf(" %s", json_string_value(json_object_get(d, "kind")));
					}
					putchar('\n');
				}
				json_decref(d);
			} else {
				printf("%s\n", p);
			}
			free(p);
		}
		free(f.path);
	}
	free(st);
}

static int ls_step(struct ckpt_step *st, const char *prefix, bool lng, struct ckpt_err *err)
{
	for (size_t i = 0; i < ckpt_step_n_items(st); i++) {
		const struct ckpt_item_info *info = ckpt_step_item(st, i);
		struct ckpt_item *it;
		char *p;
		int rc;

		if (info->kind == CKPT_ITEM_JSON) {
			printf("%s/%s.json\n", prefix, info->name);
			continue;
		}
		rc = ckpt_item_open(&it, st, i, err);
		if (asprintf(&p, "%s%s%s", prefix, info->name[0] ? "/" : "", info->name) < 0)
			return -ENOMEM;
		if (rc < 0) {
			printf("%s: error: %s\n", p, err->msg);
			ckpt_err_clear(err);
		} else {
			ls_node(it, ckpt_item_root(it), p, lng);
			ckpt_item_close(it);
		}
		free(p);
	}
	return 0;
}

static int cmd_ls(struct ckpt_src *src, const char *path, bool lng)
{
	struct ckpt_err err = { 0, "" };
	struct target t;
	int rc = resolve(src, path, &t, &err);

	if (rc < 0)
		return die(&err, rc);
	if (t.kind == T_ROOT) {
		struct ckpt_step_ent *e;
		size_t n;

		if ((rc = ckpt_src_scan(src, &e, &n, &err)) < 0)
			return die(&err, rc);
		for (size_t i = 0; i < n; i++) {
			struct ckpt_step *st;

			if (ckpt_step_open(&st, src, e[i].name, &err) < 0) {
				printf("%s: error: %s\n", e[i].name, err.msg);
				ckpt_err_clear(&err);
				continue;
			}
			ls_step(st, e[i].name, lng, &err);
			ckpt_step_close(st);
		}
		ckpt_step_ents_free(e, n);
	} else if (t.kind == T_STEP) {
		ls_step(t.step, ckpt_step_name(t.step), lng, &err);
	} else if (t.node && ckpt_node_is_dir(t.node)) {
		ls_node(t.item, t.node, path, lng);
	} else {
		printf("%s\n", path);
	}
	target_release(&t);
	return 0;
}

static int write_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII);

	if (!s)
		return 1;
	printf("%s\n", s);
	free(s);
	return 0;
}

static int cmd_meta(struct ckpt_src *src, const char *path)
{
	struct ckpt_err err = { 0, "" };
	struct target t;
	json_t *j = NULL;
	int rc = resolve(src, path, &t, &err);

	if (rc < 0)
		return die(&err, rc);
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
	rc = j ? write_json(j) : 1;
	json_decref(j);
	target_release(&t);
	return rc;
}

static int cmd_cat(struct ckpt_src *src, const char *path)
{
	struct ckpt_err err = { 0, "" };
	struct target t;
	struct ckpt_leaf *l;
	static uint8_t buf[1 << 20];
	uint64_t off = 0;
	int rc = resolve(src, path, &t, &err);

	if (rc < 0)
		return die(&err, rc);
	if (t.kind == T_JSON_ITEM) {
		const uint8_t *p;
		size_t n;

		ckpt_item_json_bytes(t.item, &p, &n);
		rc = fwrite(p, 1, n, stdout) == n ? 0 : 1;
		target_release(&t);
		return rc;
	}
	if (t.kind != T_NODE || ckpt_node_is_dir(t.node)) {
		target_release(&t);
		if (t.kind == T_NODE) {
			fprintf(stderr, "ckpt: '%s' is a directory\n", path);
			return 1;
		}
		return cmd_meta(src, path);
	}
	if ((rc = ckpt_item_leaf(t.item, t.node, &l, &err)) < 0) {
		target_release(&t);
		return die(&err, rc);
	}
	for (;;) {
		int64_t r = ckpt_leaf_read(l, buf, off, sizeof(buf), &err);

		if (r < 0) {
			target_release(&t);
			return die(&err, (int)r);
		}
		if (r == 0)
			break;
		if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r) {
			target_release(&t);
			return 1;
		}
		off += (uint64_t)r;
	}
	target_release(&t);
	return fflush(stdout) ? 1 : 0;
}

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
	int fd, rc, a = 2;

	if (argc < 4)
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
		fprintf(stderr, "ckpt: cannot open '%s': %s\n", dir, strerror(errno));
		return 1;
	}
	if (!strcmp(sub, "versions")) {
		struct ckpt_ocdbt_gen *g;
		size_t n;

		rc = ckpt_ocdbt_list_generations(fd, dir, &o->lim, &g, &n, &err);
		close(fd);
		if (rc < 0)
			return die(&err, rc);
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
		return die(&err, rc);
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
					return die(&err, -EIO);
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
			fprintf(stderr, "ckpt: no key '%s'\n", argv[a]);
			ckpt_ocdbt_close(db);
			return 1;
		}
		buf = malloc(v->len ? (size_t)v->len : 1);
		if (!buf || ckpt_ocdbt_read(db, v, 0, (size_t)v->len, buf, &err) < 0) {
			free(buf);
			ckpt_ocdbt_close(db);
			return die(&err, -EIO);
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
	fputs(usage, stderr);
	return 2;
}

/* versions and prune: every pytree item the path names (a step: all of them) */
static int cmd_versions(struct ckpt_src *src, const char *path, bool prune)
{
	struct ckpt_err err = { 0, "" };
	struct target t;
	size_t lo, hi;
	int rc = resolve(src, *path ? path : "latest", &t, &err);

	if (rc < 0)
		return die(&err, rc);
	if (t.kind == T_ITEM && t.node == ckpt_item_root(t.item)) {
		lo = t.index;
		hi = t.index + 1;
	} else if (t.kind == T_STEP) {
		lo = 0;
		hi = ckpt_step_n_items(t.step);
	} else {
		target_release(&t);
		fprintf(stderr, "ckpt: '%s' is not a step or an item\n", path);
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
	target_release(&t);
	return rc < 0 ? die(&err, rc) : 0;
}

int main(int argc, char **argv)
{
	struct ckpt_opts o;
	struct ckpt_err err = { 0, "" };
	struct ckpt_src *src;
	const char *cmd;
	bool lng = false;
	int a = 2, rc;

	/* decoded chunks and pieces are allocated and freed by the MiB: keep
	 * them on the heap, so that freed memory is reused instead of mapped
	 * and zeroed again for each one (halves the time of a streamed read) */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_ARENA_MAX, 2); /* frees in another thread's arena were zeroed again */
	ckpt_opts_default(&o);
	if (argc < 2)
		goto usage;
	cmd = argv[1];
	if (!strcmp(cmd, "ocdbt"))
		return cmd_ocdbt(argc, argv, &o);
	if (!strcmp(cmd, "make"))
		return ckpt_cmd_make(argc, argv);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (a < argc && !strcmp(argv[a], "-l")) {
		lng = true;
		a++;
	}
	if (a >= argc)
		goto usage;
	rc = ckpt_src_open(&src, argv[a], &o, &err);
	if (rc < 0)
		return die(&err, rc);
	if (!strcmp(cmd, "ls"))
		rc = cmd_ls(src, a + 1 < argc ? argv[a + 1] : "", lng);
	else if (!strcmp(cmd, "cat") && a + 1 < argc)
		rc = cmd_cat(src, argv[a + 1]);
	else if (!strcmp(cmd, "meta"))
		rc = cmd_meta(src, a + 1 < argc ? argv[a + 1] : "");
	else if (!strcmp(cmd, "versions"))
		rc = cmd_versions(src, a + 1 < argc ? argv[a + 1] : "", false);
	else if (!strcmp(cmd, "prune") && a + 1 < argc)
		rc = cmd_versions(src, argv[a + 1], true);
	else {
		ckpt_src_close(src);
		goto usage;
	}
	ckpt_src_close(src);
	return rc;
usage:
	fputs(usage, stderr);
	return 2;
}
