#!/usr/bin/env python3
"""bench.py -- pickleguard against CPython's own pickle tools, same files,
same run (issue 8). Driven by `make bench` / `make bench-report`.

  BENCH=quick|full PKL_BUILD=build python3 bench/bench.py [--report FILE]
        [--reps N] [--files SUBSTR,...] [--tools NAME,...] [--profile|--no-profile]

For every workload file (bench/gen_workload.py, regenerated only when
missing or when the generator changed) it first reads the file once so the
page cache is warm, then runs each tool as a separate process, the tools
alternating within every repetition (rotated so that no tool always runs
first), and reports the median wall time as MB/s (10^6 bytes/s):

  scan         pickleguard scan --policy bench/bench-policy.yaml FILE  (exit 0 or 1)
  load         pickleguard load --policy bench/bench-policy.yaml FILE > /dev/null
  capi_decode  build/decode_bench decode FILE: pkl_decode + pkl_doc_free, no JSON
  capi_scan    build/decode_bench scan FILE: pkl_scan_buffer, no output
  capi_walk    build/decode_bench walk FILE: pkl_reader_next only (the floor
               under decode and scan: how much the shared reader costs)
  genops       python3 -c 'for op in pickletools.genops(f): ...'
  pyload       python3 pickle.load(f) (generated, benign files only)
  picklescan, modelscan, fickling, modelaudit, ma_picklescan, torch_wo
               the peer scanners (issue 16) through bench/peers.py, from
               .venv-bench (requirements/bench.txt; torch from .venv), each
               killed after PEER_TIMEOUT s; measured on the quick set only
               unless --tools names them

Whenever peers are measured (and with --peers-report), a detection table
follows: every tool over corpus/malicious, corpus/benign, corpus/formats
and corpus/modern, flagged / missed / other per set (bench/peers.py says
what each peer's verdict is). --peers-report FILE writes the peers' speed
and detection tables into their own section of FILE (bench/RESULTS.md),
which --report keeps.

Time is time.perf_counter() around spawn + wait; peak RSS is ru_maxrss
from os.wait4's rusage of that very child (max over runs). Both include
process start-up (measured separately and printed as a note). Ratios are
Python's median time divided by pickleguard's: above 1 means pickleguard
is faster. The policy extends `ml` and allows benchclasses.Point so that
every tool does the full job on every file (nothing is refused early).

A tool that is not built yet or fails is shown as missing with the
reason; the run goes on. With --report FILE (and by default then, a perf
profile of the C API on one opcode-dense file) it writes the markdown
tables with the machine and the git commit.

This script runs pickle.load only on the files gen_workload.py made from
benign objects; it must never be pointed at other inputs.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_workload  # noqa: E402

POLICY = os.path.join(HERE, "bench-policy.yaml")
PYTOOLS = os.path.join(HERE, "pytools.py")

# Repetitions per file (the 1 GB file gets fewer); sized so that a full
# `make bench` stays under 10 minutes on a 2-core machine. BENCH_BUDGET
# (seconds, default 420) caps the measuring itself: a repetition round that
# would not fit is skipped and the report says so.
REPS = {"quick": 3, "full": 5, "big": 3}

# Files whose bulk is opcodes (the scanner's 100x-genops target applies).
OPCODE_DENSE = ("ints_floats_p5.pkl", "small_objs_p4.pkl", "text_p0.pkl",
                "user_class_p2.pkl", "quick_mixed_p5.pkl")
BIG_FILE = "big_bytes_p5.pkl"
PROFILE_FILE = {"full": "small_objs_p4.pkl", "quick": "quick_mixed_p5.pkl"}

TOOLS = [
    # name, label, ok exit codes, stdout kept (parsed) or discarded
    ("scan", "pickleguard scan", (0, 1), False),
    ("load", "pickleguard load", (0,), False),
    ("capi_decode", "C API decode", (0,), True),
    ("capi_scan", "C API scan", (0,), True),
    ("capi_walk", "C API reader walk", (0,), True),
    ("genops", "pickletools.genops", (0,), True),
    ("pyload", "pickle.load", (0,), True),
    # the peers (issue 16), bench/peers.py in .venv-bench: exit 0 clean,
    # 1 flagged; anything else is a failure shown in the notes
    ("picklescan", "picklescan 1.0.5", (0, 1), False),
    ("modelscan", "modelscan 0.8.8", (0, 1), False),
    ("fickling", "fickling 0.1.12", (0, 1), False),
    ("modelaudit", "modelaudit 0.2.54", (0, 1), False),
    ("ma_picklescan", "modelaudit-picklescan 0.1.12", (0, 1), False),
    ("torch_wo", "torch.load(weights_only=True) 2.13", (0, 1), False),
]
PG_TOOLS = ("scan", "load", "capi_decode", "capi_scan", "capi_walk")
PY_TOOLS = ("genops", "pyload")
PEER_TOOLS = ("picklescan", "modelscan", "fickling", "modelaudit", "ma_picklescan",
              "torch_wo")
LABEL = {t[0]: t[1] for t in TOOLS}
PEERS = os.path.join(HERE, "peers.py")
BENCH_VENV = os.path.join(ROOT, os.environ.get("BENCH_VENV", ".venv-bench"))
BENCH_PY = os.path.join(BENCH_VENV, "bin", "python")
# a peer is killed after this many seconds on one file (and then skipped
# for that file's later repetitions): pure-Python scanners on the full
# set's 35 MB-1 GB files would otherwise take the whole budget
PEER_TIMEOUT = int(os.environ.get("PEER_TIMEOUT", "60"))
PEERS_BEGIN = "<!-- peers: generated by make bench-peers (bench/bench.py --peers-report) -->"
PEERS_END = "<!-- end of peers -->"


def tool_argv(tool, build, path):
    pg = os.path.join(build, "pickleguard")
    db = os.path.join(build, "decode_bench")
    py = sys.executable   # not a pyenv shim: no shell wrapper in the timing
    return {
        "scan": [pg, "scan", "--policy", POLICY, path],
        "load": [pg, "load", "--policy", POLICY, path],
        "capi_decode": [db, "--policy", POLICY, "decode", path],
        "capi_scan": [db, "--policy", POLICY, "scan", path],
        "capi_walk": [db, "walk", path],
        "genops": [py, PYTOOLS, "genops", path],
        "pyload": [py, PYTOOLS, "load", path],
    }.get(tool) or peer_argv(tool, path)


def peer_argv(tool, path):
    """A peer run on one file, killed after PEER_TIMEOUT seconds (coreutils
    timeout; wait4's ru_maxrss of `timeout` includes the peer it waited
    for). torch runs in this interpreter's environment (.venv), the other
    peers in .venv-bench."""
    py = sys.executable if tool == "torch_wo" else BENCH_PY
    return ["/usr/bin/timeout", "-s", "KILL", str(PEER_TIMEOUT), py, PEERS, "scan", tool, path]


def spawn(argv, keep_stdout, tmpdir, launcher=None):
    """Runs argv; returns (seconds, exit code, maxrss KB, stdout, stderr).
    With a launcher (decode_bench run), the peak RSS is the one it reports
    for its child; without, it is wait4's, floored at this driver's RSS."""
    out_path = os.path.join(tmpdir, "stdout") if keep_stdout else os.devnull
    err_path = os.path.join(tmpdir, "stderr")
    rss_path = os.path.join(tmpdir, "rss")
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    if launcher:
        actions.append((os.POSIX_SPAWN_OPEN, 3, rss_path,
                        os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        argv = [launcher, "run"] + argv
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, ru = os.wait4(pid, 0)
    dt = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    rss = ru.ru_maxrss
    if launcher:
        with open(rss_path) as f:
            rss = int(kv(f.read()).get("maxrss_kb", -1))
    out = ""
    if keep_stdout:
        with open(out_path, errors="replace") as f:
            out = f.read(4096)
    with open(err_path, errors="replace") as f:
        err = f.read(4096)
    return dt, code, rss, out, err


def warm(path):
    """Reads the file once so every tool finds it in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass


