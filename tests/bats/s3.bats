#!/usr/bin/env bats
# Checkpoints on object storage: ckptfs s3://BUCKET/PREFIX and ckpt with the
# same URLs, against a real S3 server (tests/s3: s3rver behind a
# fault-injecting proxy), the objects uploaded by curl.  Each mount through
# s3:// must show exactly what a mount of the same files on local disk
# shows.  With CKPTFS_TEST_S3_ENDPOINT set (see tests/bats/s3.bash), the
# same tests run against that endpoint; the fault tests skip there.

load helpers
load s3

setup_file() {
	s3_setup_file
	# the mirrors go here (the default cache_dir is $TMPDIR); teardown_file
	# checks that every daemon and command removed its own
	export TMPDIR=$BATS_FILE_TMPDIR/tmp
	mkdir -p "$TMPDIR"
	# what every test reads: ckpt make's kinds, a Flax file, the fixtures
	local g=$BATS_FILE_TMPDIR/gen
	mkdir -p "$g"
	"$CKPT" make "$g/mgr" --steps 3 --leaves 4 --leaf-bytes 64K --no-fsync >/dev/null
	"$CKPT" make "$g/zarr2" --no-ocdbt --leaves 3 --dtype mix --no-fsync --seed 3 >/dev/null
	"$CKPT" make "$g/zarr3" --zarr3 --leaves 3 --dtype mix --no-fsync --seed 5 >/dev/null
	"$CKPT" make "$g/big" --leaves 1 --leaf-bytes 8M --chunk-bytes 256K --no-fsync --seed 9 >/dev/null
	$PY "$ROOT/tests/tools/make_flax.py" "$g/flax" >/dev/null
	s3_upload "$g" gen
	s3_upload "$FIX" fix
	s3_upload "$REAL" real
}
teardown_file() {
	s3_teardown_file
	local left
	[ -d "$BATS_FILE_TMPDIR/tmp" ] || return 0
	left=$(ls -A "$BATS_FILE_TMPDIR/tmp" | grep '^ckptfs-remote' || true)
	[ -z "$left" ] || { echo "mirrors left behind: $left" >&2; ls -R "$BATS_FILE_TMPDIR/tmp" | head -20 >&2; return 1; }
}
teardown() {
	ckpt_teardown
	s3_reset
}

# digest DIR SRC: every entry's type and path, every file's sha256, every
# link; in the .json files SRC (the local path or the URL) reads SRC, and the
# times taken from the files' mtimes (the upload's time on the store) go
digest() {
	(cd "$1" && find . -mindepth 1 -printf '%y %p\n' | LC_ALL=C sort
		find . -type f ! -name '*.json' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum 2>&1
		find . -type f -name '*.json' -print0 | LC_ALL=C sort -z |
			while IFS= read -r -d '' f; do
				printf '%s ' "$f"
				sed "s|$2|SRC|g; /\"time_ns\": [0-9]/d" "$f" 2>&1 | sha256sum
			done
		find . -type l -printf '%p -> %l\n' | LC_ALL=C sort) || true
}

# same_as_local LOCAL URL [options]: the mount of URL shows what LOCAL's does
same_as_local() {
	local local_src=$1 url=$2
	shift 2
	ckpt_mount "$local_src" -o ro
	digest "$MNT" "$local_src" >"$BATS_TEST_TMPDIR/local"
	ckpt_unmount
	ckpt_mount "$url" -o endpoint="$S3_ENDPOINT" "$@"
	digest "$MNT" "${url%/}" >"$BATS_TEST_TMPDIR/remote"
	diff "$BATS_TEST_TMPDIR/local" "$BATS_TEST_TMPDIR/remote"
	[ "$(grep -c '^f ' "$BATS_TEST_TMPDIR/local")" -ge 2 ]
}

stat_of() { jqv "$MNT/.ckptfs-stats" "$1"; }

