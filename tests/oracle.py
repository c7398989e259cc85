#!/usr/bin/env python3
"""oracle.py -- the real-loader oracle (issue 14, item 8).

Runs each real loader on files, with every global replaced by a recorder,
and prints, per file, every global the loader asked for. Nothing from a
file is ever imported or called:

- find_class records (module, name) after the same Python 2 renames
  (_compat_pickle, protocol < 3, fix_imports) CPython's find_class
  applies (when a rename exists both spellings are recorded, as
  [raw, renamed]: the C unpickler hides its protocol, and the scan names an
  invalid name such as `__builtin__.set=p1` as written), and returns an inert stand-in: callable with any arguments,
  accepting __setstate__, item and attribute assignment, append/extend;
  for a module no dotted identifier path spells it raises, as the real
  import does (the load stops there), after recording the request;
- persistent_load is not replaced: pickle.load, numpy.load, joblib.load
  and shelve have none, so a PERSID stops them (_pickle.c load_persid,
  pickle.py's default persistent_load raise), and a recorder that returned
  stand-ins let the load go on where no real one can (a zip's "PK" is
  PERSID at byte 0); torch installs its own, which only reads storage
  bytes from the archive;
- pickle._Unpickler's EXT lookups go through a recording registry
  (copyreg's real one is left empty: the C unpickler then refuses EXT);
- loaders that need real data classes to keep their layout (joblib reads
  array bytes inline after a NumpyArrayWrapper; numpy.load rebuilds object
  arrays) get the real numpy.dtype / ndarray reconstructor / joblib
  wrapper classes, recorded like the rest; those only build data;
- an audit hook (sys.addaudithook) installed before any file is read
  aborts the worker (exit 97) on process creation (os.system, os.exec*,
  os.spawn*, os.posix_spawn, os.fork, subprocess.Popen), sockets,
  ctypes.dlopen and opening a file for writing outside the temporary
  directory, so a broken recorder fails loudly instead of running a
  payload.

Worker mode (one long-lived process per loader, file names on stdin, one
JSON line per file on stdout, a per-file alarm):

    python tests/oracle.py --worker LOADER < list-of-paths

LOADERS: cpickle, pypickle, torch, numpy, joblib, compressed, dbm.
Library use: `run_oracle(paths, loaders)` returns
{loader: {path: {"globals": [...], "ext": [...], "error": str}}}.
"""
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import types

LOADERS = ("cpickle", "pypickle", "torch", "numpy", "joblib", "compressed",
           "dbm")
# per-file time limit; ORACLE_FILE_SECONDS lowers it for fuzz campaigns
# (a loader stuck on a crafted file costs the campaign that much per case)
WORKER_DATA_BYTES = 3 << 30   # per worker process (RLIMIT_DATA)
PER_FILE_SECONDS = int(os.environ.get("ORACLE_FILE_SECONDS", "10"))

# real classes a layout-sensitive loader needs; they only build data
PASS_THROUGH = {
    "numpy.dtype", "numpy.ndarray",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "joblib.numpy_pickle_compat.NDArrayWrapper",
    "joblib.numpy_pickle_compat.ZNDArrayWrapper",
    # joblib < 0.10 pickles name them here (numpy_pickle imports them)
    "joblib.numpy_pickle.NDArrayWrapper",
    "joblib.numpy_pickle.ZNDArrayWrapper",
}
# torch's legacy tar loader reads `storage_type._dtype` of each storage
# record in `storages` to size the raw bytes after it: with a stand-in it
# fails there and never reaches the next record's pickle
PASS_THROUGH |= {"torch.%sStorage" % t for t in (
    "Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char",
    "Byte", "Bool", "ComplexDouble", "ComplexFloat", "QUInt8", "QInt8",
    "QInt32", "QUInt4x2", "QUInt2x4")}


class StandIn:
    """Inert: every operation a loader may apply succeeds and does nothing."""

    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return StandIn()

    def __setstate__(self, state):
        pass

    def __setitem__(self, k, v):
        pass

    def __getitem__(self, k):
        return StandIn()

    def append(self, x):
        pass

    def extend(self, x):
        pass

    def add(self, x):
        pass

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return StandIn()


def make_standin_class(qual):
    # a distinct class per global, so __reduce__-style NEWOBJ (cls.__new__)
    # and isinstance checks behave like on any class
    return type("StandIn_" + qual.replace(".", "_")[:60], (StandIn,), {})


