#!/bin/bash -eu
# ClusterFuzzLite build script: the OSS-Fuzz one (fuzz/oss-fuzz/build.sh),
# run from the checkout (WORKDIR).
exec bash fuzz/oss-fuzz/build.sh
