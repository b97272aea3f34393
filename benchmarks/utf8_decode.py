"""UTF-8 decoding of leak text: CPython's decoder against the extension's narrow one.

For each file of a corpus directory (``benchmarks/leak_corpus.py DIR``), the median of
`--runs` decodes of the whole file, in one run: ``bytes.decode("utf-8")`` (the baseline)
and ``decode.utf8_text`` (the extension's ``utf8_narrow`` where the text is UTF-8 of
code points up to U+FFFF and the CPU has AVX-512 VBMI2, else ``bytes.decode`` too), with
their ratio. The path says which: "latin-1" (a one-byte str), "two-byte" (a dash or a
euro sign among the letters), or "bytes.decode" (ASCII, an emoji, or no extension). The
heap is kept as a scan keeps it (`matchers.heap`), so neither side pays page faults.

    python benchmarks/utf8_decode.py CORPUS [--runs 31]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vahti.matchers import decode, heap, native  # noqa: E402

NOT_CORPUS = {"codes.txt", "register.csv"}


def median_ms(fn, runs: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _path(text: str | None) -> str:
    """Which decoder utf8_text took for a file (the str utf8_narrow made of it, or None)."""
    if text is None:
        return "bytes.decode"
    return "latin-1" if text.isascii() or max(text) <= "\xff" else "two-byte"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--runs", type=int, default=31)
    args = ap.parse_args()
    heap.keep_big_buffers()
    lib = native.lib
    print(f"extension: {'yes' if lib is not None else 'no'}; medians of {args.runs} runs")
    print(f"{'file':14} {'MB':>5} {'bytes.decode ms':>16} {'utf8_text ms':>13} {'x':>6}  path")
    total_c = total_v = 0.0
    for path in sorted(p for p in args.corpus.iterdir() if p.name not in NOT_CORPUS):
        data = path.read_bytes()
        if decode.utf8_text(data) != data.decode("utf-8"):
            raise SystemExit(f"{path.name}: the two decoders differ")
        c = median_ms(lambda d=data: d.decode("utf-8"), args.runs)
        v = median_ms(lambda d=data: decode.utf8_text(d), args.runs)
        fast = lib.utf8_narrow(data) if lib is not None else None
        total_c += c
        total_v += v
        print(f"{path.name:14} {len(data) / 1e6:5.1f} {c:16.2f} {v:13.2f} {c / v:6.2f}  "
              f"{_path(fast)}")
    print(f"{'all':14} {'':5} {total_c:16.2f} {total_v:13.2f} {total_c / total_v:6.2f}")


if __name__ == "__main__":
    main()
