#!/usr/bin/python3
"""Checks leaves written by 'ckpt make --values pattern' through a mount:
every little-endian uint64 word at byte offset o of leaf i is (i << 40 | o/8)
(the leaf's tail may be a partial word).  The leaf index comes from its name
(layer_LLLL/w_WW: i = 16 L + W; param_IIIIII: i).
  check_pattern.py ITEM_DIR N_LEAVES
"""
import os, re, struct, sys

root, n = sys.argv[1], int(sys.argv[2])
seen = 0
for d, _, files in os.walk(root):
    for f in files:
        if f.endswith(".json") or (f.endswith(".npy") and f[:-4] in files):
            continue  # metadata, and each array's .npy view (docs/numpy.md)
        rel = os.path.relpath(os.path.join(d, f), root)
        m = re.search(r"layer_(\d+)/(?:block_\d+/)*w_(\d+)$", rel) or re.search(r"param_(\d+)$", rel)
        i = int(m.group(1)) * 16 + int(m.group(2)) if m.lastindex == 2 else int(m.group(1))
        data = open(os.path.join(d, f), "rb").read()
        words = len(data) // 8
        want = struct.pack("<%dQ" % words, *((i << 40) | w for w in range(words)))
        tail = struct.pack("<Q", (i << 40) | words)[: len(data) % 8]
        assert data == want + tail, "leaf %s (index %d) differs" % (rel, i)
        seen += 1
assert seen == n, "%d leaves, expected %d" % (seen, n)
print("ok", seen)
