#!/usr/bin/env python3
"""Generates corpus/modern/: files written by the current (2026) writers --
torch 2.13, NumPy 2.4, joblib 1.6, scikit-learn 1.9, pandas 3.1 -- from the
pinned packages of requirements/test.txt (run by `make corpus`, in .venv):

    .venv/bin/python corpus/modern/gen/gen_modern.py corpus/modern

writes the files, MANIFEST.tsv (the columns of corpus/formats/MANIFEST.tsv,
replayed by tests/test_modern.py), VERSIONS.txt (the writers' versions) and
GLOBALS.tsv (every global each pickle names, read with pickletools.genops:
the source of the `sklearn` and `pandas` policies, see docs/policy.md).

Rules: nothing here is unpickled except benign objects this script has
just written, and only to cross-check them. Stream lengths come from
zipfile, pickletools.genops and numpy.lib.format, never from pickleguard.
Output is deterministic where the writer allows: torch, numpy and the
estimators are seeded; zip timestamps are fixed by the writers; the legacy
torch format's storage keys (memory addresses) are renamed to fixed text of
the same length, as corpus/formats does, and the legacy file has a single
storage (with several, their order follows the addresses). torch's zip writer is itself
deterministic (no timestamps; `.data/serialization_id` is derived from the
content: two runs give the same bytes), but its archive folder is the file
name, so the files are written under their final names.
"""
import collections
import io
import os
import pickle
import pickletools
import platform
import random
import sys
import zipfile

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import joblib  # noqa: E402
import lz4  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else "corpus/modern"
ROWS = []      # file, format, streams, problems, scan_ml, load_ml, note
GLOBALS = []   # (file, stream, sorted global names)


def seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def path(name):
    return os.path.join(OUT, name)


def row(name, fmt, streams, scan, load, note):
    s = ";".join("%s:%d" % (p, n) for p, n in streams) or "-"
    ROWS.append((name, fmt, s, "-", scan, load, note))


def resolve(module, name, proto):
    """(module, name) as pickle.Unpickler.find_class resolves them: the
    Python 2 renames apply below protocol 3 (Lib/pickle.py, find_class)."""
    import _compat_pickle
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return module + "." + name


def globals_of(data):
    """The resolved globals one pickle names (GLOBAL/INST text, STACK_GLOBAL's two
    string operands, through the memo), from pickletools.genops."""
    names, strings, memo = set(), [], {}
    last, proto = None, 0
    for op, arg, pos in pickletools.genops(io.BytesIO(data)):
        if op.name == "PROTO":
            proto = arg
        if op.name in ("GLOBAL", "INST"):
            names.add(resolve(*arg.split(" ", 1), proto))
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            strings.append(arg)
            last = arg
            continue
        elif op.name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
            key = len(memo) if op.name == "MEMOIZE" else arg
            memo[key] = last
            continue
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):
            strings.append(memo.get(arg))
            last = memo.get(arg)
            continue
        elif op.name == "STACK_GLOBAL":
            names.add(resolve(strings[-2], strings[-1], proto))
        last = None
        strings = strings[-2:]
    return sorted(names)


def record_globals(name, stream, data):
    GLOBALS.append((name, stream, globals_of(data)))


def pickle_len(data, start=0):
    f = io.BytesIO(data)
    f.seek(start)
    for _ in pickletools.genops(f):
        pass
    return f.tell() - start


# ---- torch ---------------------------------------------------------------

def weights_only_note(name):
    """torch's own weights-only loader on our own benign file: a note when
    it refuses (it does not implement FRAME, so protocol 4 and 5 fail)."""
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(path(name), weights_only=True)
        return ""
    except Exception as e:
        msg = str(e)
        i = msg.find("WeightsUnpickler error: ")
        return " (torch.load weights_only=True refuses it: %s)" % (
            msg[i + 24:].strip().split("\n")[0] if i >= 0 else type(e).__name__)


def torch_save_zip(obj, name, note, **kw):
    torch.save(obj, path(name), **kw)
    note += weights_only_note(name)
    with zipfile.ZipFile(path(name)) as z:
        pkls = [i for i in z.infolist() if i.filename.endswith(".pkl")]
        streams = []
        for i in pkls:
            d = z.read(i.filename)
            streams.append(("!" + i.filename, len(d)))
            record_globals(name, i.filename, d)
    row(name, "zip", streams, "clean", "ok", note)


