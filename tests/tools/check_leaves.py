#!/usr/bin/python3
"""Compares the leaves ckptfs shows with the leaves real Orbax recorded.

  check_leaves.py EXPECTED.json KEY TREE
      KEY: the checkpoint's entry in EXPECTED.json (e.g. "dtypes/dtypes", or
      "gen:dtypes/dtypes" for the "cases" layout real_checkpoints.py writes).
      TREE: a directory holding the leaves (a mounted item), or
      "ckpt:BIN:CHECKPOINT[:PREFIX]" to read through the ckpt tool.
Every expected leaf must exist with the same dtype, shape (from NAME.json) and
SHA-256 of its bytes; Python scalars and strings are compared by value; and no
leaf may appear that Orbax did not record.  Prints one line per problem and
exits 1 if there is any.  Standard library only.
"""
import hashlib, json, os, struct, subprocess, sys, urllib.parse

def unescape(name):
    if name == "%":
        return ""
    return urllib.parse.unquote(name)

def load_expected(path, key):
    exp = json.load(open(path))
    if "cases" in exp:
        case, rel = key.split("/", 1)
        return exp["cases"][case]["leaves"][rel]
    return exp["checkpoints"][key]

class Dir:
    def __init__(self, root):
        self.root = root
    def leaves(self):
        for d, dirs, files in os.walk(self.root):
            for f in files:
                if f.endswith(".json"):
                    continue
                if f.endswith(".npy") and f[:-4] in files:
                    continue  # an array leaf's .npy view (docs/numpy.md)
                full = os.path.join(d, f)
                rel = os.path.relpath(full, self.root)
                yield "/".join(unescape(p) for p in rel.split("/")), rel
    def read(self, rel):
        with open(os.path.join(self.root, rel), "rb") as f:
            return f.read()
    def meta(self, rel):
        with open(os.path.join(self.root, rel + ".json")) as f:
            return json.load(f)

class Tool:
    def __init__(self, spec):
        _, self.bin, self.ckpt, *rest = spec.split(":")
        self.prefix = rest[0] if rest else ""
    def run(self, *args):
        return subprocess.run([self.bin, *args], check=True, capture_output=True).stdout
    def leaves(self):
        out = self.run("ls", self.ckpt, self.prefix).decode()
        strip = len(self.prefix) + 1 if self.prefix else 0
        for line in out.splitlines():
            if line.endswith("/") or line.endswith(".json"):
                continue
            rel = line
            # ckpt ls prints the step (and item) first; PREFIX names them
            if self.prefix:
                if not rel.startswith(self.prefix + "/"):
                    continue
                rel = rel[strip:]
            else:
                rel = rel.split("/", 1)[1]
            yield "/".join(unescape(p) for p in rel.split("/")), rel
    def path(self, rel):
        return (self.prefix + "/" + rel) if self.prefix else rel
    def read(self, rel):
        return self.run("cat", self.ckpt, self.path(rel))
    def meta(self, rel):
        return json.loads(self.run("meta", self.ckpt, self.path(rel)))

def check_value(want, data, meta):
    v = want["value"]
    t = want.get("python_type")
    if t == "str" or isinstance(v, str):
        return data.decode() == v
    if t == "bool" or isinstance(v, bool):
        return len(data) == 1 and data[0] == int(v)
    if t == "int" or isinstance(v, int):
        return len(data) == 8 and struct.unpack("<q", data)[0] == v
    return len(data) == 8 and struct.unpack("<d", data)[0] == v

def main():
    exp = load_expected(sys.argv[1], sys.argv[2])
    tree = Tool(sys.argv[3]) if sys.argv[3].startswith("ckpt:") else Dir(sys.argv[3])
    got = dict(tree.leaves())
    bad = 0
    for name, want in sorted(exp.items()):
        if name not in got:
            print("missing leaf %r" % name); bad += 1; continue
        data = tree.read(got[name])
        if "value" in want:
            if not check_value(want, data, None):
                print("leaf %r: value differs (got %r)" % (name, data[:40])); bad += 1
            continue
        meta = tree.meta(got[name])
        if meta.get("dtype") != want["dtype"] or meta.get("shape") != want["shape"]:
            print("leaf %r: dtype/shape %s%s, expected %s%s" % (name, meta.get("dtype"), meta.get("shape"), want["dtype"], want["shape"])); bad += 1
        if hashlib.sha256(data).hexdigest() != want["sha256"]:
            print("leaf %r: bytes differ (%d bytes)" % (name, len(data))); bad += 1
    for name in sorted(set(got) - set(exp)):
        # None values are not leaves to JAX; ckptfs shows them as empty files
        if tree.meta(got[name]).get("kind") == "none":
            continue
        print("unexpected leaf %r" % name); bad += 1
    print("%s: %d leaves, %d problems" % (sys.argv[2], len(exp), bad))
    sys.exit(1 if bad else 0)

main()
