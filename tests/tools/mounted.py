"""mounted.py: `with mounted(CKPTFS, SOURCE, *OPTIONS) as mnt:` runs ckptfs in
the foreground on a new directory until the block ends, then unmounts it;
the daemon's log is in MNT.log while it runs.  A daemon that does not mount,
or exits with an error, stops the script with its log."""
import contextlib
import os
import subprocess
import tempfile
import time


@contextlib.contextmanager
def mounted(ckptfs, src, *opts):
    mnt = tempfile.mkdtemp()
    log = mnt + ".log"
    p = subprocess.Popen([ckptfs, src, mnt, "-f", *opts], stderr=open(log, "w"))
    try:
        for _ in range(200):
            if os.path.ismount(mnt):
                break
            if p.poll() is not None:
                raise SystemExit("ckptfs exited: " + open(log).read())
            time.sleep(0.05)
        else:
            raise SystemExit("ckptfs did not mount")
        yield mnt
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        rc = p.wait(timeout=60)
        os.rmdir(mnt)
    if rc != 0:
        raise SystemExit("ckptfs exited with %d: %s" % (rc, open(log).read()))
    os.unlink(log)
