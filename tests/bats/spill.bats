#!/usr/bin/env bats
# The spill (lib/spill.c): pieces of a chunk larger than the cache, decoded
# as a stream again for a reader that went back into it, are also written
# to a bounded spill on local disk, so that a reader going back again reads
# them there instead of starting the stream over.  A chunk read front to
# back, once or twice, is not written (that halved a first pass's speed).
# With the defaults a mount's cache is 32M: chunks above 8M are streamed,
# in pieces of 2M.  The spill's files are made in $TMPDIR (each test points
# it at its own) with no name: their disk use is read through /proc/PID/fd
# (tests/tools/spill_check.py).

load helpers

teardown() { ckpt_teardown; }

stat_of() { jqv "$MNT/.ckptfs-stats" "$1"; }

# same_by_fromfile FILE REF: numpy's fromfile (which seeks to the end first) reads FILE as REF's bytes
same_by_fromfile() {
	$PY -c 'import numpy as np, sys
a = np.fromfile(sys.argv[1], dtype=np.uint8)
b = np.fromfile(sys.argv[2], dtype=np.uint8)
sys.exit(0 if np.array_equal(a, b) else "differs")' "$1" "$2"
}

# settled NAME VALUE: waits (up to 10 s) until the stat is VALUE: the spill
# writes on its own thread, a few pieces behind the decoder
settled() {
	for _ in $(seq 1 200); do
		[ "$(stat_of "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	echo "$1 is $(stat_of "$1"), expected $2" >&2
	return 1
}

# checks PATH REF N: N random reads of PATH compared with REF (the kernel's
# page cache dropped first, so that they reach the daemon)
checks() { $PY "$ROOT/tests/tools/spill_check.py" reads "$@"; }

# written_at_least N: waits (up to 10 s) until the spill has written N
# bytes or more and writes no more (a chunk evicted may be written again)
written_at_least() {
	local last=-1 now
	for _ in $(seq 1 200); do
		now=$(stat_of spill_written)
		[ "$now" -ge "$1" ] && [ "$now" = "$last" ] && return 0
		last=$now
		sleep 0.1
	done
	echo "spill_written is $now, expected at least $1, settled" >&2
	return 1
}

# drop PATH: drops the kernel's page cache of PATH, so that reads reach the daemon
drop() {
	$PY -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)' "$1"
}

