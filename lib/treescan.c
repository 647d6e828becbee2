/* SPDX-License-Identifier: Apache-2.0 */
/*
 * treescan.c - a folder that is not a checkpoint but holds checkpoints
 * below it (ckpt_tree_scan, tier 4 beside layout.c): its folders and files,
 * and each checkpoint found, down to a depth.  Breadth first over the list
 * being built (no recursion): an entry's folder is listed before it.
 * Whether a folder is a checkpoint is decided as ckpt_src_open decides it
 * (layout.c); a file is a Flax checkpoint by its content (ckpt_is_flax_file).
 */
#define _GNU_SOURCE
#include "layout.h"

#include "fsutil.h"
#include "mpack.h"
#include "rd.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNIFF_BYTES (64 << 10)
#define SNIFF_DEPTH 64

/* p[0, n) is UTF-8 (leads 0xc2-0xf4, each followed by its continuations);
 * cut: the text goes on after n, so its last character may be incomplete */
static bool utf8_ok(const uint8_t *p, size_t n, bool cut)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i++];
		size_t more = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2
			    : c >= 0xf0 && c <= 0xf4 ? 3 : SIZE_MAX;

		if (more > n - i) {
			if (!cut || more == SIZE_MAX)
				return false;
			more = n - i;
		}
		for (; more > 0; more--)
			if ((p[i++] & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/*
 * Flax writes one msgpack map with string keys (flax.serialization.to_bytes;
 * an NNX pure dict may hold integer keys below the top).  p[0, n) is the
 * start of a file of size bytes: does it read as such a value, as far as it
 * goes?  Walked with an explicit stack: the top is a non-empty map whose
 * keys are strings, nested map keys are strings or integers, strings are
 * UTF-8 (Python's str), an extension is one msgpack.c reads (1 to 4), and
 * no length runs past the end of the file.  If the whole file is in p, the
 * value must end exactly at its end.  Random bytes fail within a few dozen
 * tokens (0xc1, a 32-bit length, a string, an unknown extension), so a
 * binary file is not taken for a checkpoint.
 */
bool ckpt_layout_flax_sniff(const uint8_t *p, size_t n, uint64_t size)
{
	struct frame {
		uint64_t left; /* values still to come (a map: keys and values) */
		bool map;
	} st[SNIFF_DEPTH];
	struct ckpt_rd r = ckpt_rd_init(p, n);
	unsigned depth = 0;
	bool whole = n == size;

	for (;;) {
		struct ckpt_mp_tok t;
		const char *why;
		uint64_t room;
		bool key;

		while (depth > 0 && st[depth - 1].left == 0)
			depth--;
		if (depth == 0 && r.left < n) /* the value ended: the file must too */
			return whole && r.left == 0;
		if (r.left == 0) /* the sniffed bytes ended inside the value */
			return !whole;
		if (ckpt_mp_head(&r, &t, &why) < 0)
			return !whole && r.left < CKPT_MP_MAX_HEAD;
		room = size - (uint64_t)(n - r.left); /* file bytes after the head */
		key = depth > 0 && st[depth - 1].map && st[depth - 1].left % 2 == 0;
		if (depth == 0 && (t.t != CKPT_MP_MAP || t.len == 0))
			return false;
		if (key && t.t != CKPT_MP_STR && (depth == 1 || t.t != CKPT_MP_INT))
			return false;
		if (depth > 0)
			st[depth - 1].left--;
		if (t.t == CKPT_MP_EXT && (t.ext < 1 || t.ext > 4))
			return false;
		switch (t.t) {
		case CKPT_MP_EXT:
		case CKPT_MP_STR:
		case CKPT_MP_BIN:
			if (t.len > room)
				return false;
			if (t.t == CKPT_MP_STR && !utf8_ok(r.p, t.len < r.left ? (size_t)t.len : r.left, t.len > r.left))
				return false;
			if (!whole && t.len >= r.left)
				return true; /* the file goes on past the sniffed bytes */
			r.p += t.len;
			r.left -= t.len;
			break;
		case CKPT_MP_MAP:
		case CKPT_MP_ARR:
			if (t.len > room / (t.t == CKPT_MP_MAP ? 2 : 1) || depth == SNIFF_DEPTH)
				return false;
			st[depth++] = (struct frame){ t.len * (t.t == CKPT_MP_MAP ? 2 : 1), t.t == CKPT_MP_MAP };
			break;
		default:
			break;
		}
	}
}

/* A regular file that holds one Flax msgpack checkpoint, by its first
 * SNIFF_BYTES (ckpt_layout_flax_sniff). */
bool ckpt_is_flax_file(int dirfd, const char *name)
{
	struct stat st;
	uint8_t *buf;
	ssize_t got;
	size_t want;
	bool yes = false;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) || st.st_size < 2)
		return false;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	want = st.st_size < SNIFF_BYTES ? (size_t)st.st_size : SNIFF_BYTES;
	buf = malloc(want);
	got = buf ? ckpt_pread(fd, buf, want, 0) : -1;
	close(fd);
	yes = got == (ssize_t)want && ckpt_layout_flax_sniff(buf, want, (uint64_t)st.st_size);
	free(buf);
	return yes;
}

