#!/usr/bin/env bats
# Edits through a read-write mount: copy-on-write commits, versions, the
# error paths, crashes at every commit point, and what an edit costs.

load helpers

teardown() { ckpt_teardown; }

# mk NAME [ckpt make options]: a composite checkpoint (items "state" and
# "metadata") in the test's directory
mk() {
	local name=$1
	shift
	"$CKPT" make "$BATS_TEST_TMPDIR/$name" --extras --json-item --no-fsync "$@" >/dev/null
}

# the bytes of every leaf below a tree, as "path sha256" lines
digests() {
	(cd "$1" && find . -type f ! -name '*.json' ! -name '*.npy' ! -path '*/.versions/*' -exec sha256sum {} + | sort -k2)
}

verify_ocdbt() {
	$PY "$SHARED/tools/ocdbt_ref.py" verify "$1" >/dev/null
}

# every generation after the first (the ones ckptfs wrote) re-encodes
# identically with the reference encoder; TensorStore's own first one may not
verify_ocdbt_edits() {
	local out
	out=$($PY "$SHARED/tools/ocdbt_ref.py" verify "$1" || true)
	[ -n "$out" ]
	! grep -v ' gen 1 ' <<<"$out" | grep -v '^IDENTICAL'
}

@test "writing bytes in place: dd, python r+b; the rest of the leaf and tree unchanged; remount shows it" {
	local kind args
	while read -r kind args; do
		mk "$kind" --leaves 3 --leaf-bytes 64K --chunk-bytes 16K --seed 7 $args
		ckpt_mount "$BATS_TEST_TMPDIR/$kind" -o rw
		local s=$MNT/$kind/state w=$MNT/$kind/state/layer_0000/w_01
		digests "$s" | grep -v w_01 >"$BATS_TEST_TMPDIR/others"
		cp "$w" "$BATS_TEST_TMPDIR/w.orig"
		head -c 5000 /dev/urandom >"$BATS_TEST_TMPDIR/patch"
		# 5000 bytes across a chunk boundary (16K chunks)
		dd if="$BATS_TEST_TMPDIR/patch" of="$w" bs=5000 seek=3 conv=notrunc status=none
		$PY - "$w" <<-'PY'
			import sys
			with open(sys.argv[1], "r+b") as f:
			    f.seek(65536 - 3); f.write(b"xyz")
		PY
		$PY - "$BATS_TEST_TMPDIR/w.orig" "$BATS_TEST_TMPDIR/patch" "$w" <<-'PY'
			import sys
			a = bytearray(open(sys.argv[1], "rb").read())
			a[15000:20000] = open(sys.argv[2], "rb").read()
			a[-3:] = b"xyz"
			b = open(sys.argv[3], "rb").read()
			assert a == b, "leaf differs from the expected edit"
		PY
		cp "$w" "$BATS_TEST_TMPDIR/w.new"
		[ "$(digests "$s" | grep -v w_01)" = "$(cat "$BATS_TEST_TMPDIR/others")" ]
		ckpt_unmount
		ckpt_mount "$BATS_TEST_TMPDIR/$kind" -o ro
		cmp "$MNT/$kind/state/layer_0000/w_01" "$BATS_TEST_TMPDIR/w.new"
		# both versions: as generated, and after the two edits
		cmp "$MNT/$kind/.versions/state/0/layer_0000/w_01" "$BATS_TEST_TMPDIR/w.orig"
		cmp "$MNT/$kind/.versions/state/2/layer_0000/w_01" "$BATS_TEST_TMPDIR/w.new"
		[ "$(jqv "$MNT/$kind/.versions/state/1.json" version.change)" = "write layer_0000/w_01 (5000 bytes in 1 extents)" ]
		ckpt_unmount
		[[ "$args" == *--no-ocdbt* ]] || verify_ocdbt "$BATS_TEST_TMPDIR/$kind/state"
	done <<-EOF
		ocdbt2
		ocdbt3 --zarr3
		plain2 --no-ocdbt
		plain3 --no-ocdbt --zarr3
	EOF
}

