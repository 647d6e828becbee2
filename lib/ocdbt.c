/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocdbt.c - read-only OCDBT database over a directory (tier 3); see ocdbt.h.
 * Manifests and the version tree (finding a generation) are ocdbt_gen.c.
 *
 * Open: manifest -> chosen version -> B+tree walk with an explicit stack
 * (height from the data is bounded by CKPT_OCDBT_MAX_HEIGHT, and keys must
 * come out strictly increasing across the whole walk, so a node referenced
 * twice is detected instead of walked forever).  Nodes stay decoded in
 * memory for the life of the db; the index points into them.
 */
#define _GNU_SOURCE
#include "ocdbt.h"

#include "fsutil.h"
#include "map.h"
#include "ocdbt_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct datafile {
	char *path;
	size_t base_len; /* bytes of path that are its base_path */
	int fd;          /* -1 until opened */
};

struct ckpt_ocdbt_db {
	int dirfd;
	char *label;
	struct ckpt_ocdbt_manifest m;
	uint64_t generation, commit_time;
	struct ckpt_ocdbt_value *v;
	size_t n, cap;
	struct ckpt_ocdbt_node **nodes; /* after the walk: only leaf nodes' keys */
	size_t n_nodes, cap_nodes;
	uint8_t **blocks;               /* the inline values, copied out of the nodes */
	size_t n_blocks, cap_blocks, block_left;
	uint8_t *cur;                   /* the block being filled */
	struct ckpt_bytes *seen;        /* while walking: recent values, by hash */
	struct datafile *files;
	size_t n_files, cap_files;
	struct ckpt_map file_index; /* path -> index into files */
	pthread_mutex_t lock;       /* opening data files */
};

/* ---------------------------------------------------------------- b+tree walk */

static int file_intern(struct ckpt_ocdbt_db *db, const char *path, size_t base_len, uint32_t *idx)
{
	size_t v;
	int rc;

	if (ckpt_map_get(&db->file_index, (struct ckpt_bytes){ (const uint8_t *)path, strlen(path) },
			 &v) == 0) {
		*idx = (uint32_t)v;
		return 0;
	}
	if (db->n_files >= UINT32_MAX)
		return -EFBIG;
	rc = ckpt_grow((void **)&db->files, &db->cap_files, db->n_files + 1, sizeof(*db->files));
	if (rc < 0)
		return rc;
	db->files[db->n_files].path = strdup(path);
	db->files[db->n_files].base_len = base_len;
	db->files[db->n_files].fd = -1;
	if (!db->files[db->n_files].path)
		return -ENOMEM;
	/* the map keys point at the strdup'ed path, which lives as long as db */
	rc = ckpt_map_put(&db->file_index,
			  (struct ckpt_bytes){ (const uint8_t *)db->files[db->n_files].path,
					       strlen(path) },
			  db->n_files);
	if (rc < 0) {
		free(db->files[db->n_files].path);
		return rc;
	}
	*idx = (uint32_t)db->n_files++;
	return 0;
}

/* Inline values are copied out of the decoded leaf nodes into blocks, so a
 * leaf node can go as soon as its entries are in db->v.  A small table of
 * recent values shares repeats (an item's .zarray texts are mostly alike)
 * at a fixed cost: a full map of 200,000 values would cost more than it
 * saves. */
#define BLOCK (1u << 20)
#define SEEN 4096

static const uint8_t *keep_inline(struct ckpt_ocdbt_db *db, const uint8_t *p, size_t n)
{
	size_t h = (size_t)ckpt_hash(p, n) & (SEEN - 1);
	uint8_t *dst;

	if (db->seen && db->seen[h].p && db->seen[h].n == n && !memcmp(db->seen[h].p, p, n))
		return db->seen[h].p;
	if (ckpt_grow((void **)&db->blocks, &db->cap_blocks, db->n_blocks + 1, sizeof(*db->blocks)) < 0)
		return NULL;
	if (n > BLOCK / 4) {
		/* a big value: a block of its own; the current block stays current */
		if (!(dst = malloc(n)))
			return NULL;
		db->blocks[db->n_blocks++] = dst;
	} else {
		if (n > db->block_left) {
			if (!(db->cur = malloc(BLOCK)))
				return NULL;
			db->blocks[db->n_blocks++] = db->cur;
			db->block_left = BLOCK;
		}
		dst = db->cur + (BLOCK - db->block_left);
		db->block_left -= n;
	}
	memcpy(dst, p, n);
	if (db->seen)
		db->seen[h] = (struct ckpt_bytes){ dst, n };
	return dst;
}

