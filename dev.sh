#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# dev.sh - build, run and test shmring on a fresh Debian machine.
#
#   ./dev.sh run [ARGS...]     Release build in build/, then the benchmark comparison
#                              (build/bench/shmring-bench ARGS...: rings against pipes,
#                              sockets, eventfd and message queues; table, JSON and plot
#                              in bench-results/)
#   ./dev.sh test [--long] [--quick]
#                              Release tests (with the reliability suite, the fuzzers and the
#                              bridge's tests), then AddressSanitizer+UBSan (library tests),
#                              then ThreadSanitizer on the tests labelled `threaded`
#
# Both install what is missing first (apt-get, as root or through sudo).
#
# Environment:
#   SHMRING_LONG=1   same as --long: the tests run their long stress variants
#   JOBS=N           parallel build and test jobs (default 2)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

JOBS=${JOBS:-2}
QUICK=${SHMRING_QUICK:-0}

# Debian packages each mode needs. Add to these lists as the project grows.
# (`run` needs the test framework too: build/ is shared with `test`, whose
# configuration includes the tests.)
BASE_PKGS=(build-essential cmake pkg-config g++ libcriterion-dev libzmq3-dev)
# the benchmark's peers and plots (each optional transport needs its library)
BENCH_PKGS=(libbenchmark-dev liburcu-dev libck-dev libdpdk-dev libboost-dev gnuplot-nox)
RUN_PKGS=("${BASE_PKGS[@]}" "${BENCH_PKGS[@]}")
# model checks (relacy-dev), fuzzing (clang, libFuzzer), the command's tests
TEST_PKGS=("${BASE_PKGS[@]}" "${BENCH_PKGS[@]}" relacy-dev clang-14 libclang-rt-14-dev jq man-db iproute2)

