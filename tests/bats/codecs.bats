#!/usr/bin/env bats
# Arrays zarr-python (python3-zarr, numcodecs) writes with Blosc and BZ2:
# they mount and read byte for byte, edits re-encode them with the array's
# own codec, and unknown or corrupt codec data is a clear error.

load helpers

teardown() { ckpt_teardown; }

# mkzarr DIR: a checkpoint DIR whose item "state" is a directory of zarr v2
# arrays as zarr-python writes them (no _METADATA), one per codec case
mkzarr() {
	$PY - "$1" <<-'PY'
		import numpy as np, os, sys, zarr
		from numcodecs import Blosc, BZ2
		root = os.path.join(sys.argv[1], "state")
		os.makedirs(root)
		B = Blosc
		rng = np.random.default_rng(12)
		cases = {
		    # name: (dtype, shape, chunks, compressor, order)
		    "lz4_shuffle": ("<f4", (37, 11), (8, 4), B("lz4", 5, B.SHUFFLE), "C"),
		    "lz4_noshuffle": ("<i4", (100,), (33,), B("lz4", 5, B.NOSHUFFLE), "C"),
		    "zstd_shuffle": ("<f8", (5, 6, 7), (2, 4, 3), B("zstd", 3, B.SHUFFLE), "C"),
		    "zstd_noshuffle": ("<i2", (300, 3), (128, 2), B("zstd", 1, B.NOSHUFFLE), "C"),
		    "blosclz_bitshuffle": ("<u2", (1000,), (300,), B("blosclz", 5, B.BITSHUFFLE), "C"),
		    "blosclz_shuffle": ("<f4", (64, 64), (64, 64), B("blosclz", 9, B.SHUFFLE), "C"),
		    "lz4hc_auto_u1": ("|u1", (300,), (128,), B("lz4hc", 5, B.AUTOSHUFFLE), "C"),
		    "zlib_blocks": ("<f4", (200000,), (65536,), B("zlib", 4, B.SHUFFLE, blocksize=4096), "C"),
		    "snappy": ("<i8", (50,), (50,), B("snappy", 5, B.SHUFFLE), "C"),
		    "complex": ("<c8", (10,), (4,), B("lz4", 5, B.SHUFFLE), "C"),
		    "bigendian": (">i4", (23, 5), (10, 5), B("zstd", 5, B.SHUFFLE), "C"),
		    "order_f": ("<f4", (9, 7), (4, 4), B("lz4", 5, B.SHUFFLE), "F"),
		    "bz2_1": ("<i8", (100,), (30,), BZ2(1), "C"),
		    "bz2_9": ("<f2", (33, 17), (10, 10), BZ2(9), "C"),
		}
		for name, (dt, shape, chunks, comp, order) in cases.items():
		    a = zarr.open(os.path.join(root, name), mode="w", shape=shape, chunks=chunks,
		                  dtype=dt, compressor=comp, order=order)
		    n = int(np.prod(shape))
		    if np.dtype(dt).kind == "c":
		        v = rng.standard_normal(n) + 1j * rng.standard_normal(n)
		    elif np.dtype(dt).kind == "f":
		        v = rng.standard_normal(n) * 100
		    else:
		        v = rng.integers(0, 250, n)
		    a[...] = v.astype(dt).reshape(shape)
	PY
}

# check_bytes CKPTDIR MOUNTED_ITEM: every array's bytes equal numpy's view
# (C order, little-endian), through the mount and through `ckpt cat`
check_bytes() {
	$PY - "$1/state" "$2" "$CKPT" "$1" <<-'PY'
		import numpy as np, os, subprocess, sys, zarr
		root, mnt, ckpt, ck = sys.argv[1:5]
		names = sorted(d for d in os.listdir(root) if os.path.exists(os.path.join(root, d, ".zarray")))
		assert len(names) >= 10, names
		for name in names:
		    a = zarr.open(os.path.join(root, name), mode="r")[...]
		    want = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
		    got = open(os.path.join(mnt, name), "rb").read()
		    assert got == want, (name, len(got), len(want))
		    cat = subprocess.run([ckpt, "cat", ck, "state/" + name], check=True,
		                         stdout=subprocess.PIPE).stdout
		    assert cat == want, ("ckpt cat", name)
		print(len(names), "arrays byte-exact")
	PY
}

@test "zarr-python Blosc (lz4, lz4hc, zstd, blosclz, zlib, snappy; shuffle, no shuffle, bitshuffle) and BZ2 arrays read byte-exact" {
	mkzarr "$BATS_TEST_TMPDIR/z"
	ckpt_mount "$BATS_TEST_TMPDIR/z" -o ro
	check_bytes "$BATS_TEST_TMPDIR/z" "$MNT/z/state"
	grep -q '"blosc"' "$MNT/z/state/lz4_shuffle.json"
	ckpt_unmount
}

