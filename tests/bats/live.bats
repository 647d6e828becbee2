#!/usr/bin/env bats
# Evaluation mounts: steps that appear and disappear while mounted, other
# users reading through allow_other.

load helpers

teardown() {
	ckpt_teardown
	[ -z "${AO_DIR:-}" ] || rm -rf "$AO_DIR"
}

# wait_for CMD...: retries CMD for up to 3 s
wait_for() {
	local i
	for i in $(seq 1 60); do
		"$@" && return 0
		sleep 0.05
	done
	"$@"
}

@test "new steps appear within about a second, deleted ones disappear, latest follows" {
	local t=$BATS_TEST_TMPDIR
	"$CKPT" make "$t/gen" --steps 4 --leaves 2 --leaf-bytes 1K --no-fsync >/dev/null
	mkdir "$t/root"
	cp -r "$t/gen/metadata" "$t/root/" 2>/dev/null || true
	mv "$t/gen/0" "$t/gen/1" "$t/root/"
	ckpt_mount "$t/root" -o ro
	[ "$(ls "$MNT" | tr '\n' ' ')" = "0 0.json 1 1.json latest " ]
	[ "$(readlink "$MNT/latest")" = 1 ]
	ls "$MNT/1/state" >/dev/null
	# a step being written is never shown; committed by rename, as Orbax does
	cp -r "$t/gen/2" "$t/root/2.orbax-checkpoint-tmp-1234"
	sleep 1.2
	[ "$(ls "$MNT" | tr '\n' ' ')" = "0 0.json 1 1.json latest " ]
	local t0 t1
	t0=$(date +%s%N)
	mv "$t/root/2.orbax-checkpoint-tmp-1234" "$t/root/2"
	wait_for test -d "$MNT/2/state"
	t1=$(date +%s%N)
	echo "# step 2 visible after $(((t1 - t0) / 1000000)) ms" >&3
	[ $(((t1 - t0) / 1000000)) -lt 1500 ]
	wait_for test "$(readlink "$MNT/latest")" = 2
	cmp <("$CKPT" cat "$t/root" 2/state/layer_0000/w_00) "$MNT/2/state/layer_0000/w_00"
	# deleted while mounted, after the kernel cached it
	rm -rf "$t/root/0"
	wait_for test ! -e "$MNT/0"
	[ "$(ls "$MNT" | tr '\n' ' ')" = "1 1.json 2 2.json latest " ]
	# saved again under a deleted name: the new step, not the cached old one
	local old
	old=$(sha256sum <"$MNT/1/state/layer_0000/w_00")
	rm -rf "$t/root/1"
	wait_for test ! -e "$MNT/1"
	mv "$t/gen/3" "$t/root/1"
	wait_for test -d "$MNT/1/state"
	[ "$(sha256sum <"$MNT/1/state/layer_0000/w_00")" != "$old" ]
	cmp <("$CKPT" cat "$t/root" 1/state/layer_0000/w_00) "$MNT/1/state/layer_0000/w_00"
	# the whole directory emptied
	rm -rf "$t/root/1" "$t/root/2"
	wait_for test ! -e "$MNT/latest"
	[ "$(ls "$MNT")" = "" ]
}

@test "a step replaced under its own name (Flax overwrite, an Orbax step deleted and saved again at once) shows the new content" {
	local t=$BATS_TEST_TMPDIR old
	$PY "$ROOT/tests/tools/make_flax.py" "$t/root" >/dev/null
	"$CKPT" make "$t/gen" --steps 2 --leaves 1 --leaf-bytes 1K --no-fsync >/dev/null
	mv "$t/gen/0" "$t/root/40"
	ckpt_mount "$t/root" -o ro
	[ "$(ints "$MNT/checkpoint_10/step" d4)" = 2282 ]
	old=$(sha256sum <"$MNT/40/state/layer_0000/w_00")
	# what flax.training.checkpoints.save_checkpoint(overwrite=True) does: a new file renamed over
	cp "$t/root/checkpoint_20" "$t/root/checkpoint_tmp" && mv "$t/root/checkpoint_tmp" "$t/root/checkpoint_10"
	# an Orbax step deleted and saved again within one look of the watcher
	rm -rf "$t/root/40" && mv "$t/gen/1" "$t/root/40"
	step_is() { [ "$(ints "$MNT/checkpoint_10/step" d4)" = "$1" ]; }
	leaf_changed() { [ "$(sha256sum <"$MNT/40/state/layer_0000/w_00")" != "$old" ]; }
	wait_for step_is 2283
	wait_for leaf_changed
	cmp <("$CKPT" cat "$t/root" 40/state/layer_0000/w_00) "$MNT/40/state/layer_0000/w_00"
}

@test "without inotify, polling finds new steps within about a second" {
	local t=$BATS_TEST_TMPDIR
	"$CKPT" make "$t/gen" --steps 2 --leaves 1 --leaf-bytes 1K --no-fsync >/dev/null
	mkdir "$t/root"
	mv "$t/gen/0" "$t/root/"
	CKPTFS_NO_INOTIFY=1 ckpt_mount "$t/root" -o ro
	[ "$(readlink "$MNT/latest")" = 0 ]
	mv "$t/gen/1" "$t/root/1"
	sleep 1.5
	[ "$(readlink "$MNT/latest")" = 1 ]
	[ -d "$MNT/1/state" ]
	grep -q "no inotify" "$MNT.log"
}

