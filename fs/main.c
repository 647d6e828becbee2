/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - ckptfs SOURCE MOUNTPOINT [options]: check SOURCE, mount, serve,
 * unmount.  Resources are set up in order and released by one goto ladder.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

extern const struct fuse_lowlevel_ops ckptfs_ops;

struct cli {
	char *source;
	char *url;            /* SOURCE on object storage (s3://, gs://); source: its mirror */
	char **remote_opts;   /* key=value options for it */
	size_t n_remote_opts;
	char *rescan;
	char *cache_size;
	char *stream_threshold;
	char *piece_size;
	char *spill_dir, *spill_size;
	char *readahead;
	char *kernel_readahead;
	char *mountpoint_abs; /* the mount point, resolved before the mount (NULL: /dev/fd/N) */
	int ra_threads_set;
	unsigned ra_threads;
	int strict_commit;
	int ro, rw_given;
	char *tmpdir;
	char *log_file;
	unsigned threads, max_threads;
	int threads_set, max_threads_set;
	int nonopt;
	int show_help, show_version;
	unsigned tree_depth, tree_max; /* tree mounts (forest.c) */
	int tree_depth_set, tree_max_set;
};

enum { KEY_RO = 100, KEY_RW, KEY_REMOTE };

#define OPT(t, p) { t, offsetof(struct cli, p), 1 }
static const struct fuse_opt cli_opts[] = {
	OPT("cache_size=%s", cache_size),
	OPT("stream_threshold=%s", stream_threshold),
	OPT("piece_size=%s", piece_size),
	OPT("spill_dir=%s", spill_dir),
	OPT("spill_size=%s", spill_size),
	OPT("strict_commit", strict_commit),
	OPT("tmpdir=%s", tmpdir),
	OPT("log=%s", log_file),
	OPT("readahead=%s", readahead),
	OPT("kernel_readahead=%s", kernel_readahead),
	{ "readahead_threads=%u", offsetof(struct cli, ra_threads), 0 },
	OPT("readahead_threads=", ra_threads_set),
	{ "tree_depth=%u", offsetof(struct cli, tree_depth), 0 },
	OPT("tree_depth=", tree_depth_set),
	{ "tree_max=%u", offsetof(struct cli, tree_max), 0 },
	OPT("tree_max=", tree_max_set),
	OPT("rescan=%s", rescan),
	FUSE_OPT_KEY("endpoint=", KEY_REMOTE),
	FUSE_OPT_KEY("region=", KEY_REMOTE),
	FUSE_OPT_KEY("addressing=", KEY_REMOTE),
	FUSE_OPT_KEY("anonymous", KEY_REMOTE),
	FUSE_OPT_KEY("profile=", KEY_REMOTE),
	FUSE_OPT_KEY("access_key_id=", KEY_REMOTE),
	FUSE_OPT_KEY("secret_access_key=", KEY_REMOTE),
	FUSE_OPT_KEY("session_token=", KEY_REMOTE),
	FUSE_OPT_KEY("retries=", KEY_REMOTE),
	FUSE_OPT_KEY("timeout=", KEY_REMOTE),
	FUSE_OPT_KEY("poll=", KEY_REMOTE),
	FUSE_OPT_KEY("cache_dir=", KEY_REMOTE),
	FUSE_OPT_KEY("cache_dir_size=", KEY_REMOTE),
	FUSE_OPT_KEY("parallel=", KEY_REMOTE),
	FUSE_OPT_KEY("warm_steps=", KEY_REMOTE),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	{ "threads=%u", offsetof(struct cli, threads), 0 },
	OPT("threads=", threads_set),
	{ "max_threads=%u", offsetof(struct cli, max_threads), 0 },
	OPT("max_threads=", max_threads_set),
	OPT("-h", show_help),
	OPT("--help", show_help),
	OPT("-V", show_version),
	OPT("--version", show_version),
	FUSE_OPT_END
};

