# Helpers for the S3 tests (load after helpers.bash: `load helpers; load s3`).
#
#   setup_file()    { s3_setup_file; }
#   teardown_file() { s3_teardown_file; }
#
# By default s3_setup_file starts one local server for the whole bats file
# (tests/s3/server: s3rver behind tests/s3/faultproxy.py) in
# $BATS_FILE_TMPDIR/s3, and s3_teardown_file always stops it (and fails if
# a process is left).  Set instead
#   CKPTFS_TEST_S3_ENDPOINT=https://host[:port]  CKPTFS_TEST_S3_BUCKET=bucket
#   AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... [AWS_REGION=us-east-1]
# and the same tests run against that endpoint (path-style URLs): no server
# is started, everything goes under a unique prefix that s3_teardown_file
# deletes, and tests needing the proxy (s3_fault, s3_down, s3_up,
# s3_requests) skip themselves ("faults need the local proxy").
#
# Exported for the tests and the daemon:
#   S3_ENDPOINT            http://127.0.0.1:PORT (the proxy) or the given one
#   S3_BUCKET              ckptfs-test, or CKPTFS_TEST_S3_BUCKET
#   S3_ROOT                the prefix every test's keys go under: "t/" locally,
#                          "ckptfs-test-STAMP-PID-RANDOM/" on another endpoint
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
#   S3_LOCAL               1 with the local server, empty otherwise
#   S3_PROXY_CONTROL, S3RVER_ENDPOINT   (local only) the proxy's control
#                          port, s3rver itself without the proxy
# Functions (KEY and PREFIX are relative to $S3_ROOT, unencoded):
#   s3_upload DIR PREFIX   every file under DIR as PREFIX/RELATIVE-PATH
#   s3_put FILE KEY        one object, created or replaced
#   s3_rm KEY...           deletes objects; s3_rm -r PREFIX: all under PREFIX
#   s3_ls [ls options] PREFIX   "SIZE KEY" / "PRE PREFIX" lines (keys in full)
#   s3_url PREFIX          s3://$S3_BUCKET/$S3_ROOT$PREFIX
#   s3_http_url KEY        $S3_ENDPOINT/$S3_BUCKET/$S3_ROOT$KEY, encoded
#   s3_curl ARGS...        curl signed with the credentials (add the URL)
#   s3_fault KIND N [PATTERN]   the next N requests whose target (path?query,
#                          %-encoded as sent) contains PATTERN get KIND: 500,
#                          503 (SlowDown), 429, stall[:SECONDS] (default 5),
#                          reset[:BYTES] (close after BYTES of the body,
#                          default 0; reset:-1 closes without an answer)
#   s3_faults_clear        disarms every fault
#   s3_reset               (for teardown) disarms faults, s3_up; never skips
#   s3_down / s3_up        the endpoint refuses connections / serves again
#   s3_requests [METHOD] [SUBSTRING]   prints how many requests the proxy
#                          saw (method "" = any; SUBSTRING of path?query)
#   s3_requests_zero       starts the counts again; s3_requests_log: all seen
#   s3_latency MS          emulated round trip: every request's answer comes
#                          MS ms later, the first on a new connection 2*MS
#                          (the handshake); bodies still stream at local
#                          speed (no bandwidth-delay); 0 turns it off.  See
#                          "GET /latency" in tests/s3/faultproxy.py
# The tools behind them (tests/s3/upload, put, rm, ls, mb, server,
# faultproxy.py) document themselves; docs/testing-s3.md tells the whole.

S3_TOOLS=$ROOT/tests/s3

s3_setup_file() {
	export AWS_REGION=${AWS_REGION:-us-east-1}
	if [ -n "${CKPTFS_TEST_S3_ENDPOINT:-}" ]; then
		: "${CKPTFS_TEST_S3_BUCKET:?CKPTFS_TEST_S3_BUCKET must be set with CKPTFS_TEST_S3_ENDPOINT}"
		: "${AWS_ACCESS_KEY_ID:?AWS_ACCESS_KEY_ID must be set with CKPTFS_TEST_S3_ENDPOINT}"
		: "${AWS_SECRET_ACCESS_KEY:?AWS_SECRET_ACCESS_KEY must be set with CKPTFS_TEST_S3_ENDPOINT}"
		export S3_LOCAL= S3_ENDPOINT=${CKPTFS_TEST_S3_ENDPOINT%/} S3_BUCKET=$CKPTFS_TEST_S3_BUCKET
		export S3_ROOT="ckptfs-test-$(date +%Y%m%d%H%M%S)-$$-$RANDOM/"
		export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	else
		export S3_LOCAL=1 S3_SERVER_DIR=$BATS_FILE_TMPDIR/s3
		mkdir -p "$S3_SERVER_DIR"
		local env
		env=$("$S3_TOOLS/server" start "$S3_SERVER_DIR") || return 1
		eval "export $(echo $env)"
		export S3_BUCKET=ckptfs-test S3_ROOT=t/
		export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
	fi
	if ! "$S3_TOOLS/mb" "s3://$S3_BUCKET"; then
		[ -z "${S3_LOCAL:-}" ] || "$S3_TOOLS/server" stop "$S3_SERVER_DIR"
		return 1
	fi
}

