# SPDX-License-Identifier: MIT
#
# lib.sh - sourced by the tests of the `shmring` command (tools/tests/*.sh):
# the command under test, unique names, checks that say what they expected,
# and the cleanup of everything a test creates, even when it fails.
#
#   bash tools/tests/roundtrip.sh build/tools/shmring
#
# Each test prints one line per failed check and closes with
# "N passed, M failed"; it exits 0 only when nothing failed.

set -u

SHMRING=${1:?usage: $0 path/to/shmring}
[[ -x $SHMRING ]] || {
	echo "not an executable: $SHMRING" >&2
	exit 2
}
# Every ring this test creates is named "$PREFIX-something" (./dev.sh reports
# leftovers of /dev/shm/shmring-test-*).
PREFIX=shmring-test-tool-$$
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/shmring-tool-test.XXXXXX")
EXTRA=()    # other paths under /dev/shm this test created
CHILDREN=() # background processes this test started
PASSED=0
FAILED=0

cleanup()
{
	local p
	for p in "${CHILDREN[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	for p in "${CHILDREN[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf -- /dev/shm/"$PREFIX"-* "${EXTRA[@]}" "$SCRATCH"
}
trap cleanup EXIT

pass()
{
	PASSED=$((PASSED + 1))
}

fail()
{
	FAILED=$((FAILED + 1))
	printf 'FAIL: %s\n' "$*"
}

# run CMD...: run with a time limit; sets RC, OUT (stdout), ERR (stderr).
run()
{
	timeout -k 5 30 "$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
	RC=$?
	OUT=$(cat "$SCRATCH/out")
	ERR=$(cat "$SCRATCH/err")
}

# cli ARGS...: run the command under test.
cli()
{
	run "$SHMRING" "$@"
}

# check WHAT CMD...: CMD succeeds.
check()
{
	local what=$1
	shift
	if "$@"; then
		pass
	else
		fail "$what"
	fi
}

# present PATH WHAT / absent PATH WHAT: PATH exists (a dangling symlink
# counts) / does not.
present()
{
	check "$2" test -e "$1" -o -L "$1"
}

absent()
{
	check "$2" test ! -e "$1" -a ! -L "$1"
}

# expect_rc N WHAT: the last run exited N.
expect_rc()
{
	if ((RC == $1)); then
		pass
	else
		fail "$2: exit $RC, expected $1 (stdout: ${OUT:0:300}) (stderr: ${ERR:0:300})"
	fi
}

# expect_no_crash WHAT: the last run was not killed by a signal nor timed out.
expect_no_crash()
{
	if ((RC < 124)); then
		pass
	else
		fail "$1: exit $RC (a crash or a hang) (stderr: ${ERR:0:300})"
	fi
}

# contains HAYSTACK NEEDLE WHAT
contains()
{
	if [[ $1 == *"$2"* ]]; then
		pass
	else
		fail "$3: '$2' not found in: ${1:0:600}"
	fi
}

lacks()
{
	if [[ $1 != *"$2"* ]]; then
		pass
	else
		fail "$3: '$2' should not be in: ${1:0:600}"
	fi
}

# equal GOT WANT WHAT
equal()
{
	if [[ $1 == "$2" ]]; then
		pass
	else
		fail "$3: got '${1:0:300}', expected '${2:0:300}'"
	fi
}

# The row of ring $1 in the output of `shmring ls` ($2), columns split by blanks.
ls_row()
{
	awk -v n="$1" '$1 == n' <<<"$2"
}

# jq_check JSON FILTER WHAT: the JSON parses and FILTER is true (skipped
# without jq; the parse is also checked with python3 if present).
HAVE_JQ=0
command -v jq >/dev/null 2>&1 && HAVE_JQ=1
jq_check()
{
	if ((HAVE_JQ)); then
		if jq -e "$2" >/dev/null 2>&1 <<<"$1"; then
			pass
		else
			fail "$3: jq '$2' is not true of: ${1:0:600}"
		fi
	fi
}

# kill_child PID: SIGKILL a background process of this test and reap it,
# without the shell's "Killed" notice.
kill_child()
{
	kill -KILL "$1" 2>/dev/null
	{ wait "$1"; } 2>/dev/null
}

# wait_for SECONDS CMD...: retry CMD every 50 ms until it succeeds. (The
# functions that tests pass here look unused to shellcheck: SC2317.)
wait_for()
{
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS > deadline)) && return 1
		sleep 0.05
	done
}

finish()
{
	((HAVE_JQ)) || echo "note: jq not installed: JSON checks skipped"
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0))
	exit
}
