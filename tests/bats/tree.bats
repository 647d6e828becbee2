#!/usr/bin/env bats
# Tree mounts (docs/trees.md): a SOURCE that is not a checkpoint but holds
# checkpoints below it shows its folders, each checkpoint in place exactly as
# a mount of it alone shows it, and its other files read-only as they are.

load helpers

teardown() {
	ckpt_teardown
}

# digest DIR: every path below DIR with its type, the SHA-256 of every
# regular file (or the error reading it) and the target of every link
digest() {
	(cd "$1" && find . -mindepth 1 -printf '%y %p\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum 2>&1
		find . -type l -printf '%p -> %l\n' | LC_ALL=C sort) || true
}

# make_tree T: manager roots and single checkpoints at several depths, Flax
# files named by anything, plain files and folders, names with spaces
make_tree() {
	local t=$1
	mkdir -p "$t/runs/exp one" "$t/runs/exp two" "$t/deep/a/b/c" "$t/flax" "$t/data" "$t/empty"
	"$CKPT" make "$t/runs/exp one/mgr" --steps 3 --leaves 3 --leaf-bytes 2K --no-fsync >/dev/null
	"$CKPT" make "$t/runs/exp one/best model" --leaves 2 --leaf-bytes 1K --no-fsync --seed 7 >/dev/null
	"$CKPT" make "$t/runs/exp two/mgr2" --steps 2 --leaves 2 --no-ocdbt --no-fsync --seed 3 >/dev/null
	"$CKPT" make "$t/runs/exp two/bf" --leaves 2 --dtype bfloat16 --zarr3 --no-fsync --seed 5 >/dev/null
	"$CKPT" make "$t/deep/a/b/c/far" --leaves 2 --no-fsync --seed 9 >/dev/null
	$PY "$ROOT/tests/tools/make_flax.py" "$BATS_TEST_TMPDIR/flaxgen" >/dev/null
	cp "$BATS_TEST_TMPDIR/flaxgen/checkpoint_10" "$t/flax/x.ckpt"
	cp "$BATS_TEST_TMPDIR/flaxgen/checkpoint_1.5" "$t/flax/model.msgpack"
	cp -r "$BATS_TEST_TMPDIR/flaxgen" "$t/flax/managed"
	# longer than the bytes the content sniff reads
	$PY -c 'import msgpack, sys; open(sys.argv[1], "wb").write(msgpack.packb(
		{"notes": "\u00e9t\u00e9 " * 40000, "step": 3, "raw": bytes(range(256)) * 400}))' "$t/flax/long.msgpack"
	echo "learning rate 3e-4" >"$t/notes.txt"
	head -c 100000 /dev/urandom >"$t/data/blob.bin" # random: never a Flax file
	printf '\x85garbage, not msgpack\xc1\xc1' >"$t/data/fake.ckpt" # starts like a msgpack map
	printf '\x81\xa1k' >"$t/data/cut.msgpack"                      # a map cut short
	ln -s "exp one/mgr" "$t/runs/latest run"
	ln -s /nonexistent/x "$t/data/dangling"
}

# the checkpoints make_tree made, relative to T
CKPTS=("runs/exp one/mgr" "runs/exp one/best model" "runs/exp two/mgr2" "runs/exp two/bf"
	"deep/a/b/c/far" "flax/x.ckpt" "flax/model.msgpack" "flax/managed" "flax/long.msgpack")

@test "a tree mounts: its folders, every checkpoint byte-exact as when mounted alone, plain files as they are" {
	local t=$BATS_TEST_TMPDIR/tree
	make_tree "$t"
	ckpt_mount "$t" -o ro
	local top=$MNT
	[ "$(ls "$top" | tr '\n' ' ')" = "data deep empty flax notes.txt runs " ]
	[ "$(ls "$top/runs/exp one" | tr '\n' '|')" = "best model|mgr|" ]
	[ "$(ls "$top/flax" | tr '\n' ' ')" = "long.msgpack managed model.msgpack x.ckpt " ]
	[ "$(ls "$top/data" | tr '\n' ' ')" = "blob.bin cut.msgpack dangling fake.ckpt " ]
	# links as they are: a relative one leads into the tree's checkpoint
	[ "$(readlink "$top/runs/latest run")" = "exp one/mgr" ]
	[ "$(readlink "$top/data/dangling")" = /nonexistent/x ]
	[ "$(ls "$top/runs/latest run/" | tr '\n' ' ')" = "0 0.json 1 1.json 2 2.json latest " ]
	[ -d "$top/empty" ] && [ -z "$(ls -A "$top/empty")" ]
	# a manager root shows its steps and latest, as mounted alone
	[ "$(ls "$top/runs/exp one/mgr" | tr '\n' ' ')" = "0 0.json 1 1.json 2 2.json latest " ]
	[ "$(readlink "$top/runs/exp one/mgr/latest")" = 2 ]
	local p
	for p in "${CKPTS[@]}"; do
		ckpt_mount "$t/$p" -o ro
		digest "$MNT" >"$BATS_TEST_TMPDIR/alone"
		digest "$top/$p" >"$BATS_TEST_TMPDIR/in-tree"
		diff "$BATS_TEST_TMPDIR/alone" "$BATS_TEST_TMPDIR/in-tree"
		[ "$(grep -c '^f ' "$BATS_TEST_TMPDIR/alone")" -gt 3 ]
		[ -z "$(grep -i error "$BATS_TEST_TMPDIR/alone")" ]
		ckpt_unmount
	done
	# plain files: the same bytes, read-only
	cmp "$t/notes.txt" "$top/notes.txt"
	cmp "$t/data/blob.bin" "$top/data/blob.bin"
	cmp "$t/data/fake.ckpt" "$top/data/fake.ckpt"
	[ "$(stat -c %s "$top/data/blob.bin")" = 100000 ]
	[ "$(stat -c %A "$top/notes.txt")" = "-r--r--r--" ]
	[ "$(stat -c %F "$top/data/fake.ckpt")" = "regular file" ]
	[ "$(stat -c %F "$top/flax/x.ckpt")" = directory ]
	# a leaf through the tree equals ckpt cat on the checkpoint itself
	cmp <("$CKPT" cat "$t/runs/exp one/mgr" 1/state/layer_0000/w_00) "$top/runs/exp one/mgr/1/state/layer_0000/w_00"
}

