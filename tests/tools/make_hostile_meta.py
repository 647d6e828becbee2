#!/usr/bin/python3
"""make_hostile_meta.py OUTDIR: a CheckpointManager root whose steps are
hostile directory (non-OCDBT) checkpoints, one problem each:
  1 dotdot      a leaf whose parameter name is "../outside" (and "/etc/x")
  2 nul         a key with a NUL byte, a key "/" and a key ".."
  3 overflow    shape [2**40, 2**40] float64: the byte size overflows 64 bits
  4 short       a zstd chunk that decodes to fewer bytes than the chunk holds
  5 bomb        a zstd chunk of 8 bytes that expands to 1 GiB
  6 deep        one entry nested 100,000 deep
  7 wide        200,000 entries in _METADATA (and as many leaf files listed)
OUTDIR/outside is bait that must never be read.  Needs the zstd tool."""
import json, os, subprocess, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "outside"), "wb").write(b"bait" * 16)


def step(n, tree, arrays):
    d = os.path.join(out, str(n))
    os.makedirs(d, exist_ok=True)
    meta = {"tree_metadata": tree, "use_ocdbt": False, "use_zarr3": False,
            "store_array_data_equal_to_fill_value": False}
    with open(os.path.join(d, "_METADATA"), "w") as f:
        json.dump(meta, f)
    with open(os.path.join(d, "_CHECKPOINT_METADATA"), "w") as f:
        json.dump({"commit_timestamp_nsecs": 1700000000000000000 + n}, f)
    open(os.path.join(d, "commit_success.txt"), "w").write("ok")
    for param, zarray, chunk in arrays:
        a = os.path.join(d, param)
        os.makedirs(a, exist_ok=True)
        with open(os.path.join(a, ".zarray"), "w") as f:
            json.dump(zarray, f)
        if chunk is not None:
            open(os.path.join(a, "0"), "wb").write(chunk)
    return d


def leaf(keys):
    return {str(tuple(keys)): {"key_metadata": [{"key": k, "key_type": 2} for k in keys],
                               "value_metadata": {"value_type": "np.ndarray", "skip_deserialize": False}}}


def zarray(shape, dtype="<i4", chunks=None, compressor=None):
    return {"zarr_format": 2, "shape": shape, "chunks": chunks or shape, "dtype": dtype,
            "compressor": compressor, "fill_value": 0, "order": "C", "filters": None,
            "dimension_separator": "."}


zstd = {"id": "zstd", "level": 1}
# 1: parameter names that climb out (the directory "../outside" is never opened)
t = {}
t.update(leaf([".."] + ["outside"]))
t.update(leaf(["/etc", "x"]))
t.update(leaf(["ok"]))
step(1, t, [("ok", zarray([4]), bytes(16))])
# 2: keys that are not file names
t = {}
t.update(leaf(["a\u0000b"]))
t.update(leaf(["/"]))
t.update(leaf([".."]))
step(2, t, [])
# 3: a byte size past 64 bits
step(3, leaf(["big"]), [("big", zarray([2 ** 40, 2 ** 40], "<f8", [1, 1]), None)])
# 4: a chunk shorter than declared
short = subprocess.run(["zstd", "-q", "-c"], input=bytes(8), capture_output=True, check=True).stdout
step(4, leaf(["short"]), [("short", zarray([16], compressor=zstd), short)])
# 5: 8 declared bytes, 1 GiB inside
bomb = subprocess.run(["zstd", "-q", "-c", "--ultra", "-19"], input=bytes(1 << 30),
                      capture_output=True, check=True).stdout
step(5, leaf(["bomb"]), [("bomb", zarray([2], compressor=zstd), bomb)])
# 6: 100,000 levels
step(6, leaf(["k"] * 100000), [])
# 7: 200,000 entries (None leaves: no array files needed)
t = {}
for i in range(200000):
    t["('k%d',)" % i] = {"key_metadata": [{"key": "k%d" % i, "key_type": 2}],
                          "value_metadata": {"value_type": "None", "skip_deserialize": True}}
step(7, t, [])