@test "python-zarr reads what an edit wrote in a directory item" {
	mk plain --no-ocdbt --leaves 2 --leaf-bytes 4K --dtype float32
	ckpt_mount "$BATS_TEST_TMPDIR/plain" -o rw
	$PY -c "
import numpy as np
with open('$MNT/plain/state/layer_0000/w_00', 'r+b') as f:
    f.write(np.arange(1024, dtype='<f4').tobytes())"
	ckpt_unmount
	$PY -c "
import numpy as np, zarr
a = zarr.open('$BATS_TEST_TMPDIR/plain/state/layer_0000.w_00', mode='r')[...]
assert (a.ravel() == np.arange(1024, dtype='<f4')).all(), a[:8]"
}

@test "strings, and what cannot be written: JSON, None, arrays of another size, other files" {
	mk c --leaves 2 --leaf-bytes 4K
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o rw
	local s=$MNT/c/state
	echo -n "a new name" >"$s/extras/name"
	[ "$(cat "$s/extras/name")" = "a new name" ]
	[ "$(jqv "$s/extras/name.json" value)" = "a new name" ]
	run sh -c "echo x > '$s/extras/name.json'"
	[ "$status" -ne 0 ] && [[ "$output" == *"Permission denied"* ]]
	run sh -c "echo x > '$s/extras/none'"
	[ "$status" -ne 0 ]
	run sh -c "head -c 100 /dev/zero > '$s/layer_0000/w_00'"
	[ "$status" -ne 0 ] && [[ "$output" == *"Invalid argument"* ]]
	run truncate -s 100 "$s/layer_0000/w_00"
	[ "$status" -ne 0 ] && [[ "$output" == *"Invalid argument"* ]]
	[ "$(stat -c %s "$s/layer_0000/w_00")" = 4096 ]
	grep -q "an array's size is fixed at 4096 bytes" "$MNT.log"
	run touch "$s/notes.txt"
	[ "$status" -ne 0 ] && [[ "$output" == *"Operation not permitted"* ]]
	grep -q "a new array is written as NAME.npy" "$MNT.log"
	run mkdir "$MNT/c/newitem"
	[ "$status" -ne 0 ]
	run rm "$MNT/c/state.json"
	[ "$status" -ne 0 ]
	# a whole rewrite through "> file" (open O_TRUNC, dup, write) is one edit
	head -c 4096 /dev/zero >"$s/layer_0000/w_00"
	[ "$(ints "$s/layer_0000/w_00" x8 | tr -d ' 0')" = "" ]
	ckpt_unmount
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o ro
	[ "$(cat "$MNT/c/state/extras/name")" = "a new name" ]
	[ "$(ls "$MNT/c/.versions/state" | grep -vc json)" = 3 ]
	ckpt_unmount
	verify_ocdbt "$BATS_TEST_TMPDIR/c/state"
}

