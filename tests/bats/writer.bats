#!/usr/bin/env bats
# The writer: checkpoints written by ckpt make, read back through the mount,
# by independent readers (ocdbt_ref.py, python3-zarr), crash-safe commits.

load helpers

teardown() { ckpt_teardown; }

@test "every format combination reads back exactly (pattern values, every byte checked)" {
	local args name
	while read -r name args; do
		"$CKPT" make "$BATS_TEST_TMPDIR/$name" --values pattern --leaves 20 --dtype mix \
			--leaf-bytes 5000 --no-fsync $args
		ckpt_mount "$BATS_TEST_TMPDIR/$name"
		$PY "$ROOT/tests/tools/check_pattern.py" "$MNT/$name" 20
		ckpt_unmount
	done <<-EOF
		z2
		z3 --zarr3
		z2chunks --chunk-bytes 1K
		z3chunks --zarr3 --chunk-bytes 1K
		plain2 --no-ocdbt --chunk-bytes 2K
		plain3 --no-ocdbt --zarr3
		procs --processes 3 --chunk-bytes 1K
		raw --no-compress --depth 3
		flat --depth 1
	EOF
}

@test "values and digests: the mount reads what the generator recorded (EXPECTED.json)" {
	"$CKPT" make "$BATS_TEST_TMPDIR/root" --steps 3 --leaves 6 --dtype mix --leaf-bytes 3000 \
		--json-item --expected "$BATS_TEST_TMPDIR/exp.json" --no-fsync
	ckpt_mount "$BATS_TEST_TMPDIR/root"
	run ls "$MNT"
	[ "$output" = "$(printf '0\n0.json\n1\n1.json\n2\n2.json\nlatest')" ]
	local s
	for s in 0 1 2; do
		$PY "$ROOT/tests/tools/check_leaves.py" "$BATS_TEST_TMPDIR/exp.json" "root/$s/state" "$MNT/$s/state"
		[ "$(jqv "$MNT/$s/metadata.json" step)" = "$s" ]
	done
	[ "$(jqv "$MNT/2.json" checkpoint_metadata.item_handlers.metadata)" = \
		orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler ]
	[ -f "$BATS_TEST_TMPDIR/root/2/commit_success.txt" ]
}

@test "ocdbt_ref.py verify accepts every database: interior nodes, out-of-line values, version-tree nodes" {
	local d=$BATS_TEST_TMPDIR/big
	# 20 leaves: 40 commits in ocdbt.process_0 (version-tree nodes past 16);
	# 2 KiB node limit: interior nodes; 1 KiB chunks: out-of-line values
	"$CKPT" make "$d" --leaves 20 --leaf-bytes 20K --chunk-bytes 4K --max-node-bytes 2048 \
		--processes 2 --no-fsync
	$PY "$SHARED/tools/ocdbt_ref.py" verify "$d" "$d/ocdbt.process_0" "$d/ocdbt.process_1" >"$BATS_TEST_TMPDIR/v.log"
	! grep -q DIFFERENT "$BATS_TEST_TMPDIR/v.log"
	grep -c IDENTICAL "$BATS_TEST_TMPDIR/v.log"
	# 20 metadata commits and 20 chunk commits
	[ "$("$CKPT" ocdbt versions "$d/ocdbt.process_0" | wc -l)" -eq 40 ]
	$PY - "$SHARED/tools" "$d/ocdbt.process_0" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import ocdbt_ref as R
m = R.decode_manifest(open(sys.argv[2] + "/manifest.ocdbt", "rb").read())
assert m["version_nodes"], "no version-tree nodes"
v = m["versions"][-1]
data = R.read_range(sys.argv[2], v["file"], v["offset"], v["length"])
h, _ = R.decode_btree_node(data, v["file"][0])
assert h >= 1, "root is a leaf"
PY
	# the reference reader sees the same keys and values as ckptfs
	diff <($PY "$SHARED/tools/ocdbt_ref.py" dump "$d" | grep "^b'" | sed "s/^b'\([^']*\)': \([0-9]*\) bytes.*/\1 \2/" | sort) \
		<("$CKPT" ocdbt ls "$d" | cut -d' ' -f1,2 | sort)
}

