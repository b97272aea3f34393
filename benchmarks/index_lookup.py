"""Keying and looking up candidates, C (`matchers/_native_lookup.c`) against numpy, same run.

Records every `WatchlistIndex.lookup` and `Digester.digest_rows` call of an all-types
scan of a corpus directory (made by ``benchmarks/leak_corpus.py``), checks that the C
and numpy paths give the same results for each, then replays all of them with each
path, alternating, and prints the medians of `--runs` and their ratio:

- lookup: the C hash probe against two `np.searchsorted` (the probe tables are built
  before timing, once per index, as a scan does);
- digest_rows: CMAC messages built by `cmac_prepare` against numpy (the AES calls are
  the same `cryptography` ones in both).

    python benchmarks/index_lookup.py CORPUS --index-dir IDX [--runs 9]
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
from vahti.matchers.digest import Digester, digester  # noqa: E402
from vahti.matchers.engine import ScanOptions  # noqa: E402
from vahti.matchers.index import WatchlistIndex  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.scanfiles import scan_files  # noqa: E402


def recorded_calls(index: WatchlistIndex, key: Key, files: list[str]) -> tuple[list, list]:
    """The arguments of every lookup and every digest_rows an all-types scan makes."""
    lookups: list[tuple] = []
    digests: list[tuple] = []
    lookup, digest_rows = WatchlistIndex.lookup, Digester.digest_rows

    def recording_lookup(self, id_type, keys):  # noqa: ANN001, ANN202
        lookups.append((id_type, np.array(keys, dtype=np.uint64)))
        return lookup(self, id_type, keys)

    def recording_digest(self, id_type, values, lengths):  # noqa: ANN001, ANN202
        digests.append((id_type, np.array(values), np.array(lengths)))
        return digest_rows(self, id_type, values, lengths)

    WatchlistIndex.lookup = recording_lookup  # type: ignore[method-assign]
    Digester.digest_rows = recording_digest  # type: ignore[method-assign]
    try:
        for _ in scan_files(files, index, key, ScanOptions(), jobs=1):
            pass
    finally:
        WatchlistIndex.lookup = lookup  # type: ignore[method-assign]
        Digester.digest_rows = digest_rows  # type: ignore[method-assign]
    return lookups, digests


def replay(call, calls: list[tuple], use_c: bool) -> tuple[float, list]:  # noqa: ANN001
    saved = native.lib
    if not use_c:
        native.lib = None
    try:
        t0 = time.perf_counter()
        out = [call(*args) for args in calls]
        return time.perf_counter() - t0, out
    finally:
        native.lib = saved


def compare(name: str, call, calls: list[tuple], runs: int) -> None:  # noqa: ANN001
    """Check both paths agree on every call, then time them alternating."""
    _, c_out = replay(call, calls, use_c=True)  # builds the probe tables
    _, np_out = replay(call, calls, use_c=False)
    for c, p in zip(c_out, np_out, strict=True):
        same = (all(np.array_equal(a, b) for a, b in zip(c, p, strict=True))
                if isinstance(c, tuple) else np.array_equal(c, p))
        if not same:
            sys.exit(f"{name}: the C and numpy paths disagree")
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(runs):
        for use_c in (False, True):
            times[use_c].append(replay(call, calls, use_c)[0])
    old, new = statistics.median(times[False]), statistics.median(times[True])
    print(f"{name} ({len(calls)} calls, {sum(len(a[1]) for a in calls)} candidates, "
          f"both paths agree)")
    print(f"  numpy: {old * 1e3:8.2f} ms (median of {runs})")
    print(f"  C:     {new * 1e3:8.2f} ms  ({old / new:.1f}x faster)")


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
    lookups, digests = recorded_calls(index, key, files)
    compare("lookup", index.lookup, lookups, args.runs)
    compare("digest_rows", digester(key).digest_rows, digests, args.runs)


if __name__ == "__main__":
    main()
