#!/usr/bin/python3
"""make_aggregate.py ITEM: turns a pytree item (from `ckpt make --extras`)
into one as Orbax before 0.5.16 wrote with some leaves aggregated
(SaveArgs(aggregate=True)), independently of ckptfs: python3-msgpack and
numpy, Flax's encoding (FORMAT-orbax-layout.md 2.8, 4.2).

The msgpack file `checkpoint` holds the whole tree: `PLACEHOLDER://<param>`
for the arrays and strings in storage, the values of the aggregated leaves
(a new subtree `agg`: an ndarray, a numpy scalar, Python int, float and
bool, a string, None, a list), `extras/table` with a value that overrides
the array in storage, and `only_in_file`, which `_METADATA` does not name
(Orbax does not restore it).  `_METADATA` gains the aggregated leaves with
skip_deserialize, as Orbax wrote them.

  make_aggregate.py ITEM --no-metadata: as Orbax before 0.5 wrote it: no
  `_METADATA` (the file is the tree) and no strings in storage."""
import json
import os
import sys

import msgpack
import numpy as np


def ndarray(a):
    a = np.asarray(a)
    return msgpack.ExtType(1, msgpack.packb([list(a.shape), a.dtype.name, a.tobytes()]))


def npscalar(x):
    return msgpack.ExtType(3, msgpack.packb([[], x.dtype.name, x.tobytes()]))


def main(item, no_metadata=False):
    meta = json.load(open(os.path.join(item, "_METADATA")))
    tm = meta["tree_metadata"]
    tree = {}

    def put(path, v):
        d = tree
        for k in path[:-1]:
            d = d.setdefault(k, {})
        d[path[-1]] = v

    for ent in tm.values():
        path = [str(k["key"]) for k in ent["key_metadata"]]
        vt = ent["value_metadata"]["value_type"]
        if no_metadata and vt == "string":
            continue
        put(path, {} if vt == "Dict" else None if vt == "None" else "PLACEHOLDER://" + ".".join(path))
    agg = {
        "arr": (ndarray(np.arange(6, dtype=np.int64).reshape(2, 3) * 3), "np.ndarray"),
        "f32": (npscalar(np.float32(2.5)), "scalar"),
        "n": (7, "scalar"),
        "lr": (0.125, "scalar"),
        "ok": (True, "scalar"),
        "tag": ("warmup", "string"),
        "none": (None, "None"),
    }
    for k, (v, vt) in agg.items():
        put(["agg", k], v)
        tm[str(("agg", k))] = {
            "key_metadata": [{"key": "agg", "key_type": 2}, {"key": k, "key_type": 2}],
            "value_metadata": {"value_type": vt, "skip_deserialize": True}}
    tree["agg"]["seq"] = [1, 2.5]
    for i in range(2):
        tm[str(("agg", "seq", str(i)))] = {
            "key_metadata": [{"key": "agg", "key_type": 2}, {"key": "seq", "key_type": 2},
                             {"key": str(i), "key_type": 1}],
            "value_metadata": {"value_type": "scalar", "skip_deserialize": True}}
    tree["extras"]["table"] = ndarray(np.full((3, 4), 5, dtype=np.int64))
    tm[str(("extras", "table"))]["value_metadata"]["skip_deserialize"] = True
    tree["only_in_file"] = 1
    with open(os.path.join(item, "checkpoint"), "wb") as f:
        f.write(msgpack.packb(tree))
    if no_metadata:
        os.unlink(os.path.join(item, "_METADATA"))
        os.unlink(os.path.join(item, "_strings.json"))
        return
    with open(os.path.join(item, "_METADATA"), "w") as f:
        json.dump(meta, f)


if __name__ == "__main__":
    main(sys.argv[1], "--no-metadata" in sys.argv[2:])
