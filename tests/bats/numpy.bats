#!/usr/bin/env bats
# numpy-native views (docs/numpy.md): NAME.npy beside every array leaf, a
# real .npy file numpy loads and maps; the types numpy lacks as documented;
# the metadata JSON's schema (docs/metadata.md); writing NAME.npy on a
# read-write mount still replaces or adds an array.

load helpers

teardown() { ckpt_teardown; }

# check_npy TREE [--mmap yes|no|try]: every array leaf's view (tests/tools/check_npy.py)
check_npy() {
	$PY "$ROOT/tests/tools/check_npy.py" "$@"
}

@test "NAME.npy beside every array leaf of the real checkpoints: np.load and mmap_mode='r' give the leaf's bytes, the file is np.save's own, st_size exact" {
	local src
	for src in standard_dict/checkpoint_name nnx_state/state nnx_state/pure_dict dtypes/dtypes \
		ocdbt_zarr3/ocdbt_zarr3 ocdbt_zarr2/ocdbt_zarr2 plain_zarr2/plain_zarr2 \
		plain_zarr3/plain_zarr3 large/large train_state/train_state composite/composite_checkpoint \
		manager/manager sharded/sharded flax_legacy/flax_legacy; do
		ckpt_mount "$REAL/gen/$src" -o ro
		run check_npy "$MNT"
		echo "# $src: ${lines[-1]}" >&3
		[ "$status" -eq 0 ] || { echo "$output"; false; }
		ckpt_unmount
	done
	for src in "$FIX"/compat/v*/*/checkpoint_metadata_present/*/ "$FIX/legacy/aggregate_all" \
		"$FIX/legacy/aggregate_some"; do
		ckpt_mount "$src" -o ro
		run check_npy "$MNT"
		[ "$status" -eq 0 ] || { echo "$output"; false; }
		ckpt_unmount
	done
}

@test "the dtypes numpy lacks: bfloat16 and float8 as raw |V<n>, int4 one value per byte as int8 (ckpt make --dtype mix, real Orbax)" {
	"$CKPT" make "$BATS_TEST_TMPDIR/mix" --dtype mix --leaves 13 --leaf-bytes 3000 --chunk-bytes 1K --no-fsync >/dev/null
	ckpt_mount "$BATS_TEST_TMPDIR/mix" -o ro
	run check_npy "$MNT"
	echo "# ${lines[-1]}" >&3
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# every dtype of the mix was seen, the exotic ones among them
	[[ "${lines[-1]}" == *"bfloat16 "*"float8_e4m3fn "*"int4 "* ]]
	ckpt_unmount
	ckpt_mount "$REAL/gen/dtypes/dtypes" -o ro
	local d=$MNT/dtypes
	$PY - "$d" <<-'PY'
		import sys, numpy as np
		d = sys.argv[1]
		bf = np.load(d + "/bf16.npy")
		assert bf.dtype == np.dtype("V2") and bf.shape == (4, 4), bf.dtype
		# the recipe without ml_dtypes: bfloat16 is the top half of a float32
		f32 = (bf.view("<u2").astype("<u4") << 16).view("<f4")
		assert np.isfinite(f32).all()
		for name in ("float8_e4m3fn", "float8_e5m2"):
		    a = np.load(d + "/" + name + ".npy")
		    assert a.dtype == np.dtype("V1") and a.shape == (8,), (name, a.dtype)
		i4 = np.load(d + "/int4.npy")
		assert i4.dtype == np.int8 and i4.min() >= -8 and i4.max() <= 7, i4
		print(f32.ravel()[:4], i4)
	PY
	[ "$(jqv "$d/bf16.json" npy.descr)" = "|V2" ]
	[ "$(jqv "$d/bf16.json" npy.ml_dtype)" = bfloat16 ]
	[ "$(jqv "$d/int4.json" npy.descr)" = "|i1" ]
	[ "$(jqv "$d/int4.json" npy.ml_dtype)" = int4 ]
	[ "$(jqv "$d/f32.json" npy.ml_dtype)" = null ]
	# with ml_dtypes installed, the documented recipe gives the same numbers
	if $PY -c "import ml_dtypes" 2>/dev/null; then
		$PY -c "import numpy as np, ml_dtypes; a = np.load('$d/bf16.npy').view(ml_dtypes.bfloat16); print(a.astype(np.float32))"
	fi
}

