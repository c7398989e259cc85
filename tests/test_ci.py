#!/usr/bin/env python3
"""Tests issue 17, CI-grade scanning: nothing skipped in silence (symlinks,
special files, Berkeley DB and dbm.dumb shelves), Enum members pickled as
getattr(cls, "NAME"), output that names cannot forge, policies that guard
their users (policy check, fix hints, policy suggest), the CLI conventions
(--fail-on none, --include/--exclude, --quiet, '-' as data, --files-from,
jsonl, exit codes), load's envelope, the rule table, and SARIF.

Expected values come from outside the program under test: CPython's
pickle (Enum members pickled with enum.pickle_by_enum_name, benign values
only), Debian's /usr/bin/python3 dbm.ndbm (Berkeley DB) and dbm.dumb for
shelves, the file system, json/yaml parsers. Hostile samples are raw
opcode bytes, never unpickled. Run with PKL_BUILD=<build dir>.
"""
import json
import os
import pickle
import pickletools
import shutil
import stat
import subprocess
import sys
import tempfile

from pgtest import EXE, ROOT, check, finish, no_binary, skip

OS_SYSTEM = b"cos\nsystem\n(S'echo pwned'\ntR."
BENIGN = pickle.dumps({"a": [1, 2.5, "x"]}, 2)


def run(args, stdin=None, cwd=None, timeout=60, env=None):
    p = subprocess.run([EXE] + list(args), input=stdin, capture_output=True,
                       timeout=timeout, cwd=cwd, env=env)
    return p.returncode, p.stdout, p.stderr


def scan_json(args, **kw):
    rc, out, err = run(["scan", "--format", "json"] + list(args), **kw)
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    return rc, doc, err


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def rules_of(f):
    return [x["rule"] for x in f["findings"]]


# ---- 1. nothing skipped in silence ------------------------------------------

def tree_tests(d):
    outside = write(os.path.join(d, "outside", "evil.pkl"), OS_SYSTEM)
    t = os.path.join(d, "tree")
    write(os.path.join(t, "a.pkl"), BENIGN)
    os.symlink(outside, os.path.join(t, "model.pkl"))       # link out of the tree
    write(os.path.join(t, "z", "evil.pkl"), OS_SYSTEM)
    os.symlink(os.path.join("z", "evil.pkl"), os.path.join(t, "a_link.pkl"))
    os.symlink("a.pkl", os.path.join(t, "same.pkl"))        # link to a file in it
    os.symlink(".", os.path.join(t, "loop"))                # link loop
    os.symlink("nowhere.pkl", os.path.join(t, "dangling.pkl"))
    os.mkfifo(os.path.join(t, "fifo.pkl"))
    rc, doc, err = scan_json([t], timeout=20)
    check(doc is not None, "tree scan gives JSON: %r" % err)
    if doc is None:
        return
    by = {os.path.relpath(f["path"], t): f for f in doc["files"]}
    check("model.pkl" in by and rules_of(by["model.pkl"]) == ["symlink-outside"]
          and by["model.pkl"]["findings"][0]["severity"] == "medium",
          "a symlink out of the tree is not followed but a medium finding: %r"
          % sorted(by))
    check("a_link.pkl" in by and "dangerous-global" in rules_of(by["a_link.pkl"])
          and rules_of(by.get("z/evil.pkl", {"findings": []})) == ["same-file"],
          "a symlink inside the tree is followed (scanned once): %r"
          % [(k, rules_of(v)) for k, v in sorted(by.items())])
    pw = os.path.join(t, "..", "tree2")
    os.makedirs(pw)
    os.symlink("/etc/passwd", os.path.join(pw, "pw.pkl"))
    rc2, doc2, _ = scan_json([pw])
    check(doc2 and rules_of(doc2["files"][0]) == ["symlink-outside"] and
          doc2["files"][0]["bytes_examined"] == 0,
          "a link to a host file is never read: %r" % doc2)
    check(rc == 1, "tree with a hostile link exits 1 (got %d)" % rc)
    check(by.get("same.pkl") and rules_of(by["same.pkl"]) == ["same-file"],
          "a link to a file already scanned is a same-file finding: %r"
          % by.get("same.pkl"))
    check(by.get("loop") and rules_of(by["loop"]) == ["same-file"],
          "a link loop ends with a same-file finding: %r" % by.get("loop"))
    check(by.get("dangling.pkl") and rules_of(by["dangling.pkl"]) ==
          ["symlink-broken"] and by["dangling.pkl"]["findings"][0]["severity"]
          == "medium", "a dangling link is a medium symlink-broken finding")
    check(by.get("fifo.pkl") and rules_of(by["fifo.pkl"]) == ["special-file"],
          "a FIFO in the tree is a special-file finding, not a hang: %r"
          % by.get("fifo.pkl"))
    # every file scanned once: a.pkl appears with its own verdict once
    paths = [os.path.realpath(f["path"]) for f in doc["files"]
             if f["verdict"] in ("clean", "findings") and
             "same-file" not in rules_of(f)]
    check(len(paths) == len(set(paths)), "no file scanned twice: %r" % paths)


