"""The watchlist index lookup by the C hash probe against its numpy twin, same run.

Records every `WatchlistIndex.lookup` call of an all-types scan of a corpus directory
(made by ``benchmarks/leak_corpus.py``), checks that the C probe (`_native_lookup.c`)
and the numpy binary searches give the same hits for each, then replays all of them
with each path, alternating, and prints the medians of `--runs` and their ratio. The
probe tables are built before timing (once per index, as a scan does).

    python benchmarks/index_lookup.py /tmp/s16/c20 --index-dir /tmp/s16/idx [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.engine_density import NOT_CORPUS  # noqa: E402
from vahti.matchers import native  # noqa: E402
from vahti.matchers.engine import ScanOptions  # noqa: E402
from vahti.matchers.index import WatchlistIndex  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.scanfiles import scan_files  # noqa: E402


def recorded_calls(index: WatchlistIndex, key: Key, files: list[str]) -> list[tuple]:
    """(type, keys) of every lookup an all-types scan of `files` makes."""
    calls: list[tuple] = []
    original = WatchlistIndex.lookup

    def recording(self, id_type, keys):  # noqa: ANN001, ANN202
        calls.append((id_type, np.array(keys, dtype=np.uint64)))
        return original(self, id_type, keys)

    WatchlistIndex.lookup = recording  # type: ignore[method-assign]
    try:
        for _ in scan_files(files, index, key, ScanOptions(), jobs=1):
            pass
    finally:
        WatchlistIndex.lookup = original  # type: ignore[method-assign]
    return calls


def replay(index: WatchlistIndex, calls: list[tuple], use_c: bool) -> tuple[float, list]:
    saved = native.lib
    if not use_c:
        native.lib = None
    try:
        t0 = time.perf_counter()
        out = [index.lookup(t, keys) for t, keys in calls]
        return time.perf_counter() - t0, out
    finally:
        native.lib = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    if native.lib is None:
        sys.exit("the C extension is not built: nothing to compare")
    key = Key((args.index_dir / "bench.key").read_bytes())
    index = WatchlistIndex.load(args.index_dir, key)
    files = sorted(str(p) for p in args.corpus.iterdir() if p.name not in NOT_CORPUS)
    calls = recorded_calls(index, key, files)
    _, c_out = replay(index, calls, use_c=True)  # builds the probe tables
    _, np_out = replay(index, calls, use_c=False)
    for (cw, cp), (pw, pp) in zip(c_out, np_out, strict=True):
        if not (np.array_equal(cw, pw) and np.array_equal(cp, pp)):
            sys.exit("the C probe and the numpy lookup disagree")
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.runs):
        for use_c in (False, True):
            times[use_c].append(replay(index, calls, use_c)[0])
    n_keys = sum(len(k) for _, k in calls)
    hits = sum(len(w) for w, _ in c_out)
    old, new = statistics.median(times[False]), statistics.median(times[True])
    print(f"{len(calls)} lookups, {n_keys} candidate keys, {hits} hits (both paths agree)")
    print(f"numpy searchsorted: {old * 1e3:8.2f} ms (median of {args.runs})")
    print(f"C hash probe:       {new * 1e3:8.2f} ms  ({old / new:.1f}x faster)")


if __name__ == "__main__":
    main()
