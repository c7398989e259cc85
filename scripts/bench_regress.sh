#!/bin/sh
# bench_regress.sh -- builds BASE (a commit, default the last tag-less
# merge base: HEAD~1) from `git archive` into a scratch directory and runs
# bench/regress.py: this tree's build against that one, A/B in one run.
#   make bench-regress BASE=968aefe [REGRESS_ARGS="--reps 9"]
set -eu
BASE=${BASE:-HEAD~1}
NEW=${PKL_BUILD:-build}
PY=${PYTHON:-python3}
commit=$(git rev-parse --verify "$BASE^{commit}")
dir=${BASE_DIR:-${TMPDIR:-/tmp}/pickleguard-base-$commit}
if [ ! -x "$dir/build/decode_bench" ] || [ ! -x "$dir/build/pickleguard" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    git archive "$commit" | tar -x -C "$dir"
    # the base's own Makefile and flags; deps are already installed
    make -C "$dir" -s build/pickleguard build/decode_bench
fi
echo "bench-regress: base $commit in $dir/build, new $NEW" >&2
# shellcheck disable=SC2086
exec "$PY" bench/regress.py --base "$dir/build" --new "$NEW" ${REGRESS_ARGS:-}