@test "the top of a tree is read-only, also with -o rw; an edit inside a checkpoint works as when mounted alone" {
	local t=$BATS_TEST_TMPDIR/tree
	make_tree "$t"
	ckpt_mount "$t" -o rw
	run sh -c "echo x > '$MNT/notes.txt'"
	[ "$status" -ne 0 ]
	run mkdir "$MNT/runs/new"
	[ "$status" -ne 0 ]
	run rm "$MNT/data/blob.bin"
	[ "$status" -ne 0 ]
	run mv "$MNT/runs/exp one/mgr/2/state/layer_0000" "$MNT/runs/exp two/mgr2/1/state/"
	[ "$status" -ne 0 ]
	[ "$(cat "$t/notes.txt")" = "learning rate 3e-4" ]
	[ -f "$t/data/blob.bin" ]
	# an edit of a leaf inside one of the checkpoints
	local leaf="runs/exp one/best model/best model/layer_0000/w_00"
	head -c 1024 /dev/urandom >"$BATS_TEST_TMPDIR/patch"
	dd if="$BATS_TEST_TMPDIR/patch" of="$MNT/$leaf" bs=1024 seek=0 conv=notrunc status=none
	cmp "$BATS_TEST_TMPDIR/patch" <(head -c 1024 "$MNT/$leaf")
	ckpt_unmount
	ckpt_mount "$t/runs/exp one/best model" -o ro
	cmp "$BATS_TEST_TMPDIR/patch" <(head -c 1024 "$MNT/best model/layer_0000/w_00")
}

@test "-o tree_depth limits the scan: a checkpoint below the limit is not shown" {
	local t=$BATS_TEST_TMPDIR/tree
	make_tree "$t"
	# deep/a/b/c/far is 5 levels below: shown with the default (6)
	ckpt_mount "$t" -o ro
	[ -d "$MNT/deep/a/b/c/far/far" ]
	ckpt_unmount
	ckpt_mount "$t" -o ro,tree_depth=4
	[ -d "$MNT/deep/a/b/c" ]
	[ -z "$(ls -A "$MNT/deep/a/b/c")" ]
	[ ! -e "$MNT/deep/a/b/c/far" ]
	[ -d "$MNT/runs/exp one/mgr/0" ]
	ckpt_unmount
	# level 2: the Flax files in flax/, nothing below runs/*/
	ckpt_mount "$t" -o ro,tree_depth=2
	[ "$(ls "$MNT" | tr '\n' ' ')" = "data deep empty flax notes.txt runs " ]
	[ "$(ls "$MNT/runs" | tr '\n' '|')" = "exp one|exp two|latest run|" ]
	[ -z "$(ls -A "$MNT/runs/exp one")" ]
	[ -d "$MNT/flax/x.ckpt/x.ckpt" ]
}

@test "nothing below is a checkpoint: the message says so and ckptfs exits 1; tree_depth=0 and tree_max refuse" {
	local t=$BATS_TEST_TMPDIR/plain
	mkdir -p "$t/a/b" "$BATS_TEST_TMPDIR/mnt"
	echo hi >"$t/a/b/readme.txt"
	printf '\x85not msgpack' >"$t/a/x.ckpt"
	run "$CKPTFS" "$t" "$BATS_TEST_TMPDIR/mnt" -f
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$t' is not a checkpoint"* ]]
	[[ "$output" == *"and no checkpoint was found within 6 levels below it"* ]]
	run mountpoint -q "$BATS_TEST_TMPDIR/mnt"
	[ "$status" -ne 0 ]
	run "$CKPTFS" "$t" "$BATS_TEST_TMPDIR/mnt" -f -o tree_depth=2
	[ "$status" -eq 1 ]
	[[ "$output" == *"within 2 levels below it"* ]]
	# a tree, but tree mounts turned off / too many checkpoints
	make_tree "$BATS_TEST_TMPDIR/tree"
	run "$CKPTFS" "$BATS_TEST_TMPDIR/tree" "$BATS_TEST_TMPDIR/mnt" -f -o tree_depth=0
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not a checkpoint"* ]]
	run "$CKPTFS" "$BATS_TEST_TMPDIR/tree" "$BATS_TEST_TMPDIR/mnt" -f -o tree_max=3
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"more than 3 checkpoints below it (raise -o tree_max)"* ]]
	run mountpoint -q "$BATS_TEST_TMPDIR/mnt"
	[ "$status" -ne 0 ]
}

