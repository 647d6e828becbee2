#!/usr/bin/env python3
"""Independent checks of `ckpt stats`, `ckpt diff`, `ckpt export` (tests/bats/cli2.bats).

Bytes come from `ckpt cat` (or a mount), dtypes from `ckpt meta`; the
numbers are decoded here with numpy and small decoders written from the
formats' definitions (bfloat16: the top half of a float32; float8: sign,
exponent, mantissa), never from ckpt's own decoding.

  cli_check.py stats CKPT JSON_FROM_CKPT_STATS PREFIX
  cli_check.py maxdiff CKPT_A CKPT_B PATH_A PATH_B DIFF_JSON
  cli_check.py npy CKPT PREFIX OUTDIR            (every .npy against ckpt cat)
  cli_check.py safetensors CKPT PREFIX FILE      (a parser written from the spec)
"""
import json
import os
import subprocess
import sys

import numpy as np

CKPT = os.environ["CKPT"]

# (exponent bits, mantissa bits, bias, finite only, fnuz)
MINIFLOATS = {
    "float8_e4m3fn": (4, 3, 7, True, False),
    "float8_e5m2": (5, 2, 15, False, False),
    "float8_e4m3fnuz": (4, 3, 8, True, True),
    "float8_e5m2fnuz": (5, 2, 16, True, True),
    "float8_e4m3b11fnuz": (4, 3, 11, True, True),
    "float8_e4m3": (4, 3, 7, False, False),
    "float8_e3m4": (3, 4, 3, False, False),
}
PLAIN = {"bool": "u1", "int8": "i1", "uint8": "u1", "int16": "<i2", "uint16": "<u2",
         "int32": "<i4", "uint32": "<u4", "int64": "<i8", "uint64": "<u8", "float16": "<f2",
         "float32": "<f4", "float64": "<f8", "int4": "i1", "int2": "i1", "uint4": "u1",
         "uint2": "u1"}


def cat(ckpt, path):
    return subprocess.run([CKPT, "cat", ckpt, path], check=True, capture_output=True).stdout


def meta(ckpt, path):
    return json.loads(subprocess.run([CKPT, "meta", ckpt, path], check=True,
                                     capture_output=True).stdout)


def minifloat(b, spec):
    e_bits, m_bits, bias, fn, fnuz = spec
    out = []
    for v in b:
        s = v >> (e_bits + m_bits) & 1
        e = v >> m_bits & ((1 << e_bits) - 1)
        m = v & ((1 << m_bits) - 1)
        if fnuz and v == 0x80:
            out.append(float("nan"))
            continue
        if not fn and e == (1 << e_bits) - 1:
            out.append(float("nan") if m else (-1) ** s * float("inf"))
            continue
        if fn and not fnuz and e == (1 << e_bits) - 1 and m == (1 << m_bits) - 1:
            out.append(float("nan"))
            continue
        x = (m / 2 ** m_bits) * 2.0 ** (1 - bias) if e == 0 else (1 + m / 2 ** m_bits) * 2.0 ** (e - bias)
        out.append(-x if s and not fnuz else x)
    return np.array(out, dtype=np.float64)


