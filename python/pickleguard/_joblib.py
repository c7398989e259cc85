"""joblib_load(): joblib.dump files without joblib.load.

The layout is ported from joblib 1.6: joblib/numpy_pickle_utils.py
(_detect_compressor, _validate_fileobject_and_memmap: the compressor is
chosen by the file's first bytes), joblib/compressor.py (the prefixes and
the file classes each compressor reads with), joblib/numpy_pickle.py
(NumpyUnpickler.load_build: after a BUILD that leaves a NumpyArrayWrapper
on the stack, the wrapper is replaced by the array read from the file
right there; NumpyArrayWrapper.read / read_array / read_mmap: a padding
byte and padding when numpy_array_alignment_bytes is set, then
count * itemsize raw bytes in the wrapper's order, or, for dtypes holding
objects, one whole nested pickle).

Where the array bytes sit is found by libpickleguard's joblib splitter
(src/formats_joblib.c pkli_joblib_split, the one `pickleguard scan` uses);
the pickle with the array bytes cut out goes through the same C decoder as
loads(), under the policy. NumpyArrayWrapper is replaced by a stand-in whose
BUILD hook turns it into the array the splitter located (checked against
the wrapper's shape, dtype and alignment); nested object-array pickles are
decoded under the policy too. Nothing here calls joblib.load or pickle.
"""
import bz2
import io
import lzma
import mmap as _mmap
import os
import sys
import zlib

from ._pickleguard import PolicyError, _joblib_split
from ._torch import _pread_into

# joblib/compressor.py: _ZFILE_PREFIX and the registered compressors' prefixes
_ZFILE_PREFIX = b"ZF"
_PREFIXES = [
    ("zlib", b"\x78"),
    ("gzip", b"\x1f\x8b"),
    ("bz2", b"BZ"),
    ("lzma", b"\x5d\x00"),
    ("xz", b"\xfd\x37\x7a\x58\x5a"),
    ("lz4", b"\x04\x22\x4d\x18"),
]
_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_OLD_WRAPPERS = ("joblib.numpy_pickle.NDArrayWrapper",
                 "joblib.numpy_pickle_compat.NDArrayWrapper")


def _detect(data):
    """joblib.numpy_pickle_utils._detect_compressor."""
    if data.startswith(_ZFILE_PREFIX):
        return "compat"
    for name, prefix in _PREFIXES:
        if data.startswith(prefix):
            return name
    return "not-compressed"


def _zlib_stream(data, wbits, what, cap):
    """joblib's BinaryZlibFile / BinaryGzipFile (compressor.py): one zlib
    decompressobj with wbits 15 (zlib) or 31 (gzip header). Bytes after the
    end of the stream are refused (joblib's reader feeds them back to the
    finished decompressor: nothing we could predict)."""
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, cap + 1)
    except zlib.error as e:
        raise PolicyError("joblib %s stream: %s" % (what, e)) from None
    if len(out) > cap:
        raise PolicyError("joblib %s stream decompresses to more than %d bytes (the "
                          "policy's max_bytes)" % (what, cap))
    if not d.eof:
        raise PolicyError("joblib %s stream is cut short" % what)
    if d.unused_data:
        raise PolicyError("joblib %s stream: %d bytes after its end"
                          % (what, len(d.unused_data)))
    return out


def _capped(f, kind, cap):
    out = f.read(cap + 1)
    if len(out) > cap:
        raise PolicyError("joblib %s stream decompresses to more than %d bytes (the "
                          "policy's max_bytes)" % (kind, cap))
    return out


