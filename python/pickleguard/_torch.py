"""torch_load(): PyTorch zip checkpoints (torch.save since 1.6) without torch.load.

The archive layout and the persistent-id protocol are ported from pytorch
torch/serialization.py (_load, persistent_load, load_tensor) and
caffe2/serialize/inline_container.cc (the archive name is the first record's
top directory). The pickle (<archive>/data.pkl) goes through the same C
decoder as loads(), under the policy (default "ml"). Tensors are built here,
from the storage records, by pickleguard's own versions of
torch._utils._rebuild_tensor{,_v2,_v3} and _rebuild_parameter: they check
storage offsets and extents against the record sizes before torch sees
them, and refuse backward hooks. torch is imported (it is the user's
library and builds the tensors) but torch.load is never called.
"""
import io
import os
import struct
import sys
import warnings
import zipfile

from ._pickleguard import PolicyError

_ELEM_SIZE_CACHE = {}


def _torch():
    import torch  # the user's library: needed to build tensors
    return torch


class _StorageType:
    """Stands for torch.FloatStorage etc. in persistent ids: knows its
    dtype, and refuses to be called (a call would allocate a storage of any
    size the pickle asks for)."""

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype

    def __call__(self, *a, **k):
        raise PolicyError("calling %s is refused by pickleguard.torch_load (a "
                          "checkpoint names storage types, it never calls them)" % self.name)


def _elem_size(dtype):
    n = _ELEM_SIZE_CACHE.get(dtype)
    if n is None:
        n = _ELEM_SIZE_CACHE[dtype] = _torch().empty((), dtype=dtype).element_size()
    return n


def _record_offset(fh, info):
    """Where a stored record's bytes start: after its local header
    (zipfile's own rules: signature, then name and extra lengths)."""
    fh.seek(info.header_offset)
    hdr = fh.read(30)
    if len(hdr) != 30 or hdr[:4] != b"PK\x03\x04":
        raise PolicyError("bad local header for %s" % info.filename)
    nlen, elen = struct.unpack("<HH", hdr[26:30])
    return info.header_offset + 30 + nlen + elen


def _new_buffer(nbytes):
    """A writable, not zero-filled buffer of nbytes from torch's own CPU
    allocator (which asks for transparent huge pages on big blocks, so
    filling it faults far fewer pages), seen through NumPy; a bytearray
    when NumPy is missing."""
    try:
        import numpy  # noqa: F401  (Tensor.numpy needs it)
        return _torch().empty(nbytes, dtype=_torch().uint8).numpy()
    except ImportError:
        return bytearray(nbytes)


def _pread_into(fh, mv, off):
    """Reads len(mv) bytes at off: os.preadv on the file descriptor when
    there is one (one system call per chunk, no buffering), else seek and
    readinto. Returns the count read (short at end of file)."""
    try:
        fd = fh.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fd = None
    if fd is None or not hasattr(os, "preadv"):
        fh.seek(off)
        return fh.readinto(mv)
    done = 0
    while done < len(mv):
        n = os.preadv(fd, [mv[done:done + (1 << 30)]], off + done)
        if n <= 0:
            break
        done += n
    return done


def _read_record(fh, zf, info, nbytes, path=None):
    """The bytes of one zip record. A stored record (torch.save never
    compresses) is read straight from its place in the file -- or, with
    mmap (path given), mapped copy-on-write -- others through zipfile."""
    stored = info.compress_type == zipfile.ZIP_STORED and info.flag_bits & 1 == 0
    if stored and info.file_size != nbytes:
        raise PolicyError("storage record %s is not %d bytes long" % (info.filename, nbytes))
    if stored and path is not None and nbytes:
        import numpy
        off = _record_offset(fh, info)
        if off + nbytes > os.fstat(fh.fileno()).st_size:
            raise PolicyError("storage record %s is cut short" % info.filename)
        return numpy.memmap(path, dtype=numpy.uint8, mode="c", offset=off, shape=(nbytes,))
    buf = _new_buffer(nbytes)
    if stored:
        off = _record_offset(fh, info)
        got = _pread_into(fh, memoryview(buf), off) if nbytes else 0
        if got != nbytes:
            raise PolicyError("storage record %s is cut short" % info.filename)
        return buf
    with zf.open(info) as r:
        got = r.readinto(memoryview(buf)) if nbytes else 0
        if got != nbytes or r.read(1):
            raise PolicyError("storage record %s is not %d bytes long" % (info.filename, nbytes))
    return buf


