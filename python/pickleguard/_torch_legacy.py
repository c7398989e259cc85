"""torch_load() for the legacy torch.save formats (before 1.6, and
torch.save(..., _use_new_zipfile_serialization=False) today).

Ported from pytorch torch/serialization.py `_legacy_load` (torch 2.13):

* torch tries the tar format first when the file is a real file at offset
  0 (`tarfile.open(fileobj=f, mode="r:", format=PAX_FORMAT)`; members
  `storages`, `tensors`, `pickle` -- the inner `legacy_load`), and falls
  back to the stacked format when tarfile refuses it.
* the stacked format: pickles one after another -- the magic number
  0x1950a86a20f9469cfc6c, the protocol version 1001, a sys_info dict, the
  main pickle whose persistent ids are ('storage', storage_type, root_key,
  location, numel, view_metadata) (or ('module', cls, file, source)), a
  list of storage keys; then, for each key in that order, the storage's
  raw bytes with an 8-byte little-endian element count in front
  (UntypedStorage._set_from_file: torch/csrc/serialization.cpp
  THPStorage_readFileRaw; little-endian data, swapped on big-endian hosts).

Every pickle goes through pickleguard's decoder under the policy. Element
counts are checked against the bytes the file has before anything is
allocated, each storage's header against the count the pickle gave, and
every tensor's extent against its storage (the zip loader's
_rebuild_tensor* stand-ins). torch.load itself is never called.
"""
import io
import mmap
import os
import struct
import sys
import tarfile

from ._pickleguard import PolicyError
from ._torch import (_StorageType, _byteswap, _check_extent, _elem_size, _new_buffer,
                     _overrides, _restore)

MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
PROTOCOL_VERSION = 1001

# torch's legacy tensor classes: named by the tar format's `tensors` member
# (never called by torch; refused when called here)
_TENSOR_TYPES = ["BFloat16Tensor", "BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor",
                 "FloatTensor", "HalfTensor", "IntTensor", "LongTensor", "ShortTensor"]


def _ascii(x):
    """torch.serialization._maybe_decode_ascii."""
    return x.decode("ascii") if isinstance(x, bytes) else x


class _Cursor:
    """Pickles and raw records one after another in a buffer (the file's
    bytes, mapped when it is a real file): each pickle is decoded by
    pickleguard's decoder where the previous record ended, as torch's
    repeated pickle_module.load(f) calls and f.read()s consume the file."""

    def __init__(self, data, pol, overrides):
        self.data, self.view, self.pos = data, memoryview(data), 0
        self.pol, self.ov = pol, overrides

    def find_class(self, module, name):
        from . import _import_global
        f = self.ov.get(module + "." + name)
        return f if f is not None else _import_global(module, name)

    def load(self, persistent_load=None):
        from ._pickleguard import _decode
        if self.pos >= len(self.data):
            raise PolicyError("legacy torch: the file ends where a pickle should be "
                              "(offset %d)" % self.pos)
        obj, self.pos = _decode(self.pol, self.data, self.pos, ("ASCII", "strict", True),
                                self.find_class,
                                persistent_load, None)
        return obj

    def left(self):
        return len(self.data) - self.pos

    def read(self, n, what):
        if n > self.left():
            raise PolicyError("legacy torch: %s is cut short (%d of %d bytes)"
                              % (what, self.left(), n))
        b = self.view[self.pos:self.pos + n]
        self.pos += n
        return b

    def close(self):
        self.view.release()


def _legacy_overrides(torch):
    ov = _overrides()
    for n in _TENSOR_TYPES:
        ov["torch." + n] = _StorageType("torch." + n, None)
    return ov