def have_ndbm():
    py = "/usr/bin/python3"
    if not os.path.exists(py):
        return None
    p = subprocess.run([py, "-c", "import dbm.ndbm as d; print(d.library)"],
                       capture_output=True, text=True)
    return py if p.returncode == 0 and "Berkeley" in p.stdout else None


def shelf_tests(d):
    py = have_ndbm()
    if not py:
        skip("Berkeley DB shelves: Debian's /usr/bin/python3 with dbm.ndbm "
             "(Berkeley DB) is not available")
    else:
        base = os.path.join(d, "bdb", "shelf")
        os.makedirs(os.path.dirname(base))
        # the values: pickles made here (benign) and raw hostile bytes,
        # stored by Debian's Python through libdb's ndbm emulation
        code = ("import dbm.ndbm, sys\n"
                "d = dbm.ndbm.open(sys.argv[1], 'c')\n"
                "d[b'good'] = bytes.fromhex(sys.argv[2])\n"
                "d[b'big'] = bytes.fromhex(sys.argv[3])\n"
                "d[b'evil'] = bytes.fromhex(sys.argv[4])\n"
                "d.close()\n")
        big = pickle.dumps({"text": "y" * 9000}, 4)  # an overflow chain
        subprocess.run([py, "-c", code, base, BENIGN.hex(), big.hex(),
                        OS_SYSTEM.hex()], check=True)
        db = base + ".db"
        check(os.path.exists(db), "dbm.ndbm made a .db file")
        rc, doc, _ = scan_json([db])
        f = doc["files"][0] if doc else {"findings": []}
        evil = [x for x in f["findings"] if x["rule"] == "dangerous-global"]
        check(rc == 1 and evil and evil[0]["path"] == "key:'evil'",
              "a hostile value in a Berkeley DB shelf is critical at its key: %r"
              % f["findings"])
        check(not [x for x in f["findings"] if x["severity"] == "medium"],
              "the Berkeley DB shelf is read whole: %r" % f["findings"])
        # load names each key; values equal what pickle.loads gives
        code2 = ("import dbm.ndbm, sys\n"
                 "d = dbm.ndbm.open(sys.argv[1], 'c')\n"
                 "d[b'good'] = bytes.fromhex(sys.argv[2])\n"
                 "d[b'big'] = bytes.fromhex(sys.argv[3])\n"
                 "d.close()\n")
        base2 = os.path.join(d, "bdb", "clean")
        subprocess.run([py, "-c", code2, base2, BENIGN.hex(), big.hex()],
                       check=True)
        rc, out, err = run(["load", "--with-source", base2 + ".db"])
        docs = [json.loads(ln) for ln in out.splitlines()]
        got = {x["source"]: x["value"] for x in docs}
        check(rc == 0 and got == {"key:'good'": pickle.loads(BENIGN),
                                  "key:'big'": pickle.loads(big)},
              "load --with-source of a Berkeley DB shelf: %d %r %s"
              % (rc, sorted(got), err))
    # dbm.dumb: .dat/.dir/.bak, written by CPython's dbm.dumb
    import dbm.dumb
    base = os.path.join(d, "dumb", "shelf")
    os.makedirs(os.path.dirname(base))
    db = dbm.dumb.open(base, "c")
    db[b"a"] = BENIGN
    db.close()
    db = dbm.dumb.open(base, "w")   # a second commit leaves the .bak
    db[b"b"] = pickle.dumps([3], 2)
    db.close()
    names = sorted(os.listdir(os.path.dirname(base)))
    check(names == ["shelf.bak", "shelf.dat", "shelf.dir"],
          "dbm.dumb made its three files: %r" % names)
    rc, doc, _ = scan_json([os.path.dirname(base)])
    check(rc == 0 and doc and all(f["verdict"] == "clean" and not f["findings"]
                                  for f in doc["files"]),
          "a dbm.dumb shelf and its side files scan clean: %r"
          % (doc and [(f["path"], rules_of(f)) for f in doc["files"]]))
    db = dbm.dumb.open(base, "w")
    db[b"evil"] = OS_SYSTEM
    db.close()
    rc, doc, _ = scan_json([base + ".dir"])
    f = doc["files"][0] if doc else {"findings": []}
    check(any(x["rule"] == "dangerous-global" and x["path"] == "key:'evil'"
              for x in f["findings"]),
          "a hostile dbm.dumb value is critical at its key: %r" % f["findings"])