/* After the walk: interior nodes go too (only leaf nodes' key buffers stay,
 * db->v's keys point into them), and db->v is cut to size. */
static void compact(struct ckpt_ocdbt_db *db)
{
	struct ckpt_ocdbt_value *v;

	for (size_t i = 0; i < db->n_nodes; i++)
		ckpt_ocdbt_node_trim(db->nodes[i]);
	free(db->seen);
	db->seen = NULL;
	v = realloc(db->v, (db->n ? db->n : 1) * sizeof(*db->v));
	if (v) {
		db->v = v;
		db->cap = db->n ? db->n : 1;
	}
}

struct wstack_item {
	const char *path; /* borrowed from a table that lives as long as db */
	size_t base_len;
	uint64_t offset, length;
	uint8_t height;
	struct ckpt_bytes prefix; /* borrowed from a node's key buffer */
	struct ckpt_bytes lower;  /* inclusive lower bound of the subtree's keys */
};

/*
 * The whole B+tree walk in one function (about 140 lines), on purpose: the
 * explicit stack, the strictly-increasing key check across nodes and the
 * ownership of each decoded node are one invariant; split, each part would
 * need all of that state passed in.
 */
static int tree_walk(struct ckpt_ocdbt_db *db, const struct ckpt_ocdbt_version *ver,
		     const struct ckpt_ocdbt_table *vt, const struct ckpt_limits *lim,
		     struct ckpt_err *err)
{
	struct wstack_item *stack = NULL;
	size_t sn = 0, scap = 0;
	int rc = 0;

