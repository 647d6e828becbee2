/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ocdbt_write.c - the OCDBT writer.  Byte identity with the databases
 * real Orbax wrote (compat fixtures, v0 zarr2 and v1 zarr3: the per-process
 * database's four commits and the merged top-level database), with the
 * uuid, data file names and commit times injected; version-tree growth,
 * B+tree splits, deletes, out-of-line and streamed values, reopening.
 * argv[1]: shared fixtures dir
 */
#define _GNU_SOURCE
#include "harness.h"

#include <pthread.h>
#include "ocdbt.h"
#include "ocdbt_write.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *fix;
static struct ckpt_limits lim = CKPT_LIMITS_DEFAULT;

/* injected inputs, replayed in order */
struct inject {
	char names[64][33];
	size_t n_names, next_name;
	uint64_t times[64];
	size_t n_times, next_time;
	uint8_t uuid[16];
};

static void inj_name(void *ctx, char out[33])
{
	struct inject *in = ctx;

	memcpy(out, in->names[in->next_name++ % 64], 33);
}

static uint64_t inj_time(void *ctx)
{
	struct inject *in = ctx;

	return in->times[in->next_time++ % 64];
}

static void inj_uuid(void *ctx, uint8_t out[16])
{
	memcpy(out, ((struct inject *)ctx)->uuid, 16);
}

static int odir(const char *p)
{
	int fd = open(p, O_RDONLY | O_DIRECTORY);

	if (fd < 0) {
		printf("Bail out! cannot open %s\n", p);
		exit(1);
	}
	return fd;
}

static char *tmpdir(void)
{
	char *t = strdup("/tmp/ckpt-wtest.XXXXXX");

	if (!mkdtemp(t)) {
		printf("Bail out! mkdtemp\n");
		exit(1);
	}
	return t;
}

static bool same_file(const char *a, const char *b)
{
	size_t na, nb;
	unsigned char *x = h_slurp(a, &na), *y = h_slurp(b, &nb);
	bool same = na == nb && !memcmp(x, y, na);

	if (!same)
		printf("#   %s (%zu bytes) differs from %s (%zu bytes)\n", a, na, b, nb);
	free(x);
	free(y);
	return same;
}

/* puts that turn the keys of `prev` into those of `cur` */
static size_t diff_puts(struct ckpt_ocdbt_db *prev, struct ckpt_ocdbt_db *cur, struct ckpt_ocdbt_put *p,
			uint8_t **bufs)
{
	size_t n = 0;

	for (size_t i = 0; i < ckpt_ocdbt_count(cur); i++) {
		const struct ckpt_ocdbt_value *v = ckpt_ocdbt_at(cur, i), *o;
		struct ckpt_err err = { 0, "" };

		o = prev ? ckpt_ocdbt_find(prev, v->key.p, v->key.n) : NULL;
		if (o && o->len == v->len && o->inline_p && v->inline_p &&
		    !memcmp(o->inline_p, v->inline_p, (size_t)v->len))
			continue;
		bufs[n] = malloc(v->len + 1);
		ckpt_ocdbt_read(cur, v, 0, (size_t)v->len, bufs[n], &err);
		p[n] = (struct ckpt_ocdbt_put){ CKPT_PUT_VALUE, v->key.p, v->key.n, bufs[n],
						(size_t)v->len, NULL, NULL, 0, 0 };
		n++;
	}
	for (size_t i = 0; prev && i < ckpt_ocdbt_count(prev); i++) {
		const struct ckpt_ocdbt_value *o = ckpt_ocdbt_at(prev, i);

		if (!ckpt_ocdbt_find(cur, o->key.p, o->key.n)) {
			bufs[n] = NULL;
			p[n++] = (struct ckpt_ocdbt_put){ CKPT_PUT_DELETE, o->key.p, o->key.n, NULL, 0,
							  NULL, NULL, 0, 0 };
		}
	}
	return n;
}

static void read_uuid(const char *dir, uint8_t out[16])
{
	struct ckpt_ocdbt_manifest m;
	struct ckpt_err err = { 0, "" };
	int fd = odir(dir);

	ckpt_ocdbt_read_manifest(fd, dir, &lim, &m, NULL, &err);
	memcpy(out, m.config.uuid, 16);
	ckpt_ocdbt_manifest_release(&m);
	close(fd);
}

/* Replays every generation of the real database `src` into a new one. */
static void replay(const char *src, bool compare, const struct ckpt_ocdbt_config *cfg, char **outdir)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_ocdbt_gen *g;
	struct ckpt_ocdbt_wr *w;
	struct ckpt_ocdbt_db *prev = NULL;
	struct ckpt_ocdbt_hooks hooks;
	struct inject in;
	size_t ng;
	char *out = tmpdir(), a[8192], b[8192];
	int sfd = odir(src), ofd = odir(out);

	memset(&in, 0, sizeof(in));
	CHECK_EQ(ckpt_ocdbt_list_generations(sfd, src, &lim, &g, &ng, &err), 0);
	for (size_t i = 0; i < ng; i++) {
		if (g[i].root_path)
			memcpy(in.names[i], g[i].root_path + 2, 32);
		else
			snprintf(in.names[i], 33, "%032zx", i);
		in.names[i][32] = 0;
		in.times[i] = g[i].commit_time;
	}
	read_uuid(src, in.uuid);
	memset(&hooks, 0, sizeof(hooks));
	hooks.file_name = inj_name;
	hooks.now_ns = inj_time;
	hooks.uuid = inj_uuid;
	hooks.ctx = &in;
	hooks.no_fsync = true;
	CHECK_EQ(ckpt_ocdbt_wr_open(&w, ofd, out, cfg, &hooks, &lim, &err), 0);
	for (size_t i = 0; i < ng; i++) {
		struct ckpt_ocdbt_db *cur;
		static struct ckpt_ocdbt_put p[1024];
		static uint8_t *bufs[1024];
		size_t np;

		CHECK_EQ(ckpt_ocdbt_open(&cur, sfd, src, g[i].generation, &lim, &err), 0);
		np = diff_puts(prev, cur, p, bufs);
		CHECK_EQ(ckpt_ocdbt_wr_commit(w, p, np, &err), 0);
		if (err.code)
			printf("#   %s\n", err.msg);
		for (size_t k = 0; k < np; k++)
			free(bufs[k]);
		ckpt_ocdbt_close(prev);
		prev = cur;
		if (compare && g[i].root_path) {
			snprintf(a, sizeof(a), "%s/%s", out, g[i].root_path);
			snprintf(b, sizeof(b), "%s/%s", src, g[i].root_path);
			CHECK(same_file(a, b));
		}
	}
	ckpt_ocdbt_close(prev);
	ckpt_ocdbt_wr_close(w);
	if (compare) {
		snprintf(a, sizeof(a), "%s/manifest.ocdbt", out);
		snprintf(b, sizeof(b), "%s/manifest.ocdbt", src);
		CHECK(same_file(a, b));
	}
	ckpt_ocdbt_gens_free(g, ng);
	close(sfd);
	close(ofd);
	if (outdir)
		*outdir = out;
	else
		free(out);
}

