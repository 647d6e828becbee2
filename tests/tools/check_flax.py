#!/usr/bin/python3
"""check_flax.py MOUNT EXPECTED.json: every leaf make_flax.py recorded, read
through the mount: its bytes (SHA-256 or hex), dtype and shape (NAME.json).
Prints one line per problem; exits 1 if any.  Standard library only."""
import hashlib, json, os, sys

mnt, exp = sys.argv[1], json.load(open(sys.argv[2]))
bad = 0
for path, want in sorted(exp.items()):
    p = os.path.join(mnt, path)
    try:
        data = open(p, "rb").read()
        meta = json.load(open(p + ".json"))
    except OSError as e:
        print("%s: %s" % (path, e))
        bad += 1
        continue
    if "sha256" in want:
        ok = hashlib.sha256(data).hexdigest() == want["sha256"] and meta.get("dtype") == want["dtype"] \
            and meta.get("shape") == want["shape"]
    elif want.get("hash"):
        ok = hashlib.sha256(data).hexdigest() == want["bytes"]
    else:
        ok = data.hex() == want["bytes"]
    if not ok:
        print("%s: differs (%d bytes, %s %s)" % (path, len(data), meta.get("dtype"), meta.get("shape")))
        bad += 1
print("%d leaves checked, %d bad" % (len(exp), bad))
sys.exit(1 if bad else 0)