def torch_legacy(obj, name, note):
    torch.save(obj, path(name), _use_new_zipfile_serialization=False)
    data = open(path(name), "rb").read()
    # five pickles: magic, version, sys_info, the object, the storage keys
    ends, pos = [], 0
    for _ in range(5):
        pos += pickle_len(data, pos)
        ends.append(pos)
    end = ends[-1]
    keys = [arg for op, arg, p in pickletools.genops(io.BytesIO(data[ends[3]:end]))
            if op.name in ("BINUNICODE", "SHORT_BINUNICODE")]
    head = data[:end]
    for i, k in enumerate(keys):
        head = head.replace(k.encode(), ("%d" % i).rjust(len(k), "0").encode())
    data = head + data[end:]
    with open(path(name), "wb") as f:
        f.write(data)
    note += weights_only_note(name)
    record_globals(name, ".", data[ends[2]:ends[3]])
    row(name, "torch-legacy", [(".", end)], "clean", "ok", note)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.bn = torch.nn.BatchNorm2d(2)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(),
                                        torch.nn.Linear(4, 2))


def torch_files():
    seed()
    net = Net()
    sd = net.state_dict()
    torch_save_zip(sd, "t2_state_dict.pt",
                   "torch 2.13 torch.save of a nested module's state_dict (conv, batchnorm, linear)")
    # legacy format: its storage keys are memory addresses and its storages
    # are written sorted by key, so with several storages the file changes
    # from run to run; every tensor here views one float storage, which
    # keeps it deterministic (and covers views at offsets)
    flat = torch.randn(8 * 4 + 4 + 2 * 4 + 2)
    legacy = collections.OrderedDict([
        ("fc1.weight", flat[0:32].view(4, 8)), ("fc1.bias", flat[32:36]),
        ("fc2.weight", flat[36:44].view(2, 4)), ("fc2.bias", flat[44:46])])
    torch_legacy(legacy, "t2_legacy.pt",
                 "torch 2.13 _use_new_zipfile_serialization=False: 5 pickles then one "
                 "storage that 4 tensors view at offsets")
    torch_save_zip(sd, "t2_proto4.pt", "torch.save(..., pickle_protocol=4)", pickle_protocol=4)
    torch_save_zip(sd, "t2_proto5.pt", "torch.save(..., pickle_protocol=5)", pickle_protocol=5)
    for kind in ("adam", "sgd"):
        seed()
        lin = torch.nn.Linear(3, 2)
        opt = (torch.optim.Adam(lin.parameters(), lr=1e-3) if kind == "adam" else
               torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9))
        x = torch.randn(4, 3)
        lin(x).sum().backward()
        opt.step()
        torch_save_zip({"epoch": 1, "model": lin.state_dict(), "optimizer": opt.state_dict()},
                       "t2_optim_%s.pt" % kind,
                       "checkpoint: model state_dict + %s optimizer state after one step"
                       % ("Adam" if kind == "adam" else "SGD momentum"))
    base = torch.arange(12, dtype=torch.float32)
    dt = collections.OrderedDict()
    for d in (torch.bfloat16, torch.float16, torch.float8_e4m3fn, torch.float8_e5m2,
              torch.uint16, torch.uint32, torch.uint64, torch.int8, torch.bool,
              torch.complex64, torch.complex128, torch.float64):
        dt[str(d).replace("torch.", "")] = base[:4].to(d)
    dt["float8_e8m0fnu"] = torch.tensor([1.0, 2.0]).to(torch.float8_e8m0fnu)
    dt["float4_e2m1fn_x2"] = torch.tensor([0x12, 0x34], dtype=torch.uint8).view(
        torch.float4_e2m1fn_x2)
    dt["bits8"] = torch.tensor([1, 2], dtype=torch.uint8).view(torch.bits8)
    dt["empty"] = torch.empty(0, 3)
    dt["scalar"] = torch.tensor(2.5)
    dt["view_a"] = base.view(3, 4)
    dt["view_b"] = base[4:8]          # shares base's storage at an offset
    dt["transposed"] = base.view(3, 4).t()
    dt["param"] = torch.nn.Parameter(torch.ones(2))
    torch_save_zip(dt, "t2_dtypes.pt",
                   "bfloat16, float16, float8 e4m3fn/e5m2/e8m0fnu, float4_e2m1fn_x2, bits8, "
                   "uint16/32/64, int8, bool, "
                   "complex, empty, 0-d, views sharing one storage, a Parameter")
    idx = torch.tensor([[0, 1, 1], [2, 0, 2]])
    coo = torch.sparse_coo_tensor(idx, torch.tensor([3.0, 4.0, 5.0]), (2, 3)).coalesce()
    csr = torch.tensor([[0.0, 1.0], [2.0, 0.0]]).to_sparse_csr()
    torch_save_zip({"coo": coo, "csr": csr}, "t2_sparse.pt", "sparse COO and CSR tensors")
    nested = torch.nested.nested_tensor([torch.arange(3.0), torch.arange(2.0)])
    torch_save_zip({"nested": nested}, "t2_nested.pt", "a nested (strided) tensor of two rows")
    q1 = torch.quantize_per_tensor(torch.tensor([0.5, 1.0, -1.5]), 0.1, 10, torch.quint8)
    q2 = torch.quantize_per_channel(torch.tensor([[0.5, 1.0], [-1.0, 2.0]]),
                                    torch.tensor([0.1, 0.2]), torch.tensor([0, 1]), 0,
                                    torch.qint8)
    torch_save_zip({"per_tensor": q1, "per_channel": q2}, "t2_quantized.pt",
                   "quantized tensors: per-tensor quint8, per-channel qint8")


