#!/usr/bin/env python3
"""test_load.py -- `pickleguard load` against CPython's pickle.

For every benign pickle (corpus/MANIFEST.tsv plus a set generated here from
benign objects at every protocol) the expected pickle-json is computed by an
independent renderer written below: it unpickles the trusted file with
pickle.loads and walks the Python objects, following docs/json.md ($id/$ref
by object identity, objects through __reduce_ex__ of the file's protocol).
The output of `pickleguard load --policy default` is parsed and compared.

Malicious corpus files must be refused (exit 1, nothing on stdout),
malformed ones rejected, and the load_default / load_strict columns of the
manifest are honoured. Malicious files are never unpickled here.

Environment: PKL_BUILD (build directory holding the pickleguard binary).
Prints "N passed, M failed" last; exits 1 on any failure.
"""
import base64
import collections
import copyreg
import datetime
import decimal
import fractions
import io
import json
import math
import os
import pickle
import pickletools
import subprocess
import sys
import tempfile
import uuid
import warnings

# protocol-0 corpus files use unknown string escapes on purpose
warnings.simplefilter("ignore", DeprecationWarning)

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)

from pgtest import EXE, ROOT, check as ok, finish, no_binary
CORPUS = os.path.join(ROOT, "corpus")



_cache = {}


def run_load(path, policy="default", extra=(), stdin=None):
    key = (path, policy, tuple(extra)) if stdin is None else None
    if key in _cache:
        return _cache[key]
    # --all: every concatenated pickle is decoded and checked (plain
    # `load` stops after the first, like pickle.load: test_hostile.py)
    args = [EXE, "load", "--all", "--policy", policy, *extra, path]
    p = subprocess.run(args, input=stdin, capture_output=True, timeout=60)
    r = p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")
    if key and path.startswith(CORPUS):
        _cache[key] = r   # corpus files do not change during the run
    return r


# ---------------------------------------------------------------------------
# The independent renderer: Python objects -> pickle-json (as Python data).
# JSON objects are represented as ("{}", [(key, value), ...]) so that key
# order is compared too; the parser below uses the same representation.
# ---------------------------------------------------------------------------

class Obj:
    """A JSON object with ordered members."""
    __slots__ = ("pairs",)

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def __eq__(self, other):
        return isinstance(other, Obj) and self.pairs == other.pairs

    def __repr__(self):
        return "{" + ", ".join("%r: %r" % kv for kv in self.pairs) + "}"


def parse_json(line):
    return json.loads(line, object_pairs_hook=Obj, parse_constant=lambda c: c)


def gname(f):
    return "%s.%s" % (f.__module__, f.__qualname__)


