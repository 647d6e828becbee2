/* SPDX-License-Identifier: Apache-2.0 */
/* test_names.c - reversible file names for pytree keys. */
#include "ckpt.h"
#include "harness.h"

static void round_trip(const char *key, size_t len, const char *want)
{
	char name[CKPT_NAME_MAX + 1], *back;
	size_t bl;
	unsigned dup;
	uint64_t hash;
	bool is_hash;

	ckpt_name_escape(key, len, 0, name);
	if (want && strcmp(name, want))
		printf("#   escape gave '%s', expected '%s'\n", name, want);
	CHECK(!want || !strcmp(name, want));
	CHECK(strlen(name) <= CKPT_NAME_MAX && !strchr(name, '/'));
	CHECK_EQ(ckpt_name_unescape(name, &back, &bl, &dup, &hash, &is_hash), 0);
	CHECK(!is_hash && bl == len && !memcmp(back, key, len));
	free(back);
}

static void test_names__escapes(void)
{
	round_trip("kernel", 6, "kernel");
	round_trip("a/b", 3, "a%2Fb");
	round_trip("50%", 3, "50%25");
	round_trip("", 0, "%");
	round_trip(".", 1, "%2E");
	round_trip("..", 2, "%2E%2E");
	round_trip("x.json", 6, "x%2Ejson");
	round_trip("w.npy", 5, "w%2Enpy");
	round_trip("a.json.b", 8, "a.json.b");
	round_trip("a\0b", 3, "a%00b");
	round_trip("uni\xc3\xbc", 5, "uni\xc3\xbc");
	round_trip("...", 3, "...");
}

static void test_names__long_and_dups(void)
{
	char key[600], name[CKPT_NAME_MAX + 1], *back;
	size_t bl;
	unsigned dup;
	uint64_t hash;
	bool is_hash;

	memset(key, 'k', sizeof(key));
	ckpt_name_escape(key, sizeof(key), 0, name);
	CHECK(strlen(name) <= CKPT_NAME_MAX);
	CHECK_EQ(ckpt_name_unescape(name, &back, &bl, &dup, &hash, &is_hash), 0);
	CHECK(is_hash && hash == ckpt_name_hash(key, sizeof(key)));
	/* a cut never splits an escape */
	memset(key, '/', sizeof(key));
	ckpt_name_escape(key, sizeof(key), 0, name);
	CHECK(strlen(name) <= CKPT_NAME_MAX);
	CHECK(strstr(name, "%~h") != NULL);
	ckpt_name_escape("a", 1, 2, name);
	CHECK(!strcmp(name, "a%~2"));
	CHECK_EQ(ckpt_name_unescape(name, &back, &bl, &dup, &hash, &is_hash), 0);
	CHECK(dup == 2 && bl == 1 && back[0] == 'a');
	free(back);
	/* invalid escapes are not names */
	CHECK_EQ(ckpt_name_unescape("a%2", &back, &bl, &dup, &hash, &is_hash), -ENOENT);
	CHECK_EQ(ckpt_name_unescape("a%zz", &back, &bl, &dup, &hash, &is_hash), -ENOENT);
}

int main(void)
{
	RUN(test_names__escapes);
	RUN(test_names__long_and_dups);
	DONE();
}