@test "new arrays as NAME.npy: np.save, every dtype numpy writes, big-endian, scalars; bad files refused" {
	mk c --leaves 1 --leaf-bytes 1K
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o rw
	local s=$MNT/c/state
	$PY - "$s" <<-'PY'
		import numpy as np, os, sys, json
		s = sys.argv[1]
		cases = {
		    "f32": np.arange(12, dtype=np.float32).reshape(3, 4),
		    "f64be": np.linspace(0, 1, 7).astype(">f8"),
		    "f16": np.ones((2, 2), np.float16),
		    "i8": np.arange(-4, 4, dtype=np.int8),
		    "u16be": np.arange(5, dtype=">u2"),
		    "b": np.array([True, False, True]),
		    "c64": (np.arange(3) + 2j).astype(np.complex64),
		    "zero_d": np.array(2.5, np.float32),
		}
		for k, v in cases.items():
		    np.save(os.path.join(s, "layer_0000", k + ".npy"), v)
		# replacing an existing leaf with another shape
		np.save(os.path.join(s, "layer_0000", "w_00.npy"), np.arange(6, dtype=np.int32))
		for k, v in list(cases.items()) + [("w_00", np.arange(6, dtype=np.int32))]:
		    p = os.path.join(s, "layer_0000", k)
		    meta = json.load(open(p + ".json"))
		    le = v.astype(v.dtype.newbyteorder("<"))
		    assert meta["dtype"] == str(le.dtype), (k, meta["dtype"])
		    assert meta["shape"] == list(v.shape), (k, meta["shape"])
		    assert open(p, "rb").read() == le.tobytes(), k
		    # and its read-only view: the same array, little-endian (docs/numpy.md)
		    back = np.load(p + ".npy")
		    assert back.dtype == le.dtype and np.array_equal(back, v), k
		# refused at close: not .npy, cut short, Fortran order; nothing is added
		import io
		buf = io.BytesIO()
		np.save(buf, np.arange(100, dtype=np.float32))
		for name, data in (("junk", b"hello"), ("short", buf.getvalue()[:-10])):
		    try:
		        with open(os.path.join(s, "layer_0000", name + ".npy"), "wb") as f:
		            f.write(data)
		        raise SystemExit(name + ": close succeeded")
		    except OSError as e:
		        assert e.errno == 22, e
		    assert not os.path.exists(os.path.join(s, "layer_0000", name)), name
		try:
		    np.save(os.path.join(s, "layer_0000", "fo.npy"), np.asfortranarray(np.ones((3, 2))))
		    raise SystemExit("fortran: close succeeded")
		except OSError:
		    pass
		# Orbax refuses zero-sized arrays, so ckptfs does too
		try:
		    np.save(os.path.join(s, "layer_0000", "empty.npy"), np.zeros((0, 3), np.int32))
		    raise SystemExit("empty: close succeeded")
		except OSError as e:
		    assert e.errno == 22, e
		assert not os.path.exists(os.path.join(s, "layer_0000", "empty"))
		print("ok")
	PY
	grep -q "bytes, but its header says" "$MNT.log"
	grep -q "junk.npy: not a .npy file numpy can read back: no" "$MNT.log"
	grep -q "zero-sized" "$MNT.log"
	grep -q "Fortran-order arrays are not supported" "$MNT.log"
	ckpt_unmount
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o ro
	[ "$(ints "$MNT/c/state/layer_0000/w_00" d4)" = "0 1 2 3 4 5" ]
	[ "$(jqv "$MNT/c/state/layer_0000/zero_d.json" shape)" = "[]" ]
	ckpt_unmount
	verify_ocdbt "$BATS_TEST_TMPDIR/c/state"
}

@test "mkdir, mv, rm, rmdir change the tree; errors as POSIX says; remount agrees" {
	local kind args
	while read -r kind args; do
		mk "$kind" --leaves 3 --leaf-bytes 2K --depth 2 $args
		ckpt_mount "$BATS_TEST_TMPDIR/$kind" -o rw
		local s=$MNT/$kind/state
		local w2
		w2=$(sha256sum <"$s/layer_0000/w_02")
		mkdir "$s/opt"
		mkdir "$s/opt/inner"
		$PY -c "import numpy as np; np.save('$s/opt/inner/m.npy', np.full((4,), 7, np.int16))"
		mv "$s/layer_0000/w_02" "$s/opt/w"
		rm "$s/layer_0000/w_01"
		rmdir "$s/extras/empty"
		run rmdir "$s/opt"
		[ "$status" -ne 0 ] && [[ "$output" == *"not empty"* ]]
		run mkdir "$s/opt"
		[[ "$output" == *"File exists"* ]]
		run rm "$s/opt"
		[[ "$output" == *"Is a directory"* ]]
		run mv "$s/opt/w" "$MNT/$kind/state.json"
		[ "$status" -ne 0 ]
		run rm "$s/layer_0000/w_00.json"
		[[ "$output" == *"Permission denied"* ]]
		[ "$(ls "$s/layer_0000")" = "$(printf 'w_00\nw_00.json\nw_00.npy')" ]
		[ "$(sha256sum <"$s/opt/w")" = "$w2" ]
		# a renamed file keeps its inode; a removed path gets a new one
		[ "$(stat -c %i "$s/opt/w")" != "" ]
		ckpt_unmount
		ckpt_mount "$BATS_TEST_TMPDIR/$kind" -o ro
		s=$MNT/$kind/state
		[ "$(cd "$s" && find . | sort | tr '\n' ' ')" = ". ./extras ./extras/name ./extras/name.json ./extras/none ./extras/none.json ./extras/step ./extras/step.json ./extras/step.npy ./extras/table ./extras/table.json ./extras/table.npy ./layer_0000 ./layer_0000/w_00 ./layer_0000/w_00.json ./layer_0000/w_00.npy ./opt ./opt/inner ./opt/inner/m ./opt/inner/m.json ./opt/inner/m.npy ./opt/w ./opt/w.json ./opt/w.npy " ]
		[ "$(sha256sum <"$s/opt/w")" = "$w2" ]
		[ "$(ints "$s/opt/inner/m" d2)" = "7 7 7 7" ]
		# the tree as generated is still there
		[ -d "$MNT/$kind/.versions/state/0/extras/empty" ]
		[ -f "$MNT/$kind/.versions/state/0/layer_0000/w_01" ]
		ckpt_unmount
		[ "$args" = --no-ocdbt ] || verify_ocdbt "$BATS_TEST_TMPDIR/$kind/state"
	done <<-EOF
		ocdbt
		plain --no-ocdbt
	EOF
}

