"""torch_load(): PyTorch zip checkpoints (torch.save since 1.6) without torch.load.

The archive layout and the persistent-id protocol are ported from pytorch
torch/serialization.py (_load, persistent_load, load_tensor) and
caffe2/serialize/inline_container.cc (the archive name is the first record's
top directory); the zip directory is read once by _Zip (below), and each
storage record is read straight into the storage that holds it. The pickle (<archive>/data.pkl) goes through the same C
decoder as loads(), under the policy (default "ml"). Tensors are built here,
from the storage records, by pickleguard's own versions of
torch._utils._rebuild_tensor{,_v2,_v3} and _rebuild_parameter: they check
storage offsets and extents against the record sizes before torch sees
them, and refuse backward hooks. torch is imported (it is the user's
library and builds the tensors) but torch.load is never called.
"""
import io
import mmap
import os
import struct
import sys
import warnings
import zipfile
import zlib

from ._pickleguard import PolicyError

_ELEM_SIZE_CACHE = {}


_TORCH = None


def _torch():
    global _TORCH
    if _TORCH is None:
        import torch  # the user's library: needed to build tensors
        _TORCH = torch
    return _TORCH


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


def _new_buffer(nbytes):
    """A writable, not zero-filled buffer of nbytes from torch's own CPU
    allocator, seen through NumPy; a bytearray when NumPy is missing."""
    try:
        import numpy  # noqa: F401  (Tensor.numpy needs it)
        return _torch().empty(nbytes, dtype=_torch().uint8).numpy()
    except ImportError:
        return bytearray(nbytes)


# madvise(MADV_POPULATE_WRITE), Linux 5.14: fault a new buffer's pages in
# with one call before the read fills them, instead of one page fault per
# 4 KiB inside the read (about 15 % of the CPU time of reading a large
# record from the page cache here; bench/RESULTS.md)
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)
_PREFAULT_MIN = 4 << 20


def _big_buffer(nbytes):
    """The buffer a large record is read into: private anonymous memory,
    prefaulted where the kernel can (freed with the storage that holds it,
    like any allocation)."""
    if nbytes < _PREFAULT_MIN or not sys.platform.startswith("linux"):
        return _new_buffer(nbytes)
    m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        m.madvise(_MADV_POPULATE_WRITE)
    except (OSError, ValueError):
        pass  # an older kernel: the read faults the pages in instead
    return m


# ---- the zip archive -----------------------------------------------------------
# torch.load reads the archive with caffe2/serialize/inline_container.cc
# (miniz: the central directory once, then each record from its local
# header). _Zip does the same, once per load: the end record and the
# central directory are read as CPython's zipfile reads them (Lib/zipfile.py
# _EndRecData, _EndRecData64, _RealGetContents, ZipInfo._decodeExtra, the
# local-header checks of ZipFile.open), keeping per record only what a load
# needs. Stored records (torch.save never compresses) are read straight
# from the file; any other record goes through zipfile itself.

_EOCD = struct.Struct("<4s4H2LH")          # zipfile structEndArchive
_EOCD64_LOC = struct.Struct("<4sLQL")      # structEndArchive64Locator
_EOCD64 = struct.Struct("<4sQ2H2L4Q")      # structEndArchive64
_CDIR = struct.Struct("<4s4B4HL2L5H2L")    # structCentralDir
_LOCAL = struct.Struct("<4s2B4HL2L2H")     # structFileHeader
_MAX_EXTRACT_VERSION = 63                  # zipfile.MAX_EXTRACT_VERSION
_WINDOW = 1 << 20       # small records are served from one read of this many bytes
_SMALL = 1 << 16        # records up to this size are copied out of that window


class _Entry:
    __slots__ = ("name", "raw", "offset", "csize", "size", "method", "flags", "crc")


