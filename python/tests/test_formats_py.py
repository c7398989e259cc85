"""Malicious corpus under an audit-hook recorder; tutorial cases under a
user policy file; torch checkpoints against torch.load(weights_only=True);
NumPy arrays and scalars; scan() against the CLI's findings."""
import copyreg
import dataclasses
import gzip
import io
import json
import lzma
import os
import pickle
import shelve
import subprocess
import sys

import pytest

import pickleguard
from conftest import CORPUS, ROOT, manifest

MALICIOUS = [r for r in manifest() if r["kind"] == "malicious"]

_events = []
_recording = [False]


def _hook(event, args):
    if _recording[0] and (event in ("import", "exec", "compile", "os.system", "os.exec",
                                    "os.posix_spawn", "subprocess.Popen", "os.spawn")
                          or (event == "open" and args and isinstance(args[0], str)
                              and not args[0].startswith(CORPUS))):
        _events.append((event, repr(args)[:200]))


sys.addaudithook(_hook)


@pytest.mark.parametrize("row", MALICIOUS, ids=[r["file"] for r in MALICIOUS])
def test_malicious_refused_nothing_runs(row):
    with open(os.path.join(CORPUS, row["file"]), "rb") as f:
        data = f.read()
    for pol in ("default", "strict", "ml"):
        _events.clear()
        _recording[0] = True
        try:
            # every pickle of the file, as repeated pickle.load calls read them
            u = pickleguard.Unpickler(io.BytesIO(data), policy=pol)
            with pytest.raises(pickleguard.PolicyError):
                for _ in range(100):
                    u.load()
        finally:
            _recording[0] = False
        assert _events == [], _events


def test_audit_recorder_can_fail():
    _events.clear()
    _recording[0] = True
    try:
        compile("1", "<x>", "eval")
    finally:
        _recording[0] = False
    assert _events


# ---- tutorial: user classes under a user policy file -----------------------

@dataclasses.dataclass
class Game:
    score: int
    seed: int
    items: list


class Player:
    def __init__(self, name, level=1):
        self.name, self.level = name, level

    def __eq__(self, o):
        return type(o) is Player and vars(o) == vars(self)


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, o):
        return type(o) is Point and (o.x, o.y) == (self.x, self.y)


def _reduce_point(p):
    return (Point, (p.x, p.y))


copyreg.pickle(Point, _reduce_point)

POLICY = """version: 1
name: tutorial
extends: default
allow:
  - test_formats_py.Game
  - test_formats_py.Player
  - test_formats_py.Point
"""


@pytest.fixture
def user_policy(tmp_path):
    p = tmp_path / "policy.yaml"
    p.write_text(POLICY)
    return str(p)


def test_tutorial_classes(user_policy):
    objs = [Game(10, 42, ["sword", Point(1, 2)]), Player("ann", 3), Point(3, 4)]
    for proto in range(6):
        data = pickle.dumps(objs, protocol=proto)
        got = pickleguard.loads(data, policy=user_policy)
        assert got == pickle.loads(data)
        with pytest.raises(pickleguard.PolicyError) as ei:
            pickleguard.loads(data, policy="default")
        assert ei.value.name.startswith("test_formats_py.") or ei.value.name == "copyreg._reconstructor"


def test_tutorial_compressed_and_shelve(user_policy, tmp_path):
    g = Game(1, 2, [3])
    for opener in (gzip.open, lzma.open):
        p = tmp_path / ("g" + opener.__module__)
        with opener(p, "wb") as f:
            pickle.dump(g, f)
        with opener(p, "rb") as f:
            assert pickleguard.load(f, policy=user_policy) == g
    import dbm.dumb
    db = str(tmp_path / "cache")
    with shelve.Shelf(dbm.dumb.open(db, "c")) as s:
        s["game"] = g
        s["n"] = [1, 2]
    with pickleguard.shelve_open(db, policy=user_policy) as s:
        assert s["game"] == g and s["n"] == [1, 2] and sorted(s) == ["game", "n"]


# ---- torch -------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _tensors_equal(a, b):
    if isinstance(a, torch.Tensor):
        return (type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
                and a.stride() == b.stride() and a.storage_offset() == b.storage_offset()
                and a.requires_grad == b.requires_grad and torch.equal(a, b))
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(_tensors_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_tensors_equal, a, b))
    return a == b


