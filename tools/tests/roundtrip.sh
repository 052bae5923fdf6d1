#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Round trips through the real command and real rings: create, put, get, ls,
# stat, rm in every mode; a concurrent pipeline through a ring smaller than
# its data; raw binary chunks; --count and --timeout; the errors of put.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LINES=$'first\n\nthird line with  spaces\n\tfourth'

for mode in spsc mpsc spmc mpmc; do
	R=$PREFIX-$mode
	cli create "$R" --mode "$mode" --capacity 64K --max-msg 256
	expect_rc 0 "create $mode"
	present "/dev/shm/$R" "create $mode: no /dev/shm/$R"

	cli ls
	expect_rc 0 "ls ($mode)"
	row=$(ls_row "$R" "$OUT")
	read -r _ m cap maxmsg _ prod cons dead _ sent recv _ <<<"$row"
	# Slot rings (SPMC, MPMC) hold a power of two of 320-byte slots, at least
	# the 64K asked for: 256 slots.
	case $mode in
	spsc | mpsc) want=64K ;;
	*) want=80K ;;
	esac
	equal "$m $cap $maxmsg $prod $cons $dead $sent $recv" "$mode $want 256 0 0 0 0 0" \
		"ls row of a new $mode ring"

	printf '%s' "$LINES" >"$SCRATCH/in"
	run "$SHMRING" put "$R" <"$SCRATCH/in"
	expect_rc 0 "put ($mode)"

	cli ls --json
	jq_check "$OUT" ".[] | select(.name == \"$R\") | .sent == 4 and .received == 0 and .used > 0 and .producers == 0" \
		"ls --json after put ($mode)"

	cli stat "$R"
	expect_rc 0 "stat ($mode)"
	contains "$OUT" "verdict       ok" "stat verdict ($mode)"

	cli stat "/$R" --json
	expect_rc 0 "stat --json /name ($mode)"
	jq_check "$OUT" ".status == \"ok\" and .header.mode_name == \"$mode\" and .stats.sent == 4 and .totals.prod_seen == 1 and (.endpoints | length) == 0" \
		"stat --json ($mode)"

	cli get "$R" --timeout 10
	expect_rc 0 "get to end of file ($mode)"
	equal "$OUT" "$LINES" "get returns what put sent ($mode)"

	cli stat "$R" --json
	jq_check "$OUT" '.stats.received == 4 and .positions.used == 0' "stat after get ($mode)"

	cli rm "$R"
	expect_rc 0 "rm ($mode)"
	absent "/dev/shm/$R" "rm $mode: /dev/shm/$R still there"
done

# The mode number and name in stat's header section.
R=$PREFIX-modes
cli create "$R" --mode MPMC
expect_rc 0 "create with an upper-case mode"
cli stat "$R"
contains "$OUT" "mode          3 (mpmc)" "stat shows mode 3 (mpmc)"
cli rm "$R"

# A pipeline through a ring much smaller than its data: put waits for room,
# get waits for data, and get sees end of file after put has gone.
R=$PREFIX-pipe
cli create "$R" --capacity 4K --max-msg 64
seq 1 20000 >"$SCRATCH/seq"
"$SHMRING" get "$R" >"$SCRATCH/got" 2>"$SCRATCH/get.err" &
getpid=$!
CHILDREN+=("$getpid")
run "$SHMRING" put "$R" <"$SCRATCH/seq"
expect_rc 0 "put 20000 lines through a 4K ring"
timeout 30 tail --pid="$getpid" -f /dev/null
wait "$getpid"
RC=$?
expect_rc 0 "get of the pipeline exits 0 at end of file"
check "pipeline: output differs from input" cmp -s "$SCRATCH/seq" "$SCRATCH/got"
# Every consumer has gone: a new producer gets EPIPE, as with a pipe.
run "$SHMRING" put "$R" <<<"late"
expect_rc 1 "put after the consumer left"
contains "$ERR" "$R" "put EPIPE error names the ring"
contains "$ERR" "Broken pipe" "put EPIPE error says why"
cli rm "$R"

# Raw binary chunks, byte for byte.
R=$PREFIX-raw
cli create "$R" --capacity 1M --max-msg 4K
head -c 100000 /dev/urandom >"$SCRATCH/bin"
run "$SHMRING" put "$R" --raw 1000 <"$SCRATCH/bin"
expect_rc 0 "put --raw"
cli stat "$R" --json
jq_check "$OUT" '.stats.sent == 100' "put --raw 1000 of 100000 bytes is 100 messages"
timeout 30 "$SHMRING" get "$R" --raw >"$SCRATCH/bin.out"
RC=$?
expect_rc 0 "get --raw"
check "raw round trip differs" cmp -s "$SCRATCH/bin" "$SCRATCH/bin.out"
run "$SHMRING" put "$R" --raw 8K </dev/null
expect_rc 1 "put --raw larger than max message"
contains "$ERR" "largest message" "put --raw too large says why"
cli rm "$R"

