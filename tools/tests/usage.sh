#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The command's interface: --help on the command and every subcommand (exit
# 0, on standard output), usage errors (exit 2, with a pointer to --help),
# failures (exit 1) whose message names the ring and gives the reason.
# shellcheck disable=SC2317 # functions called through wait_for
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CMDS=(ls stat top create rm put get)

cli
expect_rc 2 "no command"
contains "$ERR" "Usage: shmring COMMAND" "no command prints the usage"
cli --help
expect_rc 0 "--help"
for c in "${CMDS[@]}"; do
	contains "$OUT" "  $c " "--help lists $c"
done
cli --version
expect_rc 0 "--version"
contains "$OUT" "shmring " "--version prints a version"
cli frobnicate
expect_rc 2 "an unknown command"
contains "$ERR" "frobnicate" "the unknown command is named"
cli help get
expect_rc 0 "help get"
contains "$OUT" "Usage: shmring get" "help get is get --help"
cli help frobnicate
expect_rc 2 "help of an unknown command"

for c in "${CMDS[@]}"; do
	cli "$c" --help
	expect_rc 0 "$c --help"
	contains "$OUT" "Usage: shmring $c" "$c --help starts with its usage"
	equal "$ERR" "" "$c --help writes nothing on stderr"
	cli "$c" -h
	expect_rc 0 "$c -h"
	cli "$c" --no-such-option
	expect_rc 2 "$c with an unknown option"
	contains "$ERR" "--no-such-option" "$c names the unknown option"
	contains "$ERR" "shmring $c --help" "$c points to its --help"
done

R=$PREFIX-u
# usage_case EXPECTED_RC ARGS...: one bad command line.
usage_case()
{
	local want=$1
	shift
	cli "$@"
	expect_rc "$want" "shmring $*"
}
usage_case 2 ls extra
usage_case 2 stat
usage_case 2 stat a b
usage_case 2 stat a/b
usage_case 2 stat ''
usage_case 2 create
usage_case 2 create "$R" --mode
usage_case 2 create "$R" --mode ring
usage_case 2 create "$R" --capacity 12X
usage_case 2 create "$R" --capacity 1MB
usage_case 2 create "$R" --capacity ''
usage_case 2 create "$R" --capacity 99999999999999999999
usage_case 2 create "$R" --max-msg -1
usage_case 2 create "$R" --perm 0999
usage_case 2 create "$R" --perm 01777
usage_case 2 create "$R" --stream --max-msg 100
usage_case 2 create "x/$R"
usage_case 2 create "$(printf 'n%.0s' {1..201})"
usage_case 2 rm
usage_case 2 rm --stale --force
usage_case 2 rm ok "bad/name"
usage_case 2 put
usage_case 2 put "$R" --raw 0
usage_case 2 put "$R" --raw
usage_case 2 get "$R" --count 0
usage_case 2 get "$R" --count many
usage_case 2 get "$R" --timeout -1
usage_case 2 get "$R" --timeout soon
usage_case 2 top --iterations 0
usage_case 2 top --interval 0
usage_case 2 top a/b
absent "/dev/shm/$R" "a usage error created $R"

cli create "$R" --mode
contains "$ERR" "needs a value" "a missing option value is named as such"

# Failures: exit 1, the ring named, the reason given.
for c in stat rm get top; do
	cli "$c" "$R"
	expect_rc 1 "$c of a missing ring"
	contains "$ERR" "$c $R: No such file or directory" "$c names the missing ring"
done
run "$SHMRING" put "$R" </dev/null
expect_rc 1 "put to a missing ring"
contains "$ERR" "put $R: No such file or directory" "put names the missing ring"
cli rm "$R" "$R-2"
expect_rc 1 "rm of two missing rings"
contains "$ERR" "$R-2" "rm names each missing ring"

# A single side that is taken.
cli create "$R"
"$SHMRING" get "$R" --timeout 30 >/dev/null 2>&1 &
getpid=$!
CHILDREN+=("$getpid")
consumer_alive()
{
	"$SHMRING" stat "$R" --json 2>/dev/null | grep -q '"state": "alive"'
}
wait_for 10 consumer_alive
cli get "$R" --timeout 1
expect_rc 1 "a second consumer on an SPSC ring"
contains "$ERR" "get $R: Device or resource busy" "EBUSY names the ring"
contains "$ERR" "one consumer" "EBUSY says why"
kill_child "$getpid"
cli rm "$R"
expect_rc 0 "rm after the consumer died"

finish
