#!/usr/bin/env bats
# Mounting: read-only unless -o rw, what -o rw refuses, mmap on every
# mount, where messages go (stderr, -o log=FILE, syslog), option fixes
# (commas in SOURCE, a mount point that is not a directory, max_threads).

load helpers

teardown() {
	ckpt_teardown
	local m
	for m in "${BINDS[@]:-}"; do
		[ -n "$m" ] && umount "$m" 2>/dev/null || true
	done
}

BINDS=()

mk() {
	"$CKPT" make "$BATS_TEST_TMPDIR/$1" "${@:2}" --no-fsync >/dev/null
}

# mount_fails SOURCE MOUNTPOINT [options]: ckptfs must exit 1 without
# mounting; sets output to what it said
mount_fails() {
	run "$CKPTFS" "$@"
	echo "# $output" >&3
	[ "$status" -eq 1 ]
	! grep -q " $(realpath -m "$2") " /proc/mounts
}

@test "the default mount is read-only: EROFS for every edit, ro in /proc/mounts; -o rw takes edits" {
	mk c --leaves 1 --leaf-bytes 4K
	local before
	before=$(find "$BATS_TEST_TMPDIR/c" -type f -exec sha256sum {} + | sort)
	ckpt_mount "$BATS_TEST_TMPDIR/c"
	local s=$MNT/c
	grep " $MNT " /proc/mounts | grep -q " fuse.ckptfs ro,"
	$PY -c "import os; assert os.statvfs('$MNT').f_flag & os.ST_RDONLY"
	run dd if=/dev/zero of="$s/layer_0000/w_00" bs=4 count=1 conv=notrunc status=none
	[ "$status" -ne 0 ]; [[ "$output" == *"Read-only file system"* ]]
	run sh -c "echo hello > '$s/layer_0000/w_00'"
	[ "$status" -ne 0 ]; [[ "$output" == *"Read-only file system"* ]]
	run rm "$s/layer_0000/w_00"; [[ "$output" == *"Read-only file system"* ]]
	run mkdir "$s/d"; [[ "$output" == *"Read-only file system"* ]]
	run $PY -c "open('$s/layer_0000/w_00', 'r+b')"; [[ "$output" == *"Errno 30"* ]]
	ckpt_unmount
	[ "$(find "$BATS_TEST_TMPDIR/c" -type f -exec sha256sum {} + | sort)" = "$before" ]
	# -o rw: the same edit lands
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o rw
	grep " $MNT " /proc/mounts | grep -q " fuse.ckptfs rw,"
	printf '\1\2\3\4' | dd of="$MNT/c/layer_0000/w_00" conv=notrunc status=none
	[ "$(od -A n -t u1 -N 4 "$MNT/c/layer_0000/w_00" | tr -s ' ')" = " 1 2 3 4" ]
	ckpt_unmount
	# the last of ro and rw wins
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o rw,ro
	grep " $MNT " /proc/mounts | grep -q " fuse.ckptfs ro,"
}

@test "-o rw on a SOURCE the daemon cannot write is refused, naming SOURCE; nothing is mounted" {
	mk c --leaves 1 --leaf-bytes 4K
	local ro=$BATS_TEST_TMPDIR/ro m=$BATS_TEST_TMPDIR/m
	mkdir "$ro" "$m"
	mount --bind "$BATS_TEST_TMPDIR/c" "$ro" || skip "cannot bind-mount here"
	BINDS+=("$ro")
	mount -o remount,bind,ro "$ro"
	mount_fails "$ro" "$m" -f -o rw
	[[ "$output" == *"-o rw: SOURCE '$ro' is on a read-only file system"* ]]
	# without -o rw it mounts and reads
	ckpt_mount "$ro"
	cmp "$MNT/ro/layer_0000/w_00" <("$CKPT" cat "$ro" layer_0000/w_00)
	ckpt_unmount
	# a tmpdir that cannot take the written bytes
	mount_fails "$BATS_TEST_TMPDIR/c" "$m" -f -o rw,tmpdir=/nonexistent
	[[ "$output" == *"tmpdir '/nonexistent'"* ]]
	# a user without write permission on SOURCE (setpriv: the daemon as nobody)
	if command -v setpriv >/dev/null; then
		local u
		u=$(mktemp -d /tmp/ckptfs-perm.XXXXXX)
		cp -r "$BATS_TEST_TMPDIR/c" "$u/c"
		mkdir "$u/m"
		chmod -R a+rX,go-w "$u"
		run setpriv --reuid=nobody --regid=nogroup --clear-groups "$CKPTFS" "$u/c" "$u/m" -f -o rw
		rm -rf "$u"
		echo "# $output" >&3
		[ "$status" -eq 1 ]
		[[ "$output" == *"-o rw: SOURCE '$u/c' cannot be written by this user"*"Permission denied"* ]]
	fi
}

