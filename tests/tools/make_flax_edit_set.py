#!/usr/bin/python3
"""make_flax_edit_set.py BUILD OUT: Flax msgpack checkpoints edited through a
read-write ckptfs mount, for the real Flax to restore
(shared/device/real_checkpoints.py verify OUT OUT/EXPECTED.json).

OUT/checkpoint_1.5, checkpoint_10  written by make_flax.py (Flax's encoding)
OUT/checkpoint_30                  a chunked array and bfloat16, Flax's way
Each is edited with ordinary file operations (bytes in place in arrays,
Python scalars, a string, a complex; np.save of NAME.npy; mkdir; rename;
removal of a subtree).  OUT/EXPECTED.json holds what restore_checkpoint must
return, computed from the original files and the intended changes with
python3-msgpack and numpy (never from what ckptfs wrote), in
real_checkpoints.py's format; OUT/FILES.json the SHA-256 of each edited file
(the test checks that ckptfs still writes exactly these).  The edited files
are decoded here too and must already match EXPECTED.json."""
import hashlib, json, os, shutil, struct, subprocess, sys
import msgpack
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.argv, ARGS = sys.argv[:1], sys.argv[1:]
build, out = ARGS
exec(open(os.path.join(HERE, "check_flax_edit.py")).read().split("\ndef main")[0])  # load()
sys.path.insert(0, HERE)
from mounted import mounted  # noqa: E402

if os.path.exists(out):
    shutil.rmtree(out)
subprocess.run([sys.executable, os.path.join(HERE, "make_flax.py"), out], check=True, stdout=subprocess.DEVNULL)
for junk in ("checkpoint_20", "checkpoint_20_gda", "checkpoint_tmp"):  # ext 4, GDA: not Flax's own
    p = os.path.join(out, junk)
    shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
os.unlink(out + ".expected.json")


def nd(a):
    return msgpack.ExtType(1, msgpack.packb((a.shape, a.dtype.name, a.tobytes()), use_bin_type=True))


chunk = np.arange(20, dtype=np.float32) * 0.5
bf16 = bytes.fromhex("803f0040404080bf")  # 1, 2, 3, -1
with open(os.path.join(out, "checkpoint_30"), "wb") as f:
    f.write(msgpack.packb({
        "params": {"w": nd(np.arange(6, dtype=np.float32).reshape(2, 3)),
                   "bf": msgpack.ExtType(1, msgpack.packb(([4], "bfloat16", bf16), use_bin_type=True))},
        "big": {"__msgpack_chunked_array__": True, "shape": {"0": 4, "1": 5},
                "chunks": {"0": nd(chunk[:8]), "1": nd(chunk[8:16]), "2": nd(chunk[16:])}},
        "step": nd(np.array(30, np.int32))}, use_bin_type=True))
orig = {n: load(os.path.join(out, n)) for n in ("checkpoint_1.5", "checkpoint_10", "checkpoint_30")}

with mounted(os.path.join(build, "fs", "ckptfs"), out, "-o", "rw") as mnt:
    def put(path, data, off=0):
        with open(os.path.join(mnt, path), "r+b") as f:
            f.seek(off)
            f.write(data)

    def rmtree(path):  # leaves first; a leaf's NAME.json and NAME.npy go with it
        for d, dirs, files in os.walk(os.path.join(mnt, path), topdown=False):
            for f in files:
                if not f.endswith(".json") and not (f.endswith(".npy") and f[:-4] in files):
                    os.unlink(os.path.join(d, f))
            os.rmdir(d)

    s = "checkpoint_10/"
    put(s + "dtypes/int8", b"\xfe" * 6)
    put(s + "metrics/n", struct.pack("<q", 7))
    put(s + "metrics/loss", struct.pack("<d", 1.25))
    put(s + "metrics/ok", b"\x00")
    with open(os.path.join(mnt, s + "metrics/name"), "w") as f:
        f.write("renamed run")
    put(s + "metrics/c", struct.pack("<dd", 3.0, 4.5))
    put(s + "metrics/s32", np.float32(-8).tobytes())
    np.save(os.path.join(mnt, s + "params/new.npy"), np.arange(12, dtype=np.float32).reshape(3, 4))
    os.mkdir(os.path.join(mnt, s + "extra"))
    os.rename(os.path.join(mnt, s + "params/new"), os.path.join(mnt, s + "extra/moved"))
    rmtree(s + "opt_state")
    s = "checkpoint_1.5/"
    os.rename(os.path.join(mnt, s + "params/Dense_0/bias"), os.path.join(mnt, s + "params/Dense_0/b"))
    np.save(os.path.join(mnt, s + "params/mask.npy"), np.array([True, False, True]))
    np.save(os.path.join(mnt, s + "params/ids.npy"), np.arange(5, dtype=np.int64) - 2)
    os.unlink(os.path.join(mnt, s + "metrics/raw"))
    put(s + "metrics/big", struct.pack("<Q", 2 ** 64 - 1))
    s = "checkpoint_30/"
    put(s + "big", np.array([99, 100], np.float32).tobytes(), 7 * 4)  # across chunks 0 and 1
    put(s + "params/bf", bytes.fromhex("c040"), 2)  # bfloat16 6.0
    put(s + "step", np.int32(31).tobytes())