def values(raw, dtype):
    """float64 values numpy computes for these bytes; complex: |z|"""
    if dtype in PLAIN:
        return np.frombuffer(raw, PLAIN[dtype]).astype(np.float64)
    if dtype == "bfloat16":
        return (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4").astype(np.float64)
    if dtype in MINIFLOATS:
        return minifloat(raw, MINIFLOATS[dtype])
    if dtype == "complex64":
        return np.abs(np.frombuffer(raw, "<c8").astype(np.complex128))
    if dtype == "complex128":
        return np.abs(np.frombuffer(raw, "<c16"))
    raise SystemExit("no decoder for " + dtype)


def close(a, b, what, path):
    if a is None or b is None:
        ok = a is None and b is None
    else:
        ok = abs(a - b) <= 1e-9 * max(abs(a), abs(b)) + 1e-12
    if not ok:
        raise SystemExit("%s: %s: ckpt %r, numpy %r" % (path, what, a, b))


def check_stats(ckpt, stats_json, prefix):
    got = json.load(open(stats_json))
    assert got, "no leaves"
    for s in got:
        path = prefix + s["path"] if s["path"] else prefix.rstrip("/")
        dtype = meta(ckpt, path)["dtype"]
        assert dtype == s["dtype"], (path, dtype, s["dtype"])
        x = values(cat(ckpt, path), dtype)
        fin = x[np.isfinite(x)]
        assert s["count"] == x.size, (path, s["count"], x.size)
        assert s["nan"] == int(np.isnan(x).sum()), (path, "nan", s["nan"])
        assert s["inf"] == int(np.isinf(x).sum()), (path, "inf", s["inf"])
        assert s["zeros"] == int((x == 0).sum()), (path, "zeros", s["zeros"])
        n = fin.size
        close(s["min"], float(fin.min()) if n else None, "min", path)
        close(s["max"], float(fin.max()) if n else None, "max", path)
        close(s["mean"], float(fin.mean()) if n else None, "mean", path)
        close(s["std"], float(fin.std()) if n else None, "std", path)
    print("stats: %d leaves agree with numpy" % len(got))


def check_maxdiff(ckpt_a, ckpt_b, path_a, path_b, diff_json):
    d = json.load(open(diff_json))
    a = values(cat(ckpt_a, path_a), meta(ckpt_a, path_a)["dtype"])
    b = values(cat(ckpt_b, path_b), meta(ckpt_b, path_b)["dtype"])
    ad = np.abs(a - b)
    rel = ad / np.maximum(np.abs(a), np.abs(b))
    ch = [c for c in d["changed"] if path_b.endswith(c["path"])]
    assert len(ch) == 1, d
    assert ch[0]["max_abs"] == float(ad.max()), (ch[0]["max_abs"], float(ad.max()))
    close(ch[0]["max_rel"], float(np.nanmax(rel)), "max_rel", path_b)
    assert ch[0]["elements_differ"] == int((a != b).sum())
    print("diff: max abs %r = numpy's" % float(ad.max()))


def leaves(ckpt, prefix):
    out = subprocess.run([CKPT, "ls", "-l", ckpt, prefix], check=True, capture_output=True,
                         text=True).stdout
    res = []
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and "[" in f[2]:
            res.append((f[1], f[2][:f[2].index("[")]))
    return res


def check_npy(ckpt, prefix, outdir):
    want = leaves(ckpt, prefix)
    base = prefix.rstrip("/")
    got = sorted(os.path.relpath(os.path.join(d, f), outdir)
                 for d, _, fs in os.walk(outdir) for f in fs if f.endswith(".npy"))
    assert got == sorted(p[len(base) + 1:] + ".npy" for p, _ in want), (got, want)
    for path, dtype in want:
        f = os.path.join(outdir, path[len(base) + 1:] + ".npy")
        arr = np.load(f)
        raw = cat(ckpt, path)
        assert arr.tobytes() == raw, f
        assert list(arr.shape) == meta(ckpt, path)["shape"], f
        if dtype in PLAIN and dtype not in ("int4", "int2", "uint4", "uint2") or dtype.startswith("complex"):
            assert arr.dtype == np.dtype(dtype), (f, arr.dtype)
            import io
            b = io.BytesIO()
            np.save(b, arr)
            assert b.getvalue() == open(f, "rb").read(), f + ": not what np.save writes"
    print("npy: %d files, bytes equal to ckpt cat" % len(want))


ST_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4,
            "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}
ST_OF = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16",
         "float16": "F16", "bfloat16": "BF16", "int32": "I32", "uint32": "U32",
         "float32": "F32", "float64": "F64", "int64": "I64", "uint64": "U64",
         "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2"}


def check_safetensors(ckpt, prefix, path):
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    assert 8 + n <= len(data) and n % 8 == 0, n
    text = data[8:8 + n].decode("utf-8")
    assert text.startswith("{") and text == text.rstrip(" ") + " " * (len(text) - len(text.rstrip(" ")))
    header = json.loads(text)
    buf = data[8 + n:]
    meta_ = header.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta_.items())
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    pos = 0
    for b, e, k in spans:
        assert b == pos, ("hole or overlap before", k)
        t = header[k]
        count = 1
        for s in t["shape"]:
            count *= s
        assert e - b == count * ST_SIZES[t["dtype"]], k
        pos = e
    assert pos == len(buf), ("buffer not entirely indexed", pos, len(buf))
    want = leaves(ckpt, prefix)
    base = prefix.rstrip("/")
    assert sorted(header) == sorted(p[len(base) + 1:].replace("/", ".") for p, _ in want)
    for p, dtype in want:
        t = header[p[len(base) + 1:].replace("/", ".")]
        assert t["dtype"] == ST_OF[dtype], (p, t["dtype"], dtype)
        assert t["shape"] == meta(ckpt, p)["shape"], p
        b, e = t["data_offsets"]
        assert buf[b:e] == cat(ckpt, p), p
    print("safetensors: %d tensors, header and bytes as the spec says" % len(want))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"stats": check_stats, "maxdiff": check_maxdiff, "npy": check_npy,
     "safetensors": check_safetensors}[cmd](*args)
