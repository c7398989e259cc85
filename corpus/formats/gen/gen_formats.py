#!/usr/bin/python3
"""Generates corpus/formats/: real container files made by numpy, torch and
joblib (Debian's python3-numpy, python3-torch, python3-joblib, python3-gdbm,
python3-lz4)
and hostile variants, plus MANIFEST.tsv with the expected streams, problems
and outcomes.

Run with Debian's /usr/bin/python3 (the packages live there):
    /usr/bin/python3 corpus/formats/gen/gen_formats.py corpus/formats
The outputs are committed; `make check` needs none of these packages.

Rules: malicious pickles are assembled from raw opcode bytes and never
unpickled. Expected stream lengths come from independent sources (zipfile,
pickletools.genops, numpy.lib.format, joblib's own reader), never from
pickleguard. Output is deterministic (fixed zip/tar timestamps, gzip mtime
0, legacy torch storage keys renamed from memory addresses to fixed text).
load_ml is "error" for a hostile container with a problem: `load` stops at
the first problem, before any refusal.
"""
import bz2
import collections
import dbm.dumb
import dbm.gnu
import gzip
import io
import lzma
import os
import subprocess
import pickle
import pickletools
import shutil
import sqlite3
import struct
import sys
import zipfile
import zlib

import numpy as np
import torch
import joblib
import joblib.numpy_pickle as jnp
import lz4.frame

OUT = sys.argv[1] if len(sys.argv) > 1 else "corpus/formats"
ROWS = []  # file, format, streams, problems, scan_ml, load_ml, note

# ---- malicious pickles, raw opcodes only (never unpickled) -----------------
# protocol 0: no 0x80 at the start
MAL_P0 = b"cos\nsystem\n(S'echo pwned'\ntR."
# protocol 2: GLOBAL posix.system, BINUNICODE arg, TUPLE1, REDUCE
MAL_P2 = (b"\x80\x02cposix\nsystem\nq\x00X\n\x00\x00\x00echo pwnedq\x01"
          b"\x85q\x02Rq\x03.")
# protocol 4: STACK_GLOBAL builtins.eval
MAL_P4 = (b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93"
          b"\x8c\x0bprint('hi')\x85R.")
BENIGN = {"name": "tiny", "sizes": [1, 2, 3], "ok": True, "ratio": 0.5}


def path(name):
    return os.path.join(OUT, name)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


def stops(data, start=0, count=None):
    """Offsets just past each STOP, from pickletools.genops."""
    out = []
    f = io.BytesIO(data)
    f.seek(start)
    while f.tell() < len(data) and (count is None or len(out) < count):
        last = None
        for op, arg, pos in pickletools.genops(f):
            last = (op, pos)
        out.append(f.tell())
    return out


def row(name, fmt, streams, problems, scan, load, note):
    s = ";".join("%s:%d" % (p, n) for p, n in streams) or "-"
    pr = ";".join("%d@%s" % (c, p) for c, p in problems) or "-"
    ROWS.append((name, fmt, s, pr, scan, load, note))


def fixed_zip(name, members, compression=zipfile.ZIP_STORED):
    """A zip with fixed timestamps; members: list of (name, bytes)."""
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", compression) as z:
        for n, d in members:
            zi = zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = compression
            z.writestr(zi, d)
    return bio.getvalue()


def gz(data):
    return gzip.compress(data, mtime=0)


def zstd_frame(data, rle_bomb=0):
    """A zstd frame of raw blocks (or RLE blocks of zeros): the format is
    simple enough to write by hand (RFC 8878), so no zstd module is needed."""
    out = bytearray(b"\x28\xb5\x2f\xfd")
    out.append(0x00)          # frame header descriptor: no size, no checksum
    out.append(0x58)          # window descriptor: 2^(10+11) window
    blocks = []
    if rle_bomb:
        left = rle_bomb
        while left:
            n = min(left, 1 << 17)
            blocks.append((1, n, b"\x00"))
            left -= n
    else:
        for i in range(0, max(len(data), 1), 1 << 17):
            chunk = data[i:i + (1 << 17)]
            blocks.append((0, len(chunk), chunk))
    for i, (typ, size, payload) in enumerate(blocks):
        last = 1 if i == len(blocks) - 1 else 0
        hdr = last | (typ << 1) | (size << 3)
        out += hdr.to_bytes(3, "little") + payload
    return bytes(out)


