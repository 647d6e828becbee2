/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inode.c - inode numbers <-> steps, items and nodes (see fs.h for the
 * numbering).  Ranges are appended with increasing bases, so resolving an
 * inode is a binary search under a read lock.  Steps and items are opened on
 * first use under their own mutex; a failure is remembered, so a corrupt
 * item answers EIO every time without being re-read, and is logged once.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fs_log(struct ckptfs *fs, const char *fmt, ...)
{
	char msg[1024];
	uint64_t h;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h = ckpt_name_hash(msg, strlen(msg));
	pthread_mutex_lock(&fs->log_lock);
	for (size_t i = 0; i < fs->n_logged; i++) {
		if (fs->logged[i] == h) {
			pthread_mutex_unlock(&fs->log_lock);
			return; /* one line per problem */
		}
	}
	if (fs->n_logged < 65536) {
		uint64_t *nl = realloc(fs->logged, (fs->n_logged + 1) * sizeof(*nl));

		if (nl) {
			fs->logged = nl;
			fs->logged[fs->n_logged++] = h;
		}
	}
	pthread_mutex_unlock(&fs->log_lock);
	fuse_log(FUSE_LOG_ERR, "ckptfs: %s\n", msg);
}

/* caller holds fs->lock for writing */
static fuse_ino_t add_range(struct ckptfs *fs, uint64_t len, enum range_kind kind, void *owner)
{
	struct range *r;

	if (fs->n_ranges == fs->cap_ranges) {
		size_t nc = fs->cap_ranges ? fs->cap_ranges * 2 : 64;

		r = realloc(fs->ranges, nc * sizeof(*r));
		if (!r)
			return 0;
		fs->ranges = r;
		fs->cap_ranges = nc;
	}
	r = &fs->ranges[fs->n_ranges++];
	r->base = fs->next_ino;
	r->len = len ? len : 1;
	r->kind = kind;
	r->owner = owner;
	fs->next_ino += r->len;
	return r->base;
}

struct step_slot *fs_step_slot(struct ckptfs *fs, const char *name, bool create)
{
	struct step_slot *s = NULL;

	pthread_rwlock_rdlock(&fs->lock);
	for (size_t i = 0; i < fs->n_steps; i++)
		if (!strcmp(fs->steps[i]->name, name)) {
			s = fs->steps[i];
			break;
		}
	pthread_rwlock_unlock(&fs->lock);
	if (s || !create)
		return s;
	pthread_rwlock_wrlock(&fs->lock);
	for (size_t i = 0; i < fs->n_steps; i++)
		if (!strcmp(fs->steps[i]->name, name)) {
			s = fs->steps[i];
			goto out;
		}
	if (fs->n_steps == fs->cap_steps) {
		size_t nc = fs->cap_steps ? fs->cap_steps * 2 : 16;
		struct step_slot **ns = realloc(fs->steps, nc * sizeof(*ns));

		if (!ns)
			goto out;
		fs->steps = ns;
		fs->cap_steps = nc;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(name))) {
		free(s);
		s = NULL;
		goto out;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->base = add_range(fs, 2, R_STEP, s);
	if (!s->base) {
		free(s->name);
		free(s);
		s = NULL;
		goto out;
	}
	fs->steps[fs->n_steps++] = s;
out:
	pthread_rwlock_unlock(&fs->lock);
	return s;
}

