/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_commit.c - the atomic-commit module (commit.h): file replacement,
 * renames and exchanges, fault points; the writer lock across processes
 * and its release when the holder is killed; stamps.
 */
#define _GNU_SOURCE
#include "commit.h"
#include "fsutil.h"
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/ckpt-commit-XXXXXX";
static int dfd = -1;

static char points[64];

static void note(void *ctx, const char *what)
{
	(void)ctx;
	strcat(points, what[0] == 'w' ? "W" : "R");
}

static void replace(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_commit c = { dfd, dir, false, note, NULL };
	uint8_t *buf;
	size_t n;

	points[0] = 0;
	CHECK_EQ(ckpt_commit_file(&c, "a/b/f", NULL, "one", 3, &err), 0);
	CHECK_EQ(ckpt_read_file(dfd, "a/b/f", 100, &buf, &n, NULL), 0);
	CHECK(n == 3 && !memcmp(buf, "one", 3));
	free(buf);
	CHECK_EQ(ckpt_commit_file(&c, "a/b/f", "a/b/f.own-tmp", "second", 6, &err), 0);
	CHECK_EQ(ckpt_read_file(dfd, "a/b/f", 100, &buf, &n, NULL), 0);
	CHECK(n == 6 && !memcmp(buf, "second", 6));
	free(buf);
	CHECK(!ckpt_exists(dfd, "a/b/f.ckptfs-tmp"));
	CHECK(!ckpt_exists(dfd, "a/b/f.own-tmp"));
	/* the points, in order, for each commit */
	CHECK(!strcmp(points, "WRWR"));
	/* a failure (the target is a non-empty directory) removes the temporary file */
	mkdirat(dfd, "d", 0755);
	mkdirat(dfd, "d/x", 0755);
	CHECK(ckpt_commit_file(&c, "d", NULL, "x", 1, &err) < 0);
	CHECK(err.msg[0] != 0);
	CHECK(!ckpt_exists(dfd, "d.ckptfs-tmp"));
}

static void renames(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_commit c = { dfd, dir, true, NULL, NULL };

	mkdirat(dfd, "p", 0755);
	mkdirat(dfd, "q", 0755);
	mkdirat(dfd, "p/only-p", 0755);
	CHECK_EQ(ckpt_commit_exchange(&c, "p", "q", &err), 0);
	CHECK(ckpt_exists(dfd, "q/only-p") && !ckpt_exists(dfd, "p/only-p"));
	CHECK_EQ(ckpt_commit_rename(&c, "q", "r", &err), 0);
	CHECK(ckpt_exists(dfd, "r/only-p") && !ckpt_exists(dfd, "q"));
	CHECK(ckpt_commit_rename(&c, "nothing", "s", &err) < 0);
}

