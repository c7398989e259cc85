#!/usr/bin/env python3
"""pytools.py -- the CPython side of the benchmark, one run per process.

  pytools.py genops FILE   walk pickletools.genops over every pickle in FILE
  pytools.py load FILE     pickle.load every pickle in FILE (benign files only)
  pytools.py noop          import what the others import and exit (start-up cost)

Prints one line `opcodes=N pickles=P seconds=T` (genops) or `pickles=P
seconds=T` (load; T is the in-process time, start-up excluded) for
bench.py's sanity checks and in-process ratios, then leaves with os._exit so the unpickled
objects are not torn down inside the timed region: Python is timed for
loading, not for freeing (pickleguard's figures do include freeing).

Only ever given files bench/gen_workload.py made from benign objects: this
must never be pointed at untrusted input, since `load` runs pickle.load.
"""
import os
import pickle
import pickletools
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchclasses  # noqa: E402,F401  (pickle.load needs it importable)


def main(argv):
    if len(argv) == 2 and argv[1] == "noop":
        os._exit(0)
    if len(argv) != 3 or argv[1] not in ("genops", "load"):
        print("usage: pytools.py genops|load FILE | noop", file=sys.stderr)
        return 2
    mode, path = argv[1], argv[2]
    size = os.path.getsize(path)
    pickles = 0
    opcodes = 0
    keep = []   # loaded objects stay alive: freeing is not what is timed
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        while f.tell() < size:
            if mode == "load":
                keep.append(pickle.load(f))
            else:
                for _ in pickletools.genops(f):
                    opcodes += 1
            pickles += 1
    t = time.perf_counter() - t0
    if mode == "load":
        print("pickles=%d seconds=%.6f" % (pickles, t))
    else:
        print("opcodes=%d pickles=%d seconds=%.6f" % (opcodes, pickles, t))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