def test_torch_checkpoints(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    objs = {
        "sd": model.state_dict(),
        "views": [base, base[1:, 2:], base.t()],
        "dtypes": [torch.ones(3, dtype=d) for d in (torch.int8, torch.int64, torch.bool,
                                                   torch.float16, torch.bfloat16, torch.complex64)],
        "param": torch.nn.Parameter(torch.ones(2)),
        "empty": torch.empty(0, 5),
        "misc": {"epoch": 3, "lr": 0.1, "size": torch.Size([2, 3]), "dt": torch.float32},
    }
    p = tmp_path / "model.pt"
    torch.save(objs, p)
    want = torch.load(p, weights_only=True)
    got = pickleguard.torch_load(str(p))
    assert _tensors_equal(got, want)
    v = got["views"]
    assert v[1].untyped_storage().data_ptr() == v[0].untyped_storage().data_ptr()


def test_torch_mmap_and_big_endian(tmp_path):
    import zipfile
    sd = {"a": torch.arange(10, dtype=torch.int32), "b": torch.randn(3, 3, dtype=torch.float64),
          "c": torch.ones(2, dtype=torch.complex128)}
    p = tmp_path / "m.pt"
    torch.save(sd, p)
    got = pickleguard.torch_load(str(p), mmap=True)
    assert _tensors_equal(got, torch.load(p, weights_only=True, mmap=True))
    # the same checkpoint written big-endian: byteorder record + swapped data
    be = tmp_path / "be.pt"
    zin = zipfile.ZipFile(p)
    sizes = {}
    import pickletools
    with zipfile.ZipFile(be, "w", zipfile.ZIP_STORED) as z:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/byteorder"):
                data = b"big"
            z.writestr(info, data)
    # element sizes by record key, from the pickle's persistent ids
    keys = {}
    for t in sd.values():
        pass
    with zipfile.ZipFile(be) as z:
        names = z.namelist()
    # storages in torch.save order: a (int32), b (float64), c (complex128 -> 8-byte halves)
    order = [4, 8, 8]
    recs = sorted((n for n in names if "/data/" in n), key=lambda n: int(n.rsplit("/", 1)[1]))
    assert len(recs) == 3
    tmp = tmp_path / "be2.pt"
    with zipfile.ZipFile(be) as zi, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zo:
        for info in zi.infolist():
            data = zi.read(info)
            if info.filename in recs:
                w = order[recs.index(info.filename)]
                data = b"".join(data[i:i + w][::-1] for i in range(0, len(data), w))
            zo.writestr(info, data)
    got = pickleguard.torch_load(str(tmp))
    assert _tensors_equal(got, torch.load(p, weights_only=True))


def test_torch_refusals(tmp_path):
    p = tmp_path / "m.pt"
    torch.save({"x": torch.ones(4)}, p)
    import zipfile
    zin = zipfile.ZipFile(p)
    # a storage record shorter than the pickle says: refused before torch sees it
    out = tmp_path / "short.pt"
    with zipfile.ZipFile(out, "w") as z:
        for info in zin.infolist():
            data = zin.read(info)
            if "/data/" in info.filename:
                data = data[:8]
            z.writestr(info, data)
    with pytest.raises(pickleguard.PolicyError):
        pickleguard.torch_load(str(out))
    # TorchScript archive
    ts = tmp_path / "ts.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), ts)
    with pytest.raises(pickleguard.PolicyError, match="TorchScript"):
        pickleguard.torch_load(str(ts))
    # a whole pickled model needs globals the ml policy does not allow
    whole = tmp_path / "whole.pt"
    torch.save(torch.nn.Linear(2, 2), whole)
    with pytest.raises(pickleguard.PolicyError) as ei:
        pickleguard.torch_load(str(whole))
    assert ei.value.name and ei.value.name.startswith("torch.nn")


def _rezip(src, dst, extra=None, method=0, dup=None):
    """src's records written again by zipfile: `extra` (bytes) added to the
    local and central headers of the data/ records, `method` for every
    record, `dup` a record name written twice."""
    import zipfile
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", method) as zo:
        for info in zin.infolist():
            data = zin.read(info)
            zi = zipfile.ZipInfo(info.filename, info.date_time)
            zi.compress_type = method
            if extra is not None and "/data/" in info.filename:
                zi.extra = extra
            zo.writestr(zi, data)
            if info.filename == dup:
                import warnings
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    zo.writestr(zi, data)


def _rezip64(src, dst):
    """src's records stored again with every size and offset in the zip64
    extra field, and the zip64 end records (APPNOTE 4.3.14-4.3.16, 4.5.3):
    the layout torch.save writes for checkpoints over 4 GiB."""
    import struct
    import zipfile
    import zlib
    out, cd = bytearray(), bytearray()
    with zipfile.ZipFile(src) as zin:
        infos = zin.infolist()
        for info in infos:
            data = zin.read(info)
            name = info.filename.encode()
            crc, off = zlib.crc32(data), len(out)
            lx = struct.pack("<HHQQ", 1, 16, len(data), len(data))
            out += struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 45, 0, 0, 0, 0, 0, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(name), len(lx)) + name + lx + data
            cx = struct.pack("<HHQQQ", 1, 24, len(data), len(data), off)
            cd += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 45, 3, 45, 0, 0, 0, 0, 0, crc,
                              0xFFFFFFFF, 0xFFFFFFFF, len(name), len(cx), 0, 0, 0, 0,
                              0xFFFFFFFF) + name + cx
    cd_off = len(out)
    out += cd
    end64 = len(out)
    out += struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, len(infos), len(infos),
                       len(cd), cd_off)
    out += struct.pack("<4sLQL", b"PK\x06\x07", 0, end64, 1)
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                       0xFFFFFFFF, 0)
    with open(dst, "wb") as f:
        f.write(out)


