#!/usr/bin/env python3
"""test_oracle.py -- the real-loader oracle over the whole corpus.

Every file under corpus/ is given to each real loader (tests/oracle.py:
_pickle.Unpickler, pickle._Unpickler, torch.load, numpy.load, joblib.load,
gzip/bz2/lzma + pickle, dbm + pickle) with every global replaced by a
recorder, so nothing from a file runs. The invariant, for every file and
every loader:

- each global the loader asked find_class for is reported by
  `pickleguard scan --format json --policy default` under the same
  resolved name (some finding on the file, at any path, names it), or is
  allowed by the `default` policy (read from `policy show default`), which
  is why the scan is silent about it;
- each EXT code pickle.py looked up is reported as `ext-registry`;
- a request whose module is no dotted identifier path (`cX` at the end
  of the input asks for module "") fails in __import__ and is counted
  apart;
- a global the scan could not name but reports as such at high
  (lost-value after a memo flood, dynamic-global, call-on-unknown,
  bad-global-name for a name no identifier path spells) is
  counted apart, not as a miss;
- if the scan rates such a global high or critical, `pickleguard load
  --policy default` refuses the file.

A loader whose library is not installed is a counted skip. A global a
loader asks for that the scan does not report is a bypass: printed as
"MISS loader file global".

Environment: PKL_BUILD. Prints "N passed, M failed, K skipped" last.
"""
import json
import os
import re
import subprocess
import sys

from pgtest import EXE, ROOT, check, finish, no_binary, skip

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402


def _failed_count():
    import pgtest
    return pgtest._failed


UNNAMED = {"lost-value", "dynamic-global", "call-on-unknown", "bad-global-name"}


def corpus_files():
    out = []
    for d, dirs, files in os.walk(os.path.join(ROOT, "corpus")):
        dirs[:] = sorted(x for x in dirs if x != "gen")
        for f in sorted(files):
            p = os.path.join(d, f)
            if f == "MANIFEST.tsv" or os.path.islink(p):
                continue
            out.append(p)
    return out


def scan_report(paths):
    r = subprocess.run([EXE, "scan", "--format", "json", "--policy",
                        "default"] + paths, capture_output=True, timeout=600)
    rep = json.loads(r.stdout)
    res = {}
    for f in rep["files"]:
        res[f["path"]] = f
    return res


def policy_allows(policy="default"):
    """The allow and deny lists of a built-in policy, from `policy show`."""
    out = subprocess.run([EXE, "policy", "show", policy], capture_output=True,
                         text=True, timeout=60).stdout
    lists = {"allow": set(), "deny": set()}
    cur = None
    for ln in out.splitlines():
        if ln and not ln.startswith(" ") and ln.endswith(":"):
            cur = ln[:-1]
        elif ln.startswith("  - ") and cur in lists:
            lists[cur].add(ln[4:].split("#")[0].strip().strip('"'))
    allow, deny = lists["allow"], lists["deny"]

    def allowed(g):
        # docs/policy.md, Matching: exact, or `a.b.*` = a.b + one identifier
        if g in deny:
            return False
        if g in allow:
            return True
        head, _, last = g.rpartition(".")
        return bool(head) and head + ".*" in allow and last.isidentifier()
    return allowed

# src/formats.c report_sides: "... read the side file 'NAME' ..." (NAME as
# pkli_fmt_put_name spells it: printable ASCII names are unchanged)
SIDE_RE = re.compile(r"read the side file '([^']*)'")


