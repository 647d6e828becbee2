#!/usr/bin/env bats
# Two writers on one checkpoint: two read-write mounts, a mount and ckpt
# prune, a writer killed while it holds the item's lock.  Every edit lands or
# its close reports an error; none is lost silently; the checkpoint verifies.

load helpers

teardown() { ckpt_teardown; }

verify_ocdbt() {
	$PY "$SHARED/tools/ocdbt_ref.py" verify "$1" >/dev/null
}

# unmount_at MNT PID: ckpt_unmount for a mount other than the last one made
unmount_at() {
	MNT=$1 PID=$2 ckpt_unmount_at
}

ckpt_unmount_at() {
	fusermount3 -u "$MNT"
	local rc=0
	wait "$PID" || rc=$?
	[ "$rc" -eq 0 ] || { echo "ckptfs exited with $rc" >&2; cat "$MNT.log" >&2; return 1; }
}

mk() {
	local name=$1
	shift
	"$CKPT" make "$BATS_TEST_TMPDIR/$name" --extras --json-item --no-fsync --leaves 4 \
		--leaf-bytes 64K --chunk-bytes 16K "$@" >/dev/null
}

# writes N: 4-byte records "%04d" i at offset 4*i of leaf $2 under mount $1,
# all N at once (dd conv=notrunc); the exit status of record i goes to $3.i
writes() {
	local m=$1 leaf=$2 out=$3 n=$4 i
	for ((i = 0; i < n; i++)); do
		# (errexit is on in subshells: the status is taken with if)
		(if printf '%04d' $i | dd of="$m/$leaf" bs=4 seek=$i conv=notrunc status=none 2>"$out.err.$i"
		 then echo 0 >"$out.$i"; else echo 1 >"$out.$i"; fi) &
		WJOBS+=($!)
	done
}

# checks N records of $2 under mount $1 against the statuses in $3.i:
# a write that reported success must be there; prints "landed failed"
check_writes() {
	local m=$1 leaf=$2 out=$3 n=$4 i landed=0 failed=0 got
	for ((i = 0; i < n; i++)); do
		got=$(dd if="$m/$leaf" bs=4 skip=$i count=1 status=none)
		if [ "$(cat "$out.$i")" = 0 ]; then
			[ "$got" = "$(printf '%04d' $i)" ] || { echo "write $i of $leaf reported success, not there: '$got'" >&2; return 1; }
			landed=$((landed + 1))
		else
			failed=$((failed + 1))
		fi
	done
	echo "$landed $failed"
}

# every file of the checkpoint reads (leaves, .json, versions)
read_all() {
	find "$1" -type f -exec cat {} + >/dev/null
}

@test "two read-write mounts edit one item at once (20 writes each, different leaves): every success lands, the item verifies" {
	local kind args
	for kind in ocdbt plain; do
		args=; [ $kind = plain ] && args=--no-ocdbt
		mk $kind $args
		local c=$BATS_TEST_TMPDIR/$kind
		ckpt_mount "$c" -o rw
		local m1=$MNT p1=$PID
		ckpt_mount "$c" -o rw
		local m2=$MNT p2=$PID
		WJOBS=()
		writes "$m1/$kind/state" layer_0000/w_00 "$BATS_TEST_TMPDIR/a$kind" 20
		writes "$m2/$kind/state" layer_0000/w_01 "$BATS_TEST_TMPDIR/b$kind" 20
		wait "${WJOBS[@]}"
		local ra rb
		unmount_at "$m2" "$p2"
		unmount_at "$m1" "$p1"
		MOUNTS=() PIDS=()
		[ $kind = plain ] || verify_ocdbt "$c/state"
		ckpt_mount "$c" -o ro
		ra=$(check_writes "$MNT/$kind/state" layer_0000/w_00 "$BATS_TEST_TMPDIR/a$kind" 20)
		rb=$(check_writes "$MNT/$kind/state" layer_0000/w_01 "$BATS_TEST_TMPDIR/b$kind" 20)
		echo "# $kind: landed/failed: mount 1 $ra, mount 2 $rb" >&3
		# the two mounts wait for each other and retry on the other's state
		# (under sanitizers, 20 times slower, a write may still lose 20 times
		# in a row: it failed, and said so)
		[ -n "${CKPTFS_SANITIZED:-}" ] || { [ "$ra" = "20 0" ] && [ "$rb" = "20 0" ]; }
		read_all "$MNT"
		ckpt_unmount
	done
}

