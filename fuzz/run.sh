#!/bin/sh
# Runs the fuzz harnesses built by fuzz/build.sh, unattended.
#
#   fuzz/run.sh libfuzzer   every target in TARGETS (default: all) for
#                           FUZZ_SECONDS each, one after the other
#   fuzz/run.sh afl         FUZZ_TARGET under afl-fuzz for FUZZ_SECONDS,
#                           with a CMPLOG companion binary
#
# Seeds come from the committed corpus (corpus/ and policies/), copied into
# a work directory under fuzz/out/ (git-ignored), so the committed corpus is
# never written to. Inputs libFuzzer finds are kept in
# fuzz/out/libfuzzer/<target>/corpus and reused by the next run; crashes go
# to fuzz/out/<engine>/<target>/crashes. Prints per target: executions,
# execs/s, coverage and crashes; exits 1 if any target crashed.
#
# Targets decoder, scanner and diff read their first byte as flags (policy,
# limits); their seeds are corpus files behind one byte per policy.
set -u
cd "$(dirname "$0")/.."

MODE=${1:-libfuzzer}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
OUT=fuzz/out
if [ -z "${TARGETS:-}" ]; then
    TARGETS=$(for f in fuzz/fuzz_*.c; do basename "$f" .c | sed 's/^fuzz_//'; done)
fi

# uses_flag_byte, dict_for, max_len_for, make_seeds
. fuzz/targets.sh

status=0

run_libfuzzer() {
    for t in $TARGETS; do
        bin=build-fuzz/libfuzzer/fuzz_$t
        if [ ! -x "$bin" ]; then
            echo "run.sh: $bin missing: run fuzz/build.sh first" >&2
            status=1
            continue
        fi
        w=$OUT/libfuzzer/$t
        rm -rf "$w/seeds"
        mkdir -p "$w/corpus" "$w/crashes"
        make_seeds "$t" "$w/seeds" "$(max_len_for "$t")"
        log=$w/log.txt
        echo "run.sh: libfuzzer $t for ${FUZZ_SECONDS}s (log: $log)"
        # -timeout: a single input taking seconds is a bug (limits should
        # stop it); -rss_limit_mb: the decoder's limits must keep memory low
        "$bin" -dict="$(dict_for "$t")" -max_len="$(max_len_for "$t")" \
            -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$w/crashes/" \
            "$w/corpus" "$w/seeds" > "$log" 2>&1
        rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
        crashes=$(ls "$w/crashes" 2>/dev/null | wc -l)
        echo "run.sh: libfuzzer $t: execs=${execs:-?} execs/s=${eps:-?} ${cov:-cov: ?} corpus=$(ls "$w/corpus" | wc -l) crashes=$crashes exit=$rc"
        if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
            status=1
            grep -m1 -E 'ERROR|SUMMARY|check failed|disagree' "$log" || true
            ls "$w/crashes"
        fi
    done
}

run_afl() {
    t=${FUZZ_TARGET:-decoder}
    bin=build-fuzz/afl/fuzz_$t
    cmplog=build-fuzz/afl-cmplog/fuzz_$t
    if [ ! -x "$bin" ]; then
        echo "run.sh: $bin missing: run fuzz/build.sh first" >&2
        exit 1
    fi
    w=$OUT/afl/$t
    rm -rf "$w/in" "$w/out"
    # AFL++ calibrates every seed; keep them small (it prefers < 64 KiB)
    make_seeds "$t" "$w/in" 65536
    set -- -i "$w/in" -o "$w/out" -x "$(dict_for "$t")" -V "$FUZZ_SECONDS" -t 10000
    if [ -x "$cmplog" ]; then
        set -- "$@" -c "$cmplog"
    fi
    echo "run.sh: afl $t for ${FUZZ_SECONDS}s (log: $w/log.txt)"
    # unattended as root on a shared machine: no UI, no CPU governor or
    # core_pattern demands, no CPU pinning
    AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
    AFL_NO_AFFINITY=1 AFL_SKIP_CRASHES=1 AFL_FAST_CAL=1 \
        afl-fuzz "$@" -- "$bin" > "$w/log.txt" 2>&1
    rc=$?
    stats=$w/out/default/fuzzer_stats
    if [ ! -f "$stats" ]; then
        echo "run.sh: afl-fuzz did not start (exit $rc); tail of $w/log.txt:" >&2
        tail -20 "$w/log.txt" >&2
        exit 1
    fi
    get() { sed -n "s/^$1 *: *//p" "$stats"; }
    crashes=$(get saved_crashes)
    [ -n "$crashes" ] || crashes=$(get unique_crashes)
    echo "run.sh: afl $t: execs=$(get execs_done) execs/s=$(get execs_per_sec) edges=$(get edges_found)/$(get total_edges) bitmap=$(get bitmap_cvg) corpus=$(get corpus_count) crashes=$crashes hangs=$(get saved_hangs) exit=$rc"
    if [ "${crashes:-0}" != 0 ]; then
        status=1
        ls "$w/out/default/crashes"
    fi
}

case $MODE in
libfuzzer) run_libfuzzer ;;
afl) run_afl ;;
*) echo "usage: fuzz/run.sh libfuzzer|afl" >&2; exit 2 ;;
esac
exit $status
