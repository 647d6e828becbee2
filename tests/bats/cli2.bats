#!/usr/bin/env bats
# The ckpt command line (issue 13 item 4): --version, --help, errors, the
# mount's order, info, stats, diff, export, prune --dry-run, progress,
# bash completion and the man page.  Numbers are checked against numpy and
# files against parsers written here from their specifications
# (tests/tools/cli_check.py).

load helpers

teardown() { ckpt_teardown; }

CHECK=$ROOT/tests/tools/cli_check.py
DT=$REAL/gen/dtypes
export CKPT

mk() {
	local name=$1
	shift
	"$CKPT" make "$BATS_TEST_TMPDIR/$name" --no-fsync "$@" >/dev/null
}

@test "ckpt --version, --help, unknown commands and options" {
	run "$CKPT" --version
	[ "$status" -eq 0 ]
	[ "$output" = "ckpt $(sed -n "s/^ *version : '\(.*\)',/\1/p" "$ROOT/meson.build")" ]
	run "$CKPT" --help
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: ckpt [--version] [--help] COMMAND [ARGS]" ]]
	run "$CKPT" frobnicate /tmp
	[ "$status" -eq 2 ]
	[ "$output" = "ckpt: 'frobnicate' is not a ckpt command; see 'ckpt --help'" ]
	run "$CKPT" --frob
	[ "$status" -eq 2 ]
	[ "$output" = "ckpt: unknown option '--frob'; see 'ckpt --help'" ]
	run "$CKPT" ls --frob "$DT"
	[ "$status" -eq 2 ]
	[ "$output" = "ckpt ls: unknown option '--frob'; see 'ckpt ls --help'" ]
	run "$CKPT" export --format
	[ "$status" -eq 2 ]
	[ "$output" = "ckpt export: option '--format' needs a value; see 'ckpt export --help'" ]
	run "$CKPT" export --format zip "$DT" dtypes x
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown format 'zip'"* ]]
	run "$CKPT" ocdbt ls --frob "$DT"
	[ "$status" -eq 2 ]
	[ "$output" = "ckpt ocdbt: unknown option '--frob'; see 'ckpt ocdbt --help'" ]
	run "$CKPT" make --leaves
	[ "$status" -eq 2 ]
	[[ "$output" == *"option '--leaves' needs a value"* ]]
	run "$CKPT" cat "$DT"
	[ "$status" -eq 2 ]
	run "$CKPT"
	[ "$status" -eq 2 ]
	local c
	for c in ls cat meta info stats diff export versions prune make ocdbt; do
		run "$CKPT" $c --help
		[ "$status" -eq 0 ] || { echo "$c --help: $status" >&2; return 1; }
		[[ "${lines[0]}" == "usage: ckpt $c "* ]] || { echo "$c: ${lines[0]}" >&2; return 1; }
		# on stdout, nothing on stderr
		[ -z "$("$CKPT" $c --help 2>&1 >/dev/null)" ]
		[ "$("$CKPT" help $c)" = "$("$CKPT" $c --help)" ]
	done
}

@test "ckpt ls lists in the mount's order (steps by number, the pytree's order, escaped names)" {
	mk root --steps 12 --leaves 3 --extras --json-item
	ckpt_mount "$BATS_TEST_TMPDIR/root"
	# what find (readdir order, depth first) shows, without .json/.npy views and hidden files
	(cd "$MNT" && find . -mindepth 1 \( -name '.*' -prune \) -o \( -type f ! -name '*.npy' ! -name '*.json' -print \) \
		-o \( -type d -empty -printf '%p/\n' \) -o \( -type f -name 'metadata.json' -print \) |
		sed 's|^\./||') >"$BATS_TEST_TMPDIR/mount"
	ckpt_unmount
	"$CKPT" ls "$BATS_TEST_TMPDIR/root" >"$BATS_TEST_TMPDIR/ls"
	diff "$BATS_TEST_TMPDIR/mount" "$BATS_TEST_TMPDIR/ls"
	# numbers ascending: 0 1 2 ... 10 11, not 0 1 10 11 2
	[ "$(cut -d/ -f1 "$BATS_TEST_TMPDIR/ls" | uniq | tr '\n' ' ')" = "0 1 2 3 4 5 6 7 8 9 10 11 " ]
	run "$CKPT" ls -l "$BATS_TEST_TMPDIR/root" 11/state
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "11/state/extras/empty/" ]
	[[ "$output" == *"           6 11/state/extras/name  string"* ]]
	[[ "$output" == *"        4096 11/state/layer_0000/w_00  float32[4,256]"* ]]
}

