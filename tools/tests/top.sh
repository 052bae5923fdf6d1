#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# shmring top: --once and --iterations print frames with rates and exit;
# the rates of a ring with traffic are not zero; rings are found without
# names, garbage is skipped, a missing ring is an error; and in a terminal
# (a pseudo-terminal from script(1)), q quits.
# shellcheck disable=SC2317 # functions called through wait_for
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

R=$PREFIX-top
cli create "$R" --mode mpsc
cli top --once --interval 0.1 "$R"
expect_rc 0 "top --once"
equal "$(grep -c '^shmring top' <<<"$OUT")" 1 "top --once prints one frame"
contains "$OUT" "IN/S" "top has a header"
read -r _ mode in out bytes fill sleep wake prod cons dead <<<"$(ls_row "$R" "$OUT")"
equal "$mode $in $out $bytes $fill $sleep $wake $prod $cons $dead" "mpsc 0 0 0 0.0% 0 0 0 0 0" \
	"top row of an idle ring"
lacks "$OUT" $'\e' "no escape sequences outside a terminal"

cli top --iterations 3 --interval 0.1 "$R"
expect_rc 0 "top --iterations 3"
equal "$(grep -c '^shmring top' <<<"$OUT")" 3 "top --iterations 3 prints three frames"

# Traffic at about 100 messages a second, for ten seconds at most (it is
# stopped once measured).
mkfifo "$SCRATCH/feed"
"$SHMRING" put "$R" <"$SCRATCH/feed" &
putpid=$!
CHILDREN+=("$putpid")
"$SHMRING" get "$R" >/dev/null 2>&1 &
getpid=$!
CHILDREN+=("$getpid")
(for i in $(seq 1 1000); do
	echo "message $i"
	sleep 0.01
done >"$SCRATCH/feed") &
feedpid=$!
CHILDREN+=("$feedpid")
both_alive()
{
	[[ $("$SHMRING" stat "$R" --json 2>/dev/null | grep -c '"state": "alive"') == 2 ]]
}
check "producer and consumer never both alive" wait_for 10 both_alive
cli top --once --interval 0.5 "$R"
expect_rc 0 "top with traffic"
read -r _ _ in out bytes _ _ _ prod cons _ <<<"$(ls_row "$R" "$OUT")"
# A rate that shows traffic: neither 0 nor "-" (no rate).
moving()
{
	[[ $1 != 0 && $1 != - ]]
}
check "IN/S with traffic is '$in': $OUT" moving "$in"
check "OUT/S with traffic is '$out': $OUT" moving "$out"
check "BYTES/S with traffic is '$bytes': $OUT" moving "$bytes"
equal "$prod $cons" "1 1" "top counts the live producer and consumer"
kill_child "$feedpid"
kill_child "$putpid"
kill_child "$getpid"

# No names: every ring, rescanned; garbage skipped.
head -c 20000 /dev/urandom >"/dev/shm/$PREFIX-garbage"
cli top --once --interval 0.05
expect_rc 0 "top of every ring"
contains "$OUT" "$R" "top without names finds the ring"
lacks "$OUT" "$PREFIX-garbage" "top skips garbage"
cli top --once "$PREFIX-garbage"
expect_rc 1 "top of a file that is not a ring"
contains "$ERR" "not a ring" "top says it is not a ring"
cli top --once "$PREFIX-missing"
expect_rc 1 "top of a missing ring"
contains "$ERR" "$PREFIX-missing" "top names the missing ring"

# A ring removed while top watches it is shown as gone, not an error.
"$SHMRING" top --iterations 4 --interval 0.5 "$R" >"$SCRATCH/top.out" 2>&1 &
toppid=$!
CHILDREN+=("$toppid")
first_frame()
{
	grep -q '^shmring top' "$SCRATCH/top.out"
}
check "top printed no frame" wait_for 10 first_frame
rm -f "/dev/shm/$R"
wait "$toppid"
RC=$?
expect_rc 0 "top of a ring removed meanwhile"
contains "$(cat "$SCRATCH/top.out")" "No such file or directory" "top shows the ring as gone"

# Interactive: in a pseudo-terminal, the screen is redrawn and q quits.
if command -v script >/dev/null 2>&1; then
	cli create "$R"
	(
		sleep 1.5
		printf q
	) | timeout -k 5 20 script -qec "$SHMRING top --interval 0.2 $R" /dev/null >"$SCRATCH/tty.out" 2>&1
	RC=$?
	expect_rc 0 "interactive top quits on q"
	contains "$(cat "$SCRATCH/tty.out")" "q quits" "interactive top says how to quit"
	contains "$(cat "$SCRATCH/tty.out")" $'\e[H' "interactive top redraws in place"
else
	echo "note: no script(1): the interactive check is skipped"
fi

finish
