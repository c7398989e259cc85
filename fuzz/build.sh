#!/bin/sh
# Builds every fuzz harness (fuzz/fuzz_<target>.c) for both engines:
#
#   build-fuzz/libfuzzer/fuzz_<target>   clang -fsanitize=fuzzer,address,undefined
#   build-fuzz/afl/fuzz_<target>         AFL++ afl-clang-fast, AFL_USE_ASAN/UBSAN
#   build-fuzz/afl-cmplog/fuzz_<target>  the same with CMPLOG (afl-fuzz -c)
#   $OUT/fuzz_<target>                   engine oss-fuzz: OSS-Fuzz's and
#                                        ClusterFuzzLite's environment
#
# The oss-fuzz engine is what fuzz/oss-fuzz/build.sh and
# .clusterfuzzlite/build.sh run inside the builder image: compiler and
# flags come from $CC, $CFLAGS, $CXX, $CXXFLAGS and $LIB_FUZZING_ENGINE,
# the library is built into $WORK, and $OUT gets each fuzzer with its
# <fuzzer>_seed_corpus.zip (the seeds fuzz/run.sh uses), <fuzzer>.dict and
# <fuzzer>.options (max_len). The format libraries are linked statically:
# the image fuzzers run in has none of them.
#
# The library is built by the Makefile with the same compiler and
# sanitizers into build-fuzz/lib-<engine>/ (libpickleguard.a), so library
# code is instrumented too. PKL_TESTING makes ALWAYS/NEVER abort.
#
# Environment: ENGINES (default "libfuzzer afl"; or oss-fuzz), TARGETS (default: every
# fuzz/fuzz_*.c), JOBS (make -j, default 2), FUZZ_CFLAGS (added to every
# compile, e.g. -fno-sanitize=pointer-overflow to look past one known bug).
set -eu
cd "$(dirname "$0")/.."
# uses_flag_byte, dict_for, max_len_for, make_seeds
. fuzz/targets.sh

ENGINES=${ENGINES:-"libfuzzer afl"}
JOBS=${JOBS:-2}
if [ -z "${TARGETS:-}" ]; then
    TARGETS=$(for f in fuzz/fuzz_*.c; do basename "$f" .c | sed 's/^fuzz_//'; done)
fi
LIBS="-lyaml -lz -lbz2 -llzma -lzstd -llz4 -lsqlite3 -lgdbm -lm"
WARN="-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wvla"
COMMON="-std=c11 $WARN -g -O1 -fno-omit-frame-pointer -D_POSIX_C_SOURCE=200809L -DPKL_TESTING"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
FUZZ_CFLAGS=${FUZZ_CFLAGS:-}
COMMON="$COMMON $FUZZ_CFLAGS"

build_lib() { # build dir, CC, extra cflags, extra ldflags
    # from scratch: make tracks sources, not flags
    rm -rf "$1"
    make -s -j"$JOBS" BUILD="$1" CC="$2" OPT=-O1 \
        EXTRA_CFLAGS="$3 -fno-omit-frame-pointer -DPKL_TESTING $FUZZ_CFLAGS" \
        EXTRA_LDFLAGS="$4" "$1/libpickleguard.a"
}

