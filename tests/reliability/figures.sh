#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# figures.sh - run the reliability suite and print the figures for the
# README ("Guarantees and how we test them").
#
#   tests/reliability/figures.sh [BUILD_DIR] [--no-run] [--long]
#
# BUILD_DIR defaults to build-rel (configured with SHMRING_BUILD_TESTS=ON).
# Every test appends one "FIGURES ..." line to BUILD_DIR/tests/reliability/
# figures.txt; this script empties that file, runs `ctest -L reliability -j2`
# (unless --no-run), prints each test's line, then one total per family.
# --long runs the full counts (SHMRING_LONG=1).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build-rel
RUN=1
for a in "$@"; do
	case $a in
	--no-run) RUN=0 ;;
	--long) export SHMRING_LONG=1 ;;
	-h | --help)
		sed -n '4,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*) BUILD=$(cd "$a" && pwd) ;;
	esac
done
FIG=$BUILD/tests/reliability/figures.txt

if ((RUN)); then
	[[ -f $BUILD/CMakeCache.txt ]] ||
		cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$BUILD" -j2 --target rel_stress rel_crash rel_soak rel_scribble rel_hostile
	: >"$FIG"
	t0=$(date +%s)
	rc=0
	ctest --test-dir "$BUILD" -L '^reliability$' -j2 --output-on-failure || rc=$?
	echo "reliability suite: $(($(date +%s) - t0)) s, ctest exit $rc"
fi
[[ -s $FIG ]] || {
	echo "no figures in $FIG (run the suite first)" >&2
	exit 1
}

echo
echo "==== per test"
sort "$FIG"
echo
echo "==== totals"
# Sum the first number after a keyword on the lines of one family.
awk '
function num(s) { gsub(/[^0-9]/, "", s); return s + 0 }
function c(n,    s, r) {
	s = sprintf("%d", n); r = ""
	while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
	return s r
}
function after(line, word,    i, n, f) {
	n = split(line, f, " ")
	for (i = 2; i <= n; i++) if (f[i] == word) return num(f[i - 1])
	return 0
}
/^stress / {
	sm += after($0, "messages"); sw += after($0, "sleep/wake"); sl += after($0, "lost,")
	sd += after($0, "duplicated"); sn++
}
/^crash / {
	ck += after($0, "kills"); cm += after($0, "messages"); cd += after($0, "dropped-counted,")
	cn++; if ($0 ~ /FAILURES/) cf++
}
/^soak / { ok += after($0, "kills"); om += after($0, "messages"); on++ }
/^scribble / { ss += after($0, "scribbles"); sc += after($0, "calls"); scn++; if ($0 ~ /FAILED/) sf++ }
END {
	if (sn) printf "stress: %d runs, %s messages checked, %s lost, %s duplicated, %s futex sleep/wake cycles\n", sn, c(sm), c(sl), c(sd), c(sw)
	if (cn) printf "crash points: %s kills survived in %d groups (%d with failures), %s messages checked, %s dropped-counted\n", c(ck), cn, cf, c(cm), c(cd)
	if (on) printf "random-kill soak: %d runs, %s kills survived, %s messages checked\n", on, c(ok), c(om)
	if (scn) printf "corruption: %d runs, %s scribbles tried under %s calls with timeout 0 (%d failed)\n", scn, c(ss), c(sc), sf
}' "$FIG"
grep '^hostile ' "$FIG" | sort || true
