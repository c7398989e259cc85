#!/usr/bin/env python3
"""Generates corpus/streams/: tar archives, compressed streams and joblib
files whose hostile pickle is reached only through a rule of the real
reader -- CPython's tarfile (pax and GNU headers, number spellings, links,
sparse members), gzip/lzma's stream chaining, liblzma's .lzma/.lz
acceptance -- built from raw bytes and never unpickled here. Writes
MANIFEST.tsv:

  file    name under corpus/streams/
  scan    `SEVERITY@PATH[:TEXT]`: `pickleguard scan --policy ml` reports
          a finding at least that severe at that inner path (`.` the file
          itself) whose message holds TEXT
  oracle  tests/oracle.py loaders that must ask for os.system (posix.system)
          when they read the file under the recorder (torch, compressed,
          joblib, cpickle), or `-`
  tarname for tar samples: the member name tarfile gives the hostile
          member (tests/test_streams.py checks it with tarfile), else `-`
  note    the rule

Deterministic. The tar and compressed samples need only the stdlib; the
joblib sample needs numpy and joblib (run with .venv/bin/python):

    python3 corpus/streams/gen/gen_streams.py corpus/streams
"""
import bz2
import gzip
import lzma
import os
import struct
import sys
import zlib

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
ROWS = []

# os.system('id'), protocol 0, raw opcodes; MAL_NOSTOP has no STOP: the
# unpickler runs the call, then fails at the end of the data -- bytes a
# walker that keeps only complete pickles would call "data"
MAL = b"cos\nsystem\n(S'id'\ntR."
MAL_NOSTOP = MAL[:-1]
# torch legacy_load needs these to reach `pickle`: storages holds a count
# of 0 and an empty list of views, tensors a count of 0
STORAGES = b"K\x00.]."
TENSORS = b"K\x00."


def write(name, data, scan, oracle, tarname, note):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    ROWS.append((name, scan, oracle, tarname, note))


def octal(n, width):
    return ("%0*o" % (width - 1, n)).encode() + b"\0"