def test_torch_zip_reader(tmp_path):
    """torch_load's own zip reader (one pass over the central directory,
    records read from their place) against torch.load on the layouts torch's
    reader takes: small, window-sized and large records, views, deflated
    records, zip64 records, records whose data is not aligned (mmap copies
    them); and the archives it refuses."""
    torch.manual_seed(1)
    big = torch.randn((4 << 20) // 4 + 5)            # over 4 MiB: its own prefaulted buffer
    sd = {"small": torch.randn(4, 4), "mid": torch.randn(300, 100, dtype=torch.float64),
          "big": big, "view": big[7:19], "c64": torch.ones(3, dtype=torch.complex64),
          "many": [torch.full((3,), float(i)) for i in range(300)], "n": 5}
    p = tmp_path / "m.pt"
    torch.save(sd, p)
    want = torch.load(p, weights_only=True)
    got = pickleguard.torch_load(str(p))
    assert _tensors_equal(got, want)
    assert got["view"].untyped_storage().data_ptr() == got["big"].untyped_storage().data_ptr()
    with open(p, "rb") as f:                           # no file descriptor: seek and read
        assert _tensors_equal(pickleguard.torch_load(io.BytesIO(f.read())), want)
    assert _tensors_equal(pickleguard.torch_load(str(p), mmap=True),
                          torch.load(p, weights_only=True, mmap=True))
    for name, make in [("deflated", lambda d: _rezip(p, d, method=8)),
                       ("zip64", lambda d: _rezip64(p, d)),
                       ("misaligned", lambda d: _rezip(p, d, extra=b"\xfe\xca\x01\x00\x00"))]:
        q = tmp_path / (name + ".pt")
        make(q)
        ref = torch.load(q, weights_only=True)
        assert _tensors_equal(ref, want), name       # torch reads this layout
        assert _tensors_equal(pickleguard.torch_load(str(q)), ref), name
        if name != "deflated":
            m = pickleguard.torch_load(str(q), mmap=True)
            assert _tensors_equal(m, torch.load(q, weights_only=True, mmap=True)), name
            assert all(t.data_ptr() % t.element_size() == 0
                       for t in (m["small"], m["mid"], m["big"], m["c64"])), name
    # refused: two records of one name, a local header naming another
    # record, a cut archive
    dup = tmp_path / "dup.pt"
    import zipfile
    with zipfile.ZipFile(p) as z:
        first = [n for n in z.namelist() if "/data/" in n][0]
    _rezip(p, dup, dup=first)
    with pytest.raises(pickleguard.PolicyError, match="two records"):
        pickleguard.torch_load(str(dup))
    raw = p.read_bytes()
    at = raw.index(first.encode())                   # its local header's copy of the name
    bad = tmp_path / "badname.pt"
    bad.write_bytes(raw[:at] + first.encode()[:-1] + b"Z" + raw[at + len(first):])
    with pytest.raises(pickleguard.PolicyError, match="local header"):
        pickleguard.torch_load(str(bad))
    for cut in (len(raw) // 2, len(raw) - 30, 100):
        short = tmp_path / "short.pt"
        short.write_bytes(raw[:cut])
        with pytest.raises(pickleguard.PolicyError):
            pickleguard.torch_load(str(short))


def test_torch_load_from_wrapping_file_objects(tmp_path):
    """A file object whose fileno() is not its own bytes' (a GzipFile's is
    the compressed file's) is read through its read/seek, as torch.load
    reads it; torch_load once read such records from the descriptor and
    returned garbage tensors. corpus/regressions/python/ holds the sample."""
    import gzip
    import lzma
    sample = os.path.join(ROOT, "corpus", "regressions", "python", "torch_in_gzip_fileobj.pt.gz")
    with gzip.open(sample, "rb") as f:
        want = torch.load(f, weights_only=True)
    with gzip.open(sample, "rb") as f:
        assert _tensors_equal(pickleguard.torch_load(f), want)
    assert torch.equal(want["a"], torch.arange(4.0))
    xz = tmp_path / "m.pt.xz"
    with gzip.open(sample, "rb") as f:
        xz.write_bytes(lzma.compress(f.read()))
    with lzma.open(xz, "rb") as f:
        assert _tensors_equal(pickleguard.torch_load(f), want)


# ---- numpy ---------------------------------------------------------------------

np = pytest.importorskip("numpy")


def test_numpy_arrays_and_scalars(tmp_path):
    arrs = [np.arange(12, dtype=np.int32).reshape(3, 4), np.asfortranarray(np.ones((2, 3))),
            np.array(["a", "bc"]), np.zeros((0,), dtype=np.complex128),
            np.array([(1, 2.5)], dtype=[("a", "<i4"), ("b", "<f8")])]
    for i, a in enumerate(arrs):
        p = tmp_path / ("a%d.npy" % i)
        np.save(p, a)
        got = pickleguard.numpy_load(str(p), policy="ml")
        want = np.load(p)
        assert got.dtype == want.dtype and np.array_equal(got, want)
    obj = np.array([1, "x", None], dtype=object)
    p = tmp_path / "obj.npy"
    np.save(p, obj, allow_pickle=True)
    with pytest.raises(ValueError):
        pickleguard.numpy_load(str(p), policy="ml")
    assert list(pickleguard.numpy_load(str(p), policy="ml", allow_pickle=True)) == [1, "x", None]
    z = tmp_path / "z.npz"
    np.savez(z, a=arrs[0], b=arrs[1])
    with pickleguard.numpy_load(str(z), policy="ml") as f:
        assert sorted(f.keys()) == ["a", "b"] and np.array_equal(f["a"], arrs[0])
    for v in [np.float64(1.5), np.int8(-3), arrs[0], np.dtype("<U3"), arrs[4]]:
        for proto in (2, 4, 5):
            data = pickle.dumps(v, protocol=proto)
            got = pickleguard.loads(data, policy="ml")
            want = pickle.loads(data)
            assert type(got) is type(want) and (np.array_equal(got, want) if isinstance(want, np.ndarray) else got == want)


# ---- scan ----------------------------------------------------------------------

def test_scan_matches_cli():
    cli = os.path.join(ROOT, os.environ.get("PKL_BUILD", "build"), "pickleguard")
    rows = [r for r in manifest() if r["kind"] in ("malicious", "benign", "malformed")]
    assert len(rows) > 300
    for r in rows:
        path = os.path.join(CORPUS, r["file"])
        out = subprocess.run([cli, "scan", "--format", "json", "--policy", "default", path],
                             capture_output=True, text=True)
        doc = json.loads(out.stdout)["files"][0]
        want = sorted((f["rule"], f["severity"], f["offset"], f["global"] or "", f["path"])
                      for f in doc["findings"])
        rep = pickleguard.scan(path, policy="default")
        got = sorted((f.rule, f.severity, f.offset, f.global_, f.path) for f in rep.findings)
        assert got == want, path
        assert rep.clean == (doc["verdict"] == "clean")
    assert pickleguard.scan(pickle.dumps([1, 2]), policy="strict").clean


def test_torch_extent_check_agrees_with_set_():
    """_check_extent refuses exactly the views torch's own set_ refuses."""
    import random
    from pickleguard import _torch as pt
    rnd = random.Random(7)
    for _ in range(500):
        nbytes = rnd.randrange(1, 64) * 4
        dims = rnd.randrange(0, 3)
        size = tuple(rnd.randrange(0, 5) for _ in range(dims))
        stride = tuple(rnd.randrange(0, 5) for _ in range(dims))
        off = rnd.randrange(0, 20)
        # a storage that cannot grow, as torch_load's are (set_ would
        # resize a resizable one instead of refusing)
        us = torch.frombuffer(bytearray(nbytes), dtype=torch.uint8).untyped_storage()
        try:
            torch.empty((0,), dtype=torch.float32).set_(us, off, size, stride)
            ok_torch = True
        except RuntimeError:
            ok_torch = False
        try:
            pt._check_extent(nbytes, 4, off, size, stride, "t")
            ok_pg = True
        except pickleguard.PolicyError:
            ok_pg = False
        assert ok_pg == ok_torch, (nbytes, off, size, stride)


import enum  # noqa: E402


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Shade(enum.Enum):
    DARK = 1
    __reduce_ex__ = enum.pickle_by_enum_name


def test_enum_members():
    pol = pickleguard.Policy(yaml="version: 1\nname: t\nextends: default\nallow:\n"
                                  "  - test_formats_py.Color\n  - test_formats_py.Shade\n")
    for proto in range(6):
        data = pickle.dumps([Color.RED, Shade.DARK, Color.GREEN], protocol=proto)
        got = pickleguard.loads(data, policy=pol)
        assert got == pickle.loads(data) and got[0] is Color.RED and got[1] is Shade.DARK
    with pytest.raises(pickleguard.PolicyError):
        pickleguard.loads(pickle.dumps(Shade.DARK), policy="default")


# numpy's dtype.__setstate__ takes the flags from the state whatever the
# type (python/pickleguard/_dtypes.py): an object dtype without its object
# flags makes numpy read object pointers from raw bytes, a float dtype
# with them makes it count references through the float's bytes. Built
# from raw opcodes; never given to pickle.loads or joblib.load (both would
# corrupt memory). The natural states (numpy's own pickles) still load.
def _dtype_pickle(descr, flags):
    return (b"\x80\x02cnumpy\ndtype\nX" + len(descr).to_bytes(4, "little") + descr
            + b"\x89\x88\x87R(K\x03X\x01\x00\x00\x00" + (b"|" if descr[:1] == b"O" else b"<")
            + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff" + b"J" + flags.to_bytes(4, "little")
            + b"tb.")


def test_dtype_flags_that_corrupt_memory_are_refused(tmp_path):
    natural = {b"O8": np.dtype("O").flags, b"f8": np.dtype("f8").flags}
    assert natural[b"O8"] & 1 and not natural[b"f8"] & 1  # numpy's own rule
    for descr, flags in ((b"O8", natural[b"O8"]), (b"f8", natural[b"f8"])):
        got = pickleguard.loads(_dtype_pickle(descr, flags), policy="ml")
        assert got == np.dtype(descr.decode()) and got.flags == flags
    for descr, flags in ((b"O8", 0), (b"O8", natural[b"O8"] & ~2), (b"f8", 1),
                         (b"f8", natural[b"O8"])):
        with pytest.raises(pickleguard.PolicyError, match="flags"):
            pickleguard.loads(_dtype_pickle(descr, flags), policy="ml")
    # joblib: an O8 wrapper whose dtype state has flags 0 makes joblib.load
    # read 8 raw bytes as an object pointer (here 0x4141414141414141)
    wrapper = (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}("
               b"X\x08\x00\x00\x00subclasscnumpy\nndarray\n"
               b"X\x05\x00\x00\x00shapeK\x01\x85X\x05\x00\x00\x00orderX\x01\x00\x00\x00C"
               b"X\x05\x00\x00\x00dtypecnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R"
               b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
               b"X\n\x00\x00\x00allow_mmap\x89ub" + b"A" * 8 + b".")
    p = tmp_path / "o8_flags0.joblib"
    p.write_bytes(wrapper)
    with pytest.raises(pickleguard.PolicyError, match="flags"):
        pickleguard.joblib_load(str(p), policy="ml")
    # the scan says so too (not clean): the joblib follower's finding
    rep = pickleguard.scan(str(p), policy="ml")
    assert any("dtype state sets object flags" in f.message for f in rep.findings), rep.findings
