#!/bin/bash -eu
# OSS-Fuzz build script (also .clusterfuzzlite's). Runs in the builder
# image from WORKDIR, the pickleguard checkout, with OSS-Fuzz's $CC,
# $CFLAGS, $CXX, $CXXFLAGS, $LIB_FUZZING_ENGINE, $OUT and $WORK set.
# fuzz/build.sh (engine oss-fuzz) does the work, so OSS-Fuzz builds the
# same harnesses, seeds and dictionaries as `make fuzz`: each
# fuzz/fuzz_<target>.c becomes $OUT/fuzz_<target> with
# fuzz_<target>_seed_corpus.zip, fuzz_<target>.dict, fuzz_<target>.options.
if [ ! -f fuzz/build.sh ]; then
    cd "$SRC/pickleguard"
fi
ENGINES=oss-fuzz JOBS="${JOBS:-$(nproc)}" sh fuzz/build.sh
