"""pickleguard: load untrusted pickles into real Python objects under a policy.

Every opcode is executed, and every policy decision taken, by libpickleguard's
C decoder (the same one `pickleguard load` uses); this package turns what it
recorded into Python objects, calling only globals the policy allows. There
is no process-wide state: the policy is passed on every call, and nothing
here ever falls back to pickle, torch.load or numpy.load.

    import pickleguard
    obj = pickleguard.loads(data, policy="default")
    sd = pickleguard.torch_load("model.pt")          # policy "ml"

See docs/python.md.
"""
import importlib
import io
import os
import pickle

from ._pickleguard import LIB_VERSION, Policy, PolicyError, _decode, _scan

__all__ = ["Policy", "PolicyError", "Unpickler", "loads", "load", "scan", "Report",
           "Finding", "torch_load", "numpy_load", "shelve_open", "joblib_load", "LIB_VERSION"]
__version__ = "0.1.0"

# The built-in policies, each compiled once (a Policy cannot change, and a
# built-in name always means the built-in, never a file of that name):
# loads(data, policy="default") in a loop would otherwise parse its YAML on
# every call. Paths are read on every call, as the file may change.
_BUILTIN_NAMES = ("default", "strict", "ml", "pandas", "sklearn")
_builtin_cache = {}


def _policy(policy):
    if isinstance(policy, Policy):
        return policy
    if type(policy) is str and policy in _BUILTIN_NAMES:
        p = _builtin_cache.get(policy)
        if p is None:
            p = _builtin_cache[policy] = Policy(policy)
        return p
    if isinstance(policy, (str, os.PathLike)):
        return Policy(policy)
    raise TypeError("policy must be a pickleguard.Policy, a built-in policy name "
                    "('default', 'strict', 'ml') or a YAML file path, not %r"
                    % type(policy).__name__)


def _str8(encoding, errors, fix_imports):
    """pickle.load's encoding=, errors= and fix_imports= for the decoder:
    Python 2 str is decoded with any codec (bytes.decode(encoding, errors))
    or kept as bytes with encoding="bytes"; fix_imports=False turns off the
    Python 2 name mapping."""
    if not isinstance(encoding, str) or not isinstance(errors, str):
        raise TypeError("encoding and errors must be str")
    return (encoding, errors, bool(fix_imports))


def _import_global(module, qualname):
    """What pickle's find_class does for a global the policy allowed:
    import the module, then walk the (dotted, protocol 4) qualname."""
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class Unpickler:
    """Like pickle.Unpickler, under a policy: Unpickler(file, *, policy, ...).load().

    Each load() reads one pickle; the file is left just after its STOP when it
    can seek (pickle.load's behaviour). `overrides` maps "module.qualname" to
    a callable used instead of the real global (torch_load uses it)."""

    def __init__(self, file, *, policy, persistent_load=None, encoding="ASCII",
                 errors="strict", fix_imports=True, buffers=None, overrides=None):
        self._file = file
        self._policy = _policy(policy)
        self._str8 = _str8(encoding, errors, fix_imports)
        self._buffers = list(buffers) if buffers is not None else None
        self._overrides = dict(overrides or {})
        if persistent_load is not None:
            self.persistent_load = persistent_load
        self._pending = b""
        self._pos = 0
        self._start = None

    def find_class(self, module, name):
        """Called only for globals the policy allowed."""
        f = self._overrides.get(module + "." + name)
        if f is not None:
            return f
        return _import_global(module, name)

    def _persistent(self):
        f = getattr(self, "persistent_load", None)
        return f if f is not None else None

    def load(self):
        if self._pos >= len(self._pending):
            start = self._file.tell() if _seekable(self._file) else None
            data = self._file.read()
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError("file must be opened in binary mode")
            self._pending, self._pos, self._start = bytes(data), 0, start
        if not self._pending:
            raise EOFError("Ran out of input")
        obj, end = _decode(self._policy, self._pending, self._pos, self._str8,
                           self.find_class, self._persistent(), self._buffers)
        self._pos = end
        if self._start is not None:
            self._file.seek(self._start + end)
        return obj


def _seekable(f):
    try:
        return f.seekable()
    except AttributeError:
        return False


def loads(data, *, policy, encoding="ASCII", errors="strict", fix_imports=True,
          buffers=None, persistent_load=None):
    """pickle.loads under a policy. Bytes after the first pickle's STOP are
    ignored, as pickle.loads does."""
    if isinstance(data, str):
        raise TypeError("Can't load pickle from unicode string")
    return _decode(_policy(policy), data, 0, _str8(encoding, errors, fix_imports),
                   _import_global, persistent_load,
                   list(buffers) if buffers is not None else None)[0]


def load(file, *, policy, encoding="ASCII", errors="strict", fix_imports=True,
         buffers=None, persistent_load=None):
    """pickle.load under a policy: one pickle from a binary file."""
    return Unpickler(file, policy=policy, encoding=encoding, errors=errors,
                     fix_imports=fix_imports, buffers=buffers,
                     persistent_load=persistent_load).load()


from ._scan import Finding, Report, scan  # noqa: E402
from ._torch import torch_load  # noqa: E402
from ._numpy import numpy_load  # noqa: E402
from ._shelve import shelve_open  # noqa: E402
from ._joblib import joblib_load  # noqa: E402
