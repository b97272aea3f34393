"""The fragment path of a scan (record fragments of patient notes): its time per scan.

    python benchmarks/fragment_path.py CORPUS_DIR --index-dir DIR [--runs N]

Scans every file of a leak corpus (made by ``benchmarks/leak_corpus.py``, with the
index that ``benchmarks/engine_density.py --index-dir DIR`` saves for it) with all
types, one core, findings as columns, and sums the process time spent in
`Scanner._fragments` (the fragment text's normalisation, fingerprints, index lookup
and `match`). Alternating runs:

- "C": the fused kernels (`fragment_select`, `fragment_lookup` of ``_native_frag.c``);
- "per-chunk": the same build without those two (the C tokeniser per chunk and numpy
  winnowing, bit table and searches), which is what a scan used before them;
- "C, plain": the fused kernels with a chunk's latin-1 units looked up one by one
  (`fragment_select(..., simd=False)`), as on a CPU without AVX-512 VBMI, where "C"
  looks them up 64 at a time.

Prints the median per mode, the ratio, and whether both gave the same findings.
Run from a checkout's root: the checkout in the current directory is the one timed
(so the same script can time another checkout, e.g. main, alternately).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, os.getcwd())

from vahti.matchers import engine, native  # noqa: E402
from vahti.matchers.engine import Scanned, ScanOptions  # noqa: E402
from vahti.matchers.index import WatchlistIndex  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.scanfiles import scan_files  # noqa: E402

FUSED = ("fragment_select", "fragment_lookup")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--index-dir", required=True)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    idx = Path(args.index_dir)
    key = Key((idx / "bench.key").read_bytes())
    index = WatchlistIndex.load(idx, key)
    files = sorted(str(p) for p in Path(args.corpus).iterdir()
                   if p.name not in {"codes.txt", "register.csv"})
    spent = [0.0]
    inner = engine.Scanner._fragments

    def timed(self, text, kind="text"):  # type: ignore[no-untyped-def]
        t = time.process_time()
        try:
            return inner(self, text, kind)
        finally:
            spent[0] += time.process_time() - t

    engine.Scanner._fragments = timed  # type: ignore[method-assign]
    full = native.lib
    if full is None:
        sys.exit("the C extension is not built here: nothing to compare")
    per_chunk = SimpleNamespace(**{n: getattr(full, n) for n in dir(full)
                                   if not n.startswith("__") and n not in FUSED})
    has_fused = all(hasattr(full, n) for n in FUSED)
    modes = {"C": full, "per-chunk": per_chunk} if has_fused else {"per-chunk": per_chunk}
    if has_fused and "simd" in (full.fragment_select.__doc__ or ""):
        plain = SimpleNamespace(**{n: getattr(full, n) for n in dir(full)
                                   if not n.startswith("__")})
        plain.fragment_select = lambda *a: full.fragment_select(*a, False)
        modes["C, plain"] = plain

    def scan() -> tuple[float, float, str]:
        spent[0] = 0.0
        h = hashlib.sha256()
        t = time.process_time()
        for f in scan_files(files, index, key, ScanOptions(), jobs=1, columns=True):
            if not isinstance(f, Scanned):
                h.update(repr([(x.kind, x.ref, x.start, x.end, x.score)
                               for x in f.findings()]).encode())
        return spent[0], time.process_time() - t, h.hexdigest()[:16]

    times: dict[str, list[float]] = {m: [] for m in modes}
    totals: dict[str, list[float]] = {m: [] for m in modes}
    digests: dict[str, set[str]] = {m: set() for m in modes}
    for lib in modes.values():  # warm-up: tables, index pages
        native.lib = lib
        scan()
    for _ in range(args.runs):
        for m, lib in modes.items():
            native.lib = lib
            frag, total, digest = scan()
            times[m].append(frag)
            totals[m].append(total)
            digests[m].add(digest)
    native.lib = full
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    print(f"{args.corpus}: {mb:.1f} MB, all types, jobs=1, columns, {args.runs} runs "
          f"(process time, medians)")
    for m in modes:
        print(f"  {m:10s} fragment path {statistics.median(times[m]) * 1e3:7.1f} ms   "
              f"whole scan {statistics.median(totals[m]) * 1e3:7.1f} ms   "
              f"findings {','.join(sorted(digests[m]))}")
    if has_fused:
        ratio = statistics.median(times["per-chunk"]) / statistics.median(times["C"])
        same = digests["C"] == digests["per-chunk"] and len(digests["C"]) == 1
        print(f"  fragment path per-chunk / C: {ratio:.2f}x; same findings: {same}")
    if "C, plain" in modes:
        ratio = statistics.median(times["C, plain"]) / statistics.median(times["C"])
        same = digests["C"] == digests["C, plain"]
        print(f"  fragment path C, plain / C: {ratio:.2f}x; same findings: {same}")


if __name__ == "__main__":
    main()
