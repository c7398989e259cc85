#!/usr/bin/env python3
"""test_reader_parity.py -- text-argument opcodes against both CPython
unpicklers.

Generates many spellings of INT, LONG, FLOAT, GET and PUT arguments (signs,
whitespace, underscores, base prefixes, leading zeros, NULs, overflow,
inf/nan) and reads each pickle with CPython's C unpickler
(_pickle.Unpickler) and its pure-Python one (pickle._Unpickler). Their
results are the expected values; pickleguard's output is never the oracle.

- both refuse: `pickleguard load` refuses, the scan is not clean;
- both accept the same value: `load` prints that value (the C unpickler's),
  the scan has no finding at medium or above;
- they disagree (one refuses, or the values or types differ, e.g. I010 is 8
  for _pickle.c and an error for pickle.py): the scan reports
  `noncanonical-text` (medium) and does NOT stop there (a global after the
  opcode is still reported), and `load` refuses.

GLOBAL/INST lines at the end of the input without their newline are read
by pickle.py (readline()[:-1] drops the last byte) but not by _pickle.c:
the global pickle.py asks find_class for must be reported by the scan.
Nothing here resolves a real global: every find_class raises or records.

Environment: PKL_BUILD. Prints "N passed, M failed" last.
"""
import io
import json
import math
import os
import pickle
import _pickle
import subprocess
import sys
import tempfile

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)

from pgtest import EXE, check, finish, no_binary


class _NoGlobals:
    def find_class(self, module, name):
        raise pickle.UnpicklingError("no globals here: %s.%s" % (module, name))


class CUnpickler(_NoGlobals, _pickle.Unpickler):
    pass


class PyUnpickler(_NoGlobals, pickle._Unpickler):
    pass


def cpython(cls, data):
    try:
        return ("ok", cls(io.BytesIO(data)).load())
    except Exception as e:          # any refusal
        return ("err", type(e).__name__)


