#!/usr/bin/env bats
# Legacy checkpoints: Orbax's msgpack aggregate file and Flax's msgpack
# checkpoints, read through the mount.

load helpers

teardown() { ckpt_teardown; }

@test "Orbax aggregate files: inline arrays and PLACEHOLDER:// arrays, exact values" {
	local f
	for f in aggregate_all aggregate_some; do
		ckpt_mount "$FIX/legacy/$f" -o ro
		local s=$MNT/$f
		[ "$(ints "$s/a" d8)" = "0 1 2 3 4 5 6 7" ]
		[ "$(ints "$s/b" d8)" = "$(seq 0 2 30 | tr '\n' ' ' | sed 's/ $//')" ]
		[ "$(ints "$s/c/a" d8)" = "0 3 6 9 12 15 18 21" ]
		[ "$(ints "$s/c/e" d8)" = "$(seq 0 4 60 | tr '\n' ' ' | sed 's/ $//')" ]
		[ "$(jqv "$s/c/a.json" shape)" = "[2, 4]" ]
		[ "$(jqv "$s/c/a.json" storage.kind)" = msgpack ]
		ckpt_unmount
	done
	ckpt_mount "$FIX/legacy/aggregate_some" -o ro
	[ "$(jqv "$MNT/aggregate_some/a.json" value_type)" = np.ndarray ]
	[ "$(jqv "$MNT/aggregate_some/a.json" storage.kind)" = directory ]
}

# an item as Orbax before 0.5.16 wrote it with some leaves aggregated
# (make_agg DIR [--no-metadata] [ckpt make options])
make_agg() {
	local d=$1 nm=
	shift
	if [ "${1:-}" = --no-metadata ]; then
		nm=--no-metadata
		shift
	fi
	"$CKPT" make "$d" --leaves 3 --extras --no-fsync --deterministic "$@" >/dev/null
	$PY "$ROOT/tests/tools/make_aggregate.py" "$d" $nm
}

@test "Orbax aggregate file beside _METADATA: Orbax's precedence (values in the file win, _METADATA's paths only)" {
	local d=$BATS_TEST_TMPDIR/agg
	make_agg "$d"
	ckpt_mount "$d" -o ro
	local s=$MNT/agg
	[ "$(ls "$s" | tr '\n' ' ')" = "agg extras layer_0000 " ]
	[ "$(ints "$s/agg/arr" d8)" = "0 3 6 9 12 15" ]
	[ "$(jqv "$s/agg/n.json" value)" = 7 ]
	[ "$(jqv "$s/agg/lr.json" value)" = 0.125 ]
	[ "$(jqv "$s/agg/ok.json" value)" = true ]
	[ "$(cat "$s/agg/tag")" = warmup ]
	[ "$(jqv "$s/agg/f32.json" msgpack_type)" = "numpy scalar" ]
	[ "$(ls "$s/agg/seq" | tr '\n' ' ')" = "0 0.json 0.npy 1 1.json 1.npy " ]
	[ -f "$s/agg/none" ] && [ ! -s "$s/agg/none" ]
	# the file's value wins over the array in storage
	[ "$(ints "$s/extras/table" d8 | tr ' ' '\n' | sort -u)" = 5 ]
	[ "$(jqv "$s/extras/table.json" storage.kind)" = msgpack ]
	# placeholders: the arrays and strings in storage
	[ "$(jqv "$s/layer_0000/w_00.json" storage.kind)" = ocdbt ]
	[ "$(cat "$s/extras/name")" = ckptfs ]
	# the same, restored by the independent reader of Orbax's rules
	$PY "$ROOT/tests/tools/orbax_restore.py" "$d" >"$BATS_TEST_TMPDIR/restored"
	! grep -q only_in_file "$BATS_TEST_TMPDIR/restored"
	grep -q "^extras/table 'int64\[3, 4\] \[5, 5," "$BATS_TEST_TMPDIR/restored"
}

