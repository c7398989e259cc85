#!/usr/bin/env python3
"""Generates corpus/regressions/oracle/: one sample per root cause of a
miss of the real-loader oracle fuzzer (fuzz/oracle_fuzz.py, fuzz/README.md
"Real-loader oracle fuzzing"), built from raw opcodes and never unpickled
here. Writes MANIFEST.tsv:

  file     name under corpus/regressions/oracle/
  loaders  the oracle loaders (tests/oracle.py) that ask find_class for
           `global`, `-` for none
  global   what they ask for, as tests/oracle.py records it (raw spelling)
  scan     `high`: `pickleguard scan --policy default` must report that
           global at high or above; `any`: no expectation (the row is about
           the oracle)
  note     the cause

tests/test_oracle.py checks every row against the real loaders through the
recorder, and the whole directory with the rest of corpus/.

    python3 corpus/regressions/oracle/gen/gen_oracle.py
"""
import io
import os
import zipfile

OUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EOCD = b"PK\x05\x06" + b"\x00" * 18
ROWS = []


def write(name, data, loaders, glob, scan, note):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    ROWS.append((name, loaders, glob, scan, note))


# find_class imports the module before it looks the name up (_pickle.c
# _pickle_Unpickler_find_class_impl: PyImport_Import then getattribute;
# pickle.py find_class: __import__ then _getattribute): a name no
# identifier path spells still runs the module's code. The scanner took
# such a GLOBAL for "not a pickle" (info) in a file found by content, and
# said nothing at all in the raw-pickle view of a file that is also a zip.
write("badname_before_eocd.pkl",
      b"\x80\x02cos\nsys\x1dem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."
      + EOCD, "cpickle,pypickle", "os.sys\x1dem", "high",
      "GLOBAL os + a name with a control byte, REDUCE, then an empty zip end "
      "record: `scan` said 1 clean; both unpicklers import os first")
write("badname_found_by_content.pkl", b"cmymod\nThing 1__0\n)R.",
      "cpickle,pypickle", "mymod.Thing 1__0", "high",
      "GLOBAL of module mymod with a name containing a blank: `scan` said "
      "not-a-pickle (info); both unpicklers import mymod before getattr fails")
# pickle.py load_global: readline()[:-1] of a last line without its
# newline; an empty line gives name '' (_pickle.c: bad_readline, len < 2)
write("emptyname_at_eof.pkl", b"I1\ncmymod\nX", "pypickle", "mymod.", "high",
      "GLOBAL whose name line is the last byte, no newline: pickle.py asks "
      "find_class('mymod', '') and imports mymod; the C unpickler stops")
# pickle.py load_inst calls find_class before pop_mark, so an INST with no
# MARK open still imports its module (_pickle.c load_inst looks for the
# MARK first). The scanner called both "not a pickle" (info).
write("inst_no_mark.pkl", b"\x80\x04K(imymod\nThing\n", "pypickle",
      "mymod.Thing", "high",
      "INST with no MARK open after two opcodes: pickle.py imports mymod "
      "before pop_mark fails; `scan` said not-a-pickle (info)")
write("inst_first_no_mark.pkl", b"imymod\nThing\n.", "pypickle",
      "mymod.Thing", "high",
      "INST as the first opcode: pickle.py imports mymod before pop_mark "
      "fails; `scan` said not-a-pickle (info)")


