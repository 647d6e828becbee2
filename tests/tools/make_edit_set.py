#!/usr/bin/python3
"""make_edit_set.py BUILD REAL DIR: checkpoints edited through a ckptfs mount,
for real_checkpoints.py verify, and DIR/EXPECTED.json with every leaf as the
mount shows it after the edits.

Each checkpoint (four that ckpt make writes, OCDBT or not, zarr v2 or v3, and
copies of checkpoints the real Orbax wrote, from REAL = tests/fixtures/real)
gets the same edits through a read-write mount:
  1. bytes written in place in the middle of a float32 array
  2. a string leaf rewritten (where there is one)
  3. a new float32 array x.npy at the root (np.save)
  4. a new dict 'added' holding a new int16 array y.npy
  5. a leaf removed, 6. a leaf renamed (both in dicts, not lists)
The edited checkpoints keep their .ckptfs history directories: the real
Orbax must restore them with those present.  numpy is needed.
"""
import json, os, shutil, subprocess, sys, time
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

def mount(ckptfs, src, mnt, *opts):
    os.makedirs(mnt, exist_ok=True)
    p = subprocess.Popen([ckptfs, src, mnt, "-f", *opts], stderr=open(mnt + ".log", "w"))
    for _ in range(200):
        if os.path.ismount(mnt):
            return p
        if p.poll() is not None:
            raise SystemExit("ckptfs exited: " + open(mnt + ".log").read())
        time.sleep(0.05)
    raise SystemExit("ckptfs did not mount")

def unmount(p, mnt):
    subprocess.run(["fusermount3", "-u", mnt], check=False)
    if p.wait(timeout=30) != 0:
        raise SystemExit("ckptfs failed: " + open(mnt + ".log").read())

def leaves(tree):
    """(path, meta) of every leaf file, walk order"""
    for d, dirs, files in os.walk(tree):
        dirs[:] = sorted(x for x in dirs if x != ".versions")
        for f in sorted(files):
            if f.endswith(".json") and f[:-5] in files:
                yield os.path.join(d, f[:-5]), json.load(open(os.path.join(d, f)))

def in_dict(meta):
    return not str(meta["path"][-1]).isdigit()

def edit(tree, seed):
    rng = np.random.default_rng(seed)
    done = []
    arrays = [(p, m) for p, m in leaves(tree) if m.get("kind") == "array"]
    f32 = [(p, m) for p, m in arrays if m["dtype"] == "float32" and m["nbytes"] >= 16]
    if f32:
        p, m = f32[0]
        off = (m["nbytes"] // 2) & ~3
        with open(p, "r+b") as f:
            f.seek(off)
            f.write(rng.standard_normal(2).astype(np.float32).tobytes())
        done.append("write " + p)
    strings = [p for p, m in leaves(tree) if m.get("kind") == "string"]
    if strings:
        with open(strings[0], "w") as f:
            f.write("edited by ckptfs")
        done.append("string " + strings[0])
    np.save(os.path.join(tree, "x.npy"), rng.standard_normal((3, 4)).astype(np.float32))
    os.mkdir(os.path.join(tree, "added"))
    np.save(os.path.join(tree, "added", "y.npy"), np.arange(10, dtype=np.int16))
    done += ["add x", "add added/y"]
    movable = [(p, m) for p, m in arrays if in_dict(m) and p not in [q for q, _ in f32[:1]]]
    if len(movable) >= 3:
        os.unlink(movable[-1][0])
        p = movable[-2][0]
        os.rename(p, p + "_renamed")
        done += ["remove " + movable[-1][0], "rename " + p]
    return done

def main():
    build, real, out = sys.argv[1:4]
    ckpt = os.path.join(build, "tools", "ckpt")
    ckptfs = os.path.join(build, "fs", "ckptfs")
    os.makedirs(out, exist_ok=True)
    made = [("e_zarr2", ["--dtype", "mix", "--leaves", "8", "--chunk-bytes", "1K"]),
            ("e_zarr3", ["--zarr3", "--leaves", "8", "--chunk-bytes", "1K"]),
            ("e_plain2", ["--no-ocdbt", "--leaves", "8", "--chunk-bytes", "1K"]),
            ("e_plain3", ["--no-ocdbt", "--zarr3", "--leaves", "8"])]
    cases = []  # (name in DIR, item path relative to the checkpoint, or "")
    for name, args in made:
        subprocess.run([ckpt, "make", os.path.join(out, name), "--extras", "--json-item",
                        "--leaf-bytes", "3000", "--seed", "5", "--no-fsync", *args],
                       check=True, stdout=subprocess.DEVNULL)
        cases.append((name, "state"))
    for rel in ("ocdbt_zarr2/ocdbt_zarr2", "ocdbt_zarr3/ocdbt_zarr3", "plain_zarr2/plain_zarr2",
                "plain_zarr3/plain_zarr3", "train_state/train_state", "nnx_state/state"):
        name = "r_" + rel.split("/")[0]
        shutil.copytree(os.path.join(real, "gen", rel), os.path.join(out, name))
        cases.append((name, ""))
    exp = {"checkpoints": {}}
    mnt = os.path.join(out, ".mnt")
    log = []
    for i, (name, item) in enumerate(cases):
        p = mount(ckptfs, os.path.join(out, name), mnt, "-o", "rw")
        try:
            tree = os.path.join(mnt, name, item)
            log.append({name: [s.replace(tree, "").replace("//", "/") for s in edit(tree, i)]})
        finally:
            unmount(p, mnt)
        p = mount(ckptfs, os.path.join(out, name), mnt, "-o", "ro")
        try:
            subprocess.run([sys.executable, os.path.join(HERE, "expected_from_tree.py"),
                            os.path.join(mnt, name, item), os.path.join(name, item).rstrip("/"),
                            os.path.join(out, "EXPECTED.json")], check=True)
        finally:
            unmount(p, mnt)
    os.rmdir(mnt)
    for f in os.listdir(out):
        if f.endswith(".log"):
            os.unlink(os.path.join(out, f))
    json.dump(log, open(os.path.join(out, "EDITS.json"), "w"), indent=1)

if __name__ == "__main__":
    main()
