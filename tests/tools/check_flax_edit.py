#!/usr/bin/python3
"""check_flax_edit.py ORIG EDITED CHANGES: decodes two Flax msgpack files the
way flax.serialization.msgpack_restore does (python3-msgpack and numpy,
independently of ckptfs: ext 1 ndarray, ext 2 complex, ext 3 numpy scalar,
ext 4 tuple, chunked arrays reassembled), applies CHANGES (Python statements
that change `t`, the decoded ORIG tree) and checks that EDITED decodes to the
same tree: the same keys in the same order, the same types, the same bytes.
Prints the differences; exits 1 if any."""
import sys
import msgpack
import numpy as np


def ext_hook(code, data):
    if code in (1, 3):
        shape, name, raw = msgpack.unpackb(data, raw=False)
        try:
            a = np.frombuffer(raw, dtype=np.dtype(name)).reshape(shape)
        except TypeError:  # bfloat16 and friends: no numpy dtype here
            return ("raw", name, tuple(shape), bytes(raw))
        return a[()] if code == 3 else a
    if code == 2:
        re, im = msgpack.unpackb(data)
        return complex(re, im)
    if code == 4:
        return tuple(msgpack.unpackb(data, raw=False, strict_map_key=False))
    return msgpack.ExtType(code, data)


def unchunk(x):
    if isinstance(x, dict):
        if x.get("__msgpack_chunked_array__") is True:
            parts = [x["chunks"][k] for k in x["chunks"]]
            shape = tuple(x["shape"][k] for k in x["shape"])
            return ("chunked", np.concatenate(parts).reshape(shape), len(parts))
        return {k: unchunk(v) for k, v in x.items()}
    return x


def load(path):
    with open(path, "rb") as f:
        return unchunk(msgpack.unpackb(f.read(), raw=False, strict_map_key=False, ext_hook=ext_hook))


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (np.ndarray, np.generic)):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, float):
        return np.float64(a).tobytes() == np.float64(b).tobytes()
    return a == b


def diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            out.append("%s: keys %s != %s" % (path or "/", list(a), list(b)))
        for k in a:
            if k in b:
                diff(a[k], b[k], path + "/" + k, out)
    elif not same(a, b):
        out.append("%s: expected %r, got %r" % (path, a, b))


def main():
    orig, edited, changes = sys.argv[1:4]
    t = load(orig)
    exec(changes, {"t": t, "np": np})
    got = load(edited)
    out = []
    diff(t, got, "", out)
    for line in out:
        print(line)
    print("%s: %s" % (edited, "as expected" if not out else "%d differences" % len(out)))
    sys.exit(1 if out else 0)


main()
