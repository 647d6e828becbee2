#!/usr/bin/python3
"""make_seeds.py OUT FIXTURES...: seed corpora for the fuzz targets, built
from checkpoint directories (the shared fixtures, tests/fixtures/real, and
ones `ckpt make` writes): OUT/<target>/<n>.  Standard library (numpy for .npy
seeds when it is there)."""
import hashlib, io, os, sys

def save(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def read(path, limit=1 << 16):
    with open(path, "rb") as f:
        return f.read(limit)

def main():
    out, roots = sys.argv[1], sys.argv[2:]
    items = 0
    for root in roots:
        for d, dirs, files in os.walk(root):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(d, f)
                if f == "manifest.ocdbt" or f.startswith("manifest."):
                    save(out, "ocdbt", b"\x00" + read(p))
                elif os.path.basename(d) == "d" and len(f) == 32:
                    data = read(p)
                    for sel in (b"\x01", b"\x02"):
                        save(out, "ocdbt", sel + data)
                elif f in (".zarray", "zarr.json"):
                    chunk = b""
                    for g in sorted(files):
                        if g not in (".zarray", "zarr.json", ".zattrs") and not g.startswith("."):
                            chunk = read(os.path.join(d, g))
                            break
                    save(out, "zarr", read(p) + b"\x00" + chunk)
            if "_METADATA" in files and items < 200:
                parts = []
                for name in ("_METADATA", "_CHECKPOINT_METADATA", "_sharding",
                             "array_metadatas/process_0", "_strings.json"):
                    q = os.path.join(d, name)
                    parts.append(read(q, 1 << 20) if os.path.exists(q) else b"")
                parts.append(b'{"zarr_format": 2, "shape": [4], "chunks": [4], "dtype": "<i4", '
                             b'"compressor": null, "fill_value": 0, "order": "C", "filters": null}')
                save(out, "item", b"\x00".join(parts))
                items += 1
    try:
        import numpy as np
        for a in (np.arange(12, dtype="<f4").reshape(3, 4), np.zeros((2, 0), ">i8"),
                  np.array(True), np.ones(5, np.complex64), np.arange(6, dtype=">u2")):
            b = io.BytesIO()
            np.save(b, a)
            save(out, "npy", b.getvalue())
    except ImportError:
        save(out, "npy", b"\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }" + b" " * 10 + b"\n" + bytes(12))

if __name__ == "__main__":
    main()
