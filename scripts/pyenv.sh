#!/bin/sh
# Creates (or brings up to date) the project-local Python environment that
# `make check`, `make corpus` and `make bench` run in: VENV (default .venv)
# with the pinned packages of requirements/test.txt, plus any further
# requirement files given as arguments (the bench adds its own).
#
# A stamp inside the environment records a hash of the requirement files,
# so an unchanged environment costs one `cmp`. Installs with pip only; never
# lets torch resolve to anything but the pinned CPU build.
set -eu
VENV=${VENV:-.venv}
PY=${PYTHON_BASE:-python3}
[ $# -gt 0 ] || set -- requirements/test.txt
stamp="$VENV/.pickleguard-requirements"
want=$(cat "$@" | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "pyenv: creating $VENV with $($PY --version 2>&1)"
    "$PY" -m venv "$VENV"
fi
for r in "$@"; do
    echo "pyenv: installing $r into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        --no-input -r "$r"
done
echo "$want" > "$stamp"