@test "a file open before an edit keeps reading what it opened" {
	mk c --leaves 1 --leaf-bytes 256K --chunk-bytes 16K
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o rw
	local w=$MNT/c/state/layer_0000/w_00
	$PY - "$w" <<-'PY'
		import sys
		p = sys.argv[1]
		r = open(p, "rb")
		old = open(p, "rb").read()
		first = r.read(100000)
		with open(p, "r+b") as f:
		    f.seek(150000); f.write(b"\xff" * 1000)
		rest = r.read()
		assert first + rest == old, "a reader saw a mix of two versions"
		new = open(p, "rb").read()
		assert new[150000:151000] == b"\xff" * 1000 and new[:150000] == old[:150000]
	PY
}

@test "a crash at every commit point leaves the old or the new state, never a mix" {
	local kind args point crashed=0 t=$BATS_TEST_TMPDIR
	head -c 12000 /dev/urandom >"$t/patch"
	for kind in ocdbt plain; do
		args=; [ $kind = plain ] && args=--no-ocdbt
		mk "t_$kind" --leaves 3 --leaf-bytes 32K --chunk-bytes 8K --seed 3 $args
		ckpt_mount "$t/t_$kind" -o ro
		cp "$MNT/t_$kind/state/layer_0000/w_01" "$t/old"
		digests "$MNT/t_$kind/state" >"$t/all_old"
		ckpt_unmount
		$PY -c "
a = bytearray(open('$t/old','rb').read()); a[12000:24000] = open('$t/patch','rb').read()
open('$t/new','wb').write(a)"
		for point in edit-data edit-grow edit-metadata edit-shrink edit-step edit-record \
			ocdbt-data-written ocdbt-data-synced ocdbt-manifest-written ocdbt-manifest-renamed; do
			local c=$t/${kind}_$point n
			n=$(basename "$c")
			cp -a "$t/t_$kind" "$c"
			# a write in place, then a structural edit (a new array)
			crash_run $point "$c" "$n/state" dd if="$t/patch" of=layer_0000/w_01 bs=12000 seek=1 conv=notrunc status=none
			crashed=$((crashed + CRASHED))
			ckpt_mount "$c" -o ro
			cmp -s "$MNT/$n/state/layer_0000/w_01" "$t/old" || cmp -s "$MNT/$n/state/layer_0000/w_01" "$t/new" ||
				{ echo "$kind $point: w_01 is neither old nor new" >&2; false; }
			[ "$(digests "$MNT/$n/state" | grep -v w_01)" = "$(grep -v w_01 "$t/all_old")" ]
			ckpt_unmount
			[ "$kind" = plain ] || verify_ocdbt "$c/state"
			crash_run $point "$c" "$n/state" $PY -c "import numpy as np; np.save('layer_0000/x.npy', np.arange(5, dtype=np.int16))"
			crashed=$((crashed + CRASHED))
			ckpt_mount "$c" -o ro
			[ ! -e "$MNT/$n/state/layer_0000/x" ] || [ "$(ints "$MNT/$n/state/layer_0000/x" d2)" = "0 1 2 3 4" ]
			[ "$(digests "$MNT/$n/state" | grep -v 'w_01\|/x$')" = "$(grep -v w_01 "$t/all_old")" ]
			ckpt_unmount
			[ "$kind" = plain ] || verify_ocdbt "$c/state"
			# and the next edits work
			ckpt_mount "$c" -o rw
			dd if="$t/patch" of="$MNT/$n/state/layer_0000/w_01" bs=12000 seek=1 conv=notrunc status=none
			cmp "$MNT/$n/state/layer_0000/w_01" "$t/new"
			rm -f "$MNT/$n/state/layer_0000/x"
			$PY -c "import numpy as np; np.save('$MNT/$n/state/layer_0000/x.npy', np.arange(5, dtype=np.int16))"
			[ "$(ints "$MNT/$n/state/layer_0000/x" d2)" = "0 1 2 3 4" ]
			ckpt_unmount
			[ "$kind" = plain ] || verify_ocdbt "$c/state"
		done
	done
	echo "# crashes: $crashed" >&3
	[ "$crashed" -ge 20 ]
}