@test "every real fixture read through s3:// is byte for byte what the local mount shows (a tree of 40-odd checkpoints)" {
	same_as_local "$FIX" "$(s3_url fix)"
	echo "# $(grep -c '^f ' "$BATS_TEST_TMPDIR/remote") files compared" >&3
	ckpt_unmount
	# and those the real Orbax wrote for tests/fixtures/real
	same_as_local "$REAL" "$(s3_url real)"
	echo "# $(grep -c '^f ' "$BATS_TEST_TMPDIR/remote") files compared" >&3
	ckpt_unmount
}

@test "ckpt make's kinds through s3://: a manager root of 3 steps, a single step, zarr v2 and v3 directories, a Flax file" {
	local g=$BATS_FILE_TMPDIR/gen
	same_as_local "$g/mgr" "$(s3_url gen/mgr)"
	[ -d "$MNT/2" ] && [ -L "$MNT/latest" ]
	ckpt_unmount
	same_as_local "$g/mgr/1" "$(s3_url gen/mgr/1)"
	ckpt_unmount
	same_as_local "$g/zarr2" "$(s3_url gen/zarr2/)"
	ckpt_unmount
	same_as_local "$g/zarr3" "$(s3_url gen/zarr3)"
	ckpt_unmount
	same_as_local "$g/flax" "$(s3_url gen/flax)"
	ckpt_unmount
	# one object that is a Flax file
	same_as_local "$g/flax/checkpoint_10" "$(s3_url gen/flax/checkpoint_10)"
	ckpt_unmount
}

@test "ckpt ls, cat, info, diff, meta, export and stats take s3:// URLs and print what they print for the local files" {
	local g=$BATS_FILE_TMPDIR/gen url
	url=$(s3_url gen/mgr)
	export AWS_ENDPOINT_URL=$S3_ENDPOINT TMPDIR=$BATS_TEST_TMPDIR/tmp
	mkdir -p "$TMPDIR"
	"$CKPT" ls "$g/mgr" 2 >"$BATS_TEST_TMPDIR/l1"
	"$CKPT" ls "$url" 2 >"$BATS_TEST_TMPDIR/r1"
	diff "$BATS_TEST_TMPDIR/l1" "$BATS_TEST_TMPDIR/r1"
	"$CKPT" cat "$url" 2/state/layer_0000/w_00 | cmp - <("$CKPT" cat "$g/mgr" 2/state/layer_0000/w_00)
	"$CKPT" info "$url" | sed "s|$url|X|" >"$BATS_TEST_TMPDIR/r2"
	"$CKPT" info "$g/mgr" | sed "s|$g/mgr|X|" >"$BATS_TEST_TMPDIR/l2"
	diff "$BATS_TEST_TMPDIR/l2" "$BATS_TEST_TMPDIR/r2"
	"$CKPT" diff "$url/2" "$g/mgr/2"
	# paths in what ckpt prints are the URL's, not the mirror's
	"$CKPT" meta "$url" 2 | grep -q "\"path\": \"$url/2\""
	! "$CKPT" meta "$url" 2 | grep -q ckptfs-remote
	"$CKPT" export "$url" 2/state "$BATS_TEST_TMPDIR/r.npy" >/dev/null
	"$CKPT" export "$g/mgr" 2/state "$BATS_TEST_TMPDIR/l.npy" >/dev/null
	diff -r "$BATS_TEST_TMPDIR/l.npy" "$BATS_TEST_TMPDIR/r.npy"
	"$CKPT" stats "$url" 2/state | diff - <("$CKPT" stats "$g/mgr" 2/state)
	run "$CKPT" prune "$url" 2/state
	[ "$status" -ne 0 ]
	[[ "$output" == *"object storage"* ]]
	# the mirrors went with the commands, also the one that failed
	[ -z "$(ls -A "$TMPDIR")" ]
}

