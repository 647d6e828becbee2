/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bdi.c - -o kernel_readahead=SIZE: the kernel's read-ahead for this mount.
 *
 * Buffered reads of a FUSE file follow its mount's backing device's
 * read-ahead (128 KiB unless set), which INIT can only lower; raising it
 * takes root writing /sys/class/bdi/MAJ:MIN/read_ahead_kb, where MAJ:MIN is
 * the mount's device.  The kernel lowers it to INIT's max_readahead when it
 * reads our INIT reply, so it is set right after that reply (kio.c).  The
 * device is found in /proc/self/mountinfo, the newest FUSE mount on the
 * mount point, without a request to ourselves.  The setting goes with the
 * mount.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* mountinfo's escapes (\040 space, \011 tab, \012 newline, \134 backslash) undone in place */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* the MAJ:MIN of the newest FUSE mount on path (absolute), into dev; -ENOENT if none */
static int mount_dev(const char *path, char *dev, size_t n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE ... */
		char *save = NULL, *id = strtok_r(line, " ", &save);
		char *parent = id ? strtok_r(NULL, " ", &save) : NULL;
		char *mm = parent ? strtok_r(NULL, " ", &save) : NULL;
		char *root = mm ? strtok_r(NULL, " ", &save) : NULL;
		char *mp = root ? strtok_r(NULL, " ", &save) : NULL;
		char *t, *type = NULL;

		while (mp && (t = strtok_r(NULL, " ", &save)) != NULL) {
			if (strcmp(t, "-") == 0) {
				type = strtok_r(NULL, " ", &save);
				break;
			}
		}
		if (!type || (strcmp(type, "fuse") != 0 && strncmp(type, "fuse.", 5) != 0))
			continue;
		unescape(mp);
		if (strcmp(mp, path) == 0 && strlen(mm) < n) {
			strcpy(dev, mm);
			rc = 0; /* later lines are newer mounts: the last one wins */
		}
	}
	free(line);
	fclose(f);
	return rc;
}

int fs_kernel_readahead(const char *path, size_t bytes, char *why, size_t n)
{
	char dev[64], knob[128], val[32];
	int fd, rc, len;
	ssize_t w;

	rc = mount_dev(path, dev, sizeof(dev));
	if (rc < 0) {
		snprintf(why, n, "cannot find the mount on '%s' in /proc/self/mountinfo: %s", path,
			 strerror(-rc));
		return -1;
	}
	snprintf(knob, sizeof(knob), "/sys/class/bdi/%s/read_ahead_kb", dev);
	len = snprintf(val, sizeof(val), "%zu\n", bytes >> 10);
	fd = open(knob, O_WRONLY | O_CLOEXEC);
	w = fd < 0 ? -1 : write(fd, val, (size_t)len);
	rc = w == len ? 0 : w < 0 ? errno : EIO;
	if (fd >= 0)
		close(fd);
	if (rc) {
		snprintf(why, n, "cannot set %s: %s%s", knob, strerror(rc),
			 rc == EACCES || rc == EPERM || rc == EROFS ? " (it takes root)" : "");
		return -1;
	}
	return 0;
}

int fs_kernel_readahead_allowed(char *why, size_t n)
{
	if (access("/sys/class/bdi", W_OK) == 0)
		return 0;
	snprintf(why, n, "cannot set the read-ahead in /sys/class/bdi: %s (it takes root)",
		 strerror(errno));
	return -1;
}