	if (ver->root.offset == CKPT_OCDBT_MISSING)
		return 0;
	if (!db->seen)
		db->seen = calloc(SEEN, sizeof(*db->seen)); /* NULL: nothing is shared */
	if ((rc = ckpt_grow((void **)&stack, &scap, 1, sizeof(*stack))) < 0)
		return rc;
	stack[0] = (struct wstack_item){ vt->f[ver->root.file].path, vt->f[ver->root.file].base_len,
					 ver->root.offset, ver->root.length, ver->root_height,
					 { (const uint8_t *)"", 0 }, { (const uint8_t *)"", 0 } };
	sn = 1;
	while (sn > 0) {
		struct wstack_item it = stack[--sn];
		struct ckpt_ocdbt_node *nd;
		struct ckpt_ocdbt_value *seg;
		uint8_t *raw = NULL, *body = NULL;
		size_t body_n;

		nd = calloc(1, sizeof(*nd));
		if (!nd ||
		    ckpt_grow((void **)&db->nodes, &db->cap_nodes, db->n_nodes + 1, sizeof(*db->nodes))) {
			free(nd);
			rc = -ENOMEM;
			goto out;
		}
		rc = ckpt_ocdbt_read_node_bytes(db->dirfd, db->label, it.path, it.offset, it.length,
				     lim->max_node_bytes, &raw, err);
		if (rc == 0)
			rc = ckpt_ocdbt_unwrap(raw, (size_t)it.length, CKPT_OCDBT_MAGIC_BTREE,
					       lim->max_node_bytes, &body, &body_n, err);
		free(raw);
		if (rc == 0)
			rc = ckpt_ocdbt_node_parse(nd, body, body_n, it.prefix, it.path, it.base_len,
						   err);
		if (rc == 0 && nd->height != it.height) {
			rc = ckpt_err_set(err, CKPT_ECORRUPT, "b+tree node has height %u, expected %u",
					  nd->height, it.height);
			ckpt_ocdbt_node_release(nd);
		}
		if (rc < 0) {
			free(nd);
			ckpt_err_prefix(err, "'%s/%s' @%llu: ", db->label, it.path,
					(unsigned long long)it.offset);
			goto out;
		}
		db->nodes[db->n_nodes++] = nd;
		{
			uint32_t ignored; /* node files count as referenced (prune) */

			if ((rc = file_intern(db, it.path, it.base_len, &ignored)) < 0)
				goto out;
		}
		if (nd->n && ckpt_bytes_cmp(nd->height ? nd->child[0].key : nd->leaf[0].key,
					    it.lower) < 0) {
			rc = ckpt_err_set(err, CKPT_ECORRUPT,
					  "'%s/%s' @%llu: b+tree node keys below the parent's bound",
					  db->label, it.path, (unsigned long long)it.offset);
			goto out;
		}
		if (nd->height == 0) {
			if (db->n + nd->n > lim->max_keys) {
				rc = ckpt_err_set(err, -EFBIG, "'%s': more than %llu keys", db->label,
						  (unsigned long long)lim->max_keys);
				goto out;
			}
			/* the node's entries become values in place (a value is
			 * smaller than an entry, and entry i is read before value i
			 * is written over its start), so a node of 200,000 keys
			 * never has both arrays at once */
			_Static_assert(sizeof(struct ckpt_ocdbt_value) <= sizeof(struct ckpt_ocdbt_leaf_entry),
				       "values are converted in place");
			seg = (struct ckpt_ocdbt_value *)(void *)nd->leaf;
			for (size_t i = 0; i < nd->n; i++) {
				const struct ckpt_ocdbt_leaf_entry e = nd->leaf[i];
				struct ckpt_ocdbt_value v = { e.key, e.value_len, NULL, 0, 0 };
				const struct ckpt_ocdbt_value *prev = i ? &seg[i - 1] : db->n ? &db->v[db->n - 1] : NULL;

				if (prev && ckpt_bytes_cmp(prev->key, e.key) >= 0) {
					rc = ckpt_err_set(err, CKPT_ECORRUPT,
							  "'%s/%s' @%llu: b+tree keys out of order",
							  db->label, it.path,
							  (unsigned long long)it.offset);
					goto out;
				}
				if (e.is_inline) {
					v.inline_p = e.value_len ? keep_inline(db, e.value.p, (size_t)e.value_len)
								 : (const uint8_t *)"";
					if (!v.inline_p) {
						rc = -ENOMEM;
						goto out;
					}
				} else {
					rc = file_intern(db, nd->table.f[e.file].path,
							 nd->table.f[e.file].base_len, &v.file);
					if (rc < 0)
						goto out;
					v.offset = e.offset;
				}
				seg[i] = v;
			}
			nd->leaf = NULL; /* seg owns the array now */
			if (!db->v) {
				void *p = realloc(seg, (nd->n ? nd->n : 1) * sizeof(*seg));

				db->v = p ? p : seg;
				db->n = db->cap = nd->n;
			} else {
				rc = ckpt_grow((void **)&db->v, &db->cap, db->n + nd->n, sizeof(*db->v));
				if (rc == 0) {
					memcpy(db->v + db->n, seg, nd->n * sizeof(*seg));
					db->n += nd->n;
				}
				free(seg);
				if (rc < 0)
					goto out;
			}
			ckpt_ocdbt_node_trim(nd); /* what db->v needs is copied */
		} else {
			rc = ckpt_grow((void **)&stack, &scap, sn + nd->n, sizeof(*stack));
			if (rc < 0)
				goto out;
			for (size_t i = nd->n; i-- > 0;) {
				const struct ckpt_ocdbt_child *c = &nd->child[i];
				const struct ckpt_ocdbt_file *f = &nd->table.f[c->loc.file];

				stack[sn++] = (struct wstack_item){
					f->path, f->base_len, c->loc.offset, c->loc.length,
					(uint8_t)(nd->height - 1),
					{ c->key.p, c->subtree_prefix }, c->key
				};
			}
		}
	}
out:
	free(stack);
	return rc;
}