class _Zip:
    def __init__(self, fh):
        self.fh = fh
        self.fd = _fd_of(fh)
        self.end = fh.seek(0, 2)
        self._win_off, self._win = 0, b""
        self._zipfile = None
        self._read_directory()

    # -- raw reads (os.pread on a descriptor: no seeks, no buffering) --
    def pread(self, off, n):
        if self.fd is not None:
            return os.pread(self.fd, n, off)
        self.fh.seek(off)
        return self.fh.read(n)

    def view(self, off, n, ahead=_WINDOW):
        """n bytes at off out of the current window (re-read from off, with
        `ahead` bytes, when they are not inside it): the small records of a
        checkpoint, which torch.save writes in the order the pickle names
        them, cost one read per window, not one per record."""
        rel = off - self._win_off
        if rel < 0 or rel + n > len(self._win):
            self._win = self.pread(off, max(n, ahead))
            self._win_off, rel = off, 0
        if rel + n > len(self._win):
            return None
        return memoryview(self._win)[rel:rel + n]

    # -- the directory (zipfile._EndRecData, _RealGetContents) --
    def _end_record(self):
        tail = self.pread(max(self.end - (1 << 16) - _EOCD.size, 0),
                          min(self.end, (1 << 16) + _EOCD.size))
        base = self.end - len(tail)
        if len(tail) >= _EOCD.size and tail[-_EOCD.size:-_EOCD.size + 4] == b"PK\x05\x06" \
                and tail[-2:] == b"\x00\x00":
            at = len(tail) - _EOCD.size     # no archive comment
        else:
            at = tail.rfind(b"PK\x05\x06")
            if at < 0 or at + _EOCD.size > len(tail):
                raise PolicyError("not a zip archive: no end of central directory record")
        rec = _EOCD.unpack_from(tail, at)
        size_cd, offset_cd, where = rec[5], rec[6], base + at
        zip64 = False
        if where >= _EOCD64_LOC.size + _EOCD64.size:
            loc = self.pread(where - _EOCD64_LOC.size, _EOCD64_LOC.size)
            sig, diskno, _, disks = _EOCD64_LOC.unpack(loc)
            if sig == b"PK\x06\x07":
                if diskno != 0 or disks > 1:
                    raise PolicyError("zip archives that span several disks are refused")
                r64 = self.pread(where - _EOCD64_LOC.size - _EOCD64.size, _EOCD64.size)
                r64 = _EOCD64.unpack(r64)
                if r64[0] == b"PK\x06\x06":
                    size_cd, offset_cd, zip64 = r64[8], r64[9], True
        # zipfile's "concat": the archive may follow other bytes
        concat = where - size_cd - offset_cd
        if zip64:
            concat -= _EOCD64.size + _EOCD64_LOC.size
        if offset_cd + concat < 0:
            raise PolicyError("bad offset for the central directory")
        return offset_cd + concat, size_cd, concat

    def _read_directory(self):
        start, size_cd, concat = self._end_record()
        data = self.pread(start, size_cd)
        if len(data) != size_cd:
            raise PolicyError("truncated central directory")
        names, entries = [], {}
        unpack = _CDIR.unpack_from
        pos = 0
        while pos < size_cd:
            if pos + _CDIR.size > size_cd:
                raise PolicyError("truncated central directory")
            (sig, _, _, ext_ver, _, flags, method, _, _, crc, csize, size, nlen, xlen, clen,
             _, _, _, offset) = unpack(data, pos)
            if sig != b"PK\x01\x02":
                raise PolicyError("bad magic number in the central directory")
            if ext_ver > _MAX_EXTRACT_VERSION:
                raise PolicyError("zip file version %.1f is not supported" % (ext_ver / 10))
            p = pos + _CDIR.size
            raw = data[p:p + nlen]
            extra = data[p + nlen:p + nlen + xlen]
            pos = p + nlen + xlen + clen
            if pos > size_cd:
                raise PolicyError("truncated central directory")
            name = raw.decode("utf-8" if flags & 0x800 else "cp437")
            nul = name.find("\0")          # zipfile.ZipInfo: a name ends at NUL
            if nul >= 0:
                name = name[:nul]
            if extra:
                size, csize, offset = self._zip64(extra, size, csize, offset)
            e = _Entry()
            e.name, e.raw, e.offset, e.csize, e.size = name, raw, offset + concat, csize, size
            e.method, e.flags, e.crc = method, flags, crc
            if name in entries:
                # zipfile takes the last, miniz a binary-search hit: refuse
                raise PolicyError("the archive holds two records named %r" % name)
            entries[name] = e
            names.append(name)
        self.names, self.entries = names, entries

    @staticmethod
    def _zip64(extra, size, csize, offset):
        """ZipInfo._decodeExtra: the zip64 field (0x0001) replaces the
        32-bit values that are all ones, in this order."""
        while len(extra) >= 4:
            tp, ln = struct.unpack_from("<HH", extra)
            if ln + 4 > len(extra):
                raise PolicyError("corrupt zip extra field %04x (size=%d)" % (tp, ln))
            if tp == 1:
                vals, at = extra[4:ln + 4], 0
                try:
                    if size in (0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF):
                        size, = struct.unpack_from("<Q", vals, at)
                        at += 8
                    if csize == 0xFFFFFFFF:
                        csize, = struct.unpack_from("<Q", vals, at)
                        at += 8
                    if offset == 0xFFFFFFFF:
                        offset, = struct.unpack_from("<Q", vals, at)
                except struct.error:
                    raise PolicyError("corrupt zip64 extra field") from None
            extra = extra[ln + 4:]
        return size, csize, offset

    # -- records --
    def stored(self, e):
        """True when the record's bytes are its content: stored, not
        encrypted (anything else is read through zipfile)."""
        return e.method == zipfile.ZIP_STORED and not e.flags & 0x61

    def data_offset(self, e):
        """Where a stored record's bytes start: after its local header
        (ZipFile.open's checks: signature, the same name; the local name
        and extra lengths count)."""
        # a large record's header alone: its data is read into its own buffer
        hdr = self.view(e.offset, _LOCAL.size + len(e.raw), _WINDOW if e.size <= _SMALL else 0)
        if hdr is None or hdr[:4] != b"PK\x03\x04":
            raise PolicyError("bad local header for %s" % e.name)
        nlen, xlen = _LOCAL.unpack_from(hdr)[10:12]
        if nlen != len(e.raw) or hdr[_LOCAL.size:] != e.raw:
            name = self.view(e.offset + _LOCAL.size, nlen)
            raise PolicyError("record %s: the local header names %r" % (e.name, bytes(name or b"")))
        if e.csize != e.size:
            raise PolicyError("stored record %s: compressed size %d, size %d"
                              % (e.name, e.csize, e.size))
        off = e.offset + _LOCAL.size + nlen + xlen
        if off + e.size > self.end:
            raise PolicyError("record %s is cut short" % e.name)
        return off

    def _zf(self):
        if self._zipfile is None:
            self._zipfile = zipfile.ZipFile(self.fh)
        return self._zipfile

    def read(self, e):
        """A whole (small) record, CRC checked as zipfile does."""
        if not self.stored(e):
            return self._zf().read(e.name)
        data = bytes(self.view(self.data_offset(e), e.size) or b"")
        if len(data) != e.size:
            raise PolicyError("record %s is cut short" % e.name)
        if zlib.crc32(data) != e.crc:
            raise PolicyError("bad CRC-32 for record %s" % e.name)
        return data

    def storage(self, e, nbytes):
        """A new CPU storage holding record e (nbytes long; checked by the
        caller against the central directory): a small record copied out of
        the window, a large one read straight into its own storage."""
        torch = _torch()
        if not nbytes:
            return torch.UntypedStorage(0)
        if not self.stored(e):
            buf = _new_buffer(nbytes)
            with self._zf().open(e.name) as r:
                got = r.readinto(memoryview(buf))
                if got != nbytes or r.read(1):
                    raise PolicyError("storage record %s is not %d bytes long" % (e.name, nbytes))
            return _as_storage(buf)
        off = self.data_offset(e)
        if nbytes <= _SMALL:
            mv = self.view(off, nbytes)
            if mv is None:
                raise PolicyError("storage record %s is cut short" % e.name)
            return torch.frombuffer(bytearray(mv), dtype=torch.uint8).untyped_storage()
        buf = _big_buffer(nbytes)
        if _pread_into(self.fh, memoryview(buf), off) != nbytes:
            raise PolicyError("storage record %s is cut short" % e.name)
        return _as_storage(buf)


