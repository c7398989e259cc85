#!/usr/bin/env python3
"""audit_catalogue.py -- list callables of installed libraries that look
dangerous and that src/catalogue.def does not cover (docs/catalogue.md).

    .venv/bin/python scripts/audit_catalogue.py [PACKAGE...]

Default packages: the standard library's top-level modules, numpy, torch,
joblib, hydra, omegaconf (those installed). Each module under them is
imported (failures are listed and skipped; torch's private test and
distributed trees are skipped as too slow to import); every function,
class and method defined in it is read with inspect.getsource and matched
against explicit heuristics (HEURISTICS below: exec/eval/compile,
subprocess/os.system/os.exec*/spawn, ctypes/dlopen/load_library,
importlib/__import__, open(...) for writing, urllib/socket/requests,
pickle/marshal/torch.load). A hit not covered by a catalogue pattern
(same whole-component matching as the scanner, "*" for one component) is
printed as "UNCOVERED qualname: heuristics". Nothing found by a file is
ever run: this imports installed libraries only.

The output is for a human to review: a heuristic hit is a candidate, not a
verdict (a function may mention `open(..., "w")` and only write a log).
"""
import importlib
import inspect
import os
import pkgutil
import re
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HEURISTICS = {
    "exec": re.compile(r"\b(exec|eval|compile)\s*\("),
    "process": re.compile(r"\bsubprocess\.|\bos\.(system|popen|exec\w*|spawn\w*|"
                          r"posix_spawn\w*|fork)\b|\bPopen\("),
    "native": re.compile(r"\bctypes\.|\bCDLL\(|\bdlopen\b|\bload_library\b"),
    "import": re.compile(r"\bimportlib\.|\b__import__\s*\(|\bimport_module\("),
    "file-write": re.compile(r"\bopen\([^)]*['\"][wax]b?\+?['\"]"),
    "network": re.compile(r"\burlopen\(|\burllib\.request\b|\bsocket\.|"
                          r"\brequests\.(get|post)\b|\burlretrieve\("),
    "deserialize": re.compile(r"\bpickle\.loads?\(|\bmarshal\.loads?\(|"
                              r"\btorch\.load\(|\bUnpickler\("),
}

SKIP = re.compile(r"^(torch\.(testing|distributed|_inductor|_dynamo|onnx|"
                  r"utils\.benchmark|_export|export|fx\.experimental)|"
                  r"numpy\.(f2py|distutils|testing)|idlelib|test\.|tkinter|"
                  r"turtledemo|lib2to3|ensurepip|antigravity|this)\b")


def catalogue():
    pats = []
    with open(os.path.join(ROOT, "src", "catalogue.def"), encoding="utf-8") as f:
        for m in re.finditer(r'^CAT\("([^"]+)"', f.read(), re.M):
            pats.append(m.group(1).split("."))
    return pats


def covered(qual, pats):
    comps = qual.split(".")
    # every dotted tail too, as the scanner does
    for start in range(len(comps)):
        tail = comps[start:]
        for p in pats:
            if len(p) <= len(tail) and all(a == "*" or a == b
                                           for a, b in zip(p, tail)):
                return True
    return False


def modules(pkgs):
    for name in pkgs:
        if SKIP.match(name + "."):
            continue
        try:
            mod = importlib.import_module(name)
        except BaseException as e:  # noqa: B902 -- any import failure
            yield name, None, e
            continue
        yield name, mod, None
        if hasattr(mod, "__path__"):
            for info in pkgutil.walk_packages(mod.__path__, name + "."):
                if SKIP.match(info.name + ".") or \
                        re.search(r"\.(tests?|testing|_testing)(\.|$)", info.name):
                    continue
                try:
                    sub = importlib.import_module(info.name)
                except BaseException as e:  # noqa: B902
                    yield info.name, None, e
                    continue
                yield info.name, sub, None


def candidates(mod):
    for attr, obj in list(vars(mod).items()):
        if getattr(obj, "__module__", None) != mod.__name__:
            continue
        items = [(attr, obj)]
        if inspect.isclass(obj):
            items += [("%s.%s" % (attr, k), v) for k, v in vars(obj).items()
                      if inspect.isfunction(v)]
        for qn, o in items:
            if not (inspect.isfunction(o) or inspect.isclass(o)):
                continue
            try:
                src = inspect.getsource(o)
            except (OSError, TypeError):
                continue
            hits = [k for k, rx in HEURISTICS.items() if rx.search(src)]
            if hits:
                yield "%s.%s" % (mod.__name__, qn), hits


def main(argv):
    warnings.simplefilter("ignore")
    pkgs = argv[1:] or sorted(
        m for m in sys.stdlib_module_names if not m.startswith("_")) + \
        ["numpy", "torch", "joblib", "hydra", "omegaconf"]
    pats = catalogue()
    n_mod = n_cand = n_unc = 0
    for name, mod, err in modules(pkgs):
        if mod is None:
            print("IMPORT-FAILED %s: %s" % (name, type(err).__name__))
            continue
        n_mod += 1
        for qual, hits in candidates(mod):
            n_cand += 1
            if not covered(qual, pats):
                n_unc += 1
                print("UNCOVERED %s: %s" % (qual, ",".join(hits)))
    print("audit: %d modules, %d candidates, %d not covered by the catalogue"
          % (n_mod, n_cand, n_unc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
