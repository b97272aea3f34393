"""Corroboration time per scan of a leak corpus: values digested from packed bytes in C
(now) against the former (n, longest value) gather in numpy, in the same run.

Corroboration reads the names and birth dates around every hit, keys them (CMAC) and
looks them up among the hit's person's keys (`Scanner._corroboration`). Over a corpus
directory (made by ``benchmarks/leak_corpus.py``) with its saved index, one core,
findings as columns, alternating the two in each round (medians of `--runs`, process
time spent in `Scanner._corroboration` per scan of the whole corpus):

- now: `Digester.digest_packed` builds the CMAC messages from the packed values in C
  (`cmac_prepare_packed`);
- gather: the values first made an (n, longest value) array of rows in numpy and
  digested as rows (`Digester._digest_gathered`, what `digest_packed` did before).

The findings of the two are checked equal first. (The rest of corroboration's speed-up,
in C, has no switch: its figures are measured against a checkout of the former code.)

    python benchmarks/corroboration.py CORPUS --index-dir IDX [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.engine_density import MODES, NOT_CORPUS  # noqa: E402
from vahti.matchers import native  # noqa: E402
from vahti.matchers.digest import Digester  # noqa: E402
from vahti.matchers.engine import Scanned, Scanner, ScanOptions  # noqa: E402
from vahti.matchers.index import WatchlistIndex  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.scanfiles import scan_files  # noqa: E402


class CorroborationClock:
    """Adds up the process time spent in `Scanner._corroboration` while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._saved = Scanner._corroboration

    def __enter__(self) -> CorroborationClock:
        saved = self._saved

        def timed(scanner: Scanner, *args):  # noqa: ANN002, ANN202
            t0 = time.process_time()
            try:
                return saved(scanner, *args)
            finally:
                self.seconds += time.process_time() - t0

        Scanner._corroboration = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Scanner._corroboration = self._saved  # type: ignore[method-assign]


class gathered:  # noqa: N801  (a context manager used like a function)
    """Within it, packed values are digested through the former numpy gather."""

    def __enter__(self) -> None:
        self.saved = Digester.digest_packed
        Digester.digest_packed = Digester._digest_gathered  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        Digester.digest_packed = self.saved  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if native.lib is None:
        sys.exit("corroboration: the C extension is not built")
    key_file = args.index_dir / "bench.key"
    if not key_file.exists():
        sys.exit(f"corroboration: no saved index in {args.index_dir} "
                 "(make one with benchmarks/engine_density.py --index-dir)")
    key = Key(key_file.read_bytes())
    index = WatchlistIndex.load(args.index_dir, key)
    files = sorted(str(p) for p in args.corpus.iterdir()
                   if p.is_file() and p.name not in NOT_CORPUS)
    print(f"{args.corpus}: {sum(Path(f).stat().st_size for f in files) / 1e6:.1f} MB in "
          f"{len(files)} files; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} "
          f"cores; {args.runs} runs each, alternating, medians of process time")
    print(f"{'mode':6} {'now ms':>9} {'gather ms':>10} {'ratio':>7}")
    for mode, types in MODES.items():
        def scan(options: ScanOptions = ScanOptions(types=types)) -> list:  # noqa: B008
            return [c for c in scan_files(files, index, key, options, jobs=1, columns=True)
                    if not isinstance(c, Scanned)]

        now = [c.findings() for c in scan()]
        with gathered():
            before = [c.findings() for c in scan()]
        if now != before:
            sys.exit("corroboration: the findings differ between the two digests")
        times: dict[str, list[float]] = {"now": [], "gather": []}
        for _ in range(args.runs):
            with CorroborationClock() as clock:
                scan()
            times["now"].append(clock.seconds)
            with gathered(), CorroborationClock() as clock:
                scan()
            times["gather"].append(clock.seconds)
        med = {name: statistics.median(v) * 1000 for name, v in times.items()}
        print(f"{mode:6} {med['now']:9.2f} {med['gather']:10.2f} "
              f"{med['gather'] / med['now']:6.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