def stored_zip(name, data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


# A raw pickle whose GLOBAL has a bad name, in front of a zip holding only
# text: `load` decoded that raw view, took the decoder's bad-name error for
# the end of the view and said "the container holds only data" (exit 0),
# although both unpicklers import os before getattr fails.
write("badname_raw_view.zip",
      b"\x80\x02cos\nsyste\x1f\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02R"
      b"q\x03." + stored_zip("notes.txt", b"hello\n"),
      "cpickle,pypickle", "os.syste\x1f", "high",
      "GLOBAL os + a name with a control byte in front of a zip of one text "
      "member: `load --all` exited 0 (only data); both unpicklers import os")


# the oracle's own bug: its recorder returned a stand-in for a module no
# import can find, so the load went on to globals no real loader reaches
write("unimportable_module_stops.pkl",
      b"cnump+1e400\n_reconstruct\ncos\nsystem\n(S'id'\ntR.",
      "cpickle,pypickle", "nump+1e400._reconstruct", "any",
      "a GLOBAL whose module is no identifier path: the real import fails "
      "and the load stops there; os.system after it is never asked for")

# `load` decoded the raw-pickle view of a file that is also an .npz, and
# its decoder refuses INT text the two unpicklers read differently
# (`-0_0\0`: _pickle.c load_int falls back to PyLong_FromString over the C
# string, -0_0 = 0; pickle.py's int() refuses the NUL). load took that
# refusal for the end of the view, printed "no document" and exited 0,
# while the C unpickler reads on and asks for mymod.Thing.
NPY = (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, "
       b"'shape': (1,), }".ljust(127) + b"\n" + b"\x00" * 8)
bio = io.BytesIO()
with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as z:
    z.writestr(zipfile.ZipInfo("a.npy", date_time=(2020, 1, 1, 0, 0, 0)),
               NPY)
write("differs_before_npz.pkl", b"I-0_0\x00\n0cmymod\nThing\n" +
      bio.getvalue(), "cpickle", "mymod.Thing", "high",
      "INT text only _pickle.c reads, then GLOBAL, in front of an .npz: "
      "`load` ended the raw view at the decoder's refusal and exited 0; "
      "the C unpickler reads on to mymod.Thing")

# A stored pickle member whose central-directory size (0xFFFFFFFE) runs over the
# members after it: zipfile reads it by its uncompressed size and reads the
# next member as it is; the scan charged each member's bytes to "no more
# than the archive", stopped at the overlap (container-limit, medium) and
# never looked at arr_0.npy, whose object array numpy.load unpickles.
OBJ_NPY = (b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, "
           b"'shape': (1,), }".ljust(127) + b"\n" +
           b"\x80\x02cmymod.sub\nThing\n)R.")
bio = io.BytesIO()
with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as z:
    for name, data in (("data.pkl", b"\x80\x02N."), ("arr_0.npy", OBJ_NPY)):
        z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)),
                   data)
npz = bytearray(bio.getvalue())
cd = npz.index(b"PK\x01\x02")          # a.txt's central-directory entry
npz[cd + 20:cd + 24] = (0xFFFFFFFE).to_bytes(4, "little")
write("zip_overlap_after_oversized.npz", bytes(npz), "numpy",
      "mymod.sub.Thing", "high",
      "a stored data.pkl declaring 4 GB before arr_0.npy: the scan stopped at "
      "'stored members add up to more than the archive' and never read "
      "arr_0.npy, whose object array numpy.load unpickles")

# joblib's NumpyUnpickler subclasses pickle.py's _Unpickler: a
# NumpyArrayWrapper made by INST or OBJ (load_inst / load_obj ->
# _instantiate: klass.__new__(klass) with no arguments) is a wrapper to
# load_build too, which then reads the array bytes from the file
# (numpy_pickle.py NumpyArrayWrapper.read_array: shape () counts one
# element, 8 bytes of i8) and resumes after them, here inside what
# pickle.load reads as a STOP and a GLOBAL line: joblib asks for
# ess.Popen. The splitter refused INST and OBJ ("cannot follow INST
# here") and only the raw view was scanned.
WRAPPER_STATE = (
    b"}(X\x08\x00\x00\x00subclasscnumpy\nndarray\n"
    b"X\x05\x00\x00\x00shape)X\x05\x00\x00\x00order"
    b"X\x01\x00\x00\x00CX\x05\x00\x00\x00dtypecnumpy\ndtype\n"
    b"X\x02\x00\x00\x00i8K\x00K\x01\x87R(K\x03X\x01\x00\x00\x00<NNN"
    b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    b"X\n\x00\x00\x00allow_mmap\x89u")
RESUME = b"b.csubprocess\nPopen\n)R."
write("joblib_inst_wrapper.joblib",
      b"\x80\x02(ijoblib.numpy_pickle\nNumpyArrayWrapper\n" + WRAPPER_STATE
      + RESUME, "joblib", "ess.Popen", "high",
      "NumpyArrayWrapper made by INST, shape () i8: joblib reads the 8 bytes "
      "after BUILD and resumes at GLOBAL 'ess'; the splitter refused INST")
write("joblib_obj_wrapper.joblib",
      b"\x80\x02(cjoblib.numpy_pickle\nNumpyArrayWrapper\no" + WRAPPER_STATE
      + RESUME, "joblib", "ess.Popen", "high",
      "NumpyArrayWrapper made by OBJ, shape () i8: joblib reads the 8 bytes "
      "after BUILD and resumes at GLOBAL 'ess'; the splitter refused OBJ")

