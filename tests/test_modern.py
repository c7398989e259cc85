#!/usr/bin/env python3
"""test_modern.py -- corpus/modern: files from the 2026 writers (torch 2.13,
NumPy 2.4, joblib 1.6, scikit-learn 1.9, pandas 3.1), written by
corpus/modern/gen/gen_modern.py (`make corpus`).

  * MANIFEST.tsv is replayed with test_formats.py's checks (scan --policy
    ml, load --policy ml);
  * every torch / NumPy / joblib data file scans with exactly the streams
    the manifest lists (from zipfile, pickletools, numpy.lib.format): torch
    2.x's `.format_version`, `.storage_alignment`, `byteorder` and
    `.data/serialization_id` records are data, not pickles;
  * `load --policy ml` gives the structure the real loaders give (the keys
    of torch.load / pickle.load of these benign files, in the venv);
  * the sklearn and pandas policies: their files scan clean and load under
    them, have findings under ml and default, and each policy's allow list
    is exactly the globals of its files (GLOBALS.tsv) minus ml minus the
    dangerous catalogue;
  * docs/policy.md's table of differences between ml and torch's
    weights_only allowlist is exactly the difference torch 2.13 has
    (torch._weights_only_unpickler._get_allowed_globals, read at test time);
  * the catalogue's one exception (torch.serialization._get_layout) is
    exact: siblings and dunder walks stay critical;
  * gen_modern.py regenerates the committed files byte for byte.

Needs torch/numpy/pandas in the interpreter running it (make check runs it
in .venv) only for the cross-checks; without them those are counted skips.
Prints "N passed, M failed, K skipped" last.
"""
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

from pgtest import EXE, ROOT, check, finish, no_binary, skip
import test_formats as tf

MODERN = os.path.join(ROOT, "corpus", "modern")
TORCH_DIFF = ("<!-- ml-vs-torch:begin -->", "<!-- ml-vs-torch:end -->")



# Files whose raw-pickle view (what plain pickle.load reads) the scanner
# cannot prove harmless although CPython stops before any import: see the
# check that uses it.
RAW_VIEW_UNPROVEN = {"sk_columntransformer.joblib"}

