#!/usr/bin/env bats
# The read matrix: every codec ckptfs decodes (none, zstd, zlib, gzip, bz2,
# blosc with lz4 and zstd; zarr v3 crc32c alone and after zstd, shards of one
# and of several inner chunks) x chunk size (below the stream threshold,
# above it, above cache_size) x read-ahead on and off x (the mount, `ckpt
# cat`), zarr v2 and v3, in OCDBT and in directories, multi-chunk arrays
# with partial edge chunks; each array compared by SHA-256 with bytes
# decoded without ckptfs (tests/tools/make_matrix.py: zarr-python,
# shared/tools/ocdbt_ref.py and numcodecs).
#
# `-o cache_size=2M` makes the stream threshold 512K, so the chunk sizes
# S 128K, M 1.5M, B 3M take the three paths; `-o piece_size=96K` pieces do
# not divide the 1 MiB a stream reads at a time (raw chunks failed at that
# boundary when a piece straddled it); `ckpt cat` and a mount's defaults
# (threshold 8M, cache 32M, pieces 2M) take the three paths with D 9M, H 33.5M.

load helpers

setup_file() {
	export MX=$BATS_FILE_TMPDIR/mx
	$PY "$ROOT/tests/tools/make_matrix.py" "$MX" "$BATS_FILE_TMPDIR/expected.json" "$CKPT" \
		"$SHARED/tools" >/dev/null
}

teardown() { ckpt_teardown; }

# check GROUPS mount|cat: every array of GROUPS (small, large) byte-exact
check() {
	if [ "$2" = mount ]; then
		$PY "$ROOT/tests/tools/check_matrix.py" "$BATS_FILE_TMPDIR/expected.json" "$1" mount "$MNT"
	else
		$PY "$ROOT/tests/tools/check_matrix.py" "$BATS_FILE_TMPDIR/expected.json" "$1" cat "$CKPT" "$MX"
	fi
}

# stat NAME: a number from the mount's .ckptfs-stats
stat_of() { jqv "$MNT/.ckptfs-stats" "$1"; }

@test "cache_size=2M, read-ahead on: S, M, B chunks of every codec read byte-exact, forward and backward" {
	ckpt_mount "$MX" -o ro,cache_size=2M,piece_size=96K
	run check small mount
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"52 arrays"* ]]
	ckpt_unmount
}

@test "cache_size=2M, read-ahead off: S, M, B chunks of every codec read byte-exact, forward and backward" {
	ckpt_mount "$MX" -o ro,cache_size=2M,piece_size=96K,readahead=0
	run check small mount
	echo "$output"
	[ "$status" -eq 0 ]
	ckpt_unmount
}

@test "default options, read-ahead on and off: every array (D 9M, H 33.5M included) reads byte-exact" {
	ckpt_mount "$MX" -o ro
	run check small,large mount
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"62 arrays"* ]]
	ckpt_unmount
	ckpt_mount "$MX" -o ro,readahead=0
	run check small,large mount
	echo "$output"
	[ "$status" -eq 0 ]
	ckpt_unmount
}

@test "ckpt cat: every array reads byte-exact (its defaults: D, H above the threshold and the cache)" {
	run check small,large cat
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"62 arrays"* ]]
}

@test "chunks above the threshold that cannot stream (blosc, crc32c, several inner chunks) decode once, not once per read" {
	local f before
	ckpt_mount "$MX" -o ro,cache_size=2M,piece_size=96K,readahead=0
	for f in v2_blosc_lz4_B v3_crc32c_B v3_shard3_zstd_B v2_none_B; do
		before=$(stat_of decoded_bytes)
		cat "$MNT/100/state/$f" >/dev/null
		# 4 chunks of 3M (the edge chunks padded): 12M; a whole decode
		# per read request was 5 GB
		[ $(($(stat_of decoded_bytes) - before)) -le $((12 << 20)) ] ||
			{ echo "$f: $(($(stat_of decoded_bytes) - before)) decoded"; false; }
	done
	ckpt_unmount
}

@test "an uncompressed chunk of the wrong size above the threshold: EIO and a message naming the chunk and both sizes" {
	local d=$BATS_TEST_TMPDIR/r
	mkdir -p "$d/100/state"
	cp -r "$MX/100/state/v2_none_B" "$d/100/state/"
	: >"$d/100/commit_success.txt"
	truncate -s -4 "$d/100/state/v2_none_B/0.0"
	ckpt_mount "$d" -o ro,cache_size=2M,piece_size=96K
	run cat "$MNT/100/state/v2_none_B"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Input/output error"* ]]
	ckpt_unmount
	grep -q "chunk 'v2_none_B/0.0' holds 3145724 bytes, expected 3145728" "$MNT.log"
	run "$CKPT" cat "$d" 100/state/v2_none_B
	[ "$status" -ne 0 ]
	[[ "$output" == *"'v2_none_B/0.0'"*"holds 3145724 bytes, expected 3145728"* ]]
}

@test "read-ahead in streamed chunks split along a later dimension decodes only as far as the reader goes" {
	local f before
	ckpt_mount "$MX" -o ro,cache_size=2M,piece_size=96K
	for f in v2_zstd_B v2_none_B v2_zstd_M; do
		before=$(stat_of decoded_bytes)
		cat "$MNT/100/state/$f" >/dev/null
		echo "# $f: $(($(stat_of decoded_bytes) - before)) decoded" >&3
		# 3.3 MB read (rows alternate between two chunks): 7 MB decoded
		# mostly, up to 25 MB when the kernel's own read-ahead has the
		# daemon decode ahead of read-ahead; 120-160 MB when read-ahead
		# decoded each chunk to its end
		[ $(($(stat_of decoded_bytes) - before)) -le $((64 << 20)) ] ||
			{ echo "$f: $(($(stat_of decoded_bytes) - before)) decoded"; false; }
	done
	ckpt_unmount
}
