#!/usr/bin/python3
"""corrupt_matrix.py CKPTFS WORK CHECKPOINT...: every file of each checkpoint
truncated to half, with one bit flipped in the middle, and deleted, in turn.
For each case: mount a copy (-o ro), walk it and read every file (each walk
under a timeout), and require that the daemon never crashes or hangs, that
reads fail only with EIO (or ENOENT for what the damage removed), that the
daemon logs each problem once and names a file, and that it exits 0 on
unmount.  Prints the number of cases; exits 1 on the first failure.
Standard library only."""
import errno, os, shutil, subprocess, sys, tempfile, time

WALKER = r'''
import errno, os, sys
bad = {}
def onerror(e):
    bad[e.errno] = bad.get(e.errno, 0) + 1
for d, dirs, files in os.walk(sys.argv[1], onerror=onerror):
    for f in files:
        p = os.path.join(d, f)
        try:
            with open(p, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except OSError as e:
            bad[e.errno] = bad.get(e.errno, 0) + 1
print(" ".join("%d:%d" % kv for kv in sorted(bad.items())))
'''


def case(ckptfs, src, work, label):
    mnt = tempfile.mkdtemp(dir=work, prefix="m.")
    log = os.path.join(work, "daemon.log")
    d = subprocess.Popen([ckptfs, src, mnt, "-f", "-o", "ro"], stderr=open(log, "w"))
    for _ in range(200):
        if os.path.ismount(mnt) or d.poll() is not None:
            break
        time.sleep(0.02)
    if d.poll() is not None:
        # refusing to mount a SOURCE that is no longer a checkpoint is fine
        msg = open(log).read()
        os.rmdir(mnt)
        if d.returncode == 1 and "ckptfs: " in msg:
            return "refused"
        raise SystemExit("%s: daemon exited %d before mounting: %s" % (label, d.returncode, msg))
    try:
        w = subprocess.run([sys.executable, "-c", WALKER, mnt], capture_output=True, text=True,
                           timeout=60)
    except subprocess.TimeoutExpired:
        subprocess.run(["fusermount3", "-uz", mnt])
        d.kill()
        raise SystemExit("%s: the walk hung" % label)
    alive = d.poll() is None
    subprocess.run(["fusermount3", "-u", mnt])
    try:
        rc = d.wait(timeout=30)
    except subprocess.TimeoutExpired:
        d.kill()
        raise SystemExit("%s: the daemon did not exit on unmount" % label)
    os.rmdir(mnt)
    msg = open(log).read()
    if not alive or rc != 0:
        raise SystemExit("%s: daemon died or exited %s: %s" % (label, rc, msg[-2000:]))
    errs = {int(k): int(v) for k, v in (x.split(":") for x in w.stdout.split())}
    other = set(errs) - {errno.EIO, errno.ENOENT}
    if other:
        raise SystemExit("%s: reads failed with %s" % (label, sorted(other)))
    lines = [l for l in msg.splitlines() if l.startswith("ckptfs: ")]
    if len(lines) != len(set(lines)):
        raise SystemExit("%s: a problem was logged twice: %s" % (label, lines))
    if errs.get(errno.EIO) and not lines:
        raise SystemExit("%s: EIO without a log line" % label)
    for l in lines:
        if "'" not in l:
            raise SystemExit("%s: a log line names no file: %s" % (label, l))
    return "eio" if errs.get(errno.EIO) else "clean"


def main():
    ckptfs, work = sys.argv[1], sys.argv[2]
    counts = {"refused": 0, "eio": 0, "clean": 0}
    n = 0
    for ck in sys.argv[3:]:
        files = sorted(os.path.relpath(os.path.join(d, f), ck)
                       for d, _, fs in os.walk(ck) for f in fs)
        for rel in files:
            for how in ("truncate", "flip", "delete"):
                copy = os.path.join(work, os.path.basename(ck.rstrip("/")))
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(ck, copy, symlinks=True)
                p = os.path.join(copy, rel)
                size = os.path.getsize(p)
                if how == "truncate":
                    if size == 0:
                        continue
                    os.truncate(p, size // 2)
                elif how == "flip":
                    if size == 0:
                        continue
                    with open(p, "r+b") as f:
                        f.seek(size // 2)
                        b = f.read(1)
                        f.seek(size // 2)
                        f.write(bytes([b[0] ^ 0x10]))
                else:
                    os.unlink(p)
                counts[case(ckptfs, copy, work, "%s %s %s" % (ck, how, rel))] += 1
                n += 1
                shutil.rmtree(copy)
    print("%d cases: %d mounted and read clean, %d with EIO where damaged, %d refused to mount"
          % (n, counts["clean"], counts["eio"], counts["refused"]))


if __name__ == "__main__":
    main()