# ---- NumPy ---------------------------------------------------------------

def numpy_values():
    return {
        "f8": np.linspace(0, 1, 5), "f4": np.arange(3, dtype=np.float32),
        "f2": np.arange(3, dtype=np.float16), "i1": np.arange(3, dtype=np.int8),
        "u8": np.arange(3, dtype=np.uint64), "b": np.array([True, False]),
        "c16": np.array([1 + 2j]), "be": np.arange(3, dtype=">i4"),
        "U": np.array(["a", "bcd"]), "S": np.array([b"x", b"yz"]),
        "M8": np.array(["2026-01-02"], dtype="datetime64[D]"),
        "m8": np.array([5], dtype="timedelta64[s]"),
        "F": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "empty": np.zeros((0, 2)), "zero_d": np.array(7),
    }


def npy_body(raw):
    """A file positioned at the body of .npy bytes, by numpy's own header
    reader (numpy.lib.format; read_array_header_2_0 for version 2/3)."""
    fmt = np.lib.format
    f = io.BytesIO(raw)
    version = fmt.read_magic(f)
    (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(f)
    return f


def numpy_files():
    vals = numpy_values()
    for proto in (2, 3, 4, 5):
        name = "np2_arrays_p%d.pkl" % proto
        data = pickle.dumps(vals, protocol=proto)
        with open(path(name), "wb") as f:
            f.write(data)
        record_globals(name, ".", data)
        row(name, "pickle", [(".", len(data))], "clean", "ok",
            "pickle.dumps of 15 NumPy 2 arrays (many dtypes, Fortran order, 0-d) at protocol %d%s"
            % (proto, " (_frombuffer over in-band PickleBuffers)" if proto == 5 else ""))
    scal = [np.float64(1.5), np.int32(-3), np.uint8(7), np.bool_(True), np.complex64(1j),
            np.str_("s"), np.bytes_(b"b"), np.datetime64("2026-01-02T03:04"), np.float16(0.5),
            np.dtype("f8"), np.dtype(">i2"), np.dtype([("x", "<f4"), ("y", "u1", (2,))]),
            np.dtype("U3"), np.dtype("M8[ns]")]
    structured = np.array([(1, 2.5, b"ab"), (3, -1.0, b"c")],
                          dtype=[("id", "<i4"), ("v", "<f8"), ("tag", "S2")])
    objarr = np.array([1, "two", None, (3, 4.0), {"k": [1]}], dtype=object)
    for name, obj, note in (
            ("np2_scalars_dtypes.pkl", scal, "NumPy 2 scalars (9 kinds) and dtypes (structured, byte order)"),
            ("np2_structured.pkl", structured, "a structured array (int, float, bytes fields)"),
            ("np2_object.pkl", objarr, "an object array of int, str, None, tuple, dict")):
        data = pickle.dumps(obj, protocol=pickle.DEFAULT_PROTOCOL)
        with open(path(name), "wb") as f:
            f.write(data)
        record_globals(name, ".", data)
        row(name, "pickle", [(".", len(data))], "clean", "ok", note)
    # masked arrays reference numpy.ma.core._mareconstruct and
    # MaskedArray: not in `ml` (nor in torch's allowlist); see docs/policy.md
    data = pickle.dumps(np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]), protocol=4)
    with open(path("np2_masked.pkl"), "wb") as f:
        f.write(data)
    record_globals("np2_masked.pkl", ".", data)
    row("np2_masked.pkl", "pickle", [(".", len(data))], "flagged:high", "refused",
        "a masked array: numpy.ma.core._mareconstruct is not in ml")
    np.save(path("np2_float.npy"), np.arange(12, dtype="<f8").reshape(3, 4))
    row("np2_float.npy", "npy", [], "clean", "ok", "np.save of a float array: data only")
    np.save(path("np2_structured.npy"), structured)
    row("np2_structured.npy", "npy", [], "clean", "ok", "np.save of a structured array")
    np.save(path("np2_object.npy"), objarr, allow_pickle=True)
    raw = open(path("np2_object.npy"), "rb").read()
    f = npy_body(raw)
    record_globals("np2_object.npy", ".", raw[f.tell():])
    row("np2_object.npy", "npy", [(".", len(raw) - f.tell())], "clean", "ok",
        "np.save of an object array: the body is a pickle (protocol 3)")
    np.savez(path("np2_arrays.npz"), a=vals["f8"], b=vals["U"], c=structured)
    row("np2_arrays.npz", "zip", [], "clean", "ok", "np.savez of three arrays")
    np.savez_compressed(path("np2_compressed.npz"), a=vals["f8"], obj=objarr)
    with zipfile.ZipFile(path("np2_compressed.npz")) as z:
        raw = z.read("obj.npy")
    f = npy_body(raw)
    record_globals("np2_compressed.npz", "obj.npy", raw[f.tell():])
    row("np2_compressed.npz", "zip", [("!obj.npy", len(raw) - f.tell())], "clean", "ok",
        "np.savez_compressed with a numeric and an object array")