def compare(results, rep, load_cache, allowed):
    figures = {"files": 0, "globals": 0, "misses": 0, "unnamed": 0,
               "side": 0, "unimportable": 0, "miss_list": [], "load_fail": []}
    for loader, recs in sorted(results.items()):
        for path, r in sorted(recs.items()):
            f = rep.get(path)
            if not check(f is not None, "%s: scanned" % path):
                continue
            found = f.get("findings", [])
            names = {x.get("global") for x in found if x.get("global")}
            sev = {}
            for x in found:
                g = x.get("global")
                if g:
                    sev.setdefault(g, set()).add(x["severity"])
            # joblib < 0.10 wrappers make joblib.load read side files; the
            # scan names each one, and what a loader asks for there is
            # reported on the side file itself (scanned as a corpus file)
            for x in found:
                m = SIDE_RE.search(x.get("message", ""))
                side = m and rep.get(os.path.normpath(os.path.join(
                    os.path.dirname(path), m.group(1))))
                if side:
                    figures["side"] += 1
                    for y in side["findings"]:
                        if y.get("global"):
                            names.add(y["global"])
                            sev.setdefault(y["global"], set()).add(
                                y["severity"])
            rules = {x["rule"] for x in found}
            if r["globals"] or r["ext"]:
                figures["files"] += 1
            for spelled in dict.fromkeys(tuple(x) for x in r["globals"]):
                if spelled[0].startswith("__ext__."):
                    continue
                figures["globals"] += 1
                # a module name that is no dotted identifier path ("" from
                # `cX` at the end of the input) cannot be imported: the
                # request fails in __import__ before anything runs
                if not all(m.isidentifier() for m in
                           spelled[0].rpartition(".")[0].split(".")) and \
                        not all(m.isidentifier() for m in
                                spelled[-1].rpartition(".")[0].split(".")):
                    figures["unimportable"] += 1
                    continue
                # the scan's JSON writes control characters as \xNN
                alts = [escaped(a) for a in spelled]
                hit = [a for a in alts if a in names]
                # a global the policy allows draws no finding, rightly
                if not hit and any(allowed(a) for a in alts):
                    continue
                # the scan could not name it but says so (high): a memo
                # flood past the memo cap (lost-value), a computed name
                if not hit and rules & UNNAMED and "high" in \
                        {x["severity"] for x in found if x["rule"] in UNNAMED}:
                    figures["unnamed"] += 1
                    continue
                if not check(hit, "MISS %s %s %s (scan: %s)" % (
                        loader, os.path.relpath(path, ROOT), "|".join(spelled),
                        sorted(names)[:8])):
                    figures["misses"] += 1
                    figures["miss_list"].append((loader, path,
                                                 "|".join(spelled)))
                    continue
                g = hit[0]
                if sev[g] & {"high", "critical"}:
                    if path not in load_cache:
                        # --all: the oracle's loaders read pickle after
                        # pickle, as programs calling pickle.load in a loop do
                        p = subprocess.run([EXE, "load", "--all", "--policy",
                                            "default", path], capture_output=True,
                                           timeout=60)
                        load_cache[path] = p.returncode
                    if not check(load_cache[path] != 0, "load refuses %s "
                                 "(%s asks for %s)" % (path, loader, g)):
                        figures["load_fail"].append((loader, path, g))
            if r["ext"]:
                figures["globals"] += 1
                if not check("ext-registry" in rules, "MISS %s %s EXT %r" % (
                        loader, path, r["ext"][:4])):
                    figures["misses"] += 1
                    figures["miss_list"].append((loader, path, "EXT"))
    return figures


REGRESSIONS = os.path.join(ROOT, "corpus", "regressions", "oracle")


def escaped(name):
    """A name as the scan's JSON spells it: control characters as \\xNN."""
    return "".join("\\x%02x" % ord(ch) if ord(ch) < 0x20 or ord(ch) == 0x7f
                   else ch for ch in name)


