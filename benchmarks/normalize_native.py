"""`normalize` in C against its Python loop, in the same run (medians, ratios).

Over a corpus directory (made by ``benchmarks/leak_corpus.py``), times, alternating
the two paths (`normalize.use_native`, which switches only the C normaliser):

- `normalize` over every chunk of the corpus (each file decoded as a scan decodes
  it, cut into the engine's chunks of ``CHUNK_CHARS`` characters, with its kind's
  options), after checking that both paths give the same result;
- per file, `normalize` + `match_starts` (the engine's `prepare` asks both of a
  chunk) over its chunks, in MB/s of the file, C against the Python loop and numpy
  (process time);
- the engine, HETU only, one core, in process (``--index-dir``: the watchlist index
  that ``benchmarks/engine_density.py --index-dir`` saves).

    python benchmarks/normalize_native.py CORPUS --index-dir IDX [--runs 5]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.engine_density import NOT_CORPUS  # noqa: E402
from vahti.matchers import native, normalize  # noqa: E402
from vahti.matchers.decode import decode_bytes  # noqa: E402
from vahti.matchers.engine import CHUNK_CHARS, ScanOptions  # noqa: E402
from vahti.matchers.index import WatchlistIndex  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.scanfiles import scan_files  # noqa: E402


def chunks(files: list[Path]) -> list[tuple[str, str]]:
    """(text, kind) of every chunk of the corpus."""
    out = []
    for f in files:
        decoded = decode_bytes(f.read_bytes(), f.name)
        text = decoded.text or ""
        out += [(text[i : i + CHUNK_CHARS], decoded.kind) for i in range(0, len(text), CHUNK_CHARS)]
    return out


def normalize_all(pieces: list[tuple[str, str]]) -> list[normalize.Normalized]:
    return [normalize.normalize(t, html_tags=k == "html", sql=k == "sql") for t, k in pieces]


def same(a: normalize.Normalized, b: normalize.Normalized) -> bool:
    if a.text != b.text or a.identity != b.identity:
        return False
    return a.identity or all(np.array_equal(getattr(a, f), getattr(b, f))
                             for f in ("segments", "starts", "ends", "matched"))


def alternating(fn, runs: int, clock=time.perf_counter) -> tuple[float, float]:  # noqa: ANN001
    """Median seconds of fn() with the C normaliser and with the Python loop."""
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(runs):
        for c_path in (True, False):
            normalize.use_native = c_path
            t0 = clock()
            fn()
            times[c_path].append(clock() - t0)
    normalize.use_native = True
    return statistics.median(times[True]), statistics.median(times[False])


def normalize_and_starts(pieces: list[tuple[str, str]]) -> None:
    """What a chunk's scan asks of this module: `normalize`, then `match_starts` with
    the same options (`engine._HitWindows.prepare`)."""
    for t, k in pieces:
        normalize.normalize(t, html_tags=k == "html", sql=k == "sql")
        normalize.match_starts(t, html_tags=k == "html", sql=k == "sql")


def per_file(files: list[Path], runs: int) -> None:
    """MB/s of `normalize_and_starts` per file, C and Python, alternating."""
    print(f"{'file':14} {'MB':>6} {'C MB/s':>9} {'Python MB/s':>12} {'Python/C':>9}")
    for f in files:
        pieces = chunks([f])
        normalize_and_starts(pieces)  # caches
        mb = f.stat().st_size / 1e6
        c_t, py_t = alternating(functools.partial(normalize_and_starts, pieces), runs,
                                time.process_time)
        print(f"{f.name:14} {mb:6.2f} {mb / c_t:9.1f} {mb / py_t:12.1f} {py_t / c_t:9.1f}")


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--index-dir", type=Path, required=True,
                    help="the index benchmarks/engine_density.py --index-dir saved")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if native.lib is None or not hasattr(native.lib, "normalize_text"):
        fail("matchers._native (with normalize_text) is not built")
    key_file = args.index_dir / "bench.key"
    if not key_file.exists():
        fail(f"no index in {args.index_dir}: run benchmarks/engine_density.py "
                 f"{args.corpus} --index-dir {args.index_dir} first")
    key = Key(key_file.read_bytes())
    index = WatchlistIndex.load(args.index_dir, key)

    files = sorted(p for p in args.corpus.iterdir() if p.name not in NOT_CORPUS)
    mb = sum(p.stat().st_size for p in files) / 1e6
    pieces = chunks(files)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    print(f"{args.corpus}: {mb:.1f} MB in {len(files)} files, {len(pieces)} chunks of up to "
          f"{CHUNK_CHARS} characters; medians of {args.runs} alternating runs")

    normalize_all(pieces)  # the tables and caches of both paths
    normalize.use_native = False
    python_result = normalize_all(pieces)
    normalize.use_native = True
    if not all(map(same, normalize_all(pieces), python_result)):
        fail("the C and the Python normaliser differ on this corpus")
    c_t, py_t = alternating(lambda: normalize_all(pieces), args.runs)
    print(f"{'run':34} {'C s':>8} {'Python s':>9} {'Python/C':>9}")
    print(f"{'normalize, every chunk':34} {c_t:8.3f} {py_t:9.3f} {py_t / c_t:9.1f}")

    per_file(files, args.runs)

    opts = ScanOptions(types=frozenset({"hetu"}))

    def scan() -> int:
        return sum(1 for _ in scan_files([str(f) for f in files], index, key, opts, jobs=1))

    c_t, py_t = alternating(scan, args.runs)
    print(f"{'engine HETU only, jobs=1':34} {c_t:8.3f} {py_t:9.3f} {py_t / c_t:9.2f}")
    print(f"  ({mb / c_t:.1f} MB/s with the C normaliser, {mb / py_t:.1f} MB/s without)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