@test "np.memmap(mode='r') works on read-only and read-write mounts; writes through a rw mount stay exact" {
	mk c --leaves 2 --leaf-bytes 256K --chunk-bytes 32K --dtype uint8 --extras
	local kind
	for kind in ro rw; do
		ckpt_mount "$BATS_TEST_TMPDIR/c" -o $kind
		$PY - "$MNT/c/layer_0000" "$kind" <<-'PY'
			import numpy as np, os, sys
			d, kind = sys.argv[1], sys.argv[2]
			p = os.path.join(d, "w_00")
			ref = open(p, "rb").read()
			m = np.memmap(p, dtype=np.uint8, mode="r")
			assert m.tobytes() == ref, "memmap differs from read"
			if kind == "rw":
			    # a reader's mapping, then an edit: the file shows the edit,
			    # reads stay exact, and the mapping's bytes are whole versions
			    with open(p, "r+b") as f:
			        f.seek(1000); f.write(b"\x07" * 5000)
			    new = open(p, "rb").read()
			    assert new[1000:6000] == b"\x07" * 5000 and new[:1000] == ref[:1000] and new[6000:] == ref[6000:]
			    m2 = np.memmap(p, dtype=np.uint8, mode="r")
			    assert m2.tobytes() == new, "memmap after an edit differs from read"
			    w = np.memmap(os.path.join(d, "w_01"), dtype=np.uint8, mode="r+")
			    w[:3] = 9; w.flush(); del w
			    assert open(os.path.join(d, "w_01"), "rb").read(4)[:3] == b"\x09" * 3
			    # a leaf that is not a whole number of pages: the kernel writes
			    # the mapping's last page back only up to the file's size
			    t = os.path.join(d, "..", "extras", "table")
			    n = os.path.getsize(t)
			    assert n % 4096, n
			    w = np.memmap(t, dtype=np.uint8, mode="r+")
			    w[-2:] = 0x55; w.flush(); del w
			    b = open(t, "rb").read()
			    assert len(b) == n and b[-2:] == b"\x55\x55"
			print("ok", kind)
		PY
		ckpt_unmount
	done
}

@test "-o log=FILE: an EIO read of a corrupt leaf logs one line naming the file and the reason" {
	mk p --leaves 1 --leaf-bytes 64K --chunk-bytes 16K --no-ocdbt
	local p=$BATS_TEST_TMPDIR/p log=$BATS_TEST_TMPDIR/ckptfs.log
	# garbage in the middle of the second chunk's zstd frame
	printf 'garbagegarbagegarbage' | dd of="$p/layer_0000.w_00/0.1" bs=1 seek=20 conv=notrunc status=none
	ckpt_mount "$p" -o log="$log"
	run cat "$MNT/p/layer_0000/w_00"
	[ "$status" -ne 0 ]; [[ "$output" == *"Input/output error"* ]]
	run cat "$MNT/p/layer_0000/w_00"
	ckpt_unmount
	cat "$log" >&3
	[ "$(grep -c "read 'p/layer_0000/w_00': .*layer_0000.w_00/0.1" "$log")" -eq 1 ]
	grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z ckptfs\[[0-9]+\]: read 'p/layer_0000/w_00'" "$log"
	# -f keeps stderr too
	grep -q "read 'p/layer_0000/w_00'" "$MNT.log"
}

