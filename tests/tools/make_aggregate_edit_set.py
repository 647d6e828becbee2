#!/usr/bin/python3
"""make_aggregate_edit_set.py BUILD OUT: Orbax items with a msgpack aggregate
file, edited through a read-write ckptfs mount, for the real Orbax to restore
(shared/device/real_checkpoints.py verify OUT OUT/EXPECTED.json).

OUT/oc, OUT/dir: `ckpt make --extras` items (OCDBT, zarr directories) made
  into aggregated items by make_aggregate.py (values in the file beside
  _METADATA); OUT/nometa: the same without _METADATA (Orbax before 0.5).
Each is edited with ordinary file operations: bytes of an array, Python
scalars, a string and a numpy scalar held in the file, an array in storage,
moves of values of the file and of arrays in storage, a removal, mkdir and a
new array by np.save.  OUT/EXPECTED.json holds what
PyTreeCheckpointer().restore must return, in real_checkpoints.py's format,
computed from the original items (orbax_restore.py) and the intended changes,
never from what ckptfs wrote; the edited items must already restore to it by
orbax_restore.py."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import orbax_restore  # noqa: E402
from mounted import mounted  # noqa: E402

build, out = sys.argv[1:3]
if os.path.exists(out):
    shutil.rmtree(out)
os.makedirs(out)
VARIANTS = {"oc": [], "dir": ["--no-ocdbt"], "nometa": []}
orig = {}
for v, opts in VARIANTS.items():
    d = os.path.join(out, v)
    subprocess.run([os.path.join(build, "tools", "ckpt"), "make", d, "--leaves", "3", "--extras",
                    "--no-fsync", "--deterministic"] + opts, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, os.path.join(HERE, "make_aggregate.py"), d] +
                   (["--no-metadata"] if v == "nometa" else []), check=True)
    orig[v] = orbax_restore.nest(orbax_restore.restore(d))

with mounted(os.path.join(build, "fs", "ckptfs"), out, "-o", "rw") as mnt:
    def put(path, data):
        with open(os.path.join(mnt, path), "r+b") as f:
            f.write(data)

    def mv(a, b):
        os.rename(os.path.join(mnt, a), os.path.join(mnt, b))

    for v in VARIANTS:  # OUT is one step, its items the variants
        s = os.path.basename(os.path.abspath(out)) + "/" + v + "/"
        put(s + "agg/arr", np.int64(99).tobytes())
        put(s + "agg/n", np.int64(9).tobytes())
        put(s + "agg/ok", b"\x00")
        with open(os.path.join(mnt, s + "agg/tag"), "w") as f:
            f.write("cooldown")
        put(s + "agg/f32", np.float32(-1).tobytes())
        put(s + "layer_0000/w_00", np.float32(1).tobytes())
        mv(s + "agg/arr", s + "agg/arr2")
        mv(s + "agg/seq", s + "seq")
        mv(s + "layer_0000/w_01", s + "agg/w")
        os.unlink(os.path.join(mnt, s + "agg/lr"))
        os.mkdir(os.path.join(mnt, s + "new"))
        np.save(os.path.join(mnt, s + "new/x.npy"), np.arange(10, dtype=np.int32))


def record(x):
    """real_checkpoints.py's leaf_record of what Orbax restores for x"""
    if isinstance(x, str):
        return {"python_type": "str", "value": x}
    if isinstance(x, (int, float, bool)) and not isinstance(x, np.generic):
        return {"python_type": type(x).__name__, "value": x}
    a = np.asarray(x)
    raw = np.ascontiguousarray(a).tobytes()
    return {"dtype": str(a.dtype), "shape": list(a.shape), "nbytes": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest()}


expected = {}
for v, t in orig.items():
    a = t["agg"]
    a["arr"][0, 0] = 99
    a.update(n=9, ok=False, tag="cooldown", f32=np.float32(-1))
    t["layer_0000"]["w_00"].reshape(-1)[0] = 1.0
    a["arr2"] = a.pop("arr")
    t["seq"] = a.pop("seq")
    a["w"] = t["layer_0000"].pop("w_01")
    del a["lr"]
    t["new"] = {"x": np.arange(10, dtype=np.int32)}
    got = orbax_restore.restore(os.path.join(out, v))
    want = orbax_restore.flatten(t)
    bad = [p for p in set(got) | set(want)
           if p not in got or p not in want or not orbax_restore.same(got[p], want[p])]
    if bad:
        sys.exit("%s: the edited item does not restore as intended: %s" % (v, sorted(bad)[:10]))
    # None and empty containers are not leaves to JAX
    expected[v] = {"/".join(p): record(x) for p, x in sorted(want.items())
                   if x is not None and not (isinstance(x, (dict, list)) and not x)}
with open(os.path.join(out, "EXPECTED.json"), "w") as f:
    json.dump({"checkpoints": expected}, f, indent=1, sort_keys=True)
    f.write("\n")