# ---- 2. Enum members: getattr(AllowedClass, "NAME") -------------------------

ENUM_MOD = '''
import enum
class Color(enum.Enum):
    RED = 1
    GREEN = 2
    __reduce_ex__ = enum.pickle_by_enum_name
'''


def enum_tests(d):
    sys.path.insert(0, d)
    with open(os.path.join(d, "pg_enum_mod.py"), "w") as f:
        f.write(ENUM_MOD)
    import pg_enum_mod
    pol = write(os.path.join(d, "enum_policy.yaml"),
                b"version: 1\nextends: default\nallow:\n  - pg_enum_mod.Color\n")
    for proto in range(6):
        data = pickle.dumps([pg_enum_mod.Color.RED, pg_enum_mod.Color.GREEN,
                             pg_enum_mod.Color.RED], proto)
        ops = [op.name for op, _, _ in pickletools.genops(data)]
        check(b"getattr" in data and "REDUCE" in ops,
              "CPython pickles the member as getattr(Color, ...) at "
              "protocol %d" % proto)
        path = write(os.path.join(d, "enum", "p%d.pkl" % proto), data)
        rc, out, err = run(["load", "--policy", pol, path])
        want = [{"$attr": "pg_enum_mod.Color", "name": n}
                for n in ("RED", "GREEN", "RED")]
        got = json.loads(out) if rc == 0 else None
        check(got == want, "protocol %d: load gives $attr nodes: %d %r %s"
              % (proto, rc, out[:200], err))
        rc, doc, _ = scan_json(["--policy", pol, path])
        check(rc == 0 and doc["files"][0]["verdict"] == "clean",
              "protocol %d: an Enum member of an allowed class scans clean: %r"
              % (proto, doc and doc["files"][0]["findings"]))
        rc, doc, _ = scan_json([path])
        check(rc == 1 and "dangerous-global" in rules_of(doc["files"][0]),
              "protocol %d: when the class is not allowed, getattr stays "
              "critical" % proto)
    # hostile variants, raw opcodes (protocol 2)
    G = b"\x80\x02c__builtin__\ngetattr\nq\x00cpg_enum_mod\nColor\nq\x01"
    cases = {
        "called": G + b"X\x03\x00\x00\x00RED\x86R)R.",
        "dunder": G + b"X\x09\x00\x00\x00__class__\x86R.",
        "private": G + b"X\x04\x00\x00\x00_RED\x86R.",
        "not-identifier": G + b"X\x07\x00\x00\x00RED.foo\x86R.",
        "in-a-list": b"\x80\x02]q\x00c__builtin__\ngetattr\nq\x01a.",
        "class-not-allowed": (b"\x80\x02c__builtin__\ngetattr\ncmypkg\nThing\n"
                              b"X\x03\x00\x00\x00RED\x86R."),
        "build": G + b"X\x03\x00\x00\x00RED\x86R}b.",
        "append": G + b"X\x03\x00\x00\x00RED\x86RK\x01a.",
        "memo-reuse-call": G + b"X\x03\x00\x00\x00RED\x86Rh\x00h\x01X\x04\x00\x00\x00BLUE\x86R\x86.",
        "unsafe-then-safe": (b"\x80\x02c__builtin__\ngetattr\nq\x00h\x00cpg_enum_mod\nColor\n"
                             b"X\x03\x00\x00\x00RED\x86R\x86."),
    }
    for name, data in cases.items():
        path = write(os.path.join(d, "enum_bad", name + ".pkl"), data)
        rc, doc, _ = scan_json(["--policy", pol, path])
        f = doc["files"][0] if doc else {"findings": []}
        safe = name == "memo-reuse-call"
        crit = "dangerous-global" in rules_of(f)
        check(crit != safe, "%s: getattr critical=%s: %r"
              % (name, crit, rules_of(f)))
        rc, out, err = run(["load", "--policy", pol, path])
        if safe:
            check(rc == 0 and json.loads(out) ==
                  {"$tuple": [{"$attr": "pg_enum_mod.Color", "name": "RED"},
                              {"$attr": "pg_enum_mod.Color", "name": "BLUE"}]},
                  "%s: memo reuse of getattr decodes: %d %r %s"
                  % (name, rc, out, err))
        else:
            # refused, or (BUILD/APPEND on the attribute) a type error: never
            # a document
            check(rc == 1 and out == b"" and (b"refused" in err or
                                              b"class attribute" in err),
                  "%s: load refuses: %d %r" % (name, rc, err))