# mount_listing: the mount's files in find's (readdir) order, as ckpt ls prints them
mount_listing() {
	(cd "$MNT" && find . -mindepth 1 \( -name '.*' -prune \) -o \( -type f ! -name '*.npy' ! -name '*.json' -print \) \
		-o \( -type d -empty -printf '%p/\n' \) | sed 's|^\./||')
}

@test "ckpt ls, stats and export name odd keys as the mount does (%2F, the empty key, spaces, UTF-8)" {
	local k
	for k in odd_keys empty_key py_values; do
		ckpt_mount "$REAL/extra/orbax_extra/$k"
		mount_listing >"$BATS_TEST_TMPDIR/$k.mount"
		ckpt_unmount
		"$CKPT" ls "$REAL/extra/orbax_extra/$k" | diff "$BATS_TEST_TMPDIR/$k.mount" -
	done
	[ "$("$CKPT" cat "$REAL/extra/orbax_extra/odd_keys" 'odd_keys/a%2Fb' | od -A n -t d8 | tr -s ' \n' ' ')" = " 0 1 2 " ]
	run "$CKPT" stats "$REAL/extra/orbax_extra/odd_keys"
	[ "$status" -eq 0 ]
	[[ "$output" == *"a%2Fb  int64[3]  min=0 max=2 mean=1 "* ]]
	"$CKPT" export "$REAL/extra/orbax_extra/odd_keys" "" "$BATS_TEST_TMPDIR/odd"
	[ "$($PY -c 'import numpy as np, sys; print(np.load(sys.argv[1]).tolist())' "$BATS_TEST_TMPDIR/odd/a%2Fb.npy")" = "[0, 1, 2]" ]
	[ -f "$BATS_TEST_TMPDIR/odd/sp ace/x.npy" ]
}

@test "ckpt info: steps, items, leaves, parameters and bytes by dtype (checked through the mount)" {
	mk mix --steps 2 --leaves 13 --dtype mix --json-item --extras
	run "$CKPT" info "$BATS_TEST_TMPDIR/mix"
	[ "$status" -eq 0 ]
	echo "$output" | head -6 >&3
	[[ "$output" == *"steps   2"* ]]
	[[ "$output" == *"items   4"* ]]
	"$CKPT" info --json "$BATS_TEST_TMPDIR/mix" >"$BATS_TEST_TMPDIR/info.json"
	ckpt_mount "$BATS_TEST_TMPDIR/mix"
	$PY - "$MNT" "$BATS_TEST_TMPDIR/info.json" <<-'PY'
		import json, os, sys
		mnt, info = sys.argv[1], json.load(open(sys.argv[2]))
		by, leaves, arrays = {}, 0, 0
		for d, dirs, files in os.walk(mnt):
		    dirs[:] = [x for x in dirs if not x.startswith(".")]
		    for f in files:
		        if f.endswith((".json", ".npy")) or f.startswith("."):
		            continue
		        leaves += 1
		        m = json.load(open(os.path.join(d, f + ".json")))
		        if "dtype" not in m or "shape" not in m:
		            continue
		        arrays += 1
		        n = 1
		        for s in m["shape"]:
		            n *= s
		        e = by.setdefault(m["dtype"], [0, 0, 0])
		        e[0] += 1; e[1] += n; e[2] += os.path.getsize(os.path.join(d, f))
		assert info["steps"] == 2 and info["items"] == 4, info
		assert info["leaves"] == leaves and info["arrays"] == arrays, (info, leaves, arrays)
		got = {k: [v["leaves"], v["params"], v["nbytes"]] for k, v in info["dtypes"].items()}
		assert got == by, (got, by)
		assert info["params"] == sum(v[1] for v in by.values())
		assert info["nbytes"] == sum(v[2] for v in by.values())
		print("info agrees with the mount:", len(by), "dtypes,", info["params"], "params")
	PY
}