@test "refused clearly: -o rw, wrong credentials, a prefix with nothing under it, a missing bucket; nothing mounted" {
	local m=$BATS_TEST_TMPDIR/m
	mkdir -p "$m"
	run "$CKPTFS" "$(s3_url gen/mgr)" "$m" -f -o rw,endpoint="$S3_ENDPOINT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"object storage"*"read-only"* ]]
	run env AWS_SECRET_ACCESS_KEY=wrong "$CKPTFS" "$(s3_url gen/mgr)" "$m" -f -o endpoint="$S3_ENDPOINT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"s3://$S3_BUCKET"* ]]
	[[ "$output" == *"ccess denied"* ]]
	[[ "$output" != *wrong* ]] # the secret is never printed
	run "$CKPTFS" "$(s3_url nothing/here)" "$m" -f -o endpoint="$S3_ENDPOINT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no objects"* ]]
	run "$CKPTFS" "s3://no-such-bucket-ckptfs/x" "$m" -f -o endpoint="$S3_ENDPOINT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no-such-bucket-ckptfs"* ]]
	run "$CKPTFS" "$FIX" "$m" -f -o endpoint="$S3_ENDPOINT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"object storage"* ]]
	! mountpoint -q "$m"
}

@test "500, 503 SlowDown and 429 answers are retried and the read succeeds" {
	s3_need_proxy
	local g=$BATS_FILE_TMPDIR/gen
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",readahead=0
	s3_fault 500 2 /d/
	s3_fault 503 2 /d/
	s3_fault 429 1 /d/
	cmp "$MNT/big/layer_0000/w_00" <("$CKPT" cat "$g/big" big/layer_0000/w_00)
	[ "$(jqv "$MNT/.ckptfs-stats" remote.retries)" -ge 5 ]
	[ "$(jqv "$MNT/.ckptfs-stats" remote.errors)" -eq 0 ]
}

@test "temporary keys: answered ExpiredToken, the profile's keys are read again from the credentials file and reads go on; stale ones refuse a mount clearly" {
	s3_need_proxy
	local g=$BATS_FILE_TMPDIR/gen t=$BATS_TEST_TMPDIR
	cred() { printf '[eval]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n' \
		"$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$1" >"$t/cred.new" && mv "$t/cred.new" "$t/cred"; }
	cred t1
	s3_control token --data-urlencode value=t1 >/dev/null
	# keys from the profile only, as on a host whose keys a sidecar renews
	export AWS_SHARED_CREDENTIALS_FILE=$t/cred AWS_PROFILE=eval
	local ak=$AWS_ACCESS_KEY_ID sk=$AWS_SECRET_ACCESS_KEY
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",readahead=0
	dd if="$MNT/big/layer_0000/w_00" of=/dev/null bs=4k count=1 2>/dev/null
	# the keys expire and are renewed in the file: reads go on
	AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk cred t2
	s3_control token --data-urlencode value=t2 >/dev/null
	cmp "$MNT/big/layer_0000/w_00" <("$CKPT" cat "$g/big" big/layer_0000/w_00)
	[ "$(jqv "$MNT/.ckptfs-stats" remote.key_reloads)" = 1 ]
	[ "$(jqv "$MNT/.ckptfs-stats" remote.errors)" -eq 0 ]
	ckpt_unmount
	# expired and not renewed: a mount is refused with the store's reason
	s3_control token --data-urlencode value=t3 >/dev/null
	mkdir "$t/mp"
	run "$CKPTFS" "$(s3_url gen/big)" "$t/mp" -f -o endpoint="$S3_ENDPOINT",retries=1
	[ "$status" -ne 0 ]
	[[ "$output" == *"ExpiredToken"* ]]
	! mountpoint -q "$t/mp"
}