class Recorder:
    """Mixed into both unpicklers."""
    passthrough = False

    def _init_rec(self):
        self.asked = []

    def find_class(self, module, name):
        import _compat_pickle
        proto = getattr(self, "proto", None)
        raw = "%s.%s" % (module, name)
        # the C unpickler keeps its protocol private: the mapping may or
        # may not apply, so both spellings are recorded ("raw|mapped")
        if (proto is None or proto < 3) and getattr(self, "fix_imports", True):
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        qual = "%s.%s" % (module, name)
        RECORD["globals"].append([raw] if qual == raw else [raw, qual])
        if not importable(module):
            # the real find_class (_pickle.c PyImport_Import, pickle.py
            # __import__(module, level=0)) fails here: "" is a ValueError,
            # a name no dotted identifier path spells is not found. A
            # stand-in would let the load go on where no real one can.
            if not module:
                raise ValueError("Empty module name")
            raise ModuleNotFoundError("No module named %r" % module)
        if self.passthrough and qual in PASS_THROUGH:
            return _real(module, name)
        return make_standin_class(qual)


RECORD = {"globals": [], "ext": []}


def importable(module):
    """Whether __import__ could find module at all: a dotted path of
    identifiers (what test_oracle counts as 'unimportable' otherwise)."""
    return all(m.isidentifier() for m in module.split("."))


def _real(module, name):
    import importlib
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def recorder_classes(passthrough=False):
    import pickle
    import _pickle

    class CRec(Recorder, _pickle.Unpickler):
        def __init__(self, *a, **k):
            _pickle.Unpickler.__init__(self, *a, **k)
            self._init_rec()
    CRec.passthrough = passthrough

    class PyRec(Recorder, pickle._Unpickler):
        def __init__(self, *a, **k):
            pickle._Unpickler.__init__(self, *a, **k)
            self._init_rec()
    PyRec.passthrough = passthrough
    return CRec, PyRec


class ExtRegistry(dict):
    """pickle.py looks EXT codes up with .get: record, name a stand-in."""

    def get(self, code, default=None):
        RECORD["ext"].append(code)
        return ("__ext__", "code%d" % code)


def recording_module(cls):
    """A stand-in for the pickle module, for loaders taking pickle_module=
    or calling pickle.load themselves."""
    import pickle
    m = types.ModuleType("pickle")
    m.Unpickler = cls
    m.UnpicklingError = pickle.UnpicklingError
    m.PicklingError = pickle.PicklingError
    m.HIGHEST_PROTOCOL = pickle.HIGHEST_PROTOCOL
    m.DEFAULT_PROTOCOL = pickle.DEFAULT_PROTOCOL
    m.__version__ = getattr(pickle, "format_version", "4.0")

    def load(f, **kw):
        return cls(f, **kw).load()

    def loads(b, **kw):
        import io
        return cls(io.BytesIO(b), **kw).load()
    m.load = load
    m.loads = loads
    m.dump = pickle.dump
    m.dumps = pickle.dumps
    m.Pickler = pickle.Pickler
    return m


def load_all(cls, f):
    """Repeated pickle.load on one stream, as a program reading a file of
    pickles would: until an error or the end."""
    while True:
        pos = f.tell()
        if f.read(1) == b"":
            return
        f.seek(pos)
        cls(f).load()


# ---------------------------------------------------------------- loaders
def run_cpickle(path):
    CRec, _ = recorder_classes()
    with open(path, "rb") as f:
        load_all(CRec, f)


def run_pypickle(path):
    import pickle
    _, PyRec = recorder_classes()
    pickle._extension_registry = ExtRegistry()
    with open(path, "rb") as f:
        load_all(PyRec, f)


def run_torch(path):
    import torch
    import torch.serialization
    CRec, _ = recorder_classes(passthrough=True)
    mod = recording_module(CRec)
    # torch 1.13 (Debian 12's python3-torch) ignores pickle_module= when
    # weights_only is False (`else: pickle_module = pickle` in
    # torch/serialization.py load): its own module global is the way in.
    torch.serialization.pickle = mod
    torch.load(path, pickle_module=mod, weights_only=False,
               map_location="cpu")


def record_numpy_pickles():
    """numpy.load's pickle.load calls (an object .npy, a non-npy file with
    allow_pickle) go through the recorder."""
    CRec, _ = recorder_classes(passthrough=True)
    mod = recording_module(CRec)
    for name in ("numpy.lib._format_impl", "numpy.lib.format",
                 "numpy.lib._npyio_impl", "numpy.lib.npyio"):
        m = sys.modules.get(name)
        if m is not None and hasattr(m, "pickle"):
            m.pickle = mod


