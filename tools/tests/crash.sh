#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Endpoints whose process dies: a `shmring put` killed with SIGKILL is shown
# alive while it runs (and rm refuses the ring), then dead in stat and ls,
# and rm --stale removes its ring; a ring with a live consumer survives
# rm --stale; rm --force removes a ring in use; leftover temporary objects of
# dead creators are removed, those of live ones kept.
# shellcheck disable=SC2317 # functions called through wait_for
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The producer reads a FIFO that this script holds open, so that it stays
# attached (blocked on its input) until it is killed.
R=$PREFIX-killed
cli create "$R"
mkfifo "$SCRATCH/in"
"$SHMRING" put "$R" <"$SCRATCH/in" &
putpid=$!
CHILDREN+=("$putpid")
exec 3>"$SCRATCH/in"
printf 'one\ntwo\nthree\n' >&3

producer_alive()
{
	"$SHMRING" stat "$R" --json 2>/dev/null | grep -q '"state": "alive"'
}
sent_three()
{
	[[ $("$SHMRING" ls | awk -v n="$R" '$1 == n { print $10 }') == 3 ]]
}
check "the producer never showed as alive" wait_for 10 producer_alive
check "the producer's three messages never showed in ls" wait_for 10 sent_three

cli stat "$R"
expect_rc 0 "stat with a live producer"
contains "$OUT" "producer  producer  alive" "stat shows the live producer"
contains "$OUT" "$putpid" "stat shows the producer's pid"
cli ls
read -r _ _ _ _ _ prod cons dead _ <<<"$(ls_row "$R" "$OUT")"
equal "$prod $cons $dead" "1 0 0" "ls: one live producer"

cli rm "$R"
expect_rc 1 "rm of a ring in use"
contains "$ERR" "$R" "rm refusal names the ring"
contains "$ERR" "in use" "rm refusal says why"
contains "$ERR" "pid $putpid" "rm refusal names the holder"
cli rm --stale "$PREFIX-*"
expect_rc 0 "rm --stale with a live producer"
present "/dev/shm/$R" "rm --stale removed a ring in use"

kill_child "$putpid"
exec 3>&-

cli stat "$R"
expect_rc 0 "stat after SIGKILL"
contains "$OUT" "producer  producer  dead" "stat shows the killed producer as dead"
cli stat "$R" --json
jq_check "$OUT" '.stats.dead == 1 and .stats.producers == 0 and .endpoints[0].state == "dead" and .endpoints[0].alive == false' \
	"stat --json after SIGKILL"
jq_check "$OUT" ".endpoints[0].pid == $putpid" "stat --json keeps the dead producer's pid"
cli ls
read -r _ _ _ _ _ prod cons dead _ <<<"$(ls_row "$R" "$OUT")"
equal "$prod $cons $dead" "0 0 1" "ls: no live producer, one dead endpoint"

# A second ring, held by a live consumer (waiting for data), must survive.
R2=$PREFIX-held
cli create "$R2" --mode mpmc
"$SHMRING" get "$R2" --timeout 60 >/dev/null 2>&1 &
getpid=$!
CHILDREN+=("$getpid")
consumer_alive()
{
	"$SHMRING" stat "$R2" --json 2>/dev/null | grep -q '"state": "alive"'
}
check "the consumer never showed as alive" wait_for 10 consumer_alive

cli rm --stale "$PREFIX-*"
expect_rc 0 "rm --stale"
contains "$OUT" "removed $R " "rm --stale reports the dead producer's ring"
contains "$OUT" "unread" "rm --stale says messages were left unread"
lacks "$OUT" "$R2" "rm --stale leaves a ring with a live consumer"
absent "/dev/shm/$R" "rm --stale did not remove $R"
present "/dev/shm/$R2" "rm --stale removed $R2, held by a live consumer"

cli rm "$R2" --force
expect_rc 0 "rm --force of a ring in use"
absent "/dev/shm/$R2" "rm --force did not remove $R2"
kill_child "$getpid"

# Temporary objects of shmring_create(): removed when their creator is dead.
bash -c 'exit 0' &
deadpid=$!
wait "$deadpid"
T1=/dev/shm/.shmring-new-$deadpid-4242
T2=/dev/shm/.shmring-new-$$-4242
EXTRA+=("$T1" "$T2")
head -c 20000 /dev/zero >"$T1"
head -c 20000 /dev/zero >"$T2"
cli ls
lacks "$OUT" ".shmring-new-" "ls skips temporary objects"
cli rm --stale ".shmring-new-$deadpid-*" ".shmring-new-$$-*"
expect_rc 0 "rm --stale of temporary objects"
contains "$OUT" "removed .shmring-new-$deadpid-4242 (temporary object of dead process $deadpid)" \
	"rm --stale reports the dead creator's temporary object"
absent "$T1" "rm --stale kept $T1, whose creator is dead"
present "$T2" "rm --stale removed $T2, whose creator is alive"

# Patterns restrict --stale: a stale ring outside them stays.
R3=$PREFIX-other
cli create "$R3"
cli rm --stale "$PREFIX-nomatch-*"
equal "$OUT" "" "rm --stale with a pattern that matches nothing removes nothing"
present "/dev/shm/$R3" "rm --stale removed a ring outside its pattern"
cli rm "$R3"
expect_rc 0 "rm of an unused ring"

finish