@test "as a daemon (no -f), messages go to -o log=FILE; a relative FILE is where it was named" {
	mk p --leaves 1 --leaf-bytes 64K --chunk-bytes 16K --no-ocdbt
	local p=$BATS_TEST_TMPDIR/p m=$BATS_TEST_TMPDIR/m
	mkdir "$m"
	printf 'garbagegarbagegarbage' | dd of="$p/layer_0000.w_00/0.1" bs=1 seek=20 conv=notrunc status=none
	(cd "$BATS_TEST_TMPDIR" && "$CKPTFS" "$p" "$m" -o log=rel.log)
	MOUNTS+=("$m")
	PIDS+=("")
	run cat "$m/p/layer_0000/w_00"
	[ "$status" -ne 0 ]
	# a write that cannot be an edit: -o rw is refused on nothing here, so a
	# second daemon, read-write, logs the size error at write(2)
	fusermount3 -u "$m"
	(cd "$BATS_TEST_TMPDIR" && "$CKPTFS" "$p" "$m" -o rw,log=rel.log)
	run sh -c "head -c 70000 /dev/zero > '$m/p/layer_0000/w_00'"
	[ "$status" -ne 0 ]; [[ "$output" == *"File too large"* ]]
	fusermount3 -u "$m"
	cat "$BATS_TEST_TMPDIR/rel.log" >&3
	grep -q "read 'p/layer_0000/w_00': .*0.1" "$BATS_TEST_TMPDIR/rel.log"
	grep -q "write 'p/layer_0000/w_00': an array's size is fixed at 65536 bytes.*write NAME.npy" "$BATS_TEST_TMPDIR/rel.log"
}

@test "a write past an array's fixed size fails at write(2) with EFBIG (echo > scalar leaf exits non-zero)" {
	mk c --leaves 1 --leaf-bytes 4K --extras
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o rw
	local s=$MNT/c
	local leaf
	leaf=$s/extras/step
	local n before
	n=$(stat -c %s "$leaf")
	before=$(od -A n -t x1 "$leaf")
	run bash -c "echo 'hello world' > '$leaf'"
	[ "$status" -ne 0 ]; [[ "$output" == *"write error: File too large"* ]]
	[ "$(od -A n -t x1 "$leaf")" = "$before" ]
	grep -q "write '.*': an array's size is fixed at $n bytes" "$MNT.log"
	# an in-place write inside the size still works
	run dd if=/dev/zero of="$s/layer_0000/w_00" bs=4 count=1 conv=notrunc status=none
	[ "$status" -eq 0 ]
	run dd if=/dev/zero of="$s/layer_0000/w_00" bs=4 count=1 seek=1024 conv=notrunc status=none
	[ "$status" -ne 0 ]; [[ "$output" == *"File too large"* ]]
	# other EINVALs name the file and say why
	run truncate -s 5 "$s/layer_0000/w_00"
	[ "$status" -ne 0 ]; [[ "$output" == *"Invalid argument"* ]]
	grep -q "truncate 'c/layer_0000/w_00' to 5 bytes: an array's size is fixed at 4096 bytes" "$MNT.log"
	run mkdir "$s/layer_0000/d.json"
	[ "$status" -ne 0 ]; [[ "$output" == *"Invalid argument"* ]]
	grep -q "mkdir 'c/layer_0000/d.json': names ending in .json or .npy are ckptfs's own" "$MNT.log"
	run mv "$s/layer_0000/w_00" "$s/layer_0000/%zz"
	[ "$status" -ne 0 ]
	grep -q "rename to 'c/layer_0000/%zz': not the canonical escaped form of a key" "$MNT.log"
}