struct find_gen {
	uint64_t want;
	struct ckpt_ocdbt_version found;
	struct ckpt_ocdbt_table table; /* copy of the one file needed */
	bool ok;
};

static int find_gen_fn(void *payload, const struct ckpt_ocdbt_version *v,
		       const struct ckpt_ocdbt_table *t)
{
	struct find_gen *f = payload;

	if (v->generation != f->want)
		return 0;
	f->found = *v;
	if (v->root.offset != CKPT_OCDBT_MISSING) {
		f->table.f = calloc(1, sizeof(*f->table.f));
		if (!f->table.f)
			return -ENOMEM;
		f->table.f[0].path = strdup(t->f[v->root.file].path);
		if (!f->table.f[0].path)
			return -ENOMEM;
		f->table.f[0].base_len = t->f[v->root.file].base_len;
		f->table.n = 1;
		f->found.root.file = 0;
	}
	f->ok = true;
	return 0;
}

int ckpt_ocdbt_open(struct ckpt_ocdbt_db **out, int dirfd, const char *label, uint64_t generation,
		    const struct ckpt_limits *lim, struct ckpt_err *err)
{
	struct ckpt_ocdbt_db *db;
	struct find_gen fg;
	int rc;

	*out = NULL;
	memset(&fg, 0, sizeof(fg));
	db = calloc(1, sizeof(*db));
	if (!db)
		return -ENOMEM;
	db->dirfd = -1;
	pthread_mutex_init(&db->lock, NULL);
	db->label = strdup(label);
	db->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (!db->label || db->dirfd < 0) {
		rc = -ENOMEM;
		goto out;
	}
	rc = ckpt_ocdbt_read_manifest(db->dirfd, label, lim, &db->m, NULL, err);
	if (rc < 0)
		goto out;
	if (generation == 0) {
		const struct ckpt_ocdbt_version *ver;

		if (!db->m.n_versions)
			goto done; /* empty database */
		ver = &db->m.versions[db->m.n_versions - 1];
		db->generation = ver->generation;
		db->commit_time = ver->commit_time;
		rc = tree_walk(db, ver, &db->m.table, lim, err);
		goto done;
	}
	fg.want = generation;
	rc = ckpt_ocdbt_versions_walk(db->dirfd, label, lim, &db->m, find_gen_fn, &fg, err);
	if (rc < 0)
		goto out;
	if (!fg.ok) {
		rc = ckpt_err_set(err, -ENOENT, "'%s': no generation %llu", label,
				  (unsigned long long)generation);
		goto out;
	}
	db->generation = fg.found.generation;
	db->commit_time = fg.found.commit_time;
	/* fg.table is only read during the walk: nodes own their tables and
	 * values intern their data file paths */
	rc = tree_walk(db, &fg.found, &fg.table, lim, err);
done:
	if (rc == 0)
		compact(db);
	if (rc == 0) {
		*out = db;
		db = NULL;
	}
out:
	if (fg.table.f) {
		free(fg.table.f[0].path);
		free(fg.table.f);
	}
	ckpt_ocdbt_close(db);
	return rc;
}

void ckpt_ocdbt_close(struct ckpt_ocdbt_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->n_nodes; i++) {
		ckpt_ocdbt_node_release(db->nodes[i]);
		free(db->nodes[i]);
	}
	for (size_t i = 0; i < db->n_files; i++) {
		if (db->files[i].fd >= 0)
			close(db->files[i].fd);
		free(db->files[i].path);
	}
	ckpt_map_release(&db->file_index);
	free(db->files);
	free(db->nodes);
	for (size_t i = 0; i < db->n_blocks; i++)
		free(db->blocks[i]);
	free(db->blocks);
	free(db->seen);
	free(db->v);
	ckpt_ocdbt_manifest_release(&db->m);
	if (db->dirfd >= 0)
		close(db->dirfd);
	pthread_mutex_destroy(&db->lock);
	free(db->label);
	free(db);
}

