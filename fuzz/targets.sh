# fuzz/targets.sh -- what fuzz/run.sh and fuzz/build.sh (its oss-fuzz
# engine) share about each target: whether it reads a flag byte, its
# dictionary, its maximum input length, and how its seeds are made from
# the committed corpus. Sourced (POSIX sh), from the repository root.

uses_flag_byte() {
    case $1 in decoder|scanner|diff|formats) return 0 ;; *) return 1 ;; esac
}

dict_for() {
    case $1 in policy) echo fuzz/policy.dict ;; *) echo fuzz/pickle.dict ;; esac
}

max_len_for() {
    case $1 in
    policy) echo 16384 ;;
    formats) echo 262144 ;;
    *) echo 65536 ;;
    esac
}

# Fills directory $2 with seeds for target $1 (at most $3 bytes each).
make_seeds() {
    t=$1 dir=$2 max=$3
    mkdir -p "$dir"
    if [ "$t" = policy ]; then
        find policies tests corpus/regressions/policy -type f \
            \( -name '*.yaml' -o -name '*.yml' -o -path '*/regressions/policy/*' \) \
            2>/dev/null | sort > "$dir.list"
    else
        find corpus -type f ! -path 'corpus/gen/*' ! -path 'corpus/regressions/*' \
            ! -name MANIFEST.tsv 2>/dev/null | sort > "$dir.list"
    fi
    i=0
    while IFS= read -r f; do
        size=$(wc -c < "$f")
        [ "$size" -le "$max" ] || continue
        i=$((i + 1))
        if uses_flag_byte "$t"; then
            # one copy per policy: flag byte 0 default, 1 strict, 2 ml
            for flag in 000 001 002; do
                { printf "\\$flag"; cat "$f"; } > "$dir/s$i-$flag"
            done
        else
            cp "$f" "$dir/s$i"
        fi
    done < "$dir.list"
    # every input that ever crashed this target is a seed too
    if [ -d "corpus/regressions/$t" ]; then
        for f in corpus/regressions/"$t"/*; do
            [ -f "$f" ] && cp "$f" "$dir/reg-$(basename "$f")"
        done
    fi
    rm -f "$dir.list"
    # an empty seed set is not an error for either engine, but give one
    [ -n "$(ls "$dir")" ] || printf '\200\004N.' > "$dir/minimal"
}