class Renderer:
    def __init__(self, proto):
        self.proto = proto
        self.counts = {}
        self.ids = {}
        self.next_id = 0
        self.reduced = {}
        self.keep = []   # keeps reduce results alive (stable ids)

    # what a value is made of, for objects: (global, args, kwargs, new,
    # state, items, dictitems)
    def reduce(self, o):
        k = id(o)
        if k in self.reduced:
            return self.reduced[k]
        reducer = copyreg.dispatch_table.get(type(o))
        rv = reducer(o) if reducer else o.__reduce_ex__(self.proto)
        if isinstance(rv, str):
            raise TypeError("global-by-name objects are not data: %r" % o)
        rv = tuple(rv) + (None,) * (6 - len(rv))
        func, args, state, listitems, dictitems = rv[:5]
        kwargs = None
        new = False
        if func is copyreg.__newobj__:
            g, args, new = args[0], tuple(args[1:]), True
        elif getattr(copyreg, "__newobj_ex__", None) is func:
            g, args, kwargs, new = args[0], tuple(args[1]), dict(args[2]), True
        elif func is copyreg._reconstructor:
            cls, base, st = args
            g, new = cls, True
            if base is object and st is None:
                args = ()
            elif base is list:
                args, listitems = (), iter(st)
            elif base is dict:
                args, dictitems = (), iter(st.items())
            else:
                args = (st,)
        else:
            g = func
        # the pickler writes no APPENDS/SETITEMS for empty iterators
        items = list(listitems) if listitems is not None else None
        ditems = list(dictitems) if dictitems is not None else None
        items = items or None
        ditems = ditems or None
        r = (gname(g), tuple(args), kwargs or None, new, state, items, ditems)
        self.keep.append(r)
        self.reduced[k] = r
        return r

    @staticmethod
    def is_container(o):
        if isinstance(o, tuple):
            return len(o) > 0
        if isinstance(o, (list, dict, set, frozenset, bytearray)):
            return True
        return not isinstance(o, (type(None), bool, int, float, str, bytes,
                                  type))

    def children(self, o):
        if type(o) in (list, tuple, set, frozenset):
            return list(o)
        if type(o) is dict:
            out = []
            for k, v in o.items():
                out += [k, v]
            return out
        if type(o) in (bytearray,) or not self.is_container(o):
            return []
        g, args, kwargs, new, state, items, ditems = self.reduce(o)
        out = list(args)
        if kwargs:
            out += list(kwargs.values())
        if state is not None:
            out.append(state)
        out += items or []
        for k, v in ditems or []:
            out += [k, v]
        return out

    def count(self, root):
        todo = [root]
        while todo:
            o = todo.pop()
            if self.is_container(o):
                k = id(o)
                self.counts[k] = self.counts.get(k, 0) + 1
                if self.counts[k] > 1:
                    continue
            todo.extend(self.children(o))

    def render(self, root):
        self.count(root)
        return self.value(root)

    # Recursion is fine here: the renderer only sees benign, shallow data.
    def value(self, o):
        if self.is_container(o):
            k = id(o)
            if k in self.ids:
                return Obj([("$ref", self.ids[k])])
            if self.counts.get(k, 0) > 1:
                self.next_id += 1
                self.ids[k] = self.next_id
                return Obj([("$id", self.next_id), ("$value", self.plain(o))])
        return self.plain(o)

    def plain(self, o):
        t = type(o)
        if o is None or t is bool:
            return o
        if t is int:
            return o
        if t is float:
            if math.isnan(o):
                return Obj([("$float", "nan")])
            if math.isinf(o):
                return Obj([("$float", "inf" if o > 0 else "-inf")])
            return o
        if t is str:
            return o
        if t is bytes:
            return Obj([("$bytes", base64.b64encode(o).decode())])
        if t is bytearray:
            return Obj([("$bytearray", base64.b64encode(bytes(o)).decode())])
        if t is list:
            return [self.value(x) for x in o]
        if t is tuple:
            return Obj([("$tuple", [self.value(x) for x in o])])
        if t is set:
            return Obj([("$set", [self.value(x) for x in o])])
        if t is frozenset:
            return Obj([("$frozenset", [self.value(x) for x in o])])
        if t is dict:
            if all(type(k) is str and not k.startswith("$") for k in o):
                return Obj([(k, self.value(v)) for k, v in o.items()])
            return Obj([("$dict", [[self.value(k), self.value(v)]
                                   for k, v in o.items()])])
        if isinstance(o, type) or callable(o) and hasattr(o, "__qualname__") \
                and not hasattr(o, "__reduce_ex__"):
            return Obj([("$global", gname(o))])
        if isinstance(o, type):
            return Obj([("$global", gname(o))])
        g, args, kwargs, new, state, items, ditems = self.reduce(o)
        pairs = [("$object", g), ("args", [self.value(x) for x in args])]
        if kwargs:
            pairs.append(("kwargs", Obj([(k, self.value(v))
                                         for k, v in kwargs.items()])))
        if new:
            pairs.append(("new", True))
        if state is not None:
            pairs.append(("state", self.value(state)))
        if items is not None:
            pairs.append(("items", [self.value(x) for x in items]))
        if ditems is not None:
            pairs.append(("dictitems", [[self.value(k), self.value(v)]
                                        for k, v in ditems]))
        return Obj(pairs)