struct scan {
	int root;
	struct ckpt_tree_ent *e;
	size_t n, cap, n_ckpt, max_ckpts;
	const char *path;
	struct ckpt_err *err;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* what the entry name of folder fd is; -1: not shown */
static int kind_of(int fd, const char *name)
{
	struct stat st;
	int sub, kind;

	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (S_ISREG(st.st_mode))
		return ckpt_is_flax_file(fd, name) ? CKPT_TREE_CKPT : CKPT_TREE_FILE;
	if (S_ISLNK(st.st_mode))
		return CKPT_TREE_LINK;
	if (!S_ISDIR(st.st_mode) || ckpt_layout_is_uncommitted_name(name))
		return -1;
	sub = ckpt_layout_opendir_at(fd, name);
	if (sub < 0)
		return CKPT_TREE_DIR; /* unreadable: an empty folder */
	kind = ckpt_layout_is_checkpoint_dir(sub) ? CKPT_TREE_CKPT : CKPT_TREE_DIR;
	close(sub);
	return kind;
}

static int add(struct scan *s, size_t parent, int fd, const char *name)
{
	const char *dir = parent == SIZE_MAX ? NULL : s->e[parent].path;
	struct ckpt_tree_ent *x;
	int kind = kind_of(fd, name);

	if (kind < 0)
		return 0;
	if (s->n >= CKPT_TREE_MAX_ENTRIES)
		return ckpt_err_set(s->err, -E2BIG, "'%s': more than %zu files and folders below it",
				    s->path, CKPT_TREE_MAX_ENTRIES);
	if (kind == CKPT_TREE_CKPT && ++s->n_ckpt > s->max_ckpts)
		return ckpt_err_set(s->err, -E2BIG,
				    "'%s': more than %zu checkpoints below it (raise -o tree_max)",
				    s->path, s->max_ckpts);
	if (ckpt_grow((void **)&s->e, &s->cap, s->n + 1, sizeof(*s->e)) < 0)
		return -ENOMEM;
	x = &s->e[s->n];
	memset(x, 0, sizeof(*x));
	if (asprintf(&x->path, "%s%s%s", dir ? dir : "", dir ? "/" : "", name) < 0) {
		x->path = NULL;
		return -ENOMEM;
	}
	x->name = x->path + (dir ? strlen(dir) + 1 : 0);
	x->parent = parent;
	x->depth = parent == SIZE_MAX ? 1 : s->e[parent].depth + 1;
	x->kind = (enum ckpt_tree_kind)kind;
	s->n++;
	return 0;
}

/* appends the entries of folder index parent (SIZE_MAX: the root), sorted */
static int list_dir(struct scan *s, size_t parent)
{
	int fd = parent == SIZE_MAX ? dup(s->root)
				    : openat(s->root, s->e[parent].path,
					     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	int rc = 0;

	if (fd < 0)
		return parent == SIZE_MAX ? -errno : 0; /* unreadable folders are empty */
	d = ckpt_opendir_fd(fd);
	if (!d) {
		rc = parent == SIZE_MAX ? -errno : 0;
		close(fd);
		return rc;
	}
	for (struct dirent *de; rc == 0 && (de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n >= CKPT_TREE_MAX_ENTRIES)
			rc = ckpt_err_set(s->err, -E2BIG, "'%s': a folder holds more than %zu entries",
					  s->path, CKPT_TREE_MAX_ENTRIES);
		else if (ckpt_grow((void **)&names, &cap, n + 1, sizeof(*names)) < 0 ||
			 !(names[n++] = strdup(de->d_name)))
			rc = -ENOMEM;
	}
	if (rc == 0 && n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = names[i] ? add(s, parent, fd, names[i]) : -ENOMEM;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d); /* closes fd */
	return rc;
}

int ckpt_tree_scan(const char *path, unsigned max_depth, size_t max_ckpts,
		   struct ckpt_tree_ent **out, size_t *n, size_t *n_ckpt, struct ckpt_err *err)
{
	struct scan s = { .path = path, .max_ckpts = max_ckpts, .err = err };
	int rc;

	*out = NULL;
	*n = *n_ckpt = 0;
	s.root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.root < 0)
		return ckpt_err_set(err, -errno, "cannot open '%s': %s", path, ckpt_strerror(-errno));
	rc = max_depth ? list_dir(&s, SIZE_MAX) : 0;
	for (size_t i = 0; rc == 0 && i < s.n; i++)
		if (s.e[i].kind == CKPT_TREE_DIR && s.e[i].depth < max_depth)
			rc = list_dir(&s, i);
	close(s.root);
	if (rc < 0) {
		if (!err || !err->msg[0])
			ckpt_err_set(err, rc, "cannot scan '%s': %s", path, ckpt_strerror(rc));
		ckpt_tree_ents_free(s.e, s.n);
		return rc;
	}
	*out = s.e;
	*n = s.n;
	*n_ckpt = s.n_ckpt;
	return 0;
}

void ckpt_tree_ents_free(struct ckpt_tree_ent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].path);
	free(e);
}
