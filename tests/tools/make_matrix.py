#!/usr/bin/python3
"""Writes the arrays of the codec x chunk-size read matrix (tests/bats/matrix.bats)
and their expected SHA-256, decoded without ckptfs.

  make_matrix.py ROOT EXPECTED.json CKPT_BIN OCDBT_REF_DIR
ROOT becomes a CheckpointManager root:
  steps 0..N-1   one leaf each, written by `ckpt make` into OCDBT (zarr v2 and v3,
                 no compression and zstd); expected bytes: the OCDBT values read by
                 shared/tools/ocdbt_ref.py, decoded by zarr-python (v2) or by the
                 small zarr v3 decoder below (numcodecs for the codecs);
  step 100       item "state": a directory of zarr arrays, v2 written by
                 zarr-python (every numcodecs compressor ckptfs reads), v3 written
                 here (chunk files encoded by numcodecs, crc32c computed here);
                 expected bytes: zarr-python reading the v2 arrays back, numpy's
                 bytes of the values for v3.
Chunk sizes, named by the paths they take:
  S 128K, M 1.5M, B 3M: with `-o cache_size=2M` (stream threshold 512K)
  below the threshold, above it, above cache_size;
  D 9M, H 33.5M: the same for `ckpt cat` and a mount's defaults (threshold 8M,
  cache 32M).
Arrays have several chunks and partial edge chunks, except where noted.
Writes EXPECTED.json: {"leaves": {PATH: {"sha256", "nbytes", "group"}}} with
PATH as the mount shows it and group "small" (S, M, B) or "large" (D, H).
"""
import hashlib, json, os, subprocess, sys

import numpy as np
import zarr
from numcodecs import BZ2, GZip, Blosc, Zlib, Zstd

root, expected_path, ckpt, refdir = sys.argv[1:5]
sys.path.insert(0, refdir)
import ocdbt_ref as R  # noqa: E402

rng = np.random.default_rng(13)
expected = {}
K = 1024

def values(shape):
    # compressible (4 bits of entropy per element), never all fill
    return rng.integers(1, 17, int(np.prod(shape))).astype("<f4").reshape(shape)

def record(path, data, group):
    b = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes()
    expected[path] = {"sha256": hashlib.sha256(b).hexdigest(), "nbytes": len(b), "group": group}

# ---------------------------------------------------------------- crc32c (fast enough)
_T = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ (0x82F63B78 if _c & 1 else 0)
    _T.append(_c)
_TN = np.array(_T, dtype=np.uint32)
_LANE = 1024

def _shift_tables(m):
    """The CRC register after m zero bytes, as a linear map in four byte tables."""
    basis = []
    for b in range(32):
        r = 1 << b
        for _ in range(m):
            r = (r >> 8) ^ _T[r & 0xFF]
        basis.append(r)
    return [[_xor(basis[8 * k + j] for j in range(8) if v >> j & 1)
             for v in range(256)] for k in range(4)]

def _xor(it):
    r = 0
    for x in it:
        r ^= x
    return r

_SH = _shift_tables(_LANE)

def crc32c(data):
    """CRC-32C of data: lanes of 1 KiB run in parallel with numpy, then joined."""
    b = np.frombuffer(bytes(data), np.uint8).copy()
    if len(b) < 4:
        return R.crc32c(bytes(data))
    b[:4] ^= 0xFF  # an initial register of ~0 is the first four bytes inverted
    b = np.concatenate([np.zeros((-len(b)) % _LANE, np.uint8), b]).reshape(-1, _LANE)
    reg = np.zeros(b.shape[0], np.uint32)
    for i in range(_LANE):
        reg = (reg >> np.uint32(8)) ^ _TN[(reg ^ b[:, i]) & np.uint32(0xFF)]
    acc = 0
    for r in reg.tolist():
        acc = (_SH[0][acc & 0xFF] ^ _SH[1][acc >> 8 & 0xFF] ^ _SH[2][acc >> 16 & 0xFF] ^
               _SH[3][acc >> 24] ^ r)
    return acc ^ 0xFFFFFFFF

for _n in (0, 5, 1023, 1025, 3001):
    _d = bytes(rng.integers(0, 256, _n, dtype=np.uint8))
    assert crc32c(_d) == R.crc32c(_d), _n