@test "python3-zarr, an independent zarr v2 reader, reads the non-OCDBT arrays identically" {
	local d=$BATS_TEST_TMPDIR/plain
	"$CKPT" make "$d" --no-ocdbt --leaves 10 --leaf-bytes 7000 --chunk-bytes 2K --depth 1 --no-fsync \
		--dtype float32
	"$CKPT" make "$BATS_TEST_TMPDIR/mix" --no-ocdbt --leaves 8 --leaf-bytes 4000 --depth 1 --no-fsync \
		--dtype mix
	ckpt_mount "$d"
	$PY - "$d" "$MNT/plain" <<'PY'
import os, sys, zarr, numpy as np
src, mnt = sys.argv[1], sys.argv[2]
n = 0
for name in sorted(os.listdir(src)):
    if not name.startswith("param_"):
        continue
    a = zarr.open(os.path.join(src, name), mode="r")
    assert a[...].astype(a.dtype.newbyteorder("<")).tobytes() == open(os.path.join(mnt, name), "rb").read(), name
    assert a.chunks != a.shape
    n += 1
assert n == 10
print("ok", n)
PY
	ckpt_unmount
	# numpy-native dtypes of the mix, unchunked
	ckpt_mount "$BATS_TEST_TMPDIR/mix"
	$PY - "$BATS_TEST_TMPDIR/mix" "$MNT/mix" <<'PY'
import os, sys, zarr, numpy as np
src, mnt = sys.argv[1], sys.argv[2]
n = 0
for name in sorted(os.listdir(src)):
    if not name.startswith("param_"):
        continue
    meta = open(os.path.join(src, name, ".zarray")).read()
    if any(t in meta for t in ("bfloat16", "float8", "int4")):
        continue
    a = zarr.open(os.path.join(src, name), mode="r")
    assert np.ascontiguousarray(a[...]).tobytes() == open(os.path.join(mnt, name), "rb").read(), name
    n += 1
assert n >= 5
print("ok", n)
PY
}

@test "a step is committed by rename: a crash before it leaves only the tmp directory" {
	local r=$BATS_TEST_TMPDIR/root
	"$CKPT" make "$r" --steps 1 --leaves 2 --no-fsync
	run env CKPTFS_FAULT=step-ready:2 "$CKPT" make "$r/../root2" --steps 2 --leaves 2
	[ "$status" -eq 99 ]
	[ -d "$BATS_TEST_TMPDIR/root2/0" ]
	[ -d "$BATS_TEST_TMPDIR/root2/1.orbax-checkpoint-tmp" ]
	[ -f "$BATS_TEST_TMPDIR/root2/1.orbax-checkpoint-tmp/commit_success.txt" ]
	[ ! -e "$BATS_TEST_TMPDIR/root2/1" ]
	ckpt_mount "$BATS_TEST_TMPDIR/root2"
	run ls "$MNT"
	[ "$output" = "$(printf '0\n0.json\nlatest')" ]
}

@test "a crash at each OCDBT commit step leaves the previous version readable" {
	local f
	for f in ocdbt-data-written ocdbt-data-synced ocdbt-manifest-written ocdbt-manifest-renamed; do
		rm -rf "$BATS_TEST_TMPDIR/c"
		run env CKPTFS_FAULT=$f:3 "$CKPT" make "$BATS_TEST_TMPDIR/c" --leaves 2 --leaf-bytes 2000
		[ "$status" -eq 99 ]
		# the per-process database holds a consistent version: 2 (or 3) commits
		run "$CKPT" ocdbt versions "$BATS_TEST_TMPDIR/c.orbax-checkpoint-tmp/ocdbt.process_0"
		[ "$status" -eq 0 ]
		[ "${#lines[@]}" -ge 2 ] && [ "${#lines[@]}" -le 3 ]
		"$CKPT" ocdbt ls --sha256 "$BATS_TEST_TMPDIR/c.orbax-checkpoint-tmp/ocdbt.process_0" >/dev/null
		[ ! -e "$BATS_TEST_TMPDIR/c" ]
	done
}