size_t ckpt_ocdbt_count(const struct ckpt_ocdbt_db *db)
{
	return db->n;
}

const struct ckpt_ocdbt_value *ckpt_ocdbt_at(const struct ckpt_ocdbt_db *db, size_t i)
{
	return i < db->n ? &db->v[i] : NULL;
}

size_t ckpt_ocdbt_lower_bound(const struct ckpt_ocdbt_db *db, const void *key, size_t n)
{
	struct ckpt_bytes k = { key, n };
	size_t lo = 0, hi = db->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ckpt_bytes_cmp(db->v[mid].key, k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct ckpt_ocdbt_value *ckpt_ocdbt_find(const struct ckpt_ocdbt_db *db, const void *key,
					       size_t n)
{
	size_t i = ckpt_ocdbt_lower_bound(db, key, n);

	if (i < db->n && ckpt_bytes_eq(db->v[i].key, (struct ckpt_bytes){ key, n }))
		return &db->v[i];
	return NULL;
}

const char *ckpt_ocdbt_file_path(const struct ckpt_ocdbt_db *db, uint32_t file)
{
	return file < db->n_files ? db->files[file].path : "?";
}

size_t ckpt_ocdbt_n_files(const struct ckpt_ocdbt_db *db)
{
	return db->n_files;
}

size_t ckpt_ocdbt_file_base_len(const struct ckpt_ocdbt_db *db, uint32_t file)
{
	return file < db->n_files ? db->files[file].base_len : 0;
}

int ckpt_ocdbt_file_fd(struct ckpt_ocdbt_db *db, uint32_t file, struct ckpt_err *err)
{
	struct datafile *f;
	int fd;

	if (file >= db->n_files)
		return -EINVAL;
	f = &db->files[file];
	fd = __atomic_load_n(&f->fd, __ATOMIC_ACQUIRE);
	if (fd >= 0)
		return fd;
	pthread_mutex_lock(&db->lock);
	fd = f->fd;
	if (fd < 0) {
		fd = ckpt_open_beneath(db->dirfd, f->path, O_RDONLY, 0);
		if (fd >= 0)
			__atomic_store_n(&f->fd, fd, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&db->lock);
	if (fd < 0)
		return ckpt_err_set(err, fd == -EXDEV ? CKPT_ECORRUPT : fd,
				    "'%s/%s': cannot open data file: %s", db->label, f->path,
				    fd == -EXDEV ? "path leaves the database directory"
						 : fd == -ENOENT ? "missing" : ckpt_strerror(fd));
	return fd;
}

int ckpt_ocdbt_read(struct ckpt_ocdbt_db *db, const struct ckpt_ocdbt_value *v, uint64_t off,
		    size_t n, void *buf, struct ckpt_err *err)
{
	uint64_t end;
	int fd, rc;

	if (ckpt_add_overflow(off, n, &end) || end > v->len)
		return -EINVAL;
	if (v->inline_p) {
		memcpy(buf, v->inline_p + off, n);
		return 0;
	}
	fd = ckpt_ocdbt_file_fd(db, v->file, err);
	if (fd < 0)
		return fd;
	rc = ckpt_pread_full(fd, buf, n, v->offset + off);
	if (rc < 0)
		return ckpt_err_set(err, rc, "'%s/%s': cannot read %zu bytes at %llu: %s", db->label,
				    db->files[v->file].path, n,
				    (unsigned long long)(v->offset + off),
				    rc == CKPT_ECORRUPT ? "data file too short" : ckpt_strerror(rc));
	return 0;
}

const struct ckpt_ocdbt_config *ckpt_ocdbt_config(const struct ckpt_ocdbt_db *db)
{
	return &db->m.config;
}

uint64_t ckpt_ocdbt_generation(const struct ckpt_ocdbt_db *db)
{
	return db->generation;
}

uint64_t ckpt_ocdbt_commit_time(const struct ckpt_ocdbt_db *db)
{
	return db->commit_time;
}