@test "ckpt stats agrees with numpy: every dtype of the real fixture, a synthetic mix, NaN/Inf/zeros" {
	# min/max exact; mean/std within 1e-9 relative (double accumulation both sides)
	"$CKPT" stats --json "$DT" dtypes/dtypes >"$BATS_TEST_TMPDIR/s.json"
	$PY "$CHECK" stats "$DT" "$BATS_TEST_TMPDIR/s.json" dtypes/dtypes/
	mk mix --leaves 13 --dtype mix --leaf-bytes 100K --chunk-bytes 16K
	"$CKPT" stats --json "$BATS_TEST_TMPDIR/mix" >"$BATS_TEST_TMPDIR/m.json"
	[ "$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$BATS_TEST_TMPDIR/m.json")" = 13 ]
	$PY "$CHECK" stats "$BATS_TEST_TMPDIR/mix" "$BATS_TEST_TMPDIR/m.json" mix/
	# special values written through a read-write mount
	mk f --leaves 2 --leaf-bytes 4K
	ckpt_mount "$BATS_TEST_TMPDIR/f" -o rw
	$PY -c 'import numpy as np, sys
x = np.linspace(-3, 5, 1024).astype("<f4"); x[[1, 7, 9]] = np.nan; x[3] = np.inf; x[4] = -np.inf; x[10:20] = 0
sys.stdout.buffer.write(x.tobytes())' >"$MNT/f/layer_0000/w_01"
	ckpt_unmount
	run "$CKPT" stats "$BATS_TEST_TMPDIR/f" layer_0000/w_01
	[ "$status" -eq 0 ]
	[[ "$output" == *"nan=3 inf=2 zeros=10"* ]]
	"$CKPT" stats --json "$BATS_TEST_TMPDIR/f" >"$BATS_TEST_TMPDIR/f.json"
	$PY "$CHECK" stats "$BATS_TEST_TMPDIR/f" "$BATS_TEST_TMPDIR/f.json" f/
}

@test "ckpt stats streams: a 96 MiB leaf in bounded memory, across many blocks, agrees with numpy" {
	mk big --leaves 1 --leaf-bytes 96M --chunk-bytes 40M
	# the child's peak RSS in KiB (python's getrusage: no time(1) needed)
	$PY -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:-1], check=True, stdout=open(sys.argv[-1], "w"))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' \
		"$CKPT" stats --json "$BATS_TEST_TMPDIR/big" "$BATS_TEST_TMPDIR/b.json" >"$BATS_TEST_TMPDIR/rss"
	echo "# stats of a 96 MiB leaf: max RSS $(cat "$BATS_TEST_TMPDIR/rss") KiB" >&3
	# (sanitizer builds keep freed memory in quarantine: no bound there)
	[[ $BUILD == *-asan* || $BUILD == *-tsan* ]] || [ "$(cat "$BATS_TEST_TMPDIR/rss")" -lt 90000 ]
	$PY "$CHECK" stats "$BATS_TEST_TMPDIR/big" "$BATS_TEST_TMPDIR/b.json" big/
}