static void replay_and_compare(const char *src)
{
	replay(src, true, NULL, NULL);
}

#define V0 "/orbax/compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata"
#define V1 "/orbax/compat/v1_checkpoints/composite_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata/state"

static void test_ocdbt_write__byte_identical_v0(void)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s%s/ocdbt.process_0", fix, V0);
	replay_and_compare(p);
	snprintf(p, sizeof(p), "%s%s", fix, V0);
	replay_and_compare(p);
}

static void test_ocdbt_write__byte_identical_v1(void)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s%s/ocdbt.process_0", fix, V1);
	replay_and_compare(p);
	snprintf(p, sizeof(p), "%s%s", fix, V1);
	replay_and_compare(p);
}

static struct ckpt_ocdbt_put val(const char *key, const void *v, size_t n)
{
	return (struct ckpt_ocdbt_put){ CKPT_PUT_VALUE, key, strlen(key), v, n, NULL, NULL, 0, 0 };
}

/* reads every key back and compares with the expected model */
static void check_db(const char *dir, char keys[][32], size_t nk, uint8_t vals[][3000],
		     size_t *lens, bool *present)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_ocdbt_db *db;
	int fd = odir(dir);
	size_t count = 0;

	CHECK_EQ(ckpt_ocdbt_open(&db, fd, dir, 0, &lim, &err), 0);
	if (err.code)
		printf("#   %s\n", err.msg);
	for (size_t i = 0; i < nk; i++) {
		const struct ckpt_ocdbt_value *v = db ? ckpt_ocdbt_find(db, keys[i], strlen(keys[i])) : NULL;
		uint8_t buf[3000];

		if (!present[i]) {
			CHECK(v == NULL);
			continue;
		}
		count++;
		CHECK(v != NULL);
		if (!v)
			continue;
		CHECK_EQ(v->len, lens[i]);
		CHECK_EQ(ckpt_ocdbt_read(db, v, 0, lens[i], buf, &err), 0);
		CHECK(!memcmp(buf, vals[i], lens[i]));
	}
	CHECK_EQ(db ? ckpt_ocdbt_count(db) : 0, count);
	ckpt_ocdbt_close(db);
	close(fd);
}

