#!/usr/bin/env python3
"""Coverage-guided fuzz target for the Python binding (atheris).

    .venv/bin/python -m pip install -r requirements/fuzz.txt
    .venv/bin/python fuzz/python/fuzz_pickleguard.py -max_total_time=300 \
      CORPUS_DIR corpus/benign corpus/malicious

Coverage is Python-level (atheris.instrument_imports of the package): the
extension and libpickleguard are not instrumented. Building them with
clang -fsanitize=fuzzer-no-link loads only with atheris's sanitizer
runtimes (asan_with_fuzzer.so), which the PyPI wheel here does not ship;
the C decoder and scanner have their own libFuzzer harnesses (fuzz/).

Most inputs are a benign corpus pickle with a splice of the fuzzer's
bytes (the rest are the fuzzer's bytes alone). Each is decoded by
pickleguard.loads under the `default` policy and one of the three Python 2
str encodings, with a fake persistent_load and out-of-band buffers, then
scanned. Expected outcomes: an object, or PolicyError /
pickle.UnpicklingError / EOFError, or ValueError/TypeError/UnicodeError/
RecursionError/MemoryError/ArithmeticError (decimal.InvalidOperation)/
LookupError (an unknown codec) raised by an allowed constructor on bad
arguments (pickle raises the same). Anything else -- another exception
type, a crash, a sanitizer report -- is a finding. A module-level audit hook
fails the run if an import of a module not already imported, exec,
subprocess or os.system happens while decoding (the modules the policy's
entries name, and the codec modules the allowed _codecs.encode may look
up, are imported before the run).
"""
import pickle
import sys

import atheris

with atheris.instrument_imports():
    import pickleguard

POLICY = pickleguard.Policy("default")
OK = (pickle.UnpicklingError, EOFError, ValueError, TypeError, UnicodeError,
      RecursionError, MemoryError, ArithmeticError, LookupError, AttributeError)
_active = [False]


def _preimport(policy):
    """Imports every module the policy's allow entries name, so that an
    import during a decode is one the policy could not have allowed."""
    import importlib
    for line in policy.to_yaml().splitlines():
        line = line.strip()
        if not line.startswith("- "):
            continue
        parts = line[2:].strip().strip("'\"").split(".")
        for i in range(len(parts) - 1, 0, -1):
            try:
                importlib.import_module(".".join(parts[:i]))
                break
            except Exception:
                continue


def _preimport_codecs():
    """Imports every codec module of the encodings package: the allowed
    _codecs.encode(text, name) looks `name` up in the codec registry as
    pickle.loads does, which imports encodings.<name> on first use (and
    only modules of that package: docs/policy.md, _codecs.encode)."""
    import encodings
    import importlib
    import pkgutil
    for m in pkgutil.iter_modules(encodings.__path__):
        try:
            importlib.import_module("encodings." + m.name)
        except Exception:
            continue


_preimport(POLICY)
_preimport_codecs()
_seen_modules = set(sys.modules)


def _hook(event, args):
    if not _active[0]:
        return
    if event in ("exec", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn"):
        raise SystemExit("fuzz: forbidden audit event %s %r" % (event, args))
    if (event == "import" and args[0] not in _seen_modules
            and not args[0].startswith("encodings.")):
        # encodings.*: every codec module is imported already, so this is
        # the codec registry trying a name that is no codec (LookupError)
        raise SystemExit("fuzz: import of a new module %r" % (args[0],))


sys.addaudithook(_hook)
BUFS = [b"abc", bytearray(b"xyz")]


def _seeds():
    """The benign corpus pickles (up to 64 KiB): the coverage feedback is
    Python-level only (see above), so most inputs are one of them with a
    splice of fuzzer bytes, which keeps them near real pickles."""
    import os
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                        "corpus", "benign")
    out = []
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            p = os.path.join(dirpath, f)
            if os.path.getsize(p) <= 65536 and not f.endswith((".md", ".txt", ".json")):
                with open(p, "rb") as fh:
                    out.append(fh.read())
    return out


SEEDS = _seeds()


def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    enc = ("ASCII", "latin1", "bytes")[fdp.ConsumeIntInRange(0, 2)]
    if SEEDS and fdp.ConsumeIntInRange(0, 3):
        seed = SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]
        at = fdp.ConsumeIntInRange(0, len(seed))
        cut = fdp.ConsumeIntInRange(0, 16)
        body = seed[:at] + fdp.ConsumeBytes(sys.maxsize) + seed[at + cut:]
    else:
        body = fdp.ConsumeBytes(sys.maxsize)
    _active[0] = True
    try:
        pickleguard.loads(body, policy=POLICY, encoding=enc, buffers=BUFS,
                          persistent_load=lambda pid: ("persid", pid))
    except OK:
        pass
    finally:
        _active[0] = False
    pickleguard.scan(body, policy=POLICY)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