@test "syslog: in the background, messages reach /dev/log with ident ckptfs" {
	command -v unshare >/dev/null || skip "no unshare"
	mk p --leaves 1 --leaf-bytes 64K --chunk-bytes 16K --no-ocdbt
	local p=$BATS_TEST_TMPDIR/p t=$BATS_TEST_TMPDIR
	printf 'garbagegarbagegarbage' | dd of="$p/layer_0000.w_00/0.1" bs=1 seek=20 conv=notrunc status=none
	# a private mount namespace whose /dev has our own /dev/log: a python
	# listener on a Unix datagram socket stands in for the syslog daemon
	cat >"$t/ns.sh" <<-EOF
		set -e
		mkdir -p "$t/dev" "$t/m"
		mount -t tmpfs none "$t/dev"
		for n in null zero fuse urandom; do touch "$t/dev/\$n"; mount --bind /dev/\$n "$t/dev/\$n"; done
		$PY -c '
		import socket, sys
		s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
		open(sys.argv[2], "w").close()
		s.settimeout(20)
		with open(sys.argv[3], "ab") as f:
		    try:
		        while True:
		            f.write(s.recv(65536) + b"\n"); f.flush()
		    except socket.timeout:
		        pass
		' "$t/dev/log" "$t/ready" "$t/syslog" &
		lpid=\$!
		for i in \$(seq 100); do [ -e "$t/ready" ] && break; sleep 0.05; done
		mount --move "$t/dev" /dev
		"$CKPTFS" "$p" "$t/m"
		cat "$t/m/p/layer_0000/w_00" >/dev/null 2>&1 && exit 3
		fusermount3 -u "$t/m"
		sleep 0.3
		kill \$lpid
	EOF
	unshare -m --propagation private bash "$t/ns.sh"
	cat "$t/syslog" >&3
	# <27>: LOG_DAEMON | LOG_ERR
	grep -qE "^<27>.*ckptfs\[[0-9]+\]: read 'p/layer_0000/w_00': .*0.1" "$t/syslog"
}

@test "a SOURCE with commas, backslashes and other option characters mounts" {
	local d="$BATS_TEST_TMPDIR/a,b=c\\d e#f"
	"$CKPT" make "$d" --leaves 1 --leaf-bytes 4K --no-fsync >/dev/null
	ckpt_mount "$d"
	local name
	name=$(basename "$d")
	cmp "$MNT/$name/layer_0000/w_00" <("$CKPT" cat "$d" layer_0000/w_00)
	grep " $MNT " /proc/mounts | grep -q '^ckptfs:.*a,b=c'
}

@test "a mount point that is not a directory, or lies inside SOURCE, is refused clearly" {
	mk c --leaves 1 --leaf-bytes 4K
	touch "$BATS_TEST_TMPDIR/file"
	mount_fails "$BATS_TEST_TMPDIR/c" "$BATS_TEST_TMPDIR/file" -f
	[[ "$output" == *"mount point '$BATS_TEST_TMPDIR/file' is not a directory"* ]]
	mount_fails "$BATS_TEST_TMPDIR/c" "$BATS_TEST_TMPDIR/missing" -f
	[[ "$output" == *"mount point"*"$BATS_TEST_TMPDIR/missing"*"No such file or directory"* ]]
	# inside SOURCE the daemon would look itself up and hang
	# (timeout -s KILL: a daemon that did mount there would never answer;
	# auto_unmount takes the mount with it)
	mkdir "$BATS_TEST_TMPDIR/c/mnt"
	run timeout -s KILL 10 "$CKPTFS" "$BATS_TEST_TMPDIR/c" "$BATS_TEST_TMPDIR/c/mnt" -f -o auto_unmount
	[ "$status" -eq 1 ]
	[[ "$output" == *"mount point '$BATS_TEST_TMPDIR/c/mnt' is inside SOURCE"* ]]
	run timeout -s KILL 10 "$CKPTFS" "$BATS_TEST_TMPDIR/c" "$BATS_TEST_TMPDIR/c" -f -o auto_unmount
	[ "$status" -eq 1 ]
	[[ "$output" == *"is inside SOURCE"* ]]
}

# peak_threads MAXOPT: PEAK, the most threads the daemon had while 24
# readers read
peak_threads() {
	ckpt_mount "$BATS_TEST_TMPDIR/c" -o readahead=0,cache_size=1M,$1
	local n i pids=()
	PEAK=0
	for i in $(seq 0 23); do
		(for _ in 1 2 3; do cat "$MNT/c/layer_0000/w_$(printf %02d $((i % 12)))" >/dev/null; done) &
		pids+=($!)
	done
	for _ in $(seq 1 60); do
		n=$(ls /proc/$PID/task | wc -l)
		[ "$n" -gt "$PEAK" ] && PEAK=$n
		sleep 0.02
	done
	wait "${pids[@]}"
	ckpt_unmount
}