@test "a mount edits while ckpt prune runs in a loop: every success lands, the item verifies" {
	mk ocdbt
	local c=$BATS_TEST_TMPDIR/ocdbt
	ckpt_mount "$c" -o rw
	(for _ in $(seq 1 30); do "$CKPT" prune "$c" ocdbt/state >/dev/null || touch "$BATS_TEST_TMPDIR/prune-failed"; done) &
	local pruner=$!
	local i
	for ((i = 0; i < 20; i++)); do
		if printf '%04d' $i | dd of="$MNT/ocdbt/state/layer_0000/w_00" bs=4 seek=$i conv=notrunc \
			status=none 2>"$BATS_TEST_TMPDIR/p.err.$i"; then
			echo 0 >"$BATS_TEST_TMPDIR/p.$i"
		else
			echo 1 >"$BATS_TEST_TMPDIR/p.$i"
		fi
	done
	wait $pruner
	[ ! -e "$BATS_TEST_TMPDIR/prune-failed" ]
	ckpt_unmount
	verify_ocdbt "$c/state"
	ckpt_mount "$c" -o ro
	local r
	r=$(check_writes "$MNT/ocdbt/state" layer_0000/w_00 "$BATS_TEST_TMPDIR/p" 20)
	echo "# landed/failed: $r" >&3
	[ -n "${CKPTFS_SANITIZED:-}" ] || [ "$r" = "20 0" ]
	read_all "$MNT"
	ckpt_unmount
}

@test "a writer killed while it holds the item's lock does not block the next one" {
	mk ocdbt
	local c=$BATS_TEST_TMPDIR/ocdbt
	# another process holds the lock: an edit waits for it...
	$PY -c "
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print('locked', flush=True)
time.sleep(120)" "$c/state" >"$BATS_TEST_TMPDIR/holder.out" &
	local holder=$!
	for _ in $(seq 1 100); do grep -q locked "$BATS_TEST_TMPDIR/holder.out" && break; sleep 0.05; done
	ckpt_mount "$c" -o rw
	(printf 'ABCD' | dd of="$MNT/ocdbt/state/layer_0000/w_00" bs=4 conv=notrunc status=none) &
	local writer=$!
	sleep 1
	kill -0 $writer # still waiting
	# ...until the holder dies by SIGKILL
	kill -KILL $holder
	wait $writer
	[ "$(head -c 4 "$MNT/ocdbt/state/layer_0000/w_00")" = ABCD ]
	ckpt_unmount
	# a daemon that dies inside a commit (after its data, with the lock)
	crash_run edit-data "$c" ocdbt/state bash -c "printf 'EFGH' | dd of=layer_0000/w_01 conv=notrunc status=none"
	[ "$CRASHED" = 1 ]
	ckpt_mount "$c" -o rw
	local t0=$SECONDS
	printf 'IJKL' | dd of="$MNT/ocdbt/state/layer_0000/w_01" bs=4 conv=notrunc status=none
	[ $((SECONDS - t0)) -lt 5 ]
	[ "$(head -c 4 "$MNT/ocdbt/state/layer_0000/w_01")" = IJKL ]
	ckpt_unmount
	verify_ocdbt "$c/state"
}

