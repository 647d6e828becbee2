/* SPDX-License-Identifier: Apache-2.0 */
/* test_spill.c - the spill: bound, least recently used chunks released,
 * pieces served only once written, nothing left behind. */
#include "harness.h"
#include "include/ckpt.h"
#include "spill.h"

#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#define P 8192

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int done_n;

static void done(void *ctx)
{
	(void)ctx;
	__atomic_add_fetch(&done_n, 1, __ATOMIC_RELEASE);
}

/* a piece through the writer thread, waited for (in is reused) */
static void put(struct ckpt_spill *sp, const struct ckpt_spill_key *k, uint64_t piece,
		const uint8_t *in, size_t n)
{
	int want = __atomic_load_n(&done_n, __ATOMIC_ACQUIRE) + 1;

	ckpt_spill_put(sp, k, piece, in, n, done, NULL);
	while (__atomic_load_n(&done_n, __ATOMIC_ACQUIRE) < want)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + seed);
}

static void test_spill__bound_lru_and_cleanup(void)
{
	char parent[] = "/tmp/test_spill.XXXXXX";
	struct ckpt_err err = { 0, "" };
	struct ckpt_spill *sp;
	struct ckpt_spill_stats st;
	/* chunks of 4 pieces of 8 KiB, the last one 1000 bytes */
	struct ckpt_spill_key a = { 1, 0, 3 * P + 1000, P }, b = { 1, 1, 3 * P + 1000, P },
			      c = { 2, 0, 3 * P + 1000, P };
	uint8_t in[P], out[P];

	CHECK(mkdtemp(parent) != NULL);
	CHECK_EQ(ckpt_spill_open(&sp, parent, 6 * P, &err), 0);
	CHECK_EQ(entries(parent), 0); /* nothing with a name */
	/* absent until written, then byte-exact, at any offset inside the piece */
	CHECK_EQ(ckpt_spill_get(sp, &a, P, 100, out), -ENOENT);
	fill(in, P, 1);
	put(sp, &a, 1, in, P);
	CHECK(ckpt_spill_has(sp, &a, 1));
	CHECK(!ckpt_spill_has(sp, &a, 0));
	CHECK_EQ(ckpt_spill_get(sp, &a, P + 5, 100, out), 0);
	CHECK(!memcmp(out, in + 5, 100));
	fill(in, 1000, 2);
	put(sp, &a, 3, in, 1000); /* the short last piece: one block */
	CHECK_EQ(ckpt_spill_get(sp, &a, 3 * P, 1000, out), 0);
	CHECK(!memcmp(out, in, 1000));
	ckpt_spill_stats(sp, &st);
	CHECK_EQ(st.bytes, P + 4096);
	CHECK_EQ(st.written, P + 1000);
	CHECK_EQ(st.hits, 2);
	/* b fills the bound; a read of a makes b the least recently used */
	fill(in, P, 3);
	for (uint64_t i = 0; i < 3; i++)
		put(sp, &b, i, in, P);
	ckpt_spill_stats(sp, &st);
	CHECK(st.bytes <= 6 * P);
	CHECK(ckpt_spill_has(sp, &b, 2));
	CHECK_EQ(ckpt_spill_get(sp, &a, P, 10, out), 0);
	/* c needs room: b goes (whole), a stays */
	put(sp, &c, 0, in, P);
	put(sp, &c, 1, in, P);
	CHECK(!ckpt_spill_has(sp, &b, 0));
	CHECK(ckpt_spill_has(sp, &a, 1));
	CHECK(ckpt_spill_has(sp, &c, 1));
	ckpt_spill_stats(sp, &st);
	CHECK(st.bytes <= 6 * P);
	CHECK_EQ(st.evicted, 3 * P);
	/* an owner with nothing, while the writer thread is idle (an array
	 * that failed to open has owner 0: this waited forever) */
	ckpt_spill_forget(sp, 0);
	ckpt_spill_forget(sp, 77);
	/* a chunk alone past the bound keeps what fits; the rest is not written */
	ckpt_spill_forget(sp, 1);
	ckpt_spill_forget(sp, 2);
	ckpt_spill_stats(sp, &st);
	CHECK_EQ(st.bytes, 0);
	CHECK_EQ(st.chunks, 0);
	{
		struct ckpt_spill_key big = { 3, 0, 10 * P, P };

		for (uint64_t i = 0; i < 10; i++)
			put(sp, &big, i, in, P);
		CHECK(ckpt_spill_has(sp, &big, 5));
		CHECK(!ckpt_spill_has(sp, &big, 6));
		ckpt_spill_stats(sp, &st);
		CHECK_EQ(st.bytes, 6 * P);
	}
	/* the files never had a name in the directory */
	CHECK_EQ(entries(parent), 0);
	ckpt_spill_close(sp);
	CHECK_EQ(entries(parent), 0);
	CHECK_EQ(rmdir(parent), 0);
	/* a parent that does not exist: an error, with its name */
	CHECK(ckpt_spill_open(&sp, "/nonexistent/spill", P, &err) < 0);
	CHECK(strstr(err.msg, "/nonexistent/spill") != NULL);
	CHECK(sp == NULL);
}

int main(void)
{
	RUN(test_spill__bound_lru_and_cleanup);
	DONE();
}