static char keys[600][32];
static uint8_t vals[600][3000];
static size_t lens[600];
static bool present[600];

/* many commits, small nodes and arity 4: interior nodes, version-tree nodes */
static void test_ocdbt_write__trees_versions_deletes(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_ocdbt_config cfg;
	struct ckpt_ocdbt_hooks hooks = { 0 };
	struct ckpt_ocdbt_wr *w;
	struct ckpt_ocdbt_gen *g;
	size_t ng;
	char *dir = tmpdir();
	int fd = odir(dir);
	unsigned seed = 1;

	hooks.no_fsync = true;
	ckpt_ocdbt_config_orbax(&cfg);
	cfg.max_decoded_node_bytes = 2048;
	cfg.max_inline_value_bytes = 64;
	cfg.version_tree_arity_log2 = 2;
	for (size_t i = 0; i < 600; i++) {
		snprintf(keys[i], sizeof(keys[i]), "p%03zu/k%05zu", i % 7, i * 37 % 1000);
		lens[i] = (size_t[]){ 0, 7, 64, 65, 700, 2999 }[i % 6];
		for (size_t k = 0; k < lens[i]; k++)
			vals[i][k] = (uint8_t)(seed = seed * 1103515245 + 12345) >> 16;
	}
	CHECK_EQ(ckpt_ocdbt_wr_open(&w, fd, dir, &cfg, &hooks, &lim, &err), 0);
	/* 70 commits: one key each at first, then batches, deletes, rewrites */
	for (size_t c = 0; c < 70; c++) {
		struct ckpt_ocdbt_put p[40];
		size_t np = 0;

		for (size_t k = 0; k < (c < 30 ? 1 : 20); k++) {
			size_t i = (c < 30 ? c : 30 + (c - 30) * 20 + k) % 600;

			if (c % 9 == 8 && k % 4 == 0) {
				p[np++] = (struct ckpt_ocdbt_put){ CKPT_PUT_DELETE, keys[i], strlen(keys[i]),
								   NULL, 0, NULL, NULL, 0, 0 };
				present[i] = false;
			} else {
				p[np++] = val(keys[i], vals[i], lens[i]);
				present[i] = true;
			}
		}
		CHECK_EQ(ckpt_ocdbt_wr_commit(w, p, np, &err), 0);
		if (err.code) {
			printf("#   commit %zu: %s\n", c, err.msg);
			break;
		}
		if (c == 40) {
			/* reopen: the writer continues an existing database */
			ckpt_ocdbt_wr_close(w);
			CHECK_EQ(ckpt_ocdbt_wr_open(&w, fd, dir, NULL, &hooks, &lim, &err), 0);
		}
	}
	CHECK_EQ(ckpt_ocdbt_wr_generation(w), 70);
	ckpt_ocdbt_wr_close(w);
	check_db(dir, keys, 600, vals, lens, present);
	/* every generation is listed and opens */
	CHECK_EQ(ckpt_ocdbt_list_generations(fd, dir, &lim, &g, &ng, &err), 0);
	CHECK_EQ(ng, 70);
	for (size_t i = 0; i < ng; i++) {
		struct ckpt_ocdbt_db *db;

		CHECK_EQ(g[i].generation, i + 1);
		if (i)
			CHECK(g[i].commit_time > g[i - 1].commit_time);
		CHECK_EQ(ckpt_ocdbt_open(&db, fd, dir, g[i].generation, &lim, &err), 0);
		ckpt_ocdbt_close(db);
	}
	/* generation 30 had keys 0..29 less the three deleted by commits 8, 17, 26 */
	{
		struct ckpt_ocdbt_db *db;

		CHECK_EQ(ckpt_ocdbt_open(&db, fd, dir, 30, &lim, &err), 0);
		CHECK_EQ(ckpt_ocdbt_count(db), 27);
		ckpt_ocdbt_close(db);
	}
	ckpt_ocdbt_gens_free(g, ng);
	close(fd);
	free(dir);
}

