#!/usr/bin/env python3
"""Generates corpus/views/: files that are two things at once, or that only
look like a pickle, built from raw bytes -- one sample per trick by which a
container layer that decides *what a file is* would miss what a real loader
reads (docs/formats.md, "Loader views") -- plus a few real files made by
numpy/torch that once raised false alarms. Writes MANIFEST.tsv:

  file    name under corpus/views/
  scan    what `pickleguard scan --policy ml` must say: `critical@PATH` (a
          critical finding at that inner path, `.` the file itself),
          `not-a-pickle` (that verdict, no finding above info) or `clean`
  oracle  the real loaders that reach the payload's global (checked by
          tests/test_views.py with a recorder, never executed): pickle (C
          pickle.load), pickle_py (pickle._Unpickler), numpy
          (numpy.load allow_pickle=True), torch (torch.load weights_only=
          False), gzip/xz/bz2 (pickle.load over that module's open()), `-`
  note    the trick

Hostile bytes are assembled by hand and never unpickled here. The stdlib
part needs nothing else; the real samples need numpy and torch (run with
the project's .venv/bin/python); without them the committed files stay.
Deterministic: fixed timestamps, gzip mtime 0.

    .venv/bin/python corpus/views/gen/gen_views.py corpus/views
"""
import bz2
import gzip
import io
import lzma
import os
import struct
import sys
import tarfile
import zipfile
import zlib

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROWS = []

# os.system('id') at protocol 2, raw opcodes (never unpickled)
MAL = (b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.")
# the same at protocol 0 (printable: fits a tar name)
MAL0 = b"cos\nsystem\n(S'id'\ntR."
EOCD = b"PK\x05\x06" + b"\x00" * 18


def write(name, data, scan, oracle, note, keep=False):
    full = os.path.join(OUT, name)
    if not (keep and os.path.exists(full)):
        with open(full, "wb") as f:
            f.write(data)
    ROWS.append((name, scan, oracle, note))


def fixed_zip(members):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as z:
        for n, d in members:
            z.writestr(zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0)), d)
    return bio.getvalue()


def eocd(comment=b""):
    return (b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0, 0, 0, 0,
                                         len(comment)) + comment)


