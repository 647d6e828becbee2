# Shared helpers for the end-to-end tests.  Every test that mounts calls
# ckpt_mount and relies on teardown (ckpt_teardown) to unmount, even when
# the test failed.

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
CKPTFS=$BUILD/fs/ckptfs
CKPT=$BUILD/tools/ckpt
SHARED=$(cd "$ROOT/../shared" && pwd)
FIX=$SHARED/fixtures/orbax
REAL=$ROOT/tests/fixtures/real
PY=/usr/bin/python3

MOUNTS=()
PIDS=()

# ckpt_mount SOURCE [ckptfs options...]: mounts SOURCE on a new directory in
# the foreground (daemon stderr goes to $MNT.log), waits until it serves,
# and sets MNT and PID.
ckpt_mount() {
	local src=$1
	shift
	MNT=$(mktemp -d "$BATS_TEST_TMPDIR/mnt.XXXXXX")
	"$CKPTFS" "$src" "$MNT" -f "$@" 2>"$MNT.log" &
	PID=$!
	MOUNTS+=("$MNT")
	PIDS+=("$PID")
	for _ in $(seq 1 200); do
		if mountpoint -q "$MNT"; then
			return 0
		fi
		if ! kill -0 "$PID" 2>/dev/null; then
			echo "ckptfs exited before mounting:" >&2
			cat "$MNT.log" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "ckptfs did not mount within 10 s" >&2
	return 1
}

# ckpt_unmount: unmounts the last mount and checks the daemon exited 0.
ckpt_unmount() {
	fusermount3 -u "$MNT"
	local rc=0
	wait "$PID" || rc=$?
	[ "$rc" -eq 0 ] || { echo "ckptfs exited with $rc" >&2; cat "$MNT.log" >&2; return 1; }
	unset 'MOUNTS[-1]' 'PIDS[-1]'
}

# crash_run POINT DIR SUB CMD...: mounts DIR with the fault point POINT
# armed and runs CMD (an edit) in $MNT/SUB; if the daemon died at the point
# (exit 99), the edit must have failed.  Sets CRASHED=1 when it did; the
# mount is gone either way.
crash_run() {
	local point=$1 dir=$2 sub=$3
	shift 3
	CKPTFS_FAULT=$point ckpt_mount "$dir" -o rw
	local pid=$PID rc=0
	CRASHED=0
	if (cd "$MNT/$sub" && "$@"); then
		ckpt_unmount # the point was not on this edit's path
	else
		wait "$pid" || rc=$?
		[ "$rc" -eq 99 ] || { echo "$point: edit failed, daemon exit $rc" >&2; cat "$MNT.log" >&2; return 1; }
		CRASHED=1
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
		unset 'MOUNTS[-1]' 'PIDS[-1]'
	fi
}

ckpt_teardown() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		if mountpoint -q "${MOUNTS[$i]}" 2>/dev/null; then
			fusermount3 -u "${MOUNTS[$i]}" 2>/dev/null || fusermount3 -uz "${MOUNTS[$i]}" 2>/dev/null ||
				umount -l "${MOUNTS[$i]}" 2>/dev/null || true
		fi
		kill "${PIDS[$i]}" 2>/dev/null || true
		wait "${PIDS[$i]}" 2>/dev/null || true
	done
	MOUNTS=()
	PIDS=()
}

# ints FILE TYPE: the numbers in FILE, space separated (od -t TYPE)
ints() {
	od -A n -v -t "$2" "$1" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
}

# jqv FILE EXPR: a value from a JSON file (python, so no jq is needed)
jqv() {
	$PY -c 'import json,sys; v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v) if not isinstance(v, str) else v)' "$1" "$2"
}
