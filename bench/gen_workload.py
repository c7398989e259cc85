#!/usr/bin/env python3
"""gen_workload.py -- the fixed, deterministic benchmark workload.

Writes the pickles `make bench` measures into bench/work/ (git-ignored):

  set "quick":  quick_mixed_p5.pkl   a few MB mixing every kind below
  set "full":   ints_floats_p5.pkl   5,000,000 mixed ints and floats (protocol 5)
                small_objs_p4.pkl    300,000 small dicts / tuples / strings (protocol 4)
                text_p0.pkl          a medium structure as a protocol-0 text pickle
                user_class_p2.pkl    100,000 benchclasses.Point instances (protocol 2)
                big_bytes_p5.pkl     a dict of 8 x 128 MiB bytes values (protocol 5,
                                     BINBYTES8 payloads), about 1.07 GB

Everything is derived from fixed seeds, so two runs produce identical bytes
(bench/work/<set>.stamp records the SHA-256 of the generator and each
file's size). A set is regenerated only when a file is missing, its size
differs from the stamp, or this generator (or benchclasses.py) changed.

The 1 GB file is written streaming, opcode by opcode, in exactly the layout
CPython's pickler uses for large payloads (payload outside frames), so the
generator never holds more than one 4 MiB block; `--selftest` checks that
layout byte-for-byte against pickle.dumps on a small instance.

Only benign objects built here are ever pickled or unpickled. Standard
library only. This script must never import anything outside it (besides
benchclasses.py) nor write outside its output directory.
"""
import hashlib
import io
import os
import pickle
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchclasses  # noqa: E402  (must be importable as "benchclasses")

WORK = os.path.join(HERE, "work")

FRAME_SIZE_TARGET = 64 * 1024   # CPython's framer: payloads >= this go unframed
FRAME_SIZE_MIN = 4              # frames shorter than this get no FRAME header

BIG_VALUES = 8
BIG_VALUE_SIZE = 128 * 1024 * 1024
BLOCK = 4 * 1024 * 1024


# --------------------------------------------------------------------------
# object builders (all seeded)

def ints_floats(n, seed):
    """Mixed ints of every width the binary protocols spell differently
    (BININT1, BININT2, BININT, LONG1) and floats (BINFLOAT)."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        k = i & 7
        if k == 0:
            out.append(rnd.randrange(256))
        elif k == 1:
            out.append(rnd.randrange(256, 65536))
        elif k == 2:
            out.append(rnd.randrange(-2**31, 2**31))
        elif k == 3:
            out.append(rnd.randrange(-2**62, 2**62))
        else:
            out.append(rnd.uniform(-1e6, 1e6))
    return out


def word(rnd, lo, hi):
    letters = "abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(rnd.choice(letters) for _ in range(rnd.randrange(lo, hi)))


def small_objs(n, seed):
    """Cycles dict / tuple / str items: the memo-heavy, opcode-dense shape
    of typical protocol-4 application data."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        k = i % 3
        if k == 0:
            out.append({"id": i, "name": word(rnd, 4, 12),
                        "score": rnd.random(), "ok": bool(i & 4),
                        "tags": [word(rnd, 2, 6) for _ in range(rnd.randrange(3))]})
        elif k == 1:
            out.append((i, word(rnd, 3, 10), rnd.uniform(-1, 1), None))
        else:
            out.append(word(rnd, 5, 40) + "\u00e9" * (i % 2))
    return out


def text_structure(n, seed):
    """A medium record set for the protocol-0 (text) pickle: INT, FLOAT,
    UNICODE, nested tuples/lists/dicts, None and bools."""
    rnd = random.Random(seed)
    records = []
    for i in range(n):
        records.append({
            "id": i,
            "name": word(rnd, 3, 15),
            "value": rnd.uniform(-1e3, 1e3),
            "big": rnd.randrange(-2**70, 2**70),
            "flags": (bool(i & 1), None, i % 7),
            "path": [word(rnd, 2, 8) for _ in range(rnd.randrange(1, 4))],
        })
    return {"version": 3, "source": "bench", "records": records}


