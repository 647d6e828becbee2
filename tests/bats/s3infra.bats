#!/usr/bin/env bats
# The S3 test infrastructure itself (tests/s3, tests/bats/s3.bash), seen from
# curl: the local server, the uploads, the proxy's faults and counters.  With
# CKPTFS_TEST_S3_ENDPOINT set, the same tests run against that endpoint and
# the proxy's skip themselves.

load helpers
load s3

setup_file() { s3_setup_file; }
teardown_file() { s3_teardown_file; }
teardown() { s3_reset; }

# odd_tree DIR: files whose names need encoding
odd_tree() {
	mkdir -p "$1/dir with space" "$1/a"
	local n
	for n in "a b.txt" "ü日本.bin" "100%.txt" "a+b.txt" "x&y=z.txt" "it's!(1)*.txt" \
		"[br]{ace}.txt" "semi;colon,comma.txt" "tilde~.txt" 'hash#q?.txt' 'quote".txt' \
		'back\slash.txt' "dir with space/inner file" "a-c" "a.c" "a/b"; do
		printf 'content of %s' "$n" >"$1/$n"
	done
}

@test "all the shared fixtures upload and list back with their sizes" {
	local t0=$SECONDS
	s3_upload "$SHARED/fixtures" fix
	echo "upload: $((SECONDS - t0)) s" >&3
	s3_ls fix/ | LC_ALL=C sort >"$BATS_TEST_TMPDIR/got"
	(cd "$SHARED/fixtures" && find . -type f -printf "%s ${S3_ROOT}fix/%P\n") | LC_ALL=C sort >"$BATS_TEST_TMPDIR/want"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/want")" -gt 400 ]
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	# and the bytes: one file read back
	f=orbax/legacy/aggregate_all/checkpoint
	s3_curl -o "$BATS_TEST_TMPDIR/one" "$(s3_http_url "fix/$f")"
	cmp "$SHARED/fixtures/$f" "$BATS_TEST_TMPDIR/one"
}

@test "keys with spaces, UTF-8, %, +, & and quotes round-trip, listed in byte order" {
	odd_tree "$BATS_TEST_TMPDIR/odd"
	s3_upload "$BATS_TEST_TMPDIR/odd" "odd +%/"
	run s3_ls "odd +%/"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 16 ]
	keys=$(printf '%s\n' "${lines[@]}" | cut -d' ' -f2-)
	[ "$keys" = "$(printf '%s\n' "$keys" | LC_ALL=C sort)" ]
	while read -r size key; do
		name=${key#"${S3_ROOT}odd +%/"}
		[ "$size" -eq "$(stat -c %s "$BATS_TEST_TMPDIR/odd/$name")" ]
		[ "$(s3_curl "$(s3_http_url "odd +%/$name")")" = "content of $name" ]
	done < <(printf '%s\n' "${lines[@]}")
	# deleted all at once (parallel DELETEs in one directory)
	s3_rm -r "odd +%/"
	[ -z "$(s3_ls "odd +%/")" ]
}

@test "listing: delimiter, common prefixes without direct objects, max-keys pages" {
	mkdir -p "$BATS_TEST_TMPDIR/l/deep/x/y" "$BATS_TEST_TMPDIR/l/s1" "$BATS_TEST_TMPDIR/l/s2"
	for f in top deep/x/y/z s1/a s2/a s2/b; do echo "$f" >"$BATS_TEST_TMPDIR/l/$f"; done
	s3_upload "$BATS_TEST_TMPDIR/l" list
	run s3_ls -d / list/
	[ "${lines[*]}" = "4 ${S3_ROOT}list/top PRE ${S3_ROOT}list/deep/ PRE ${S3_ROOT}list/s1/ PRE ${S3_ROOT}list/s2/" ]
	# one item a page: 4 pages, each item once
	run s3_ls -p -d / -m 1 list/
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^PAGE .* KeyCount=1 ')" -eq 4 ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -vc '^PAGE')" -eq 4 ]
	run s3_ls -p -m 2 list/
	[ "${#lines[@]}" -eq 8 ] # 3 pages, 5 keys
	run s3_ls -a "${S3_ROOT}list/s1/a" list/
	[ "${lines[*]}" = "5 ${S3_ROOT}list/s2/a 5 ${S3_ROOT}list/s2/b 4 ${S3_ROOT}list/top" ]
}