@test "a leaf larger than the stream threshold is written and read with bounded memory" {
	local d=$BATS_TEST_TMPDIR/huge
	# 256 MiB float32 in one chunk: streamed through zstd into the data file
	$PY -c 'import resource,subprocess,sys; subprocess.run(sys.argv[1:], check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' \
		"$CKPT" make "$d" --leaves 1 --leaf-bytes 256M --depth 1 --no-fsync --expected "$d.json" >"$d.rss"
	# (memory bounds mean nothing under AddressSanitizer's shadow memory)
	[ -n "${CKPTFS_SANITIZED:-}" ] || [ "$(cat "$d.rss")" -lt 100000 ]
	ckpt_mount "$d" -o cache_size=32M
	$PY "$ROOT/tests/tools/check_leaves.py" "$d.json" huge "$MNT/huge"
	[ -n "${CKPTFS_SANITIZED:-}" ] || [ "$(ps -o rss= -p "$PID")" -lt 150000 ]
	[ "$(jqv "$MNT/huge/param_000000.json" chunks)" = 1 ]
}

@test "ckpt make is deterministic with --deterministic, the demo model is an NNX MLP, and --model gpt2 reads what it recorded" {
	"$CKPT" make "$BATS_TEST_TMPDIR/a" --leaves 4 --deterministic --seed 3 --no-fsync
	"$CKPT" make "$BATS_TEST_TMPDIR/b" --leaves 4 --deterministic --seed 3 --no-fsync
	# everything but commit_success.txt, which names its own path
	diff -r -x commit_success.txt "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	"$CKPT" make "$BATS_TEST_TMPDIR/mlp" --model mlp --steps 3 --no-fsync
	ckpt_mount "$BATS_TEST_TMPDIR/mlp"
	[ "$(readlink "$MNT/latest")" = 300 ]
	[ "$(jqv "$MNT/300/state/linear1/kernel/value.json" shape)" = "[8, 16]" ]
	[ "$(jqv "$MNT/300/metadata.json" step)" = 300 ]
	# GPT-2's shapes, one block (wte alone is 147 MiB: streamed)
	"$CKPT" make "$BATS_TEST_TMPDIR/g" --model gpt2 --leaves 1 --no-fsync \
		--expected "$BATS_TEST_TMPDIR/g.json"
	ckpt_mount "$BATS_TEST_TMPDIR/g"
	$PY "$ROOT/tests/tools/check_leaves.py" "$BATS_TEST_TMPDIR/g.json" g/state "$MNT/g/state"
	[ "$(jqv "$MNT/g/state/wte.json" shape)" = "[50257, 768]" ]
	[ "$(jqv "$MNT/g/state/h_00/mlp/c_fc/kernel.json" shape)" = "[768, 3072]" ]
	[ "$(find "$MNT/g/state" -type f ! -name '*.json' ! -name '*.npy' | wc -l)" = 16 ]
	run "$CKPT" make "$BATS_TEST_TMPDIR/g2" --model gpt2 --leaves 101
	[ "$status" = 2 ]
}

@test "the set the real Orbax restored (verify-writer/) is what ckpt make writes today" {
	local d=$BATS_TEST_TMPDIR/set
	bash "$ROOT/tests/tools/make_verify_set.sh" "$CKPT" "$d" >/dev/null
	diff "$d/EXPECTED.json" "$REAL/verify-writer/EXPECTED.json"
	grep -q "^14 passed, 0 failed" "$REAL/verify-writer/verify.log"
	ckpt_mount "$d/w_zarr3"
	$PY "$ROOT/tests/tools/check_leaves.py" "$d/EXPECTED.json" w_zarr3 "$MNT/w_zarr3"
}
