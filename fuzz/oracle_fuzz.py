#!/usr/bin/env python3
"""oracle_fuzz.py -- structure-aware differential fuzzer: scan vs the
real-loader oracle (tests/oracle.py).

Families (--family NAME, or `all`: each batch the next family), each with
its own mutators and the loaders that read that kind of file:

  text      corpus pickles with text-opcode spellings (INT/LONG/FLOAT/
            GET/PUT text from both unpicklers' grammars: signs, blanks,
            underscores, base prefixes, NULs, overflow), lines cut at the
            end of the input, byte flips, truncation, a GLOBAL outside the
            catalogue spliced in, gzip/bz2/xz re-wrapping
            (cpickle, pypickle, compressed)
  zip       zips written record by record: local header, central directory
            and end-record fields set off, member names spelled as the two
            zip readers may match them, duplicates, zip64 records, data
            before the zip, a second end record (cpickle, pypickle, torch,
            numpy)
  tar       torch's legacy tar members with header fields set off: size
            spellings, checksums, type flags, magic, GNU longname and pax
            headers, GNU sparse members (old 'S', pax 0.0/0.1/1.0), and
            `storages`/`tensors` with several pickles between raw storage
            bytes and tensor headers (cpickle, pypickle, torch)
  npy       .npy header dicts: dtype spellings holding objects, nested and
            structured, duplicate keys, comments, versions, header lengths;
            sometimes in an .npz (numpy, cpickle, pypickle)
  joblib    NumpyArrayWrapper pickles (shape, order, dtype), bytes after
            them, prefix bytes, joblib's compressors, ZF files, and
            NDArrayWrapper / ZNDArrayWrapper pickles with their side files
            written next to them (joblib, cpickle, pypickle)
  compress  gzip flags and members, bz2/xz streams back to back, xz
            padding, LZMA_Alone with known or unknown size, cut short,
            zlib headers, LZ4 frames, zstd frames back to back with
            skippable frames and a damaged frame after (compressed,
            joblib, cpickle, pypickle)

Most cases carry a hostile pickle (a global the default policy does not
allow, often after a re-spelled text opcode), inside the container and
often also in front of it. Each batch is written to a temporary
directory, scanned once (`pickleguard scan --format json --policy
default`), and given to the family's loaders (one long-lived worker per
loader); a global a loader asks for that the scan neither names nor may
stay silent about (the policy allows it) is a MISS, and so is `load`
accepting a file whose global the scan rated high: the input is saved
under fuzz/out/oracle/ with a .miss file (JSON: [loader, global]) and the
run exits 1.

    python3 fuzz/oracle_fuzz.py --family zip --cpu-seconds 1800 --seed 7
    python3 fuzz/oracle_fuzz.py --seconds 600 --family all
    python3 fuzz/oracle_fuzz.py --replay fuzz/out/oracle   # after a fix

Prints per family: CPU seconds (this process and its children: the
loader workers and the scans), cases, loader runs, globals compared,
misses; and adds them to a machine-readable summary (--summary, default
fuzz/out/oracle/summary.json: {family: [run, ...]}).
"""
import argparse
import bz2
import gzip
import io
import json
import lzma
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib

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


# ------------------------------------------------- structure-aware families
# Each family builds or picks a container and mutates its records at the
# field level (then, sometimes, bytes), with a hostile pickle inside and
# often a raw pickle in front (the raw-pickle view). Field layouts come
# from the readers the loaders use: CPython Lib/zipfile (_EndRecData,
# _RealGetContents), Lib/tarfile (TarInfo.frombuf, _proc_pax, _proc_gnulong),
# numpy lib/format.py (_read_array_header), joblib numpy_pickle.py
# (NumpyArrayWrapper.read_array) and numpy_pickle_utils.py (_detect_
# compressor), gzip.py (_read_gzip_header), lzma/bz2 module formats.

GLOBS = [b"cmymod\nThing\n", b"cos\nsystem\n", b"cfractions\nFraction\n",
         b"csubprocess\nPopen\n", b"cmymod.sub\nThing\n"]
BOUNDS16 = [0, 1, 2, 0x7fff, 0x8000, 0xfffe, 0xffff]
BOUNDS32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]


def payload(rng, text=True):
    """A hostile pickle: a (maybe re-spelled) text opcode, a global the
    default policy does not allow, a call."""
    body = b""
    if text and rng.random() < 0.6:
        body += bytes([rng.choice(b"ILF")]) + spelling(rng) + b"\n0"
    body += rng.choice(GLOBS) + rng.choice([b"(S'id'\ntR.", b")R.", b"."])
    if rng.random() < 0.3:
        body = b"\x80\x02" + body
    return body