@test "the server stopped during reads: EIO, the daemon stays up, and reads work again when it is back" {
	s3_need_proxy
	local g=$BATS_FILE_TMPDIR/gen
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",readahead=0,retries=1,timeout=2
	dd if="$MNT/big/layer_0000/w_00" bs=64K count=1 of=/dev/null status=none
	s3_down
	run dd if="$MNT/big/layer_0000/w_00" bs=1M skip=4 count=1 of=/dev/null status=none
	[ "$status" -ne 0 ]
	[[ "$output" == *"Input/output error"* ]]
	kill -0 "$PID"
	s3_up
	cmp "$MNT/big/layer_0000/w_00" <("$CKPT" cat "$g/big" big/layer_0000/w_00)
	grep -q "s3://$S3_BUCKET/" "$MNT.log"
}

@test "a GET cut half way leaves nothing on disk: its bytes are not kept, and their space goes back" {
	s3_need_proxy
	local g=$BATS_FILE_TMPDIR/gen c=$BATS_TEST_TMPDIR/cache before after
	mkdir -p "$c"
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",cache_dir="$c",readahead=0,retries=0
	before=$(du -sB1 "$c" | cut -f1)
	# every GET of a data file cut after 192 KiB of its body
	s3_fault reset:196608 1000 /d/
	! cat "$MNT/big/layer_0000/w_00" >/dev/null 2>&1
	# a fetch ahead of the reader (the stream's next MiB) may still be
	# receiving when cat has failed: it is cut too, and gives its space back
	for _ in $(seq 50); do
		after=$(du -sB1 "$c" | cut -f1)
		[ "$after" -le $((before + (64 << 10))) ] && break
		sleep 0.1
	done
	echo "# on disk before $before, after $after bytes" >&3
	[ "$after" -le $((before + (64 << 10))) ]
	[ "$(jqv "$MNT/.ckptfs-stats" remote.errors)" -gt 0 ]
	# and the same reads work once the store answers whole
	s3_faults_clear
	cmp "$MNT/big/layer_0000/w_00" <("$CKPT" cat "$g/big" big/layer_0000/w_00)
}

@test "objects replaced during a read: the reader gets the old bytes or EIO, never a mix; a new mount reads the new ones" {
	s3_need_proxy
	local t=$BATS_TEST_TMPDIR
	# zarr without OCDBT: one object per 256 KiB chunk, replaced in place by
	# the same array written with other values
	mkdir -p "$t/v1" "$t/v2"
	"$CKPT" make "$t/v1/big" --no-ocdbt --leaves 1 --leaf-bytes 8M --chunk-bytes 256K --no-fsync --seed 9 >/dev/null
	"$CKPT" make "$t/v2/big" --no-ocdbt --leaves 1 --leaf-bytes 8M --chunk-bytes 256K --no-fsync --seed 10 >/dev/null
	"$CKPT" cat "$t/v1/big" big/layer_0000/w_00 >"$t/old"
	"$CKPT" cat "$t/v2/big" big/layer_0000/w_00 >"$t/new"
	! cmp -s "$t/old" "$t/new"
	s3_upload "$t/v1/big" repl/big
	ckpt_mount "$(s3_url repl/big)" -o endpoint="$S3_ENDPOINT",readahead=0
	$PY - "$MNT/big/layer_0000/w_00" "$t/old" "$t/go" "$t/res" <<'EOF' &
import os, sys, time
leaf, old, go, res = sys.argv[1:]
want = open(old, 'rb').read()
with open(leaf, 'rb', buffering=0) as f:
    head = f.read(65536)
    open(go + '.ready', 'w').close()
    while not os.path.exists(go):
        time.sleep(0.05)
    try:
        rest = b''
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            rest += b
        out = 'old' if head + rest == want else 'MIXED'
    except OSError as e:
        out = 'eio' if e.errno == 5 and head == want[:65536] else 'error %s' % e
open(res, 'w').write(out)
EOF
	local py=$!
	for _ in $(seq 100); do [ -e "$t/go.ready" ] && break; sleep 0.1; done
	s3_upload "$t/v2/big" repl/big
	touch "$t/go"
	wait "$py"
	echo "# the reader saw: $(cat "$t/res"); stale reads refused: $(jqv "$MNT/.ckptfs-stats" remote.stale)" >&3
	grep -qx 'old\|eio' "$t/res"
	[ "$(cat "$t/res")" != eio ] || [ "$(jqv "$MNT/.ckptfs-stats" remote.stale)" -ge 1 ]
	ckpt_unmount
	ckpt_mount "$(s3_url repl/big)" -o endpoint="$S3_ENDPOINT"
	cmp "$MNT/big/layer_0000/w_00" "$t/new"
}