@test "a 4 KiB edit of a 16 MiB leaf writes about one chunk, not the leaf" {
	local kind args
	for kind in ocdbt plain; do
		args=; [ $kind = plain ] && args=--no-ocdbt
		mk "$kind" --leaves 1 --leaf-bytes 16M --chunk-bytes 256K $args
		local before after
		before=$(du -sb "$BATS_TEST_TMPDIR/$kind" | cut -f1)
		ckpt_mount "$BATS_TEST_TMPDIR/$kind" -o rw
		head -c 4096 /dev/urandom | dd of="$MNT/$kind/state/layer_0000/w_00" bs=4096 seek=1000 conv=notrunc status=none
		ckpt_unmount
		after=$(du -sb "$BATS_TEST_TMPDIR/$kind" | cut -f1)
		echo "$kind: $((after - before)) bytes more on disk" >&3
		[ $((after - before)) -lt $((600 * 1024)) ]
	done
}

@test "-o ro still shows versions and refuses edits; a direct checkpoint's versions" {
	"$CKPT" make "$BATS_TEST_TMPDIR/d" --extras --no-fsync --leaves 1 --leaf-bytes 1K >/dev/null
	ckpt_mount "$BATS_TEST_TMPDIR/d" -o rw
	[ ! -e "$MNT/d/.versions/0" ]
	echo -n "x" >"$MNT/d/extras/name"
	[ "$(ls -A "$MNT/d" | tr '\n' ' ')" = ".versions extras layer_0000 " ]
	ckpt_unmount
	ckpt_mount "$BATS_TEST_TMPDIR/d" -o ro
	[ "$(cat "$MNT/d/.versions/0/extras/name")" = "ckptfs" ]
	[ "$(cat "$MNT/d/.versions/1/extras/name")" = "x" ]
	[ "$(jqv "$MNT/d/.versions/1.json" version.change)" = "set extras/name (1 bytes)" ]
	run sh -c "echo y > '$MNT/d/extras/name'"
	[[ "$output" == *"Read-only file system"* ]]
	run sh -c "echo y > '$MNT/d/.versions/0/extras/name'"
	[[ "$output" == *"Read-only file system"* ]]
	ckpt_unmount
	# versions are read-only on a read-write mount too
	ckpt_mount "$BATS_TEST_TMPDIR/d" -o rw
	run sh -c "echo y > '$MNT/d/.versions/0/extras/name'"
	[[ "$output" == *"Read-only file system"* ]]
	run rm "$MNT/d/.versions/0/extras/name"
	[[ "$output" == *"Read-only file system"* ]]
	run mkdir "$MNT/d/.versions/0/x"
	[[ "$output" == *"Read-only file system"* ]]
}