def torch_real():
    sd = collections.OrderedDict(
        weight=torch.arange(6, dtype=torch.float32).reshape(2, 3),
        bias=torch.tensor([1, 2], dtype=torch.int64))
    torch.save(sd, path("torch_zip.pt"))
    with zipfile.ZipFile(path("torch_zip.pt")) as z:
        n = z.getinfo("torch_zip/data.pkl").file_size
    row("torch_zip.pt", "zip", [("!torch_zip/data.pkl", n)], [], "clean", "ok",
        "torch.save (zip, torch 1.13) of a two-tensor state dict")
    torch.save(sd, path("torch_legacy.pt"), _use_new_zipfile_serialization=False)
    data = open(path("torch_legacy.pt"), "rb").read()
    end = stops(data, 0, 5)[-1]
    # legacy storage keys are memory addresses: rename them to fixed text of
    # the same length so regenerating gives the same bytes
    start5 = stops(data, 0, 4)[-1]
    keys = [arg for op, arg, pos in pickletools.genops(io.BytesIO(data[start5:end]))
            if op.name in ("BINUNICODE", "SHORT_BINUNICODE")]
    head = data[:end]
    for i, k in enumerate(keys):
        new = ("%d" % i).rjust(len(k), "0")
        head = head.replace(k.encode(), new.encode())
    data = head + data[end:]
    write("torch_legacy.pt", data)
    row("torch_legacy.pt", "torch-legacy", [(".", end)], [], "clean", "ok",
        "legacy torch.save: 5 pickles then %d bytes of storages" % (len(data) - end))
    # hostile: a malicious pickle appended after the storages
    write("torch_legacy_trailing.pt", data + MAL_P2)
    row("torch_legacy_trailing.pt", "torch-legacy",
        [(".", end), (".", len(MAL_P2))], [(112, ".")], "flagged:critical",
        "error", "legacy torch + a posix.system pickle after the storages")
    return open(path("torch_zip.pt"), "rb").read()


def torch_hostile(real):
    zin = zipfile.ZipFile(io.BytesIO(real))
    members = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    # malicious data.pkl in an otherwise real layout
    mal = [(n, MAL_P2 if n.endswith("data.pkl") else d) for n, d in members]
    base = fixed_zip("x", [(n.replace("torch_zip/", "archive/"), d) for n, d in mal])
    write("torch_malicious.pt", base)
    row("torch_malicious.pt", "zip", [("!archive/data.pkl", len(MAL_P2))], [],
        "flagged:critical", "refused", "data.pkl calls posix.system")
    # extra members: a .pkl torch.package would load, and a protocol-0
    # pickle under a .txt name
    extra = [(n.replace("torch_zip/", "archive/"), d) for n, d in members]
    extra += [("archive/extra.pkl", MAL_P4), ("archive/notes.txt", MAL_P0)]
    write("torch_extra_members.pt", fixed_zip("x", extra))
    dpk = [d for n, d in members if n.endswith("data.pkl")][0]
    row("torch_extra_members.pt", "zip",
        [("!archive/data.pkl", len(dpk)), ("!archive/extra.pkl", len(MAL_P4)),
         ("!archive/notes.txt", len(MAL_P0))], [], "flagged:critical", "refused",
        "real checkpoint + extra.pkl (builtins.eval) + notes.txt (protocol 0 os.system)")
    # the variants below all carry the malicious data.pkl first
    first = [("archive/data.pkl", MAL_P2), ("archive/version", b"3\n")]
    z = bytearray(fixed_zip("x", first))
    cd = z.rfind(b"PK\x01\x02", 0)
    cd0 = z.find(b"PK\x01\x02")
    # CRC mismatch in both headers (miniz in torch never checks CRCs)
    v = bytearray(z)
    v[14:18] = b"\xde\xad\xbe\xef"
    v[cd0 + 16:cd0 + 20] = b"\xde\xad\xbe\xef"
    write("zip_crc_mismatch.pt", bytes(v))
    row("zip_crc_mismatch.pt", "zip", [("!archive/data.pkl", len(MAL_P2))], [],
        "flagged:critical", "refused", "CRC of data.pkl wrong in both headers")
    # encryption flag bit set in both headers
    v = bytearray(z)
    v[6] |= 1
    v[cd0 + 8] |= 1
    write("zip_encrypted_flag.pt", bytes(v))
    row("zip_encrypted_flag.pt", "zip", [("!archive/data.pkl", len(MAL_P2))], [],
        "flagged:critical", "refused", "encryption bit set, data is plain")
    # local header name differs from the central directory's
    v = bytearray(z)
    i = v.find(b"archive/data.pkl")
    v[i:i + 16] = b"archive/safe.txt"
    write("zip_name_mismatch.pt", bytes(v))
    row("zip_name_mismatch.pt", "zip", [("!archive/data.pkl", len(MAL_P2))], [],
        "flagged:critical", "refused", "local name safe.txt, central name data.pkl")
    # bytes before the archive, offsets not adjusted (zipfile's concat case)
    pre = b"#!/bin/sh\necho this is not a model\nexit 0\n"
    write("zip_prefixed.pt", pre + bytes(z))
    row("zip_prefixed.pt", "zip", [("!archive/data.pkl", len(MAL_P2))], [],
        "flagged:critical", "refused", "%d bytes before the archive" % len(pre))
    # damaged central directory: its first signature is overwritten
    v = bytearray(z)
    v[cd0:cd0 + 4] = b"XXXX"
    write("zip_bad_cd.pt", bytes(v))
    row("zip_bad_cd.pt", "zip", [("!archive/data.pkl", len(MAL_P2))], [(600, ".")],
        "flagged:critical", "error",
        "central directory damaged; members found by walking local headers")
    # truncated: cut inside the second member
    second = bytes(z).find(b"PK\x03\x04", 4)
    cut = bytes(z)[:second + 30 + len("archive/version") + 1]
    write("zip_truncated.pt", cut)
    row("zip_truncated.pt", "zip", [("!archive/data.pkl", len(MAL_P2))],
        [(600, "."), (100, "!archive/version")], "flagged:critical", "error",
        "archive cut inside the data of its second member")


