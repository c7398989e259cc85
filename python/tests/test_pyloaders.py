"""joblib_load, torch_load's legacy formats and shelve_open over every back
end: values equal to what the real loaders return on files the real
libraries wrote (joblib.dump with each compressor, torch.save with
_use_new_zipfile_serialization=False, shelves written by Debian's python3
with dbm.gnu / dbm.ndbm); hostile variants built from raw bytes raise
PolicyError with a sys.addaudithook recorder seeing nothing run."""
import io
import json
import os
import pickle
import shutil
import sqlite3
import struct
import subprocess
import sys
import tarfile

import pytest

import pickleguard
from conftest import CORPUS

FORMATS = os.path.join(CORPUS, "formats")

_events = []
_recording = [None]


def _hook(event, args):
    allowed = _recording[0]
    if allowed is None:
        return
    if event == "compile" and len(args) > 1 and args[1] == "<unknown>":
        return  # ast.parse (dbm.dumb reads its index with ast.literal_eval);
        # eval/exec/compile of a payload come as "<string>" and exec events
    if event in ("import", "exec", "compile", "os.system", "os.exec", "os.posix_spawn",
                 "subprocess.Popen", "os.spawn"):
        _events.append((event, repr(args)[:200]))
    elif (event == "open" and args and isinstance(args[0], (str, bytes))
          and not any(os.fsdecode(args[0]).startswith(a) for a in allowed)):
        _events.append((event, repr(args)[:200]))


sys.addaudithook(_hook)


def refused_quietly(fn, *allowed_dirs):
    """fn() raises PolicyError and the recorder sees no import, exec,
    compile, process or open outside allowed_dirs."""
    _events.clear()
    _recording[0] = tuple(str(a) for a in allowed_dirs) + (CORPUS,)
    try:
        with pytest.raises(pickleguard.PolicyError) as ei:
            fn()
    finally:
        _recording[0] = None
    assert _events == [], _events
    return ei.value


def test_recorder_can_fail(tmp_path):
    def bad(f):
        def run():
            f()
            raise pickleguard.PolicyError("x")
        return run
    for f in (lambda: os.system("true"), lambda: eval("1"),
              lambda: open(os.path.join(os.path.dirname(CORPUS), "README.md")).close()):
        with pytest.raises(AssertionError):
            refused_quietly(bad(f), tmp_path)


# ---- joblib --------------------------------------------------------------------

np = pytest.importorskip("numpy")


def _same(a, b):
    if isinstance(a, np.ndarray):
        return (type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
                and a.strides == b.strides and a.flags.writeable == b.flags.writeable
                and (a.tolist() == b.tolist()))
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def _joblib_objects():
    return {
        "f32": np.arange(12, dtype=np.float32).reshape(3, 4),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "big_endian": np.arange(5, dtype=">i4"),
        "empty": np.zeros((0, 3)),
        "record": np.zeros(3, dtype=[("x", "<i2"), ("y", "S3")]),
        "unicode": np.array(["ab", "c"]),
        "objects": np.array([1, "x", None, (2, 3)], dtype=object),
        "scalar0d": np.array(5.0),
        "nested": [np.ones(2), (np.int64(3), np.ones((2, 2), dtype=np.complex64))],
        "plain": {"epoch": 3, "name": "m"},
    }


COMPRESSORS = [0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3), ("lz4", 3)]


@pytest.mark.parametrize("compress", COMPRESSORS,
                         ids=[c[0] if c else "raw" for c in COMPRESSORS])
def test_joblib_equals_joblib_load(tmp_path, compress):
    joblib = pytest.importorskip("joblib")
    if compress and compress[0] == "lz4":
        pytest.importorskip("lz4")
    p = tmp_path / "obj.joblib"
    joblib.dump(_joblib_objects(), p, compress=compress)
    want = joblib.load(p)
    assert _same(pickleguard.joblib_load(str(p), policy="ml"), want)
    with open(p, "rb") as f:  # a file object: read, never mapped
        assert _same(pickleguard.joblib_load(f, policy="ml"), want)


