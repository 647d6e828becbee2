/* SPDX-License-Identifier: Apache-2.0 */
/*
 * live.c - steps that appear and disappear while mounted.  A thread watches
 * SOURCE with inotify (and rescans every few seconds anyway, for changes
 * inotify does not see, e.g. commit_success.txt written inside a step, or
 * a file system without inotify), keeps the step list current, and tells
 * the kernel what changed: the entries of new and deleted steps, the root's
 * listing, "latest".  The notifications are sent from this thread, never
 * from a request handler (libfuse: they may deadlock there).
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#define RESCAN_MS 3000 /* with inotify; without, every POLL_MS */
#define POLL_MS 1000
#define SETTLE_MS 50   /* events come in bursts: wait for the end of one */

static const struct ckpt_step_ent *listed(const struct ckpt_step_ent *e, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e[i].name, name))
			return &e[i];
	return NULL;
}

/* the name is there, but is it the same step?  On -o ro mounts a step
 * replaced under its name (Flax's save_checkpoint(overwrite=True) renames a
 * new file over the old; a step deleted and saved again between two looks)
 * has a new inode.  On read-write mounts ckptfs's own edits of Flax files
 * replace the file, so there the name is what counts. */
static bool same_step(const struct ckptfs *fs, const struct ckpt_step_ent *a,
		      const struct ckpt_step_ent *b)
{
	return !fs->o.ro || !a->ino || !b->ino || a->ino == b->ino;
}

static void inval_step(struct ckptfs *fs, const char *name)
{
	char js[4200];

	fs_notify_inval_entry(fs, INO_ROOT, name, strlen(name));
	snprintf(js, sizeof(js), "%s.json", name);
	fs_notify_inval_entry(fs, INO_ROOT, js, strlen(js));
}

/* Rescans; sends what changed.  Names are copied out under the lock and
 * the kernel told after it is dropped. */
static void refresh(struct ckptfs *fs)
{
	struct ckpt_err err = { 0, "" };
	struct ckpt_step_ent *e, *old;
	size_t n, n_old;
	bool changed = false, latest_changed;
	int rc = ckpt_src_scan(fs->src, &e, &n, &err);

	if (rc < 0) {
		fs_log(fs, "%s", err.msg);
		return;
	}
	pthread_mutex_lock(&fs->scan_lock);
	old = fs->scan;
	n_old = fs->n_scan;
	fs->scan = e;
	fs->n_scan = n;
	fs->scanned = true;
	pthread_mutex_unlock(&fs->scan_lock);
	latest_changed = (n == 0) != (n_old == 0) ||
			 (n && n_old && strcmp(e[n - 1].name, old[n_old - 1].name));
	for (size_t i = 0; i < n_old; i++) {
		const struct ckpt_step_ent *now = listed(e, n, old[i].name);

		if (now && same_step(fs, &old[i], now))
			continue;
		/* gone: a step saved again under this name is a new step */
		fs_step_forget(fs, old[i].name);
		inval_step(fs, old[i].name);
		changed = true;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ckpt_step_ent *was = listed(old, n_old, e[i].name);

		if (was && same_step(fs, was, &e[i]))
			continue;
		inval_step(fs, e[i].name); /* a cached miss */
		changed = true;
	}
	if (changed)
		fs_notify_inval_inode(fs, INO_ROOT, 0, 0);
	if (latest_changed) {
		fs_notify_inval_entry(fs, INO_ROOT, "latest", 6);
		fs_notify_inval_inode(fs, INO_LATEST, 0, 0);
	}
	ckpt_step_ents_free(old, n_old);
}

static void *watch_main(void *arg)
{
	struct ckptfs *fs = arg;
	int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), wd = -1;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (getenv("CKPTFS_NO_INOTIFY")) { /* tests: the polling path */
		if (ifd >= 0)
			close(ifd);
		ifd = -1;
		errno = ENOSYS;
	}
	if (ifd >= 0)
		wd = inotify_add_watch(ifd, ckpt_src_path(fs->src),
				       IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |
					       IN_CLOSE_WRITE | IN_ONLYDIR);
	if (wd < 0)
		fs_log(fs, "'%s': no inotify (%s): new steps are found by rescanning every %d ms",
		       ckpt_src_path(fs->src), strerror(errno),
		       fs->o.rescan_ms >= 0 ? fs->o.rescan_ms : POLL_MS);
	for (;;) {
		struct pollfd p[2] = { { fs->live_stop, POLLIN, 0 }, { ifd, POLLIN, 0 } };
		int every = fs->o.rescan_ms >= 0 ? fs->o.rescan_ms : wd >= 0 ? RESCAN_MS : POLL_MS;
		int r = poll(p, wd >= 0 ? 2 : 1, every ? every : -1);

		if (r < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (r > 0 && p[1].revents) {
			/* drain the burst, then look once */
			do {
				while (read(ifd, buf, sizeof(buf)) > 0)
					;
			} while (poll(&p[1], 1, SETTLE_MS) > 0);
		}
		refresh(fs);
	}
	if (ifd >= 0)
		close(ifd);
	return NULL;
}

int fs_live_start(struct ckptfs *fs)
{
	if (ckpt_src_kind(fs->src) != CKPT_SRC_ROOT)
		return 0; /* one checkpoint: nothing comes or goes */
	fs->live_stop = eventfd(0, EFD_CLOEXEC);
	if (fs->live_stop < 0)
		return -errno;
	if (pthread_create(&fs->live_thread, NULL, watch_main, fs) != 0) {
		close(fs->live_stop);
		fs->live_stop = -1;
		return -EAGAIN;
	}
	fs->live = true;
	return 0;
}

void fs_live_stop(struct ckptfs *fs)
{
	uint64_t one = 1;

	if (!fs->live)
		return;
	if (write(fs->live_stop, &one, sizeof(one)) < 0)
		fs_log(fs, "stopping the step watcher: %s", strerror(errno));
	pthread_join(fs->live_thread, NULL);
	close(fs->live_stop);
	fs->live = false;
}