def numpy_files():
    np.save(path("npy_float.npy"), np.arange(12, dtype="<f8").reshape(3, 4))
    row("npy_float.npy", "npy", [], [], "clean", "ok", "numeric .npy: data only")
    arr = np.array([1, "two", (3, 4)], dtype=object)
    np.save(path("npy_object.npy"), arr, allow_pickle=True)
    with open(path("npy_object.npy"), "rb") as f:
        version = np.lib.format.read_magic(f)
        np.lib.format._read_array_header(f, version)
        body = f.tell()
    n = os.path.getsize(path("npy_object.npy")) - body
    row("npy_object.npy", "npy", [(".", n)], [], "clean", "ok",
        "object .npy: the body is a pickle (numpy.load allow_pickle=True)")
    # hostile: object header, malicious body
    hdr = open(path("npy_object.npy"), "rb").read()[:body]
    write("npy_object_malicious.npy", hdr + MAL_P2)
    row("npy_object_malicious.npy", "npy", [(".", len(MAL_P2))], [],
        "flagged:critical", "refused", "object .npy whose body calls posix.system")
    # hostile: header length past the end
    v = bytearray(open(path("npy_float.npy"), "rb").read()[:60])
    v[8:10] = struct.pack("<H", 5000)
    write("npy_bad_header.npy", bytes(v))
    row("npy_bad_header.npy", "npy", [], [(100, ".")], "flagged:medium", "error",
        "header length 5000 in a 60-byte file")
    # npz: stored, and compressed with an object array
    bio = io.BytesIO()
    np.savez(bio, a=np.arange(4), b=np.ones((2, 2)))
    write("arrays.npz", bio.getvalue())
    row("arrays.npz", "zip", [], [], "clean", "ok", "np.savez: two numeric arrays")
    bio = io.BytesIO()
    np.savez_compressed(bio, a=np.arange(4), obj=np.array([{"k": 1}, None], dtype=object))
    write("arrays_compressed.npz", bio.getvalue())
    with zipfile.ZipFile(io.BytesIO(bio.getvalue())) as z:
        raw = z.read("obj.npy")
    f = io.BytesIO(raw)
    version = np.lib.format.read_magic(f)
    np.lib.format._read_array_header(f, version)
    row("arrays_compressed.npz", "zip", [("!obj.npy", len(raw) - f.tell())], [],
        "clean", "ok", "np.savez_compressed (deflate) with an object array")
    # an 80 MiB numeric array, deflated to ~80 KiB: more than the 64 MiB
    # output limit, but numeric .npy members hold no pickle and are judged
    # by their header alone
    bio = io.BytesIO()
    np.savez_compressed(bio, big=np.zeros((10240, 1024)))
    write("big_compressed.npz", bio.getvalue())
    row("big_compressed.npz", "zip", [], [], "clean", "ok",
        "np.savez_compressed of 80 MiB of zeros (over the output limit, no pickle)")
    # members compressed with bzip2 (method 12) and lzma (method 14): zipfile,
    # hence numpy.load, reads them; the lzma one holds a malicious pickle
    objnpy = io.BytesIO()
    np.save(objnpy, np.array([1, "x"], dtype=object), allow_pickle=True)
    objnpy = objnpy.getvalue()
    f = io.BytesIO(objnpy)
    version = np.lib.format.read_magic(f)
    np.lib.format._read_array_header(f, version)
    hdr = objnpy[:f.tell()]
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        for name, data, method in (("a.npy", objnpy, zipfile.ZIP_BZIP2),
                                   ("b.npy", hdr + MAL_P2, zipfile.ZIP_LZMA)):
            zi = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = method
            z.writestr(zi, data)
    write("npz_bzip2_lzma.npz", bio.getvalue())
    row("npz_bzip2_lzma.npz", "zip",
        [("!a.npy", len(objnpy) - len(hdr)), ("!b.npy", len(MAL_P2))], [],
        "flagged:critical", "refused",
        "npz members in bzip2 and lzma (zip methods 12, 14); b.npy calls posix.system")