class _Storages:
    """The storages of one legacy file: allocated no bigger than the bytes
    the file has left, filled from the file afterwards."""

    def __init__(self, torch, budget, map_location):
        self.torch, self.budget, self.map_location = torch, budget, map_location
        self.objs = {}        # key -> TypedStorage (torch's deserialized_objects)
        self.fill = {}        # root key -> (buffer, numel, elsize, untyped storage)

    def new_root(self, key, dtype, numel, location):
        torch = self.torch
        if not isinstance(numel, int) or numel < 0:
            raise PolicyError("legacy torch: storage %r has element count %r" % (key, numel))
        elsize = _elem_size(dtype)
        nbytes = numel * elsize
        if nbytes > self.budget:
            raise PolicyError("legacy torch: storage %r of %d bytes, but the file has only "
                              "%d bytes left for storage data" % (key, nbytes, self.budget))
        self.budget -= nbytes + 8
        buf = _new_buffer(nbytes)
        if not nbytes:
            us = torch.UntypedStorage(0)
        elif isinstance(buf, bytearray):
            us = torch.frombuffer(buf, dtype=torch.uint8).untyped_storage()
        else:
            us = torch.from_numpy(buf).untyped_storage()
        restored = _restore(us, _ascii(location) if isinstance(location, (str, bytes))
                            else str(location), self.map_location)
        ts = torch.storage.TypedStorage(wrap_storage=restored, dtype=dtype, _internal=True)
        self.objs[key] = ts
        self.fill[key] = (buf, numel, elsize, us, restored)
        return ts

    def view(self, view_key, root_key, offset, numel):
        """A storage view (torch: root._untyped_storage[offset_bytes:...])."""
        root = self.objs.get(root_key)
        if root is None:
            raise PolicyError("legacy torch: view of unknown storage %r" % (root_key,))
        n = root._size()
        if (type(offset) is not int or type(numel) is not int or offset < 0 or numel < 0
                or offset + numel > n):
            raise PolicyError("legacy torch: view [%r, +%r) of a storage of %d elements"
                              % (offset, numel, n))
        el = root._element_size()
        ts = self.torch.storage.TypedStorage(
            wrap_storage=root._untyped_storage[offset * el:(offset + numel) * el],
            dtype=root.dtype, _internal=True)
        self.objs[view_key] = ts
        return ts

    def read_data(self, f, key, what):
        """8-byte little-endian element count, then the bytes
        (THPStorage_readFileRaw): the count must be the one the pickle gave."""
        buf, numel, elsize, us, restored = self.fill.pop(key)
        (count,) = struct.unpack("<q", f.read(8, what + " size header"))
        if count != numel:
            raise PolicyError("legacy torch: %s %r holds %d elements; the pickle says %d"
                              % (what, key, count, numel))
        nbytes = numel * elsize
        if nbytes:
            mv = memoryview(buf).cast("B")
            mv[:] = f.read(nbytes, "%s %r" % (what, key))
            if sys.byteorder != "little" and elsize > 1:
                mv[:] = _byteswap(buf, elsize)
            if restored is not us:
                restored.copy_(us)


def _persistent_stacked(st):
    """_legacy_load's persistent_load."""
    def persistent_load(saved_id):
        if not isinstance(saved_id, tuple) or not saved_id:
            raise PolicyError("legacy torch: persistent id %r is not a tuple" % (saved_id,))
        typename = _ascii(saved_id[0])
        data = saved_id[1:]
        if typename == "module":
            # data[0] is the class, a global the policy allowed
            return data[0]
        if typename != "storage" or len(data) != 5:
            raise PolicyError("legacy torch: unknown persistent id %r" % (saved_id,))
        storage_type, root_key, location, numel, view_metadata = data
        if not isinstance(storage_type, _StorageType) or storage_type.dtype is None:
            raise PolicyError("legacy torch: persistent id names %r, not a storage type"
                              % (storage_type,))
        if not isinstance(root_key, str):
            raise PolicyError("legacy torch: storage key %r is not a string" % (root_key,))
        if root_key in st.objs:
            ts = st.objs[root_key]
            if ts.dtype != storage_type.dtype:
                raise PolicyError("legacy torch: storage %r is used as %s and as %s"
                                  % (root_key, ts.dtype, storage_type.dtype))
        else:
            ts = st.new_root(root_key, storage_type.dtype, numel, location)
        if view_metadata is None:
            return ts
        if not isinstance(view_metadata, tuple) or len(view_metadata) != 3:
            raise PolicyError("legacy torch: bad view metadata %r" % (view_metadata,))
        view_key, offset, view_size = view_metadata
        if view_key in st.objs:
            return st.objs[view_key]
        return st.view(view_key, root_key, offset, view_size)
    return persistent_load


def _load_stacked(torch, f, pol, map_location):
    if f.load() != MAGIC_NUMBER:
        raise PolicyError("legacy torch: invalid magic number; not a torch.save file")
    if f.load() != PROTOCOL_VERSION:
        raise PolicyError("legacy torch: invalid protocol version")
    f.load()  # sys_info
    st = _Storages(torch, f.left(), map_location)
    result = f.load(_persistent_stacked(st))
    keys = f.load()
    if not isinstance(keys, list):
        raise PolicyError("legacy torch: the storage key list is a %s" % type(keys).__name__)
    for key in keys:
        if key not in st.objs:
            raise PolicyError("legacy torch: storage key %r is not in the pickle" % (key,))
        if key not in st.fill:
            raise PolicyError("legacy torch: storage %r is listed twice" % (key,))
        st.read_data(f, key, "storage")
    if st.fill:
        # torch would hand these out uninitialised
        raise PolicyError("legacy torch: storages %r have no data in the file"
                          % sorted(st.fill)[:5])
    return result