@test "a step added while mounted appears after the poll interval, byte-exact; a deleted one goes" {
	local g=$BATS_FILE_TMPDIR/gen
	s3_upload "$g/mgr" live
	ckpt_mount "$(s3_url live)" -o endpoint="$S3_ENDPOINT",poll=1
	[ ! -e "$MNT/7" ]
	"$CKPT" make "$BATS_TEST_TMPDIR/more" --steps 1 --leaves 4 --leaf-bytes 64K --no-fsync --seed 7 >/dev/null
	mv "$BATS_TEST_TMPDIR/more/0" "$BATS_TEST_TMPDIR/more/7"
	s3_upload "$BATS_TEST_TMPDIR/more/7" live/7
	for _ in $(seq 100); do [ -e "$MNT/7" ] && break; sleep 0.1; done
	[ -d "$MNT/7" ]
	[ "$(readlink "$MNT/latest")" = 7 ]
	cmp "$MNT/7/state/layer_0000/w_00" <("$CKPT" cat "$BATS_TEST_TMPDIR/more" 7/state/layer_0000/w_00)
	s3_rm -r live/0/
	for _ in $(seq 100); do [ ! -e "$MNT/0" ] && break; sleep 0.1; done
	[ ! -e "$MNT/0" ]
	[ "$(jqv "$MNT/.ckptfs-stats" remote.polls)" -ge 1 ]
}

# polls: wait until the mount has listed again twice since now
polled_twice() {
	local p0
	p0=$(jqv "$MNT/.ckptfs-stats" remote.polls)
	for _ in $(seq 100); do
		[ "$(jqv "$MNT/.ckptfs-stats" remote.polls)" -ge $((p0 + 2)) ] && return 0
		sleep 0.1
	done
	return 1
}