# s3_reset: (in teardown) disarms faults and brings a downed proxy back up,
# so that a failed test leaves nothing armed for the next; no-op elsewhere
s3_reset() {
	[ -n "${S3_LOCAL:-}" ] || return 0
	s3_control clear >/dev/null && s3_control up >/dev/null &&
		s3_control latency --data-urlencode ms=0 >/dev/null && s3_control token >/dev/null
}

s3_teardown_file() {
	if [ -n "${S3_LOCAL:-}" ]; then
		[ -n "${S3_SERVER_DIR:-}" ] || return 0
		"$S3_TOOLS/server" stop "$S3_SERVER_DIR"
		if pgrep -f -- "$S3_SERVER_DIR" >&2; then
			echo "s3_teardown_file: processes left behind (above)" >&2
			return 1
		fi
	elif [ -n "${S3_ROOT:-}" ] && [ -n "${S3_BUCKET:-}" ]; then
		"$S3_TOOLS/rm" -r "s3://$S3_BUCKET/$S3_ROOT"
	fi
}

s3_url() { echo "s3://$S3_BUCKET/$S3_ROOT$1"; }
s3_upload() { "$S3_TOOLS/upload" "$1" "s3://$S3_BUCKET/$S3_ROOT$2" >/dev/null; }
s3_put() { "$S3_TOOLS/put" "$1" "s3://$S3_BUCKET/$S3_ROOT$2"; }
s3_rm() {
	local r=() k urls=()
	if [ "${1:-}" = -r ]; then r=(-r); shift; fi
	for k in "$@"; do urls+=("s3://$S3_BUCKET/$S3_ROOT$k"); done
	"$S3_TOOLS/rm" "${r[@]}" "${urls[@]}"
}
s3_ls() {
	local args=("$@")
	args[-1]="s3://$S3_BUCKET/$S3_ROOT${args[-1]}"
	"$S3_TOOLS/ls" "${args[@]}"
}
s3_http_url() {
	echo "$S3_ENDPOINT/$S3_BUCKET/$("${PY:-/usr/bin/python3}" -c \
		'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/-_.~"))' "$S3_ROOT$1")"
}
s3_curl() {
	curl -s -g --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

# s3_control PATH [curl -G args]: a command to the proxy (local only)
s3_control() {
	local path=$1
	shift
	curl -sfG "$@" "$S3_PROXY_CONTROL/$path"
}
s3_need_proxy() {
	[ -n "${S3_LOCAL:-}" ] || skip "faults need the local proxy"
}

s3_fault() {
	s3_need_proxy
	local kind=${1%%:*} arg= n=$2 pattern=${3:-}
	[ "$kind" = "$1" ] || arg=${1#*:}
	local extra=()
	case $kind in
	stall) [ -z "$arg" ] || extra=(--data-urlencode "seconds=$arg") ;;
	reset) [ -z "$arg" ] || extra=(--data-urlencode "after=$arg") ;;
	500 | 503 | 429) ;;
	*) echo "s3_fault: unknown kind $1" >&2; return 1 ;;
	esac
	s3_control fault --data-urlencode "kind=$kind" --data-urlencode "n=$n" \
		--data-urlencode "match=$pattern" "${extra[@]}" >/dev/null
}
s3_faults_clear() { s3_need_proxy; s3_control clear >/dev/null; }
s3_down() { s3_need_proxy; s3_control down >/dev/null; }
s3_up() { s3_need_proxy; s3_control up >/dev/null; }
s3_requests() {
	s3_need_proxy
	s3_control count --data-urlencode "method=${1:-}" --data-urlencode "match=${2:-}"
}
s3_requests_zero() { s3_need_proxy; s3_control zero >/dev/null; }
s3_requests_log() { s3_need_proxy; s3_control log; }
s3_latency() { s3_need_proxy; s3_control latency --data-urlencode "ms=$1" >/dev/null; }
