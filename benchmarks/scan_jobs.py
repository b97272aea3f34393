"""The parallel scan: `jobs=N` against `jobs=1` in the same run, and where the time goes.

For each corpus directory (``benchmarks/leak_corpus.py DIR``) and mode (HETU only;
all types + fragments), times `--runs` alternating rounds of jobs=1 and jobs=N
(medians; the machine may be shared, so the load average is printed) and prints
the speed-up (and that of the fastest runs, least slowed by other load), with the
parent process's CPU time (all its threads) at jobs=1 and jobs=N (the parent reads
inputs, orders results and makes findings: its CPU is the pool's cost that workers
cannot share), the workers' CPU, and the speed-up that CPU time allows on a free
machine (jobs=1's CPU over jobs=N's, parent's and workers', spread over the cores:
less blurred by other load than the timed figure), and the ceiling a pool that cost
no CPU of its own would reach: the cores times jobs=1's wall over its CPU (jobs=1
already keeps a second core busy part of the time, with its SHA-256 thread; on 2
cores, 1.8x needs the workers to add no CPU at all). ``--split`` adds one
instrumented jobs=N run per mode:

- parent CPU (the process that reads inputs, hashes, unpickles and orders results,
  and scans tasks itself when idle) against the workers' CPU (the sum of their tasks'
  times);
- start-up (until the first task starts), the workers' idle time at the end
  (from a worker's last task to the end of the scan: load imbalance) and between their
  tasks (waiting for the parent to send one, or for a core on a busy machine), and the
  parent's main thread waiting for results (neither on a core nor waiting for one);
- tasks, bytes a task, pickled result bytes a finding;
- a model of the speed-up on a free machine, as load on a shared one blurs the
  timed figure: jobs=1's CPU time over the larger of (start-up + the makespan of
  the tasks' CPU times dealt, in the order they started, to the first free
  worker) and (all CPU, workers' and parent's, over the cores).

``--sizes`` times one file of each size (MB) the same way: where starting workers
begins to pay (smaller inputs are scanned in process, `scanfiles.SMALL_RANGES`).

`--tree` runs another checkout's code (e.g. ``--tree /work/main``) with this
instrument, so two versions can be timed alternately in one session. The
watchlist index is the corpus's people as `engine_density.py` builds it
(``--index-dir`` keeps it).

    python benchmarks/scan_jobs.py CORPUS --index-dir IDX [--runs 5]
        [--jobs 2] [--modes hetu,all] [--split] [--sizes 0.5,1,2] [--tree PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

AP = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
AP.add_argument("corpora", nargs="+", type=Path)
AP.add_argument("--index-dir", type=Path)
AP.add_argument("--people", type=int, default=40_000)
AP.add_argument("--seed", type=int, default=7)
AP.add_argument("--runs", type=int, default=3)
AP.add_argument("--jobs", type=int, default=2)
AP.add_argument("--modes", default="hetu,all")
AP.add_argument("--split", action="store_true")
AP.add_argument("--sizes", default="",
                help="MB, comma-separated: also time one file of each size (the head of the "
                     "corpus's biggest file), jobs=1 against jobs=N")
AP.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent)
ARGS = AP.parse_args()
sys.path.insert(0, str(ARGS.tree.resolve()))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from benchmarks.engine_density import MODES, NOT_CORPUS  # noqa: E402
from benchmarks.scan_throughput import build_index  # noqa: E402
from vahti.demo import synthetic  # noqa: E402
from vahti.matchers import scanfiles  # noqa: E402
from vahti.matchers.engine import ScanOptions  # noqa: E402
from vahti.matchers.index import WatchlistIndex  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402

_LOG: str | None = None  # where instrumented tasks write their timings
_RUN = scanfiles._run


def _timed_run(task):  # noqa: ANN001, ANN202 - scanfiles._run, timed in the worker
    t0, c0 = time.time(), time.process_time()
    result = _RUN(task)
    t1, c1 = time.time(), time.process_time()
    size = len(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    found = getattr(result, "found", None)  # FindingColumns
    n_found = len(found) if found is not None else 0
    assert _LOG is not None
    with open(_LOG, "a") as fh:
        fh.write(json.dumps([os.getpid(), t0, t1, c1 - c0, result.n_bytes, n_found, size]) + "\n")
    return result


def _sizes(biggest: str, index: WatchlistIndex, key: Key) -> None:
    """One file of each `--sizes` size: where starting workers begins to pay."""
    with open(biggest, "rb") as fh:
        data = fh.read()
    with tempfile.TemporaryDirectory() as tmp:
        for mb in (float(x) for x in ARGS.sizes.split(",")):
            path = os.path.join(tmp, f"head{mb}{os.path.splitext(biggest)[1]}")
            with open(path, "wb") as fh:
                fh.write(data[: int(mb * 1e6)])
            shown = []
            for mode in ARGS.modes.split(","):
                opts = ScanOptions(types=MODES[mode])
                times: dict[int, list[float]] = {1: [], ARGS.jobs: []}
                for _ in range(max(ARGS.runs, 5)):
                    for jobs in times:
                        t0 = time.perf_counter()
                        for _ in scanfiles.scan_files([path], index, key, opts, jobs=jobs):
                            pass
                        times[jobs].append(time.perf_counter() - t0)
                one, many = (statistics.median(times[j]) * 1e3 for j in (1, ARGS.jobs))
                shown.append(f"{mode} jobs=1 {one:.0f} ms, jobs={ARGS.jobs} {many:.0f} ms "
                             f"({one / many:.2f}x)")
            print(f"one {mb:g} MB file: " + "; ".join(shown))


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _schedstat() -> tuple[float, float]:
    """This thread's time on a core and waiting for one (s); Linux."""
    with open("/proc/thread-self/schedstat") as fh:
        run, wait, _ = fh.read().split()
    return int(run) / 1e9, int(wait) / 1e9