# again PATH: reads PATH twice more through the daemon, going back: 1M
# blocks from its end to its start.  A chunk the cache no longer holds is
# decoded again for a reader that went back into it, so spilled: the
# first pass spills those the first full pass left behind, the second the
# rest.
again() {
	$PY -c 'import os,sys
fd = os.open(sys.argv[1], os.O_RDONLY)
n = os.fstat(fd).st_size
for _ in range(2):
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    for off in range((n - 1) // (1 << 20) * (1 << 20), -1, -(1 << 20)):
        os.pread(fd, 1 << 20, off)' "$1"
}

# disk DIR: the bytes the daemon's spill files under DIR hold on disk
disk() { $PY "$ROOT/tests/tools/spill_check.py" disk "$PID" "$1"; }

@test "spill (defaults): a full pass writes nothing, nor a second one; random reads after them decode the leaf at most once more, then nothing; byte-exact; all gone at unmount" {
	local t=$BATS_TEST_TMPDIR first second decoded budget held
	"$CKPT" make "$t/c" --leaves 1 --leaf-bytes 64M --no-fsync >/dev/null
	"$CKPT" cat "$t/c" layer_0000/w_00 >"$t/ref"
	mkdir "$t/tmp"
	TMPDIR=$t/tmp ckpt_mount "$t/c"
	[ "$(ls "$t/tmp")" != "" ] && [ "$(ls "$t/tmp" | wc -l)" = 1 ]
	cmp "$MNT/c/layer_0000/w_00" "$t/ref" # the first full pass
	first=$(stat_of decoded_bytes)
	[ "$first" -ge $((64 << 20)) ]
	[ "$(stat_of spill_written)" = 0 ] && [ "$(stat_of spill_chunks)" = 0 ]
	# a second pass from the start (tar reads NAME.npy after NAME) is
	# decoded again, and not written either
	drop "$MNT/c/layer_0000/w_00"
	cmp "$MNT/c/layer_0000/w_00" "$t/ref"
	second=$(stat_of decoded_bytes)
	[ "$second" -ge $((first + (64 << 20))) ]
	[ "$(stat_of spill_written)" = 0 ]
	# going back into the leaf starts the stream over, spilling this time
	checks "$MNT/c/layer_0000/w_00" "$t/ref" 300 >&3
	again "$MNT/c/layer_0000/w_00"
	[ "$(stat_of decoded_bytes)" -le $((second + (64 << 20))) ]
	settled spill_written $((64 << 20))
	decoded=$(stat_of decoded_bytes)
	checks "$MNT/c/layer_0000/w_00" "$t/ref" 300 >&3
	# from the spill (or the cache, which holds the last 32M), not decoded again
	[ "$(stat_of decoded_bytes)" = "$decoded" ]
	[ "$(stat_of spill_hits)" -ge 100 ]
	# the default bound: 4G, or a quarter of the free space if less
	budget=$(stat_of spill_budget)
	[ "$budget" -gt 0 ] && [ "$budget" -le $((4 << 30)) ]
	held=$(disk "$t/tmp")
	echo "# spill holds $held bytes on disk, spill_bytes $(stat_of spill_bytes), budget $budget" >&3
	[ "$held" -ge $((64 << 20)) ] && [ "$held" -le "$budget" ]
	[ "$held" -le "$(stat_of spill_bytes)" ]
	# read again through the mount (a fourth pass): the same bytes
	drop "$MNT/c/layer_0000/w_00"
	cmp "$MNT/c/layer_0000/w_00" "$t/ref"
	[ "$(stat_of decoded_bytes)" = "$decoded" ]
	ckpt_unmount
	[ -z "$(ls -A "$t/tmp")" ]
}

@test "spill: nothing is left after SIGTERM, nor after SIGKILL (the files have no name)" {
	local t=$BATS_TEST_TMPDIR rc=0
	"$CKPT" make "$t/c" --leaves 1 --leaf-bytes 48M --no-fsync >/dev/null
	mkdir "$t/tmp"
	TMPDIR=$t/tmp ckpt_mount "$t/c"
	cat "$MNT/c/layer_0000/w_00" >/dev/null
	again "$MNT/c/layer_0000/w_00"
	settled spill_written $((48 << 20))
	[ "$(stat_of spill_chunks)" = 1 ]
	[ "$(disk "$t/tmp")" -ge $((48 << 20)) ]
	kill -TERM "$PID"
	wait "$PID" || rc=$?
	echo "# exit status after SIGTERM: $rc" >&3
	! mountpoint -q "$MNT"
	unset 'MOUNTS[-1]' 'PIDS[-1]'
	[ -z "$(ls -A "$t/tmp")" ]
	# SIGKILL: nothing runs, yet the files are gone with the process
	TMPDIR=$t/tmp ckpt_mount "$t/c"
	cat "$MNT/c/layer_0000/w_00" >/dev/null
	again "$MNT/c/layer_0000/w_00"
	[ "$(stat_of spill_chunks)" = 1 ]
	kill -KILL "$PID"
	wait "$PID" || true
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	unset 'MOUNTS[-1]' 'PIDS[-1]'
	[ -z "$(find "$t/tmp" -mindepth 1 ! -type d)" ]
}

@test "spill_size bounds the disk: chunks evicted least recently used first, a chunk larger than the bound keeps its first pieces; reads stay byte-exact" {
	local t=$BATS_TEST_TMPDIR
	# one leaf of four streamed chunks of 16M, 40M of spill: two fit
	"$CKPT" make "$t/m" --leaves 1 --leaf-bytes 64M --chunk-bytes 16M --no-fsync >/dev/null
	"$CKPT" cat "$t/m" layer_0000/w_00 >"$t/mref"
	mkdir "$t/tmp"
	TMPDIR=$t/tmp ckpt_mount "$t/m" -o spill_size=40M
	cmp "$MNT/m/layer_0000/w_00" "$t/mref"
	again "$MNT/m/layer_0000/w_00"
	written_at_least $((64 << 20))
	[ "$(stat_of spill_budget)" = $((40 << 20)) ]
	[ "$(stat_of spill_bytes)" -le $((40 << 20)) ]
	[ "$(stat_of spill_evicted)" -ge $((16 << 20)) ]
	[ "$(disk "$t/tmp")" -le $((40 << 20)) ]
	checks "$MNT/m/layer_0000/w_00" "$t/mref" 60 >&3
	[ "$(stat_of spill_hits)" -gt 0 ]
	[ "$(stat_of spill_bytes)" -le $((40 << 20)) ]
	[ "$(disk "$t/tmp")" -le $((40 << 20)) ]
	ckpt_unmount
	[ -z "$(ls -A "$t/tmp")" ]
	# one chunk of 64M, 24M of spill: its first 12 pieces of 2M
	"$CKPT" make "$t/c" --leaves 1 --leaf-bytes 64M --no-fsync >/dev/null
	"$CKPT" cat "$t/c" layer_0000/w_00 >"$t/ref"
	TMPDIR=$t/tmp ckpt_mount "$t/c" -o spill_size=24M
	cmp "$MNT/c/layer_0000/w_00" "$t/ref"
	again "$MNT/c/layer_0000/w_00"
	settled spill_bytes $((24 << 20))
	[ "$(disk "$t/tmp")" -le $((24 << 20)) ]
	checks "$MNT/c/layer_0000/w_00" "$t/ref" 30 >&3
	[ "$(stat_of spill_bytes)" = $((24 << 20)) ]
	ckpt_unmount
	[ -z "$(ls -A "$t/tmp")" ]
}

@test "spill_size=0: no spill, reads byte-exact as before (a read going back decodes again); chunks the cache holds are never spilled" {
	local t=$BATS_TEST_TMPDIR decoded
	"$CKPT" make "$t/c" --leaves 1 --leaf-bytes 64M --no-fsync >/dev/null
	"$CKPT" cat "$t/c" layer_0000/w_00 >"$t/ref"
	mkdir "$t/tmp"
	TMPDIR=$t/tmp ckpt_mount "$t/c" -o spill_size=0
	[ -z "$(ls -A "$t/tmp")" ]
	cmp "$MNT/c/layer_0000/w_00" "$t/ref"
	decoded=$(stat_of decoded_bytes)
	checks "$MNT/c/layer_0000/w_00" "$t/ref" 20 >&3
	[ "$(stat_of decoded_bytes)" -gt "$decoded" ]
	[ "$(stat_of spill_budget)" = 0 ] && [ "$(stat_of spill_written)" = 0 ]
	ckpt_unmount
	# 4M chunks are decoded whole and cached: nothing to spill
	"$CKPT" make "$t/s" --leaves 1 --leaf-bytes 64M --chunk-bytes 4M --no-fsync >/dev/null
	TMPDIR=$t/tmp ckpt_mount "$t/s"
	cat "$MNT/s/layer_0000/w_00" >/dev/null
	[ "$(stat_of spill_written)" = 0 ] && [ "$(stat_of spill_chunks)" = 0 ]
	ckpt_unmount
	[ -z "$(ls -A "$t/tmp")" ]
}

@test "spill_dir: the files are made there with no name, nothing is left; one that cannot be used is refused at mount" {
	local t=$BATS_TEST_TMPDIR
	"$CKPT" make "$t/c" --leaves 1 --leaf-bytes 48M --no-fsync >/dev/null
	mkdir "$t/sd"
	ckpt_mount "$t/c" -o spill_dir="$t/sd",spill_size=1G
	cat "$MNT/c/layer_0000/w_00" >/dev/null
	again "$MNT/c/layer_0000/w_00"
	settled spill_written $((48 << 20))
	# written there, under no name
	[ -z "$(ls -A "$t/sd")" ]
	ls -l /proc/$PID/fd | grep -q "$t/sd"
	ckpt_unmount
	[ -z "$(ls -A "$t/sd")" ]
	mkdir "$t/mp"
	run "$CKPTFS" "$t/c" "$t/mp" -f -o spill_dir="$t/nonexistent"
	[ "$status" -ne 0 ]
	[[ "$output" == *"spill directory in '$t/nonexistent'"* ]]
	run "$CKPTFS" "$t/c" "$t/mp" -f -o spill_size=lots
	[ "$status" -ne 0 ]
	[[ "$output" == *"bad spill_size 'lots'"* ]]
	! mountpoint -q "$t/mp"
}

@test "spill: a reader that reads a leaf's last bytes first (numpy's fromfile does) decodes it once: the pieces passed over are spilled" {
	local t=$BATS_TEST_TMPDIR
	# not a whole number of 4 KiB blocks: glibc reads the last partial one
	# when numpy seeks to the end
	"$CKPT" make "$t/c" --leaves 1 --leaf-bytes 67110000 --no-fsync >/dev/null
	"$CKPT" cat "$t/c" layer_0000/w_00 >"$t/ref"
	mkdir "$t/tmp"
	TMPDIR=$t/tmp ckpt_mount "$t/c"
	same_by_fromfile "$MNT/c/layer_0000/w_00" "$t/ref"
	echo "# decoded $(stat_of decoded_bytes), spilled $(stat_of spill_written)" >&3
	# one decoding, not two (plus the piece read-ahead may have had in hand)
	[ "$(stat_of decoded_bytes)" -le $(((64 + 4) << 20)) ]
	[ "$(stat_of spill_written)" -ge $((32 << 20)) ]
	ckpt_unmount
	[ -z "$(ls -A "$t/tmp")" ]
}

@test "st_blksize divides a leaf's size where a power of two from 512 B up can: numpy's fromfile then reads no last block first, and a one-chunk leaf is decoded once with nothing spilled" {
	local t=$BATS_TEST_TMPDIR
	# 64 MiB + 1 KiB: 8 KiB (glibc's largest stdio buffer) does not divide it, 1 KiB does
	"$CKPT" make "$t/c" --leaves 1 --leaf-bytes 67109888 --no-fsync >/dev/null
	"$CKPT" cat "$t/c" layer_0000/w_00 >"$t/ref"
	ckpt_mount "$t/c" -o ro
	[ "$(stat -c %o "$MNT/c/layer_0000/w_00")" = 1024 ]
	# sizes 8 KiB divides, and those no power of two from 512 B divides, keep 128 KiB (cat's buffer)
	[ "$(stat -c %o "$MNT/c/layer_0000/w_00.npy")" = 131072 ]
	same_by_fromfile "$MNT/c/layer_0000/w_00" "$t/ref"
	echo "# decoded $(stat_of decoded_bytes), spilled $(stat_of spill_written)" >&3
	[ "$(stat_of decoded_bytes)" -le $(((64 + 4) << 20)) ]
	[ "$(stat_of spill_written)" -eq 0 ]
	ckpt_unmount
}