/* a value streamed into the data file, and a reference to it from another database */
static void test_ocdbt_write__streamed_and_referenced_values(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_ocdbt_hooks hooks = { 0 };
	struct ckpt_ocdbt_wr *w, *top;
	struct ckpt_ocdbt_put p[2], r;
	struct ckpt_ocdbt_db *db;
	char *dir = tmpdir(), sub[4200];
	int fd = odir(dir), pfd;
	static uint8_t big[300000];

	hooks.no_fsync = true;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + (i >> 9));
	snprintf(sub, sizeof(sub), "%s/ocdbt.process_0", dir);
	mkdir(sub, 0755);
	pfd = odir(sub);
	CHECK_EQ(ckpt_ocdbt_wr_open(&w, pfd, sub, NULL, &hooks, &lim, &err), 0);
	CHECK_EQ(ckpt_ocdbt_wr_value_begin(w, &err), 0);
	for (size_t o = 0; o < sizeof(big); o += 7000)
		CHECK_EQ(ckpt_ocdbt_wr_value_write(w, big + o, CKPT_MIN(7000, sizeof(big) - o), &err), 0);
	CHECK_EQ(ckpt_ocdbt_wr_value_end(w, &r, &err), 0);
	r.key = "x/0";
	r.key_n = 3;
	p[0] = r;
	p[1] = val("x/.zarray", "{}", 2);
	CHECK_EQ(ckpt_ocdbt_wr_commit(w, p, 2, &err), 0);
	/* the merged top-level database refers into ocdbt.process_0/ */
	CHECK_EQ(ckpt_ocdbt_wr_open(&top, fd, dir, NULL, &hooks, &lim, &err), 0);
	{
		struct ckpt_ocdbt_put mp[2];
		struct ckpt_ocdbt_went e;
		char base[64] = "ocdbt.process_0/";

		for (size_t i = 0; i < ckpt_ocdbt_wr_count(w); i++) {
			ckpt_ocdbt_wr_entry(w, i, &e);
			if (e.inline_p)
				mp[i] = (struct ckpt_ocdbt_put){ CKPT_PUT_VALUE, e.key.p, e.key.n, e.inline_p,
								 (size_t)e.len, NULL, NULL, 0, 0 };
			else
				mp[i] = (struct ckpt_ocdbt_put){ CKPT_PUT_REF, e.key.p, e.key.n, NULL, 0,
								 base, e.rel, e.off, e.len };
		}
		CHECK_EQ(ckpt_ocdbt_wr_commit(top, mp, 2, &err), 0);
	}
	ckpt_ocdbt_wr_close(top);
	ckpt_ocdbt_wr_close(w);
	CHECK_EQ(ckpt_ocdbt_open(&db, fd, dir, 0, &lim, &err), 0);
	{
		const struct ckpt_ocdbt_value *v = ckpt_ocdbt_find(db, "x/0", 3);
		static uint8_t back[300000];

		CHECK(v && !v->inline_p && v->len == sizeof(big));
		CHECK(v && !strncmp(ckpt_ocdbt_file_path(db, v->file), "ocdbt.process_0/d/", 18));
		CHECK(v && ckpt_ocdbt_read(db, v, 0, sizeof(big), back, &err) == 0 &&
		      !memcmp(back, big, sizeof(big)));
	}
	ckpt_ocdbt_close(db);
	close(pfd);
	close(fd);
	free(dir);
}

