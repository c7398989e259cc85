#!/usr/bin/env python3
"""test_formats.py -- `pickleguard scan` and `pickleguard load` over
corpus/formats (PyTorch, NumPy, joblib, compressed files, shelves and their
hostile variants), against corpus/formats/MANIFEST.tsv.

The manifest is written by corpus/formats/gen/gen_formats.py, which takes
stream paths and lengths from zipfile, pickletools, numpy and joblib, and
states by reasoning what each hostile file must produce:

  scan_ml   clean             no finding above info; exit 0 with --fail-on low
            flagged:SEV       highest severity SEV; a critical finding sits
                              at one of the manifest's stream paths
            not-a-pickle      the `not-a-pickle` verdict
  load_ml   ok                exit 0, one JSON line per pickle (none for
                              data-only files)
            refused           exit 1, "refused" on stderr
            error             exit 1, a message naming the file
  problems  CODE@PATH         a container-* finding at PATH (scan) -- the
                              top-level 601 is the scanner's not-a-pickle

Only the standard library is used; no file is unpickled here.
Environment: PKL_BUILD (build directory holding the pickleguard binary).
Prints "N passed, M failed" last; exits 1 on any failure.
"""
import csv
import gzip
import json
import os
import pickle
import subprocess
import sys
import tempfile

from pgtest import EXE as BIN, ROOT, check, finish, no_binary
CORPUS = os.path.join(ROOT, "corpus", "formats")