def _member(tar, name, pol, ov):
    """tar.extract(name) / tar.extractfile(name): tarfile's member of that
    name (the last one when names repeat)."""
    try:
        m = tar.getmember(name)
    except KeyError:
        raise PolicyError("legacy torch tar: no %r member" % name) from None
    r = tar.extractfile(m)
    if r is None:
        raise PolicyError("legacy torch tar: %r is not a regular file" % name)
    return _Cursor(r.read(), pol, ov)


def _load_tar(torch, tar, pol, map_location):
    """legacy_load (the tar format), member by member as torch reads them."""
    ov = _legacy_overrides(torch)
    f = u = _member(tar, "storages", pol, ov)
    st = _Storages(torch, f.left(), map_location)
    num = u.load()
    if type(num) is not int or num < 0:
        raise PolicyError("legacy torch tar: storage count %r" % (num,))
    for _ in range(num):
        args = u.load()
        if not isinstance(args, tuple) or len(args) != 3:
            raise PolicyError("legacy torch tar: storage record %r" % (args,))
        key, location, storage_type = args
        if not isinstance(storage_type, _StorageType) or storage_type.dtype is None:
            raise PolicyError("legacy torch tar: %r is not a storage type" % (storage_type,))
        if key in st.objs:
            raise PolicyError("legacy torch tar: storage %r twice" % (key,))
        # _new_with_file: the count comes from the header itself
        (count,) = struct.unpack("<q", f.read(8, "storage size header"))
        f.pos -= 8
        st.new_root(key, storage_type.dtype, count, location)
        st.read_data(f, key, "storage")
    views = u.load()
    if not isinstance(views, (list, tuple)):
        raise PolicyError("legacy torch tar: storage views %r" % (views,))
    for v in views:
        if not isinstance(v, tuple) or len(v) != 4:
            raise PolicyError("legacy torch tar: storage view %r" % (v,))
        target, root, offset, numel = v
        st.view(target, root, offset, numel)
    f = u = _member(tar, "tensors", pol, ov)
    num = u.load()
    if type(num) is not int or num < 0:
        raise PolicyError("legacy torch tar: tensor count %r" % (num,))
    for _ in range(num):
        args = u.load()
        if not isinstance(args, tuple) or len(args) != 3:
            raise PolicyError("legacy torch tar: tensor record %r" % (args,))
        key, storage_id, _tensor_type = args
        storage = st.objs.get(storage_id)
        if storage is None:
            raise PolicyError("legacy torch tar: tensor %r names unknown storage %r"
                              % (key, storage_id))
        (ndim,) = struct.unpack("<i", f.read(4, "tensor header"))
        f.read(4, "tensor header")
        if ndim < 0 or 16 * ndim + 8 > f.left():
            raise PolicyError("legacy torch tar: tensor %r has %d dimensions" % (key, ndim))
        size = struct.unpack("<%dq" % ndim, f.read(8 * ndim, "tensor sizes"))
        stride = struct.unpack("<%dq" % ndim, f.read(8 * ndim, "tensor strides"))
        (offset,) = struct.unpack("<q", f.read(8, "tensor offset"))
        _check_extent(storage._untyped_storage.nbytes(), storage._element_size(), offset,
                      size, stride, "legacy tar tensor %r" % (key,))
        t = torch.empty((0,), dtype=storage.dtype).set_(storage._untyped_storage, offset,
                                                        size, stride)
        st.objs[key] = t

    def persistent_load(saved_id):
        if isinstance(saved_id, tuple):
            return saved_id[0]  # a module's class: a global the policy allowed
        try:  # deserialized_objects[int(saved_id)]
            return st.objs[int(saved_id)]
        except (KeyError, ValueError, TypeError):
            raise PolicyError("legacy torch tar: persistent id %r names nothing"
                              % (saved_id,)) from None
    return _member(tar, "pickle", pol, ov).load(persistent_load)


def _open_tar(f):
    """torch: tarfile.open(fileobj=f, mode="r:", format=PAX_FORMAT) on a
    real file at offset 0; None when tarfile refuses it."""
    try:
        fileno = f.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fileno = None
    if fileno is None or f.tell() != 0:
        return None
    try:
        return tarfile.open(fileobj=f, mode="r:", format=tarfile.PAX_FORMAT)
    except tarfile.TarError:
        f.seek(0)
        return None


def load_legacy(torch, f, pol, map_location):
    tar = _open_tar(f)
    if tar is not None:
        with tar:
            return _load_tar(torch, tar, pol, map_location)
    mm = None
    try:
        start = f.tell()
        try:
            fileno = f.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            fileno = None
        if fileno is not None and start == 0 and os.fstat(fileno).st_size:
            mm = mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
            data = mm
        else:
            data = f.read()
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError("file must be opened in binary mode")
        cur = _Cursor(data, pol, _overrides())
        try:
            return _load_stacked(torch, cur, pol, map_location)
        finally:
            cur.close()
    finally:
        if mm is not None:
            mm.close()