def canon(x, calls=True):
    """Sets and frozensets compare without order (their pickle order is the
    original set's iteration order, which the loaded set may not keep).
    calls=False drops the "args" and "new" of objects: for INST and OBJ,
    which record a call that the loaded object cannot tell us."""
    if isinstance(x, Obj):
        if len(x.pairs) == 1 and x.pairs[0][0] in ("$set", "$frozenset"):
            members = sorted((canon(m, calls) for m in x.pairs[0][1]), key=repr)
            return ("SET", x.pairs[0][0], tuple(members))
        pairs = x.pairs
        if not calls and pairs and pairs[0][0] == "$object":
            pairs = [kv for kv in pairs if kv[0] not in ("args", "new")]
        return ("OBJ", tuple((k, canon(v, calls)) for k, v in pairs))
    if isinstance(x, list):
        return ("LIST", tuple(canon(v, calls) for v in x))
    if isinstance(x, float):
        return ("FLOAT", x.hex())
    if isinstance(x, bool):
        return ("BOOL", x)
    if isinstance(x, int):
        return ("INT", x)
    return (type(x).__name__, x)


def protocol_of(data, start=0):
    """The protocol in force at the first opcode (PROTO or 0)."""
    if len(data) > start + 1 and data[start] == 0x80:
        return data[start + 1]
    return 0


def split_pickles(data):
    """Trusted data: the (start, end) of each concatenated pickle."""
    try:
        return _split_pickles(data)
    except ValueError:  # INT text pickletools cannot read ("0x10")
        return [(0, len(data))]


def _split_pickles(data):
    out = []
    pos = 0
    while pos < len(data):
        end = None
        for op, arg, p in pickletools.genops(data[pos:]):
            if op.name == "STOP":
                end = pos + p + 1
                break
        out.append((pos, end))
        pos = end
    return out


def expected_docs(data):
    docs = []
    for start, end in split_pickles(data):
        obj = pickle.loads(data[start:end])
        docs.append(Renderer(protocol_of(data, start)).render(obj))
    return docs


def check_benign(path, data, label):
    exp = expected_docs(data)
    rc, out, err = run_load(path)
    if not ok(rc == 0, "%s: load exit %d: %s" % (label, rc, err.strip())):
        return
    lines = out.decode("utf-8", "surrogatepass").split("\n")[:-1]
    if not ok(len(lines) == len(exp), "%s: %d documents, expected %d" %
              (label, len(lines), len(exp))):
        return
    try:
        ops = {op.name for op, _, _ in pickletools.genops(data)} \
            if len(exp) == 1 else set()
    except ValueError:
        ops = set()
    calls = not ({"INST", "OBJ"} & ops)
    for i, (line, e) in enumerate(zip(lines, exp)):
        got = parse_json(line)
        ok(canon(got, calls) == canon(e, calls), "%s[%d]:\n  got      %s\n  expected %r" %
           (label, i, line[:600], e))


# ---------------------------------------------------------------------------
# Benign objects generated here (the corpus has more)
# ---------------------------------------------------------------------------

def generated_objects():
    shared = [1, 2]
    cyc = [0]
    cyc.append(cyc)
    d = {"a": 1}
    d["self"] = d
    od = collections.OrderedDict([("x", 1), ("y", [2])])
    return {
        "scalars": [None, True, False, 0, -1, 255, 256, 65535, 65536,
                    2**31 - 1, -2**31, 2**63 - 1, -2**63, 2**64, -2**64 - 1,
                    10**40, 0.0, -0.0, 0.1, 1e16, 1.5e-300, 2.5, float("inf"),
                    float("-inf"), float("nan"), 1e300 * 10],
        "strings": ["", "a", "é", "\u20ac", "\U0001f600", "\ud800",
                    "x\udfffy", "quote\"back\\slash\n\t\x00\x1f\x7f",
                    "$dollar", "\u2028"],
        "bytes": [b"", b"\x00\xff", bytes(range(256)), bytearray(b""),
                  bytearray(b"abc")],
        "containers": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), [], {},
                       set(), frozenset(), {1, 2, 3}, frozenset(["a"]),
                       {"k": "v", "n": None}, {1: "int key"},
                       {"$x": 1}, {(1, 2): "tuple key"}],
        "shared": [shared, shared, (shared,), {"s": shared}],
        "cyclic": cyc,
        "selfdict": d,
        "nested": [[[[[[[[[["deep"]]]]]]]]]],
        "stdlib": [datetime.date(2020, 1, 2),
                   datetime.datetime(2021, 3, 4, 5, 6, 7, 8),
                   datetime.timedelta(days=1, seconds=2),
                   decimal.Decimal("1.25"), fractions.Fraction(1, 3),
                   1 + 2j, od, collections.Counter("aab"),
                   uuid.UUID(int=12345)],
        "bigdict": {str(i): i for i in range(300)},
        "bigset": set(range(100)),
        "biglist": list(range(2500)),
        "mixedkeys": {1: "a", 1.5: "b", "c": 3, None: 4, (1, "x"): 5,
                      b"k": 6, frozenset([1]): 7},
    }