# numpy's arraydescr_setstate: a dtype state of version >= 3 sets the
# flags from its item 7 whatever the type, and dtype.hasobject is
# flags & 1. joblib's read_array unpickles a nested pickle when hasobject,
# else reads shape x itemsize raw bytes. The splitter went by the descr
# alone ('O' holds objects, 'f8' does not).
def wrapper(descr, flags, shape):
    return (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}("
            b"X\x08\x00\x00\x00subclasscnumpy\nndarray\n"
            b"X\x05\x00\x00\x00shape" + shape +
            b"X\x05\x00\x00\x00orderX\x01\x00\x00\x00C"
            b"X\x05\x00\x00\x00dtypecnumpy\ndtype\n"
            b"X\x02\x00\x00\x00" + descr + b"K\x00K\x01\x87R(K\x03"
            b"X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK"
            + bytes([flags]) + b"tbX\n\x00\x00\x00allow_mmap\x89ub")


write("joblib_flags_f8_hasobject.joblib",
      wrapper(b"f8", 1, b"K\x01\x85") + b"cmymod\nThing\n)R..",
      "cpickle,pypickle,joblib", "mymod.Thing", "high",
      "f8 wrapper whose dtype state has flags 1: hasobject, so joblib "
      "unpickles a nested pickle after BUILD (the splitter skipped 8 raw "
      "bytes there and lost the stream)")
write("joblib_flags_o_no_objects.joblib",
      wrapper(b"O8", 0, b"K\x00\x85") + b"cmymod\nThing\n)R.",
      "cpickle,pypickle,joblib", "mymod.Thing", "high",
      "O8 wrapper of shape (0,) whose dtype state has flags 0: no objects, "
      "so joblib reads 0 raw bytes and resumes the main pickle at once "
      "(the splitter read a nested pickle there)")