@test "a checkpoint with _METADATA whose arrays zarr-python rewrote with Blosc and BZ2 reads byte-exact" {
	"$CKPT" make "$BATS_TEST_TMPDIR/m" --no-ocdbt --leaves 3 --leaf-bytes 40K --dtype float32 --no-fsync >/dev/null
	ckpt_mount "$BATS_TEST_TMPDIR/m" -o ro
	(cd "$MNT/m" && find . -type f ! -name '*.json' -exec sha256sum {} + | sort -k2) >"$BATS_TEST_TMPDIR/before"
	ckpt_unmount
	$PY - "$BATS_TEST_TMPDIR/m" <<-'PY'
		import os, sys, zarr
		from numcodecs import Blosc, BZ2
		comps = [Blosc("lz4", 5, Blosc.SHUFFLE), Blosc("zstd", 3, Blosc.BITSHUFFLE), BZ2(5)]
		k = 0
		for d, subs, files in sorted(os.walk(sys.argv[1])):
		    if ".zarray" in files and ".ckptfs" not in d:
		        a = zarr.open(d, mode="r")
		        v, shape, chunks, dt = a[...], a.shape, a.chunks, a.dtype
		        b = zarr.open(d, mode="w", shape=shape, chunks=chunks, dtype=dt,
		                      compressor=comps[k % 3], fill_value=None)
		        b[...] = v
		        k += 1
		assert k >= 3, k
	PY
	ckpt_mount "$BATS_TEST_TMPDIR/m" -o ro
	(cd "$MNT/m" && find . -type f ! -name '*.json' -exec sha256sum {} + | sort -k2) >"$BATS_TEST_TMPDIR/after"
	cmp "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	ckpt_unmount
}

@test "edits of Blosc and BZ2 arrays re-encode with the array's own codec; zarr-python reads them" {
	mkzarr "$BATS_TEST_TMPDIR/z"
	local s=$BATS_TEST_TMPDIR/z/state
	$PY -c 'import json,sys
for n in sys.argv[1:]: print(n, json.dumps(json.load(open(n + "/.zarray"))["compressor"], sort_keys=True))' \
		"$s/lz4_shuffle" "$s/blosclz_bitshuffle" "$s/bz2_9" >"$BATS_TEST_TMPDIR/comp.before"
	ckpt_mount "$BATS_TEST_TMPDIR/z" -o rw
	local m=$MNT/z/state
	# float32 (37, 11): elements 30..33 straddle chunk columns 2 and 3 of chunk row 0
	$PY -c 'import numpy as np,sys; sys.stdout.buffer.write(np.array([1.5, -2.5, 3.25, 4e6], "<f4").tobytes())' |
		dd of="$m/lz4_shuffle" bs=4 seek=30 conv=notrunc status=none
	# uint16 (1000,) chunks of 300: elements 298..301 cross chunks 0 and 1
	printf '\x01\x00\x02\x00\x03\x00\x04\x00' | dd of="$m/blosclz_bitshuffle" bs=2 seek=298 conv=notrunc status=none
	# float16 (33, 17): element 0 and the last one (in a partial edge chunk)
	printf '\x00\x3c' | dd of="$m/bz2_9" bs=2 seek=0 conv=notrunc status=none
	printf '\x00\xc0' | dd of="$m/bz2_9" bs=2 seek=$((33 * 17 - 1)) conv=notrunc status=none
	ckpt_unmount
	$PY -c 'import json,sys
for n in sys.argv[1:]: print(n, json.dumps(json.load(open(n + "/.zarray"))["compressor"], sort_keys=True))' \
		"$s/lz4_shuffle" "$s/blosclz_bitshuffle" "$s/bz2_9" >"$BATS_TEST_TMPDIR/comp.after"
	cmp "$BATS_TEST_TMPDIR/comp.before" "$BATS_TEST_TMPDIR/comp.after"
	$PY - "$s" <<-'PY'
		import numpy as np, sys, zarr
		from numcodecs import Blosc, BZ2
		s = sys.argv[1]
		a = zarr.open(s + "/lz4_shuffle", mode="r")
		assert isinstance(a.compressor, Blosc) and a.compressor.cname == "lz4"
		assert (a[...].ravel()[30:34] == np.array([1.5, -2.5, 3.25, 4e6], "<f4")).all(), a[...].ravel()[28:36]
		b = zarr.open(s + "/blosclz_bitshuffle", mode="r")
		assert b.compressor.shuffle == Blosc.BITSHUFFLE
		assert list(b[296:302][2:]) == [1, 2, 3, 4], b[296:302]
		c = zarr.open(s + "/bz2_9", mode="r")
		assert isinstance(c.compressor, BZ2) and c.compressor.level == 9
		assert c[0, 0] == 1.0 and c[32, 16] == -2.0, (c[0, 0], c[32, 16])
		# the rewritten chunk files are frames of the array's codec
		raw = open(s + "/lz4_shuffle/0.2", "rb").read()
		assert len(Blosc().decode(raw)) == 8 * 4 * 4
		assert open(s + "/bz2_9/3.1", "rb").read()[:3] == b"BZh"
	PY
	# the other elements are unchanged: compare with a fresh copy
	mkzarr "$BATS_TEST_TMPDIR/fresh"
	$PY - "$s" "$BATS_TEST_TMPDIR/fresh/state" <<-'PY'
		import numpy as np, sys, zarr
		a, b = (zarr.open(d + "/lz4_shuffle", mode="r")[...].ravel() for d in sys.argv[1:3])
		a[30:34] = b[30:34]
		assert (a == b).all()
		a, b = (zarr.open(d + "/bz2_9", mode="r")[...] for d in sys.argv[1:3])
		a[0, 0], a[32, 16] = b[0, 0], b[32, 16]
		assert (a == b).all()
	PY
	ckpt_mount "$BATS_TEST_TMPDIR/z" -o ro
	check_bytes "$BATS_TEST_TMPDIR/z" "$MNT/z/state"
	ckpt_unmount
}

