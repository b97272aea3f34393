"""The C readers of the scan engine against their Python twins, in the same run.

Over a corpus directory (made by ``benchmarks/leak_corpus.py``), alternating the two
paths, medians of `--runs`:

- corroboration: the engine's "corroboration" time (reading names and birth dates
  around every hit, digesting them, looking them up) in an all-types scan, with the
  C reader (`matchers/_native_corr.c`) and with the Python reader (`_ChunkText`);
  the findings of both are checked equal first;
- phone readings: `detectors.phone.candidates` over every chunk of the corpus
  (normalised as a scan normalises it), in C (`matchers/_native_phone.c`) and with
  numpy, after checking that both give the same readings.

    python benchmarks/native_readers.py CORPUS --index-dir IDX [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.engine_density import NOT_CORPUS  # noqa: E402
from benchmarks.normalize_native import chunks  # noqa: E402
from vahti.matchers import native  # noqa: E402
from vahti.matchers.detectors import phone  # noqa: E402
from vahti.matchers.detectors._common import DigitRuns, code_points  # noqa: E402
from vahti.matchers.engine import Scanner, ScanOptions  # noqa: E402
from vahti.matchers.index import WatchlistIndex  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.normalize import normalize  # noqa: E402


class python_reader:  # noqa: N801  (a context manager used like a function)
    """Within it, the engine reads names and dates with its Python reader."""

    def __enter__(self) -> None:
        self.saved = Scanner._corroboration_native
        Scanner._corroboration_native = Scanner._corroboration_python  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        Scanner._corroboration_native = self.saved  # type: ignore[method-assign]


class numpy_phones:  # noqa: N801
    """Within it, phone readings are made with numpy (the C extension looks absent)."""

    def __enter__(self) -> None:
        self.saved = native.lib
        native.lib = None

    def __exit__(self, *exc: object) -> None:
        native.lib = self.saved


def corroboration_seconds(index: WatchlistIndex, key: Key, texts: list[tuple[str, str]]):
    scanner = Scanner(index, key, ScanOptions())
    found = [scanner.scan_text(t, "x", k) for t, k in texts]
    return scanner.timings["corroboration"], found


def phone_seconds(runs: list[DigitRuns]):
    t0 = time.perf_counter()
    out = [phone.candidates(r) for r in runs]
    return time.perf_counter() - t0, out


def same_readings(a: phone.Candidates, b: phone.Candidates) -> bool:
    if not all(np.array_equal(getattr(a, f), getattr(b, f))
               for f in ("starts", "ends", "lengths", "groups", "ngroups")):
        return False
    return all(bytes(x[:n]) == bytes(y[:n])
               for x, y, n in zip(a.values, b.values, b.lengths.tolist(), strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if native.lib is None or not hasattr(native.lib, "corr_values"):
        sys.exit("native_readers: the C extension (with its readers) is not built")
    key_file = args.index_dir / "bench.key"
    if not key_file.exists():
        sys.exit(f"native_readers: no saved index in {args.index_dir} "
                 "(make one with benchmarks/engine_density.py --index-dir)")
    key = Key(key_file.read_bytes())
    index = WatchlistIndex.load(args.index_dir, key)
    files = sorted(p for p in args.corpus.iterdir() if p.is_file() and p.name not in NOT_CORPUS)
    whole = [(p.read_text(encoding="utf-8", errors="replace"),
              "html" if p.suffix == ".html" else "sql" if p.suffix == ".sql" else "text")
             for p in files]
    pieces = chunks(files)
    runs = [DigitRuns(code_points(normalize(t, html_tags=k == "html", sql=k == "sql").text))
            for t, k in pieces]
    print(f"{args.corpus}: {sum(p.stat().st_size for p in files) / 1e6:.1f} MB in "
          f"{len(files)} files, {len(pieces)} chunks; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores; {args.runs} runs each, alternating, medians")

    _, c_found = corroboration_seconds(index, key, whole)
    with python_reader():
        _, p_found = corroboration_seconds(index, key, whole)
    if c_found != p_found:
        sys.exit("native_readers: the C and Python readers gave different findings")
    _, c_read = phone_seconds(runs)
    with numpy_phones():
        _, p_read = phone_seconds(runs)
    if not all(same_readings(a, b) for a, b in zip(c_read, p_read, strict=True)):
        sys.exit("native_readers: the C and numpy phone readings differ")

    times: dict[str, list[float]] = {k: [] for k in ("corr C", "corr Python", "phone C",
                                                      "phone numpy")}
    for _ in range(args.runs):
        times["corr C"].append(corroboration_seconds(index, key, whole)[0])
        with python_reader():
            times["corr Python"].append(corroboration_seconds(index, key, whole)[0])
        times["phone C"].append(phone_seconds(runs)[0])
        with numpy_phones():
            times["phone numpy"].append(phone_seconds(runs)[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    n_hits = sum(1 for found in c_found for f in found if f.kind == "identifier")
    print(f"{'part':44} {'C s':>8} {'twin s':>8} {'ratio':>7}")
    print(f"{'corroboration, all types (' + str(n_hits) + ' hits)':44} {med['corr C']:8.3f} "
          f"{med['corr Python']:8.3f} {med['corr Python'] / med['corr C']:6.1f}x")
    print(f"{'phone readings, every chunk':44} {med['phone C']:8.3f} "
          f"{med['phone numpy']:8.3f} {med['phone numpy'] / med['phone C']:6.1f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