def benign(rng):
    return rng.choice([b"\x80\x02}q\x00.", b"(lp0\nI1\na.", b"N.",
                       b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01."])


def near(rng, v, bounds):
    r = rng.random()
    if r < 0.4:
        return rng.choice(bounds)
    if r < 0.8:
        return max(0, min(bounds[-1], v + rng.choice([-2, -1, 1, 2, 8])))
    return rng.randrange(bounds[-1] + 1)


def flips(rng, data, n=3):
    data = bytearray(data)
    for _ in range(rng.randrange(1, n + 1)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def maybe_prefix(rng, data):
    """A raw pickle in front of a container: what every byte-0 loader
    reads (issue 14's bypass), with its text opcodes re-spelled."""
    if rng.random() < 0.35:
        return payload(rng) + data
    return data


ZIP_NAMES = ["archive/data.pkl", "archive/version", "archive/data/0",
             "archive/byteorder", "arr_0.npy", "data.pkl", "x/data.pkl"]


def zip_name(rng, n):
    r = rng.random()
    if r < 0.15:
        return n.upper()
    if r < 0.25:
        return "./" + n
    if r < 0.35:
        return n.replace("/", "\\")
    if r < 0.45:
        return n + "\x00"
    if r < 0.5:
        return "/" + n
    return n


def fuzz_zip(rng, seed):
    """A zip written record by record (local header, data, central
    directory entry, end record) with one or more fields set off, names
    spelled as the two readers may match them (PyTorch's
    inline_container.cc getRecordID, CPython's NameToInfo), duplicate
    names, data before the zip, a second end record, zip64 records."""
    root = rng.choice(["archive", "model", "a"])
    members = []
    for n in rng.sample(ZIP_NAMES, rng.randrange(1, 5)):
        n = n.replace("archive", root)
        data = payload(rng) if n.endswith("pkl") or rng.random() < 0.3 \
            else (b"3" if n.endswith("version") else benign(rng))
        if n.endswith(".npy"):
            data = npy_bytes(rng, data)
        members.append([zip_name(rng, n).encode("utf-8", "replace"), data])
    if rng.random() < 0.3:  # a duplicate name, the other content
        m = rng.choice(members)
        members.append([m[0], benign(rng) if rng.random() < 0.5
                        else payload(rng)])
    fields = {}
    for _ in range(rng.randrange(0, 3)):
        fields[(rng.choice(["lh", "cd"]), rng.randrange(len(members)),
                rng.choice(["ver", "flags", "method", "crc", "csize",
                            "usize", "nlen", "xlen", "off", "disk"]))] = True
    out = bytearray()
    cd = bytearray()
    for i, (name, data) in enumerate(members):
        off = len(out)
        v = {"ver": 20, "flags": 0, "method": 0, "crc": zlib.crc32(data),
             "csize": len(data), "usize": len(data), "nlen": len(name),
             "xlen": 0, "off": off, "disk": 0}
        lv = dict(v)
        cv = dict(v)
        for (where, k, f) in fields:
            if k == i:
                d = lv if where == "lh" else cv
                d[f] = near(rng, d[f], BOUNDS32 if f in ("crc", "csize",
                            "usize", "off") else BOUNDS16)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, lv["ver"] & 0xffff,
                           lv["flags"] & 0xffff, lv["method"] & 0xffff, 0, 0,
                           lv["crc"], lv["csize"], lv["usize"],
                           lv["nlen"] & 0xffff, lv["xlen"] & 0xffff)
        out += name + b"\x00" * min(lv["xlen"], 64) + data
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20,
                          cv["ver"] & 0xffff, cv["flags"] & 0xffff,
                          cv["method"] & 0xffff, 0, 0, cv["crc"],
                          cv["csize"], cv["usize"], cv["nlen"] & 0xffff, 0,
                          0, cv["disk"] & 0xffff, 0, 0, cv["off"]) + name
    cdoff = len(out)
    e = {"disk": 0, "cddisk": 0, "n1": len(members), "n2": len(members),
         "cdsize": len(cd), "cdoff": cdoff, "clen": 0}
    for _ in range(rng.randrange(0, 3)):
        k = rng.choice(list(e))
        e[k] = near(rng, e[k], BOUNDS32 if k in ("cdsize", "cdoff")
                    else BOUNDS16)
    comment = b""
    if rng.random() < 0.2:
        comment = rng.choice([b"PK\x05\x06" + b"\x00" * 18, b"zip comment",
                              payload(rng)])
        e["clen"] = len(comment) if rng.random() < 0.7 else e["clen"]
    z64 = b""
    if rng.random() < 0.15:  # a zip64 end record and locator
        z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0,
                          len(members), len(members), len(cd), cdoff)
        z64 += struct.pack("<IIQI", 0x07064B50, 0,
                           near(rng, cdoff + len(cd), BOUNDS32), 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, e["disk"] & 0xffff,
                       e["cddisk"] & 0xffff, e["n1"] & 0xffff,
                       e["n2"] & 0xffff, e["cdsize"] & 0xffffffff,
                       e["cdoff"] & 0xffffffff, e["clen"] & 0xffff)
    data = bytes(out + cd) + z64 + eocd + comment
    if rng.random() < 0.2:
        data += rng.choice([b"\x00" * rng.randrange(1, 40), eocd])
    if rng.random() < 0.15:
        data = flips(rng, data)
    return maybe_prefix(rng, data)


def tar_header(name, size, typ=b"0", fields=None):
    h = bytearray(512)
    f = {"name": name[:100], "mode": b"0000644\x00", "uid": b"0000000\x00",
         "gid": b"0000000\x00", "size": b"%011o\x00" % size,
         "mtime": b"00000000000\x00", "typ": typ, "magic": b"ustar\x0000"}
    f.update(fields or {})
    h[0:len(f["name"])] = f["name"]
    h[100:108] = f["mode"][:8].ljust(8, b"\x00")
    h[108:116] = f["uid"][:8].ljust(8, b"\x00")
    h[116:124] = f["gid"][:8].ljust(8, b"\x00")
    h[124:136] = f["size"][:12].ljust(12, b"\x00")
    h[136:148] = f["mtime"][:12].ljust(12, b"\x00")
    h[156:157] = f["typ"][:1]
    h[257:265] = f["magic"][:8].ljust(8, b"\x00")
    h[148:156] = b" " * 8
    chk = f.get("chk")
    if chk is None:
        chk = b"%06o\x00 " % (sum(h) & 0o777777)
    h[148:156] = chk[:8].ljust(8, b"\x00")
    return bytes(h)


def pad512(b):
    return b + b"\x00" * (-len(b) % 512)


def size_spelling(rng, n):
    return rng.choice([b"%011o\x00" % n, b"%11o " % n, b"  %o\x00" % n,
                       b"\x80" + n.to_bytes(11, "big"), b"%012o" % n,
                       b"%011o\x00" % (n + rng.choice([-1, 1, 512])),
                       b"0" * 11 + b"\x00", b"7" * 11 + b"\x00",
                       b"%o" % n + b"\x00garbage"])