@test "ckpt diff: same (0), a changed leaf named with numpy's max difference (1), added/removed/dtype, trouble (2)" {
	mk a --leaves 4 --leaf-bytes 8K --extras --json-item
	cp -a "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	run "$CKPT" diff "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	ckpt_mount "$BATS_TEST_TMPDIR/b" -o rw
	$PY - "$MNT/b/state/layer_0000/w_02" <<-'PY'
		import numpy as np, sys
		x = np.fromfile(sys.argv[1], "<f4")
		x[5] += 0.25; x[100] -= 1e-3
		open(sys.argv[1], "r+b").write(x.tobytes())
	PY
	ckpt_unmount
	run "$CKPT" diff "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	[ "$status" -eq 1 ]
	echo "$output" >&3
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "M state/layer_0000/w_02  float32[8,256]  2 of 2048 elements differ, max abs 0.25, max rel "* ]]
	run "$CKPT" diff --json "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	[ "$status" -eq 1 ]
	echo "$output" >"$BATS_TEST_TMPDIR/d.json"
	$PY "$CHECK" maxdiff "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b" a/state/layer_0000/w_02 b/state/layer_0000/w_02 "$BATS_TEST_TMPDIR/d.json"
	run "$CKPT" diff -q "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	# added, removed and dtype changes
	mk c --leaves 3 --leaf-bytes 8K
	mk d --leaves 4 --leaf-bytes 8K --dtype bfloat16
	run "$CKPT" diff "$BATS_TEST_TMPDIR/c" "$BATS_TEST_TMPDIR/d"
	[ "$status" -eq 1 ]
	[[ "$output" == *"T layer_0000/w_00  float32[8,256] -> bfloat16[16,256]"* ]]
	[[ "$output" == *"+ layer_0000/w_03  bfloat16[16,256]"* ]]
	run "$CKPT" diff "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/c"
	[[ "$output" == *"- layer_0000/w_03  bfloat16[16,256]"* ]]
	# two steps of one root; a missing step is trouble
	mk r --steps 2 --leaves 2
	run "$CKPT" diff "$BATS_TEST_TMPDIR/r" 1 1
	[ "$status" -eq 0 ]
	run "$CKPT" diff "$BATS_TEST_TMPDIR/r" 0 1/state
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "+ layer_0000/w_00  float32[4,256]" ]
	[ "${lines[2]}" = "- state/layer_0000/w_00  float32[4,256]" ]
	run "$CKPT" diff "$BATS_TEST_TMPDIR/r" 0 1
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[1]}" == "M state/layer_0000/w_01  float32[4,256]  "*" elements differ, max abs "* ]]
	run "$CKPT" diff "$BATS_TEST_TMPDIR/r" 0 7
	[ "$status" -eq 2 ]
	run "$CKPT" diff "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/nope"
	[ "$status" -eq 2 ]
	[[ "$output" == *"nope"* ]]
}

@test "ckpt export --format npy: np.load reads every leaf, bytes equal ckpt cat, np.save's own header" {
	"$CKPT" export "$DT" dtypes/dtypes "$BATS_TEST_TMPDIR/npy"
	$PY "$CHECK" npy "$DT" dtypes/dtypes "$BATS_TEST_TMPDIR/npy"
	mk mix --steps 2 --leaves 13 --dtype mix --depth 3 --extras --json-item
	"$CKPT" export "$BATS_TEST_TMPDIR/mix" 1/state "$BATS_TEST_TMPDIR/m"
	$PY "$CHECK" npy "$BATS_TEST_TMPDIR/mix" 1/state "$BATS_TEST_TMPDIR/m"
	# OUT exists: refused unless --force
	run "$CKPT" export "$BATS_TEST_TMPDIR/mix" 1/state "$BATS_TEST_TMPDIR/m"
	[ "$status" -eq 1 ]
	[[ "$output" == *"exists (--force writes anyway)"* ]]
	"$CKPT" export --force "$BATS_TEST_TMPDIR/mix" 1 "$BATS_TEST_TMPDIR/m"
	[ -f "$BATS_TEST_TMPDIR/m/metadata.json" ]
}

