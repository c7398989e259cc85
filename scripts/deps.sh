#!/bin/sh
# Installs the Debian packages pickleguard needs, only those missing.
# Called by `make deps`, and by `make`/`make check` through a stamp file, so
# a fresh Debian machine needs nothing but a clone.
#
# Works on Debian 12 and 13: nothing here names a versioned package. The
# clang runtime (sanitizers, libFuzzer) is versioned by clang's major
# version (libclang-rt-14-dev on 12, libclang-rt-19-dev on 13), so it is
# chosen after clang is installed, from the clang that is on the PATH.
set -eu
PKGS="gcc make pkg-config python3 python3-venv libyaml-dev check clang \
afl++ zlib1g-dev libbz2-dev liblzma-dev libzstd-dev liblz4-dev libsqlite3-dev \
libgdbm-dev libdb-dev libseccomp-dev"
# Debian's python3 with dbm.gnu: python/tests writes GNU dbm shelves with it
PKGS="$PKGS python3-gdbm"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
updated=""

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

install_missing() { # package...
    missing=""
    for p in "$@"; do
        is_installed "$p" || missing="$missing $p"
    done
    [ -n "$missing" ] || return 0
    echo "deps: installing:$missing"
    if [ -z "$updated" ]; then
        $SUDO apt-get update -qq
        updated=1
    fi
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing
}

# shellcheck disable=SC2086
install_missing $PKGS

# The compiler-rt package that matches the installed clang.
major=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
if [ -n "$major" ]; then
    rt="libclang-rt-$major-dev"
    if ! is_installed "$rt"; then
        if [ -z "$updated" ]; then $SUDO apt-get update -qq; updated=1; fi
        if apt-cache show "$rt" >/dev/null 2>&1; then
            install_missing "$rt"
        else
            # Older layouts shipped the runtime inside libclang-common-N-dev.
            install_missing "libclang-common-$major-dev"
        fi
    fi
fi

# Optional: Debian's own, older torch, NumPy and joblib for Debian's
# python3 (torch 1.13, NumPy 1.24, joblib 1.2 on Debian 12), which
# tests/test_oracle.py runs as a second real-loader oracle. Installed where
# the release has them; where it does not (or the install fails) that pass
# is a counted skip, not a failed set-up.
optional=""
for p in python3-torch python3-numpy python3-joblib; do
    is_installed "$p" || optional="$optional $p"
done
if [ -n "$optional" ]; then
    if [ -z "$updated" ]; then $SUDO apt-get update -qq; updated=1; fi
    avail=""
    for p in $optional; do
        if apt-cache show "$p" >/dev/null 2>&1; then avail="$avail $p"; fi
    done
    if [ -n "$avail" ]; then
        # shellcheck disable=SC2086
        install_missing $avail || echo "deps: optional packages not installed:$avail"
    fi
fi