def generated_files(tmp):
    files = []
    objs = generated_objects()
    for name, obj in objs.items():
        for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
            p = os.path.join(tmp, "gen_p%d_%s.pkl" % (proto, name))
            with open(p, "wb") as f:
                f.write(pickle.dumps(obj, proto))
            files.append(p)
    p = os.path.join(tmp, "gen_concat.pkl")
    with open(p, "wb") as f:
        f.write(pickle.dumps([1, 2], 0) + pickle.dumps({"a": b"b"}, 2) +
                pickle.dumps("three", 5))
    files.append(p)
    return files


# ---------------------------------------------------------------------------
# Hand-made inputs with a known outcome (never produced by unpickling)
# ---------------------------------------------------------------------------

HAND = [
    # (bytes, policy, exit code, substring of stderr, stdout lines)
    (b"cos\nsystem\n(S'id'\ntR.", "default", 1,
     "refused: os.system (GLOBAL at offset 0) is not allowed by policy 'default'", 0),
    (b"\x80\x04\x8c\x02os\x8c\x06system\x93.", "default", 1,
     "os.system (STACK_GLOBAL at offset 14)", 0),
    (b"\x80\x02cbuiltins\nset\n)R.", "strict", 1, "builtins.set", 0),
    (b"\x80\x02cbuiltins\nset\n)R.", "default", 0, "", 1),
    (b"K\x01.K\x02.", "default", 0, "", 2),
    (b"K\x01.K\x02.\n", "default", 1, "not a pickle", 2),
    (b"K\x01.cos\nsystem\n.", "default", 1, "pickle 2", 1),
    (b"", "default", 1, "no pickle", 0),
    (b"]", "default", 1, "truncated", 0),
    (b"\x82\x01.", "default", 1, "EXT1", 0),
    (b"Pabc\n.", "default", 1, "persistent id", 0),
    (b"\x8e" + (2**63).to_bytes(8, "little") + b"x" * 11, "default", 1,
     "truncated", 0),
]


def check_hand(tmp):
    for i, (data, policy, code, msg, nlines) in enumerate(HAND):
        p = os.path.join(tmp, "hand%d.pkl" % i)
        with open(p, "wb") as f:
            f.write(data)
        rc, out, err = run_load(p, policy)
        label = "hand %r (%s)" % (data[:40], policy)
        ok(rc == code, "%s: exit %d, expected %d (%s)" % (label, rc, code,
                                                          err.strip()))
        ok(msg in err, "%s: stderr %r lacks %r" % (label, err, msg))
        ok(len(out.splitlines()) == nlines, "%s: %d lines on stdout, expected %d"
           % (label, len(out.splitlines()), nlines))
        if code:
            ok(len(err.strip().splitlines()) == 1, "%s: stderr is not one "
               "line: %r" % (label, err))
    # stdin
    rc, out, err = run_load("-", stdin=pickle.dumps({"a": 1}, 4))
    ok(rc == 0 and parse_json(out.decode()) == Obj([("a", 1)]),
       "stdin: %d %r %s" % (rc, out, err))
    # usage and I/O errors
    rc, out, err = run_load(os.path.join(tmp, "does-not-exist.pkl"))
    ok(rc == 2, "missing file: exit %d" % rc)
    p = subprocess.run([EXE, "load"], capture_output=True)
    ok(p.returncode == 2, "no FILE: exit %d" % p.returncode)
    p = subprocess.run([EXE, "load", "--max-depth", "x", "-"], capture_output=True)
    ok(p.returncode == 2, "bad --max-depth: exit %d" % p.returncode)
    rc, out, err = run_load(p and os.path.join(tmp, "hand4.pkl"), "no-such-policy")
    ok(rc == 2, "unknown policy: exit %d" % rc)