# leaves DIR: every leaf's path and sha256 (not the .json files)
leaves() { (cd "$1" && find . -type f ! -name '*.json' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }

@test "a root is served once listed: a step's files are made when it is opened (warm_steps=0), and polls change a step not opened yet" {
	local t=$BATS_TEST_TMPDIR all left one
	"$CKPT" make "$t/six" --steps 6 --leaves 3 --leaf-bytes 16K --no-fsync --seed 11 >/dev/null
	s3_upload "$t/six" lazy
	ckpt_mount "$(s3_url lazy)" -o endpoint="$S3_ENDPOINT",poll=1,warm_steps=0
	all=$(stat_of remote.deferred_objects)
	[ "$all" -gt 0 ]
	# listing the steps opens none of them
	[ "$(ls "$MNT" | tr '\n' ' ')" = "0 0.json 1 1.json 2 2.json 3 3.json 4 4.json 5 5.json latest " ]
	[ "$(stat_of remote.deferred_objects)" -eq "$all" ]
	# reading in step 3 makes step 3's files, not the others'
	cmp "$MNT/3/state/layer_0000/w_00" <("$CKPT" cat "$t/six" 3/state/layer_0000/w_00)
	left=$(stat_of remote.deferred_objects)
	one=$((all - left))
	[ "$one" -gt 0 ] && [ "$all" -eq $((6 * one)) ]
	# step 4, not opened, written again on the store (new data objects, a
	# new manifest and metadata); step 5, not opened, deleted
	"$CKPT" make "$t/new" --steps 1 --leaves 3 --leaf-bytes 16K --no-fsync --seed 12 >/dev/null
	s3_upload "$t/new/0" lazy/4
	s3_rm -r lazy/5/
	polled_twice
	[ ! -e "$MNT/5" ]
	cmp "$MNT/4/state/layer_0000/w_01" <("$CKPT" cat "$t/new" 0/state/layer_0000/w_01)
	! cmp -s "$MNT/4/state/layer_0000/w_01" <("$CKPT" cat "$t/six" 4/state/layer_0000/w_01)
	# every step now as the store has it, and nothing left deferred
	rm -rf "$t/six/4" "$t/six/5"
	cp -r "$t/new/0" "$t/six/4"
	ckpt_mount "$t/six" -o ro
	leaves "$MNT" >"$t/local"
	ckpt_unmount
	ckpt_mount "$(s3_url lazy)" -o endpoint="$S3_ENDPOINT",warm_steps=0
	leaves "$MNT" >"$t/remote"
	diff "$t/local" "$t/remote"
	[ "$(wc -l <"$t/local")" -ge 30 ]
	[ "$(stat_of remote.deferred_objects)" -eq 0 ]
}

@test "cache_dir_size bounds the bytes kept; reading again from the cache sends no request; the mirror goes at unmount" {
	local g=$BATS_FILE_TMPDIR/gen c=$BATS_TEST_TMPDIR/cache
	mkdir -p "$c"
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",cache_dir="$c",cache_dir_size=2M
	cmp "$MNT/big/layer_0000/w_00" <("$CKPT" cat "$g/big" big/layer_0000/w_00)
	[ "$(jqv "$MNT/.ckptfs-stats" remote.evicted_bytes)" -gt 0 ]
	[ "$(jqv "$MNT/.ckptfs-stats" remote.cache_bytes)" -le $((2 << 20)) ]
	# on disk too: the mirror's blocks
	[ "$(du -sk "$c" | cut -f1)" -le 3072 ]
	ckpt_unmount
	[ -z "$(ls -d "$c"/ckptfs-remote.* 2>/dev/null)" ]
	# within the bound, a second read is served from the mirror: decoded
	# again (a decoded-chunk cache too small to hold it), not fetched again
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",cache_size=1M,readahead=0
	cat "$MNT/big/layer_0000/w_00" >/dev/null
	local before decoded
	before=$(jqv "$MNT/.ckptfs-stats" remote.requests)
	decoded=$(jqv "$MNT/.ckptfs-stats" decoded_bytes)
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || skip "cannot drop the page cache here"
	cmp "$MNT/big/layer_0000/w_00" <("$CKPT" cat "$g/big" big/layer_0000/w_00)
	[ "$(jqv "$MNT/.ckptfs-stats" decoded_bytes)" -gt "$decoded" ]
	[ "$(jqv "$MNT/.ckptfs-stats" remote.requests)" -eq "$before" ]
}

@test "SIGTERM unmounts and removes the mirror" {
	local c=$BATS_TEST_TMPDIR/cache
	mkdir -p "$c"
	ckpt_mount "$(s3_url gen/mgr)" -o endpoint="$S3_ENDPOINT",cache_dir="$c"
	[ -n "$(ls -A "$c")" ]
	kill -TERM "$PID"
	wait "$PID" || true
	unset 'MOUNTS[-1]' 'PIDS[-1]'
	[ -z "$(ls -d "$c"/ckptfs-remote.* 2>/dev/null)" ]
}

@test "SIGKILL leaves the mirror; the next mount removes it once a minute old, and never a live mount's" {
	local c=$BATS_TEST_TMPDIR/cache dead live lmnt lpid
	mkdir -p "$c"
	ckpt_mount "$(s3_url gen/mgr)" -o endpoint="$S3_ENDPOINT",cache_dir="$c"
	cat "$MNT/latest/state/layer_0000/w_00" >/dev/null
	dead=$(ls -d "$c"/ckptfs-remote.*)
	kill -KILL "$PID"
	wait "$PID" || true
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	unset 'MOUNTS[-1]' 'PIDS[-1]'
	[ -d "$dead/m" ]
	# a mount beside it, alive; then one more while the dead one is new
	ckpt_mount "$(s3_url gen/mgr)" -o endpoint="$S3_ENDPOINT",cache_dir="$c"
	lmnt=$MNT lpid=$PID
	live=$(ls -d "$c"/ckptfs-remote.* | grep -v "^$dead\$")
	ckpt_mount "$(s3_url gen/mgr)" -o endpoint="$S3_ENDPOINT",cache_dir="$c"
	ckpt_unmount
	[ -d "$dead/m" ] && [ -d "$live/m" ]
	# both older than a minute: the dead one goes, the live one stays
	touch -d '-2 minutes' "$dead" "$live"
	ckpt_mount "$(s3_url gen/mgr)" -o endpoint="$S3_ENDPOINT",cache_dir="$c"
	[ ! -e "$dead" ] && [ -d "$live/m" ]
	grep -q "removed 1 mirror directory under $c left by mounts that were killed" "$MNT.log"
	cmp "$MNT/latest/state/layer_0000/w_00" "$lmnt/latest/state/layer_0000/w_00"
	ckpt_unmount
	MNT=$lmnt PID=$lpid ckpt_unmount
	[ -z "$(ls -d "$c"/ckptfs-remote.* 2>/dev/null)" ]
}

@test "a cache_dir given is shared: a second mount (or one beside it) reads what the first fetched without a GET; bounded, and emptied after a reboot" {
	s3_need_proxy
	local g=$BATS_FILE_TMPDIR/gen c=$BATS_TEST_TMPDIR/shared
	mkdir -p "$c"
	"$CKPT" cat "$g/big" big/layer_0000/w_00 >"$BATS_TEST_TMPDIR/want"
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",cache_dir="$c"
	cmp "$MNT/big/layer_0000/w_00" "$BATS_TEST_TMPDIR/want"
	local first=$MNT first_pid=$PID
	# one beside it: every page is there already
	s3_requests_zero
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",cache_dir="$c"
	cmp "$MNT/big/layer_0000/w_00" "$BATS_TEST_TMPDIR/want"
	[ "$(s3_requests GET gen/big/)" -eq 0 ] # objects; a listing is a GET too
	ckpt_unmount
	MNT=$first PID=$first_pid
	ckpt_unmount
	# after both: the store stays, the mirrors went
	[ -n "$(ls "$c/objects")" ]
	[ -z "$(ls -d "$c"/ckptfs-remote.* 2>/dev/null)" ]
	s3_requests_zero
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",cache_dir="$c"
	cmp "$MNT/big/layer_0000/w_00" "$BATS_TEST_TMPDIR/want"
	[ "$(s3_requests GET gen/big/)" -eq 0 ] # objects; a listing is a GET too
	ckpt_unmount
	# a smaller bound: the store is brought under it when the next mount opens it
	[ "$(du -sk "$c/objects" | cut -f1)" -gt 4096 ]
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",cache_dir="$c",cache_dir_size=2M
	[ "$(du -sk "$c/objects" | cut -f1)" -le 2200 ]
	ckpt_unmount
	# a store filled in another boot is not trusted: emptied, fetched again
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",cache_dir="$c"
	cat "$MNT/big/layer_0000/w_00" >/dev/null
	ckpt_unmount
	echo "another boot" >"$c/objects/boot_id"
	s3_requests_zero
	ckpt_mount "$(s3_url gen/big)" -o endpoint="$S3_ENDPOINT",cache_dir="$c"
	cmp "$MNT/big/layer_0000/w_00" "$BATS_TEST_TMPDIR/want"
	[ "$(s3_requests GET gen/big/)" -gt 0 ]
}