def tar_header(name, size, typ):
    """One ustar header block, laid out field by field (POSIX ustar:
    name 100, mode 8, uid 8, gid 8, size 12, mtime 12, chksum 8, type 1,
    linkname 100, magic 6, version 2, ...), checksum as tarfile.calc_chksums
    sums it (the field read as 8 blanks)."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[156:157] = typ
    h[257:265] = b"ustar\x0000"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def tar_block(data):
    return data + b"\0" * (-len(data) % 512)


def pax_record(key, value):
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(b"%d" % n) + len(body) != n:
        n += 1
    return b"%d" % n + body


# tarfile's _proc_pax decodes a pax value as UTF-8, else with
# tarfile.encoding and "surrogateescape" (_decode_pax_field), and
# _apply_pax_info turns a "size" int() refuses into 0 (PAX_NUMBER_FIELDS,
# `except ValueError: value = 0`). A global 'g' record "size=\xac29" so
# sets size 0 on every later member, until an 'x' record sizes the next
# one again: torch.load's legacy tar reads `storages` and asks for its
# global. The scan stopped at "global pax size is not ASCII digits"
# (container-unsupported, medium) and named nothing after it.
_PAX_G = pax_record(b"size", b"\xac29")
_STORAGES = b"\x80\x02cmymod.sub\nThing\n)R."
_PAX_X = pax_record(b"size", b"%d" % len(_STORAGES))
write("tar_global_pax_size_not_utf8.tar",
      tar_header(b"PaxHeader", len(_PAX_G), b"g") + tar_block(_PAX_G)
      + tar_header(b"PaxHeader", len(_PAX_X), b"x") + tar_block(_PAX_X)
      + tar_header(b"storages", len(_STORAGES), b"0")
      + tar_block(_STORAGES) + b"\0" * 1024,
      "torch", "mymod.sub.Thing", "high",
      "global pax record 'size=\\xac29' (not UTF-8): tarfile decodes it to "
      "surrogates, int() refuses, size 0; an 'x' record sizes storages "
      "again and torch.load asks for its global; the scan stopped at 'pax "
      "size is not ASCII digits' (medium) and named nothing")

# A STOP inside a frame (found by the joblib campaign: a wrapper pickle
# whose frame ran past its STOP). pickle.py reads a frame whole
# (Lib/pickle.py _Unframer.load_frame), so the next pickle.load on the
# same file starts at the frame's end; _pickle.c (Modules/_pickle.c
# load_frame, _Unpickler_SkipConsumed) starts just past STOP when the
# frame came from peek() (a small frame in the read buffer), else at the
# frame's end too. The scanner read on only past STOP (here bytes that
# are no opcode) and never from the frame's end.
def frame_stop(rest, after):
    body = b"K\x01." + rest
    return (b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body
            + after)


GLOBAL_CALL = b"cmymod\nThing\n)R."
write("frame_stop_resume.pkl", frame_stop(b"\x05" * 4, GLOBAL_CALL),
      "pypickle", "mymod.Thing", "high",
      "STOP inside a frame, no opcode between STOP and the frame's end, a "
      "GLOBAL at the frame's end: pickle.py's next load starts there; the "
      "scan read on only past STOP (trailing-bytes)")
# a frame of 8192 bytes or more is read() whole by _pickle.c as well
write("frame_stop_resume_big.pkl", frame_stop(b"\x05" * 8200, GLOBAL_CALL),
      "cpickle,pypickle", "mymod.Thing", "high",
      "STOP inside a frame of 8205 bytes, a GLOBAL at the frame's end: both "
      "unpicklers' next load starts there (_pickle.c read() the frame "
      "whole: PREFETCH is 8192); the scan read on only past STOP")
# The raw-pickle view of a file that is also a zip was judged by its first
# pickle alone (formats.c raw_view_live): a second pickle, which a program
# calling pickle.load in a loop reads, went unscanned (`scan` said clean)
# and `load --all` decoded only the first
write("stacked_before_zip.pkl",
      b"\x80\x02K\x01." + GLOBAL_CALL + stored_zip("notes.txt", b"hello\n"),
      "cpickle,pypickle", "mymod.Thing", "high",
      "a data-only pickle, then a GLOBAL in a second pickle, in front of a "
      "zip: the raw view was judged by its first pickle (`scan` said clean, "
      "`load --all` exited 0); pickle.load in a loop reads the second")
write("frame_stop_before_zip.pkl",
      frame_stop(b"\x05" * 4, GLOBAL_CALL)
      + stored_zip("notes.txt", b"hello\n"),
      "pypickle", "mymod.Thing", "high",
      "STOP inside a frame, a GLOBAL at the frame's end, in front of a zip: "
      "`scan` said clean and `load --all` ended the raw view at the "
      "decoder's frame error (exit 0); pickle.py's next load starts at the "
      "frame's end")

# joblib's read_array counts len(shape) == 0 as one element, else the
# int64 product of numpy.int64(x) for x in shape: any sized shape, a list
# as well as a tuple (numpy_pickle.py NumpyArrayWrapper.read_array; the
# reshape takes a list too). Shape [] or [1, 1] with i8: joblib reads the 8
# bytes after BUILD (STOP and 'csubpro') and resumes at GLOBAL 'ess'; the
# splitter took only tuples ("no shape tuple") and scanned the raw view.
write("joblib_shape_empty_list.joblib",
      wrapper(b"i8", 0, b"]") + b".csubprocess\nPopen\n)R.",
      "joblib", "ess.Popen", "high",
      "NumpyArrayWrapper whose shape is an empty list: joblib counts 1 "
      "element, reads 8 bytes after BUILD and resumes at GLOBAL 'ess'; the "
      "splitter wanted a shape tuple and scanned only the raw view")
write("joblib_shape_list_appends.joblib",
      wrapper(b"i8", 0, b"](K\x01K\x01e") + b".csubprocess\nPopen\n)R.",
      "joblib", "ess.Popen", "high",
      "NumpyArrayWrapper whose shape is the list [1, 1] (EMPTY_LIST, "
      "APPENDS): 1 x 1 elements of i8, 8 bytes read after BUILD, joblib "
      "resumes at GLOBAL 'ess'")
write("joblib_shape_bytes.joblib",
      wrapper(b"i8", 0, b"C\x01\x01") + b".csubprocess\nPopen\n)R.",
      "joblib", "ess.Popen", "high",
      "NumpyArrayWrapper whose shape is the bytes b'\\x01': its items are "
      "the byte values, so 1 element of i8, 8 bytes read after BUILD, and "
      "reshape takes it; joblib resumes at GLOBAL 'ess'")

# The follower gives up at a wrapper it cannot count (here a dtype that
# is a str: joblib's read_array then fails on dtype.hasobject) after an
# earlier wrapper's array: joblib has asked for every global between the
# two already. The splitter dropped what it had followed and only the raw
# view was scanned, which stops at the first array's bytes; a STACK_GLOBAL
# there is no text the name search finds. Found by the joblib campaign of
# session 8 (a mutated sklearn tree whose structured dtype's fields named
# a str), fixed by keeping the parts followed so far.
W_UNCOUNTED = (b"\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93)\x81}("
               b"X\x08\x00\x00\x00subclasscnumpy\nndarray\n"
               b"X\x05\x00\x00\x00shapeK\x02\x85"
               b"X\x05\x00\x00\x00orderX\x01\x00\x00\x00C"
               b"X\x05\x00\x00\x00dtypeX\x02\x00\x00\x00f8"
               b"X\n\x00\x00\x00allow_mmap\x89ub")
write("joblib_unfollowed_after_array.joblib",
      b"\x80\x02]q\x00(" + wrapper(b"i8", 0, b")")[2:] + b"\x00" * 8
      + b"\x8c\x05mymod\x8c\x05Thing\x93)R" + W_UNCOUNTED + b"\x00" * 16 + b"e.",
      "joblib", "mymod.Thing", "high",
      "an i8 wrapper of shape () (8 bytes), STACK_GLOBAL mymod.Thing, then a "
      "wrapper whose dtype is a str: joblib asks for mymod.Thing before it "
      "fails; the splitter dropped its parts at the second wrapper and the "
      "raw view stops at the first array's bytes")

# Samples saved by the per-family oracle campaigns (fuzz/oracle_fuzz.py,
# fuzz/README.md) and moved here from fuzz/oracle_open/ once fixed: not
# generated by this script, only listed. `loaders` names the real loaders
# that ask for `global`; where it names more than cpickle/pypickle,
# tests/test_oracle.py checks that each listed loader asks for it (among
# others) and that an unlisted unpickler does not.
CAMPAIGN = [
    ("gzip_reserved_flags.gz", "compressed", "mymod.Thing", "high",
     "gzip header with the reserved flag bits (0xe0): gzip._read_gzip_header "
     "ignores them and gzip.open + pickle.load read the pickle; the scan "
     "refused the header (medium) without naming the global"),
    ("lzma_alone_cut.lzma", "compressed", "os.system", "high",
     "LZMA_Alone of unknown size cut short, its raw bytes a plausible pickle "
     "(']' EMPTY_LIST): lzma.open hands pickle.load the decoded prefix "
     "before EOFError; the scan read only the raw view (not-a-pickle)"),
    ("joblib_array_size_resume.joblib", "joblib", "ess.Popen", "high",
     "NumpyArrayWrapper of shape () and i8: joblib reads 1*8 bytes after "
     "BUILD (STOP and 'csubpro') and resumes at GLOBAL 'ess'; the file "
     "parses whole as two pickles, so the scan never took the joblib view"),
    ("joblib_unfollowed_inst.joblib", "joblib", "ons.Fraction", "high",
     "after the wrapper's array bytes, INST with no MARK: pickle.py's "
     "load_inst calls find_class before pop_mark; the splitter gave up at "
     "INST ('cannot follow INST here') and scanned only the raw view"),
    ("tar_size_nul_garbage.tar", "torch", "mymod.sub.Thing", "high",
     "tar size field '47\\0garbage': tarfile.nti stops at the NUL and reads "
     "octal 47; the scan called the size no number and read no member"),
    ("tar_sparse_pickle_extractfile.tar", "torch", "mymod.sub.Thing", "high",
     "a sparse `pickle` member whose map ends with a block back at offset "
     "0: extract() writes zeros over the start, but torch reads `pickle` "
     "through extractfile(), whose _FileInFile map finds the first blocks "
     "first; the scan read only extract()'s bytes"),
    ("tar_storages_no_stop.tar", "torch", "subprocess.Popen", "high",
     "legacy torch tar member without STOP: legacy_load unpickles it "
     "anyway; the scan called it data"),
    ("tar_storages_count_over_values.tar", "torch", "subprocess.Popen",
     "high",
     "legacy storages whose count pickle leaves 'cpu' and a storage class "
     "under the int 3: pickle.load returns the top (3) and legacy_load reads "
     "the records; the scan wanted a lone int and examined none of them"),
    ("tar_unknown_type_member.tar", "torch", "mymod.sub.Thing", "high",
     "tar member of unknown type 'Z': tarfile extracts it as a regular "
     "file and torch.load unpickles it; the scan skipped it"),
    ("zip_cd_name_past_directory.npz", "numpy", "subprocess.Popen", "high",
     "central-directory name length past the directory: zipfile's BytesIO "
     "read(n) returns what is left, numpy.load reads arr_0.npy"),
    ("zip_eocd_count_zero.zip", "numpy", "subprocess.Popen", "high",
     "end record with entry counts 0: zipfile reads the central directory "
     "by its size; the scan listed no member and said clean"),
    ("zip_overlap_limit.zip", "numpy", "mymod.sub.Thing", "high",
     "a compressed size of 0xFFFFFFFF without zip64: the scan stopped at a "
     "container limit before arr_0.npy, which numpy reads"),
]
for row in CAMPAIGN:
    assert os.path.exists(os.path.join(OUT, row[0])), row[0]
    ROWS.append(row)

with open(os.path.join(OUT, "MANIFEST.tsv"), "w") as f:
    f.write("file\tloaders\tglobal\tscan\tnote\n")
    for r in ROWS:
        f.write("\t".join(x.encode("unicode_escape").decode() for x in r)
                + "\n")
