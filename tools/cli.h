/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h - what the ckpt subcommands share: resolving a PATH inside a
 * checkpoint to a step, item or node (resolve.c), the leaves below a target
 * in the mount's order (walk.c), reading and decoding a leaf's numbers
 * (num.c), progress on a terminal (progress.c).
 */
#ifndef CKPT_CLI_H
#define CKPT_CLI_H

#include "ckpt_internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* exit statuses */
#define CLI_OK 0
#define CLI_FAIL 1  /* the command ran and failed (or, for diff: different) */
#define CLI_USAGE 2 /* bad command line (for diff: trouble) */

struct target {
	struct ckpt_step *step;
	struct ckpt_item *item;
	const struct ckpt_node *node;
	size_t index; /* the item's index in the step */
	enum { T_ROOT, T_STEP, T_STEP_JSON, T_ITEM, T_ITEM_JSON, T_JSON_ITEM, T_NODE, T_NODE_JSON } kind;
};

int cli_resolve(struct ckpt_src *src, const char *path, struct target *t, struct ckpt_err *err);
void cli_target_release(struct target *t);
/* PATH, or for a single checkpoint and no PATH its one step ("latest"):
 * what info, stats, diff and export look at */
const char *cli_default_path(struct ckpt_src *src, const char *path);
/* prints "ckpt CMD: message" and returns CLI_FAIL */
int cli_die(const char *cmd, const struct ckpt_err *e, int rc);
/* s (taken) with the mirrors' paths of s3:// and gs:// sources as their URLs; NULL: no memory */
char *cli_unmirror(char *s);
/* opens SOURCE with the default options; prints the error itself */
int cli_open(const char *cmd, const char *path, struct ckpt_src **src);

/* one entry below a target, in the order the mount lists them */
struct cli_ent {
	char *path;                   /* relative to the target ("" for a leaf target) */
	struct ckpt_item *item;       /* NULL: an error */
	const struct ckpt_node *node; /* NULL: a JSON item (json_item), or an error */
	bool empty_dir;               /* an empty directory (no leaves below) */
	bool json_item;               /* a JSON item: <name>.json */
	char *error;                  /* a step or item that could not be opened */
};

struct cli_tree {
	struct cli_ent *e;
	size_t n, cap;
	struct ckpt_step **steps; /* opened here (not the target's) */
	struct ckpt_item **items;
	size_t n_steps, n_items, cap_steps, cap_items;
	size_t steps_seen, items_seen; /* what the target holds (info) */
};

/* Lists everything below t (a root, step, item or node). */
int cli_tree_load(struct ckpt_src *src, struct target *t, struct cli_tree *tr, struct ckpt_err *err);
void cli_tree_free(struct cli_tree *tr);
/* "a" "/" "b" or the one that is not empty (new string) */
char *cli_join(const char *a, const char *b);

/* a leaf's array type, from its description; false: not a numeric array */
struct cli_array {
	struct ckpt_dtype dt;
	bool numeric;     /* dt is known and decodable */
	bool is_array;    /* the leaf is an array (else a string, None, file, ...) */
	char dtype[40];   /* the name the description gives */
	uint32_t rank;
	uint64_t shape[64];
	uint64_t nbytes, count;
};
int cli_array_of(struct ckpt_item *it, const struct ckpt_node *n, struct cli_array *a,
		 struct ckpt_err *err);
/* "[2,3]" */
void cli_shape_str(const struct cli_array *a, char *buf, size_t n);

/* Reads [off, off+n) fully (short only at the end).  @return bytes or < 0 */
int64_t cli_read_full(struct ckpt_leaf *l, uint8_t *buf, uint64_t off, size_t n, struct ckpt_err *err);

/* Decodes n elements to doubles; complex types give two doubles (re, im)
 * per element.  lut: 256 or 65536 doubles for 1- and 2-byte types, made by
 * cli_lut (NULL otherwise). */
double *cli_lut(const struct ckpt_dtype *dt);
void cli_decode(const struct ckpt_dtype *dt, const double *lut, const uint8_t *p, size_t n,
		double *out);

/* progress on stderr when it is a terminal, silent otherwise */
struct cli_progress {
	bool on;
	const char *what;
	uint64_t total, done;
	double last;
};
void cli_progress_start(struct cli_progress *p, const char *what, uint64_t total);
void cli_progress_add(struct cli_progress *p, uint64_t n);
void cli_progress_end(struct cli_progress *p);

/* prune --dry-run of item i (older versions recorded): prints each file
 * that would be deleted and its bytes; total: files, bytes */
int cli_prune_dry_run(struct ckpt_step *st, size_t i, size_t older, uint64_t total[2],
		      struct ckpt_err *err);

/* the subcommands; argv[0] is the subcommand's name */
int cli_info(int argc, char **argv);
int cli_stats(int argc, char **argv);
int cli_diff(int argc, char **argv);
int cli_export(int argc, char **argv);

/* a subcommand's usage: on stdout and 0 (ok, --help), else on stderr and 2 */
int cli_usage(const char *cmd, bool ok);
/* getopt_long's '?' or ':' named on stderr; returns CLI_USAGE */
int cli_bad_option(const char *cmd, int c, char **argv);
/* prints j indented on stdout; 0 or CLI_FAIL */
int cli_print_json(json_t *j);

#endif