@test "a held lock past the wait: the edit fails with EBUSY naming the item, the item unchanged" {
	mk ocdbt
	local c=$BATS_TEST_TMPDIR/ocdbt
	$PY -c "
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print('locked', flush=True)
time.sleep(60)" "$c/state" >"$BATS_TEST_TMPDIR/holder.out" &
	local holder=$!
	for _ in $(seq 1 100); do grep -q locked "$BATS_TEST_TMPDIR/holder.out" && break; sleep 0.05; done
	ckpt_mount "$c" -o rw
	local before
	before=$(sha256sum <"$MNT/ocdbt/state/layer_0000/w_00")
	run bash -c "printf 'ABCD' | dd of='$MNT/ocdbt/state/layer_0000/w_00' bs=4 conv=notrunc status=none"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Device or resource busy"* ]]
	grep -q "state' is being edited by another process" "$MNT.log"
	[ "$(sha256sum <"$MNT/ocdbt/state/layer_0000/w_00")" = "$before" ]
	kill -KILL $holder
	ckpt_unmount
	[ "$(head -c 4 "$c/state/manifest.ocdbt" | wc -c)" = 4 ]
}

@test "a change made by another writer while mounted is noticed at the next edit, not overwritten" {
	local kind args
	for kind in ocdbt plain; do
		args=; [ $kind = plain ] && args=--no-ocdbt
		mk $kind $args
		local c=$BATS_TEST_TMPDIR/$kind
		ckpt_mount "$c" -o rw
		local m1=$MNT p1=$PID
		ls "$m1/$kind/state" >/dev/null # the item is read
		# another writer (here: another mount, then unmounted) changes the tree and a leaf
		ckpt_mount "$c" -o rw
		mkdir "$MNT/$kind/state/from_other"
		printf 'WXYZ' | dd of="$MNT/$kind/state/layer_0000/w_01" bs=4 conv=notrunc status=none
		ckpt_unmount
		MNT=$m1 PID=$p1
		# the first mount's next edits: made on the new state, which they keep
		mkdir "$m1/$kind/state/from_first"
		printf 'ABCD' | dd of="$m1/$kind/state/layer_0000/w_00" bs=4 conv=notrunc status=none
		[ -d "$m1/$kind/state/from_other" ]
		[ "$(head -c 4 "$m1/$kind/state/layer_0000/w_01")" = WXYZ ]
		ckpt_unmount
		[ $kind = plain ] || verify_ocdbt "$c/state"
		ckpt_mount "$c" -o ro
		[ -d "$MNT/$kind/state/from_other" ] && [ -d "$MNT/$kind/state/from_first" ]
		[ "$(head -c 4 "$MNT/$kind/state/layer_0000/w_01")" = WXYZ ]
		[ "$(head -c 4 "$MNT/$kind/state/layer_0000/w_00")" = ABCD ]
		ckpt_unmount
		"$CKPT" versions "$c" | grep -q "mkdir.*from_other\|from_other"
	done
}

@test "two read-write mounts edit one Flax msgpack file at once: every success lands, the file decodes" {
	local d=$BATS_TEST_TMPDIR/flax
	$PY "$ROOT/tests/tools/make_flax.py" "$d"
	ckpt_mount "$d" -o rw
	local m1=$MNT p1=$PID
	ckpt_mount "$d" -o rw
	local m2=$MNT p2=$PID
	WJOBS=()
	writes "$m1/checkpoint_10" dtypes/int32 "$BATS_TEST_TMPDIR/a" 6
	writes "$m2/checkpoint_10" dtypes/uint32 "$BATS_TEST_TMPDIR/b" 6
	wait "${WJOBS[@]}"
	unmount_at "$m2" "$p2"
	unmount_at "$m1" "$p1"
	MOUNTS=() PIDS=()
	$PY -c "import msgpack; msgpack.unpackb(open('$d/checkpoint_10','rb').read(), strict_map_key=False)"
	ckpt_mount "$d" -o ro
	local ra rb
	ra=$(check_writes "$MNT/checkpoint_10" dtypes/int32 "$BATS_TEST_TMPDIR/a" 6)
	rb=$(check_writes "$MNT/checkpoint_10" dtypes/uint32 "$BATS_TEST_TMPDIR/b" 6)
	echo "# landed/failed: mount 1 $ra, mount 2 $rb" >&3
	[ -n "${CKPTFS_SANITIZED:-}" ] || { [ "$ra" = "6 0" ] && [ "$rb" = "6 0" ]; }
	read_all "$MNT"
	ckpt_unmount
}
