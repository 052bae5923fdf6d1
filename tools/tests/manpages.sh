#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The man pages: every page renders with man(1) without a warning (groff -ww
# through man --warnings), every .so link reaches a page that names its
# function, and every function declared in include/shmring.h has a page.
#
#   bash tools/tests/manpages.sh man/ include/shmring.h
set -u
MAN=${1:?usage: $0 MANDIR HEADER}
HEADER=${2:?usage: $0 MANDIR HEADER}
PASSED=0
FAILED=0
pass()
{
	PASSED=$((PASSED + 1))
}
fail()
{
	FAILED=$((FAILED + 1))
	printf 'FAIL: %s\n' "$*"
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

HEADER=$(realpath "$HEADER")
errf=$(mktemp)
trap 'rm -f "$errf"' EXIT
cd "$MAN" || exit 2
pages=(shmring.1 man3/*.3)
for p in "${pages[@]}"; do
	# .so lines are resolved relative to the manual's top directory (here).
	text=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$p" 2>"$errf")
	if [[ ! -s $errf ]]; then
		pass
	else
		fail "$p: $(cat "$errf")"
	fi
	check "$p renders no NAME section" grep -q '^NAME' <<<"$text"
done

# Every public function: a page of its own name, whose NAME line lists it.
funcs=$(grep -o 'SHMRING_API[^(]*(' "$HEADER" | grep -o 'shmring_[a-z_]*' | sort -u)
check "no function found in $HEADER" test -n "$funcs"
for f in $funcs; do
	page=man3/$f.3
	if [[ ! -f $page ]]; then
		fail "$f: no man3/$f.3"
		continue
	fi
	target=$page
	if so=$(grep -m1 '^\.so ' "$page"); then
		target=${so#.so }
		[[ -f $target ]] || {
			fail "$page: .so to a missing $target"
			continue
		}
	fi
	name_line=$(sed -n '/^\.SH NAME/{n;p;q}' "$target")
	check "$target: NAME does not list $f ($name_line)" grep -qE "(^| )$f(,| )" <<<"$name_line"
done

echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