static void lock_same_process(void)
{
	struct ckpt_err err = { 0, "" };
	struct timespec a, b;
	int l1 = ckpt_lock_dir(dfd, dir, 0, &err), l2;

	CHECK(l1 >= 0);
	/* another open file description of the same process conflicts too */
	clock_gettime(CLOCK_MONOTONIC, &a);
	l2 = ckpt_lock_dir(dfd, dir, 200, &err);
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK_EQ(l2, -EBUSY);
	CHECK(strstr(err.msg, "is being edited by another process") != NULL);
	CHECK((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 >= 190);
	ckpt_unlock(l1);
	err = (struct ckpt_err){ 0, "" };
	l2 = ckpt_lock_dir(dfd, dir, 0, &err);
	CHECK(l2 >= 0);
	ckpt_unlock(l2);
}

static void lock_holder_killed(void)
{
	struct ckpt_err err = { 0, "" };
	int pfd[2], status, l;
	char c;
	pid_t pid;

	CHECK_EQ(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		struct ckpt_err e2 = { 0, "" };

		if (ckpt_lock_dir(dfd, dir, 0, &e2) < 0)
			_exit(1);
		if (write(pfd[1], "L", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	CHECK_EQ(read(pfd[0], &c, 1), 1);
	/* the child holds it: a writer waits, then fails */
	CHECK_EQ(ckpt_lock_dir(dfd, dir, 50, &err), -EBUSY);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status));
	/* the kernel released it with the child */
	err = (struct ckpt_err){ 0, "" };
	l = ckpt_lock_dir(dfd, dir, 1000, &err);
	CHECK(l >= 0);
	ckpt_unlock(l);
	close(pfd[0]);
	close(pfd[1]);
}

/* TensorStore's protocol: a stale REL.__lock is reused; a held one is waited for */
static void tensorstore_lock(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_commit c = { dfd, dir, true, NULL, NULL };
	uint8_t *buf;
	size_t n;
	int fd = openat(dfd, "man.__lock", O_WRONLY | O_CREAT, 0644), pfd[2];
	pid_t pid;
	char ch;

	CHECK(write(fd, "garbage-left-by-a-crash", 23) == 23);
	close(fd);
	CHECK_EQ(ckpt_commit_file_ts(&c, "man", "abc", 3, &err), 0);
	CHECK_EQ(ckpt_read_file(dfd, "man", 100, &buf, &n, NULL), 0);
	CHECK(n == 3 && !memcmp(buf, "abc", 3));
	free(buf);
	CHECK(!ckpt_exists(dfd, "man.__lock"));
	/* another process holds the lock, and dies after 300 ms */
	CHECK_EQ(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int lfd = openat(dfd, "man.__lock", O_WRONLY | O_CREAT, 0644);

		if (lfd < 0 || fcntl(lfd, F_OFD_SETLK, &fl) < 0 || write(pfd[1], "L", 1) != 1)
			_exit(1);
		nanosleep(&(struct timespec){ 0, 300000000 }, NULL);
		raise(SIGKILL);
	}
	CHECK_EQ(read(pfd[0], &ch, 1), 1);
	CHECK_EQ(ckpt_commit_file_ts(&c, "man", "defg", 4, &err), 0);
	waitpid(pid, NULL, 0);
	CHECK_EQ(ckpt_read_file(dfd, "man", 100, &buf, &n, NULL), 0);
	CHECK(n == 4 && !memcmp(buf, "defg", 4));
	free(buf);
	close(pfd[0]);
	close(pfd[1]);
}

static void stamps(void)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_commit c = { dfd, dir, true, NULL, NULL };
	struct ckpt_stamp s0, s1, s2, f0, f1;
	int fd;

	ckpt_stamp_take(dfd, NULL, ".hist", &s0);
	ckpt_stamp_take(dfd, NULL, ".hist", &s1);
	CHECK(ckpt_stamp_equal(&s0, &s1));
	ckpt_stamp_take(dfd, "a", NULL, &f0);
	/* what is left out: the history (a file added in it leaves the stamp) */
	mkdirat(dfd, ".hist", 0755);
	ckpt_stamp_take(dfd, NULL, ".hist", &s1);
	fd = openat(dfd, ".hist/x", O_WRONLY | O_CREAT, 0644);
	close(fd);
	ckpt_stamp_take(dfd, NULL, ".hist", &s2);
	CHECK(ckpt_stamp_equal(&s1, &s2));
	/* ...a file in a subdirectory that is not the history does not */
	mkdirat(dfd, "sub", 0755);
	ckpt_stamp_take(dfd, NULL, ".hist", &s1);
	nanosleep(&(struct timespec){ 0, 30000000 }, NULL); /* past the clock's tick */
	fd = openat(dfd, "sub/x", O_WRONLY | O_CREAT, 0644);
	close(fd);
	ckpt_stamp_take(dfd, NULL, ".hist", &s2);
	CHECK(!ckpt_stamp_equal(&s1, &s2));
	/* a commit changes it */
	ckpt_stamp_take(dfd, NULL, ".hist", &s1);
	CHECK_EQ(ckpt_commit_file(&c, "m", NULL, "x", 1, &err), 0);
	ckpt_stamp_take(dfd, NULL, ".hist", &s2);
	CHECK(!ckpt_stamp_equal(&s1, &s2));
	/* one file's stamp: unchanged by others, changed by its replacement */
	ckpt_stamp_take(dfd, "a", NULL, &f1);
	CHECK(ckpt_stamp_equal(&f0, &f1));
	ckpt_stamp_take(dfd, "m", NULL, &f0);
	CHECK_EQ(ckpt_commit_file(&c, "m", NULL, "x", 1, &err), 0);
	ckpt_stamp_take(dfd, "m", NULL, &f1);
	CHECK(!ckpt_stamp_equal(&f0, &f1));
	/* a missing file */
	ckpt_stamp_take(dfd, "none", NULL, &f0);
	CHECK_EQ(f0.n, 0);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	RUN(replace);
	RUN(renames);
	RUN(lock_same_process);
	RUN(lock_holder_killed);
	RUN(tensorstore_lock);
	RUN(stamps);
	ckpt_rm_tree(AT_FDCWD, dir, 0);
	close(dfd);
	DONE();
}
