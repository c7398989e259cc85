#!/usr/bin/env python3
"""test_catalogue.py -- catalogue entries of the issue-14 audit, and the
sparse-tensor false alarm.

Each entry below (added by the audit, docs/catalogue.md) is referenced
from a raw-opcode pickle (protocol 4 STACK_GLOBAL, and protocol 2 GLOBAL
where the name has no dot) and must give a critical `dangerous-global`
naming it, under the `default` and `ml` policies. A real sparse-tensor
checkpoint written by torch (torch.serialization._get_layout, a lookup
among torch.layout constants) must scan clean under `ml`.

Environment: PKL_BUILD. Prints "N passed, M failed, K skipped" last.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

from pgtest import EXE, check, finish, no_binary, skip

ADDED = [
    'numpy.core._ufunc_reconstruct',
    'numpy._core._ufunc_reconstruct',   'annotationlib',
    '_pyrepl',
    'gettext.c2py',
    'torch.fx',
    'torch._dynamo',
    'torch.compile',
    'torch.utils.benchmark',
    'torch.utils.bottleneck',
    'torch.utils.data.datapipes',
    'torch.testing._internal',
    'hydra.utils.instantiate',
    'hydra.utils.call',
    'hydra._internal.instantiate',
    'omegaconf.OmegaConf.register_new_resolver',
    'omegaconf.OmegaConf.register_resolver',
    'omegaconf.OmegaConf.to_object',
    'unittest.main',
    'unittest.loader',
    'hydra.utils.get_method',
    'hydra.utils.get_class',
    'hydra.utils.get_object',
    'hydra._internal.utils',
    'torch.utils.collect_env',
    'torch.utils.data.DataLoader',
    'torch.utils.data.dataloader',
    'torch.utils.data._utils',
    '_pyio',
    'compression.*.open',
    'compression.zstd.ZstdFile',
    'compression.gzip.GzipFile',
    'compression.bz2.BZ2File',
    'compression.lzma.LZMAFile',
    'http.cookiejar',
    'zipapp',
    'lib2to3',
    'numpy.fromregex',
    'numpy.rec.fromfile',
    'numpy.core.records.fromfile',
    'numpy._core.records.fromfile',
    'numpy.core.memmap',
    'numpy._core.memmap',
    'joblib.dump',
    'joblib.numpy_pickle.dump',
    'joblib.Memory',
    'joblib.memory.Memory',
    'torch.save',
    'torch.utils.hipify',
    'torch.utils.tensorboard',
    'omegaconf.OmegaConf.load',
    'omegaconf.OmegaConf.save',
    'torch.utils.model_zoo',
    'torch.ops',
    'torch._ops',
    'torch.classes',
    'torch.library',
    'torch.serialization.load',
    'torch.serialization._load',
    'torch.serialization._legacy_load',
    'torch.serialization.get_unsafe_globals_in_checkpoint',
    'torch.serialization._weights_only_unpickler',
    'torch.serialization.save',
    'torch.serialization._save',
    'torch.serialization._legacy_save',
    'torch.serialization._open_file',
    'torch.serialization._open_file_like',
    'torch.serialization._open_zipfile_reader',
    'torch.serialization._open_zipfile_writer',
    'torch.serialization._open_zipfile_writer_file',
    'torch.serialization._open_zipfile_writer_buffer',
    'torch.serialization._open_buffer_reader',
    'torch.serialization._open_buffer_writer',
    'torch.serialization._opener',
    'torch.serialization.mkdtemp',
    'torch.serialization._get_restore_location',
    'torch.serialization.default_restore_location',
    'torch.serialization.register_package',
    'torch.serialization._package_registry',
    'torch.serialization._serialization_tls',
    'torch.serialization.add_safe_globals',
    'torch.serialization.safe_globals',
    'torch.serialization.clear_safe_globals',
    'torch.serialization.set_default_load_endianness',
    'torch.serialization.set_default_mmap_options',
    'torch.serialization.set_crc32_options',
    'torch.serialization.skip_data',
    'torch.export.load',
    'torch.export.save',
    'joblib.numpy_pickle_compat.load',
    'pstats',
    '_interpqueues',
    '_interpchannels']

MODULE_WIDE = [   'annotationlib',
    '_pyrepl',
    'torch.fx',
    'torch._dynamo',
    'torch.utils.benchmark',
    'torch.utils.bottleneck',
    'torch.utils.data.datapipes',
    'torch.testing._internal',
    'hydra._internal.instantiate',
    'unittest.loader',
    'hydra._internal.utils',
    'torch.utils.collect_env',
    'torch.utils.data.dataloader',
    'torch.utils.data._utils',
    '_pyio',
    'http.cookiejar',
    'zipapp',
    'lib2to3',
    'torch.utils.hipify',
    'torch.utils.tensorboard',
    'torch.utils.model_zoo',
    'torch.ops',
    'torch._ops',
    'torch.classes',
    'torch.library',
    'torch.serialization._weights_only_unpickler',
    'pstats',
    '_interpqueues',
    '_interpchannels']


def sbu(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def sample(pattern):
    parts = pattern.replace("*", "zstd").split(".")
    if pattern in MODULE_WIDE:
        mod, name = ".".join(parts), "anything"
    else:
        mod, name = ".".join(parts[:-1]), parts[-1]
    p4 = b"\x80\x04" + sbu(mod) + sbu(name) + b"\x93)R."
    p2 = b"\x80\x02c" + mod.encode() + b"\n" + name.encode() + b"\n)R."
    return "%s.%s" % (mod, name), [p4, p2]


def scan(paths, policy):
    r = subprocess.run([EXE, "scan", "--format", "json", "--policy", policy]
                       + paths, capture_output=True, timeout=120)
    return {f["path"]: f for f in json.loads(r.stdout)["files"]}


def main():
    if not os.path.exists(EXE):
        return no_binary()
    with tempfile.TemporaryDirectory() as tmp:
        want = {}
        for i, pat in enumerate(ADDED):
            glob, datas = sample(pat)
            for j, data in enumerate(datas):
                path = os.path.join(tmp, "c%03d_%d.pkl" % (i, j))
                with open(path, "wb") as f:
                    f.write(data)
                want[path] = (pat, glob)
        for policy in ("default", "ml"):
            rep = scan(sorted(want), policy)
            for path, (pat, glob) in want.items():
                hits = [x for x in rep[path]["findings"]
                        if x["rule"] == "dangerous-global"
                        and x["severity"] == "critical"
                        and x.get("global") == glob]
                check(hits, "%s (%s): critical dangerous-global %s: %r"
                      % (pat, policy, glob, rep[path]["findings"]))
    # a real sparse checkpoint: _get_layout is allowed by ml, not critical
    try:
        import warnings
        warnings.simplefilter("ignore")
        import torch
    except ImportError:
        skip("torch is not installed: sparse checkpoint")
        return finish()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sparse.pt")
        coo = torch.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2))
        torch.save({"coo": coo, "csr": torch.eye(3).to_sparse_csr()}, path)
        rep = scan([path], "ml")[path]
        check(rep["verdict"] == "clean", "sparse checkpoint clean under ml: %r"
              % rep["findings"])
        rep = scan([path], "default")[path]
        check(not any(x["severity"] == "critical" for x in rep["findings"]),
              "sparse checkpoint: nothing critical under default: %r"
              % rep["findings"])
        check(any(x.get("global") == "torch.serialization._get_layout"
                  and x["rule"] == "global-not-allowed" for x in rep["findings"]),
              "_get_layout is still reported (high) where the policy does "
              "not allow it")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