@test "an unknown compressor and a corrupt Blosc chunk give EIO with a clear message; the daemon stays up" {
	mkzarr "$BATS_TEST_TMPDIR/z"
	local s=$BATS_TEST_TMPDIR/z/state
	$PY - "$s" <<-'PY'
		import json, sys
		s = sys.argv[1]
		z = json.load(open(s + "/lz4_noshuffle/.zarray"))
		z["compressor"] = {"id": "lzma", "preset": 1}
		json.dump(z, open(s + "/lz4_noshuffle/.zarray", "w"))
		# a block start pointing past the frame, a truncated frame, a header
		# claiming more bytes than the chunk holds, a damaged bzip2 stream
		b = bytearray(open(s + "/zlib_blocks/1", "rb").read())
		assert not b[2] & 2  # compressed, not stored
		b[16:20] = (len(b) + 100).to_bytes(4, "little")
		open(s + "/zlib_blocks/1", "wb").write(b)
		b = open(s + "/zstd_shuffle/1.1.1", "rb").read()
		open(s + "/zstd_shuffle/1.1.1", "wb").write(b[:-10])
		b = bytearray(open(s + "/lz4_shuffle/0.0", "rb").read())
		b[4:8] = (1 << 30).to_bytes(4, "little")
		open(s + "/lz4_shuffle/0.0", "wb").write(b)
		b = bytearray(open(s + "/bz2_1/1", "rb").read())
		b[20:40] = bytes(20)
		open(s + "/bz2_1/1", "wb").write(b)
	PY
	ckpt_mount "$BATS_TEST_TMPDIR/z" -o ro
	local m=$MNT/z/state
	run cat "$m/lz4_noshuffle"
	[ "$status" -ne 0 ] && [[ "$output" == *"Input/output error"* ]]
	grep "compressor 'lzma' is not supported" "$MNT.log" | grep -q "lz4_noshuffle"
	run cat "$m/zlib_blocks"
	[ "$status" -ne 0 ] && [[ "$output" == *"Input/output error"* ]]
	grep -q "blosc: block 0 starts at" "$MNT.log"
	run cat "$m/zstd_shuffle"
	[ "$status" -ne 0 ] && [[ "$output" == *"Input/output error"* ]]
	grep -q "blosc: header says [0-9]* compressed bytes, the object has" "$MNT.log"
	run cat "$m/lz4_shuffle"
	[ "$status" -ne 0 ] && [[ "$output" == *"Input/output error"* ]]
	grep -q "blosc: frame decodes to 1073741824 bytes, expected 128" "$MNT.log"
	run cat "$m/bz2_1"
	[ "$status" -ne 0 ] && [[ "$output" == *"Input/output error"* ]]
	grep -q "bz2" "$MNT.log"
	# the daemon is up and the intact arrays still read
	kill -0 "$PID"
	$PY - "$s" "$m" <<-'PY'
		import sys, zarr, numpy as np
		for n in ("blosclz_bitshuffle", "bz2_9", "snappy"):
		    a = zarr.open(sys.argv[1] + "/" + n, mode="r")[...]
		    assert open(sys.argv[2] + "/" + n, "rb").read() == a.astype(a.dtype.newbyteorder("<")).tobytes(), n
	PY
	ckpt_unmount
}
