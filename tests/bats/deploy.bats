#!/usr/bin/env bats
# The deployment recipes of docs/deploy.md, run for real: an /etc/fstab
# line through mount(8) and mount.fuse3, the systemd units (verified, and
# their mount run as systemd runs it), the container recipe through
# /dev/fd/N (deploy/ckptfs-fd-mount, ckptfs without privilege),
# auto_unmount, mount.fuse3's drop_privileges, and allow_other with
# user_allow_other.  mount(8) runs helpers with the standard PATH, so the
# tests that go through it run in a private mount namespace (unshare -m)
# where /usr/local/bin holds the ckptfs under test; nothing of the machine
# is changed.

load helpers

setup() {
	# readable by nobody (setpriv --reuid=65534) all the way down
	D=$(mktemp -d /tmp/ckptfs-deploy.XXXXXX)
	chmod 755 "$D"
	"$CKPT" make "$D/c" --steps 2 --leaves 2 --leaf-bytes 1K --no-fsync >/dev/null
	chmod -R a+rX "$D/c"
	"$CKPT" cat "$D/c" 1/state/layer_0000/w_00 >"$D/expect"
	chmod 644 "$D/expect"
	mkdir "$D/m" "$D/bin"
	ln -s "$CKPTFS" "$D/bin/ckptfs"
	LEAF=$D/m/1/state/layer_0000/w_00
}

teardown() {
	ckpt_teardown
	if mountpoint -q "$D/m" 2>/dev/null; then
		umount "$D/m" 2>/dev/null || umount -l "$D/m" 2>/dev/null || true
	fi
	rm -rf "$D"
}

# wait_for CMD...: retries CMD for up to 5 s
wait_for() {
	local i
	for i in $(seq 1 100); do
		"$@" && return 0
		sleep 0.05
	done
	"$@"
}

# in_ns SCRIPT: runs SCRIPT (bash) in a private mount namespace where
# /usr/local/bin is $D/bin (this build's ckptfs); on any exit the script's
# mount on $D/m is taken down, so no daemon outlives the namespace
in_ns() {
	unshare -m --propagation private bash -euc "
		mount --bind '$D/bin' /usr/local/bin
		trap 'umount -l \"$D/m\" 2>/dev/null || true' EXIT
		$1" 
}

# not CMD...: fails if CMD succeeds (a bare `! CMD` does not fail a test)
not() {
	if "$@"; then
		echo "unexpectedly succeeded: $*" >&2
		return 1
	fi
}

# daemon_gone: no ckptfs of this test's SOURCE is left running
daemon_gone() {
	! pgrep -f "ckptfs $D/c " >/dev/null
}