def kv(line):
    return dict(p.split("=", 1) for p in line.split() if "=" in p)


def missing_reason(tool, build, code, err):
    if tool in PEER_TOOLS and code in (137, -9):
        return "timeout: killed after %d s (PEER_TIMEOUT)" % PEER_TIMEOUT
    if tool == "torch_wo" and code == 2:
        return "n/a: torch.load reads torch checkpoints (zip, legacy, tar), not raw pickles"
    first = (err.strip().splitlines() or ["(no message)"])[0]
    if "not built" in err or code == 3:
        return "missing: " + first
    return "failed (exit %d): %s" % (code, first)


def launcher_for(build):
    db = os.path.join(build, "decode_bench")
    return db if os.access(db, os.X_OK) else None


def new_result(path, tools, build):
    res = {t: {"times": [], "rss": [], "out": "", "error": None} for t in tools}
    for t in tools:
        argv = tool_argv(t, build, path)
        exe = argv[4] if t in PEER_TOOLS else argv[0]
        if not os.access(exe, os.X_OK):
            res[t]["error"] = "missing: %s is not built" % os.path.relpath(exe, ROOT)
    return res


def measure_round(path, res, tools, r, build, tmpdir):
    """One repetition of every tool on one file, the order rotated by r."""
    launcher = launcher_for(build)
    warm(path)
    order = tools[r % len(tools):] + tools[:r % len(tools)]
    for t in order:
        if res[t]["error"]:
            continue
        ok = dict((x[0], x[2]) for x in TOOLS)[t]
        keep = dict((x[0], x[3]) for x in TOOLS)[t]
        dt, code, rss, out, err = spawn(tool_argv(t, build, path), keep, tmpdir, launcher)
        if code not in ok:
            res[t]["error"] = missing_reason(t, build, code, err)
            continue
        res[t]["times"].append(dt)
        res[t]["rss"].append(rss)
        res[t]["out"] = out.strip()
        inproc = kv(out).get("seconds")
        if inproc is not None:
            res[t].setdefault("inproc", []).append(float(inproc))


def summarize(size, res):
    for d in res.values():
        if d["times"] and not d["error"]:
            d["median"] = statistics.median(d["times"])
            d["mbps"] = size / 1e6 / d["median"]
            d["rss_mb"] = max(d["rss"]) / 1024.0
            if len(d.get("inproc", [])) == len(d["times"]):
                d["inproc_median"] = statistics.median(d["inproc"])


def measure_all(files, plan, tools, build, tmpdir, budget, log):
    """Runs repetition rounds over all files (round r covers the files
    planned for more than r reps). A round starts only if the previous
    round's duration says it fits in the budget, so a loaded machine gets
    fewer repetitions instead of a run over 10 minutes. Returns
    (results, note or None)."""
    t0 = time.perf_counter()
    res = {os.path.basename(p): new_result(p, tools, build) for p in files}
    done = {os.path.basename(p): 0 for p in files}
    last = {}
    note = None
    for r in range(max(plan.values())):
        active = [p for p in files if plan[os.path.basename(p)] > r]
        est = sum(last.get(os.path.basename(p), 0.0) for p in active)
        spent = time.perf_counter() - t0
        if r > 0 and spent + est > budget:
            note = ("stopped after %d repetition round(s): another round (~%.0f s) "
                    "would pass the %.0f s budget (BENCH_BUDGET) after %.0f s"
                    % (r, est, budget, spent))
            print("bench: " + note, file=log, flush=True)
            break
        for p in active:
            fname = os.path.basename(p)
            t1 = time.perf_counter()
            measure_round(p, res[fname], tools, r, build, tmpdir)
            last[fname] = time.perf_counter() - t1
            done[fname] = r + 1
            print("bench: %s rep %d/%d: %.1f s" % (fname, r + 1, plan[fname], last[fname]),
                  file=log, flush=True)
    out = {}
    for p in files:
        fname = os.path.basename(p)
        size = os.path.getsize(p)
        summarize(size, res[fname])
        out[fname] = (size, res[fname], done[fname])
    return out, note