# torch/serialization.py legacy_load: storage_type._dtype's element size
STORAGE_TYPES = [(b"FloatStorage", 4), (b"DoubleStorage", 8),
                 (b"HalfStorage", 2), (b"ByteStorage", 1),
                 (b"LongStorage", 8), (b"ComplexDoubleStorage", 16),
                 (b"UntypedStorage", 1)]


def count_pickle(rng, n):
    return rng.choice([b"K%c." % n, b"\x80\x02K%c." % n, b"I%d\n." % n,
                       b"\x80\x02J%s." % struct.pack("<i", n)])


def legacy_storages(rng):
    """`storages` as legacy_load reads it: a count pickle, then per storage
    a (key, location, storage_type) pickle and _new_with_file's raw bytes
    (int64 LE count, count * element size bytes), then the views pickle;
    records hostile, sizes past the end, negative or wrapping in 64 bits."""
    n = rng.randrange(0, 4)
    out = count_pickle(rng, n)
    for i in range(n):
        typ, el = rng.choice(STORAGE_TYPES)
        if rng.random() < 0.25:
            rec = payload(rng)
        else:
            rec = (b"\x80\x02K%cX\x03\x00\x00\x00cpuctorch\n%s\n\x87." %
                   (i, typ))
            if rng.random() < 0.15:  # protocol 4, a frame past STOP
                body = rec[2:]
                tail = rng.choice([0, 0, 3])
                rec = (b"\x80\x04\x95" + struct.pack("<Q", len(body) + tail) +
                       body + b"N" * tail)
        count = rng.randrange(0, 5)
        r = rng.random()
        if r < 0.1:
            count = -rng.randrange(1, 3)
        elif r < 0.2 and el > 1:  # el * count wraps to a few bytes
            count = (1 << 64) // el + rng.randrange(0, 3)
            count = count - (1 << 64) if count >= (1 << 63) else count
        nbytes = (count * el) % (1 << 64)
        fill = bytes(rng.randrange(256) for _ in range(min(nbytes, 64)))
        if r > 0.9:  # the count runs past the end
            fill = fill[:max(0, len(fill) - rng.randrange(1, 8))]
        out += rec + struct.pack("<q", count) + fill
    out += rng.choice([b"]q\x00.", b"\x80\x02]q\x00.", payload(rng)])
    return out


def legacy_tensors(rng):
    """`tensors`: a count pickle, then per tensor a (key, storage_id, type)
    pickle, ndim as <i, 4 skipped bytes, ndim sizes and strides and the
    offset as <q; ndim negative or the header cut."""
    n = rng.randrange(0, 3)
    out = count_pickle(rng, n)
    for i in range(n):
        rec = (payload(rng) if rng.random() < 0.25 else
               b"\x80\x02(K%cK\x00ctorch\nFloatTensor\nt." % (i + 5))
        ndim = rng.choice([0, 1, 2, 1, -1])
        head = struct.pack("<ii", ndim, 0) + struct.pack(
            "<%dq" % (2 * max(ndim, 0) + 1), *([1] * (2 * max(ndim, 0) + 1)))
        if rng.random() < 0.1:
            head = head[:rng.randrange(len(head))]
        out += rec + head
    return out


def pax_body(records):
    body = b""
    for k, v in records:
        rec = b" " + k + b"=" + v + b"\n"
        n = len(rec) + 1
        while len(b"%d" % n + rec) != n:
            n += 1
        body += b"%d" % n + rec
    return body


def rechk(h):
    h = bytearray(h)
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % (sum(h) & 0o777777)
    return bytes(h)