def check_regressions(results, rep):
    """corpus/regressions/oracle/MANIFEST.tsv: which unpickler asks for
    which global (the real loaders through the recorder), and that the scan
    reports it at high or above."""
    with open(os.path.join(REGRESSIONS, "MANIFEST.tsv")) as f:
        rows = [ln.rstrip("\n").split("\t") for ln in f][1:]
    check(len(rows) >= 4, "oracle regressions listed")
    for name, loaders, glob, want, _note in rows:
        glob = glob.encode().decode("unicode_escape")
        path = os.path.join(REGRESSIONS, name)
        listed = loaders.split(",")
        # rows about the two unpicklers alone: exactly what they ask for;
        # rows about a container loader (the campaigns' samples): that
        # loader asks for the global among others, the unpicklers reading
        # the raw bytes do not
        exact = set(listed) <= {"cpickle", "pypickle"}
        for loader in ("cpickle", "pypickle"):
            asked = [g[0] for g in results[loader][path]["globals"]]
            if exact:
                expect = [glob] if loader in listed else []
                check(asked == expect, "oracle %s on %s asks for %r, not %r"
                      % (loader, name, expect, asked))
            else:
                check((glob in asked) == (loader in listed),
                      "oracle %s on %s asks for %r: %s" % (
                          loader, name, glob, loader in listed))
        for loader in listed:
            if loader in ("cpickle", "pypickle"):
                continue
            if loader not in results:
                skip("oracle regression %s: loader %s not installed"
                     % (name, loader))
                continue
            asked = [g[0] for g in results[loader][path]["globals"]]
            check(glob in asked, "oracle %s on %s asks for %r (asked: %r)"
                  % (loader, name, glob, asked))
        if want == "high":
            f = rep[path]
            check(any(x.get("global") == escaped(glob) and x["severity"] in
                      ("high", "critical") for x in f.get("findings", [])),
                  "scan reports %s in %s at high" % (escaped(glob), name))


def main():
    if not os.path.exists(EXE):
        return no_binary()
    paths = corpus_files()
    results = oracle.run_oracle(paths)
    for loader in oracle.LOADERS:
        if loader not in results:
            skip("oracle loader %s: library not installed" % loader)
    rep = scan_report(paths)
    check_regressions(results, rep)
    figures = compare(results, rep, {}, policy_allows("default"))
    print("oracle: %d files, %d loaders, %d (loader, file) pairs with "
          "globals, %d globals compared, %d reported unnamed (high), %d misses"
          ", %d side-file references followed"
          % (len(paths), len(results), figures["files"], figures["globals"],
             figures["unnamed"], figures["misses"], figures["side"]))
    check(figures["globals"] > 100, "the oracle saw globals at all")
    system_pass(paths, rep)
    return finish()


# Debian's own python3 with Debian's (older) torch, NumPy and joblib
# (scripts/deps.sh installs python3-torch, python3-numpy, python3-joblib
# where the release has them: torch 1.13, NumPy 1.24, joblib 1.2 on
# Debian 12): the same invariant against the loaders as they were.
SYSTEM_PYTHON = os.environ.get("PKL_ORACLE_SYSTEM_PYTHON", "/usr/bin/python3")
SYSTEM_LOADERS = ("torch", "numpy", "joblib")


def system_versions():
    """{loader: version} of the libraries Debian's python3 imports."""
    if not os.path.exists(SYSTEM_PYTHON) or \
            os.path.realpath(SYSTEM_PYTHON) == os.path.realpath(sys.executable):
        return {}
    found = {}
    for mod in SYSTEM_LOADERS:
        p = subprocess.run([SYSTEM_PYTHON, "-c",
                            "import %s; print(%s.__version__)" % (mod, mod)],
                           capture_output=True, text=True)
        if p.returncode == 0:
            found[mod] = p.stdout.strip()
    return found


def system_pass(paths, rep):
    found = system_versions()
    for mod in SYSTEM_LOADERS:
        if mod not in found:
            skip("oracle with %s's %s: not installed" % (SYSTEM_PYTHON, mod))
    if not found:
        return
    results = oracle.run_oracle(paths, loaders=tuple(found),
                                python=SYSTEM_PYTHON)
    figures = compare(results, rep, {}, policy_allows("default"))
    print("oracle (%s: %s): %d files, %d (loader, file) pairs with globals, "
          "%d globals compared, %d misses"
          % (SYSTEM_PYTHON, ", ".join("%s %s" % kv for kv in found.items()),
             len(paths), figures["files"], figures["globals"],
             figures["misses"]))
    check(figures["globals"] > 100,
          "the system-python oracle saw globals at all")


if __name__ == "__main__":
    sys.exit(main())
