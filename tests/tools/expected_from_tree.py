#!/usr/bin/python3
"""Writes the leaf records real_checkpoints.py verify expects, from a tree
ckptfs shows (a mounted item): for every leaf file NAME beside NAME.json,
arrays by dtype, shape and SHA-256 of their bytes, strings and Python
scalars by value.  None leaves and empty dicts are not leaves to JAX.

  expected_from_tree.py TREE KEY OUT.json   (adds KEY to OUT.json if it exists)
Standard library only.
"""
import hashlib, json, os, struct, sys

def scalar(meta, raw):
    fmt = {"int64": "<q", "int32": "<i", "float64": "<d", "float32": "<f", "bool": "<?"}[meta["dtype"]]
    v = struct.unpack(fmt, raw)[0]
    kind = "bool" if meta["dtype"] == "bool" else "int" if meta["dtype"].startswith("int") else "float"
    return {"python_type": kind, "value": v}

def leaves(tree):
    out = {}
    for d, dirs, files in os.walk(tree):
        dirs[:] = [x for x in dirs if x != ".versions"]  # ckptfs history, not leaves
        for f in files:
            if not f.endswith(".json") or f[:-5] not in files:
                continue
            meta = json.load(open(os.path.join(d, f)))
            key = "/".join(str(p) for p in meta["path"])
            raw = open(os.path.join(d, f[:-5]), "rb").read()
            if meta.get("kind") == "string":
                out[key] = {"python_type": "str", "value": raw.decode()}
            elif meta.get("kind") == "array" and meta.get("value_type") == "scalar":
                out[key] = scalar(meta, raw)
            elif meta.get("kind") == "array":
                out[key] = {"dtype": meta["dtype"], "shape": meta["shape"], "nbytes": len(raw),
                            "sha256": hashlib.sha256(raw).hexdigest()}
    return out

def main():
    tree, key, path = sys.argv[1:4]
    exp = json.load(open(path)) if os.path.exists(path) else {"checkpoints": {}}
    exp["checkpoints"][key] = leaves(tree)
    json.dump(exp, open(path, "w"), indent=1, sort_keys=True)

if __name__ == "__main__":
    main()
