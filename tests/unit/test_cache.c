/* SPDX-License-Identifier: Apache-2.0 */
/* test_cache.c - the decoded-chunk cache: budget, references, one fill per key. */
#include "cache.h"
#include "harness.h"

#include <pthread.h>
#include <time.h>

static int fills;
static pthread_mutex_t fl = PTHREAD_MUTEX_INITIALIZER;

static int fill_n(void *ctx, uint8_t **data, size_t *n, struct ckpt_err *err)
{
	size_t sz = (size_t)(uintptr_t)ctx;

	(void)err;
	pthread_mutex_lock(&fl);
	fills++;
	pthread_mutex_unlock(&fl);
	nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
	*data = calloc(1, sz);
	*n = sz;
	return *data ? 0 : -ENOMEM;
}

static int fail_fill(void *ctx, uint8_t **data, size_t *n, struct ckpt_err *err)
{
	(void)ctx, (void)data, (void)n;
	return ckpt_err_set(err, CKPT_ECORRUPT, "bad chunk");
}

static void test_cache__budget_and_refs(void)
{
	struct ckpt_cache *c;
	struct ckpt_cache_ref r, keep;
	struct ckpt_cache_stats st;
	struct ckpt_err err = { 0, "" };

	CHECK_EQ(ckpt_cache_new(&c, 1000), 0);
	CHECK_EQ(ckpt_cache_get(c, (struct ckpt_cache_key){ 1, 0, 0 }, fill_n, (void *)400, &keep, &err), 0);
	for (uint64_t i = 1; i < 10; i++) {
		CHECK_EQ(ckpt_cache_get(c, (struct ckpt_cache_key){ 1, i, 0 }, fill_n, (void *)400, &r, &err), 0);
		ckpt_cache_unref(c, &r);
	}
	ckpt_cache_stats(c, &st);
	CHECK(st.bytes <= 1000 + 400); /* the referenced entry may exceed the budget */
	CHECK(st.evictions >= 7);
	/* the referenced entry survived eviction */
	CHECK_EQ(ckpt_cache_lookup(c, (struct ckpt_cache_key){ 1, 0, 0 }, &r), 0);
	ckpt_cache_unref(c, &r);
	ckpt_cache_unref(c, &keep);
	/* an entry larger than the budget is handed out but not kept */
	CHECK_EQ(ckpt_cache_get(c, (struct ckpt_cache_key){ 2, 0, 0 }, fill_n, (void *)5000, &r, &err), 0);
	CHECK_EQ(r.n, 5000);
	ckpt_cache_unref(c, &r);
	CHECK_EQ(ckpt_cache_lookup(c, (struct ckpt_cache_key){ 2, 0, 0 }, &r), -ENOENT);
	/* a failed fill is reported and not cached */
	CHECK_EQ(ckpt_cache_get(c, (struct ckpt_cache_key){ 3, 0, 0 }, fail_fill, NULL, &r, &err), CKPT_ECORRUPT);
	CHECK(!strcmp(err.msg, "bad chunk"));
	CHECK_EQ(ckpt_cache_lookup(c, (struct ckpt_cache_key){ 3, 0, 0 }, &r), -ENOENT);
	ckpt_cache_free(c);
}

struct targ {
	struct ckpt_cache *c;
	int ok;
};

static void *worker(void *p)
{
	struct targ *t = p;
	struct ckpt_err err = { 0, "" };

	for (uint64_t i = 0; i < 50; i++) {
		struct ckpt_cache_ref r;

		if (ckpt_cache_get(t->c, (struct ckpt_cache_key){ 9, i % 5, 0 }, fill_n, (void *)100, &r,
				   &err) == 0 && r.n == 100)
			t->ok++;
		ckpt_cache_unref(t->c, &r);
	}
	return NULL;
}

static void test_cache__one_fill_per_key_under_contention(void)
{
	struct ckpt_cache *c;
	pthread_t th[8];
	struct targ a[8];

	fills = 0;
	CHECK_EQ(ckpt_cache_new(&c, 1 << 20), 0);
	for (int i = 0; i < 8; i++) {
		a[i] = (struct targ){ c, 0 };
		pthread_create(&th[i], NULL, worker, &a[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(a[i].ok, 50);
	}
	CHECK_EQ(fills, 5);
	ckpt_cache_free(c);
}

int main(void)
{
	RUN(test_cache__budget_and_refs);
	RUN(test_cache__one_fill_per_key_under_contention);
	DONE();
}
