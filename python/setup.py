"""Build the pickleguard Python package: a CPython extension over
libpickleguard's static library (../build/libpickleguard.a, made by `make`
in the checkout; built here if it is missing).

    make && .venv/bin/python -m pip install --no-build-isolation ./python
"""
import os
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("PKL_BUILD", os.path.join(ROOT, "build"))
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
LIB = os.path.join(BUILD, "libpickleguard.a")

if not os.path.exists(LIB):
    subprocess.check_call(["make", "-C", ROOT, "BUILD=" + os.path.relpath(BUILD, ROOT),
                           os.path.relpath(LIB, ROOT)])

ext = Extension(
    "pickleguard._pickleguard",
    sources=[os.path.relpath(os.path.join(HERE, "src", "_pickleguard.c"), HERE)],
    include_dirs=[os.path.join(ROOT, "src")],
    extra_objects=[LIB],
    # relink whenever the library or its header changes (setuptools only
    # compares the sources otherwise, and would keep a stale extension)
    depends=[LIB, os.path.join(ROOT, "src", "pickleguard.h")],
    libraries=["yaml", "z", "bz2", "lzma", "zstd", "lz4", "sqlite3", "gdbm", "m"],
    extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers",
                        "-Wno-cast-function-type", "-D_GNU_SOURCE"],
)

setup(
    name="pickleguard",
    version="0.1.0",
    description="Load untrusted pickles under a policy (libpickleguard binding)",
    packages=["pickleguard"],
    ext_modules=[ext],
    python_requires=">=3.9",
)