@test "a broken aggregate file beside _METADATA: what only it held is an error naming it, the rest is served, no edit" {
	local d=$BATS_TEST_TMPDIR/agg t=$BATS_TEST_TMPDIR
	make_agg "$d"
	cp "$d/checkpoint" "$t/full"
	head -c 100 "$t/full" >"$d/checkpoint"
	cp "$d/checkpoint" "$t/cut"
	ckpt_mount "$d" -o rw
	local s=$MNT/agg
	run cat "$s/agg/arr"
	[ "$status" -ne 0 ]
	grep -q "'$d': _METADATA says the value of 'agg.arr' is in the aggregate file, which cannot be read: '$d/checkpoint' @[0-9]*: msgpack: " "$MNT.log"
	[ "$(cat "$s/extras/name")" = ckptfs ]
	[ "$(stat -c %s "$s/layer_0000/w_00")" = 4096 ]
	od -An -tx1 "$s/layer_0000/w_00" >/dev/null
	run dd if=/dev/zero of="$s/layer_0000/w_00" bs=4 count=1 conv=notrunc status=none
	[ "$status" -ne 0 ]
	grep -q "the aggregate file cannot be read (.*): the item is not edited" "$MNT.log"
	kill -0 "$PID"
	ckpt_unmount
	cmp "$d/checkpoint" "$t/cut"
	[ ! -e "$d/.ckptfs" ]
	# a whole file that lacks a value _METADATA says it holds
	$PY -c "import msgpack; t = msgpack.unpackb(open('$t/full','rb').read(), strict_map_key=False)
del t['agg']['n']; open('$d/checkpoint','wb').write(msgpack.packb(t))"
	ckpt_mount "$d" -o rw
	run cat "$MNT/agg/agg/n"
	[ "$status" -ne 0 ]
	grep -q "'$d/checkpoint': _METADATA says the value of 'agg.n' is in this aggregate file, which does not hold it" "$MNT.log"
	[ "$(jqv "$MNT/agg/agg/lr.json" value)" = 0.125 ]
	run rm "$MNT/agg/agg/lr"
	[ "$status" -ne 0 ]
	grep -q "which does not hold it: the item is not edited" "$MNT.log"
	[ ! -e "$d/.ckptfs" ]
}

