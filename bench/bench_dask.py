#!/usr/bin/env python3
"""bench_dask.py -- scanning as a map over files: one process against a
Dask LocalCluster on this machine (issue 20), run by bench/bench.py after
its own tables (and on its own: `PYTHON bench/bench_dask.py [quick|full]`).

Workload (written here from benign objects, fixed seed, under bench/work/):
many small pickles and a few large ones, as a model hub's upload folder
looks (full: 1,200 files, 120 MB; quick: 300 files, 30 MB). Each row is the
median wall time of `pickleguard.scan(path, policy="default")` over every
file, caches warm:
  one process          a plain loop in one interpreter
  one process, 2 thr   a ThreadPoolExecutor: the C scan runs without the
                       GIL, so threads of one process scan in parallel
  cluster 2x1          LocalCluster, 2 worker processes x 1 thread,
                       client.map over 32 batches of paths (Dask's own
                       overhead: scheduling and result transfer included)
  cluster 1x2          LocalCluster, 1 worker process x 2 threads
Cluster start-up is timed apart (once per configuration).
"""
import os
import pickle
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work")
SETS = {"quick": (270, 30, 3), "full": (1080, 120, 5)}  # small, large, reps


def workload(setname):
    nsmall, nlarge, _ = SETS[setname]
    d = os.path.join(WORK, "dask_%s" % setname)
    stamp = os.path.join(d, ".done")
    if not os.path.exists(stamp):
        os.makedirs(d, exist_ok=True)
        rnd = random.Random(20)
        for i in range(nsmall):
            obj = {"id": i, "tags": ["t%d" % rnd.randrange(100)
                                     for _ in range(rnd.randrange(50, 400))],
                   "weights": [rnd.random() for _ in range(rnd.randrange(100, 2000))]}
            with open(os.path.join(d, "s%05d.pkl" % i), "wb") as f:
                pickle.dump(obj, f, protocol=i % 6)
        for i in range(nlarge):
            obj = [{"k": j, "v": rnd.random(), "s": "x" * (j % 40)}
                   for j in range(25000)]
            with open(os.path.join(d, "l%04d.pkl" % i), "wb") as f:
                pickle.dump(obj, f, protocol=4)
        open(stamp, "w").close()
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".pkl"))


def scan_batch(paths):
    """One task: a batch of paths under one Policy object (a policy is
    parsed once per task, not once per file; Dask's own overhead per task
    is about a millisecond, so tasks of one small file each would measure
    Dask, not the scan)."""
    import pickleguard
    pol = pickleguard.Policy("default")
    return [pickleguard.scan(p, policy=pol).max_severity for p in paths]


def batches(paths, n):
    size = max(1, len(paths) // n)
    return [paths[i:i + size] for i in range(0, len(paths), size)]


def flat(lists):
    return [x for sub in lists for x in sub]


def timed(fn, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def run(setname, log=sys.stderr):
    from dask.distributed import Client, LocalCluster
    paths = workload(setname)
    reps = SETS[setname][2]
    mb = sum(os.path.getsize(p) for p in paths) / 1e6
    for p in paths:  # warm the page cache
        with open(p, "rb") as f:
            while f.read(1 << 20):
                pass
    rows = []
    print("bench_dask: %d files, %.0f MB" % (len(paths), mb), file=log, flush=True)
    if __name__ != "__main__":  # workers cannot import bench/: ship by value
        import cloudpickle
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    chunks = batches(paths, 32)
    base, want = timed(lambda: scan_batch(paths), reps)
    rows.append(("one process", base, None))
    with ThreadPoolExecutor(2) as ex:
        t, got = timed(lambda: flat(ex.map(scan_batch, chunks)), reps)
    rows.append(("one process, 2 threads", t, None))
    ok = got == want
    for name, nw, nt in (("cluster 2 workers x 1 thread", 2, 1),
                         ("cluster 1 worker x 2 threads", 1, 2)):
        t0 = time.perf_counter()
        with LocalCluster(n_workers=nw, threads_per_worker=nt, processes=True,
                          host="127.0.0.1", dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            client.run(scan_batch, paths[:1])  # imports on every worker
            start = time.perf_counter() - t0
            t, got = timed(lambda: flat(client.gather(
                client.map(scan_batch, chunks, pure=False))), reps)
        ok = ok and got == want
        rows.append((name, t, start))
    return {"files": len(paths), "mb": mb, "rows": rows, "same": ok,
            "cores": os.cpu_count()}


def table(res):
    base = res["rows"][0][1]
    lines = ["%d files, %.0f MB, %d cores; verdicts identical in every row: %s"
             % (res["files"], res["mb"], res["cores"], "yes" if res["same"] else "NO"),
             "",
             "| configuration | wall s | files/s | MB/s | vs one process | start-up s |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, t, start in res["rows"]:
        lines.append("| %s | %.2f | %.0f | %.0f | %.2fx | %s |"
                     % (name, t, res["files"] / t, res["mb"] / t, base / t,
                        "%.1f" % start if start is not None else "-"))
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run(sys.argv[1] if len(sys.argv) > 1 else "quick")))