def user_objects(n, seed):
    rnd = random.Random(seed)
    return [benchclasses.Point(rnd.randrange(-10**6, 10**6), rnd.random(),
                               "p%d" % i, (i % 5, word(rnd, 2, 6)))
            for i in range(n)]


# --------------------------------------------------------------------------
# streaming writer for big bytes dicts, in CPython's protocol-5 layout

class FramedWriter:
    """Mimics _pickle.c's framer: small opcodes accumulate in a frame; a
    payload >= FRAME_SIZE_TARGET commits the frame and is written unframed
    together with its opcode header."""

    def __init__(self, f):
        self.f = f
        self.frame = bytearray()

    def small(self, data):
        self.frame += data
        if len(self.frame) >= FRAME_SIZE_TARGET:
            self.commit()

    def commit(self):
        if len(self.frame) >= FRAME_SIZE_MIN:
            self.f.write(b"\x95" + struct.pack("<Q", len(self.frame)))
        self.f.write(self.frame)
        self.frame = bytearray()

    def big(self, header, chunks):
        self.commit()
        self.f.write(header)
        for c in chunks:
            self.f.write(c)


def write_bytes_dict(f, keys, size, chunks_for, opcode8=True):
    """dict {key: bytes} pickled at protocol 5; values come from
    chunks_for(index) (an iterable of bytes totalling `size`). With
    opcode8=False the payloads use BINBYTES, exactly as pickle.dumps does
    for values under 4 GiB; with True, BINBYTES8 (what pickle.load also
    accepts, and what very large payloads use)."""
    f.write(b"\x80\x05")                   # PROTO 5 (never framed)
    w = FramedWriter(f)
    w.small(b"}\x94(")                     # EMPTY_DICT MEMOIZE MARK
    for i, key in enumerate(keys):
        k = key.encode()
        assert len(k) < 256
        w.small(b"\x8c" + bytes([len(k)]) + k + b"\x94")  # SHORT_BINUNICODE MEMOIZE
        if opcode8:
            header = b"\x8e" + struct.pack("<Q", size)     # BINBYTES8
        else:
            header = b"B" + struct.pack("<I", size)        # BINBYTES
        w.big(header, chunks_for(i))
        w.small(b"\x94")                                   # MEMOIZE
    w.small(b"u.")                                         # SETITEMS STOP
    w.commit()


def big_chunks(index, size, seed):
    """Deterministic pseudo-random payload, one 4 MiB block reused with a
    per-chunk counter so no two chunks are equal."""
    assert size >= 16
    block = bytearray(random.Random(seed).randbytes(min(BLOCK, size)))
    done = 0
    n = 0
    while done < size:
        m = min(len(block), size - done)
        block[0:16] = struct.pack("<QQ", index, n)
        yield bytes(block[:m])
        done += m
        n += 1


# --------------------------------------------------------------------------
# the sets

def build_quick(path):
    rnd = random.Random(99)
    obj = {
        "numbers": ints_floats(60000, 1),
        "objs": small_objs(15000, 2),
        "points": user_objects(3000, 4),
        "text": text_structure(500, 3),
        "blobs": [rnd.randbytes(256 * 1024) for _ in range(4)],
    }
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=5)


def build_ints(path):
    with open(path, "wb") as f:
        pickle.dump(ints_floats(5_000_000, 11), f, protocol=5)


def build_small(path):
    with open(path, "wb") as f:
        pickle.dump(small_objs(300_000, 12), f, protocol=4)


def build_text(path):
    with open(path, "wb") as f:
        pickle.dump(text_structure(60_000, 13), f, protocol=0)


def build_user(path):
    with open(path, "wb") as f:
        pickle.dump(user_objects(100_000, 14), f, protocol=2)


def build_big(path):
    keys = ["tensor_%02d" % i for i in range(BIG_VALUES)]
    with open(path, "wb") as f:
        write_bytes_dict(f, keys, BIG_VALUE_SIZE,
                         lambda i: big_chunks(i, BIG_VALUE_SIZE, 1000 + i))