@test "Range GET returns the exact bytes with 206 and Content-Range" {
	head -c 100000 /dev/urandom >"$BATS_TEST_TMPDIR/r"
	s3_put "$BATS_TEST_TMPDIR/r" range/r
	url=$(s3_http_url range/r)
	s3_curl -D "$BATS_TEST_TMPDIR/h" -H 'Range: bytes=1000-70999' -o "$BATS_TEST_TMPDIR/part" "$url"
	grep -q '^HTTP/1.1 206' "$BATS_TEST_TMPDIR/h"
	grep -qi '^Content-Range: bytes 1000-70999/100000' "$BATS_TEST_TMPDIR/h"
	cmp "$BATS_TEST_TMPDIR/part" <(tail -c +1001 "$BATS_TEST_TMPDIR/r" | head -c 70000)
	# one byte (s3rver alone sends the whole object), and an end past the size
	s3_curl -D "$BATS_TEST_TMPDIR/h" -H 'Range: bytes=0-0' -o "$BATS_TEST_TMPDIR/part" "$url"
	grep -qi '^Content-Range: bytes 0-0/100000' "$BATS_TEST_TMPDIR/h"
	cmp "$BATS_TEST_TMPDIR/part" <(head -c 1 "$BATS_TEST_TMPDIR/r")
	s3_curl -D "$BATS_TEST_TMPDIR/h" -H 'Range: bytes=99990-200000' -o "$BATS_TEST_TMPDIR/part" "$url"
	grep -qi '^Content-Range: bytes 99990-99999/100000' "$BATS_TEST_TMPDIR/h"
	cmp "$BATS_TEST_TMPDIR/part" <(tail -c 10 "$BATS_TEST_TMPDIR/r")
}

@test "SigV4: a wrong secret gets 403 SignatureDoesNotMatch; If-Match gets 412 when the ETag differs" {
	echo one >"$BATS_TEST_TMPDIR/f"
	s3_put "$BATS_TEST_TMPDIR/f" sig/f
	url=$(s3_http_url sig/f)
	run curl -s -g -w '\n%{http_code}' --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:wrong" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$url"
	[ "${lines[-1]}" = 403 ]
	[[ "$output" == *"<Code>SignatureDoesNotMatch</Code>"* ]]
	etag=$(s3_curl -I "$url" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
	[ "$etag" = "\"$(md5sum <"$BATS_TEST_TMPDIR/f" | cut -d' ' -f1)\"" ]
	[ "$(s3_curl -H "If-Match: $etag" "$url")" = one ]
	# a replaced object: a new ETag, and the old one no longer matches
	echo two >"$BATS_TEST_TMPDIR/f"
	s3_put "$BATS_TEST_TMPDIR/f" sig/f
	run s3_curl -o /dev/null -w '%{http_code}' -H "If-Match: $etag" "$url"
	[ "$output" = 412 ]
	run s3_curl -o /dev/null -w '%{http_code}' -H "If-Match: $etag" -H 'Range: bytes=0-1' "$url"
	[ "$output" = 412 ]
	s3_rm sig/f
	run s3_curl -o /dev/null -w '%{http_code}' "$url"
	[ "$output" = 404 ]
	if [ -n "$S3_LOCAL" ]; then # s3rver itself takes any secret
		run curl -s -o /dev/null -w '%{http_code}' "$url"
		[ "$output" = 403 ]
	fi
}

@test "faults 500, 503 SlowDown and 429 answer N times, only on matching paths" {
	s3_need_proxy
	echo data >"$BATS_TEST_TMPDIR/f"
	s3_put "$BATS_TEST_TMPDIR/f" fault/f
	s3_put "$BATS_TEST_TMPDIR/f" fault/g
	f=$(s3_http_url fault/f) g=$(s3_http_url fault/g)
	code() { s3_curl -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' "$1"; }
	s3_fault 500 2 /fault/f
	[ "$(code "$g")" = 200 ]
	[ "$(code "$f")" = 500 ]
	grep -q '<Code>InternalError</Code>' "$BATS_TEST_TMPDIR/body"
	[ "$(code "$f")" = 500 ]
	[ "$(code "$f")" = 200 ]
	s3_fault 503 1
	[ "$(code "$g")" = 503 ]
	grep -q '<Error><Code>SlowDown</Code>' "$BATS_TEST_TMPDIR/body"
	s3_fault 429 1
	[ "$(code "$f")" = 429 ]
	[ "$(code "$f")" = 200 ]
	# faults queue up in order; clear disarms them
	s3_fault 500 1
	s3_fault 503 1
	[ "$(code "$f")" = 500 ]
	[ "$(code "$f")" = 503 ]
	s3_fault 500 5
	s3_faults_clear
	[ "$(code "$f")" = 200 ]
	# a PUT's body is read and dropped: the connection still works
	s3_fault 503 1 /fault/h
	[ "$(s3_curl -o /dev/null -w '%{http_code}' -T "$BATS_TEST_TMPDIR/f" "$(s3_http_url fault/h)")" = 503 ]
	[ "$(s3_curl -o /dev/null -w '%{http_code}' -T "$BATS_TEST_TMPDIR/f" "$(s3_http_url fault/h)")" = 200 ]
}

@test "stall delays requests, reset cuts a body after K bytes or answers nothing" {
	s3_need_proxy
	head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/big"
	s3_put "$BATS_TEST_TMPDIR/big" fault/big
	url=$(s3_http_url fault/big)
	s3_fault stall:0.5 1 fault/big
	t0=$(date +%s%N)
	s3_curl -o "$BATS_TEST_TMPDIR/got" "$url"
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -ge 500 ]
	cmp "$BATS_TEST_TMPDIR/big" "$BATS_TEST_TMPDIR/got"
	# a client timeout shorter than the stall
	s3_fault stall:2 1 fault/big
	run s3_curl -m 0.3 -o /dev/null "$url"
	[ "$status" -eq 28 ]
	s3_fault reset:1000 1
	run s3_curl -o "$BATS_TEST_TMPDIR/got" "$url"
	[ "$status" -eq 18 ] # transfer closed with data outstanding
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/got")" -eq 1000 ]
	cmp "$BATS_TEST_TMPDIR/got" <(head -c 1000 "$BATS_TEST_TMPDIR/big")
	s3_fault reset:-1 1
	run s3_curl -o /dev/null "$url"
	[ "$status" -eq 52 ] # empty reply
	s3_curl -o "$BATS_TEST_TMPDIR/got" "$url"
	cmp "$BATS_TEST_TMPDIR/big" "$BATS_TEST_TMPDIR/got"
}