def run(*args, cwd=MODERN):
    p = subprocess.run([EXE] + list(args), cwd=cwd, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def rows():
    with open(os.path.join(MODERN, "MANIFEST.tsv"), newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def globals_tsv():
    out = {}
    with open(os.path.join(MODERN, "GLOBALS.tsv")) as fh:
        next(fh)
        for ln in fh:
            f, _, names = ln.rstrip("\n").split("\t")
            out.setdefault(f, set()).update([] if names == "-" else names.split())
    return out


def policy_allows(name):
    """The resolved allow list of a policy, from `policy show`."""
    code, out, err = run("policy", "show", name)
    check(code == 0, "policy show %s: %s" % (name, err))
    m = re.search(r"^allow:\n((?:  - .*\n)*)", out, re.M)
    return {ln.strip()[2:].strip().strip('"') for ln in m.group(1).splitlines()} if m else set()


def catalogue():
    with open(os.path.join(ROOT, "src", "catalogue.def"), encoding="utf-8") as fh:
        text = fh.read()
    return (re.findall(r'^CAT\("([^"]+)"', text, re.M),
            set(re.findall(r'^CAT_EXCEPT\("([^"]+)"', text, re.M)))


def dangerous(name, cat):
    pats, excepts = cat
    if name in excepts:
        return False
    parts = name.split(".")
    for p in pats:
        pp = p.split(".")
        if len(pp) <= len(parts) and all(a == "*" or a == b for a, b in zip(pp, parts)):
            return True
    return False


def manifest_replay():
    tf.CORPUS = MODERN     # test_formats.run() runs in tf.CORPUS
    for r in rows():
        tf.scan_checks(r)
        tf.load_checks(r)


def streams_are_exact():
    """Clean data files: the scanner examined exactly the manifest's
    streams (so every other zip record was judged data)."""
    for r in rows():
        if r["scan_ml"] != "clean":
            continue
        name = r["file"]
        code, out, _ = run("scan", "--policy", "ml", "--format", "json", name)
        f = json.loads(out)["files"][0]
        streams = tf.split_list(r["streams"])
        lengths = [int(s.rsplit(":", 1)[1]) for s in streams]
        # the legacy torch format is one stream of 5 pickles
        count = 5 if r["format"] == "torch-legacy" else len(streams)
        check(f["pickles"] == count and f["bytes_examined"] == sum(lengths),
              "%s: scanned %d pickles / %d bytes, the manifest lists %d / %d"
              % (name, f["pickles"], f["bytes_examined"], count, sum(lengths)))
        check(not f["findings"], "%s: findings under ml: %s" % (name, f["findings"]))


def dict_keys(doc):
    """Keys of a dict as pickle-json writes it: a JSON object, or an
    OrderedDict built from `dictitems` pairs (docs/json.md)."""
    if isinstance(doc, dict) and doc.get("$object") == "collections.OrderedDict":
        return [k for k, _ in doc.get("dictitems", [])]
    if isinstance(doc, dict) and "$object" not in doc:
        return list(doc)
    return None


def structure_matches_loaders():
    """`load --policy ml` of each clean torch / NumPy pickle has the keys
    (or length) that the real loader's result has."""
    try:
        import pickle
        import warnings
        import numpy  # noqa: F401
        import torch
    except ImportError as e:
        skip("load structure vs the real loaders (%s)" % e)
        return
    for r in rows():
        name = r["file"]
        if r["scan_ml"] != "clean" or not name.endswith((".pt", ".pkl")):
            continue
        code, out, err = run("load", "--policy", "ml", name)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        if not check(code == 0 and lines, "%s: load --policy ml: %s" % (name, err.strip())):
            continue
        # legacy torch: magic, version, sys_info, THE OBJECT, storage keys
        doc = json.loads(lines[3] if r["format"] == "torch-legacy" else lines[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name.endswith(".pt"):
                try:
                    real = torch.load(os.path.join(MODERN, name), weights_only=True)
                except Exception:   # protocol 4/5: torch's own allowlisted
                    real = torch.load(os.path.join(MODERN, name),  # loader
                                      weights_only=False)  # lacks FRAME
            else:
                with open(os.path.join(MODERN, name), "rb") as fh:
                    real = pickle.load(fh)
        if isinstance(real, dict):
            keys = dict_keys(doc)
            check(keys == [str(k) for k in real],
                  "%s: load gives keys %s, the real loader %s" % (name, keys, list(real)))
            if hasattr(real, "_metadata"):   # a state_dict's per-module versions
                meta = dict_keys(doc.get("state", {}).get("_metadata"))
                check(meta == list(real._metadata), "%s: _metadata keys %s, the real "
                      "loader %s" % (name, meta, list(real._metadata)))
        elif isinstance(real, list):
            check(isinstance(doc, list) and len(doc) == len(real),
                  "%s: load gives %r items, the real loader %d" % (name, doc, len(real)))
        else:
            check(isinstance(doc, dict) and "$object" in doc,
                  "%s: load gives no object: %.80s" % (name, doc))


def object_policies():
    gl = globals_tsv()
    ml = policy_allows("ml")
    cat = catalogue()
    for pol, prefix in (("sklearn", "sk_"), ("pandas", "pd_")):
        files = [r for r in rows() if r["file"].startswith(prefix)]
        check(files, "no %s files" % prefix)
        emitted = set().union(*(gl.get(r["file"], set()) for r in files))
        want = {g for g in emitted if g not in ml and not dangerous(g, cat)}
        own = policy_allows(pol) - ml
        check(own == want, "policy %s allows %s beyond ml; the writers emit %s"
              % (pol, sorted(own - want), sorted(want - own)))
        for r in files:
            name = r["file"]
            crit = any(dangerous(g, cat) for g in gl.get(name, ()))
            code, out, err = run("scan", "--policy", pol, "--format", "json", name)
            top = json.loads(out)["files"][0]["max_severity"]
            lc, lout, lerr = run("load", "--policy", pol, name)
            if name in RAW_VIEW_UNPROVEN:
                # pickle.load reads this joblib file's array bytes as opcodes
                # and reaches a STACK_GLOBAL whose module operand is the
                # result of numpy's _reconstruct: CPython raises "STACK_GLOBAL
                # requires str" there, but the scanner cannot prove a call
                # result is no str, so the raw-pickle view stays high.
                check(top == "high", "%s: %s under %s, expected high (raw view)"
                      % (name, top, pol))
                check(lc == 1 and "read as a raw pickle" in lerr,
                      "%s: load --policy %s refuses the raw view: %d %s"
                      % (name, pol, lc, lerr.strip()))
            elif crit:
                check(top == "critical", "%s: %s under %s, expected critical" % (name, top, pol))
                check(lc == 1 and "refused" in lerr, "%s: load --policy %s exits %d" % (name, pol, lc))
            else:
                check(top in (None, "info"), "%s: highest %s under %s" % (name, top, pol))
                check(lc == 0 and lout.strip().startswith("{"),
                      "%s: load --policy %s exits %d: %s" % (name, pol, lc, lerr.strip()))
            for weaker in ("ml", "default"):
                code, out, err = run("scan", "--policy", weaker, "--format", "json", name)
                top = json.loads(out)["files"][0]["max_severity"]
                check(top in ("high", "critical"), "%s: %s under %s" % (name, top, weaker))


def torch_allowlist():
    try:
        import torch._weights_only_unpickler as wo
    except ImportError as e:
        skip("ml vs torch's weights_only allowlist (%s)" % e)
        return
    torch_set = set(wo._get_allowed_globals())
    ml = policy_allows("ml")
    with open(os.path.join(ROOT, "docs", "policy.md"), encoding="utf-8") as fh:
        doc = fh.read()
    a, b = doc.find(TORCH_DIFF[0]), doc.find(TORCH_DIFF[1])
    if not check(0 <= a < b, "docs/policy.md lacks the ml-vs-torch markers"):
        return
    documented = {"torch only": set(), "ml only": set()}
    for ln in doc[a:b].splitlines():
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[1] in documented:
            documented[cells[1]].update(re.findall(r"`([^`]+)`", cells[0]))
    check(documented["torch only"] == torch_set - ml,
          "torch-only entries: documented but not real %s; real but undocumented %s"
          % (sorted(documented["torch only"] - (torch_set - ml)),
             sorted((torch_set - ml) - documented["torch only"])))
    check(documented["ml only"] == ml - torch_set,
          "ml-only entries: documented but not real %s; real but undocumented %s"
          % (sorted(documented["ml only"] - (ml - torch_set)),
             sorted((ml - torch_set) - documented["ml only"])))


def catalogue_exception():
    """_get_layout is data; everything around it stays dangerous. Raw
    opcodes, nothing unpickled."""
    def scan_top(data, policy):
        with tempfile.NamedTemporaryFile(suffix=".pkl") as fh:
            fh.write(data)
            fh.flush()
            code, out, err = run("scan", "--policy", policy, "--format", "json", fh.name)
        return json.loads(out)["files"][0]["max_severity"]
    layout = b"\x80\x02ctorch.serialization\n_get_layout\nX\x10\x00\x00\x00torch.sparse_coo\x85R."
    check(scan_top(layout, "ml") is None, "_get_layout('torch.sparse_coo') under ml")
    check(scan_top(layout, "default") == "high", "_get_layout under default is not allowed (high)")
    load = b"\x80\x02ctorch.serialization\nload\nX\x04\x00\x00\x00/x.p\x85R."
    check(scan_top(load, "ml") == "critical", "torch.serialization.load stays critical")
    walk = (b"\x80\x04\x8c\x13torch.serialization\x8c\x17_get_layout.__globals__\x93.")
    check(scan_top(walk, "ml") == "critical", "_get_layout.__globals__ stays critical")
    # policy check agrees: an exact allow of the excepted name is no
    # dangerous allow (PKL_E_POLICY_DANGEROUS); a sibling or a wildcard is
    for entry, ok in (("torch.serialization._get_layout", True),
                      ("torch.serialization.load", False),
                      ("torch.serialization.*", False)):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as fh:
            fh.write("version: 1\nextends: ml\nallow:\n  - %s\n" % entry)
            fh.flush()
            code, out, err = run("policy", "check", fh.name)
        check((code == 0) == ok, "policy check allow %s: exit %d %s" % (entry, code, err.strip()))
    sub = b"\x80\x04\x8c\x1ftorch.serialization._get_layout\x8c\x01x\x93."
    check(scan_top(sub, "ml") == "critical", "module torch.serialization._get_layout stays critical")


def regenerates():
    try:
        import torch, numpy, joblib, sklearn, pandas, lz4  # noqa: F401,E401
    except ImportError as e:
        skip("gen_modern.py regenerates corpus/modern (%s)" % e)
        return
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run([sys.executable, os.path.join(MODERN, "gen", "gen_modern.py"), tmp],
                           capture_output=True, timeout=300)
        if not check(p.returncode == 0, "gen_modern.py failed: %s" % p.stderr.decode()[-800:]):
            return
        fresh = sorted(os.listdir(tmp))
        committed = sorted(f for f in os.listdir(MODERN) if f != "gen")
        check(fresh == committed, "file sets differ: %s vs %s"
              % (sorted(set(fresh) ^ set(committed)), ""))
        for f in set(fresh) & set(committed):
            with open(os.path.join(tmp, f), "rb") as a, open(os.path.join(MODERN, f), "rb") as b:
                check(a.read() == b.read(), "%s differs from what gen_modern.py writes" % f)
    total = sum(os.path.getsize(os.path.join(MODERN, f)) for f in os.listdir(MODERN)
                if os.path.isfile(os.path.join(MODERN, f)))
    check(total < 1024 * 1024, "corpus/modern is %d bytes" % total)


def requirements_pinned():
    """Every Python requirement is pinned with == (an unpinned torch would
    pull a multi-GB CUDA build), and the bench's peers stay out of .venv."""
    reqs = {}
    for name in ("test.txt", "bench.txt"):
        with open(os.path.join(ROOT, "requirements", name)) as fh:
            reqs[name] = [ln.split("#")[0].strip() for ln in fh
                          if ln.split("#")[0].strip()]
        for r in reqs[name]:
            check(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+]*", r) is not None,
                  "requirements/%s: %r is not pinned with ==" % (name, r))
    peers = {r.split("==")[0].lower() for r in reqs["bench.txt"]}
    check(not peers & {r.split("==")[0].lower() for r in reqs["test.txt"]},
          "a bench peer is in requirements/test.txt")


def main():
    requirements_pinned()
    if not os.path.exists(EXE):
        return no_binary()
    manifest_replay()
    streams_are_exact()
    structure_matches_loaders()
    object_policies()
    torch_allowlist()
    catalogue_exception()
    regenerates()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