def _decompress(kind, data, cap):
    """The decompressed file, at most cap bytes (the policy's max_bytes)."""
    try:
        if kind == "zlib":
            return _zlib_stream(data, 15, "zlib", cap)
        if kind == "gzip":
            return _zlib_stream(data, 31, "gzip", cap)
        if kind == "bz2":    # bz2.BZ2File: every stream, as joblib reads it
            return _capped(bz2.BZ2File(io.BytesIO(data), "rb"), kind, cap)
        if kind in ("lzma", "xz"):  # lzma.LZMAFile(fileobj, "rb"): FORMAT_AUTO
            return _capped(lzma.LZMAFile(io.BytesIO(data), "rb"), kind, cap)
        if kind == "lz4":
            try:
                from lz4.frame import LZ4FrameFile
            except ImportError:
                raise ValueError("this joblib file is LZ4-compressed and the lz4 "
                                 "package is not installed (joblib.load needs it too)") from None
            return _capped(LZ4FrameFile(io.BytesIO(data), "rb"), kind, cap)
    except (OSError, EOFError, lzma.LZMAError, RuntimeError) as e:
        raise PolicyError("joblib %s stream: %s" % (kind, e)) from None
    raise AssertionError(kind)


def _native_order_mismatch(array):
    """joblib.numpy_pickle_utils._is_numpy_array_byte_order_mismatch."""
    other = ">" if sys.byteorder == "little" else "<"
    bo = array.dtype.byteorder
    return bo == other or (bo == "|" and bool(array.dtype.fields) and
                           all(e[0].byteorder == other for e in array.dtype.fields.values()))


class _Arrays:
    """The array records the splitter found, handed out in order to the
    NumpyArrayWrapper stand-ins as their BUILDs run (in stream order)."""

    def __init__(self, data, parts, policy, mmap_path, mmap_mode, native, fh=None):
        self.data, self.policy, self.fh = data, policy, fh
        self.parts = [p for p in parts if p[2] != 1]
        self.used = 0
        self.mmap_path, self.mmap_mode, self.native = mmap_path, mmap_mode, native

    def take(self, w):
        import numpy as np
        if self.used >= len(self.parts):
            raise PolicyError("joblib: more NumpyArrayWrapper BUILDs than the splitter "
                              "found array records")
        off, length, kind = self.parts[self.used]
        self.used += 1
        st = w.__dict__
        dtype, shape = st.get("dtype"), st.get("shape")
        if not isinstance(dtype, np.dtype):
            raise PolicyError("joblib: the wrapper's dtype is a %s, not a numpy.dtype"
                              % type(dtype).__name__)
        if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
            raise PolicyError("joblib: the wrapper's shape %r is not a tuple of sizes"
                              % (shape,))
        subclass = st.get("subclass", np.ndarray)
        if hasattr(np.ndarray, "__array_prepare__") and subclass not in (np.ndarray, np.memmap):
            # NumpyArrayWrapper.read on NumPy 1.x rebuilds other subclasses
            # by calling them: not done here
            raise PolicyError("joblib: an array of subclass %r is not supported" % (subclass,))
        if dtype.hasobject:
            # read_array: pickle.load of the nested stream (find_class of the
            # outer unpickler: the same policy; no joblib wrappers inside)
            if kind != 2:
                raise PolicyError("joblib: an object array's record is not a pickle")
            from . import loads
            array = loads(bytes(self.data[off:off + length]), policy=self.policy)
            if not isinstance(array, np.ndarray):
                raise PolicyError("joblib: the object array's pickle holds a %s, not "
                                  "an ndarray" % type(array).__name__)
        else:
            if kind != 0:
                raise PolicyError("joblib: a %s array's record is a pickle" % dtype)
            count = 1
            for n in shape:
                count *= n
            pad = 0
            if st.get("numpy_array_alignment_bytes") is not None:
                pad = 1 + self.data[off]
            if pad + count * dtype.itemsize != length:
                raise PolicyError("joblib: the array record at %d holds %d bytes; shape %r "
                                  "of %s needs %d" % (off, length, shape, dtype,
                                                      pad + count * dtype.itemsize))
            order = "F" if st.get("order") == "F" else "C"
            if self.mmap_mode is not None and st.get("allow_mmap"):
                # read_mmap (make_memmap = numpy.memmap); 'w+' reads as 'r+'
                mode = "r+" if self.mmap_mode == "w+" else self.mmap_mode
                return np.memmap(self.mmap_path, dtype=dtype, mode=mode,
                                 offset=off + pad, shape=shape, order=order)
            if dtype.itemsize == 0:
                raise PolicyError("joblib: a %s array (zero-size items) cannot be read" % dtype)
            array = np.empty(count, dtype=dtype)
            if self.fh is not None and count:
                # straight from the file into the array (the mapped pages
                # of the data are never touched: no second copy in memory)
                got = _pread_into(self.fh, memoryview(array.view(np.uint8)), off + pad)
                if got != length - pad:
                    raise PolicyError("joblib: the array at %d is cut short" % (off + pad))
            elif count:
                array.view(np.uint8)[:] = np.frombuffer(self.data, dtype=np.uint8,
                                                        count=length - pad, offset=off + pad)
            if order == "F":
                array = array.reshape(shape[::-1]).transpose()
            else:
                array = array.reshape(shape)
        if self.native and _native_order_mismatch(array):
            array = array.byteswap().view(array.dtype.newbyteorder("="))
        return array