def hostile():
    write("eocd_empty.pkl", MAL + EOCD, "critical@.", "pickle,pickle_py,numpy,torch",
          "raw os.system pickle then a 22-byte empty zip end record: the "
          "file sniffs as a zip, every loader reads the pickle from byte 0")
    write("eocd_comment.pkl", MAL + eocd(b"a zip comment"), "critical@.",
          "pickle,pickle_py,numpy,torch",
          "the same with a comment in the end record (CPython "
          "_EndRecData's comment search finds it)")
    benign_zip = fixed_zip([("notes.txt", b"hello\n")])
    write("prepended_zip.pkl", MAL + benign_zip, "critical@.",
          "pickle,pickle_py,torch",
          "raw pickle prepended to a real zip: zipfile reads the zip (its "
          "concat shift), pickle.load and torch's legacy path the pickle")
    two = MAL + EOCD + EOCD
    write("eocd_twice.pkl", two, "critical@.", "pickle,pickle_py,numpy,torch",
          "two end records after a raw pickle: whichever end record a zip "
          "reader picks, the raw view is the same")
    zip64_loc = (b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0,
                                             0, 0, 0, 0) +
                 b"PK\x06\x07" + struct.pack("<IQI", 0, len(MAL), 1))
    write("eocd_zip64.pkl", MAL + zip64_loc + EOCD, "critical@.",
          "pickle,pickle_py,numpy,torch",
          "raw pickle then a zip64 end record, its locator and an end record")
    write("gzip_eocd.pkl.gz", gzip.compress(MAL + EOCD, mtime=0), "critical@.",
          "gzip", "gzip whose payload is a raw pickle plus an end record: "
          "the decompressed payload has its raw view too")
    half = len(MAL) // 2
    write("gzip_split.gz", gzip.compress(MAL[:half], mtime=0) +
          gzip.compress(MAL[half:], mtime=0), "critical@.", "gzip",
          "the pickle split over two gzip members: gzip.open reads them as "
          "one stream")
    write("xz_split.xz", lzma.compress(MAL[:half]) + lzma.compress(MAL[half:]),
          "critical@.", "xz", "the pickle split over two concatenated xz "
          "streams (lzma.open reads on)")
    write("bz2_split.bz2", bz2.compress(MAL[:half]) + bz2.compress(MAL[half:]),
          "critical@.", "bz2", "the pickle split over two concatenated bzip2 "
          "streams (bz2.open reads on)")
    write("gzip_member2.gz", gzip.compress(b"\x80\x02N.", mtime=0) +
          gzip.compress(MAL, mtime=0), "critical@.", "-",
          "gzip member 2 is a second, hostile pickle after a benign one "
          "(a loader reading on after the first STOP runs it)")
    # tar whose first header's name field is a protocol-0 pickle: tarfile
    # reads a valid archive, pickle.load reads the header from byte 0
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.GNU_FORMAT) as t:
        ti = tarfile.TarInfo(MAL0.decode())
        ti.size = 6
        ti.mtime = 1577836800
        t.addfile(ti, io.BytesIO(b"hello\n"))
    write("tar_name_pickle.tar", bio.getvalue(), "critical@.",
          "pickle,pickle_py", "a tar whose first member name is a protocol-0 "
          "pickle: tarfile reads an archive, pickle.load runs the name")
    # an .npy whose descr is spelled so that a naive sniff misses objects
    def npy(header, body):
        h = header.encode("latin1")
        pad = 64 - (10 + len(h) + 1) % 64
        h = h + b" " * pad + b"\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + body
    for name, descr in (("npy_object_word.npy", "'object'"),
                        ("npy_object_O8.npy", "'<O8'"),
                        ("npy_nested_object.npy",
                         "[('a', '<f8'), ('b', [('c', '|O')])]"),
                        ("npy_subarray_object.npy", "[('a', ('|O', (2,)))]")):
        write(name, npy("{'descr': %s, 'fortran_order': False, 'shape': ()}"
                        % descr, MAL), "critical@.", "numpy",
              "npy with descr %s: numpy.load(allow_pickle=True) unpickles "
              "the body" % descr)
    write("npy_descr_twice.npy",
          npy("{'descr': '<f8', 'fortran_order': False, 'shape': (), "
              "'descr': '|O'}", MAL), "critical@.", "numpy",
          "npy header with 'descr' twice: ast.literal_eval keeps the last "
          "(object), a first-match reader sees float64")
    write("npy_descr_comment.npy",
          npy("{'descr': '|O', # 'descr': '<f8'\n 'fortran_order': False, "
              "'shape': ()}", MAL), "critical@.", "numpy",
          "npy header with a comment that literal_eval ignores")
    # joblib layout read by pickle.load: a NumpyArrayWrapper pickle without
    # the alignment key (joblib < 1.2 layout) whose uint8 "array bytes" are
    # opcodes to a plain unpickler
    arr = MAL0
    wrapper = (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}("
               b"X\x08\x00\x00\x00subclasscnumpy\nndarray\n"
               b"X\x05\x00\x00\x00shape" + b"K" + bytes([len(arr)]) + b"\x85"
               b"X\x05\x00\x00\x00orderX\x01\x00\x00\x00C"
               b"X\x05\x00\x00\x00dtypecnumpy\ndtype\nX\x02\x00\x00\x00u1"
               b"\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xff"
               b"J\xff\xff\xff\xffK\x00tb"
               b"X\n\x00\x00\x00allow_mmap\x89ub")
    write("joblib_array_opcodes.joblib", wrapper + arr + b".", "critical@.",
          "pickle,pickle_py", "joblib layout whose array bytes are a pickle: "
          "joblib skips them, pickle.load/numpy.load read them as opcodes")