/* writers in threads at once: each sorts its own file table (no shared
 * sort context), and every reference keeps its own file */
struct tw {
	char *dir;
	unsigned id; /* each thread interns its files in another order */
	int fails;
};

static void *thread_writer(void *arg)
{
	struct tw *t = arg;
	struct ckpt_err err = { 0, "" };
	struct ckpt_ocdbt_hooks hooks = { 0 };
	struct ckpt_ocdbt_wr *w;
	struct ckpt_ocdbt_db *db;
	int fd = odir(t->dir);

	hooks.no_fsync = true;
	if (ckpt_ocdbt_wr_open(&w, fd, t->dir, NULL, &hooks, &lim, &err) < 0) {
		t->fails++;
		close(fd);
		return NULL;
	}
	for (unsigned c = 0; c < 40; c++) {
		struct ckpt_ocdbt_put p[8];
		char ks[8][16], bases[8][16], rels[8][48];

		for (unsigned i = 0; i < 8; i++) {
			unsigned k = c * 8 + i, f = (k * 7 + t->id * 5) % 61;

			snprintf(ks[i], sizeof(ks[i]), "k%04u", k);
			snprintf(bases[i], sizeof(bases[i]), "p%02u/", f);
			snprintf(rels[i], sizeof(rels[i]), "d/%032x", 61 - f);
			p[i] = (struct ckpt_ocdbt_put){ CKPT_PUT_REF, ks[i], strlen(ks[i]), NULL, 0, bases[i],
							rels[i], k, 10 };
		}
		if (ckpt_ocdbt_wr_commit(w, p, 8, &err) < 0)
			t->fails++;
	}
	ckpt_ocdbt_wr_close(w);
	if (ckpt_ocdbt_open(&db, fd, t->dir, 0, &lim, &err) < 0) {
		t->fails++;
		close(fd);
		return NULL;
	}
	for (unsigned k = 0; k < 320; k++) {
		char key[16], want[64];
		unsigned f = (k * 7 + t->id * 5) % 61;
		const struct ckpt_ocdbt_value *v;

		snprintf(key, sizeof(key), "k%04u", k);
		snprintf(want, sizeof(want), "p%02u/d/%032x", f, 61 - f);
		v = ckpt_ocdbt_find(db, key, strlen(key));
		if (!v || v->inline_p || v->offset != k || strcmp(ckpt_ocdbt_file_path(db, v->file), want))
			t->fails++;
	}
	ckpt_ocdbt_close(db);
	close(fd);
	return NULL;
}

