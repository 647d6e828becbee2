#!/usr/bin/python3
"""stress.py LEAFDIR SECONDS PID: 8 readers and 1 writer on one read-write
mount.  The writer rewrites w_00 whole, again and again, with a recognisable
content (a counter repeated), and the readers read w_00 and the other
leaves whole; every read of w_00 must be one version (never a mix), every
read of the others unchanged, no I/O error anywhere; the daemon's RSS
(PID) stays bounded.  Prints what it did."""
import os, sys, threading, time

d, secs, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
w = os.path.join(d, "w_00")
size = os.path.getsize(w)
others = {f: open(os.path.join(d, f), "rb").read() for f in os.listdir(d)
          if not f.endswith(".json") and f not in ("w_00", "w_00.npy")}
orig = open(w, "rb").read()
stop = time.monotonic() + secs
errors, counts, rss = [], {"reads": 0, "writes": 0}, []
lock = threading.Lock()


def content(v):
    return (v.to_bytes(8, "little") * (size // 8 + 1))[:size]


def reader(k):
    while time.monotonic() < stop and not errors:
        try:
            b = open(w, "rb").read()
            if len(b) != size or (b != orig and b != content(int.from_bytes(b[:8], "little"))):
                errors.append("reader %d: w_00 is a mix of versions" % k)
            name = list(others)[k % len(others)] if others else None
            if name and open(os.path.join(d, name), "rb").read() != others[name]:
                errors.append("reader %d: %s changed" % (k, name))
            with lock:
                counts["reads"] += 1
        except OSError as e:
            errors.append("reader %d: %s" % (k, e))


def writer():
    v = 1
    while time.monotonic() < stop and not errors:
        try:
            with open(w, "r+b") as f:
                f.write(content(v))
            counts["writes"] += 1
            v += 1
        except OSError as e:
            errors.append("writer: %s" % e)


def sampler():
    while time.monotonic() < stop:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                rss.append(int(line.split()[1]))
        time.sleep(0.2)


ts = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
ts += [threading.Thread(target=writer), threading.Thread(target=sampler)]
for t in ts:
    t.start()
for t in ts:
    t.join(timeout=secs + 60)
    if t.is_alive():
        errors.append("a thread is stuck")
        break
print("%d reads, %d commits in %.0f s; daemon RSS max %d KiB" % (counts["reads"], counts["writes"], secs, max(rss or [0])))
if errors:
    print("\n".join(errors[:10]))
    sys.exit(1)