def startup(build, tmpdir):
    """Median cost of starting each kind of process, for the notes."""
    out = {}
    for name, argv in (("pickleguard version", [os.path.join(build, "pickleguard"), "version"]),
                       ("python3 + import pickle, pickletools", [sys.executable, PYTOOLS, "noop"])):
        if not os.access(argv[0], os.X_OK):
            continue
        ts = [spawn(argv, False, tmpdir, launcher_for(build))[0] for _ in range(5)]
        out[name] = statistics.median(ts)
    return out


# --------------------------------------------------------------------------
# formatting

def fmt_mbps(d):
    if d.get("error"):
        return "n/a"
    return "%.1f" % d["mbps"] if d["mbps"] < 1000 else "%.0f" % d["mbps"]


def fmt_rss(d):
    return "n/a" if d.get("error") else "%.1f" % d["rss_mb"]


def ratio(res, pg, py, key="median"):
    """Python time / pickleguard time; key "inproc_median" compares the
    in-process timings (start-up excluded) where both tools report one."""
    a, b = res.get(pg), res.get(py)
    if not a or not b or a.get("error") or b.get("error") or key not in a \
            or key not in b or a[key] <= 0:
        return None
    return b[key] / a[key]


def fmt_ratio(x):
    if x is None:
        return "n/a"
    return "%.2fx" % x if x < 10 else "%.0fx" % x


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def targets(results):
    """(target, file, measured, status) rows for the issue 4 and 5 targets."""
    rows = []

    def add(name, fname, value, text, ok, inproc=None):
        status = "n/a" if value is None else ("PASS" if ok(value) else "FAIL")
        if value is not None and inproc is not None and ok(inproc) != ok(value):
            status += " (in-process: %s)" % ("PASS" if ok(inproc) else "FAIL")
        rows.append((name, fname, text if value is not None else "n/a",
                     fmt_ratio(inproc) if inproc is not None else "-", status))

    for fname, (size, res, _) in results.items():
        r = ratio(res, "capi_decode", "pyload")
        add("C API decode >= 3x pickle.load", fname, r, fmt_ratio(r), lambda v: v >= 3,
            ratio(res, "capi_decode", "pyload", "inproc_median"))
    for fname, (size, res, _) in results.items():
        r = ratio(res, "load", "pyload")
        add("load to JSON >= 1x pickle.load", fname, r, fmt_ratio(r), lambda v: v >= 1)
    for fname, (size, res, _) in results.items():
        if fname in OPCODE_DENSE:
            r = ratio(res, "scan", "genops")
            add("scan >= 100x genops (opcode-dense)", fname, r, fmt_ratio(r),
                lambda v: v >= 100,
                ratio(res, "capi_scan", "genops", "inproc_median"))
    if BIG_FILE in results:
        d = results[BIG_FILE][1].get("scan", {})
        v = None if d.get("error") or "mbps" not in d else d["mbps"]
        add("scan >= 1 GB/s (big payloads)", BIG_FILE, v,
            "%.0f MB/s" % v if v is not None else "", lambda x: x >= 1000)
        v = None if d.get("error") or "rss_mb" not in d else d["rss_mb"]
        add("scan peak RSS < 64 MiB (1 GB file)", BIG_FILE, v,
            "%.1f MiB" % v if v is not None else "", lambda x: x < 64)
    return rows


def tables(results):
    """Returns the markdown text of every results table."""
    tools = [t[0] for t in TOOLS]
    out = []
    head = ["file", "MB", "reps"] + [LABEL[t] for t in tools]
    rows = []
    for fname, (size, res, reps) in results.items():
        rows.append([fname, "%.1f" % (size / 1e6), str(reps)] +
                    [fmt_mbps(res[t]) if t in res else "-" for t in tools])
    out.append("### Throughput (MB/s = 10^6 bytes/s, median; higher is better)\n\n"
               + md_table(head, rows))
    rows = []
    for fname, (size, res, reps) in results.items():
        rows.append([fname, "%.1f" % (size / 1e6), str(reps)] +
                    [fmt_rss(res[t]) if t in res else "-" for t in tools])
    out.append("### Peak RSS (MiB, max over runs, ru_maxrss of the child)\n\n"
               + md_table(head, rows))
    head = ["file"] + ["%s vs %s" % (LABEL[p], LABEL[q]) for p in PG_TOOLS for q in PY_TOOLS]
    rows = []
    for fname, (size, res, reps) in results.items():
        rows.append([fname] + [fmt_ratio(ratio(res, p, q)) for p in PG_TOOLS for q in PY_TOOLS])
    out.append("### Speed ratios (Python median time / pickleguard median time; "
               ">1 = pickleguard faster)\n\n" + md_table(head, rows))
    out.append("### Targets (issues 4 and 5)\n\n"
               "`measured` uses the wall times above. `in-process` compares the "
               "timings the C API program and the Python process take around the "
               "work itself (start-up, policy loading and interpreter imports "
               "excluded): C API decode vs pickle.load, C API scan vs genops.\n\n" +
               md_table(["target", "file", "measured", "in-process", "status"],
                        [list(r) for r in targets(results)]))
    return "\n\n".join(out)