def run(*args):
    # cwd = the corpus directory, so paths are bare names and a dbm.dumb
    # file finds its sibling
    p = subprocess.run([BIN] + list(args), cwd=CORPUS, capture_output=True,
                       timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


def split_list(field):
    return [] if field == "-" else field.split(";")


def inner(p):
    """manifest path ('.', '!a/b') -> finding path ('', 'a/b')."""
    return "" if p == "." else p[1:]


SEV = ["info", "low", "medium", "high", "critical"]


def scan_checks(r):
    name = r["file"]
    code, out, err = run("scan", "--policy", "ml", "--format", "json", name)
    try:
        doc = json.loads(out)
        f = doc["files"][0]
    except (ValueError, KeyError, IndexError):
        check(False, "%s: scan output is not the JSON report (%r)" % (name, err))
        return
    findings = f.get("findings", [])
    top = f.get("max_severity")
    want = r["scan_ml"]
    streams = [s.rsplit(":", 1)[0] for s in split_list(r["streams"])]
    if want == "clean":
        check(top in (None, "info"),
              "%s: expected clean, highest severity %s: %s" % (name, top, findings))
        c2, _, _ = run("scan", "--policy", "ml", "--fail-on", "low", name)
        check(c2 == 0, "%s: --fail-on low exits %d" % (name, c2))
    elif want == "not-a-pickle":
        check(f.get("verdict") == "not-a-pickle",
              "%s: verdict %s, expected not-a-pickle" % (name, f.get("verdict")))
        check(code == 0, "%s: not-a-pickle exits %d" % (name, code))
    else:
        sev = want.split(":", 1)[1]
        check(top == sev, "%s: highest severity %s, expected %s: %s"
              % (name, top, sev, [(x["rule"], x["severity"], x["path"]) for x in findings]))
        check(code == (1 if SEV.index(sev) >= 2 else 0),
              "%s: exit %d with highest severity %s" % (name, code, sev))
        if sev == "critical":
            paths = {x["path"] for x in findings if x["severity"] == "critical"}
            check(paths & {inner(p) for p in streams},
                  "%s: critical findings at %s, none at a stream %s"
                  % (name, paths, streams))
    for prob in split_list(r["problems"]):
        c, p = prob.split("@", 1)
        if c == "601" and p == ".":
            continue
        hits = [x for x in findings if x["rule"].startswith("container-")
                and x["path"] == inner(p)]
        check(hits, "%s: no container finding for problem %s (%s)"
              % (name, prob, [(x["rule"], x["path"]) for x in findings]))
    # no container finding the manifest does not list
    listed = {inner(p.split("@", 1)[1]) for p in split_list(r["problems"])}
    extra = [x for x in findings if x["rule"].startswith("container-")
             and x["path"] not in listed]
    check(not extra, "%s: unexpected container findings %s" % (name, extra))
    # text output names members with '!'
    code_t, out_t, _ = run("scan", "--policy", "ml", name)
    for x in findings:
        if x["path"] and x["severity"] == "critical":
            check(("%s!%s:" % (name, x["path"])) in out_t,
                  "%s: text report lacks %s!%s" % (name, name, x["path"]))


def load_checks(r):
    name = r["file"]
    code, out, err = run("load", "--policy", "ml", name)
    want = r["load_ml"]
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if want == "ok":
        check(code == 0, "%s: load exits %d: %s" % (name, code, err.strip()))
        for ln in lines:
            try:
                json.loads(ln)
                ok = True
            except ValueError:
                ok = False
            check(ok, "%s: load line is not JSON: %.80s" % (name, ln))
        if r["streams"] == "-":
            check(not lines, "%s: data-only file printed %d lines" % (name, len(lines)))
        else:
            check(len(lines) >= len(split_list(r["streams"])),
                  "%s: %d JSON lines for %d streams" % (name, len(lines),
                                                       len(split_list(r["streams"]))))
    elif want == "refused":
        check(code == 1, "%s: load of a hostile file exits %d" % (name, code))
        check("refused" in err, "%s: no refusal on stderr: %s" % (name, err.strip()))
    else:
        check(code == 1, "%s: load exits %d, expected 1" % (name, code))
        check(name in err, "%s: the error does not name the file: %s" % (name, err))


def scan_findings(path, *opts, fields=("rule", "severity")):
    """Exit status and the sorted findings of `scan --format json PATH`,
    each a tuple of `fields` (None when the output is not a report)."""
    code, out, err = run("scan", "--format", "json", *opts, path)
    try:
        found = sorted(tuple(x[k] for k in fields) for x in
                       json.loads(out)["files"][0]["findings"])
    except (ValueError, KeyError, IndexError):
        found = None
    return code, found, err


def put(tmp, name, data):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def output_limit_checks(tmp):
    """--max-output / --max-total (scan and load): a gzip member that
    expands to 3 MiB is clean by default, a container-limit finding (scan)
    or an error (load) under a 1 MiB limit, clean again under 4 MiB. A
    truncated or over-limit stream is scanned as far as it was decoded:
    os.system at the start of a gzip cut short is still critical."""
    path = put(tmp, "big.pkl.gz",
               gzip.compress(pickle.dumps({"a": b"x" * (3 << 20)}, protocol=4),
                             mtime=0))
    # over a limit: the limit, then the pickle cut short at it (the part
    # decoded before the limit is scanned too)
    # (a benign dict cut short before anything ran is not-a-pickle: what
    # was decoded cannot run anything)
    cut = ["container-limit", "not-a-pickle"]
    for opts, want_code, want_rules in (
            ((), 0, []),
            (("--max-output", "1M"), 1, cut),
            (("--max-output=4M",), 0, []),
            (("--max-total", "1048576"), 1, cut),
            (("--max-output", "4M", "--max-total", "2M"), 1, cut)):
        code, found, err = scan_findings(path, *opts, fields=("rule",))
        rules = [r for (r,) in found] if found is not None else None
        check(code == want_code and rules == want_rules,
              "scan %s: exit %d, rules %r, want %d, %r (%s)"
              % (" ".join(opts) or "(defaults)", code, rules, want_code,
                 want_rules, err.strip()[:200]))
    for opts, want_code in (((), 0), (("--max-output", "1M"), 1),
                            (("--max-output", "4M"), 0),
                            (("--max-total=1M",), 1)):
        code, out, err = run("load", *opts, path)
        check(code == want_code,
              "load %s: exit %d, want %d (%s)"
              % (" ".join(opts) or "(defaults)", code, want_code,
                 err.strip()[:200]))
        if want_code == 1:
            check("limit" in err,
                  "load %s names the limit: %s" % (" ".join(opts), err[:200]))
    # a pickle that calls os.system, then 2 MiB of padding after STOP, in
    # one gzip member: over a 1 MiB limit, the call is still reported
    epath = put(tmp, "evil-padded.gz",
                gzip.compress(b"cos\nsystem\n(S'echo pwned'\ntR." +
                              b"\0" * (2 << 20), mtime=0))
    code, found, _ = scan_findings(epath, "--max-output", "1M",
                                   fields=("rule", "severity", "offset"))
    check(found is not None and ("dangerous-global", "critical", 0) in found
          and any(r == "container-limit" for r, _, _ in found),
          "padded os.system gzip over --max-output 1M: %r" % (found,))
    # cut short inside the compressed data: the call is still reported
    tpath = put(tmp, "evil-truncated.gz",
                gzip.compress(b"cos\nsystem\n(S'echo pwned'\ntR.",
                              mtime=0)[:-10])
    code, found, _ = scan_findings(tpath)
    check(found == [("container-truncated", "medium"),
                    ("dangerous-global", "critical"), ("truncated", "medium")],
          "truncated os.system gzip: %r" % (found,))
    code, out, err = run("load", tpath)
    check(code == 1 and out == "", "load of a truncated gzip fails without "
          "output: exit %d, %r" % (code, out[:80]))
    # LZ4 frames cut short, and with a damaged frame header: the committed
    # sample (os.system, protocol 0) stores its 29 bytes uncompressed in
    # one block, so a cut inside the block still decodes what came before
    with open(os.path.join(CORPUS, "malicious_lz4.lz4"), "rb") as f:
        lz = f.read()
    for name, data, want in (
            ("lz4-truncated.lz4", lz[:-6], [("container-truncated", "medium"),
                                           ("dangerous-global", "critical"),
                                           ("truncated", "medium")]),
            ("lz4-bad-header.lz4", lz[:5] + bytes([lz[5] ^ 0xff]) + lz[6:],
             [("container-damaged", "medium")])):
        code, found, _ = scan_findings(put(tmp, name, data))
        check(found == want, "%s: %r, want %r" % (name, found, want))
    for cmd in ("scan", "load"):
        for bad in ("0", "-1", "1X", "", "99999999999999999999G"):
            code, _, err = run(cmd, "--max-output", bad, path)
            check(code == 2 and "--max-output" in err,
                  "%s --max-output %r: exit %d, want 2 (%s)"
                  % (cmd, bad, code, err.strip()[:120]))


def main():
    if not os.path.exists(BIN):
        return no_binary()
    with open(os.path.join(CORPUS, "MANIFEST.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    check(len(rows) >= 40, "manifest has %d rows" % len(rows))
    for r in rows:
        scan_checks(r)
        load_checks(r)
    # content, not name: the same bytes under other names scan the same
    with tempfile.TemporaryDirectory() as tmp:
        for src, alias in (("torch_malicious.pt", "readme.txt"),
                           ("malicious_xz.xz", "model.safetensors"),
                           ("weights.txt", "data")):
            with open(os.path.join(CORPUS, src), "rb") as f:
                data = f.read()
            dst = os.path.join(tmp, alias)
            with open(dst, "wb") as f:
                f.write(data)
            code, out, _ = run("scan", "--policy", "ml", "--format", "json", dst)
            try:
                sev = json.loads(out)["files"][0]["max_severity"]
            except (ValueError, KeyError, IndexError):
                sev = None
            check(code == 1 and sev == "critical",
                  "%s renamed %s: exit %d, severity %s" % (src, alias, code, sev))
        output_limit_checks(tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
