"""Loading a watchlist of 1,000,000 people with 20,000,000 note fingerprints.

Target (matchers issue): the scan-ready index loads in <= 5 s and <= 600 MB
RSS. Each load runs in a fresh process (cold Python, warm page cache), timed
to the first answered lookup; printed beside it, from the same run: a full
read of the same arrays without memory-mapping, and the build from scratch.

    .venv/bin/python -m benchmarks.watchlist_load [--people N] [--fingerprints N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vahti.matchers.index import IndexBuilder
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))

CHILD = """
import sys, time
t = time.perf_counter()
import numpy as np
from vahti.matchers.index import WatchlistIndex
from vahti.matchers.keys import Key
index = WatchlistIndex.load(sys.argv[1], Key(bytes(range(32))), mmap=sys.argv[2] == "mmap")
probe = np.asarray(index.ids["hetu"][0][::100000], dtype=np.uint64)
where, people = index.lookup("hetu", probe)
assert len(where) == len(probe)
if sys.argv[2] != "mmap":
    int(index.fragments.fp_sorted.sum())  # touch everything
elapsed = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (large) parent
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(elapsed, hwm / 1024)
"""


def build(people: int, fingerprints: int) -> IndexBuilder:
    rng = np.random.default_rng(1)
    builder = IndexBuilder(KEY)
    per_person = fingerprints // people
    digests = rng.integers(0, 2**63, size=(people, 3), dtype=np.uint64)
    fps = rng.integers(0, 2**63, size=people * per_person, dtype=np.uint64)
    for i in range(people):
        d = digests[i]
        builder.add(
            f"P{i:07d}",
            {"hetu": [int(d[0]).to_bytes(16, "little")],
             "email": [int(d[1]).to_bytes(16, "little")],
             "phone": [int(d[2]).to_bytes(16, "little")]},
            None,
            fps[i * per_person:(i + 1) * per_person],
        )
    return builder


def load_in_child(path: Path, mode: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    seconds, rss = out.stdout.split()
    return float(seconds), float(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--fingerprints", type=int, default=20_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    t = time.perf_counter()
    index = build(args.people, args.fingerprints).build()
    built = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        index.save(tmp)
        del index
        size = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
        mmap = [load_in_child(Path(tmp), "mmap") for _ in range(args.runs)]
        full = [load_in_child(Path(tmp), "full") for _ in range(args.runs)]
    med = statistics.median
    print(f"index: {args.people:,} people, {args.fingerprints:,} fingerprints, {size:.0f} MB")
    print(f"build from scratch (baseline)            {built:7.2f} s")
    print(f"full read, no mmap (baseline), median    {med(s for s, _ in full):7.2f} s"
          f"  peak RSS {med(r for _, r in full):5.0f} MB")
    print(f"vahti load (mmap) + first lookup, median {med(s for s, _ in mmap):7.2f} s"
          f"  peak RSS {med(r for _, r in mmap):5.0f} MB   target <= 5 s, <= 600 MB")


if __name__ == "__main__":
    main()
