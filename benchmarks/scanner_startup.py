"""A scan's start-up for fragments: the lookup tables built from the index, in one C pass
(`_native_frag.c`'s ``fragment_tables``) against numpy's passes, in one run.

Every process that scans all types (the default ``vahti scan``, each daemon job) builds,
once per index, a bit set of its fingerprints' top bits and where each bucket starts
(`engine._fragment_tables`). Times ``Scanner(index, key)`` for all types, medians of
`--runs`: first in a new process (what a command pays: its heap is new, so numpy's
temporaries fault their pages in), the two sides taking turns; then again and again in
this one (``--warm``, the cache emptied each time). The C pass against numpy's (the
extension without ``fragment_tables``). The watchlist is `--people` synthetic people
with notes (kept in ``--index-dir`` when given).

    python benchmarks/scanner_startup.py [--people 40000] [--runs 9] [--index-dir IDX]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.scan_throughput import build_index  # noqa: E402
from vahti.demo import synthetic  # noqa: E402
from vahti.matchers import engine, native  # noqa: E402
from vahti.matchers.engine import Scanner, ScanOptions  # noqa: E402
from vahti.matchers.index import WatchlistIndex  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402


def median_s(fn, runs: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(runs):
        engine._FP_TABLES.clear()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _numpy_lib():  # noqa: ANN202
    lib = native.lib
    return SimpleNamespace(**{n: getattr(lib, n) for n in dir(lib)
                              if not n.startswith("__") and n != "fragment_tables"})


def _child(side: str, index_dir: Path) -> None:
    """One cold Scanner() in this new process; prints its seconds."""
    key = Key((index_dir / "bench.key").read_bytes())
    index = WatchlistIndex.load(index_dir, key)
    if side == "numpy":
        native.lib = _numpy_lib()
    t0 = time.perf_counter()
    Scanner(index, key, ScanOptions())
    print(time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=40_000)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--index-dir", type=Path)
    ap.add_argument("--child", choices=("c", "numpy"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.index_dir)
        return
    lib = native.lib
    if lib is None or not hasattr(lib, "fragment_tables"):
        raise SystemExit("the C extension with fragment_tables is not built")
    with tempfile.TemporaryDirectory(prefix="vahti-bench-") as tmp:
        index_dir = args.index_dir or Path(tmp)
        key_file = index_dir / "bench.key"
        if key_file.exists():
            key = Key(key_file.read_bytes())
            index = WatchlistIndex.load(index_dir, key)
        else:
            key = Key(secrets.token_bytes(32))
            index = build_index(key, synthetic.make_people(args.people, seed=args.seed), True)
            index.save(index_dir)
            key_file.write_bytes(key.secret)
        cold: dict[str, list[float]] = {"c": [], "numpy": []}
        for _ in range(args.runs):
            for side in cold:
                out = subprocess.run([sys.executable, __file__, "--child", side,
                                      "--index-dir", str(index_dir)],
                                     capture_output=True, text=True, check=True)
                cold[side].append(float(out.stdout))
    warm = {}
    for side, which in (("c", lib), ("numpy", _numpy_lib())):
        native.lib = which
        try:
            warm[side] = median_s(lambda: Scanner(index, key, ScanOptions()), args.runs)
        finally:
            native.lib = lib
    c, n = statistics.median(cold["c"]), statistics.median(cold["numpy"])
    print(f"{len(index.fragments.fp_sorted)} fingerprints of {index.fragments.n_records} "
          f"records; Scanner(all types), medians of {args.runs} runs")
    print(f"{'tables built by':16} {'new process s':>14} {'warm s':>8}")
    print(f"{'C pass':16} {c:14.4f} {warm['c']:8.4f}")
    print(f"{'numpy passes':16} {n:14.4f} {warm['numpy']:8.4f}")
    print(f"numpy / C: new process {n / c:.1f}x, warm {warm['numpy'] / warm['c']:.1f}x")


if __name__ == "__main__":
    main()
