#!/usr/bin/env python3
"""bench_python.py -- the Python package against the loaders it replaces
(issue 15), run by bench/bench.py after its own tables (and on its own:
`PYTHON bench/bench_python.py [quick|full]`).

Rows: each run is a fresh child process that times the load call alone,
the first call in that process (wall: perf_counter, CPU: process_time,
every thread of the process; the median of the runs, the two tools
alternating, the file read once before so that the page cache is warm for
both); peak RSS is that child's ru_maxrss from os.wait4, interpreter and
imports included (both sides import torch for the torch rows):
  pure data    pickleguard.loads vs pickle.loads (CPython's C unpickler) on a
               pure-data pickle (dicts, lists, ints, floats, str), protocol 5
  numbers      the same on one list of 1M floats + 1M ints, protocol 4
  10k tensors  pickleguard.torch_load vs torch.load(weights_only=True) on a
               state_dict of 10,000 small tensors
  big ckpt     the same on one large checkpoint (full: 1 GiB when the
               machine has the memory for it, else 256 MiB; quick: 64 MiB)
  joblib       pickleguard.joblib_load vs joblib.load on an uncompressed
               joblib.dump of NumPy arrays (quick: 64 MiB, full: 256 MiB)
Only files this script writes from benign objects are ever loaded.
"""
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import os, sys, time, pickle
kind, tool, path = sys.argv[1:4]
import pickleguard
if kind == "torch":
    import torch
if kind == "joblib":
    import joblib, numpy
data = open(path, "rb").read() if kind == "data" else None
t, c = time.perf_counter(), time.process_time()
if kind == "data":
    obj = pickle.loads(data) if tool == "py" else pickleguard.loads(data, policy="default")
elif kind == "joblib":
    obj = joblib.load(path) if tool == "py" else pickleguard.joblib_load(path, policy="ml")
else:
    obj = torch.load(path, weights_only=True) if tool == "py" else pickleguard.torch_load(path)
dt, dc = time.perf_counter() - t, time.process_time() - c
print(dt, dc, flush=True)
os._exit(0)
"""


def run_child(kind, tool, path):
    p = subprocess.Popen([sys.executable, "-c", CHILD, kind, tool, path],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError("%s %s failed: %s" % (kind, tool, err.decode()[-500:]))
    wall, cpu = out.split()[-2:]
    return float(wall), float(cpu), ru.ru_maxrss * 1024


def make_data(path, n):
    import random
    rnd = random.Random(5)
    obj = [{"id": i, "name": "item%d" % i, "score": rnd.random(), "tags": ["a", "b", str(i % 7)],
            "pos": (rnd.randrange(1000), rnd.randrange(1000))} for i in range(n)]
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=5)


def make_numbers(path, n):
    with open(path, "wb") as f:
        pickle.dump([float(i) for i in range(n)] + list(range(n)), f, protocol=4)


def make_small_tensors(path, n):
    import torch
    torch.manual_seed(0)
    sd = {"layer%d.weight" % i: torch.randn(4, 4) for i in range(n)}
    torch.save(sd, path)


def make_big(path, nbytes):
    import torch
    per = 64 << 20
    sd = {"w%d" % i: torch.zeros(per // 4) + i for i in range(max(1, nbytes // per))}
    torch.save(sd, path)


def make_joblib(path, nbytes):
    import joblib
    import numpy as np
    per = 8 << 20
    obj = {"w%d" % i: np.full(per // 4, i, dtype=np.float32) for i in range(max(1, nbytes // per))}
    obj["meta"] = {"classes": np.arange(10), "names": ["a", "b"]}
    joblib.dump(obj, path)


def mem_total():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def run(setname="quick", log=sys.stderr, only=None):
    """The rows of one set; `only` keeps the rows whose kind it names
    (data, torch, joblib)."""
    reps = 3 if setname == "quick" else 5
    rows = []
    with tempfile.TemporaryDirectory(prefix="pklpybench.") as d:
        big = 64 << 20 if setname == "quick" else (1 << 30 if mem_total() > (6 << 30) else 256 << 20)
        cases = [("data", "pure data (%s)", os.path.join(d, "data.pkl"),
                  lambda p: make_data(p, 200000 if setname != "quick" else 50000)),
                 ("data", "1M floats + 1M ints (%s)", os.path.join(d, "numbers.pkl"),
                  lambda p: make_numbers(p, 10**6)),
                 ("torch", "10,000 small tensors (%s)", os.path.join(d, "small.pt"),
                  lambda p: make_small_tensors(p, 10000)),
                 ("torch", "large checkpoint (%s)", os.path.join(d, "big.pt"),
                  lambda p: make_big(p, big)),
                 ("joblib", "joblib arrays (%s)", os.path.join(d, "arrays.joblib"),
                  lambda p: make_joblib(p, 64 << 20 if setname == "quick" else 256 << 20))]
        for kind, label, path, make in cases:
            if only and kind not in only:
                continue
            try:
                make(path)
            except ImportError as e:
                rows.append((label % "n/a", "missing: %s" % e))
                continue
            size = os.path.getsize(path)
            print("bench_python: %s, %.1f MB, %d reps" % (label % "", size / 1e6, reps),
                  file=log, flush=True)
            warm(path)
            times = {"py": [], "pg": []}
            cpus = {"py": [], "pg": []}
            rss = {"py": 0, "pg": 0}
            for r in range(reps):
                for tool in (("py", "pg") if r % 2 else ("pg", "py")):
                    t, c, m = run_child(kind, tool, path)
                    times[tool].append(t)
                    cpus[tool].append(c)
                    rss[tool] = max(rss[tool], m)
            med = statistics.median
            rows.append((label % ("%.1f MB" % (size / 1e6)), med(times["py"]), med(times["pg"]),
                         rss["py"], rss["pg"], med(cpus["py"]), med(cpus["pg"])))
    return rows


def table(rows):
    out = ["| workload | reference | reference s | pickleguard s | speed-up | reference CPU s "
           "| pickleguard CPU s | CPU speed-up | reference peak RSS MB | pickleguard peak RSS MB |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if len(r) == 2:
            out.append("| %s | %s | | | | | | | | |" % r)
            continue
        label, py, pg, rpy, rpg, cpy, cpg = r
        ref = "pickle.loads" if label.startswith(("pure", "1M")) else "torch.load(weights_only=True)"
        ref = "joblib.load" if label.startswith("joblib") else ref
        out.append("| %s | %s | %.4f | %.4f | %.2fx | %.4f | %.4f | %.2fx | %.0f | %.0f |"
                   % (label, ref, py, pg, py / pg if pg else 0, cpy, cpg, cpy / cpg if cpg else 0,
                      rpy / 1e6, rpg / 1e6))
    return "\n".join(out)


if __name__ == "__main__":
    # bench_python.py [quick|full] [data,torch,joblib]
    print(table(run(sys.argv[1] if len(sys.argv) > 1 else "quick",
                    only=sys.argv[2].split(",") if len(sys.argv) > 2 else None)))