def check_limits(tmp):
    # a million nested lists: a clean depth error
    p = os.path.join(tmp, "deep.pkl")
    with open(p, "wb") as f:
        f.write(b"\x80\x02" + b"]" * 1000000 + b"a" * 999999 + b".")
    rc, out, err = run_load(p)
    ok(rc == 1 and "max_depth" in err and not out, "deep lists: %d %s" % (rc, err))
    # a million MARKs
    with open(p, "wb") as f:
        f.write(b"(" * 1000000 + b"K\x01.")
    rc, out, err = run_load(p)
    ok(rc == 1 and "max_depth" in err and not out, "marks: %d %s" % (rc, err))
    # --max-depth lets a deeper one through, and lower refuses a shallow one
    with open(p, "wb") as f:
        f.write(pickle.dumps([[[[1]]]], 2))
    rc, out, err = run_load(p, extra=("--max-depth", "3"))
    ok(rc == 1 and "max_depth" in err, "--max-depth 3: %d %s" % (rc, err))
    rc, out, err = run_load(p, extra=("--max-depth", "4"))
    ok(rc == 0, "--max-depth 4: %d %s" % (rc, err))
    # memo doubling bomb: L = []; each round appends L twice more
    bomb = b"\x80\x02]q\x00" + (b"(h\x00h\x00h\x00h\x00e" * 200000) + b"."
    with open(p, "wb") as f:
        f.write(bomb)
    rc, out, err = run_load(p, extra=("--max-values", "100000"))
    ok(rc in (0, 1), "memo bomb: exit %d" % rc)
    # JSON size limit: a 1 MB string referenced 100 times
    big = b"\x80\x04\x8e" + (1 << 20).to_bytes(8, "little") + b"a" * (1 << 20)
    data = big + b"\x940(" + b"h\x00" * 100 + b"l."
    with open(p, "wb") as f:
        f.write(data)
    rc, out, err = run_load(p, extra=("--max-json-bytes", "10M"))
    ok(rc == 1 and "max_json_bytes" in err and not out,
       "json limit: %d %s" % (rc, err))
    rc, out, err = run_load(p, extra=("--max-json-bytes", "200M"))
    ok(rc == 0 and len(out) > 100 << 20, "json under limit: %d %s" % (rc, err))
    # values / bytes limits
    with open(p, "wb") as f:
        f.write(pickle.dumps(list(range(1000)), 2))
    rc, out, err = run_load(p, extra=("--max-values", "500"))
    ok(rc == 1 and "max_values" in err, "max-values: %d %s" % (rc, err))
    rc, out, err = run_load(p, extra=("--max-bytes", "1000"))
    ok(rc == 1 and "max_bytes" in err, "max-bytes: %d %s" % (rc, err))