def notes(results, start, build):
    lines = []
    if not launcher_for(build):
        lines.append("- %s is not built: peak RSS figures come straight from "
                     "os.wait4 and include this driver's own RSS (Linux keeps a "
                     "process's peak across exec)" % os.path.relpath(
                         os.path.join(build, "decode_bench"), ROOT))
    for fname, (size, res, reps) in results.items():
        for t, d in res.items():
            if d.get("error"):
                lines.append("- %s / %s: %s" % (fname, LABEL[t], d["error"]))
        gen = kv(res.get("genops", {}).get("out", ""))
        cs = kv(res.get("capi_scan", {}).get("out", ""))
        for t in ("capi_scan", "capi_walk"):
            c = kv(res.get(t, {}).get("out", ""))
            if gen.get("opcodes") and c.get("opcodes") and gen["opcodes"] != c["opcodes"]:
                lines.append("- %s: %s counted %s opcodes, pickletools.genops %s"
                             % (fname, LABEL[t], c["opcodes"], gen["opcodes"]))
        if cs.get("findings") and cs["findings"] != "0":
            lines.append("- %s: C API scan reported %s finding(s), highest %s"
                         % (fname, cs["findings"], cs.get("maxsev")))
    for name, t in start.items():
        if name == "budget":
            lines.append("- " + t)
        else:
            lines.append("- start-up included in every figure: %s takes %.1f ms"
                         % (name, t * 1e3))
    return "\n".join(lines)


def print_console(results, start, build):
    tools = [t[0] for t in TOOLS]
    w = max(len(f) for f in results) + 2
    print()
    print("%-*s %8s  " % (w, "file", "MB") + " ".join("%14s" % LABEL[t][:14] for t in tools))
    for fname, (size, res, reps) in results.items():
        print("%-*s %8.1f  " % (w, fname, size / 1e6) +
              " ".join("%14s" % ((fmt_mbps(res[t]) + " MB/s") if t in res and
                                 not res[t].get("error") else "n/a") for t in tools))
        print("%-*s %8s  " % (w, "", "RSS") +
              " ".join("%14s" % ((fmt_rss(res[t]) + " MiB") if t in res and
                                 not res[t].get("error") else "") for t in tools))
    print()
    print(tables(results))
    n = notes(results, start, build)
    if n:
        print("\nNotes:\n" + n)


# --------------------------------------------------------------------------
# machine and commit

def machine():
    model, cores = "unknown", 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("processor"):
                    cores += 1
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = "%.1f GiB RAM" % (kb / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return model, cores, mem


def git_commit():
    try:
        c = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"],
                           capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain",
                                "--untracked-files=no", "--", "src", "bench", "Makefile"],
                               capture_output=True, text=True).stdout.strip()
        return c + (" (with uncommitted changes in src/, bench/ or Makefile)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def compiler():
    cc = os.environ.get("CC", "cc")
    try:
        return subprocess.run([cc, "--version"], capture_output=True,
                              text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return cc


# --------------------------------------------------------------------------
# profiling

def perf_usable():
    if not shutil.which("perf"):
        return False
    r = subprocess.run(["perf", "record", "-e", "cpu-clock", "-o", os.devnull, "--", "true"],
                       capture_output=True)
    return r.returncode == 0


def perf_top(argv, tmpdir, n=12):
    """Returns (markdown, None) or (None, error): the top symbols by self
    time, and the inclusive time of the program's own functions and of the
    kernel's page-fault path (DWARF call graphs; no frame pointers needed)."""
    data = os.path.join(tmpdir, "perf.data")
    r = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1000",
                        "--call-graph", "dwarf,16384", "-o", data, "--"] + argv,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode not in (0, 1):
        return None, "perf record failed: " + r.stderr.strip()[:200]
    flat = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                           "--sort", "dso,symbol", "--percent-limit", "0.5", "-g", "none"],
                          capture_output=True, text=True).stdout
    incl = subprocess.run(["perf", "report", "-i", data, "--stdio", "--children",
                           "--sort", "dso,symbol", "--percent-limit", "2", "-g", "none"],
                          capture_output=True, text=True).stdout
    selfrows, kernel = [], 0.0
    for line in flat.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)", line)
        if m:
            pct = float(m.group(1))
            if m.group(3) == "k":
                kernel += pct
            selfrows.append(["%.1f" % pct, m.group(2), m.group(4)])
    own = os.path.basename(argv[0])
    skip = ("main", "_start", "__libc_start_call_main", "__libc_start_main_impl", "run",
            "decode_pass", "scan_pass", "walk_pass", "run_child")
    inclrows = []
    for line in incl.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)", line)
        if not m:
            continue
        dso, sym = m.group(3), m.group(5)
        if (dso == own and sym not in skip) or sym == "asm_exc_page_fault":
            name = "page faults (kernel: asm_exc_page_fault)" \
                if sym == "asm_exc_page_fault" else sym
            inclrows.append(["%.1f" % float(m.group(1)), "%.1f" % float(m.group(2)), name])
    md = ("Self time, top %d symbols (kernel total: %.1f%% of samples):\n\n" %
          (min(n, len(selfrows)), kernel) +
          md_table(["self %", "object", "symbol"], selfrows[:n]) +
          "\n\nInclusive time (with callees) of %s's own functions over 2%%:\n\n" % own +
          md_table(["incl. %", "self %", "function"], inclrows[:n + 4]))
    return md, None


