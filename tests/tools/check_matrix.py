#!/usr/bin/python3
"""Reads every array of make_matrix.py's EXPECTED.json and compares its SHA-256.

  check_matrix.py EXPECTED.json GROUPS mount MOUNTPOINT
  check_matrix.py EXPECTED.json GROUPS cat CKPT_BIN ROOT
GROUPS: comma-separated groups to read ("small", "large").  Through a mount,
each leaf is read in 1 MiB requests from its start (the read-ahead's case),
and the "small" ones also backwards in 192 KiB requests (a reader going back
in a streamed chunk); through `ckpt cat`, the tool's output.  Prints one line
per mismatch and the number of arrays and bytes checked; exits 1 on any
mismatch.
"""
import hashlib, json, os, subprocess, sys

exp_path, groups, mode = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
leaves = json.load(open(exp_path))["leaves"]
bad = n = nbytes = 0

def forward(path):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()

def backward(path, size):
    step, parts = 192 * 1024, []
    with open(path, "rb", buffering=0) as f:
        for off in range((size - 1) // step * step, -1, -step):
            parts.append(os.pread(f.fileno(), step, off))
    return hashlib.sha256(b"".join(reversed(parts))).hexdigest()

for path, e in sorted(leaves.items()):
    if e["group"] not in groups:
        continue
    n += 1
    nbytes += e["nbytes"]
    try:
        if mode == "mount":
            full = os.path.join(sys.argv[4], path)
            got = [("forward", forward(full))]
            if e["group"] == "small":
                got.append(("backward", backward(full, e["nbytes"])))
        else:
            r = subprocess.run([sys.argv[4], "cat", sys.argv[5], path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            if r.returncode:
                raise OSError(r.stderr.decode().strip())
            got = [("ckpt cat", hashlib.sha256(r.stdout).hexdigest())]
    except OSError as ex:
        bad += 1
        if bad <= 10:
            print("%s: %s: %s" % (mode, path, ex))
        continue
    for how, h in got:
        if h != e["sha256"]:
            bad += 1
            if bad <= 10:
                print("%s: %s: %s read differs from the reference" % (mode, path, how))
print("%s: %d arrays, %d MiB, %d mismatches" % (mode, n, nbytes >> 20, bad))
sys.exit(1 if bad or not n else 0)
