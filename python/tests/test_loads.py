"""pickleguard.loads against pickle.loads: the benign corpus, generated
pure-data pickles (protocols 0-5), shared references and cycles, Python 2
str encodings, protocol 5 buffers, and the PolicyError attributes."""
import collections
import io
import math
import os
import pickle
import random
import struct

import pytest

import pickleguard
from conftest import CORPUS, manifest


def same(a, b, seen=None):
    """Structural equality that treats NaN as equal and follows cycles."""
    seen = set() if seen is None else seen
    if (id(a), id(b)) in seen:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        seen.add((id(a), id(b)))
        return len(a) == len(b) and all(same(x, y, seen) for x, y in zip(a, b))
    if isinstance(a, dict):
        seen.add((id(a), id(b)))
        return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k], seen) for k in a)
    if isinstance(a, (str, bytes, bytearray, int, bool, type(None), set, frozenset, complex)):
        return a == b
    return a == b or repr(a) == repr(b)


BENIGN = [r for r in manifest() if r["kind"] == "benign" and r["load_default"] == "ok"]


def test_benign_corpus_is_there():
    assert len(BENIGN) > 150


@pytest.mark.parametrize("row", BENIGN, ids=[r["file"] for r in BENIGN])
def test_benign_corpus_equals_pickle(row):
    with open(os.path.join(CORPUS, row["file"]), "rb") as f:
        data = f.read()
    # these files only reference globals the default policy allows (the
    # manifest says so, checked by tests/test_load.py), so CPython may load them
    want = pickle.loads(data)
    got = pickleguard.loads(data, policy="default")
    assert same(got, want), (got, want)


def gen_value(rnd, depth=0, pool=None):
    pool = pool if pool is not None else []
    k = rnd.randrange(14 if depth < 4 else 7)
    if k == 0:
        return rnd.choice([None, True, False])
    if k == 1:
        return rnd.choice([0, 1, -1, 255, 256, 65535, 2**31 - 1, -2**31, 2**63 - 1, -2**63,
                           2**64, -2**100, 10**40, rnd.randrange(-10**6, 10**6)])
    if k == 2:
        return rnd.choice([0.0, -0.0, 1.5, 1e300, -1e-300, float("inf"), rnd.random()])
    if k == 3:
        return rnd.choice(["", "a", "é", "\u20ac", "\U0001f600", "x" * 300, "\ud800"])
    if k == 4:
        return rnd.choice([b"", b"\x00\xff", b"y" * 300])
    if k == 5:
        return bytearray(rnd.choice([b"", b"ab"]))
    if k == 6:
        return rnd.choice(pool) if pool else complex(1, 2) if rnd.random() < 0.1 else 7
    n = rnd.randrange(0, 5)
    items = [gen_value(rnd, depth + 1, pool) for _ in range(n)]
    if k in (7, 8):
        v = items
    elif k == 9:
        v = tuple(items)
    elif k == 10:
        v = {}
        for i, x in enumerate(items):
            v[rnd.choice(["k%d" % i, i, (i, "t"), b"b%d" % i])] = x
    elif k == 11:
        v = {x for x in items if isinstance(x, (int, str, bytes, tuple)) and _hashable(x)}
    elif k == 12:
        v = frozenset(x for x in items if isinstance(x, (int, str, bytes)))
    else:
        v = collections.OrderedDict((str(i), x) for i, x in enumerate(items))
    if isinstance(v, (list, dict)) and rnd.random() < 0.1:
        (v.append(v) if isinstance(v, list) else v.__setitem__("self", v))
    pool.append(v)
    return v


def _hashable(x):
    try:
        hash(x)
        return True
    except TypeError:
        return False


def test_generated_pure_data_all_protocols():
    rnd = random.Random(1234)
    n = 0
    for i in range(600):
        v = gen_value(rnd)
        for proto in range(6):
            data = pickle.dumps(v, protocol=proto)
            want = pickle.loads(data)
            got = pickleguard.loads(data, policy="default")
            assert same(got, want), (proto, v, got)
            n += 1
    assert n == 3600


def test_shared_references_and_cycles():
    shared = [1, 2]
    d = {"a": shared, "b": shared}
    d["me"] = d
    for proto in range(6):
        got = pickleguard.loads(pickle.dumps(d, protocol=proto), policy="default")
        assert got["a"] is got["b"] and got["me"] is got
    t = ([],)
    t[0].append(t)
    got = pickleguard.loads(pickle.dumps(t, protocol=2), policy="default")
    assert got[0][0] is got