def header(name, size, typ=b"0", size_field=None, chk=None, linkname=b"",
           prefix=b"", magic=b"ustar\x0000", extra=None, signed=False):
    """A 512-byte tar header; fields may be given raw."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = octal(0o644, 8)
    h[108:116] = octal(0, 8)
    h[116:124] = octal(0, 8)
    h[124:136] = size_field if size_field is not None else octal(size, 12)
    h[136:148] = octal(0, 12)
    h[156:157] = typ
    h[157:157 + len(linkname)] = linkname
    h[257:265] = magic
    h[329:337] = octal(0, 8)
    h[337:345] = octal(0, 8)
    h[345:345 + len(prefix)] = prefix
    if extra:
        for off, b in extra:
            h[off:off + len(b)] = b
    h[148:156] = b" " * 8
    s = sum(struct.unpack("512b", bytes(h))) if signed else sum(h)
    h[148:156] = chk(s) if chk else ("%06o" % s).encode() + b"\0 "
    return bytes(h)


def pad(data):
    return data + b"\0" * (-len(data) % 512)


def member(name, data, **kw):
    return header(name, len(data), **kw) + pad(data)


def pax(records, typ=b"x"):
    body = b""
    for k, v in records:
        rec = b" " + k + b"=" + v + b"\n"
        n = len(rec) + 1
        while len(str(n).encode() + rec) != n:
            n += 1
        body += str(n).encode() + rec
    return member(b"././@PaxHeader", body, typ=typ)


def torch_tar(*parts):
    return (member(b"storages", STORAGES) + member(b"tensors", TENSORS) +
            b"".join(parts) + b"\0" * 1024)


def tars():
    write("tar_pax_path.tar",
          torch_tar(pax([(b"path", b"pickle")]), member(b"decoy.bin", MAL_NOSTOP)),
          "critical@pickle", "torch", "pickle",
          "the member is `pickle` only through a pax path record (its "
          "header says decoy.bin); torch.load extractfile('pickle') runs it")
    write("tar_gnu_longname.tar",
          torch_tar(member(b"././@LongLink", b"pickle\0", typ=b"L"),
                    member(b"decoy.bin", MAL_NOSTOP)),
          "critical@pickle", "torch", "pickle",
          "GNU 'L' long name `pickle` for a header named decoy.bin")
    # the 'L' data says 3 bytes, but tarfile reads the whole padded block
    # and cuts it at the first NUL: the name is still `pickle`
    longname = header(b"././@LongLink", 3, typ=b"L") + pad(b"pickle\0")
    write("tar_gnu_longname_block.tar",
          torch_tar(longname, member(b"decoy.bin", MAL_NOSTOP)),
          "critical@pickle", "torch", "pickle",
          "GNU 'L' header of size 3 whose padded block holds `pickle`: "
          "_proc_gnulong takes nts() of the whole block")
    write("tar_pax_global.tar",
          torch_tar(pax([(b"path", b"pickle")], typ=b"g"),
                    member(b"decoy.bin", MAL_NOSTOP)),
          "critical@pickle", "torch", "pickle",
          "a global pax header (type g) renames every later member: "
          "_proc_builtin applies tarfile.pax_headers")
    write("tar_ustar_prefix.tar",
          torch_tar(member(b"ckle", MAL, prefix=b"pi", magic=b"\0" * 8)),
          "critical@pi/ckle", "-", "pi/ckle",
          "prefix field set without the ustar magic: frombuf still joins "
          "prefix + '/' + name")
    write("tar_pax_size.tar",
          torch_tar(pax([(b"size", str(len(MAL_NOSTOP)).encode())]),
                    header(b"pickle", 0) + pad(MAL_NOSTOP)),
          "critical@pickle", "torch", "pickle",
          "the header says 0 bytes, a pax size record says more: tarfile "
          "reads (and skips) the pax size")
    spelled = header(b"pickle", 0,
                     size_field=(b" +0o0_%o " % len(MAL_NOSTOP)).ljust(12, b"\0"),
                     chk=lambda s: (b"0o%o" % s).ljust(8, b"\0"))
    write("tar_number_spellings.tar",
          torch_tar(spelled + pad(MAL_NOSTOP)),
          "critical@pickle", "torch", "pickle",
          "size ' +0o0_24 ' and checksum '0o...': nti() is int(text, 8) "
          "after strip(), sign, 0o prefix and underscores allowed")
    b256 = header(b"pickle", 0, size_field=b"\x80" + b"\0" * 10 +
                  bytes([len(MAL_NOSTOP)]))
    write("tar_base256_size.tar", torch_tar(b256 + pad(MAL_NOSTOP)),
          "critical@pickle", "torch", "pickle",
          "GNU base-256 size field (first byte 0o200)")
    sgn = header(b"pickle", len(MAL_NOSTOP), signed=True,
                 extra=[(265, b"\xff\xfe\xfd\xfc")])
    write("tar_signed_checksum.tar", torch_tar(sgn + pad(MAL_NOSTOP)),
          "critical@pickle", "torch", "pickle",
          "checksum computed over signed bytes (Sun/NeXT tars; high bytes "
          "in uname): calc_chksums accepts either sum")
    write("tar_symlink_pickle.tar",
          torch_tar(member(b"payload.bin", MAL_NOSTOP),
                    header(b"pickle", 0, typ=b"2", linkname=b"payload.bin")),
          "critical@pickle", "torch", "pickle",
          "`pickle` is a symlink: extractfile() follows it to payload.bin "
          "(_find_link_target)")
    write("tar_hardlink_pickle.tar",
          torch_tar(member(b"dir/../payload.bin", MAL_NOSTOP),
                    header(b"pickle", 0, typ=b"1", linkname=b"./payload.bin")),
          "critical@pickle", "torch", "pickle",
          "`pickle` is a hard link to a member named dir/../payload.bin "
          "(names compared after os.path.normpath)")
    write("tar_many_links.tar",
          torch_tar(member(b"payload.bin", MAL_NOSTOP),
                    *[header(b"pickle", 0, typ=b"2", linkname=b"payload.bin")] * 40),
          "critical@pickle", "torch", "pickle",
          "40 `pickle` symlinks: each resolution rereads the archive, so "
          "the walker follows 16 and says so (torch reads the last)")
    # a symlink header declaring 512 bytes: tarfile reads no data for it,
    # the next header follows at once
    write("tar_link_size.tar",
          torch_tar(header(b"link", 512, typ=b"2", linkname=b"x"),
                    member(b"pickle", MAL_NOSTOP)),
          "critical@pickle", "torch", "pickle",
          "a symlink header with a size: _proc_builtin skips data only for "
          "regular files and unknown types")
    sp = header(b"pickle", len(MAL_NOSTOP), typ=b"S", extra=[
        (386, octal(0, 12)), (398, octal(len(MAL_NOSTOP), 12)),
        (483, octal(len(MAL_NOSTOP), 12))])
    write("tar_sparse.tar", torch_tar(sp + pad(MAL_NOSTOP)),
          "critical@pickle", "torch", "pickle",
          "old GNU sparse member (type S) with one full chunk")


def storage_rec(key, typ=b"FloatStorage", module=b"torch"):
    """The pickle legacy_load reads before each storage's raw bytes:
    (key, location, storage_type), protocol 2, raw opcodes."""
    return (b"\x80\x02K" + bytes([key]) + b"X\x03\x00\x00\x00cpuc" + module +
            b"\n" + typ + b"\n\x87.")


def raw_storage(count, elsize, fill=b"\x01"):
    """_new_with_file's layout: an int64 LE element count, then
    count * element_size bytes."""
    return struct.pack("<q", count) + fill * (count * elsize)


def tensor_rec(key, storage, ndim, sizes, strides, offset):
    """tensors: a (key, storage_id, type) pickle, then ndim as <i, 4
    skipped bytes, ndim sizes, ndim strides and the offset as <q."""
    return (b"\x80\x02(K" + bytes([key]) + b"K" + bytes([storage]) +
            b"ctorch\nFloatTensor\nt." + struct.pack("<i", ndim) +
            b"\0" * 4 + struct.pack("<%dq" % ndim, *sizes) +
            struct.pack("<%dq" % ndim, *strides) + struct.pack("<q", offset))


def legacy_tars():
    """Hostile pickles after raw storage or tensor bytes: legacy_load
    unpickles every record in `storages` and `tensors`
    (torch/serialization.py legacy_load)."""
    tensors = b"K\x00."
    pickle_m = member(b"pickle", b"\x80\x02}q\x00.")
    storages = (b"K\x02." + storage_rec(0) + raw_storage(3, 4) + MAL +
                b"]q\x00.")
    write("tar_storages_second_record.tar",
          member(b"storages", storages) + member(b"tensors", tensors) +
          pickle_m + b"\0" * 1024,
          "critical@storages", "torch", "storages",
          "the second storage record of `storages` calls os.system: "
          "legacy_load unpickles one record per storage, each after the "
          "previous one's raw bytes (int64 count * element size)")
    storages = (b"K\x01." + storage_rec(0, b"DoubleStorage") +
                raw_storage(2, 8, b"\x80") + MAL)
    write("tar_storages_views_pickle.tar",
          member(b"storages", storages) + member(b"tensors", tensors) +
          pickle_m + b"\0" * 1024,
          "critical@storages", "torch", "storages",
          "the storage-views pickle after the last DoubleStorage's bytes "
          "(8 per element, bytes that parse as opcodes) calls os.system")
    # 2**61 + 1 doubles: torch computes element_size * count in 64 bits,
    # which wraps to 8 bytes, and reads the views pickle after them
    storages = (b"K\x01." + storage_rec(0, b"DoubleStorage") +
                struct.pack("<q", (1 << 61) + 1) + b"\x07" * 8 + MAL)
    write("tar_storages_wrapping_count.tar",
          member(b"storages", storages) + member(b"tensors", tensors) +
          pickle_m + b"\0" * 1024,
          "critical@storages", "torch", "storages",
          "a storage count of 2**61 + 1 doubles: nbytes = element_size * "
          "count wraps to 8 in THPStorage_readFileRaw, so the views pickle "
          "8 bytes on calls os.system")
    storages = b"K\x01." + storage_rec(0) + raw_storage(1, 4) + b"]q\x00."
    tensors = (b"K\x02." + tensor_rec(1, 0, 2, (1, 1), (1, 1), 0) + MAL)
    write("tar_tensors_second_record.tar",
          member(b"storages", storages) + member(b"tensors", tensors) +
          pickle_m + b"\0" * 1024,
          "critical@tensors", "torch", "tensors",
          "the second tensor record calls os.system, after the first one's "
          "binary header (ndim, sizes, strides, offset)")


# os.system('id') at protocol 4 through STACK_GLOBAL: its BINUNICODE
# lengths hold the only zero bytes, which a sparse map leaves as holes --
# the stored bytes alone are no pickle that names anything
HOLEY = (b"\x80\x04X\x02\x00\x00\x00osX\x06\x00\x00\x00system\x93"
         b"X\x02\x00\x00\x00id\x85R.")


def holey_chunks(data, split=1):
    """(offset, numbytes) of data's non-zero runs, each cut into `split`
    adjacent pieces; the stored bytes are the runs back to back."""
    chunks, i = [], 0
    while i < len(data):
        if data[i] == 0:
            i += 1
            continue
        j = i
        while j < len(data) and data[j]:
            j += 1
        step = max(1, -(-(j - i) // split))
        for k in range(i, j, step):
            chunks.append((k, min(step, j - k)))
        i = j
    return chunks, b"".join(data[o:o + n] for o, n in chunks)


def sparse_old(name, data):
    """Old GNU 'S': four structs in the header, the rest in extension
    blocks (21 each, flag at 504), origsize at 483."""
    chunks, stored = holey_chunks(data, 2)
    extra = [(483, octal(len(data), 12))]
    for i, (o, n) in enumerate(chunks[:4]):
        extra += [(386 + 24 * i, octal(o, 12)), (398 + 24 * i, octal(n, 12))]
    rest = chunks[4:]
    if rest:
        extra.append((482, b"\x01"))
    out = header(name, len(stored), typ=b"S", extra=extra)
    while rest:
        b = bytearray(512)
        for i, (o, n) in enumerate(rest[:21]):
            b[24 * i:24 * i + 12] = octal(o, 12)
            b[24 * i + 12:24 * i + 24] = octal(n, 12)
        rest = rest[21:]
        b[504] = 1 if rest else 0
        out += bytes(b)
    return out + pad(stored)


def sparse_pax(name, data, version):
    """GNU sparse 0.0 (GNU.sparse.offset/numbytes records), 0.1
    (GNU.sparse.map) or 1.0 (the map at the start of the data)."""
    chunks, stored = holey_chunks(data)
    recs = [(b"GNU.sparse.name", name)]
    body = stored
    if version == "0.0":
        recs.append((b"GNU.sparse.size", b"%d" % len(data)))
        for o, n in chunks:
            recs += [(b"GNU.sparse.offset", b"%d" % o),
                     (b"GNU.sparse.numbytes", b"%d" % n)]
    elif version == "0.1":
        recs += [(b"GNU.sparse.realsize", b"%d" % len(data)),
                 (b"GNU.sparse.map", b",".join(b"%d,%d" % c for c in chunks))]
    else:
        recs += [(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"),
                 (b"GNU.sparse.realsize", b"%d" % len(data))]
        body = pad(b"%d\n" % len(chunks) +
                   b"".join(b"%d\n%d\n" % c for c in chunks)) + stored
    return pax(recs) + member(b"GNUSparseFile.0/" + name, body)


def sparse_tars():
    for tag, mk in (("old", lambda n, d: sparse_old(n, d)),
                    ("pax00", lambda n, d: sparse_pax(n, d, "0.0")),
                    ("pax01", lambda n, d: sparse_pax(n, d, "0.1")),
                    ("pax10", lambda n, d: sparse_pax(n, d, "1.0"))):
        write("tar_sparse_holes_%s.tar" % tag, torch_tar(mk(b"pickle", HOLEY)),
              "critical@pickle", "torch", "pickle",
              "GNU sparse member (%s) whose holes are the zero bytes of the "
              "pickle's BINUNICODE lengths: tarfile rebuilds them as zeros "
              "(extractfile's _FileInFile map); the stored bytes alone name "
              "nothing" % tag)
    write("tar_sparse_holes_storages.tar",
          sparse_pax(b"storages", HOLEY, "1.0") + member(b"tensors", TENSORS) +
          member(b"pickle", b"\x80\x02}q\x00.") + b"\0" * 1024,
          "critical@storages", "torch", "storages",
          "`storages` as a GNU sparse 1.0 member: tar.extract() writes the "
          "chunks at their offsets (TarFile.makefile), holes stay zeros")


def compressed():
    cut = 4  # "cos\n" | "system..." : neither part alone names the call
    write("gzip_zero_padding.gz",
          gzip.compress(MAL[:cut], mtime=0) + b"\0" * 7 +
          gzip.compress(MAL[cut:], mtime=0),
          "critical@.", "compressed", "-",
          "zero bytes between gzip members: _GzipReader._read_eof skips "
          "them and reads the next member")
    g = bytearray(gzip.compress(MAL, mtime=0))
    g[3] |= 0xe0  # reserved flag bits: zlib's gzip mode refuses them
    write("gzip_reserved_flags.gz", bytes(g), "critical@.", "compressed", "-",
          "reserved FLG bits set: Python's header parser ignores them")
    g = bytearray(gzip.compress(MAL, mtime=0))
    g[3] |= 0x02  # FHCRC with a wrong header CRC
    g[10:10] = b"\xde\xad"
    write("gzip_bad_hcrc.gz", bytes(g), "critical@.", "compressed", "-",
          "FHCRC set with a wrong header CRC: Python skips it unchecked")
    alone = lzma.compress(MAL[cut:], format=lzma.FORMAT_ALONE)
    write("xz_then_lzma.xz", lzma.compress(MAL[:cut]) + alone,
          "critical@.", "compressed", "-",
          "an .xz stream, then an .lzma stream: LZMAFile starts a new "
          "FORMAT_AUTO decompressor on what follows")
    a = bytearray(lzma.compress(MAL, format=lzma.FORMAT_ALONE))
    a[1:5] = struct.pack("<I", 1024)  # below liblzma's 4096 minimum: still read
    write("lzma_small_dict.lzma", bytes(a), "critical@.", "compressed", "-",
          ".lzma with a 1 KiB dictionary: liblzma's alone decoder takes any "
          "2^n or 2^n+2^(n-1) size")
    raw = lzma.compress(MAL, format=lzma.FORMAT_RAW, filters=[
        {"id": lzma.FILTER_LZMA1, "dict_size": 1 << 16, "lc": 3, "lp": 0,
         "pb": 2}])
    lz = (b"LZIP\x01" + bytes([16]) + raw +
          struct.pack("<IQQ", zlib.crc32(MAL), len(MAL), 6 + len(raw) + 20))
    write("pickle.lz", lz, "critical@.", "-", "-",
          "lzip: lzma.open (liblzma >= 5.4's auto decoder) reads .lz files")


def joblib_samples():
    """Needs numpy and joblib (the project's .venv): a benign file is
    written by joblib.dump (dumping runs nothing) and its inline object
    array pickle replaced by raw hostile opcodes; without them the
    committed file stays."""
    name = "joblib_subarray_object.joblib"
    try:
        import io
        import joblib
        import numpy as np
    except ImportError:
        with open(os.path.join(OUT, "MANIFEST.tsv"), encoding="utf-8") as f:
            for line in f:
                if line.startswith(name + "\t"):
                    ROWS.append(tuple(line.rstrip("\n").split("\t")))
        return
    a = np.empty(1, dtype=np.dtype([("a", "O", (2,))]))
    bio = io.BytesIO()
    joblib.dump(a, bio)
    d = bio.getvalue()
    # the wrapper's BUILD ('b' after the state dict's SETITEMS 'u'), then
    # the array's own pickle, then the main pickle's STOP
    cut = d.index(b"ub\x80") + 2
    assert d.endswith(b".")
    write(name, d[:cut] + MAL + b".", "critical@object-array@%d" % cut,
          "joblib", "-", "a structured dtype whose field is an object "
          "subarray: hasobject, so read_array unpickles the bytes after the "
          "wrapper (the subarray base is in the dtype state's item 2)")


# ---- joblib < 0.10 (joblib/numpy_pickle_compat.py): ZF files, and
# NDArrayWrapper / ZNDArrayWrapper side files. Every byte is written here;
# the old joblib writer is gone.

def zf(payload, length=None, space=False):
    """read_zfile's format: b'ZF', 19 bytes int(x, 16) reads, an optional
    space (joblib <= 0.8.4), one zlib stream."""
    if length is None:
        length = ("%#x" % len(payload)).encode().ljust(19)
    assert len(length) == 19
    return b"ZF" + length + (b" " if space else b"") + zlib.compress(payload, 6)


def binunicode(t):
    b = t.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def nd_wrapper(filename, cls=b"NDArrayWrapper",
               mod=b"joblib.numpy_pickle_compat"):
    """protocol 2: NEWOBJ of the wrapper, its __dict__ by BUILD (what
    pickle writes for a plain object), as joblib < 0.10's dump did."""
    return (b"\x80\x02c" + mod + b"\n" + cls + b"\n)\x81}(" +
            binunicode("filename") + binunicode(filename) +
            binunicode("subclass") + b"cnumpy\nndarray\n" +
            binunicode("allow_mmap") + b"\x89ub.")


def npy_object(pickle_bytes):
    """An .npy v1.0 file of one object: read_array pickle.loads the rest."""
    hdr = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    total = 10 + len(hdr) + 1
    hdr += b" " * ((64 - total % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + \
        pickle_bytes


def joblib_old():
    write("joblib_zf.pkl", zf(MAL), "critical@.", "joblib", "-",
          "joblib < 0.10 ZF file: 'ZF', a hex length, zlib data; "
          "load_compatibility unpickles the decompressed bytes")
    write("joblib_zf_spelled.pkl",
          zf(MAL, length=b" +0X1_5\t".ljust(19), space=True), "critical@.",
          "joblib", "-", "ZF length spelled ' +0X1_5' (int(x, 16) takes "
          "whitespace, a sign, 0X and underscores) and the extra space of "
          "joblib <= 0.8.4 before the zlib data")
    write("joblib_zf_badlen.pkl", zf(MAL, length=b"0x5".ljust(19)),
          "critical@.", "-", "-", "ZF whose header length is wrong: "
          "read_zfile's assert stops joblib.load (python -O does not); the "
          "payload is scanned and the mismatch reported")
    side = "joblib_nd_side.pkl_01.npy"
    write(side, npy_object(MAL), "critical@.", "numpy", "-",
          "the side file of joblib_nd_side.pkl: an object .npy, read by "
          "numpy.load(allow_pickle=True)")
    write("joblib_nd_side.pkl", nd_wrapper(side),
          "medium@.:read the side file '%s'" % side, "joblib", "-",
          "NDArrayWrapper names the side file " + side + " next to it: "
          "joblib.load runs numpy.load(allow_pickle=True) on it")
    write("joblib_nd_dotdot.pkl", nd_wrapper("../streams/" + side,
                                             mod=b"joblib.numpy_pickle"),
          "medium@.:OUTSIDE", "joblib", "-", "NDArrayWrapper (the "
          "joblib.numpy_pickle spelling) whose filename climbs out with "
          "'..': os.path.join keeps it, the side file is unpickled")
    write("joblib_nd_abs.pkl", nd_wrapper(os.path.abspath(os.path.join(
        OUT, side)).replace(os.path.abspath(OUT), "/nonexistent-pg")),
          "medium@.:OUTSIDE", "-", "-", "NDArrayWrapper with an absolute "
          "filename: os.path.join drops the pickle's directory")
    zside = "joblib_znd.pkl_01.npy.z"
    write(zside, zf(MAL), "critical@.", "joblib", "-", "the ZF side file "
          "of joblib_znd.pkl: read_zfile's raw array bytes to the wrapper, a "
          "ZF pickle to joblib.load")
    znd = (b"\x80\x02cjoblib.numpy_pickle_compat\nZNDArrayWrapper\n)\x81}(" +
           binunicode("filename") + binunicode(zside) +
           binunicode("init_args") +
           b"cnumpy\nndarray\nK\x00"
           b"\x85C\x01b\x87" + binunicode("state") +
           b"(K\x01K\x15\x85cnumpy\ndtype\nX\x02\x00\x00\x00u1\x89\x88\x87R"
           b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK"
           b"\x00tb\x89t" + b"ub.")
    write("joblib_znd.pkl", znd, "medium@.:read the side file '%s'" % zside,
          "-", "-",
          "ZNDArrayWrapper: read_zfile reads the side file " + zside)


# ---- zstd frames as compression.zstd.ZstdFile (Python 3.14) reads them:
# every frame, skippable frames (magic 0x184D2A50..5F) skipped. Frames are
# written by hand with raw blocks.

def zstd_frame(data):
    # frame header descriptor 0 (no content size, no checksum), window
    # descriptor 0x58 (8 MiB), one last raw block
    return (struct.pack("<I", 0xFD2FB528) + b"\x00\x58" +
            struct.pack("<I", 1 | (len(data) << 3))[:3] + data)


def zstd_skip(n, payload):
    return struct.pack("<II", 0x184D2A50 + n, len(payload)) + payload


def zstd_samples():
    write("zstd_concat.zst", zstd_frame(MAL[:9]) + zstd_frame(MAL[9:]),
          "critical@.", "compressed", "-", "a pickle split over two zstd "
          "frames: ZstdFile reads every frame")
    write("zstd_skippable.zst", zstd_skip(14, b"cos\nsystem\n") +
          zstd_frame(MAL[:12]) + zstd_skip(0, b"") + zstd_frame(MAL[12:]),
          "critical@.", "compressed", "-", "skippable frames (0x184D2A5E "
          "holding opcode-like bytes, an empty 0x184D2A50) before and "
          "between the frames: skipped")
    bad = bytearray(zstd_frame(b"N."))
    bad[6] |= 6  # block type 3: reserved
    write("zstd_bad_later.zst", zstd_frame(MAL) + bytes(bad), "critical@.",
          "compressed", "-", "a damaged second frame (reserved block type) "
          "after a frame holding the pickle: pickle.load has run the first "
          "frame's opcodes; the damage is reported")


def main():
    tars()
    legacy_tars()
    sparse_tars()
    compressed()
    joblib_samples()
    joblib_old()
    zstd_samples()
    with open(os.path.join(OUT, "MANIFEST.tsv"), "w", encoding="utf-8") as f:
        f.write("file\tscan\toracle\ttarname\tnote\n")
        for r in ROWS:
            f.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