def _makespan(cpu_times: list[float], workers: int) -> float:
    free = [0.0] * workers
    for t in cpu_times:
        i = free.index(min(free))
        free[i] += t
    return max(free)


def _split(files: list[str], index: WatchlistIndex, key: Key, opts: ScanOptions,
           cpu_one: float) -> None:
    global _LOG
    fd, _LOG = tempfile.mkstemp(prefix="scan_jobs.")
    os.close(fd)
    scanfiles._run = _timed_run  # before the fork: the workers run it
    try:
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        s0 = _schedstat()
        t0 = time.time()
        for _ in scanfiles.scan_files(files, index, key, opts, jobs=ARGS.jobs):
            pass
        t1 = time.time()
        s1 = _schedstat()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        with open(_LOG) as fh:
            rows = [json.loads(line) for line in fh]
    finally:
        scanfiles._run = _RUN
        os.unlink(_LOG)
    parent = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    # the parent's main thread neither running nor waiting for a core: waiting for results
    waits = (t1 - t0) - (s1[0] - s0[0]) - (s1[1] - s0[1])
    workers = sum(r[3] for r in rows if r[0] != os.getpid())  # the parent scans too
    own = sum(r[3] for r in rows if r[0] == os.getpid())
    last: dict[int, float] = {}
    for pid, _s, end, *_ in rows:
        last[pid] = max(last.get(pid, t0), end)
    idle = [t1 - e for e in last.values()] + [t1 - t0] * (ARGS.jobs - len(last))
    # a worker waiting for the parent between two tasks (a window too small, a parent busy
    # with a task of its own too long for the worker's queue), or for a core
    gaps = 0.0
    for pid in set(last) - {os.getpid()}:
        mine = [r for r in rows if r[0] == pid]
        gaps += max(r[2] for r in mine) - min(r[1] for r in mine) - sum(r[2] - r[1] for r in mine)
    found = sum(r[5] for r in rows)
    start = min(r[1] for r in rows) - t0
    rows.sort(key=lambda r: r[1])
    model = max(start + _makespan([r[3] for r in rows], ARGS.jobs),
                (workers + parent) / min(ARGS.jobs, os.cpu_count() or 1))
    print(f"  split: wall {t1 - t0:.3f} s; parent CPU {parent:.3f} s ({own:.3f} s in "
          f"{sum(r[0] == os.getpid() for r in rows)} tasks of its own); workers CPU "
          f"{workers:.3f} s; {len(rows)} tasks ({sum(r[4] for r in rows) / len(rows) / 1e3:.0f}"
          f" kB a task); start-up {start:.3f} s; idle at the end "
          + ", ".join(f"{i:.3f}" for i in sorted(idle)) + f" s; workers between tasks {gaps:.3f}"
          f" s; parent waiting for results {waits:.3f} s; result pickles "
          f"{sum(r[6] for r in rows) / max(1, found):.1f} B a finding ({found} findings)")
    print(f"  model, free machine: jobs=1 CPU {cpu_one:.3f} s / jobs={ARGS.jobs} {model:.3f} s"
          f" = {cpu_one / model:.2f}x")


