#!/bin/sh
# Runs every test of `make check`: the check suites, each tests/test_*.py
# script (given the build directory), and each fuzz replay driver over the
# whole corpus/ tree. Prints one summary line per part, the skipped checks
# added up over the parts (a check that could not run for want of an
# optional dependency is counted and printed, never passed), and a final
# "N passed, N failed"; exits non-zero when anything failed.
set -u
B=${PKL_BUILD:-build}
PY=${PYTHON:-python3}
passed=0
failed=0
skipped=0
failed_names=""
out=$(mktemp)
trap 'rm -f "$out"' EXIT

run() { # name, command...
    name=$1; shift
    echo "=== $name"
    "$@" > "$out" 2>&1
    rc=$?
    cat "$out"
    n=$(tail -n 1 "$out" | sed -n 's/.* \([0-9][0-9]*\) skipped$/\1/p')
    skipped=$((skipped + ${n:-0}))
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failed_names="$failed_names $name"
        echo "*** FAILED: $name"
    fi
}

run "check suites" env CK_FORK=no "$B/check_all"
for t in tests/test_*.py; do
    [ -e "$t" ] || continue
    run "$t" env PKL_BUILD="$B" "$PY" "$t"
done
for r in "$B"/fuzz/replay_*; do
    [ -e "$r" ] || continue
    run "$(basename "$r") over corpus/" "$r" corpus
done
echo
if [ "$skipped" -ne 0 ]; then
    echo "skipped checks (missing optional dependencies): $skipped"
fi
echo "test parts: $passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
    echo "failed parts:$failed_names"
    exit 1
fi
exit 0