# ---------------------------------------------------------------- sizes
# name: (shape, chunks, group); float32
SIZES = {
    "S": ((150, 700), (64, 512), "small"),      # 128K chunks, grid 3x2
    "M": ((400, 1030), (384, 1024), "small"),   # 1.5M chunks, grid 2x2
    "B": ((800, 1030), (768, 1024), "small"),   # 3M chunks, grid 2x2
    "D": ((2200000,), (2359296,), "large"),     # 9M, one partial chunk
    "H": ((8800000,), (8781824,), "large"),     # 33.5M, grid 2 (the second tiny)
}

# ---------------------------------------------------------------- v2, zarr-python
V2 = {
    "none": None,
    "zstd": Zstd(3),
    "zlib": Zlib(1),
    "gzip": GZip(1),
    "bz2": BZ2(1),
    "blosc_lz4": Blosc("lz4", 5, Blosc.SHUFFLE),
    "blosc_zstd": Blosc("zstd", 3, Blosc.SHUFFLE),
}
state = os.path.join(root, "100", "state")
os.makedirs(state)
# `ckpt make` steps carry commit_success.txt: a step without one is uncommitted
open(os.path.join(root, "100", "commit_success.txt"), "w").close()
for cname, comp in V2.items():
    for sname, (shape, chunks, group) in SIZES.items():
        if sname == "H" and cname not in ("none", "blosc_lz4"):
            continue  # one raw stream and one whole decode above the default cache
        name = "v2_%s_%s" % (cname, sname)
        a = zarr.open(os.path.join(state, name), mode="w", shape=shape, chunks=chunks,
                      dtype="<f4", compressor=comp, fill_value=0)
        a[...] = values(shape)
        record("100/state/" + name, zarr.open(os.path.join(state, name), mode="r")[...], group)

# ---------------------------------------------------------------- v3, written here
def b2b(name, **cfg):
    return {"name": name, "configuration": cfg} if cfg else {"name": name}

BYTES = b2b("bytes", endian="little")
V3 = {  # name: (codecs after bytes, encoders in order)
    "none": ([], []),
    "zstd": ([b2b("zstd", level=3, checksum=False)], [Zstd(3).encode]),
    "gzip": ([b2b("gzip", level=1)], [GZip(1).encode]),
    "zlib": ([b2b("numcodecs.zlib", level=1)], [Zlib(1).encode]),
    "bz2": ([b2b("numcodecs.bz2", level=1)], [BZ2(1).encode]),
    "blosc_lz4": ([b2b("blosc", cname="lz4", clevel=5, shuffle="shuffle", typesize=4, blocksize=0)],
                  [Blosc("lz4", 5, Blosc.SHUFFLE).encode]),
    "crc32c": ([b2b("crc32c")], [lambda b: bytes(b) + crc32c(b).to_bytes(4, "little")]),
    "zstd_crc32c": ([b2b("zstd", level=3, checksum=False), b2b("crc32c")],
                    [Zstd(3).encode, lambda b: bytes(b) + crc32c(b).to_bytes(4, "little")]),
}

def encode(encs, raw):
    for e in encs:
        raw = bytes(e(raw))
    return raw

def chunk_boxes(shape, chunks):
    grid = [-(-s // c) for s, c in zip(shape, chunks)]
    for idx in np.ndindex(*grid):
        yield idx, tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, chunks, shape))

def padded(data, box, chunks):
    out = np.zeros(chunks, "<f4")
    part = data[box]
    out[tuple(slice(0, n) for n in part.shape)] = part
    return out

def write_v3(name, shape, chunks, codecs, chunk_bytes):
    d = os.path.join(state, name)
    os.makedirs(d)
    data = values(shape)
    for idx, box in chunk_boxes(shape, chunks):
        p = os.path.join(d, "c", *[str(i) for i in idx])
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(chunk_bytes(padded(data, box, chunks)))
    meta = {"zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": "float32",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0.0, "codecs": codecs}
    with open(os.path.join(d, "zarr.json"), "w") as f:
        json.dump(meta, f)
    return data

for cname, (codecs, encs) in V3.items():
    for sname in ("M", "B"):
        shape, chunks, group = SIZES[sname]
        name = "v3_%s_%s" % (cname, sname)
        data = write_v3(name, shape, chunks, [BYTES] + codecs,
                        lambda c, encs=encs: encode(encs, c.tobytes()))
        record("100/state/" + name, data, group)

