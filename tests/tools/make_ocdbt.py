#!/usr/bin/python3
"""Builds an OCDBT database with the independent reference encoder
(shared/tools/ocdbt_ref.py): a B+tree of height 2 (interior nodes with
prefix-stripped keys), out-of-line values in two data files, one of them in
a second database directory reached through a base path, and a leaf node
stored there too (so its own file table is relative to that directory).

  make_ocdbt.py OCDBT_REF_DIR OUT_DB EXPECTED.json
EXPECTED.json lists every key's SHA-256, in the layout check_ocdbt.py reads.
"""
import hashlib, json, os, random, sys

sys.path.insert(0, sys.argv[1])
import ocdbt_ref as R  # noqa: E402

out, expected = sys.argv[2], sys.argv[3]
os.makedirs(out + "/d", exist_ok=True)
os.makedirs(out + "/ocdbt.process_1/d", exist_ok=True)
rnd = random.Random(5)
keys = sorted(b"p/k%03d/%s" % (i, b"x" * (i % 5)) for i in range(60))
vals = {k: bytes(rnd.getrandbits(8) for _ in range(rnd.choice([0, 5, 40, 100, 3000]))) for k in keys}

P1 = b"ocdbt.process_1/"
vtop, vp1 = (b"", b"d/" + b"a" * 32), (P1, b"d/" + b"b" * 32)
nodes_top, nodes_p1 = (b"", b"d/" + b"c" * 32), (P1, b"d/" + b"e" * 32)
bufs = {vtop: bytearray(), vp1: bytearray(), nodes_top: bytearray(), nodes_p1: bytearray()}

def put(f, data):
    off = len(bufs[f])
    bufs[f].extend(data)
    return off

entries = []
for i, k in enumerate(keys):
    v = vals[k]
    if len(v) <= 64:
        entries.append(dict(key=k, value=v))
        continue
    f = vp1 if i < 8 or i % 2 == 0 else vtop
    entries.append(dict(key=k, file=f, offset=put(f, v), length=len(v)))

level = []
for s in range(0, len(entries), 8):
    grp = [dict(e) for e in entries[s:s + 8]]
    excl = R.common_prefix_len(grp[0]["key"], grp[-1]["key"])
    nf = nodes_p1 if s == 0 else nodes_top
    if nf == nodes_p1:  # this leaf's table is relative to ocdbt.process_1/
        for e in grp:
            if "file" in e:
                e["file"] = (b"", e["file"][1])
    enc = R.wrap(R.BTREE_NODE_MAGIC, R.encode_leaf_body(grp, excl))
    level.append(dict(key=grp[0]["key"], subtree_common_prefix_length=excl, file=nf,
                      offset=put(nf, enc), length=len(enc), num_keys=len(grp),
                      num_tree_bytes=len(enc),
                      num_indirect_value_bytes=sum(e["length"] for e in grp if "file" in e)))
height = 1
while len(level) > 1:
    nxt, is_root = [], len(level) <= 3
    for s in range(0, len(level), 3):
        grp = level[s:s + 3]
        excl = 0 if is_root else min([R.common_prefix_len(grp[0]["key"], grp[-1]["key"])] +
                                     [c["subtree_common_prefix_length"] for c in grp])
        enc = R.wrap(R.BTREE_NODE_MAGIC, R.encode_interior_body(height, grp, excl))
        nxt.append(dict(key=grp[0]["key"], subtree_common_prefix_length=excl, file=nodes_top,
                        offset=put(nodes_top, enc), length=len(enc),
                        num_keys=sum(c["num_keys"] for c in grp),
                        num_tree_bytes=len(enc) + sum(c["num_tree_bytes"] for c in grp),
                        num_indirect_value_bytes=sum(c["num_indirect_value_bytes"] for c in grp)))
    level, height = nxt, height + 1
root = level[0]
cfg = dict(uuid=b"0123456789abcdef", manifest_kind=0, max_inline_value_bytes=64,
           max_decoded_node_bytes=100000000, version_tree_arity_log2=4, compression=1, zstd_level=0)
ver = dict(generation=1, root_height=height - 1, file=root["file"], offset=root["offset"],
           length=root["length"], num_keys=root["num_keys"], num_tree_bytes=root["num_tree_bytes"],
           num_indirect_value_bytes=root["num_indirect_value_bytes"], commit_time_ns=1)
for (base, rel), data in bufs.items():
    with open(os.path.join(out, (base + rel).decode()), "wb") as f:
        f.write(data)
with open(os.path.join(out, "manifest.ocdbt"), "wb") as f:
    f.write(R.wrap(R.MANIFEST_MAGIC, R.encode_manifest_body(cfg, [ver])))
json.dump({"cases": {"synthetic": {"data": {"keys": {
    k.decode(): hashlib.sha256(v).hexdigest() for k, v in vals.items()}}}}},
    open(expected, "w"), indent=1)
print("root height", height - 1)
