#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh - run one libFuzzer target of tests/fuzz as a test (ctest calls it).
#
#   run.sh --skip REASON
#       Say why the fuzz test cannot run here; exit 77 (ctest: Skipped).
#   run.sh FUZZER CORPUS [CRASHES [ARTIFACTS]]
#       1. Replay every input under CRASHES (bugs found before, each with a
#          note in crashes/README.md): one that still fails fails the test.
#       2. Fuzz for 150 s over a temporary copy of CORPUS (the corpus in the
#          source tree is never written), at most 5 s per input.
#       3. Print libFuzzer's "Done N runs in S second(s)" and a summary.
#       A new crash, hang or leak is copied into ARTIFACTS with the commands
#       to reproduce and minimise it, and fails the test (exit 1).
#
# Environment:
#   SHMRING_LONG=1            fuzz 30 minutes instead of 150 seconds
#   SHMRING_FUZZ_SECONDS=N    fuzz N seconds (wins over SHMRING_LONG)
#   SHMRING_FUZZ_ARGS="..."   more libFuzzer arguments (-seed=N, -jobs=N, ...)
#   SHMRING_FUZZ_KEEP=1       keep the temporary directory (grown corpus, log)
set -uo pipefail

if [[ ${1-} == --skip ]]; then
	echo "SKIP: ${2:-fuzzing is not available here}"
	exit 77
fi
if (($# < 2)); then
	sed -n '4,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
fi

fuzzer=$1
corpus=$2
crashes=${3-}
artifacts=${4-}
name=$(basename "$fuzzer")

if [[ -n ${SHMRING_FUZZ_SECONDS-} ]]; then
	secs=$SHMRING_FUZZ_SECONDS
elif [[ -n ${SHMRING_LONG-} && ${SHMRING_LONG} != 0 ]]; then
	secs=1800
else
	secs=150
fi
# Inputs: segment images (the largest seed is a 45 KiB stream ring) or scripts.
case $name in
fuzz_open) max_len=81920 ;;
*) max_len=4096 ;;
esac

[[ -x $fuzzer ]] || { echo "FAIL: $fuzzer was not built" >&2; exit 1; }
[[ -d $corpus ]] || { echo "FAIL: no corpus directory $corpus" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/shmring-$name.XXXXXX") || exit 1
cleanup()
{
	if [[ -n ${SHMRING_FUZZ_KEEP-} ]]; then
		echo "$name: kept $work"
	else
		rm -rf -- "$work"
	fi
}
trap cleanup EXIT
mkdir -p "$work/corpus" "$work/artifacts"
cp -- "$corpus"/* "$work/corpus/" 2>/dev/null
chmod -R u+w "$work/corpus"
seeds=$(find "$work/corpus" -type f | wc -l)

failed=0

# 1. Known crashes: they must not reproduce any more.
if [[ -n $crashes && -d $crashes ]]; then
	for f in "$crashes"/*; do
		[[ -f $f ]] || continue
		case $f in *.md | *.txt) continue ;; esac
		if "$fuzzer" -timeout=5 -runs=1 "$f" >"$work/replay.log" 2>&1; then
			echo "$name: fixed: $(basename "$f") no longer fails"
		else
			failed=1
			echo "FAIL: $name: known crash $(basename "$f") still reproduces" \
				"(see $(dirname "$crashes")/README.md):"
			grep -E 'ERROR|ALARM|invariant|runtime error|SUMMARY|#[0-9]+ 0x[0-9a-f]+ in (shmring|rc_|sq_|sr_|rec_|slot_|stream_|next_|take_|append|start_record|fz_)' \
				"$work/replay.log" | head -n 12 | sed 's/^/    /'
		fi
	done
fi

# 2. Fuzz.
echo "$name: fuzzing for ${secs}s from $seeds seed inputs"
extra=()
if [[ -n ${SHMRING_FUZZ_ARGS-} ]]; then
	read -r -a extra <<<"$SHMRING_FUZZ_ARGS"
fi
"$fuzzer" -max_total_time="$secs" -timeout=5 -max_len="$max_len" \
	-artifact_prefix="$work/artifacts/" -print_final_stats=1 "${extra[@]}" \
	"$work/corpus" >"$work/log" 2>&1
rc=$?

# 3. Report.
done_line=$(grep -E '^Done [0-9]+ runs' "$work/log" | tail -n 1)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
cov=$(grep -oE 'cov: [0-9]+' "$work/log" | tail -n 1 | grep -oE '[0-9]+')
grown=$(find "$work/corpus" -type f | wc -l)
[[ -n $done_line ]] && echo "$done_line"
echo "$name: ${execs:-?} executions (${rate:-?}/s), ${cov:-?} coverage points," \
	"corpus $seeds -> $grown inputs, libFuzzer exit $rc"

shopt -s nullglob
found=("$work"/artifacts/*)
if ((rc != 0 || ${#found[@]} > 0)); then
	failed=1
	echo "FAIL: $name found a problem; the end of its log:"
	tail -n 60 "$work/log" | sed 's/^/    /'
	if ((${#found[@]} > 0)); then
		dest=${artifacts:-$work/artifacts}
		mkdir -p "$dest"
		for a in "${found[@]}"; do
			cp -- "$a" "$dest/$name-$(basename "$a")"
			echo "    input saved: $dest/$name-$(basename "$a")"
		done
		echo "    reproduce: $fuzzer -timeout=5 <input>"
		echo "    minimise:  $fuzzer -minimize_crash=1 -runs=20000 -timeout=5 <input>"
		echo "    (a hang: minimise with -timeout=2 and -minimize_crash=1 as well)"
	fi
fi
exit $failed