usage()
{
	sed -n '4,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

log()
{
	printf '[dev.sh] %s\n' "$*" >&2
}

die()
{
	log "error: $*"
	exit 1
}

# ---- Packages ---------------------------------------------------------------

installed()
{
	dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

ensure_pkgs()
{
	if ! command -v dpkg >/dev/null 2>&1; then
		log "no dpkg: not a Debian system, skipping package checks (need: $*)"
		return 0
	fi
	local missing=() p
	for p in "$@"; do
		installed "$p" || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0

	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 ||
			die "missing packages (${missing[*]}) and not root, and no sudo"
		sudo=(sudo)
	fi
	log "installing: ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}"
}

# ---- Build ------------------------------------------------------------------

# build <dir> [cmake -D options...]: configure (Release) and build.
build()
{
	local dir=$1
	shift
	cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" &&
		cmake --build "$dir" -j"$JOBS"
}

cmd_run()
{
	[[ ${1-} == -- ]] && shift
	ensure_pkgs "${RUN_PKGS[@]}"
	build build -DSHMRING_SANITIZE= || die "build failed"
	local exe=build/bench/shmring-bench
	[[ -x $exe ]] || die "$exe was not built"
	exec "$exe" "$@"
}

# ---- Test -------------------------------------------------------------------

SHM_GLOB=/dev/shm/shmring-test-*

# Named rings the tests left behind. A ring still mapped by a live process
# (another run's, or a child that outlived its test) is reported, not removed.
sweep_shm()
{
	local stage=$1 f stray=0 busy=0
	for f in $SHM_GLOB; do
		[[ -e $f ]] || continue
		if grep -qsF -- "$f" /proc/[0-9]*/maps; then
			busy=$((busy + 1))
		else
			stray=$((stray + 1))
			rm -f -- "$f"
		fi
	done
	((stray == 0)) || log "warning: $stage: $stray ring(s) left in /dev/shm (removed)"
	((busy == 0)) || log "warning: $stage: $busy ring(s) in /dev/shm still mapped by a live process"
	WARN_SHM=$((stray + busy))
}

now()
{
	date +%s
}

# The outer timeout of one ctest run: the stage cap, cut to what is left of
# the whole command's budget (0 = no budget).
stage_timeout()
{
	local t=$STAGE_TIMEOUT left
	if ((BUDGET > 0)); then
		left=$((BUDGET - ($(now) - T0)))
		((left < t)) && t=$left
	fi
	echo "$t"
}

SUMMARY=()
FAILED=0

# record <stage> <PASS|FAIL|SKIP> <detail> <start time>
record()
{
	local line
	line=$(printf '%-8s %-4s %s (%ds)' "$1" "$2" "$3" $(($(now) - $4)))
	[[ $2 == PASS ]] || FAILED=1
	((WARN_SHM == 0)) || line+=" [warning: $WARN_SHM ring(s) left in /dev/shm]"
	SUMMARY+=("$line")
	log "$line"
}

# stage <name> <dir> <label or ""> <env assignments...> -- <cmake options...>
stage()
{
	local name=$1 dir=$2 label=$3 t0
	shift 3
	local envs=()
	while (($# > 0)) && [[ $1 != -- ]]; do
		envs+=("$1")
		shift
	done
	(($# > 0)) && shift
	t0=$(now)
	WARN_SHM=0
	log "==== stage $name: build in $dir/"

	if ! build "$dir" "$@"; then
		record "$name" FAIL "build failed" "$t0"
		return
	fi

	local sel=() what="tests" notests=error prefix=()
	# The reliability suite, the fuzzers and the bridge's tests run in the
	# release stage (about 6 minutes on 2 cores); --quick leaves them out.
	# Under the sanitizers they would only be slower: the fuzzers bring
	# their own, and the reliability suite's victims are killed anyway.
	if ((QUICK)) || [[ $name != release ]]; then
		sel+=(-E '^(reliability-|fuzz_|bridge)')
		what="tests (without the reliability, fuzz and bridge suites)"
	fi
	if [[ -n $label ]]; then
		sel=(-L "^${label}\$")
		what="tests labelled '$label'"
		# None yet is not a failure of this stage: the label is opt-in.
		notests=ignore
		if ctest --test-dir "$dir" -N "${sel[@]}" | grep -q '^Total Tests: 0$'; then
			log "warning: $name: no $what"
		fi
	fi
	# Sanitizers of GCC 12 fail on kernels with high mmap randomisation.
	if [[ $name == tsan && -r /proc/sys/vm/mmap_rnd_bits ]] &&
		(($(cat /proc/sys/vm/mmap_rnd_bits) > 28)) && command -v setarch >/dev/null; then
		prefix=(setarch "$(uname -m)" -R)
		log "$name: vm.mmap_rnd_bits > 28: running without ASLR"
	fi

	local t
	t=$(stage_timeout)
	if ((t < 60)); then
		record "$name" SKIP "time budget of ${BUDGET}s used up" "$t0"
		return
	fi

	log "==== stage $name: ctest ($what), at most ${t}s"
	local logf="$dir/dev-ctest.log" rc=0
	env "${envs[@]}" "${prefix[@]}" timeout -k 30 "$t" \
		ctest --test-dir "$dir" --output-on-failure -j"$JOBS" --timeout "$CTEST_TIMEOUT" \
		--no-tests="$notests" "${sel[@]}" 2>&1 | tee "$logf" || rc=$?
	sweep_shm "$name"

	local result
	result=$(grep -E '[0-9]+% tests passed' "$logf" | tail -n 1 || true)
	[[ -n $result ]] || result="no $what"
	if ((rc == 124)); then
		record "$name" FAIL "timed out after ${t}s" "$t0"
	elif ((rc != 0)); then
		record "$name" FAIL "$result (ctest exit $rc)" "$t0"
	else
		record "$name" PASS "$result" "$t0"
	fi
}

cmd_test()
{
	local a
	for a in "$@"; do
		case $a in
		--long) SHMRING_LONG=1 ;;
		--quick) QUICK=1 ;;
		--extended) ;; # the default now; kept for old scripts
		-h | --help) usage; exit 0 ;;
		*) die "test: unknown argument '$a'" ;;
		esac
	done
	if [[ ${SHMRING_LONG:-0} == 1 ]]; then
		export SHMRING_LONG=1
		CTEST_TIMEOUT=3600  # per test
		STAGE_TIMEOUT=10800 # per stage
		BUDGET=0            # no cap on the whole command
		log "long stress runs (SHMRING_LONG=1)"
	else
		unset SHMRING_LONG
		CTEST_TIMEOUT=900
		STAGE_TIMEOUT=2400
		BUDGET=3300 # 55 minutes for the whole command, builds included
	fi

	ensure_pkgs "${TEST_PKGS[@]}"
	((QUICK == 0)) || log "quick: without the reliability suite, fuzzers and bridge tests"
	T0=$(now)
	WARN_SHM=0
	sweep_shm "before the run"

	# (a) Release
	stage release build "" -- \
		-DSHMRING_SANITIZE=
	# (b) AddressSanitizer + UndefinedBehaviorSanitizer, every test
	# (the library and its tests; the command, benchmarks, bridge and
	# examples are tested in the release stage, the fuzzers bring their own
	# sanitizers and are off here, and the model checks run in the release
	# stage only)
	stage asan build-asan "" \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 -- \
		-DSHMRING_SANITIZE=address,undefined -DSHMRING_BUILD_BENCH=OFF \
		-DSHMRING_BUILD_TOOLS=OFF -DSHMRING_BUILD_EXAMPLES=OFF -DSHMRING_BUILD_BRIDGE=OFF
	# (c) ThreadSanitizer, threaded tests only: TSan sees races between
	# threads of one process, not across processes sharing a ring.
	stage tsan build-tsan threaded \
		TSAN_OPTIONS=halt_on_error=1 -- \
		-DSHMRING_SANITIZE=thread -DSHMRING_BUILD_BENCH=OFF \
		-DSHMRING_BUILD_TOOLS=OFF -DSHMRING_BUILD_EXAMPLES=OFF -DSHMRING_BUILD_BRIDGE=OFF

	echo
	echo "==== dev.sh test: $(($(now) - T0))s in all"
	printf '%s\n' "${SUMMARY[@]}"
	if ((FAILED)); then
		echo "==== FAILED"
		exit 1
	fi
	echo "==== OK"
}

case ${1-} in
run) shift; cmd_run "$@" ;;
test) shift; cmd_test "$@" ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
