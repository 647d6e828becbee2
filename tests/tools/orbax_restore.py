#!/usr/bin/python3
"""orbax_restore.py: restores a pytree item directory the way Orbax's
PyTreeCheckpointHandler.restore decides what to read, independently of
ckptfs (python3-msgpack, numpy, and ../shared/tools/ocdbt_ref.py for OCDBT),
for items that hold Orbax's msgpack aggregate file `checkpoint`:

  * `_METADATA` and a file of placeholders only (or no file): the tree and
    every value from `_METADATA` and the array storage;
  * `_METADATA` and a file holding values: `_METADATA`'s paths; a path whose
    value in the file is not a placeholder takes that value, the others are
    read from the storage (paths only the file has are not restored);
  * no `_METADATA`: the file's tree, placeholders read from the storage.
Arrays in storage: zarr v2 (directories or OCDBT), zstd or uncompressed.

  orbax_restore.py ITEM                       prints the restored leaves
  orbax_restore.py ITEM ORIG_ITEM CHANGES     restores ORIG_ITEM as `t` (nested
      dicts, keys as text), runs CHANGES (Python statements; np is numpy),
      and checks that ITEM restores to the same tree, types and bytes.
Exits 1 on any difference."""
import json
import os
import sys

import msgpack
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "tools"))
import ocdbt_ref  # noqa: E402

PH = ("PLACEHOLDER://", "AGGREGATED://")


def ext_hook(code, data):
    if code in (1, 3):
        shape, name, raw = msgpack.unpackb(data, raw=False)
        a = np.frombuffer(raw, dtype=np.dtype(name)).reshape(shape).copy()
        return a[()] if code == 3 else a
    if code == 2:
        re, im = msgpack.unpackb(data)
        return complex(re, im)
    if code == 4:
        return list(msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=ext_hook))
    raise ValueError("unknown extension %d" % code)


def flatten(x, prefix=(), out=None):
    """{path: value}, empty containers kept (keep_empty_nodes=True)"""
    out = {} if out is None else out
    if isinstance(x, dict) and x:
        for k, v in x.items():
            flatten(v, prefix + (str(k),), out)
    elif isinstance(x, list) and x:
        for i, v in enumerate(x):
            flatten(v, prefix + (str(i),), out)
    else:
        out[prefix] = x
    return out


def is_ph(v):
    return isinstance(v, str) and v.startswith(PH)


class Store:
    def __init__(self, item):
        self.item = item
        self.kv = None
        if os.path.exists(os.path.join(item, "manifest.ocdbt")):
            _, kv = ocdbt_ref.list_all(item)
            self.kv = {k.decode("latin1"): v for k, v in kv.items()}

    def get(self, key):
        if self.kv is not None:
            return self.kv.get(key)
        p = os.path.join(self.item, key)
        return open(p, "rb").read() if os.path.isfile(p) else None

    def array(self, param):
        z = self.get(param + "/.zarray")
        if z is None:
            raise KeyError("array %r is missing" % param)
        z = json.loads(z)
        dt = np.dtype(z["dtype"])
        shape, chunks = z["shape"], z["chunks"]
        sep = z.get("dimension_separator", ".")
        fill = z.get("fill_value") or 0
        out = np.full(shape, fill, dtype=dt)
        grid = [-(-shape[i] // chunks[i]) for i in range(len(shape))]
        for idx in np.ndindex(*grid):
            raw = self.get(param + "/" + (sep.join(map(str, idx)) if idx else "0"))
            if raw is None:
                continue
            if z.get("compressor"):
                assert z["compressor"]["id"] == "zstd", z["compressor"]
                raw = ocdbt_ref.zstd_decompress(raw)
            c = np.frombuffer(raw, dtype=dt).reshape(chunks, order=z.get("order", "C"))
            sl = tuple(slice(i * n, min((i + 1) * n, s)) for i, n, s in zip(idx, chunks, shape))
            out[sl] = c[tuple(slice(0, s.stop - s.start) for s in sl)]
        return out.astype(dt.newbyteorder("<"))


def restore(item):
    meta = os.path.join(item, "_METADATA")
    agg = os.path.join(item, "checkpoint")
    m = json.load(open(meta)) if os.path.exists(meta) else None
    a = None
    if os.path.isfile(agg):
        a = msgpack.unpackb(open(agg, "rb").read(), raw=False, strict_map_key=False, ext_hook=ext_hook)
    flat_a = flatten(a) if a is not None else {}
    leaves = [v for v in flat_a.values() if not (v is None or (isinstance(v, (dict, list)) and not v))]
    use_a = a is not None and not all(is_ph(v) for v in leaves)
    strings = None
    store = Store(item)
    out = {}
    if m is not None:
        for ent in m["tree_metadata"].values():
            path = tuple(str(k["key"]) for k in ent["key_metadata"])
            vm = ent["value_metadata"]
            vt = vm["value_type"]
            if use_a and path in flat_a and not is_ph(flat_a[path]):
                out[path] = flat_a[path]
            elif vt in ("Dict", "NamedTuple"):
                out[path] = {}
            elif vt in ("List", "Tuple"):
                out[path] = []
            elif vt == "None":
                out[path] = None
            elif vm.get("skip_deserialize"):
                raise ValueError("%r: skip_deserialize but no value in the aggregate file" % (path,))
            elif vt == "string":
                if strings is None:
                    strings = json.load(open(os.path.join(item, "_strings.json")))
                out[path] = strings[".".join(path)]
            elif vt == "scalar":  # ScalarHandler: a Python scalar
                out[path] = store.array(".".join(path)).item()
            else:
                out[path] = store.array(".".join(path))
    else:
        for path, v in flat_a.items():
            out[path] = store.array(".".join(path)) if is_ph(v) else v
    return out


def nest(flat):
    t = {}
    for path, v in flat.items():
        d = t
        for k in path[:-1]:
            d = d.setdefault(k, {})
        d[path[-1]] = v
    return t


def same(x, y):
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray) or isinstance(x, np.generic):
        x, y = np.asarray(x), np.asarray(y)
        return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    return type(x) is type(y) and x == y


def main():
    if len(sys.argv) == 2:
        for path, v in sorted(restore(sys.argv[1]).items()):
            if isinstance(v, np.ndarray):
                v = "%s%s %s" % (v.dtype, list(v.shape), v.reshape(-1)[:8].tolist())
            print("/".join(path), repr(v))
        return 0
    got = restore(sys.argv[1])
    t = nest(restore(sys.argv[2]))
    exec(sys.argv[3], {"np": np, "t": t})
    want = flatten(t)
    bad = 0
    for path in sorted(set(got) | set(want)):
        if path not in got or path not in want or not same(got[path], want[path]):
            bad += 1
            print("%s: got %r, expected %r" % ("/".join(path), got.get(path, "(missing)"),
                                               want.get(path, "(missing)")))
    print("%s: %d leaves, %d differences" % (sys.argv[1], len(want), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
