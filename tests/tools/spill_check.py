#!/usr/bin/env python3
"""spill_check.py - what tests/bats/spill.bats checks through a mount.

  spill_check.py reads FILE REF N   N random reads of FILE (4 KiB aligned,
      and every tenth one unaligned, up to 300 KiB, across pieces) compared
      with the same bytes of REF; the kernel's page cache for FILE is
      dropped first (posix_fadvise DONTNEED), so that the reads reach the
      daemon.  Prints the median latency; exits 1 on a difference.
  spill_check.py disk PID DIR   the bytes on disk (allocated blocks) of the
      files the process PID holds open under DIR (the spill's files are
      unlinked: du does not see them); prints the count.
"""
import os, random, stat, statistics, sys, time


def reads(path, ref, n):
    size = os.path.getsize(path)
    if size != os.path.getsize(ref):
        raise SystemExit("%s: %d bytes, reference %d" % (path, size, os.path.getsize(ref)))
    fd = os.open(path, os.O_RDONLY)
    rfd = os.open(ref, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    rnd = random.Random(14)
    lat = []
    for i in range(n):
        if i % 10 == 9:
            off, k = rnd.randrange(0, size - 1), rnd.randrange(1, 300 << 10)
        else:
            off, k = rnd.randrange(0, size - 4096) & ~4095, 4096
        t0 = time.monotonic()
        got = os.pread(fd, k, off)
        lat.append(time.monotonic() - t0)
        want = os.pread(rfd, k, off)
        if got != want:
            raise SystemExit("%s: %d bytes at %d differ from the reference" % (path, k, off))
    print("%d reads byte-exact, median %.3f ms" % (n, 1000 * statistics.median(lat)))


def disk(pid, d):
    d = os.path.realpath(d) + "/"
    total = 0
    fds = "/proc/%d/fd" % pid
    for f in os.listdir(fds):
        try:
            target = os.readlink(os.path.join(fds, f))
            if target.startswith(d):
                st = os.stat(os.path.join(fds, f))
                if stat.S_ISREG(st.st_mode):
                    total += st.st_blocks * 512
        except OSError:
            pass  # closed meanwhile
    print(total)


if __name__ == "__main__":
    if sys.argv[1] == "reads":
        reads(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "disk":
        disk(int(sys.argv[2]), sys.argv[3])
    else:
        raise SystemExit(__doc__)
