/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - where ckptfs's messages go.  Every message (ours through fs_log,
 * libfuse's own) goes through fuse_log, which lands here:
 *   - on stderr while it is ours: in the foreground (-f), and before the
 *     daemon goes to the background (after that, stderr is /dev/null);
 *   - to syslog (ident "ckptfs", LOG_DAEMON) once in the background;
 *   - with -o log=FILE, to FILE as well, in every mode: appended, one line
 *     per message, "2026-12-04T05:58:01.123Z ckptfs[PID]: message".
 * Debug messages (-d) go to stderr only.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;
static bool in_background;

static void sink(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[2048], line[2200], ts[40];
	const char *body = msg;
	struct timespec now;
	struct tm tm;
	size_t n;
	int k;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (!strncmp(body, "ckptfs: ", 8))
		body += 8; /* the ident says it */
	if (!in_background)
		fprintf(stderr, "%s\n", msg);
	if (level == FUSE_LOG_DEBUG)
		return;
	if (in_background)
		syslog((int)level, "%s", body);
	if (log_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line, sizeof(line), "%s.%03ldZ ckptfs[%ld]: %s\n", ts, now.tv_nsec / 1000000,
		     (long)getpid(), body);
	if (k < 0)
		return;
	if ((size_t)k >= sizeof(line)) {
		k = sizeof(line) - 1;
		line[k - 1] = '\n';
	}
	/* one write per line: O_APPEND keeps lines of several daemons whole */
	if (write(log_fd, line, (size_t)k) < 0)
		return; /* nowhere left to say it */
}

int fs_log_setup(const char *file)
{
	fuse_set_log_func(sink);
	if (!file)
		return 0;
	log_fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (log_fd < 0) {
		fprintf(stderr, "ckptfs: -o log=%s: %s\n", file, strerror(errno));
		return -1;
	}
	return 0;
}

void fs_log_background(void)
{
	openlog("ckptfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	in_background = true;
}

void fs_log_close(void)
{
	if (in_background)
		closelog();
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	fuse_set_log_func(NULL);
}