@test "another user reads through -o allow_other; without it they cannot" {
	AO_DIR=$(mktemp -d /tmp/ckptfs-ao.XXXXXX)
	chmod 755 "$AO_DIR"
	"$CKPT" make "$AO_DIR/c" --leaves 2 --leaf-bytes 1K --no-fsync >/dev/null
	chmod -R a+rX "$AO_DIR/c"
	local as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	mkdir "$AO_DIR/m"
	MNT=$AO_DIR/m
	"$CKPTFS" "$AO_DIR/c" "$MNT" -f -o ro,allow_other 2>"$AO_DIR/log" &
	PID=$!
	MOUNTS+=("$MNT")
	PIDS+=("$PID")
	wait_for mountpoint -q "$MNT"
	$as_nobody cat "$MNT/c/layer_0000/w_00" | cmp - <("$CKPT" cat "$AO_DIR/c" layer_0000/w_00)
	$as_nobody ls -l "$MNT/c/layer_0000" >/dev/null
	run $as_nobody sh -c "echo x > '$MNT/c/layer_0000/w_00'"
	[ "$status" -ne 0 ]
	ckpt_unmount
	"$CKPTFS" "$AO_DIR/c" "$MNT" -f -o ro 2>"$AO_DIR/log" &
	PID=$!
	MOUNTS+=("$MNT")
	PIDS+=("$PID")
	wait_for mountpoint -q "$MNT"
	run $as_nobody cat "$MNT/c/layer_0000/w_00"
	[ "$status" -ne 0 ] && [[ "$output" == *"Permission denied"* ]]
	ckpt_unmount
}

@test "as a daemon (no -f): returns when serving, decodes ahead, exits on unmount" {
	local t=$BATS_TEST_TMPDIR
	"$CKPT" make "$t/c" --leaves 1 --leaf-bytes 8M --chunk-bytes 256K --values pattern --no-fsync >/dev/null
	mkdir "$t/m"
	MNT=$t/m
	MOUNTS+=("$MNT")
	PIDS+=("")
	# the parent returns once the mount serves: the next command may use it
	"$CKPTFS" "$t/c" "$MNT" -o ro
	$PY "$ROOT/tests/tools/check_pattern.py" "$MNT/c" 1
	local pid
	pid=$(pgrep -n -f "ckptfs $t/c $MNT")
	[ "$(jqv "$MNT/.ckptfs-stats" readahead_jobs)" -gt 0 ]
	fusermount3 -u "$MNT"
	wait_for sh -c "! kill -0 $pid 2>/dev/null"
	unset 'MOUNTS[-1]' 'PIDS[-1]'
}

@test "-o rescan sets how often SOURCE is looked at (network file systems); source_scans counts it; rescan=0 only on inotify's word" {
	local t=$BATS_TEST_TMPDIR a b
	"$CKPT" make "$t/gen" --steps 3 --leaves 1 --leaf-bytes 1K --no-fsync >/dev/null
	mkdir "$t/root"
	mv "$t/gen/0" "$t/root/"
	# without inotify (as on NFS): every 0.2 s
	CKPTFS_NO_INOTIFY=1 ckpt_mount "$t/root" -o ro,rescan=0.2
	a=$(jqv "$MNT/.ckptfs-stats" source_scans)
	sleep 1.5
	b=$(jqv "$MNT/.ckptfs-stats" source_scans)
	echo "# rescan=0.2: $((b - a)) scans in 1.5 s" >&3
	[ $((b - a)) -ge 4 ] && [ $((b - a)) -le 12 ]
	grep -q "rescanning every 200 ms" "$MNT.log"
	ckpt_unmount
	# every 30 s: a quiet SOURCE is not looked at in between
	CKPTFS_NO_INOTIFY=1 ckpt_mount "$t/root" -o ro,rescan=30
	a=$(jqv "$MNT/.ckptfs-stats" source_scans)
	sleep 1.5
	[ "$(jqv "$MNT/.ckptfs-stats" source_scans)" -eq "$a" ]
	ckpt_unmount
	# rescan=0 with inotify: a new step still appears, and nothing is polled
	ckpt_mount "$t/root" -o ro,rescan=0
	[ "$(readlink "$MNT/latest")" = 0 ]
	mv "$t/gen/1" "$t/root/1"
	latest_is() { [ "$(readlink "$MNT/latest")" = "$1" ]; }
	wait_for latest_is 1
	a=$(jqv "$MNT/.ckptfs-stats" source_scans)
	sleep 1.5
	[ "$(jqv "$MNT/.ckptfs-stats" source_scans)" -eq "$a" ]
	run "$CKPTFS" "$t/root" "$t/gen" -f -o rescan=soon
	[ "$status" -eq 1 ]
	[[ "$output" == *"rescan must be seconds"* ]]
}