def joblib_regions(fname):
    """Array byte ranges as joblib's own reader consumes them (benign files
    we made, so loading is safe)."""
    cuts = []
    orig = jnp.NumpyArrayWrapper.read_array

    def spy(self, unpickler):
        start = unpickler.file_handle.tell()
        res = orig(self, unpickler)
        cuts.append((start, unpickler.file_handle.tell()))
        return res
    jnp.NumpyArrayWrapper.read_array = spy
    try:
        joblib.load(fname)
    finally:
        jnp.NumpyArrayWrapper.read_array = orig
    return cuts


def joblib_files():
    obj = {"weights": np.arange(10, dtype=np.float64),
           "ids": np.array([[1, 2], [3, 4]], dtype=np.int32),
           "names": np.array(["a", "bc"]), "meta": [1, 2, 3]}
    joblib.dump(obj, path("joblib_plain.joblib"))
    data = open(path("joblib_plain.joblib"), "rb").read()
    cuts = joblib_regions(path("joblib_plain.joblib"))
    cut = sum(b - a for a, b in cuts)
    row("joblib_plain.joblib", "joblib", [(".", len(data) - cut)], [], "clean", "ok",
        "joblib.dump of 3 arrays + a list; %d array bytes cut out" % cut)
    for comp, ext in (("zlib", "z"), ("gzip", "gz"), ("bz2", "bz2"),
                      ("xz", "xz"), ("lzma", "lzma"), ("lz4", "lz4")):
        name = "joblib_%s.joblib" % comp
        joblib.dump(obj, path(name), compress=(comp, 3))
        row(name, comp if comp != "bz2" else "bzip2", [(".", len(data) - cut)], [],
            "clean", "ok", "joblib.dump compress=%s" % comp)
    # object array: a nested protocol-2 pickle inline
    joblib.dump({"o": np.array([1, "x"], dtype=object)}, path("joblib_object.joblib"))
    d2 = open(path("joblib_object.joblib"), "rb").read()
    (a, b), = joblib_regions(path("joblib_object.joblib"))
    row("joblib_object.joblib", "joblib",
        [(".", len(d2) - (b - a)), ("!object-array@%d" % a, b - a)], [], "clean", "ok",
        "object array pickled inline (protocol 2)")
    # hostile: an os.system call hidden right after the array bytes,
    # in the main stream (REDUCE then POP leaves the stack as it was)
    a0, b0 = cuts[0]
    hidden = b"cos\nsystem\n(S'echo pwned'\ntR0"
    write("joblib_hidden_call.joblib", data[:b0] + hidden + data[b0:])
    row("joblib_hidden_call.joblib", "joblib", [(".", len(data) - cut + len(hidden))],
        [], "flagged:critical", "refused",
        "os.system opcodes placed right after the first array's bytes")
    # hostile: truncated inside the first array
    write("joblib_truncated.joblib", data[:a0 + 20])
    row("joblib_truncated.joblib", "joblib", [(".", a0 + 20)], [(100, ".")],
        "flagged:medium", "error", "cut inside the first array")


def memo_flood():
    """The memo-flood evasion (docs/rules.md, lost-value): 524288 memoized
    one-letter strings fill the scanner's memo pool, then 'os' and 'system'
    are memoized past it and read back for STACK_GLOBAL. Compressed, as an
    attacker would ship it (2.6 MB of pickle, a few KB of gzip). Built from
    raw opcodes: never loaded."""
    body = b"\x80\x04" + (b"\x8c\x01a\x94" + b"0") * 524288
    body += b"\x8c\x02os\x94" + b"0" + b"\x8c\x06system\x94" + b"0"
    body += b"j" + struct.pack("<I", 524288) + b"j" + struct.pack("<I", 524289)
    body += b"\x93" + b"\x8c\x0aecho pwned" + b"\x85" + b"R" + b"."
    write("memo_flood_stack_global.pkl.gz", gz(body))
    row("memo_flood_stack_global.pkl.gz", "gzip", [(".", len(body))], [],
        "flagged:high", "refused",
        "memo flood: 524288 memoized strings, then os.system through "
        "memoized STACK_GLOBAL operands past the scanner's memo cap")