@test "latency delays each answer by a round trip, a new connection's first by two" {
	s3_need_proxy
	echo x >"$BATS_TEST_TMPDIR/f"
	s3_put "$BATS_TEST_TMPDIR/f" lat/f
	url=$(s3_http_url lat/f)
	s3_latency 300
	# two requests on one connection: time to the first byte of each answer
	run s3_curl -o /dev/null -o /dev/null -w '%{time_starttransfer} %{num_connects}\n' "$url" "$url"
	[ "$status" -eq 0 ]
	echo "$output"
	read -r first conns1 <<<"${lines[0]}"
	read -r second conns2 <<<"${lines[1]}"
	ms() { awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'; }
	[ "$conns1" -eq 1 ] && [ "$conns2" -eq 0 ] # the second reused the connection
	[ "$(ms "$first")" -ge 600 ]
	[ "$(ms "$second")" -ge 300 ]
	[ "$(ms "$second")" -lt 600 ]
	s3_latency 0
	run s3_curl -o /dev/null -w '%{time_starttransfer}' "$url"
	[ "$(ms "$output")" -lt 300 ]
}

@test "down refuses connections, up serves again" {
	s3_need_proxy
	echo x >"$BATS_TEST_TMPDIR/f"
	s3_put "$BATS_TEST_TMPDIR/f" down/f
	url=$(s3_http_url down/f)
	s3_down
	run s3_curl "$url"
	[ "$status" -eq 7 ] # connection refused
	run s3_curl "$url"
	[ "$status" -eq 7 ]
	s3_up
	[ "$(s3_curl "$url")" = x ]
}

@test "the proxy counts requests by method and path" {
	s3_need_proxy
	echo x >"$BATS_TEST_TMPDIR/f"
	s3_put "$BATS_TEST_TMPDIR/f" count/a
	s3_put "$BATS_TEST_TMPDIR/f" count/b
	s3_requests_zero
	[ "$(s3_requests)" -eq 0 ]
	for _ in 1 2 3; do s3_curl -o /dev/null "$(s3_http_url count/a)"; done
	s3_curl -o /dev/null "$(s3_http_url count/b)"
	s3_curl -I -o /dev/null "$(s3_http_url count/b)"
	s3_ls count/ >/dev/null
	s3_fault 500 1 count/b
	s3_curl -o /dev/null "$(s3_http_url count/b)"
	[ "$(s3_requests)" -eq 7 ]
	[ "$(s3_requests GET)" -eq 6 ]
	[ "$(s3_requests HEAD)" -eq 1 ]
	[ "$(s3_requests GET "/$S3_BUCKET/${S3_ROOT}count/a")" -eq 3 ]
	[ "$(s3_requests GET "/$S3_BUCKET/${S3_ROOT}count/b")" -eq 2 ] # the faulted one too
	[ "$(s3_requests "" "list-type=2")" -eq 1 ]
	[ "$(s3_requests PUT)" -eq 0 ]
	s3_requests_log | grep -q "fault:500"
}

@test "a server stops cleanly: no process left" {
	dir=$BATS_TEST_TMPDIR/another
	mkdir -p "$dir"
	"$ROOT/tests/s3/server" start "$dir" >"$dir/out"
	grep -q '^S3_ENDPOINT=http://127.0.0.1:[0-9]*$' "$dir/out"
	pgrep -f -- "$dir" >/dev/null
	"$ROOT/tests/s3/server" stop "$dir"
	run pgrep -f -- "$dir"
	[ "$status" -eq 1 ]
	# stopping again, or what never started, is fine
	"$ROOT/tests/s3/server" stop "$dir"
	"$ROOT/tests/s3/server" stop "$BATS_TEST_TMPDIR/none"
}