def shard(inner, encs, index_crc=True):
    """A shard's bytes: its inner chunks (C order), then the index (and its crc32c)."""
    def make(c):
        body, index = b"", b""
        for _, box in chunk_boxes(c.shape, inner):
            enc = encode(encs, np.ascontiguousarray(c[box]).tobytes())
            index += len(body).to_bytes(8, "little") + len(enc).to_bytes(8, "little")
            body += enc
        return body + index + (crc32c(index).to_bytes(4, "little") if index_crc else b"")
    return make

# shards of 3M: one inner chunk (decoded as a stream) or three (decoded whole)
shape, chunks, group = SIZES["B"]
for name, inner, codecs, encs in (
        ("v3_shard1_zstd_B", chunks, [b2b("zstd", level=3, checksum=False)], [Zstd(3).encode]),
        ("v3_shard1_none_B", chunks, [], []),
        ("v3_shard3_zstd_B", (256, 1024), [b2b("zstd", level=3, checksum=False)], [Zstd(3).encode])):
    cfg = {"chunk_shape": list(inner), "codecs": [BYTES] + codecs,
           "index_codecs": [BYTES, b2b("crc32c")]}
    data = write_v3(name, shape, chunks, [{"name": "sharding_indexed", "configuration": cfg}],
                    shard(inner, encs))
    record("100/state/" + name, data, group)

# ---------------------------------------------------------------- OCDBT, `ckpt make`
def v3_decode(meta, kv, prefix):
    """Decodes what `ckpt make --zarr3` writes: sharding_indexed (any inner grid)
    or plain bytes, each with [bytes] or [bytes, zstd]."""
    shape, chunks = meta["shape"], meta["chunk_grid"]["configuration"]["chunk_shape"]
    out = np.zeros(shape, "<f4")

    def decode(codecs, raw, cshape):
        for c in reversed(codecs):
            if c["name"] == "zstd":
                raw = Zstd().decode(raw)
            else:
                assert c["name"] == "bytes", c
        return np.frombuffer(raw, "<f4").reshape(cshape)

    for idx, box in chunk_boxes(shape, chunks):
        raw = kv[(prefix + "/c/" + "/".join(map(str, idx))).encode()]
        c0 = meta["codecs"][0]
        if c0["name"] == "sharding_indexed":
            cfg = c0["configuration"]
            inner = cfg["chunk_shape"]
            n = int(np.prod([c // i for c, i in zip(chunks, inner)]))
            index = raw[len(raw) - 16 * n - 4:len(raw) - 4]
            assert R.crc32c(index) == int.from_bytes(raw[-4:], "little")
            full = np.zeros(chunks, "<f4")
            for j, (_, ib) in enumerate(chunk_boxes(chunks, inner)):
                off = int.from_bytes(index[16 * j:16 * j + 8], "little")
                ln = int.from_bytes(index[16 * j + 8:16 * j + 16], "little")
                full[ib] = decode(cfg["codecs"], raw[off:off + ln], inner)
        else:
            full = decode(meta["codecs"], raw, chunks)
        out[box] = full[tuple(slice(0, b.stop - b.start) for b in box)]
    return out

step = 0
OCDBT = [(fmt, comp, lb, cb) for fmt in ("v2", "v3") for comp in ("none", "zstd")
         for lb, cb in (("512K", "128K"), ("3M", "1536K"), ("6M", "3M"))]
OCDBT.append(("v2", "none", "18M", "9M"))  # the case, for the defaults
for fmt, comp, lb, cb in OCDBT:
    d = os.path.join(root, str(step))
    args = [ckpt, "make", d, "--leaves", "1", "--depth", "1", "--leaf-bytes", lb,
            "--chunk-bytes", cb, "--seed", str(step), "--no-fsync"]
    args += ["--zarr3"] if fmt == "v3" else []
    args += ["--no-compress"] if comp == "none" else []
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    _, kv = R.list_all(d)
    (mkey,) = [k for k in kv if k.endswith(b"/.zarray") or k.endswith(b"/zarr.json")]
    prefix = mkey.decode().rsplit("/", 1)[0]
    meta = json.loads(kv[mkey])
    if fmt == "v2":
        store = {k.decode()[len(prefix) + 1:]: v for k, v in kv.items()
                 if k.startswith(prefix.encode() + b"/")}
        data = zarr.open_array(store=store, mode="r")[...]
    else:
        data = v3_decode(meta, kv, prefix)
    leaf = prefix.replace(".", "/")
    record("%d/%s" % (step, leaf), data, "large" if lb == "18M" else "small")
    step += 1

with open(expected_path, "w") as f:
    json.dump({"leaves": expected}, f, indent=1, sort_keys=True)
print(len(expected), "arrays")