def sparse_member(rng, name, data):
    """`data` as a GNU sparse member tarfile rebuilds: old GNU 'S' (four
    structs in the header, extension blocks), pax 0.0 (GNU.sparse.offset /
    numbytes records), 0.1 (GNU.sparse.map), 1.0 (the map at the start of
    the data). Chunks split the data; holes are zeros, so they go where
    zeros are harmless (after the data), or in the middle for the
    differential; maps sometimes out of order or overlapping."""
    cuts = sorted(rng.sample(range(1, max(2, len(data))),
                             min(rng.randrange(0, 6), max(0, len(data) - 1))))
    pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    chunks, cur = [], 0
    for p in pieces:
        hole = (rng.choice([1, 512]) if cur else 2) \
            if rng.random() < 0.08 else 0
        chunks.append((cur + hole, len(p)))
        cur += hole + len(p)
    real = cur + rng.choice([0, 0, 7, 512])
    if rng.random() < 0.1 and len(chunks) > 1:
        rng.shuffle(chunks)
    if rng.random() < 0.05:
        chunks.append((0, rng.randrange(1, 8)))  # overlaps the first
    stored = b"".join(pieces)
    stored += b"\x00" * max(0, sum(n for _, n in chunks) - len(stored))
    kind = rng.choice(["old", "00", "01", "10"])
    if kind == "old":
        h = bytearray(tar_header(name, len(stored), b"S"))
        for i, (o, n) in enumerate(chunks[:4]):
            h[386 + 24 * i:398 + 24 * i] = b"%011o\x00" % o
            h[398 + 24 * i:410 + 24 * i] = b"%011o\x00" % n
        rest = chunks[4:]
        h[482] = 1 if rest else 0
        h[483:495] = b"%011o\x00" % real
        out = rechk(h)
        while rest:
            b = bytearray(512)
            for i, (o, n) in enumerate(rest[:21]):
                b[24 * i:24 * i + 12] = b"%011o\x00" % o
                b[24 * i + 12:24 * i + 24] = b"%011o\x00" % n
            rest = rest[21:]
            b[504] = 1 if rest else 0
            out += bytes(b)
        return out + pad512(stored)
    recs = [(b"GNU.sparse.name", name)]
    if kind == "00":
        recs.append((b"GNU.sparse.size", b"%d" % real))
        for o, n in chunks:
            recs += [(b"GNU.sparse.offset", b"%d" % o),
                     (b"GNU.sparse.numbytes", b"%d" % n)]
        body = stored
    elif kind == "01":
        recs += [(b"GNU.sparse.realsize", b"%d" % real),
                 (b"GNU.sparse.map", b",".join(b"%d,%d" % c for c in chunks))]
        body = stored
    else:
        recs += [(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"),
                 (b"GNU.sparse.realsize", b"%d" % real)]
        m = b"%d\n" % len(chunks) + b"".join(b"%d\n%d\n" % c for c in chunks)
        body = pad512(m) + stored
    if rng.random() < 0.2:
        rng.shuffle(recs)
    pax = pax_body(recs)
    return (tar_header(b"PaxHeader", len(pax), b"x") + pad512(pax) +
            tar_header(b"GNUSparseFile.0/" + name, len(body)) + pad512(body))


def fuzz_tar(rng, seed):
    """A tar of torch's legacy members (sys_info, pickle, storages,
    tensors) or any names, each header with fields set off: size spelled
    in octal with blanks/NULs, base-256, a wrong checksum, GNU longname
    ('L') and pax ('x', 'g') headers naming or sizing the next member."""
    out = bytearray()
    names = [b"sys_info", b"pickle", b"storages", b"tensors", b"data.pkl"]
    if rng.random() < 0.7:  # what torch's legacy_load extracts
        order = [b"sys_info", b"storages", b"tensors", b"pickle"]
        if rng.random() < 0.3:
            rng.shuffle(order)
    else:
        order = rng.sample(names, rng.randrange(1, len(names) + 1))
    for n in order:
        # storages and tensors: a count of 0 (torch reads them first)
        data = b"\x80\x02K\x00." if n in (b"storages", b"tensors") and \
            rng.random() < 0.8 else payload(rng)
        if n == b"storages" and rng.random() < 0.5:
            data = legacy_storages(rng)
        elif n == b"tensors" and rng.random() < 0.4:
            data = legacy_tensors(rng)
        if rng.random() < 0.12:  # a GNU sparse member, holes rebuilt
            out += sparse_member(rng, n, data)
            continue
        fields = {}
        r = rng.random()
        if r < 0.2:
            fields["size"] = size_spelling(rng, len(data))
        elif r < 0.3:
            fields["chk"] = rng.choice([b"0000000\x00", b"       \x00",
                                        b"%06o\x00 " % rng.randrange(1 << 18)])
        elif r < 0.4:
            fields["typ"] = rng.choice([b"0", b"\x00", b"7", b"1", b"2",
                                        b"5", b"g", b"S", b"Z"])
        elif r < 0.45:
            fields["magic"] = rng.choice([b"ustar  \x00", b"\x00" * 8,
                                          b"ustar\x0001"])
        if rng.random() < 0.15:  # GNU longname for this member
            ln = (b"./" if rng.random() < 0.5 else b"") + n + b"\x00"
            out += tar_header(b"././@LongLink", len(ln), b"L") + pad512(ln)
            n = b"x" * rng.choice([1, 99, 100])
        if rng.random() < 0.15:  # pax header: path or size override
            kv = rng.choice([b"path", b"size", b"linkpath", b"comment"])
            val = n if kv == b"path" else b"%d" % (len(data) + rng.choice(
                [0, -1, 1, 512])) if kv == b"size" else b"x"
            rec = b" " + kv + b"=" + val + b"\n"
            rec = b"%d" % (len(rec) + len(b"%d" % (len(rec) + 2))) + rec
            if rng.random() < 0.3:
                rec = flips(rng, rec, 1)
            out += tar_header(b"PaxHeader", len(rec),
                              rng.choice([b"x", b"g"])) + pad512(rec)
        out += tar_header(n, len(data), fields.get("typ", b"0"), fields)
        out += pad512(data)
    out += b"\x00" * rng.choice([0, 512, 1024])
    data = bytes(out)
    if rng.random() < 0.1:
        data = flips(rng, data)
    return maybe_prefix(rng, data)


DESCRS = ["'|O'", "'O'", "'<O'", "'O8'", "'object'", "'=O'", "'>O'",
          "'|O8'", "[('a', '|O')]", "[('a', '<f8'), ('b', 'O')]",
          "('|O', (2,))", "[('a', [('b', '|O')])]", "'<f8'", "'|u1'",
          "[('Open', '<f8')]", "'|V8'", "\"|O\"", "u'|O'", "'|O' ",
          "'<f8' if 0 else '|O'"]


def npy_header(rng, descr=None, shape="(1,)", order="False", odd=False):
    # mostly spellings that hold objects: numpy.load unpickles only those
    d = descr or rng.choice(DESCRS[:12] if rng.random() < 0.7 else DESCRS)
    parts = ["'descr': %s" % d, "'fortran_order': %s" % order,
             "'shape': %s" % shape]
    r = rng.random() if odd else 1.0
    if r < 0.3:  # a duplicate key: literal_eval keeps the last
        parts.append("'descr': %s" % rng.choice(DESCRS))
    elif r < 0.5:
        parts.insert(0, "'descr': %s" % rng.choice(DESCRS))
    elif r < 0.6:
        parts.append("# comment\n")
    if rng.random() < 0.5:
        rng.shuffle(parts)
    text = "{" + ", ".join(parts) + ", }"
    if odd and rng.random() < 0.2:
        text = text.replace(" ", rng.choice(["\t", "  ", "\n"]))
    return text


def npy_bytes(rng, body, text=None, odd=False):
    text = (text or npy_header(rng)).encode("latin1")
    ver = rng.choice([(1, 0), (2, 0), (3, 0), (0, 9)]) if odd and \
        rng.random() < 0.3 else (1, 0)
    hl = 10 if ver[0] == 1 else 12
    total = len(text) + 1 + hl
    pad = -total % 64
    hdr = text + b" " * pad + b"\n"
    n = len(hdr)
    if odd and rng.random() < 0.1:
        n = near(rng, n, BOUNDS16)
    if ver[0] == 1:
        head = b"\x93NUMPY" + bytes(ver) + struct.pack("<H", n & 0xffff)
    else:
        head = b"\x93NUMPY" + bytes(ver) + struct.pack("<I", n)
    return head + hdr + body


def fuzz_npy(rng, seed):
    """An .npy whose header dict numpy reads with ast.literal_eval: every
    spelling of a dtype holding Python objects, nested and structured,
    duplicate keys, comments, version 1/2/3 header lengths set off; the
    body a hostile pickle (numpy.load unpickles object arrays), maybe in
    an .npz. One field at a time is set off, so most headers still load."""
    odd = rng.random() < 0.5
    shape = rng.choice(["()", "(2,)", "(0,)", "(1, 1)", "[1]", "(-1,)",
                        "(1,) "]) if odd and rng.random() < 0.3 else "(1,)"
    order = rng.choice(["True", "0", "None"]) if odd and \
        rng.random() < 0.2 else "False"
    body = payload(rng)
    if odd and rng.random() < 0.2:
        body = b"\x00" * 8 + body
    data = npy_bytes(rng, body, npy_header(rng, shape=shape, order=order,
                                           odd=odd), odd=odd)
    if rng.random() < 0.2:
        bio = io.BytesIO()
        with zipfile.ZipFile(bio, "w") as z:
            z.writestr(rng.choice(["arr_0.npy", "x", "a.npy/", "A.NPY"]),
                       data)
        data = bio.getvalue()
    if odd and rng.random() < 0.1:
        data = flips(rng, data)
    return data


def joblib_wrapper(rng, arr_bytes_len):
    """A joblib NumpyArrayWrapper pickle (numpy_pickle.py: the wrapper's
    state dict, then the array's raw bytes right after the pickle's
    STOP), fields spelled from raw opcodes."""
    # shapes: tuples as numpy_pickle.py writes them, and what read_array
    # also counts (len() == 0 is one element, else the int64 product of
    # the items): lists (EMPTY_LIST, APPEND, LIST), an empty str, bytes
    shape = rng.choice([b"K\x01\x85", b"K\x00\x85", b")", b"K\x02K\x02\x86",
                        b"J\xff\xff\xff\xff\x85", b"K\x08\x85", b"]",
                        b"]K\x02a", b"(K\x01K\x02l", b"X\x00\x00\x00\x00",
                        b"C\x02\x02\x01"])
    order = rng.choice([b"C", b"F", b"K", b"c", b""])
    dtype = rng.choice([b"f8", b"O8", b"u1", b"V8", b"i8"])
    # dtype state flags (item 7; numpy's arraydescr_setstate sets them, and
    # hasobject is flags & 1): 'O' as numpy writes it (63: a nested
    # pickle), or 0 -- no objects, so read_array reads raw bytes as object
    # pointers and numpy crashes (SIGSEGV, fuzz/README.md: numpy's, not
    # ours; each one restarts a worker), hence 0 mostly with no elements
    # and only rarely with some; other dtypes sometimes flag objects
    flags = 0
    if dtype == b"O8":
        r = rng.random()
        if r < 0.85:
            flags = 63
        elif r < 0.99:
            shape = b"K\x00\x85"
    elif rng.random() < 0.1:
        flags = 1
    st = (b"}q\x01(X\x08\x00\x00\x00subclassq\x02cnumpy\nndarray\nq\x03"
          b"X\x05\x00\x00\x00shapeq\x04" + shape +
          b"X\x05\x00\x00\x00orderq\x05X" + struct.pack("<I", len(order)) +
          order + b"X\x05\x00\x00\x00dtypeq\x06cnumpy\ndtype\nq\x07X" +
          struct.pack("<I", len(dtype)) + dtype + b"K\x00K\x01\x87Rq\x08"
          b"(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
          b"K" + bytes([flags]) + b"tbX\n\x00\x00\x00allow_mmapq\t\x89u")
    return (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\nq\x00)\x81"
            + st + b"b.")