@test "0-d scalars and zero-size arrays: shape () and (0, 3), header only, mmap works" {
	local c=$BATS_TEST_TMPDIR/ck
	mkdir -p "$c/empty" "$c/zero_d"
	printf '{"chunks":[1,3],"compressor":null,"dtype":"<f4","fill_value":0.0,"filters":null,"order":"C","shape":[0,3],"zarr_format":2}' >"$c/empty/.zarray"
	printf '{"chunks":[],"compressor":null,"dtype":"<i8","fill_value":5,"filters":null,"order":"C","shape":[],"zarr_format":2}' >"$c/zero_d/.zarray"
	ckpt_mount "$c" -o ro
	[ "$(stat -c %s "$MNT/ck/empty")" = 0 ]
	[ "$(stat -c %s "$MNT/ck/empty.npy")" = 128 ]
	[ "$(stat -c %s "$MNT/ck/zero_d.npy")" = 136 ]
	[ "$(jqv "$MNT/ck/empty.json" size)" = 0 ]
	[ "$(jqv "$MNT/ck/zero_d.json" size)" = 1 ]
	[ "$(jqv "$MNT/ck/zero_d.json" nbytes)" = 8 ]
	$PY - "$MNT/ck" <<-'PY'
		import sys, numpy as np
		d = sys.argv[1]
		e = np.load(d + "/empty.npy")
		assert e.dtype == np.float32 and e.shape == (0, 3)
		assert np.load(d + "/empty.npy", mmap_mode="r").shape == (0, 3)
		z = np.load(d + "/zero_d.npy")
		assert z.shape == () and z.dtype == np.int64 and int(z) == 5, z
		m = np.load(d + "/zero_d.npy", mmap_mode="r")
		assert isinstance(m, np.memmap) and int(m) == 5
	PY
	run check_npy "$MNT"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	ckpt_unmount
	# real Orbax's 0-d array
	ckpt_mount "$REAL/gen/dtypes/dtypes" -o ro
	[ "$($PY -c "import numpy as np; a = np.load('$MNT/dtypes/scalar0d.npy', mmap_mode='r'); print(a.shape, a.dtype)")" = "() float32" ]
}

@test "the metadata JSON: \"schema\": 1 in every document, nbytes in bytes, size in elements, as docs/metadata.md says" {
	ckpt_mount "$REAL/gen/manager/manager" -o ro
	[ "$(jqv "$MNT/10.json" schema)" = 1 ]
	[ "$(jqv "$MNT/10/state.json" schema)" = 1 ]
	[ "$(jqv "$MNT/.ckptfs-stats" schema)" = 1 ]
	$PY - "$MNT/10" <<-'PY'
		import json, os, sys
		s = sys.argv[1]
		item = json.load(open(s + "/state.json"))
		n = 0
		for path, leaf in item["leaves"].items():
		    if leaf["kind"] != "array":
		        continue
		    one = json.load(open(os.path.join(s, "state", path) + ".json"))
		    elems = 1
		    for d in one["shape"]:
		        elems *= d
		    assert leaf["size"] == one["size"] == elems, (path, leaf, one["size"])
		    assert leaf["nbytes"] == one["nbytes"] == elems * one["itemsize"], path
		    assert leaf["nbytes"] == os.path.getsize(os.path.join(s, "state", path))
		    assert os.path.getsize(os.path.join(s, "state", path) + ".npy") == \
		        one["npy"]["header_bytes"] + one["nbytes"] == one["npy"]["file_bytes"]
		    n += 1
		assert n > 0
		print(n, "leaves")
	PY
	# a leaf's .json documents every field docs/metadata.md lists for arrays
	local f
	for f in schema path kind nbytes dtype shape size itemsize chunk_shape chunks zarr_format zarr storage npy; do
		grep -q "^  \"$f\":" "$MNT/10/state/$(cd "$MNT/10/state" && find . -name '*.npy' | head -1 | sed 's/\.npy$//').json" || { echo "no $f"; false; }
		grep -q "\`$f\`" "$ROOT/docs/metadata.md" || { echo "$f not documented"; false; }
	done
}