def test_python2_str_encodings():
    data = b"U\x02\xe9a."  # SHORT_BINSTRING 'éa' as Python 2 writes it
    with pytest.raises(UnicodeDecodeError):  # as pickle.loads
        pickleguard.loads(data, policy="default")
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(data)
    for enc in ("latin1", "bytes"):
        assert pickleguard.loads(data, policy="default", encoding=enc) == \
            pickle.loads(data, encoding=enc)


PY2_STRINGS = [
    b"U\x02\xe9a.",                           # SHORT_BINSTRING
    b"T\x04\x00\x00\x00\xc3\xa9\x80z.",       # BINSTRING, UTF-8 then a stray byte
    b"S'\\xff\\xfeab'\np0\n.",                  # STRING with escapes (protocol 0)
    b"(U\x03abcq\x00h\x00U\x01\x9dt.",          # memoised, shared
]
PY2_CODECS = ["ASCII", "latin1", "bytes", "utf-8", "cp1252", "koi8_r", "utf-16-le",
              "shift_jis", "iso8859_7", "mac_roman", "no-such-codec", "BYTES"]
PY2_ERRORS = ["strict", "replace", "ignore", "surrogateescape", "backslashreplace",
              "no-such-handler"]


def _outcome(f):
    try:
        return ("ok", f())
    except Exception as e:  # noqa: BLE001 - compared by type
        return ("raises", type(e))


@pytest.mark.parametrize("enc", PY2_CODECS)
def test_python2_str_every_codec_as_pickle(enc):
    """encoding=/errors= for Python 2 str: whatever pickle.loads does with a
    codec (bytes.decode(encoding, errors), 'bytes' kept), pickleguard does."""
    for data in PY2_STRINGS:
        for errors in PY2_ERRORS:
            want = _outcome(lambda: pickle.loads(data, encoding=enc, errors=errors))
            got = _outcome(lambda: pickleguard.loads(data, policy="default",
                                                     encoding=enc, errors=errors))
            assert got[0] == want[0], (data, enc, errors, got, want)
            if want[0] == "ok":
                assert same(got[1], want[1]), (data, enc, errors, got, want)
            else:
                assert issubclass(got[1], want[1]) or got[1] is want[1], (got, want)


def test_fix_imports_false():
    # a protocol 2 pickle naming Python 2's __builtin__.set
    data = b"\x80\x02c__builtin__\nset\nq\x00]q\x01K\x01a\x85q\x02Rq\x03."
    assert pickleguard.loads(data, policy="default") == pickle.loads(data) == {1}
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(data, fix_imports=False)
    # without the mapping the name stays __builtin__.set, which no policy
    # allows: refused before anything is imported
    with pytest.raises(pickleguard.PolicyError) as ei:
        pickleguard.loads(data, policy="default", fix_imports=False)
    assert ei.value.name == "__builtin__.set"
    # protocol 3+ never maps names; fix_imports changes nothing there
    p3 = pickle.dumps({1}, protocol=3)
    assert pickleguard.loads(p3, policy="default", fix_imports=False) == \
        pickle.loads(p3, fix_imports=False)


def test_readonly_buffer_is_a_readonly_memoryview():
    for src in (b"abcdef", bytearray(b"abcdef")):
        bufs = []
        data = pickle.dumps([pickle.PickleBuffer(src)], protocol=5,
                            buffer_callback=bufs.append)
        for given in (bytearray(b"abcdef"), b"abcdef"):
            want = pickle.loads(data, buffers=[given])
            got = pickleguard.loads(data, policy="default", buffers=[given])
            assert type(got[0]) is type(want[0])
            if isinstance(want[0], memoryview):
                assert got[0].readonly == want[0].readonly
                assert got[0].obj is given and want[0].obj is given
            else:
                assert got[0] is given
            assert bytes(got[0]) == bytes(want[0])


class Holder:
    def __eq__(self, other):
        return type(other) is Holder

    def __hash__(self):
        return 1


def test_cycles_built_through_opcode_order():
    """Cycles pickle can only build through the order of opcodes (an object
    reached again while a tuple's items or a frozenset's members are being
    built): pickleguard builds them in that order too."""
    o = Holder()
    t = (o,)
    o.t = t
    h = Holder()
    fs = frozenset([h])
    h.fs = fs
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        pol = pickleguard.Policy(yaml="version: 1\nname: t\nextends: default\n"
                                      "allow:\n  - test_loads.Holder\n  - copyreg._reconstructor\n"
                                      "  - builtins.object\n  - builtins.frozenset\n")
        want = pickle.loads(pickle.dumps(t, protocol=proto))
        got = pickleguard.loads(pickle.dumps(t, protocol=proto), policy=pol)
        assert want[0].t is want
        assert got[0].t is got, proto
        want = pickle.loads(pickle.dumps(fs, protocol=proto))
        got = pickleguard.loads(pickle.dumps(fs, protocol=proto), policy=pol)
        (wm,), (gm,) = list(want), list(got)
        assert wm.fs is want
        assert type(got) is frozenset and gm.fs is got, proto


