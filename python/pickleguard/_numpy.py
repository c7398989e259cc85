"""numpy_load(): .npy and .npz files, with object arrays through the policy.

The .npy header rules are ported from numpy lib/format.py (read_magic,
_read_array_header: magic, version 1/2/3 header lengths, a dict literal read
with ast.literal_eval with exactly the keys descr, fortran_order, shape).
An object array ('|O') is a pickle: it is decoded by pickleguard's decoder
under the policy, never by pickle.load, and only when allow_pickle is True
(numpy.load's default since 1.16.3 is False as well)."""
import ast
import io
import os
import struct
import zipfile

from ._pickleguard import PolicyError

_MAGIC = b"\x93NUMPY"


def _read_npy(data, policy, allow_pickle):
    import numpy as np
    from . import loads
    if data[:6] != _MAGIC or len(data) < 10:
        raise ValueError("not a .npy file (bad magic)")
    major = data[6]
    if major == 1:
        (hlen,), start, enc = struct.unpack("<H", data[8:10]), 10, "latin1"
    elif major in (2, 3):
        if len(data) < 12:
            raise ValueError("truncated .npy header")
        (hlen,), start = struct.unpack("<I", data[8:12]), 12
        enc = "utf8" if major == 3 else "latin1"
    else:
        raise ValueError("unsupported .npy format version %d" % major)
    header = data[start:start + hlen]
    if len(header) != hlen:
        raise ValueError("truncated .npy header")
    d = ast.literal_eval(header.decode(enc))
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise ValueError("bad .npy header: %r" % (d,))
    shape, fortran = d["shape"], d["fortran_order"]
    if not isinstance(shape, tuple) or not all(isinstance(x, int) and x >= 0 for x in shape):
        raise ValueError("bad .npy shape %r" % (shape,))
    if not isinstance(fortran, bool):
        raise ValueError("bad .npy fortran_order %r" % (fortran,))
    dtype = np.lib.format.descr_to_dtype(d["descr"])
    body = data[start + hlen:]
    count = 1
    for x in shape:
        count *= x
    if dtype.hasobject:
        if not allow_pickle:
            raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
        arr = loads(bytes(body), policy=policy)
        if not isinstance(arr, np.ndarray):
            raise PolicyError("the object array's pickle holds a %s, not an ndarray"
                              % type(arr).__name__)
        return arr
    need = count * dtype.itemsize
    if len(body) < need:
        raise ValueError("the .npy data holds %d bytes; shape %r of %s needs %d"
                         % (len(body), shape, dtype, need))
    arr = np.frombuffer(bytes(body[:need]), dtype=dtype, count=count).copy()
    if fortran:
        return arr.reshape(shape[::-1]).transpose()
    return arr.reshape(shape)


class NpzFile:
    """A read-only mapping over an .npz archive; members load on access."""

    def __init__(self, zf, policy, allow_pickle):
        self._zf, self._policy, self._allow = zf, policy, allow_pickle
        self.files = [n[:-4] if n.endswith(".npy") else n for n in zf.namelist()]

    def __getitem__(self, key):
        name = key + ".npy" if key + ".npy" in self._zf.namelist() else key
        return _read_npy(self._zf.read(name), self._policy, self._allow)

    def __iter__(self):
        return iter(self.files)

    def __len__(self):
        return len(self.files)

    def keys(self):
        return list(self.files)

    def __contains__(self, key):
        return key in self.files

    def close(self):
        self._zf.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def numpy_load(file, *, policy="ml", allow_pickle=False):
    """numpy.load for .npy / .npz under a policy. A plain pickle file (what
    numpy.load unpickles when allow_pickle=True) is decoded under the policy."""
    from . import _policy, loads
    pol = _policy(policy)
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as fh:
            data = fh.read()
    else:
        data = file.read()
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return NpzFile(zipfile.ZipFile(io.BytesIO(data)), pol, allow_pickle)
    if data[:6] == _MAGIC:
        return _read_npy(data, pol, allow_pickle)
    if not allow_pickle:
        raise ValueError("This file contains pickled (object) data. Pass allow_pickle=True "
                         "to decode it under the policy")
    return loads(data, policy=pol)