def cut_short():
    """Compressed streams that end early or expand past the 64 MiB output
    limit still hold the os.system call at their start, which a streaming
    pickle.load(gzip.open(f)) runs before it meets the problem: the bytes
    decoded before the problem are scanned (the stream column, whose length
    Python's own zlib gives)."""
    whole = gz(MAL_P0)
    cut = whole[:-10]
    partial = zlib.decompressobj(wbits=31).decompress(cut)
    write("malicious_gzip_truncated.gz", cut)
    row("malicious_gzip_truncated.gz", "gzip", [(".", len(partial))],
        [(100, ".")], "flagged:critical", "error",
        "gzip of a protocol-0 os.system pickle, cut 10 bytes short")
    limit = 64 << 20
    write("malicious_gzip_padded.gz", gz(MAL_P0 + b"\0" * (limit + (1 << 20))))
    row("malicious_gzip_padded.gz", "gzip", [(".", limit)], [(306, ".")],
        "flagged:critical", "error",
        "gzip of a protocol-0 os.system pickle + 65 MiB of zeros: over the "
        "output limit, the first 64 MiB are scanned")


def compressed():
    benign = pickle.dumps(BENIGN, protocol=4)
    outs = {
        "gz": ("gzip", gz), "bz2": ("bzip2", bz2.compress),
        "xz": ("xz", lambda d: lzma.compress(d, format=lzma.FORMAT_XZ)),
        "lzma": ("lzma", lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE)),
        "zlib": ("zlib", zlib.compress), "zst": ("zstd", zstd_frame),
        "lz4": ("lz4", lz4.frame.compress),
    }
    for ext, (fmt, fn) in outs.items():
        write("pickle_%s.%s" % (fmt, ext), fn(benign))
        row("pickle_%s.%s" % (fmt, ext), fmt, [(".", len(benign))], [], "clean", "ok",
            "%s of a protocol-4 dict" % fmt)
        write("malicious_%s.%s" % (fmt, ext), fn(MAL_P0))
        row("malicious_%s.%s" % (fmt, ext), fmt, [(".", len(MAL_P0))], [],
            "flagged:critical", "refused", "%s of a protocol-0 os.system pickle" % fmt)
    zeros = b"\0" * (100 << 20)
    write("bomb_gzip2.gz", gz(gz(zeros)))
    row("bomb_gzip2.gz", "gzip", [], [(306, ".")], "flagged:medium", "error",
        "gzip of gzip of 100 MiB of zeros")
    write("bomb.bz2", bz2.compress(zeros, 9))
    row("bomb.bz2", "bzip2", [], [(306, ".")], "flagged:medium", "error",
        "bzip2 of 100 MiB of zeros")
    write("bomb.zst", zstd_frame(b"", rle_bomb=100 << 20))
    row("bomb.zst", "zstd", [], [(306, ".")], "flagged:medium", "error",
        "zstd RLE blocks: 100 MiB of zeros")


def nesting():
    inner = fixed_zip("c", [("c.pkl", pickle.dumps(BENIGN, protocol=2))])
    mid = fixed_zip("b", [("b.zip", inner), ("d.pkl.gz", gz(MAL_P4))],
                    zipfile.ZIP_DEFLATED)
    write("nested.zip", mid)
    row("nested.zip", "zip",
        [("!b.zip!c.pkl", len(pickle.dumps(BENIGN, protocol=2))),
         ("!d.pkl.gz", len(MAL_P4))], [], "flagged:critical", "refused",
        "zip (deflated) holding a zip and a gzip member (builtins.eval)")
    cur = fixed_zip("l", [("leaf.pkl", pickle.dumps(BENIGN, protocol=2))])
    for i in range(9, 0, -1):
        cur = fixed_zip("l", [("l%d.zip" % i, cur)])
    write("nested_deep.zip", cur)
    deep = "".join("!l%d.zip" % i for i in range(1, 9))
    row("nested_deep.zip", "zip", [], [(305, deep)], "flagged:medium", "error",
        "zip in zip 10 deep: nesting limit 8 stops at l8.zip")


def overlap():
    """One stored member, its central directory entry repeated: every entry
    points at the same bytes (the overlapping-entries zip bomb shape)."""
    member = pickle.dumps(list(range(200)), protocol=2)
    z = bytearray(fixed_zip("o", [("m.pkl", member)]))
    e = z.rfind(b"PK\x05\x06")
    cd_size, cd_off = struct.unpack("<II", z[e + 12:e + 20])
    entry = bytes(z[cd_off:cd_off + cd_size])
    n = 40
    out = bytes(z[:cd_off]) + entry * n
    eocd = bytearray(z[e:])
    eocd[8:10] = struct.pack("<H", n)
    eocd[10:12] = struct.pack("<H", n)
    eocd[12:16] = struct.pack("<I", cd_size * n)
    out += bytes(eocd)
    write("zip_overlap.zip", out)
    # zipfile reads every entry; the bytes handed out again are charged to
    # max_total (tests/test_zip.py overlap_budget trips it)
    row("zip_overlap.zip", "zip", [("!m.pkl", len(member))] * n, [],
        "clean", "ok",
        "%d central directory entries all pointing at one stored member: "
        "each read, as zipfile reads them; the repeats count against "
        "max_total" % n)