def run_numpy(path):
    import numpy
    record_numpy_pickles()
    r = numpy.load(path, allow_pickle=True)
    if hasattr(r, "files"):
        with r:
            for k in r.files:
                r[k]


def run_joblib(path):
    import joblib.numpy_pickle as jnp
    import pickle
    CRec, PyRec = recorder_classes(passthrough=True)
    jnp.pickle = recording_module(CRec)
    import joblib.numpy_pickle_compat as jnc
    # the pre-0.10 paths: a ZF file's pickle goes to ZipNumpyUnpickler
    # (load_compatibility), an NDArrayWrapper's side file to numpy.load
    # with allow_pickle=True
    record_numpy_pickles()
    classes = (jnp.NumpyUnpickler, jnc.ZipNumpyUnpickler)
    origs = [c.__dict__.get("find_class") for c in classes]
    for c in classes:
        c.find_class = lambda self, m, n: \
            Recorder.find_class(_JoblibShim(self), m, n)
    try:
        import joblib
        joblib.load(path)
    finally:
        for c, o in zip(classes, origs):
            if o is None:
                del c.find_class
            else:
                c.find_class = o
    del pickle


class _JoblibShim:
    passthrough = True

    def __init__(self, u):
        self.proto = getattr(u, "proto", 0)
        self.fix_imports = getattr(u, "fix_imports", True)


def zstd_open():
    """compression.zstd.open (Python 3.14), else the PyPI backport of the
    same module (backports.zstd, requirements/test.txt): every frame read,
    skippable frames skipped (Lib/compression/zstd/_zstdfile.py over
    Lib/compression/_common/_streams.py DecompressReader). None when
    neither is installed."""
    try:
        from compression import zstd
    except ImportError:
        try:
            from backports import zstd
        except ImportError:
            return None
    return zstd.open


def run_compressed(path):
    import bz2
    import gzip
    import lzma
    with open(path, "rb") as f:
        head = f.read(6)
    opener = None
    # skippable-frame magic 0x184D2A5X, little-endian: 5X 2A 4D 18
    if len(head) >= 4 and head[1:4] == b"\x2a\x4d\x18" and \
            0x50 <= head[0] <= 0x5f:
        head = b"\x28\xb5\x2f\xfd"
    if head[:2] == b"\x1f\x8b":
        opener = gzip.open
    elif head[:3] == b"BZh":
        opener = bz2.open
    elif head[:6] == b"\xfd7zXZ\x00" or head[:1] == b"\x5d":
        opener = lzma.open
    elif head[:4] == b"\x28\xb5\x2f\xfd":
        opener = zstd_open()
    if opener is None:
        raise ValueError("no compressed stream")
    CRec, _ = recorder_classes()
    with opener(path, "rb") as f:
        load_all(CRec, f)


def run_dbm(path):
    import dbm
    import io
    CRec, _ = recorder_classes()
    base = path
    for suf in (".db", ".dat", ".dir", ".bak"):
        if path.endswith(suf):
            base = path[:-len(suf)]
    with dbm.open(base, "r") as db:
        for k in db.keys():
            try:
                CRec(io.BytesIO(db[k])).load()
            except Exception:
                pass


RUNNERS = {"cpickle": run_cpickle, "pypickle": run_pypickle,
           "torch": run_torch, "numpy": run_numpy, "joblib": run_joblib,
           "compressed": run_compressed, "dbm": run_dbm}


# ---------------------------------------------------------------- guard
class Payload(Exception):
    pass


def install_guard(tmpdir):
    forbidden = ("os.system", "os.exec", "os.spawn", "os.posix_spawn",
                 "os.fork", "os.forkpty", "subprocess.Popen", "socket.",
                 "ctypes.dlopen", "ctypes.call_function", "os.kill",
                 "webbrowser.open")
    in_tmp = ("os.remove", "os.rename", "os.rmdir", "shutil.rmtree",
              "os.mkdir")

    def hook(event, args):
        if event in in_tmp:
            # torch's legacy tar loader extracts into a temporary directory
            # and removes it with shutil.rmtree, whose fd-based walk removes
            # names relative to a dir_fd (args[1]) below the tree it was
            # given (checked at its own event)
            p = os.path.realpath(str(args[0])) if args else ""
            if len(args) > 1 and isinstance(args[1], int) and args[1] >= 0 \
                    and not os.path.isabs(str(args[0])):
                # dir_fd-relative (shutil.rmtree's fd walk, torch's
                # mkdtemp cleanup after its legacy tar loader)
                base = os.readlink("/proc/self/fd/%d" % args[1])
                p = os.path.realpath(os.path.join(base, str(args[0])))
            if p.startswith(tmpdir + os.sep):
                return
            sys.stderr.write("oracle: %s %r outside %s: ABORT\n"
                             % (event, p, tmpdir))
            sys.stderr.flush()
            os._exit(97)
        if event.startswith(forbidden):
            sys.stderr.write("oracle: audit event %s %r: ABORT\n"
                             % (event, args[:2]))
            sys.stderr.flush()
            os._exit(97)
        if event == "open" and len(args) > 1 and isinstance(args[1], str) \
                and any(c in args[1] for c in "wax+"):
            p = os.path.abspath(str(args[0]))
            if not p.startswith(tmpdir) and not p.startswith("/dev/null"):
                sys.stderr.write("oracle: open for write %s: ABORT\n" % p)
                sys.stderr.flush()
                os._exit(97)
    sys.addaudithook(hook)


