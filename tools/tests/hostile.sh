#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Hostile objects in /dev/shm: files that are not rings (text, random bytes,
# empty, a directory, a FIFO, symlinks) are ignored by ls and refused by stat
# and rm; rings whose header was overwritten are listed as corrupt with the
# validator's reason, shown in full by stat (exit 1), refused by put and get
# with the reason; scribbled positions and endpoint tables are shown, not
# crashed on. Names with odd bytes are escaped in tables and valid in JSON.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# poke FILE OFFSET BYTES: overwrite bytes in place (BYTES with \xNN escapes).
poke()
{
	printf "%b" "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# ---- files that are not rings ----

G=/dev/shm/$PREFIX
printf 'hello, world\n' >"$G-text"
head -c 65536 /dev/urandom >"$G-random"
: >"$G-empty"
mkdir "$G-dir"
mkfifo "$G-fifo"
ln -s "$PREFIX-valid" "$G-link"
ln -s "/nonexistent/$PREFIX" "$G-dangling"
printf 'SHMRING1' >"$G-magic8"                      # our magic, 8 bytes
{ printf 'SHMRING1'; head -c 20000 /dev/zero; } >"$G-magic0" # magic, version 0
cli create "$PREFIX-valid"

cli ls
expect_rc 0 "ls among garbage"
for g in text random empty dir fifo link dangling; do
	lacks "$OUT" "$PREFIX-$g" "ls ignores $g"
done
contains "$(ls_row "$PREFIX-valid" "$OUT")" "spsc" "ls lists the valid ring"
contains "$OUT" "$PREFIX-magic8  corrupt: object smaller than a ring header" \
	"ls: our magic in a tiny file is a corrupt ring"
contains "$OUT" "$PREFIX-magic0  initialising: version 0" "ls: version 0 is a ring being made"
cli ls --json
expect_rc 0 "ls --json among garbage"
jq_check "$OUT" "[.[] | select(.name | startswith(\"$PREFIX-\"))] | length == 3" \
	"ls --json lists the valid ring and the two with our magic only"

for g in text random empty dir fifo link dangling; do
	cli stat "$PREFIX-$g"
	expect_rc 1 "stat of $g"
	contains "$ERR" "$PREFIX-$g" "stat of $g names it"
	[[ $g == dangling ]] && continue
	contains "$ERR" "not a ring" "stat of $g says it is not a ring"
done
cli stat "$PREFIX-random"
contains "$ERR" "bad magic" "stat of random bytes gives the validator's reason"
cli stat "$PREFIX-link"
contains "$ERR" "not a regular file" "stat of a symlink"

cli rm "$PREFIX-text"
expect_rc 1 "rm refuses a file that is not a ring"
contains "$ERR" "not a ring" "rm says it is not a ring"
present "$G-text" "rm removed a file that is not a ring"
cli rm "$PREFIX-text" --force
expect_rc 0 "rm --force removes it"
cli rm --stale "$PREFIX-*"
expect_rc 0 "rm --stale among garbage"
for g in random empty dir fifo link dangling; do
	present "$G-$g" "rm --stale removed $g, not a ring"
done
lacks "$OUT" "magic0" "rm --stale leaves a ring being initialised"
contains "$OUT" "removed $PREFIX-magic8 (corrupt: object smaller than a ring header)" \
	"rm --stale removes a corrupt ring nobody holds"
contains "$OUT" "removed $PREFIX-valid (empty)" "rm --stale removes an empty ring nobody holds"
rm -rf "$G"-*

# ---- rings whose header was overwritten ----

# corrupt SUFFIX STATUS REASON: ring $PREFIX-SUFFIX, already damaged, is
# reported with STATUS and REASON by every command, and never crashes one.
corrupt()
{
	local R=$PREFIX-$1 what="$1 ($3)"
	cli ls
	expect_rc 0 "ls with $what"
	contains "$(ls_row "$R" "$OUT")" "$2: $3" "ls lists $what"
	cli ls --json
	jq_check "$OUT" ".[] | select(.name == \"$R\") | .status == \"$2\" and .reason == \"$3\"" \
		"ls --json of $what"
	cli stat "$R"
	expect_rc 1 "stat of $what"
	contains "$OUT" "verdict       $2: $3" "stat verdict of $what"
	contains "$OUT" "endpoints" "stat of $what still shows everything"
	contains "$ERR" "$R" "stat error names $what"
	contains "$ERR" "$3" "stat error gives the reason of $what"
	cli stat "$R" --json
	jq_check "$OUT" ".status == \"$2\" and .reason == \"$3\"" "stat --json of $what"
	run "$SHMRING" put "$R" <<<"x"
	expect_rc 1 "put to $what"
	contains "$ERR" "$R" "put error names $what"
	contains "$ERR" "($3)" "put error gives the reason of $what"
	cli get "$R" --timeout 1
	expect_rc 1 "get from $what"
	contains "$ERR" "($3)" "get error gives the reason of $what"
	cli top --once --interval 0.05 "$R"
	expect_rc 0 "top of $what"
	contains "$OUT" "$2: $3" "top shows $what"
}

R=$PREFIX-epcount
cli create "$R"
poke "/dev/shm/$R" $((0x44)) '\0\0\0\0'
corrupt epcount corrupt "bad endpoint table"
cli rm "$R"
expect_rc 0 "rm of a corrupt ring nobody holds"

R=$PREFIX-capacity
cli create "$R" --mode mpmc
poke "/dev/shm/$R" $((0x18)) '\0\0\0\0\0\0\0\0'
corrupt capacity corrupt "capacity or max_msg out of range"

R=$PREFIX-mode
cli create "$R"
poke "/dev/shm/$R" $((0x10)) '\x09'
corrupt mode corrupt "unknown mode or flags"

R=$PREFIX-grown
cli create "$R"
truncate -s +4096 "/dev/shm/$R"
corrupt grown corrupt "total size does not match the object's size"

R=$PREFIX-short
cli create "$R"
truncate -s 100 "/dev/shm/$R"
corrupt short corrupt "object smaller than a ring header"

R=$PREFIX-version
cli create "$R"
poke "/dev/shm/$R" 8 '\x07'
corrupt version unsupported "unknown layout version"
cli rm "$R"
expect_rc 1 "rm refuses a ring of another layout version"
contains "$ERR" "another layout version" "rm says why"
cli rm --stale "$R"
lacks "$OUT" "$R" "rm --stale leaves a ring of another layout version"
cli rm "$R" --force
expect_rc 0 "rm --force removes a ring of another layout version"

R=$PREFIX-magic
cli create "$R"
poke "/dev/shm/$R" 0 'XXXXXXXX'
cli ls
lacks "$OUT" "$R" "ls skips a ring whose magic is gone"
cli stat "$R"
expect_rc 1 "stat of a ring whose magic is gone"
contains "$ERR" "bad magic" "stat says the magic is bad"
run "$SHMRING" put "$R" <<<"x"
expect_rc 1 "put to a ring whose magic is gone"
contains "$ERR" "Bad message (bad magic" "put error gives the reason"

# Scribbled positions, wait words, totals and endpoint table: the header still
# validates (they are run-time state); nothing may crash or hang.
R=$PREFIX-scribbled
cli create "$R" --mode mpmc --capacity 64K --max-msg 100
head -c $((0x3000 - 0x100)) /dev/urandom |
	dd of="/dev/shm/$R" bs=1 seek=$((0x100)) conv=notrunc status=none
poke "/dev/shm/$R" $((0x48)) '\xff\xff\xff\xff\xff\xff\xff\xff' # ctime_ns: not validated
cli ls
expect_rc 0 "ls of a scribbled ring"
contains "$(ls_row "$R" "$OUT")" "mpmc" "ls lists a scribbled ring"
cli stat "$R"
expect_rc 0 "stat of a scribbled ring"
contains "$OUT" "endpoints" "stat shows the scribbled endpoint table"
cli stat "$R" --json
expect_rc 0 "stat --json of a scribbled ring"
jq_check "$OUT" '.status == "ok"' "stat --json of a scribbled ring parses"
cli top --once --interval 0.05 "$R"
expect_rc 0 "top of a scribbled ring"
cli get "$R" --timeout 0.5
expect_no_crash "get from a scribbled ring"
run "$SHMRING" put "$R" </dev/null
expect_no_crash "put to a scribbled ring"

# ---- names with odd bytes ----
NL=$PREFIX-new$'\n'line
FF=$PREFIX-$'\xff'
cli create "$NL"
expect_rc 0 "create a name with a newline"
cli create "$FF"
expect_rc 0 "create a name with a byte 0xff"
cli ls
contains "$OUT" "$PREFIX-new\\x0aline" "ls escapes a newline"
contains "$OUT" "$PREFIX-\\xff" "ls escapes a byte 0xff"
cli ls --json
expect_rc 0 "ls --json with odd names"
jq_check "$OUT" "[.[] | select(.name == \"$PREFIX-new\\nline\")] | length == 1" "ls --json of a newline"
jq_check "$OUT" "[.[] | select(.name == \"$PREFIX-\\u00ff\")] | length == 1" "ls --json of a byte 0xff"
cli stat "$NL"
expect_rc 0 "stat of a name with a newline"
cli rm "$NL" "$FF"
expect_rc 0 "rm of odd names"

finish