@test "ckpt export --format safetensors: the file a parser written from the spec reads; unsupported dtypes named" {
	mk mix --leaves 9 --dtype mix --depth 2 --leaf-bytes 3000
	"$CKPT" export --format safetensors "$BATS_TEST_TMPDIR/mix" mix "$BATS_TEST_TMPDIR/m.safetensors"
	$PY "$CHECK" safetensors "$BATS_TEST_TMPDIR/mix" mix "$BATS_TEST_TMPDIR/m.safetensors"
	# BF16 and the two float8 kinds of the real fixture
	"$CKPT" export --format safetensors "$DT" dtypes/dtypes/float8_e4m3fn "$BATS_TEST_TMPDIR/f8.safetensors"
	$PY - "$BATS_TEST_TMPDIR/f8.safetensors" <<-'PY'
		import json, sys
		d = open(sys.argv[1], "rb").read()
		n = int.from_bytes(d[:8], "little")
		h = json.loads(d[8:8 + n])
		assert h["float8_e4m3fn"] == {"dtype": "F8_E4M3", "shape": [8], "data_offsets": [0, 8]}, h
	PY
	run "$CKPT" export --format safetensors "$DT" dtypes/dtypes "$BATS_TEST_TMPDIR/all.safetensors"
	[ "$status" -eq 1 ]
	[ "$output" = "ckpt export: 'c64': safetensors has no dtype for complex64 (export it as npy)" ]
	[ ! -e "$BATS_TEST_TMPDIR/all.safetensors" ] && [ ! -e "$BATS_TEST_TMPDIR/all.safetensors.tmp" ]
}

@test "ckpt prune --dry-run deletes nothing and names exactly what prune then deletes" {
	local kind args
	for kind in ocdbt plain; do
		args=; [ $kind = plain ] && args=--no-ocdbt
		mk "$kind" --leaves 2 --leaf-bytes 256K --json-item $args
		ckpt_mount "$BATS_TEST_TMPDIR/$kind" -o rw
		head -c 256K /dev/urandom >"$MNT/$kind/state/layer_0000/w_00"
		head -c 256K /dev/urandom >"$MNT/$kind/state/layer_0000/w_01"
		ckpt_unmount
		local d=$BATS_TEST_TMPDIR/$kind
		(cd "$BATS_TEST_TMPDIR" && find "$kind" -type f -exec sha256sum {} + | sort) >"$d.before"
		run "$CKPT" prune --dry-run "$d" "$kind"
		[ "$status" -eq 0 ]
		echo "$output" | tail -1 >&3
		(cd "$BATS_TEST_TMPDIR" && find "$kind" -type f -exec sha256sum {} + | sort) | diff "$d.before" -
		echo "$output" | grep -v '^#' | grep -v '^would delete' | cut -f1 | sed "s|^$BATS_TEST_TMPDIR/||" | LC_ALL=C sort >"$d.dry"
		[ -s "$d.dry" ]
		local bytes
		bytes=$(echo "$output" | grep -v '^#' | grep -v '^would delete' | awk -F'\t' '{s += $2} END {print s}')
		[[ "${lines[-1]}" == "would delete $(wc -l <"$d.dry") files, $bytes bytes (nothing deleted: --dry-run)" ]]
		"$CKPT" prune "$d" "$kind"
		(cd "$BATS_TEST_TMPDIR" && find "$kind" -type f | LC_ALL=C sort) >"$d.after"
		awk '{print $2}' "$d.before" | LC_ALL=C sort | LC_ALL=C comm -23 - "$d.after" >"$d.deleted"
		diff "$d.dry" "$d.deleted"
		[ "$("$CKPT" versions "$d")" = "" ]
		run "$CKPT" prune --dry-run "$d" "$kind"
		[ "${lines[-1]}" = "would delete 0 files, 0 bytes (nothing deleted: --dry-run)" ]
	done
}