@test "fstab: the fuse.ckptfs lines of deploy/fstab mount with mount -T, read-only, and umount ends the daemon" {
	local line n=0
	while read -r line; do
		line=${line#\#}
		[[ "$line" == /data/checkpoints* ]] || continue
		n=$((n + 1))
		# docs/deploy.md shows the same line
		grep -qF "$line" "$ROOT/docs/deploy.md"
		echo "$line" | awk -v s="$D/c" -v m="$D/m" '{ $1 = s; $2 = m; print }' >"$D/fstab"
		in_ns "
			mount -T '$D/fstab' '$D/m'
			findmnt -n -o FSTYPE,OPTIONS '$D/m' >'$D/findmnt'
			cmp '$LEAF' '$D/expect'
			setpriv --reuid=65534 --regid=65534 --clear-groups cat '$LEAF' | cmp - '$D/expect'
			if sh -c 'echo x > \"$LEAF\"' 2>'$D/write.err'; then exit 1; fi
			umount '$D/m'
		"
		grep -q '^fuse.ckptfs ro,' "$D/findmnt"
		grep -q 'Read-only file system' "$D/write.err"
		wait_for daemon_gone
		not mountpoint -q "$D/m"
	done <"$ROOT/deploy/fstab"
	[ "$n" -eq 2 ]
}

@test "systemd: the units verify, agree with each other, and their mount runs as systemd runs it" {
	local u=$ROOT/deploy/mnt-ckpt.mount a=$ROOT/deploy/mnt-ckpt.automount
	key() { sed -n "s/^$2=//p" "$1"; }
	[ "$(key "$u" Where)" = /mnt/ckpt ] && [ "$(key "$a" Where)" = /mnt/ckpt ]
	[ "$(key "$u" Type)" = fuse.ckptfs ]
	[ "$(key "$a" TimeoutIdleSec)" = 10min ]
	if command -v systemd-escape >/dev/null; then
		[ "$(systemd-escape -p --suffix=mount /mnt/ckpt)" = mnt-ckpt.mount ]
	fi
	if command -v systemd-analyze >/dev/null; then
		# Documentation=man:ckptfs(1) is looked up: give man the page
		mkdir -p "$D/man/man1"
		cp "$ROOT/docs/ckptfs.1" "$D/man/man1/"
		MANPATH=$D/man systemd-analyze verify "$u" "$a"
	else
		echo "# systemd-analyze not installed: unit files parsed only" >&3
	fi
	# systemd runs: mount -t TYPE -o OPTIONS WHAT WHERE
	in_ns "
		mount -t '$(key "$u" Type)' -o '$(key "$u" Options)' '$D/c' '$D/m'
		findmnt -n -o FSTYPE,OPTIONS '$D/m' >'$D/findmnt'
		# allow_other: another user reads
		setpriv --reuid=65534 --regid=65534 --clear-groups cat '$LEAF' | cmp - '$D/expect'
		umount '$D/m'
	"
	grep -q '^fuse.ckptfs ro,nosuid,nodev,.*allow_other' "$D/findmnt"
	wait_for daemon_gone
}

@test "container: ckptfs-fd-mount mounts, ckptfs serves /dev/fd/N as nobody without capabilities, and it unmounts after the command" {
	run "$ROOT/deploy/ckptfs-fd-mount" --ckptfs "$CKPTFS" --user 65534:65534 "$D/c" "$D/m" -- bash -c "
		pid=\$(pgrep -a -x ckptfs | grep -F '$D/c /dev/fd/' | cut -d' ' -f1)
		grep -E '^(Uid|CapEff|CapPrm):' /proc/\$pid/status >'$D/status'
		findmnt -n -o FSTYPE,OPTIONS '$D/m' >'$D/findmnt'
		setpriv --reuid=65534 --regid=65534 --clear-groups cmp '$LEAF' '$D/expect'
		exit 7"
	echo "$output"
	[ "$status" -eq 7 ]
	grep -q '^Uid:[[:space:]]*65534' "$D/status"
	grep -q '^CapEff:[[:space:]]*0*$' "$D/status"
	grep -q '^CapPrm:[[:space:]]*0*$' "$D/status"
	grep -q '^fuse.ckptfs ro,nosuid,nodev,.*user_id=65534' "$D/findmnt"
	not mountpoint -q "$D/m"
	wait_for daemon_gone
}

@test "container: ckptfs-fd-mount unmounts when ckptfs is killed (the part auto_unmount cannot play on /dev/fd/N)" {
	"$ROOT/deploy/ckptfs-fd-mount" --ckptfs "$CKPTFS" "$D/c" "$D/m" 2>"$D/err" &
	local helper=$! pid rc=0
	wait_for mountpoint -q "$D/m"
	cmp "$LEAF" "$D/expect"
	pid=$(pgrep -a -x ckptfs | grep -F "$D/c /dev/fd/" | cut -d' ' -f1)
	kill -KILL "$pid"
	wait "$helper" || rc=$?
	[ "$rc" -eq 1 ]
	grep -q 'ckptfs ended with status -9' "$D/err"
	not mountpoint -q "$D/m"
}

@test "auto_unmount: a killed daemon leaves no dead mount behind" {
	"$CKPTFS" "$D/c" "$D/m" -o ro,auto_unmount
	MOUNTS+=("$D/m")
	PIDS+=("")
	cmp "$LEAF" "$D/expect"
	local pid
	pid=$(pgrep -f "^$CKPTFS $D/c $D/m")
	kill -KILL "$pid"
	wait_for sh -c "! mountpoint -q '$D/m'"
	# without auto_unmount the same kill leaves "Transport endpoint is not connected"
	"$CKPTFS" "$D/c" "$D/m" -o ro
	pid=$(pgrep -f "^$CKPTFS $D/c $D/m")
	kill -KILL "$pid"
	wait_for sh -c "! kill -0 $pid 2>/dev/null"
	run ls "$D/m"
	[[ "$output" == *"not connected"* ]]
	fusermount3 -uz "$D/m"
}

@test "mount.fuse3 -o drop_privileges: mounted by mount.fuse3, served by ckptfs on /dev/fd/N" {
	in_ns "
		mount -t fuse.ckptfs -o ro,drop_privileges,default_permissions '$D/c' '$D/m'
		pid=\$(pgrep -a -x ckptfs | grep -F '$D/c /dev/fd/' | cut -d' ' -f1)
		grep '^CapEff:' /proc/\$pid/status >'$D/status'
		cmp '$LEAF' '$D/expect'
		umount '$D/m'
	"
	grep -q '^CapEff:[[:space:]]*0*$' "$D/status"
	wait_for daemon_gone
}

@test "allow_other: a user other than root needs user_allow_other in /etc/fuse.conf" {
	# a private /dev/fuse node the user may open and a private fuse.conf,
	# both bound in a private mount namespace only
	mknod -m 0666 "$D/fuse" c 10 229 || skip "cannot make a /dev/fuse node here"
	$PY -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_RDWR))' "$D/fuse" ||
		skip "a device node in /tmp cannot be opened here (nodev)"
	printf '# user_allow_other\n' >"$D/fuse.conf.off"
	printf 'user_allow_other\n' >"$D/fuse.conf.on"
	chown 65534:65534 "$D/m"
	local as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	unshare -m --propagation private bash -euc "
		mount --bind '$D/fuse' /dev/fuse
		trap 'umount -l \"$D/m\" 2>/dev/null || true' EXIT
		mount --bind '$D/fuse.conf.off' /etc/fuse.conf
		if $as_nobody '$CKPTFS' '$D/c' '$D/m' -o ro,allow_other 2>'$D/off.err'; then exit 1; fi
		if mountpoint -q '$D/m'; then exit 1; fi
		umount /etc/fuse.conf
		mount --bind '$D/fuse.conf.on' /etc/fuse.conf
		$as_nobody '$CKPTFS' '$D/c' '$D/m' -o ro,allow_other
		findmnt -n -o OPTIONS '$D/m' >'$D/findmnt'
		# root is another user here: allow_other lets it in
		cmp '$LEAF' '$D/expect'
		$as_nobody fusermount3 -u '$D/m'
	"
	grep -q "allow_other only allowed if 'user_allow_other' is set" "$D/off.err"
	grep -q 'user_id=65534.*allow_other' "$D/findmnt"
	wait_for daemon_gone
}