def _fd_of(fh):
    """The descriptor of a plain file object (open(path, "rb") and the
    like), whose bytes are the descriptor's; None for anything else, even
    when it has a fileno() (a GzipFile's is the compressed file's)."""
    raw = getattr(fh, "raw", fh) if isinstance(fh, (io.BufferedReader, io.BufferedRandom)) else fh
    if not isinstance(raw, io.FileIO):
        return None
    try:
        return raw.fileno()
    except (OSError, ValueError):
        return None


def _pread_into(fh, mv, off):
    """Reads len(mv) bytes at off: os.preadv on the file descriptor when
    there is one (one system call per chunk, no buffering), else seek and
    readinto. Returns the count read (short at end of file)."""
    fd = _fd_of(fh)
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


def _as_storage(buf):
    torch = _torch()
    if isinstance(buf, (bytearray, mmap.mmap)):
        return torch.frombuffer(buf, dtype=torch.uint8).untyped_storage()
    return torch.from_numpy(buf).untyped_storage()


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
    us, dtype = storage._untyped_storage, storage.dtype
    if type(size) is not tuple:
        size = tuple(size)
    if type(stride) is not tuple:
        stride = tuple(stride)
    _check_extent(us.nbytes(), dtype.itemsize, storage_offset, size, stride, "_rebuild_tensor")
    return torch.empty(0, dtype=dtype, device=us.device).set_(us, storage_offset, size, stride)


