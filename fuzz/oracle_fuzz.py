#!/usr/bin/env python3
"""oracle_fuzz.py -- structure-aware differential fuzzer: scan vs the
real-loader oracle (tests/oracle.py).

Mutates corpus files where parsers disagree most: text-opcode spellings
(INT/LONG/FLOAT/GET/PUT text replaced by spellings from both unpicklers'
grammars: signs, blanks, underscores, base prefixes, NULs, overflow),
lines cut at the end of the input (GLOBAL/INST without their newline),
byte flips, truncations, a GLOBAL of a name outside the catalogue spliced
in after a mutated opcode, and gzip/bz2/xz re-wrapping of the result.
Each batch is written to a temporary directory, scanned once
(`pickleguard scan --format json --policy default`), and given to the
oracle's loaders (one long-lived worker per loader); a global a loader
asks for that the scan neither names nor may stay silent about (the
policy allows it) is a MISS: the input is saved under fuzz/out/oracle/
and the run exits 1.

    python3 fuzz/oracle_fuzz.py --seconds 600 [--loaders cpickle,pypickle]

Prints the figures: cases, loader runs, globals compared, misses.
"""
import argparse
import bz2
import gzip
import lzma
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
os.environ.setdefault("PKL_BUILD", "build")

import oracle  # noqa: E402
import test_oracle  # noqa: E402
from pgtest import EXE  # noqa: E402

PRE = [b"", b" ", b"\t", b"+", b"-", b"\x00", b"0", b"00"]
BODY = [b"0", b"1", b"7", b"010", b"08", b"0x10", b"0o17", b"0b101", b"1_0",
        b"1__0", b"_1", b"0_0", b"9223372036854775808", b"1.5", b"1e400",
        b"inf", b"nan", b"1e", b".", b"", b"0x", b"1_0.5", b"-0"]
SUF = [b"", b" ", b"\x00", b"\x00zz", b"L", b"\x0b", b"_"]
TEXT_OPS = b"ILFgp"


def spelling(rng):
    return rng.choice(PRE) + rng.choice(BODY) + rng.choice(SUF)


def mutate(data, rng):
    data = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0 and data:  # re-spell a text argument
        starts = [i for i, b in enumerate(data[:4096]) if b in TEXT_OPS]
        if starts:
            i = rng.choice(starts)
            j = data.find(b"\n", i)
            if j > i:
                data[i + 1:j] = spelling(rng)
    elif kind == 1 and data:  # cut, often right before a newline
        nl = [i for i, b in enumerate(data[:4096]) if b == 10]
        cut = rng.choice(nl) if nl and rng.random() < 0.7 else \
            rng.randrange(len(data))
        data = data[:cut + rng.randrange(0, 2)]
    elif kind == 2 and data:  # flips
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 3:  # a text opcode then a global outside the catalogue
        op = rng.choice(b"ILF")
        data = bytearray(bytes([op]) + spelling(rng) + b"\n0cmymod\nThing\n"
                         + bytes(data))
    elif kind == 4:  # a GLOBAL/INST line at the very end
        tail = rng.choice([b"cmymod\nThingX", b"(imymod\nThingX", b"cmymodX",
                           b"cos\nsystemX"])
        data = bytearray(bytes(data).rstrip(b".") + tail)
    else:  # re-spell several
        for _ in range(3):
            data = bytearray(mutate(bytes(data), rng))
    out = bytes(data)
    r = rng.random()
    if r < 0.1:
        out = gzip.compress(out)
    elif r < 0.15:
        out = bz2.compress(out)
    elif r < 0.2:
        out = lzma.compress(out)
    return out


def seeds():
    out = []
    for p in test_oracle.corpus_files():
        if os.path.getsize(p) <= 65536:
            with open(p, "rb") as f:
                out.append(f.read())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--loaders", default="cpickle,pypickle,compressed")
    a = ap.parse_args()
    if not os.path.exists(EXE):
        print("no binary %s: run make first" % EXE)
        return 2
    rng = random.Random(a.seed)
    pool = seeds()
    loaders = a.loaders.split(",")
    allowed = test_oracle.policy_allows("default")
    outdir = os.path.join(HERE, "out", "oracle")
    t0 = time.time()
    tot = {"cases": 0, "runs": 0, "globals": 0, "unnamed": 0,
           "unimportable": 0, "misses": 0}
    while time.time() - t0 < a.seconds:
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for i in range(a.batch):
                p = os.path.join(tmp, "case%04d.pkl" % i)
                with open(p, "wb") as f:
                    f.write(mutate(rng.choice(pool), rng))
                paths.append(p)
            res = oracle.run_oracle(paths, loaders)
            rep = test_oracle.scan_report(paths)
            before = test_oracle._failed_count()
            fig = test_oracle.compare(res, rep, {}, allowed)
            tot["cases"] += len(paths)
            tot["runs"] += len(paths) * len(res)
            for k in ("globals", "unnamed", "unimportable", "misses"):
                tot[k] += fig[k]
            if fig["misses"] or test_oracle._failed_count() != before:
                os.makedirs(outdir, exist_ok=True)
                for p in paths:
                    shutil.copy(p, os.path.join(
                        outdir, "%d_%s" % (int(time.time()), os.path.basename(p))))
    print("oracle_fuzz: %.0f s, %d cases, %d loader runs, %d globals compared, "
          "%d reported unnamed (high), %d unimportable, %d misses"
          % (time.time() - t0, tot["cases"], tot["runs"], tot["globals"],
             tot["unnamed"], tot["unimportable"], tot["misses"]))
    return 1 if tot["misses"] or test_oracle._failed_count() else 0


if __name__ == "__main__":
    sys.exit(main())
