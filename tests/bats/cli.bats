#!/usr/bin/env bats
# The library without FUSE: the ckpt tool, and the OCDBT reader against
# databases written by TensorStore and by the independent Python encoder.

load helpers

V0=$FIX/compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata
V1=$FIX/compat/v1_checkpoints/composite_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata

@test "ckpt ls lists the leaves with dtype and shape" {
	run "$CKPT" ls -l "$V1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pytree_checkpointable_has_metadata/metadata.json"* ]]
	[[ "$output" == *"32 pytree_checkpointable_has_metadata/state/a  int32[8]"* ]]
	[[ "$output" == *"12 pytree_checkpointable_has_metadata/state/b/c  int32[3]"* ]]
}

@test "ckpt cat writes a leaf's bytes; the step may be left out of a single checkpoint" {
	[ "$("$CKPT" cat "$V0" a | od -A n -t d4 | tr -s ' \n' ' ')" = " 0 1 2 3 4 5 6 7 " ]
	[ "$("$CKPT" cat "$V0" pytree_checkpointable_has_metadata/b/c | od -A n -t d4 | tr -s ' \n' ' ')" = " 1 2 3 " ]
	[ "$("$CKPT" cat "$V1" latest/metadata.json)" = '{"metadata": "json_data"}' ]
	run "$CKPT" cat "$V0" nope
	[ "$status" -ne 0 ]
	[[ "$output" == *"no such entry"* ]]
}

@test "ckpt meta prints step, item and leaf metadata" {
	run "$CKPT" meta "$V1" state/b/c
	[ "$status" -eq 0 ]
	[[ "$output" == *'"param_name": "b.c"'* ]]
	[[ "$output" == *'"zarr_format": 3'* ]]
	"$CKPT" meta "$V1" pytree_checkpointable_has_metadata | grep -q '"commit_timestamp_nsecs": 1778718403065544708'
	"$CKPT" meta "$V1" state | grep -q '"keys": 4'
}

@test "the real Orbax checkpoints read back byte-exact through the library" {
	local k
	for k in dtypes/dtypes ocdbt_zarr3/ocdbt_zarr3 plain_zarr2/plain_zarr2 train_state/train_state; do
		$PY "$ROOT/tests/tools/check_leaves.py" "$REAL/gen/EXPECTED.json" "$k" "ckpt:$CKPT:$REAL/gen/$k"
	done
	$PY "$ROOT/tests/tools/check_leaves.py" "$REAL/gen/EXPECTED.json" manager/manager/10/state "ckpt:$CKPT:$REAL/gen/manager/manager:10/state"
}

@test "OCDBT written by TensorStore: version trees, interior nodes, numbered manifests, no compression" {
	local c
	for c in ocdbt_version_tree ocdbt_default_arity ocdbt_uncompressed ocdbt_numbered ocdbt_bignode; do
		$PY "$ROOT/tests/tools/check_ocdbt.py" "$CKPT" "$REAL/extra/EXTRA.json" $c "$REAL/extra/$c"
	done
	run "$CKPT" ocdbt versions "$REAL/extra/ocdbt_version_tree"
	[ "${#lines[@]}" -eq 44 ]
}

@test "OCDBT built by the reference encoder: height-2 tree, base paths, out-of-line values" {
	local db=$BATS_TEST_TMPDIR/db
	$PY "$ROOT/tests/tools/make_ocdbt.py" "$SHARED/tools" "$db" "$db.json"
	$PY "$ROOT/tests/tools/check_ocdbt.py" "$CKPT" "$db.json" synthetic "$db"
	# the reference reader lists the same keys
	diff <($PY "$SHARED/tools/ocdbt_ref.py" dump "$db" | grep "^b'" | sed "s/^b'\([^']*\)'.*/\1/" | sort) \
		<("$CKPT" ocdbt ls "$db" | cut -d' ' -f1 | sort)
}

@test "ckpt reports bad input clearly" {
	local d=$BATS_TEST_TMPDIR/junk
	mkdir -p "$d/x"
	touch "$d/y"
	run "$CKPT" ls "$d"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not a checkpoint"* ]]
	run "$CKPT" ocdbt ls "$V0/d"
	[ "$status" -eq 1 ]
	[[ "$output" == *"manifest.ocdbt': missing"* ]]
	run "$CKPT"
	[ "$status" -eq 2 ]
}