@test "-o rw: the view is 0644 and reads as on ro; np.save over NAME.npy replaces the array, a new NAME.npy adds one; a bad file is refused; rm and mv of a view are refused" {
	"$CKPT" make "$BATS_TEST_TMPDIR/c" --leaves 3 --leaf-bytes 2K --chunk-bytes 512 --extras --json-item --no-fsync >/dev/null
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o ro
	local s=$MNT/c/state
	[ "$(stat -c %a "$s/layer_0000/w_00.npy")" = 444 ]
	run $PY -c "import numpy as np; np.save('$s/layer_0000/w_00.npy', np.zeros(3))"
	[ "$status" -ne 0 ] && [[ "$output" == *"Read-only file system"* ]]
	ckpt_unmount
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o rw
	s=$MNT/c/state
	[ "$(stat -c %a "$s/layer_0000/w_00.npy")" = 644 ]
	run check_npy "$s" --mmap try
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	if [[ "$output" == *"mmap: ENODEV"* ]]; then
		echo "# mmap of a view on -o rw: ENODEV (direct I/O on read-write mounts; the mount's fix)" >&3
	fi
	[ "$(ls "$s/layer_0000" | grep -c '^w_00.npy$')" = 1 ]
	$PY - "$s" <<-'PY'
		import os, sys, numpy as np
		s = sys.argv[1]
		w = s + "/layer_0000/w_00"
		new = np.arange(12, dtype=np.int16).reshape(3, 4)
		np.save(w + ".npy", new)          # O_WRONLY|O_CREAT|O_TRUNC of the view
		assert np.array_equal(np.load(w + ".npy"), new)
		assert open(w, "rb").read() == new.tobytes()
		assert os.path.getsize(w + ".npy") == 128 + 24
		np.save(s + "/layer_0000/added.npy", np.full((2,), 1.5, np.float32))
		assert np.load(s + "/layer_0000/added.npy").tolist() == [1.5, 1.5]
		names = sorted(os.listdir(s + "/layer_0000"))
		assert names.count("w_00.npy") == 1 and names.count("added.npy") == 1, names
		# a file that is not a .npy: refused at close, the array unchanged
		try:
		    with open(w + ".npy", "wb") as f:
		        f.write(b"not numpy")
		    raise SystemExit("junk: close succeeded")
		except OSError as e:
		    assert e.errno == 22, e
		assert np.array_equal(np.load(w + ".npy"), new)
		print("ok")
	PY
	[ "$(jqv "$s/layer_0000/w_00.json" dtype)" = int16 ]
	[ "$(jqv "$s/layer_0000/w_00.json" shape)" = "[3, 4]" ]
	run rm "$s/layer_0000/w_01.npy"
	[ "$status" -ne 0 ] && [[ "$output" == *"Permission denied"* ]]
	run mv "$s/layer_0000/w_01.npy" "$s/layer_0000/x"
	[ "$status" -ne 0 ] && [[ "$output" == *"Permission denied"* ]]
	[ -f "$s/layer_0000/w_01" ]
	ckpt_unmount
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o ro
	[ "$($PY -c "import numpy as np; print(np.load('$MNT/c/state/layer_0000/w_00.npy', mmap_mode='r').sum())")" = 66 ]
	[ "$(jqv "$MNT/c/state/layer_0000/added.json" dtype)" = float32 ]
	[ "$(jqv "$MNT/c/.versions/state/2.json" version.change)" = "add layer_0000/added (float32, 1 dims)" ]
}