def _check_extent(storage_nbytes, elsize, offset, size, stride, what):
    """The bytes a tensor view reaches must lie inside its storage record
    (torch checks this in set_ as well; here it is a PolicyError first)."""
    if type(offset) is not int or offset < 0:
        raise PolicyError("%s: storage offset %r is not a non-negative int" % (what, offset))
    if len(size) != len(stride):
        raise PolicyError("%s: size %r and stride %r differ in length" % (what, size, stride))
    last = offset
    empty = False
    for n, st in zip(size, stride):
        if type(n) is not int or type(st) is not int or n < 0 or st < 0:
            raise PolicyError("%s: size/stride %r is not non-negative ints" % (what, (size, stride)))
        if n == 0:
            empty = True
        else:
            last += (n - 1) * st
    if not empty and (last + 1) * elsize > storage_nbytes:
        raise PolicyError("%s: a tensor of size %s, stride %s at offset %d needs %d bytes; "
                          "its storage record has %d" % (what, tuple(size), tuple(stride), offset,
                                                         (last + 1) * elsize, storage_nbytes))


def _rebuild_tensor(storage, storage_offset, size, stride):
    torch = _torch()
    if not isinstance(storage, torch.storage.TypedStorage):
        raise PolicyError("_rebuild_tensor: the storage argument is a %s, not a storage "
                          "from this checkpoint" % type(storage).__name__)
    us = storage._untyped_storage
    _check_extent(us.nbytes(), storage._element_size(), storage_offset, size, stride,
                  "_rebuild_tensor")
    t = torch.empty((0,), dtype=storage.dtype, device=us.device)
    return t.set_(us, storage_offset, tuple(size), tuple(stride))


def _no_hooks(hooks, what):
    if hooks is not None and len(hooks) != 0:
        raise PolicyError("%s: backward hooks in a checkpoint are refused (they are "
                          "callables)" % what)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
                       backward_hooks, metadata=None):
    t = _rebuild_tensor(storage, storage_offset, size, stride)
    t.requires_grad = bool(requires_grad)
    if metadata:
        _torch()._utils.set_tensor_metadata(t, metadata)
    _no_hooks(backward_hooks, "_rebuild_tensor_v2")
    return t


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad,
                       backward_hooks, dtype, metadata=None):
    torch = _torch()
    if not isinstance(storage, torch.storage.UntypedStorage):
        storage = getattr(storage, "_untyped_storage", storage)
    if not isinstance(storage, torch.storage.UntypedStorage) or not isinstance(dtype, torch.dtype):
        raise PolicyError("_rebuild_tensor_v3: bad storage or dtype")
    ts = torch.storage.TypedStorage(wrap_storage=storage, dtype=dtype, _internal=True)
    return _rebuild_tensor_v2(ts, storage_offset, size, stride, requires_grad,
                              backward_hooks, metadata)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    torch = _torch()
    if not isinstance(data, torch.Tensor):
        raise PolicyError("_rebuild_parameter: data is a %s, not a tensor" % type(data).__name__)
    _no_hooks(backward_hooks, "_rebuild_parameter")
    return torch.nn.Parameter(data, bool(requires_grad))


def _rebuild_meta_tensor_no_storage(dtype, size, stride, requires_grad):
    torch = _torch()
    return torch.empty_strided(tuple(size), tuple(stride), dtype=dtype, device="meta",
                               requires_grad=bool(requires_grad))


_STORAGE_NAMES = ["BFloat16Storage", "BoolStorage", "ByteStorage", "CharStorage",
                  "ComplexDoubleStorage", "ComplexFloatStorage", "DoubleStorage",
                  "FloatStorage", "HalfStorage", "IntStorage", "LongStorage",
                  "QInt32Storage", "QInt8Storage", "QUInt2x4Storage", "QUInt4x2Storage",
                  "QUInt8Storage", "ShortStorage"]