@test "a SOURCE that is a checkpoint mounts as before (single, manager root, Flax file)" {
	local t=$BATS_TEST_TMPDIR/tree
	make_tree "$t"
	ckpt_mount "$t/runs/exp one/best model" -o ro
	[ "$(ls "$MNT" | tr '\n' '|')" = "best model|best model.json|latest|" ]
	ckpt_unmount
	ckpt_mount "$t/runs/exp one/mgr" -o ro
	[ "$(ls "$MNT" | tr '\n' ' ')" = "0 0.json 1 1.json 2 2.json latest " ]
	ckpt_unmount
	ckpt_mount "$t/flax/x.ckpt" -o ro
	[ "$(ls "$MNT" | tr '\n' ' ')" = "latest x.ckpt x.ckpt.json " ]
}

@test "a new step of a manager root in a tree appears while mounted" {
	local t=$BATS_TEST_TMPDIR/tree
	make_tree "$t"
	"$CKPT" make "$BATS_TEST_TMPDIR/gen" --steps 4 --leaves 2 --no-fsync >/dev/null
	ckpt_mount "$t" -o ro
	[ "$(ls "$MNT/runs/exp one/mgr" | tr '\n' ' ')" = "0 0.json 1 1.json 2 2.json latest " ]
	mv "$BATS_TEST_TMPDIR/gen/3" "$t/runs/exp one/mgr/3"
	local i
	for i in $(seq 1 60); do
		[ -d "$MNT/runs/exp one/mgr/3/state" ] && break
		sleep 0.1
	done
	[ -d "$MNT/runs/exp one/mgr/3/state" ]
	[ "$(readlink "$MNT/runs/exp one/mgr/latest")" = 3 ]
	cmp <("$CKPT" cat "$t/runs/exp one/mgr" 3/state/layer_0000/w_00) "$MNT/runs/exp one/mgr/3/state/layer_0000/w_00"
}

@test "the real fixtures as a tree: every checkpoint found equals it mounted alone" {
	ckpt_mount "$FIX" -o ro
	local top=$MNT n=0 d rel
	[ -d "$top/compat/v0_checkpoints" ]
	[ -d "$top/legacy" ]
	# a checkpoint's mount shows "latest"; folders of the tree do not
	while IFS= read -r d; do
		rel=${d#"$top"/}
		ckpt_mount "$FIX/$rel" -o ro
		digest "$MNT" >"$BATS_TEST_TMPDIR/alone"
		digest "$top/$rel" >"$BATS_TEST_TMPDIR/in-tree"
		diff "$BATS_TEST_TMPDIR/alone" "$BATS_TEST_TMPDIR/in-tree"
		[ "$(grep -c '^f ' "$BATS_TEST_TMPDIR/alone")" -ge 1 ]
		ckpt_unmount
		n=$((n + 1))
	done < <(find "$top" -mindepth 2 -maxdepth 7 -name latest -type l -printf '%h\n' | LC_ALL=C sort)
	echo "# $n fixture checkpoints compared" >&3
	[ "$n" -ge 20 ]
}

@test "parallel readers in every checkpoint of a tree at once (first opens race) read what one reader reads" {
	local t=$BATS_TEST_TMPDIR/tree i pids=()
	make_tree "$t"
	ckpt_mount "$t" -o ro
	for i in "${!CKPTS[@]}"; do
		digest "$MNT/${CKPTS[$i]}" >"$BATS_TEST_TMPDIR/par.$i" &
		pids+=($!)
		digest "$MNT/${CKPTS[$i]}" >"$BATS_TEST_TMPDIR/par2.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for i in "${!CKPTS[@]}"; do
		digest "$MNT/${CKPTS[$i]}" >"$BATS_TEST_TMPDIR/seq.$i"
		diff "$BATS_TEST_TMPDIR/seq.$i" "$BATS_TEST_TMPDIR/par.$i"
		diff "$BATS_TEST_TMPDIR/seq.$i" "$BATS_TEST_TMPDIR/par2.$i"
		[ -z "$(grep -i error "$BATS_TEST_TMPDIR/seq.$i")" ]
		[ "$(grep -c '^f ' "$BATS_TEST_TMPDIR/seq.$i")" -gt 3 ]
	done
	ckpt_unmount
}
