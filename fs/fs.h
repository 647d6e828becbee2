/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fs.h - the ckptfs FUSE driver's private types.  fs/ sees the library only
 * through ckpt.h.
 *
 * Inode numbers come from one counter and are never reused while mounted;
 * each has a record (struct inorec) saying what it stands for:
 *   1 root, 2 "latest", 3 "metadata.json" (root metadata)
 *   a step:      its directory, "<step>.json", its ".versions" directory
 *   a tree:      an item's root directory (or a JSON item's file) and
 *                "<item>.json"; ".versions/<item>/<N>" is a tree too
 *   a tree node: three numbers (the node, its "<name>.json", and an array
 *                leaf's "<name>.npy" view), allocated on first use and
 *                keyed by the node's path in the tree, so a node keeps its
 *                number across edits (struct tslot.paths)
 *   a NAME.npy being written (struct pending)
 * A direct checkpoint's step directory is also its item's root.  Inodes are
 * never forgotten (forget is a no-op): the records are small.
 * In a tree mount (forest.c) each checkpoint has a struct ckptfs of its own
 * with these numbers, seen by the kernel with a prefix per checkpoint.
 *
 * An item's tree is read through a refcounted state (struct istate): an
 * edit commits, opens the item again and swaps the new state in; files
 * opened before keep reading the state they opened.
 */
#ifndef CKPTFS_FS_H
#define CKPTFS_FS_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 14)
#include <fuse_lowlevel.h>

#include "ckpt.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

/* forest.c: a SOURCE that holds checkpoints below it (a tree mount).  Each
 * checkpoint is served by its own struct ckptfs through ops.c's handlers;
 * its inode numbers carry a per-checkpoint prefix, added to what those
 * handlers reply (the names below) and removed from what the kernel asks. */
struct ckptfs;
extern const struct fuse_lowlevel_ops forest_ops;
/* after ckpt_src_open said "not a checkpoint" (msg): scans SOURCE; 0 with
 * fs->forest set, or -errno with err's message for the user */
int forest_open(struct ckptfs *fs, const char *source, unsigned depth, size_t max_ckpts,
		const char *msg, struct ckpt_err *err);
/* after the session loop: the checkpoints' step watchers and open handles */
void forest_stop(struct ckptfs *fs);
void forest_close(struct ckptfs *fs);

/* prefix.c: replies and notifications with a tree mount's inode prefix.
 * ops.c's handlers and live.c reply through these: outside a tree mount
 * (and for the top layer of one) they are the fuse_* functions they name;
 * while forest.c runs a checkpoint's handler (fs_prefix_enter), they add
 * that checkpoint's prefix (struct ckptfs.ino_prefix) to inode numbers. */
void fs_prefix_enter(struct ckptfs *sub);
void fs_prefix_leave(void);
/* the struct ckptfs a request is for: the checkpoint whose handler runs */
struct ckptfs *fs_req_fs(fuse_req_t req);
int fs_reply_entry(fuse_req_t req, const struct fuse_entry_param *e);
int fs_reply_create(fuse_req_t req, const struct fuse_entry_param *e, const struct fuse_file_info *fi);
int fs_reply_attr(fuse_req_t req, const struct stat *attr, double attr_timeout);
size_t fs_add_direntry(fuse_req_t req, char *buf, size_t bufsize, const char *name,
		       const struct stat *stbuf, off_t off);
size_t fs_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize, const char *name,
			    const struct fuse_entry_param *e, off_t off);
/* the kernel's caches of fs's inode ino / of name in directory parent */
int fs_notify_inval_inode(struct ckptfs *fs, fuse_ino_t ino, off_t off, off_t len);
int fs_notify_inval_entry(struct ckptfs *fs, fuse_ino_t parent, const char *name, size_t namelen);

#define INO_ROOT 1
#define INO_LATEST 2
#define INO_ROOT_META 3
#define INO_STATS 4 /* "/.ckptfs-stats": not listed, the cache's statistics */
#define INO_FIRST_FREE 16

struct step_slot;
struct tslot;
struct wbuf;

/* One opened state of a tree. */
struct istate {
	struct ckpt_item *item;
	uint64_t *json_size; /* per node id: size of "<name>.json" + 1, 0 = unknown */
	uint64_t head_json_size;
	unsigned refs;       /* the slot's own reference, open files, requests */
};