def callgrind_run(argv, tmpdir):
    """Runs argv under callgrind; returns (total instructions, [(self %, file,
    function)] sorted by self cost) or (None, error text)."""
    out = os.path.join(tmpdir, "callgrind.out")
    if os.path.exists(out):
        os.unlink(out)
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + argv,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if not os.path.exists(out):
        return None, "callgrind failed: " + r.stderr.strip()[-200:]
    ann = subprocess.run(["callgrind_annotate", out], capture_output=True, text=True).stdout
    total = None
    rows = []
    for line in ann.splitlines():
        t = re.match(r"\s*([\d,]+)\s+\(100.0%\)\s+PROGRAM TOTALS", line)
        m = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(\S+):(\S+)", line)
        if t:
            total = int(t.group(1).replace(",", ""))
        elif m:
            rows.append((float(m.group(2)), os.path.basename(m.group(3)), m.group(4)))
    if total is None:
        return None, "callgrind_annotate gave no totals"
    return total, rows


def callgrind_top(argv, tmpdir, n=12):
    total, rows = callgrind_run(argv, tmpdir)
    if total is None:
        return None, rows
    return ("Instructions per function (self), top %d of %d in total:\n\n"
            % (min(n, len(rows)), total) +
            md_table(["self %", "file", "function"],
                     [["%.1f" % p, f, fn] for p, f, fn in rows[:n]])), None


def instruction_counts(path, build, tmpdir, log):
    """Deterministic cost per opcode and per byte (callgrind), immune to the
    load of a shared machine: the reader alone, the scanner, the decoder."""
    db = os.path.join(build, "decode_bench")
    size = os.path.getsize(path)
    rows = []
    opcodes = None
    for mode in ("walk", "scan", "decode"):
        print("profiling: callgrind %s" % mode, file=log, flush=True)
        chk = spawn([db, "--policy", POLICY, mode, path], True, tmpdir)
        if chk[1] != 0:
            rows.append([mode, "n/a", "", "", missing_reason(None, build, chk[1], chk[4])])
            continue
        if mode == "walk":
            opcodes = int(kv(chk[3]).get("opcodes", 0)) or None
        total, top = callgrind_run([db, "--policy", POLICY, mode, path], tmpdir)
        if total is None:
            rows.append([mode, "n/a", "", "", top])
            continue
        rows.append([mode, "{:,}".format(total),
                     "%.0f" % (total / opcodes) if opcodes else "n/a",
                     "%.1f" % (total / size),
                     ", ".join("%s %.1f%%" % (fn, p) for p, _, fn in top[:5])])
    return ("Instruction counts (`valgrind --tool=callgrind`, deterministic, so "
            "unaffected by other load on the machine; the page-fault time that "
            "dominates allocation-heavy runs is kernel time and not counted here) "
            "of `decode_bench` on the same file:\n\n" +
            md_table(["mode", "instructions", "per opcode", "per byte",
                      "top functions (self)"], rows))


def profile(setname, build, tmpdir, log):
    """Profiles the C API decoder and scanner, and the load CLI, on one
    opcode-dense file; returns markdown."""
    fname = PROFILE_FILE[setname]
    path = os.path.join(gen_workload.WORK, fname)
    db = os.path.join(build, "decode_bench")
    pg = os.path.join(build, "pickleguard")
    runs = [("C API decode (pkl_decode + pkl_doc_free)",
             [db, "--reps", "3", "--policy", POLICY, "decode", path]),
            ("C API scan (pkl_scan_buffer)",
             [db, "--reps", "3", "--policy", POLICY, "scan", path]),
            ("pickleguard load to JSON (CLI)",
             [pg, "load", "--policy", POLICY, path])]
    use_perf = perf_usable()
    use_cg = not use_perf and shutil.which("valgrind") is not None
    if not use_perf and not use_cg:
        return "No profiler available (neither `perf record` nor valgrind works here)."
    how = ("`perf record -e cpu-clock -F 1000 --call-graph dwarf` (software clock "
           "sampling: hardware counters are not available in this VM)"
           if use_perf else "`valgrind --tool=callgrind`, instructions per function (self)")
    parts = ["Profiled with %s on `%s` (%.1f MB)." % (how, fname, os.path.getsize(path) / 1e6)]
    for title, argv in runs:
        print("profiling: %s" % title, file=log, flush=True)
        if not os.access(argv[0], os.X_OK):
            parts.append("#### %s\n\nnot profiled: %s is not built" %
                         (title, os.path.relpath(argv[0], ROOT)))
            continue
        chk = spawn(argv, False, tmpdir)
        if chk[1] != 0:
            parts.append("#### %s\n\nnot profiled: %s" %
                         (title, missing_reason(None, build, chk[1], chk[4])))
            continue
        md, err = (perf_top if use_perf else callgrind_top)(argv, tmpdir)
        if md is None:
            parts.append("#### %s\n\nnot profiled: %s" % (title, err))
            continue
        parts.append("#### %s\n\n`%s`\n\n%s" % (
            title, " ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a
                            for a in argv), md))
    if use_perf and shutil.which("valgrind") and os.access(db, os.X_OK):
        parts.append("#### Instructions\n\n" + instruction_counts(path, build, tmpdir, log))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------
# detection: every tool over the project's own corpus (issue 16)

CORPUS = os.path.join(ROOT, "corpus")


def formats_rows(folder):
    """(file, scan_ml) of a formats-style MANIFEST.tsv."""
    with open(os.path.join(CORPUS, folder, "MANIFEST.tsv")) as f:
        next(f)
        return [ln.split("\t")[:5:4] for ln in f if ln.strip()]