def tar_bytes(members, fmt=None):
    import tarfile
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=fmt or tarfile.GNU_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1577836800
            ti.uname = ti.gname = "user"
            t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def ustar(name, size, typ):
    """One ustar header block, field by field; the checksum summed with
    the field read as blanks (tarfile.calc_chksums)."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:124] = b"0000644\0" + b"0000000\0" * 2
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"13560240000\0"
    h[156:157] = typ
    h[257:265] = b"ustar\x0000"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def padded(data):
    return data + b"\0" * (-len(data) % 512)


def pax_record(key, value):
    """"%d key=value\n", the length counting itself."""
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(b"%d" % n) + len(body) != n:
        n += 1
    return b"%d" % n + body


def tars():
    import tarfile
    benign = pickle.dumps(BENIGN, protocol=2)
    long_name = "models/" + "x" * 120 + "/model.bin"
    write("bundle.tar.gz", gz(tar_bytes([("README", b"a model\n"),
                                         ("model.bin", benign),
                                         (long_name, benign)])))
    row("bundle.tar.gz", "gzip", [("!model.bin", len(benign)),
                                   ("!" + long_name, len(benign))], [],
        "clean", "ok", "tar.gz with a README and two pickles (one GNU long name)")
    # torch.load tries its pre-1.0 tar format first: sys_info and pickle
    # members are unpickled
    sysinfo = pickle.dumps({"protocol_version": 1001, "little_endian": True},
                           protocol=2)
    write("torch_tar_evil.tar", tar_bytes([("sys_info", sysinfo),
                                           ("pickle", MAL_P0)],
                                          tarfile.PAX_FORMAT))
    row("torch_tar_evil.tar", "tar", [("!sys_info", len(sysinfo)),
                                      ("!pickle", len(MAL_P0))], [],
        "flagged:critical", "refused",
        "torch's tar format (pax headers): the pickle member calls os.system")
    # A global pax record whose value is not UTF-8: tarfile's
    # _decode_pax_field falls back to surrogateescape, int() refuses the
    # surrogate and _apply_pax_info sets size 0 (PAX_NUMBER_FIELDS); an
    # 'x' record then sizes `pickle` again. Raw blocks: tarfile cannot
    # write such a value. The expected length is what extractfile reads.
    gpax = pax_record(b"size", b"\xac29")
    xpax = pax_record(b"size", b"%d" % len(MAL_P0))
    data = (ustar(b"PaxHeader", len(gpax), b"g") + padded(gpax)
            + ustar(b"PaxHeader", len(xpax), b"x") + padded(xpax)
            + ustar(b"pickle", len(MAL_P0), b"0") + padded(MAL_P0)
            + b"\0" * 1024)
    write("tar_pax_global_size_not_utf8.tar", data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
        got = [(m.name, len(t.extractfile(m).read())) for m in t.getmembers()]
    row("tar_pax_global_size_not_utf8.tar", "tar",
        [("!" + n, k) for n, k in got], [], "flagged:critical", "refused",
        "a global pax size record that is not UTF-8 (int() refuses it: "
        "size 0), an 'x' size record, then the pickle member: os.system")
    # int() of the decoded value: Unicode decimal digits and whitespace
    # count (_PyUnicode_TransformDecimalAndSpaceToASCII), the ASCII
    # separators \x1c-\x1f do not (PyLong_FromString's Py_ISSPACE)
    # (load: "error" where the empty pickle member stops it)
    for name, gval, load, note in (
            ("tar_pax_size_unicode_digits.tar",
             "\u0662\u0669".encode("utf-8"), "refused",
             "a global pax size in Arabic-Indic digits (int() reads 29): "
             "both members are read whole: os.system"),
            ("tar_pax_size_ctrl_space.tar", b"\x1c29", "error",
             "a global pax size '\\x1c29' (int() refuses the separator: "
             "size 0): the pickle member is empty; an 'x' size record "
             "sizes notes.txt again: os.system")):
        gpax = pax_record(b"size", gval)
        xpax = pax_record(b"size", b"%d" % len(MAL_P0))
        data = (ustar(b"PaxHeader", len(gpax), b"g") + padded(gpax)
                + ustar(b"pickle", len(MAL_P0), b"0") + padded(MAL_P0)
                + ustar(b"PaxHeader", len(xpax), b"x") + padded(xpax)
                + ustar(b"notes.txt", len(MAL_P0), b"0") + padded(MAL_P0)
                + b"\0" * 1024)
        write(name, data)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
            got = [(m.name, len(t.extractfile(m).read()))
                   for m in t.getmembers()]
        row(name, "tar", [("!" + n, k) for n, k in got], [],
            "flagged:critical", load, note)


def raw():
    write("model.bin", pickle.dumps(BENIGN, protocol=2))
    row("model.bin", "pickle", [(".", len(pickle.dumps(BENIGN, protocol=2)))], [],
        "clean", "ok", "benign pickle under a .bin name")
    write("weights.txt", MAL_P0)
    row("weights.txt", "pickle", [(".", len(MAL_P0))], [], "flagged:critical",
        "refused", "protocol-0 os.system pickle under a .txt name")
    # '%' is no opcode (0x89 of a PNG would be NEWFALSE: a plausible start)
    write("document.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    row("document.pdf", "unknown", [], [(601, ".")], "not-a-pickle", "error",
        "neither a pickle nor a container: nothing can run")


def shelves():
    vals = {"alpha": pickle.dumps(BENIGN, protocol=3),
            "beta": pickle.dumps([1, 2, 3], protocol=3)}
    # dbm.dumb through shelve
    import shelve
    base = path("shelf_dumb")
    for ext in (".dat", ".dir", ".bak"):
        if os.path.exists(base + ext):
            os.remove(base + ext)
    with shelve.Shelf(dbm.dumb.open(base, "n"), protocol=3) as s:
        s["alpha"] = BENIGN
        s["beta"] = [1, 2, 3]
    if os.path.exists(base + ".bak"):
        os.remove(base + ".bak")
    streams = [("!key:'alpha'", len(vals["alpha"])), ("!key:'beta'", len(vals["beta"]))]
    row("shelf_dumb.dat", "dbm.dumb", streams, [], "clean", "ok",
        "shelve over dbm.dumb (.dat found with its .dir)")
    row("shelf_dumb.dir", "dbm.dumb", streams, [], "clean", "ok",
        "the same shelf given by its .dir")
    # hostile dbm.dumb: a malicious value and an index entry past the end
    b = path("shelf_dumb_evil")
    dat = vals["alpha"] + b"\0" * (512 - len(vals["alpha"])) + MAL_P0
    write("shelf_dumb_evil.dat", dat)
    write("shelf_dumb_evil.dir",
          ("'alpha', (0, %d)\n'evil', (512, %d)\n'gone', (4096, 10)\n"
           % (len(vals["alpha"]), len(MAL_P0))).encode("latin-1"))
    st = [("!key:'alpha'", len(vals["alpha"])), ("!key:'evil'", len(MAL_P0))]
    row("shelf_dumb_evil.dat", "dbm.dumb", st, [(100, ".")], "flagged:critical",
        "refused", "dbm.dumb: os.system value, and an index entry past the .dat end")
    del b
    # an index whose .dat is missing: it holds no value and no loader
    # unpickles anything from it (dbm.whichdb needs the .dat): not a pickle
    write("shelf_orphan.dir", b"'alpha', (0, 84)\n")
    row("shelf_orphan.dir", "dbm.dumb", [(".", 17)], [], "not-a-pickle", "error",
        "dbm.dumb index without its .dat file: nothing can run")
    # dbm.sqlite3 layout (Python 3.13), built with this Python's sqlite3
    for name, extra, wal in (("shelf_sqlite.db", {}, False),
                             ("shelf_sqlite_wal.db", {}, True),
                             ("shelf_sqlite_evil.db", {"evil": MAL_P2}, False)):
        p = path(name)
        if os.path.exists(p):
            os.remove(p)
        con = sqlite3.connect(p)
        if wal:   # what dbm.sqlite3 of Python 3.13 sets
            con.execute("PRAGMA journal_mode = wal")
        con.execute("CREATE TABLE IF NOT EXISTS Dict (key BLOB UNIQUE NOT NULL, "
                    "value BLOB NOT NULL)")
        for k, v in list(vals.items()) + list(extra.items()):
            con.execute("REPLACE INTO Dict (key, value) VALUES (CAST(? AS BLOB), "
                        "CAST(? AS BLOB))", (k.encode(), v))
        con.commit()
        con.close()
        st = [("!key:'%s'" % k, len(v)) for k, v in list(vals.items()) + list(extra.items())]
        row(name, "dbm.sqlite3", st, [], "flagged:critical" if extra else "clean",
            "refused" if extra else "ok",
            "dbm.sqlite3 layout" + (" in WAL mode" if wal else "") +
            (" with a posix.system value" if extra else ""))
    # a Dict that is a view: reading it would run the attacker's query
    p = path("shelf_sqlite_view.db")
    if os.path.exists(p):
        os.remove(p)
    con = sqlite3.connect(p)
    con.execute("CREATE VIEW Dict AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                "SELECT x + 1 FROM c) SELECT CAST(x AS BLOB) AS key, "
                "CAST(x AS BLOB) AS value FROM c")
    con.commit()
    con.close()
    row("shelf_sqlite_view.db", "dbm.sqlite3", [], [(601, ".")], "flagged:medium",
        "error", "Dict is an endless recursive view, not a table")
    # GNU dbm
    for name, extra in (("shelf.gdbm", {}), ("shelf_evil.gdbm", {"evil": MAL_P4})):
        p = path(name)
        if os.path.exists(p):
            os.remove(p)
        db = dbm.gnu.open(p, "nf")
        for k, v in list(vals.items()) + list(extra.items()):
            db[k.encode()] = v
        db.reorganize()
        db.close()
        items = list(vals.items()) + list(extra.items())
        st = [("!key:'%s'" % k, len(v)) for k, v in items]
        row(name, "gdbm", st, [], "flagged:critical" if extra else "clean",
            "refused" if extra else "ok",
            "GNU dbm shelf" + (" with a builtins.eval value" if extra else ""))


def berkeley_db():
    """dbm.ndbm shelves in the Berkeley DB hash format (issue 17), written
    by Debian's /usr/bin/python3, whose _dbm is built on libdb (the venv's
    Python has no _dbm). Without it the files already here are kept."""
    vals = {"alpha": pickle.dumps(BENIGN, protocol=3),
            "beta": pickle.dumps([1, 2, 3], protocol=3)}
    big = pickle.dumps({"text": "y" * 9000}, protocol=4)  # overflow pages
    py = "/usr/bin/python3"
    code = ("import dbm.ndbm, sys\n"
            "d = dbm.ndbm.open(sys.argv[1], 'n')\n"
            "for i in range(2, len(sys.argv), 2):\n"
            "    d[sys.argv[i].encode()] = bytes.fromhex(sys.argv[i + 1])\n"
            "d.close()\n")
    for name, extra in (("shelf_ndbm", {"big": big}),
                        ("shelf_ndbm_evil", {"evil": MAL_P0})):
        items = list(vals.items()) + list(extra.items())
        base = path(name)
        if os.path.exists(py):
            args = [py, "-c", code, base]
            for k, v in items:
                args += [k, v.hex()]
            if subprocess.run(args, capture_output=True).returncode != 0:
                print("gen_formats: %s: no Berkeley DB dbm.ndbm; kept" % name)
        st = sorted(("!key:'%s'" % k, len(v)) for k, v in items)
        row(name + ".db", "dbm.ndbm (Berkeley DB)", st, [],
            "flagged:critical" if "evil" in extra else "clean",
            "refused" if "evil" in extra else "ok",
            "dbm.ndbm (Berkeley DB hash) shelf" +
            (" with an os.system value" if "evil" in extra else
             ", one value on overflow pages"))
    # dbm.dumb with its .bak (a second commit renames the old .dir)
    base = path("shelf_bak")
    for ext in (".dat", ".dir", ".bak"):
        if os.path.exists(base + ext):
            os.remove(base + ext)
    db = dbm.dumb.open(base, "n")
    db[b"alpha"] = vals["alpha"]
    db.close()
    db = dbm.dumb.open(base, "w")
    db[b"beta"] = vals["beta"]
    db.close()
    st = [("!key:'alpha'", len(vals["alpha"])), ("!key:'beta'", len(vals["beta"]))]
    row("shelf_bak.bak", "dbm.dumb", st, [], "clean", "ok",
        "dbm.dumb side file: the previous index, read against the .dat")
    row("shelf_bak.dir", "dbm.dumb", st, [], "clean", "ok",
        "dbm.dumb index of a shelf committed twice")
    row("shelf_bak.dat", "dbm.dumb", st, [], "clean", "ok",
        "dbm.dumb data of a shelf committed twice")


def main():
    os.makedirs(OUT, exist_ok=True)
    real = torch_real()
    torch_hostile(real)
    numpy_files()
    joblib_files()
    compressed()
    memo_flood()
    cut_short()
    nesting()
    overlap()
    tars()
    raw()
    shelves()
    berkeley_db()
    with open(path("MANIFEST.tsv"), "w") as f:
        f.write("file\tformat\tstreams\tproblems\tscan_ml\tload_ml\tnote\n")
        for r in sorted(ROWS):
            f.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