# OSS-Fuzz: each fuzzer with its seeds, dictionary and options in $OUT.
build_oss_fuzz() {
    : "${CC:?}" "${CFLAGS?}" "${LIB_FUZZING_ENGINE:?}" "${OUT:?}"
    cxx=${CXX:-clang++}
    L=${WORK:-build-fuzz}/lib-oss-fuzz
    rm -rf "$L"
    mkdir -p "$L" "$OUT"
    # The Dockerfile installed the libraries; scripts/deps.sh must not run
    # apt-get in the builder image (it would install a second clang).
    touch "$L/.deps-ok"
    # $CFLAGS replaces the Makefile's own; no -Werror: the image's clang
    # is newer than the ones the tree is kept warning-free with
    make -s -j"$JOBS" BUILD="$L" CC="$CC" CFLAGS="$CFLAGS" \
        WARN="-Wall -Wextra" EXTRA_CFLAGS="-DPKL_TESTING $FUZZ_CFLAGS" \
        "$L/libpickleguard.a"
    static_libs="-Wl,-Bstatic -lyaml -lz -lbz2 -llzma -lzstd -llz4 -lsqlite3 \
-lgdbm -Wl,-Bdynamic -lm -lpthread -ldl"
    for t in $TARGETS; do
        echo "build.sh: oss-fuzz fuzz_$t"
        # shellcheck disable=SC2086
        $CC $CFLAGS -std=c11 -D_POSIX_C_SOURCE=200809L -DPKL_TESTING \
            $FUZZ_CFLAGS -Isrc -Ifuzz -c -o "$L/fuzz_$t.o" "fuzz/fuzz_$t.c"
        # linked by the C++ driver: $LIB_FUZZING_ENGINE is C++ (libFuzzer,
        # AFL++'s driver, honggfuzz's)
        # shellcheck disable=SC2086
        $cxx ${CXXFLAGS:-$CFLAGS} -o "$OUT/fuzz_$t" "$L/fuzz_$t.o" \
            "$L/libpickleguard.a" $LIB_FUZZING_ENGINE $static_libs
        rm -rf "$L/seeds-$t"
        make_seeds "$t" "$L/seeds-$t" "$(max_len_for "$t")"
        rm -f "$OUT/fuzz_${t}_seed_corpus.zip"
        python3 - "$OUT/fuzz_${t}_seed_corpus.zip" "$L/seeds-$t" <<'PY'
import os, sys, zipfile
out, d = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(d)):
        z.write(os.path.join(d, name), name)
PY
        cp "$(dict_for "$t")" "$OUT/fuzz_$t.dict"
        printf '[libfuzzer]\nmax_len = %s\n' "$(max_len_for "$t")" \
            > "$OUT/fuzz_$t.options"
    done
}

for engine in $ENGINES; do
    case $engine in
    libfuzzer)
        B=build-fuzz/libfuzzer
        L=build-fuzz/lib-libfuzzer
        mkdir -p "$B"
        build_lib "$L" clang "-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
            "-fsanitize=address,undefined"
        for t in $TARGETS; do
            echo "build.sh: libfuzzer fuzz_$t"
            clang $COMMON -fsanitize=fuzzer $SAN -Isrc -Ifuzz -o "$B/fuzz_$t" \
                "fuzz/fuzz_$t.c" "$L/libpickleguard.a" $LIBS
        done
        ;;
    afl)
        command -v afl-clang-fast >/dev/null || { echo "build.sh: afl-clang-fast not found (apt-get install afl++)" >&2; exit 1; }
        export AFL_QUIET=1 AFL_USE_ASAN=1 AFL_USE_UBSAN=1
        for variant in afl afl-cmplog; do
            B=build-fuzz/$variant
            L=build-fuzz/lib-$variant
            mkdir -p "$B"
            if [ "$variant" = afl-cmplog ]; then
                export AFL_LLVM_CMPLOG=1
            else
                unset AFL_LLVM_CMPLOG || true
            fi
            build_lib "$L" afl-clang-fast "" ""
            for t in $TARGETS; do
                echo "build.sh: $variant fuzz_$t"
                # -fsanitize=fuzzer makes afl-clang-fast link AFL++'s
                # libAFLDriver, which provides main() around
                # LLVMFuzzerTestOneInput (persistent mode, shared memory input)
                afl-clang-fast $COMMON -fsanitize=fuzzer -Isrc -Ifuzz -o "$B/fuzz_$t" \
                    "fuzz/fuzz_$t.c" "$L/libpickleguard.a" $LIBS
            done
        done
        unset AFL_LLVM_CMPLOG || true
        ;;
    oss-fuzz)
        build_oss_fuzz
        ;;
    *)
        echo "build.sh: unknown engine $engine" >&2
        exit 2
        ;;
    esac
done
echo "build.sh: done ($ENGINES: $(echo $TARGETS))"