# ---- 3. output that cannot be forged -----------------------------------------

def names_tests(d):
    t = os.path.join(d, "names")
    os.makedirs(t)
    bad = [b"new\nline 1 clean.pkl", b"esc\x1b[31mred.pkl", b"bad\xff\xfe.pkl"]
    for n in bad:
        with open(os.path.join(t.encode(), n), "wb") as f:
            f.write(OS_SYSTEM)
    rc, out, _ = run(["scan", t])
    lines = out.split(b"\n")
    check(lines[-1] == b"", "text output ends with a newline")
    lines = lines[:-1]
    check(len(lines) == 4, "one line per finding plus the summary (%d): %r"
          % (len(lines), lines))
    check(b"\x1b" not in out and b"\xff" not in out,
          "no raw ESC or invalid UTF-8 in the text output")
    check(b"new\\x0aline" in out and b"esc\\x1b[31m" in out and
          b"bad\\xff\\xfe" in out, "names are escaped as \\xNN: %r" % out[:400])
    check(all(ln.startswith(t.encode() + b"/") for ln in lines[:3]),
          "every finding line starts with the scanned path")
    rc, out, _ = run(["scan", "--format", "json", t])
    doc = json.loads(out)
    hexes = sorted(bytes.fromhex(f["path_hex"]) for f in doc["files"]
                   if "path_hex" in f)
    check(hexes == [os.path.join(t.encode(), b"bad\xff\xfe.pkl")],
          "JSON is valid and path_hex holds the exact bytes: %r" % hexes)
    rc, out, _ = run(["scan", "--format", "sarif", t])
    sarif = json.loads(out)
    check(len(sarif["runs"][0]["results"]) == 3, "SARIF valid, 3 results")
    rc, out, _ = run(["scan", "--format", "jsonl", t])
    objs = [json.loads(ln) for ln in out.splitlines()]
    check(len(objs) == 4 and "summary" in objs[-1],
          "jsonl: one valid object per file and a summary: %d" % len(objs))
    # a global with control characters in its name, raw opcodes
    path = write(os.path.join(d, "ctl.pkl"),
                 b"\x80\x04\x8c\x04ev\x1bl\x94\x8c\x03a\nb\x94\x93\x94.")
    rc, out, _ = run(["scan", path])
    check(b"\x1b" not in out and out.count(b"\n") ==
          len(json.loads(run(["scan", "--format", "json", path])[1])
              ["files"][0]["findings"]) + 1,
          "a global's name cannot add lines or escapes: %r" % out)
    # stderr: an unreadable file's name is escaped too
    rc, out, err = run(["scan", os.path.join(d, "missing\n1 clean\x1b.pkl")])
    check(rc == 2 and b"\x1b" not in err and err.count(b"\n") == 1,
          "stderr names are escaped: %r" % err)


# ---- 4. policies that guard their users --------------------------------------

