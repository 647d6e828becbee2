/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resolve.c - a PATH inside a checkpoint (the names the mount shows) to a
 * step, item or node; opening sources; error messages.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* sources on object storage: mirrored while the command runs */
static struct ckpt_remote *remotes[4];
static size_t n_remotes;

static void close_remotes(void)
{
	while (n_remotes)
		ckpt_remote_close(remotes[--n_remotes]);
}

static void remote_log(void *ctx, const char *msg)
{
	fprintf(stderr, "ckpt %s: %s\n", (const char *)ctx, msg);
}

/* s3://BUCKET/PREFIX or gs://...: its mirror's path (options from the
 * environment only: AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE, ...) */
static int open_remote(const char *cmd, const char *url, const char **path)
{
	struct ckpt_remote_conf *conf = NULL;
	struct ckpt_err err = { 0, "" };
	struct ckpt_remote *r = NULL;
	int rc;

	if (n_remotes == sizeof(remotes) / sizeof(remotes[0]))
		return cli_die(cmd, &(struct ckpt_err){ -EMFILE, "too many sources on object storage" }, -EMFILE);
	rc = ckpt_remote_conf_new(&conf, url, &err);
	if (rc == 0)
		rc = ckpt_remote_conf_set(conf, "poll", "0", &err);
	if (rc == 0) /* a step is made when a command opens it */
		rc = ckpt_remote_conf_set(conf, "warm_steps", "0", &err);
	if (rc == 0)
		rc = ckpt_remote_open(&r, conf, remote_log, (void *)cmd, &err);
	if (rc == 0 && (rc = ckpt_remote_start(r)) < 0) /* metadata fetched many at once */
		ckpt_remote_close(r);
	ckpt_remote_conf_free(conf);
	if (rc < 0)
		return cli_die(cmd, &err, rc);
	if (n_remotes == 0)
		atexit(close_remotes);
	remotes[n_remotes++] = r;
	*path = ckpt_remote_path(r);
	return 0;
}

char *cli_unmirror(char *s)
{
	for (size_t i = 0; s && i < n_remotes; i++) {
		char *u = ckpt_remote_unmirror_dup(remotes[i], s, NULL);

		free(s);
		s = u;
	}
	return s;
}

int cli_die(const char *cmd, const struct ckpt_err *e, int rc)
{
	char msg[1200];

	snprintf(msg, sizeof(msg), "%s", e->code ? e->msg : ckpt_strerror(rc));
	/* a source on object storage: its URL, not its mirror's path */
	for (size_t i = 0; i < n_remotes; i++)
		ckpt_remote_unmirror(remotes[i], msg, sizeof(msg));
	fprintf(stderr, "ckpt %s: %s\n", cmd, msg);
	return CLI_FAIL;
}

int cli_open(const char *cmd, const char *path, struct ckpt_src **src)
{
	struct ckpt_opts o;
	struct ckpt_err err = { 0, "" };
	int rc;

	if (ckpt_remote_is_url(path) && (rc = open_remote(cmd, path, &path)) != 0)
		return rc;
	ckpt_opts_default(&o);
	rc = ckpt_src_open(src, path, &o, &err);
	return rc < 0 ? cli_die(cmd, &err, rc) : 0;
}

/* ---------------------------------------------------------------- resolving paths */

/* path's components (*n of them), or NULL when out of memory */
static char **split(const char *path, size_t *n)
{
	char *copy = strdup(path ? path : ""), *save = NULL, *tok, **v = NULL;
	size_t cnt = 0;

	*n = 0;
	if (!copy)
		return NULL;
	for (tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		char **nv = realloc(v, (cnt + 1) * sizeof(*v));

		if (!nv || !(nv[cnt] = strdup(tok))) {
			v = nv ? nv : v;
			while (cnt)
				free(v[--cnt]);
			free(v);
			free(copy);
			return NULL;
		}
		v = nv;
		cnt++;
	}
	free(copy);
	*n = cnt;
	return v ? v : calloc(1, sizeof(*v));
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

		ckpt_name_escape(k, kl, ckpt_node_dup_index(n, i), canon);
		if (!strcmp(canon, name)) {
			c = ckpt_node_child(n, i);
			break;
		}
	}
	free(key);
	return c;
}

int cli_resolve(struct ckpt_src *src, const char *path, struct target *t, struct ckpt_err *err)
{
	struct ckpt_step_ent *ents;
	size_t n_ent, nc, i = 0;
	char **comp = split(path, &nc);
	char *step = NULL;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (!comp)
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	if ((rc = ckpt_src_scan(src, &ents, &n_ent, err)) < 0)
		goto out;
	if (nc == 0) {
		t->kind = T_ROOT;
		ckpt_step_ents_free(ents, n_ent);
		goto out;
	}
	if (ckpt_src_kind(src) == CKPT_SRC_SINGLE && n_ent && strcmp(comp[0], ents[0].name) &&
	    strcmp(comp[0], "latest"))
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
	if (rc == 0 && !step)
		rc = ckpt_err_set(err, -ENOMEM, "out of memory");
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
	if (rc < 0) { /* nothing half-open for the caller to release */
		cli_target_release(t);
		t->item = NULL;
		t->step = NULL;
	}
	for (size_t k = 0; k < nc; k++)
		free(comp[k]);
	free(comp);
	free(step);
	return rc;
}

void cli_target_release(struct target *t)
{
	ckpt_item_close(t->item);
	ckpt_step_close(t->step);
}


const char *cli_default_path(struct ckpt_src *src, const char *path)
{
	return !*path && ckpt_src_kind(src) == CKPT_SRC_SINGLE ? "latest" : path;
}