def _no_hooks(hooks, what):
    if hooks is not None and len(hooks) != 0:
        raise PolicyError("%s: backward hooks in a checkpoint are refused (they are "
                          "callables)" % what)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
                       backward_hooks, metadata=None):
    _no_hooks(backward_hooks, "_rebuild_tensor_v2")
    t = _rebuild_tensor(storage, storage_offset, size, stride)
    if requires_grad:
        t.requires_grad = True
    if metadata:
        _torch()._utils.set_tensor_metadata(t, metadata)
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
    z = _Zip(fh)
    names, entries = z.names, z.entries
    if not names or "/" not in names[0]:
        raise PolicyError("not a torch.save archive: no top directory")
    prefix = names[0].split("/", 1)[0] + "/"
    if prefix + "constants.pkl" in entries or any(n.startswith(prefix + "code/") for n in names):
        raise PolicyError("this is a TorchScript archive (torch.jit.save): it holds code, "
                          "which pickleguard never loads; use torch.jit.load only on "
                          "files you trust")
    if prefix + "data.pkl" not in entries:
        raise PolicyError("not a torch.save archive: %sdata.pkl is missing" % prefix)
    byteorder = "little"
    if prefix + "byteorder" in entries:
        byteorder = z.read(entries[prefix + "byteorder"]).decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise PolicyError("bad byteorder record %r" % byteorder)
    swap = byteorder != sys.byteorder
    # mmap=True: torch.load's own way, one copy-on-write mapping of the
    # whole file (torch.UntypedStorage.from_file, shared=False) sliced per record
    overall = None
    if mmap_path is not None and not swap and z.end:
        overall = torch.UntypedStorage.from_file(mmap_path, False, z.end)
    data_prefix = prefix + "data/"
    TypedStorage = torch.storage.TypedStorage
    loaded = {}

    def persistent_load(saved_id):
        if type(saved_id) is not tuple or len(saved_id) != 5:
            raise PolicyError("unexpected persistent id %r" % (saved_id,))
        typename, storage_type, key, location, numel = saved_id
        if isinstance(typename, bytes):
            typename = typename.decode("ascii")
        if typename != "storage":
            raise PolicyError("unknown persistent id type %r" % (typename,))
        if type(storage_type) is not _StorageType:
            raise PolicyError("persistent id names %r, not a storage type" % (storage_type,))
        if type(key) is not str or type(numel) is not int or numel < 0:
            raise PolicyError("bad persistent id %r" % (saved_id,))
        ts = loaded.get(key)
        if ts is not None:
            return ts
        dtype = storage_type.dtype
        nbytes = numel * dtype.itemsize
        e = entries.get(data_prefix + key)
        if e is None:
            raise PolicyError("storage record %s%s is missing" % (data_prefix, key))
        if e.size != nbytes:
            raise PolicyError("storage record %s holds %d bytes; the pickle says %d "
                              "elements of %d bytes" % (e.name, e.size, numel, dtype.itemsize))
        if overall is not None and nbytes and z.stored(e):
            off = z.data_offset(e)
            if off % dtype.itemsize == 0:
                us = overall[off:off + nbytes]
            else:  # a misaligned record is copied, never mapped
                us = z.storage(e, nbytes)
        else:
            us = z.storage(e, nbytes)
            if swap:
                us.byteswap(dtype)
        if map_location is not None or location != "cpu":
            us = _restore(us, location if isinstance(location, str) else str(location),
                          map_location)
        ts = loaded[key] = TypedStorage(wrap_storage=us, dtype=dtype, _internal=True)
        return ts

    u = Unpickler(io.BytesIO(z.read(entries[prefix + "data.pkl"])), policy=pol,
                  persistent_load=persistent_load, encoding="ASCII",
                  overrides=_overrides())
    return u.load()