static void test_ocdbt_write__writers_in_threads(void)
{
	pthread_t th[4];
	struct tw t[4];

	for (int i = 0; i < 4; i++) {
		t[i] = (struct tw){ tmpdir(), (unsigned)i, 0 };
		CHECK_EQ(pthread_create(&th[i], NULL, thread_writer, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(t[i].fails, 0);
		free(t[i].dir);
	}
}

/* a failed commit leaves the database as it was and no stray data file */
static void test_ocdbt_write__failed_commit_changes_nothing(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_ocdbt_hooks hooks = { 0 };
	struct ckpt_ocdbt_wr *w;
	struct ckpt_ocdbt_put p = val("a", "1", 1);
	char *dir = tmpdir(), path[4200];
	int fd = odir(dir), n = 0;
	DIR *d;

	hooks.no_fsync = true;
	CHECK_EQ(ckpt_ocdbt_wr_open(&w, fd, dir, NULL, &hooks, &lim, &err), 0);
	CHECK_EQ(ckpt_ocdbt_wr_commit(w, &p, 1, &err), 0);
	/* a manifest that cannot be replaced: make manifest.ocdbt.__lock a directory */
	snprintf(path, sizeof(path), "%s/manifest.ocdbt.__lock", dir);
	mkdir(path, 0755);
	p = val("b", "2", 1);
	CHECK(ckpt_ocdbt_wr_commit(w, &p, 1, &err) < 0);
	CHECK(strstr(err.msg, "manifest.ocdbt.__lock") != NULL);
	rmdir(path);
	CHECK_EQ(ckpt_ocdbt_wr_generation(w), 1);
	snprintf(path, sizeof(path), "%s/d", dir);
	d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	CHECK_EQ(n, 1);
	ckpt_err_clear(&err);
	CHECK_EQ(ckpt_ocdbt_wr_commit(w, &p, 1, &err), 0);
	CHECK_EQ(ckpt_ocdbt_wr_generation(w), 2);
	ckpt_ocdbt_wr_close(w);
	close(fd);
	free(dir);
}

static const char *real;

/* the version tree grows as TensorStore grew it: same generations, heights,
 * counts and times in the manifest (node locations differ: TensorStore
 * rewrites only the changed B+tree path, ckptfs the whole small tree) */
static void test_ocdbt_write__version_tree_like_tensorstore(void)
{
	char src[4096], *out = NULL;
	struct ckpt_ocdbt_manifest a, b;
	struct ckpt_ocdbt_config cfg;
	struct ckpt_err err = { 0, "" };
	int fa, fb;

	snprintf(src, sizeof(src), "%s/extra/ocdbt_version_tree", real);
	fb = odir(src);
	CHECK_EQ(ckpt_ocdbt_read_manifest(fb, src, &lim, &b, NULL, &err), 0);
	cfg = b.config;
	replay(src, false, &cfg, &out);
	fa = odir(out);
	CHECK_EQ(ckpt_ocdbt_read_manifest(fa, out, &lim, &a, NULL, &err), 0);
	CHECK_EQ(a.n_versions, b.n_versions);
	CHECK_EQ(a.n_vrefs, b.n_vrefs);
	for (size_t i = 0; i < a.n_versions && i < b.n_versions; i++) {
		CHECK_EQ(a.versions[i].generation, b.versions[i].generation);
		CHECK(a.versions[i].commit_time == b.versions[i].commit_time);
		CHECK_EQ(a.versions[i].stats.num_keys, b.versions[i].stats.num_keys);
	}
	for (size_t i = 0; i < a.n_vrefs && i < b.n_vrefs; i++) {
		CHECK_EQ(a.vrefs[i].generation, b.vrefs[i].generation);
		CHECK_EQ(a.vrefs[i].height, b.vrefs[i].height);
		CHECK_EQ(a.vrefs[i].num_generations, b.vrefs[i].num_generations);
		CHECK(a.vrefs[i].commit_time == b.vrefs[i].commit_time);
	}
	ckpt_ocdbt_manifest_release(&a);
	ckpt_ocdbt_manifest_release(&b);
	close(fa);
	close(fb);
	free(out);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		printf("Bail out! usage: test_ocdbt_write SHARED_FIXTURES REAL_FIXTURES\n");
		return 1;
	}
	fix = argv[1];
	real = argv[2];
	RUN(test_ocdbt_write__byte_identical_v0);
	RUN(test_ocdbt_write__byte_identical_v1);
	RUN(test_ocdbt_write__trees_versions_deletes);
	RUN(test_ocdbt_write__streamed_and_referenced_values);
	RUN(test_ocdbt_write__failed_commit_changes_nothing);
	RUN(test_ocdbt_write__version_tree_like_tensorstore);
	RUN(test_ocdbt_write__writers_in_threads);
	DONE();
}
