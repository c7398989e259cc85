#!/usr/bin/env python3
"""cpython_diff.py -- CPython differential for the decoder (issue 7, item 3).

For every input that `pickleguard load --policy strict` ACCEPTS (pure data:
strict allows no global, so nothing can be imported or called), CPython's
unpickler must accept it too and produce the same values. Run it over the
fuzzers' output corpora after a campaign:

    python3 fuzz/cpython_diff.py                 # corpus/ + fuzz/out/ corpora
    python3 fuzz/cpython_diff.py DIR_OR_FILE...  # raw pickles
    python3 fuzz/cpython_diff.py --flagged DIR   # harness inputs whose first
                                                 # byte is the flag byte

SAFETY: pickle is only ever run on bytes pickleguard's strict policy
accepted, and then through an Unpickler subclass whose find_class and
persistent_load raise, as a second guard. Never remove either guard.

The comparison is independent of src/json.c: CPython's objects are turned
into a canonical tree here, and pickleguard's pickle-json (docs/json.md)
is parsed into the same canonical tree. Shared containers ($id/$ref) are
expanded, cycles become ("cycle", distance-to-ancestor) on both sides,
and sets compare without order (CPython iterates sets in hash order).
Type is part of equality: int 1, float 1.0 and True all differ.

Prints a summary and "N passed, N failed" (passed = inputs checked without
disagreement); exits 1 on any disagreement. A MemoryError in CPython on a
huge memo index is counted apart (cpython-memoryerror), not as a failure:
CPython's memo array grows to the largest index, pickleguard's does not. Disagreeing inputs are copied
to fuzz/out/cpython_diff/.
"""
import argparse
import io
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import threading
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_BUDGET = 200000


class Skip(Exception):
    """The input is fine but too large or deep to compare here."""


class NoGlobals(pickle.Unpickler):
    """Second guard: no global may ever be resolved, no persistent id."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError("refused global %s.%s" % (module, name))

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused persistent id")


def float_key(f):
    if math.isnan(f):
        return ("float", "nan")
    return ("float", f.hex())


class Budget:
    def __init__(self):
        self.left = NODE_BUDGET

    def spend(self):
        self.left -= 1
        if self.left < 0:
            raise Skip("more than %d nodes once shared values are expanded"
                       % NODE_BUDGET)


def set_key(items):
    return sorted(items, key=repr)


# ---- CPython objects -> canonical tree ---------------------------------------

def canon_py(obj, path, budget):
    """path: ids of the containers above obj (cycle detection)."""
    budget.spend()
    t = type(obj)
    if obj is None:
        return ("none",)
    if t is bool:
        return ("bool", obj)
    if t is int:
        return ("int", obj)
    if t is float:
        return float_key(obj)
    if t is str:
        return ("str", obj)
    if t is bytes:
        return ("bytes", obj)
    if t in (list, tuple, dict, set, frozenset, bytearray):
        if id(obj) in path:
            return ("cycle", len(path) - path.index(id(obj)))
        if t is bytearray:
            return ("bytearray", bytes(obj))
        path.append(id(obj))
        try:
            if t is list:
                return ("list", [canon_py(x, path, budget) for x in obj])
            if t is tuple:
                return ("tuple", [canon_py(x, path, budget) for x in obj])
            if t is dict:
                return ("dict", [(canon_py(k, path, budget),
                                  canon_py(v, path, budget))
                                 for k, v in obj.items()])
            items = [canon_py(x, path, budget) for x in obj]
            return ("set" if t is set else "frozenset", set_key(items))
        finally:
            path.pop()
    raise ValueError("CPython produced a %s under strict" % t.__name__)


# ---- pickle-json -> canonical tree -------------------------------------------

def parse_json(line):
    return json.loads(line, object_pairs_hook=lambda pairs: ("obj", pairs),
                      parse_int=lambda s: ("int", int(s)),
                      parse_float=lambda s: float_key(float(s)),
                      parse_constant=lambda s: (_ for _ in ()).throw(
                          ValueError("non-JSON constant %s" % s)))


def collect_ids(node, ids):
    """Finds every {"$id": N, "$value": v} in the parsed document."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, list):
            stack.extend(n)
        elif isinstance(n, tuple) and n and n[0] == "obj":
            pairs = n[1]
            keys = [k for k, _ in pairs]
            if keys == ["$id", "$value"]:
                num = pairs[0][1]
                if num[0] != "int" or num[1] in ids:
                    raise ValueError("bad or repeated $id %r" % (num,))
                ids[num[1]] = pairs[1][1]
            for _, v in pairs:
                stack.append(v)


