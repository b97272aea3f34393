"""The scan with the heap kept for reuse (`matchers/heap.py`) against glibc's defaults.

Each side runs in a process of its own, as a scan does (the setting is per process):
`--runs` scans of the corpus directory in process, jobs=1, findings as objects, after
one warm-up scan. The sides take turns `--rounds` times (the machine may be shared).
Printed per side and mode (HETU only; all types + fragments): the median wall time of
its scans, their page faults (minor: memory the kernel mapped in and zeroed) and peak
RSS; then the ratio default / kept (above 1: keeping the heap is faster).

The default side is a process where `heap.keep_big_buffers` is switched off before
anything scans (glibc's own thresholds, as an operator's GLIBC_TUNABLES would leave).
The watchlist is built as `engine_density.py` builds it (``--index-dir`` keeps it).

    python benchmarks/leak_corpus.py /tmp/c20 --size-mb 20
    python benchmarks/scan_heap.py /tmp/c20 --index-dir /tmp/idx [--runs 9] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODES = ("hetu", "all")

# One side: `runs` timed scans after a warm-up; prints its figures as JSON.
_SIDE = """
import json, os, resource, statistics, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from vahti.matchers import heap
if sys.argv[1] == "default":
    heap._state.append(False)  # switched off: glibc's thresholds
from benchmarks.engine_density import MODES, NOT_CORPUS
from vahti.matchers.engine import ScanOptions
from vahti.matchers.index import WatchlistIndex
from vahti.matchers.keys import Key
from vahti.matchers.scanfiles import scan_files
idx = Path(sys.argv[2]); key = Key((idx / "bench.key").read_bytes())
index = WatchlistIndex.load(idx, key)
files = sorted(str(p) for p in Path(sys.argv[3]).iterdir() if p.name not in NOT_CORPUS)
opts = ScanOptions(types=MODES[sys.argv[4]])
def run():
    return sum(1 for e in scan_files(files, index, key, opts, jobs=1))
n = run()
walls, faults = [], []
for _ in range(int(sys.argv[5])):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    assert run() == n
    walls.append(time.perf_counter() - t0)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps({{"wall": statistics.median(walls), "faults": statistics.median(faults),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "events": n}}))
"""


def side(which: str, index_dir: Path, corpus: Path, mode: str, runs: int) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    out = subprocess.run([sys.executable, "-c", _SIDE.format(repo=str(REPO)), which,
                          str(index_dir), str(corpus), mode, str(runs)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--people", type=int, default=40_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    if not (args.index_dir / "meta.json").exists():
        from benchmarks.scan_throughput import build_index
        from vahti.demo import synthetic
        from vahti.matchers.keys import Key

        key = Key(secrets.token_bytes(32))
        index = build_index(key, synthetic.make_people(args.people, seed=args.seed), True)
        index.save(args.index_dir)
        (args.index_dir / "bench.key").write_bytes(key.secret)
    mb = sum(p.stat().st_size for p in args.corpus.iterdir()
             if p.name not in {"codes.txt", "register.csv"}) / 1e6
    print(f"{args.corpus}: {mb:.1f} MB; {args.rounds} rounds of {args.runs} scans a side; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'mode':6} {'heap':8} {'wall s':>8} {'faults':>8} {'peak RSS MB':>12}")
    for mode in MODES:
        got: dict[str, list[dict]] = {"default": [], "kept": []}
        for _ in range(args.rounds):
            for which in got:
                got[which].append(side(which, args.index_dir, args.corpus, mode, args.runs))
        assert got["default"][0]["events"] == got["kept"][0]["events"]
        med = {w: {k: statistics.median(r[k] for r in rs) for k in ("wall", "faults", "rss_mb")}
               for w, rs in got.items()}
        for which, m in med.items():
            print(f"{mode:6} {which:8} {m['wall']:8.3f} {m['faults']:8.0f} {m['rss_mb']:12.0f}")
        ratios = [d["wall"] / k["wall"] for d, k in zip(got["default"], got["kept"], strict=True)]
        print(f"{mode:6} default / kept: {med['default']['wall'] / med['kept']['wall']:.3f}x "
              f"(per round: {' '.join(f'{r:.3f}' for r in ratios)})")


if __name__ == "__main__":
    main()