def test_joblib_mmap_and_old_protocol(tmp_path):
    joblib = pytest.importorskip("joblib")
    p = tmp_path / "obj.joblib"
    joblib.dump(_joblib_objects(), p)
    for mode in ("r", "c"):
        want = joblib.load(p, mmap_mode=mode)
        got = pickleguard.joblib_load(p, policy="ml", mmap_mode=mode)
        assert type(got["f32"]) is np.memmap and _same(got, want)
    for proto in (2, 3):
        joblib.dump(_joblib_objects(), p, protocol=proto)
        assert _same(pickleguard.joblib_load(p, policy="ml"), joblib.load(p))


def test_joblib_sklearn_models(tmp_path):
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("sklearn")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    X = np.random.RandomState(0).rand(60, 4)
    y = (X[:, 0] > .5).astype(int)
    p = tmp_path / "model.joblib"
    for m in (DecisionTreeClassifier(max_depth=3), LogisticRegression(),
              RandomForestClassifier(n_estimators=3, max_depth=2, random_state=0)):
        m.fit(X, y)
        joblib.dump(m, p, compress=3)
        want = joblib.load(p).predict_proba(X)
        got = pickleguard.joblib_load(p, policy="sklearn")
        assert type(got) is type(m)
        assert (got.predict_proba(X) == want).all()


def _joblib_bytes(tmp_path, obj, **kw):
    joblib = pytest.importorskip("joblib")
    p = tmp_path / "base.joblib"
    joblib.dump(obj, p, **kw)
    return p.read_bytes()


def test_joblib_hostile(tmp_path):
    # a call of posix.system after an array, in the main stream (protocol 2:
    # no frames, so opcodes can be put in place of a marker string)
    data = _joblib_bytes(tmp_path, [np.arange(3.0), "MARKER!!"], protocol=2)
    marker = b"X\x08\x00\x00\x00MARKER!!"
    assert data.count(marker) == 1
    evil = data.replace(marker, b"cposix\nsystem\nX\x04\x00\x00\x00true\x85R")
    p = tmp_path / "evil.joblib"
    p.write_bytes(evil)
    pickleguard.joblib_load(tmp_path / "base.joblib", policy="ml")  # warm imports
    e = refused_quietly(lambda: pickleguard.joblib_load(p, policy="ml"), tmp_path)
    assert e.name == "posix.system"
    # the same, compressed (joblib sniffs the compressor from the first bytes)
    import zlib
    pz = tmp_path / "evil.z"
    pz.write_bytes(zlib.compress(evil))
    refused_quietly(lambda: pickleguard.joblib_load(pz, policy="ml"), tmp_path)
    # an object array's nested pickle: joblib.load unpickles it where the
    # wrapper's BUILD ends
    data = _joblib_bytes(tmp_path, [np.array(["x"], dtype=object)])
    from pickleguard._pickleguard import _joblib_split
    _, parts = _joblib_split(data)
    (off, n, _k), = [x for x in parts if x[2] == 2]
    nested = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."
    p.write_bytes(data[:off] + nested + data[off + n:])
    e = refused_quietly(lambda: pickleguard.joblib_load(p, policy="ml"), tmp_path)
    assert e.name == "posix.system"