def canon_json(node, ids, path, budget):
    """path: the $id numbers / node ids of the containers above."""
    budget.spend()
    if node is None:
        return ("none",)
    if node is True or node is False:
        return ("bool", node)
    if isinstance(node, str):
        return ("str", node)
    if isinstance(node, list):
        path.append(id(node))
        try:
            return ("list", [canon_json(x, ids, path, budget) for x in node])
        finally:
            path.pop()
    tag = node[0]
    if tag in ("int", "float"):
        return node
    assert tag == "obj"
    pairs = node[1]
    keys = [k for k, _ in pairs]
    if keys == ["$ref"]:
        num = pairs[0][1][1]
        if num not in ids:
            raise ValueError("$ref %r before or without its $id" % num)
        if ("id", num) in path:
            return ("cycle", len(path) - path.index(("id", num)))
        return canon_json_value(ids[num], ids, path, budget, ("id", num))
    if keys == ["$id", "$value"]:
        return canon_json_value(pairs[1][1], ids, path, budget,
                                ("id", pairs[0][1][1]))
    return canon_json_value(node, ids, path, budget, id(node))


def canon_json_value(node, ids, path, budget, ident):
    """A container (or scalar wrapper) known under `ident` on the path."""
    if isinstance(node, list):
        path.append(ident)
        try:
            return ("list", [canon_json(x, ids, path, budget) for x in node])
        finally:
            path.pop()
    if not (isinstance(node, tuple) and node[0] == "obj"):
        raise ValueError("$value is not a container: %r" % (node,))
    pairs = node[1]
    keys = [k for k, _ in pairs]
    one = keys[0] if len(keys) == 1 else None
    val = pairs[0][1] if pairs else None
    if one == "$float":
        if val not in ("nan", "inf", "-inf"):
            raise ValueError("bad $float %r" % (val,))
        return float_key(float(val))
    if one in ("$bytes", "$bytearray"):
        import base64
        raw = base64.b64decode(val, validate=True)
        return ("bytes" if one == "$bytes" else "bytearray", raw)
    path.append(ident)
    try:
        if one in ("$tuple", "$set", "$frozenset"):
            if not isinstance(val, list):
                raise ValueError("%s is not an array" % one)
            items = [canon_json(x, ids, path, budget) for x in val]
            if one == "$tuple":
                return ("tuple", items)
            return (one[1:], set_key(items))
        if one == "$dict":
            out = []
            for kv in val:
                if not (isinstance(kv, list) and len(kv) == 2):
                    raise ValueError("$dict item is not a [key, value] pair")
                out.append((canon_json(kv[0], ids, path, budget),
                            canon_json(kv[1], ids, path, budget)))
            return ("dict", out)
        if any(k.startswith("$") for k in keys):
            raise ValueError("unexpected object under strict: keys %r" % keys)
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate keys in a plain object")
        return ("dict", [(("str", k), canon_json(v, ids, path, budget))
                         for k, v in pairs])
    finally:
        path.pop()


# ---- driver ---------------------------------------------------------------------

def split_with_cpython(data):
    """Loads every pickle in data as pickleguard load does; returns the
    objects or raises what CPython raised."""
    f = io.BytesIO(data)
    objs = []
    while True:
        objs.append(NoGlobals(f).load())
        if f.tell() >= len(data):
            return objs