static int cli_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cli *c = data;

	(void)outargs;
	if (key == KEY_RO || key == KEY_RW) {
		c->ro = key == KEY_RO;
		c->rw_given = 1;
		return 1; /* kept: the kernel mount is read-only too */
	}
	if (key == KEY_REMOTE) {
		char **v = realloc(c->remote_opts, (c->n_remote_opts + 1) * sizeof(*v));

		if (!v || !(v[c->n_remote_opts] = strdup(arg)))
			return -1;
		c->remote_opts = v;
		c->n_remote_opts++;
		return 0;
	}
	if (key == FUSE_OPT_KEY_NONOPT && c->nonopt++ == 0) {
		if (ckpt_remote_is_url(arg))
			return (c->url = strdup(arg)) ? 0 : -1;
		c->source = realpath(arg, NULL);
		if (!c->source) {
			fprintf(stderr, "ckptfs: '%s': %s\n", arg, strerror(errno));
			return -1;
		}
		return 0; /* consumed: the mountpoint stays for fuse_parse_cmdline */
	}
	return 1;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;

	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end || end == s || v > (SIZE_MAX >> shift))
		return -1;
	*out = (size_t)(v << shift);
	return 0;
}

static void usage(const char *prog)
{
	printf("usage: %s SOURCE MOUNTPOINT [options]\n\n"
	       "Shows the Orbax / TensorStore checkpoints in SOURCE as files, read-only;\n"
	       "with -o rw, edits made through the mount are copy-on-write commits\n"
	       "(see docs/mounting.md).\n\n"
	       "ckptfs options:\n"
	       "    -o ro                  read-only (the default): no edits, everything cached\n"
	       "    -o rw                  read-write: edits through the mount are commits\n"
	       "    -o log=FILE            also append every message to FILE (with a timestamp)\n"
	       "    -o readahead=SIZE      decoded ahead of a sequential reader (default cache_size/2; 0: off)\n"
	       "    -o readahead_threads=N threads decoding ahead (default: CPUs, at most 16)\n"
	       "    -o kernel_readahead=SIZE  the kernel's read-ahead for this mount (takes root;\n"
	       "                           default: the kernel's, 128K; 1M helps np.fromfile)\n"
	       "    -o tmpdir=DIR          where bytes being written wait for close\n"
	       "                           (default $TMPDIR or /tmp)\n"
	       "    -o cache_size=SIZE     decoded-chunk cache budget (default 32M)\n"
	       "    -o stream_threshold=SIZE  decode larger chunks as streams (default 64M)\n"
	       "    -o piece_size=SIZE     piece size of streamed chunks (default 4M)\n"
	       "    -o spill_size=SIZE     decoded pieces of streamed chunks kept on local disk\n"
	       "                           (default 4G or a quarter of spill_dir's free space,\n"
	       "                           whichever is less; 0: off)\n"
	       "    -o spill_dir=DIR       where a private spill directory is made and removed\n"
	       "                           (default $TMPDIR or /var/tmp)\n"
	       "    -o strict_commit       only show steps that have commit_success.txt\n"
	       "    -o max_threads=N       at most N worker threads (default 16; -o threads=N too)\n"
	       "    -o tree_depth=N        a SOURCE that is not a checkpoint: look for checkpoints\n"
	       "                           this many levels below it (default 6; 0: do not)\n"
	       "    -o tree_max=N          at most this many checkpoints below it (default 10000)\n"
	       "    -o rescan=SECONDS      look at SOURCE's steps this often (default 3; 1 without\n"
	       "                           inotify; 0: only when inotify says something changed)\n"
	       "SOURCE on object storage, s3://BUCKET/PREFIX or gs://BUCKET/PREFIX (read-only;\n"
	       "credentials from AWS_* variables or ~/.aws; see docs/object-storage.md):\n"
	       "    -o endpoint=URL        an S3-compatible server (default AWS, or AWS_ENDPOINT_URL)\n"
	       "    -o region=R            (default AWS_REGION or us-east-1)\n"
	       "    -o addressing=path|virtual  (default: path with an endpoint, else virtual)\n"
	       "    -o anonymous           unsigned requests, for public buckets\n"
	       "    -o profile=NAME        the profile of ~/.aws/credentials and ~/.aws/config\n"
	       "    -o poll=SECONDS        list again this often for new steps (default 30; 0: never)\n"
	       "    -o cache_dir=DIR       where the fetched bytes are kept (default $TMPDIR or /var/tmp)\n"
	       "    -o cache_dir_size=SIZE at most this much there (default 4G, or half the free space)\n"
	       "    -o parallel=N          range GETs in flight for one read (default 8)\n"
	       "    -o warm_steps=N|all    steps made ready in the background after mount, the\n"
	       "                           newest first (default all; 0: each when first opened)\n"
	       "    -o retries=N,timeout=SECONDS  per request (default 6 retries, 30 s)\n"
	       "    -f                     stay in the foreground (messages on stderr)\n"
	       "    -d                     debug output (implies -f)\n"
	       "    -s                     single-threaded\n"
	       "In the background, messages go to syslog (ident ckptfs) and -o log=FILE.\n\n",
	       prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

static void raise_nofile(void)
{
	struct rlimit rl;

	/* one fd per data file in use: take what the hard limit allows */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* the command line's options into the library's and the driver's settings */
static int apply_options(const struct cli *c, struct ckptfs *fs)
{
	ckpt_opts_default(&fs->lib);
	fs->lib.strict_commit = c->strict_commit;
	fs->lib.read_only = c->ro;
	if (c->cache_size && parse_size(c->cache_size, &fs->lib.cache_bytes) < 0) {
		fprintf(stderr, "ckptfs: bad cache_size '%s'\n", c->cache_size);
		return -1;
	}
	if (c->stream_threshold) {
		size_t v;

		if (parse_size(c->stream_threshold, &v) < 0) {
			fprintf(stderr, "ckptfs: bad stream_threshold '%s'\n", c->stream_threshold);
			return -1;
		}
		fs->lib.stream_threshold = v;
	}
	if (c->piece_size && (parse_size(c->piece_size, &fs->lib.piece_bytes) < 0 ||
			       fs->lib.piece_bytes < 4096)) {
		fprintf(stderr, "ckptfs: bad piece_size '%s' (at least 4K)\n", c->piece_size);
		return -1;
	}
	if (c->ra_threads_set)
		fs->lib.readahead_threads = c->ra_threads;
	else if (c->url)
		fs->lib.readahead_threads = 16; /* on object storage they wait on round trips, not CPUs */
	/* half the cache: the next chunk decodes while this one is read,
	 * and what was decoded ahead is still cached when the reader comes */
	fs->o.readahead_bytes = fs->lib.cache_bytes / 2;
	if (c->readahead) {
		size_t v;

		if (parse_size(c->readahead, &v) < 0) {
			fprintf(stderr, "ckptfs: bad readahead '%s'\n", c->readahead);
			return -1;
		}
		fs->o.readahead_bytes = v;
	}
	if (!fs->o.readahead_bytes)
		fs->lib.readahead_threads = 0;
	fs->o.kernel_readahead = -1;
	if (c->kernel_readahead) {
		char why[256];
		size_t v;

		if (parse_size(c->kernel_readahead, &v) < 0 || v > (1u << 30)) {
			fprintf(stderr, "ckptfs: bad kernel_readahead '%s' (a size up to 1G)\n",
				c->kernel_readahead);
			return -1;
		}
		fs->o.kernel_readahead = (int64_t)v;
		if (!c->mountpoint_abs) {
			fprintf(stderr, "ckptfs: -o kernel_readahead needs a mount point, not a /dev/fd/N\n");
			return -1;
		}
		if (fs_kernel_readahead_allowed(why, sizeof(why)) < 0) {
			fprintf(stderr, "ckptfs: -o kernel_readahead: %s\n", why);
			return -1;
		}
	}
	fs->o.root_timeout = 1.0;
	fs->o.ro = c->ro;
	if ((c->max_threads_set && c->max_threads == 0) || (c->threads_set && c->threads == 0)) {
		fprintf(stderr, "ckptfs: max_threads must be at least 1\n");
		return -1;
	}
	fs->o.rescan_ms = -1;
	if (c->rescan) {
		char *end;
		double v = strtod(c->rescan, &end);

		if (*end || end == c->rescan || !(v >= 0 && v <= 86400)) {
			fprintf(stderr, "ckptfs: rescan must be seconds (0: only on change notices), not '%s'\n",
				c->rescan);
			return -1;
		}
		fs->o.rescan_ms = (int)(v * 1000);
	}
	if (c->n_remote_opts && !c->url) {
		fprintf(stderr, "ckptfs: -o %s is for a SOURCE on object storage (s3://, gs://)\n",
			c->remote_opts[0]);
		return -1;
	}
	if (c->tmpdir)
		fs->tmpdir = c->tmpdir;
	else
		fs->tmpdir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	return 0;
}

static void remote_log(void *ctx, const char *msg)
{
	fs_log(ctx, "%s", msg);
}

/* SOURCE on object storage: list it and build its mirror, which the
 * library then reads as SOURCE (docs/object-storage.md) */
static int open_remote(struct cli *c, struct ckptfs *fs)
{
	struct ckpt_remote_conf *conf = NULL;
	struct ckpt_err err = { 0, "" };
	int rc;

	if (!c->ro) {
		fprintf(stderr, "ckptfs: -o rw: '%s' is on object storage, which ckptfs mounts "
			"read-only; mount it without -o rw to read it\n", c->url);
		return -1;
	}
	rc = ckpt_remote_conf_new(&conf, c->url, &err);
	for (size_t i = 0; rc == 0 && i < c->n_remote_opts; i++) {
		char *eq = strchr(c->remote_opts[i], '=');

		if (eq)
			*eq = 0;
		rc = ckpt_remote_conf_set(conf, c->remote_opts[i], eq ? eq + 1 : NULL, &err);
		if (eq)
			*eq = '=';
	}
	if (rc == 0)
		rc = ckpt_remote_open(&fs->remote, conf, remote_log, fs, &err);
	ckpt_remote_conf_free(conf);
	if (rc == 0 && !(c->source = strdup(ckpt_remote_path(fs->remote))))
		rc = -ENOMEM;
	if (rc < 0)
		fprintf(stderr, "ckptfs: %s\n", err.msg[0] ? err.msg : strerror(-rc));
	return rc;
}

/* The spill (lib/spill.c): bounded by -o spill_size, by default the lesser
 * of 4 GiB (a one-chunk leaf of up to 4 GiB is read back from it whole) and
 * a quarter of what its file system has free at mount (the spill is never
 * what fills a disk).  In -o spill_dir, else $TMPDIR, else /var/tmp: /tmp
 * is often a tmpfs, which would hold the spill in memory.  0 when there is
 * none, -1 on an error (an option given that cannot be honoured). */
static int spill_open(const struct cli *c, struct ckptfs *fs)
{
	const char *env = getenv("TMPDIR");
	const char *dir = c->spill_dir ? c->spill_dir : env && *env ? env : "/var/tmp";
	struct ckpt_err err = { 0, "" };
	struct statvfs sv;
	size_t bytes = (size_t)4 << 30;

	if (c->spill_size && parse_size(c->spill_size, &bytes) < 0) {
		fprintf(stderr, "ckptfs: bad spill_size '%s'\n", c->spill_size);
		return -1;
	}
	if (!c->spill_size && statvfs(dir, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize / 4 < bytes)
		bytes = (size_t)((uint64_t)sv.f_bavail * sv.f_frsize / 4);
	if (bytes == 0)
		return 0;
	if (ckpt_spill_open(&fs->lib.spill, dir, bytes, &err) < 0) {
		if (c->spill_dir || c->spill_size) {
			fprintf(stderr, "ckptfs: %s\n", err.msg);
			return -1;
		}
		/* the default place is not usable: reading works without it */
		fprintf(stderr, "ckptfs: %s; no spill (-o spill_dir=DIR to choose one)\n", err.msg);
	}
	return 0;
}

/* -o rw edits SOURCE in place, and buffers writes in tmpdir: both must be
 * writable by this process, or the first edit would fail far from here */
static int check_writable(const struct cli *c, const struct ckptfs *fs)
{
	struct statvfs sv;
	struct stat st;
	char *dir = NULL, *slash;
	const char *where = c->source;
	int rc = 0;

	if (stat(c->source, &st) == 0 && !S_ISDIR(st.st_mode)) {
		/* a Flax file: edits write a new file beside it and rename it */
		dir = strdup(c->source);
		if (!dir)
			return -1;
		slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		where = dir;
	}
	if (statvfs(where, &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
		fprintf(stderr, "ckptfs: -o rw: SOURCE '%s' is on a read-only file system; "
			"mount it without -o rw to read it\n", c->source);
		rc = -1;
	} else if (access(where, W_OK | X_OK) < 0) {
		fprintf(stderr, "ckptfs: -o rw: SOURCE '%s' cannot be written by this user (uid %ld): "
			"%s; mount it without -o rw to read it\n", where, (long)geteuid(),
			strerror(errno));
		rc = -1;
	} else if (access(fs->tmpdir, W_OK | X_OK) < 0) {
		fprintf(stderr, "ckptfs: -o rw: tmpdir '%s', where written bytes wait for close: %s\n",
			fs->tmpdir, strerror(errno));
		rc = -1;
	}
	free(dir);
	return rc;
}

/* libfuse mounts on a regular file too; ours would show an unusable root.
 * /dev/fd/N is libfuse's fd passing: a /dev/fuse another process mounted */
/* the mount point must be a directory outside SOURCE: a mount inside the
 * tree it shows would make the daemon look itself up (it hangs) */
static int check_mountpoint(const char *mp, const char *source, struct cli *c)
{
	struct stat st;
	unsigned fd;
	char end, *real;
	size_t n = source ? strlen(source) : 0;

	if (sscanf(mp, "/dev/fd/%u%c", &fd, &end) == 1)
		return 0;
	if (!source)
		n = 0; /* on object storage: nothing local to be inside of */
	if (stat(mp, &st) < 0) {
		fprintf(stderr, "ckptfs: mount point '%s': %s\n", mp, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ckptfs: mount point '%s' is not a directory\n", mp);
		return -1;
	}
	real = realpath(mp, NULL);
	if (real && n && strncmp(real, source, n) == 0 && (real[n] == '/' || real[n] == '\0' || n == 1)) {
		fprintf(stderr, "ckptfs: mount point '%s' is inside SOURCE '%s': choose one outside it\n",
			mp, source);
		free(real);
		return -1;
	}
	c->mountpoint_abs = real;
	return 0;
}

/* "-ofsname=ckptfs:SOURCE,...": libfuse splits -o on commas unless escaped
 * with a backslash, so SOURCE's commas and backslashes are */
static char *mount_opts(const char *source, bool ro)
{
	static const char head[] = "-ofsname=ckptfs:";
	static const char tail[] = ",subtype=ckptfs,default_permissions";
	size_t n = strlen(source);
	char *o = malloc(sizeof(head) + 2 * n + sizeof(tail) + 4), *p;

	if (!o)
		return NULL;
	p = stpcpy(o, head);
	for (size_t i = 0; i < n; i++) {
		if (source[i] == ',' || source[i] == '\\')
			*p++ = '\\';
		*p++ = source[i];
	}
	p = stpcpy(p, tail);
	if (ro)
		strcpy(p, ",ro"); /* the default: the kernel refuses writes (EROFS) */
	return o;
}

/* the loop: -s single-threaded, else at most max_threads workers */
static int serve(struct fuse_session *se, const struct fuse_cmdline_opts *opts,
		 const struct cli *c)
{
	struct fuse_loop_config *cfg;
	unsigned max = c->max_threads_set ? c->max_threads : c->threads_set ? c->threads : 16;
	int ret;

	if (opts->singlethread)
		return fuse_session_loop(se);
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -1;
	fuse_loop_cfg_set_clone_fd(cfg, opts->clone_fd);
	fuse_loop_cfg_set_max_threads(cfg, max);
	if (opts->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(cfg, opts->max_idle_threads);
	ret = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return ret;
}

/* Served: a SIGTERM from now on (a test's teardown, systemd stopping us
 * after the unmount) must not cut the cleanup short, which removes a remote
 * SOURCE's mirror.  Ignored process-wide (a blocked one would reach another
 * thread); libfuse then leaves handlers that are not its own alone. */
static void ignore_stop_signals(void)
{
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
}

/* mount, go to the background unless -f, serve until unmounted: the exit status */
static int run(struct ckptfs *fs, struct fuse_args *args, const struct fuse_cmdline_opts *opts,
	       const struct cli *c)
{
	struct fuse_session *se;
	char *mo = mount_opts(c->url ? c->url : c->source, c->ro);
	int ret = 1;

	if (!mo || fuse_opt_add_arg(args, mo) < 0) {
		free(mo);
		return 1;
	}
	free(mo);
	se = fuse_session_new(args, fs->forest ? &forest_ops : &ckptfs_ops, sizeof(ckptfs_ops), fs);
	if (!se)
		return 1;
	/* a shell starts background jobs with SIGINT ignored, and libfuse only
	 * replaces default dispositions: make SIGINT/TERM/HUP always unmount */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, opts->mountpoint) != 0)
		goto out_signals;
	if (fs_kio_install(se, c->mountpoint_abs, fs->o.kernel_readahead) != 0)
		goto out_unmount;
	/* the parent returns once the mount exists; requests wait for the loop */
	if (fuse_daemonize(opts->foreground) != 0)
		goto out_unmount;
	if (!opts->foreground)
		fs_log_background(); /* stderr is /dev/null now */
	fs->se = se;
	if (fs_push_init(fs) < 0)
		goto out_unmount;
	if (!fs->forest && fs_live_start(fs) < 0)
		fuse_log(FUSE_LOG_ERR, "ckptfs: cannot watch '%s' for new steps\n", c->source);
	if (fs->remote && ckpt_remote_start(fs->remote) < 0)
		fuse_log(FUSE_LOG_ERR, "ckptfs: cannot poll '%s' for new steps\n", c->url);
	ret = serve(se, opts, c);
	ignore_stop_signals();
	/* before anything it answers is freed (fs_handles_close) */
	if (!fs_push_stop(fs, se))
		fuse_log(FUSE_LOG_ERR, "ckptfs: a page-cache store still waits at exit\n");
	fs_live_stop(fs);
	forest_stop(fs);
	fs_handles_close(fs);
	/* 0: unmounted; > 0: the signal that asked us to stop; < 0: an error */
	ret = ret < 0;
out_unmount:
	fs_push_stop(fs, NULL); /* not started (an error before serving): freed */
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
	return ret;
}

/* the command line: 0 to mount, 1 done (help, version), -1 an error */
static int parse_cli(struct fuse_args *args, struct cli *c, struct fuse_cmdline_opts *opts,
		     const char *prog)
{
	if (fuse_opt_parse(args, c, cli_opts, cli_proc) < 0)
		return -1;
	if (c->show_help) {
		usage(prog);
		return 1;
	}
	if (c->show_version) {
		printf("ckptfs %s (libfuse %s)\n", "0.1.0", fuse_pkgversion());
		return 1;
	}
	if (!c->rw_given)
		c->ro = 1; /* read-only unless -o rw */
	if (fuse_parse_cmdline(args, opts) != 0)
		return -1;
	if ((!c->source && !c->url) || !opts->mountpoint) {
		fprintf(stderr, "usage: %s SOURCE MOUNTPOINT [options]  (--help for more)\n", prog);
		return -1;
	}
	return check_mountpoint(opts->mountpoint, c->source, c);
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct ckpt_err err = { 0, "" };
	struct cli c;
	struct ckptfs fs;
	struct stat st;
	int ret = 1, rc;

	/* decoded chunks and pieces are allocated and freed by the MiB: keep
	 * them on the heap, so that freed memory is reused instead of mapped
	 * and zeroed again for each one (halves the time of a streamed read) */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	/* one arena: frees in another thread's arena were zeroed again, and
	 * with two, 8 readers' chunks left holes that held 20 MiB more (the
	 * allocations are few and large: no contention to speak of) */
	mallopt(M_ARENA_MAX, 1);
	memset(&c, 0, sizeof(c));
	memset(&fs, 0, sizeof(fs));
	memset(&opts, 0, sizeof(opts));
	rc = parse_cli(&args, &c, &opts, argv[0]);
	if (rc != 0) {
		ret = rc < 0;
		goto out_opts;
	}
	if (apply_options(&c, &fs) < 0 || (!c.url && !c.ro && check_writable(&c, &fs) < 0) ||
	    spill_open(&c, &fs) < 0 || fs_log_setup(c.log_file) < 0)
		goto out_opts;
	fs.next_ino = INO_FIRST_FREE;
	fs.live_stop = -1;
	pthread_mutex_init(&fs.handles_lock, NULL);
	pthread_rwlock_init(&fs.lock, NULL);
	pthread_mutex_init(&fs.log_lock, NULL);
	pthread_mutex_init(&fs.scan_lock, NULL);
	if (c.url && open_remote(&c, &fs) < 0)
		goto out_fs;
	if (ckpt_src_open(&fs.src, c.source, &fs.lib, &err) < 0) {
		struct ckpt_err terr = { 0, "" };

		/* not a checkpoint: a tree of them? (docs/trees.md) */
		if (err.code != -EINVAL ||
		    forest_open(&fs, c.source, c.tree_depth_set ? c.tree_depth : 6,
				c.tree_max_set ? c.tree_max : 10000, err.msg, &terr) < 0) {
			fuse_log(FUSE_LOG_ERR, "ckptfs: %s\n", terr.msg[0] ? terr.msg : err.msg);
			goto out_fs;
		}
	}
	if (stat(c.source, &st) == 0) {
		fs.uid = st.st_uid;
		fs.gid = st.st_gid;
		fs.root_time = st.st_mtim;
	}
	raise_nofile();
	ret = run(&fs, &args, &opts, &c);
out_fs:
	forest_close(&fs);
	ckpt_step_ents_free(fs.scan, fs.n_scan);
	fs_destroy(&fs);
	pthread_mutex_destroy(&fs.scan_lock);
	ckpt_remote_close(fs.remote);
	fs_log_close();
out_opts:
	ckpt_spill_close(fs.lib.spill); /* after every source that used it */
	free(opts.mountpoint);
	free(c.source);
	free(c.url);
	free(c.mountpoint_abs);
	for (size_t i = 0; i < c.n_remote_opts; i++)
		free(c.remote_opts[i]);
	free(c.remote_opts);
	free(c.rescan);
	free(c.cache_size);
	free(c.stream_threshold);
	free(c.piece_size);
	free(c.spill_dir);
	free(c.spill_size);
	free(c.tmpdir);
	free(c.log_file);
	free(c.readahead);
	free(c.kernel_readahead);
	fuse_opt_free_args(&args);
	return ret;
}