def policy_tests(d):
    def pol(name, text):
        return write(os.path.join(d, "pol", name), text.encode())
    p1 = pol("sys.yaml", "version: 1\nextends: default\nallow:\n  - os.system\n")
    p2 = pol("star.yaml", "version: 1\nallow:\n  - builtins.*\n")
    p3 = pol("eval.yaml", "version: 1\nallow:\n  - builtins.eval\n")
    p4 = pol("ok.yaml", "version: 1\nallow:\n  - collections.OrderedDict\n"
             "allow_dangerous:\n  - os.system\n")
    for p in (p1, p2, p3):
        rc, _, err = run(["policy", "check", p])
        check(rc == 1 and b"known-dangerous" in err,
              "policy check rejects %s: %d %r" % (os.path.basename(p), rc, err))
        rc, _, err = run(["load", "--policy", p, "-"], stdin=OS_SYSTEM)
        check(rc == 2, "load with %s exits 2 (invalid policy): %d"
              % (os.path.basename(p), rc))
        rc, _, err = run(["scan", "--policy", p, "-"], stdin=BENIGN)
        check(rc == 2, "scan with %s exits 2 (invalid policy): %d"
              % (os.path.basename(p), rc))
    rc, _, err = run(["policy", "check", p4])
    check(rc == 0, "allow_dangerous is the documented override: %r" % err)
    rc, out, _ = run(["policy", "show", p4])
    shown = pol("shown.yaml", out.decode())
    rc2, _, err = run(["policy", "check", shown])
    check(rc == 0 and b"allow_dangerous:\n  - os.system" in out and rc2 == 0,
          "policy show writes allow_dangerous so it checks again: %r" % err)
    rc, doc, _ = scan_json(["--policy", p4, "-"], stdin=OS_SYSTEM)
    check(rc == 1 and doc["files"][0]["max_severity"] == "critical",
          "an allow_dangerous global stays critical in scan")
    for b in ("default", "ml", "strict"):
        rc, out, _ = run(["policy", "show", b])
        rc2, _, err = run(["policy", "check", "-"], stdin=out)
        check(rc == 0 and rc2 == 0, "built-in %s passes policy check: %r"
              % (b, err))
    # fix hints: pasteable YAML, never a dangerous global
    cls = (b"\x80\x02cmypkg.models\nPoint\nq\x00)\x81q\x01}q\x02X\x01\x00"
           b"\x00\x00xK\x01sb.")
    path = write(os.path.join(d, "hint", "point.pkl"), cls)
    rc, doc, _ = scan_json([path])
    x = [x for x in doc["files"][0]["findings"]
         if x["rule"] == "global-not-allowed"][0]
    check("version: 1" in x["hint"] and "extends: default" in x["hint"] and
          "--policy ml" in x["hint"] and
          x["hint"].endswith("allow:\n  - mypkg.models.Point"),
          "the hint says what a policy file needs: %r" % x["hint"])
    rc, out, _ = run(["scan", path, write(os.path.join(d, "hint", "evil.pkl"),
                                          OS_SYSTEM)])
    text = out.decode()
    snippet = "\n".join(ln for ln in text.splitlines()
                        if ln.startswith(("#", "version:", "extends:", "allow:",
                                          "  - ")))
    check("  - mypkg.models.Point" in snippet and "os.system" not in snippet,
          "the text snippet allows the class and never os.system: %r" % snippet)
    sp = pol("snippet.yaml", snippet + "\n")
    rc, _, err = run(["policy", "check", sp])
    check(rc == 0, "the pasted snippet is a valid policy: %r" % err)
    rc, doc, _ = scan_json(["--policy", sp, path])
    check(rc == 0 and doc["files"][0]["verdict"] == "clean",
          "with the pasted snippet the file scans clean")
    # dangerous findings never hint at allowing
    rc, doc, _ = scan_json(["-"], stdin=OS_SYSTEM)
    check(all("allow" not in x["hint"] for x in doc["files"][0]["findings"]),
          "a dangerous global's hint never suggests allowing it")
    # policy suggest
    evil = os.path.join(d, "hint", "evil.pkl")
    rc, out, err = run(["policy", "suggest", path, evil])
    sug = pol("suggested.yaml", out.decode())
    rc2, _, err2 = run(["policy", "check", sug])
    check(rc == 1 and rc2 == 0 and b"version: 1" in out and
          b"extends: default" in out and b"  - mypkg.models.Point" in out,
          "policy suggest writes a valid complete policy: %d %r %r"
          % (rc, out, err2))
    check(b"os.system" in err and b"\n  - os.system" not in out,
          "policy suggest refuses os.system and says so: %r" % err)
    rc, out, err = run(["policy", "suggest", path])
    check(rc == 0, "policy suggest of trusted files exits 0: %r" % err)