def check_one(binary, data):
    """Returns ("rejected"|"match"|"skip"|"differ"|"cpython-error", info)."""
    p = subprocess.run([binary, "load", "--policy", "strict", "-"],
                       input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        return "rejected", p.stderr.decode("utf-8", "replace").strip()
    # split on '\n' only: str.splitlines() would also split inside JSON
    # strings at U+0085, U+2028, U+001C..U+001E written raw
    lines = p.stdout.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    # from here on, strict accepted the bytes: pure data, no global
    try:
        objs = split_with_cpython(data)
    except MemoryError:
        # CPython sizes its memo array from the largest PUT index (the
        # index doubling STYLE.md warns about); pickleguard's memo does not
        return "cpython-memoryerror", "MemoryError (CPython's memo array)"
    except Exception as e:  # noqa: BLE001 -- any CPython failure is a finding
        return "cpython-error", "%s: %s" % (type(e).__name__, e)
    if len(objs) != len(lines):
        return "differ", "pickleguard wrote %d documents, CPython loaded %d" % (
            len(lines), len(objs))
    for i, (obj, line) in enumerate(zip(objs, lines)):
        try:
            want = canon_py(obj, [], Budget())
            doc = parse_json(line)
            ids = {}
            collect_ids(doc, ids)
            got = canon_json(doc, ids, [], Budget())
        except Skip as e:
            return "skip", str(e)
        except (ValueError, KeyError, TypeError) as e:
            return "differ", "document %d: bad pickle-json: %s" % (i, e)
        if want != got:
            return "differ", "document %d:\n  cpython:     %.400r\n  pickleguard: %.400r" % (
                i, want, got)
    return "match", ""


def files_under(path):
    if os.path.isfile(path):
        return [path]
    out = []
    for d, _, names in os.walk(path):
        if "corpus/gen" in d.replace(os.sep, "/"):
            continue  # the generator's sources, not pickles
        out.extend(os.path.join(d, n) for n in names)
    return sorted(out)


def default_inputs():
    raw, flagged = [os.path.join(ROOT, "corpus")], []
    for engine_dir, sub in (("libfuzzer", "corpus"), ("afl", "out/default/queue")):
        base = os.path.join(ROOT, "fuzz", "out", engine_dir)
        for t in ("reader",):
            d = os.path.join(base, t, sub)
            if os.path.isdir(d):
                raw.append(d)
        for t in ("decoder", "diff", "scanner"):
            d = os.path.join(base, t, sub)
            if os.path.isdir(d):
                flagged.append(d)
    return raw, flagged


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", help="raw pickle files or directories")
    ap.add_argument("--flagged", action="append", default=[],
                    help="harness inputs: the first byte is dropped")
    ap.add_argument("--build", default=os.environ.get("PKL_BUILD", "build"))
    ap.add_argument("--max", type=int, default=0, help="stop after N inputs")
    ap.add_argument("--show", type=int, default=5, help="disagreements shown")
    args = ap.parse_args()
    binary = os.path.join(ROOT, args.build, "pickleguard") \
        if not os.path.isabs(args.build) else os.path.join(args.build, "pickleguard")
    if not os.access(binary, os.X_OK):
        sys.exit("cpython_diff: %s not built (make BUILD=%s)" % (binary, args.build))
    raw, flagged = (args.paths, args.flagged)
    if not raw and not flagged:
        raw, flagged = default_inputs()
    jobs = [(f, False) for p in raw for f in files_under(p)]
    jobs += [(f, True) for p in flagged for f in files_under(p)]
    if args.max:
        jobs = jobs[:args.max]
    outdir = os.path.join(ROOT, "fuzz", "out", "cpython_diff")
    counts = {}
    bad = 0
    for path, strip in jobs:
        with open(path, "rb") as fh:
            data = fh.read()
        if strip:
            data = data[1:]
        kind, info = check_one(binary, data)
        counts[kind] = counts.get(kind, 0) + 1
        if kind in ("differ", "cpython-error"):
            bad += 1
            os.makedirs(outdir, exist_ok=True)
            dst = os.path.join(outdir, "%s-%d.pkl" % (kind, bad))
            with open(dst, "wb") as fh:
                fh.write(data)
            if bad <= args.show:
                print("%s: %s (saved as %s)\n  %s" % (kind.upper(), path, dst, info))
    print("inputs: %d; %s" % (len(jobs), ", ".join(
        "%s %d" % kv for kv in sorted(counts.items()))))
    print("%d passed, %d failed" % (len(jobs) - bad, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    # canonicalisation recurses once per nesting level: give it room
    # CPython warns about odd STRING escapes in fuzzed input: not our topic
    warnings.simplefilter("ignore", DeprecationWarning)
    sys.setrecursionlimit(1000000)
    threading.stack_size(512 * 1024 * 1024)
    result = []
    t = threading.Thread(target=lambda: result.append(main()))
    t.start()
    t.join()
    sys.exit(result[0] if result else 1)