def detection_sets():
    """name -> (hostile?, [paths relative to corpus/]). corpus/formats
    counts its clean rows as benign and its critical rows as hostile; its
    bombs and damaged files (medium/high: judged on what the container
    does, not on a payload) are left out."""
    def ls(d):
        return sorted(os.path.join(d, f) for f in os.listdir(os.path.join(CORPUS, d)))
    fm = formats_rows("formats")
    return {
        "malicious": (True, ls("malicious")),
        "formats, hostile": (True, ["formats/" + f for f, sev in fm if sev == "flagged:critical"]),
        "benign": (False, ls("benign")),
        "formats, benign": (False, ["formats/" + f for f, sev in fm if sev == "clean"]),
        "modern, data": (False, ["modern/" + f for f, _ in formats_rows("modern")
                                 if not f.startswith(("sk_", "pd_"))]),
        "modern, sklearn/pandas": (False, ["modern/" + f for f, _ in formats_rows("modern")
                                           if f.startswith(("sk_", "pd_"))]),
    }


def pg_verdicts(build, paths, policy_for):
    """pickleguard scan --format json per policy: flagged = a finding of
    medium or above (what the default --fail-on medium fails on)."""
    out = {}
    by_policy = {}
    for p in paths:
        by_policy.setdefault(policy_for(p), []).append(p)
    for pol, ps in by_policy.items():
        r = subprocess.run([os.path.join(build, "pickleguard"), "scan", "--policy", pol,
                            "--format", "json"] + ps, cwd=CORPUS, capture_output=True,
                           text=True, timeout=600)
        try:
            files = json.loads(r.stdout)["files"]
        except (ValueError, KeyError):
            for p in ps:
                out[p] = ("other", "no report: exit %d" % r.returncode)
            continue
        for f in files:
            sev = f.get("max_severity")
            out[f["path"]] = (("flagged" if sev in ("medium", "high", "critical") else "clean"),
                              sev or "")
    return out


def peer_verdicts(tool, paths, hostile, log):
    py = sys.executable if tool == "torch_wo" else BENCH_PY
    if not os.access(py, os.X_OK):
        return None, "missing: %s" % os.path.relpath(py, ROOT)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as hf:
        hf.write("\n".join(hostile) + "\n")
    try:
        t0 = time.perf_counter()
        r = subprocess.run([py, PEERS, "detect", tool, "--hostile=" + hf.name] + paths,
                           cwd=CORPUS, capture_output=True, text=True, timeout=1800)
        print("bench: detection %s: %.0f s" % (tool, time.perf_counter() - t0), file=log,
              flush=True)
    finally:
        os.unlink(hf.name)
    out = {}
    for ln in r.stdout.splitlines():
        try:
            d = json.loads(ln)
        except ValueError:
            continue
        out[d["file"]] = (d["verdict"], d["detail"])
    missing = [p for p in paths if p not in out]
    for p in missing:
        out[p] = ("other", "no verdict (peer exited %d)" % r.returncode)
    return out, None


def detection(build, log):
    sets = detection_sets()
    paths = [p for _, ps in sets.values() for p in ps]
    hostile = [p for h, ps in sets.values() if h for p in ps]

    def matched(p):
        b = os.path.basename(p)
        return "sklearn" if b.startswith("sk_") else "pandas" if b.startswith("pd_") else "ml"
    rows = [("pickleguard scan --policy ml", pg_verdicts(build, paths, lambda p: "ml"), None),
            ("pickleguard scan, sklearn/pandas policies for sk_/pd_ files",
             pg_verdicts(build, paths, matched), None)]
    for t in PEER_TOOLS:
        v, err = peer_verdicts(t, paths, hostile, log)
        rows.append((LABEL[t], v, err))
    return sets, rows


def detection_table(sets, rows):
    head = ["tool"] + ["%s (%d): %s" % (name, len(ps), "flagged / missed / other" if h
                                         else "false alarms / other")
                       for name, (h, ps) in sets.items()]
    out, misses = [], []
    for label, v, err in rows:
        if v is None:
            out.append([label] + [err] * len(sets))
            continue
        cells = []
        for name, (h, ps) in sets.items():
            c = {"flagged": 0, "clean": 0, "other": 0}
            for p in ps:
                c[v[p][0]] += 1
            cells.append("%d / %d / %d" % (c["flagged"], c["clean"], c["other"]) if h
                         else "%d / %d" % (c["flagged"], c["other"]))
            if h:
                m = [os.path.basename(p) for p in ps if v[p][0] == "clean"]
                if m:
                    misses.append("- %s, %s: missed %s%s" % (
                        label, name, ", ".join(m[:12]), " and %d more" % (len(m) - 12)
                        if len(m) > 12 else ""))
            else:
                fa = [os.path.basename(p) for p in ps if v[p][0] == "flagged"]
                if fa and len(fa) <= 12:
                    misses.append("- %s, %s: false alarms on %s" % (label, name, ", ".join(fa)))
        out.append([label] + cells)
    return md_table(head, out), "\n".join(misses)