def _stand_in(arrays):
    class NumpyArrayWrapper:
        """pickleguard's stand-in for joblib's placeholder: made by NEWOBJ,
        given its state by BUILD, then replaced by the array it describes."""

        @staticmethod
        def __pickleguard_after_build__(inst):
            return arrays.take(inst)

    return NumpyArrayWrapper


class _OldWrapper:
    def __new__(cls, *a, **k):
        raise PolicyError("joblib < 0.10 NDArrayWrapper: the array lives in a side file "
                          "named by the pickle; pickleguard.joblib_load does not open it")


def joblib_load(filename, *, policy, mmap_mode=None):
    """joblib.load(filename, mmap_mode) under a policy: the same value,
    with NumPy arrays read from the file (joblib 0.10+ single-file format,
    uncompressed or zlib, gzip, bz2, lzma, xz, lz4). Object arrays are
    decoded under the policy; with mmap_mode (uncompressed files given by
    name) arrays joblib wrote with allow_mmap are numpy.memmap views."""
    from . import Unpickler, _policy
    pol = _policy(policy)
    if mmap_mode not in (None, "r+", "r", "w+", "c"):
        raise ValueError("mmap_mode must be one of None, 'r+', 'r', 'w+', 'c'")
    if isinstance(filename, os.PathLike):
        filename = os.fspath(filename)
    own = not hasattr(filename, "read")
    fh = open(filename, "rb") if own else filename
    mm = None
    try:
        if own:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(8)
            fh.seek(0)
            if size and _detect(head) == "not-compressed":
                mm = _mmap.mmap(fh.fileno(), 0, access=_mmap.ACCESS_READ)
        data = mm if mm is not None else fh.read()
        if not isinstance(data, (bytes, bytearray, _mmap.mmap)):
            raise TypeError("file must be opened in binary mode")
        kind = _detect(data[:8])
        if kind == "compat":
            raise PolicyError("joblib < 0.9.3 'ZF' file: not supported by "
                              "pickleguard.joblib_load")
        if kind != "not-compressed":
            data = _decompress(kind, bytes(data), pol.limits["max_bytes"])
        if not len(data):
            raise EOFError("Ran out of input")
        narrays, parts = _joblib_split(data)
        main = b"".join(bytes(data[o:o + n]) for o, n, k in parts if k == 1)
        # joblib: ensure_native_byte_order='auto' is True without mmap_mode;
        # mmap only on an uncompressed raw file (validated_mmap_mode)
        use_mmap = mmap_mode if (own and kind == "not-compressed") else None
        arrays = _Arrays(data, parts, pol, filename if own else None, use_mmap,
                         mmap_mode is None, fh if mm is not None else None)
        overrides = {_WRAPPER: _stand_in(arrays)}
        for name in _OLD_WRAPPERS:
            overrides[name] = _OldWrapper
        u = Unpickler(io.BytesIO(main), policy=pol, overrides=overrides)
        obj = u.load()
        if arrays.used != len(arrays.parts) or arrays.used != narrays:
            raise PolicyError("joblib: %d array records, %d NumpyArrayWrapper BUILDs "
                              "run" % (len(arrays.parts), arrays.used))
        return obj
    finally:
        data = None
        if mm is not None:
            mm.close()
        if own:
            fh.close()