# name -> (builder, description); the descriptions feed the report
SETS = {
    "quick": [
        ("quick_mixed_p5.pkl", build_quick,
         "mixed: 60k ints/floats, 15k small objects, 3k Points, 4 x 256 KiB bytes (protocol 5)"),
    ],
    "full": [
        ("ints_floats_p5.pkl", build_ints,
         "list of 5,000,000 mixed ints and floats (protocol 5)"),
        ("small_objs_p4.pkl", build_small,
         "300,000 small dicts / tuples / strings (protocol 4)"),
        ("text_p0.pkl", build_text,
         "60,000 records of mixed scalars and containers, text pickle (protocol 0)"),
        ("user_class_p2.pkl", build_user,
         "100,000 benchclasses.Point instances (protocol 2)"),
        ("big_bytes_p5.pkl", build_big,
         "dict of 8 x 128 MiB bytes values, BINBYTES8 (protocol 5)"),
    ],
}


def generator_hash():
    h = hashlib.sha256()
    for name in ("gen_workload.py", "benchclasses.py"):
        with open(os.path.join(HERE, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def stamp_path(outdir, setname):
    return os.path.join(outdir, setname + ".stamp")


def up_to_date(outdir, setname, ghash):
    try:
        with open(stamp_path(outdir, setname)) as f:
            lines = f.read().split("\n")
    except OSError:
        return False
    if not lines or lines[0] != ghash:
        return False
    sizes = dict(l.split("\t") for l in lines[1:] if l)
    for name, _, _ in SETS[setname]:
        p = os.path.join(outdir, name)
        if name not in sizes or not os.path.exists(p) or \
                os.path.getsize(p) != int(sizes[name]):
            return False
    return True


def ensure(setname, outdir=WORK, log=sys.stderr):
    """Makes sure the set exists; returns [(path, description)]."""
    os.makedirs(outdir, exist_ok=True)
    ghash = generator_hash()
    files = [(os.path.join(outdir, n), d) for n, _, d in SETS[setname]]
    if up_to_date(outdir, setname, ghash):
        return files
    try:
        os.unlink(stamp_path(outdir, setname))
    except OSError:
        pass
    lines = [ghash]
    for name, build, _ in SETS[setname]:
        p = os.path.join(outdir, name)
        print("gen_workload: writing %s" % p, file=log, flush=True)
        build(p + ".tmp")
        os.replace(p + ".tmp", p)
        lines.append("%s\t%d" % (name, os.path.getsize(p)))
    with open(stamp_path(outdir, setname) + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(stamp_path(outdir, setname) + ".tmp", stamp_path(outdir, setname))
    return files


def selftest():
    """The streaming writer must produce what pickle.dumps produces."""
    keys = ["k%d" % i for i in range(3)]
    size = 70000
    vals = {k: b"".join(big_chunks(i, size, 7 + i)) for i, k in enumerate(keys)}
    buf = io.BytesIO()
    write_bytes_dict(buf, keys, size, lambda i: big_chunks(i, size, 7 + i),
                     opcode8=False)
    assert buf.getvalue() == pickle.dumps(vals, protocol=5), "layout differs"
    buf8 = io.BytesIO()
    write_bytes_dict(buf8, keys, size, lambda i: big_chunks(i, size, 7 + i))
    assert pickle.loads(buf8.getvalue()) == vals, "BINBYTES8 variant differs"
    a = io.BytesIO()
    pickle.dump(ints_floats(1000, 5), a, protocol=5)
    b = io.BytesIO()
    pickle.dump(ints_floats(1000, 5), b, protocol=5)
    assert a.getvalue() == b.getvalue(), "not deterministic"
    print("gen_workload selftest: ok")


def main(argv):
    if argv[1:] == ["--selftest"]:
        selftest()
        return 0
    sets = argv[1:] or ["quick"]
    for s in sets:
        if s not in SETS:
            print("usage: gen_workload.py [--selftest] [quick|full]...", file=sys.stderr)
            return 2
        for p, _ in ensure(s):
            print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