# --count takes N and leaves the rest; --timeout gives up.
R=$PREFIX-count
cli create "$R"
run "$SHMRING" put "$R" <<<$'1\n2\n3\n4\n5'
cli get "$R" --count 2
expect_rc 0 "get --count 2"
equal "$OUT" $'1\n2' "get --count 2 takes two"
cli get "$R" --count 10 --timeout 10
expect_rc 0 "get --count 10 stops at end of file"
equal "$OUT" $'3\n4\n5' "the second get takes the rest"
cli rm "$R"

R=$PREFIX-empty
cli create "$R"
start=$SECONDS
cli get "$R" --timeout 0.3
expect_rc 1 "get --timeout on a ring nobody writes"
contains "$ERR" "$R" "timeout error names the ring"
contains "$ERR" "timed out" "timeout error says so"
check "get --timeout 0.3 took $((SECONDS - start)) s" test $((SECONDS - start)) -lt 10
cli get "$R" --timeout 0
expect_rc 1 "get --timeout 0 on an empty ring"

# A line longer than the ring's largest message.
R=$PREFIX-small
cli create "$R" --max-msg 16
run "$SHMRING" put "$R" <<<$'short\nthis line is longer than sixteen bytes'
expect_rc 1 "put of a line longer than max_msg"
contains "$ERR" "$R" "max_msg error names the ring"
contains "$ERR" "line 2" "max_msg error names the line"
contains "$ERR" "largest message (16 bytes)" "max_msg error gives the limit"
cli get "$R" --timeout 5
equal "$OUT" "short" "the lines before the long one went through"

# create: sizes, permissions, names with a slash, taken names, library errors.
R=$PREFIX-perm
cli create "/$R" --perm 0640 --capacity 2M --max-msg 1K
expect_rc 0 "create /name --perm 0640"
equal "$(stat -c %a "/dev/shm/$R")" "640" "permissions of the object"
cli ls --json
jq_check "$OUT" ".[] | select(.name == \"$R\") | .capacity == 2097152 and .max_msg == 1024" "capacity and max_msg in ls --json"
cli create "$R"
expect_rc 1 "create of a taken name"
contains "$ERR" "$R" "EEXIST error names the ring"
contains "$ERR" "File exists" "EEXIST error says why"
cli rm "/$R"
expect_rc 0 "rm /name"

cli create "$PREFIX-bad" --capacity 1K --max-msg 1K
expect_rc 1 "create with max_msg > capacity / 2"
contains "$ERR" "Invalid argument" "EINVAL from create"
# A stream ring: bytes in, the same bytes out, newlines and all.
R=$PREFIX-stream
cli create "$R" --stream --capacity 16K
expect_rc 0 "create --stream"
cli ls
read -r _ m _ maxmsg _ <<<"$(ls_row "$R" "$OUT")"
equal "$m $maxmsg" "spsc+stream -" "ls shows a stream, with no largest message"
head -c 300000 /dev/urandom >"$SCRATCH/stream"
"$SHMRING" get "$R" >"$SCRATCH/stream.out" 2>"$SCRATCH/get.err" &
getpid=$!
CHILDREN+=("$getpid")
run "$SHMRING" put "$R" <"$SCRATCH/stream"
expect_rc 0 "put into a stream ring smaller than its data"
timeout 30 tail --pid="$getpid" -f /dev/null
wait "$getpid"
RC=$?
expect_rc 0 "get from a stream exits 0 at end of file"
check "stream round trip differs" cmp -s "$SCRATCH/stream" "$SCRATCH/stream.out"
cli ls --json
jq_check "$OUT" ".[] | select(.name == \"$R\") | .sent == 300000 and .received == 300000 and .max_msg == null" \
	"a stream counts bytes"
cli rm "$R"
run "$SHMRING" put "$PREFIX-stream2" </dev/null
expect_rc 1 "put to a ring that does not exist"
cli create "$PREFIX-stream2" --stream --capacity 64K
printf 'abc\ndef' | "$SHMRING" put "$PREFIX-stream2"
cli get "$PREFIX-stream2" --count 5
equal "$OUT" $'abc\nd' "get --count counts bytes of a stream"
cli rm "$PREFIX-stream2"

cli create "$PREFIX-stream3" --stream --mode mpmc
expect_rc 1 "a stream with several readers"
contains "$ERR" "Invalid argument" "the library refuses an mpmc stream"
absent "/dev/shm/$PREFIX-stream3" "a failed create left an object"

cli create "$PREFIX-huge" --hugepages
expect_no_crash "create --hugepages"
[[ $RC == 0 ]] && cli rm "$PREFIX-huge"

finish