def _overrides():
    torch = _torch()
    ov = {
        "torch._utils._rebuild_tensor": _rebuild_tensor,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_meta_tensor_no_storage": _rebuild_meta_tensor_no_storage,
        "torch.UntypedStorage": _StorageType("torch.UntypedStorage", torch.uint8),
        "torch.storage.UntypedStorage": _StorageType("torch.storage.UntypedStorage", torch.uint8),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage's deprecation notice
        for n in _STORAGE_NAMES:
            cls = getattr(torch, n, None)
            if cls is not None:
                ov["torch." + n] = _StorageType("torch." + n, cls.dtype)
    return ov


def _byteswap(buf, elsize):
    import array
    codes = {2: "H", 4: "I", 8: "Q"}
    if elsize == 1:
        return buf
    if elsize == 16:
        elsize = 8  # complex128: two float64
    a = array.array(codes[elsize])
    if a.itemsize != elsize:
        raise PolicyError("cannot byte-swap %d-byte elements here" % elsize)
    a.frombytes(bytes(buf))
    a.byteswap()
    return bytearray(a.tobytes())


def _restore(storage, location, map_location):
    """torch.serialization._get_restore_location, for the CPU tensors we make."""
    if map_location is None:
        if str(location) != "cpu":
            raise PolicyError("storage location %r: pickleguard.torch_load builds CPU "
                              "tensors only; pass map_location='cpu'" % (location,))
        return storage
    if isinstance(map_location, dict):
        target = map_location.get(location, location)
        return _restore(storage, target, None)
    if callable(map_location):
        r = map_location(storage, location)
        return storage if r is None else r
    return _restore(storage, str(map_location), None)


def torch_load(f, map_location=None, *, policy="ml", mmap=False):
    """Loads a torch.save checkpoint (zip format) under a policy, returning
    what torch.load(f, weights_only=True) returns for the same file: a
    state_dict, tensors, containers of them. The legacy (pre-1.6) stacked
    and tar formats are read too (_torch_legacy.py); TorchScript archives
    are refused with a clear error."""
    from . import _policy
    torch = _torch()
    pol = _policy(policy)
    own = isinstance(f, (str, os.PathLike))
    if mmap and not own:
        raise ValueError("pickleguard.torch_load: mmap=True needs a file name")
    fh = open(f, "rb") if own else f
    try:
        start = fh.tell()
        head = fh.read(4)
        fh.seek(start)
        # torch.serialization._is_zipfile: the first bytes are a local header
        if head == b"PK\x03\x04" or zipfile.is_zipfile(fh):
            fh.seek(start)
            return _load_zip(torch, fh, pol, map_location, os.fspath(f) if mmap else None)
        fh.seek(start)
        if mmap:
            raise PolicyError("mmap=True needs a zip checkpoint: this is a legacy "
                              "(pre-1.6) torch.save file")
        from ._torch_legacy import load_legacy
        return load_legacy(torch, fh, pol, map_location)
    finally:
        if own:
            fh.close()


def _load_zip(torch, fh, pol, map_location, mmap_path):
    from . import Unpickler
    zf = zipfile.ZipFile(fh)
    names = zf.namelist()
    if not names or "/" not in names[0]:
        raise PolicyError("not a torch.save archive: no top directory")
    prefix = names[0].split("/", 1)[0] + "/"
    nameset = set(names)
    if prefix + "constants.pkl" in nameset or prefix + "code/" in {n[:len(prefix) + 5] for n in names}:
        raise PolicyError("this is a TorchScript archive (torch.jit.save): it holds code, "
                          "which pickleguard never loads; use torch.jit.load only on "
                          "files you trust")
    if prefix + "data.pkl" not in nameset:
        raise PolicyError("not a torch.save archive: %sdata.pkl is missing" % prefix)
    byteorder = "little"
    if prefix + "byteorder" in nameset:
        byteorder = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise PolicyError("bad byteorder record %r" % byteorder)
    loaded = {}

    def persistent_load(saved_id):
        if not isinstance(saved_id, tuple) or len(saved_id) != 5:
            raise PolicyError("unexpected persistent id %r" % (saved_id,))
        typename, storage_type, key, location, numel = saved_id
        if isinstance(typename, bytes):
            typename = typename.decode("ascii")
        if typename != "storage":
            raise PolicyError("unknown persistent id type %r" % (typename,))
        if not isinstance(storage_type, _StorageType):
            raise PolicyError("persistent id names %r, not a storage type" % (storage_type,))
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise PolicyError("bad persistent id %r" % (saved_id,))
        dtype = storage_type.dtype
        if key in loaded:
            return loaded[key]
        elsize = _elem_size(dtype)
        nbytes = numel * elsize
        rec = prefix + "data/" + key
        if rec not in nameset:
            raise PolicyError("storage record %s is missing" % rec)
        info = zf.getinfo(rec)
        if info.file_size != nbytes:
            raise PolicyError("storage record %s holds %d bytes; the pickle says %d "
                              "elements of %d bytes" % (rec, info.file_size, numel, elsize))
        buf = _read_record(fh, zf, info, nbytes,
                           mmap_path if byteorder == sys.byteorder else None)
        if byteorder != sys.byteorder:
            buf = _byteswap(buf, elsize)
        if not nbytes:
            us = torch.UntypedStorage(0)
        elif isinstance(buf, bytearray):
            us = torch.frombuffer(buf, dtype=torch.uint8).untyped_storage()
        else:
            us = torch.from_numpy(buf).untyped_storage()
        us = _restore(us, location if isinstance(location, str) else str(location),
                      map_location)
        ts = torch.storage.TypedStorage(wrap_storage=us, dtype=dtype, _internal=True)
        loaded[key] = ts
        return ts

    u = Unpickler(io.BytesIO(zf.read(prefix + "data.pkl")), policy=pol,
                  persistent_load=persistent_load, encoding="ASCII",
                  overrides=_overrides())
    return u.load()