int fs_step_open(struct ckptfs *fs, struct step_slot *s)
{
	struct ckpt_err err = { 0, "" };
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (s->opened) {
		rc = s->err;
		goto out;
	}
	rc = ckpt_step_open(&s->step, fs->src, s->name, &err);
	if (rc == 0) {
		size_t n = ckpt_step_n_items(s->step);

		s->items = calloc(n ? n : 1, sizeof(*s->items));
		if (!s->items) {
			rc = -ENOMEM;
			goto out;
		}
		pthread_rwlock_wrlock(&fs->lock);
		for (size_t i = 0; i < n; i++) {
			s->items[i].step = s;
			s->items[i].index = i;
			/* a direct step's item lives in the step's own inodes */
			s->items[i].head = ckpt_step_is_direct(s->step)
						   ? s->base
						   : add_range(fs, 2, R_ITEM_HEAD, &s->items[i]);
		}
		pthread_rwlock_unlock(&fs->lock);
		s->n_items = n;
	} else if (rc != -ENOENT) {
		fs_log(fs, "step '%s': %s", s->name, err.msg[0] ? err.msg : ckpt_strerror(rc));
		s->errmsg = strdup(err.msg);
	}
	s->err = rc;
	s->opened = true;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int fs_item_open(struct ckptfs *fs, struct item_slot *it)
{
	struct step_slot *s = it->step;
	struct ckpt_err err = { 0, "" };
	int rc;

	if (__atomic_load_n(&it->opened, __ATOMIC_ACQUIRE))
		return it->err;
	pthread_mutex_lock(&s->lock);
	if (it->opened) {
		rc = it->err;
		goto out;
	}
	rc = ckpt_item_open(&it->item, s->step, it->index, &err);
	if (rc == 0) {
		uint64_t n = ckpt_item_n_nodes(it->item);

		it->json_size = calloc(n ? n : 1, sizeof(*it->json_size));
		if (!it->json_size) {
			ckpt_item_close(it->item);
			it->item = NULL;
			rc = -ENOMEM;
		} else if (n > 1) {
			pthread_rwlock_wrlock(&fs->lock);
			it->nodes = add_range(fs, 2 * (n - 1), R_ITEM_NODES, it);
			pthread_rwlock_unlock(&fs->lock);
		}
	} else {
		fs_log(fs, "%s", err.msg[0] ? err.msg : ckpt_strerror(rc));
		it->errmsg = strdup(err.msg[0] ? err.msg : ckpt_strerror(rc));
		rc = -EIO;
	}
	it->err = rc;
	__atomic_store_n(&it->opened, true, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

fuse_ino_t fs_item_dir_ino(const struct item_slot *it)
{
	return it->head;
}

fuse_ino_t fs_node_ino(const struct item_slot *it, const struct ckpt_node *n, bool json)
{
	uint64_t id = ckpt_node_id(n);

	if (id == 0)
		return json ? it->head + 1 : it->head;
	return it->nodes + 2 * (id - 1) + (json ? 1 : 0);
}

int fs_resolve(struct ckptfs *fs, fuse_ino_t ino, struct target *t)
{
	struct range *r = NULL;
	size_t lo, hi;

	memset(t, 0, sizeof(*t));
	switch (ino) {
	case INO_ROOT:
		t->type = T_ROOT;
		return 0;
	case INO_LATEST:
		t->type = T_LATEST;
		return 0;
	case INO_ROOT_META:
		t->type = T_ROOT_META;
		return 0;
	}
	pthread_rwlock_rdlock(&fs->lock);
	lo = 0;
	hi = fs->n_ranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fs->ranges[mid].base <= ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && ino < fs->ranges[lo - 1].base + fs->ranges[lo - 1].len)
		r = &fs->ranges[lo - 1];
	if (!r) {
		pthread_rwlock_unlock(&fs->lock);
		return -ENOENT;
	}
	{
		struct range rc = *r; /* the array may move once the lock is dropped */
		uint64_t off = ino - rc.base;

		pthread_rwlock_unlock(&fs->lock);
		switch (rc.kind) {
		case R_STEP:
			t->step = rc.owner;
			t->type = off ? T_STEP_JSON : T_STEP;
			return 0;
		case R_ITEM_HEAD:
			t->item = rc.owner;
			t->step = t->item->step;
			t->type = off ? T_ITEM_JSON : T_ITEM;
			if (!off && ckpt_step_item(t->step->step, t->item->index)->kind == CKPT_ITEM_JSON)
				t->type = T_JSON_ITEM;
			return 0;
		case R_ITEM_NODES:
			t->item = rc.owner;
			t->step = t->item->step;
			t->type = off % 2 ? T_NODE_JSON : T_NODE;
			t->node = t->item->item ? ckpt_item_node(t->item->item, off / 2 + 1) : NULL;
			return t->node ? 0 : -ENOENT;
		}
	}
	return -ENOENT;
}

void fs_destroy(struct ckptfs *fs)
{
	for (size_t i = 0; i < fs->n_steps; i++) {
		struct step_slot *s = fs->steps[i];

		for (size_t k = 0; k < s->n_items; k++) {
			ckpt_item_close(s->items[k].item);
			free(s->items[k].json_size);
			free(s->items[k].errmsg);
		}
		free(s->items);
		ckpt_step_close(s->step);
		pthread_mutex_destroy(&s->lock);
		free(s->errmsg);
		free(s->name);
		free(s);
	}
	free(fs->steps);
	free(fs->ranges);
	free(fs->logged);
	ckpt_src_close(fs->src);
	pthread_rwlock_destroy(&fs->lock);
	pthread_mutex_destroy(&fs->log_lock);
}