# ---- joblib --------------------------------------------------------------

def joblib_regions(fname):
    import joblib.numpy_pickle as jnp
    cuts = []
    orig = jnp.NumpyArrayWrapper.read_array

    def spy(self, unpickler, *a, **k):
        start = unpickler.file_handle.tell()
        res = orig(self, unpickler, *a, **k)
        cuts.append((start, unpickler.file_handle.tell()))
        return res
    jnp.NumpyArrayWrapper.read_array = spy
    try:
        joblib.load(fname)
    finally:
        jnp.NumpyArrayWrapper.read_array = orig
    return cuts


def joblib_files():
    seed()
    obj = {"big": np.random.RandomState(0).randint(0, 4, size=65536).astype(np.uint8),
           "w": np.linspace(0, 1, 100), "names": np.array(["a", "bc"]), "meta": [1, 2]}
    joblib.dump(obj, path("jl_plain.joblib"))
    data = open(path("jl_plain.joblib"), "rb").read()
    cuts = joblib_regions(path("jl_plain.joblib"))
    n = len(data) - sum(b - a for a, b in cuts)
    row("jl_plain.joblib", "joblib", [(".", n)], "clean", "ok",
        "joblib 1.6 dump, uncompressed, a 64 KiB array + two small ones")
    for comp in ("zlib", "gzip", "bz2", "lzma", "xz", "lz4"):
        name = "jl_%s.joblib" % comp
        joblib.dump(obj, path(name), compress=(comp, 3))
        row(name, {"bz2": "bzip2"}.get(comp, comp), [(".", n)], "clean", "ok",
            "joblib 1.6 dump compress=%s" % comp)


# ---- scikit-learn and pandas (not pure data: flagged under ml) -----------

