#!/bin/sh
# Installs the Debian packages pickleguard needs, only those missing.
# Called by `make deps`, and by `make`/`make check` through a stamp file, so
# a fresh Debian machine needs nothing but a clone.
set -eu
PKGS="gcc make pkg-config python3 libyaml-dev check clang libclang-rt-14-dev \
afl++ zlib1g-dev libbz2-dev liblzma-dev libzstd-dev liblz4-dev libsqlite3-dev \
libgdbm-dev"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi
echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
