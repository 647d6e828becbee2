#!/usr/bin/python3
"""make_flax.py OUTDIR: Flax msgpack checkpoints written the way
flax.training.checkpoints / flax.serialization write them (re-implemented
here with python3-msgpack and numpy, independently of ckptfs), and
OUTDIR.expected.json: every leaf's path -> dtype, shape, SHA-256 of its
C-order little-endian bytes, or its value.

  OUTDIR/checkpoint_1.5, checkpoint_10, checkpoint_20   msgpack files
  OUTDIR/checkpoint_20_gda/params/big                   a GDA array (python3-zarr)
  OUTDIR/checkpoint_tmp                                 a save in progress: not a step
"""
import hashlib, json, os, sys
import msgpack, numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
expected = {}


def ext_pack(x):
    if isinstance(x, complex):
        return msgpack.ExtType(2, msgpack.packb((x.real, x.imag)))
    if isinstance(x, np.ndarray):
        return msgpack.ExtType(1, msgpack.packb((x.shape, x.dtype.name, x.tobytes()), use_bin_type=True))
    if isinstance(x, np.generic):
        return msgpack.ExtType(3, msgpack.packb(((), x.dtype.name, x.tobytes()), use_bin_type=True))
    raise TypeError(type(x))


def raw_ext(shape, name, raw):
    return msgpack.ExtType(1, msgpack.packb((shape, name, raw), use_bin_type=True))


def rec(path, dtype, shape, raw):
    expected[path] = {"dtype": dtype, "shape": list(shape), "sha256": hashlib.sha256(raw).hexdigest()}


def state(seed):
    rng = np.random.default_rng(seed)
    k = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    t = {
        "step": np.array(2280 + seed, np.int32),
        "params": {"Dense_0": {"kernel": k, "bias": b}},
        "opt_state": {"0": {"count": np.array(7, np.int32), "mu": {"kernel": k * 0.5}}, "1": {}},
        "metrics": {"loss": 0.25 * seed, "n": -3 - seed, "big": 2 ** 63 + 5, "ok": True, "name": "run-%d" % seed,
                    "none": None, "raw": b"\x00\x01\xff", "c": complex(1.5, -2.0), "s32": np.float32(0.5)},
        "dtypes": {},
    }
    for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float16", "float32", "float64", "complex64", "complex128"):
        a = (np.arange(6) % 2 == 0) if name == "bool" else (np.arange(6) - 2).astype(name)
        t["dtypes"][name] = a.reshape(2, 3)
    return t


def record(prefix, t):
    for k, v in t.items():
        p = prefix + k
        if isinstance(v, dict):
            record(p + "/", v)
        elif isinstance(v, np.ndarray):
            rec(p, v.dtype.name, v.shape, v.tobytes())
        elif isinstance(v, np.generic):
            rec(p, v.dtype.name, (), v.tobytes())
        elif isinstance(v, bool):
            expected[p] = {"bytes": "01" if v else "00"}
        elif isinstance(v, int):
            expected[p] = {"bytes": (v.to_bytes(8, "little", signed=v < 0)).hex()}
        elif isinstance(v, float):
            expected[p] = {"bytes": np.float64(v).tobytes().hex()}
        elif isinstance(v, complex):
            expected[p] = {"bytes": np.complex128(v).tobytes().hex()}
        elif isinstance(v, str):
            expected[p] = {"bytes": v.encode().hex()}
        elif isinstance(v, bytes):
            expected[p] = {"bytes": v.hex()}
        elif v is None:
            expected[p] = {"bytes": ""}


def write(name, t, extra=None):
    record(name + "/", t)
    tree = dict(t)
    if extra:
        tree.update(extra)
    with open(os.path.join(out, name), "wb") as f:
        f.write(msgpack.packb(tree, default=ext_pack, strict_types=True))


write("checkpoint_1.5", state(1))
write("checkpoint_10", state(2))
# checkpoint_20: also bfloat16 (no numpy name: raw bytes), a chunked array,
# an Orbax tuple (ext 4), a GDA placeholder, a long string
bf = bytes.fromhex("803f0040404080bf")  # 1, 2, 3, -1
chunk = np.arange(15, dtype=np.int16)
extra = {
    "bf16": raw_ext([4], "bfloat16", bf),
    "chunked": {"__msgpack_chunked_array__": True, "shape": {"0": 3, "1": 5},
                "chunks": {"0": chunk[:6], "1": chunk[6:12], "2": chunk[12:]}},
    "tuple": msgpack.ExtType(4, msgpack.packb([1, 2.5])),
    "gda": {"big": "//GDAPlaceholder:params/big"},
    "long": "x" * (2 << 20),
}
expected["checkpoint_20/bf16"] = {"dtype": "bfloat16", "shape": [4], "sha256": hashlib.sha256(bf).hexdigest()}
rec("checkpoint_20/chunked", "int16", (3, 5), chunk.tobytes())
expected["checkpoint_20/tuple/0"] = {"bytes": (1).to_bytes(8, "little").hex()}
expected["checkpoint_20/tuple/1"] = {"bytes": np.float64(2.5).tobytes().hex()}
expected["checkpoint_20/long"] = {"bytes": hashlib.sha256(b"x" * (2 << 20)).hexdigest(), "hash": True}
write("checkpoint_20", state(3), extra)
big = (np.arange(48, dtype=np.float32) * 1.5).reshape(6, 8)
try:
    import zarr
    import numcodecs
    z = zarr.open(os.path.join(out, "checkpoint_20_gda", "params", "big"), mode="w", shape=big.shape,
                  chunks=(3, 8), dtype=big.dtype, compressor=numcodecs.Zstd(level=1))
    z[...] = big
    rec("checkpoint_20/gda/big", "float32", big.shape, big.tobytes())
except ImportError:
    pass
open(os.path.join(out, "checkpoint_tmp"), "wb").write(msgpack.packb({"partial": 1}))
json.dump(expected, open(out + ".expected.json", "w"), indent=1, sort_keys=True)