@test "the edited set the real Orbax restored (verify-edits/) is what ckptfs makes today" {
	$PY "$ROOT/tests/tools/make_edit_set.py" "$BUILD" "$REAL" "$BATS_TEST_TMPDIR/set"
	cmp "$BATS_TEST_TMPDIR/set/EXPECTED.json" "$REAL/verify-edits/EXPECTED.json"
	cmp "$BATS_TEST_TMPDIR/set/EDITS.json" "$REAL/verify-edits/EDITS.json"
	local d
	for d in e_zarr2/state e_zarr3/state r_ocdbt_zarr2 r_ocdbt_zarr3 r_train_state r_nnx_state; do
		verify_ocdbt_edits "$BATS_TEST_TMPDIR/set/$d"
	done
}

@test "ckpt versions lists the history; ckpt prune deletes it and the data only it used" {
	local kind args
	for kind in ocdbt plain; do
		args=; [ $kind = plain ] && args=--no-ocdbt
		mk "$kind" --leaves 1 --leaf-bytes 1M $args
		local before after pruned
		before=$(du -sb "$BATS_TEST_TMPDIR/$kind" | cut -f1)
		ckpt_mount "$BATS_TEST_TMPDIR/$kind" -o rw
		local w=$MNT/$kind/state/layer_0000/w_00
		head -c 1M /dev/urandom >"$w"
		head -c 1M /dev/urandom >"$w"
		cp "$w" "$BATS_TEST_TMPDIR/last"
		ckpt_unmount
		after=$(du -sb "$BATS_TEST_TMPDIR/$kind" | cut -f1)
		run "$CKPT" versions "$BATS_TEST_TMPDIR/$kind"
		[ "$status" -eq 0 ]
		[ "${#lines[@]}" -eq 3 ]
		[[ "${lines[0]}" == "$kind/state	0	"*"	original" ]]
		[[ "${lines[2]}" == *"write layer_0000/w_00 (1048576 bytes in 1 extents)" ]]
		run "$CKPT" prune "$BATS_TEST_TMPDIR/$kind" "$kind/state"
		[ "$output" = "$kind/state: 2 older versions deleted" ]
		pruned=$(du -sb "$BATS_TEST_TMPDIR/$kind" | cut -f1)
		echo "# $kind: $before bytes, $after after two whole-leaf edits, $pruned after prune" >&3
		[ "$after" -gt $((before + 2000000)) ]
		# the copies only the history used are gone (OCDBT: the original data
		# stays in ocdbt.process_0, the per-process database Orbax wrote)
		[ "$pruned" -lt $((after - 1000000)) ]
		[ "$kind" = ocdbt ] || [ "$pruned" -lt $((before + 200000)) ]
		[ "$("$CKPT" versions "$BATS_TEST_TMPDIR/$kind")" = "" ]
		"$CKPT" cat "$BATS_TEST_TMPDIR/$kind" state/layer_0000/w_00 | cmp - "$BATS_TEST_TMPDIR/last"
		[ "$kind" = plain ] || verify_ocdbt "$BATS_TEST_TMPDIR/$kind/state"
	done
}