/* A "NAME.npy" being written: it becomes the array leaf NAME when closed. */
struct pending {
	struct tslot *ts;
	char *dir;  /* path key of the directory */
	char *name; /* "NAME.npy" */
	fuse_ino_t ino;
	struct wbuf *wb;
	bool done;  /* committed or failed: no longer listed */
};

/* A tree: an item's current state, or one recorded version of it. */
struct tslot {
	struct step_slot *step;
	size_t index;        /* item index in the step */
	fuse_ino_t head;     /* root directory (or JSON item's file); head+1 "<item>.json" */
	bool is_version;
	uint64_t version;
	pthread_mutex_t lock; /* the state, the path table, pending files, write buffers */
	pthread_mutex_t edit_lock; /* one edit at a time */
	bool opened;
	int err;
	char *errmsg;
	struct istate *cur;
	/* path-stable node inodes: keys[i] has inodes inos[i], + 1 (.json), + 2 (.npy) */
	char **keys;
	fuse_ino_t *inos;
	size_t n_paths, cap_paths;
	size_t *hash; /* open addressing over keys: index + 1, 0 = empty */
	size_t cap_hash;
	char **graveyard; /* keys replaced by renames and removals */
	size_t n_graveyard;
	uint64_t n_retired_keys;
	struct pending **pending;
	size_t n_pending;
	struct wbuf **wbufs; /* write buffers of open leaves */
	size_t n_wbufs;
	/* an item's versions: ".versions/<item>" and its trees */
	fuse_ino_t vdir;
	struct tslot **vers;
	size_t n_vers;
};

struct step_slot {
	char *name;
	fuse_ino_t base; /* the directory; base+1 "<step>.json"; base+2 ".versions" */
	pthread_mutex_t lock;
	bool opened;
	struct ckpt_step *step;    /* reopened after an edit; older ones retired */
	struct ckpt_step **retired; /* still used by older states: closed at unmount */
	size_t n_retired;
	int err;
	char *errmsg;
	size_t n_items;
	struct tslot *items;
	uint64_t json_size; /* size of <step>.json + 1, 0 = unknown */
};

/* What an inode number stands for. */
enum itype {
	T_NONE,
	T_ROOT,
	T_LATEST,
	T_ROOT_META,
	T_STATS,
	T_STEP,      /* step directory (a direct step: also its item's root) */
	T_STEP_JSON,
	T_VERSIONS,  /* <step>/.versions */
	T_ITEM,      /* a tree's root directory */
	T_ITEM_JSON,
	T_JSON_ITEM, /* a JSON item's file */
	T_NODE,      /* a tree node below the root: directory or leaf */
	T_NODE_JSON,
	T_NODE_NPY,  /* an array leaf's "<name>.npy": a .npy header, then the leaf */
	T_VITEM,     /* .versions/<item>: a directory per version */
	T_PENDING,   /* a NAME.npy being written */
};

struct inorec {
	uint8_t type;
	void *owner;  /* step_slot (T_STEP*, T_VERSIONS), tslot, pending */
	size_t idx;   /* T_NODE, T_NODE_JSON: index in owner's path table */
};

struct ckptfs_opts {
	bool ro;
	double root_timeout;
	uint64_t readahead_bytes; /* window decoded ahead of sequential readers */
	int rescan_ms;            /* SOURCE rescanned this often (-1: the default; 0: never) */
	int64_t kernel_readahead; /* the mount's read-ahead in the kernel, bytes (-1: the kernel's) */
};

struct ckptfs {
	struct ckpt_src *src;
	struct ckpt_remote *remote; /* SOURCE on object storage: src reads its mirror */
	struct fuse_session *se;
	/* a checkpoint of a tree mount (forest.c): the mount, and what its inode
	 * numbers carry there; NULL and 0 otherwise */
	struct ckptfs *parent;
	fuse_ino_t ino_prefix;
	struct ckpt_opts lib;
	struct ckptfs_opts o;
	uid_t uid;
	gid_t gid;
	struct timespec root_time;
	pthread_rwlock_t lock; /* the inode table, the step list */
	struct inorec **pages;
	size_t n_pages;
	fuse_ino_t next_ino;
	struct step_slot **steps;
	size_t n_steps, cap_steps;
	uint64_t root_meta_size;
	pthread_mutex_t scan_lock;
	struct ckpt_step_ent *scan;
	size_t n_scan;
	struct timespec scan_time;
	bool scanned;
	bool scan_dirty; /* a listed step was not there when opened: list again (atomic) */
	pthread_mutex_t log_lock;
	uint64_t *logged;
	size_t n_logged;
	const char *tmpdir; /* write buffers live in unlinked files here */
	struct step_slot **dead; /* steps deleted from SOURCE while mounted */
	size_t n_dead;
	void *handles;      /* open file handles (ops.c) */
	void *dirs;         /* open directory listings (ops.c), under handles_lock */
	pthread_mutex_t handles_lock;
	bool live;          /* the step watcher runs (live.c): the step list is current */
	int live_stop;
	pthread_t live_thread;
	struct forest *forest; /* a tree mount: the checkpoints below SOURCE (forest.c) */
	struct fs_push *push;  /* small leaves into the page cache (push.c); the mount's own */
};