def same(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == "err":
        return True
    x, y = a[1], b[1]
    if type(x) is not type(y):
        return False
    if isinstance(x, float) and math.isnan(x):
        return math.isnan(y)
    return x == y


PREFIXES = [b"", b" ", b"\t", b"+", b"-", b" -", b"\x00"]
BODIES = [b"0", b"1", b"7", b"00", b"01", b"010", b"08", b"0x10", b"0X1f",
          b"0x", b"0xg", b"0o17", b"0O7", b"0b101", b"0B2", b"1_0", b"1__0",
          b"_1", b"1_", b"0x_1", b"0_0", b"0_1", b"123456789012345678901234567890",
          b"9223372036854775807", b"9223372036854775808",
          b"0777777777777777777777777", b"0x" + b"f" * 20, b"0b" + b"1" * 70,
          b"1.5", b"1e5", b"1E+5", b"inf", b"-inf", b"nan", b"NaN", b"Infinity",
          b"infinit", b"infx", b"1.5e", b".5", b"5.", b".", b"1_0.5", b"1._5",
          b"1e1_0", b"1e400", b"1e-400", b"0x1p3", b"abc", b"", b"5 5"]
SUFFIXES = [b"", b" ", b"\t", b"\x00", b"\x00zz", b"L", b" L", b"\x0b"]


def cases():
    for p in PREFIXES:
        for b in BODIES:
            for s in SUFFIXES:
                t = p + b + s
                if b"\n" in t:
                    continue
                yield "INT", b"I" + t + b"\n."
                yield "LONG", b"L" + t + b"\n."
                yield "FLOAT", b"F" + t + b"\n."
    for t in [b"5", b"05", b" 5", b"5 ", b"+5", b"5_0", b"5\x00", b"5\x00x",
              b"-5", b"0x5", b"5L", b"", b"_5", b"\t5\t", b"0005"]:
        yield "GET", b"I7\np5\n0g" + t + b"\n."
        yield "PUT", b"I7\np" + t + b"\n0g5\n."
        yield "PUT", b"I7\np" + t + b"\n0g" + t + b"\n."


def main():
    if not os.path.exists(EXE):
        return no_binary()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for i, (kind, data) in enumerate(cases()):
            c = cpython(CUnpickler, data)
            p = cpython(PyUnpickler, data)
            path = os.path.join(tmp, "%05d.pkl" % i)
            with open(path, "wb") as f:
                f.write(data)
            # the same text followed by a global: the scan must go on (a
            # name outside the catalogue: only a parse finds it)
            tail = os.path.join(tmp, "%05d.tail.pkl" % i)
            with open(tail, "wb") as f:
                f.write(data[:-1] + b"0cmymod\nThing\n.")
            rows.append((kind, data, c, p, path, tail))
        scan = subprocess.run([EXE, "scan", "--format", "json", tmp],
                              capture_output=True, timeout=300)
        rep = {f["path"]: f for f in json.loads(scan.stdout)["files"]}
        counts = {"agree": 0, "differ": 0, "refused": 0}
        for kind, data, c, p, path, tail in rows:
            what = "%s %r: C %r, Python %r" % (kind, data, c, p)
            found = rep[path]["findings"]
            rules = {(x["rule"], x["severity"]) for x in found}
            tail_globals = {x.get("global") for x in rep[tail]["findings"]}
            both_refuse = c[0] == "err" and p[0] == "err"
            if both_refuse and counts["refused"] % 8:
                counts["refused"] += 1  # `load` on every 8th only: time
                check(rep[path]["verdict"] != "clean", "scan not clean: " + what)
                continue
            ld = subprocess.run([EXE, "load", path], capture_output=True,
                                timeout=30)
            if both_refuse:
                counts["refused"] += 1
                check(ld.returncode != 0, "load refuses " + what)
                check(rep[path]["verdict"] != "clean", "scan not clean: " + what)
                continue
            # one of them reads it: the scan must read past it
            check("mymod.Thing" in tail_globals,
                  "scan reads past the text to the global: " + what)
            check(("malformed", "medium") not in rules,
                  "no malformed finding: %s (%r)" % (what, found))
            if same(c, p):
                counts["agree"] += 1
                check(not any(x["severity"] in ("critical", "high", "medium")
                              for x in found), "no finding: %s %r" % (what, found))
                if check(ld.returncode == 0, "load accepts " + what):
                    out = ld.stdout.decode().strip()
                    v = c[1]
                    if isinstance(v, bool):
                        check(out == ("true" if v else "false"), "bool value " + what)
                    elif isinstance(v, int):
                        check(out == str(v), "int value %s: got %s" % (what, out))
                    elif isinstance(v, float) and math.isfinite(v):
                        try:
                            got = float(json.loads(out))
                        except (ValueError, TypeError):
                            got = None
                        check(got == v, "float value %s: got %s" % (what, out))
            else:
                counts["differ"] += 1
                check(("noncanonical-text", "medium") in rules,
                      "noncanonical-text medium: %s (%r)" % (what, found))
                check(ld.returncode != 0, "load refuses disagreement " + what)
        print("spellings: %d agree, %d differ, %d refused by both"
              % (counts["agree"], counts["differ"], counts["refused"]))
        check(counts["differ"] > 50 and counts["agree"] > 50,
              "the generator covers both kinds")

    # GLOBAL/INST at the end of the input without the newline: pickle.py
    # drops the last byte and calls find_class; the scan must name it.
    class Rec(pickle._Unpickler):
        def find_class(self, module, name):
            asked.append("%s.%s" % (module, name))
            return lambda *a, **k: None
    eof_cases = [b"cos\nsystemX", b"(S'id'\nios\nsystemX", b"cos\nsystem\n",
                 b"\x80\x02cos\nsystemX", b"cbuiltins\nevalX",
                 b"(S'x'\nibuiltins\nexecX"]
    with tempfile.TemporaryDirectory() as tmp:
        for k, data in enumerate(eof_cases):
            asked = []
            try:
                Rec(io.BytesIO(data)).load()
            except Exception:
                pass
            try:
                CUnpickler(io.BytesIO(data)).load()
                c_ok = True
            except Exception:
                c_ok = False
            path = os.path.join(tmp, "eof%d.pkl" % k)
            with open(path, "wb") as f:
                f.write(data)
            r = subprocess.run([EXE, "scan", "--format", "json", path],
                               capture_output=True, timeout=30)
            found = json.loads(r.stdout)["files"][0]["findings"]
            globs = {x.get("global") for x in found}
            check(asked, "pickle.py asks for a global: %r" % data)
            for g in asked:
                check(g in globs, "scan reports %s of %r (%r)" % (g, data, found))
            check(not c_ok, "_pickle.c refuses %r" % data)
            ld = subprocess.run([EXE, "load", path], capture_output=True,
                                timeout=30)
            check(ld.returncode != 0, "load refuses %r" % data)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