@test "-o max_threads=N bounds the worker threads; -o max_threads=0 is refused" {
	mk c --leaves 12 --leaf-bytes 4M --chunk-bytes 256K
	local one many
	peak_threads max_threads=1
	one=$PEAK
	peak_threads max_threads=32
	many=$PEAK
	echo "# peak threads: max_threads=1: $one, max_threads=32: $many" >&3
	# main thread, the step watcher, at most one worker
	[ "$one" -le 3 ]
	[ "$many" -gt "$one" ]
	local m=$BATS_TEST_TMPDIR/m
	mkdir "$m"
	mount_fails "$BATS_TEST_TMPDIR/c" "$m" -f -o max_threads=0
	[[ "$output" == *"max_threads must be at least 1"* ]]
}

# ra_kb: the kernel's read-ahead of the mount on $MNT, in KiB
ra_kb() {
	cat "/sys/class/bdi/$(mountpoint -d "$MNT")/read_ahead_kb"
}

@test "-o kernel_readahead=SIZE sets the mount's read-ahead in the kernel; reads stay exact; bad sizes and non-root refused" {
	mk c --leaves 2 --leaf-bytes 4M --chunk-bytes 1M
	local d="$BATS_TEST_TMPDIR/c" m="$BATS_TEST_TMPDIR/m" want
	ckpt_mount "$d"
	want=$(ra_kb)
	ckpt_unmount
	# a mount point with a space and a backslash: found in mountinfo all the same
	mkdir "$BATS_TEST_TMPDIR/a b\\c"
	MNT="$BATS_TEST_TMPDIR/a b\\c"
	"$CKPTFS" "$d" "$MNT" -o kernel_readahead=1M
	MOUNTS+=("$MNT")
	for _ in $(seq 50); do [ "$(ra_kb)" = 1024 ] && break; sleep 0.1; done
	echo "# read_ahead_kb: $want by default, $(ra_kb) with 1M" >&3
	[ "$(ra_kb)" = 1024 ]
	[ "$want" != 1024 ]
	cmp "$MNT/c/layer_0000/w_00" <("$CKPT" cat "$d" layer_0000/w_00)
	$PY -c "import numpy as np, sys; a = np.fromfile(sys.argv[1], dtype=np.uint8); b = open(sys.argv[2], 'rb').read(); assert a.tobytes() == b" \
		"$MNT/c/layer_0000/w_01" <("$CKPT" cat "$d" layer_0000/w_01)
	fusermount3 -u "$MNT"
	# with small leaves pushed into the page cache (the default) as well
	mk s --leaves 40 --leaf-bytes 64K --depth 2
	ckpt_mount "$BATS_TEST_TMPDIR/s" -o kernel_readahead=1M
	local f
	while IFS= read -r f; do
		cmp "$MNT/s/$f" <("$CKPT" cat "$BATS_TEST_TMPDIR/s" "$f")
	done < <(cd "$MNT/s" && find . -type f ! -name '*.json' ! -name '*.npy' | sed 's|^\./||')
	[ "$(jqv "$MNT/.ckptfs-stats" pushed_leaves)" -gt 0 ]
	ckpt_unmount
	mkdir "$m"
	mount_fails "$d" "$m" -f -o kernel_readahead=lots
	[[ "$output" == *"bad kernel_readahead 'lots'"* ]]
	mount_fails "$d" "$m" -f -o kernel_readahead=2G
	[[ "$output" == *"bad kernel_readahead '2G'"* ]]
	# not root: refused before anything is mounted (in a directory that
	# user can reach)
	local o
	o=$(mktemp -d /tmp/ckptfs-nonroot.XXXXXX)
	chmod 755 "$o"
	mkdir "$o/m"
	"$CKPT" make "$o/c" --leaves 1 --leaf-bytes 4K --no-fsync >/dev/null
	run setpriv --reuid 65534 --regid 65534 --clear-groups "$CKPTFS" "$o/c" "$o/m" -f -o kernel_readahead=1M
	echo "# $output" >&3
	! mountpoint -q "$o/m"
	rm -rf "$o"
	[ "$status" -eq 1 ]
	[[ "$output" == *"kernel_readahead"*"it takes root"* ]]
}