def worker(loader):
    import warnings
    warnings.simplefilter("ignore")
    # import what the loader needs before the guard and before any file
    if loader == "torch":
        import torch  # noqa: F401
    elif loader in ("numpy", "joblib"):
        import numpy  # noqa: F401
        import numpy.lib.format  # noqa: F401
        if loader == "joblib":
            import joblib  # noqa: F401
            import joblib.numpy_pickle_compat  # noqa: F401
    elif loader == "compressed":
        import bz2, gzip, lzma  # noqa: F401,E401
        zstd_open()  # imported before the guard
    elif loader == "dbm":
        import dbm, dbm.dumb  # noqa: F401,E401
        try:
            import dbm.gnu  # noqa: F401
        except ImportError:
            pass
    import _compat_pickle  # noqa: F401
    import importlib  # noqa: F401
    tmpdir = os.path.realpath(tempfile.gettempdir())
    install_guard(tmpdir)
    # A crafted file can make a real loader build gigabytes (a LONG of
    # millions of digits, a huge repeat); on a shared machine that must be
    # the loader's MemoryError, as on a host with less memory, not the
    # kernel's OOM killer picking some other process.
    resource.setrlimit(resource.RLIMIT_DATA, (WORKER_DATA_BYTES,
                                              WORKER_DATA_BYTES))

    def alarm(signum, frame):
        raise TimeoutError("per-file time limit")
    signal.signal(signal.SIGALRM, alarm)
    run = RUNNERS[loader]
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        RECORD["globals"] = []
        RECORD["ext"] = []
        err = None
        try:
            signal.alarm(PER_FILE_SECONDS)
            try:
                run(path)
            finally:
                signal.alarm(0)
        except Exception as e:  # any refusal, and the time limit
            err = "%s: %s" % (type(e).__name__, str(e)[:200])
        out = {"path": path, "globals": RECORD["globals"],
               "ext": RECORD["ext"], "error": err}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


def run_oracle(paths, loaders=LOADERS, python=None, timeout=600):
    """{loader: {path: record}}; a loader whose library is missing is
    absent (its worker exits 3). A worker killed by a signal (a real
    loader crashing on a crafted file: native code in numpy, torch...)
    is restarted on the files after the one it was reading, which gets
    the record {"globals": [], "crashed": signal, "error": ...}: what it
    asked for before the crash is unknown. The guard's abort (97) and any
    other failure raise."""
    python = python or sys.executable
    res = {}
    for loader in loaders:
        recs = {}
        todo = list(paths)
        while todo:
            p = subprocess.run([python, os.path.abspath(__file__), "--worker",
                                loader], input="\n".join(todo) + "\n",
                               capture_output=True, text=True,
                               timeout=timeout)
            if p.returncode == 3:
                recs = None
                break
            for ln in p.stdout.splitlines():
                r = json.loads(ln)
                recs[r["path"]] = r
            if p.returncode == 0:
                break
            if p.returncode > 0:
                raise RuntimeError("oracle worker %s failed (%d): %s"
                                   % (loader, p.returncode,
                                      p.stderr[-2000:]))
            todo = [x for x in todo if x not in recs]
            if not todo:
                break
            bad = todo.pop(0)
            recs[bad] = {"path": bad, "globals": [], "ext": [],
                         "crashed": -p.returncode,
                         "error": "worker killed by signal %d"
                         % -p.returncode}
        if recs is not None:
            res[loader] = recs
    return res


def main(argv):
    if len(argv) == 3 and argv[1] == "--worker":
        loader = argv[2]
        try:
            if loader == "torch":
                import torch  # noqa: F401
            elif loader == "numpy":
                import numpy  # noqa: F401
            elif loader == "joblib":
                import joblib  # noqa: F401
        except ImportError:
            return 3
        worker(loader)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