@test "progress on a terminal only: make, stats, export, diff" {
	mk p --leaves 2 --leaf-bytes 2M
	local c
	for c in "stats $BATS_TEST_TMPDIR/p" "export $BATS_TEST_TMPDIR/p p $BATS_TEST_TMPDIR/o" \
		"diff $BATS_TEST_TMPDIR/p $BATS_TEST_TMPDIR/p" "make $BATS_TEST_TMPDIR/q --leaves 2 --leaf-bytes 2M --no-fsync"; do
		# not a terminal: nothing on stderr
		[ -z "$("$CKPT" $c 2>&1 >/dev/null)" ]
		rm -rf "$BATS_TEST_TMPDIR/o" "$BATS_TEST_TMPDIR/q"
		# a terminal (script(1) gives a pty): a progress line, then cleared
		script -qec "$CKPT $c >/dev/null" /dev/null | tr '\r' '\n' | grep -q "^${c%% *}: .*%" ||
			{ echo "no progress for $c" >&2; return 1; }
		rm -rf "$BATS_TEST_TMPDIR/o" "$BATS_TEST_TMPDIR/q"
	done
}

@test "bash completion: subcommands, their options, paths inside a checkpoint" {
	local comp=$ROOT/tools/ckpt.bash-completion
	bash -n "$comp"
	run bash -c "PATH='$BUILD/tools':$PATH; source '$comp'
		COMP_WORDS=(ckpt st); COMP_CWORD=1; _ckpt; echo \"\${COMPREPLY[*]}\""
	[ "$output" = "stats" ]
	run bash -c "PATH='$BUILD/tools':$PATH; source '$comp'
		COMP_WORDS=(ckpt export --f); COMP_CWORD=2; _ckpt; echo \"\${COMPREPLY[*]}\""
	[ "$output" = "--format --force" ]
	run bash -c "PATH='$BUILD/tools':$PATH; source '$comp'
		COMP_WORDS=(ckpt export --format ''); COMP_CWORD=3; _ckpt; echo \"\${COMPREPLY[*]}\""
	[ "$output" = "npy safetensors" ]
	run bash -c "PATH='$BUILD/tools':$PATH; source '$comp'
		COMP_WORDS=(ckpt stats '$DT' dtypes/dtypes/f); COMP_CWORD=3; _ckpt; echo \"\${COMPREPLY[*]}\""
	[[ "$output" == *"dtypes/dtypes/f16"* && "$output" == *"dtypes/dtypes/float8_e5m2"* ]]
}

@test "man page ckpt(1) documents every subcommand and renders" {
	local man=$ROOT/tools/ckpt.1 c
	for c in ls cat meta info stats diff export versions prune make ocdbt; do
		grep -q "^\.SS $c\$" "$man" || { echo "ckpt.1 lacks $c" >&2; return 1; }
	done
	if command -v groff >/dev/null; then
		groff -man -Tutf8 -ww -z "$man" 2>&1 | tee /dev/stderr | { ! grep -q .; }
	fi
}

@test "meson install puts ckpt, its man page and its bash completion in place (DESTDIR)" {
	local d=$BATS_TEST_TMPDIR/dest prefix
	DESTDIR=$d meson install -C "$BUILD" --no-rebuild --quiet >/dev/null
	prefix=$(meson introspect "$BUILD" --buildoptions | $PY -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
	[ -x "$d$prefix/bin/ckpt" ]
	cmp "$d$prefix/share/man/man1/ckpt.1" "$ROOT/tools/ckpt.1"
	cmp "$d$prefix/share/bash-completion/completions/ckpt" "$ROOT/tools/ckpt.bash-completion"
	[ "$("$d$prefix/bin/ckpt" --version)" = "$("$CKPT" --version)" ]
	if command -v man >/dev/null; then
		MANPAGER=cat man -l "$d$prefix/share/man/man1/ckpt.1" 2>/dev/null | tr -s " " | grep -q "ckpt - list, read, inspect, compare and export"
	fi
}
