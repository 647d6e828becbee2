#!/bin/bash
# make_verify_set.sh CKPT DIR: the set of checkpoints ckptfs writes for
# real_checkpoints.py verify (OCDBT and not, zarr v2 and v3, every dtype,
# strings, scalars, None, empty dicts, numpy leaves, 4 processes, chunks,
# streamed chunks, interior nodes, CheckpointManager roots, the NNX model),
# and DIR/EXPECTED.json with every leaf's digest.  Values are seeded, so the
# digests are the same on every run.
set -euo pipefail
C=$1
mkdir -p "$2"
cd "$2"
$C make w_zarr2 --dtype mix --leaves 13 --leaf-bytes 3000 --extras --expected e1.json
$C make w_zarr3 --zarr3 --dtype mix --leaves 13 --leaf-bytes 3000 --extras --expected e2.json
$C make w_plain2 --no-ocdbt --dtype mix --leaves 13 --leaf-bytes 3000 --chunk-bytes 1K --extras --expected e3.json
$C make w_plain3 --no-ocdbt --zarr3 --dtype mix --leaves 13 --leaf-bytes 3000 --extras --expected e4.json
$C make w_procs --processes 4 --chunk-bytes 2K --leaves 6 --leaf-bytes 20K --expected e5.json
$C make w_chunked3 --zarr3 --chunk-bytes 3K --leaves 4 --leaf-bytes 40K --depth 3 --expected e6.json
$C make w_streamed --leaves 2 --leaf-bytes 4M --stream-bytes 1M --values pattern --expected e7.json
$C make w_streamed3 --zarr3 --leaves 1 --leaf-bytes 3M --stream-bytes 1M --values pattern --expected e8.json
$C make w_manager --steps 3 --leaves 4 --json-item --expected e9.json
$C make w_mlp --model mlp --steps 2 --expected e10.json
$C make w_interior --leaves 40 --leaf-bytes 2K --max-node-bytes 2048 --chunk-bytes 1K --expected e11.json
/usr/bin/python3 - <<'PY'
import glob, json, os
out = {"checkpoints": {}}
for f in sorted(glob.glob("e*.json")):
    out["checkpoints"].update(json.load(open(f))["checkpoints"])
    os.unlink(f)
json.dump(out, open("EXPECTED.json", "w"), indent=1, sort_keys=True)
PY