/* What an inode resolves to now.  Release with fs_put. */
struct target {
	enum itype type;
	struct step_slot *step;
	struct tslot *ts;
	struct istate *st;            /* ts's current state, held */
	const struct ckpt_node *node; /* T_ITEM (the root), T_NODE, T_NODE_JSON, T_NODE_NPY */
	const char *key;              /* the node's path key ("" for the root) */
	struct pending *pend;
};

/* inode.c */
void fs_log(struct ckptfs *fs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
fuse_ino_t fs_alloc(struct ckptfs *fs, const uint8_t *types, unsigned n, void *owner, size_t idx);
void fs_set_type(struct ckptfs *fs, fuse_ino_t ino, enum itype type);
int fs_resolve(struct ckptfs *fs, fuse_ino_t ino, struct target *t);
void fs_put(struct target *t);
struct step_slot *fs_step_slot(struct ckptfs *fs, const char *name, bool create);
/* a step deleted from SOURCE: its slot is retired, a new one gets new inodes */
void fs_step_forget(struct ckptfs *fs, const char *name);
int fs_step_open(struct ckptfs *fs, struct step_slot *s);
struct ckpt_step *fs_step(struct step_slot *s);
int fs_step_reopen(struct ckptfs *fs, struct step_slot *s);
/* the tree's current state, opened on first use; held: release with fs_state_put */
int fs_state_get(struct ckptfs *fs, struct tslot *ts, struct istate **out);
void fs_state_put(struct tslot *ts, struct istate *st);
/* opens the item again and makes that the current state (after an edit) */
int fs_tree_reload(struct ckptfs *fs, struct tslot *ts);
/* the inode of the node at key in ts; sub: 0 the node, 1 (true) its
 * "<name>.json", FS_SUB_NPY its "<name>.npy" */
#define FS_SUB_NPY 2
fuse_ino_t fs_path_ino(struct ckptfs *fs, struct tslot *ts, const char *key, unsigned sub);
/* after a rename (to) or a removal (to NULL): the paths under from move */
void fs_rekey(struct ckptfs *fs, struct tslot *ts, const char *from, const char *to);
const struct ckpt_node *fs_node_by_key(const struct ckpt_item *it, const char *key);
const struct ckpt_node *fs_child_named(const struct ckpt_node *n, const char *name);
/* true when name is "<name>.npy" of an array leaf in dir (a view: not removed, not renamed) */
bool fs_is_npy_view(const struct ckpt_node *dir, const char *name);
char *fs_key_join(const char *dir, const char *name);
/* ".versions/<item>/<N>": the version's tree slot */
struct tslot *fs_version_slot(struct ckptfs *fs, struct tslot *item, uint64_t version);
fuse_ino_t fs_vdir(struct ckptfs *fs, struct tslot *item);
void fs_destroy(struct ckptfs *fs);
/* true when nothing under this inode can change while mounted */
bool fs_immutable(struct ckptfs *fs, const struct target *t);
/* true when the target's tree takes edits */
bool fs_editable(struct ckptfs *fs, const struct target *t);

/* tree.c: the namespace, no FUSE replies */
struct dirent_ent {
	char *name;
	fuse_ino_t ino;
	mode_t type;
};

struct dir_list {
	struct dirent_ent *e;
	size_t n, cap;
	struct dir_list *prev, *next; /* open listings (ops.c), freed at the end if never released */
};

int fs_getattr(struct ckptfs *fs, fuse_ino_t ino, struct stat *st);
bool fs_attr_costly(struct ckptfs *fs, fuse_ino_t ino); /* READDIRPLUS leaves it bare */
int fs_lookup(struct ckptfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino);
int fs_list(struct ckptfs *fs, fuse_ino_t ino, struct dir_list *out);
void fs_list_free(struct dir_list *l);
int fs_readlink(struct ckptfs *fs, char *buf, size_t cap);

/* content.c: a generated file's bytes (caller frees), and its size
 * (computed once per state) */
int fs_content(struct ckptfs *fs, const struct target *t, char **buf, size_t *n);
int fs_content_size(struct ckptfs *fs, const struct target *t, uint64_t *size);
bool fs_content_size_known(const struct target *t); /* without generating it */
/* an array leaf's .npy view (T_NODE_NPY): its header (h->data_off bytes) */
int fs_npy_head(struct ckptfs *fs, const struct target *t, struct ckpt_npy *h);
/* its st_size: header + the leaf's bytes (what was written, while replaced) */
int fs_npy_size(struct ckptfs *fs, const struct target *t, uint64_t *size);
/* opening "<name>.npy" for writing: the NAME.npy replace path (write.c) */
int fs_npy_open_write(struct ckptfs *fs, const struct target *t, struct wbuf **wb);

/* ops.c: after the session, the handles the kernel never released */
void fs_handles_close(struct ckptfs *fs);

/* log.c: messages to stderr (foreground), syslog (background) and
 * -o log=FILE; fs_log_setup installs the sink before anything is logged */
int fs_log_setup(const char *file);
void fs_log_background(void);
void fs_log_close(void);

/* kio.c: the /dev/fuse channel, so that direct-I/O files can be mmapped */
/* push.c: a leaf opened: the next ones are decoded ahead (item.c), and
 * those of at most 1 MiB in a tree the kernel caches are put into its page
 * cache by a thread of their own */
void fs_leaves_ahead(struct ckptfs *fs, const struct target *t);
int fs_push_init(struct ckptfs *fs);
/* Stops the thread, before the session's device is closed: the requests
 * the stopped loop left are answered meanwhile (a store may wait on one of
 * them).  @return false if it did not stop within 10 s */
bool fs_push_stop(struct ckptfs *fs, struct fuse_session *se);
void fs_push_stats(struct ckptfs *fs, uint64_t *leaves, uint64_t *bytes);
/* prefix.c: bytes of file ino into the kernel's page cache, from offset 0 */
int fs_notify_store(struct ckptfs *fs, fuse_ino_t ino, struct fuse_bufvec *bv);

/* kio.c: path (absolute, resolved before the mount) and bytes: the
 * kernel's read-ahead for the mount, set once INIT is answered (-1: left) */
int fs_kio_install(struct fuse_session *se, const char *path, int64_t kernel_readahead);

/* bdi.c: the kernel's read-ahead of the mount on path (absolute) set to
 * bytes (its backing device's read_ahead_kb).  @return 0, or -1 with the
 * reason in why */
int fs_kernel_readahead(const char *path, size_t bytes, char *why, size_t n);
/* whether this process may set it (root, /sys writable); -1 with why if not */
int fs_kernel_readahead_allowed(char *why, size_t n);

/* live.c: steps that come and go while mounted */
int fs_live_start(struct ckptfs *fs);
void fs_live_stop(struct ckptfs *fs);

/* wbuf.c: write buffers of leaves being written */
int fs_wbuf_open(struct ckptfs *fs, struct target *t, struct wbuf **out);
int fs_wbuf_write(struct wbuf *wb, const void *p, size_t n, uint64_t off);
int64_t fs_wbuf_read(struct ckptfs *fs, struct wbuf *wb, void *p, size_t n, uint64_t off);
int fs_wbuf_truncate(struct wbuf *wb, uint64_t size);
uint64_t fs_wbuf_size(struct wbuf *wb);
/* the size of the leaf at key while a handle writes it */
bool fs_wbuf_size_of(struct tslot *ts, const char *key, uint64_t *size);
/* write.c: edits through the mount.  Commits what was written: flush and fsync (final: a truncate without a
 * handle); release commits what is left */
int fs_wbuf_commit(struct ckptfs *fs, struct wbuf *wb, bool final);
void fs_wbuf_close(struct ckptfs *fs, struct wbuf *wb);
int fs_create_npy(struct ckptfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino,
		  struct wbuf **wb);
int fs_pending_commit(struct ckptfs *fs, struct pending *p);
int fs_mkdir(struct ckptfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino);
int fs_unlink(struct ckptfs *fs, fuse_ino_t parent, const char *name, bool dir);
int fs_rename(struct ckptfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	      const char *newname, unsigned flags);

#endif