# what restore_checkpoint must give: the originals with the intended changes
t = orig["checkpoint_10"]
t["dtypes"]["int8"] = np.full((2, 3), -2, np.int8)
m = t["metrics"]
m.update(n=7, loss=1.25, ok=False, name="renamed run", c=complex(3.0, 4.5), s32=np.float32(-8))
del t["opt_state"]
t["extra"] = {"moved": np.arange(12, dtype=np.float32).reshape(3, 4)}
t = orig["checkpoint_1.5"]
dense = t["params"]["Dense_0"]
dense["b"] = dense.pop("bias")
t["params"]["mask"] = np.array([True, False, True])
t["params"]["ids"] = np.arange(5, dtype=np.int64) - 2
del t["metrics"]["raw"]
t["metrics"]["big"] = 2 ** 64 - 1
t = orig["checkpoint_30"]
big = t["big"][1].copy().reshape(-1)
big[7], big[8] = 99, 100
t["big"] = big.reshape(4, 5)
t["params"]["bf"] = ("raw", "bfloat16", (4,), bf16[:2] + bytes.fromhex("c040") + bf16[4:])
t["step"] = np.array(31, np.int32)


def record(x):
    """real_checkpoints.py's leaf_record of what Flax restores for x"""
    if isinstance(x, (str, bytes)):
        return {"python_type": type(x).__name__, "value": x if isinstance(x, str) else x.hex()}
    if isinstance(x, (int, float, bool)) and not isinstance(x, np.generic):
        return {"python_type": type(x).__name__, "value": x}
    if isinstance(x, tuple) and x[0] == "chunked":  # reassembled by Flax
        return record(x[1])
    if isinstance(x, tuple):  # ("raw", dtype, shape, bytes)
        _, name, shape, raw = x
        return {"dtype": name, "shape": list(shape), "nbytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    a = np.asarray(x)
    raw = np.ascontiguousarray(a).tobytes()
    return {"dtype": str(a.dtype), "shape": list(a.shape), "nbytes": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest()}


def flatten(tree, prefix, acc):
    for k, v in tree.items():
        if isinstance(v, dict):
            flatten(v, prefix + k + "/", acc)  # empty dicts are no leaves
        elif v is not None:  # nor is None
            acc[prefix + k] = record(v)
    return acc


expected = {"checkpoints": {n: flatten(orig[n], "", {}) for n in sorted(orig)}}
with open(os.path.join(out, "EXPECTED.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
files = {n: hashlib.sha256(open(os.path.join(out, n), "rb").read()).hexdigest() for n in sorted(orig)}
with open(os.path.join(out, "FILES.json"), "w") as f:
    json.dump(files, f, indent=1, sort_keys=True)
# the edited files, decoded here, must already be what Flax will be asked for
bad = [n for n in sorted(orig) if flatten(load(os.path.join(out, n)), "", {}) != expected["checkpoints"][n]]
if bad:
    sys.exit("edited files that decode differently than expected: %s" % bad)
print("%d files edited, each decodes as expected" % len(files))