# where the batch being written lives and the name of the case being made:
# side files of joblib < 0.10 wrappers are written next to the case
SIDE = {"dir": "", "base": "case"}


def zf_file(rng, data):
    """joblib < 0.10's ZF format (numpy_pickle_compat.py read_zfile): 'ZF',
    19 bytes int(x, 16) reads (spelled with blanks, a sign, 0X,
    underscores; sometimes wrong), an optional space, zlib data."""
    n = len(data) if rng.random() < 0.85 else near(rng, len(data),
                                                   [0, 1, 16, 1 << 20])
    h = rng.choice(["%#x", "%x", "0X%X", " +0x%x\t", "%x\n"]) % n
    if rng.random() < 0.2 and len(h.strip()) > 3:
        h = h[:3] + "_" + h[3:]
    h = h.encode()[:19].ljust(19)
    return b"ZF" + h + (b" " if rng.random() < 0.2 else b"") + \
        zlib.compress(data)


def npy_object(data):
    hdr = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    hdr += b" " * ((64 - (11 + len(hdr)) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + data


def old_wrapper(rng):
    """A pickle whose NDArrayWrapper / ZNDArrayWrapper makes joblib.load
    read a side file (numpy.load(allow_pickle=True) / read_zfile), the name
    next to the case, through '..', or absolute; the filename set by the
    state dict, a (dict, slotstate) pair, or __init__ through REDUCE.
    Returns (pickle, [(side name, side bytes)])."""
    z = rng.random() < 0.25
    name = SIDE["base"] + ("_01.npy.z" if z else "_01.npy")
    spelled = rng.choice([name, name, "../%s/%s" % (
        os.path.basename(SIDE["dir"]), name), os.path.join(SIDE["dir"], name)])
    fn = spelled.encode()
    fn = (b"X" + struct.pack("<I", len(fn)) + fn) if rng.random() < 0.8 \
        else (b"U" + bytes([len(fn)]) + fn if len(fn) < 256 else
              b"X" + struct.pack("<I", len(fn)) + fn)
    mod = rng.choice([b"joblib.numpy_pickle", b"joblib.numpy_pickle_compat"])
    cls = b"ZNDArrayWrapper" if z else b"NDArrayWrapper"
    g = b"c" + mod + b"\n" + cls + b"\n"
    key = b"X\x08\x00\x00\x00filename"
    how = rng.randrange(3)
    if how == 0:    # NEWOBJ, then the __dict__
        body = g + b")\x81}(" + key + fn + b"ub"
    elif how == 1:  # NEWOBJ, then (None, slotstate)
        body = g + b")\x81N}(" + key + fn + b"u\x86b"
    else:           # NDArrayWrapper(filename, ndarray) by REDUCE, empty BUILD
        body = g + b"(" + fn + b"cnumpy\nndarray\ntR}b"
    data = b"\x80\x02" + body + b"."
    if z:
        side = zf_file(rng, payload(rng))
    else:
        side = rng.choice([npy_object(payload(rng)), payload(rng),
                           zf_file(rng, payload(rng))])
    return data, [(name, side)]


def fuzz_joblib(rng, seed):
    """joblib's layout: a NumpyArrayWrapper (shape, order, dtype set off)
    whose array bytes follow the pickle -- an object dtype makes joblib
    unpickle them -- then more pickle; prefix bytes; joblib's compressors
    (zlib, gzip, bz2, xz, lzma, lz4) and the old 'ZF' file; joblib < 0.10's
    NDArrayWrapper / ZNDArrayWrapper side files (returned as
    (bytes, [(side name, side bytes)]))."""
    if rng.random() < 0.25:
        data, sides = old_wrapper(rng)
        if rng.random() < 0.3:
            data = zf_file(rng, data)
        return data, sides
    if seed is not None and rng.random() < 0.3:
        data = bytearray(seed)
        for _ in range(rng.randrange(1, 4)):
            k = rng.choice([b"shape", b"order", b"dtype", b"allow_mmap"])
            i = data.find(k)
            if i >= 0 and i + len(k) + 6 < len(data):
                j = i + len(k) + rng.randrange(0, 6)
                data[j] = rng.randrange(256)
        data = bytes(data)
    else:
        data = joblib_wrapper(rng, 8) + rng.choice(
            [b"\x00" * 8, payload(rng), b"\x00" * 4 + payload(rng), b""])
        if rng.random() < 0.5:
            data += payload(rng)
    if rng.random() < 0.2:
        data = rng.choice([b"\x00", b"\x80", b"PK", b"\x93NUMPY"]) + data
    r = rng.random()
    if r < 0.1:
        data = zlib.compress(data)
    elif r < 0.15:
        data = zf_file(rng, data)
    elif r < 0.2:
        data = gzip.compress(data, mtime=0)
    elif r < 0.25:
        data = lzma.compress(data, format=lzma.FORMAT_ALONE)
    elif r < 0.3:
        try:
            import lz4.frame
            data = lz4.frame.compress(data)
        except ImportError:
            data = bz2.compress(data)
    if rng.random() < 0.1:
        data = flips(rng, data)
    return data


def zstd_raw_frame(data, last=True):
    # frame header descriptor 0, window descriptor 0x58 (8 MiB), one raw block
    return (b"\x28\xb5\x2f\xfd\x00\x58" +
            struct.pack("<I", int(last) | (len(data) << 3))[:3] + data)


def zstd_frames(rng, inner):
    """The pickle over one or more zstd frames (compression.zstd.ZstdFile
    reads every one), skippable frames (magic 0x184D2A50..5F) before and
    between them, sometimes a damaged or cut-short frame after."""
    if rng.random() < 0.2:  # the single-segment spelling
        fh = b"\x28\xb5\x2f\xfd\x20" + bytes([len(inner) & 0xff])
        return fh + struct.pack("<I", (len(inner) << 3) | 1)[:3] + inner
    cuts = sorted(rng.sample(range(len(inner) + 1),
                             min(len(inner) + 1, rng.randrange(0, 3))))
    parts = [inner[a:b] for a, b in zip([0] + cuts, cuts + [len(inner)])]
    out = b""
    for part in parts:
        if rng.random() < 0.3:
            skip = rng.choice([b"", b"junk", payload(rng)])
            out += struct.pack("<II", 0x184D2A50 + rng.randrange(16),
                               len(skip)) + skip
        out += zstd_raw_frame(part)
    if rng.random() < 0.2:
        bad = bytearray(zstd_raw_frame(benign(rng)))
        bad[6] |= rng.choice([6, 2])  # reserved block type / RLE
        out += bytes(bad[:len(bad) - rng.choice([0, 0, 2])])
    return out


def fuzz_compress(rng, seed):
    """Compression headers and trailers as Python's modules read them:
    gzip flags (FEXTRA, FNAME, FCOMMENT, FHCRC) and several members with
    trailing zeros or garbage; bz2 and xz streams back to back, xz stream
    padding, LZMA_Alone with a known or unknown size, cut short; zlib
    headers with other window sizes and levels; LZ4 frames; zstd magic."""
    inner = payload(rng) if rng.random() < 0.7 else benign(rng) + payload(rng)
    kind = rng.choice(["gzip", "gzip", "bz2", "xz", "alone", "zlib", "lz4",
                       "zstd"])
    if kind == "gzip":
        flg = rng.choice([0, 2, 4, 8, 16, 4 | 8 | 16, 2 | 4, 0xe0])
        hdr = b"\x1f\x8b\x08" + bytes([flg]) + b"\x00" * 4 + b"\x00\xff"
        if flg & 4:
            x = rng.choice([b"", b"ab", payload(rng)])
            hdr += struct.pack("<H", near(rng, len(x), BOUNDS16)
                               if rng.random() < 0.2 else len(x)) + x
        if flg & 8:
            hdr += b"name.pkl\x00"
        if flg & 16:
            hdr += rng.choice([b"comment\x00", payload(rng) + b"\x00"])
        if flg & 2:
            hdr += struct.pack("<H", zlib.crc32(hdr) & 0xffff)
        co = zlib.compressobj(9, zlib.DEFLATED, -15)
        body = co.compress(inner) + co.flush()
        trailer = struct.pack("<II", zlib.crc32(inner), len(inner))
        if rng.random() < 0.2:
            trailer = flips(rng, trailer, 2)
        data = hdr + body + trailer
        if rng.random() < 0.3:
            data = gzip.compress(benign(rng), mtime=0) + data
        if rng.random() < 0.3:
            data += rng.choice([b"\x00" * 8, b"garbage", data[:10]])
    elif kind == "bz2":
        data = bz2.compress(inner)
        if rng.random() < 0.4:
            data = bz2.compress(benign(rng)) + data
        if rng.random() < 0.2:
            data += rng.choice([b"\x00" * 4, b"BZh9", b"junk"])
    elif kind == "xz":
        data = lzma.compress(inner)
        if rng.random() < 0.3:
            data = lzma.compress(benign(rng)) + b"\x00" * rng.choice(
                [0, 4, 3]) + data
        if rng.random() < 0.2:
            data += b"\x00" * rng.choice([4, 8, 1])
    elif kind == "alone":
        data = lzma.compress(inner, format=lzma.FORMAT_ALONE)
        if rng.random() < 0.5:  # a known size instead of -1
            data = data[:5] + struct.pack("<Q", len(inner)) + data[13:]
        if rng.random() < 0.3:
            data = data[:len(data) - rng.randrange(1, 12)]
        if rng.random() < 0.2:  # another properties byte / dict size
            data = bytes([rng.choice([0x5d, 0x00, 0x5e, 0xe0])]) + \
                data[1:]
    elif kind == "zlib":
        lvl = rng.choice([0, 1, 6, 9])
        wbits = rng.choice([15, 9, 12, 14])
        co = zlib.compressobj(lvl, zlib.DEFLATED, wbits)
        data = co.compress(inner) + co.flush()
    elif kind == "lz4":
        try:
            import lz4.frame
            data = lz4.frame.compress(inner)
        except ImportError:
            data = zlib.compress(inner)
    else:  # zstd frames with raw blocks, as compression.zstd reads them
        data = zstd_frames(rng, inner)
    if rng.random() < 0.1:
        data = flips(rng, data)
    return maybe_prefix(rng, data)


def fuzz_text(rng, seed):
    """Text-opcode spellings over corpus pickles (the first campaign's
    mutators: mutate())."""
    return mutate(seed, rng)


def _is(fmt):
    def f(b):
        return fmt(b)
    return f


FAMILIES = {
    # name: (mutator, seed filter, loaders)
    "text": (fuzz_text, lambda b: True, "cpickle,pypickle,compressed"),
    "zip": (fuzz_zip, lambda b: b[:2] == b"PK", "cpickle,pypickle,torch,numpy"),
    "tar": (fuzz_tar, lambda b: b[257:262] == b"ustar", "cpickle,pypickle,torch"),
    "npy": (fuzz_npy, lambda b: b[:6] == b"\x93NUMPY", "numpy,cpickle,pypickle"),
    "joblib": (fuzz_joblib, lambda b: b"NumpyArrayWrapper" in b,
               "joblib,cpickle,pypickle"),
    "compress": (fuzz_compress, lambda b: False,
                 "compressed,joblib,cpickle,pypickle"),
}


def seeds(keep=lambda b: True):
    out = []
    for p in test_oracle.corpus_files():
        if os.path.getsize(p) <= 65536:
            with open(p, "rb") as f:
                b = f.read()
            if keep(b):
                out.append(b)
    return out


def cpu_seconds():
    """CPU time of this process and its finished children (the loader
    workers and the scans)."""
    t = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        t += r.ru_utime + r.ru_stime
    return t


def commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def replay(d, loaders):
    paths = sorted(os.path.join(d, f) for f in os.listdir(d)
                   if not f.endswith(".miss") and
                   os.path.isfile(os.path.join(d, f)))
    fig = {"globals": 0, "misses": 0, "miss_list": []}
    for i in range(0, len(paths), 500):
        chunk = paths[i:i + 500]
        f = test_oracle.compare(oracle.run_oracle(chunk, loaders),
                                test_oracle.scan_report(chunk), {},
                                test_oracle.policy_allows("default"))
        fig["globals"] += f["globals"]
        fig["misses"] += f["misses"]
    print("oracle_fuzz --replay: %d files, %d globals compared, %d misses"
          % (len(paths), fig["globals"], fig["misses"]))
    return 1 if test_oracle._failed_count() else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60,
                    help="wall-clock budget")
    ap.add_argument("--cpu-seconds", type=float, default=None,
                    help="stop once this process and its children used "
                    "this much CPU time (instead of --seconds)")
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--family", default="text",
                    help="one of %s, or all (each batch the next family)"
                    % ", ".join(FAMILIES))
    ap.add_argument("--loaders", default=None,
                    help="comma-separated oracle loaders (default: the "
                    "family's own)")
    ap.add_argument("--summary", default=os.path.join(HERE, "out", "oracle",
                                                      "summary.json"),
                    help="machine-readable figures, updated per family; "
                    "creating SUMMARY.stop ends the run after the current "
                    "batch")
    ap.add_argument("--replay", metavar="DIR", default=None,
                    help="give the files under DIR (saved misses) to the "
                    "oracle and the scan again, print what still misses")
    a = ap.parse_args()
    if not os.path.exists(EXE):
        print("no binary %s: run make first" % EXE)
        return 2
    if a.replay:
        return replay(a.replay, (a.loaders or
                                 "cpickle,pypickle,compressed").split(","))
    fams = list(FAMILIES) if a.family == "all" else a.family.split(",")
    for f in fams:
        if f not in FAMILIES:
            print("unknown family %s (%s)" % (f, ", ".join(FAMILIES)))
            return 2
    rng = random.Random(a.seed)
    head = commit()  # the tree the run started on
    # a loader stuck on a crafted case (joblib on some gzip headers waits
    # out the whole limit) would cost 10 s a case
    os.environ.setdefault("ORACLE_FILE_SECONDS", "2")
    pools = {f: seeds(FAMILIES[f][1]) for f in fams}
    allowed = test_oracle.policy_allows("default")
    outdir = os.path.join(HERE, "out", "oracle")
    t0 = time.time()
    c0 = cpu_seconds()
    keys = ("cases", "runs", "globals", "unnamed", "unimportable", "misses")
    tot = {f: dict.fromkeys(keys, 0) for f in fams}
    for f in fams:
        tot[f]["cpu_seconds"] = 0.0
        tot[f]["loaders"] = a.loaders or FAMILIES[f][2]
    nb = 0

    def budget_left():
        # SUMMARY.stop (touch it) ends the run after the current batch, with
        # its figures written, as the end of the budget does
        if os.path.exists(a.summary + ".stop"):
            return False
        if a.cpu_seconds is not None:
            return cpu_seconds() - c0 < a.cpu_seconds
        return time.time() - t0 < a.seconds

    while budget_left():
        fam = fams[nb % len(fams)]
        nb += 1
        mut, _, floaders = FAMILIES[fam]
        loaders = (a.loaders or floaders).split(",")
        pool = pools[fam]
        cb = cpu_seconds()
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for i in range(a.batch):
                p = os.path.join(tmp, "%s%04d.bin" % (fam, i))
                SIDE["dir"], SIDE["base"] = tmp, "%s%04d" % (fam, i)
                out = mut(rng, rng.choice(pool) if pool else None)
                # (bytes, [(side name, side bytes)]): files the case names
                sides = []
                if isinstance(out, tuple):
                    out, sides = out
                with open(p, "wb") as fh:
                    fh.write(out)
                paths.append(p)
                for name, b in sides:
                    sp = os.path.join(tmp, name)
                    with open(sp, "wb") as fh:
                        fh.write(b)
                    paths.append(sp)
            res = oracle.run_oracle(paths, loaders)
            rep = test_oracle.scan_report(paths)
            before = test_oracle._failed_count()
            fig = test_oracle.compare(res, rep, {}, allowed)
            t = tot[fam]
            t["cases"] += len(paths)
            t["runs"] += len(paths) * len(res)
            for k in ("globals", "unnamed", "unimportable", "misses"):
                t[k] += fig[k]
            crashed = [(loader, p) for loader, recs in res.items()
                       for p, r in recs.items() if r.get("crashed")]
            t["crashes"] = t.get("crashes", 0) + len(crashed)
            for loader, p in crashed:
                # a real loader died on the file: kept for a look (what it
                # asked for before is unknown)
                os.makedirs(outdir, exist_ok=True)
                dst = os.path.join(outdir, "%d_crash_%s_%s" % (
                    int(time.time()), loader, os.path.basename(p)))
                shutil.copy(p, dst)
            if fig["misses"] or test_oracle._failed_count() != before:
                os.makedirs(outdir, exist_ok=True)
                missed = {}
                for loader, p, g in fig["miss_list"]:
                    missed.setdefault(p, []).append([loader, g])
                for loader, p, g in fig["load_fail"]:
                    missed.setdefault(p, []).append([loader, g, "load"])
                # the cases that missed; the whole batch if another check
                # failed (e.g. load accepting what the scan rated high)
                for p in (missed or paths):
                    dst = os.path.join(outdir, "%d_%s" % (
                        int(time.time()), os.path.basename(p)))
                    shutil.copy(p, dst)
                    if p in missed:
                        with open(dst + ".miss", "w") as fh:
                            json.dump(missed[p], fh)
        tot[fam]["cpu_seconds"] += cpu_seconds() - cb
    wall = time.time() - t0
    for f in fams:
        t = tot[f]
        print("oracle_fuzz %s: %.0f CPU-s, %d cases, %d loader runs, %d "
              "globals compared, %d reported unnamed (high), %d "
              "unimportable, %d misses, %d loader crashes"
              % (f, t["cpu_seconds"], t["cases"], t["runs"], t["globals"],
                 t["unnamed"], t["unimportable"], t["misses"],
                 t.get("crashes", 0)))
    os.makedirs(os.path.dirname(a.summary), exist_ok=True)
    try:
        with open(a.summary) as fh:
            summary = json.load(fh)
    except (OSError, ValueError):
        summary = {}
    for f in fams:
        entry = dict(tot[f], seed=a.seed, commit=head,
                     wall_seconds=round(wall / len(fams), 1),
                     cpu_seconds=round(tot[f]["cpu_seconds"], 1),
                     finished=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                            time.gmtime()))
        summary.setdefault(f, []).append(entry)
    with open(a.summary, "w") as fh:
        json.dump(summary, fh, indent=1, sort_keys=True)
    print("oracle_fuzz: %.0f s wall, %.0f CPU-s; figures in %s"
          % (wall, cpu_seconds() - c0, a.summary))
    return 1 if any(tot[f]["misses"] for f in fams) or \
        test_oracle._failed_count() else 0


if __name__ == "__main__":
    sys.exit(main())