# ---- 5. CLI conventions --------------------------------------------------------

def cli_tests(d):
    t = os.path.join(d, "cli")
    write(os.path.join(t, "a", "evil.pkl"), OS_SYSTEM)
    write(os.path.join(t, "a", "ok.pkl"), BENIGN)
    write(os.path.join(t, "b", "ok.pickle"), BENIGN)
    write(os.path.join(t, "README.txt"), b"hello\n")
    rc, out, _ = run(["scan", "--fail-on", "none", t])
    check(rc == 0 and b"critical" in out, "--fail-on none reports, exits 0")
    rc, doc, _ = scan_json(["--include", "*.pkl", t])
    got = sorted(os.path.relpath(f["path"], t) for f in doc["files"])
    check(got == ["a/evil.pkl", "a/ok.pkl"], "--include '*.pkl': %r" % got)
    rc, doc, _ = scan_json(["--exclude", "a", "--exclude", "*.txt", t])
    got = sorted(os.path.relpath(f["path"], t) for f in doc["files"])
    check(got == ["b/ok.pickle"] and rc == 0,
          "--exclude a directory and a glob: %r" % got)
    rc, out, _ = run(["scan", "--quiet", t])
    check(rc == 1 and out.count(b"\n") == 1 and b"evil.pkl" in out and
          b"pickleguard scan:" not in out, "--quiet: only the finding: %r" % out)
    rc, out, _ = run(["scan", "--quiet", os.path.join(t, "a", "ok.pkl")])
    check(rc == 0 and out == b"", "--quiet on a clean file prints nothing")
    # '-' is data for every command
    rc, doc, _ = scan_json(["-"], stdin=OS_SYSTEM)
    check(rc == 1 and doc["files"][0]["path"] == "-" and
          doc["files"][0]["max_severity"] == "critical", "scan - reads data")
    rc, out, _ = run(["load", "-"], stdin=BENIGN)
    check(rc == 0 and json.loads(out) == pickle.loads(BENIGN), "load - reads data")
    rc, out, _ = run(["dis", "-"], stdin=BENIGN)
    check(rc == 0 and b"STOP" in out, "dis - reads data")
    rc, _, _ = run(["policy", "check", "-"], stdin=b"version: 1\nallow: []\n")
    check(rc == 0, "policy check - reads the policy from stdin")
    # --files-from: newline and NUL separated
    lst = (os.path.join(t, "a", "ok.pkl") + "\n" + os.path.join(t, "b") + "\n")
    rc, doc, _ = scan_json(["--files-from", "-"], stdin=lst.encode())
    got = [os.path.relpath(f["path"], t) for f in doc["files"]]
    check(got == ["a/ok.pkl", "b/ok.pickle"] and rc == 0,
          "--files-from - (newlines): %r" % got)
    odd = os.path.join(t, "odd\nname.pkl")
    write(odd, OS_SYSTEM)
    lf = write(os.path.join(d, "list0"), odd.encode() + b"\0" +
               os.path.join(t, "a", "ok.pkl").encode() + b"\0")
    rc, doc, _ = scan_json(["--files-from", lf])
    got = [f["path"] for f in doc["files"]]
    check(got == [odd, os.path.join(t, "a", "ok.pkl")] and rc == 1,
          "--files-from FILE (NUL-separated): %r" % got)
    rc, _, err = run(["scan", "--files-from", "-", "-"], stdin=b"")
    check(rc == 2, "stdin cannot be both data and a list: %r" % err)
    # jsonl streams: the first object arrives before the last file is scanned
    fifo = os.path.join(d, "slow_fifo")
    os.mkfifo(fifo)
    p = subprocess.Popen([EXE, "scan", "--format", "jsonl",
                          os.path.join(t, "a", "ok.pkl"), fifo],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    with open(fifo, "wb") as w:   # unblocks the second file
        w.write(BENIGN)
    rest = p.stdout.read()
    p.wait(timeout=30)
    check(json.loads(first)["path"].endswith("ok.pkl"),
          "jsonl: the first file's line is flushed before the next file: %r"
          % first)
    lines = rest.splitlines()
    check(len(lines) == 2 and json.loads(lines[0])["verdict"] == "clean" and
          "summary" in json.loads(lines[1]), "jsonl: rest and summary: %r" % rest)
    # exit codes: one table, same in the docs and every --help
    for cmd in (["scan"], ["load"], ["dis"], ["policy"]):
        rc, out, _ = run(cmd + ["--help"])
        check(rc == 0 and b"exit" in out and b"2" in out,
              "%s --help gives the exit status" % cmd[0])
    rc, out, _ = run(["scan", "--help"])
    for opt in (b"--policy", b"--format", b"--fail-on", b"--include",
                b"--exclude", b"--files-from", b"--quiet", b"--jobs",
                b"--max-output", b"--max-total"):
        check(opt in out, "scan --help describes %s" % opt.decode())
    rc, out, _ = run(["load", "--help"])
    for opt in (b"--with-source", b"--policy", b"--max-depth"):
        check(opt in out, "load --help describes %s" % opt.decode())
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    with open(os.path.join(ROOT, "docs", "pickleguard.1"), encoding="utf-8") as f:
        man = f.read().replace("\\-", "-")
    for doc_text, where in ((readme, "README"), (man, "man page")):
        for word in ("--fail-on none", "--files-from", "--include", "jsonl",
                     "--with-source", "policy suggest", "allow_dangerous"):
            check(word in doc_text, "%s documents %s" % (where, word))
    check("| `2` |" in readme and "invalid" in readme,
          "README has the exit-code table")


# ---- 6. load names its sources -------------------------------------------------

def load_tests(d):
    try:
        import numpy as np
    except ImportError:
        skip("load on npz/npy: numpy is not installed")
        return
    npz = os.path.join(d, "mix.npz")
    np.savez(npz, a=np.arange(3), b=np.array([{"k": 1}], dtype=object))
    rc, out, err = run(["load", "--policy", "ml", "--with-source", npz])
    docs = [json.loads(ln) for ln in out.splitlines()]
    check(rc == 0 and [x["source"] for x in docs] == ["b.npy"] and
          all(set(x) == {"source", "pickle", "value"} for x in docs),
          "load --with-source names the npz member: %r %s" % (docs, err))
    npy = os.path.join(d, "num.npy")
    np.save(npy, np.arange(5))
    rc, out, err = run(["load", npy])
    check(rc == 0 and out == b"" and b"only data" in err,
          "load of a numeric .npy says why there is no document: %r" % err)


# ---- 7. rule table and SARIF ----------------------------------------------------

def rules_tests(d):
    rc, out, _ = run(["scan", "--format", "sarif", "-"], stdin=BENIGN)
    sarif = json.loads(out)
    table = [r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]]
    with open(os.path.join(ROOT, "docs", "rules.md"), encoding="utf-8") as f:
        md = f.read()
    import re
    sec = md[md.index("\n## Rules"):md.index("\n## Nested pickles")]
    documented = set(re.findall(r"^### `([a-z-]+)`", sec, re.M)) | \
        set(re.findall(r"^- `([a-z-]+)`:", sec, re.M))
    check(documented == set(table) and len(table) == len(set(table)),
          "docs/rules.md documents exactly the rule table: missing %r, extra %r"
          % (sorted(set(table) - documented), sorted(documented - set(table))))
    # SARIF: no results for files that are not pickles
    t = os.path.join(d, "sarif")
    write(os.path.join(t, "README.md"), b"# text\n")
    write(os.path.join(t, "photo.jpg"), b"\xff\xd8\xff\xe0\0\x10JFIF\0")
    rc, out, _ = run(["scan", "--format", "sarif", t])
    check(rc == 0 and json.loads(out)["runs"][0]["results"] == [],
          "SARIF has no results for files that are not pickles")