@test "Orbax aggregate file edits: values in the file, arrays in storage, moves, removals, additions (OCDBT, directories, no _METADATA), checked by Orbax's restore rules" {
	local t=$BATS_TEST_TMPDIR v
	# the edits (make_aggregate_edit_set.py): every item must restore, by
	# Orbax's rules (orbax_restore.py), as the original plus the changes;
	# EXPECTED.json is the set the real Orbax is to restore
	$PY "$ROOT/tests/tools/make_aggregate_edit_set.py" "$BUILD" "$t/set"
	cmp "$t/set/EXPECTED.json" "$REAL/verify-aggregate-edits/EXPECTED.json"
	ckpt_mount "$t/set" -o rw
	for v in oc dir nometa; do
		local s=$MNT/set/$v h=$MNT/set/.versions/$v more="" top="agg extras layer_0000 new seq "
		# what the mount shows, and the history
		[ "$(ints "$s/agg/arr2" d8)" = "99 3 6 9 12 15" ]
		[ "$(jqv "$s/agg/n.json" value)" = 9 ]
		[ "$(ints "$h/0/agg/arr" d8)" = "0 3 6 9 12 15" ]
		[ "$(cat "$h/0/agg/tag")" = warmup ]
		[ -f "$h/0/agg/lr" ] && [ ! -e "$s/agg/lr" ]
		[ "$(jqv "$h/1.json" version.change)" = "write agg/arr (8 bytes in 1 extents)" ]
		cp -a "$t/set/$v" "$t/$v.before"
		if [ $v = nometa ]; then
			# the file is the tree: one commit point, any edit
			mv "$s/agg/f32" "$s/agg/n"
			more="t['agg']['n'] = t['agg'].pop('f32')"
			top="agg extras layer_0000 new only_in_file only_in_file.json only_in_file.npy seq "
		else
			# a value of the file replaced while the tree changes: refused, nothing written
			run mv "$s/agg/f32" "$s/agg/n"
			[ "$status" -ne 0 ]
			grep -q "'agg.n' holds its value in the aggregate file: it cannot be replaced in the same step as the tree changes (remove it first)" "$MNT.log"
			[ "$(jqv "$s/agg/n.json" value)" = 9 ]
		fi
		[ "$(ls "$s" | tr '\n' ' ')" = "$top" ]
		$PY "$ROOT/tests/tools/orbax_restore.py" "$t/set/$v" "$t/$v.before" "$more" >/dev/null
	done
	ckpt_unmount
	for v in oc dir nometa; do
		# the file keeps Orbax's form: placeholders, no key _METADATA does not name
		$PY -c "import msgpack; t = msgpack.unpackb(open('$t/set/$v/checkpoint','rb').read(), strict_map_key=False)
assert t['agg']['w'] == 'PLACEHOLDER://agg.w' and t['new']['x'] == 'PLACEHOLDER://new.x', t
assert t['seq'] == [1, 2.5] and ('only_in_file' in t) == ('$v' == 'nometa') and 'lr' not in t['agg'], t"
		# without _METADATA, the other metadata files are left as they were
		[ $v != nometa ] || cmp "$t/set/$v/_sharding" <("$CKPT" make "$t/nm0" --leaves 3 --extras --no-fsync --deterministic >/dev/null && cat "$t/nm0/_sharding")
		# a new array is a numpy array (Orbax's restore path here gives no sharding)
		[ $v = nometa ] || $PY -c "import json; m = json.load(open('$t/set/$v/_METADATA'))['tree_metadata']
assert m[\"('new', 'x')\"]['value_metadata'] == {'value_type': 'np.ndarray', 'skip_deserialize': False}, m"
		# prune keeps the live state
		cp -a "$t/set/$v" "$t/$v.live"
		"$CKPT" prune "$t/set" "set/$v"
		[ ! -e "$t/set/$v/.ckptfs/versions/meta/0" ]
		$PY "$ROOT/tests/tools/orbax_restore.py" "$t/set/$v" "$t/$v.live" "" >/dev/null
	done
}

@test "Orbax aggregate file edits: a crash at every commit point restores as the old or the new state; the next edit works" {
	local t=$BATS_TEST_TMPDIR point run base op crashed=0
	make_agg "$t/base"
	make_agg "$t/nometa" --no-metadata
	local -A change=([move]="t['seq'] = t['agg'].pop('seq')" [write]="t['agg']['arr'][0, 0] = 99")
	for run in base:move base:write nometa:move; do
		base=${run%:*} op=${run#*:}
		for point in edit-data edit-grow edit-aggregate-tmp edit-aggregate-grow edit-metadata edit-aggregate edit-shrink edit-step edit-record; do
			local c=$t/$base-$op-$point s
			cp -a "$t/$base" "$c"
			if [ $op = move ]; then
				crash_run $point "$c" "${c##*/}" mv agg/seq seq
			else
				crash_run $point "$c" "${c##*/}" bash -c "printf '\x63' | dd of=agg/arr conv=notrunc status=none"
			fi
			crashed=$((crashed + CRASHED))
			# Orbax restores the old or the new state
			$PY "$ROOT/tests/tools/orbax_restore.py" "$c" "$t/$base" "" >/dev/null ||
				$PY "$ROOT/tests/tools/orbax_restore.py" "$c" "$t/$base" "${change[$op]}"
			# the next edit, and the history shows the original
			ckpt_mount "$c" -o rw
			s=$MNT/${c##*/}
			printf '\x05' | dd of="$s/agg/n" conv=notrunc status=none
			[ "$(ints "$s/.versions/0/agg/arr" d8)" = "0 3 6 9 12 15" ]
			ckpt_unmount
			$PY "$ROOT/tests/tools/orbax_restore.py" "$c" "$t/$base" "t['agg']['n'] = 5" >/dev/null ||
				$PY "$ROOT/tests/tools/orbax_restore.py" "$c" "$t/$base" "t['agg']['n'] = 5; ${change[$op]}"
		done
	done
	echo "# crashes: $crashed" >&3
	[ "$crashed" -eq 23 ]
}

@test "Flax msgpack checkpoints: every dtype, scalars, strings, None, bytes, complex, chunked, bfloat16, tuples, GDA arrays" {
	local d=$BATS_TEST_TMPDIR/flax
	$PY "$ROOT/tests/tools/make_flax.py" "$d"
	# an Orbax checkpoint written by Flax 0.6.11+ in the same directory
	"$CKPT" make "$d/checkpoint_30" --leaves 1 --leaf-bytes 1K --no-fsync >/dev/null
	ckpt_mount "$d" -o ro
	[ "$(ls "$MNT" | tr '\n' ' ')" = "checkpoint_1.5 checkpoint_1.5.json checkpoint_10 checkpoint_10.json checkpoint_20 checkpoint_20.json checkpoint_30 checkpoint_30.json latest " ]
	[ "$(readlink "$MNT/latest")" = checkpoint_30 ]
	$PY "$ROOT/tests/tools/check_flax.py" "$MNT" "$d.expected.json"
	[ "$(jqv "$MNT/checkpoint_20/metrics/name.json" value)" = run-3 ]
	[ "$(jqv "$MNT/checkpoint_20/metrics/n.json" value)" = -6 ]
	[ "$(jqv "$MNT/checkpoint_20/step.json" shape)" = "[]" ]
	[ "$(jqv "$MNT/checkpoint_20/chunked.json" storage.ranges | tr -d ' \n')" != "[]" ]
	[ -f "$MNT/checkpoint_20/metrics/none" ] && [ ! -s "$MNT/checkpoint_20/metrics/none" ]
	[ -d "$MNT/checkpoint_20/opt_state/1" ] && [ -z "$(ls "$MNT/checkpoint_20/opt_state/1")" ]
	[ -f "$MNT/checkpoint_30/layer_0000/w_00" ]
	ckpt_unmount
	# one file as SOURCE
	ckpt_mount "$d/checkpoint_10" -o ro
	[ "$(ls "$MNT")" = "$(printf 'checkpoint_10\ncheckpoint_10.json\nlatest')" ]
	[ "$(ints "$MNT/checkpoint_10/step" d4)" = 2282 ]
	ckpt_unmount
}

@test "Flax msgpack edits: new files Flax decodes, byte-exact re-encoding, versions, prune; what cannot be edited" {
	local d=$BATS_TEST_TMPDIR/flax t=$BATS_TEST_TMPDIR
	$PY "$ROOT/tests/tools/make_flax.py" "$d"
	cp "$d/checkpoint_10" "$t/orig10"
	cp "$d/checkpoint_20" "$t/orig20"
	cp "$d/checkpoint_1.5" "$t/orig15"
	ckpt_mount "$d" -o rw
	local s=$MNT/checkpoint_10
	# the same bytes written back: the file re-encodes byte for byte
	cp "$MNT/checkpoint_1.5/dtypes/float32" "$t/f32"
	dd if="$t/f32" of="$MNT/checkpoint_1.5/dtypes/float32" conv=notrunc status=none
	cmp "$d/checkpoint_1.5" "$t/orig15"
	[ "$(ls "$d/.ckptfs/checkpoint_1.5/files" | tr '\n' ' ')" = "0 1 " ]
	# values in place: an array, Python scalars, a string, a complex
	printf '\xfe\xfe\xfe\xfe\xfe\xfe' | dd of="$s/dtypes/int8" conv=notrunc status=none
	printf '\x07\0\0\0\0\0\0\0' | dd of="$s/metrics/n" conv=notrunc status=none
	$PY -c "import struct; open('$s/metrics/loss','r+b').write(struct.pack('<d', 1.25))"
	printf '\0' | dd of="$s/metrics/ok" conv=notrunc status=none
	printf 'renamed run' >"$s/metrics/name"
	$PY -c "import struct; open('$s/metrics/c','r+b').write(struct.pack('<dd', 3.0, 4.5))"
	$PY -c "import numpy as np; open('$s/metrics/s32','r+b').write(np.float32(-8).tobytes())"
	# structure: a new array, a new dict, a move, a removed subtree
	$PY -c "import numpy as np; np.save('$s/params/new.npy', np.arange(12, dtype=np.float32).reshape(3, 4))"
	mkdir "$s/extra"
	mv "$s/params/new" "$s/extra/moved"
	rm -rf "$s/opt_state"
	[ "$(jqv "$s/extra/moved.json" shape)" = "[3, 4]" ]
	[ "$(jqv "$s/metrics/n.json" value)" = 7 ]
	[ "$(cat "$s/metrics/name")" = "renamed run" ]
	# checkpoint_20: a chunked array, written across a chunk boundary
	printf '\x63\x00\x64\x00' | dd of="$MNT/checkpoint_20/chunked" bs=1 seek=10 conv=notrunc status=none
	# what is not in the file is not edited
	run dd if=/dev/zero of="$MNT/checkpoint_20/gda/big" bs=4 count=1 conv=notrunc status=none
	[ "$status" -ne 0 ]
	grep -q "'params/big' is stored outside the msgpack file (GDA placeholder): editing it is not supported" "$MNT.log"
	# the history: every version readable, the first one as it was
	cmp <(printf '\xfe\xff\x00\x01\x02\x03') "$s/.versions/0/dtypes/int8"
	[ -d "$s/.versions/0/opt_state" ] && [ ! -e "$s/opt_state" ]
	[ "$(jqv "$s/.versions/1.json" version.change)" = "write dtypes/int8 (6 bytes in 1 extents)" ]
	cmp "$d/.ckptfs/checkpoint_10/files/0" "$t/orig10"
	ckpt_unmount
	# no new names where Flax looks (checkpoint_*), the GDA directory untouched
	[ "$(cd "$d" && ls -d checkpoint_* | tr '\n' ' ')" = "checkpoint_1.5 checkpoint_10 checkpoint_20 checkpoint_20_gda checkpoint_tmp " ]
	# decoded the way flax.serialization does, independently of ckptfs
	$PY "$ROOT/tests/tools/check_flax_edit.py" "$t/orig10" "$d/checkpoint_10" "
t['dtypes']['int8'] = np.full((2, 3), -2, np.int8)
m = t['metrics']
m['n'] = 7; m['loss'] = 1.25; m['ok'] = False; m['name'] = 'renamed run'; m['c'] = complex(3.0, 4.5)
m['s32'] = np.float32(-8)
del t['opt_state']
t['extra'] = {'moved': np.arange(12, dtype=np.float32).reshape(3, 4)}"
	$PY "$ROOT/tests/tools/check_flax_edit.py" "$t/orig20" "$d/checkpoint_20" "
c = t['chunked'][1].copy().reshape(-1); c[5] = 99; c[6] = 100
t['chunked'] = ('chunked', c.reshape(3, 5), 3)
t['tuple'] = [1, 2.5]  # Orbax's ext 4 tuple comes back as a list"
	# versions from the library too; prune keeps the live file only
	[ "$("$CKPT" versions "$d" checkpoint_10 | grep -c .)" -ge 10 ]
	"$CKPT" prune "$d" checkpoint_10
	[ ! -e "$d/.ckptfs/checkpoint_10" ] && [ -d "$d/.ckptfs/checkpoint_20" ]
	"$CKPT" prune "$d" checkpoint_20
	"$CKPT" prune "$d" checkpoint_1.5
	[ ! -e "$d/.ckptfs" ]
	$PY "$ROOT/tests/tools/check_flax_edit.py" "$t/orig15" "$d/checkpoint_1.5" ""
}

@test "Flax msgpack edits: a crash at every commit point leaves the old or the new file; the next edit works" {
	local t=$BATS_TEST_TMPDIR point crashed=0
	$PY "$ROOT/tests/tools/make_flax.py" "$t/base"
	for point in edit-data edit-metadata edit-step edit-record; do
		local c=$t/$point
		cp -a "$t/base" "$c"
		crash_run $point "$c" checkpoint_10/dtypes bash -c "printf '\x05\x05' | dd of=int8 conv=notrunc status=none"
		crashed=$((crashed + CRASHED))
		cmp -s "$c/checkpoint_10" "$t/base/checkpoint_10" ||
			$PY "$ROOT/tests/tools/check_flax_edit.py" "$t/base/checkpoint_10" "$c/checkpoint_10" \
				"t['dtypes']['int8'] = np.array([[5, 5, 0], [1, 2, 3]], np.int8)"
		[ "$(cd "$c" && ls | tr '\n' ' ')" = "checkpoint_1.5 checkpoint_10 checkpoint_20 checkpoint_20_gda checkpoint_tmp " ]
		# the next edit, and the history shows the original
		ckpt_mount "$c" -o rw
		printf '\x09' | dd of="$MNT/checkpoint_10/dtypes/int8" bs=1 seek=5 conv=notrunc status=none
		cmp <(printf '\xfe\xff\x00\x01\x02\x03') "$MNT/checkpoint_10/.versions/0/dtypes/int8"
		[ "$(ints "$MNT/checkpoint_10/dtypes/int8" d1 | cut -d' ' -f6)" = 9 ]
		ckpt_unmount
	done
	echo "# crashes: $crashed" >&3
	[ "$crashed" -eq 4 ]
}

@test "corrupt and truncated msgpack files: a clear error for that step, the rest is served" {
	local d=$BATS_TEST_TMPDIR/flax
	$PY "$ROOT/tests/tools/make_flax.py" "$d"
	head -c 700 "$d/checkpoint_10" >"$d/checkpoint_11"
	{ printf '\x81\xa1a\xc7\xff\x01'; head -c 50 /dev/zero; } >"$d/checkpoint_12"
	{ printf '\x81\xa1a\xdd\xff\xff\xff\xff'; } >"$d/checkpoint_13"
	{ printf '\x82\xa1a\x01'; } >"$d/checkpoint_14"
	ckpt_mount "$d" -o ro
	local s
	for s in 11 12 13 14; do
		run ls "$MNT/checkpoint_$s"
		[ "$status" -ne 0 ]
		[[ "$output" == *"Input/output error"* ]]
	done
	grep -q "'$d/checkpoint_11' @[0-9]*: msgpack: \(cut short\|a string, binary or extension runs past the end\)" "$MNT.log"
	grep -q "'$d/checkpoint_12' @[0-9]*: msgpack: a string, binary or extension runs past the end" "$MNT.log"
	grep -q "'$d/checkpoint_13' @[0-9]*: msgpack: more entries than bytes left" "$MNT.log"
	grep -q "'$d/checkpoint_14' @[0-9]*: msgpack: cut short" "$MNT.log"
	$PY "$ROOT/tests/tools/check_flax.py" "$MNT" "$d.expected.json"
	kill -0 "$PID"
}

@test "the Flax edit set for the real Flax (verify-flax-edits/) is what ckptfs writes today" {
	$PY "$ROOT/tests/tools/make_flax_edit_set.py" "$BUILD" "$BATS_TEST_TMPDIR/set"
	cmp "$BATS_TEST_TMPDIR/set/EXPECTED.json" "$REAL/verify-flax-edits/EXPECTED.json"
	cmp "$BATS_TEST_TMPDIR/set/FILES.json" "$REAL/verify-flax-edits/FILES.json"
}