def test_protocol5_buffers():
    pb = pickle.PickleBuffer(b"abcdef")
    bufs = []
    data = pickle.dumps([pb, 1], protocol=5, buffer_callback=bufs.append)
    with pytest.raises(pickleguard.PolicyError):
        pickleguard.loads(data, policy="default")
    got = pickleguard.loads(data, policy="default", buffers=bufs)
    want = pickle.loads(data, buffers=bufs)
    assert bytes(got[0]) == bytes(want[0]) and got[1] == 1


def test_policy_error_attributes():
    data = b"cos\nsystem\n(S'id'\ntR."
    with pytest.raises(pickleguard.PolicyError) as ei:
        pickleguard.loads(data, policy="default")
    e = ei.value
    assert isinstance(e, pickle.UnpicklingError)
    assert e.offset == 0 and e.opcode == "GLOBAL" and e.name == "os.system"
    assert e.allow_line == "allow:\n  - os.system"
    # a policy object built in code, and a policy that allows the global
    pol = pickleguard.Policy(yaml="version: 1\nname: t\nextends: default\nallow:\n  - collections.OrderedDict\n")
    assert pol.allows("collections", "OrderedDict") and not pol.allows("os", "system")


def test_load_reads_one_pickle_at_a_time():
    f = io.BytesIO(pickle.dumps(1) + pickle.dumps([2]) + b"tail")
    u = pickleguard.Unpickler(f, policy="strict")
    assert u.load() == 1 and u.load() == [2]
    assert f.read() == b"tail"
    with pytest.raises(EOFError):
        pickleguard.load(io.BytesIO(b""), policy="strict")


def test_policy_required():
    with pytest.raises(TypeError):
        pickleguard.loads(pickle.dumps(1))  # no default policy
    with pytest.raises(ValueError):
        pickleguard.loads(pickle.dumps(1), policy="no-such-policy")


def test_append_to_a_list_subclass_overriding_append_is_refused():
    pol = pickleguard.Policy(yaml="version: 1\nname: t\nextends: default\nallow:\n  - test_loads.MyList\n  - copyreg._reconstructor\n")
    # protocol 2: NEWOBJ MyList, then APPENDS, which would call MyList.extend
    data = pickle.dumps(MyList([1, 2]), protocol=2)
    with pytest.raises(pickleguard.PolicyError):
        pickleguard.loads(data, policy=pol)
    assert MyList.calls == 0
    # protocol 0: copyreg._reconstructor(MyList, list, [1, 2]) fills the list
    # through list.__init__, as pickle.loads does (no APPEND is written)
    data = pickle.dumps(MyList([1, 2]), protocol=0)
    got, want = pickleguard.loads(data, policy=pol), pickle.loads(data)
    assert type(got) is MyList and got == want == [1, 2]
    MyList.calls = 0
    got = pickleguard.loads(pickle.dumps(PlainList([1, 2]), protocol=2),
                            policy=pickleguard.Policy(yaml="version: 1\nname: t\nextends: default\nallow:\n  - test_loads.PlainList\n"))
    assert type(got) is PlainList and got == [1, 2]


class MyList(list):
    calls = 0

    def append(self, x):
        MyList.calls += 1
        super().append(x)

    def extend(self, xs):
        MyList.calls += 1
        super().extend(xs)


class PlainList(list):
    pass


def test_gc_is_restored_after_a_load():
    import gc
    assert gc.isenabled()
    pickleguard.loads(pickle.dumps([{}]), policy="default")
    assert gc.isenabled()
    with pytest.raises(pickleguard.PolicyError):
        pickleguard.loads(b"cos\nsystem\n(S'id'\ntR.", policy="default")
    assert gc.isenabled()
    gc.disable()
    try:
        pickleguard.loads(pickle.dumps([{}]), policy="default")
        assert not gc.isenabled()
    finally:
        gc.enable()


# Builder mode packs numbers appended to a list (src/decoder.c: pending
# scalars, packed lists) and unpacks them when a check reads the items; the
# binding extends exact lists in one step. The shapes that take those paths,
# against pickle.loads (the expected values are CPython's).
NUMBER_SHAPES = {
    "numbers": [float(i) + 0.5 for i in range(3000)] + list(range(100000, 103000))
    + [None, True, False, 7, -1, 2**62, -2**63, 2**64, 1e308, -0.0] * 50,
    "set of numbers": set([float(i) for i in range(2500)] + list(range(1000, 3500))),
    "frozenset of numbers": frozenset(range(-5, 2000)),
    "bytearray": bytearray(range(256)) * 10,
    "dict of pair lists": {"d": dict([[i, float(i)] for i in range(300)])},
    "list of number lists": [[i, i * 0.5, None] for i in range(2000)],
    "numbers then other items": list(range(300, 2300)) + ["s", b"b", (1, 2), [3.5], {"k": 1}],
    "shared number list": (lambda l: [l, l, {"again": l}])(list(range(500, 2500))),
    "empty and single": [[], [1.5], [None], [True], [300]],
    "deque": collections.deque(range(1000, 3000)),
}


