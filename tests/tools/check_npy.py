#!/usr/bin/python3
"""Checks every array leaf's NAME.npy view below TREE (a mounted tree).

  check_npy.py TREE [--mmap yes|no|try]

For every leaf NAME whose NAME.json says "kind": "array":
  - NAME.npy is listed beside it (and no NAME.npy for other leaves);
  - np.load(NAME.npy) has the leaf's shape, the dtype docs/numpy.md gives
    for the leaf's dtype (table below, written independently of ckptfs) and
    exactly the leaf's bytes (np.frombuffer of NAME);
  - the file is byte for byte what np.save writes for that array, so its
    header is numpy's own, and st_size is exact;
  - with --mmap yes (default): np.load(NAME.npy, mmap_mode="r") equals it;
    try: reports whether it worked (prints "mmap: ENODEV" when refused);
  - NAME.json: "schema" 1, "nbytes" = the leaf's bytes, "size" = elements,
    "npy" = {descr, header_bytes, file_bytes, ml_dtype};
  - the types numpy lacks follow the documented representation: int4/int2
    values in range, bfloat16 through the bit recipe (and ml_dtypes when
    installed).
Prints one line per problem and a summary; exits 1 if there is any.
"""
import errno, io, json, os, sys
import numpy as np

# docs/numpy.md: the descr of each dtype's view (ml_dtypes name when numpy lacks it)
DESCR = {
    "bool": "|b1", "int8": "|i1", "uint8": "|u1", "int16": "<i2", "int32": "<i4", "int64": "<i8",
    "uint16": "<u2", "uint32": "<u4", "uint64": "<u8", "float16": "<f2", "float32": "<f4",
    "float64": "<f8", "complex64": "<c8", "complex128": "<c16",
    "int4": "|i1", "int2": "|i1", "uint4": "|u1", "uint2": "|u1", "bfloat16": "|V2",
}
RANGE = {"int4": (-8, 7), "int2": (-2, 1), "uint4": (0, 15), "uint2": (0, 3)}

def want_descr(dtype):
    if dtype in DESCR:
        return DESCR[dtype]
    if dtype.startswith("float8_") or dtype.startswith("float6_") or dtype.startswith("float4_"):
        return "|V1"
    return None