def main() -> None:
    key_file = ARGS.index_dir / "bench.key" if ARGS.index_dir else None
    if key_file is not None and (ARGS.index_dir / "meta.json").exists() and key_file.exists():
        key = Key(key_file.read_bytes())
        index = WatchlistIndex.load(ARGS.index_dir, key)
    else:
        key = Key(secrets.token_bytes(32))
        index = build_index(key, synthetic.make_people(ARGS.people, seed=ARGS.seed), True)
        if key_file is not None:
            index.save(ARGS.index_dir)
            key_file.write_bytes(key.secret)
    print(f"code: {ARGS.tree}; load average at start: {os.getloadavg()[0]:.2f} "
          f"(cores: {os.cpu_count()})")
    for corpus in ARGS.corpora:
        files = sorted(str(p) for p in corpus.iterdir() if p.name not in NOT_CORPUS)
        mb = sum(os.path.getsize(f) for f in files) / 1e6
        print(f"\n{corpus}: {mb:.1f} MB in {len(files)} files")
        for mode in ARGS.modes.split(","):
            opts = ScanOptions(types=MODES[mode])
            times: dict[int, list[float]] = {1: [], ARGS.jobs: []}
            cpu: dict[int, list[float]] = {1: [], ARGS.jobs: []}  # the parent's, all threads
            children: list[float] = []  # the workers' (reaped when the scan ends)
            for _ in range(ARGS.runs):
                for jobs in times:  # alternating: a load change hits both alike
                    t0, c0, w0 = time.perf_counter(), time.process_time(), _children_cpu()
                    for _ in scanfiles.scan_files(files, index, key, opts, jobs=jobs):
                        pass
                    times[jobs].append(time.perf_counter() - t0)
                    cpu[jobs].append(time.process_time() - c0)
                    if jobs > 1:
                        children.append(_children_cpu() - w0)
            one, many = (statistics.median(times[j]) for j in (1, ARGS.jobs))
            print(f"{mode:5} jobs=1 {one:7.3f} s  jobs={ARGS.jobs} {many:7.3f} s  "
                  f"speed-up {one / many:.2f}x  (all jobs={ARGS.jobs} ratios: "
                  + " ".join(f"{a / b:.2f}" for a, b in zip(times[1], times[ARGS.jobs],
                                                            strict=True)) + ")")
            # the fastest run of each: the one least slowed by other load on a shared machine
            best1, best_n = (min(times[j]) for j in (1, ARGS.jobs))
            print(f"      best of {ARGS.runs}: jobs=1 {best1:.3f} s, jobs={ARGS.jobs} "
                  f"{best_n:.3f} s, {best1 / best_n:.2f}x")
            total = statistics.median(a + b for a, b in zip(cpu[ARGS.jobs], children,
                                                              strict=True))
            cores = min(ARGS.jobs, os.cpu_count() or 1)
            print(f"      CPU jobs=1 {statistics.median(cpu[1]):.3f} s; jobs={ARGS.jobs}: parent "
                  f"{statistics.median(cpu[ARGS.jobs]):.3f} s, workers "
                  f"{statistics.median(children):.3f} s; bound on a free machine (jobs=1 CPU / "
                  f"jobs={ARGS.jobs} CPU over {cores} cores) "
                  f"{statistics.median(cpu[1]) / (total / cores):.2f}x; load average "
                  f"{os.getloadavg()[0]:.2f}"
                  + ("  (no workers: the gate kept the scan in process)"
                     if not any(children) else ""))
            # jobs=1 already keeps a second core busy part of the time (the SHA-256 thread):
            # even workers that cost no CPU of their own could not beat this
            print(f"      ceiling with no cost of the workers' own ({cores} cores x jobs=1 wall"
                  f" / jobs=1 CPU): {cores * one / statistics.median(cpu[1]):.2f}x")
            if ARGS.split:
                _split(files, index, key, opts, statistics.median(cpu[1]))
        if ARGS.sizes:
            _sizes(max(files, key=os.path.getsize), index, key)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