@pytest.mark.parametrize("name", sorted(NUMBER_SHAPES))
@pytest.mark.parametrize("proto", range(6))
def test_number_lists_equal_pickle(name, proto):
    obj = NUMBER_SHAPES[name]
    data = pickle.dumps(obj, proto)
    want = pickle.loads(data)
    got = pickleguard.loads(data, policy="default")
    assert same(got, want)
    if name == "shared number list":
        assert got[0] is got[1] is got[2]["again"]


def test_list_setitem_after_numbers():
    # list.__setitem__ through SETITEM on a list that APPENDS filled with
    # numbers (pickle never writes it; both unpicklers accept it)
    body = b"\x80\x02]q\x00(" + b"".join(b"J" + (100000 + i).to_bytes(4, "little") for i in range(1500))
    data = body + b"eK\x03X\x01\x00\x00\x00xsJ\xff\xff\xff\xffNs."
    want = pickle.loads(data)
    assert want[3] == "x" and want[-1] is None
    assert pickleguard.loads(data, policy="default") == want


def _framed(body):
    """body split into FRAMEs of about 7..40 bytes, cut only between
    opcodes (as pickle's framer cuts)."""
    import pickletools
    cuts = [pos for _, _, pos in pickletools.genops(body + b".")][1:-1] + [len(body)]
    out, start, rnd = b"", 0, random.Random(11)
    for pos in cuts:
        if pos - start >= rnd.randrange(7, 40) or pos == len(body):
            out += b"\x95" + (pos - start).to_bytes(8, "little") + body[start:pos]
            start = pos
    return out


def test_number_runs_from_raw_opcodes():
    # builder mode reads runs of BINFLOAT / BININT / BININT2 in one loop
    # (src/decoder.c: run_numbers): small values written wide (pickle
    # writes BININT1 for them), negative BININT, runs cut by other opcodes
    # and by FRAME boundaries; each against pickle.loads
    rnd = random.Random(5)
    def number():
        k = rnd.randrange(8)
        if k == 0:
            return b"G" + struct.pack(">d", rnd.uniform(-1e9, 1e9))
        if k == 1:
            return b"J" + struct.pack("<i", rnd.randrange(-2**31, 2**31))
        if k == 2:
            return b"J" + struct.pack("<i", rnd.randrange(256))
        if k == 3:
            return b"M" + struct.pack("<H", rnd.randrange(65536))
        if k == 4:
            return b"M" + struct.pack("<H", rnd.randrange(256))
        if k == 5:
            return b"K" + bytes([rnd.randrange(256)])
        if k == 6:
            return rnd.choice([b"N", b"\x88", b"\x89", b"\x8a\x02\x00\x80"])
        return b"J" + struct.pack("<i", rnd.randrange(-300, 0))
    for case in range(60):
        body = b"]("
        for _ in range(rnd.randrange(1, 400)):
            body += number()
            if rnd.random() < 0.02:
                body += b"e("
        body += b"e"
        if case % 3 == 1:  # a tuple of the last run too (not a list append)
            body += b"(" + b"".join(number() for _ in range(rnd.randrange(0, 50))) + b"t\x86"
        for data in (b"\x80\x04" + body + b".", b"\x80\x04" + _framed(body) + b"."):
            want = pickle.loads(data)
            assert same(pickleguard.loads(data, policy="default"), want), case


def test_number_run_errors_at_the_right_offset():
    # an error inside a run of numbers (max_values reached, a truncated
    # BINFLOAT) is reported at the opcode that caused it
    run = b"".join(b"J" + struct.pack("<i", 1000 + i) for i in range(50))
    with pytest.raises(pickle.UnpicklingError):
        pickleguard.loads(b"\x80\x04](" + run + b"G\x00\x00", policy="default")
    yaml = "version: 1\nname: small\nallow: []\nlimits:\n  max_values: 20\n"
    pol = pickleguard.Policy(yaml=yaml)
    with pytest.raises(pickleguard.PolicyError) as e:
        pickleguard.loads(b"\x80\x04](" + run + b"e.", policy=pol)
    # the 21st value: the list, then 19 BININTs after MARK; each is 5 bytes
    assert e.value.offset == 4 + 19 * 5, (e.value.offset, str(e.value))