def main():
    tree = sys.argv[1]
    mode = "yes"
    if "--mmap" in sys.argv:
        mode = sys.argv[sys.argv.index("--mmap") + 1]
    try:
        import ml_dtypes
    except ImportError:
        ml_dtypes = None
    bad, n, seen, mmap_refused = 0, 0, {}, 0

    def problem(msg):
        nonlocal bad
        print(msg)
        bad += 1

    for d, dirs, files in os.walk(tree):
        dirs[:] = [x for x in dirs if x != ".versions"]
        fs = set(files)
        for f in sorted(files):
            if f.endswith(".json") or (f.endswith(".npy") and f[:-4] in fs):
                continue
            p = os.path.join(d, f)
            if f + ".json" not in fs:
                continue
            # sizes as `ls -l` asks them, before anything opens the leaf:
            # the leaf's, then its view's (the library remembers both)
            os.stat(p)
            early = os.stat(p + ".npy").st_size if f + ".npy" in fs else None
            meta = json.load(open(p + ".json"))
            rel = os.path.relpath(p, tree)
            if meta.get("schema") != 1:
                problem("%s.json: schema %r, expected 1" % (rel, meta.get("schema")))
            raw = open(p, "rb").read()
            if "nbytes" in meta and meta["nbytes"] != len(raw):
                problem("%s.json: nbytes %r, the file has %d" % (rel, meta["nbytes"], len(raw)))
            if meta.get("kind") != "array":
                if f + ".npy" in fs:
                    problem("%s.npy: listed for a %s leaf" % (rel, meta.get("kind")))
                continue
            if "error" in meta:
                continue
            n += 1
            dt, shape = meta["dtype"], tuple(meta["shape"])
            seen[dt] = seen.get(dt, 0) + 1
            if f + ".npy" not in fs:
                problem("%s.npy: not listed" % rel)
                continue
            q = p + ".npy"
            a = np.load(q)
            descr = want_descr(dt)
            elems = int(np.prod(shape, dtype=np.uint64)) if shape else 1
            if meta.get("size") != elems:
                problem("%s.json: size %r, expected %d elements" % (rel, meta.get("size"), elems))
            if meta.get("nbytes") != elems * meta["itemsize"]:
                problem("%s.json: nbytes %r is not size * itemsize" % (rel, meta.get("nbytes")))
            if a.shape != shape:
                problem("%s.npy: shape %r, expected %r" % (rel, a.shape, shape))
            if descr is None or a.dtype.str.replace("<V", "|V") != descr:
                problem("%s.npy: descr %r for %s, expected %r" % (rel, a.dtype.str, dt, descr))
            ref = np.frombuffer(raw, dtype=a.dtype).reshape(shape)
            if a.tobytes() != raw or a.tobytes() != ref.tobytes():
                problem("%s.npy: data differs from the leaf's bytes" % rel)
            buf = io.BytesIO()
            np.save(buf, a)
            file = open(q, "rb").read()
            if file != buf.getvalue():
                problem("%s.npy: not what np.save writes (%d bytes, np.save %d)" % (rel, len(file), len(buf.getvalue())))
            if os.stat(q).st_size != len(buf.getvalue()):
                problem("%s.npy: st_size %d, np.save writes %d" % (rel, os.stat(q).st_size, len(buf.getvalue())))
            if early != len(buf.getvalue()):
                problem("%s.npy: st_size %r before the leaf was opened, np.save writes %d" % (rel, early, len(buf.getvalue())))
            npy = meta.get("npy") or {}
            if npy.get("descr") != descr or npy.get("file_bytes") != len(file) or \
               npy.get("header_bytes") != len(file) - len(raw) or npy.get("header_bytes", 1) % 64:
                problem("%s.json: npy %r disagrees with the file" % (rel, npy))
            exotic = dt in RANGE or dt == "bfloat16" or dt.startswith(("float8_", "float6_", "float4_"))
            if (npy.get("ml_dtype") == dt) != exotic or (npy.get("ml_dtype") is not None and not exotic):
                problem("%s.json: ml_dtype %r for %s" % (rel, npy.get("ml_dtype"), dt))
            if dt in RANGE and a.size and (a.min() < RANGE[dt][0] or a.max() > RANGE[dt][1]):
                problem("%s.npy: %s values out of range" % (rel, dt))
            if dt == "bfloat16":
                f32 = (a.view("<u2").astype("<u4") << 16).view("<f4")
                if ml_dtypes is not None:
                    m = a.view(ml_dtypes.bfloat16).astype(np.float32)
                    if m.tobytes() != f32.tobytes():
                        problem("%s.npy: the bfloat16 recipes disagree" % rel)
            if ml_dtypes is not None and npy.get("ml_dtype"):
                a.view(getattr(ml_dtypes, npy["ml_dtype"]))
            if mode != "no":
                try:
                    m = np.load(q, mmap_mode="r")
                    if not isinstance(m, np.memmap) or np.asarray(m).tobytes() != raw:
                        problem("%s.npy: mmap_mode='r' reads other bytes" % rel)
                    del m
                except OSError as e:
                    if mode == "try" and e.errno == errno.ENODEV:
                        mmap_refused += 1
                    else:
                        problem("%s.npy: mmap_mode='r': %s" % (rel, e))
    if mmap_refused:
        print("mmap: ENODEV for %d views" % mmap_refused)
    print("%s: %d array leaves (%s), %d problems" % (tree, n, ", ".join("%s %d" % kv for kv in sorted(seen.items())), bad))
    sys.exit(1 if bad or n == 0 else 0)

main()
