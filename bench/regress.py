#!/usr/bin/env python3
"""regress.py -- is this build slower than a base build?  A/B in one run.

  make bench-regress BASE=<commit>      (scripts/bench_regress.sh)
  python3 bench/regress.py --base DIR --new DIR [--reps N] [--limit PCT]

Both builds' tools run on the same opcode-dense workload files
(bench/gen_workload.py: the full set's 8-35 MB files; the quick file
takes milliseconds, too short to compare), base and new alternating
inside every repetition (which one goes first alternates too), so machine
load hits both alike. For the C API tools (decode_bench: decode, scan,
reader walk) the figure is the in-process time decode_bench prints; for
the CLI (`scan`, `load` to /dev/null) it is the wall time of the process.
The verdict compares the best of the repetitions (the least disturbed run
of CPU-bound work on a shared machine); medians are printed beside it.
new / base above 1 + PCT/100 (default 5 %) is a regression, and the exit
status is 1 when any row regresses (0 otherwise, 2 on failure).

With --instructions the C API tools run once each under callgrind and the
figure is the instruction count of the whole process (start-up included):
deterministic, so a shared, loaded machine cannot blur it, and the
verdict that `make bench-regress` reports (wall time on an idle machine
is the other half of the story: run without it there).

Only files that gen_workload.py made from benign objects are read; the
tools are pickleguard's own, nothing is unpickled here.
"""
import argparse
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402
import gen_workload  # noqa: E402

TOOLS = ("capi_walk", "capi_scan", "capi_decode", "scan", "load")


def run_once(tool, build, path, tmpdir):
    argv = bench.tool_argv(tool, build, path)
    keep = tool.startswith("capi_")
    dt, code, _, out, err = bench.spawn(argv, keep, tmpdir)
    ok = dict((x[0], x[2]) for x in bench.TOOLS)[tool]
    if code not in ok:
        raise RuntimeError("%s (%s) exit %d: %s" % (tool, build, code, err.strip()[:300]))
    inproc = bench.kv(out).get("seconds")
    return float(inproc) if inproc is not None else dt


def instructions(tool, build, path, tmpdir):
    total, err = bench.callgrind_run(bench.tool_argv(tool, build, path), tmpdir)
    if total is None:
        raise RuntimeError("%s (%s): %s" % (tool, build, err))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="build directory of the base commit")
    ap.add_argument("--new", required=True, help="build directory under test")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--limit", type=float, default=5.0, help="allowed slow-down, percent")
    ap.add_argument("--files", help="comma-separated substrings selecting files")
    ap.add_argument("--tools")
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions under callgrind (C API tools, one run each)")
    args = ap.parse_args()
    tools = [t for t in (args.tools or ",".join(
        [t for t in TOOLS if t.startswith("capi_")] if args.instructions else TOOLS)).split(",")
        if t]
    if args.instructions:
        args.reps = 1
    for b in (args.base, args.new):
        for exe in ("pickleguard", "decode_bench"):
            if not os.access(os.path.join(b, exe), os.X_OK):
                print("regress: %s/%s is not built" % (b, exe), file=sys.stderr)
                return 2
    files = [p for p, _ in gen_workload.ensure("full")
             if os.path.basename(p) in bench.OPCODE_DENSE]
    if args.files:
        subs = args.files.split(",")
        files = [f for f in files if any(s in os.path.basename(f) for s in subs)]
    rows = []
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="pklregress.") as tmpdir:
        for path in files:
            bench.warm(path)
            for tool in tools:
                t = {"base": [], "new": []}
                for r in range(args.reps):
                    order = ("base", "new") if r % 2 == 0 else ("new", "base")
                    for which in order:
                        build = args.base if which == "base" else args.new
                        t[which].append(instructions(tool, build, path, tmpdir)
                                        if args.instructions else
                                        run_once(tool, build, path, tmpdir))
                bb, bn = min(t["base"]), min(t["new"])
                mb, mn = statistics.median(t["base"]), statistics.median(t["new"])
                ratio = bn / bb if bb > 0 else float("inf")
                worst = max(worst, ratio)
                verdict = "REGRESSION" if ratio > 1 + args.limit / 100 else "ok"
                rows.append((os.path.basename(path), tool, bb, bn, ratio, mb, mn, verdict))
                print("regress: %-20s %-11s best: base %.4f s new %.4f s (%.3f)  "
                      "median: base %.4f s new %.4f s (%.3f)  %s"
                      % (rows[-1][0], tool, bb, bn, ratio, mb, mn, mn / mb if mb else 0,
                         verdict), file=sys.stderr, flush=True)
    unit = "instructions" if args.instructions else "s"
    print("| file | tool | base %s (best) | new %s (best) | new / base | "
          "base %s (median) | new %s (median) | |" % (unit, unit, unit, unit))
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for f, tool, bb, bn, ratio, mb, mn, verdict in rows:
        fmt = "%d" if args.instructions else "%.4f"
        print(("| %s | %s | " + fmt + " | " + fmt + " | %.3f | " + fmt + " | " + fmt + " | %s |")
              % (f, tool, bb, bn, ratio, mb, mn, verdict))
    if args.instructions:
        print("\ninstructions counted by callgrind, one run each; limit +%.0f %%; "
              "worst new/base %.3f" % (args.limit, worst))
    else:
        print("\n%d reps each, base and new alternating; limit +%.0f %% on the best run; "
              "worst new/base %.3f" % (args.reps, args.limit, worst))
    return 1 if any(r[-1] != "ok" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