def frame():
    return pd.DataFrame({
        "i": np.arange(6, dtype=np.int64), "f": np.linspace(0, 1, 6),
        "s": pd.array(["a", "b", "a", "c", "b", "a"], dtype="string"),
        "cat": pd.Categorical(["x", "y", "x", "y", "x", "x"]),
        "t": pd.date_range("2026-01-01", periods=6, freq="h", tz="UTC"),
        "ok": [True, False, True, True, False, True]})


def sk_pd_file(name, obj, note, policy, scan="flagged:high"):
    if name.endswith(".joblib"):
        joblib.dump(obj, path(name))
        data = open(path(name), "rb").read()
        cuts = joblib_regions(path(name))
        n = len(data) - sum(b - a for a, b in cuts)
        for a, b in reversed(cuts):   # joblib's array bytes are not pickles
            data = data[:a] + data[b:]
        fmt = "joblib"
    else:
        data = pickle.dumps(obj, protocol=5)
        with open(path(name), "wb") as f:
            f.write(data)
        n = len(data)
        fmt = "pickle"
    record_globals(name, ".", data if fmt == "pickle" else data[:n])
    row(name, fmt, [(".", n)], scan, "refused", note + " (policy %s)" % policy)


def sklearn_pandas_files():
    seed()
    rs = np.random.RandomState(0)
    X = rs.normal(size=(40, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    sk_pd_file("sk_logreg.pkl", LogisticRegression().fit(X, y),
               "scikit-learn LogisticRegression, pickle protocol 5", "sklearn")
    sk_pd_file("sk_forest.joblib",
               RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y),
               "scikit-learn RandomForestClassifier (3 trees), joblib.dump", "sklearn")
    sk_pd_file("sk_pipeline.pkl",
               Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y),
               "scikit-learn Pipeline(StandardScaler, LogisticRegression)", "sklearn")
    df = frame()
    ct = ColumnTransformer([("num", StandardScaler(), ["i", "f"]),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), ["cat"])])
    sk_pd_file("sk_columntransformer.joblib", ct.fit(df, y[:6]),
               "scikit-learn ColumnTransformer (StandardScaler + OneHotEncoder) fitted "
               "on a DataFrame, joblib.dump", "sklearn")
    sk_pd_file("pd_frame.pkl", df,
               "pandas DataFrame: int, float, string, categorical, datetime UTC, bool",
               "pandas")
    sk_pd_file("pd_series.pkl", pd.Series([1.5, None, 3.0], index=["a", "b", "c"], name="s"),
               "pandas Series with a string index", "pandas")
    # a zoneinfo zone pickles as getattr(ZoneInfo, "_unpickle")(key, 1):
    # critical under every policy, pandas' included
    sk_pd_file("pd_frame_zoneinfo.pkl",
               pd.DataFrame({"cat": pd.Categorical(["u", "v"]),
                             "t": pd.to_datetime(["2026-01-01", "2026-06-01"])
                             .tz_localize("Europe/Paris")}),
               "pandas DataFrame with a Europe/Paris datetime: zoneinfo pickles through "
               "builtins.getattr, critical under every policy", "pandas",
               scan="flagged:critical")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f not in ("gen",) and os.path.isfile(path(f)):
            os.remove(path(f))
    torch_files()
    numpy_files()
    joblib_files()
    sklearn_pandas_files()
    with open(path("MANIFEST.tsv"), "w") as f:
        f.write("file\tformat\tstreams\tproblems\tscan_ml\tload_ml\tnote\n")
        for r in sorted(ROWS):
            f.write("\t".join(r) + "\n")
    with open(path("GLOBALS.tsv"), "w") as f:
        f.write("file\tstream\tglobals\n")
        for name, stream, names in sorted(GLOBALS):
            f.write("%s\t%s\t%s\n" % (name, stream, " ".join(names) or "-"))
    with open(path("VERSIONS.txt"), "w") as f:
        f.write("# the writers of corpus/modern (gen/gen_modern.py)\n")
        f.write("python %s\n" % platform.python_version())
        for mod in (torch, np, joblib, sklearn, pd, lz4):
            f.write("%s %s\n" % (mod.__name__, mod.__version__))
        f.write("pickle.DEFAULT_PROTOCOL %d\n" % pickle.DEFAULT_PROTOCOL)


if __name__ == "__main__":
    main()