def peers_section(setname, results, sets, rows, start, build, elapsed):
    """The markdown between PEERS_BEGIN and PEERS_END."""
    model, cores, mem = machine()
    speed_tools = ["scan", "capi_scan", "genops"] + list(PEER_TOOLS)
    head = ["file", "MB"] + [LABEL[t] for t in speed_tools]
    sp = [[fn, "%.1f" % (size / 1e6)] + [fmt_mbps(res[t]) if t in res else "-"
                                         for t in speed_tools]
          for fn, (size, res, reps) in results.items()]
    rss = [[fn, "%.1f" % (size / 1e6)] + [fmt_rss(res[t]) if t in res else "-"
                                          for t in speed_tools]
           for fn, (size, res, reps) in results.items()]
    table, lists = detection_table(sets, rows)
    failed = []
    for fn, (size, res, reps) in results.items():
        for t in speed_tools:
            if t in res and res[t].get("error"):
                failed.append("- %s / %s: %s" % (fn, LABEL[t], res[t]["error"]))
    w = [PEERS_BEGIN, "## Peers: speed and detection (issue 16)", "",
         "Generated by `make bench-peers` (%s set), %s, commit %s, %s, %d logical cores "
         "shared with other jobs (figures are lower bounds for every tool alike). "
         "Peers installed from PyPI at pinned versions into `.venv-bench` "
         "(requirements/bench.txt); `torch.load(weights_only=True)` runs in `.venv`. "
         "Each peer is called through bench/peers.py, which uses the peer's own "
         "verdict (see its docstring); whole run %.0f s."
         % (setname, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            git_commit(), model, cores, elapsed), "",
         "### Speed on the workload (MB/s, median of separate processes, start-up included)", "",
         md_table(head, sp), "",
         "### Peak RSS (MiB)", "", md_table(head, rss), ""]
    if failed:
        w += ["Failures and timeouts:", ""] + failed + [""]
    w += ["### Detection on the project's corpus", "",
          "One process per tool over every file (`pickleguard scan` with several "
          "files; bench/peers.py `detect` for the peers). A hostile file is "
          "*flagged* when the tool's own verdict is a finding (pickleguard: a "
          "finding of medium or above, what `--fail-on medium` fails on), *missed* "
          "when the tool calls it clean, *other* when the tool errs, skips the file "
          "or cannot say (inconclusive, not its format: torch.load on raw pickles). "
          "Benign files: a finding is a *false alarm*. `malicious` and `benign` are "
          "corpus/malicious and corpus/benign; `formats` are corpus/formats' "
          "containers (torch, numpy, joblib, compressed, archives, shelves) whose "
          "manifest says clean or critical; `modern` is corpus/modern (torch 2.13, "
          "NumPy 2, joblib 1.6 data files; scikit-learn and pandas objects).", "",
          table, ""]
    if lists:
        w += ["Misses and false alarms, by file:", "", lists, ""]
    w += [PEERS_END]
    return "\n".join(w)


def write_peers(path, section):
    """Puts the peers section into the report, replacing an old one, or
    before the analysis section, or at the end."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        text = ""
    a, b = text.find(PEERS_BEGIN), text.find(PEERS_END)
    if a >= 0 and b > a:
        text = text[:a] + section + text[b + len(PEERS_END):]
    elif text.find(ANALYSIS_BEGIN) >= 0:
        i = text.find(ANALYSIS_BEGIN)
        text = text[:i] + section + "\n\n" + text[i:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def kept_peers(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    a, b = text.find(PEERS_BEGIN), text.find(PEERS_END)
    return text[a:b + len(PEERS_END)] if a >= 0 and b > a else None


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--report", metavar="FILE", help="write the markdown report to FILE")
    ap.add_argument("--reps", type=int, help="repetitions per file (default: 5, 3 for 1 GB)")
    ap.add_argument("--files", help="comma-separated substrings selecting files")
    ap.add_argument("--tools", help="comma-separated tool names: " +
                    ",".join(t[0] for t in TOOLS))
    ap.add_argument("--profile", dest="profile", action="store_true", default=None,
                    help="add a perf/callgrind profile (default with --report)")
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--peers-report", metavar="FILE",
                    help="measure pickleguard and the peers, run the detection table, "
                    "and write (only) the peers section of FILE")
    ap.add_argument("--no-detect", dest="detect", action="store_false", default=True,
                    help="skip the detection table")
    args = ap.parse_args()
    setname = os.environ.get("BENCH", "full")
    if setname not in gen_workload.SETS:
        ap.error("BENCH must be one of %s" % ", ".join(gen_workload.SETS))
    build = os.path.abspath(os.path.join(ROOT, os.environ.get("PKL_BUILD", "build")))
    # the peers are pure Python: measured on the quick set (and by
    # --peers-report); on the full set's 35 MB-1 GB files they would take
    # minutes per file each (ask for them with --tools)
    tools = [t[0] for t in TOOLS if t[0] not in PEER_TOOLS or setname == "quick"]
    if args.tools:
        tools = [t for t in args.tools.split(",") if t]
        bad = [t for t in tools if t not in LABEL]
        if bad:
            ap.error("unknown tool(s): %s" % ", ".join(bad))
    if args.peers_report and not args.tools:
        tools = ["scan", "capi_scan", "genops"] + list(PEER_TOOLS)
    do_profile = args.profile if args.profile is not None else bool(args.report)
    log = sys.stderr
    t_start = time.perf_counter()
    started = datetime.datetime.now(datetime.timezone.utc)

    files = gen_workload.ensure(setname)
    if args.files:
        subs = args.files.split(",")
        files = [f for f in files if any(s in os.path.basename(f[0]) for s in subs)]
    paths = [p for p, _ in files]
    plan = {os.path.basename(p): args.reps or (REPS["big"] if os.path.basename(p) == BIG_FILE
                                               else REPS[setname]) for p in paths}
    budget = float(os.environ.get("BENCH_BUDGET", "420"))
    with tempfile.TemporaryDirectory(prefix="pklbench.") as tmpdir:
        start = startup(build, tmpdir)
        for p in paths:
            print("bench: %s (%.1f MB), %d reps planned" %
                  (os.path.basename(p), os.path.getsize(p) / 1e6, plan[os.path.basename(p)]),
                  file=log, flush=True)
        results, budget_note = measure_all(paths, plan, tools, build, tmpdir, budget, log)
        if budget_note:
            start["budget"] = budget_note
        prof = profile(setname, build, tmpdir, log) if do_profile else None
    det = detection(build, log) if args.detect and (
        args.peers_report or any(t in PEER_TOOLS for t in tools)) else None
    elapsed = time.perf_counter() - t_start

    print_console(results, start, build)
    pyrows = python_rows(setname, log)
    if pyrows:
        print("\nPython package (bench/bench_python.py):\n" + pyrows)
    daskrows = dask_rows(setname, log)
    if daskrows:
        print("\nScanning on a Dask LocalCluster (bench/bench_dask.py):\n" + daskrows)
        pyrows = (pyrows or "") + (
            "\n\n### Scanning as a map on a Dask LocalCluster "
            "(bench/bench_dask.py)\n\n" + daskrows)
    if det:
        table, lists = detection_table(*det)
        print("\n### Detection on the project's corpus\n\n" + table + "\n\n" + lists)
    print("\nbench: %s set, %.0f s in total" % (setname, elapsed))
    raw = os.path.join(gen_workload.WORK, "last_run_%s.json" % setname)
    with open(raw, "w") as f:
        json.dump({fn: {"size": s, "reps": r, "tools": res} for fn, (s, res, r) in results.items()},
                  f, indent=1)
    if args.peers_report and det:
        write_peers(args.peers_report, peers_section(setname, results, det[0], det[1],
                                                     start, build, elapsed))
        print("bench: wrote the peers section of %s" % args.peers_report)
    if args.report:
        write_report(args.report, setname, files, results, start, prof, elapsed, started,
                     build, pyrows)
        print("bench: wrote %s" % args.report)
    return 0


def python_rows(setname, log):
    """The Python package's rows (bench/bench_python.py), or a note why not."""
    try:
        import bench_python
        import pickleguard  # noqa: F401  (installed by make check / make bench)
    except ImportError as e:
        return "missing: %s" % e
    return bench_python.table(bench_python.run(setname, log))