@test "mmap writes (numpy memmap); concurrent writers all land; readers see whole versions only" {
	mk c --leaves 3 --leaf-bytes 256K --chunk-bytes 32K --dtype uint8
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o rw
	local l=$MNT/c/state/layer_0000
	$PY - "$l" <<-'PY'
		import numpy as np, os, sys, subprocess, time
		l = sys.argv[1]
		a = np.memmap(os.path.join(l, "w_00"), dtype=np.uint8, mode="r+")
		a[:4] = 7
		a.flush()
		del a
		assert list(np.fromfile(os.path.join(l, "w_00"), np.uint8)[:5])[:4] == [7] * 4
		# eight writers: four on w_00 (disjoint 4 KiB regions), four on w_01
		code = ("import sys\n"
		        "f = open(sys.argv[1], 'r+b'); f.seek(int(sys.argv[2])); f.write(bytes([int(sys.argv[3])]) * 4096); f.close()")
		ps = [subprocess.Popen([sys.executable, "-c", code, os.path.join(l, w), str(k * 65536), str(k + 1)])
		      for w in ("w_00", "w_01") for k in range(4)]
		assert all(p.wait() == 0 for p in ps)
		for w in ("w_00", "w_01"):
		    b = open(os.path.join(l, w), "rb").read()
		    for k in range(4):
		        assert b[k * 65536:k * 65536 + 4096] == bytes([k + 1]) * 4096, (w, k)
		# readers while whole-leaf rewrites commit: every read is one version
		w2 = os.path.join(l, "w_02")
		open(w2, "r+b").write(bytes(262144))
		reader = subprocess.Popen([sys.executable, "-c",
		    "import sys\n"
		    "for i in range(300):\n"
		    "    b = open(sys.argv[1], 'rb').read()\n"
		    "    assert len(b) == 262144 and b.count(b[:1]) == len(b), 'a mix of versions'\n", w2])
		for v in range(1, 21):
		    with open(w2, "r+b") as f:
		        for off in range(0, 262144, 32768):
		            f.write(bytes([v]) * 32768)
		assert reader.wait() == 0
		print("ok")
	PY
	ckpt_unmount
	# writers of one leaf share its buffer: their commits may merge
	[ "$("$CKPT" versions "$BATS_TEST_TMPDIR/c" | wc -l)" -ge 22 ]
	verify_ocdbt "$BATS_TEST_TMPDIR/c/state"
}

@test "a full disk (ENOSPC) during a commit: close fails, the old state stays, the next edit works" {
	local t=$BATS_TEST_TMPDIR/fs
	mkdir "$t"
	mount -t tmpfs -o size=3M tmpfs "$t" || skip "cannot mount a tmpfs here"
	MOUNTS+=("$t")
	PIDS+=("")
	"$CKPT" make "$t/c" --leaves 2 --leaf-bytes 512K --chunk-bytes 64K --json-item --no-fsync >/dev/null
	local kind
	for kind in ocdbt; do
		ckpt_mount "$t/c" -o rw
		local s=$MNT/c/state
		sha256sum "$s/layer_0000/w_00" "$s/layer_0000/w_01" | awk '{print $1}' >"$BATS_TEST_TMPDIR/before"
		# 4 MiB of random data cannot fit: the commit runs out of space
		run $PY -c "
import numpy as np
np.save('$s/layer_0000/big.npy', np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32))"
		[ "$status" -ne 0 ]
		[[ "$output" == *"No space left on device"* ]]
		grep -q "add layer_0000/big" "$MNT.log"
		[ ! -e "$s/layer_0000/big" ]
		[ "$(sha256sum "$s/layer_0000/w_00" "$s/layer_0000/w_01" | awk '{print $1}')" = "$(cat "$BATS_TEST_TMPDIR/before")" ]
		ckpt_unmount
		verify_ocdbt "$t/c/state"
		# whatever the failed commit left is not in the way of the next edit
		ckpt_mount "$t/c" -o rw
		printf '\1\2\3\4' | dd of="$MNT/c/state/layer_0000/w_00" conv=notrunc status=none
		[ "$(od -A n -t u1 -N 4 "$MNT/c/state/layer_0000/w_00" | tr -s ' ')" = " 1 2 3 4" ]
		ckpt_unmount
		verify_ocdbt "$t/c/state"
	done
	umount "$t"
	unset 'MOUNTS[-1]' 'PIDS[-1]'
}

@test "stress: 8 readers and 1 writer on one mount; consistent reads, no errors, bounded memory" {
	mk c --leaves 4 --leaf-bytes 256K --chunk-bytes 32K --dtype uint8
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o rw
	run $PY "$ROOT/tests/tools/stress.py" "$MNT/c/state/layer_0000" "${CKPTFS_STRESS_SECONDS:-10}" "$PID"
	echo "# $output" >&3
	[ "$status" -eq 0 ]
	local rss
	rss=$(grep -o 'RSS max [0-9]*' <<<"$output" | grep -o '[0-9]*$')
	[ -n "${CKPTFS_SANITIZED:-}" ] || [ "$rss" -lt 400000 ]
	ckpt_unmount
	verify_ocdbt "$BATS_TEST_TMPDIR/c/state"
}