def harmless():
    write("text_N.txt", b"Now is the time for all good men to come to the aid "
          b"of the party.\n", "not-a-pickle", "-",
          "text starting with 'N' (NONE): the next byte fails, nothing ran")
    write("text_I.txt", b"Installation notes\n", "not-a-pickle", "-",
          "text starting with 'I' (INT) whose argument no unpickler takes")
    write("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 17,
          "not-a-pickle", "-", "PNG: \\x89 is NEWFALSE, 'P' PERSID (raises "
          "without persistent_load), then \\x1a fails")
    write("image.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 16,
          "not-a-pickle", "-", "GIF: 'G' BINFLOAT then a NUL")
    write("image.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 16,
          "not-a-pickle", "-", "JPEG: \\xff is no opcode")
    hdr = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    write("model.safetensors", struct.pack("<Q", len(hdr)) + hdr + b"\x00" * 4,
          "not-a-pickle", "-", "safetensors: the length's low byte is an "
          "opcode at best, the next fails")
    # a dbm.dumb shelf and its side files
    val = b"\x80\x03]q\x00(K\x01K\x02e."
    write("shelf.dat", val + b"\x00" * (512 - len(val)), "clean", "-",
          "dbm.dumb data file (its .dir is next to it)")
    write("shelf.dir", b"'k', (0, %d)\n" % len(val), "clean", "-",
          "dbm.dumb index: read with its .dat")
    write("shelf.bak", b"'k', (0, %d)\n" % len(val), "clean", "-",
          "dbm.dumb's backup index: no loader reads it; read as an index of "
          "shelf.dat, no finding")
    write("orphan.bak", b"'k', (0, %d)\n" % len(val), "not-a-pickle", "-",
          "a dbm.dumb backup index without its .dat: holds no value")


def real_samples():
    """False alarms once raised on real files (issue 14, item 6). Legacy
    torch.save names storages by memory address, so these bytes are not
    reproducible: an existing file is kept (delete it to make a new one);
    only its manifest row is written again."""
    try:
        import numpy as np
        import torch
    except ImportError:
        print("numpy/torch missing: real samples not regenerated",
              file=sys.stderr)
        return
    torch.manual_seed(0)
    a = np.zeros(3, dtype=[("Open", "<f8"), ("Other", "<i4")])
    bio = io.BytesIO()
    np.save(bio, a)
    write("npy_field_Open.npy", bio.getvalue(), "clean", "-",
          "structured dtype with fields named Open/Other: no object field")
    bio = io.BytesIO()
    torch.save({"w": torch.arange(4, dtype=torch.float32)}, bio,
               _use_new_zipfile_serialization=False, pickle_protocol=4)
    write("torch_legacy_p4.pt", bio.getvalue(), "clean", "-",
          "legacy torch.save at protocol 4: FRAME before the magic number",
          keep=True)
    bio = io.BytesIO()
    torch.save({"k%d" % i: torch.tensor([float(i)]) for i in range(300)}, bio,
               _use_new_zipfile_serialization=False)
    write("torch_legacy_memo.pt", bio.getvalue(), "clean", "-",
          "legacy torch.save whose object pickle has more than 256 memo "
          "entries (LONG_BINPUT)", keep=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    hostile()
    harmless()
    real_samples()
    old = {}
    mpath = os.path.join(OUT, "MANIFEST.tsv")
    if os.path.exists(mpath):
        with open(mpath) as f:
            for ln in f.read().splitlines()[1:]:
                old[ln.split("\t")[0]] = ln
    lines = {r[0]: "\t".join(r) for r in ROWS}
    for k, v in old.items():  # real samples kept when not regenerated
        if k not in lines and os.path.exists(os.path.join(OUT, k)):
            lines[k] = v
    with open(mpath, "w") as f:
        f.write("file\tscan\toracle\tnote\n")
        for k in sorted(lines):
            f.write(lines[k] + "\n")


if __name__ == "__main__":
    main()