def dask_rows(setname, log):
    """Scanning as a map over files, one process against a Dask LocalCluster
    (bench/bench_dask.py), or a note why not."""
    try:
        import bench_dask
        import dask.distributed  # noqa: F401  (requirements/test.txt)
        import pickleguard  # noqa: F401
    except ImportError as e:
        return "missing: %s" % e
    return bench_dask.table(bench_dask.run(setname, log))


def write_report(path, setname, files, results, start, prof, elapsed, started, build,
                 pyrows=None):
    model, cores, mem = machine()
    desc = {os.path.basename(p): d for p, d in files}
    w = ["# pickleguard benchmark results", "",
         "Regenerated by `make bench-report` (bench/bench.py, %s set); everything but "
         "the analysis section at the end is generated: do not edit it by hand."
         % setname, "",
         "- Date: %s" % started.strftime("%Y-%m-%d %H:%M UTC"),
         "- Machine: %s, %d logical cores, %s, Linux %s" % (model, cores, mem, platform.release()),
         "- Commit: %s" % git_commit(),
         "- Compiler: %s, `-O2`; Python %s (CPython's C `_pickle`)" %
         (compiler(), platform.python_version()),
         "- Whole run (generation check, %s, profile): %.0f s" %
         ("measurements", elapsed), "",
         "## Method", "",
         "Every figure is the median wall time of a separate process "
         "(`time.perf_counter()` around spawn and `os.wait4`), tools alternating "
         "within each repetition, after one warm-up read of the file into the page "
         "cache. Every tool is started through `decode_bench run`, a small launcher "
         "that forks and reports its child's `ru_maxrss` (started straight from "
         "Python, a child would inherit the driver's peak RSS across exec); "
         "mmapped file pages a tool touches count towards its RSS. `pickleguard scan` and `load` "
         "run with `--policy bench/bench-policy.yaml` (the `ml` policy plus "
         "`benchclasses.Point`) so that no tool stops early on a refusal; `load` "
         "writes its JSON to /dev/null. `C API decode` / `C API scan` are "
         "`bench/decode_bench` (pkl_decode + pkl_doc_free, pkl_scan_buffer on an "
         "mmapped file, no JSON, no output). The Python side is `bench/pytools.py`: "
         "`pickletools.genops` walked to the end, and `pickle.load`, leaving with "
         "`os._exit` so Python is not charged for freeing what it loaded. Process "
         "start-up is part of every figure (see the notes).", "",
         "## Workload (bench/gen_workload.py, fixed seeds)", "",
         md_table(["file", "MB", "content"],
                  [[fn, "%.1f" % (s / 1e6), desc.get(fn, "")]
                   for fn, (s, _, _) in results.items()]), "",
         "## Results", "",
         tables(results), ""]
    n = notes(results, start, build)
    if n:
        w += ["### Notes", "", n, ""]
    if pyrows:
        w += ["## Python package (bench/bench_python.py)", "",
              "pickleguard.loads and torch_load against pickle.loads and "
              "torch.load(weights_only=True): median time of the load call alone, "
              "each in a fresh process (tools alternating); peak RSS of that "
              "process (interpreter and imports included).", "", pyrows, ""]
    if prof is not None:
        w += ["## Profile", "", prof, ""]
    peers = kept_peers(path)
    if peers:
        w += [peers, ""]
    kept = kept_analysis(path)
    if kept:
        w += [kept, ""]
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(w))
    os.replace(path + ".tmp", path)


ANALYSIS_BEGIN = "<!-- analysis: written by hand, kept by make bench-report -->"
ANALYSIS_END = "<!-- end of analysis -->"


def kept_analysis(path):
    """The hand-written analysis section of an existing report, if any:
    regenerating the tables must not lose it (it names the run it read)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    a = text.find(ANALYSIS_BEGIN)
    b = text.find(ANALYSIS_END, a)
    if a < 0 or b < 0:
        return None
    return text[a:b + len(ANALYSIS_END)]


if __name__ == "__main__":
    sys.exit(main())