def manifest():
    path = os.path.join(CORPUS, "MANIFEST.tsv")
    if not ok(os.path.exists(path), "corpus manifest missing: %s" % path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            if line.strip():
                rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


OUTCOME = {"ok": {0}, "refused": {1}, "malformed": {1}, "limit": {1}}
OUTCOME_WORD = {"refused": "refused", "malformed": None, "limit": "limit"}


def check_corpus():
    rows = manifest()
    ok(len(rows) > 300, "corpus manifest has %d rows" % len(rows))
    for row in rows:
        path = os.path.join(CORPUS, row["file"])
        with open(path, "rb") as f:
            data = f.read()
        kind = row["kind"]
        for col, policy in (("load_default", "default"),
                            ("load_strict", "strict")):
            want = row.get(col, "")
            if want not in OUTCOME:
                continue
            rc, out, err = run_load(path, policy)
            label = "%s (%s, %s)" % (row["file"], policy, want)
            if not ok(rc in OUTCOME[want], "%s: exit %d: %s" %
                      (label, rc, err.strip())):
                continue
            if rc != 0:
                ok(len(err.strip().splitlines()) == 1,
                   "%s: stderr not one line: %r" % (label, err))
                word = OUTCOME_WORD[want]
                if word == "refused":
                    ok("refused" in err, "%s: not a refusal: %s" % (label, err))
                elif word == "limit":
                    ok("limit" in err, "%s: not a limit: %s" % (label, err))
                else:
                    ok("refused" not in err and "limit" not in err,
                       "%s: not malformed: %s" % (label, err))
                # no partial document: only complete earlier pickles
                if kind != "benign":
                    for line in out.decode("utf-8", "surrogatepass").split("\n")[:-1]:
                        parse_json(line)
        if kind == "benign" and row.get("load_default") == "ok" and \
                row.get("cpython") == "ok":
            check_benign(path, data, row["file"])
        if kind == "malicious":
            # Whatever the row says, a malicious file never loads: the
            # manifest may only expect a refusal (or a malformed/limit stop).
            ok(row.get("load_default") in ("refused", "malformed", "limit"),
               "%s: manifest expects a malicious file to load" % row["file"])
            rc, out, err = run_load(path, "default")
            ok(rc == 1, "%s: malicious not stopped: %d %s"
               % (row["file"], rc, err))
        if kind == "malformed" and row.get("cpython") == "error":
            rc, out, err = run_load(path, "default")
            ok(rc == 1, "%s: malformed accepted" % row["file"])


# ---------------------------------------------------------------------------
# The rows of tests/check_decoder.c, re-checked against CPython
# ---------------------------------------------------------------------------

def c_string(lit):
    """Value of a C string literal that uses only \\ooo, \\" and \\\\."""
    out = bytearray()
    i = 1
    while lit[i] != '"':
        c = lit[i]
        if c == "\\":
            n = lit[i + 1]
            if n in "01234567":
                out.append(int(lit[i + 1:i + 4], 8))
                i += 4
                continue
            out.append(ord(n))
            i += 2
            continue
        out += c.encode()
        i += 1
    return bytes(out), i + 1


def check_rows_against_cpython():
    src = os.path.join(ROOT, "tests", "check_decoder.c")
    with open(src, encoding="utf-8") as f:
        text = f.read()
    okpart = text[text.index("BEGIN OK ROWS"):text.index("END OK ROWS")]
    errpart = text[text.index("BEGIN ERR ROWS"):text.index("END ERR ROWS")]
    n_ok = n_err = 0
    for line in okpart.splitlines():
        line = line.strip()
        if not line.startswith('{"'):
            continue
        data, end = c_string(line[1:])
        rest = line[1 + end:]
        policy = rest.split('"')[1]
        jlit = rest[rest.index('"', rest.index(policy) + len(policy) + 1):]
        js, _ = c_string(jlit)
        why = line[line.index("/*") + 2:].strip()
        n_ok += 1
        if why.startswith("!") or policy != "default":
            continue
        obj = pickle.loads(data)
        exp = Renderer(protocol_of(data)).render(obj)
        got = parse_json(js.decode("utf-8", "surrogatepass"))
        ok(canon(got) == canon(exp), "check_decoder.c row %r: C expects %s, "
           "CPython + renderer give %r" % (data, js, exp))
    for line in errpart.splitlines():
        line = line.strip()
        if not line.startswith('{"'):
            continue
        data, end = c_string(line[1:])
        code = line[1 + end:].split(",")[3].strip()
        why = line[line.index("/*") + 2:].strip()
        n_err += 1
        # refusals, limits and the fail-closed STOP rules are ours; every
        # other error row is malformed input that CPython must reject too
        if why.startswith("!") or "REFUSED" in code or "LIMIT" in code or \
                code in ("PKL_E_BAD_STOP", "PKL_E_STACK_NOT_EMPTY"):
            continue
        limit = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(4300)   # CPython's default
        try:
            pickle.loads(data)
            accepted = True
        except Exception:
            accepted = False
        finally:
            sys.set_int_max_str_digits(limit)
        ok(not accepted, "check_decoder.c row %r (%s): CPython accepts it" %
           (data, code))
    ok(n_ok > 50 and n_err > 50, "rows found in check_decoder.c: %d, %d" %
       (n_ok, n_err))


def main():
    if not os.path.exists(EXE):
        return no_binary()
    with tempfile.TemporaryDirectory() as tmp:
        for p in generated_files(tmp):
            with open(p, "rb") as f:
                check_benign(p, f.read(), os.path.basename(p))
        check_hand(tmp)
        check_limits(tmp)
    check_corpus()
    check_rows_against_cpython()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