def test_joblib_malformed(tmp_path):
    joblib = pytest.importorskip("joblib")
    data = _joblib_bytes(tmp_path, {"a": np.arange(1000, dtype=np.int64)})
    p = tmp_path / "cut.joblib"
    p.write_bytes(data[:len(data) // 2])   # array bytes cut short
    with pytest.raises(Exception):
        joblib.load(p)                     # the real loader fails too
    refused_quietly(lambda: pickleguard.joblib_load(p, policy="ml"), tmp_path)
    # a wrapper whose shape claims more elements than the file holds
    data = _joblib_bytes(tmp_path, {"a": np.arange(4, dtype=np.int64)}, protocol=2)
    assert data.count(b"K\x04\x85") == 1
    p.write_bytes(data.replace(b"K\x04\x85", b"J\x00\x00\x00\x10\x85"))
    refused_quietly(lambda: pickleguard.joblib_load(p, policy="ml"), tmp_path)
    # trailing bytes after a zlib stream, and the pre-0.10 'ZF' format
    import zlib
    p.write_bytes(zlib.compress(data) + b"junk")
    refused_quietly(lambda: pickleguard.joblib_load(p, policy="ml"), tmp_path)
    p.write_bytes(b"ZF0x1c" + b" " * 13 + zlib.compress(data))
    refused_quietly(lambda: pickleguard.joblib_load(p, policy="ml"), tmp_path)
    # a decompression bomb stops at the policy's max_bytes
    bomb = tmp_path / "bomb.gz"
    import gzip
    bomb.write_bytes(gzip.compress(b"\0" * (4 << 20)))
    small = pickleguard.Policy(yaml="version: 1\nname: s\nextends: ml\nlimits:\n  max_bytes: 1MiB\n")
    e = refused_quietly(lambda: pickleguard.joblib_load(bomb, policy=small), tmp_path)
    assert "max_bytes" in str(e)
    # a policy without NumpyArrayWrapper refuses the wrapper by name
    p.write_bytes(data)
    e = refused_quietly(lambda: pickleguard.joblib_load(p, policy="default"), tmp_path)
    assert e.name == "joblib.numpy_pickle.NumpyArrayWrapper"


# ---- torch legacy formats ------------------------------------------------------

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


def test_torch_legacy_stacked(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    objs = {
        "sd": model.state_dict(),
        "views": [base, base[1:, 2:], base.t()],
        "dtypes": [torch.ones(3, dtype=d) for d in (torch.int8, torch.int64, torch.bool,
                                                   torch.float16, torch.bfloat16, torch.complex64)],
        "param": torch.nn.Parameter(torch.ones(2)),
        "empty": torch.empty(0, 5),
        "misc": {"epoch": 3, "size": torch.Size([2, 3]), "dt": torch.float32},
    }
    p = tmp_path / "legacy.pt"
    torch.save(objs, p, _use_new_zipfile_serialization=False)
    want = torch.load(p, weights_only=True)
    got = pickleguard.torch_load(str(p))
    assert _tensors_equal(got, want)
    v = got["views"]
    assert v[1].untyped_storage().data_ptr() == v[0].untyped_storage().data_ptr()
    with open(p, "rb") as f:
        assert _tensors_equal(pickleguard.torch_load(io.BytesIO(f.read())), want)
    for name in ("torch_legacy.pt", "torch_legacy_trailing.pt"):
        path = os.path.join(FORMATS, name)
        assert _tensors_equal(pickleguard.torch_load(path), torch.load(path, weights_only=True))


def _stacked(main, keys, storages):
    """A legacy torch.save file from raw pieces."""
    head = (pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + pickle.dumps(1001, protocol=2)
            + pickle.dumps({"protocol_version": 1001, "little_endian": True,
                            "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2))
    return head + main + pickle.dumps(keys, protocol=2) + storages


# _rebuild_tensor_v2(persid(('storage', FloatStorage, '0', 'cpu', NUMEL, None)),
#                    0, (N,), (1,), False, OrderedDict())
def _main(numel, size):
    pid = (b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
           + b"J" + struct.pack("<i", numel) + b"Nt" + b"Q")
    return (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"K\x00J"
            + struct.pack("<i", size) + b"\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR.")


def test_torch_legacy_hostile(tmp_path):
    p = tmp_path / "x.pt"
    good = _stacked(_main(3, 3), ["0"], struct.pack("<q", 3) + struct.pack("<3f", 1, 2, 3))
    p.write_bytes(good)
    want = torch.load(p, weights_only=True)
    assert _tensors_equal(pickleguard.torch_load(p), want)
    cases = {
        "main pickle calls posix.system":
            _stacked(b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R.", [], b""),
        "numel far beyond the file": _stacked(_main(1 << 30, 3), ["0"], struct.pack("<q", 1 << 30)),
        "size header disagrees": _stacked(_main(3, 3), ["0"], struct.pack("<q", 2) + b"\0" * 12),
        "storage data cut short": good[:-4],
        "tensor beyond its storage": _stacked(_main(3, 4), ["0"], good[-20:]),
        "storage never written": _stacked(_main(3, 3), [], b""),
        "key listed twice": _stacked(_main(3, 3), ["0", "0"], good[-20:] * 2),
        "bad magic": b"\x80\x02K\x01." + good[good.index(b".") + 1:],
    }
    # torch hands out an uninitialised storage when its key is not listed,
    # and reads a storage listed twice twice: both are refused here
    torch_accepts = {"storage never written", "key listed twice"}
    for what, data in cases.items():
        p.write_bytes(data)
        if what not in torch_accepts:
            with pytest.raises(Exception):
                torch.load(p, weights_only=True)  # the real loader refuses as well
        e = refused_quietly(lambda: pickleguard.torch_load(p), tmp_path)
        print(what, "->", e)


def _tar_checkpoint(path, pickle_bytes=None, tensor_header=None):
    """torch's legacy tar format (legacy_load): storages, tensors and pickle
    members, written by hand from its layout."""
    st = io.BytesIO()
    st.write(pickle.dumps(1, protocol=2))
    st.write(pickle.dumps((7, "cpu", torch.FloatStorage), protocol=2))
    st.write(struct.pack("<q", 6) + struct.pack("<6f", *range(6)))
    st.write(pickle.dumps([(8, 7, 2, 3)], protocol=2))  # a view: elements 2..4
    te = io.BytesIO()
    te.write(pickle.dumps(2, protocol=2))
    te.write(pickle.dumps((11, 7, torch.FloatTensor), protocol=2))
    te.write(tensor_header or (struct.pack("<ii", 2, 0) + struct.pack("<2q", 2, 3)
                               + struct.pack("<2q", 3, 1) + struct.pack("<q", 0)))
    te.write(pickle.dumps((12, 8, torch.FloatTensor), protocol=2))
    te.write(struct.pack("<ii", 1, 0) + struct.pack("<qqq", 2, 1, 1))

    class Ref:
        def __init__(self, pid):
            self.pid = pid

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return obj.pid if isinstance(obj, Ref) else None

    main = io.BytesIO()
    P(main, protocol=2).dump({"m": Ref("11"), "v": Ref("12")})
    members = {"sys_info": pickle.dumps({"protocol_version": 1001, "little_endian": True,
                                         "type_sizes": {"short": 2, "int": 4, "long": 8}},
                                        protocol=2),
               "storages": st.getvalue(), "tensors": te.getvalue(),
               "pickle": pickle_bytes or main.getvalue()}
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for n, b in members.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(b)
            tf.addfile(ti, io.BytesIO(b))


TAR_POLICY = "version: 1\nname: tar\nextends: ml\nallow:\n  - torch.FloatTensor\n"


def test_torch_legacy_tar(tmp_path):
    p = tmp_path / "legacy.tar"
    _tar_checkpoint(p)
    # torch.load refuses the tar format with weights_only=True; this file is
    # ours and benign, so the reference is torch's own legacy_load
    want = torch.load(p, weights_only=False)
    pol = pickleguard.Policy(yaml=TAR_POLICY)
    got = pickleguard.torch_load(p, policy=pol)
    assert _tensors_equal(got, want)
    assert torch.equal(got["v"], torch.tensor([3.0, 4.0]))
    # the tensors member names torch.FloatTensor: refused unless allowed
    e = refused_quietly(lambda: pickleguard.torch_load(p), tmp_path)
    assert e.name == "torch.FloatTensor"
    # a tensor reaching past its storage
    _tar_checkpoint(p, tensor_header=struct.pack("<ii", 1, 0) + struct.pack("<qqq", 7, 1, 0))
    refused_quietly(lambda: pickleguard.torch_load(p, policy=pol), tmp_path)
    # the corpus sample whose pickle member calls os.system
    evil = os.path.join(FORMATS, "torch_tar_evil.tar")
    refused_quietly(lambda: pickleguard.torch_load(evil, policy=pol), tmp_path)
    _tar_checkpoint(p, pickle_bytes=b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R.")
    e = refused_quietly(lambda: pickleguard.torch_load(p, policy=pol), tmp_path)
    assert e.name == "posix.system"


# ---- shelves -------------------------------------------------------------------

SHELF_VALUES = {"alpha": {"name": "tiny", "sizes": [1, 2, 3], "ok": True},
                "beta": [1, 2.5, None, "x"], "k\u00e9y": "v" * 5000}

_WRITE = """
import dbm.{mod} as m, json, shelve, sys
db = m.open(sys.argv[1], "c")
with shelve.Shelf(db) as s:
    for k, v in json.loads(sys.argv[2]).items():
        s[k] = v
with shelve.open(sys.argv[1], "r") as s:
    print(json.dumps(dict(s)))
"""


@pytest.mark.parametrize("mod", ["gnu", "ndbm", "dumb"])
def test_shelf_backends_equal_shelve(tmp_path, mod):
    """Shelves written, and read back, by Debian's python3 (whose dbm.ndbm is
    Berkeley DB): pickleguard.shelve_open returns the same mapping."""
    syspy = shutil.which("python3", path="/usr/bin")
    if not syspy:
        pytest.skip("no /usr/bin/python3")
    check = subprocess.run([syspy, "-c", "import dbm.%s" % mod], capture_output=True)
    if check.returncode:
        pytest.skip("/usr/bin/python3 has no dbm.%s (python3-gdbm is in scripts/deps.sh)" % mod)
    path = str(tmp_path / "cache")
    r = subprocess.run([syspy, "-c", _WRITE.format(mod=mod), path, json.dumps(SHELF_VALUES)],
                       capture_output=True, text=True, check=True)
    want = json.loads(r.stdout)
    assert want == SHELF_VALUES
    with pickleguard.shelve_open(path, policy="default") as s:
        assert dict(s) == want and len(s) == len(want) and "alpha" in s and "nope" not in s


def test_shelf_sqlite3(tmp_path):
    """dbm.sqlite3's layout (Lib/dbm/sqlite3.py, Python 3.13: table Dict of
    BLOB keys and values), written with sqlite3 as that module does."""
    path = tmp_path / "cache.sqlite"
    cx = sqlite3.connect(path)
    cx.execute("CREATE TABLE IF NOT EXISTS Dict (key BLOB UNIQUE NOT NULL, value BLOB NOT NULL)")
    for k, v in SHELF_VALUES.items():
        cx.execute("REPLACE INTO Dict (key, value) VALUES (CAST(? AS BLOB), CAST(? AS BLOB))",
                   (k.encode(), pickle.dumps(v)))
    cx.commit()
    cx.close()
    with pickleguard.shelve_open(path, policy="default") as s:
        assert dict(s) == SHELF_VALUES and s["beta"] == SHELF_VALUES["beta"]
    # a WAL-mode shelf: read without creating -shm/-wal files next to it
    wal = tmp_path / "wal.db"
    shutil.copy(os.path.join(FORMATS, "shelf_sqlite_wal.db"), wal)
    with pickleguard.shelve_open(wal, policy="default") as s:
        assert s["beta"] == [1, 2, 3]
    assert sorted(os.listdir(tmp_path)) == ["cache.sqlite", "wal.db"]
    # a view named Dict (here an endless recursive one) is refused, not run
    view = os.path.join(FORMATS, "shelf_sqlite_view.db")
    refused_quietly(lambda: pickleguard.shelve_open(view, policy="default"), tmp_path)


EVIL_SHELVES = ["shelf_dumb_evil", "shelf_evil.gdbm", "shelf_ndbm_evil", "shelf_sqlite_evil.db"]


@pytest.mark.parametrize("name", EVIL_SHELVES)
def test_shelf_hostile(tmp_path, name):
    good = {"shelf_dumb_evil": "shelf_dumb", "shelf_evil.gdbm": "shelf.gdbm",
            "shelf_ndbm_evil": "shelf_ndbm", "shelf_sqlite_evil.db": "shelf_sqlite.db"}[name]
    with pickleguard.shelve_open(os.path.join(FORMATS, good), policy="default") as s:
        assert sorted(s) == ["alpha", "beta"] or sorted(s) == ["alpha", "beta", "big"]
        assert s["beta"] == [1, 2, 3]

    def load_all():
        with pickleguard.shelve_open(os.path.join(FORMATS, name), policy="default") as s:
            return {k: s[k] for k in s}
    refused_quietly(load_all, tmp_path)