# ---- 8. integrations: pre-commit and the GitHub Action ---------------------------

def precommit_tests(d):
    pc = os.path.join(os.path.dirname(sys.executable), "pre-commit")
    if not os.path.exists(pc) or not shutil.which("git"):
        skip("pre-commit hook: the pre-commit tool or git is not installed")
        return
    if subprocess.run(["git", "-C", ROOT, "ls-files", "--error-unmatch",
                       ".pre-commit-hooks.yaml"],
                      capture_output=True).returncode != 0:
        skip("pre-commit hook: the source tree is not a git checkout with "
             ".pre-commit-hooks.yaml tracked (pre-commit try-repo needs one)")
        return
    repo = os.path.join(d, "gitrepo")
    os.makedirs(repo)
    env = dict(os.environ, PRE_COMMIT_HOME=os.path.join(d, "pc-home"),
               PATH=os.path.dirname(EXE) + os.pathsep + os.environ["PATH"],
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e", HOME=d)

    def git(*a):
        return subprocess.run(["git"] + list(a), cwd=repo, env=env,
                              capture_output=True, timeout=60)
    git("init", "-q")
    write(os.path.join(repo, "model.pkl"), BENIGN)
    write(os.path.join(repo, "notes.txt"), b"not a pickle\n")
    git("add", ".")

    def try_repo():
        p = subprocess.run([pc, "try-repo", ROOT, "pickleguard", "--all-files"],
                           cwd=repo, env=env, capture_output=True, timeout=300)
        return p.returncode, p.stdout + p.stderr
    rc, out = try_repo()
    check(rc == 0 and b"Passed" in out,
          "pre-commit hook passes on a benign pickle: %d %s" % (rc, out[-600:]))
    write(os.path.join(repo, "evil.pkl"), OS_SYSTEM)
    git("add", ".")
    rc, out = try_repo()
    check(rc == 1 and b"Failed" in out and b"os.system" in out,
          "pre-commit hook fails on a hostile pickle: %d %s" % (rc, out[-600:]))


def action_tests(d):
    try:
        import yaml
    except ImportError:
        skip("action.yml: PyYAML is not installed")
        return
    with open(os.path.join(ROOT, "action.yml"), encoding="utf-8") as f:
        act = yaml.safe_load(f)
    check(act["runs"]["using"] == "composite", "action.yml is a composite action")
    inputs = act["inputs"]
    check(set(inputs) == {"paths", "policy", "fail-on", "sarif-file",
                          "upload-sarif"} and
          all(v.get("description") for v in inputs.values()),
          "action inputs are described: %r" % sorted(inputs))
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    check(all(("`%s`" % k) in readme for k in inputs),
          "README documents every action input")
    steps = act["runs"]["steps"]
    uploads = [s for s in steps if "upload-sarif" in s.get("uses", "")]
    check(len(uploads) == 1 and uploads[0]["with"]["sarif_file"] ==
          "${{ inputs.sarif-file }}", "the action uploads the SARIF file")
    # run the scan step's shell code as the runner would
    scan = [s for s in steps if s.get("id") == "scan"][0]
    work = os.path.join(d, "action")
    write(os.path.join(work, "up", "evil.pkl"), OS_SYSTEM)
    write(os.path.join(work, "up", "ok.pkl"), BENIGN)
    gh_out = os.path.join(work, "gh_output")
    open(gh_out, "w").close()
    build = os.path.dirname(EXE)
    # GITHUB_ACTION_PATH/build/pickleguard must be the binary under test
    ap = os.path.join(work, "action_path")
    os.makedirs(ap)
    os.symlink(build, os.path.join(ap, "build"))
    env = dict(os.environ, GITHUB_ACTION_PATH=ap, GITHUB_OUTPUT=gh_out,
               PG_PATHS="up", PG_POLICY="default", PG_FAIL_ON="medium",
               PG_SARIF="report.sarif")
    p = subprocess.run(["bash", "-e", "-c", scan["run"]], cwd=work, env=env,
                       capture_output=True, timeout=60)
    with open(gh_out) as f:
        outputs = f.read()
    with open(os.path.join(work, "report.sarif")) as f:
        sarif = json.load(f)
    check(p.returncode == 0 and "exit-code=1" in outputs and
          len(sarif["runs"][0]["results"]) == 1,
          "the action's scan step writes SARIF and the exit code: %r %r"
          % (outputs, p.stderr))
    fail = steps[-1]
    p = subprocess.run(["bash", "-e", "-c", fail["run"]], env=dict(env, PG_RC="1"),
                       capture_output=True)
    check(p.returncode == 1, "the last step fails the job on findings")


def main():
    if not os.path.exists(EXE):
        return no_binary()
    d = tempfile.mkdtemp(prefix="pg_ci_")
    try:
        for group in (tree_tests, shelf_tests, enum_tests, names_tests,
                      policy_tests, cli_tests, load_tests, rules_tests,
                      precommit_tests, action_tests):
            try:
                group(d)
            except Exception as e:  # a broken output shape is a failure
                check(False, "%s stopped: %r" % (group.__name__, e))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
