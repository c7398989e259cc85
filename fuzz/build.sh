#!/bin/sh
# Builds every fuzz harness (fuzz/fuzz_<target>.c) for both engines:
#
#   build-fuzz/libfuzzer/fuzz_<target>   clang -fsanitize=fuzzer,address,undefined
#   build-fuzz/afl/fuzz_<target>         AFL++ afl-clang-fast, AFL_USE_ASAN/UBSAN
#   build-fuzz/afl-cmplog/fuzz_<target>  the same with CMPLOG (afl-fuzz -c)
#
# The library is built by the Makefile with the same compiler and
# sanitizers into build-fuzz/lib-<engine>/ (libpickleguard.a), so library
# code is instrumented too. PKL_TESTING makes ALWAYS/NEVER abort.
#
# Environment: ENGINES (default "libfuzzer afl"), TARGETS (default: every
# fuzz/fuzz_*.c), JOBS (make -j, default 2), FUZZ_CFLAGS (added to every
# compile, e.g. -fno-sanitize=pointer-overflow to look past one known bug).
set -eu
cd "$(dirname "$0")/.."

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
    *)
        echo "build.sh: unknown engine $engine" >&2
        exit 2
        ;;
    esac
done
echo "build.sh: done ($ENGINES: $(echo $TARGETS))"
